//! `dsl-engine positions FILE -o pos.feather`: evaluate a strategy in the sandbox and write its
//! position panel as a wide Arrow file in finlab's layout (readable by pandas and by
//! `dsl-engine sim --position`).

use std::path::PathBuf;

use anyhow::Context;

use super::{open_data, read_strategy, report_undecodable, sandbox, ExitStatus};
use crate::data::feather::{write_wide_as, ValueType};
use crate::dsl::{self, fmt, render, CheckContext, PanelKind};
use crate::pipeline::{self, PipelineError};

/// `dsl-engine positions`.
#[derive(Debug, clap::Args)]
pub struct PositionsArgs {
    /// The strategy file (`.strat`).
    pub file: PathBuf,
    /// Where to write the panel (`.feather`). A bool position is written as bool columns, a
    /// weight position as float64 columns (NaN where missing).
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
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
    let values = match ev.position_kind {
        PanelKind::Bool => ValueType::Bool,
        PanelKind::Float | PanelKind::Series => ValueType::Float64,
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
    write_wide_as(&a.output, &panel, &metadata, values)
        .with_context(|| format!("writing {}", a.output.display()))?;
    errln!(
        "wrote {} ({} dates × {} stocks, {})",
        a.output.display(),
        panel.dates.len(),
        panel.columns.len(),
        match values {
            ValueType::Bool => "bool",
            ValueType::Float64 => "float64",
        }
    );
    Ok(ExitStatus::Success)
}
