//! Real reference data compiled into the binary: the TWSE/TPEx common-stock directory (twstock
//! 1.5.1, MIT), the TWSE industry table (zh + en) and the session calendar (tej-exchange-calendars
//! 1.0.1 to 2023-02-19, exchange-calendars XTAI rules after; both Apache-2.0). The CSVs live in
//! `datasets/` with their attribution (`datasets/README.md`); `datasets/scripts/` rebuilds them.

use crate::calendar;

use super::DataError;

pub(crate) const SECURITIES: &str = include_str!("../../datasets/securities.csv");
pub(crate) const INDUSTRIES: &str = include_str!("../../datasets/industries.csv");
const CALENDAR: &str = include_str!("../../datasets/calendar.csv");

/// Snapshot date of the security directory (twstock 1.5.1).
pub const DIRECTORY_SNAPSHOT: &str = "twstock 1.5.1 (2026-03-26 snapshot)";

/// Which market a stock trades on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Board {
    /// Taiwan Stock Exchange main board (上市).
    Twse,
    /// TWSE Taiwan Innovation Board (臺灣創新板).
    Tib,
    /// Taipei Exchange (上櫃).
    Tpex,
}

impl Board {
    /// The label used in `securities.csv`.
    pub fn label(self) -> &'static str {
        match self {
            Board::Twse => "TWSE",
            Board::Tib => "TIB",
            Board::Tpex => "TPEx",
        }
    }
}

/// One common stock of the directory.
#[derive(Clone, Debug, PartialEq)]
pub struct Security {
    pub code: String,
    pub name: String,
    pub board: Board,
    /// TWSE industry code (`"24"` = semiconductors); see [`industries`].
    pub industry: String,
    /// Listing date on its current board (days since 1970-01-01).
    pub listed: i32,
}

/// One row of the industry table.
#[derive(Clone, Debug, PartialEq)]
pub struct Industry {
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
}

fn bad(file: &str, line: usize, what: &str) -> DataError {
    DataError::Reference(format!("datasets/{file} line {}: {what}", line + 1))
}

/// Splits one CSV line, honouring double quotes (the files are written by Python's csv module).
fn fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn rows(text: &str) -> impl Iterator<Item = (usize, Vec<String>)> + '_ {
    text.lines()
        .enumerate()
        .skip(1)
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i, fields(l)))
}

/// Every common stock of the directory, sorted by code.
pub fn securities() -> Result<Vec<Security>, DataError> {
    let mut out = Vec::new();
    for (i, f) in rows(SECURITIES) {
        let [code, name, board, industry, listed] = f.as_slice() else {
            return Err(bad("securities.csv", i, "expected 5 fields"));
        };
        let board = match board.as_str() {
            "TWSE" => Board::Twse,
            "TIB" => Board::Tib,
            "TPEx" => Board::Tpex,
            other => return Err(bad("securities.csv", i, &format!("unknown board {other}"))),
        };
        let listed = calendar::parse(listed)
            .ok_or_else(|| bad("securities.csv", i, "listing date is not YYYY-MM-DD"))?;
        out.push(Security {
            code: code.clone(),
            name: name.clone(),
            board,
            industry: industry.clone(),
            listed,
        });
    }
    out.sort_by(|a, b| a.code.cmp(&b.code));
    Ok(out)
}

/// The TWSE industry table, sorted by code.
pub fn industries() -> Result<Vec<Industry>, DataError> {
    rows(INDUSTRIES)
        .map(|(i, f)| match f.as_slice() {
            [code, zh, en] => Ok(Industry {
                code: code.clone(),
                name_zh: zh.clone(),
                name_en: en.clone(),
            }),
            _ => Err(bad("industries.csv", i, "expected 3 fields")),
        })
        .collect()
}

/// Every TWSE session in the calendar (ascending day numbers) and where each came from
/// (`tej`, `xtai` or `correction`).
pub fn sessions() -> Result<Vec<(i32, &'static str)>, DataError> {
    let mut out = Vec::new();
    for (i, line) in CALENDAR.lines().enumerate().skip(1) {
        let Some((date, source)) = line.split_once(',') else {
            continue;
        };
        let d = calendar::parse(date)
            .ok_or_else(|| bad("calendar.csv", i, "date is not YYYY-MM-DD"))?;
        if out.last().is_some_and(|&(p, _)| p >= d) {
            return Err(bad("calendar.csv", i, "dates are not strictly ascending"));
        }
        out.push((d, source.trim()));
    }
    Ok(out)
}

/// The sessions within `[start, end]`; an error when the range leaves the calendar.
pub fn sessions_between(start: i32, end: i32) -> Result<Vec<i32>, DataError> {
    let all = sessions()?;
    let (first, last) = match (all.first(), all.last()) {
        (Some(f), Some(l)) => (f.0, l.0),
        _ => {
            return Err(DataError::Reference(
                "datasets/calendar.csv is empty".into(),
            ))
        }
    };
    if start < first || end > last || start > end {
        return Err(DataError::Calendar(format!(
            "requested {} → {}, but the session calendar covers {} → {}",
            calendar::format(start),
            calendar::format(end),
            calendar::format(first),
            calendar::format(last)
        )));
    }
    Ok(all
        .into_iter()
        .map(|(d, _)| d)
        .filter(|&d| d >= start && d <= end)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::{days_from_civil, weekday};

    #[test]
    fn directory_matches_the_snapshot_counts() {
        let s = securities().unwrap();
        let count = |b| s.iter().filter(|x| x.board == b).count();
        // docs/data.md §3.1: 1,045 TWSE + 24 TIB + 880 TPEx common stocks.
        assert_eq!(
            (count(Board::Twse), count(Board::Tib), count(Board::Tpex)),
            (1045, 24, 880)
        );
        let inds = industries().unwrap();
        for x in &s {
            assert!(inds.iter().any(|i| i.code == x.industry), "{x:?}");
        }
        assert_eq!(
            fields("23,油電燃氣業,\"Oil, Gas\""),
            ["23", "油電燃氣業", "Oil, Gas"]
        );
    }

    #[test]
    fn calendar_has_the_known_session_counts() {
        let all = sessions().unwrap();
        let per_year = |y| {
            all.iter()
                .filter(|(d, _)| crate::calendar::civil_from_days(*d).0 == y)
                .count()
        };
        // docs/data.md §3.3 (real sessions per year).
        assert_eq!(per_year(2016), 244);
        assert_eq!(per_year(2023), 239);
        assert_eq!(per_year(2024), 242);
        // A make-up Saturday session (tej list) and a typhoon closure (correction).
        let sat = days_from_civil(2016, 1, 30);
        assert_eq!(weekday(sat), 5);
        assert!(all.iter().any(|&(d, _)| d == sat));
        assert!(!all.iter().any(|&(d, _)| d == days_from_civil(2024, 10, 31)));
        let err = sessions_between(days_from_civil(1990, 1, 1), days_from_civil(2000, 1, 1));
        assert!(matches!(err, Err(DataError::Calendar(_))));
    }
}
