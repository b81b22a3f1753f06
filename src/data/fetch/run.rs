//! The fetch itself: pick the days to request, request them politely, keep each validated
//! answer, merge what is new into the panels, record provenance (`dsl-engine-fetch.json`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{
    actions, http, io, merge, parse, taipei_today, twse, utc_now, Feed, FetchError, FetchEvent,
    FetchOptions, FetchSummary, ParseError, Parsed, Schedule, ADJUSTMENT_NOTE, GENERATOR,
    STATE_FILE,
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
    let base = opts.base_url.clone();
    let all = fetch_all(
        dir,
        &[opts.feed],
        opts.from,
        opts.to,
        &|_| base.clone(),
        &opts.policy,
        events,
    )?;
    Ok(all.into_iter().next().map(|(_, s)| s).unwrap_or_default())
}

/// Fetches every feed of `feeds` in order over `from ..= to`, one request at a time through one
/// polite client (`base(feed)` gives each feed's host), with one progress count over all of
/// them. Resumable like [`fetch`]: rerunning asks only for what is not on disk yet.
pub fn fetch_all(
    dir: &Path,
    feeds: &[Feed],
    from: i32,
    to: i32,
    base: &dyn Fn(Feed) -> String,
    policy: &http::Policy,
    events: &mut dyn FnMut(FetchEvent<'_>),
) -> Result<Vec<(Feed, FetchSummary)>, FetchError> {
    check_dir(dir)?;
    let _lock = lock(dir)?;
    let to = to.min(taipei_today());
    let mut plans = Vec::new();
    for &feed in feeds {
        let earliest = feed.earliest();
        let start = from.max(earliest);
        if start > from {
            events(FetchEvent::Message(&format!(
                "{} starts on {}: fetching from there",
                feed.name(),
                calendar::format(earliest)
            )));
        }
        if start > to {
            if feeds.len() == 1 {
                return Err(FetchError::Range {
                    from: calendar::format(from),
                    to: calendar::format(to),
                });
            }
            continue;
        }
        plans.push(plan(dir, feed, start, to)?);
    }
    let total: usize = plans.iter().map(|p| p.todo.len()).sum();
    events(FetchEvent::Start {
        total,
        cached: plans.iter().map(|p| p.cached).sum(),
    });
    let mut client = http::Http::new(policy.clone())?;
    let mut done = 0;
    let mut out = Vec::new();
    for p in &plans {
        let mut summary = FetchSummary {
            cached: p.cached,
            ..FetchSummary::default()
        };
        let before = client.requests;
        let url_base = base(p.feed);
        let stopped = request_days(
            dir,
            p,
            &url_base,
            &mut client,
            &mut summary,
            events,
            &mut done,
            total,
        );
        summary.requests = client.requests - before;
        let saved = summary.fetched;
        merge_pending(dir, p.feed, &url_base, &mut summary)?;
        summary.closed = read_state(dir)?
            .feeds
            .get(p.feed.name())
            .map(|f| {
                f.closed
                    .iter()
                    .filter_map(|s| calendar::parse(s))
                    .filter(|d| (p.from..=p.to).contains(d))
                    .collect()
            })
            .unwrap_or_default();
        if let Some((d, cause)) = stopped {
            return Err(FetchError::Stopped {
                date: calendar::format(d),
                saved,
                cause: Box::new(cause),
            });
        }
        out.push((p.feed, summary));
    }
    Ok(out)
}

/// The requests one feed still needs.
struct Plan {
    feed: Feed,
    from: i32,
    to: i32,
    todo: Vec<i32>,
    cached: usize,
}

fn plan(dir: &Path, feed: Feed, from: i32, to: i32) -> Result<Plan, FetchError> {
    let raw_dir = dir.join("raw").join(feed.name());
    std::fs::create_dir_all(&raw_dir).map_err(io(&raw_dir))?;
    crate::data::stale::clean(&raw_dir);
    let state = read_state(dir)?;
    let fs = state.feeds.get(feed.name()).cloned().unwrap_or_default();
    let known = |d: i32| {
        let s = calendar::format(d);
        fs.merged.contains(&s) || fs.closed.contains(&s) || raw_path(&raw_dir, feed, d).exists()
    };
    let candidates = candidates(feed, from, to)?;
    let todo: Vec<i32> = candidates.iter().copied().filter(|&d| !known(d)).collect();
    Ok(Plan {
        feed,
        from,
        to,
        cached: candidates.len() - todo.len(),
        todo,
    })
}

/// Requests `p.todo` in order, keeping each validated answer; the day and error it stopped at.
#[allow(clippy::too_many_arguments)]
fn request_days(
    dir: &Path,
    p: &Plan,
    base: &str,
    client: &mut http::Http,
    summary: &mut FetchSummary,
    events: &mut dyn FnMut(FetchEvent<'_>),
    done: &mut usize,
    total: usize,
) -> Option<(i32, FetchError)> {
    let feed = p.feed;
    let raw_dir = dir.join("raw").join(feed.name());
    let sessions = reference::sessions()
        .map(|s| s.into_iter().map(|(d, _)| d).collect::<BTreeSet<i32>>())
        .unwrap_or_default();
    let base = base.trim_end_matches('/');
    for &d in &p.todo {
        let url = format!("{base}{}", feed.path(d));
        let answer = client.get_decoded(&url, feed.cp950(), |body| match feed.parse(body, d) {
            Err(ParseError::NotJson(s)) => Err(ParseError::NotJson(s)),
            parsed => Ok((parsed, body.to_string())),
        });
        let day = calendar::format(d);
        let result = match answer {
            // Before ~15:00 Taipei today's quotes are not published and the feeds answer as if
            // closed: never remember today as closed.
            Ok((Ok(Parsed::Closed), _)) if d >= taipei_today() => {
                events(FetchEvent::Message(&format!(
                    "{} {day}: no data yet (published after the close); rerun later",
                    feed.name()
                )));
                Ok(())
            }
            Ok((Ok(Parsed::NotYet), _)) => {
                events(FetchEvent::Message(&format!(
                    "{} {day}: not published yet",
                    feed.name()
                )));
                Ok(())
            }
            Ok((Ok(parsed), body)) => {
                summary.fetched += 1;
                if let Parsed::Day(day_data) = &parsed {
                    for w in &day_data.warnings {
                        events(FetchEvent::Warning(&format!(
                            "{} {day}: skipped {w}",
                            feed.name()
                        )));
                    }
                    summary.warnings += day_data.warnings.len();
                } else if feed.schedule() == Schedule::Daily && sessions.contains(&d) {
                    events(FetchEvent::Warning(&format!(
                        "{} {day}: no data, though the reference calendar lists a session",
                        feed.name()
                    )));
                }
                write_atomic(&raw_path(&raw_dir, feed, d), body.as_bytes())
            }
            Ok((Err(ParseError::OutOfRange(message)), _)) => Err(FetchError::OutOfRange {
                feed: feed.name(),
                date: day,
                message,
                earliest: calendar::format(feed.earliest()),
            }),
            Ok((Err(e), body)) => {
                let kept =
                    raw_dir.join(format!("{}.rejected.{}", twse::yyyymmdd(d), feed.raw_ext()));
                let _ = write_atomic(&kept, body.as_bytes());
                Err(FetchError::Format {
                    feed: feed.name(),
                    date: day,
                    message: e.to_string(),
                    kept,
                })
            }
            Err(e) => Err(e),
        };
        *done += 1;
        events(FetchEvent::Day { done: *done, total });
        if let Err(e) = result {
            return Some((d, e));
        }
    }
    None
}

/// Parses every raw answer of `feed` not merged yet and merges it: quotes and values into the
/// panels, events into the events file; then the adjusted prices, the manifest and the state.
fn merge_pending(
    dir: &Path,
    feed: Feed,
    base: &str,
    summary: &mut FetchSummary,
) -> Result<(), FetchError> {
    let raw_dir = dir.join("raw").join(feed.name());
    let mut state = read_state(dir)?;
    let fs = state.feeds.entry(feed.name().to_string()).or_default();
    let mut days = Vec::new();
    let mut closed = Vec::new();
    let suffix = format!(".{}", feed.raw_ext());
    let mut files: Vec<(i32, PathBuf)> = std::fs::read_dir(&raw_dir)
        .map_err(io(&raw_dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            let stem = p.file_name()?.to_str()?.strip_suffix(&suffix)?.to_string();
            (stem.len() == 8)
                .then(|| parse::parse_tw_date(&stem))
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
    let fs = state.feeds.entry(feed.name().to_string()).or_default();
    fs.merged
        .extend(days.iter().map(|(d, _)| calendar::format(*d)));
    fs.closed
        .extend(closed.iter().map(|d| calendar::format(*d)));
    let sources: Vec<String> = state
        .feeds
        .iter()
        .map(|(k, f)| format!("{k}: {}", f.source))
        .collect();
    let gaps = adjustment_gaps(&state);
    let priced = ["twse", "tpex"]
        .iter()
        .any(|f| state.feeds.get(*f).is_some_and(|s| !s.merged.is_empty()));
    let (adjusted, note) = adjustment_status(&state, &gaps, priced);
    state.adjustment = note.clone();
    let new_events: Vec<_> = days.iter().flat_map(|(_, d)| d.actions.clone()).collect();
    let has_actions = matches!(feed, Feed::TwseActions | Feed::TpexActions);
    let has_quotes = matches!(feed, Feed::Twse | Feed::Tpex);
    if !days.is_empty() {
        write_manifest(dir, &sources, &gaps)?;
        merge::merge(dir, &days, feed.label(), &fetched_at)?;
        summary.merged = days.len();
    }
    let all_events = if has_actions && !new_events.is_empty() {
        actions::store(dir, &new_events)?
    } else {
        actions::read(dir)?
    };
    if (has_actions || has_quotes) && !days.is_empty() {
        let inputs: Vec<&str> = [Feed::Twse, Feed::Tpex, Feed::TwseActions, Feed::TpexActions]
            .iter()
            .filter(|f| state.feeds.contains_key(f.name()))
            .map(|f| f.label())
            .collect();
        merge::rebuild_adjusted(
            dir,
            &all_events,
            adjusted,
            &note,
            &inputs.join("; "),
            &fetched_at,
        )?;
        write_manifest(dir, &sources, &gaps)?;
    }
    let json = serde_json::to_vec_pretty(&state).unwrap_or_default();
    write_atomic(&dir.join(STATE_FILE), &json)?;
    record_files(dir)?;
    let cal = dir.join(crate::data::feather::file_name("price:收盤價"));
    if cal.exists() {
        let shape = crate::data::feather::read_shape(&cal)?;
        summary.sessions = shape.dates.len();
        summary.securities = shape.columns;
        summary.first = shape.dates.first().copied();
        summary.last = shape.dates.last().copied();
    }
    Ok(())
}

/// `true` / `partial` / `false` and the note saying how far the events cover the prices.
fn adjustment_status(state: &State, gaps: &[String], priced: bool) -> (&'static str, String) {
    let any_events = ["twse-actions", "tpex-actions"]
        .iter()
        .any(|f| state.feeds.get(*f).is_some_and(|s| !s.merged.is_empty()));
    if !any_events {
        return ("false", ADJUSTMENT_NOTE.to_string());
    }
    if gaps.is_empty() && priced {
        return (
            "true",
            "etl:adj_* = unadjusted prices × the backward factors (reference / previous close) \
             of every ex-rights/dividend event (TWSE TWT49U, TPEx exDailyQ) after them; the \
             events cover every session"
                .into(),
        );
    }
    (
        "partial",
        format!(
            "etl:adj_* adjusted with the ex-rights/dividend events fetched so far; NOT adjusted \
             where no events were fetched: {}",
            gaps.join("; ")
        ),
    )
}

/// The sessions of each exchange's quotes that no fetched ex-rights period covers, as one line
/// per exchange (empty: the adjustment covers every session).
pub fn adjustment_gaps(state: &State) -> Vec<String> {
    let mut out = Vec::new();
    for (quotes, events, label) in [
        ("twse", "twse-actions", "TWT49U"),
        ("tpex", "tpex-actions", "exDailyQ"),
    ] {
        let Some(q) = state.feeds.get(quotes) else {
            continue;
        };
        let periods: Vec<(i32, i32)> = state
            .feeds
            .get(events)
            .map(|f| {
                f.merged
                    .iter()
                    .filter_map(|s| calendar::parse(s))
                    .map(|e| (super::month_start(e), e))
                    .collect()
            })
            .unwrap_or_default();
        let missing: Vec<i32> = q
            .merged
            .iter()
            .filter_map(|s| calendar::parse(s))
            .filter(|&d| !periods.iter().any(|&(a, b)| (a..=b).contains(&d)))
            .collect();
        if let (Some(first), Some(last)) = (missing.first(), missing.last()) {
            out.push(format!(
                "{quotes}: {} session(s) between {} and {} without {label} events",
                missing.len(),
                calendar::format(*first),
                calendar::format(*last)
            ));
        }
    }
    out
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
/// already there are kept until [`record_files`] renews them. The generator says whether
/// `etl:adj_*` are adjusted (the banner of every backtest shows it).
fn write_manifest(dir: &Path, sources: &[String], gaps: &[String]) -> Result<(), FetchError> {
    let files = std::fs::read(dir.join(MANIFEST))
        .ok()
        .and_then(|b| serde_json::from_slice::<Manifest>(&b).ok())
        .map(|m| m.files)
        .unwrap_or_default();
    let events = actions::read(dir)?;
    let (generator, note) = if !events.is_empty() && gaps.is_empty() {
        (
            format!(
                "{GENERATOR} (real TWSE/TPEx data; etl:adj_* adjusted for dividends and rights)"
            ),
            "etl:adj_* are adjusted for every ex-rights/dividend event.".to_string(),
        )
    } else {
        (
            format!(
                "{GENERATOR} (real TWSE/TPEx quotes; etl:adj_* NOT adjusted for dividends{})",
                if events.is_empty() {
                    String::new()
                } else {
                    format!(" in part: {}", gaps.join("; "))
                }
            ),
            "etl:adj_* equal the unadjusted prices where no ex-rights events were fetched."
                .to_string(),
        )
    };
    let manifest = Manifest {
        synthetic: false,
        generator,
        version: 1,
        seed: 0,
        digest: String::new(),
        disclaimer: format!(
            "Real TWSE/TPEx/MOPS information fetched by the user for private research; do not \
             redistribute (TWSE trading-information rules). {note}"
        ),
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

/// The candidate dates of a feed over `from ..= to`: sessions (daily feeds), each month's last
/// day or `to` (monthly feeds: the period is the month up to it), or the filing deadlines that
/// have passed (published revenue).
fn candidates(feed: Feed, from: i32, to: i32) -> Result<Vec<i32>, FetchError> {
    match feed.schedule() {
        Schedule::Daily => candidate_days(from, to),
        Schedule::Monthly => {
            let mut out = Vec::new();
            let mut m = super::month_start(from);
            while m <= to {
                out.push(super::month_end(m).min(to));
                m = super::month_end(m) + 1;
            }
            Ok(out)
        }
        Schedule::Published => {
            let today = taipei_today();
            let mut out = Vec::new();
            let mut m = super::month_start(from);
            while m <= to {
                let deadline = m + 9;
                if (from..=to).contains(&deadline) && deadline < today {
                    out.push(deadline);
                }
                m = super::month_end(m) + 1;
            }
            Ok(out)
        }
    }
}

fn raw_path(raw_dir: &Path, feed: Feed, date: i32) -> PathBuf {
    raw_dir.join(format!("{}.{}", twse::yyyymmdd(date), feed.raw_ext()))
}

/// Writes `bytes` to a temporary sibling and renames it over `path`.
pub(super) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FetchError> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}
