//! `RUN_DIR/run.json`: every setting that shapes a run's results, recorded when the run starts
//! and enforced for the rest of its life. A resumed run (or `--run-dir` pointed at an existing
//! run) takes its settings from here; a flag that asks for a different value is refused, naming
//! it. A deliberate change is a new run: `--fork NEW_DIR` copies the trials and records the
//! parent; even a fork keeps the split and the data, since the sealed holdout would leak.
//!
//! Settings that do not change results (`-n`, `--jobs`, timeouts, retries, the API key) may
//! differ on every resume.

use std::fmt::Display;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::gates::Gates;
use super::objective::Objective;
use super::split::SplitDates;
use super::IterateError;

/// The settings file's name inside a run directory.
pub const RUN_CONFIG: &str = "run.json";

/// The model temperature when none is given.
pub const DEFAULT_TEMPERATURE: f64 = 0.3;
/// Repair rounds when none is given.
pub const DEFAULT_REPAIRS: u32 = 2;
/// The evolutionary search's seed when none is given.
pub const DEFAULT_SEED: u64 = 42;
/// Trials in a run when none is given.
pub const DEFAULT_ITERATIONS: u32 = 10;

/// Which proposer writes the strategies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ProposerKind {
    /// A chat model through an OpenAI-compatible API.
    Llm,
    /// The offline evolutionary search over strategy syntax trees.
    Evolve,
}

impl Display for ProposerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProposerKind::Llm => "llm",
            ProposerKind::Evolve => "evolve",
        })
    }
}

/// Whether the model's replies are constrained by the DSL's grammar (`--constrain`): the
/// grammar syntax sent with each request, or none. A run records the syntax it settled on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Constrain {
    /// Detect what the endpoint accepts when the run starts (none for an unknown endpoint).
    Auto,
    /// GBNF in the request's `grammar` field (llama.cpp's server).
    Gbnf,
    /// Lark in `structured_outputs.grammar` and `guided_grammar` (vLLM).
    Lark,
    /// Unconstrained (what runs recorded before the setting existed did).
    #[default]
    None,
}

impl Constrain {
    /// The grammar syntax sent, if any (`Auto` is resolved before a run starts).
    pub fn format(self) -> Option<crate::dsl::grammar::Format> {
        match self {
            Constrain::Gbnf => Some(crate::dsl::grammar::Format::Gbnf),
            Constrain::Lark => Some(crate::dsl::grammar::Format::Lark),
            Constrain::Auto | Constrain::None => None,
        }
    }
}

impl Display for Constrain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Constrain::Auto => "auto",
            Constrain::Gbnf => "gbnf",
            Constrain::Lark => "lark",
            Constrain::None => "none",
        })
    }
}

/// `run.json` (never the API key).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub proposer: ProposerKind,
    pub model: Option<String>,
    pub base_url: Option<String>,
    pub objective: Objective,
    /// Sealed-holdout and validation years, and the resulting windows.
    pub holdout_years: f64,
    pub validation_years: f64,
    pub split: SplitDates,
    pub gates: Gates,
    pub seed: u64,
    pub iterations: u32,
    pub data_dir: Option<PathBuf>,
    /// The data set's identity (its digest), checked on every resume.
    #[serde(default)]
    pub data_digest: Option<String>,
    #[serde(default = "default_repairs")]
    pub max_repairs: u32,
    /// The model's sampling temperature (model runs).
    #[serde(default)]
    pub temperature: Option<f64>,
    /// The grammar the model's replies are constrained by (model runs).
    #[serde(default)]
    pub constrain: Constrain,
    /// The prompt-template directory, and a digest of the templates in use (model runs).
    #[serde(default)]
    pub prompts: Option<PathBuf>,
    #[serde(default)]
    pub prompts_digest: Option<String>,
    /// Sandbox fuel budget and memory cap (MiB); they decide which trials hit a limit.
    #[serde(default)]
    pub fuel: Option<u64>,
    #[serde(default)]
    pub memory_mib: Option<usize>,
    /// The model's training cutoff (`YYYY-MM-DD`), when given: data after it is unseen.
    #[serde(default)]
    pub model_cutoff: Option<String>,
    /// The run this one was forked from.
    #[serde(default)]
    pub parent: Option<PathBuf>,
    /// The parent had already unsealed its holdout: this run's holdout is not independent.
    #[serde(default)]
    pub parent_holdout_unsealed: bool,
}

fn default_repairs() -> u32 {
    DEFAULT_REPAIRS
}

/// What the command line asks for; `None` where a flag (or its environment variable) was not
/// given.
#[derive(Clone, Debug, Default)]
pub struct Requested {
    pub iterations: Option<u32>,
    pub proposer: Option<ProposerKind>,
    /// The proposer of a new run when none is given (a model when one is configured).
    pub default_proposer: Option<ProposerKind>,
    pub model: Option<String>,
    pub base_url: Option<String>,
    pub objective: Option<Objective>,
    pub holdout_years: Option<f64>,
    pub validation_years: Option<f64>,
    pub min_trades: Option<usize>,
    pub turnover: Option<(f64, f64)>,
    pub max_correlation: Option<f64>,
    pub seed: Option<u64>,
    pub data_dir: Option<PathBuf>,
    pub max_repairs: Option<u32>,
    pub temperature: Option<f64>,
    /// `--constrain`; `auto` asks for no particular value on a resumed run.
    pub constrain: Option<Constrain>,
    pub prompts: Option<PathBuf>,
    pub fuel: Option<u64>,
    pub memory_mib: Option<usize>,
    pub model_cutoff: Option<String>,
}

/// How a run directory is being used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A new run.
    New,
    /// Continuing the run recorded in the directory.
    Resume,
    /// A new run starting from a copy of another's trials: settings may change, the split and
    /// the data may not.
    Fork,
}

/// One setting: the flag's value, else the saved one, else the default; a flag that differs
/// from the saved value is refused unless `may_change`.
fn pick<T: PartialEq + Display>(
    flag: &'static str,
    given: Option<T>,
    saved: Option<T>,
    default: T,
    may_change: bool,
    dir: &Path,
) -> Result<T, IterateError> {
    match (given, saved) {
        (Some(g), Some(s)) if g != s && !may_change => Err(IterateError::Setting {
            flag,
            given: g.to_string(),
            saved: s.to_string(),
            dir: dir.to_path_buf(),
        }),
        (Some(v), _) | (None, Some(v)) => Ok(v),
        (None, None) => Ok(default),
    }
}

/// Resolves settings for one run: `free` when a fork may change the results-affecting ones.
struct Picker<'a> {
    free: bool,
    dir: &'a Path,
}

impl Picker<'_> {
    /// A results-affecting setting: the flag, else the saved value, else the default; a flag
    /// that differs from the saved value is refused unless the run is a fork.
    fn pick<T: PartialEq + Display>(
        &self,
        flag: &'static str,
        given: Option<T>,
        saved: Option<T>,
        default: T,
    ) -> Result<T, IterateError> {
        pick(flag, given, saved, default, self.free, self.dir)
    }

    /// An optional setting ([`Picker::pick`] with "none" as the default).
    fn optional<T: PartialEq + Display>(
        &self,
        flag: &'static str,
        given: Option<T>,
        saved: Option<Option<T>>,
    ) -> Result<Option<T>, IterateError> {
        let given = given.map(|v| Shown(Some(v)));
        Ok(self.pick(flag, given, saved.map(Shown), Shown(None))?.0)
    }

    /// An optional path; `may_change` false fixes it even for a fork (the data a run splits).
    fn path(
        &self,
        may_change: bool,
        flag: &'static str,
        given: &Option<PathBuf>,
        saved: Option<&Option<PathBuf>>,
    ) -> Result<Option<PathBuf>, IterateError> {
        let given = given.clone().map(|p| Shown(Some(ShownPath(p))));
        let saved = saved.map(|p| Shown(p.clone().map(ShownPath)));
        let picked = pick(flag, given, saved, Shown(None), may_change, self.dir)?;
        Ok(picked.0.map(|p| p.0))
    }

    /// A number of years (the holdout, the validation span): fixed for the run and its forks.
    fn years(
        &self,
        flag: &'static str,
        given: Option<f64>,
        saved: Option<f64>,
        default: f64,
    ) -> Result<f64, IterateError> {
        let v = pick(flag, given, saved, default, false, self.dir)?;
        if v.is_finite() && (0.0..=50.0).contains(&v) {
            Ok(v)
        } else {
            Err(IterateError::Refused(format!(
                "{flag} must be a number of years between 0 and 50"
            )))
        }
    }

    /// The promotion gates.
    fn gates(&self, req: &Requested, s: Option<&RunConfig>) -> Result<Gates, IterateError> {
        let base = s.map_or_else(Gates::default, |s| s.gates.clone());
        let gates = Gates {
            min_trades: self.pick(
                "--min-trades",
                req.min_trades,
                s.map(|s| s.gates.min_trades),
                base.min_trades,
            )?,
            turnover: self
                .pick(
                    "--turnover",
                    req.turnover.map(Band),
                    s.map(|s| Band(s.gates.turnover)),
                    Band(base.turnover),
                )?
                .0,
            max_correlation: self.pick(
                "--max-corr",
                req.max_correlation,
                s.map(|s| s.gates.max_correlation),
                base.max_correlation,
            )?,
        };
        if !(gates.max_correlation > 0.0 && gates.max_correlation <= 1.0) {
            return Err(IterateError::Refused(
                "--max-corr must be above 0 and at most 1".into(),
            ));
        }
        Ok(gates)
    }
}

/// Shows an optional setting in an error.
struct Shown<T>(Option<T>);

impl<T: Display> Display for Shown<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(v) => v.fmt(f),
            None => f.write_str("(none)"),
        }
    }
}

impl<T: PartialEq> PartialEq for Shown<T> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

/// Shows a path in an error.
#[derive(PartialEq)]
struct ShownPath(PathBuf);

impl Display for ShownPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.display().fmt(f)
    }
}

/// Shows a turnover band in an error.
#[derive(PartialEq)]
struct Band((f64, f64));

impl Display for Band {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{},{}", self.0 .0, self.0 .1)
    }
}

impl RunConfig {
    /// Reads `dir/run.json`, or `None` when the directory holds no run.
    pub fn load(dir: &Path) -> Result<Option<RunConfig>, IterateError> {
        let path = dir.join(RUN_CONFIG);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(IterateError::Io { path, source }),
        };
        serde_json::from_str(&text).map(Some).map_err(|e| {
            IterateError::Refused(format!("{} is not a run config: {e}", path.display()))
        })
    }

    /// Writes `dir/run.json` atomically.
    pub fn save(&self, dir: &Path) -> Result<(), IterateError> {
        let path = dir.join(RUN_CONFIG);
        let json = serde_json::to_string_pretty(self).unwrap_or_default() + "\n";
        crate::util::fs::write_atomic(&path, json.as_bytes())
            .map_err(|source| IterateError::Io { path, source })
    }

    /// The settings of a run in `dir` from the flags `req` and the run's saved settings. The
    /// split's dates and the data digest are filled in once the data is open
    /// ([`RunConfig::check_data`]).
    pub fn resolve(
        req: &Requested,
        saved: Option<&RunConfig>,
        mode: Mode,
        dir: &Path,
    ) -> Result<RunConfig, IterateError> {
        let s = saved;
        let p = Picker {
            free: mode == Mode::Fork,
            dir,
        };
        let holdout_years = p.years(
            "--holdout",
            req.holdout_years,
            s.map(|s| s.holdout_years),
            super::split::DEFAULT_HOLDOUT_YEARS,
        )?;
        let validation_years = p.years(
            "--validation",
            req.validation_years,
            s.map(|s| s.validation_years),
            super::split::DEFAULT_VALIDATION_YEARS,
        )?;
        let data_dir = p.path(false, "--data-dir", &req.data_dir, s.map(|s| &s.data_dir))?;
        let proposer = p.pick(
            "--proposer",
            req.proposer,
            s.map(|s| s.proposer),
            req.default_proposer.unwrap_or(ProposerKind::Evolve),
        )?;
        let llm = proposer == ProposerKind::Llm;
        let model = match llm {
            true => p.optional("--model", req.model.clone(), s.map(|s| s.model.clone()))?,
            false => None,
        };
        let temperature = match llm {
            true => Some(p.pick(
                "--temperature",
                req.temperature,
                s.and_then(|s| s.temperature),
                DEFAULT_TEMPERATURE,
            )?),
            false => None,
        };
        let constrain = match llm {
            true => p.pick(
                "--constrain",
                req.constrain.filter(|c| *c != Constrain::Auto),
                s.map(|s| s.constrain),
                Constrain::Auto,
            )?,
            false => Constrain::None,
        };
        Ok(RunConfig {
            proposer,
            model,
            // Where the model is served does not change what it answers.
            base_url: match llm {
                true => req
                    .base_url
                    .clone()
                    .or_else(|| s.and_then(|s| s.base_url.clone())),
                false => None,
            },
            objective: p.pick(
                "--objective",
                req.objective,
                s.map(|s| s.objective),
                Objective::default(),
            )?,
            holdout_years,
            validation_years,
            split: s.map_or_else(SplitDates::default, |s| s.split.clone()),
            gates: p.gates(req, s)?,
            seed: p.pick("--seed", req.seed, s.map(|s| s.seed), DEFAULT_SEED)?,
            iterations: req
                .iterations
                .or(s.map(|s| s.iterations))
                .unwrap_or(DEFAULT_ITERATIONS),
            data_dir,
            data_digest: s.and_then(|s| s.data_digest.clone()),
            max_repairs: p.pick(
                "--max-repairs",
                req.max_repairs,
                s.map(|s| s.max_repairs),
                DEFAULT_REPAIRS,
            )?,
            temperature,
            constrain,
            prompts: p.path(p.free, "--prompts", &req.prompts, s.map(|s| &s.prompts))?,
            // A fork may ask differently (other templates, another grammar).
            prompts_digest: match p.free {
                true => None,
                false => s.and_then(|s| s.prompts_digest.clone()),
            },
            fuel: p.optional("--fuel", req.fuel, s.map(|s| s.fuel))?,
            memory_mib: Some(p.pick(
                "--memory",
                req.memory_mib,
                s.and_then(|s| s.memory_mib),
                crate::sandbox::DEFAULT_MEMORY >> 20,
            )?),
            // What the model may have seen does not change results: it may be corrected.
            model_cutoff: req
                .model_cutoff
                .clone()
                .or_else(|| s.and_then(|s| s.model_cutoff.clone())),
            parent: s.and_then(|s| s.parent.clone()),
            parent_holdout_unsealed: s.is_some_and(|s| s.parent_holdout_unsealed),
        })
    }

    /// Records (a new run) or checks (a resumed or forked one) the data set's digest.
    pub fn check_data(&mut self, digest: Option<String>, dir: &Path) -> Result<(), IterateError> {
        match (&self.data_digest, digest) {
            (Some(saved), Some(now)) if *saved != now => Err(IterateError::Refused(format!(
                "the data changed since this run started ({}: digest {saved}, now {now}); \
                 every trial would be scored on other data and the sealed holdout could leak: \
                 restore the data or start a new run",
                dir.display()
            ))),
            (None, now) => {
                self.data_digest = now;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Records (a new run) or checks (a resumed or forked one) the split's dates.
    pub fn check_split(&mut self, dates: SplitDates, describe: &str) -> Result<(), IterateError> {
        if self.split != SplitDates::default() && self.split != dates {
            return Err(IterateError::Refused(format!(
                "the data's split ({describe}) differs from this run's: the data changed, and \
                 the sealed holdout would leak; start a new run"
            )));
        }
        self.split = dates;
        Ok(())
    }

    /// A warning when a model proposes on real data whose sealed holdout it may have seen:
    /// the holdout starts before the model's training cutoff (or the cutoff is unknown).
    pub fn memory_warning(&self, synthetic: bool) -> Option<String> {
        if self.proposer != ProposerKind::Llm || synthetic {
            return None;
        }
        let start = self.split.holdout.as_ref().map(|[a, _]| a.clone())?;
        match &self.model_cutoff {
            Some(cutoff) if *cutoff > start => Some(format!(
                "the sealed holdout starts {start}, before the model's training cutoff {cutoff}: \
                 the model may have seen those years, so the holdout is not a clean test; shorten \
                 --holdout to start after the cutoff"
            )),
            Some(_) => None,
            None => Some(format!(
                "the model's training cutoff is unknown (pass --model-cutoff YYYY-MM-DD): if it \
                 is after {start}, the model may have seen the sealed holdout's years"
            )),
        }
    }

    /// Records (a new run or a fork) or checks (a resumed model run) the prompt templates.
    pub fn check_prompts(&mut self, digest: String) -> Result<(), IterateError> {
        if self.proposer != ProposerKind::Llm {
            return Ok(());
        }
        match &self.prompts_digest {
            Some(saved) if *saved != digest => Err(IterateError::Refused(format!(
                "the prompt templates changed since this run started (digest {saved}, now \
                 {digest}); the model would be asked differently: restore them or start a new run"
            ))),
            _ => {
                self.prompts_digest = Some(digest);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved() -> RunConfig {
        let mut c = RunConfig::resolve(
            &Requested {
                seed: Some(7),
                ..Requested::default()
            },
            None,
            Mode::New,
            Path::new("run"),
        )
        .unwrap();
        c.data_digest = Some("abc".into());
        c
    }

    #[test]
    fn a_resume_keeps_every_setting_and_names_the_one_asked_to_change() {
        let s = saved();
        let same = RunConfig::resolve(
            &Requested::default(),
            Some(&s),
            Mode::Resume,
            Path::new("run"),
        )
        .unwrap();
        assert_eq!(same, s);
        let more = RunConfig::resolve(
            &Requested {
                iterations: Some(40),
                seed: Some(7),
                ..Requested::default()
            },
            Some(&s),
            Mode::Resume,
            Path::new("run"),
        )
        .unwrap();
        assert_eq!(more.iterations, 40);
        for (req, flag) in [
            (
                Requested {
                    seed: Some(8),
                    ..Requested::default()
                },
                "--seed",
            ),
            (
                Requested {
                    objective: Some(Objective::Calmar),
                    ..Requested::default()
                },
                "--objective",
            ),
            (
                Requested {
                    min_trades: Some(5),
                    ..Requested::default()
                },
                "--min-trades",
            ),
            (
                Requested {
                    turnover: Some((0.5, 9.0)),
                    ..Requested::default()
                },
                "--turnover",
            ),
            (
                Requested {
                    max_correlation: Some(0.5),
                    ..Requested::default()
                },
                "--max-corr",
            ),
            (
                Requested {
                    data_dir: Some("/elsewhere".into()),
                    ..Requested::default()
                },
                "--data-dir",
            ),
            (
                Requested {
                    holdout_years: Some(1.0),
                    ..Requested::default()
                },
                "--holdout",
            ),
            (
                Requested {
                    memory_mib: Some(512),
                    ..Requested::default()
                },
                "--memory",
            ),
        ] {
            match RunConfig::resolve(&req, Some(&s), Mode::Resume, Path::new("run")) {
                Err(IterateError::Setting { flag: f, .. }) => assert_eq!(f, flag),
                other => panic!("{flag}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_fork_may_change_settings_but_not_the_split_or_the_data() {
        let s = saved();
        let f = RunConfig::resolve(
            &Requested {
                seed: Some(8),
                min_trades: Some(5),
                ..Requested::default()
            },
            Some(&s),
            Mode::Fork,
            Path::new("run"),
        )
        .unwrap();
        assert_eq!((f.seed, f.gates.min_trades), (8, 5));
        for req in [
            Requested {
                holdout_years: Some(1.0),
                ..Requested::default()
            },
            Requested {
                data_dir: Some("/elsewhere".into()),
                ..Requested::default()
            },
        ] {
            assert!(RunConfig::resolve(&req, Some(&s), Mode::Fork, Path::new("run")).is_err());
        }
    }

    #[test]
    fn the_grammar_a_model_run_settled_on_is_kept_like_any_setting() {
        let new = RunConfig::resolve(
            &Requested {
                proposer: Some(ProposerKind::Llm),
                ..Requested::default()
            },
            None,
            Mode::New,
            Path::new("run"),
        )
        .unwrap();
        assert_eq!(
            new.constrain,
            Constrain::Auto,
            "resolved when the run starts"
        );
        let mut s = new;
        s.constrain = Constrain::Gbnf;
        s.prompts_digest = Some("free".into());
        let ask = |c: Option<Constrain>, mode| {
            RunConfig::resolve(
                &Requested {
                    constrain: c,
                    ..Requested::default()
                },
                Some(&s),
                mode,
                Path::new("run"),
            )
        };
        for c in [None, Some(Constrain::Auto), Some(Constrain::Gbnf)] {
            assert_eq!(ask(c, Mode::Resume).unwrap().constrain, Constrain::Gbnf);
        }
        match ask(Some(Constrain::None), Mode::Resume) {
            Err(IterateError::Setting {
                flag, given, saved, ..
            }) => {
                assert_eq!(
                    (flag, given.as_str(), saved.as_str()),
                    ("--constrain", "none", "gbnf")
                )
            }
            other => panic!("{other:?}"),
        }
        let mut fork = ask(Some(Constrain::Lark), Mode::Fork).unwrap();
        assert_eq!(fork.constrain, Constrain::Lark);
        assert!(fork.check_prompts("constrained".into()).is_ok());
        let mut resumed = ask(None, Mode::Resume).unwrap();
        assert!(resumed.check_prompts("constrained".into()).is_err());
        // A run recorded before the setting existed was unconstrained.
        let mut old = serde_json::to_value(&s).unwrap();
        old.as_object_mut().unwrap().remove("constrain");
        let old: RunConfig = serde_json::from_value(old).unwrap();
        assert_eq!(old.constrain, Constrain::None);
        // The offline search sends no grammar.
        assert_eq!(saved().constrain, Constrain::None);
    }

    #[test]
    fn changed_data_is_refused() {
        let mut s = saved();
        assert!(s.check_data(Some("abc".into()), Path::new("d")).is_ok());
        let e = s
            .check_data(Some("xyz".into()), Path::new("d"))
            .unwrap_err();
        assert!(e.to_string().contains("the data changed"), "{e}");
    }

    #[test]
    fn a_model_on_real_data_is_warned_about_a_holdout_it_may_have_seen() {
        let mut c = saved();
        c.split.holdout = Some(["2024-10-30".into(), "2026-10-30".into()]);
        assert!(
            c.memory_warning(false).is_none(),
            "evolve never saw anything"
        );
        c.proposer = ProposerKind::Llm;
        assert!(c.memory_warning(true).is_none(), "synthetic data is unseen");
        let unknown = c.memory_warning(false).unwrap();
        assert!(unknown.contains("--model-cutoff"), "{unknown}");
        c.model_cutoff = Some("2025-06-01".into());
        let w = c.memory_warning(false).unwrap();
        assert!(
            w.contains("before the model's training cutoff 2025-06-01"),
            "{w}"
        );
        c.model_cutoff = Some("2024-01-01".into());
        assert!(c.memory_warning(false).is_none());
    }
}
