//! dsl-engine's guest runtime. Compiled twice: natively (the host uses the plan types, the wire
//! format and the operator registry; tests compare native and sandboxed evaluation) and for
//! `wasm32-wasip1`, where `abi` exposes `dsl_alloc` / `dsl_eval` to the wasmtime host.
//! Only a serialized [`plan::Plan`] and wire-encoded input panels cross into the guest.

pub mod dates;
/// Stable 64-bit FNV-1a hashing, shared by the host, the guest and the build script.
pub mod fnv;
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

/// What kind of failure the guest reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuestErrorKind {
    /// The plan or the input bytes were refused (malformed, another version or registry).
    Plan,
    /// The plan was accepted and its evaluation failed.
    Eval,
}

/// A failure reported by the guest, as it crosses the boundary (JSON after [`RESULT_ERR`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GuestError {
    pub kind: GuestErrorKind,
    pub message: String,
}

/// Decodes a plan and its input panels, evaluates, and encodes the result with a status byte.
/// This is what `dsl_eval` runs inside the sandbox; natively it gives the reference answer.
#[cfg(feature = "eval")]
pub fn run(plan_bytes: &[u8], data_bytes: &[u8]) -> Vec<u8> {
    run_with(plan_bytes, data_bytes, &mut |_, _| None, None)
}

/// The reuse store of a warm instance, and how to tell which input buffer a panel's values
/// are (see [`eval::reuse`]).
#[cfg(feature = "eval")]
pub struct Reusing<'a> {
    pub store: &'a mut eval::reuse::Store,
    /// The identity of a decoded input's values buffer, if it has one.
    pub id: &'a dyn Fn(&eval::SharedPanelData) -> Option<u64>,
}

/// [`run`] with input values handed over outside the bytes (see [`wire::decode_with`]), and
/// with `reuse`, intermediate results read from and kept in its store.
#[cfg(feature = "eval")]
pub fn run_with(
    plan_bytes: &[u8],
    data_bytes: &[u8],
    values: &mut dyn FnMut(u32, usize) -> Option<std::rc::Rc<Vec<f64>>>,
    reuse: Option<Reusing>,
) -> Vec<u8> {
    let fail = |kind: GuestErrorKind, message: String| {
        let err = GuestError { kind, message };
        let mut out = vec![RESULT_ERR];
        out.extend(serde_json::to_vec(&err).unwrap_or_default());
        out
    };
    let plan = match plan::Plan::from_bytes(plan_bytes) {
        Ok(p) => p,
        Err(e) => return fail(GuestErrorKind::Plan, e.to_string()),
    };
    let inputs = match wire::decode_with(data_bytes, values) {
        Ok(p) => p,
        Err(e) => return fail(GuestErrorKind::Plan, e.to_string()),
    };
    let ids: Vec<Option<u64>> = match &reuse {
        Some(r) => inputs.iter().map(|p| (r.id)(p)).collect(),
        None => Vec::new(),
    };
    let mut reuse = reuse.map(|r| eval::reuse::Reuse {
        store: r.store,
        ids: &ids,
    });
    match eval::evaluate_encoded(&plan, inputs, reuse.as_mut()) {
        Ok(encoded) => {
            let mut out = Vec::with_capacity(encoded.len() + 1);
            out.push(RESULT_OK);
            out.extend(encoded);
            out
        }
        Err(eval::EvalError::Plan(e)) => fail(GuestErrorKind::Plan, e.to_string()),
        Err(e) => fail(GuestErrorKind::Eval, e.to_string()),
    }
}

#[cfg(all(test, feature = "eval"))]
mod tests {
    use super::*;

    #[test]
    fn errors_cross_with_a_typed_kind() {
        let out = run(b"not a plan", b"");
        assert_eq!(out[0], RESULT_ERR);
        let err: GuestError = serde_json::from_slice(&out[1..]).unwrap();
        assert_eq!(err.kind, GuestErrorKind::Plan);
        let text = serde_json::to_string(&err).unwrap();
        assert!(text.contains(r#""kind":"plan""#), "{text}");
        // A kind the host does not know is an error, not a silent guess.
        let other = r#"{"kind":"other","message":"x"}"#;
        assert!(serde_json::from_str::<GuestError>(other).is_err());
    }
}
