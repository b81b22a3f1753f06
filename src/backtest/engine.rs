//! The daily loop of `sim()` (`spec/finlab-semantics.md` §2.5–2.7, §2.9), per bar:
//! touched stops (intraday, when `touched_exit`), mark to market at the trade price, close-based
//! stop detection (queued for the next bar), yesterday's queued stop exits, delisting sales, the
//! rebalance, and the value at the close.

use std::collections::{BTreeMap, BTreeSet};

use super::schedule::Rebalance;
use super::trades::{ExitReason, OpenTrade, Trade};
use crate::simspec::{Resample, SimOptions};

/// Price columns of the stocks the position uses, one `Vec` per stock over all bars.
pub(crate) struct Columns {
    pub bars: Vec<i32>,
    pub stocks: Vec<String>,
    /// Fill prices (`trade_at_price`), adjusted.
    pub trade: Vec<Vec<f64>>,
    /// Adjusted close (valuation and close-based stops).
    pub close: Vec<Vec<f64>>,
    /// Adjusted open, high, low — only for `touched_exit`.
    pub ohl: Option<[Vec<Vec<f64>>; 3]>,
    /// Bar on which each stock is sold as delisted, if any.
    pub delist: Vec<Option<usize>>,
}

/// Book-keeping statistics the metrics need beyond the curve.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Exposure {
    /// Mean of gross holdings / NAV over bars since the first rebalance.
    pub avg_exposure: f64,
    /// Mean and max number of stocks held over those bars.
    pub avg_n_stock: f64,
    pub max_n_stock: usize,
    /// Σ |traded value| / NAV over the whole run (buys and sells; 2.0 = the book bought and sold once).
    pub traded: f64,
}

struct Holding {
    value: f64,
    last_price: f64,
    /// Price ratio since the cost basis was set, and its running max / min (trailing stops).
    cr: f64,
    peak: f64,
    trough: f64,
    trade: OpenTrade,
}

#[derive(Clone, Copy)]
struct Stops {
    sl: f64,
    tp: f64,
    ts: f64,
    act: f64,
}

impl Stops {
    fn new(o: &SimOptions) -> Stops {
        let t = |x: Option<f64>| match x {
            Some(v) if v != 0.0 => v.abs(),
            _ => f64::INFINITY,
        };
        Stops {
            sl: t(o.stop_loss),
            tp: t(o.take_profit),
            ts: t(o.trail_stop),
            act: o.trail_stop_activation.map(f64::abs).unwrap_or(0.0),
        }
    }

    /// (upper, lower, reason at upper, reason at lower) for a holding.
    fn bounds(&self, h: &Holding) -> (f64, f64, ExitReason, ExitReason) {
        if h.trade.short {
            let sl = 1.0 + self.sl;
            // finlab: the trail term applies once the favourable run reaches the activation.
            let tr = if self.ts.is_finite() && h.trough <= 1.0 - self.act {
                h.trough + self.ts
            } else {
                f64::INFINITY
            };
            let reason = if tr < sl {
                ExitReason::TrailStop
            } else {
                ExitReason::StopLoss
            };
            (sl.min(tr), 1.0 - self.tp, reason, ExitReason::TakeProfit)
        } else {
            let sl = 1.0 - self.sl;
            let tr = if self.ts.is_finite() && h.peak >= 1.0 + self.act {
                h.peak - self.ts
            } else {
                f64::NEG_INFINITY
            };
            let reason = if tr > sl {
                ExitReason::TrailStop
            } else {
                ExitReason::StopLoss
            };
            (1.0 + self.tp, sl.max(tr), ExitReason::TakeProfit, reason)
        }
    }

    fn clip(&self) -> (f64, f64) {
        (self.sl, self.tp)
    }
}

/// Runs the loop. Returns the raw curve (one value per bar), the trades and the exposure stats.
pub(crate) fn run(
    cols: &Columns,
    rows: &[Vec<f64>],
    plan: &[Rebalance],
    opts: &SimOptions,
) -> (Vec<f64>, Vec<Trade>, Exposure) {
    let n = cols.bars.len();
    let (fee, tax) = (opts.fee_ratio, opts.tax_ratio);
    let stops = Stops::new(opts);
    let has_stops = opts.has_stops();
    let periodic = matches!(opts.resample, Resample::Every(_));
    let mut cash = 1.0;
    let mut held: BTreeMap<usize, Holding> = BTreeMap::new();
    let mut trades = Vec::new();
    let mut curve = Vec::with_capacity(n);
    let mut queued: Vec<(usize, ExitReason)> = Vec::new();
    let mut stopped: BTreeSet<usize> = BTreeSet::new();
    let mut next = plan.iter().peekable();
    let mut exposure = Exposure::default();
    let mut active_bars = 0usize;
    let stock = |k: usize| cols.stocks[k].as_str();

    for bar in 0..n {
        let p = |k: usize| cols.trade[k][bar];
        let c = |k: usize| cols.close[k][bar];

        // Touched exits: intraday against open/high/low, filled this bar at the threshold (or
        // the open on a gap), using the state before today's mark.
        if let (true, Some([o, hi, lo])) = (opts.touched_exit && has_stops, &cols.ohl) {
            let keys: Vec<usize> = held.keys().copied().collect();
            for k in keys {
                let Some(h) = held.get(&k) else { continue };
                let base = h.cr / h.last_price;
                let (ro, rh, rl) = (base * o[k][bar], base * hi[k][bar], base * lo[k][bar]);
                if !(ro.is_finite() && rh.is_finite() && rl.is_finite()) {
                    continue;
                }
                let (upper, lower, up_reason, low_reason) = stops.bounds(h);
                let hit = if ro >= upper {
                    Some((ro, up_reason))
                } else if ro <= lower {
                    Some((ro, low_reason))
                } else if rh >= upper {
                    Some((upper, up_reason))
                } else if rl <= lower {
                    Some((lower, low_reason))
                } else {
                    None
                };
                if let Some((ratio, reason)) = hit {
                    if let Some(h) = held.remove(&k) {
                        let value = h.value / h.cr * ratio;
                        cash += value - value.abs() * (fee + tax);
                        exposure.traded += value.abs() / nav(cash, &held).max(1e-12);
                        let fill = h.last_price * ratio / h.cr;
                        trades.push(h.trade.close(
                            stock(k),
                            &cols.bars,
                            bar,
                            fill,
                            Some(fee + tax),
                            reason,
                            true,
                            Some(stops.clip()),
                        ));
                        stopped.insert(k);
                    }
                }
            }
        }

        // 1. Mark to market at the trade price; a missing quote freezes the value.
        for (&k, h) in held.iter_mut() {
            let price = p(k);
            if h.last_price.is_nan() {
                h.last_price = price;
            }
            let r = price / h.last_price;
            if r.is_finite() {
                h.value *= r;
                h.cr *= r;
                h.peak = h.peak.max(h.cr);
                h.trough = h.trough.min(h.cr);
            }
            if !price.is_nan() {
                h.last_price = price;
            }
        }

        // 2. Close-based stops: detected today, sold on the next bar.
        let mut detected = Vec::new();
        if has_stops && !opts.touched_exit {
            for (&k, h) in &held {
                let q = h.cr * c(k) / p(k);
                if q.is_nan() || queued.iter().any(|(j, _)| *j == k) {
                    continue;
                }
                let (upper, lower, up_reason, low_reason) = stops.bounds(h);
                let hit = if h.trade.short {
                    if q <= lower {
                        Some(low_reason)
                    } else if q > upper {
                        Some(up_reason)
                    } else {
                        None
                    }
                } else if q >= upper {
                    Some(up_reason)
                } else if q < lower {
                    Some(low_reason)
                } else {
                    None
                };
                if let Some(reason) = hit {
                    detected.push((k, reason));
                }
            }
        }

        // 3. Yesterday's queued stops (a stock without a quote sells at its frozen value),
        //    then delisting sales.
        let mut sells: Vec<(usize, ExitReason)> = std::mem::take(&mut queued);
        sells.extend(
            held.keys()
                .filter(|&&k| cols.delist[k] == Some(bar))
                .map(|&k| (k, ExitReason::Delisted)),
        );
        for (k, reason) in sells {
            if let Some(h) = held.remove(&k) {
                exposure.traded += h.value.abs() / (cash + h.value + sum(&held)).max(1e-12);
                cash += h.value - h.value.abs() * (fee + tax);
                trades.push(h.trade.close(
                    stock(k),
                    &cols.bars,
                    bar,
                    p(k),
                    Some(fee + tax),
                    reason,
                    false,
                    None,
                ));
                if reason != ExitReason::Delisted {
                    stopped.insert(k);
                }
            }
        }
        queued = detected;

        // 4. Rebalance on this rebalance's execution bar.
        if let Some(rb) = next.next_if(|rb| rb.bar == bar) {
            let mut w = rows[rb.row].clone();
            for (k, wk) in w.iter_mut().enumerate() {
                // Delisted stocks get weight 0 from their sale bar on (§2.7); with
                // stop_trading_next_period, names stopped since the last rebalance sit this one out.
                let gone = cols.delist[k].is_some_and(|b| b <= bar);
                if gone || (opts.stop_trading_next_period && stopped.contains(&k)) {
                    *wk = 0.0;
                }
            }
            stopped.clear();
            let nav = cash + sum(&held);
            let gross: f64 = w.iter().map(|x| x.abs()).sum();
            let scale = nav / gross.max(1.0);
            let cap = nav * opts.position_limit;
            let keys: BTreeSet<usize> = held
                .keys()
                .copied()
                .chain((0..w.len()).filter(|&k| w[k] != 0.0))
                .collect();
            for k in keys {
                let mut target = w[k] * scale;
                if target.abs() > cap {
                    target = cap * w[k].signum();
                }
                let current = held.get(&k).map(|h| h.value).unwrap_or(0.0);
                let price = p(k);
                exposure.traded += (target - current).abs() / nav.max(1e-12);
                if target == 0.0 {
                    if let Some(h) = held.remove(&k) {
                        cash += current - current.abs() * (fee + tax);
                        trades.push(h.trade.close(
                            stock(k),
                            &cols.bars,
                            bar,
                            price,
                            Some(fee + tax),
                            ExitReason::Rebalance,
                            false,
                            None,
                        ));
                    }
                    continue;
                }
                // §2.5: an entry raises absolute exposure and pays the fee; a reduction pays
                // fee + tax.
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
                        h.last_price = price;
                        if !opts.retain_cost_when_rebalance {
                            (h.cr, h.peak, h.trough) = (1.0, 1.0, 1.0);
                            if periodic {
                                // finlab splits a kept holding at every periodic rebalance,
                                // without costs at the split (§3).
                                let piece = OpenTrade::open(bar, target / nav, price, None);
                                let old = std::mem::replace(&mut h.trade, piece);
                                trades.push(old.close(
                                    stock(k),
                                    &cols.bars,
                                    bar,
                                    price,
                                    None,
                                    ExitReason::Split,
                                    false,
                                    None,
                                ));
                            }
                        }
                    }
                    _ => {
                        if let Some(h) = held.remove(&k) {
                            trades.push(h.trade.close(
                                stock(k),
                                &cols.bars,
                                bar,
                                price,
                                Some(fee + tax),
                                ExitReason::Rebalance,
                                false,
                                None,
                            ));
                        }
                        held.insert(
                            k,
                            Holding {
                                value,
                                last_price: price,
                                cr: 1.0,
                                peak: 1.0,
                                trough: 1.0,
                                trade: OpenTrade::open(bar, target / nav, price, Some(fee)),
                            },
                        );
                    }
                }
            }
            // A queued stop of a stock the rebalance just re-bought still sells next bar
            // (project decision, finlab-semantics addendum); one it sold is dropped.
            queued.retain(|(k, _)| held.contains_key(k));
        }

        // 5. Value at the close, and mark every trade's path at the close.
        let mut gross = 0.0;
        let mut value = cash;
        for (&k, h) in held.iter_mut() {
            let r = c(k) / p(k);
            let v = if r.is_finite() { h.value * r } else { h.value };
            value += v;
            gross += v.abs();
            h.trade.mark(c(k));
        }
        curve.push(value);
        if plan.first().is_some_and(|rb| bar >= rb.bar) {
            active_bars += 1;
            exposure.avg_exposure += gross / value.abs().max(1e-12);
            exposure.avg_n_stock += held.len() as f64;
            exposure.max_n_stock = exposure.max_n_stock.max(held.len());
        }
    }
    if active_bars > 0 {
        exposure.avg_exposure /= active_bars as f64;
        exposure.avg_n_stock /= active_bars as f64;
    }
    let last = n.saturating_sub(1);
    for (k, h) in held {
        let close = cols.close[k][last];
        trades.push(h.trade.close(
            stock(k),
            &cols.bars,
            last,
            close,
            None,
            ExitReason::Open,
            false,
            None,
        ));
    }
    trades.sort_by(|a, b| {
        (a.entry_date, &a.stock, a.exit_date.unwrap_or(i32::MAX)).cmp(&(
            b.entry_date,
            &b.stock,
            b.exit_date.unwrap_or(i32::MAX),
        ))
    });
    (curve, trades, exposure)
}

fn sum(held: &BTreeMap<usize, Holding>) -> f64 {
    held.values().map(|h| h.value).sum()
}

fn nav(cash: f64, held: &BTreeMap<usize, Holding>) -> f64 {
    cash + sum(held)
}
