//! `data fetch`: real data from TWSE, TPEx and MOPS into a data directory in our wide Arrow
//! layout (`docs/data.md` §6, §1): daily quotes (`MI_INDEX`, `dailyQuotes`), ex-rights events
//! (`TWT49U`, `exDailyQ`) from which `etl:adj_*` are derived, valuation, institutional
//! investors, margin, and monthly revenue — each value dated when it became known.
//!
//! Each validated answer is kept in `raw/<feed>/` before anything else happens, so a killed
//! fetch resumes where it stopped and a parser fix can re-read the bytes. Requests are serial
//! and paced ([`http::Policy`]), one client for every feed of a run; panels are merged (new
//! dates appended, old ones kept) and each file is replaced atomically.

pub mod actions;
pub mod daily;
mod feed;
pub mod http;
mod merge;
pub mod parse;
pub mod revenue;
mod run;
pub mod table;
pub mod tpex;
pub mod twse;

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::DataError;
use crate::calendar;

pub use actions::{adjust, Action};
pub use feed::{month_end, month_start, Feed, Host, Schedule};
pub use merge::ADJUSTMENT_NOTE;
pub use run::{adjustment_gaps, fetch, fetch_all, read_state, FeedState, State};

/// Manifest `generator` of a fetched directory (a prefix: the manifest adds a note).
pub const GENERATOR: &str = "tw-fetch";
/// Provenance file next to the manifest.
pub const STATE_FILE: &str = "dsl-engine-fetch.json";

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

/// One value of a dataset other than the quotes: its key, date, security and value.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    pub key: &'static str,
    /// Days since 1970-01-01: the session, or for monthly revenue its publication session.
    pub date: i32,
    pub code: String,
    pub value: f64,
}

/// One parsed answer: a trading day's quotes, or another feed's values and events.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Day {
    pub quotes: Vec<Quote>,
    /// Index closes by name ([`twse::INDEX_NAMES`]).
    pub indices: Vec<(String, f64)>,
    /// Values of other datasets (valuation, chips, margin, revenue, market value).
    pub cells: Vec<Cell>,
    /// Ex-rights/dividend events.
    pub actions: Vec<Action>,
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
