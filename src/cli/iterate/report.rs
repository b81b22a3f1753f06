//! What `iterate` shows: the progress bar and per-trial lines on stderr, the summary table on
//! stdout.

use indicatif::{ProgressBar, ProgressStyle};

use crate::iterate::prompts::scores_line;
use crate::iterate::session::HoldoutState;
use crate::iterate::{Objective, Reporter, Scores, Summary, Trial};

/// Draws the progress bar and per-trial lines on stderr.
pub(super) struct Progress {
    pub(super) bar: ProgressBar,
    quiet: bool,
    objective: Objective,
    /// When a status line was last printed without a bar.
    status_at: Option<std::time::Instant>,
}

impl Progress {
    /// A bar on stderr (hidden for `--quiet`, `--json` or when stderr is not a terminal);
    /// per-trial lines unless `--quiet`.
    pub(super) fn new(
        total: u32,
        done: u32,
        quiet: bool,
        json: bool,
        objective: Objective,
    ) -> Progress {
        let bar = if quiet || json {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(u64::from(total))
        };
        let style = ProgressStyle::with_template("[{bar:30}] {pos}/{len} {elapsed} {msg}")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_position(u64::from(done));
        Progress {
            bar,
            quiet,
            objective,
            status_at: None,
        }
    }

    fn line(&self, text: &str) {
        if self.quiet {
            return;
        }
        // Trial errors and notes carry text from strategies and the model.
        let text = crate::util::text::escape_controls(text);
        let text = text.as_ref();
        if self.bar.is_hidden() {
            errln!("{text}");
        } else {
            self.bar.println(text);
        }
    }
}

pub(super) fn objective_text(o: Objective, s: Option<&Scores>) -> String {
    s.and_then(|s| o.value(s))
        .map_or("n/a".into(), |v| format!("{v:.3}"))
}

impl Reporter for Progress {
    fn started(&mut self, iteration: u32, _total: u32) {
        self.bar.set_message(format!("trial {iteration}: running"));
    }

    fn finished(&mut self, t: &Trial, best: Option<&Trial>) {
        let status = t.status.map_or("?", |s| s.as_str());
        let what = match (&t.in_sample, &t.error) {
            (Some(s), _) => scores_line(s),
            (None, Some(e)) => e.chars().take(120).collect(),
            _ => String::new(),
        };
        self.line(&format!("#{:<3} {status:<10} {what}", t.iteration));
        self.bar.set_position(u64::from(t.iteration));
        let best = best.map_or("best: none yet".to_string(), |b| {
            format!(
                "best #{} {} {}",
                b.iteration,
                self.objective.label(),
                objective_text(self.objective, b.in_sample.as_ref())
            )
        });
        self.bar.set_message(best);
    }

    fn status(&mut self, line: &str) {
        if self.bar.is_hidden() {
            // Without a bar, at most one status line every 10 s.
            if self.status_at.is_none_or(|t| t.elapsed().as_secs() >= 10) {
                self.status_at = Some(std::time::Instant::now());
                self.line(&format!("  {line}"));
            }
        } else {
            self.bar.set_message(line.to_string());
        }
    }

    fn log(&mut self, line: &str) {
        // The per-trial result lines come from `finished`; the banner is already on stdout.
        let trial_result = line.starts_with("trial ") && line.contains(" code ");
        if !trial_result && !line.starts_with("proposer:") {
            self.line(&format!("  {line}"));
        }
    }
}

fn pct(x: Option<f64>) -> String {
    x.map_or("n/a".into(), |v| format!("{:.1}%", v * 100.0))
}

fn num(x: Option<f64>) -> String {
    x.map_or("n/a".into(), |v| format!("{v:.2}"))
}

fn window(name: &str, w: &Option<[String; 2]>) -> String {
    match w {
        Some([a, b]) => format!("{name} {a} → {b}"),
        None => format!("no {name}"),
    }
}

/// The summary table on stdout.
pub(super) fn print_summary(s: &Summary, trials: &[Trial]) {
    let counts: Vec<String> = s
        .status
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{n} {k}"))
        .collect();
    outln!();
    outln!("{}", s.data);
    outln!(
        "split: in-sample {} → {} | {} | {}",
        s.split.in_sample[0],
        s.split.in_sample[1],
        window("validation", &s.split.validation),
        window("sealed holdout", &s.split.holdout)
    );
    outln!(
        "{} trial(s): {}; {:.1}s{}",
        s.trials,
        counts.join(", "),
        s.elapsed_s,
        s.stopped
            .as_deref()
            .map_or(String::new(), |r| format!("; stopped: {r}"))
    );
    if s.prompt_tokens + s.completion_tokens > 0 {
        outln!(
            "tokens: {} prompt + {} completion{}",
            s.prompt_tokens,
            s.completion_tokens,
            s.cost_usd.map_or(String::new(), |c| format!(", ${c:.4}"))
        );
    }
    let mut ranked: Vec<&Trial> = trials.iter().filter(|t| t.is_ok()).collect();
    ranked.sort_by(|a, b| {
        let v = |t: &Trial| {
            t.in_sample
                .as_ref()
                .and_then(|x| s.objective.value(x))
                .unwrap_or(f64::NEG_INFINITY)
        };
        v(b).total_cmp(&v(a))
    });
    if !ranked.is_empty() {
        outln!();
        outln!(
            "{:>5}  {:>8} {:>8} {:>8} {:>7}  | {:>8} {:>8}",
            "trial",
            "IS Shrp",
            "IS CAGR",
            "IS MDD",
            "trades",
            "Val Shrp",
            "Val CAGR"
        );
        for t in ranked.iter().take(5) {
            let is = t.in_sample.clone().unwrap_or_default();
            let val = t.validation.clone().unwrap_or_default();
            outln!(
                "{:>5}  {:>8} {:>8} {:>8} {:>7}  | {:>8} {:>8}",
                format!("#{}", t.iteration),
                num(is.sharpe),
                pct(is.cagr),
                pct(is.max_drawdown),
                is.trades,
                num(val.sharpe),
                pct(val.cagr),
            );
        }
    }
    outln!();
    let r = &s.rigor;
    match r.promoted {
        Some(it) => {
            let holdout = match &s.holdout_state {
                HoldoutState::Unsealed {
                    independent: true, ..
                } => "the sealed holdout was scored once, for it alone".to_string(),
                HoldoutState::Unsealed { .. } => "the holdout was scored for it, but the parent \
                     run had already unsealed it: not an independent test"
                    .to_string(),
                HoldoutState::Sealed { why } => format!("the holdout is still sealed: {why}"),
                HoldoutState::Off => "no holdout".to_string(),
            };
            outln!(
                "promoted: trial #{it} by {} {} ({holdout})",
                r.selected_on,
                s.objective.label(),
            );
            let row = |name: &str, x: &Option<crate::iterate::Scores>| match x {
                Some(x) => outln!("  {name:<14} {} → {}: {}", x.start, x.end, scores_line(x)),
                None => outln!("  {name:<14} n/a"),
            };
            row("in-sample", &r.in_sample);
            row("validation", &r.validation);
            row("sealed holdout", &r.holdout);
            for line in r.explain() {
                outln!("  {line}");
            }
            if r.holdout_collapse {
                outln!("  WARNING: the holdout Sharpe collapsed; the in-sample result is likely overfit");
            }
        }
        None => outln!("promoted: none (no trial was accepted)"),
    }
    outln!("verdict: {}", r.verdict.text);
    for w in &s.warnings {
        outln!("warning: {w}");
    }
    for f in &s.files {
        outln!("wrote {}", f.display());
    }
}
