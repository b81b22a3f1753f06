//! `data fetch`: real whole-market daily quotes from TWSE (`MI_INDEX`) or TPEx (`dailyQuotes`)
//! into a data directory in our wide Arrow layout (`spec/tw-data.md` §2, §3).
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
pub mod tpex;
pub mod twse;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{DataError, Manifest, MANIFEST};
use crate::calendar;

pub use merge::ADJUSTMENT_NOTE;

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

/// Per-feed provenance (`dsl-engine-fetch.json`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FeedState {
    /// The endpoint and base URL of the last fetch.
    pub source: String,
    /// UTC time of the last merge.
    pub fetched_at: String,
    /// Sessions merged into the panels (YYYY-MM-DD).
    pub merged: BTreeSet<String>,
    /// Days the feed reported closed.
    pub closed: BTreeSet<String>,
}

/// The provenance file: one entry per feed, and how `etl:adj_*` were derived.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct State {
    pub feeds: std::collections::BTreeMap<String, FeedState>,
    #[serde(default)]
    pub adjustment: String,
}

/// Reads `dsl-engine-fetch.json` (empty when absent).
pub fn read_state(dir: &Path) -> Result<State, FetchError> {
    let path = dir.join(STATE_FILE);
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| {
            FetchError::Data(DataError::Format {
                path,
                message: format!("not a fetch state file ({e})"),
            })
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
        Err(e) => Err(FetchError::Io { path, source: e }),
    }
}

/// Fetches `opts.feed` for `opts.from ..= opts.to` into `dir` and merges it into the panels
/// there. Days already on disk (raw answers, merged or closed days) are not requested again.
/// On a failure the days fetched so far are still merged and the error says where it stopped.
pub fn fetch(
    dir: &Path,
    opts: &FetchOptions,
    events: &mut dyn FnMut(FetchEvent<'_>),
) -> Result<FetchSummary, FetchError> {
    let feed = opts.feed;
    check_dir(dir)?;
    let _lock = lock(dir)?;
    let earliest = feed.earliest();
    let from = opts.from.max(earliest);
    if from > opts.from {
        events(FetchEvent::Message(&format!(
            "{} starts on {}: fetching from there",
            feed.name(),
            calendar::format(earliest)
        )));
    }
    let to = opts.to.min(taipei_today());
    if from > to {
        return Err(FetchError::Range {
            from: calendar::format(opts.from),
            to: calendar::format(to),
        });
    }
    let raw_dir = dir.join("raw").join(feed.name());
    std::fs::create_dir_all(&raw_dir).map_err(io(&raw_dir))?;
    let mut state = read_state(dir)?;
    let fs = state.feeds.entry(feed.name().to_string()).or_default();
    let known = |d: i32| {
        let s = calendar::format(d);
        fs.merged.contains(&s) || fs.closed.contains(&s) || raw_path(&raw_dir, d).exists()
    };
    let candidates = candidate_days(from, to)?;
    let todo: Vec<i32> = candidates.iter().copied().filter(|&d| !known(d)).collect();
    let mut summary = FetchSummary {
        cached: candidates.len() - todo.len(),
        ..FetchSummary::default()
    };
    events(FetchEvent::Start {
        total: todo.len(),
        cached: summary.cached,
    });
    let sessions = super::reference::sessions()
        .map(|s| s.into_iter().map(|(d, _)| d).collect::<BTreeSet<i32>>())
        .unwrap_or_default();
    let base = opts.base_url.trim_end_matches('/');
    let mut stopped = None;
    let mut client = http::Http::new(opts.policy.clone())?;
    for (i, &d) in todo.iter().enumerate() {
        let url = format!("{base}{}", feed.path(d));
        let answer = client.get(&url, |body| match feed.parse(body, d) {
            Err(ParseError::NotJson(s)) => Err(ParseError::NotJson(s)),
            parsed => Ok((parsed, body.to_string())),
        });
        let result = match answer {
            // Before ~15:00 Taipei today's quotes are not published and the feeds answer as if
            // closed: never remember today as closed.
            Ok((Ok(Parsed::Closed), _)) if d >= taipei_today() => {
                events(FetchEvent::Message(&format!(
                    "{} {}: no data yet (quotes are published after ~15:00 Taipei); rerun later",
                    feed.name(),
                    calendar::format(d)
                )));
                Ok(())
            }
            Ok((Ok(Parsed::NotYet), _)) => {
                events(FetchEvent::Message(&format!(
                    "{} {}: not published yet",
                    feed.name(),
                    calendar::format(d)
                )));
                Ok(())
            }
            Ok((Ok(parsed), body)) => {
                summary.fetched += 1;
                if let Parsed::Day(day) = &parsed {
                    for w in &day.warnings {
                        events(FetchEvent::Warning(&format!(
                            "{} {}: skipped {w}",
                            feed.name(),
                            calendar::format(d)
                        )));
                    }
                    summary.warnings += day.warnings.len();
                } else if sessions.contains(&d) {
                    events(FetchEvent::Warning(&format!(
                        "{} {}: no data, though the reference calendar lists a session",
                        feed.name(),
                        calendar::format(d)
                    )));
                }
                write_atomic(&raw_path(&raw_dir, d), body.as_bytes())
            }
            Ok((Err(ParseError::OutOfRange(message)), _)) => Err(FetchError::OutOfRange {
                feed: feed.name(),
                date: calendar::format(d),
                message,
                earliest: calendar::format(earliest),
            }),
            Ok((Err(e), body)) => {
                let kept = raw_dir.join(format!("{}.rejected.json", twse::yyyymmdd(d)));
                let _ = write_atomic(&kept, body.as_bytes());
                Err(FetchError::Format {
                    feed: feed.name(),
                    date: calendar::format(d),
                    message: e.to_string(),
                    kept,
                })
            }
            Err(e) => Err(e),
        };
        events(FetchEvent::Day {
            done: i + 1,
            total: todo.len(),
        });
        if let Err(e) = result {
            stopped = Some((d, e));
            break;
        }
    }
    summary.requests = client.requests;
    let saved = summary.fetched;
    merge_pending(dir, &raw_dir, feed, base, &mut state, &mut summary)?;
    summary.closed = state
        .feeds
        .get(feed.name())
        .map(|f| {
            f.closed
                .iter()
                .filter_map(|s| calendar::parse(s))
                .filter(|d| (from..=to).contains(d))
                .collect()
        })
        .unwrap_or_default();
    match stopped {
        Some((d, cause)) => Err(FetchError::Stopped {
            date: calendar::format(d),
            saved,
            cause: Box::new(cause),
        }),
        None => Ok(summary),
    }
}

/// Parses every raw answer not merged yet and merges it into the panels; then records it.
fn merge_pending(
    dir: &Path,
    raw_dir: &Path,
    feed: Feed,
    base: &str,
    state: &mut State,
    summary: &mut FetchSummary,
) -> Result<(), FetchError> {
    let fs = state.feeds.entry(feed.name().to_string()).or_default();
    let mut days = Vec::new();
    let mut closed = Vec::new();
    let entries = std::fs::read_dir(raw_dir).map_err(io(raw_dir))?;
    let mut files: Vec<(i32, PathBuf)> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            let stem = p.file_name()?.to_str()?.strip_suffix(".json")?;
            (stem.len() == 8)
                .then(|| parse::parse_tw_date(stem))
                .flatten()
                .map(|d| (d, p))
        })
        .filter(|(d, _)| {
            let s = calendar::format(*d);
            !fs.merged.contains(&s) && !fs.closed.contains(&s)
        })
        .collect();
    files.sort();
    for (d, path) in &files {
        let body = std::fs::read_to_string(path).map_err(io(path))?;
        match feed.parse(&body, *d) {
            Ok(Parsed::Day(day)) => days.push((*d, day)),
            Ok(_) => closed.push(*d),
            Err(e) => {
                return Err(FetchError::Format {
                    feed: feed.name(),
                    date: calendar::format(*d),
                    message: format!("{e} (re-reading the kept answer)"),
                    kept: path.clone(),
                })
            }
        }
    }
    fs.source = format!("{} at {base}", feed.label());
    let fetched_at = utc_now();
    if !days.is_empty() || !closed.is_empty() {
        fs.fetched_at = fetched_at.clone();
    }
    let sources: Vec<String> = state
        .feeds
        .iter()
        .map(|(k, f)| format!("{k}: {}", f.source))
        .collect();
    state.adjustment = ADJUSTMENT_NOTE.to_string();
    if !days.is_empty() {
        write_manifest(dir, &sources)?;
        merge::merge(dir, &days, &sources.join("; "), &fetched_at)?;
        summary.merged = days.len();
    }
    let fs = state.feeds.entry(feed.name().to_string()).or_default();
    fs.merged
        .extend(days.iter().map(|(d, _)| calendar::format(*d)));
    fs.closed
        .extend(closed.iter().map(|d| calendar::format(*d)));
    let json = serde_json::to_vec_pretty(state).unwrap_or_default();
    write_atomic(&dir.join(STATE_FILE), &json)?;
    let cal = dir.join(super::feather::file_name(super::CALENDAR_KEY));
    if cal.exists() {
        let shape = super::feather::read_shape(&cal)?;
        summary.sessions = shape.dates.len();
        summary.securities = shape.columns;
        summary.first = shape.dates.first().copied();
        summary.last = shape.dates.last().copied();
    }
    Ok(())
}

/// Writes the manifest marking the directory as real, fetched data (before the panels, so a
/// killed merge leaves a directory the next fetch recognises as its own).
fn write_manifest(dir: &Path, sources: &[String]) -> Result<(), FetchError> {
    let manifest = Manifest {
        synthetic: false,
        generator: format!(
            "{GENERATOR} (real TWSE/TPEx quotes; etl:adj_* NOT adjusted for dividends)"
        ),
        version: 1,
        seed: 0,
        digest: String::new(),
        disclaimer: "Real TWSE/TPEx trading information fetched by the user for private research; \
                     do not redistribute (TWSE trading-information rules). etl:adj_* equal the \
                     unadjusted prices."
            .into(),
        config: sources.join("; "),
        null: false,
        reference_data: String::new(),
    };
    let json = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    write_atomic(&dir.join(MANIFEST), &json)
}

/// Refuses directories holding other data (a synthetic market, a finlab import): the fetch would
/// overwrite their `etl:adj_*` with unadjusted prices, or mix synthetic and real data.
fn check_dir(dir: &Path) -> Result<(), FetchError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let foreign = |what: String| FetchError::Foreign {
        dir: dir.to_path_buf(),
        what,
    };
    match std::fs::read(dir.join(MANIFEST)) {
        Ok(bytes) => {
            let m: Manifest = serde_json::from_slice(&bytes)
                .map_err(|_| foreign("an unreadable dsl-engine manifest".into()))?;
            if m.synthetic {
                return Err(foreign(format!("a synthetic market ({})", m.generator)));
            }
            if !m.generator.starts_with(GENERATOR) {
                return Err(foreign(format!("`{}` data", m.generator)));
            }
            Ok(())
        }
        Err(_) => {
            let has_panels = std::fs::read_dir(dir)
                .map_err(io(dir))?
                .filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().ends_with(".feather"));
            if has_panels {
                return Err(foreign("data without a dsl-engine manifest".into()));
            }
            Ok(())
        }
    }
}

/// An advisory lock on `DIR/.fetch.lock`, released when the process ends (even when killed).
fn lock(dir: &Path) -> Result<std::fs::File, FetchError> {
    let path = dir.join(".fetch.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io(&path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(FetchError::Busy {
            dir: dir.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(FetchError::Io { path, source: e }),
    }
}

/// Days to ask for: every weekday in the range plus the reference calendar's weekend sessions
/// (make-up Saturdays until 2018). Closed weekdays cost one request each and are remembered.
fn candidate_days(from: i32, to: i32) -> Result<Vec<i32>, FetchError> {
    let weekend_sessions: BTreeSet<i32> = super::reference::sessions()?
        .into_iter()
        .map(|(d, _)| d)
        .filter(|&d| calendar::weekday(d) >= 5)
        .collect();
    Ok((from..=to)
        .filter(|&d| calendar::weekday(d) < 5 || weekend_sessions.contains(&d))
        .collect())
}

fn raw_path(raw_dir: &Path, date: i32) -> PathBuf {
    raw_dir.join(format!("{}.json", twse::yyyymmdd(date)))
}

/// Writes `bytes` to a temporary sibling and renames it over `path`.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FetchError> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
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
