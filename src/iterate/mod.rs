//! The autonomous loop behind `dsl-engine iterate`: propose (an LLM or the offline evolutionary
//! search) → extract → check (repair rounds with the diagnostic, then the template fallback) →
//! sandbox → backtest → in-sample metrics → natural-language feedback → history → next. Every
//! trial is appended to the ledger (`RUN_DIR/iterations.jsonl`); the last part of the data is a
//! holdout the proposer never sees, reported for the best trial at the end.

pub mod clock;
pub mod feedback;
pub mod holdout;
pub mod ledger;
pub mod prompts;
pub mod proposer;
pub mod run;
pub mod stop;
pub mod summary;

use std::path::PathBuf;

pub use holdout::Split;
pub use ledger::{Ledger, LlmCall, Scores, Status, Trial};
pub use proposer::{EvolveProposer, LlmProposer, Proposal, ProposeContext, Proposer, FALLBACK};
pub use run::{Reporter, RunSettings, Runner};
pub use stop::Stop;
pub use summary::{Objective, Summary};

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
    #[error("prompt templates: {0}")]
    Prompt(String),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
}
