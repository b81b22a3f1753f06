//! The trial ledger `RUN_DIR/iterations.jsonl`: one JSON object per trial, appended, flushed and
//! fsynced before the next trial starts, so a killed run loses at most the trial in flight.
//! [`Ledger::open`] reads it back for `--resume`, dropping a truncated last line, and refuses a
//! ledger whose trials are not numbered 1, 2, 3, … (a deleted or duplicated line).
//!
//! Besides trials the ledger records one event: the unsealing of the holdout ([`Unsealed`], a
//! line with an `"event"` field), so the holdout is scored once per run, whatever is resumed or
//! interrupted afterwards.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::IterateError;
use crate::llm::Usage;
use crate::metrics::Metrics;

/// The ledger's file name inside a run directory.
pub const LEDGER_FILE: &str = "iterations.jsonl";

/// How a trial ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The proposed strategy checked, ran and was backtested.
    Ok,
    /// The proposal stayed invalid after the repair rounds; the template strategy ran instead.
    Fallback,
    /// The strategy checked but the sandbox or the backtest failed.
    EvalError,
    /// No strategy: the model endpoint failed.
    LlmError,
    /// The same canonical strategy as an earlier trial: not run again (`duplicate_of`).
    Duplicate,
    /// Ran, but its daily returns correlate too closely with an accepted trial's (`gate`).
    Redundant,
    /// Ran, but failed a quality gate: too few trades or turnover outside the band (`gate`).
    Rejected,
}

impl Status {
    /// The ledger spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Fallback => "fallback",
            Status::EvalError => "eval_error",
            Status::LlmError => "llm_error",
            Status::Duplicate => "duplicate",
            Status::Redundant => "redundant",
            Status::Rejected => "rejected",
        }
    }
}

/// The metrics the loop selects on and reports, for one window of the equity curve. `None` where
/// a value is undefined (NaN, e.g. Sharpe of a flat curve).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Scores {
    pub start: String,
    pub end: String,
    pub sharpe: Option<f64>,
    pub sortino: Option<f64>,
    pub cagr: Option<f64>,
    pub calmar: Option<f64>,
    pub total_return: Option<f64>,
    pub max_drawdown: Option<f64>,
    pub win_ratio: Option<f64>,
    pub trades: usize,
    /// Traded value per year as a multiple of NAV.
    pub turnover: Option<f64>,
    pub avg_exposure: Option<f64>,
    pub avg_n_stock: Option<f64>,
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

impl From<&Metrics> for Scores {
    fn from(m: &Metrics) -> Scores {
        Scores {
            start: m.start.clone(),
            end: m.end.clone(),
            sharpe: finite(m.sharpe),
            sortino: finite(m.sortino),
            cagr: finite(m.cagr),
            calmar: finite(m.calmar),
            total_return: finite(m.total_return),
            max_drawdown: finite(m.max_drawdown),
            win_ratio: finite(m.win_ratio),
            trades: m.trades,
            turnover: finite(m.turnover),
            avg_exposure: finite(m.avg_exposure),
            avg_n_stock: finite(m.avg_n_stock),
        }
    }
}

/// Time spent in each step of a trial, in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Durations {
    pub propose_ms: f64,
    pub check_ms: f64,
    pub sandbox_ms: f64,
    pub backtest_ms: f64,
    pub total_ms: f64,
}

/// A proposal the checker refused: its code (`None` when the reply held none) and why.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Refused {
    pub code: Option<String>,
    /// The checker's diagnostics, one compact line each.
    pub diagnostics: Vec<String>,
}

/// One model call (a proposal or a repair), with its attempts, tokens and cost.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LlmCall {
    /// `propose` or `repair`.
    pub purpose: String,
    /// The model the endpoint says answered.
    pub model: Option<String>,
    pub attempts: u32,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_usd: Option<f64>,
    pub ms: f64,
    /// The final error, when the call failed.
    pub error: Option<String>,
    /// The grammar the reply was constrained by (`gbnf`, `lark`), `None` for a free reply.
    pub grammar: Option<crate::dsl::grammar::Format>,
}

/// One trial of the loop, as written to the ledger.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Trial {
    /// 1-based, continuing across `--resume`.
    pub iteration: u32,
    /// UTC, RFC 3339.
    pub started_at: String,
    pub finished_at: String,
    /// `llm` or `evolve`.
    pub proposer: String,
    pub model: Option<String>,
    /// Hash of the last prompt sent (LLM proposer).
    pub prompt_hash: Option<String>,
    /// Canonical hash of the strategy that ran (`dsl::fmt::canonical_hash`).
    pub code_hash: Option<String>,
    /// The strategy that ran (the fallback's text for a fallback trial).
    pub code: Option<String>,
    /// The proposal that failed the checker, when the fallback ran instead.
    pub rejected_code: Option<String>,
    pub status: Option<Status>,
    pub error: Option<String>,
    /// Checker diagnostics of the last rejected proposal, one compact line each.
    pub diagnostics: Vec<String>,
    /// Every proposal the checker refused, in order (a repaired trial keeps what it repaired).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<Refused>,
    /// Repair rounds used.
    pub repairs: u32,
    /// What the proposer did (evolve: the parents and mutations).
    pub note: Option<String>,
    /// In-sample metrics: the only window the proposer sees.
    pub in_sample: Option<Scores>,
    /// Validation metrics: used only to promote a strategy at the end, never shown to the
    /// proposer. (The sealed holdout is never scored per trial.)
    pub validation: Option<Scores>,
    /// For a `duplicate`: the earlier trial with the same canonical code.
    pub duplicate_of: Option<u32>,
    /// For `redundant` / `rejected`: the gate that failed, in words.
    pub gate: Option<String>,
    pub fuel_used: Option<u64>,
    pub fuel_limit: Option<u64>,
    pub peak_memory_bytes: Option<u64>,
    /// The scale-out worker that evaluated the trial (`host/pid`); absent when this process did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    pub durations: Durations,
    /// Model calls made for this trial (proposal plus repairs), their attempts and retry notes.
    pub llm_calls: u32,
    pub llm_attempts: u32,
    pub llm_retries: Vec<String>,
    /// Each model call of the trial.
    pub llm_call_log: Vec<LlmCall>,
    pub tokens: Usage,
    /// USD; `None` when the endpoint reports no cost and no price was given.
    pub cost_usd: Option<f64>,
    /// The natural-language feedback given to the proposer.
    pub feedback: String,
}

impl Trial {
    /// Whether this trial ran the proposer's own strategy to the end.
    pub fn is_ok(&self) -> bool {
        self.status == Some(Status::Ok)
    }
}

/// The ledger event recording that the sealed holdout was scored: for which trial, when, and
/// what it gave. Written once per run; a run holding it never scores the holdout again.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Unsealed {
    /// Always [`Unsealed::EVENT`].
    pub event: String,
    /// The promoted trial that was scored.
    pub trial: u32,
    /// Its canonical code hash.
    pub code_hash: Option<String>,
    /// UTC, RFC 3339.
    pub at: String,
    /// The holdout figures (`None` when the window had too few sessions).
    pub scores: Option<Scores>,
    /// Why scoring failed, when it did (the holdout still counts as looked at).
    pub error: Option<String>,
}

impl Unsealed {
    /// The `event` value of the line.
    pub const EVENT: &'static str = "holdout_unsealed";
}

/// An open ledger: the trials read back and the file to append to.
pub struct Ledger {
    path: PathBuf,
    file: File,
    pub trials: Vec<Trial>,
    /// The holdout's unsealing, once it happened.
    pub unsealed: Option<Unsealed>,
    /// A truncated last line was dropped when the ledger was opened.
    pub dropped_partial_line: bool,
    /// Lines of trials appended since the last [`Ledger::commit`], not yet written.
    pending: String,
}

/// One line of the ledger.
enum Line {
    Trial(Box<Trial>),
    Unsealed(Box<Unsealed>),
}

fn parse_line(line: &str) -> Result<Line, serde_json::Error> {
    let v: serde_json::Value = serde_json::from_str(line)?;
    if v.get("event").is_some() {
        let e: Unsealed = serde_json::from_value(v)?;
        if e.event != Unsealed::EVENT {
            return Err(serde::de::Error::custom(format!(
                "unknown event `{}`",
                e.event
            )));
        }
        return Ok(Line::Unsealed(Box::new(e)));
    }
    Ok(Line::Trial(Box::new(serde_json::from_value(v)?)))
}

impl Ledger {
    /// Opens (or creates) `dir/iterations.jsonl` and reads its trials. A last line that does not
    /// parse (a run killed mid-write) is cut off; a bad line elsewhere is an error.
    pub fn open(dir: &Path) -> Result<Ledger, IterateError> {
        let path = dir.join(LEDGER_FILE);
        let io = |source| IterateError::Io {
            path: path.clone(),
            source,
        };
        let text = match std::fs::read(&path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io(e)),
        };
        let mut trials: Vec<Trial> = Vec::new();
        let mut unsealed = None;
        let mut good_len = 0usize;
        let mut dropped = false;
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let bad = |line: usize, message: String| IterateError::Ledger {
            path: path.clone(),
            line,
            message,
        };
        for (i, line) in lines.iter().enumerate() {
            let last = i + 1 == lines.len();
            if line.trim().is_empty() {
                good_len += line.len();
                continue;
            }
            match parse_line(line) {
                // A last line without its newline was cut mid-write, even if it parses.
                Ok(_) if last && !line.ends_with('\n') => dropped = true,
                Ok(Line::Trial(t)) => {
                    let expected = trials.len() as u32 + 1;
                    if unsealed.is_some() {
                        return Err(bad(i + 1, "a trial after the holdout was unsealed".into()));
                    }
                    if t.iteration != expected {
                        return Err(bad(
                            i + 1,
                            format!(
                                "trial #{} where #{expected} belongs: a line was deleted or \
                                 duplicated, so the run cannot be resumed faithfully",
                                t.iteration
                            ),
                        ));
                    }
                    trials.push(*t);
                    good_len += line.len();
                }
                Ok(Line::Unsealed(e)) => {
                    if unsealed.is_some() {
                        return Err(bad(i + 1, "the holdout was unsealed twice".into()));
                    }
                    unsealed = Some(*e);
                    good_len += line.len();
                }
                Err(_) if last => dropped = true,
                Err(e) => return Err(bad(i + 1, e.to_string())),
            }
        }
        if dropped {
            let f = OpenOptions::new().write(true).open(&path).map_err(io)?;
            f.set_len(good_len as u64).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        Ok(Ledger {
            path,
            file,
            trials,
            unsealed,
            dropped_partial_line: dropped,
            pending: String::new(),
        })
    }

    /// The ledger file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one trial. Its line is written by the next [`Ledger::commit`]: the loop commits
    /// a round's trials together (one fsync, not one a trial), after their daily returns are
    /// on disk, so a line never outlives its returns record. Lines not committed when the
    /// process dies are lost with their round, which a resumed run evaluates again.
    pub fn append(&mut self, trial: &Trial) -> Result<(), IterateError> {
        let line = serde_json::to_string(trial).map_err(|e| self.io(std::io::Error::other(e)))?;
        self.pending.push_str(&line);
        self.pending.push('\n');
        self.trials.push(trial.clone());
        Ok(())
    }

    /// Writes the lines of the trials appended since the last commit, flushed and fsynced.
    pub fn commit(&mut self) -> Result<(), IterateError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let lines = std::mem::take(&mut self.pending);
        self.file
            .write_all(lines.as_bytes())
            .and_then(|()| self.file.flush())
            .and_then(|()| self.file.sync_data())
            .map_err(|e| self.io(e))
    }

    fn io(&self, source: std::io::Error) -> IterateError {
        IterateError::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// Records the holdout's unsealing, flushed and fsynced.
    pub fn append_unsealed(&mut self, event: &Unsealed) -> Result<(), IterateError> {
        self.write_line(event)?;
        self.unsealed = Some(event.clone());
        Ok(())
    }

    /// Writes `value` as a line after any pending trials, flushed and fsynced.
    fn write_line(&mut self, value: &impl Serialize) -> Result<(), IterateError> {
        let line = serde_json::to_string(value).map_err(|e| self.io(std::io::Error::other(e)))?;
        self.pending.push_str(&line);
        self.pending.push('\n');
        self.commit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(i: u32) -> Trial {
        Trial {
            iteration: i,
            status: Some(Status::Ok),
            code: Some("sim(x)\n".into()),
            in_sample: Some(Scores {
                sharpe: Some(1.5),
                ..Scores::default()
            }),
            ..Trial::default()
        }
    }

    #[test]
    fn appends_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(dir.path()).unwrap();
        l.append(&trial(1)).unwrap();
        l.append(&trial(2)).unwrap();
        l.commit().unwrap();
        drop(l);
        let l = Ledger::open(dir.path()).unwrap();
        assert_eq!(l.trials, vec![trial(1), trial(2)]);
        assert!(!l.dropped_partial_line);
    }

    #[test]
    fn trials_not_committed_are_not_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(dir.path()).unwrap();
        l.append(&trial(1)).unwrap();
        l.commit().unwrap();
        l.append(&trial(2)).unwrap();
        drop(l);
        assert_eq!(Ledger::open(dir.path()).unwrap().trials, vec![trial(1)]);
    }

    #[test]
    fn a_truncated_last_line_is_dropped_and_the_file_repaired() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(dir.path()).unwrap();
        l.append(&trial(1)).unwrap();
        l.commit().unwrap();
        drop(l);
        let path = dir.path().join(LEDGER_FILE);
        let mut text = std::fs::read_to_string(&path).unwrap();
        let second = serde_json::to_string(&trial(2)).unwrap();
        text.push_str(&second[..second.len() / 2]);
        std::fs::write(&path, &text).unwrap();
        let mut l = Ledger::open(dir.path()).unwrap();
        assert!(l.dropped_partial_line);
        assert_eq!(l.trials.len(), 1);
        l.append(&trial(2)).unwrap();
        l.commit().unwrap();
        drop(l);
        let l = Ledger::open(dir.path()).unwrap();
        assert_eq!(l.trials.len(), 2);
        assert!(!l.dropped_partial_line);
    }

    #[test]
    fn a_deleted_or_duplicated_line_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LEDGER_FILE);
        let line = |i| serde_json::to_string(&trial(i)).unwrap();
        for (text, at) in [
            (format!("{}\n{}\n", line(1), line(3)), 2),
            (format!("{}\n{}\n{}\n", line(1), line(2), line(2)), 3),
            (format!("{}\n", line(2)), 1),
        ] {
            std::fs::write(&path, text).unwrap();
            match Ledger::open(dir.path()) {
                Err(IterateError::Ledger { line, message, .. }) => {
                    assert_eq!(line, at, "{message}");
                    assert!(message.contains("deleted or duplicated"), "{message}");
                }
                Err(e) => panic!("wrong error: {e}"),
                Ok(_) => panic!("a gap or duplicate was accepted"),
            }
        }
    }

    #[test]
    fn the_unsealing_is_read_back_and_ends_the_trials() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(dir.path()).unwrap();
        l.append(&trial(1)).unwrap();
        let e = Unsealed {
            event: Unsealed::EVENT.into(),
            trial: 1,
            at: "2026-01-01T00:00:00Z".into(),
            ..Unsealed::default()
        };
        l.append_unsealed(&e).unwrap();
        drop(l);
        let l = Ledger::open(dir.path()).unwrap();
        assert_eq!((l.trials.len(), l.unsealed.as_ref()), (1, Some(&e)));
        let path = dir.path().join(LEDGER_FILE);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(&serde_json::to_string(&trial(2)).unwrap());
        text.push('\n');
        std::fs::write(&path, text).unwrap();
        assert!(matches!(
            Ledger::open(dir.path()),
            Err(IterateError::Ledger { line: 3, .. })
        ));
    }

    #[test]
    fn a_corrupt_middle_line_is_an_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LEDGER_FILE);
        let good = serde_json::to_string(&trial(1)).unwrap();
        std::fs::write(&path, format!("{good}\n{{oops\n{good}\n")).unwrap();
        match Ledger::open(dir.path()) {
            Err(IterateError::Ledger { line: 2, .. }) => {}
            Err(e) => panic!("wrong error: {e}"),
            Ok(_) => panic!("a corrupt line was accepted"),
        }
    }
}
