//! One trial up to its evaluation: the proposal, the repair rounds, the fallback and the
//! duplicate check.

use std::time::Instant;

use super::{apply_stats, ms, Reporter, Runner};
use crate::dsl::fmt::canonical_hash;
use crate::dsl::{compile, parse, render_compact};
use crate::iterate::clock;
use crate::iterate::ledger::{Durations, Refused, Status, Trial};
use crate::iterate::proposer::{CallStats, ProposeError, Proposer, FALLBACK};

impl Runner<'_> {
    /// One trial up to its evaluation: proposal, repairs, the fallback and the duplicate check
    /// against `history` and the earlier trials of this round. Model failures become a
    /// finished `llm_error` trial; only an exhausted search is an error.
    pub(super) fn prepare(
        &mut self,
        iteration: u32,
        proposer: &mut dyn Proposer,
        reporter: &mut dyn Reporter,
        history: &[Trial],
        round: &[Prepared],
    ) -> Result<Prepared, ProposeError> {
        let start = Instant::now();
        let mut t = Trial {
            iteration,
            started_at: clock::now(),
            proposer: proposer.name().into(),
            model: proposer.model(),
            ..Trial::default()
        };
        let ctx = self.context(iteration, history);
        let mut stats = CallStats::default();
        let mut durations = Durations::default();

        let t_prop = Instant::now();
        let first = proposer.propose(&ctx);
        let mut proposal = match first {
            Ok(p) => p,
            Err(ProposeError::Llm { error, stats: s }) => {
                return Ok(Prepared::done(self.llm_failed(t, error, *s, start)));
            }
            Err(e) => return Err(e),
        };
        merge(&mut stats, &proposal.stats);
        t.note = proposal.note.clone();
        t.prompt_hash = proposal.prompt_hash.clone();
        let mut check_ms = 0.0;
        let mut valid: Option<String> = None;
        loop {
            let t_check = Instant::now();
            let diagnostics = match &proposal.code {
                Some(code) => {
                    let checked = compile(code, &self.ctx);
                    if checked.program.is_some() {
                        check_ms += ms(t_check);
                        valid = Some(code.clone());
                        break;
                    }
                    render_compact(&checked.diagnostics, code, "strategy.py")
                }
                None => "no strategy found in the reply: reply with the whole strategy in one \
                         ```python code block"
                    .to_string(),
            };
            check_ms += ms(t_check);
            t.diagnostics = diagnostics.lines().map(str::to_string).collect();
            t.refused.push(Refused {
                code: proposal.code.clone(),
                diagnostics: t.diagnostics.clone(),
            });
            if t.repairs >= self.settings.max_repairs {
                break;
            }
            t.repairs += 1;
            let line = format!("trial {iteration}: repair round {}", t.repairs);
            self.log(reporter, &line);
            match proposer.repair(&ctx, proposal.code.as_deref(), &diagnostics) {
                Ok(p) => {
                    merge(&mut stats, &p.stats);
                    if p.prompt_hash.is_some() {
                        t.prompt_hash = p.prompt_hash.clone();
                    }
                    proposal = p;
                }
                Err(ProposeError::Llm { error, stats: s }) => {
                    merge(&mut stats, &s);
                    t.rejected_code = proposal.code.clone();
                    return Ok(Prepared::done(self.llm_failed(t, error, stats, start)));
                }
                Err(e) => return Err(e),
            }
        }
        durations.propose_ms = ms(t_prop) - check_ms;
        durations.check_ms = check_ms;
        let code = self.code_to_run(&mut t, valid, proposal.code.clone(), reporter);
        t.code_hash = parse(&code).ok().map(|p| canonical_hash(&p, &code));
        t.code = Some(code.clone());
        // Canonical duplicates of an earlier run strategy are not run again.
        let run = if mark_duplicate(&mut t, history, round) {
            None
        } else {
            Some(code)
        };
        Ok(Prepared {
            trial: t,
            run,
            durations,
            stats,
            start,
            fatal: false,
        })
    }

    /// The code a checked trial runs: its valid proposal, else the fallback template (the
    /// refused proposal is kept in the trial).
    fn code_to_run(
        &mut self,
        t: &mut Trial,
        valid: Option<String>,
        proposed: Option<String>,
        reporter: &mut dyn Reporter,
    ) -> String {
        match valid {
            Some(c) => {
                t.diagnostics.clear();
                t.status = Some(Status::Ok);
                c
            }
            None => {
                t.rejected_code = proposed;
                t.status = Some(Status::Fallback);
                let line = format!(
                    "trial {}: still invalid after {} repair round(s); running the fallback template",
                    t.iteration, t.repairs
                );
                self.log(reporter, &line);
                FALLBACK.to_string()
            }
        }
    }

    /// An `llm_error` trial, and whether the error ends the run.
    fn llm_failed(
        &self,
        mut t: Trial,
        error: crate::llm::LlmError,
        stats: CallStats,
        start: Instant,
    ) -> (Trial, bool) {
        t.status = Some(Status::LlmError);
        t.error = Some(error.to_string());
        t.feedback = format!(
            "No strategy this time: the model endpoint failed ({}).",
            if error.fatal() {
                "fatal"
            } else {
                "after retries"
            }
        );
        apply_stats(&mut t, &stats);
        t.durations.propose_ms = ms(start);
        t.durations.total_ms = ms(start);
        t.finished_at = clock::now();
        (t, error.fatal())
    }
}

fn merge(into: &mut CallStats, s: &CallStats) {
    into.calls += s.calls;
    into.attempts += s.attempts;
    into.retries.extend(s.retries.iter().cloned());
    into.log.extend(s.log.iter().cloned());
    into.tokens.add(s.tokens);
    if let Some(c) = s.cost {
        into.cost = Some(into.cost.unwrap_or(0.0) + c);
    }
}

/// A trial after its proposal: finished (`run` is `None`: a model error or a duplicate) or
/// waiting for the evaluation of `run`.
pub(super) struct Prepared {
    pub(super) trial: Trial,
    pub(super) run: Option<String>,
    pub(super) durations: Durations,
    pub(super) stats: CallStats,
    pub(super) start: Instant,
    /// A model error that ends the run.
    pub(super) fatal: bool,
}

impl Prepared {
    fn done((trial, fatal): (Trial, bool)) -> Prepared {
        Prepared {
            trial,
            run: None,
            durations: Durations::default(),
            stats: CallStats::default(),
            start: Instant::now(),
            fatal,
        }
    }
}

/// Marks `t` a duplicate when its canonical code equals an earlier run trial's (in `history`
/// or earlier in this round), with feedback saying so; returns whether it did.
fn mark_duplicate(t: &mut Trial, history: &[Trial], round: &[Prepared]) -> bool {
    if t.status != Some(Status::Ok) || t.code_hash.is_none() {
        return false;
    }
    let earlier = history
        .iter()
        .chain(round.iter().map(|p| &p.trial))
        .find(|h| h.code_hash == t.code_hash && h.status.is_some_and(|s| s != Status::LlmError));
    let Some(h) = earlier else {
        return false;
    };
    t.status = Some(Status::Duplicate);
    t.duplicate_of = Some(h.duplicate_of.unwrap_or(h.iteration));
    t.feedback = format!(
        "Duplicate: this is the same strategy as trial #{} (identical canonical code), so it was \
         not run again. Try a genuinely different idea.",
        h.iteration
    );
    true
}
