//! The fetch itself: pick the days to request, request them politely, keep each validated
//! answer, merge what is new into the panels, record provenance (`dsl-engine-fetch.json`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{
    http, io, merge, parse, taipei_today, twse, utc_now, Feed, FetchError, FetchEvent,
    FetchOptions, FetchSummary, ParseError, Parsed, ADJUSTMENT_NOTE, GENERATOR, STATE_FILE,
};
use crate::calendar;
use crate::data::{reference, DataError, Manifest, MANIFEST};

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
    crate::data::stale::clean(&raw_dir);
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
    let sessions = reference::sessions()
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
    record_files(dir)?;
    let fs = state.feeds.entry(feed.name().to_string()).or_default();
    fs.merged
        .extend(days.iter().map(|(d, _)| calendar::format(*d)));
    fs.closed
        .extend(closed.iter().map(|d| calendar::format(*d)));
    let json = serde_json::to_vec_pretty(state).unwrap_or_default();
    write_atomic(&dir.join(STATE_FILE), &json)?;
    let cal = dir.join(crate::data::feather::file_name(crate::data::CALENDAR_KEY));
    if cal.exists() {
        let shape = crate::data::feather::read_shape(&cal)?;
        summary.sessions = shape.dates.len();
        summary.securities = shape.columns;
        summary.first = shape.dates.first().copied();
        summary.last = shape.dates.last().copied();
    }
    Ok(())
}

/// Records the digest of every panel file in the manifest (after a merge; a fetch killed
/// between the merge and this leaves records the next fetch renews).
pub(super) fn record_files(dir: &Path) -> Result<(), FetchError> {
    let Ok(bytes) = std::fs::read(dir.join(MANIFEST)) else {
        return Ok(());
    };
    let mut manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
        FetchError::Data(DataError::Format {
            path: dir.join(MANIFEST),
            message: format!("not a manifest ({e})"),
        })
    })?;
    manifest.files = crate::data::integrity::record_dir(dir)?;
    Ok(crate::data::integrity::write_manifest(dir, &manifest)?)
}

/// Writes the manifest marking the directory as real, fetched data (before the panels, so a
/// killed merge leaves a directory the next fetch recognises as its own). The file records
/// already there are kept until [`record_files`] renews them.
fn write_manifest(dir: &Path, sources: &[String]) -> Result<(), FetchError> {
    let files = std::fs::read(dir.join(MANIFEST))
        .ok()
        .and_then(|b| serde_json::from_slice::<Manifest>(&b).ok())
        .map(|m| m.files)
        .unwrap_or_default();
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
        files,
    };
    Ok(crate::data::integrity::write_manifest(dir, &manifest)?)
}

/// Refuses directories holding other data (a synthetic market, a finlab import): the fetch would
/// overwrite their `etl:adj_*` with unadjusted prices, or mix synthetic and real data.
fn check_dir(dir: &Path) -> Result<(), FetchError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    crate::data::stale::clean(dir);
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
    let weekend_sessions: BTreeSet<i32> = reference::sessions()?
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
