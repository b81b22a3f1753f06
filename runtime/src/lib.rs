//! dsl-engine's guest runtime. Compiled twice: natively (the host uses the plan types, the wire
//! format and the operator registry; tests compare native and sandboxed evaluation) and for
//! `wasm32-wasip1`, where [`abi`] exposes `dsl_alloc` / `dsl_eval` to the wasmtime host.
//! Only a serialized [`plan::Plan`] and wire-encoded input panels cross into the guest.

pub mod ops;
pub mod plan;
pub mod wire;

#[cfg(feature = "eval")]
pub mod cells;
#[cfg(feature = "eval")]
pub mod eval;
#[cfg(feature = "eval")]
pub mod hold;
#[cfg(feature = "eval")]
pub mod kernels;
#[cfg(feature = "eval")]
pub mod panel;
#[cfg(feature = "eval")]
pub mod talib;

#[cfg(all(target_arch = "wasm32", feature = "eval"))]
mod abi;

/// Status byte that starts a successful [`run`] result (followed by one wire-encoded panel).
pub const RESULT_OK: u8 = 0;
/// Status byte that starts a failed [`run`] result (followed by a JSON [`GuestError`]).
pub const RESULT_ERR: u8 = 1;

/// A failure reported by the guest, as it crosses the boundary.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GuestError {
    /// `plan` (the plan or input bytes were refused) or `eval` (evaluation failed).
    pub kind: String,
    pub message: String,
}

/// Decodes a plan and its input panels, evaluates, and encodes the result with a status byte.
/// This is what `dsl_eval` runs inside the sandbox; natively it gives the reference answer.
#[cfg(feature = "eval")]
pub fn run(plan_bytes: &[u8], data_bytes: &[u8]) -> Vec<u8> {
    run_with(plan_bytes, data_bytes, &mut |_, _| None)
}

/// [`run`] with input values handed over outside the bytes (see [`wire::decode_with`]).
#[cfg(feature = "eval")]
pub fn run_with(
    plan_bytes: &[u8],
    data_bytes: &[u8],
    values: &mut dyn FnMut(u32, usize) -> Option<std::rc::Rc<Vec<f64>>>,
) -> Vec<u8> {
    let fail = |kind: &str, message: String| {
        let err = GuestError {
            kind: kind.to_string(),
            message,
        };
        let mut out = vec![RESULT_ERR];
        out.extend(serde_json::to_vec(&err).unwrap_or_default());
        out
    };
    let plan = match plan::Plan::from_bytes(plan_bytes) {
        Ok(p) => p,
        Err(e) => return fail("plan", e.to_string()),
    };
    let inputs = match wire::decode_with(data_bytes, values) {
        Ok(p) => p,
        Err(e) => return fail("plan", e.to_string()),
    };
    match eval::evaluate_encoded(&plan, inputs) {
        Ok(encoded) => {
            let mut out = Vec::with_capacity(encoded.len() + 1);
            out.push(RESULT_OK);
            out.extend(encoded);
            out
        }
        Err(eval::EvalError::Plan(e)) => fail("plan", e.to_string()),
        Err(e) => fail("eval", e.to_string()),
    }
}
