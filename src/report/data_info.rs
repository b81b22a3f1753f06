//! What data a result was computed on, for the banner every report and terminal output starts
//! with: synthetic, real (fetched quotes) or imported (a finlab cache), and the market's size.

use crate::calendar;
use crate::data::{feather, fetch, DataDir, CALENDAR_KEY};

/// Where the data came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataKind {
    /// dsl-engine's synthetic market: real tickers and calendar, made-up prices.
    Synthetic,
    /// Quotes fetched from TWSE/TPEx by `data fetch`.
    Real,
    /// A finlab cache imported with `data import-finlab`.
    Imported,
    /// A directory without a dsl-engine manifest.
    Unknown,
}

/// The data behind a result.
#[derive(Clone, Debug, PartialEq)]
pub struct DataInfo {
    pub kind: DataKind,
    /// `DataDir::banner()` (or the banner a run recorded).
    pub banner: String,
    /// Stocks and sessions of the adjusted close, and its first and last date.
    pub stocks: Option<usize>,
    pub sessions: Option<usize>,
    pub first: Option<i32>,
    pub last: Option<i32>,
}

impl DataKind {
    /// Guesses the kind from a banner or generator text.
    pub fn from_text(text: &str) -> DataKind {
        if text.contains("SYNTHETIC") || text.contains("tw-synth") {
            DataKind::Synthetic
        } else if text.contains(fetch::GENERATOR) {
            DataKind::Real
        } else if text.contains("finlab-import") {
            DataKind::Imported
        } else {
            DataKind::Unknown
        }
    }

    /// One line saying what the kind means for the figures.
    pub fn headline(self) -> &'static str {
        match self {
            DataKind::Synthetic => {
                "SYNTHETIC data: real tickers, names and calendar, made-up prices. The figures say \
                 nothing about real markets."
            }
            DataKind::Real => {
                "REAL market data: TWSE/TPEx quotes fetched with `data fetch` (prices are not \
                 adjusted for dividends yet)."
            }
            DataKind::Imported => "REAL market data imported from a finlab cache.",
            DataKind::Unknown => "Data from a directory without a dsl-engine manifest.",
        }
    }

    /// The CSS class of the banner.
    pub fn class(self) -> &'static str {
        match self {
            DataKind::Synthetic => "synthetic",
            DataKind::Real | DataKind::Imported => "real",
            DataKind::Unknown => "unknown",
        }
    }
}

impl DataInfo {
    /// Describes a data directory (its size from the adjusted close's dates and columns).
    pub fn of(dir: &DataDir) -> DataInfo {
        let kind = match &dir.manifest {
            Some(m) if m.synthetic => DataKind::Synthetic,
            Some(m) => DataKind::from_text(&m.generator),
            None => DataKind::Unknown,
        };
        let shape = feather::read_shape(&dir.path.join(feather::file_name(CALENDAR_KEY))).ok();
        DataInfo {
            kind,
            banner: dir.banner(),
            stocks: shape.as_ref().map(|s| s.columns),
            sessions: shape.as_ref().map(|s| s.dates.len()),
            first: shape.as_ref().and_then(|s| s.dates.first().copied()),
            last: shape.as_ref().and_then(|s| s.dates.last().copied()),
        }
    }

    /// From a recorded banner alone (size unknown).
    pub fn from_banner(banner: &str) -> DataInfo {
        DataInfo {
            kind: DataKind::from_text(banner),
            banner: banner.to_string(),
            stocks: None,
            sessions: None,
            first: None,
            last: None,
        }
    }

    /// `1,949 stocks × 4,870 sessions, 2007-01-02 → 2026-10-30`, when known.
    pub fn size(&self) -> Option<String> {
        let (stocks, sessions) = (self.stocks?, self.sessions?);
        let span = match (self.first, self.last) {
            (Some(a), Some(b)) => format!(", {} → {}", calendar::format(a), calendar::format(b)),
            _ => String::new(),
        };
        Some(format!(
            "{} stocks × {} sessions{span}",
            thousands(stocks),
            thousands(sessions)
        ))
    }
}

/// `1949` → `1,949`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_sizes() {
        assert_eq!(
            DataKind::from_text("data: SYNTHETIC (tw-synth v1, seed 42) — not market data"),
            DataKind::Synthetic
        );
        assert_eq!(
            DataKind::from_text("data: tw-fetch (real TWSE/TPEx quotes) (/x)"),
            DataKind::Real
        );
        assert_eq!(
            DataKind::from_text("data: finlab-import (/x)"),
            DataKind::Imported
        );
        assert_eq!(DataKind::from_text("data: /x"), DataKind::Unknown);
        assert_eq!(thousands(1949), "1,949");
        assert_eq!(thousands(4_870_123), "4,870,123");
        assert_eq!(thousands(12), "12");
        let mut info = DataInfo::from_banner("data: /x");
        assert_eq!(info.size(), None);
        info.stocks = Some(300);
        info.sessions = Some(1210);
        assert_eq!(info.size().as_deref(), Some("300 stocks × 1,210 sessions"));
    }
}
