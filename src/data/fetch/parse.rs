//! The quirks shared by the TWSE and TPEx feeds (`docs/data.md` §6.3): numbers as strings with
//! thousands separators, `--`/`---` for no trade, signs in HTML markup or in the number, and dates
//! in the ROC or Gregorian calendar.

use crate::calendar::days_from_civil;

/// A cell that should be a number but is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadCell(pub String);

/// Parses a date in any of the feeds' spellings: `yyy/mm/dd` (ROC), `yyymmdd` (ROC, 7 digits),
/// `YYYYMMDD`, `YYYY/MM/DD`, `YYYY-MM-DD` and `yyy年mm月dd日`, ignoring `*`/`＊` marks and
/// whitespace. ROC years are Gregorian minus 1911. Returns days since 1970-01-01.
pub fn parse_tw_date(text: &str) -> Option<i32> {
    let t: String = text
        .chars()
        .filter(|c| !matches!(c, '*' | '＊') && !c.is_whitespace())
        .map(|c| match c {
            '年' | '月' | '-' => '/',
            _ => c,
        })
        .collect();
    let t = t.trim_end_matches('日');
    let parts: Vec<&str> = t.split('/').collect();
    let (y, m, d) = match parts.as_slice() {
        [y, m, d] => (*y, *m, *d),
        [digits] if digits.len() == 8 => (&digits[..4], &digits[4..6], &digits[6..]),
        [digits] if digits.len() == 7 => (&digits[..3], &digits[3..5], &digits[5..]),
        _ => return None,
    };
    if ![y, m, d]
        .iter()
        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let mut year: i32 = y.parse().ok()?;
    if y.len() <= 3 {
        year += 1911;
    }
    let (m, d): (u32, u32) = (m.parse().ok()?, d.parse().ok()?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let days = days_from_civil(year, m, d);
    (crate::calendar::civil_from_days(days) == (year, m, d)).then_some(days)
}

/// A day number as a ROC title date, `113年01月05日`.
pub fn roc_title(days: i32) -> String {
    let (y, m, d) = crate::calendar::civil_from_days(days);
    format!("{:03}年{m:02}月{d:02}日", y - 1911)
}

/// Parses a number cell: trims, strips thousands separators, accepts one leading sign and at
/// most one decimal point. Rejects everything else (`inf`, exponents, stray text).
pub fn parse_number(cell: &str) -> Result<f64, BadCell> {
    let t = cell.trim();
    let bad = || BadCell(cell.to_string());
    let unsigned = t.strip_prefix(['+', '-']).unwrap_or(t);
    let digits: String = unsigned.chars().filter(|&c| c != ',').collect();
    let valid = !digits.is_empty()
        && digits.bytes().filter(|&b| b == b'.').count() <= 1
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && digits.bytes().any(|b| b.is_ascii_digit());
    if !valid {
        return Err(bad());
    }
    let v: f64 = digits.parse().map_err(|_| bad())?;
    Ok(if t.starts_with('-') { -v } else { v })
}

/// A price cell: `None` for no trade (`--` on TWSE, `---` padded on TPEx).
pub fn parse_price(cell: &str) -> Result<Option<f64>, BadCell> {
    let t = cell.trim();
    if !t.is_empty() && t.chars().all(|c| c == '-') {
        return Ok(None);
    }
    parse_number(t).map(Some)
}

/// The direction of a TWSE MI_INDEX change cell, whatever its markup
/// (`<p style= color:red>+</p>`, `<p style ='color:green'>-</p>`, `<p> </p>`, `<p>X</p>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sign {
    Up,
    Down,
    /// Unchanged or no trade.
    Flat,
    /// 不比價: not compared (ex-rights/dividend, new listing, resumption).
    NotCompared,
}

/// Reads the sign out of its HTML cell: the text between tags, not the exact markup.
pub fn parse_sign(cell: &str) -> Result<Sign, BadCell> {
    let mut text = String::new();
    let mut in_tag = false;
    for c in cell.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    match text.trim() {
        "+" => Ok(Sign::Up),
        "-" => Ok(Sign::Down),
        "" => Ok(Sign::Flat),
        "X" | "x" => Ok(Sign::NotCompared),
        _ => Err(BadCell(cell.to_string())),
    }
}

/// The signed change of a TWSE row from its sign cell and magnitude cell; `None` when not
/// compared.
pub fn twse_change(sign: &str, magnitude: &str) -> Result<Option<f64>, BadCell> {
    let m = parse_number(magnitude)?;
    Ok(match parse_sign(sign)? {
        Sign::Up => Some(m),
        Sign::Down => Some(-m),
        Sign::Flat => Some(0.0),
        Sign::NotCompared => None,
    })
}

/// A TPEx change cell: already signed (`+0.64`); `None` for no trade (`---`) and for the reason
/// written instead of a number on ex-days (`除息`, `除權`, `除權息`: not compared).
pub fn tpex_change(cell: &str) -> Result<Option<f64>, BadCell> {
    let t = cell.trim();
    if t.starts_with('除') || parse_price(t)?.is_none() {
        return Ok(None);
    }
    parse_number(t).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ymd(y: i32, m: u32, d: u32) -> Option<i32> {
        Some(days_from_civil(y, m, d))
    }

    #[test]
    fn dates_in_every_spelling() {
        let want = ymd(2024, 7, 2);
        for s in [
            "113/07/02",
            "1130702",
            "20240702",
            "2024/07/02",
            "2024-07-02",
            "113年07月02日",
            "＊113/07/02",
            " 113/07/02* ",
        ] {
            assert_eq!(parse_tw_date(s), want, "{s}");
        }
        for s in ["", "113/13/01", "113/02/30", "abc", "2024070", "113/07"] {
            assert_eq!(parse_tw_date(s), None, "{s}");
        }
        assert_eq!(roc_title(days_from_civil(2024, 1, 5)), "113年01月05日");
    }

    #[test]
    fn numbers_prices_and_signs() {
        assert_eq!(parse_number("1,250.00"), Ok(1250.0));
        assert_eq!(parse_number(" 41,996,854 "), Ok(41_996_854.0));
        assert_eq!(parse_number("-0.07"), Ok(-0.07));
        for bad in ["", "inf", "1e5", "12a", "1.2.3", "--", "+"] {
            assert!(parse_number(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_price("--"), Ok(None));
        assert_eq!(parse_price(" ---"), Ok(None));
        assert_eq!(parse_price("--- "), Ok(None));
        assert_eq!(parse_price("10.15"), Ok(Some(10.15)));
        assert_eq!(
            twse_change("<p style= color:green>-</p>", "15.00"),
            Ok(Some(-15.0))
        );
        assert_eq!(
            twse_change("<p style ='color:red'>+</p>", "0.10"),
            Ok(Some(0.1))
        );
        assert_eq!(twse_change("<p> </p>", "0.00"), Ok(Some(0.0)));
        assert_eq!(twse_change("<p>X</p>", "0.00"), Ok(None));
        assert!(twse_change("<p>?</p>", "0.00").is_err());
        assert_eq!(tpex_change("+9.00"), Ok(Some(9.0)));
        assert_eq!(tpex_change("除息 "), Ok(None));
        assert_eq!(tpex_change("--- "), Ok(None));
    }
}
