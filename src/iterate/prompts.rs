//! The prompt templates (`prompts/system.md`, `iteration.md`, `repair.md`, and the same three
//! under `prompts/constrained/` for a model whose replies a grammar constrains; built into the
//! binary; `--prompts DIR` overrides any of them) and the text that fills their placeholders:
//! the DSL reference from the registry, the dataset catalog, few-shot examples and the trial
//! history.

use std::path::Path;

use super::ledger::{Scores, Trial};
use super::IterateError;
use crate::data::catalog;

/// The system, iteration and repair templates of one way of asking.
#[derive(Clone, Debug)]
pub struct Set {
    pub system: String,
    pub iteration: String,
    pub repair: String,
}

/// The templates: for a free reply, and for a reply constrained by the DSL's grammar (the code
/// alone).
#[derive(Clone, Debug)]
pub struct Templates {
    pub free: Set,
    pub constrained: Set,
}

/// Placeholders each template must contain.
const REQUIRED: [(&str, &[&str]); 3] = [
    ("system.md", &["{dsl_reference}", "{datasets}"]),
    ("iteration.md", &["{history}"]),
    ("repair.md", &["{diagnostics}", "{code}"]),
];

impl Default for Templates {
    fn default() -> Self {
        Templates {
            free: Set {
                system: include_str!("../../prompts/system.md").into(),
                iteration: include_str!("../../prompts/iteration.md").into(),
                repair: include_str!("../../prompts/repair.md").into(),
            },
            constrained: Set {
                system: include_str!("../../prompts/constrained/system.md").into(),
                iteration: include_str!("../../prompts/constrained/iteration.md").into(),
                repair: include_str!("../../prompts/constrained/repair.md").into(),
            },
        }
    }
}

impl Set {
    fn slots(&mut self) -> [(&'static str, &mut String); 3] {
        [
            ("system.md", &mut self.system),
            ("iteration.md", &mut self.iteration),
            ("repair.md", &mut self.repair),
        ]
    }
}

impl Templates {
    /// The set a run asks with.
    pub fn set(&self, constrained: bool) -> &Set {
        match constrained {
            true => &self.constrained,
            false => &self.free,
        }
    }

    /// A digest of the three templates a run asks with, recorded in `run.json` so a resumed
    /// model run is asked the same way.
    pub fn digest(&self, constrained: bool) -> String {
        let set = self.set(constrained);
        let mut h = dsl_runtime::fnv::Fnv1a::new();
        for text in [&set.system, &set.iteration, &set.repair] {
            h.write(text.as_bytes());
            h.write(&[0]);
        }
        format!("{:016x}", h.finish())
    }

    /// The built-in templates, each replaced by `dir/<name>` (`dir/constrained/<name>`) when
    /// that file exists. A template without its required placeholders is an error.
    pub fn load(dir: Option<&Path>) -> Result<Templates, IterateError> {
        let mut t = Templates::default();
        for (sub, set) in [("", &mut t.free), ("constrained", &mut t.constrained)] {
            for (name, slot) in set.slots() {
                if let Some(dir) = dir {
                    let path = dir.join(sub).join(name);
                    match std::fs::read_to_string(&path) {
                        Ok(text) => *slot = text,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(source) => return Err(IterateError::Io { path, source }),
                    }
                }
                let needed = REQUIRED
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map_or(&[][..], |(_, p)| *p);
                if let Some(p) = needed.iter().find(|p| !slot.contains(*p)) {
                    let shown = if sub.is_empty() {
                        name.to_string()
                    } else {
                        format!("{sub}/{name}")
                    };
                    return Err(IterateError::Prompt(format!(
                        "the {shown} template has no {p} placeholder"
                    )));
                }
            }
        }
        Ok(t)
    }
}

/// Replaces each `{key}` of `vars` in `template` in one pass, so text inserted for one
/// placeholder (a model's code, feedback) is never scanned for another; other braces stay.
pub fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let tail = &rest[open..];
        let hit = vars.iter().find(|(k, _)| {
            tail.get(1..=k.len()) == Some(*k) && tail.as_bytes().get(k.len() + 1) == Some(&b'}')
        });
        match hit {
            Some((k, v)) => {
                out.push_str(v);
                rest = &tail[k.len() + 2..];
            }
            None => {
                out.push('{');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The DSL reference as the prompt shows it ([`crate::dsl::reference::prompt_markdown`]): the
/// core operators in full, the rest by signature, the `sim` options, no table of diagnostic
/// codes (a repair prompt quotes the codes it needs, with their hints).
pub fn dsl_reference() -> String {
    crate::dsl::reference::prompt_markdown()
}

/// The catalog entries available in the data (all of them when `keys` is `None`): the common
/// core one line each (key, names, frequency, unit, description), the other datasets by table,
/// one line per table with its frequency, units and columns.
pub fn datasets(keys: Option<&[String]>) -> String {
    let entries: Vec<catalog::Entry> = catalog::entries()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| keys.is_none_or(|k| k.iter().any(|x| x == &e.key)))
        .collect();
    let mut lines: Vec<String> = entries
        .iter()
        .filter(|e| e.core)
        .map(|e| {
            let zh = if e.name_zh == e.column() {
                String::new()
            } else {
                format!(" / {}", e.name_zh)
            };
            format!(
                "- `{}` — {}{zh}, {}, {}: {}",
                e.key, e.name_en, e.frequency, e.unit, e.description
            )
        })
        .collect();
    let mut tables: Vec<&str> = Vec::new();
    for e in entries.iter().filter(|e| !e.core) {
        let table = e.key.split(':').next().unwrap_or_default();
        if !tables.contains(&table) {
            tables.push(table);
        }
    }
    if !tables.is_empty() {
        lines.push("\nMore datasets, by table (`table:column`; same publication rules):".into());
    }
    for table in tables {
        let of: Vec<&catalog::Entry> = entries
            .iter()
            .filter(|e| !e.core && e.key.split(':').next() == Some(table))
            .collect();
        let mut units: Vec<&str> = Vec::new();
        for e in &of {
            if !units.contains(&e.unit.as_str()) {
                units.push(&e.unit);
            }
        }
        let columns: Vec<&str> = of.iter().map(|e| e.column()).collect();
        lines.push(format!(
            "- `{table}:` ({}; {}) {}",
            of[0].frequency,
            units.join(" / "),
            columns.join(", ")
        ));
    }
    lines.join("\n")
}

/// A token count for prompt budgets without a tokenizer: a CJK character as 1.4 tokens, other
/// text at 3.4 characters a token — on the reference and the datasets list, a little above
/// what the cl100k and o200k BPE tokenizers count.
pub fn token_estimate(text: &str) -> usize {
    let cjk = text.chars().filter(|c| *c as u32 >= 0x2e80).count();
    let other = text.chars().count() - cjk;
    (cjk * 7).div_ceil(5) + (other * 10).div_ceil(34)
}

/// Few-shot examples: a handful of the seed strategies.
pub fn examples() -> String {
    const SHOWN: [&str; 4] = [
        "momentum.strat",
        "revenue_momentum.strat",
        "entry_exit_rotation.strat",
        "quality_rank.strat",
    ];
    crate::evolve::SEEDS
        .iter()
        .filter(|(name, _)| SHOWN.contains(name))
        .map(|(_, text)| format!("```python\n{}```", text))
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn num(x: Option<f64>) -> String {
    x.map_or("n/a".into(), |v| format!("{v:.2}"))
}

fn pct(x: Option<f64>) -> String {
    x.map_or("n/a".into(), |v| format!("{:.1}%", v * 100.0))
}

/// One line of key in-sample metrics.
pub fn scores_line(s: &Scores) -> String {
    let mut line = format!(
        "Sharpe {}, CAGR {}, MDD {}, {} trades",
        num(s.sharpe),
        pct(s.cagr),
        pct(s.max_drawdown),
        s.trades,
    );
    if let Some(t) = s.turnover {
        line.push_str(&format!(", turnover {t:.2}x"));
    }
    line
}

/// Compact summaries of the last `keep` trials: number, status, code hash, in-sample metrics
/// and feedback. Holdout figures are never included.
pub fn history(trials: &[Trial], keep: usize) -> String {
    if trials.is_empty() {
        return "(none yet: this is the first trial)".into();
    }
    let skipped = trials.len().saturating_sub(keep);
    let mut lines = Vec::new();
    if skipped > 0 {
        lines.push(format!("({skipped} earlier trials omitted)"));
    }
    for t in &trials[skipped..] {
        let status = t.status.map_or("?", |s| s.as_str());
        let hash = t.code_hash.as_deref().unwrap_or("-");
        let metrics = t.in_sample.as_ref().map(scores_line).unwrap_or_default();
        let mut line = format!("- #{} [{status}] code {hash}", t.iteration);
        if !metrics.is_empty() {
            line.push_str(&format!(": {metrics}"));
        }
        if !t.feedback.is_empty() {
            line.push_str(&format!("\n  feedback: {}", t.feedback));
        }
        lines.push(line);
    }
    lines.join("\n")
}

/// The best trial's code and metrics, for the iteration prompt.
pub fn best(best: Option<&Trial>) -> String {
    match best {
        Some(t) => format!(
            "#{} ({}):\n```python\n{}```",
            t.iteration,
            t.in_sample.as_ref().map(scores_line).unwrap_or_default(),
            t.code.as_deref().unwrap_or_default()
        ),
        None => "(none yet)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iterate::ledger::Status;

    #[test]
    fn builtin_templates_have_their_placeholders() {
        let t = Templates::load(None).unwrap();
        assert!(t.free.system.contains("{dsl_reference}"));
        assert!(t.constrained.system.contains("{dsl_reference}"));
        assert_ne!(t.digest(false), t.digest(true));
    }

    #[test]
    fn an_override_without_a_placeholder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("repair.md"), "fix it: {code}").unwrap();
        let e = Templates::load(Some(dir.path())).unwrap_err();
        assert!(e.to_string().contains("{diagnostics}"), "{e}");
        std::fs::write(dir.path().join("repair.md"), "{diagnostics} in {code}!").unwrap();
        let t = Templates::load(Some(dir.path())).unwrap();
        assert_eq!(t.free.repair, "{diagnostics} in {code}!");
        assert_eq!(
            t.constrained.repair,
            Templates::default().constrained.repair
        );
        std::fs::create_dir(dir.path().join("constrained")).unwrap();
        std::fs::write(dir.path().join("constrained/system.md"), "{datasets}").unwrap();
        let e = Templates::load(Some(dir.path())).unwrap_err();
        assert!(e.to_string().contains("constrained/system.md"), "{e}");
    }

    #[test]
    fn history_is_compact_and_hides_the_holdout() {
        let t = Trial {
            iteration: 3,
            status: Some(Status::Ok),
            code_hash: Some("abcd".into()),
            in_sample: Some(Scores {
                sharpe: Some(1.234),
                trades: 50,
                ..Scores::default()
            }),
            validation: Some(Scores {
                sharpe: Some(-9.99),
                ..Scores::default()
            }),
            feedback: "good".into(),
            ..Trial::default()
        };
        let h = history(&[t.clone(), t.clone(), t], 2);
        assert!(h.starts_with("(1 earlier trials omitted)"), "{h}");
        assert!(h.contains("#3 [ok] code abcd: Sharpe 1.23"), "{h}");
        assert!(!h.contains("-9.99"));
        assert!(datasets(None).contains("`price:收盤價`"));
        assert_eq!(
            fill("a {x} {y} {z}", &[("x", "1"), ("y", "{x}")]),
            "a 1 {x} {z}"
        );
    }

    #[test]
    fn the_reference_and_datasets_fit_the_prompt_budget() {
        let ds = datasets(None);
        let entries = catalog::entries().unwrap();
        // Every dataset is named: the core in full, the rest by table and column.
        for e in &entries {
            if e.core {
                assert!(
                    ds.contains(&format!("- `{}` — {}", e.key, e.name_en)),
                    "{}",
                    e.key
                );
            } else {
                assert!(ds.contains(&format!(" {}", e.column())), "{}", e.key);
            }
        }
        assert!(
            ds.contains("- `fundamental_features:` (quarterly; "),
            "{ds}"
        );
        let reference = dsl_reference();
        assert!(reference.contains("## `sim(position, ...)`"));
        assert!(!reference.contains("## Diagnostic codes"));
        let total = token_estimate(&reference) + token_estimate(&ds);
        assert!(total < 6000, "reference + datasets ≈ {total} tokens");
        // Only the data set's datasets are listed.
        let some = [
            "price:收盤價".to_string(),
            "fundamental_features:EBITDA".to_string(),
        ];
        let listed = datasets(Some(&some));
        assert!(listed.contains("`price:收盤價`") && listed.contains("EBITDA"));
        assert!(!listed.contains("本益比") && !listed.contains("營運現金流"));
    }
}
