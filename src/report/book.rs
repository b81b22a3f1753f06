//! What a user acts on after a backtest: the book at the last bar (drifted weights, entry date,
//! return so far) and the next rebalance (when it executes, and per stock the action, the
//! current weight and the target weight from the latest position row), as `sim()` would trade
//! it (`docs/semantics.md` §2.2–2.4, §2.7, §2.9).

use std::collections::{HashMap, HashSet};

use dsl_runtime::wire::{PanelData, Position};

use crate::backtest::{Cell, ExitReason, SimResult, DELISTING_MIN_TRAILING_BARS};
use crate::data::reference;
use crate::simspec::{Resample, SimOptions};

/// What the next rebalance does to one stock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Held now, target 0.
    Sell,
    /// Not held now, target above 0.
    Buy,
    /// Held and kept, with a target weight different from the last rebalance's.
    Resize,
    /// Held and kept at the same target weight as at the last rebalance (the rebalance only
    /// trims the drift, if it trades at all).
    Keep,
}

impl Action {
    /// The word shown in tables.
    pub fn label(self) -> &'static str {
        match self {
            Action::Sell => "sell",
            Action::Buy => "buy",
            Action::Resize => "resize",
            Action::Keep => "keep",
        }
    }
}

/// One stock held at the last bar.
#[derive(Clone, Debug, PartialEq)]
pub struct Holding {
    pub stock: String,
    /// Value / NAV at the last close (drifted, not the entry weight).
    pub weight: f64,
    /// When the position was opened (the first piece of a holding split at rebalances).
    pub entry_date: Option<i32>,
    /// Return since the entry, after the entry fee (pieces compounded).
    pub ret: f64,
}

/// One line of the next rebalance.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub stock: String,
    pub action: Action,
    pub current: f64,
    pub target: f64,
}

/// When the next rebalance happens.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum When {
    /// A pending signal (a scheduled date, or a changed row under `resample=None`) that executes
    /// on the first session after it; `estimated` when that session is past the calendar the
    /// engine knows (then the next weekday).
    Pending {
        signal: i32,
        executes: i32,
        estimated: bool,
    },
    /// `resample=None` and the latest row equals the book's: the next trade waits for the next
    /// change of the position, at the earliest on `earliest`.
    OnChange { earliest: i32 },
}

/// The next rebalance.
#[derive(Clone, Debug, PartialEq)]
pub struct NextRebalance {
    pub when: When,
    /// The date of the position row the targets come from.
    pub row_date: i32,
    pub lines: Vec<Line>,
    /// Stocks the row selects that sit this rebalance out, and why.
    pub sitting_out: Vec<(String, &'static str)>,
}

/// The book at the last bar and the next rebalance.
#[derive(Clone, Debug, PartialEq)]
pub struct Book {
    /// The last bar of the backtest.
    pub as_of: i32,
    /// Largest weight first.
    pub holdings: Vec<Holding>,
    /// Σ |weight| of the holdings.
    pub exposure: f64,
    /// 1 − Σ weight.
    pub cash: f64,
    /// `None` when the backtest has no last bar or stopped at an `end_date` before the data's end.
    pub next: Option<NextRebalance>,
}

/// The position's rows up to the last bar, read as weights (NaN → 0, flags → 1/0).
struct Rows<'a> {
    position: &'a Position,
    n: usize,
}

impl Rows<'_> {
    fn get(&self, r: usize, c: usize) -> f64 {
        match self.position {
            Position::Weights(p) => p.get(r, c).weight(),
            Position::Flags(p) => p.get(r, c).weight(),
        }
    }

    fn same(&self, a: usize, b: usize, cols: usize) -> bool {
        (0..cols).all(|c| self.get(a, c).to_bits() == self.get(b, c).to_bits())
    }
}

/// The latest row dated on or before `d`.
fn row_at(dates: &[i32], d: i32) -> Option<usize> {
    dates.partition_point(|&x| x <= d).checked_sub(1)
}

/// The first session strictly after `d`: from the data's bars, then the reference calendar,
/// then the next weekday (`true`: estimated).
fn next_session(d: i32, bars: &[i32]) -> (i32, bool) {
    if let Some(&b) = bars.get(bars.partition_point(|&x| x <= d)) {
        return (b, false);
    }
    let sessions = reference::sessions().unwrap_or_default();
    if let Some(&(s, _)) = sessions.get(sessions.partition_point(|&(x, _)| x <= d)) {
        return (s, false);
    }
    let mut n = d + 1;
    while crate::calendar::weekday(n) >= 5 {
        n += 1;
    }
    (n, true)
}

/// Where the schedule stands at the last bar: the pending signal (if any), the row it reads,
/// the row in effect since the last executed rebalance and that rebalance's execution bar.
struct Schedule {
    signal: Option<i32>,
    target_row: usize,
    effect_row: Option<usize>,
    last_exec: Option<i32>,
}

fn schedule(opts: &SimOptions, dates: &[i32], rows: &Rows, cols: usize, bars: &[i32]) -> Schedule {
    let last_bar = bars[bars.len() - 1];
    let first = dates[0];
    let latest = rows.n - 1;
    let exec_of = |d: i32| bars.get(bars.partition_point(|&b| b <= d)).copied();
    match opts.resample {
        Resample::Every(freq) => {
            let cands: Vec<i32> = freq
                .candidates(first, last_bar + 360)
                .into_iter()
                .map(|d| d + opts.resample_offset)
                .filter(|&d| d >= first)
                .collect();
            let prev = cands.iter().copied().filter(|&d| d < last_bar).max();
            let next = cands.iter().copied().filter(|&d| d >= last_bar).min();
            Schedule {
                signal: next,
                target_row: next.and_then(|d| row_at(dates, d)).unwrap_or(latest),
                effect_row: prev.and_then(|d| row_at(dates, d)),
                last_exec: prev.and_then(exec_of),
            }
        }
        Resample::OnChange => {
            // Rows dated on the last bar have not executed yet.
            let executed = dates.partition_point(|&d| d < last_bar);
            let effect_row = executed.checked_sub(1);
            let pending = executed < rows.n
                && match effect_row {
                    Some(e) => !rows.same(latest, e, cols),
                    None => (0..cols).any(|c| rows.get(latest, c) != 0.0),
                };
            // The rebalance in effect executed after the first row of its run of equal rows.
            let mut start = effect_row;
            while let Some(s) = start.filter(|&s| s > 0 && rows.same(s, s - 1, cols)) {
                start = Some(s - 1);
            }
            Schedule {
                signal: pending.then_some(dates[latest]),
                target_row: latest,
                effect_row,
                last_exec: start.and_then(|s| exec_of(dates[s])),
            }
        }
    }
}

/// Target weights of a row as `sim()` sets them: `out` stocks get 0, the rest are scaled by
/// 1 / max(Σ|w|, 1) and capped at the position limit.
fn targets(rows: &Rows, r: usize, cols: &[usize], out: &HashSet<usize>, limit: f64) -> Vec<f64> {
    let raw: Vec<f64> = cols
        .iter()
        .map(|&c| {
            if out.contains(&c) {
                0.0
            } else {
                rows.get(r, c)
            }
        })
        .collect();
    let gross: f64 = raw.iter().map(|w| w.abs()).sum();
    let scale = 1.0 / gross.max(1.0);
    raw.iter()
        .map(|&w| {
            let t = w * scale;
            if t.abs() > limit {
                limit * w.signum()
            } else {
                t
            }
        })
        .collect()
}

/// The holdings at the last bar with their entry dates and returns (pieces of a holding split
/// at periodic rebalances are joined back).
fn holdings(result: &SimResult) -> Vec<Holding> {
    let held: HashSet<&str> = result.exposure.holdings.iter().map(|(s, _)| &**s).collect();
    let mut pieces: HashMap<&str, Vec<&crate::backtest::Trade>> = HashMap::new();
    for t in &result.trades {
        if held.contains(&*t.stock) {
            pieces.entry(&t.stock).or_default().push(t);
        }
    }
    let mut out: Vec<Holding> = result
        .exposure
        .holdings
        .iter()
        .map(|(stock, weight)| {
            let trades = pieces.get(&**stock).map_or(&[][..], Vec::as_slice);
            let mut chain = trades
                .iter()
                .rev()
                .skip_while(|t| t.exit_reason != ExitReason::Open);
            let (mut entry, mut growth) = match chain.next() {
                Some(t) => (Some(t.entry_date), 1.0 + t.ret),
                None => (None, f64::NAN),
            };
            for t in chain {
                if t.exit_reason != ExitReason::Split || t.exit_date != entry {
                    break;
                }
                entry = Some(t.entry_date);
                growth *= 1.0 + t.ret;
            }
            Holding {
                stock: stock.to_string(),
                weight: *weight,
                entry_date: entry,
                ret: growth - 1.0,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.weight
            .abs()
            .total_cmp(&a.weight.abs())
            .then(a.stock.cmp(&b.stock))
    });
    out
}

/// The book and the next rebalance of a backtest of `position` with `opts` on the prices
/// `close` (the adjusted close the backtest used).
pub fn book(position: &Position, opts: &SimOptions, result: &SimResult, close: &PanelData) -> Book {
    let end = opts.end_date.unwrap_or(i32::MAX);
    let bars = &close.dates[..close.dates.partition_point(|&d| d <= end)];
    let holdings = holdings(result);
    let exposure = holdings.iter().map(|h| h.weight.abs()).sum();
    let cash = 1.0 - holdings.iter().map(|h| h.weight).sum::<f64>();
    let as_of = bars.last().copied().unwrap_or_default();
    let ended_early = opts.end_date.is_some() && bars.len() < close.dates.len();
    let next = if bars.is_empty() || ended_early {
        None
    } else {
        next_rebalance(position, opts, result, close, bars, &holdings)
    };
    Book {
        as_of,
        holdings,
        exposure,
        cash,
        next,
    }
}

fn next_rebalance(
    position: &Position,
    opts: &SimOptions,
    result: &SimResult,
    close: &PanelData,
    bars: &[i32],
    holdings: &[Holding],
) -> Option<NextRebalance> {
    let last_bar = *bars.last()?;
    let n = position.dates().partition_point(|&d| d <= last_bar);
    if n == 0 {
        return None;
    }
    let dates = &position.dates()[..n];
    let rows = Rows { position, n };
    let names = position.columns();
    let s = schedule(opts, dates, &rows, names.len(), bars);

    // Columns with prices (the backtest drops the rest), and who sits the rebalance out.
    let price_col: HashMap<&str, usize> = close
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    let cols: Vec<usize> = (0..names.len())
        .filter(|&c| price_col.contains_key(names[c].as_str()))
        .collect();
    let stopped = stopped_since(result, opts, s.last_exec);
    let mut out = HashSet::new();
    let mut sitting_out = Vec::new();
    for &c in &cols {
        let name = names[c].as_str();
        let prices = &close.column(price_col[name])[..bars.len()];
        let delisted = prices
            .iter()
            .rposition(|v| !v.is_nan())
            .is_some_and(|last| bars.len() - 1 - last >= DELISTING_MIN_TRAILING_BARS);
        let reason = if delisted {
            Some("no price for 20+ sessions (delisted)")
        } else if stopped.contains(name) {
            Some("stopped out since the last rebalance (stop_trading_next_period)")
        } else {
            None
        };
        if let Some(reason) = reason {
            out.insert(c);
            if rows.get(s.target_row, c) != 0.0 {
                sitting_out.push((name.to_string(), reason));
            }
        }
    }
    let limit = opts.position_limit;
    let target = targets(&rows, s.target_row, &cols, &out, limit);
    let before = match s.effect_row {
        Some(r) => targets(&rows, r, &cols, &HashSet::new(), limit),
        None => vec![0.0; cols.len()],
    };
    let lines = lines(names, &cols, &target, &before, holdings);
    let when = match s.signal {
        Some(signal) => {
            let (executes, estimated) = next_session(signal, bars);
            When::Pending {
                signal,
                executes,
                estimated,
            }
        }
        None => When::OnChange {
            earliest: next_session(last_bar, bars).0,
        },
    };
    Some(NextRebalance {
        when,
        row_date: dates[s.target_row],
        lines,
        sitting_out,
    })
}

/// Stocks sold by a stop after the last executed rebalance (executed on `last_exec`), which sit
/// the next one out with `stop_trading_next_period`.
fn stopped_since<'a>(
    result: &'a SimResult,
    opts: &SimOptions,
    last_exec: Option<i32>,
) -> HashSet<&'a str> {
    if !opts.stop_trading_next_period {
        return HashSet::new();
    }
    result
        .trades
        .iter()
        .filter(|t| {
            matches!(
                t.exit_reason,
                ExitReason::StopLoss | ExitReason::TakeProfit | ExitReason::TrailStop
            ) && t.exit_date > last_exec
        })
        .map(|t| &*t.stock)
        .collect()
}

/// One line per stock held or targeted (`cols` index the position's `names`; `target` and
/// `before` follow `cols`): sells first, then buys, resizes and keeps, largest target first.
fn lines(
    names: &[String],
    cols: &[usize],
    target: &[f64],
    before: &[f64],
    holdings: &[Holding],
) -> Vec<Line> {
    let current: HashMap<&str, f64> = holdings
        .iter()
        .map(|h| (h.stock.as_str(), h.weight))
        .collect();
    let mut lines: Vec<Line> = Vec::new();
    for (i, &c) in cols.iter().enumerate() {
        let stock = names[c].as_str();
        let now = current.get(stock).copied().unwrap_or(0.0);
        if let Some(action) = action(now, target[i], before[i]) {
            lines.push(Line {
                stock: stock.to_string(),
                action,
                current: now,
                target: target[i],
            });
        }
    }
    // Held stocks the position has no column for are sold.
    let listed: HashSet<&str> = cols.iter().map(|&c| names[c].as_str()).collect();
    for h in holdings
        .iter()
        .filter(|h| !listed.contains(h.stock.as_str()))
    {
        lines.push(Line {
            stock: h.stock.clone(),
            action: Action::Sell,
            current: h.weight,
            target: 0.0,
        });
    }
    lines.sort_by(|a, b| {
        (a.action, b.target.abs(), b.current.abs(), &a.stock)
            .partial_cmp(&(b.action, a.target.abs(), a.current.abs(), &b.stock))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    lines
}

/// The action for a stock held at `now` with the new `target` (the last rebalance's: `before`);
/// `None` when it is neither held nor wanted.
fn action(now: f64, target: f64, before: f64) -> Option<Action> {
    Some(match (now != 0.0, target != 0.0) {
        (false, false) => return None,
        (false, true) => Action::Buy,
        (true, false) => Action::Sell,
        (true, true) if (target - before).abs() <= 1e-12 => Action::Keep,
        (true, true) => Action::Resize,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backtest::{simulate, Market};
    use crate::calendar::days_from_civil as d;
    use crate::simspec::Frequency;

    fn panel(dates: &[i32], cols: &[&str], by_col: &[Vec<f64>]) -> PanelData {
        PanelData {
            name: "p".into(),
            dates: dates.to_vec(),
            columns: cols.iter().map(|c| c.to_string()).collect(),
            values: by_col.concat(),
        }
    }

    /// Sessions Mon 2024-01-01 → Wed 2024-01-31 (weekdays), three stocks with simple prices.
    fn market() -> (Vec<i32>, PanelData) {
        let bars: Vec<i32> = (d(2024, 1, 1)..=d(2024, 1, 31))
            .filter(|&x| crate::calendar::weekday(x) < 5)
            .collect();
        let n = bars.len();
        let rising: Vec<f64> = (0..n).map(|i| 100.0 + i as f64).collect();
        let flat = vec![50.0; n];
        let falling: Vec<f64> = (0..n).map(|i| 80.0 - i as f64).collect();
        let close = panel(&bars, &["1101", "2330", "2454"], &[rising, flat, falling]);
        (bars, close)
    }

    fn run(pos: &PanelData, close: &PanelData, opts: &SimOptions) -> (SimResult, Book) {
        let market = Market {
            close,
            open: None,
            high: None,
            low: None,
        };
        let result = simulate(pos, &market, opts).unwrap();
        let book = book(&Position::Weights(pos.clone()), opts, &result, close);
        (result, book)
    }

    #[test]
    fn weekly_book_has_drifted_weights_and_the_next_friday() {
        let (bars, close) = market();
        let n = bars.len();
        // Hold 1101 and 2330 equally; from Mon Jan 29 the rows switch 2330 for 2454.
        let switch = bars.iter().position(|&b| b == d(2024, 1, 29)).unwrap();
        let a = vec![1.0; n];
        let b: Vec<f64> = (0..n).map(|i| f64::from(u8::from(i < switch))).collect();
        let c: Vec<f64> = (0..n).map(|i| f64::from(u8::from(i >= switch))).collect();
        let pos = panel(&bars, &["1101", "2330", "2454"], &[a, b, c]);
        let opts = SimOptions {
            resample: Resample::Every(Frequency::parse("W-FRI").unwrap()),
            ..SimOptions::default()
        };
        let (result, book) = run(&pos, &close, &opts);
        assert_eq!(book.as_of, d(2024, 1, 31));
        // The last rebalance (Fri Jan 26, executed Mon Jan 29) bought 50/50; 1101 rose since.
        let w: Vec<(&str, f64)> = book
            .holdings
            .iter()
            .map(|h| (h.stock.as_str(), h.weight))
            .collect();
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].0, "1101");
        assert!(w[0].1 > 0.5 && w[1].1 < 0.5, "{w:?}");
        assert!((book.exposure + book.cash - 1.0).abs() < 1e-12);
        assert!(book.cash.abs() < 0.01, "{}", book.cash);
        assert!(result.creturn.last().unwrap().1 > 0.0);
        // 1101 was first bought at the first rebalance (Fri Jan 5, executed Mon Jan 8, the 6th
        // session, close 105) and split weekly since; its return joins the pieces.
        let h = &book.holdings[0];
        assert_eq!(h.entry_date, Some(d(2024, 1, 8)));
        let want = (1.0 - opts.fee_ratio) * 122.0 / 105.0 - 1.0;
        assert!((h.ret - want).abs() < 1e-9, "{} vs {want}", h.ret);
        // Next: Friday Feb 2, executed Monday Feb 5 (reference calendar), from the last row.
        let next = book.next.unwrap();
        assert_eq!(
            next.when,
            When::Pending {
                signal: d(2024, 2, 2),
                executes: d(2024, 2, 5),
                estimated: false
            }
        );
        assert_eq!(next.row_date, d(2024, 1, 31));
        let lines: Vec<(&str, Action, f64)> = next
            .lines
            .iter()
            .map(|l| (l.stock.as_str(), l.action, l.target))
            .collect();
        // The rebalance of Jan 26 still read the old row: 2330 is held, 2454 is not.
        assert_eq!(
            lines,
            vec![
                ("2330", Action::Sell, 0.0),
                ("2454", Action::Buy, 0.5),
                ("1101", Action::Keep, 0.5)
            ]
        );
    }

    #[test]
    fn on_change_book_waits_for_a_change_or_trades_the_next_session() {
        let (bars, close) = market();
        let n = bars.len();
        let a = vec![1.0; n];
        let mut b = vec![0.0; n];
        b[n - 1] = 1.0; // 2330 joins on the last bar: a pending change.
        let pos = panel(
            &bars,
            &["1101", "2330", "2454"],
            &[a.clone(), b, vec![0.0; n]],
        );
        let opts = SimOptions::default();
        let (_, book) = run(&pos, &close, &opts);
        let next = book.next.unwrap();
        assert_eq!(
            next.when,
            When::Pending {
                signal: d(2024, 1, 31),
                executes: d(2024, 2, 1),
                estimated: false
            }
        );
        let lines: Vec<(&str, Action, f64)> = next
            .lines
            .iter()
            .map(|l| (l.stock.as_str(), l.action, l.target))
            .collect();
        assert_eq!(
            lines,
            vec![("2330", Action::Buy, 0.5), ("1101", Action::Resize, 0.5)]
        );
        assert_eq!(book.holdings.len(), 1);
        assert_eq!(book.holdings[0].entry_date, Some(d(2024, 1, 2)));
        // No change on the last bar: nothing pending, the book is kept.
        let pos = panel(
            &bars,
            &["1101", "2330", "2454"],
            &[a, vec![0.0; n], vec![0.0; n]],
        );
        let (_, book) = run(&pos, &close, &opts);
        let next = book.next.unwrap();
        assert_eq!(
            next.when,
            When::OnChange {
                earliest: d(2024, 2, 1)
            }
        );
        assert_eq!(next.lines.len(), 1);
        assert_eq!(next.lines[0].action, Action::Keep);
        assert!((book.holdings[0].weight - 1.0).abs() < 1e-12);
    }

    #[test]
    fn actions_and_position_limit() {
        assert_eq!(action(0.0, 0.0, 0.0), None);
        assert_eq!(action(0.0, 0.1, 0.0), Some(Action::Buy));
        assert_eq!(action(0.2, 0.0, 0.2), Some(Action::Sell));
        assert_eq!(action(0.23, 0.2, 0.2), Some(Action::Keep));
        assert_eq!(action(0.23, 0.1, 0.2), Some(Action::Resize));
        let pos = panel(
            &[1],
            &["a", "b", "c"],
            &[vec![3.0], vec![1.0], vec![f64::NAN]],
        );
        let p = Position::Weights(pos);
        let rows = Rows { position: &p, n: 1 };
        let t = targets(&rows, 0, &[0, 1, 2], &HashSet::new(), 0.5);
        assert_eq!(t, vec![0.5, 0.25, 0.0]);
        let out: HashSet<usize> = [0].into();
        assert_eq!(
            targets(&rows, 0, &[0, 1, 2], &out, 1.0),
            vec![0.0, 1.0, 0.0]
        );
    }

    #[test]
    fn next_session_falls_back_to_the_calendar_then_weekdays() {
        assert_eq!(
            next_session(d(2024, 1, 5), &[d(2024, 1, 5)]),
            (d(2024, 1, 8), false)
        );
        let (s, est) = next_session(d(2099, 1, 2), &[]);
        assert!(est && s == d(2099, 1, 5), "{s}");
    }
}
