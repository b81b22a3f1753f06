//! Scale-out on a real NATS JetStream server (Debian's `nats-server`, started here on a free
//! loopback port with a temporary store) and real worker processes of the built binary. A
//! missing `nats-server` fails these tests: it is part of what they test.

// Test and benchmark code: an unwrap fails the run, and printing is the report.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A nats-server with JetStream on a free port; stopped when dropped.
struct Server {
    child: Child,
    url: String,
    _store: tempfile::TempDir,
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let store = tempfile::tempdir().unwrap();
        let log = store.path().join("server.log");
        let child = Command::new(nats_server())
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(store.path())
            .args(extra)
            .arg("-l")
            .arg(&log)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start nats-server ({e}): the scale-out tests need Debian's \
                     nats-server package (apt-get install nats-server)"
                )
            });
        let server = Server {
            child,
            url: format!("nats://127.0.0.1:{port}"),
            _store: store,
        };
        wait_for(&log, "Server is ready", Duration::from_secs(20));
        server
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Debian's nats-server: on the PATH, or where the package puts it.
fn nats_server() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("nats-server").is_file()));
    if on_path {
        PathBuf::from("nats-server")
    } else {
        PathBuf::from("/usr/sbin/nats-server")
    }
}

/// Waits until `file` contains `text`; panics with the file's content after `limit`.
fn wait_for(file: &Path, text: &str, limit: Duration) -> String {
    let started = Instant::now();
    loop {
        let content = std::fs::read_to_string(file).unwrap_or_default();
        if content.contains(text) {
            return content;
        }
        assert!(
            started.elapsed() < limit,
            "no `{text}` in {} after {limit:?}:\n{content}",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Environment shared by the coordinator and the workers of a test.
fn env(cmd: &mut Command, cache: &Path, queue: &[(&str, &str)]) {
    let data = common::data_dir();
    cmd.env("DSL_ENGINE_CACHE_DIR", common::cache_dir())
        .env("DSL_ENGINE_DATA_DIR", &data.path)
        .env("XDG_CACHE_HOME", cache)
        .env_remove("OPENROUTER_API_KEY")
        .env_remove("DSL_ENGINE_LLM_API_KEY")
        .env_remove("DSL_ENGINE_LLM_BASE_URL")
        .env_remove("DSL_ENGINE_NATS_TOKEN");
    for (k, v) in queue {
        cmd.env(k, v);
    }
}

/// A worker process; killed when dropped. Its output goes to `log`.
struct Worker {
    child: Child,
    log: PathBuf,
}

impl Worker {
    fn start(url: &str, cache: &Path, args: &[&str], queue: &[(&str, &str)]) -> Worker {
        let log = cache.join(format!("worker-{}.log", nanos()));
        let out = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dsl-engine"));
        cmd.args(["worker", "--nats", url, "--jobs", "1"])
            .args(args);
        env(&mut cmd, cache, queue);
        let child = cmd
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let w = Worker { child, log };
        wait_for(&w.log, "connected to", Duration::from_secs(60));
        w
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// `dsl-engine iterate --quiet -n N --run-dir DIR ARGS…`; panics unless it exits 0.
fn iterate(dir: &Path, n: u32, args: &[&str], cache: &Path, queue: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dsl-engine"));
    cmd.args(["iterate", "--quiet", "-n", &n.to_string(), "--run-dir"])
        .arg(dir)
        .args(args);
    env(&mut cmd, cache, queue);
    let out = cmd.output().unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    text
}

/// The ledger without what depends on the clock, the warm sandbox session or the worker.
fn ledger(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("iterations.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            let o = v.as_object_mut().unwrap();
            for k in [
                "started_at",
                "finished_at",
                "durations",
                "fuel_used",
                "peak_memory_bytes",
                "worker",
                "at",
            ] {
                o.remove(k);
            }
            v
        })
        .collect()
}

fn workers_of(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("iterations.jsonl")).unwrap();
    let mut names: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let v: Value = serde_json::from_str(l).ok()?;
            v["worker"].as_str().map(str::to_string)
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The local run every distributed 20-trial run must equal (computed once).
fn local_twenty() -> &'static (Vec<Value>, Vec<u8>) {
    static LOCAL: OnceLock<(Vec<Value>, Vec<u8>)> = OnceLock::new();
    LOCAL.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("local");
        iterate(&dir, 20, &[], tmp.path(), &[]);
        let returns = std::fs::read(dir.join("returns.bin")).unwrap();
        (ledger(&dir), returns)
    })
}

#[test]
fn two_workers_write_the_ledger_a_local_run_writes() {
    let server = Server::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let a = Worker::start(&server.url, tmp.path(), &[], &[]);
    let b = Worker::start(&server.url, tmp.path(), &[], &[]);
    let dir = tmp.path().join("run");
    let out = iterate(&dir, 20, &["--nats", &server.url], tmp.path(), &[]);
    assert!(out.contains("workers 2 (2 slots)"), "{out}");
    let (local, returns) = local_twenty();
    let distributed = ledger(&dir);
    assert_eq!(distributed.len(), 21, "20 trials and the holdout event");
    assert_eq!(&distributed, local);
    assert_eq!(&std::fs::read(dir.join("returns.bin")).unwrap(), returns);
    let names = workers_of(&dir);
    assert_eq!(names.len(), 2, "both workers evaluated: {names:?}");
    let jobs = |w: &Worker| w.output().lines().filter(|l| l.starts_with("job ")).count();
    let run = distributed
        .iter()
        .filter(|t| t["duplicate_of"].is_null())
        .count()
        - 1;
    assert_eq!(jobs(&a) + jobs(&b), run, "{}\n{}", a.output(), b.output());
}

#[test]
fn a_worker_killed_mid_run_leaves_the_ledger_complete_and_equal() {
    let queue = [("DSL_ENGINE_NATS_ACK_WAIT", "2")];
    let server = Server::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let mut victim = Worker::start(&server.url, tmp.path(), &[], &queue);
    let survivor = Worker::start(&server.url, tmp.path(), &[], &queue);
    let dir = tmp.path().join("run");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dsl-engine"));
    cmd.args(["iterate", "-n", "20", "--nats", &server.url, "--run-dir"])
        .arg(&dir);
    env(&mut cmd, tmp.path(), &queue);
    let mut run = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Once the victim has answered a job it is pulling (or holding) the next: kill -9.
    wait_for(&victim.log, "\njob ", Duration::from_secs(120));
    victim.child.kill().unwrap();
    victim.child.wait().unwrap();
    let killed_after = victim
        .output()
        .lines()
        .filter(|l| l.starts_with("job "))
        .count();
    let stdout = BufReader::new(run.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(run.wait().unwrap().success(), "{stdout}");
    assert!(stdout.contains("20 trial(s)"), "{stdout}");
    assert_eq!(&ledger(&dir), &local_twenty().0);
    let survivor_jobs = survivor
        .output()
        .lines()
        .filter(|l| l.starts_with("job "))
        .count();
    assert!(killed_after >= 1 && survivor_jobs >= 1);
    // The killed worker's last job, when it held one, was answered again after the ack wait.
    eprintln!(
        "killed after {killed_after} job(s); the survivor answered {survivor_jobs}, {} of them \
         redelivered",
        survivor.output().matches("(delivery 2)").count()
    );
}

#[test]
fn a_job_over_its_fuel_ends_as_eval_error_after_its_last_delivery() {
    let queue = [("DSL_ENGINE_NATS_MAX_DELIVER", "2")];
    let server = Server::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let worker = Worker::start(&server.url, tmp.path(), &[], &queue);
    let (remote, local) = (tmp.path().join("remote"), tmp.path().join("local"));
    let fuel = ["--fuel", "100000"];
    let started = Instant::now();
    iterate(
        &remote,
        4,
        &[&fuel[..], &["--nats", &server.url]].concat(),
        tmp.path(),
        &queue,
    );
    let took = started.elapsed();
    iterate(&local, 4, &fuel, tmp.path(), &[]);
    let trials = ledger(&remote);
    assert_eq!(trials, ledger(&local));
    assert_eq!(trials.len(), 4, "no holdout without a promoted trial");
    for t in &trials {
        assert_eq!(t["status"], "eval_error", "{t}");
        assert!(t["error"].as_str().unwrap().contains("out of fuel"), "{t}");
    }
    let log = worker.output();
    assert_eq!(log.matches("failed on delivery 1 of 2").count(), 4, "{log}");
    assert_eq!(log.matches("(delivery 2)").count(), 4, "{log}");
    assert!(took < Duration::from_secs(120), "the run took {took:?}");
}

#[test]
fn a_worker_without_the_data_fetches_it_from_the_object_store() {
    // A non-synthetic data set (a copy of the test market, relabelled): workers cannot
    // regenerate it, so the coordinator publishes it and the worker fetches it.
    let tmp = tempfile::tempdir().unwrap();
    let market = common::data_dir();
    let copy = tmp.path().join("imported");
    std::fs::create_dir(&copy).unwrap();
    for e in std::fs::read_dir(&market.path).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), copy.join(e.file_name())).unwrap();
        }
    }
    let manifest = copy.join("dsl-engine-dataset.json");
    let mut m: Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    m["synthetic"] = Value::Bool(false);
    m["generator"] = "scale-out test copy".into();
    std::fs::write(&manifest, serde_json::to_vec(&m).unwrap()).unwrap();
    let digest = dsl_engine::data::DataDir::open(&copy)
        .unwrap()
        .digest()
        .unwrap();

    let server = Server::start(&[]);
    // The worker holds the original market (another digest).
    let worker = Worker::start(
        &server.url,
        tmp.path(),
        &["--data-dir", market.path.to_str().unwrap()],
        &[],
    );
    let (remote, local) = (tmp.path().join("remote"), tmp.path().join("local"));
    let data = ["--data-dir", copy.to_str().unwrap()];
    let out = iterate(
        &remote,
        4,
        &[&data[..], &["--nats", &server.url]].concat(),
        tmp.path(),
        &[],
    );
    assert!(
        out.contains("to the object store for workers without it"),
        "{out}"
    );
    iterate(&local, 4, &data, tmp.path(), &[]);
    assert_eq!(ledger(&remote), ledger(&local));
    let log = worker.output();
    assert!(log.contains("from the object store"), "{log}");
    assert!(log.contains("digest verified"), "{log}");
    let kept = tmp.path().join("dsl-engine/data/by-digest").join(&digest);
    let fetched = dsl_engine::data::DataDir::open(&kept).unwrap();
    assert_eq!(fetched.digest().unwrap(), digest);
    assert!(fetched.verify().unwrap().passed());
}

#[test]
fn a_wrong_token_is_refused_with_a_clear_message() {
    let server = Server::start(&["--auth", "s3cret"]);
    let tmp = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dsl-engine"));
        cmd.args(args);
        env(&mut cmd, tmp.path(), &[]);
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let url = server.url.as_str();
    let (code, text) = run(&["worker", "--nats", url, "--token", "wrong"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains(&format!("the NATS server at {url} refused the credentials"))
            && text.contains("authorization violation")
            && text.contains("the token (--token or DSL_ENGINE_NATS_TOKEN) was not accepted"),
        "{text}"
    );
    let dir = tmp.path().join("run");
    let (code, text) = run(&[
        "iterate",
        "-n",
        "1",
        "--nats",
        url,
        "--run-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("no credentials (pass --token or --creds)"),
        "{text}"
    );
    let (code, text) = run(&["doctor", "--offline", "--nats", url, "--token", "wrong"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("FAIL  creds"), "{text}");
    let (code, text) = run(&["doctor", "--offline", "--nats", url, "--token", "s3cret"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("ok    creds     accepted: the token"),
        "{text}"
    );
}
