//! The daily loop of `sim()` (`docs/semantics.md` §2.5–2.7, §2.9), per bar:
//! touched stops (intraday, when `touched_exit`), mark to market at the trade price, close-based
//! stop detection (queued for the next bar), yesterday's queued stop exits, delisting sales, the
//! rebalance, and the value at the close.

use std::borrow::Cow;
use std::sync::Arc;

use super::layout;
use super::schedule::{Changes, Rebalance};
use super::trades::{ExitReason, OpenTrade, Trade};
use crate::simspec::{Resample, SimOptions, TradeAt};

/// Price columns of the stocks the position uses, one slice per stock over all bars.
pub(crate) struct Columns<'a> {
    pub bars: &'a [i32],
    pub stocks: Vec<Arc<str>>,
    /// Fill prices (`trade_at_price`), adjusted.
    pub trade: Vec<Cow<'a, [f64]>>,
    /// Adjusted close (valuation and close-based stops).
    pub close: Vec<Cow<'a, [f64]>>,
    /// Adjusted open, high, low — only for `touched_exit`.
    pub ohl: Option<[Vec<Cow<'a, [f64]>>; 3]>,
    /// Bar on which each stock is sold as delisted, if any.
    pub delist: Vec<Option<usize>>,
    /// A busy book: read prices through row-major chunks (see `layout`).
    pub busy: bool,
}

/// Holdings by stock index: a dense slot per stock plus the sorted list of held indices, so
/// per-bar work touches only what is held and always runs in column order.
struct Book {
    slots: Vec<Option<Holding>>,
    keys: Vec<usize>,
}

impl Book {
    fn get(&self, k: usize) -> Option<&Holding> {
        self.slots[k].as_ref()
    }

    fn value(&self, k: usize) -> f64 {
        self.get(k).map(|h| h.value).unwrap_or(0.0)
    }

    fn take(&mut self, k: usize) -> Option<Holding> {
        let h = self.slots[k].take();
        if h.is_some() {
            if let Ok(i) = self.keys.binary_search(&k) {
                self.keys.remove(i);
            }
        }
        h
    }

    fn total(&self) -> f64 {
        self.keys
            .iter()
            .filter_map(|&k| self.get(k))
            .map(|h| h.value)
            .sum()
    }
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
    /// The book at the close of the last bar: each holding's value / NAV (its drifted weight;
    /// negative for shorts), in column order.
    pub holdings: Vec<(Arc<str>, f64)>,
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

/// Each holding's value at the close of bar `last` (as step 5 values it) over the NAV `nav`.
fn final_weights(
    cols: &Columns,
    book: &Book,
    last: usize,
    nav: Option<f64>,
    at_close: bool,
) -> Vec<(Arc<str>, f64)> {
    let Some(nav) = nav.filter(|v| *v != 0.0) else {
        return Vec::new();
    };
    book.keys
        .iter()
        .filter_map(|&k| {
            let h = book.get(k)?;
            let r = cols.close[k][last] / cols.trade[k][last];
            let value = if at_close || !r.is_finite() {
                h.value
            } else {
                h.value * r
            };
            Some((cols.stocks[k].clone(), value / nav))
        })
        .collect()
}

/// Runs the loop. Returns the raw curve (one value per bar), the trades and the exposure stats.
pub(crate) fn run(
    cols: &Columns,
    changes: &Changes,
    plan: &[Rebalance],
    opts: &SimOptions,
) -> (Vec<f64>, Vec<Trade>, Exposure) {
    let n = cols.bars.len();
    let nk = cols.stocks.len();
    let (fee, tax) = (opts.fee_ratio, opts.tax_ratio);
    let stops = Stops::new(opts);
    let has_stops = opts.has_stops();
    let periodic = matches!(opts.resample, Resample::Every(_));
    let at_close = opts.trade_at == TradeAt::Close;
    let mut cash = 1.0;
    let mut book = Book {
        slots: (0..nk).map(|_| None).collect(),
        keys: Vec::new(),
    };
    // Rows reserved at entry (see `OpenTrade::slot`), completed at exit.
    // About half the weight changes open a trade (the rest close one): reserve that much so
    // the list is not copied while it grows.
    let mut trades: Vec<Trade> = Vec::with_capacity(changes.stock.len() / 2);
    let mut curve = Vec::with_capacity(n);
    let mut queued: Vec<(usize, ExitReason)> = Vec::new();
    let mut is_queued = vec![false; nk];
    let mut stopped = vec![false; nk];
    let mut any_stopped = false;
    let same_close = opts.trade_at == TradeAt::Close;
    let chunk_len = if cols.busy { layout::CHUNK * nk } else { 0 };
    let mut trade_chunk = vec![0.0; chunk_len];
    let mut close_chunk = vec![0.0; if same_close { 0 } else { chunk_len }];
    let mut chunk_start = 0usize;
    // The weight row of the current rebalance, replayed from the sparse changes; `replayed`
    // rows have been applied so far.
    let mut row = vec![0.0; nk];
    let mut replayed = 0usize;
    let mut next = plan.iter().peekable();
    // Stocks past their delisting sale bar get weight 0 in every later rebalance (§2.7).
    let mut gone = vec![false; nk];
    let mut delistings: Vec<(usize, usize)> = cols
        .delist
        .iter()
        .enumerate()
        .filter_map(|(k, b)| b.map(|b| (b, k)))
        .collect();
    delistings.sort_unstable();
    let mut delistings = delistings.into_iter().peekable();
    let mut wbuf = vec![0.0; nk];
    let (mut todo, mut in_book) = (vec![0usize; nk], vec![false; nk]);
    let mut exposure = Exposure::default();
    let mut active_bars = 0usize;
    let close_trade =
        |trades: &mut [Trade], h: Holding, bar: usize, fill: f64, cost: Option<f64>, reason| {
            let slot = h.trade.slot;
            h.trade.close(
                &mut trades[slot],
                cols.bars,
                bar,
                fill,
                cost,
                reason,
                false,
                None,
            );
        };

    for bar in 0..n {
        if cols.busy && (bar == 0 || bar >= chunk_start + layout::CHUNK) {
            chunk_start = bar;
            let end = (bar + layout::CHUNK).min(n);
            layout::fill_chunk(&cols.trade, bar, end, &mut trade_chunk);
            if !same_close {
                layout::fill_chunk(&cols.close, bar, end, &mut close_chunk);
            }
        }
        let (p_row, c_row) = if cols.busy {
            let off = (bar - chunk_start) * nk;
            let c = if same_close {
                &trade_chunk
            } else {
                &close_chunk
            };
            (Some(&trade_chunk[off..off + nk]), Some(&c[off..off + nk]))
        } else {
            (None, None)
        };
        let p = |k: usize| p_row.map_or_else(|| cols.trade[k][bar], |r| r[k]);
        let c = |k: usize| c_row.map_or_else(|| cols.close[k][bar], |r| r[k]);

        // Touched exits: intraday against open/high/low, filled this bar at the threshold (or
        // the open on a gap), using the state before today's mark.
        if let (true, Some([o, hi, lo])) = (opts.touched_exit && has_stops, &cols.ohl) {
            for k in book.keys.clone() {
                let Some(h) = book.get(k) else { continue };
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
                if let (Some((ratio, reason)), Some(h)) = (hit, hit.and_then(|_| book.take(k))) {
                    let value = h.value / h.cr * ratio;
                    exposure.traded += value.abs() / (cash + value + book.total()).abs().max(1e-12);
                    cash += value - value.abs() * (fee + tax);
                    let fill = h.last_price * ratio / h.cr;
                    let slot = h.trade.slot;
                    h.trade.close(
                        &mut trades[slot],
                        cols.bars,
                        bar,
                        fill,
                        Some(fee + tax),
                        reason,
                        true,
                        Some(stops.clip()),
                    );
                    stopped[k] = true;
                    any_stopped = true;
                }
            }
        }

        // 1. Mark to market at the trade price (a missing quote freezes the value), and
        // 2. close-based stops: detected today, sold on the next bar.
        let mut detected = Vec::new();
        let check_stops = has_stops && !opts.touched_exit;
        // The book's value, summed as `Book::total` sums (same order, same start), while the
        // values pass by; valid until a holding leaves.
        let mut held_total: f64 = std::iter::empty::<f64>().sum();
        for &k in &book.keys {
            let price = p(k);
            let Some(h) = book.slots[k].as_mut() else {
                continue;
            };
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
            held_total += h.value;
            if !check_stops || is_queued[k] {
                continue;
            }
            let q = h.cr * c(k) / price;
            if q.is_nan() {
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

        // 3. Yesterday's queued stops (a stock without a quote sells at its frozen value),
        //    then delisting sales.
        let mut sells: Vec<(usize, ExitReason)> = std::mem::take(&mut queued);
        for (k, _) in &sells {
            is_queued[*k] = false;
        }
        sells.extend(
            book.keys
                .iter()
                .filter(|&&k| cols.delist[k] == Some(bar))
                .map(|&k| (k, ExitReason::Delisted)),
        );
        let nav_before_sells = cash + held_total;
        let mut book_total = Some(held_total);
        for (k, reason) in sells {
            if let Some(h) = book.take(k) {
                book_total = None;
                exposure.traded += h.value.abs() / nav_before_sells.abs().max(1e-12);
                cash += h.value - h.value.abs() * (fee + tax);
                close_trade(&mut trades, h, bar, p(k), Some(fee + tax), reason);
                if reason != ExitReason::Delisted {
                    stopped[k] = true;
                    any_stopped = true;
                }
            }
        }
        for &(k, _) in &detected {
            is_queued[k] = true;
        }
        queued = detected;

        while let Some((_, k)) = delistings.next_if(|&(b, _)| b <= bar) {
            gone[k] = true;
        }
        // 4. Rebalance on this rebalance's execution bar.
        if let Some(rb) = next.next_if(|rb| rb.bar == bar) {
            if rb.row < replayed.saturating_sub(1) {
                // Rows only move forward in a schedule; start over if one ever goes back.
                row.iter_mut().for_each(|w| *w = 0.0);
                replayed = 0;
            }
            let upto = rb.row + 1;
            if upto > replayed {
                changes.replay(replayed, upto, &mut row);
                replayed = upto;
            }
            // Delisted stocks get weight 0 from their sale bar on (§2.7); with
            // stop_trading_next_period, names stopped since the last rebalance sit this one out.
            let nav = cash + book_total.unwrap_or_else(|| book.total());
            let mut gross = 0.0;
            // The stocks to act on (weighted or held), listed without a branch per stock.
            for &k in &book.keys {
                in_book[k] = true;
            }
            let mut n_todo = 0;
            let stop_next = opts.stop_trading_next_period;
            for (k, (w, &r)) in wbuf.iter_mut().zip(&row).enumerate() {
                let out = gone[k] | (stop_next & stopped[k]);
                *w = if out { 0.0 } else { r };
                gross += w.abs();
                todo[n_todo] = k;
                n_todo += usize::from((*w != 0.0) | in_book[k]);
            }
            for &k in &book.keys {
                in_book[k] = false;
            }
            let scale = nav / gross.max(1.0);
            let cap = nav * opts.position_limit;
            let inv_nav = 1.0 / nav.abs().max(1e-12);
            let mut new_keys = Vec::with_capacity(book.keys.len() + 16);
            // Every stock in column order: held ones are resized or sold, new ones bought.
            for &k in &todo[..n_todo] {
                let w = wbuf[k];
                let mut target = w * scale;
                if target.abs() > cap {
                    target = cap * w.signum();
                }
                let current = book.value(k);
                let price = p(k);
                exposure.traded += (target - current).abs() * inv_nav;
                if target == 0.0 {
                    if let Some(h) = book.slots[k].take() {
                        cash += current - current.abs() * (fee + tax);
                        let reason = ExitReason::Rebalance;
                        close_trade(&mut trades, h, bar, price, Some(fee + tax), reason);
                    }
                    continue;
                }
                new_keys.push(k);
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
                match book.slots[k].as_mut() {
                    Some(h) if !flipped => {
                        h.value = value;
                        h.last_price = price;
                        if !opts.retain_cost_when_rebalance {
                            (h.cr, h.peak, h.trough) = (1.0, 1.0, 1.0);
                            if periodic {
                                // finlab splits a kept holding at every periodic rebalance,
                                // without costs at the split (§3).
                                let piece =
                                    OpenTrade::open(bar, target / nav, price, None, trades.len());
                                trades.push(piece.row(&cols.stocks[k], cols.bars));
                                let old = std::mem::replace(&mut h.trade, piece);
                                let slot = old.slot;
                                old.close(
                                    &mut trades[slot],
                                    cols.bars,
                                    bar,
                                    price,
                                    None,
                                    ExitReason::Split,
                                    false,
                                    None,
                                );
                            }
                        }
                    }
                    _ => {
                        if let Some(h) = book.slots[k].take() {
                            let reason = ExitReason::Rebalance;
                            close_trade(&mut trades, h, bar, price, Some(fee + tax), reason);
                        }
                        let trade =
                            OpenTrade::open(bar, target / nav, price, Some(fee), trades.len());
                        trades.push(trade.row(&cols.stocks[k], cols.bars));
                        book.slots[k] = Some(Holding {
                            value,
                            last_price: price,
                            cr: 1.0,
                            peak: 1.0,
                            trough: 1.0,
                            trade,
                        });
                    }
                }
            }
            book.keys = new_keys;
            if any_stopped {
                stopped.iter_mut().for_each(|s| *s = false);
                any_stopped = false;
            }
            // A queued stop of a stock the rebalance just re-bought still sells next bar
            // (decision D4, `docs/semantics.md` §8); one it sold is dropped.
            queued.retain(|(k, _)| {
                let keep = book.slots[*k].is_some();
                is_queued[*k] = keep;
                keep
            });
        }

        // 5. Value at the close (the trade price is the close unless trading at another price).
        let mut gross = 0.0;
        let mut value = cash;
        for &k in &book.keys {
            if let Some(h) = book.slots[k].as_mut() {
                h.trade.mark(c(k));
                let v = if at_close {
                    h.value
                } else {
                    let r = c(k) / p(k);
                    if r.is_finite() {
                        h.value * r
                    } else {
                        h.value
                    }
                };
                value += v;
                gross += v.abs();
            }
        }
        curve.push(value);
        if plan.first().is_some_and(|rb| bar >= rb.bar) {
            active_bars += 1;
            exposure.avg_exposure += gross / value.abs().max(1e-12);
            exposure.avg_n_stock += book.keys.len() as f64;
            exposure.max_n_stock = exposure.max_n_stock.max(book.keys.len());
        }
    }
    if active_bars > 0 {
        exposure.avg_exposure /= active_bars as f64;
        exposure.avg_n_stock /= active_bars as f64;
    }
    let last = n.saturating_sub(1);
    exposure.holdings = final_weights(cols, &book, last, curve.last().copied(), at_close);
    for k in std::mem::take(&mut book.keys) {
        if let Some(h) = book.slots[k].take() {
            close_trade(
                &mut trades,
                h,
                last,
                cols.close[k][last],
                None,
                ExitReason::Open,
            );
        }
    }
    // Rows were reserved at entry, in bar order and, within a bar, in column order.
    (curve, trades, exposure)
}
