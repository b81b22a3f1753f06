//! Reuse of intermediate results in warm sessions: the same bits as without it (every example
//! and the bench's seeded sequence of 200 evolve proposals, every row and the rows `sim()`
//! reads, with a roomy and a tiny store), nothing kept outlives its data, and a limit hit
//! discards the session with its store.

// Test and benchmark code: an unwrap fails the run, and printing is the report.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::sync::Arc;

use dsl_engine::dsl::compile;
use dsl_engine::pipeline::{check_context, evaluate_plan, load_inputs, Timings};
use dsl_engine::plan::{lower, Lowered};
use dsl_engine::sandbox::{Evaluation, Limits, Sandbox, SandboxError};
use dsl_runtime::wire::{PanelData, Position};

fn sandbox(reuse_mib: usize, fuel: Option<u64>) -> Sandbox {
    let limits = Limits {
        reuse_bytes: Some(reuse_mib << 20),
        fuel,
        ..Limits::default()
    };
    Sandbox::new(limits, Some(&common::cache_dir())).unwrap()
}

fn bits(p: &Position) -> (Vec<i32>, Vec<String>, Vec<u64>) {
    let p = p.clone().into_weights();
    (
        p.dates,
        p.columns,
        p.values.iter().map(|v| v.to_bits()).collect(),
    )
}

fn lowered(source: &str, data: &dsl_engine::data::DataDir) -> Lowered {
    let checked = compile(source, &check_context(data));
    lower(checked.program.as_ref().expect("a valid strategy"))
}

/// Evaluates `l` in `sb` on every row, or on the rows its `sim()` reads.
fn run(sb: &Sandbox, l: &Lowered, for_sim: bool, data: &dsl_engine::data::DataDir) -> Evaluation {
    let opts = for_sim.then_some(&l.sim.options);
    evaluate_plan(&l.plan, opts, data, sb, &mut Timings::default()).unwrap()
}

#[test]
fn reuse_gives_the_same_bits() {
    let data = common::data_dir();
    let off = sandbox(0, None);
    // A roomy store (the test market's panels are ~3 MB) and one that evicts all the time.
    let roomy = sandbox(256, None);
    let tiny = sandbox(6, None);
    let mut set = common::examples();
    // Every example twice in a row: the second reads its own results back.
    set.extend(common::examples());
    set.extend(dsl_engine::bench::evolve_set());
    let (mut hits, mut tiny_hits, mut outputs) = (0u64, 0u64, 0usize);
    for (name, source) in &set {
        let l = lowered(source, &data);
        for for_sim in [true, false] {
            let want = bits(&run(&off, &l, for_sim, &data).position);
            let got = run(&roomy, &l, for_sim, &data);
            assert!(
                bits(&got.position) == want,
                "{name} (for sim: {for_sim}): roomy store"
            );
            hits += u64::from(got.reuse.hits);
            outputs += usize::from(got.reuse.hits > 0 && got.reuse.misses == 0);
            let got = run(&tiny, &l, for_sim, &data);
            assert!(
                bits(&got.position) == want,
                "{name} (for sim: {for_sim}): tiny store"
            );
            tiny_hits += u64::from(got.reuse.hits);
            assert!(got.reuse.held_mib <= 6, "{name}: {:?}", got.reuse);
        }
    }
    println!(
        "{} evaluations each way: {hits} results read from the roomy store ({outputs} positions \
         read whole), {tiny_hits} from the tiny one",
        set.len() * 2
    );
    // Reuse happened: every repeated example reads its position back, and more.
    assert!(outputs >= common::examples().len() * 2, "{outputs}");
    assert!(hits > tiny_hits && tiny_hits > 0, "{hits} {tiny_hits}");
}

#[test]
fn a_result_never_outlives_its_data() {
    let data = common::data_dir();
    let sb = sandbox(64, None);
    let source = "close = data.get(\"price:收盤價\")\nsim(close.rolling(30).std().rank(axis=1) + close.average(20))\n";
    let l = lowered(source, &data);
    let inputs = load_inputs(&l.plan, &data).unwrap();
    // The same key with other values (one cell changed): another panel, never the first's
    // results.
    let mut changed = PanelData::clone(&inputs[0]);
    let cell = changed.values.len() / 2 + 7;
    changed.values[cell] = changed.values[cell] * 1.5 + 1.0;
    let changed = vec![Arc::new(changed)];
    let fresh = |inputs: &[Arc<PanelData>]| {
        let refs: Vec<&PanelData> = inputs.iter().map(|p| p.as_ref()).collect();
        bits(&sb.evaluate(&l.plan, &refs).unwrap().position)
    };
    let first = sb.evaluate_shared(&l.plan, &inputs).unwrap();
    assert_eq!(first.reuse.hits, 0);
    let again = sb.evaluate_shared(&l.plan, &inputs).unwrap();
    assert!(again.reuse.hits > 0, "{:?}", again.reuse);
    assert!(bits(&again.position) == fresh(&inputs));
    let other = sb.evaluate_shared(&l.plan, &changed).unwrap();
    assert_eq!(other.reuse.hits, 0, "results of other data were read");
    assert!(bits(&other.position) == fresh(&changed));
    assert!(bits(&other.position) != bits(&first.position));
    // Both panels are kept, each with its own results.
    let back = sb.evaluate_shared(&l.plan, &inputs).unwrap();
    assert!(back.reuse.hits > 0);
    assert!(bits(&back.position) == bits(&first.position));
}

#[test]
fn a_limit_hit_discards_the_session_and_its_store() {
    let data = common::data_dir();
    let cheap = lowered(
        "close = data.get(\"price:收盤價\")\nsim((close / close.shift(20)).is_largest(10))\n",
        &data,
    );
    let costly = lowered(
        "close = data.get(\"price:收盤價\")\nm = close.rolling(60).median() + close.rolling(50).median() + close.rolling(40).median()\nsim((m.rank(axis=1) + close.rolling(70).median().rank(axis=1)).is_largest(10))\n",
        &data,
    );
    let probe = sandbox(64, None);
    let fuel_cheap = run(&probe, &cheap, false, &data).fuel_used;
    let fuel_costly = run(&probe, &costly, false, &data).fuel_used;
    assert!(fuel_costly > 4 * fuel_cheap, "{fuel_cheap} {fuel_costly}");
    let sb = sandbox(64, Some(2 * fuel_cheap));
    assert_eq!(run(&sb, &cheap, false, &data).reuse.hits, 0);
    assert!(run(&sb, &cheap, false, &data).reuse.hits > 0);
    let opts = None;
    let failed = evaluate_plan(&costly.plan, opts, &data, &sb, &mut Timings::default());
    assert!(
        matches!(
            failed,
            Err(dsl_engine::pipeline::PipelineError::Sandbox(
                SandboxError::OutOfFuel { .. }
            ))
        ),
        "{failed:?}"
    );
    // The session and its store are gone: the next evaluation computes everything again.
    let after = run(&sb, &cheap, false, &data);
    assert_eq!(after.reuse.hits, 0, "{:?}", after.reuse);
    assert!(bits(&after.position) == bits(&run(&probe, &cheap, false, &data).position));
    assert!(run(&sb, &cheap, false, &data).reuse.hits > 0);
}

#[test]
fn kept_inputs_leave_the_store_its_budget() {
    let data = common::data_dir();
    // Half of the memory (48 MiB) is kept between evaluations: 24 MiB for results, the rest
    // for input panels (~3 MB each here).
    let limits = Limits {
        memory_bytes: 96 << 20,
        reuse_bytes: Some(24 << 20),
        ..Limits::default()
    };
    let sb = Sandbox::new(limits, Some(&common::cache_dir())).unwrap();
    let costly = lowered(
        "close = data.get(\"price:收盤價\")\nsim(close.rolling(30).std().rank(axis=1) + close.average(20))\n",
        &data,
    );
    let first = run(&sb, &costly, false, &data);
    assert_eq!(first.reuse.hits, 0);
    // Fourteen other panels read one after another with the close: ~44 MB of inputs, more than
    // their share.
    let others = [
        "etl:adj_high",
        "etl:adj_low",
        "etl:adj_open",
        "etl:market_value",
        "price:成交筆數",
        "price:成交股數",
        "price:成交金額",
        "price:最低價",
        "price:最高價",
        "price:開盤價",
        "price_earning_ratio:本益比",
        "price_earning_ratio:殖利率(%)",
        "price_earning_ratio:股價淨值比",
        "margin_transactions:融資今日餘額",
    ];
    for key in others {
        let source = format!(
            "close = data.get(\"price:收盤價\")\nx = data.get(\"{key}\")\nsim((x > 0) & (close > 0))\n"
        );
        run(&sb, &lowered(&source, &data), false, &data);
    }
    // The strategy's results are all still there: it reads its position back whole.
    let again = run(&sb, &costly, false, &data);
    assert!(
        again.reuse.hits > 0 && again.reuse.misses == 0,
        "{:?}",
        again.reuse
    );
    assert!(bits(&again.position) == bits(&first.position));
}
