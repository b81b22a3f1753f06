//! The iterate loop end to end: the LLM proposer against a real HTTP server on loopback that
//! plays scripted replies (normal, prose around the code, 429 then success, 500 then success, a
//! timeout, `import os` through the repair rounds to the fallback, an empty reply, a 401), the
//! offline evolve proposer, `--resume` over a truncated ledger, and the CLI with its exports.

// Test and benchmark code: an unwrap fails the run, and printing is the report.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use assert_cmd::Command;
use dsl_engine::data::{feather, DataDir, CALENDAR_KEY};
use dsl_engine::iterate::prompts::Templates;
use dsl_engine::iterate::run::{Ended, Silent};
use dsl_engine::iterate::{
    EvolveProposer, Gates, Ledger, LlmProposer, Objective, RunSettings, Runner, Split, Status,
    Stop, Trial, FALLBACK,
};
use dsl_engine::llm::{Client, LlmConfig};
use dsl_engine::sandbox::{Limits, Sandbox};
use serde_json::{json, Value};

const GOOD: &str = "from finlab import data\nfrom finlab.backtest import sim\n\n\
close = data.get(\"price:收盤價\")\n\
position = (close / close.shift(20)).is_largest(10)\n\
sim(position, resample=\"M\")\n";

const IMPORT_OS: &str = "import os\nfrom finlab import data\nfrom finlab.backtest import sim\n\
close = data.get(\"price:收盤價\")\nsim(close > close.average(20))\n";

/// One scripted answer of the fake endpoint.
#[derive(Clone)]
enum Reply {
    /// 200 with this message content.
    Content(String),
    /// An error status with a body (and a `Retry-After` of 0 for 429).
    Status(u16),
    /// Say nothing for this long (longer than the client's timeout).
    Hang(Duration),
    /// This status and body as they are (extra header lines in the middle).
    Raw(u16, String, &'static str),
}

fn completion(content: &str) -> String {
    json!({
        "id": "x",
        "model": "scripted-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 100, "cost": 0.001}
    })
    .to_string()
}

/// Reads one HTTP/1.1 request and returns its request line and body.
fn read_request(stream: &mut std::net::TcpStream) -> Option<(String, String)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut length = 0usize;
    let mut first = String::new();
    reader.read_line(&mut first).ok()?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((first.trim_end().to_string(), String::from_utf8(body).ok()?))
}

/// A loopback server answering each chat request with the next scripted reply; returns its
/// base URL and the request bodies it received.
fn serve(script: Vec<Reply>) -> (String, Arc<Mutex<Vec<Value>>>) {
    serve_as("scripted", script)
}

/// [`serve`], answering `GET /v1/models` (outside the script) with one model `owned_by` this
/// server (`llamacpp` or `vllm` make `--constrain auto` send their grammar).
fn serve_as(owner: &'static str, script: Vec<Reply>) -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let script = Arc::new(Mutex::new(VecDeque::from(script)));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let script = script.clone();
            let seen = seen2.clone();
            std::thread::spawn(move || {
                let Some((line, body)) = read_request(&mut stream) else {
                    return;
                };
                if line.starts_with("GET ") {
                    let models = json!({"object": "list", "data": [
                        {"id": "scripted-model", "object": "model", "owned_by": owner}
                    ]})
                    .to_string();
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{models}",
                        models.len()
                    );
                    return;
                }
                seen.lock()
                    .unwrap()
                    .push(serde_json::from_str(&body).unwrap_or(Value::Null));
                let reply = script.lock().unwrap().pop_front();
                let (status, extra, text) = match reply {
                    Some(Reply::Content(c)) => (200, "", completion(&c)),
                    Some(Reply::Status(429)) => {
                        (429, "Retry-After: 0\r\n", r#"{"error":"slow down"}"#.into())
                    }
                    Some(Reply::Status(s)) => (s, "", format!(r#"{{"error":"status {s}"}}"#)),
                    Some(Reply::Hang(d)) => {
                        std::thread::sleep(d);
                        return;
                    }
                    Some(Reply::Raw(status, body, extra)) => (status, extra, body),
                    None => (500, "", r#"{"error":"script exhausted"}"#.into()),
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{extra}\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
            });
        }
    });
    (url, seen)
}

fn sandbox() -> Sandbox {
    Sandbox::new(Limits::default(), Some(&common::cache_dir())).unwrap()
}

fn split(data: &DataDir) -> Split {
    let sessions =
        feather::read_dates_only(&data.path.join(feather::file_name(CALENDAR_KEY))).unwrap();
    // The test market is 5 years: each later window is capped at a quarter of it.
    Split::new(&sessions, 2.0, 2.0)
}

fn settings(n: u32) -> RunSettings {
    RunSettings {
        iterations: n,
        objective: Objective::Sharpe,
        max_repairs: 2,
        gates: Gates::default(),
        jobs: 1,
    }
}

fn llm_proposer(
    url: &str,
    rt: &tokio::runtime::Runtime,
    data: &DataDir,
    stop: Stop,
) -> LlmProposer {
    let client = Client::new(LlmConfig {
        base_url: url.into(),
        model: "scripted-model".into(),
        api_key: Some("test-key".into()),
        timeout: Duration::from_millis(400),
        max_retries: 2,
        backoff: Duration::from_millis(10),
        ..LlmConfig::default()
    })
    .unwrap();
    let keys = data.keys().ok();
    LlmProposer::new(
        client,
        rt.handle().clone(),
        Templates::load(None).unwrap(),
        keys.as_deref(),
        &data.banner(),
        Objective::Sharpe,
        stop,
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn ledger(dir: &Path) -> Vec<Trial> {
    Ledger::open(dir).unwrap().trials
}

#[test]
fn a_misbehaving_endpoint_is_retried_capped_and_every_attempt_is_kept() {
    let data = common::data_dir();
    let sb = sandbox();
    let huge = format!("```python\n{}{IMPORT_OS}```", "# padding\n".repeat(30_000));
    let script = vec![
        // The proposal: 200 replies that are not completions are transient, then refused code.
        Reply::Raw(
            200,
            r#"{"error":{"message":"upstream failed","code":502}}"#.into(),
            "",
        ),
        Reply::Raw(200, r#"{"choices":[]}"#.into(), ""),
        Reply::Content(format!("```python\n{IMPORT_OS}```")),
        // Repair 1: cut JSON and an HTML page, then a 300 KB reply (too large a strategy).
        Reply::Raw(200, r#"{"choices":[{"message":{"cont"#.into(), ""),
        Reply::Raw(200, "<html><body>502 Bad Gateway</body></html>".into(), ""),
        Reply::Content(huge),
        // Repair 2: a 2 MB body is not read, then the good strategy.
        Reply::Raw(200, completion(&"x".repeat(2 << 20)), ""),
        Reply::Content(format!("```python\n{GOOD}```")),
    ];
    let (url, requests) = serve(script);
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let stop = Stop::new();
    let mut proposer = llm_proposer(&url, &rt, &data, stop.clone());
    let mut runner = Runner::new(dir.path(), &data, &sb, split(&data), settings(1), stop).unwrap();
    let ended = runner.run(&mut proposer, &mut Silent).unwrap();
    assert_eq!(ended, Ended::Done);
    let t = ledger(dir.path());
    assert_eq!(t.len(), 1);
    let t = &t[0];
    assert_eq!((t.status, t.repairs), (Some(Status::Ok), 2), "{t:#?}");
    assert_eq!(t.llm_attempts, 8, "{t:#?}");
    assert_eq!(t.llm_retries.len(), 5, "{:#?}", t.llm_retries);
    // Both refused proposals are kept, with why they were refused.
    assert_eq!(t.refused.len(), 2, "{:#?}", t.refused);
    assert!(t.refused[0].code.as_deref().unwrap().contains("import os"));
    assert!(t.refused[0]
        .diagnostics
        .iter()
        .any(|d| d.contains("import")));
    assert!(
        t.refused[1].diagnostics.iter().any(|d| d.contains("bytes")),
        "{:#?}",
        t.refused[1]
    );
    assert!(t.code.as_deref().unwrap().contains("is_largest(10)"));
    // What was sent back stayed small although the model wrote 300 KB.
    let sent = requests.lock().unwrap();
    assert_eq!(sent.len(), 8);
    let last = sent[7].to_string().len();
    assert!(last < 80_000, "the last request is {last} bytes");
}

#[test]
fn scripted_endpoint_gives_the_right_ledger_entries() {
    let data = common::data_dir();
    let sb = sandbox();
    let prose =
        format!("Here is a momentum idea.\n\n```python\n{GOOD}```\n\nIt buys the strongest names.");
    let script = vec![
        // 1: a normal reply (a bare ``` fence)
        Reply::Content(format!("```\n{GOOD}```")),
        // 2: prose around the code
        Reply::Content(prose.clone()),
        // 3: 429, then success
        Reply::Status(429),
        Reply::Content(prose.clone()),
        // 4: 500, then success
        Reply::Status(500),
        Reply::Content(prose.clone()),
        // 5: a timeout, then success
        Reply::Hang(Duration::from_millis(1500)),
        Reply::Content(prose.clone()),
        // 6: `import os` three times: two repair rounds, then the fallback
        Reply::Content(format!("```python\n{IMPORT_OS}```")),
        Reply::Content(format!("```python\n{IMPORT_OS}```")),
        Reply::Content(format!("```python\n{IMPORT_OS}```")),
        // 7: an empty reply, repaired
        Reply::Content(String::new()),
        Reply::Content(prose),
        // 8: a bad key ends the run
        Reply::Status(401),
    ];
    let (url, requests) = serve(script);
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let stop = Stop::new();
    let mut proposer = llm_proposer(&url, &rt, &data, stop.clone());
    assert!(proposer.system_prompt().contains("`price:收盤價`"));
    assert!(proposer.system_prompt().contains(".is_largest(n)"));
    let mut runner = Runner::new(dir.path(), &data, &sb, split(&data), settings(10), stop).unwrap();
    let ended = runner.run(&mut proposer, &mut Silent).unwrap();
    match &ended {
        Ended::Failed(m) => assert!(m.contains("401") && m.contains("API key"), "{m}"),
        other => panic!("the 401 should end the run: {other:?}"),
    }

    let t = ledger(dir.path());
    assert_eq!(t.len(), 8, "{t:#?}");
    let status: Vec<Status> = t.iter().map(|t| t.status.unwrap()).collect();
    use Status::*;
    // The same strategy again is a canonical duplicate: recorded, not run again.
    assert_eq!(
        status,
        [Ok, Duplicate, Duplicate, Duplicate, Duplicate, Fallback, Duplicate, LlmError]
    );
    for (i, trial) in t.iter().enumerate() {
        assert_eq!(trial.iteration, i as u32 + 1);
        assert_eq!(trial.proposer, "llm");
        assert_eq!(trial.model.as_deref(), Some("scripted-model"));
        assert!(trial.prompt_hash.is_some() || trial.status == Some(LlmError));
        assert!(!trial.started_at.is_empty() && !trial.finished_at.is_empty());
    }
    let first = &t[0];
    assert!(first.in_sample.as_ref().unwrap().sharpe.is_some());
    assert!(first.validation.as_ref().unwrap().sharpe.is_some());
    assert!(first.fuel_used.unwrap() > 0);
    assert!(first.feedback.contains("Diagnosis:") && first.feedback.contains("Hint:"));
    for dup in [1, 2, 3, 4, 6] {
        let trial = &t[dup];
        assert!(trial.code.as_deref().unwrap().contains("is_largest(10)"));
        assert_eq!(
            trial.code_hash, first.code_hash,
            "same strategy, same canonical hash"
        );
        assert_eq!(trial.duplicate_of, Some(1));
        assert!(trial.in_sample.is_none() && trial.fuel_used.is_none());
        assert!(
            trial.feedback.contains("same strategy as trial #1"),
            "#{dup}: {}",
            trial.feedback
        );
    }
    // The sidecar holds the evaluated trials' returns, none from the sealed holdout.
    let returns = dsl_engine::iterate::returns::Returns::open(dir.path()).unwrap();
    let evaluated: Vec<u32> = returns.series.keys().copied().collect();
    assert_eq!(evaluated, [1, 6]);
    let sp = split(&data);
    assert!(returns.series[&1].iter().all(|p| p.0 <= sp.validation_end));
    assert_eq!((t[0].llm_calls, t[0].llm_attempts), (1, 1));
    let call = &t[0].llm_call_log[0];
    assert_eq!(call.purpose, "propose");
    assert_eq!(call.model.as_deref(), Some("scripted-model"));
    assert_eq!((call.prompt_tokens, call.completion_tokens), (1000, 100));
    assert!(call.ms > 0.0 && call.error.is_none());
    assert_eq!(t[0].tokens.prompt_tokens, 1000);
    assert_eq!(t[0].cost_usd, Some(0.001));
    // Retried failures are counted and explained.
    assert_eq!(t[2].llm_attempts, 2);
    assert!(
        t[2].llm_retries[0].contains("429"),
        "{:?}",
        t[2].llm_retries
    );
    assert_eq!(t[3].llm_attempts, 2);
    assert!(t[3].llm_retries[0].contains("HTTP 500"));
    assert_eq!(t[4].llm_attempts, 2);
    assert!(
        t[4].llm_retries[0].contains("no reply"),
        "{:?}",
        t[4].llm_retries
    );
    // `import os`: two repairs carrying the diagnostic, then the fallback, logged as such.
    let f = &t[5];
    assert_eq!(f.repairs, 2);
    assert_eq!(f.llm_calls, 3);
    let purposes: Vec<&str> = f.llm_call_log.iter().map(|c| c.purpose.as_str()).collect();
    assert_eq!(purposes, ["propose", "repair", "repair"]);
    assert_eq!(f.tokens.prompt_tokens, 3000);
    assert!((f.cost_usd.unwrap() - 0.003).abs() < 1e-12);
    assert_eq!(f.code.as_deref(), Some(FALLBACK));
    assert!(f.rejected_code.as_deref().unwrap().contains("import os"));
    assert!(
        f.diagnostics.iter().any(|d| d.contains("forbidden-import")),
        "{:?}",
        f.diagnostics
    );
    assert!(f.feedback.contains("template RSI strategy ran instead"));
    assert!(f.in_sample.is_some());
    // The empty reply was repaired.
    assert_eq!((t[6].repairs, t[6].llm_calls), (1, 2));
    // The 401: no retry, a clear message.
    assert_eq!(t[7].llm_attempts, 1);
    assert!(t[7].llm_call_log[0]
        .error
        .as_deref()
        .unwrap()
        .contains("401"));
    assert!(t[7]
        .error
        .as_deref()
        .unwrap()
        .contains("OPENROUTER_API_KEY"));

    let requests = requests.lock().unwrap();
    // 1 + 1 + 2 + 2 + 2 (the hung one) + 3 + 2 + 1
    assert_eq!(requests.len(), 14);
    let body = &requests[0];
    assert_eq!(body["model"], "scripted-model");
    assert_eq!(body["temperature"], 0.3);
    assert_eq!(body["messages"][0]["role"], "system");
    // The repair request continues the conversation with the checker's diagnostic.
    let repair = &requests[9]["messages"];
    let last = repair.as_array().unwrap().last().unwrap()["content"]
        .as_str()
        .unwrap();
    assert!(
        last.contains("forbidden-import") && last.contains("import os"),
        "{last}"
    );
    // The history shown to the model has in-sample figures only.
    let later = requests[13]["messages"][1]["content"].as_str().unwrap();
    assert!(
        later.contains("#1 [ok]") && later.contains("#6 [fallback]"),
        "{later}"
    );
    assert!(!later.to_lowercase().contains("holdout sharpe"));
}

#[test]
fn evolve_runs_offline_and_resumes_over_a_truncated_ledger() {
    let data = common::data_dir();
    let sb = sandbox();
    let dir = tempfile::tempdir().unwrap();
    let run = |n: u32| {
        let mut runner = Runner::new(
            dir.path(),
            &data,
            &sb,
            split(&data),
            settings(n),
            Stop::new(),
        )
        .unwrap();
        let mut p = EvolveProposer::new(runner.ctx.clone(), 7);
        runner.run(&mut p, &mut Silent).unwrap()
    };
    assert_eq!(run(3), Ended::Done);
    let first = ledger(dir.path());
    assert_eq!(first.len(), 3);
    let ran = first.iter().filter(|t| t.in_sample.is_some()).count();
    assert!(ran >= 2, "{first:#?}");
    for t in &first {
        assert_eq!(t.proposer, "evolve");
        assert!(t.note.as_deref().is_some_and(|n| !n.is_empty()));
        assert_eq!(t.llm_calls, 0);
    }

    // Kill mid-write: half of a fourth line.
    let path = dir.path().join("iterations.jsonl");
    let mut text = std::fs::read_to_string(&path).unwrap();
    let partial = serde_json::to_string(&first[0]).unwrap();
    text.push_str(&partial[..partial.len() / 3]);
    std::fs::write(&path, text).unwrap();

    assert_eq!(run(5), Ended::Done);
    let all = ledger(dir.path());
    let iterations: Vec<u32> = all.iter().map(|t| t.iteration).collect();
    assert_eq!(iterations, [1, 2, 3, 4, 5]);
    assert_eq!(all[..3], first[..]);
    // The resumed search does not repeat a strategy.
    let mut hashes: Vec<&str> = all.iter().filter_map(|t| t.code_hash.as_deref()).collect();
    hashes.sort();
    hashes.dedup();
    assert_eq!(hashes.len(), 5);
}

/// A trial without what depends on the clock or the thread it ran on: timings, and the fuel
/// and memory figures, which depend on what the warm sandbox session ran before.
fn outcome(t: &Trial) -> Trial {
    Trial {
        started_at: String::new(),
        finished_at: String::new(),
        durations: Default::default(),
        fuel_used: None,
        peak_memory_bytes: None,
        ..t.clone()
    }
}

#[test]
fn evolve_ledger_is_the_same_whatever_jobs_and_interruptions() {
    let data = common::data_dir();
    let sb = sandbox();
    let run = |dir: &Path, n: u32, jobs: usize| {
        let mut runner = Runner::new(
            dir,
            &data,
            &sb,
            split(&data),
            RunSettings {
                jobs,
                ..settings(n)
            },
            Stop::new(),
        )
        .unwrap();
        let mut p = EvolveProposer::new(runner.ctx.clone(), 11);
        assert_eq!(runner.run(&mut p, &mut Silent).unwrap(), Ended::Done);
        ledger(dir).iter().map(outcome).collect::<Vec<_>>()
    };
    let (one, two, cut) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let serial = run(one.path(), 6, 1);
    let parallel = run(two.path(), 6, 2);
    assert_eq!(serial.len(), 6);
    assert!(serial.iter().filter(|t| t.in_sample.is_some()).count() >= 3);
    assert_eq!(serial, parallel);
    // Stopped in the middle of a round (after 2 of its 4 trials), then resumed with 2 jobs.
    run(cut.path(), 2, 1);
    assert_eq!(run(cut.path(), 6, 2), serial);
}

fn engine() -> Command {
    let data = common::data_dir();
    let mut cmd = Command::cargo_bin("dsl-engine").unwrap();
    cmd.env("DSL_ENGINE_CACHE_DIR", common::cache_dir())
        .env("DSL_ENGINE_DATA_DIR", &data.path)
        .env_remove("OPENROUTER_API_KEY")
        .env_remove("DSL_ENGINE_LLM_API_KEY")
        .env_remove("DSL_ENGINE_LLM_BASE_URL")
        .env_remove("DSL_ENGINE_LLM_MODEL");
    cmd
}

fn check_exports(run_dir: &Path, trials: usize) -> Value {
    let ledger = std::fs::read_to_string(run_dir.join("iterations.jsonl")).unwrap();
    let mut events = 0;
    for line in ledger.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if v["event"] == "holdout_unsealed" {
            events += 1;
        } else {
            assert!(v["iteration"].as_u64().is_some() && v["status"].is_string());
        }
    }
    assert_eq!(ledger.lines().count() - events, trials);
    assert!(events <= 1);
    let strat = std::fs::read_to_string(run_dir.join("best_strategy.strat")).unwrap();
    assert!(strat.starts_with("# Promoted from"), "{strat}");
    assert!(strat.contains("# Verdict: "), "{strat}");
    let out = engine()
        .args([
            "check",
            run_dir.join("best_strategy.strat").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let py = std::fs::read_to_string(run_dir.join("best_strategy.py")).unwrap();
    assert!(py.contains("report = sim("), "{py}");
    assert!(std::fs::read_to_string(run_dir.join("run.log"))
        .unwrap()
        .contains("proposer:"));
    serde_json::from_str(&std::fs::read_to_string(run_dir.join("summary.json")).unwrap()).unwrap()
}

/// A strategy as a grammar-constrained model writes it: the code alone, no fence.
const CONSTRAINED: &str = "from finlab import data\nfrom finlab.backtest import sim\n\n\
close = data.get(\"price:收盤價\")\n\
position = (close / close.shift(60)).is_largest(10)\n\n\
sim(position, resample=\"M\")\n";

#[test]
fn a_constrained_run_sends_the_servers_grammar_and_records_it() {
    for (owner, format) in [("llamacpp", "gbnf"), ("vllm", "lark")] {
        let (url, requests) = serve_as(owner, vec![Reply::Content(CONSTRAINED.into()); 2]);
        let dir = tempfile::tempdir().unwrap();
        let rd = dir.path().join("run");
        let rd = rd.to_str().unwrap();
        let out = engine()
            .args(["iterate", "-n", "2", "--quiet", "--base-url", &url])
            .args(["--model", "scripted-model", "--run-dir", rd])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains(&format!("grammar: {format}, auto: ")),
            "{stdout}"
        );
        let sent = requests.lock().unwrap().clone();
        assert_eq!(sent.len(), 2);
        for body in &sent {
            let text = match format {
                "gbnf" => {
                    assert!(body.get("structured_outputs").is_none());
                    body["grammar"].as_str().unwrap().to_string()
                }
                _ => {
                    assert!(body.get("grammar").is_none());
                    assert_eq!(
                        body["guided_grammar"],
                        body["structured_outputs"]["grammar"]
                    );
                    body["structured_outputs"]["grammar"]
                        .as_str()
                        .unwrap()
                        .to_string()
                }
            };
            // The grammar of this data set, generated for the run.
            let expected = Command::cargo_bin("dsl-engine")
                .unwrap()
                .args(["grammar", "--format", format, "--data-dir"])
                .arg(&common::data_dir().path)
                .output()
                .unwrap();
            assert_eq!(text, String::from_utf8_lossy(&expected.stdout));
            assert!(text.contains("\"price:收盤價\"") && text.contains("\"is_largest\""));
            assert_eq!(body["max_tokens"], 4096);
            // The constrained prompt: the code alone, no reference to what the grammar enforces.
            let system = body["messages"][0]["content"].as_str().unwrap();
            assert!(
                system.contains("reply with the strategy's code"),
                "{system}"
            );
            assert!(!system.contains("Diagnostic codes") && !system.contains("```python block"));
        }
        let t = ledger(Path::new(rd));
        assert_eq!(t[0].status, Some(Status::Ok), "{:?}", t[0]);
        assert_eq!(
            t[0].code.as_deref(),
            Some(CONSTRAINED),
            "the whole reply is the code"
        );
        for trial in &t {
            let g = trial.llm_call_log[0].grammar.map(|g| g.as_str());
            assert_eq!(g, Some(format));
        }
        let run: Value =
            serde_json::from_str(&std::fs::read_to_string(Path::new(rd).join("run.json")).unwrap())
                .unwrap();
        assert_eq!(run["constrain"], format);
        // A resumed run keeps its grammar: asking for another is refused, naming the flag.
        let other = if format == "gbnf" { "lark" } else { "gbnf" };
        let out = engine()
            .args(["iterate", "--resume", rd, "-n", "3", "--constrain", other])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "--constrain {other} differs from this run's {format}"
            )),
            "{stderr}"
        );
    }
}

#[test]
fn cli_llm_run_of_ten_iterations_writes_ten_lines_and_the_exports() {
    let (url, requests) = serve(vec![Reply::Content(format!("```python\n{GOOD}```")); 10]);
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let out = engine()
        .args([
            "iterate",
            "--quiet",
            "--base-url",
            &url,
            "--model",
            "scripted-model",
        ])
        .args(["--api-key", "k", "--run-dir", run_dir.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout
            .lines()
            .next()
            .unwrap()
            .starts_with("proposer: llm (scripted-model"),
        "{stdout}"
    );
    assert!(
        stdout.contains("10 trial(s): 9 duplicate, 1 ok"),
        "{stdout}"
    );
    assert!(stdout.contains("split: in-sample"), "{stdout}");
    assert!(stdout.contains("sealed holdout"), "{stdout}");
    assert!(stdout.contains("verdict: "), "{stdout}");
    assert_eq!(requests.lock().unwrap().len(), 10);
    // An endpoint that is neither llama.cpp nor vLLM gets no grammar (`--constrain auto`).
    assert!(
        stdout.contains("grammar: none, auto: GET /models names neither"),
        "{stdout}"
    );
    for body in requests.lock().unwrap().iter() {
        assert!(body.get("grammar").is_none() && body.get("structured_outputs").is_none());
    }
    let summary = check_exports(&run_dir, 10);
    assert_eq!(summary["proposer"], "llm");
    assert_eq!(summary["status"]["ok"], 1);
    assert_eq!(summary["status"]["duplicate"], 9);
    assert!(summary["split"]["validation"].is_array(), "{summary}");
    assert!(
        summary["rigor"]["effective"]["deflated"]["dsr"].is_number(),
        "{summary}"
    );
    assert_eq!(summary["rigor"]["clusters"], 1, "{summary}");
    assert_eq!(summary["rigor"]["trials_with_returns"], 1, "{summary}");
    assert!(summary["rigor"]["verdict"]["text"].is_string(), "{summary}");
    assert_eq!(summary["prompt_tokens"], 10_000);
    assert!(
        summary["rigor"]["holdout"]["sharpe"].is_number(),
        "{summary}"
    );
}

#[test]
fn cli_defaults_to_evolve_without_a_key_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let rd = run_dir.to_str().unwrap();
    // Without a holdout the run can be extended (a run whose holdout was unsealed cannot).
    let out = engine()
        .args(["iterate", "-n", "2", "--holdout", "0", "--run-dir", rd])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("proposer: evolve (offline"), "{stdout}");
    check_exports(&run_dir, 2);
    let out = engine()
        .args(["iterate", "--resume", rd, "-n", "3", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // With --json, stdout is exactly one JSON document; the notes go to stderr.
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert_eq!(doc["trials"], 3);
    assert_eq!(doc["holdout_state"]["state"], "off");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("(resumed)"), "{stderr}");
    let summary = check_exports(&run_dir, 3);
    assert_eq!(summary["trials"], 3);
}

fn run_json(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("run.json")).unwrap()
}

#[test]
fn a_run_keeps_its_settings_and_a_fork_records_its_parent() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let rd = run_dir.to_str().unwrap();
    let out = engine()
        .args([
            "iterate",
            "-n",
            "2",
            "--holdout",
            "0",
            "--quiet",
            "--run-dir",
            rd,
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let before = run_json(&run_dir);
    let config: Value = serde_json::from_str(&before).unwrap();
    assert!(config["data_digest"].is_string(), "{config}");
    let other = tempfile::tempdir().unwrap();
    for (flags, named) in [
        (vec!["--run-dir", rd, "--seed", "7"], "--seed 7"),
        (vec!["--resume", rd, "--seed", "7"], "--seed 7"),
        (
            vec!["--resume", rd, "--objective", "calmar"],
            "--objective calmar",
        ),
        (vec!["--resume", rd, "--min-trades", "5"], "--min-trades 5"),
        (vec!["--resume", rd, "--turnover", "1,9"], "--turnover 1,9"),
        (vec!["--resume", rd, "--max-corr", "0.5"], "--max-corr 0.5"),
        (vec!["--resume", rd, "--holdout", "0.3"], "--holdout 0.3"),
        (
            vec!["--resume", rd, "--data-dir", other.path().to_str().unwrap()],
            "--data-dir",
        ),
    ] {
        let out = engine().arg("iterate").args(&flags).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {stderr}");
        assert!(
            stderr.contains(named) && stderr.contains("differs from this run's"),
            "{flags:?}: {stderr}"
        );
        assert_eq!(run_json(&run_dir), before, "{flags:?} rewrote run.json");
    }
    assert_eq!(ledger(&run_dir).len(), 2);

    // A deliberate change is a new run that records its parent.
    let fork = dir.path().join("fork");
    let out = engine()
        .args(["iterate", "--resume", rd, "--fork", fork.to_str().unwrap()])
        .args(["--seed", "7", "-n", "3", "--quiet"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let forked: Value = serde_json::from_str(&run_json(&fork)).unwrap();
    assert_eq!(forked["seed"], 7);
    assert_eq!(forked["parent"], rd);
    assert_eq!(ledger(&fork).len(), 3);
    assert_eq!(ledger(&fork)[..2], ledger(&run_dir)[..]);
    assert_eq!(run_json(&run_dir), before);
}

#[test]
fn one_process_per_run_directory() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let _held = dsl_engine::iterate::lock::RunLock::acquire(&run_dir).unwrap();
    let out = engine()
        .args(["iterate", "-n", "2", "--run-dir", run_dir.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("in use by another dsl-engine process")
            && stderr.contains(&format!("pid {}", std::process::id())),
        "{stderr}"
    );
    assert!(!run_dir.join("iterations.jsonl").exists());
}

#[test]
fn resume_refuses_a_damaged_run_and_scores_the_holdout_once() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let rd = run_dir.to_str().unwrap();
    let out = engine()
        .args(["iterate", "-n", "3", "--quiet", "--run-dir", rd])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ledger_path = run_dir.join("iterations.jsonl");
    let text = std::fs::read_to_string(&ledger_path).unwrap();
    assert_eq!(text.matches("holdout_unsealed").count(), 1, "{text}");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("summary.json")).unwrap())
            .unwrap();
    let holdout = summary["rigor"]["holdout"].clone();
    if summary["rigor"]["promoted"].is_number() {
        assert_eq!(summary["holdout_state"]["state"], "unsealed", "{summary}");
    }

    // Resuming a finished run never scores the holdout again; extending it is refused.
    let out = engine()
        .args(["iterate", "--resume", rd, "--json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(again["rigor"]["holdout"], holdout);
    let now = std::fs::read_to_string(&ledger_path).unwrap();
    assert_eq!(now.matches("holdout_unsealed").count(), 1);
    let out = engine()
        .args(["iterate", "--resume", rd, "-n", "5"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("was unsealed") && stderr.contains("--fork"),
        "{stderr}"
    );

    // A deleted or duplicated ledger line, or a missing or cut returns file, is refused.
    let lines: Vec<&str> = text.lines().collect();
    let returns = run_dir.join("returns.bin");
    let bytes = std::fs::read(&returns).unwrap();
    assert!(bytes.len() > 28, "no trial was evaluated");
    let cases: Vec<(String, Option<Vec<u8>>, &str)> = vec![
        (format!("{}\n{}\n", lines[0], lines[2]), None, "line 2"),
        (
            format!("{}\n{}\n{}\n", lines[0], lines[0], lines[1]),
            None,
            "line 2",
        ),
        (text.clone(), Some(Vec::new()), "no daily returns for trial"),
        (
            text.clone(),
            Some(bytes[..bytes.len() - 20].to_vec()),
            "no daily returns for trial",
        ),
    ];
    for (ledger_text, returns_bytes, expected) in cases {
        std::fs::write(&ledger_path, &ledger_text).unwrap();
        match &returns_bytes {
            Some(b) if b.is_empty() => std::fs::remove_file(&returns).unwrap(),
            Some(b) => std::fs::write(&returns, b).unwrap(),
            None => std::fs::write(&returns, &bytes).unwrap(),
        }
        let out = engine().args(["iterate", "--resume", rd]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{expected}: {stderr}");
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }
}

#[test]
fn doctor_reports_each_check() {
    let (url, _) = serve(vec![Reply::Content("OK".into()), Reply::Status(401)]);
    let out = engine()
        .args(["doctor", "--base-url", &url])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("ok    data") && stdout.contains("ok    sandbox"),
        "{stdout}"
    );
    assert!(stdout.contains("ok    llm"), "{stdout}");
    let out = engine()
        .args(["doctor", "--base-url", &url, "--api-key", "bad"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL  llm") && stdout.contains("fix: check the key"),
        "{stdout}"
    );
}

#[cfg(unix)]
#[test]
fn ctrl_c_or_sigterm_finishes_the_trials_in_flight_and_keeps_the_holdout_sealed() {
    for signal in ["-INT", "-TERM"] {
        let dir = tempfile::tempdir().unwrap();
        let run_dir = dir.path().join("run");
        let ledger_path = run_dir.join("iterations.jsonl");
        let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("dsl-engine"))
            .args(["iterate", "-n", "200", "--quiet", "--run-dir"])
            .arg(&run_dir)
            .env("DSL_ENGINE_CACHE_DIR", common::cache_dir())
            .env("DSL_ENGINE_DATA_DIR", &common::data_dir().path)
            .env_remove("OPENROUTER_API_KEY")
            .env_remove("DSL_ENGINE_LLM_API_KEY")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let lines = || {
            std::fs::read_to_string(&ledger_path)
                .map(|t| t.lines().count())
                .unwrap_or(0)
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while lines() < 2 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let status = std::process::Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{signal}: {stderr}");
        assert!(
            stderr.contains("interrupted") || stderr.contains("terminated"),
            "{stderr}"
        );
        let summary: Value =
            serde_json::from_str(&std::fs::read_to_string(run_dir.join("summary.json")).unwrap())
                .unwrap();
        let n = lines();
        assert!((2..200).contains(&n), "{n} trials");
        assert_eq!(summary["trials"], n);
        assert_eq!(summary["stopped"], "interrupted (Ctrl-C or SIGTERM)");
        assert!(String::from_utf8_lossy(&out.stdout).contains("stopped: interrupted"));
        // The holdout was not looked at: still sealed, and said so.
        assert_eq!(summary["holdout_state"]["state"], "sealed", "{summary}");
        assert!(summary["rigor"]["holdout"].is_null(), "{summary}");
        let verdict = summary["rigor"]["verdict"]["text"].as_str().unwrap_or("");
        assert!(
            verdict.contains("still sealed") || summary["rigor"]["promoted"].is_null(),
            "{verdict}"
        );
        assert!(!std::fs::read_to_string(&ledger_path)
            .unwrap()
            .contains("holdout_unsealed"));
        // The run's HTML report is written at the end, even after a signal.
        let html = std::fs::read_to_string(run_dir.join("report.html")).unwrap();
        assert!(html.contains("id=\"trials-table\""));
    }
}
