//! The rebalance schedule (`spec/finlab-semantics.md` §2.2–2.3): which position rows are acted
//! on, and the price bar each one executes on (the first bar strictly after its date).

use crate::calendar::{month_end, weekday};

/// `sim(resample=...)` values supported so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resample {
    /// Rebalance whenever the position row changes.
    None,
    /// Calendar month ends (`"M"`).
    Monthly,
    /// Sundays (`"W"` = `"W-SUN"`).
    Weekly,
}

impl Resample {
    /// Parses finlab's spelling (`None`, `"M"`, `"W"`).
    pub fn parse(text: Option<&str>) -> Option<Resample> {
        match text {
            None => Some(Resample::None),
            Some("M") | Some("ME") => Some(Resample::Monthly),
            Some("W") | Some("W-SUN") => Some(Resample::Weekly),
            Some(_) => None,
        }
    }
}

/// One rebalance: the signal date, the position row it uses and the bar it executes on.
#[derive(Clone, Debug, PartialEq)]
pub struct Rebalance {
    pub signal_date: i32,
    pub row: usize,
    pub bar: usize,
}

/// Rows of `position` kept under `resample=None`: the first and every row that differs from
/// the previous one (finlab: sum of |row − previous| ≠ 0).
fn changed_rows(values: &[Vec<f64>]) -> Vec<usize> {
    let mut rows = Vec::new();
    for (r, row) in values.iter().enumerate() {
        if r == 0 {
            rows.push(r);
            continue;
        }
        let prev = &values[r - 1];
        let diff: f64 = row.iter().zip(prev).map(|(a, b)| (a - b).abs()).sum();
        if diff != 0.0 {
            rows.push(r);
        }
    }
    rows
}

/// Calendar candidate dates from `first` to `last` (inclusive).
fn candidates(resample: Resample, first: i32, last: i32) -> Vec<i32> {
    match resample {
        Resample::None => Vec::new(),
        Resample::Monthly => {
            let mut out = Vec::new();
            let mut d = month_end(first);
            while d <= last {
                out.push(d);
                d = month_end(d + 1);
            }
            out
        }
        Resample::Weekly => (first..=last).filter(|&d| weekday(d) == 6).collect(),
    }
}

/// Builds the schedule. `rows` are the position rows (dense, NaN already 0) with their dates;
/// `bars` the price dates. `present` is the last date a schedule may contain (the last bar).
pub fn schedule(
    resample: Resample,
    dates: &[i32],
    rows: &[Vec<f64>],
    bars: &[i32],
) -> Vec<Rebalance> {
    let (Some(&first), Some(&last_bar)) = (dates.first(), bars.last()) else {
        return Vec::new();
    };
    let signals: Vec<(i32, usize)> = match resample {
        Resample::None => changed_rows(rows)
            .into_iter()
            .map(|r| (dates[r], r))
            .collect(),
        _ => candidates(resample, first, last_bar)
            .into_iter()
            .filter_map(|d| {
                // finlab: position.reindex(dates, method='ffill') — latest row on or before d.
                let n = dates.partition_point(|&x| x <= d);
                n.checked_sub(1).map(|r| (d, r))
            })
            .collect(),
    };
    let mut out: Vec<Rebalance> = Vec::new();
    for (signal_date, row) in signals {
        // T+1: the first bar strictly after the signal date.
        let bar = bars.partition_point(|&b| b <= signal_date);
        if bar >= bars.len() {
            continue;
        }
        // Several signals before the same bar: only the latest is used.
        if out.last().map(|r| r.bar) == Some(bar) {
            out.pop();
        }
        out.push(Rebalance {
            signal_date,
            row,
            bar,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::days_from_civil as d;

    #[test]
    fn monthly_uses_latest_row_and_trades_next_bar() {
        // bars: Fri 2023-04-28, Tue 05-02, Wed 05-31, Thu 06-01
        let bars = vec![d(2023, 4, 28), d(2023, 5, 2), d(2023, 5, 31), d(2023, 6, 1)];
        let dates = bars.clone();
        let rows = vec![vec![1.0], vec![0.0], vec![1.0], vec![1.0]];
        let s = schedule(Resample::Monthly, &dates, &rows, &bars);
        // Apr 30 (Sunday) → row of Apr 28, trades May 2; May 31 → row of May 31, trades Jun 1.
        assert_eq!(
            s,
            vec![
                Rebalance {
                    signal_date: d(2023, 4, 30),
                    row: 0,
                    bar: 1
                },
                Rebalance {
                    signal_date: d(2023, 5, 31),
                    row: 2,
                    bar: 3
                },
            ]
        );
    }

    #[test]
    fn none_trades_on_changes() {
        let bars = vec![1, 2, 3, 4, 5];
        let rows = vec![vec![1.0], vec![1.0], vec![0.0], vec![0.0], vec![1.0]];
        let s = schedule(Resample::None, &bars, &rows, &bars);
        let got: Vec<(usize, usize)> = s.iter().map(|r| (r.row, r.bar)).collect();
        // row 4 (date 5) has no bar after it
        assert_eq!(got, vec![(0, 1), (2, 3)]);
    }
}
