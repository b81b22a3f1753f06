//! `dsl-engine check FILE`: every diagnostic, exit 0 or 1.

use std::path::PathBuf;

use super::{read_strategy, ExitStatus};
use crate::data::{self, DataDir};
use crate::dsl::{self, render, CheckContext, Checked};
use crate::pipeline;

/// `dsl-engine check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The strategy file (`.strat`).
    pub file: PathBuf,
    /// Data directory whose datasets the strategy may load (default: the synthetic market).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Print the diagnostics as one JSON list of `{file, line, col, end_line, end_col, severity,
    /// code, message, label, hint}` on stdout (1-based, columns in characters).
    #[arg(long)]
    pub json: bool,
}

/// Runs `check`.
pub fn run(a: CheckArgs) -> anyhow::Result<ExitStatus> {
    let (source, checked) = match read_strategy(&a.file)? {
        Ok(source) => {
            let checked = dsl::compile(&source, &context(&a)?);
            (source, checked)
        }
        // Not UTF-8: reported as any other invalid strategy, with `--json` too.
        Err(bad) => (
            bad.text,
            Checked {
                program: None,
                diagnostics: vec![bad.diagnostic],
            },
        ),
    };
    let name = a.file.display().to_string();
    if a.json {
        let located = dsl::locate(&checked.diagnostics, &source, &name);
        outln!("{}", serde_json::to_string_pretty(&located)?);
        return Ok(if checked.program.is_some() {
            ExitStatus::Success
        } else {
            ExitStatus::Failure
        });
    }
    if !checked.diagnostics.is_empty() {
        err!("{}", render(&checked.diagnostics, &source, &name));
    }
    if checked.program.is_some() {
        outln!("{name}: ok");
        Ok(ExitStatus::Success)
    } else {
        let n = checked.diagnostics.iter().filter(|d| d.is_error()).count();
        errln!("{name}: {n} error(s)");
        Ok(ExitStatus::Failure)
    }
}

/// The datasets a strategy may load: `--data-dir`'s, the default data's when it has been
/// generated, else the catalog's.
fn context(a: &CheckArgs) -> anyhow::Result<CheckContext> {
    Ok(match &a.data_dir {
        Some(d) => pipeline::check_context(&DataDir::open(d)?),
        None => {
            let d = data::default_data_dir();
            match DataDir::open(&d) {
                Ok(dir) if d.join(data::MANIFEST).exists() => pipeline::check_context(&dir),
                _ => pipeline::catalog_context(),
            }
        }
    })
}
