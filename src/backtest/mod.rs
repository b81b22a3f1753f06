//! The backtester: a native re-implementation of finlab's `sim()` for the common case (bool or
//! float positions, `resample` None/"M"/"W", T+1 execution at the adjusted close, weight
//! normalisation, fee on both sides and tax on sells). Contract: `spec/finlab-semantics.md` §2
//! (timing §2.3, weights §2.4, cash and costs §2.5, the daily loop §2.6, curve bounds §2.8).
//! In: the position panel and `etl:adj_close`; out: the equity curve and the trades.

pub mod schedule;

use std::collections::{BTreeMap, HashMap};

use dsl_runtime::wire::PanelData;
use serde::Serialize;

use schedule::schedule;
pub use schedule::Resample;

/// Taiwan's default fee ratio (1.425‰ per side).
pub const TW_FEE: f64 = 1.425 / 1000.0;
/// Taiwan's default securities transaction tax (3‰ on sells).
pub const TW_TAX: f64 = 3.0 / 1000.0;

/// `sim()` options.
#[derive(Clone, Debug, PartialEq)]
pub struct SimOptions {
    pub resample: Resample,
    pub fee_ratio: f64,
    pub tax_ratio: f64,
    pub position_limit: f64,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            resample: Resample::None,
            fee_ratio: TW_FEE,
            tax_ratio: TW_TAX,
            position_limit: 1.0,
        }
    }
}

/// Why a backtest could not run.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BacktestError {
    #[error("the position panel is empty")]
    EmptyPosition,
    #[error("the position holds nothing: every value is 0 or missing")]
    NoHoldings,
    #[error("no position column matches a stock in the price data (first columns: {0})")]
    NoCommonStocks(String),
    #[error("the price data has no dates")]
    NoPrices,
}

/// One round trip (or one piece of it, see [`simulate`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Trade {
    pub stock: String,
    /// Bar before the entry bar (finlab's `entry_sig_date`).
    pub entry_sig_date: i32,
    pub entry_date: i32,
    /// `None` while still held at the end.
    pub exit_date: Option<i32>,
    /// Weight at entry: target value / pre-trade NAV.
    pub weight: f64,
    /// Return including costs (paper value for open trades).
    #[serde(rename = "return")]
    pub ret: f64,
    /// Bars held.
    pub period: usize,
}

/// The result of a backtest.
#[derive(Clone, Debug, PartialEq)]
pub struct SimResult {
    /// (date, equity) after finlab's start/end trimming (§2.8).
    pub creturn: Vec<(i32, f64)>,
    pub trades: Vec<Trade>,
    /// Number of executed rebalances.
    pub rebalances: usize,
}

struct Holding {
    value: f64,
    last_price: f64,
    trade: OpenTrade,
}

struct OpenTrade {
    entry_bar: usize,
    weight: f64,
    /// Value ratio of the trade path (1 = break-even before the exit cost).
    ratio: f64,
    short: bool,
}

/// Runs `sim()` on a position panel against adjusted trade prices (`etl:adj_close`).
///
/// Trades are split as finlab splits them: with a periodic `resample` a holding kept across a
/// rebalance is closed and reopened (no costs at the split); with `resample=None` a continuously
/// held stock is one trade.
pub fn simulate(
    position: &PanelData,
    prices: &PanelData,
    opts: &SimOptions,
) -> Result<SimResult, BacktestError> {
    if position.dates.is_empty() || position.columns.is_empty() {
        return Err(BacktestError::EmptyPosition);
    }
    let bars = &prices.dates;
    let Some(&last_bar) = bars.last() else {
        return Err(BacktestError::NoPrices);
    };
    // Position columns absent from the prices are dropped (finlab warns); the rest map to price
    // columns, kept in the price frame's order.
    let price_col: HashMap<&str, usize> = prices
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    let mut cols: Vec<(usize, usize)> = position
        .columns
        .iter()
        .enumerate()
        .filter_map(|(pc, name)| price_col.get(name.as_str()).map(|&c| (c, pc)))
        .collect();
    cols.sort_unstable();
    if cols.is_empty() {
        let head: Vec<&str> = position
            .columns
            .iter()
            .take(5)
            .map(String::as_str)
            .collect();
        return Err(BacktestError::NoCommonStocks(head.join(", ")));
    }
    // Rows up to the present data date, NaN → 0 (§2.1 steps 7, 9).
    let n_rows = position.dates.partition_point(|&d| d <= last_bar);
    let dates = &position.dates[..n_rows];
    let rows: Vec<Vec<f64>> = (0..n_rows)
        .map(|r| {
            cols.iter()
                .map(|&(_, pc)| {
                    let v = position.get(r, pc);
                    if v.is_nan() {
                        0.0
                    } else {
                        v
                    }
                })
                .collect()
        })
        .collect();
    if !rows.iter().flatten().any(|v| *v != 0.0) {
        return Err(BacktestError::NoHoldings);
    }
    let plan = schedule(opts.resample, dates, &rows, bars);
    let periodic = opts.resample != Resample::None;
    let (fee, tax) = (opts.fee_ratio, opts.tax_ratio);

    let mut cash = 1.0;
    let mut held: BTreeMap<usize, Holding> = BTreeMap::new(); // key: index into `cols`
    let mut trades = Vec::new();
    let mut creturn = Vec::with_capacity(bars.len());
    let mut next = plan.iter().peekable();
    let price = |bar: usize, k: usize| prices.get(bar, cols[k].0);
    let stock = |k: usize| prices.columns[cols[k].0].clone();

    for (bar, &date) in bars.iter().enumerate() {
        // 1. Mark to market at the trade price; a missing quote freezes the value.
        for (&k, h) in held.iter_mut() {
            let p = price(bar, k);
            if h.last_price.is_nan() {
                h.last_price = p;
            }
            let r = p / h.last_price;
            if r.is_finite() {
                h.value *= r;
                h.trade.ratio = if h.trade.short {
                    2.0 - (2.0 - h.trade.ratio) * r
                } else {
                    h.trade.ratio * r
                };
            }
            if !p.is_nan() {
                h.last_price = p;
            }
        }
        // 4. Rebalance on this rebalance's execution bar.
        if let Some(rb) = next.next_if(|rb| rb.bar == bar) {
            let row = &rows[rb.row];
            let nav = cash + held.values().map(|h| h.value).sum::<f64>();
            let gross: f64 = row.iter().map(|w| w.abs()).sum();
            let scale = nav / gross.max(1.0);
            let cap = nav * opts.position_limit;
            let keys: Vec<usize> = held
                .keys()
                .copied()
                .chain((0..row.len()).filter(|&k| row[k] != 0.0))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            for k in keys {
                let w = row[k];
                let mut target = w * scale;
                if target.abs() > cap {
                    target = cap * w.signum();
                }
                let current = held.get(&k).map(|h| h.value).unwrap_or(0.0);
                let p = price(bar, k);
                if target == 0.0 {
                    if let Some(h) = held.remove(&k) {
                        cash += current - current.abs() * (fee + tax);
                        trades.push(close_trade(&stock(k), h.trade, bars, bar, Some(fee + tax)));
                    }
                    continue;
                }
                let a = target - current;
                let entry = (target >= 0.0 && a > 0.0) || (target <= 0.0 && a < 0.0);
                let cost = a.abs() * if entry { fee } else { fee + tax };
                let value = if a > 0.0 {
                    cash -= a;
                    current + a - cost
                } else {
                    cash += a.abs() - cost;
                    current - a.abs()
                };
                let flipped = current != 0.0 && (current > 0.0) != (target > 0.0);
                match held.get_mut(&k) {
                    Some(h) if !flipped => {
                        h.value = value;
                        h.last_price = p;
                        if periodic {
                            // Split the trade at the rebalance, without costs.
                            let old = std::mem::replace(
                                &mut h.trade,
                                OpenTrade {
                                    entry_bar: bar,
                                    weight: target / nav,
                                    ratio: 1.0,
                                    short: target < 0.0,
                                },
                            );
                            trades.push(close_trade(&stock(k), old, bars, bar, None));
                        }
                    }
                    _ => {
                        if let Some(h) = held.remove(&k) {
                            trades.push(close_trade(
                                &stock(k),
                                h.trade,
                                bars,
                                bar,
                                Some(fee + tax),
                            ));
                        }
                        held.insert(
                            k,
                            Holding {
                                value,
                                last_price: p,
                                trade: OpenTrade {
                                    entry_bar: bar,
                                    weight: target / nav,
                                    ratio: 1.0 - fee,
                                    short: target < 0.0,
                                },
                            },
                        );
                    }
                }
            }
        }
        // 5. Value at the close (trading at the close, so the trade price is the close).
        creturn.push((date, cash + held.values().map(|h| h.value).sum::<f64>()));
    }
    for (k, h) in held {
        trades.push(close_trade(&stock(k), h.trade, bars, bars.len() - 1, None));
        if let Some(t) = trades.last_mut() {
            t.exit_date = None;
        }
    }
    let rebalances = plan.len();
    Ok(SimResult {
        creturn: trim_curve(creturn, dates, last_bar),
        trades,
        rebalances,
    })
}

fn close_trade(stock: &str, t: OpenTrade, bars: &[i32], bar: usize, cost: Option<f64>) -> Trade {
    let ratio = match cost {
        Some(c) if t.short => 2.0 - (2.0 - t.ratio) * (1.0 + c),
        Some(c) => t.ratio * (1.0 - c),
        None => t.ratio,
    };
    Trade {
        stock: stock.to_string(),
        entry_sig_date: bars[t.entry_bar.saturating_sub(1)],
        entry_date: bars[t.entry_bar],
        exit_date: Some(bars[bar]),
        weight: t.weight,
        ret: ratio - 1.0,
        period: bar - t.entry_bar,
    }
}

/// finlab's curve bounds (§2.8 and the addendum): drop the leading run of exact 1.0 except its
/// last element; end at the last position row when the signals stopped early (with ≥ 3 rows,
/// `last + (last − third-last)` not after the last bar), else at the last bar.
fn trim_curve(mut curve: Vec<(i32, f64)>, signal_dates: &[i32], last_bar: i32) -> Vec<(i32, f64)> {
    let n = signal_dates.len();
    if n >= 3 {
        let (last, third) = (signal_dates[n - 1], signal_dates[n - 3]);
        if last + (last - third) <= last_bar {
            curve.retain(|(d, _)| *d <= last);
        }
    }
    let lead = curve.iter().take_while(|(_, v)| *v == 1.0).count();
    if lead > 1 {
        let keep_last = curve.len() - 1;
        curve.drain(..(lead - 1).min(keep_last));
    }
    curve
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panel(dates: Vec<i32>, cols: &[&str], values: Vec<f64>) -> PanelData {
        PanelData {
            name: String::new(),
            dates,
            columns: cols.iter().map(|s| s.to_string()).collect(),
            values,
        }
    }

    #[test]
    fn worked_example_of_the_spec() {
        // §2.6: A = 100,110,121; B = 50,50,45; one row dated d0 = {A, B}.
        let f = TW_FEE;
        let prices = panel(
            vec![0, 1, 2],
            &["A", "B"],
            vec![100., 110., 121., 50., 50., 45.],
        );
        let pos = panel(vec![0], &["A", "B"], vec![1.0, 1.0]);
        let r = simulate(&pos, &prices, &SimOptions::default()).unwrap();
        let v: Vec<f64> = r.creturn.iter().map(|x| x.1).collect();
        // d0 is the last element of the leading 1.0 run and stays.
        assert_eq!(v.len(), 3);
        assert_eq!(v[0], 1.0);
        assert!((v[1] - (1.0 - f)).abs() < 1e-15);
        assert!((v[2] - (1.0 - f) * (0.55 + 0.45)).abs() < 1e-15);
    }

    #[test]
    fn hand_computed_round_trip_with_fees_and_tax() {
        // Two stocks, five days. Row d0 buys X (weight 0.6) and Y (0.4); row d2 sells X, keeps Y
        // at 0.4 (float weights: the rest stays in cash).
        let (f, t) = (0.001425, 0.003);
        let prices = panel(
            vec![0, 1, 2, 3, 4],
            &["X", "Y"],
            vec![10., 10., 11., 12., 12., 20., 20., 18., 18., 19.],
        );
        let pos = panel(vec![0, 2], &["X", "Y"], vec![0.6, 0.0, 0.4, 0.4]);
        let r = simulate(&pos, &prices, &SimOptions::default()).unwrap();
        // d1: buy at 10 / 20. X value 0.6(1−f), Y 0.4(1−f), cash 0.
        let x1 = 0.6 * (1.0 - f);
        let y1 = 0.4 * (1.0 - f);
        let nav1 = x1 + y1;
        // d2: marks ×1.1 and ×0.9; row d2 executes on d3.
        let (x2, y2) = (x1 * 1.1, y1 * 0.9);
        // d3: marks ×12/11 and ×1; NAV B; targets X 0, Y 0.4·B.
        let (x3, y3) = (x2 * 12.0 / 11.0, y2);
        let b = x3 + y3;
        let mut cash = x3 - x3 * (f + t);
        let ty = 0.4 * b;
        let a = ty - y3; // > 0 here: a purchase
        assert!(a > 0.0);
        cash -= a;
        let y3b = y3 + a - a * f;
        let nav3 = cash + y3b;
        // d4: Y ×19/18.
        let nav4 = cash + y3b * 19.0 / 18.0;
        let want = [1.0, nav1, x2 + y2, nav3, nav4];
        assert_eq!(r.creturn.len(), 5);
        for (got, want) in r.creturn.iter().zip(want) {
            assert!((got.1 - want).abs() < 1e-12, "{got:?} vs {want}");
        }
        // Trades: X closed on d3: (1−f)·1.2·(1−f−t) − 1; Y open: (1−f)·0.95 − 1.
        assert_eq!(r.trades.len(), 2);
        let x = r.trades.iter().find(|t| t.stock == "X").unwrap();
        assert!((x.ret - ((1.0 - f) * 1.2 * (1.0 - f - t) - 1.0)).abs() < 1e-12);
        assert_eq!((x.entry_date, x.exit_date, x.period), (1, Some(3), 2));
        let y = r.trades.iter().find(|t| t.stock == "Y").unwrap();
        assert!((y.ret - ((1.0 - f) * 0.95 - 1.0)).abs() < 1e-12);
        assert_eq!(y.exit_date, None);
    }

    #[test]
    fn position_limit_leaves_cash() {
        let prices = panel(vec![0, 1, 2], &["A", "B"], vec![1., 1., 2., 1., 1., 1.]);
        let pos = panel(vec![0], &["A", "B"], vec![1.0, 1.0]);
        let opts = SimOptions {
            position_limit: 0.25,
            fee_ratio: 0.0,
            tax_ratio: 0.0,
            ..SimOptions::default()
        };
        let r = simulate(&pos, &prices, &opts).unwrap();
        // 25% in A, which doubles; 25% in B; 50% cash → 1.25
        assert!((r.creturn.last().unwrap().1 - 1.25).abs() < 1e-15);
    }

    #[test]
    fn errors_are_typed() {
        let prices = panel(vec![0, 1], &["A"], vec![1., 1.]);
        let empty = panel(vec![0], &["A"], vec![0.0]);
        assert_eq!(
            simulate(&empty, &prices, &SimOptions::default()),
            Err(BacktestError::NoHoldings)
        );
        let other = panel(vec![0], &["Z"], vec![1.0]);
        assert!(matches!(
            simulate(&other, &prices, &SimOptions::default()),
            Err(BacktestError::NoCommonStocks(_))
        ));
    }
}
