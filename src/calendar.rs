//! Calendar arithmetic on day numbers (days since 1970-01-01, the representation of every date
//! in panels): civil date conversion, weekdays, month ends, ISO formatting and parsing.

pub use dsl_runtime::dates::{civil_from_days, days_from_civil, format};

/// Day of week, 0 = Monday … 6 = Sunday.
pub fn weekday(days: i32) -> i32 {
    (days + 3).rem_euclid(7)
}

/// The last calendar day of the month containing `days`.
pub fn month_end(days: i32) -> i32 {
    let (y, m, _) = civil_from_days(days);
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    days_from_civil(ny, nm, 1) - 1
}

/// Parses `YYYY-MM-DD`.
pub fn parse(text: &str) -> Option<i32> {
    let mut it = text.trim().splitn(3, '-');
    let y: i32 = it.next()?.parse().ok()?;
    let m: u32 = it.next()?.parse().ok()?;
    let d: u32 = it.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || d == 0 {
        return None;
    }
    let days = days_from_civil(y, m, d);
    (civil_from_days(days) == (y, m, d)).then_some(days)
}

/// The first day of a date written as pandas reads a partial date string: `2015` → 2015-01-01,
/// `2015-03` → 2015-03-01, `2015-03-10` as is (`--start`).
pub fn first_day(s: &str) -> Result<i32, String> {
    partial_date(s).map(|(first, _)| first)
}

/// The last day of a partial date string: `2020` → 2020-12-31, `2020-02` → 2020-02-29 (`--end`).
pub fn last_day(s: &str) -> Result<i32, String> {
    partial_date(s).map(|(_, last)| last)
}

/// The first and last day a `YYYY`, `YYYY-MM` or `YYYY-MM-DD` string covers.
fn partial_date(s: &str) -> Result<(i32, i32), String> {
    let t = s.trim();
    let bad = || format!("`{s}` is not a date: write YYYY, YYYY-MM or YYYY-MM-DD");
    let parts: Vec<&str> = t.split('-').collect();
    let year = |y: &str| {
        y.parse::<i32>()
            .ok()
            .filter(|y| (1900..=2200).contains(y) && y.to_string().len() == 4)
    };
    match parts.as_slice() {
        [y] => {
            let y = year(y).ok_or_else(bad)?;
            let first = parse(&format!("{y}-01-01")).ok_or_else(bad)?;
            let last = parse(&format!("{y}-12-31")).ok_or_else(bad)?;
            Ok((first, last))
        }
        [y, m] => {
            let y = year(y).ok_or_else(bad)?;
            let m: u32 = m
                .parse()
                .ok()
                .filter(|m| (1..=12).contains(m))
                .ok_or_else(bad)?;
            let first = parse(&format!("{y}-{m:02}-01")).ok_or_else(bad)?;
            let next = if m == 12 {
                format!("{}-01-01", y + 1)
            } else {
                format!("{y}-{:02}-01", m + 1)
            };
            let last = parse(&next).ok_or_else(bad)? - 1;
            Ok((first, last))
        }
        [_, _, _] => {
            let d = parse(t).ok_or_else(bad)?;
            Ok((d, d))
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2024, 2, 29), 19782);
        assert_eq!(civil_from_days(19782), (2024, 2, 29));
        assert_eq!(weekday(days_from_civil(2024, 12, 31)), 1);
        assert_eq!(format(month_end(days_from_civil(2024, 2, 3))), "2024-02-29");
        assert_eq!(parse("2023-04-30"), Some(days_from_civil(2023, 4, 30)));
        assert_eq!(parse("2023-02-30"), None);
    }
}
