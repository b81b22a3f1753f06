//! What `iterate` shows: the progress bar and per-trial lines on stderr, the summary table on
//! stdout.

use indicatif::{ProgressBar, ProgressStyle};

use crate::iterate::prompts::scores_line;
use crate::iterate::{Objective, Reporter, Scores, Summary, Trial};

/// Draws the progress bar and per-trial lines on stderr.
pub(super) struct Progress {
    pub(super) bar: ProgressBar,
    quiet: bool,
    objective: Objective,
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
        }
    }

    fn line(&self, text: &str) {
        if self.quiet {
            return;
        }
        if self.bar.is_hidden() {
            eprintln!("{text}");
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

/// The summary table on stdout.
pub(super) fn print_summary(s: &Summary, trials: &[Trial]) {
    let counts: Vec<String> = s
        .status
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{n} {k}"))
        .collect();
    println!();
    println!("{}", s.data);
    println!("{}", s.split);
    println!(
        "{} trial(s): {}; {:.1}s{}",
        s.trials,
        counts.join(", "),
        s.elapsed_s,
        s.stopped
            .as_deref()
            .map_or(String::new(), |r| format!("; stopped: {r}"))
    );
    if s.prompt_tokens + s.completion_tokens > 0 {
        println!(
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
        println!();
        println!(
            "{:>5}  {:>8} {:>8} {:>8} {:>7}  | {:>8} {:>8}  flag",
            "trial", "IS Shrp", "IS CAGR", "IS MDD", "trades", "HO Shrp", "HO CAGR"
        );
        for t in ranked.iter().take(5) {
            let is = t.in_sample.clone().unwrap_or_default();
            let ho = t.holdout.clone().unwrap_or_default();
            println!(
                "{:>5}  {:>8} {:>8} {:>8} {:>7}  | {:>8} {:>8}  {}",
                format!("#{}", t.iteration),
                num(is.sharpe),
                pct(is.cagr),
                pct(is.max_drawdown),
                is.trades,
                num(ho.sharpe),
                pct(ho.cagr),
                if t.holdout_collapse {
                    "holdout collapse"
                } else {
                    ""
                }
            );
        }
    }
    println!();
    match &s.best {
        Some(b) => {
            println!(
                "best: trial #{} by in-sample {} = {}",
                b.iteration,
                s.objective.label(),
                objective_text(s.objective, b.in_sample.as_ref())
            );
            if let Some(is) = &b.in_sample {
                println!("  in-sample {} → {}: {}", is.start, is.end, scores_line(is));
            }
            match &b.holdout {
                Some(ho) => println!("  holdout   {} → {}: {}", ho.start, ho.end, scores_line(ho)),
                None => println!("  holdout   none (--holdout 0)"),
            }
            if b.holdout_collapse {
                println!("  WARNING: the holdout Sharpe collapsed; the in-sample result is likely overfit");
            }
            if s.trials > 1 {
                println!(
                    "  note: the best of {} trials is biased upwards in-sample; trust the holdout",
                    s.trials
                );
            }
        }
        None => println!("best: none (no trial succeeded)"),
    }
    if !s.holdout_collapses.is_empty() {
        let list: Vec<String> = s
            .holdout_collapses
            .iter()
            .map(|i| format!("#{i}"))
            .collect();
        println!("holdout collapses: {}", list.join(", "));
    }
    for f in &s.files {
        println!("wrote {}", f.display());
    }
}
