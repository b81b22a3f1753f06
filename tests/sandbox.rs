//! The real wasm guest in wasmtime: parity with the same runtime compiled natively, and typed
//! errors for every limit, after which the same sandbox keeps working.

mod common;

use std::time::Duration;

use dsl_engine::dsl::{compile, CheckContext};
use dsl_engine::plan::{lower, Plan};
use dsl_engine::sandbox::{Limits, Sandbox, SandboxError};
use dsl_runtime::wire::PanelData;

fn sandbox() -> Sandbox {
    Sandbox::new(Limits::default(), Some(&common::cache_dir())).expect("sandbox")
}

fn plan_of(source: &str) -> Plan {
    let checked = compile(source, &CheckContext::default());
    let program = checked
        .program
        .unwrap_or_else(|| panic!("invalid test strategy: {:?}", checked.diagnostics));
    lower(&program).plan
}

fn inputs(plan: &Plan) -> Vec<PanelData> {
    let data = common::data_dir();
    plan.inputs.iter().map(|k| data.load(k).unwrap()).collect()
}

fn same(a: &PanelData, b: &PanelData) {
    assert_eq!(a.dates, b.dates);
    assert_eq!(a.columns, b.columns);
    assert_eq!(a.values.len(), b.values.len());
    for (i, (x, y)) in a.values.iter().zip(&b.values).enumerate() {
        let equal = (x.is_nan() && y.is_nan()) || (x - y).abs() <= 1e-12 * x.abs().max(1.0);
        assert!(equal, "cell {i}: wasm {x} vs native {y}");
    }
}

const STRATEGIES: &[&str] = &[
    include_str!("../examples/momentum.strat"),
    include_str!("../examples/ma_cross.strat"),
    include_str!("../examples/low_volatility_weekly.strat"),
    // float weights, masking with a shifted bool, scalar on the left, negation
    "close = data.get(\"etl:adj_close\")\nup = close.rise(3)\nw = (1 / close)[up.shift(1) & ~close.fall(10)]\nsim(-w * -1 + 0 * close)\n",
    // alignment of two datasets and is_smallest
    "o = data.get(\"etl:adj_open\")\nc = data.get(\"price:收盤價\")\nsim((c - o).is_smallest(5) | (c / o > 1.05))\n",
];

#[test]
fn guest_matches_native_runtime() {
    let sb = sandbox();
    for src in STRATEGIES {
        let plan = plan_of(src);
        let data = inputs(&plan);
        let refs: Vec<&PanelData> = data.iter().collect();
        let wasm = sb.evaluate(&plan, &refs).expect("sandboxed evaluation");
        let native = dsl_runtime::eval::evaluate(&plan, data.clone()).expect("native evaluation");
        same(&wasm.position, &native);
        assert!(wasm.fuel_used > 0 && wasm.fuel_used < wasm.fuel_limit);
        // Evaluation is deterministic, fuel included.
        let again = sb.evaluate(&plan, &refs).unwrap();
        assert_eq!(again.fuel_used, wasm.fuel_used);
    }
}

#[test]
fn limits_give_typed_errors_and_the_sandbox_keeps_working() {
    let sb = sandbox();
    let plan = plan_of(include_str!("../examples/momentum.strat"));
    let data = inputs(&plan);
    let refs: Vec<&PanelData> = data.iter().collect();

    let tiny_fuel = Limits {
        fuel: Some(1_000_000),
        ..Limits::default()
    };
    match sb.evaluate_with(&plan, &refs, &tiny_fuel) {
        Err(e @ SandboxError::OutOfFuel { fuel: 1_000_000 }) => {
            assert!(e.to_string().contains("--fuel"), "{e}")
        }
        other => panic!("expected OutOfFuel, got {other:?}"),
    }
    let ok = sb
        .evaluate(&plan, &refs)
        .expect("works after running out of fuel");

    // The inputs alone are ~6 MB; decoding them into polars needs more than 8 MiB.
    let small_memory = Limits {
        memory_bytes: 8 << 20,
        ..Limits::default()
    };
    match sb.evaluate_with(&plan, &refs, &small_memory) {
        Err(e @ SandboxError::MemoryCap { .. }) => {
            assert!(e.to_string().contains("--memory"), "{e}")
        }
        other => panic!("expected MemoryCap, got {other:?}"),
    }
    let again = sb
        .evaluate(&plan, &refs)
        .expect("works after hitting the memory cap");
    assert_eq!(again.position, ok.position);

    // A long chain of rolling means on the full panel cannot finish in one epoch tick.
    let mut src = String::from("x0 = data.get(\"etl:adj_close\")\n");
    for i in 1..=40 {
        src.push_str(&format!("x{i} = x{}.average(250)\n", i - 1));
    }
    src.push_str("sim(x40.is_largest(10))\n");
    let slow = plan_of(&src);
    let slow_inputs = inputs(&slow);
    let slow_refs: Vec<&PanelData> = slow_inputs.iter().collect();
    let short_wall = Limits {
        wall: Duration::from_millis(1),
        fuel: Some(u64::MAX / 4),
        ..Limits::default()
    };
    match sb.evaluate_with(&slow, &slow_refs, &short_wall) {
        Err(e @ SandboxError::Timeout { .. }) => assert!(e.to_string().contains("--timeout")),
        other => panic!("expected Timeout, got {other:?}"),
    }
    sb.evaluate(&plan, &refs).expect("works after a timeout");
}

#[test]
fn a_plan_for_another_registry_is_refused() {
    let sb = sandbox();
    let mut plan = plan_of(include_str!("../examples/momentum.strat"));
    let data = inputs(&plan);
    let refs: Vec<&PanelData> = data.iter().collect();
    plan.registry_hash ^= 1;
    match sb.evaluate(&plan, &refs) {
        Err(SandboxError::PlanRejected(msg)) => assert!(msg.contains("registry"), "{msg}"),
        other => panic!("expected PlanRejected, got {other:?}"),
    }
    // Wrong number of inputs: the guest reports an evaluation error, not a trap.
    plan.registry_hash ^= 1;
    match sb.evaluate(&plan, &[]) {
        Err(SandboxError::EvalFailed(msg)) => assert!(msg.contains("input"), "{msg}"),
        other => panic!("expected EvalFailed, got {other:?}"),
    }
}
