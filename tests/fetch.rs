//! `data fetch` against a real HTTP server on loopback serving hand-written fixtures in the
//! feeds' exact formats (`tests/fixtures/fetch/`): a normal day, a closed day, malformed rows,
//! rate limiting, an error page, a changed header, resuming after a failure, and the CLI end to
//! end (fetch, then backtest on the fetched directory).

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
