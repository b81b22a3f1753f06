//! The `evolve` bench set replayed natively through one reuse store, in order: each
//! evaluation's time, results read and held, and (with `DSL_EVAL_TRACE=1`) every node it
//! computed. `MIB=…` sets the store's budget (default 512; 0: no reuse):
//! `DSL_EVAL_TRACE=1 cargo bench --bench replay 2> replay.txt`. Natively large blocks come
//! from fresh pages, so times include page faults the guest's reused memory does not have.
//! `DUMP=DIR` writes the set's strategies to `DIR/N.strat` instead (for `dsl-engine bench`).

// Benchmark code: an unwrap fails the run, and printing is the report.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

use std::collections::HashMap;
use std::rc::Rc;

use dsl_engine::data::{default_data_dir, ensure_default};
use dsl_engine::dsl::{compile, CheckContext};
use dsl_engine::pipeline::{load_inputs, sim_read_dates};
use dsl_engine::plan::lower;
use dsl_runtime::eval::reuse::{Reuse, Store};
use dsl_runtime::eval::{evaluate_reusing, SharedPanelData};

fn main() {
    let mib: usize = std::env::var("MIB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(512);
    let data = ensure_default(&default_data_dir(), &mut |m| eprintln!("{m}")).unwrap();
    // One buffer (and identity) per dataset, as a warm session keeps its inputs.
    let mut held: HashMap<String, (SharedPanelData, u64)> = HashMap::new();
    let mut store = Store::new();
    store.set_budget(mib << 20);
    let started = std::time::Instant::now();
    for (name, source) in dsl_engine::bench::evolve_set() {
        if let Ok(dir) = std::env::var("DUMP") {
            std::fs::write(
                format!("{dir}/{}.strat", name.trim_start_matches('#')),
                &source,
            )
            .unwrap();
            continue;
        }
        let lowered = lower(&compile(&source, &CheckContext::default()).program.unwrap());
        let mut plan = lowered.plan;
        let loaded = load_inputs(&plan, &data).unwrap();
        plan.read_at = sim_read_dates(&lowered.sim.options, &loaded);
        let (mut inputs, mut ids) = (Vec::new(), Vec::new());
        for (key, panel) in plan.inputs.iter().zip(&loaded) {
            let next = held.len() as u64 + 1;
            let (p, id) = held.entry(key.clone()).or_insert_with(|| {
                let p = (**panel).clone();
                let values = Rc::new(p.values);
                let p = SharedPanelData {
                    name: p.name,
                    dates: p.dates,
                    columns: p.columns,
                    values,
                };
                (p, next)
            });
            inputs.push(p.clone());
            ids.push(Some(*id));
        }
        eprintln!("== {name}");
        store.begin();
        let t = std::time::Instant::now();
        let mut reuse = Reuse {
            store: &mut store,
            ids: &ids,
        };
        evaluate_reusing(&plan, inputs, &mut reuse).unwrap();
        eprintln!(
            "== {name} {:.1} ms, {} read, {} computed, {} MiB held",
            t.elapsed().as_secs_f64() * 1e3,
            store.stats.hits,
            store.stats.misses,
            store.used() >> 20
        );
    }
    println!("replayed in {:.1} s", started.elapsed().as_secs_f64());
}
