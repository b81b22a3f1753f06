//! Reports people read: one self-contained HTML file per backtest ([`backtest::render`]) or per
//! iterate run ([`run::render`]), with inline SVG charts and CSS (no network; a few lines of
//! optional script sort and filter tables), and aligned terminal tables ([`term`]). In: a
//! `SimResult`, its `Metrics` and [`book::Book`], or the files an iterate run wrote; out: text.
//! Every string from a strategy, a ledger or a data set goes through [`escape`] before it
//! reaches the page.

pub mod backtest;
pub mod book;
pub mod curve;
pub mod data_info;
mod highlight;
pub mod names;
pub mod options;
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

/// `x` with `decimals` decimals, never `-0.00`: a value that rounds to zero loses its sign.
pub fn fixed(x: f64, decimals: usize) -> String {
    let s = format!("{x:.decimals$}");
    match s.strip_prefix('-') {
        Some(rest) if rest.chars().all(|c| c == '0' || c == '.') => rest.to_string(),
        _ => s,
    }
}

/// `x` with at most `decimals` decimals and no trailing zeros (`0.1425`, `2`).
pub fn trim_float(x: f64, decimals: usize) -> String {
    let s = fixed(x, decimals);
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// `12.34%`, or `n/a` when undefined.
pub fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{}%", fixed(x * 100.0, 2))
    } else {
        "n/a".into()
    }
}

/// `1.234`, or `n/a` when undefined.
pub fn num(x: f64) -> String {
    if x.is_finite() {
        fixed(x, 3)
    } else {
        "n/a".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_negative_zero() {
        assert_eq!(fixed(-0.0004, 1), "0.0");
        assert_eq!(fixed(-0.0, 2), "0.00");
        assert_eq!(fixed(-0.06, 1), "-0.1");
        assert_eq!(pct(-0.000_01), "0.00%");
        assert_eq!(num(-1e-9), "0.000");
        assert_eq!(pct(f64::NAN), "n/a");
        assert_eq!(trim_float(0.1425, 4), "0.1425");
        assert_eq!(trim_float(2.0, 4), "2");
        assert_eq!(trim_float(-0.00001, 2), "0");
    }
}
