//! Reports people read: one self-contained HTML file per backtest ([`backtest::render`]) or per
//! iterate run ([`run::render`]), with inline SVG charts and CSS (no network, no JavaScript
//! needed), and aligned terminal tables ([`term`]). In: a `SimResult` and its `Metrics`, or the
//! files an iterate run wrote; out: text. Every string from a strategy, a ledger or a data set
//! goes through [`escape`] before it reaches the page.

pub mod backtest;
pub mod book;
pub mod curve;
mod highlight;
pub mod names;
mod page;
pub mod run;
mod svg;
pub mod term;

pub use page::escape;

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a run directory (no iterations.jsonl or summary.json)")]
    NotARun { path: std::path::PathBuf },
    #[error("{path}: {source}")]
    Json {
        path: std::path::PathBuf,
        source: serde_json::Error,
    },
}

/// `12.34%`, or `n/a` when undefined.
pub fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.2}%", x * 100.0)
    } else {
        "n/a".into()
    }
}

/// `1.234`, or `n/a` when undefined.
pub fn num(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.3}")
    } else {
        "n/a".into()
    }
}
