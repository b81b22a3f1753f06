//! `dsl-engine positions FILE -o pos.feather`: evaluate a strategy in the sandbox and write its
//! position panel as a wide Arrow file in finlab's layout (readable by pandas and by
//! `dsl-engine sim --position`); `--latest` prints the next rebalance instead (or as well): when
//! it executes and, per stock, the action, the current and the target weight.

use std::path::PathBuf;

use anyhow::Context;

use serde_json::json;

use super::{open_data, output, read_strategy, report_undecodable, sandbox, ExitStatus};
use crate::data::feather::{write_wide_as, ValueType};
use crate::data::DataDir;
use crate::dsl::{self, fmt, render, CheckContext, PanelKind};
use crate::metrics::RISK_FREE;
use crate::pipeline::{self, Evaluated, PipelineError};

/// `dsl-engine positions`.
#[derive(Debug, clap::Args)]
pub struct PositionsArgs {
    /// The strategy file (`.strat`).
    pub file: PathBuf,
    /// Where to write the panel (`.feather`). A bool position is written as bool columns, a
    /// weight position as float64 columns (NaN where missing).
    #[arg(short = 'o', long = "output", required_unless_present = "latest")]
    pub output: Option<PathBuf>,
    /// Print the next rebalance: its date and, per stock, code, name, industry, action (buy,
    /// sell, resize, keep), current and target weight (backtests the strategy to know the book).
    #[arg(long)]
    pub latest: bool,
    /// With `--latest`: print one JSON object (`holdings`, `next_rebalance`) instead.
    #[arg(long, requires = "latest")]
    pub json: bool,
    /// Data directory in finlab's cache layout (default: the synthetic market).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// Runs `positions`.
pub fn run(a: PositionsArgs) -> anyhow::Result<ExitStatus> {
    let name = a.file.display().to_string();
    let source = match read_strategy(&a.file)? {
        Ok(source) => source,
        Err(bad) => return Ok(report_undecodable(&bad, &name)),
    };
    let Ok(program) = dsl::parse(&source) else {
        let checked = dsl::compile(&source, &CheckContext::default());
        err!("{}", render(&checked.diagnostics, &source, &name));
        return Ok(ExitStatus::Failure);
    };
    let data = open_data(a.data_dir.as_deref())?;
    let sb = sandbox(Default::default())?;
    let ev = match pipeline::evaluate(&source, &data, &sb) {
        Ok(ev) => ev,
        Err(PipelineError::Invalid(diags)) => {
            err!("{}", render(&diags, &source, &name));
            return Ok(ExitStatus::Failure);
        }
        Err(e) => return Err(e).with_context(|| format!("evaluating {name}")),
    };
    if !ev.warnings.is_empty() {
        err!("{}", render(&ev.warnings, &source, &name));
    }
    if a.latest {
        print_latest(&data, &ev, &name, a.json)?;
    }
    let Some(output) = &a.output else {
        return Ok(ExitStatus::Success);
    };
    let values = match ev.position_kind {
        PanelKind::Bool => ValueType::Bool,
        PanelKind::Float | PanelKind::Series => ValueType::Float64,
        PanelKind::BoolSeries => ValueType::Bool,
    };
    let mut panel = ev.evaluation.position.into_weights();
    panel.name = "position".into();
    let metadata = [
        ("dsl_engine.strategy", name.clone()),
        (
            "dsl_engine.canonical_hash",
            fmt::canonical_hash(&program, &source),
        ),
        ("dsl_engine.data", data.banner()),
    ];
    write_wide_as(output, &panel, &metadata, values)
        .with_context(|| format!("writing {}", output.display()))?;
    errln!(
        "wrote {} ({} dates × {} stocks, {})",
        output.display(),
        panel.dates.len(),
        panel.columns.len(),
        match values {
            ValueType::Bool => "bool",
            ValueType::Float64 => "float64",
        }
    );
    Ok(ExitStatus::Success)
}

/// Backtests the evaluated position with the strategy's options and prints the next rebalance.
fn print_latest(data: &DataDir, ev: &Evaluated, name: &str, json: bool) -> anyhow::Result<()> {
    let opts = &ev.lowered.sim.options;
    let position = &ev.evaluation.position;
    let (result, metrics) = pipeline::simulate_on(position, data, opts)
        .with_context(|| format!("backtesting {name}"))?;
    let report = output::analyse(
        data,
        position,
        &result,
        metrics,
        opts,
        RISK_FREE,
        name.into(),
    )?;
    if json {
        let doc = json!({
            "strategy": name,
            "data": report.data.banner,
            "holdings": output::holdings_json(&report.book, &report.names),
            "next_rebalance": output::next_json(&report.book, &report.names),
        });
        outln!("{doc}");
    } else {
        let mut text = Vec::new();
        output::print_next(&mut text, &report.book, &report.names, opts)?;
        out!("{}", String::from_utf8_lossy(&text));
    }
    Ok(())
}
