//! `dsl-engine grammar --format gbnf|lark`: the DSL as a grammar for constrained decoding,
//! enumerating the keys of the dataset catalog or of `--data-dir`.

use std::path::PathBuf;

use anyhow::Context;

use super::ExitStatus;
use crate::data::DataDir;
use crate::dsl::grammar::{self, Format};
use crate::pipeline;

/// `dsl-engine grammar`.
#[derive(Debug, clap::Args)]
pub struct GrammarArgs {
    /// gbnf: llama.cpp's server (`grammar` field), canonical `fmt` layout; lark: vLLM's
    /// structured outputs and llguidance, any layout.
    #[arg(long, value_enum)]
    pub format: Format,
    /// Data directory whose keys the grammar enumerates (default: the dataset catalog).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Write the grammar to this file instead of stdout.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// Runs `grammar`.
pub fn run(a: GrammarArgs) -> anyhow::Result<ExitStatus> {
    let ctx = match &a.data_dir {
        Some(d) => pipeline::check_context(
            &DataDir::open(d)
                .with_context(|| format!("cannot open data directory {}", d.display()))?,
        ),
        None => pipeline::catalog_context(),
    };
    let text = grammar::render(a.format, ctx.datasets.as_deref().unwrap_or_default());
    match &a.output {
        Some(path) => crate::util::fs::write_atomic(path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => out!("{text}"),
    }
    Ok(ExitStatus::Success)
}
