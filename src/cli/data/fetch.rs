//! `dsl-engine data fetch twse|tpex`: real daily quotes into a data directory, with a progress
//! bar (ETA) on stderr and a summary on stdout. The library does the work
//! (`crate::data::fetch`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};

use crate::calendar;
use crate::cli::ExitStatus;
use crate::data::fetch::{self, http::Policy, Feed, FetchEvent, FetchOptions};

/// The exchange to fetch from.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum FeedArg {
    /// Taiwan Stock Exchange (MI_INDEX, all securities except warrants; data from 2004-02-11).
    Twse,
    /// Taipei Exchange (dailyQuotes, warrants dropped; data from 2007-07-02).
    Tpex,
}

/// `dsl-engine data fetch`.
#[derive(Debug, clap::Args)]
pub struct FetchArgs {
    /// Which exchange.
    #[arg(value_enum)]
    pub feed: FeedArg,
    /// First day (YYYY-MM-DD).
    #[arg(long)]
    pub from: String,
    /// Last day (YYYY-MM-DD; default and maximum: today in Taipei).
    #[arg(long)]
    pub to: Option<String>,
    /// Data directory to create or extend (default: `<cache>/dsl-engine/data/tw-fetch`). Use the
    /// same directory for `twse` and `tpex` to get one market.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Scheme and host to ask (default: `$DSL_TWSE_BASE_URL` / `$DSL_TPEX_BASE_URL`, else the
    /// exchange's public host).
    #[arg(long)]
    pub base_url: Option<String>,
    /// Seconds between two requests. TWSE bans IPs above ~3 requests per 5 s; stay at 3 or more.
    #[arg(long, default_value_t = 4.0)]
    pub interval: f64,
    /// Retries per day (connection errors, 403/429/5xx, error pages) before stopping.
    #[arg(long, default_value_t = 4)]
    pub retries: u32,
    /// First retry delay in seconds; doubles per retry (jittered, at most 300 s).
    #[arg(long, default_value_t = 10.0)]
    pub backoff: f64,
}

fn seconds(flag: &str, v: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(v).with_context(|| format!("--{flag} {v} is not a duration"))
}

/// Runs `data fetch`.
pub fn run(a: FetchArgs) -> anyhow::Result<ExitStatus> {
    let feed = match a.feed {
        FeedArg::Twse => Feed::Twse,
        FeedArg::Tpex => Feed::Tpex,
    };
    let date =
        |s: &str| calendar::parse(s).with_context(|| format!("`{s}` is not a date (YYYY-MM-DD)"));
    let from = date(&a.from)?;
    let to = match &a.to {
        Some(t) => date(t)?,
        None => fetch::taipei_today(),
    };
    if from > to {
        bail!("--from {} is after --to {}", a.from, calendar::format(to));
    }
    let policy = Policy {
        interval: seconds("interval", a.interval)?,
        backoff: seconds("backoff", a.backoff)?,
        retries: a.retries,
        ..Policy::default()
    };
    let dir = a
        .data_dir
        .unwrap_or_else(|| crate::data::cache_root().join("tw-fetch"));
    let base_url = a.base_url.unwrap_or_else(|| feed.default_base_url());
    if a.interval < 3.0 && (base_url.contains("twse.com.tw") || base_url.contains("tpex.org.tw")) {
        errln!(
            "warning: --interval {} s is faster than the exchanges tolerate (about 3 requests \
             per 5 s); expect a temporary IP ban",
            a.interval
        );
    }
    let opts = FetchOptions {
        feed,
        from,
        to,
        base_url: base_url.clone(),
        policy,
    };
    errln!(
        "fetching {} {} → {} from {base_url} into {} (one request per {} s)",
        feed.name(),
        calendar::format(from),
        calendar::format(to),
        dir.display(),
        a.interval
    );
    let bar = ProgressBar::new(0);
    let style =
        ProgressStyle::with_template("{msg:>6} [{bar:40}] {pos}/{len} days ({elapsed}, ETA {eta})")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(feed.name());
    let result = fetch::fetch(&dir, &opts, &mut |e| match e {
        FetchEvent::Message(m) => bar.println(m),
        FetchEvent::Warning(w) => bar.println(format!("warning: {w}")),
        FetchEvent::Start { total, cached } => {
            if cached > 0 {
                bar.println(format!(
                    "{cached} day(s) already on disk, {total} to request"
                ));
            }
            bar.set_length(total as u64);
        }
        FetchEvent::Day { done, .. } => bar.set_position(done as u64),
    });
    bar.finish_and_clear();
    let s = result.with_context(|| format!("fetching {} into {}", feed.name(), dir.display()))?;
    outln!(
        "{}: requested {} day(s) ({} HTTP requests), {} already on disk, {} closed; merged {} \
         new session(s){}",
        feed.name(),
        s.fetched,
        s.requests,
        s.cached,
        s.closed.len(),
        s.merged,
        if s.warnings > 0 {
            format!("; {} unreadable row(s) skipped (see warnings)", s.warnings)
        } else {
            String::new()
        }
    );
    match (s.first, s.last) {
        (Some(first), Some(last)) => outln!(
            "{}: {} sessions × {} securities, {} → {}",
            dir.display(),
            s.sessions,
            s.securities,
            calendar::format(first),
            calendar::format(last)
        ),
        _ => outln!("{}: no sessions yet", dir.display()),
    }
    errln!(
        "WARNING: etl:adj_* in this directory are the UNADJUSTED prices: ex-dividend/ex-rights \
         adjustment is not implemented yet, so backtests understate returns across ex-dates \
         (recorded in the manifest and in dsl-engine-fetch.json)."
    );
    if s.sessions > 0 && s.sessions < 60 {
        errln!(
            "note: only {} session(s); strategies with long windows (e.g. a 60-day average) need \
             more history to hold anything",
            s.sessions
        );
    }
    outln!("use it with --data-dir {}", dir.display());
    Ok(ExitStatus::Success)
}
