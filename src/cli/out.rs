//! The CLI's standard output and error: writes that never panic.
//!
//! `println!` panics when stdout is a closed pipe (`dsl-engine data list | head -1`). Every
//! command prints through `outln!` / `out!` (stdout) and `errln!` (stderr) instead: a
//! closed pipe quietly ends that stream's output and the command runs to its end (an `iterate`
//! run still finishes, writes its ledger and summary, and exits 0). Any other write error (a full
//! disk behind a redirect) is remembered and turns the exit status into a tool failure, so a
//! truncated result is never passed off as complete.

use std::fmt;
use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
static STDERR_CLOSED: AtomicBool = AtomicBool::new(false);
static STDOUT_FAILED: Mutex<Option<String>> = Mutex::new(None);

/// Writes to stdout; see the module docs for what happens on errors.
pub fn stdout_fmt(args: fmt::Arguments) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != ErrorKind::BrokenPipe {
            if let Ok(mut failed) = STDOUT_FAILED.lock() {
                failed.get_or_insert(e.to_string());
            }
        }
    }
}

/// Writes to stderr; a closed or failing stderr is ignored (there is nowhere left to report it).
pub fn stderr_fmt(args: fmt::Arguments) {
    if STDERR_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    if std::io::stderr().lock().write_fmt(args).is_err() {
        STDERR_CLOSED.store(true, Ordering::Relaxed);
    }
}

/// The first stdout write error other than a closed pipe, if any.
pub fn stdout_error() -> Option<String> {
    STDOUT_FAILED.lock().ok().and_then(|f| f.clone())
}

/// `print!` that never panics.
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::out::stdout_fmt(format_args!($($arg)*)) };
}

/// `println!` that never panics.
macro_rules! outln {
    () => { $crate::cli::out::stdout_fmt(format_args!("\n")) };
    ($($arg:tt)*) => {
        $crate::cli::out::stdout_fmt(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprint!` that never panics.
macro_rules! err {
    ($($arg:tt)*) => { $crate::cli::out::stderr_fmt(format_args!($($arg)*)) };
}

/// `eprintln!` that never panics.
macro_rules! errln {
    () => { $crate::cli::out::stderr_fmt(format_args!("\n")) };
    ($($arg:tt)*) => {
        $crate::cli::out::stderr_fmt(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// What a command prints, decided once from its `--json` flag: with `--json`, stdout carries
/// exactly one JSON document and every note goes to stderr.
#[derive(Clone, Copy, Debug)]
pub struct Printer {
    json: bool,
}

impl Printer {
    /// A printer for a command run with (`json`) or without `--json`.
    pub fn new(json: bool) -> Printer {
        Printer { json }
    }

    /// An informational line: stdout for people, stderr under `--json`.
    pub fn note(&self, line: &str) {
        if self.json {
            stderr_fmt(format_args!("{line}\n"));
        } else {
            stdout_fmt(format_args!("{line}\n"));
        }
    }

    /// The command's JSON document.
    pub fn json(&self, doc: &serde_json::Value) {
        let text = serde_json::to_string_pretty(doc).unwrap_or_else(|e| {
            format!("{{\"error\": \"the result could not be serialized: {e}\"}}")
        });
        stdout_fmt(format_args!("{text}\n"));
    }
}
