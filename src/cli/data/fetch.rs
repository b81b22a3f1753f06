//! `dsl-engine data fetch FEED|all`: real data into a data directory, with one progress bar
//! (ETA) over every request on stderr and a summary per feed on stdout. The library does the
//! work (`crate::data::fetch`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};

use crate::calendar;
use crate::cli::ExitStatus;
use crate::data::fetch::{self, http::Policy, Feed, FetchEvent};

/// What to fetch.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum FeedArg {
    /// Every feed below, in a polite order (quotes first, hosts alternating).
    All,
    /// TWSE daily quotes (MI_INDEX, all securities except warrants; data from 2004-02-11).
    Twse,
    /// TPEx daily quotes (dailyQuotes, warrants dropped; data from 2007-07-02).
    Tpex,
    /// TWSE ex-rights/dividend results (TWT49U), for the adjusted prices.
    TwseActions,
    /// TPEx ex-rights/dividend results (exDailyQ), for the adjusted prices.
    TpexActions,
    /// TWSE P/E, P/B and dividend yield (BWIBBU_d).
    TwseValuation,
    /// TPEx P/E, P/B and dividend yield (peQryDate).
    TpexValuation,
    /// TWSE institutional investors' net buys (T86).
    TwseChips,
    /// TPEx institutional investors' net buys (insti/dailyTrade).
    TpexChips,
    /// TWSE margin and short balances (MI_MARGN).
    TwseMargin,
    /// TPEx margin and short balances (margin/balance).
    TpexMargin,
    /// MOPS monthly revenue, all four pages per month (listed and OTC, domestic and foreign).
    Revenue,
}

impl FeedArg {
    fn feeds(self) -> Vec<Feed> {
        match self {
            FeedArg::All => Feed::ALL.to_vec(),
            FeedArg::Twse => vec![Feed::Twse],
            FeedArg::Tpex => vec![Feed::Tpex],
            FeedArg::TwseActions => vec![Feed::TwseActions],
            FeedArg::TpexActions => vec![Feed::TpexActions],
            FeedArg::TwseValuation => vec![Feed::TwseValuation],
            FeedArg::TpexValuation => vec![Feed::TpexValuation],
            FeedArg::TwseChips => vec![Feed::TwseChips],
            FeedArg::TpexChips => vec![Feed::TpexChips],
            FeedArg::TwseMargin => vec![Feed::TwseMargin],
            FeedArg::TpexMargin => vec![Feed::TpexMargin],
            FeedArg::Revenue => vec![
                Feed::RevenueSii,
                Feed::RevenueSiiForeign,
                Feed::RevenueOtc,
                Feed::RevenueOtcForeign,
            ],
        }
    }
}

/// `dsl-engine data fetch`.
#[derive(Debug, clap::Args)]
pub struct FetchArgs {
    /// Which feed (`all`: every one).
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
    /// Scheme and host to ask for a single-host feed (default: `$DSL_TWSE_BASE_URL` /
    /// `$DSL_TPEX_BASE_URL` / `$DSL_MOPS_BASE_URL`, else the public host).
    #[arg(long)]
    pub base_url: Option<String>,
    /// Seconds between two requests. TWSE bans IPs above ~3 requests per 5 s; stay at 3 or more.
    #[arg(long, default_value_t = 4.0, value_parser = crate::cli::flags::delay)]
    pub interval: f64,
    /// Retries per day (connection errors, 403/429/5xx, error pages) before stopping.
    #[arg(long, default_value_t = 4)]
    pub retries: u32,
    /// First retry delay in seconds; doubles per retry (jittered, at most 300 s).
    #[arg(long, default_value_t = 10.0, value_parser = crate::cli::flags::delay)]
    pub backoff: f64,
}

/// A delay already checked by [`flags::delay`](crate::cli::flags::delay).
fn seconds(flag: &str, v: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(v).with_context(|| format!("--{flag} {v} is not a duration"))
}

/// Runs `data fetch`.
pub fn run(a: FetchArgs) -> anyhow::Result<ExitStatus> {
    let feeds = a.feed.feeds();
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
    let hosts: std::collections::BTreeSet<_> = feeds.iter().map(|f| f.host()).collect();
    if a.base_url.is_some() && hosts.len() > 1 {
        bail!(
            "--base-url names one host, but these feeds use {}; set DSL_TWSE_BASE_URL, \
             DSL_TPEX_BASE_URL and DSL_MOPS_BASE_URL instead",
            hosts.len()
        );
    }
    let base = |f: Feed| a.base_url.clone().unwrap_or_else(|| f.default_base_url());
    let dir = a
        .data_dir
        .clone()
        .unwrap_or_else(|| crate::data::cache_root().join("tw-fetch"));
    let public = feeds.iter().any(|&f| {
        let b = base(f);
        b.contains("twse.com.tw") || b.contains("tpex.org.tw")
    });
    if a.interval < 3.0 && public {
        errln!(
            "warning: --interval {} s is faster than the exchanges tolerate (about 3 requests \
             per 5 s); expect a temporary IP ban",
            a.interval
        );
    }
    let names: Vec<&str> = feeds.iter().map(|f| f.name()).collect();
    errln!(
        "fetching {} {} → {} into {} (one request per {} s)",
        names.join(", "),
        calendar::format(from),
        calendar::format(to),
        dir.display(),
        a.interval
    );
    let bar = ProgressBar::new(0);
    let style = ProgressStyle::with_template(
        "{msg:>6} [{bar:40}] {pos}/{len} requests ({elapsed}, ETA {eta})",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message("fetch");
    let result = fetch::fetch_all(&dir, &feeds, from, to, &base, &policy, &mut |e| match e {
        FetchEvent::Message(m) => bar.println(m),
        FetchEvent::Warning(w) => bar.println(format!("warning: {w}")),
        FetchEvent::Start { total, cached } => {
            if cached > 0 {
                bar.println(format!(
                    "{cached} request(s) already answered on disk, {total} to make"
                ));
            }
            bar.set_length(total as u64);
        }
        FetchEvent::Day { done, .. } => bar.set_position(done as u64),
    });
    bar.finish_and_clear();
    let all =
        result.with_context(|| format!("fetching {} into {}", names.join(", "), dir.display()))?;
    for (feed, s) in &all {
        report(*feed, s);
    }
    if let Some((_, s)) = all.iter().rev().find(|(_, s)| s.sessions > 0) {
        if let (Some(first), Some(last)) = (s.first, s.last) {
            outln!(
                "{}: {} sessions × {} securities, {} → {}",
                dir.display(),
                s.sessions,
                s.securities,
                calendar::format(first),
                calendar::format(last)
            );
        }
        if s.sessions < 60 {
            errln!(
                "note: only {} session(s); strategies with long windows (e.g. a 60-day \
                 average) need more history to hold anything",
                s.sessions
            );
        }
    } else {
        outln!("{}: no sessions yet", dir.display());
    }
    let gaps = fetch::adjustment_gaps(&fetch::read_state(&dir)?);
    if !gaps.is_empty() {
        errln!(
            "WARNING: etl:adj_* in this directory are UNADJUSTED where no ex-rights/dividend \
             events were fetched ({}): backtests understate returns across those ex-dates. \
             Fetch twse-actions / tpex-actions over the same range (recorded in the manifest \
             and in dsl-engine-fetch.json).",
            gaps.join("; ")
        );
    }
    outln!("use it with --data-dir {}", dir.display());
    Ok(ExitStatus::Success)
}

fn report(feed: Feed, s: &fetch::FetchSummary) {
    outln!(
        "{}: requested {} {} ({} HTTP requests), {} already on disk, {} closed; merged {}{}",
        feed.name(),
        s.fetched,
        if feed.schedule() == fetch::Schedule::Daily {
            "day(s)"
        } else {
            "month(s)"
        },
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
}
