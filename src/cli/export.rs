//! `dsl-engine export FILE [-o out.py] [--backtest]`: finlab Python for a valid strategy, with a
//! provenance header (and dsl-engine's backtest figures with `--backtest`).

use std::path::PathBuf;

use anyhow::Context;

use super::{open_data, read_strategy, report_undecodable, sandbox, ExitStatus};
use crate::data::{self, DataDir};
use crate::dsl::{self, render};
use crate::export::{export, Provenance};
use crate::pipeline::{self, PipelineError};

/// `dsl-engine export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The strategy file (`.strat`).
    pub file: PathBuf,
    /// Write the Python here instead of stdout.
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// Backtest the strategy first and record its metrics in the header.
    #[arg(long)]
    pub backtest: bool,
    /// Data directory the strategy is checked (and, with `--backtest`, backtested) against
    /// (default: the synthetic market).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// Runs `export`.
pub fn run(a: ExportArgs) -> anyhow::Result<ExitStatus> {
    let name = a.file.display().to_string();
    let source = match read_strategy(&a.file)? {
        Ok(source) => source,
        Err(bad) => return Ok(report_undecodable(&bad, &name)),
    };
    // The data set named in the header: the one given, the one backtested on, or the default
    // one when it has been generated already (export alone never generates data).
    let data: Option<DataDir> = if a.backtest || a.data_dir.is_some() {
        Some(open_data(a.data_dir.as_deref())?)
    } else {
        let d = data::default_data_dir();
        DataDir::open(&d)
            .ok()
            .filter(|_| d.join(data::MANIFEST).exists())
    };
    let ctx = match &data {
        Some(d) => pipeline::check_context(d),
        None => pipeline::catalog_context(),
    };
    let checked = dsl::compile(&source, &ctx);
    if checked.program.is_none() {
        err!("{}", render(&checked.diagnostics, &source, &name));
        return Ok(ExitStatus::Failure);
    }
    // invariant: compile returned a program, so the source parses.
    let program = dsl::parse(&source).map_err(|d| anyhow::anyhow!(d.message))?;
    let backtest = match (&data, a.backtest) {
        (Some(d), true) => {
            let sb = sandbox(Default::default())?;
            match pipeline::backtest(&source, d, &sb) {
                Ok(bt) => Some(bt),
                Err(PipelineError::Invalid(diags)) => {
                    err!("{}", render(&diags, &source, &name));
                    return Ok(ExitStatus::Failure);
                }
                Err(e) => return Err(e).with_context(|| format!("backtesting {name}")),
            }
        }
        _ => None,
    };
    let source_name = a
        .file
        .file_name()
        .map_or_else(|| name.clone(), |f| f.to_string_lossy().into_owned());
    let py = export(
        &program,
        &source,
        &Provenance {
            notes: Vec::new(),
            source_name,
            data: data.as_ref().map(DataDir::banner),
            metrics: backtest.as_ref().map(|b| &b.metrics),
        },
    );
    match &a.output {
        Some(out) => {
            std::fs::write(out, &py).with_context(|| format!("cannot write {}", out.display()))?;
            errln!("wrote {}", out.display());
        }
        None => out!("{py}"),
    }
    Ok(ExitStatus::Success)
}
