//! The real wasm guest in wasmtime: parity with the same runtime compiled natively, and typed
//! errors for every limit, after which the same sandbox keeps working.

// Test and benchmark code: an unwrap fails the run, and printing is the report.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::time::Duration;

use dsl_engine::dsl::{compile, CheckContext};
use dsl_engine::plan::{lower, Plan};
use dsl_engine::sandbox::{CacheOutcome, Limits, Sandbox, SandboxError, GUEST_WASM};
use dsl_runtime::wire::{PanelData, Position};

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
    dsl_engine::pipeline::load_inputs_owned(plan, &data).unwrap()
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
        same(&wasm.position.clone().into_weights(), &native);
        assert!(wasm.fuel_used > 0 && wasm.fuel_used < wasm.fuel_limit);
        // Evaluation is deterministic, fuel included.
        let again = sb.evaluate(&plan, &refs).unwrap();
        assert_eq!(again.fuel_used, wasm.fuel_used);
    }
}

#[test]
fn guest_kernels_give_the_native_bits() {
    // Float results of the kernels the guest runs with SIMD or in blocks: the same bits as
    // the native build of the same runtime, NaN windows included.
    let sb = sandbox();
    let src = "c = data.get(\"etl:adj_close\")\nv = data.get(\"price:成交股數\")\n\
        m = c.average(5) + c.rolling(20, min_periods=3).mean() * 1e-3 - v.rolling(7).sum()\n\
        sim(m / c.rolling(60).max() * (c > 10) - c.rolling(9, min_periods=2).min())\n";
    // Values missing on every other day or so (a rolling window moves between runs of
    // present values and windows with gaps, the two paths of the guest's rolling sums; the
    // deviation's two interleaved columns).
    let holes = "c = data.get(\"etl:adj_close\")\nh = c[c > c.shift(1)]\n\
        sim(h.rolling(10, min_periods=3).mean() / c - h.rolling(4, min_periods=1).sum() / c \
        + h.average(3) / c + h.rolling(5, min_periods=2).std() / c)\n";
    for src in [src, holes] {
        let plan = plan_of(src);
        let data = inputs(&plan);
        let refs: Vec<&PanelData> = data.iter().collect();
        let wasm = sb.evaluate(&plan, &refs).expect("sandboxed evaluation");
        let native = dsl_runtime::eval::evaluate(&plan, data.clone()).expect("native evaluation");
        assert!(matches!(wasm.position, Position::Weights(_)));
        identical(&wasm.position, &Position::Weights(native));
    }
}

#[test]
fn more_operators_give_the_native_bits() {
    let sb = sandbox();
    for src in common::MORE_OPERATORS {
        let plan = plan_of(src);
        let data = inputs(&plan);
        let refs: Vec<&PanelData> = data.iter().collect();
        let wasm = sb.evaluate(&plan, &refs).expect("sandboxed evaluation");
        let native = dsl_runtime::eval::evaluate(&plan, data.clone()).expect("native evaluation");
        identical(&wasm.position, &Position::Weights(native));
    }
}

#[test]
fn indicators_fuse_their_multiply_adds_as_natively() {
    // TA-Lib's fused multiply-adds (relaxed SIMD's in the guest) and the true range's and
    // RSI's branch-free comparisons: each indicator that has them, as the float position
    // itself, so a last-bit difference is not hidden by a selection.
    let sb = sandbox();
    for call in [
        "\"EMA\", timeperiod=20",
        "\"WMA\"",
        "\"DEMA\"",
        "\"KAMA\"",
        "\"ATR\"",
        "\"RSI\"",
        "\"RSI\", timeperiod=3",
        "\"TRANGE\"",
        "\"ADX\"",
        "\"SAR\"",
        "\"ULTOSC\"",
        "\"ADOSC\"",
        "\"PPO\"",
    ] {
        let plan = plan_of(&format!("sim(data.indicator({call}))\n"));
        let data = inputs(&plan);
        let refs: Vec<&PanelData> = data.iter().collect();
        let wasm = sb.evaluate(&plan, &refs).expect("sandboxed evaluation");
        let native = dsl_runtime::eval::evaluate(&plan, data.clone()).expect("native evaluation");
        identical(&wasm.position, &Position::Weights(native));
    }
    for source in [
        "u, m, l = data.indicator(\"BBANDS\")\nsim(u - l)\n",
        "m, s, h = data.indicator(\"MACD\", fastperiod=5, slowperiod=20, signalperiod=4)\nsim(m + s * h)\n",
    ] {
        let plan = plan_of(source);
        let data = inputs(&plan);
        let refs: Vec<&PanelData> = data.iter().collect();
        let native = dsl_runtime::eval::evaluate(&plan, data.clone()).expect("native evaluation");
        identical(
            &sb.evaluate(&plan, &refs).unwrap().position,
            &Position::Weights(native),
        );
    }
}

#[test]
fn the_guest_inlines_its_multiply_add_and_pseudo_maximum() {
    // A caller without the SIMD feature cannot inline them, and wasm then makes a call (with
    // its fuel and deadline checks) per row. The guest keeps its name section (profiles name
    // its functions), so a function left standalone shows there by its mangled name.
    let has = |name: &str| GUEST_WASM.windows(name.len()).any(|w| w == name.as_bytes());
    assert!(
        has("9indicator9indicator"),
        "the guest lost its name section"
    );
    for helper in ["5fused3fma", "5fused7greater", "5fused9rise_fall"] {
        assert!(
            !has(helper),
            "talib::fused::{helper} is called, not inlined"
        );
    }
}

#[test]
fn warm_sessions_keep_inputs_and_give_the_same_positions() {
    let sb = sandbox();
    let data = common::data_dir();
    // Round robin over strategies that share some panels, so sessions hold kept inputs from
    // other plans; each result equals a fresh instance's.
    for round in 0..2 {
        for src in STRATEGIES {
            let plan = plan_of(src);
            let shared = dsl_engine::pipeline::load_inputs(&plan, &data).unwrap();
            let warm = sb.evaluate_shared(&plan, &shared).expect("warm evaluation");
            let refs: Vec<&PanelData> = shared.iter().map(|p| p.as_ref()).collect();
            let fresh = sb.evaluate(&plan, &refs).expect("fresh evaluation");
            identical(&warm.position, &fresh.position);
            if round == 1 {
                // The session from the first round served again: no instance was created.
                assert_eq!(warm.stages.instantiate, Duration::ZERO);
            }
        }
    }
    // A failure discards the session; the next evaluation gets a working one.
    let plan = plan_of(STRATEGIES[0]);
    let shared = dsl_engine::pipeline::load_inputs(&plan, &data).unwrap();
    let tight = Sandbox::new(
        Limits {
            fuel: Some(1_000_000),
            ..Limits::default()
        },
        Some(&common::cache_dir()),
    )
    .unwrap();
    for _ in 0..2 {
        assert!(matches!(
            tight.evaluate_shared(&plan, &shared),
            Err(SandboxError::OutOfFuel { .. })
        ));
    }
    let ok = sb.evaluate_shared(&plan, &shared).unwrap();
    identical(
        &ok.position,
        &sb.evaluate_shared(&plan, &shared).unwrap().position,
    );
}

/// Same grid and the same bits in every cell; every NaN is one missing value (Rust leaves a NaN
/// result's sign and payload unspecified, and an optimised build may give either sign).
fn identical(a: &Position, b: &Position) {
    let (a, b) = (a.clone().into_weights(), b.clone().into_weights());
    assert_eq!((&a.dates, &a.columns), (&b.dates, &b.columns));
    let bits = |p: &PanelData| {
        p.values
            .iter()
            .map(|v| if v.is_nan() { u64::MAX } else { v.to_bits() })
            .collect::<Vec<_>>()
    };
    assert!(bits(&a) == bits(&b), "the positions differ");
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

    // The inputs alone are ~6 MB: they do not fit a 4 MiB cap.
    let small_memory = Limits {
        memory_bytes: 4 << 20,
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

    // A chain of long rolling medians on the full panel cannot finish in one epoch tick.
    let mut src = String::from("x0 = data.get(\"etl:adj_close\")\n");
    for i in 1..=30 {
        src.push_str(&format!(
            "x{i} = x{}.rolling(2000, min_periods=1).median()\n",
            i - 1
        ));
    }
    src.push_str("sim(x30.is_largest(10))\n");
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
        other => panic!("expected Timeout, got {:?}", other.map(|ev| ev.elapsed)),
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

#[test]
fn corrupted_bytes_give_typed_errors_and_the_sandbox_keeps_working() {
    let sb = sandbox();
    let plan = plan_of(include_str!("../examples/momentum.strat"));
    let data = inputs(&plan);
    let refs: Vec<&PanelData> = data.iter().collect();
    let good = sb.evaluate(&plan, &refs).expect("a valid evaluation");
    let plan_bytes = plan.to_bytes();
    let data_bytes = dsl_runtime::wire::encode(&refs);
    let limits = Limits {
        fuel: Some(good.fuel_limit),
        ..Limits::default()
    };
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..12 {
        // Flip bytes in the plan or the inputs, or cut either short.
        let (mut p, mut d) = (plan_bytes.clone(), data_bytes.clone());
        let target = if round % 2 == 0 { &mut p } else { &mut d };
        if round % 3 == 2 {
            let keep = (next() as usize) % target.len();
            target.truncate(keep);
        } else {
            for _ in 0..4 {
                let i = (next() as usize) % target.len().min(4096);
                target[i] ^= (next() as u8) | 1;
            }
        }
        match sb.evaluate_bytes(&p, &d, &limits) {
            Ok(ev) => assert_eq!(ev.position.dates().len(), good.position.dates().len()),
            Err(
                SandboxError::PlanRejected(_)
                | SandboxError::EvalFailed(_)
                | SandboxError::GuestTrap { .. }
                | SandboxError::OutOfFuel { .. },
            ) => {}
            Err(other) => panic!("round {round}: unexpected error {other:?}"),
        }
    }
    let garbage = sb.evaluate_bytes(b"\xff\x00not a plan", b"", &Limits::default());
    assert!(
        matches!(garbage, Err(SandboxError::PlanRejected(_))),
        "{garbage:?}"
    );
    let again = sb
        .evaluate(&plan, &refs)
        .expect("works after corrupted bytes");
    assert_eq!(again.position, good.position);

    // The result size check.
    let tiny_result = Limits {
        max_result_bytes: 100,
        ..Limits::default()
    };
    match sb.evaluate_with(&plan, &refs, &tiny_result) {
        Err(SandboxError::ResultTooLarge { limit: 100, .. }) => {}
        other => panic!("expected ResultTooLarge, got {other:?}"),
    }
}

#[test]
fn extreme_but_allowed_strategies_run() {
    let sb = sandbox();
    // The deepest nesting the node budget allows.
    let depth = dsl_engine::dsl::parse::MAX_NESTING - 1;
    let src = format!(
        "close = data.get(\"price:收盤價\")\nx = {}close{}\nsim(x > 10)\n",
        "(".repeat(depth),
        " + 1)".repeat(depth)
    );
    let plan = plan_of(&src);
    let data = inputs(&plan);
    let refs: Vec<&PanelData> = data.iter().collect();
    sb.evaluate(&plan, &refs).expect("deep nesting evaluates");
    // The longest operator chain (a tree as deep as the node budget allows) on a small stack.
    let terms = dsl_engine::dsl::check::MAX_NODES / 2 - 10;
    let src = format!(
        "close = data.get(\"price:收盤價\")\nx = close{}\nsim(x > 10)\n",
        " - 1".repeat(terms)
    );
    let plan = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || plan_of(&src))
        .expect("thread")
        .join()
        .expect("checking a deep chain on a 256 KiB stack");
    let data = inputs(&plan);
    let refs: Vec<&PanelData> = data.iter().collect();
    sb.evaluate(&plan, &refs).expect("a long chain evaluates");

    // The largest windows on the whole panel.
    let plan = plan_of(
        "close = data.get(\"price:收盤價\")\nm = close.rolling(2520, min_periods=1).median()\ns = close.rolling(2520, min_periods=2).std()\nsim((close > m) & (s > 0) & close.sustain(2520, 1) & (close.average(2520) > 0))\n",
    );
    let data = inputs(&plan);
    let refs: Vec<&PanelData> = data.iter().collect();
    sb.evaluate(&plan, &refs)
        .expect("the largest windows evaluate");

    // Many live panels: `a40 + (a39 + (... + a1))` keeps all forty alive at once. (Rolling
    // standard deviations: an average read once would be computed inside the sum's fused
    // chain, a pair of columns at a time, and never be a live panel.)
    let mut src = String::from("close = data.get(\"etl:adj_close\")\n");
    for i in 1..=40 {
        src.push_str(&format!("a{i} = close.rolling({}).std()\n", i + 1));
    }
    let sum = (1..=40)
        .rev()
        .map(|i| format!("a{i}"))
        .collect::<Vec<_>>()
        .join(" + (");
    src.push_str(&format!(
        "total = {sum}{}\nsim(total.is_largest(5))\n",
        ")".repeat(39)
    ));
    let plan = plan_of(&src);
    let data = inputs(&plan);
    let refs: Vec<&PanelData> = data.iter().collect();
    let ok = sb
        .evaluate(&plan, &refs)
        .expect("forty live panels fit the default cap");
    let small = Limits {
        memory_bytes: 96 << 20,
        ..Limits::default()
    };
    match sb.evaluate_with(&plan, &refs, &small) {
        Err(SandboxError::MemoryCap { limit, .. }) => assert_eq!(limit, 96 << 20),
        other => panic!(
            "expected MemoryCap, got {other:?} (peak with the default cap: {} MiB)",
            ok.peak_memory >> 20
        ),
    }
    sb.evaluate(&plan, &refs)
        .expect("works after the memory cap");
}

#[test]
fn a_bool_position_backtests_as_flags_exactly_as_its_weights() {
    let sb = sandbox();
    let data = common::data_dir();
    let mut flags = 0;
    for src in STRATEGIES {
        let plan = plan_of(src);
        let shared = dsl_engine::pipeline::load_inputs(&plan, &data).unwrap();
        let ev = sb.evaluate_shared(&plan, &shared).unwrap();
        flags += usize::from(matches!(ev.position, Position::Flags(_)));
        let opts = lower(&compile(src, &CheckContext::default()).program.unwrap())
            .sim
            .options;
        let widened = Position::Weights(ev.position.clone().into_weights());
        let a = dsl_engine::pipeline::simulate_on(&ev.position, &data, &opts);
        let b = dsl_engine::pipeline::simulate_on(&widened, &data, &opts);
        let (a, b) = (a.unwrap().0, b.unwrap().0);
        assert_eq!(a, b);
    }
    assert!(flags >= 3, "only {flags} bool positions");
}

#[test]
fn fused_chains_give_the_node_by_node_bits() {
    // Every example and chains that mix shifts, masks, bool arithmetic, negation, numbers on
    // either side, rolling statistics and datasets on different grids (which fall back to
    // node by node).
    let mut sources = common::examples()
        .into_iter()
        .map(|(_, text)| text)
        .collect::<Vec<_>>();
    let head = "c = data.get(\"etl:adj_close\")\no = data.get(\"etl:adj_open\")\n\
                r = data.get(\"monthly_revenue:當月營收\")\n";
    for body in [
        "sim((c / c.shift(20))[(c.shift(1) < c) & ~(o > c * 1.01)].is_largest(5))",
        "sim(-(c - o.shift(3)) * (c > o) + 2 / c.shift(300))",
        "sim(((c > 10) | (o.shift(2) < 5)) & (c.shift(1) > c.shift(2)))",
        "sim((c * (r > 0)).is_smallest(3))",
        "sim((1 - c / o)[c.shift(1) >= o] * -1)",
        "sim((c > c.shift(1)) == (o > o.shift(1)))",
        // Rolling statistics computed inside the chain, a pair of columns at a time.
        "sim((c.average(5) > c.rolling(60, min_periods=10).mean()) & (o.rolling(20).sum() > 100))",
        "sim((c == c.rolling(250).max()) | (c <= c.rolling(7, min_periods=2).min() * 1.01))",
        "sim((c - c.average(20)) / c.rolling(20).max() + o.average(1))",
        // Not inlined: a shifted rolling statistic; node by node: a rolling statistic of flags
        // and one on the monthly grid.
        "sim(c.average(3).shift(1) < c)",
        "sim(((c > 10).average(5) > 0.5) & (r.average(3) > 0))",
        "sim((c.average(5) > 10) & (r.average(3) > 0))",
    ] {
        sources.push(format!("{head}{body}\n"));
    }
    let sb = sandbox();
    for src in &sources {
        let plan = plan_of(src);
        let data = inputs(&plan);
        let unfused = dsl_runtime::eval::evaluate_unfused(&plan, data.clone()).unwrap();
        let fused = dsl_runtime::eval::evaluate(&plan, data.clone()).unwrap();
        let want = Position::Weights(unfused);
        identical(&Position::Weights(fused), &want);
        let refs: Vec<&PanelData> = data.iter().collect();
        identical(&sb.evaluate(&plan, &refs).unwrap().position, &want);
    }
}

#[test]
fn reading_only_the_rebalance_rows_backtests_the_same() {
    // Under a calendar resample, a backtest computes rank/is_largest/is_smallest on the rows
    // sim() reads only. It equals the backtest of the fully evaluated position, and the
    // position is the same on the read rows and cleared elsewhere, also when a restricted
    // value meets another grid on its way to the output.
    use dsl_engine::pipeline::{
        backtest_in, check_context, evaluate_in, load_inputs, sim_read_dates, simulate_on,
    };
    let data = common::data_dir();
    let sb = sandbox();
    let ctx = check_context(&data);
    let mut sources = common::examples()
        .into_iter()
        .map(|(_, text)| text)
        .collect::<Vec<_>>();
    let head = "c = data.get(\"etl:adj_close\")\nr = data.get(\"monthly_revenue:當月營收\")\n";
    for body in [
        // Both restricted, the output (their `&`) cleared off the read rows.
        "sim((-c).is_smallest(30) & (c.rank(axis=1, pct=True) < 0.9), resample=\"W-FRI\")",
        // A shifted schedule: the read dates move with the offset.
        "sim(c.is_largest(10), resample=\"M\", resample_offset=\"2D\")",
        // A daily rank meets the monthly grid (the union of dates, forward filled).
        "sim(r[c.rank(axis=1, pct=True) > 0.5].is_largest(5), resample=\"M\")",
        "sim(c.rank(axis=1, pct=True) * (r > 0), resample=\"Q\")",
        // A rank of a panel cut by date (read dates before the cut have no row), and a
        // restricted selection meeting a panel cut at its end (its last row carried forward).
        "sim(c.loc[\"2022-03-15\":].rank(axis=1, pct=True) > 0.8, resample=\"M\")",
        "sim(c.is_largest(10) & (c.loc[:\"2023-06\"] > 10), resample=\"W-FRI\")",
    ] {
        sources.push(format!("{head}{body}\n"));
    }
    let mut restricted = 0;
    for src in &sources {
        let full = evaluate_in(src, &data, &sb, &ctx).unwrap();
        let opts = &full.lowered.sim.options;
        let (want, _) = simulate_on(&full.evaluation.position, &data, opts).unwrap();
        let got = backtest_in(src, &data, &sb, &ctx).unwrap();
        assert_eq!(got.result.creturn, want.creturn, "{src}");
        assert_eq!(got.result.trades, want.trades, "{src}");
        assert_eq!(got.result.rebalances, want.rebalances, "{src}");
        let inputs = load_inputs(&full.lowered.plan, &data).unwrap();
        let Some(read_at) = sim_read_dates(opts, &inputs) else {
            continue;
        };
        let a = full.evaluation.position.clone().into_weights();
        let b = got.evaluation.position.clone().into_weights();
        assert_eq!((&a.dates, &a.columns), (&b.dates, &b.columns));
        let mut read = vec![false; a.dates.len()];
        for r in dsl_runtime::eval::read_rows(&a.dates, &read_at) {
            read[r] = true;
        }
        let mut cleared = false;
        for c in 0..a.columns.len() {
            for (r, &is_read) in read.iter().enumerate() {
                let (x, y) = (a.get(r, c), b.get(r, c));
                if is_read {
                    assert_eq!(x.to_bits(), y.to_bits(), "{src}: row {r} column {c}");
                } else if x.to_bits() != y.to_bits() {
                    assert!(y.is_nan() || y == 0.0, "{src}: row {r} column {c} is {y}");
                    cleared = true;
                }
            }
        }
        restricted += usize::from(cleared);
    }
    // The examples with a calendar resample and a cross-sectional operator, and the first
    // two added ones.
    assert!(
        restricted >= 6,
        "only {restricted} strategies were restricted"
    );
}

/// The byte range of the ELF section `name` in a compiled module (a `.cwasm` is an ELF file).
fn elf_section(elf: &[u8], name: &str) -> std::ops::Range<usize> {
    let u16_at = |at: usize| u16::from_le_bytes(elf[at..at + 2].try_into().unwrap()) as usize;
    let u32_at = |at: usize| u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()) as usize;
    let u64_at = |at: usize| u64::from_le_bytes(elf[at..at + 8].try_into().unwrap()) as usize;
    assert_eq!(&elf[..4], b"\x7fELF");
    let (shoff, shentsize, shnum, shstrndx) =
        (u64_at(0x28), u16_at(0x3A), u16_at(0x3C), u16_at(0x3E));
    let header = |i: usize| shoff + i * shentsize;
    let names = u64_at(header(shstrndx) + 24);
    (0..shnum)
        .map(header)
        .find(|&h| {
            let at = names + u32_at(h);
            elf[at..].starts_with(name.as_bytes()) && elf[at + name.len()] == 0
        })
        .map(|h| u64_at(h + 24)..u64_at(h + 24) + u64_at(h + 32))
        .unwrap_or_else(|| panic!("no {name} section"))
}

#[test]
fn a_damaged_module_cache_is_compiled_again_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan_of(include_str!("../examples/momentum.strat"));
    let data = inputs(&plan);
    let refs: Vec<&PanelData> = data.iter().collect();
    let fresh = |want: &str| {
        let sb = Sandbox::new(Limits::default(), Some(dir.path())).expect("sandbox");
        let position = sb.evaluate(&plan, &refs).expect("evaluation").position;
        assert_eq!(sb.cache.label(), want, "{:?}", sb.cache);
        (sb.cache.clone(), position)
    };
    let (_, good) = fresh("compiled");
    let (_, hit) = fresh("hit");
    identical(&hit, &good);
    let module = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .expect("a cached module");
    let original = std::fs::read(&module).unwrap();

    // The machine code overwritten with breakpoints (which, loaded, stop the process with
    // SIGTRAP), then a single flipped bit in it: each is found, compiled again with a warning that
    // names the file and the digest, and the result is the same.
    let text = elf_section(&original, ".text");
    assert!(text.len() > 4096, "{text:?}");
    let mut breakpoints = original.clone();
    breakpoints[text.clone()].fill(0xCC);
    let mut flipped = original.clone();
    flipped[text.start + text.len() / 3] ^= 0x10;
    for damaged in [breakpoints, flipped] {
        std::fs::write(&module, &damaged).unwrap();
        let (outcome, position) = fresh("recompiled");
        let CacheOutcome::Recompiled(why) = outcome else {
            unreachable!()
        };
        assert!(why.contains("digest") && why.contains(".cwasm"), "{why}");
        identical(&position, &good);
        // The replaced module passes its check again.
        fresh("hit");
    }
}
