//! Proposers behind one trait: [`LlmProposer`] (a chat model through the OpenAI-compatible
//! client, with the prompt templates) and [`EvolveProposer`] (the offline evolutionary search).
//! [`FALLBACK`] is the template strategy the loop runs when a proposal stays invalid.

use std::borrow::Cow;
use std::collections::BTreeSet;

use tokio::runtime::Handle;

use super::ledger::{LlmCall, Trial};
use super::objective::Objective;
use super::prompts::{self, Templates};
use super::stop::Stop;
use crate::dsl::grammar::Format;
use crate::dsl::CheckContext;
use crate::evolve::{Evolver, Parent};
use crate::llm::{extract_code, extract_constrained, Call, Client, LlmError, Message, Usage};
use crate::util::rng::Rng;
use dsl_runtime::fnv::fnv1a;

/// The template strategy run when a proposal is still invalid after the repair rounds: the 20
/// stocks with the strongest 14-day RSI above 50, monthly.
pub const FALLBACK: &str = "from finlab import data\nfrom finlab.backtest import sim\n\n\
rsi = data.indicator(\"RSI\", timeperiod=14)\n\
position = rsi[rsi > 50].is_largest(20)\n\n\
sim(position, resample=\"M\", name=\"fallback-rsi\")\n";

/// What the proposer sees of the run.
pub struct ProposeContext<'a> {
    pub iteration: u32,
    pub iterations: u32,
    /// Earlier trials, oldest first (in-sample figures and feedback only are shown to a model).
    pub history: &'a [Trial],
    pub best: Option<&'a Trial>,
    pub objective: Objective,
}

/// Model calls behind a proposal.
#[derive(Clone, Debug, Default)]
pub struct CallStats {
    pub calls: u32,
    pub attempts: u32,
    pub retries: Vec<String>,
    pub tokens: Usage,
    pub cost: Option<f64>,
    pub log: Vec<LlmCall>,
}

impl CallStats {
    fn add(&mut self, call: &Call, purpose: &str, grammar: Option<Format>) {
        let ok = call.result.as_ref().ok();
        self.log.push(LlmCall {
            grammar,
            purpose: purpose.into(),
            model: ok.map(|c| c.model.clone()),
            attempts: call.attempts,
            prompt_tokens: ok.map_or(0, |c| c.usage.prompt_tokens),
            completion_tokens: ok.map_or(0, |c| c.usage.completion_tokens),
            cost_usd: ok.and_then(|c| c.cost),
            ms: call.elapsed.as_secs_f64() * 1000.0,
            error: call.result.as_ref().err().map(ToString::to_string),
        });
        self.calls += 1;
        self.attempts += call.attempts;
        self.retries.extend(call.retries.iter().cloned());
        if let Ok(c) = &call.result {
            self.tokens.add(c.usage);
            if let Some(cost) = c.cost {
                self.cost = Some(self.cost.unwrap_or(0.0) + cost);
            }
        }
    }
}

/// A proposed strategy.
#[derive(Clone, Debug, Default)]
pub struct Proposal {
    /// The extracted code; `None` when the reply held no strategy.
    pub code: Option<String>,
    /// What the proposer did (evolve: parents and changes).
    pub note: Option<String>,
    /// Hash of the prompt sent.
    pub prompt_hash: Option<String>,
    pub stats: CallStats,
}

/// A proposer that could not propose.
#[derive(Debug, thiserror::Error)]
pub enum ProposeError {
    #[error("{error}")]
    Llm {
        error: LlmError,
        stats: Box<CallStats>,
    },
    #[error("the search found no new valid strategy: {0}")]
    Exhausted(String),
}

/// Something that writes strategies.
pub trait Proposer {
    /// `llm` or `evolve`.
    fn name(&self) -> &'static str;
    /// The model, for the ledger.
    fn model(&self) -> Option<String> {
        None
    }
    /// A new strategy for `ctx.iteration`.
    fn propose(&mut self, ctx: &ProposeContext) -> Result<Proposal, ProposeError>;
    /// A corrected version of the last proposal, given the checker's diagnostics.
    fn repair(
        &mut self,
        ctx: &ProposeContext,
        code: Option<&str>,
        diagnostics: &str,
    ) -> Result<Proposal, ProposeError>;
    /// Learns from a finished trial (also called for each ledger trial on `--resume`).
    fn observe(&mut self, _trial: &Trial, _objective: Objective) {}
    /// Proposals per round, all made from the same history before the round is evaluated on
    /// `jobs` threads. A deterministic proposer must not depend on `jobs` (the ledger of a seed
    /// is then the same whatever `--jobs` is).
    fn batch(&self, _jobs: u32) -> u32 {
        1
    }
    /// Whether a resumed run should propose a cut round's earlier trials again (results
    /// discarded) so the proposer's state is what it was: cheap, deterministic proposers only.
    fn replays(&self) -> bool {
        false
    }
}

/// Most characters of a reply, code or diagnostics sent back to the model: a strategy is at
/// most 64 KiB, so a longer reply cannot be repaired by seeing all of it again.
pub const MAX_SENT_CHARS: usize = 16 * 1024;

/// `text` cut to [`MAX_SENT_CHARS`] characters, saying how much was left out.
fn clip_sent(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(MAX_SENT_CHARS) {
        None => Cow::Borrowed(text),
        Some((at, _)) => Cow::Owned(format!(
            "{}\n… ({} more characters not shown)",
            &text[..at],
            text[at..].chars().count()
        )),
    }
}

/// Proposals per round of the offline search (fixed: see [`Proposer::batch`]).
pub const EVOLVE_BATCH: u32 = 4;

fn hash_messages(messages: &[Message]) -> String {
    let text: String = messages
        .iter()
        .map(|m| format!("{}\u{1}{}\u{2}", m.role, m.content))
        .collect();
    format!("{:016x}", fnv1a(text.as_bytes()))
}

/// The chat-model proposer: the system prompt once, an iteration prompt with the history per
/// trial, and repair prompts continuing that conversation. When the client sends the DSL's
/// grammar, it asks with the constrained templates (the code alone, a reference without what
/// the grammar enforces) and takes the whole reply as the code.
pub struct LlmProposer {
    client: Client,
    rt: Handle,
    templates: Templates,
    system: String,
    stop: Stop,
    /// The grammar the client sends, if any.
    grammar: Option<Format>,
    /// The conversation of the current trial.
    messages: Vec<Message>,
    /// Trials shown in the history.
    pub history_len: usize,
}

impl LlmProposer {
    /// A proposer calling `client` on runtime `rt`; `datasets` are the keys in the data.
    pub fn new(
        client: Client,
        rt: Handle,
        templates: Templates,
        datasets: Option<&[String]>,
        data_banner: &str,
        objective: Objective,
        stop: Stop,
    ) -> LlmProposer {
        let grammar = client.config().grammar.as_ref().map(|g| g.format);
        let reference = if grammar.is_some() {
            crate::dsl::reference::compact()
        } else {
            prompts::dsl_reference()
        };
        let system = prompts::fill(
            &templates.set(grammar.is_some()).system,
            &[
                ("dsl_reference", &reference),
                ("datasets", &prompts::datasets(datasets)),
                ("examples", &prompts::examples()),
                ("objective", objective.label()),
                ("data", data_banner),
            ],
        );
        LlmProposer {
            client,
            rt,
            templates,
            system,
            stop,
            grammar,
            messages: Vec::new(),
            history_len: 12,
        }
    }

    /// The filled system prompt.
    pub fn system_prompt(&self) -> &str {
        &self.system
    }

    fn send(&mut self, purpose: &str) -> Result<Proposal, ProposeError> {
        let client = &self.client;
        let stop = &self.stop;
        let messages = &self.messages;
        let call = self.rt.block_on(async {
            tokio::select! {
                call = client.chat(messages) => call,
                _ = stop.requested() => Call {
                    result: Err(LlmError::Cancelled),
                    attempts: 1,
                    retries: Vec::new(),
                    elapsed: std::time::Duration::ZERO,
                },
            }
        });
        let mut stats = CallStats::default();
        stats.add(&call, purpose, self.grammar);
        let prompt_hash = Some(hash_messages(&self.messages));
        match call.result {
            Ok(c) => {
                let code = match self.grammar {
                    Some(_) => extract_constrained(&c.content),
                    None => extract_code(&c.content),
                };
                // What is sent back (in the repair conversation) is capped like the code.
                self.messages
                    .push(Message::assistant(clip_sent(&c.content).into_owned()));
                Ok(Proposal {
                    code,
                    note: None,
                    prompt_hash,
                    stats,
                })
            }
            Err(error) => Err(ProposeError::Llm {
                error,
                stats: Box::new(stats),
            }),
        }
    }
}

impl Proposer for LlmProposer {
    fn name(&self) -> &'static str {
        "llm"
    }

    fn model(&self) -> Option<String> {
        Some(self.client.config().model.clone())
    }

    fn propose(&mut self, ctx: &ProposeContext) -> Result<Proposal, ProposeError> {
        let user = prompts::fill(
            &self.templates.set(self.grammar.is_some()).iteration,
            &[
                ("iteration", &ctx.iteration.to_string()),
                ("iterations", &ctx.iterations.to_string()),
                ("objective", ctx.objective.label()),
                ("history", &prompts::history(ctx.history, self.history_len)),
                ("best", &prompts::best(ctx.best)),
            ],
        );
        self.messages = vec![Message::system(self.system.clone()), Message::user(user)];
        self.send("propose")
    }

    /// A model is not deterministic anyway: one proposal per worker, so `--jobs` overlaps
    /// their evaluations.
    fn batch(&self, jobs: u32) -> u32 {
        jobs
    }

    fn repair(
        &mut self,
        _ctx: &ProposeContext,
        code: Option<&str>,
        diagnostics: &str,
    ) -> Result<Proposal, ProposeError> {
        let code = code.map_or(Cow::Borrowed("(no code found in your reply)"), clip_sent);
        let user = prompts::fill(
            &self.templates.set(self.grammar.is_some()).repair,
            &[("diagnostics", &clip_sent(diagnostics)), ("code", &code)],
        );
        self.messages.push(Message::user(user));
        self.send("repair")
    }
}

/// The offline proposer: children of the seed strategies and of the best trials so far.
pub struct EvolveProposer {
    evolver: Evolver,
    seed: u64,
    parents: Vec<Parent>,
    seen: BTreeSet<String>,
}

impl EvolveProposer {
    /// Seeded from `examples/`; `seed` makes the search reproducible (each iteration draws from
    /// its own stream, so a resumed run proposes what an uninterrupted one would).
    pub fn new(ctx: CheckContext, seed: u64) -> EvolveProposer {
        let parents = crate::evolve::seed_parents();
        EvolveProposer {
            evolver: Evolver::new(ctx),
            seed,
            parents,
            seen: BTreeSet::new(),
        }
    }
}

impl Proposer for EvolveProposer {
    fn name(&self) -> &'static str {
        "evolve"
    }

    fn propose(&mut self, ctx: &ProposeContext) -> Result<Proposal, ProposeError> {
        let mut rng = Rng::new(self.seed, &format!("evolve/{}", ctx.iteration));
        let child = self
            .evolver
            .breed(&self.parents, &self.seen, &mut rng)
            .ok_or_else(|| {
                ProposeError::Exhausted(format!(
                    "{} parents, {} strategies tried",
                    self.parents.len(),
                    self.seen.len()
                ))
            })?;
        // Children of one round must differ from each other too.
        self.seen.insert(child.hash.clone());
        let mut note = child.note.replace('\n', " ");
        if note.chars().count() > 200 {
            note = note.chars().take(200).collect::<String>() + "…";
        }
        let discarded = if child.discarded > 0 {
            format!(
                " ({} invalid or repeated children discarded)",
                child.discarded
            )
        } else {
            String::new()
        };
        Ok(Proposal {
            code: Some(format!(
                "# evolve #{}: {note}\n{}",
                ctx.iteration, child.source
            )),
            note: Some(format!("{note}{discarded}")),
            prompt_hash: None,
            stats: CallStats::default(),
        })
    }

    fn repair(
        &mut self,
        ctx: &ProposeContext,
        _code: Option<&str>,
        _diagnostics: &str,
    ) -> Result<Proposal, ProposeError> {
        // Children are checked before they are proposed; a rejection (e.g. by a stricter data
        // set) is answered with another child.
        self.propose(ctx)
    }

    fn batch(&self, _jobs: u32) -> u32 {
        EVOLVE_BATCH
    }

    fn replays(&self) -> bool {
        true
    }

    fn observe(&mut self, trial: &Trial, objective: Objective) {
        if let Some(h) = &trial.code_hash {
            self.seen.insert(h.clone());
        }
        let fitness = trial.in_sample.as_ref().and_then(|s| objective.value(s));
        if let (true, Some(code), Some(f)) = (trial.is_ok(), &trial.code, fitness) {
            self.parents.push(Parent {
                label: format!("#{}", trial.iteration),
                source: code.clone(),
                fitness: Some(f),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::{Constraint, LlmConfig};

    /// The system prompt for the catalog's datasets, free or under `grammar`.
    fn system(grammar: Option<Format>) -> String {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let keys = crate::pipeline::catalog_context().datasets.unwrap();
        let cfg = LlmConfig {
            grammar: grammar.map(|format| Constraint {
                format,
                text: crate::dsl::grammar::render(format, &keys).into(),
            }),
            ..LlmConfig::default()
        };
        let p = LlmProposer::new(
            Client::new(cfg).unwrap(),
            rt.handle().clone(),
            Templates::default(),
            Some(&keys),
            "SYNTHETIC data",
            Objective::Sharpe,
            Stop::new(),
        );
        p.system_prompt().to_string()
    }

    #[test]
    #[allow(clippy::print_stderr)] // the sizes are the measurement
    fn the_constrained_prompt_drops_what_the_grammar_enforces() {
        let free = system(None);
        let constrained = system(Some(Format::Gbnf));
        assert_eq!(constrained, system(Some(Format::Lark)));
        for kept in [
            "`price:收盤價`",
            ".hold_until(exit",
            "trail_stop_activation",
            "```python",
        ] {
            assert!(constrained.contains(kept), "{kept}");
        }
        assert!(!constrained.contains("Diagnostic codes"));
        for dropped in [
            "| call | returns |",
            "no `eval`/`open`",
            "one ```python code block",
        ] {
            assert!(
                free.contains(dropped) && !constrained.contains(dropped),
                "{dropped}"
            );
        }
        let size = |s: &str| (s.chars().count(), s.len());
        let (f, c) = (size(&free), size(&constrained));
        eprintln!(
            "system prompt: free {} chars ({} bytes, ≈{} tokens at chars/4), constrained {} chars \
             ({} bytes, ≈{} tokens)",
            f.0,
            f.1,
            f.0 / 4,
            c.0,
            c.1,
            c.0 / 4
        );
        // The free prompt already leaves out the diagnostic codes; what remains to drop is the
        // operators' table and the answer-format rules (measured: 20,313 -> 17,458 chars).
        assert!(c.0 * 10 < f.0 * 9, "at least 10% smaller: {c:?} vs {f:?}");
    }
}
