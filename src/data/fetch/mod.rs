//! `data fetch`: real whole-market daily quotes from TWSE (`MI_INDEX`) or TPEx (`dailyQuotes`)
//! into a data directory in our wide Arrow layout (`docs/data.md` §6, §1).
//!
//! In: a feed, a date range, a data directory. Out: `price:*` panels (unadjusted OHLC, shares,
//! NT$, trades), `etl:adj_*` (equal to the unadjusted prices, flagged: no ex-rights adjustment
//! yet), the TAIEX and total-return index from TWSE, a manifest marking the data as real, and
//! `dsl-engine-fetch.json` (what was fetched from where, and when).
//!
//! Each validated answer is kept verbatim in `raw/<feed>/YYYYMMDD.json` before anything else
//! happens, so a killed fetch resumes where it stopped and a parser fix can re-read the bytes.
//! Requests are serial and paced ([`http::Policy`]); panels are merged (new sessions appended,
//! old ones kept) and each file is replaced atomically.

pub mod http;
mod merge;
pub mod parse;
mod run;
pub mod tpex;
pub mod twse;

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::DataError;
use crate::calendar;

pub use merge::ADJUSTMENT_NOTE;
pub use run::{fetch, read_state, FeedState, State};

/// Manifest `generator` of a fetched directory (a prefix: the manifest adds a note).
pub const GENERATOR: &str = "tw-fetch";
/// Provenance file next to the manifest.
pub const STATE_FILE: &str = "dsl-engine-fetch.json";

/// Which exchange to fetch from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Feed {
    /// Taiwan Stock Exchange, `MI_INDEX?type=ALLBUT0999`.
    Twse,
    /// Taipei Exchange, `dailyQuotes`.
    Tpex,
}

impl Feed {
    /// `twse` or `tpex` (directory and state names).
    pub fn name(self) -> &'static str {
        match self {
            Feed::Twse => "twse",
            Feed::Tpex => "tpex",
        }
    }

    /// The endpoint, for provenance.
    pub fn label(self) -> &'static str {
        match self {
            Feed::Twse => "TWSE rwd/zh/afterTrading/MI_INDEX (type=ALLBUT0999)",
            Feed::Tpex => "TPEx www/zh-tw/afterTrading/dailyQuotes",
        }
    }

    /// The base URL: `$DSL_TWSE_BASE_URL` / `$DSL_TPEX_BASE_URL`, else the public host.
    pub fn default_base_url(self) -> String {
        let (env, default) = match self {
            Feed::Twse => (twse::BASE_URL_ENV, twse::BASE_URL),
            Feed::Tpex => (tpex::BASE_URL_ENV, tpex::BASE_URL),
        };
        std::env::var(env)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| default.to_string())
    }

    /// First date the feed answers for.
    pub fn earliest(self) -> i32 {
        let (y, m, d) = match self {
            Feed::Twse => twse::EARLIEST,
            Feed::Tpex => tpex::EARLIEST,
        };
        calendar::days_from_civil(y, m, d)
    }

    fn path(self, date: i32) -> String {
        match self {
            Feed::Twse => twse::path(date),
            Feed::Tpex => tpex::path(date),
        }
    }

    /// Parses an answer for `date`.
    pub fn parse(self, body: &str, date: i32) -> Result<Parsed, ParseError> {
        match self {
            Feed::Twse => twse::parse(body, date),
            Feed::Tpex => tpex::parse(body, date),
        }
    }
}

/// One security's quote for a day. Prices are `None` when it did not trade.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Quote {
    pub code: String,
    pub open: Option<f64>,
    pub high: Option<f64>,
    pub low: Option<f64>,
    pub close: Option<f64>,
    /// Shares traded.
    pub volume: f64,
    /// NT$ traded.
    pub value: f64,
    /// Number of trades.
    pub trades: f64,
    /// Signed change from the reference price; `None` when not compared (ex-rights/dividend,
    /// new listing, resumption) or no trade.
    pub change: Option<f64>,
}

/// One parsed trading day.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Day {
    pub quotes: Vec<Quote>,
    /// Index closes by name ([`twse::INDEX_NAMES`]).
    pub indices: Vec<(String, f64)>,
    /// Rows that could not be read (skipped), one line each.
    pub warnings: Vec<String>,
}

/// What an answer says about its date.
#[derive(Clone, Debug, PartialEq)]
pub enum Parsed {
    Day(Day),
    /// No trading that day (holiday, typhoon; for TPEx also "out of range").
    Closed,
    /// Not published yet (TWSE: the date is after today).
    NotYet,
}

/// Why an answer could not be read.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ParseError {
    /// Not JSON: an error page, a ban page or a truncated body (retried).
    #[error("not JSON (an error page?): `{0}`")]
    NotJson(String),
    /// JSON, but not in the documented shape: the feed changed.
    #[error("{0}")]
    Format(String),
    /// The feed has no data for the date.
    #[error("{0}")]
    OutOfRange(String),
}

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "{url}: HTTP {status} after {attempts} attempt(s): the host is rate-limiting or banning \
         this IP (bans last minutes to hours). Wait, then rerun with a larger --interval; \
         finished days are kept. Body: `{body}`"
    )]
    RateLimited {
        url: String,
        status: u16,
        attempts: u32,
        body: String,
    },
    #[error("{url}: HTTP {status} after {attempts} attempt(s): `{body}`")]
    Http {
        url: String,
        status: u16,
        attempts: u32,
        body: String,
    },
    #[error(
        "cannot reach {url} after {attempts} attempt(s) ({message}). Check the network; refused \
         or reset connections can also mean the host banned this IP for requesting too fast"
    )]
    Connect {
        url: String,
        attempts: u32,
        message: String,
    },
    #[error(
        "{url} answered with an error page instead of JSON ({attempts} attempt(s)): `{snippet}`"
    )]
    ErrorPage {
        url: String,
        attempts: u32,
        snippet: String,
    },
    /// An answer that failed to parse (wrapped into [`FetchError::Format`] by [`fetch`]).
    #[error(transparent)]
    Parse(ParseError),
    #[error(
        "{feed} {date}: the answer is not in the documented format: {message}. The feed may have \
         changed; nothing was guessed or written for this day. The answer is kept in {} for a \
         bug report",
        kept.display()
    )]
    Format {
        feed: &'static str,
        date: String,
        message: String,
        kept: PathBuf,
    },
    #[error("{feed} {date}: {message} (the feed starts on {earliest})")]
    OutOfRange {
        feed: &'static str,
        date: String,
        message: String,
        earliest: String,
    },
    #[error("{} holds {what}; fetch into a directory of its own", dir.display())]
    Foreign { dir: PathBuf, what: String },
    #[error("another `data fetch` is writing to {}; wait for it to finish", dir.display())]
    Busy { dir: PathBuf },
    #[error("the range {from} → {to} is empty (is --from after --to, or in the future?)")]
    Range { from: String, to: String },
    #[error(
        "stopped at {date}; the {saved} day(s) fetched before it are saved, rerun the same command \
         to continue: {cause}"
    )]
    Stopped {
        date: String,
        saved: usize,
        cause: Box<FetchError>,
    },
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("HTTP client setup: {0}")]
    Setup(String),
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> FetchError + '_ {
    move |e| FetchError::Io {
        path: path.to_path_buf(),
        source: e,
    }
}

/// What to fetch and how politely.
#[derive(Clone, Debug)]
pub struct FetchOptions {
    pub feed: Feed,
    /// First and last calendar day (days since 1970-01-01); `to` is capped at today (Taipei).
    pub from: i32,
    pub to: i32,
    /// Scheme and host (no trailing path), e.g. `https://www.twse.com.tw`.
    pub base_url: String,
    pub policy: http::Policy,
}

/// What a fetch reports while it runs.
#[derive(Clone, Copy, Debug)]
pub enum FetchEvent<'a> {
    /// A line of log.
    Message(&'a str),
    /// Something the user should look at (skipped rows, suspicious closures).
    Warning(&'a str),
    /// Requests to make (`total`) after skipping days already on disk (`cached`).
    Start { total: usize, cached: usize },
    /// Days requested so far.
    Day { done: usize, total: usize },
}

/// What a fetch did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FetchSummary {
    /// Days requested from the host in this run.
    pub fetched: usize,
    /// Days in the range already on disk (not requested again).
    pub cached: usize,
    /// HTTP requests sent (retries included).
    pub requests: usize,
    /// Days in the range the feed reported closed.
    pub closed: Vec<i32>,
    /// Sessions merged into the panels in this run.
    pub merged: usize,
    /// Sessions and securities in the directory after the merge.
    pub sessions: usize,
    pub securities: usize,
    /// First and last session in the directory.
    pub first: Option<i32>,
    pub last: Option<i32>,
    /// Rows skipped because they could not be read.
    pub warnings: usize,
}

/// Today in Taipei (UTC+8), as days since 1970-01-01.
pub fn taipei_today() -> i32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    ((secs + 8 * 3600).div_euclid(86_400)) as i32
}

/// The current UTC time as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        calendar::format(days as i32),
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Parses a JSON answer; anything that is not JSON is an error page (retried).
fn json(body: &str) -> Result<Value, ParseError> {
    serde_json::from_str(body.trim_start_matches('\u{feff}'))
        .map_err(|_| ParseError::NotJson(http::clip(body)))
}

/// The cells of a row as trimmed-later strings (numbers as written, null as empty).
fn cells(row: &Value) -> Vec<String> {
    row.as_array()
        .map(|a| {
            a.iter()
                .map(|c| match c {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The positions of `wanted` in `fields`; an error naming the first missing one.
fn columns(fields: &[&str], wanted: &[&str]) -> Result<Vec<usize>, ParseError> {
    wanted
        .iter()
        .map(|w| {
            fields.iter().position(|f| f.trim() == *w).ok_or_else(|| {
                ParseError::Format(format!(
                    "the header changed: no `{w}` column (fields: {fields:?})"
                ))
            })
        })
        .collect()
}
