//! The date window of `backtest` and `sim` (`--start`, `--end`): finlab's way to set a start is
//! `sim(position.loc["2015":])`, and its `sim(end_date=...)` sets the last date.

use dsl_runtime::wire::{PanelData, Position};

use crate::backtest::SimOptions;
use crate::calendar;

/// A backtest's dates: position rows before `start` are dropped (as `position.loc[start:]`
/// does), and `end` is the simulation's last date (finlab's `end_date`: prices and position
/// rows after it are dropped and the curve ends there). Both bounds are inclusive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Window {
    /// First position date kept (days since 1970-01-01).
    pub start: Option<i32>,
    /// Last date of the simulation (days since 1970-01-01).
    pub end: Option<i32>,
}

/// Why a window cannot be applied.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WindowError {
    /// `--start` is after `--end`.
    #[error("--start {start} is after --end {end}")]
    Reversed {
        /// The start, `YYYY-MM-DD`.
        start: String,
        /// The end, `YYYY-MM-DD`.
        end: String,
    },
    /// No position row is left in the window.
    #[error(
        "the position has no row from {start} to {end} (its rows run from {first} to {last}); \
         choose dates inside them"
    )]
    Empty {
        /// The window's start, `YYYY-MM-DD` (or "the beginning").
        start: String,
        /// The window's end, `YYYY-MM-DD` (or "the end").
        end: String,
        /// The position's first date.
        first: String,
        /// The position's last date.
        last: String,
    },
}

impl Window {
    /// A window from two optional bounds, refusing a start after the end.
    pub fn new(start: Option<i32>, end: Option<i32>) -> Result<Window, WindowError> {
        if let (Some(s), Some(e)) = (start, end) {
            if s > e {
                return Err(WindowError::Reversed {
                    start: calendar::format(s),
                    end: calendar::format(e),
                });
            }
        }
        Ok(Window { start, end })
    }

    /// Drops the position's rows before `start` and makes `end` the options' `end_date` (the
    /// earlier of it and one the strategy set). Refuses a window that leaves no position row.
    pub fn apply(&self, position: &mut Position, opts: &mut SimOptions) -> Result<(), WindowError> {
        if let Some(end) = self.end {
            opts.end_date = Some(opts.end_date.map_or(end, |e| e.min(end)));
        }
        let dates = position.dates();
        let (Some(&first), Some(&last)) = (dates.first(), dates.last()) else {
            return Ok(());
        };
        let from = self.start.map_or(0, |s| dates.partition_point(|&d| d < s));
        let to = opts
            .end_date
            .map_or(dates.len(), |e| dates.partition_point(|&d| d <= e));
        if from >= to {
            let bound = |d: Option<i32>, none: &str| d.map_or(none.to_string(), calendar::format);
            return Err(WindowError::Empty {
                start: bound(self.start, "the beginning"),
                end: bound(opts.end_date, "the end"),
                first: calendar::format(first),
                last: calendar::format(last),
            });
        }
        match position {
            Position::Weights(p) => drop_rows_before(p, from),
            Position::Flags(p) => drop_rows_before(p, from),
        }
        Ok(())
    }
}

/// Removes the first `from` rows of a column-major panel.
fn drop_rows_before<T: Copy>(p: &mut PanelData<Vec<T>>, from: usize) {
    if from == 0 {
        return;
    }
    let n = p.dates.len();
    let mut kept = Vec::with_capacity((n - from) * p.columns.len());
    for c in 0..p.columns.len() {
        kept.extend_from_slice(&p.values[c * n + from..(c + 1) * n]);
    }
    p.values = kept;
    p.dates.drain(..from);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights(dates: Vec<i32>, cols: usize) -> Position {
        let n = dates.len();
        Position::Weights(PanelData {
            name: "position".into(),
            dates,
            columns: (0..cols).map(|c| c.to_string()).collect(),
            values: (0..n * cols).map(|v| v as f64).collect(),
        })
    }

    #[test]
    fn start_drops_earlier_rows_of_every_column() {
        let mut p = weights(vec![10, 11, 12, 13], 2);
        let mut opts = SimOptions::default();
        Window::new(Some(12), None)
            .unwrap()
            .apply(&mut p, &mut opts)
            .unwrap();
        let Position::Weights(p) = p else { panic!() };
        assert_eq!(p.dates, vec![12, 13]);
        assert_eq!(p.values, vec![2.0, 3.0, 6.0, 7.0]);
        assert_eq!(opts.end_date, None);
    }

    #[test]
    fn end_takes_the_earlier_of_the_flag_and_the_strategy() {
        let mut p = weights(vec![10, 11, 12], 1);
        let mut opts = SimOptions {
            end_date: Some(11),
            ..SimOptions::default()
        };
        Window::new(None, Some(12))
            .unwrap()
            .apply(&mut p, &mut opts)
            .unwrap();
        assert_eq!(opts.end_date, Some(11));
        let mut opts = SimOptions::default();
        Window::new(None, Some(11))
            .unwrap()
            .apply(&mut p, &mut opts)
            .unwrap();
        assert_eq!(opts.end_date, Some(11));
    }

    #[test]
    fn a_reversed_or_empty_window_is_refused() {
        assert!(matches!(
            Window::new(Some(12), Some(11)),
            Err(WindowError::Reversed { .. })
        ));
        let mut p = weights(vec![10, 11], 1);
        let e = Window::new(Some(20), None)
            .unwrap()
            .apply(&mut p, &mut SimOptions::default())
            .unwrap_err();
        assert!(e.to_string().contains("no row from 1970-01-21"), "{e}");
        let e = Window::new(None, Some(5))
            .unwrap()
            .apply(&mut p, &mut SimOptions::default())
            .unwrap_err();
        assert!(matches!(e, WindowError::Empty { .. }));
    }
}
