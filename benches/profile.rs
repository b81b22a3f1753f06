//! Per-node evaluation times of one strategy on the full default market, natively:
//! `cargo bench --bench profile -- examples/momentum.strat` (prints each plan node's time).

// Test and benchmark code: an unwrap fails the run, and printing is the report.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

fn main() {
    std::env::set_var("DSL_EVAL_TRACE", "1");
    use dsl_engine::data::{default_data_dir, ensure_default};
    use dsl_engine::dsl::{compile, CheckContext};
    use dsl_engine::plan::lower;
    let data = ensure_default(&default_data_dir(), &mut |m| eprintln!("{m}")).unwrap();
    let f = std::env::args()
        .nth(1)
        .unwrap_or("examples/momentum.strat".into());
    let src = std::fs::read_to_string(&f).unwrap();
    let plan = lower(&compile(&src, &CheckContext::default()).program.unwrap()).plan;
    let inputs = dsl_engine::pipeline::load_inputs_owned(&plan, &data).unwrap();
    let t = std::time::Instant::now();
    dsl_runtime::eval::evaluate(&plan, inputs).unwrap();
    eprintln!("total {:?}", t.elapsed());
}
