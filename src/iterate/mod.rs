//! The autonomous loop behind `dsl-engine iterate`: propose (an LLM or the offline evolutionary
//! search) → extract → check (repair rounds with the diagnostic, then the template fallback) →
//! sandbox → backtest → in-sample metrics → natural-language feedback → history → next. Every
//! trial is appended to the ledger (`RUN_DIR/iterations.jsonl`). The data is split three ways
//! ([`split`]): the proposer sees in-sample figures only, validation promotes one strategy, and
//! the sealed holdout is scored once, for that strategy, at the end. Gates ([`gates`]) skip
//! duplicates and mark redundant or low-quality trials; [`rigor`] deflates the result
//! (Deflated Sharpe, PBO) and gives the verdict.

pub mod clock;
pub mod config;
pub mod evaluate;
pub mod feedback;
pub mod gates;
pub mod ledger;
pub mod lock;
pub mod objective;
pub mod prompts;
pub mod proposer;
pub mod returns;
pub mod rigor;
pub mod run;
pub mod session;
pub mod split;
pub mod stop;
pub mod summary;

use std::path::PathBuf;

pub use gates::Gates;
pub use ledger::{Ledger, LlmCall, Refused, Scores, Status, Trial};
pub use objective::Objective;
pub use proposer::{EvolveProposer, LlmProposer, Proposal, ProposeContext, Proposer, FALLBACK};
pub use rigor::{Rigor, Verdict};
pub use run::{Reporter, RunSettings, Runner};
pub use split::{Split, SplitDates};
pub use stop::Stop;
pub use summary::Summary;

/// Why the loop could not run or record a trial (a strategy's own failure is a trial status,
/// not an error).
#[derive(Debug, thiserror::Error)]
pub enum IterateError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: line {line} is not a trial record ({message}); move the file aside or fix the line", path.display())]
    Ledger {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{}: {message}; the run cannot be resumed faithfully (restore the file, or start a new run)", path.display())]
    Returns { path: PathBuf, message: String },
    #[error("{} is in use by another dsl-engine process ({holder}); wait for it to end or use another run directory", dir.display())]
    Locked { dir: PathBuf, holder: String },
    #[error("{flag} {given} differs from this run's {saved} ({}): a run keeps the settings that shape its results; keep the run's value, or start a new run with `--fork NEW_DIR`", dir.display())]
    Setting {
        flag: &'static str,
        given: String,
        saved: String,
        dir: PathBuf,
    },
    #[error("{0}")]
    Refused(String),
    #[error("prompt templates: {0}")]
    Prompt(String),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
}
