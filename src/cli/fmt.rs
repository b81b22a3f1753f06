//! `dsl-engine fmt FILE [--check | --write]`: print the canonical text of a strategy, say whether
//! the file is already canonical (`--check`), or rewrite it in place (`--write`, atomically: a
//! temporary sibling is written, synced and renamed over the file).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{read_strategy, report_undecodable, ExitStatus};
use crate::dsl::{fmt, render};

/// `dsl-engine fmt`.
#[derive(Debug, clap::Args)]
pub struct FmtArgs {
    /// The strategy file (`.strat`).
    pub file: PathBuf,
    /// Print nothing on success; exit 1 and name the file when formatting would change it.
    #[arg(long, conflicts_with = "write")]
    pub check: bool,
    /// Rewrite the file in place with its canonical text (atomically); print nothing.
    #[arg(long)]
    pub write: bool,
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
    if a.write {
        if formatted != source {
            write_atomic(&a.file, formatted.as_bytes())
                .with_context(|| format!("cannot rewrite {name}"))?;
            errln!("reformatted {name}");
        }
        return Ok(ExitStatus::Success);
    }
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
        errln!("{name}: would be reformatted (first difference on line {line}); run `dsl-engine fmt --write {name}` to rewrite it");
        Ok(ExitStatus::Failure)
    }
}

/// Replaces `path` with `bytes`: a new sibling file (same permissions) is written and synced,
/// then renamed over `path`, and the directory is synced, so a crash leaves the old text or the
/// new one, never a mix.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let file_name = path
        .file_name()
        .map_or_else(|| "strategy".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{file_name}.fmt-{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.set_permissions(std::fs::metadata(path)?.permissions())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // The rename is durable once the directory is synced (not possible on every platform).
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
