//! Front-end speed: parse + check (+ lowering) of every strategy in `examples/`, with the full
//! dataset catalog as the checker context. Run with `cargo bench --bench dsl`; prints the median
//! time per strategy (target: well under a millisecond).

// Test and benchmark code: an unwrap fails the run, and printing is the report.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

use std::time::Instant;

use dsl_engine::dsl::{compile, CheckContext};
use dsl_engine::plan::lower;

fn main() {
    let catalog = std::fs::read_to_string("datasets/catalog.json").unwrap_or_default();
    let keys: Vec<String> = catalog
        .split("\"key\":")
        .skip(1)
        .filter_map(|s| s.split('"').nth(1).map(str::to_string))
        .collect();
    let ctx = CheckContext {
        datasets: Some(keys),
    };
    let mut files: Vec<_> = std::fs::read_dir("examples")
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    println!("{:<32} {:>12} {:>12}", "strategy", "parse+check", "+lower");
    for path in files {
        let Ok(src) = std::fs::read_to_string(&path) else {
            continue;
        };
        let time = |with_lower: bool| {
            let mut runs: Vec<f64> = (0..15)
                .map(|_| {
                    let n = 200;
                    let t = Instant::now();
                    for _ in 0..n {
                        let checked = compile(&src, &ctx);
                        if with_lower {
                            if let Some(p) = &checked.program {
                                std::hint::black_box(lower(p));
                            }
                        }
                        std::hint::black_box(checked);
                    }
                    t.elapsed().as_secs_f64() * 1e6 / n as f64
                })
                .collect();
            runs.sort_by(f64::total_cmp);
            runs[runs.len() / 2]
        };
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        println!(
            "{:<32} {:>9.1} µs {:>9.1} µs",
            name.unwrap_or_default(),
            time(false),
            time(true)
        );
    }
}
