//! `data fetch` against a real HTTP server on loopback serving hand-written fixtures in the
//! feeds' exact formats (`tests/fixtures/fetch/`): a normal day, a closed day, malformed rows,
//! rate limiting, an error page, a changed header, resuming after a failure, and the CLI end to
//! end (fetch, then backtest on the fetched directory).

// Test and benchmark code: an unwrap fails the run, and printing is the report.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use assert_cmd::Command;
use dsl_engine::calendar::{days_from_civil, format};
use dsl_engine::data::fetch::http::Policy;
use dsl_engine::data::fetch::{self, Feed, FetchError, FetchOptions, FetchSummary};
use dsl_engine::data::{feather, DataDir};

fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fetch")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A fixture written for 2024-01-05 (or 01-06), re-dated to `date`.
fn redate(body: &str, date: i32) -> String {
    let (y, m, d) = dsl_engine::calendar::civil_from_days(date);
    let (roc, ymd) = (y - 1911, format!("{y:04}{m:02}{d:02}"));
    body.replace("20240105", &ymd)
        .replace("20240106", &ymd)
        .replace("113年01月05日", &format!("{roc:03}年{m:02}月{d:02}日"))
        .replace("113/01/05", &format!("{roc:03}/{m:02}/{d:02}"))
        .replace("113/01/06", &format!("{roc:03}/{m:02}/{d:02}"))
}

/// One answer of the test server.
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

fn ok(body: String) -> Reply {
    Reply {
        status: 200,
        headers: vec![("Content-Type", "application/json; charset=utf-8".into())],
        body,
    }
}

type Handler = dyn Fn(i32, usize) -> Reply + Send + Sync;

/// An HTTP/1.1 server on 127.0.0.1 answering each request from `handler(date, nth request for
/// that date)`; every request target is logged.
struct Server {
    base: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(handler: impl Fn(i32, usize) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let log2 = log.clone();
        std::thread::spawn(move || {
            let mut hits: HashMap<i32, usize> = HashMap::new();
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&req);
                let target = text.split_whitespace().nth(1).unwrap_or("").to_string();
                log2.lock().unwrap().push(target.clone());
                let date = date_of(&target);
                let n = hits.entry(date).or_default();
                *n += 1;
                let r = handler(date, *n);
                let mut head = format!(
                    "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                    r.status,
                    r.body.len()
                );
                for (k, v) in &r.headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                let _ = s.write_all(head.as_bytes());
                let _ = s.write_all(r.body.as_bytes());
            }
        });
        Server { base, log }
    }

    /// Requests made for `date`.
    fn requests_for(&self, date: i32) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|t| date_of(t) == date)
            .count()
    }

    fn total(&self) -> usize {
        self.log.lock().unwrap().len()
    }
}

/// The `date=` query parameter (`YYYYMMDD` or `YYYY/MM/DD`) as a day number (0 if none).
fn date_of(target: &str) -> i32 {
    let Some(q) = target.split("date=").nth(1) else {
        return 0;
    };
    let digits: String = q
        .split('&')
        .next()
        .unwrap_or("")
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    if digits.len() != 8 {
        return 0;
    }
    let n = |a: usize, b: usize| digits[a..b].parse::<u32>().unwrap_or(1);
    days_from_civil(n(0, 4) as i32, n(4, 6), n(6, 8))
}

fn day(m: u32, d: u32) -> i32 {
    days_from_civil(2024, m, d)
}

fn options(feed: Feed, server: &Server, from: i32, to: i32) -> FetchOptions {
    FetchOptions {
        feed,
        from,
        to,
        base_url: server.base.clone(),
        policy: Policy {
            interval: Duration::ZERO,
            backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            retries: 2,
            timeout: Duration::from_secs(10),
        },
    }
}

fn run(dir: &Path, opts: &FetchOptions) -> Result<FetchSummary, FetchError> {
    fetch::fetch(dir, opts, &mut |_| {})
}

/// 2024-01-05 (Fri) and 01-08 (Mon) are sessions, 01-09 (Tue) is closed.
fn twse_week(date: i32, _: usize) -> Reply {
    if date == day(1, 9) {
        ok(fixture("twse_closed.json"))
    } else {
        ok(redate(&fixture("twse_mi_index_ok.json"), date))
    }
}

fn value(dir: &DataDir, key: &str, date: i32, code: &str) -> f64 {
    let p = dir.load(key).unwrap();
    let r = p.dates.iter().position(|&d| d == date).expect("date");
    let c = p.columns.iter().position(|c| c == code).expect("code");
    p.get(r, c)
}

#[test]
fn normal_days_closed_days_merge_and_no_refetch() {
    let server = Server::start(twse_week);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("real");
    let s = run(&dir, &options(Feed::Twse, &server, day(1, 5), day(1, 9))).unwrap();
    // Fri, Mon, Tue: the weekend is not requested.
    assert_eq!((s.fetched, s.cached, s.requests), (3, 0, 3), "{s:?}");
    assert_eq!(s.closed, vec![day(1, 9)]);
    assert_eq!((s.sessions, s.securities, s.merged), (2, 5, 2));

    let data = DataDir::open(&dir).unwrap();
    let m = data.manifest.clone().expect("manifest");
    assert!(!m.synthetic && m.generator.starts_with("tw-fetch"), "{m:?}");
    assert!(!data.banner().contains("SYNTHETIC"), "{}", data.banner());
    assert_eq!(value(&data, "price:收盤價", day(1, 5), "5678"), 1235.0);
    assert_eq!(value(&data, "price:最高價", day(1, 8), "5678"), 1255.0);
    assert_eq!(
        value(&data, "price:成交股數", day(1, 5), "1234"),
        1_234_000.0
    );
    assert_eq!(
        value(&data, "price:成交金額", day(1, 5), "5678"),
        123_456_789.0
    );
    assert_eq!(value(&data, "price:成交筆數", day(1, 5), "5678"), 1021.0);
    // No trade: prices missing, volume kept.
    assert!(value(&data, "price:收盤價", day(1, 5), "2468").is_nan());
    assert_eq!(value(&data, "price:成交股數", day(1, 5), "2468"), 0.0);
    assert_eq!(value(&data, "etl:adj_close", day(1, 5), "0050"), 120.0);
    let bench = data
        .load("benchmark_return:發行量加權股價報酬指數")
        .unwrap();
    assert_eq!(bench.values, vec![35000.5, 35000.5]);
    let taiex = data.load("taiex_total_index:收盤指數").unwrap();
    assert_eq!(taiex.get(0, 0), 17450.2);

    // Metadata: real, with source and fetch time; the synthetic flag is absent.
    let shape = feather::read_shape(&dir.join(feather::file_name("etl:adj_close"))).unwrap();
    assert!(!shape.metadata.contains_key("dsl_engine.synthetic"));
    assert!(shape.metadata["dsl_engine.source"].contains("MI_INDEX"));
    assert!(shape.metadata["dsl_engine.fetched_at"].ends_with('Z'));
    assert_eq!(shape.metadata["dsl_engine.adjusted"], "false");
    let state = fetch::read_state(&dir).unwrap();
    assert_eq!(state.feeds["twse"].merged.len(), 2);
    assert!(state.adjustment.starts_with("none"));

    // A rerun of the same range requests nothing; a longer one only the new days.
    let before = server.total();
    let s = run(&dir, &options(Feed::Twse, &server, day(1, 5), day(1, 9))).unwrap();
    assert_eq!((s.fetched, s.cached, server.total()), (0, 3, before));
    let s = run(&dir, &options(Feed::Twse, &server, day(1, 5), day(1, 10))).unwrap();
    assert_eq!((s.fetched, s.cached, s.merged, s.sessions), (1, 3, 1, 3));
    assert_eq!(server.requests_for(day(1, 5)), 1);

    // TPEx into the same directory: its columns join, the TWSE ones are kept.
    let tpex = Server::start(|date, _| {
        if date == day(1, 11) {
            ok(redate(&fixture("tpex_closed.json"), date))
        } else {
            ok(redate(&fixture("tpex_daily_quotes.json"), date))
        }
    });
    let s = run(&dir, &options(Feed::Tpex, &tpex, day(1, 10), day(1, 11))).unwrap();
    assert_eq!((s.fetched, s.merged, s.closed.len()), (2, 1, 1), "{s:?}");
    let data = DataDir::open(&dir).unwrap();
    let close = data.load("price:收盤價").unwrap();
    assert!(close.columns.contains(&"6543".to_string()));
    assert!(
        close.columns.contains(&"6545".to_string()),
        "管理股票 rows are read"
    );
    assert!(
        !close.columns.contains(&"700001".to_string()),
        "warrants dropped"
    );
    assert_eq!(value(&data, "price:收盤價", day(1, 10), "6543"), 101.0);
    assert_eq!(value(&data, "price:收盤價", day(1, 10), "1234"), 10.15);
    assert_eq!(value(&data, "price:收盤價", day(1, 5), "5678"), 1235.0);
    assert!(value(&data, "price:收盤價", day(1, 10), "6544").is_nan());
    assert_eq!(value(&data, "price:成交股數", day(1, 10), "6544"), 12.0);
    assert!(value(&data, "price:收盤價", day(1, 5), "6543").is_nan());
}

#[test]
fn malformed_rows_are_skipped_with_warnings() {
    let server = Server::start(|date, _| ok(redate(&fixture("twse_malformed_row.json"), date)));
    let tmp = tempfile::tempdir().unwrap();
    let mut warnings = Vec::new();
    let s = fetch::fetch(
        tmp.path(),
        &options(Feed::Twse, &server, day(1, 5), day(1, 5)),
        &mut |e| {
            if let fetch::FetchEvent::Warning(w) = e {
                warnings.push(w.to_string());
            }
        },
    )
    .unwrap();
    assert_eq!((s.warnings, s.securities), (3, 1), "{warnings:?}");
    let all = warnings.join("\n");
    assert!(all.contains("`成交股數` = `98,7x5`"), "{all}");
    assert!(all.contains("8 cells, the header has 16"), "{all}");
    assert!(all.contains("change `<p>?</p>`"), "{all}");
}

#[test]
fn rate_limits_are_retried_then_reported() {
    // Two 429s, then the day.
    let server = Server::start(|date, n| {
        if n <= 2 {
            Reply {
                status: 429,
                headers: vec![("Retry-After", "0".into())],
                body: fixture("rate_limited.html"),
            }
        } else {
            ok(redate(&fixture("twse_mi_index_ok.json"), date))
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    let s = run(
        tmp.path(),
        &options(Feed::Twse, &server, day(1, 5), day(1, 5)),
    )
    .unwrap();
    assert_eq!((s.requests, s.merged), (3, 1));

    // Always 429: a typed error after the retries, saying what to do.
    let server = Server::start(|_, _| Reply {
        status: 429,
        headers: vec![],
        body: fixture("rate_limited.html"),
    });
    let tmp = tempfile::tempdir().unwrap();
    let e = run(
        tmp.path(),
        &options(Feed::Twse, &server, day(1, 5), day(1, 5)),
    )
    .unwrap_err();
    let FetchError::Stopped { cause, saved, .. } = &e else {
        panic!("{e}")
    };
    assert!(
        matches!(
            **cause,
            FetchError::RateLimited {
                status: 429,
                attempts: 3,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(saved, &0);
    assert!(e.to_string().contains("--interval"), "{e}");
}

#[test]
fn error_pages_and_changed_headers_are_typed_errors() {
    let server = Server::start(|_, _| Reply {
        status: 200,
        headers: vec![("Content-Type", "text/html".into())],
        body: fixture("error_page.html"),
    });
    let tmp = tempfile::tempdir().unwrap();
    let e = run(
        tmp.path(),
        &options(Feed::Twse, &server, day(1, 5), day(1, 5)),
    )
    .unwrap_err();
    let FetchError::Stopped { cause, .. } = &e else {
        panic!("{e}")
    };
    assert!(
        matches!(**cause, FetchError::ErrorPage { attempts: 3, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("security reasons"), "{e}");

    let server = Server::start(|date, _| ok(redate(&fixture("twse_changed_header.json"), date)));
    let tmp = tempfile::tempdir().unwrap();
    let e = run(
        tmp.path(),
        &options(Feed::Twse, &server, day(1, 5), day(1, 5)),
    )
    .unwrap_err();
    let FetchError::Stopped { cause, .. } = &e else {
        panic!("{e}")
    };
    let FetchError::Format { message, kept, .. } = &**cause else {
        panic!("{e}")
    };
    assert!(message.contains("no `收盤價` column"), "{message}");
    assert!(kept.exists(), "the answer is quarantined");
    assert_eq!(server.total(), 1, "a changed format is not retried");
    assert!(!tmp.path().join("raw/twse/20240105.json").exists());
    assert!(!tmp
        .path()
        .join(feather::file_name("etl:adj_close"))
        .exists());
}

#[test]
fn other_data_directories_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join(dsl_engine::data::MANIFEST),
        r#"{"synthetic":true,"generator":"tw-synth","version":1,"seed":42,"digest":"","disclaimer":""}"#,
    )
    .unwrap();
    let server = Server::start(twse_week);
    let e = run(
        tmp.path(),
        &options(Feed::Twse, &server, day(1, 5), day(1, 5)),
    )
    .unwrap_err();
    assert!(matches!(e, FetchError::Foreign { .. }), "{e}");
    assert!(e.to_string().contains("synthetic market"), "{e}");
    assert_eq!(server.total(), 0);
}

fn engine() -> Command {
    let mut cmd = Command::cargo_bin("dsl-engine").unwrap();
    cmd.env("DSL_ENGINE_CACHE_DIR", common::cache_dir());
    cmd
}

/// The fixture for `date` with stock 1234 trending up by NT$0.05 a session-ish day, so a
/// trend strategy holds something.
fn trending_day(date: i32) -> String {
    let c = 10.0 + f64::from(date - day(1, 4)) * 0.05;
    let row = format!(
        r#"["1234","甲公司","1,234,000","456","12,345,678","{:.2}","{:.2}","{:.2}","{c:.2}","<p style= color:red>+</p>","0.05","{c:.2}","3,000","{c:.2}","2,000","12.34"]"#,
        c - 0.05,
        c + 0.05,
        c - 0.10,
    );
    let body = redate(&fixture("twse_mi_index_ok.json"), date);
    let old = r#"["1234","甲公司","1,234,000","456","12,345,678","10.05","10.20","9.98","10.15","<p style= color:red>+</p>","0.10","10.10","3,000","10.15","2,000","12.34"]"#;
    assert!(body.contains(old));
    body.replace(old, &row)
}

/// The CLI end to end: a fetch stopped by a day the server keeps failing, its resumption (no
/// finished day requested again), a backtest on too little data (a clear error), then more
/// history appended and a backtest that runs.
#[test]
fn cli_fetch_resumes_and_backtests() {
    let broken = Arc::new(AtomicBool::new(true));
    let flag = broken.clone();
    let server = Server::start(move |date, _| {
        if date == day(1, 9) && flag.load(Ordering::SeqCst) {
            Reply {
                status: 503,
                headers: vec![],
                body: "Service Unavailable".into(),
            }
        } else {
            ok(trending_day(date))
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tw");
    let fetch_cmd = |to: &str| {
        let mut c = engine();
        c.env("DSL_TWSE_BASE_URL", &server.base).args([
            "data",
            "fetch",
            "twse",
            "--from",
            "2024-01-04",
            "--to",
            to,
            "--interval",
            "0",
            "--backoff",
            "0.001",
            "--retries",
            "1",
            "--data-dir",
        ]);
        c.arg(&dir);
        c
    };
    let text = |o: &std::process::Output| {
        (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let out = fetch_cmd("2024-01-12").output().unwrap();
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("stopped at 2024-01-09"), "{err}");
    assert!(err.contains("HTTP 503 after 2 attempt(s)"), "{err}");
    assert!(err.contains("rerun the same command"), "{err}");
    let data = DataDir::open(&dir).unwrap();
    let sessions = data.load("etl:adj_close").unwrap().dates.len();
    assert_eq!(sessions, 3, "days before the failure are merged");

    broken.store(false, Ordering::SeqCst);
    let out = fetch_cmd("2024-01-12").output().unwrap();
    let (stdout, err) = text(&out);
    assert!(out.status.success(), "{stdout}\n{err}");
    assert!(stdout.contains("requested 4 day(s)"), "{stdout}");
    assert!(
        stdout.contains("7 sessions × 5 securities, 2024-01-04 → 2024-01-12"),
        "{stdout}"
    );
    assert!(err.contains("UNADJUSTED"), "{err}");
    for d in [day(1, 4), day(1, 5), day(1, 8)] {
        assert_eq!(server.requests_for(d), 1, "{} requested again", format(d));
    }
    assert_eq!(server.requests_for(day(1, 9)), 3);

    // Too little data for a 60-day average: a clear error, not a crash.
    let backtest = || {
        engine()
            .args(["backtest", "examples/ma_cross.strat", "--data-dir"])
            .arg(&dir)
            .output()
            .unwrap()
    };
    let out = backtest();
    let (stdout, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{err}");
    assert!(
        err.contains("only 7 session(s), 2024-01-04 → 2024-01-12"),
        "{err}"
    );

    // More history appended (only the new days requested), then the backtest runs.
    let before = server.total();
    let out = fetch_cmd("2024-05-31").output().unwrap();
    let (stdout, err) = text(&out);
    assert!(out.status.success(), "{stdout}\n{err}");
    assert_eq!(server.requests_for(day(1, 5)), 1);
    assert!(server.total() - before < 110, "{}", server.total() - before);
    let out = backtest();
    let (stdout, err) = text(&out);
    assert!(out.status.success(), "{stdout}\n{err}");
    assert!(
        stdout.contains("tw-fetch (real TWSE/TPEx quotes"),
        "{stdout}"
    );
}

#[test]
fn an_unreachable_host_is_a_connect_error() {
    // A port nobody listens on: connections are refused, as during a TWSE ban.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut opts = options(Feed::Tpex, &Server::start(twse_week), day(1, 5), day(1, 5));
    opts.base_url = format!("http://127.0.0.1:{port}");
    let tmp = tempfile::tempdir().unwrap();
    let e = run(tmp.path(), &opts).unwrap_err();
    let FetchError::Stopped { cause, .. } = &e else {
        panic!("{e}")
    };
    assert!(
        matches!(**cause, FetchError::Connect { attempts: 3, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("banned"), "{e}");
}

// ---- Every feed: quotes, ex-rights events, valuation, chips, margin, revenue ----

/// A loopback server answering by request target (bytes in any encoding); logs every target.
struct Router {
    base: String,
    log: Arc<Mutex<Vec<String>>>,
}

fn router(handler: impl Fn(&str) -> (u16, Vec<u8>) + Send + Sync + 'static) -> Router {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    let log2 = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let text = String::from_utf8_lossy(&req);
            let target = text.split_whitespace().nth(1).unwrap_or("").to_string();
            log2.lock().unwrap().push(target.clone());
            let (status, body) = handler(&target);
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
        }
    });
    Router { base, log }
}

fn fixture_bytes(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fetch")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A query parameter's date (`YYYYMMDD` or `YYYY/MM/DD`) as a day number.
fn param(target: &str, name: &str) -> Option<i32> {
    let q = target.split(&format!("{name}=")).nth(1)?;
    let digits: String = q
        .split('&')
        .next()?
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    (digits.len() == 8).then(|| {
        let n = |a: usize, b: usize| digits[a..b].parse::<u32>().unwrap();
        days_from_civil(n(0, 4) as i32, n(4, 6), n(6, 8))
    })
}

/// The events fixture with only the rows dated inside the range asked.
fn events_between(name: &str, target: &str) -> Vec<u8> {
    let (start, end) = (
        param(target, "startDate").unwrap(),
        param(target, "endDate").unwrap(),
    );
    let mut v: serde_json::Value = serde_json::from_str(&fixture(name)).unwrap();
    let keep = |rows: &mut serde_json::Value| {
        rows.as_array_mut().unwrap().retain(|r| {
            let d = fetch::parse::parse_tw_date(r[0].as_str().unwrap()).unwrap();
            (start..=end).contains(&d)
        })
    };
    if let Some(t) = v.get_mut("tables") {
        keep(&mut t[0]["data"]);
    } else {
        keep(&mut v["data"]);
    }
    v.to_string().into_bytes()
}

/// The whole market for 2024-01-02 → 01-12: every endpoint of every feed. 2024-01-02 answers
/// T86 in its old header, 01-03 the TPEx margin table in shares; `revised` changes a
/// published revenue.
fn market(target: &str, revised: bool) -> (u16, Vec<u8>) {
    let day = param(target, "date").unwrap_or(0);
    let dated = |name: &str| redate(&fixture(name), day).into_bytes();
    let body = if target.contains("/MI_INDEX") {
        trending_day(day).into_bytes()
    } else if target.contains("/dailyQuotes") {
        dated("tpex_daily_quotes.json")
    } else if target.contains("/TWT49U") {
        events_between("twse_twt49u.json", target)
    } else if target.contains("/exDailyQ") {
        events_between("tpex_exdailyq.json", target)
    } else if target.contains("/BWIBBU_d") {
        dated("twse_bwibbu.json")
    } else if target.contains("/peQryDate") {
        dated("tpex_peqrydate.json")
    } else if target.contains("/T86") {
        dated(if day == day_(1, 2) {
            "twse_t86_old.json"
        } else {
            "twse_t86.json"
        })
    } else if target.contains("/insti/dailyTrade") {
        dated("tpex_insti.json")
    } else if target.contains("/MI_MARGN") {
        dated("twse_mi_margn.json")
    } else if target.contains("/margin/balance") {
        dated(if day == day_(1, 3) {
            "tpex_margin_shares.json"
        } else {
            "tpex_margin.json"
        })
    } else if target.contains("/nas/t21/") {
        let page = target.rsplit('/').next().unwrap();
        match page {
            "t21sc03_112_12_0.html" if target.contains("/sii/") => {
                let b = fixture_bytes("mops_sii_0.html");
                if revised {
                    replace(&b, b"1,200,000", b"1,250,000")
                } else {
                    b
                }
            }
            "t21sc03_112_12_1.html" if target.contains("/sii/") => fixture_bytes("mops_sii_1.html"),
            "t21sc03_112_12_0.html" => fixture_bytes("mops_otc_0.html"),
            _ => fixture_bytes("mops_no_data.html"),
        }
    } else {
        return (404, b"not found".to_vec());
    };
    (200, body)
}

fn replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

fn day_(m: u32, d: u32) -> i32 {
    days_from_civil(2024, m, d)
}

fn fast() -> Policy {
    Policy {
        interval: Duration::ZERO,
        backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        retries: 1,
        timeout: Duration::from_secs(10),
    }
}

/// Every feed over 2024-01-02 → `to` into `dir`.
fn fetch_everything(dir: &Path, server: &Router, to: i32) -> Vec<(Feed, FetchSummary)> {
    let base = server.base.clone();
    fetch::fetch_all(
        dir,
        &Feed::ALL,
        day_(1, 2),
        to,
        &|_| base.clone(),
        &fast(),
        &mut |_| {},
    )
    .unwrap()
}

fn at(dir: &DataDir, key: &str, date: i32, code: &str) -> f64 {
    let p = dir.load(key).unwrap_or_else(|e| panic!("{key}: {e}"));
    let r = p
        .dates
        .iter()
        .position(|&d| d == date)
        .unwrap_or_else(|| panic!("{key}: no {}", format(date)));
    let c = p
        .columns
        .iter()
        .position(|c| c == code)
        .unwrap_or_else(|| panic!("{key}: no {code}"));
    p.get(r, c)
}

#[test]
fn every_feed_end_to_end() {
    let server = router(|t| market(t, false));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tw");
    let all = fetch_everything(&dir, &server, day_(1, 12));
    assert_eq!(all.len(), Feed::ALL.len());
    let data = DataDir::open(&dir).unwrap();
    let (d5, d2, d3) = (day_(1, 5), day_(1, 2), day_(1, 3));
    // Valuation: '-', 'N/A' and a TPEx '0' P/E are not computed.
    assert_eq!(at(&data, "price_earning_ratio:本益比", d5, "1234"), 11.94);
    assert!(at(&data, "price_earning_ratio:本益比", d5, "5678").is_nan());
    assert_eq!(
        at(&data, "price_earning_ratio:股價淨值比", d5, "5678"),
        2.94
    );
    assert_eq!(at(&data, "price_earning_ratio:殖利率(%)", d5, "6543"), 2.48);
    assert!(at(&data, "price_earning_ratio:本益比", d5, "6544").is_nan());
    assert!(at(&data, "price_earning_ratio:本益比", d5, "6545").is_nan());
    // Chips in shares, the old T86 header (no dealer split) on 01-02.
    let foreign = "institutional_investors_trading_summary:外陸資買賣超股數(不含外資自營商)";
    let hedge = "institutional_investors_trading_summary:自營商買賣超股數(避險)";
    assert_eq!(at(&data, foreign, d5, "1234"), 200_000.0);
    assert_eq!(at(&data, foreign, d2, "1234"), 200_000.0);
    assert!(at(&data, hedge, d2, "1234").is_nan());
    assert_eq!(at(&data, hedge, d5, "1234"), -5_000.0);
    assert_eq!(at(&data, foreign, d5, "6543"), 15_000.0);
    assert_eq!(at(&data, hedge, d5, "6543"), -2_000.0);
    // Gross foreign and trust flows, under every header (buys − sells = the net buy).
    let flow = |what: &str| format!("institutional_investors_trading_summary:{what}");
    let (fb, fs) = (
        flow("外陸資買進股數(不含外資自營商)"),
        flow("外陸資賣出股數(不含外資自營商)"),
    );
    let (tb, ts) = (flow("投信買進股數"), flow("投信賣出股數"));
    for (d, code, want) in [
        (d5, "1234", [300_000.0, 100_000.0, 50_000.0, 0.0]),
        (d2, "1234", [300_000.0, 100_000.0, 50_000.0, 0.0]),
        (d5, "6543", [20_000.0, 5_000.0, 0.0, 3_000.0]),
    ] {
        let got = [&fb, &fs, &tb, &ts].map(|k| at(&data, k, d, code));
        assert_eq!(got, want, "{code} on {d}");
    }
    // Margin in lots (TPEx's shares-labelled day converted); utilisation from the limit.
    assert_eq!(
        at(&data, "margin_transactions:融資今日餘額", d5, "1234"),
        2_000.0
    );
    assert_eq!(
        at(&data, "margin_transactions:融券今日餘額", d5, "1234"),
        500.0
    );
    assert_eq!(at(&data, "margin_transactions:融資使用率", d5, "1234"), 5.0);
    assert!(at(&data, "margin_transactions:融資使用率", d5, "5678").is_nan());
    assert_eq!(
        at(&data, "margin_transactions:融資今日餘額", d5, "6543"),
        1_050.0
    );
    assert_eq!(
        at(&data, "margin_transactions:融資今日餘額", d3, "6543"),
        1_050.0
    );
    assert_eq!(
        at(&data, "margin_transactions:融券使用率", d3, "6543"),
        0.36
    );
    // Margin flows in lots: MI_MARGN's repeated 買進/賣出 (融資 first, 融券 second), TPEx's
    // 資買/資賣/券賣/券買.
    let margin = |what: &str| format!("margin_transactions:{what}");
    for (d, code, want) in [
        (d5, "1234", [100.0, 50.0, 20.0, 10.0]),
        (d5, "6543", [100.0, 50.0, 10.0, 20.0]),
    ] {
        let got = ["融資買進", "融資賣出", "融券賣出", "融券買進"]
            .map(|k| at(&data, &margin(k), d, code));
        assert_eq!(got, want, "{code} on {d}");
    }
    // Revenue (cp950 pages): month 2023-12 visible on its deadline session 2024-01-10.
    let d10 = day_(1, 10);
    let rev = data.load("monthly_revenue:當月營收").unwrap();
    assert_eq!(rev.dates, vec![d10]);
    assert_eq!(
        at(&data, "monthly_revenue:當月營收", d10, "1234"),
        1_200_000.0
    );
    assert_eq!(at(&data, "monthly_revenue:當月營收", d10, "1357"), 95_000.0);
    assert_eq!(
        at(&data, "monthly_revenue:去年同月增減(%)", d10, "9999"),
        1_150.0
    );
    assert!(at(&data, "monthly_revenue:上月營收", d10, "9999").is_nan());
    assert_eq!(
        at(&data, "monthly_revenue:當月營收", d10, "6543"),
        300_000.0
    );
    let raw = std::fs::read_to_string(dir.join("raw/revenue-sii/20240110.html")).unwrap();
    assert!(raw.contains("丁銹業"), "cp950 F9D7 decoded");
    // Market value from TPEx's shares outstanding.
    assert_eq!(
        at(&data, "etl:market_value", d5, "6543"),
        100_000_000.0 * 101.0
    );
    // Adjustment: each price before an ex-date × reference / previous close.
    let close = |c: &str, d: i32| at(&data, "price:收盤價", d, c);
    let adj = |c: &str, d: i32| at(&data, "etl:adj_close", d, c);
    assert_eq!(adj("1234", day_(1, 8)), close("1234", day_(1, 8)));
    assert_eq!(adj("1234", d5), close("1234", d5) * (9.65 / 10.15));
    assert_eq!(adj("5678", d5), close("5678", d5) * (1131.82 / 1235.0));
    assert_eq!(
        adj("1357", day_(1, 9)),
        close("1357", day_(1, 9)) * (16.36 / 18.0)
    );
    assert_eq!(adj("6543", d5), close("6543", d5) * (98.5 / 101.0));
    assert_eq!(adj("6543", day_(1, 9)), close("6543", day_(1, 9)));
    let banner = data.banner();
    assert!(
        banner.contains("adjusted for dividends and rights") && !banner.contains("NOT"),
        "{banner}"
    );
    let shape = feather::read_shape(&dir.join(feather::file_name("etl:adj_close"))).unwrap();
    assert_eq!(shape.metadata["dsl_engine.adjusted"], "true");
    // Every key loads (validated) and every file matches its digest.
    for k in data.keys().unwrap() {
        data.load(&k).unwrap_or_else(|e| panic!("{k}: {e}"));
    }
    assert!(data.verify().unwrap().passed());

    // More quotes without their events: the banner says NOT adjusted again.
    let base = server.base.clone();
    fetch::fetch_all(
        &dir,
        &[Feed::Twse],
        day_(1, 15),
        day_(1, 16),
        &|_| base.clone(),
        &fast(),
        &mut |_| {},
    )
    .unwrap();
    let data = DataDir::open(&dir).unwrap();
    assert!(data.banner().contains("NOT adjusted"), "{}", data.banner());
    assert!(data.banner().contains("2024-01-15"), "{}", data.banner());
    let gaps = fetch::adjustment_gaps(&fetch::read_state(&dir).unwrap());
    assert_eq!(gaps.len(), 1, "{gaps:?}");
}

/// For every fetched key, a fetch that stops at a date shows, up to that date, exactly what a
/// longer fetch shows (adjusted prices: the same returns; their level moves with later events).
#[test]
fn fetched_keys_are_point_in_time() {
    let server = router(|t| market(t, false));
    let tmp = tempfile::tempdir().unwrap();
    let full = tmp.path().join("full");
    fetch_everything(&full, &server, day_(1, 12));
    let full = DataDir::open(&full).unwrap();
    for cutoff in [day_(1, 3), day_(1, 8), day_(1, 10)] {
        let cut = tmp.path().join(format!("cut{cutoff}"));
        fetch_everything(&cut, &server, cutoff);
        let cut = DataDir::open(&cut).unwrap();
        for key in full.keys().unwrap() {
            let a = full.load(&key).unwrap();
            let rows: Vec<usize> = (0..a.dates.len())
                .filter(|&r| a.dates[r] <= cutoff)
                .collect();
            if rows.is_empty() {
                continue;
            }
            let b = cut
                .load(&key)
                .unwrap_or_else(|e| panic!("{key} at {}: {e}", format(cutoff)));
            let b_rows: Vec<usize> = (0..b.dates.len())
                .filter(|&r| b.dates[r] <= cutoff)
                .collect();
            assert_eq!(b_rows.len(), rows.len(), "{key} at {}", format(cutoff));
            for (c, code) in a.columns.iter().enumerate() {
                let bc = b.columns.iter().position(|x| x == code);
                let series = |p: &dsl_runtime::wire::PanelData,
                              col: Option<usize>,
                              rs: &[usize]|
                 -> Vec<f64> {
                    rs.iter()
                        .map(|&r| col.map_or(f64::NAN, |c| p.get(r, c)))
                        .collect()
                };
                let (va, vb) = (series(&a, Some(c), &rows), series(&b, bc, &b_rows));
                let same = |x: f64, y: f64| (x.is_nan() && y.is_nan()) || x == y;
                if key.starts_with("etl:adj_") {
                    let ret = |v: &[f64]| v.windows(2).map(|w| w[1] / w[0]).collect::<Vec<_>>();
                    for (x, y) in ret(&va).into_iter().zip(ret(&vb)) {
                        assert!(
                            same(x, y) || (x - y).abs() < 1e-12,
                            "{key} {code} at {}",
                            format(cutoff)
                        );
                    }
                } else {
                    for (x, y) in va.iter().zip(&vb) {
                        assert!(
                            same(*x, *y),
                            "{key} {code} at {}: {x} vs {y}",
                            format(cutoff)
                        );
                    }
                }
            }
        }
    }
}

/// A revised revenue never replaces the first published value.
#[test]
fn revenue_revisions_keep_the_first_published_value() {
    let revised = Arc::new(AtomicBool::new(false));
    let flag = revised.clone();
    let server = router(move |t| market(t, flag.load(Ordering::SeqCst)));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tw");
    let base = server.base.clone();
    let rev = [Feed::RevenueSii];
    let get = |dir: &Path| {
        fetch::fetch_all(
            dir,
            &rev,
            day_(1, 2),
            day_(1, 12),
            &|_| base.clone(),
            &fast(),
            &mut |_| {},
        )
        .unwrap()
    };
    get(&dir);
    // Forget the month (as a re-fetch from scratch of the pages would) and serve a revision.
    revised.store(true, Ordering::SeqCst);
    std::fs::remove_file(dir.join("raw/revenue-sii/20240110.html")).unwrap();
    let state_path = dir.join(fetch::STATE_FILE);
    let mut state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_path).unwrap()).unwrap();
    state["feeds"]["revenue-sii"]["merged"] = serde_json::json!([]);
    std::fs::write(&state_path, state.to_string()).unwrap();
    get(&dir);
    assert!(server.log.lock().unwrap().len() >= 2);
    let data = DataDir::open(&dir).unwrap();
    assert_eq!(
        at(&data, "monthly_revenue:當月營收", day_(1, 10), "1234"),
        1_200_000.0
    );
}

/// The importer's adjustment, given the synthetic model's raw prices and ex-rights events,
/// gives the model's own `etl:adj_*` back.
#[test]
fn synthetic_dividends_adjust_back_to_the_synthetic_adjusted_prices() {
    use dsl_engine::data::synth::{generate_events, SynthConfig};
    let cfg = SynthConfig {
        stocks: Some(80),
        start: days_from_civil(2019, 1, 1),
        end: days_from_civil(2023, 12, 31),
        ..SynthConfig::default()
    };
    let (panels, events) = generate_events(&cfg, 2, &mut |_, _| {}).unwrap();
    assert!(events.len() > 100, "{} events", events.len());
    let actions: Vec<fetch::Action> = events
        .iter()
        .map(|(code, d, prev, reference)| fetch::Action {
            code: code.clone(),
            date: format(*d),
            prev_close: *prev,
            reference: *reference,
            kind: String::new(),
        })
        .collect();
    let get = |k: &str| panels.iter().find(|p| p.name == k).unwrap();
    for (adj_key, raw_key) in [
        ("etl:adj_close", "price:收盤價"),
        ("etl:adj_open", "price:開盤價"),
        ("etl:adj_high", "price:最高價"),
        ("etl:adj_low", "price:最低價"),
    ] {
        let ours = fetch::adjust(get(raw_key), &actions);
        let theirs = get(adj_key);
        let mut compared = 0;
        for (a, b) in ours.values.iter().zip(&theirs.values) {
            if b.is_nan() {
                assert!(a.is_nan());
                continue;
            }
            assert!((a - b).abs() <= 1e-12 * b.abs(), "{adj_key}: {a} vs {b}");
            compared += 1;
        }
        assert!(compared > 10_000);
    }
}

/// `data fetch all` through the binary: every feed, one progress count, a summary line per
/// feed; `data list` names each key's source and coverage and the banner says the
/// prices are adjusted; a rerun asks for nothing.
#[test]
fn cli_fetch_all_and_list() {
    let server = router(|t| {
        // Enough sessions for a 20-day strategy: every weekday of 2024-01/02 is a session.
        market(t, false)
    });
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tw");
    let fetch_all = || {
        let mut c = engine();
        for var in [
            "DSL_TWSE_BASE_URL",
            "DSL_TPEX_BASE_URL",
            "DSL_MOPS_BASE_URL",
        ] {
            c.env(var, &server.base);
        }
        c.args([
            "data",
            "fetch",
            "all",
            "--from",
            "2024-01-02",
            "--to",
            "2024-01-12",
        ])
        .args(["--interval", "0", "--backoff", "0.001", "--data-dir"])
        .arg(&dir)
        .output()
        .unwrap()
    };
    let out = fetch_all();
    let (stdout, err) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{stdout}\n{err}");
    for feed in Feed::ALL {
        assert!(
            stdout.contains(&format!("{}: requested", feed.name())),
            "{stdout}"
        );
    }
    assert!(
        stdout.contains("twse-actions: requested 1 month(s)"),
        "{stdout}"
    );
    assert!(!err.contains("UNADJUSTED"), "{err}");
    let requests = server.log.lock().unwrap().len();
    let out = fetch_all();
    assert!(out.status.success());
    assert_eq!(
        server.log.lock().unwrap().len(),
        requests,
        "a rerun asks for nothing"
    );

    let out = engine()
        .args(["data", "list", "--data-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{list}");
    let line = |key: &str| {
        list.lines()
            .find(|l| l.contains(&format!(" {key}")))
            .unwrap_or_else(|| panic!("{key} not listed:\n{list}"))
            .to_string()
    };
    let pe = line("price_earning_ratio:本益比");
    assert!(
        pe.contains("TWSE BWIBBU_d") && pe.contains("TPEx peQryDate"),
        "{list}"
    );
    let adj = line("etl:adj_close");
    assert!(
        adj.contains("TWSE TWT49U") && adj.contains("TPEx exDailyQ"),
        "{list}"
    );
    assert!(
        line("monthly_revenue:當月營收").contains("MOPS t21sc03"),
        "{list}"
    );
    assert!(
        line("monthly_revenue:當月營收").contains("2024-01-10 → 2024-01-10"),
        "{list}"
    );
    assert!(
        line("price:收盤價").contains("2024-01-02 → 2024-01-12"),
        "{list}"
    );
    assert!(list.contains("adjusted for dividends and rights"), "{list}");

    // Six more weeks of everything, then a strategy reading valuation, chips and the adjusted
    // close runs on it (every panel validated and digest-checked on the way).
    let mut c = engine();
    for var in [
        "DSL_TWSE_BASE_URL",
        "DSL_TPEX_BASE_URL",
        "DSL_MOPS_BASE_URL",
    ] {
        c.env(var, &server.base);
    }
    let out = c
        .args([
            "data",
            "fetch",
            "all",
            "--from",
            "2024-01-02",
            "--to",
            "2024-02-29",
        ])
        .args(["--interval", "0", "--backoff", "0.001", "--data-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let strategy = tmp.path().join("value.strat");
    std::fs::write(
        &strategy,
        "from finlab import data\nfrom finlab.backtest import sim\n\
         close = data.get(\"etl:adj_close\")\n\
         pe = data.get(\"price_earning_ratio:本益比\")\n\
         foreign = data.get(\"institutional_investors_trading_summary:外陸資買賣超股數(不含外資自營商)\")\n\
         position = (close > close.average(5)) & (pe < 30) & (foreign > 0)\n\
         sim(position, resample=\"W\")\n",
    )
    .unwrap();
    let out = engine()
        .arg("backtest")
        .arg(&strategy)
        .arg("--data-dir")
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("etl:adj_* adjusted for dividends and rights"),
        "{stdout}"
    );
}
