//! `dsl-engine fmt FILE [--check]`: print the canonical text of a strategy, or with `--check`
//! say whether the file is already canonical.

use std::path::PathBuf;

use super::{read_strategy, report_undecodable, ExitStatus};
use crate::dsl::{fmt, render};

/// `dsl-engine fmt`.
#[derive(Debug, clap::Args)]
pub struct FmtArgs {
    /// The strategy file (`.strat`).
    pub file: PathBuf,
    /// Print nothing on success; exit 1 and name the file when formatting would change it.
    #[arg(long)]
    pub check: bool,
}

/// Runs `fmt`.
pub fn run(a: FmtArgs) -> anyhow::Result<ExitStatus> {
    let name = a.file.display().to_string();
    let source = match read_strategy(&a.file)? {
        Ok(source) => source,
        Err(bad) => return Ok(report_undecodable(&bad, &name)),
    };
    let formatted = match fmt::format_source(&source) {
        Ok(text) => text,
        Err(d) => {
            err!("{}", render(&[d], &source, &name));
            return Ok(ExitStatus::Failure);
        }
    };
    if !a.check {
        out!("{formatted}");
        return Ok(ExitStatus::Success);
    }
    if formatted == source {
        Ok(ExitStatus::Success)
    } else {
        let line = source
            .lines()
            .zip(formatted.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| source.lines().count().min(formatted.lines().count()))
            + 1;
        errln!("{name}: would be reformatted (first difference on line {line}); run `dsl-engine fmt {name}` to see the canonical text");
        Ok(ExitStatus::Failure)
    }
}
