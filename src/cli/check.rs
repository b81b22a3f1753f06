//! `dsl-engine check FILE...`: every diagnostic of every file, exit 0 when all are valid, else 1.

use std::path::PathBuf;

use super::{read_strategy, ExitStatus};
use crate::data::{self, DataDir};
use crate::dsl::{self, render, CheckContext, Checked};
use crate::pipeline;

/// `dsl-engine check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The strategy files (`.strat`).
    #[arg(required = true, num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// Data directory whose datasets the strategy may load (default: the synthetic market).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Print the diagnostics of all files as one JSON list of `{file, line, col, end_line,
    /// end_col, severity, code, message, label, hint}` on stdout (1-based, columns in characters).
    #[arg(long)]
    pub json: bool,
}

/// Runs `check`.
pub fn run(a: CheckArgs) -> anyhow::Result<ExitStatus> {
    let ctx = context(&a)?;
    let mut all_valid = true;
    let mut located = Vec::new();
    for file in &a.files {
        let (source, checked) = match read_strategy(file)? {
            Ok(source) => {
                let checked = dsl::compile(&source, &ctx);
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
        let name = file.display().to_string();
        all_valid &= checked.program.is_some();
        if a.json {
            located.extend(dsl::locate(&checked.diagnostics, &source, &name));
            continue;
        }
        if !checked.diagnostics.is_empty() {
            err!("{}", render(&checked.diagnostics, &source, &name));
        }
        if checked.program.is_some() {
            outln!("{name}: ok");
        } else {
            let n = checked.diagnostics.iter().filter(|d| d.is_error()).count();
            errln!("{name}: {n} error(s)");
        }
    }
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&located)?);
    }
    Ok(if all_valid {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

/// The datasets a strategy may load: `--data-dir`'s, the default data's when it has been
/// generated (and is current: a cache lacking datasets added since is regenerated on its next
/// use), else the catalog's.
fn context(a: &CheckArgs) -> anyhow::Result<CheckContext> {
    Ok(match &a.data_dir {
        Some(d) => pipeline::check_context(&DataDir::open(d)?),
        None => {
            let d = data::default_data_dir();
            match DataDir::open(&d) {
                Ok(dir)
                    if d.join(data::MANIFEST).exists()
                        && !dir.manifest.as_ref().is_some_and(|m| {
                            data::lacks_generated_keys(m, &data::synth::SynthConfig::default())
                        }) =>
                {
                    pipeline::check_context(&dir)
                }
                _ => pipeline::catalog_context(),
            }
        }
    })
}
