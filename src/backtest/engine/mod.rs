//! The daily loop of `sim()` (`docs/semantics.md` §2.5–2.7, §2.9). [`Sim`] holds the book;
//! each bar runs the phases of §2.6 in order: touched stops (`stops`), mark to market at the
//! trade price with close-based stop detection, yesterday's queued stop exits and the
//! delisting sales, the rebalance (`rebalance`), and the value at the close.

mod book;
mod prices;
mod rebalance;
mod stops;

use std::borrow::Cow;
use std::sync::Arc;

use self::book::{Book, Holding};
use self::prices::PriceRows;
use self::rebalance::Targets;
use self::stops::Stops;
use super::schedule::{Changes, Rebalance};
use super::trades::{ExitFill, ExitReason, Trade};
use crate::simspec::{Resample, SimOptions, TradeAt};

/// Price columns of the stocks the position uses, one slice per stock over all bars.
pub(crate) struct Columns<'a> {
    pub bars: &'a [i32],
    pub stocks: Vec<Arc<str>>,
    /// Fill prices (`trade_at_price`), adjusted.
    pub trade: Vec<Cow<'a, [f64]>>,
    /// Adjusted close (valuation and close-based stops).
    pub close: Vec<Cow<'a, [f64]>>,
    /// Adjusted open, high, low — only for `touched_exit` with a stop.
    pub ohl: Option<[Vec<Cow<'a, [f64]>>; 3]>,
    /// Bar on which each stock is sold as delisted, if any.
    pub delist: Vec<Option<usize>>,
    /// A busy book: read prices through row-major chunks (see `layout`).
    pub busy: bool,
}

/// Book-keeping statistics the metrics need beyond the curve.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Exposure {
    /// Mean of gross holdings / NAV over bars since the first rebalance.
    pub avg_exposure: f64,
    /// Mean number of stocks held over those bars.
    pub avg_n_stock: f64,
    /// Most stocks held on any one bar.
    pub max_n_stock: usize,
    /// Σ |traded value| / NAV over the whole run (buys and sells; 2.0 = the book bought and sold once).
    pub traded: f64,
    /// The book at the close of the last bar: each holding's value / NAV (its drifted weight;
    /// negative for shorts), in column order.
    pub holdings: Vec<(Arc<str>, f64)>,
}

/// A rebalance's position row whose weights sum to infinity (each weight is finite).
#[derive(Debug)]
pub(crate) struct Overflow {
    pub row: usize,
}

/// Runs the loop. Returns the raw curve (one value per bar), the trades and the exposure stats.
pub(crate) fn run(
    cols: &Columns,
    changes: &Changes,
    plan: &[Rebalance],
    opts: &SimOptions,
) -> Result<(Vec<f64>, Vec<Trade>, Exposure), Overflow> {
    let mut sim = Sim::new(cols, changes, plan, opts);
    for bar in 0..cols.bars.len() {
        sim.bar(bar)?;
    }
    Ok(sim.finish())
}

/// Stocks sold by a stop since the last rebalance (they sit the next one out with
/// `stop_trading_next_period`).
struct Stopped {
    flags: Vec<bool>,
    any: bool,
}

impl Stopped {
    fn mark(&mut self, k: usize) {
        self.flags[k] = true;
        self.any = true;
    }

    fn get(&self, k: usize) -> bool {
        self.flags[k]
    }

    fn clear(&mut self) {
        if self.any {
            self.flags.iter_mut().for_each(|s| *s = false);
            self.any = false;
        }
    }
}

/// The simulation's state between bars.
pub(super) struct Sim<'a> {
    cols: &'a Columns<'a>,
    opts: &'a SimOptions,
    plan: &'a [Rebalance],
    /// The next rebalance of `plan` to execute.
    next_rebalance: usize,
    stops: Stops,
    /// Fee + tax: the cost of a sale.
    exit_cost: f64,
    /// A calendar `resample` (trades split at every rebalance, §3).
    periodic: bool,
    /// Trading at the close: the fill price is the close.
    at_close: bool,
    prices: PriceRows<'a>,
    targets: Targets<'a>,
    cash: f64,
    book: Book,
    /// Rows reserved at entry (see `OpenTrade::slot`), completed at exit.
    trades: Vec<Trade>,
    curve: Vec<f64>,
    /// Close-based stop hits waiting for the next bar, and a flag per stock.
    queued: Vec<(usize, ExitReason)>,
    is_queued: Vec<bool>,
    stopped: Stopped,
    /// (sale bar, stock) of the delisted stocks in bar order, the next one to mark, and the
    /// stocks past their sale bar (weight 0 in every later rebalance, §2.7).
    delistings: Vec<(usize, usize)>,
    next_delisting: usize,
    delisted: Vec<bool>,
    exposure: Exposure,
    active_bars: usize,
}

impl<'a> Sim<'a> {
    fn new(
        cols: &'a Columns<'a>,
        changes: &'a Changes,
        plan: &'a [Rebalance],
        opts: &'a SimOptions,
    ) -> Sim<'a> {
        let stocks = cols.stocks.len();
        let at_close = opts.trade_at == TradeAt::Close;
        let mut delistings: Vec<(usize, usize)> = cols
            .delist
            .iter()
            .enumerate()
            .filter_map(|(k, b)| b.map(|b| (b, k)))
            .collect();
        delistings.sort_unstable();
        Sim {
            cols,
            opts,
            plan,
            next_rebalance: 0,
            stops: Stops::new(opts),
            exit_cost: opts.fee_ratio + opts.tax_ratio,
            periodic: matches!(opts.resample, Resample::Every(_)),
            at_close,
            prices: PriceRows::new(cols, at_close),
            targets: Targets::new(changes, stocks),
            cash: 1.0,
            book: Book::new(stocks),
            // About half the weight changes open a trade (the rest close one): reserve that
            // much so the list is not copied while it grows.
            trades: Vec::with_capacity(changes.stock.len() / 2),
            curve: Vec::with_capacity(cols.bars.len()),
            queued: Vec::new(),
            is_queued: vec![false; stocks],
            stopped: Stopped {
                flags: vec![false; stocks],
                any: false,
            },
            delistings,
            next_delisting: 0,
            delisted: vec![false; stocks],
            exposure: Exposure::default(),
            active_bars: 0,
        }
    }

    /// One bar, in the order of §2.6.
    fn bar(&mut self, bar: usize) -> Result<(), Overflow> {
        self.prices.advance(bar);
        self.touched_exits(bar);
        let (hits, held_total) = self.mark();
        let book_total = self.sell_queued_and_delisted(bar, held_total);
        self.queue(hits);
        while let Some(&(sale, k)) = self.delistings.get(self.next_delisting) {
            if sale > bar {
                break;
            }
            self.delisted[k] = true;
            self.next_delisting += 1;
        }
        if let Some(rb) = self
            .plan
            .get(self.next_rebalance)
            .filter(|rb| rb.bar == bar)
        {
            self.next_rebalance += 1;
            self.rebalance(bar, rb, book_total)?;
        }
        self.value_at_close(bar);
        Ok(())
    }

    /// Steps 1–2: marks every holding to the trade price (a missing quote freezes its value)
    /// and, with stops on and `touched_exit` off, checks the cost ratio at the close; a hit is
    /// sold on the next bar. Returns the hits and the book's value, summed as
    /// [`Book::total`] sums (same order, same start) while the values pass by.
    fn mark(&mut self) -> (Vec<(usize, ExitReason)>, f64) {
        let mut hits = Vec::new();
        let check = self.opts.has_stops() && !self.opts.touched_exit;
        let mut held_total: f64 = std::iter::empty::<f64>().sum();
        for &k in &self.book.keys {
            let price = self.prices.trade(k);
            let Some(h) = self.book.slots[k].as_mut() else {
                continue;
            };
            h.mark(price);
            held_total += h.value;
            if !check || self.is_queued[k] {
                continue;
            }
            let q = h.cost_ratio * self.prices.close(k) / price;
            if let Some(reason) = self.stops.close_hit(h, q) {
                hits.push((k, reason));
            }
        }
        (hits, held_total)
    }

    /// Step 3: sells yesterday's queued stops, then the stocks delisted today, at today's trade
    /// price with fee + tax (a stock without a quote at its frozen value, D5). The cash waits
    /// for the next rebalance. Returns the book's value when nothing was sold
    /// (`held_total`), else `None`.
    fn sell_queued_and_delisted(&mut self, bar: usize, held_total: f64) -> Option<f64> {
        let mut sales = std::mem::take(&mut self.queued);
        for &(k, _) in &sales {
            self.is_queued[k] = false;
        }
        let delist = &self.cols.delist;
        sales.extend(
            self.book
                .keys
                .iter()
                .filter(|&&k| delist[k] == Some(bar))
                .map(|&k| (k, ExitReason::Delisted)),
        );
        let nav = self.cash + held_total;
        let mut book_total = Some(held_total);
        for (k, reason) in sales {
            let Some(h) = self.book.take(k) else { continue };
            book_total = None;
            self.exposure.traded += h.value.abs() / nav.abs().max(1e-12);
            self.cash += h.value - h.value.abs() * self.exit_cost;
            let price = self.prices.trade(k);
            self.close_trade(h, ExitFill::sale(bar, price, self.exit_cost, reason));
            if reason != ExitReason::Delisted {
                self.stopped.mark(k);
            }
        }
        book_total
    }

    /// Queues today's close-based stop hits for the next bar.
    fn queue(&mut self, hits: Vec<(usize, ExitReason)>) {
        for &(k, _) in &hits {
            self.is_queued[k] = true;
        }
        self.queued = hits;
    }

    /// Step 5: records `cash + Σ value · C/P` (the value itself when trading at the close or
    /// when `C/P` is not finite) and marks every trade at the close.
    fn value_at_close(&mut self, bar: usize) {
        let mut gross = 0.0;
        let mut value = self.cash;
        for &k in &self.book.keys {
            let Some(h) = self.book.slots[k].as_mut() else {
                continue;
            };
            let close = self.prices.close(k);
            // The trade follows the book: it moves only while the holding has a price.
            h.trade.mark(if h.last_price.is_nan() {
                f64::NAN
            } else {
                close
            });
            let v = if self.at_close {
                h.value
            } else {
                let r = close / self.prices.trade(k);
                if r.is_finite() {
                    h.value * r
                } else {
                    h.value
                }
            };
            value += v;
            gross += v.abs();
        }
        self.curve.push(value);
        if self.plan.first().is_some_and(|rb| bar >= rb.bar) {
            let held = self.book.keys.len();
            self.active_bars += 1;
            self.exposure.avg_exposure += gross / value.abs().max(1e-12);
            self.exposure.avg_n_stock += held as f64;
            self.exposure.max_n_stock = self.exposure.max_n_stock.max(held);
        }
    }

    /// Each holding's value at the close of bar `last` (as `value_at_close` values it) over the
    /// NAV.
    fn final_weights(&self, last: usize) -> Vec<(Arc<str>, f64)> {
        let Some(nav) = self.curve.last().copied().filter(|v| *v != 0.0) else {
            return Vec::new();
        };
        self.book
            .keys
            .iter()
            .filter_map(|&k| {
                let h = self.book.slots[k].as_ref()?;
                let r = self.cols.close[k][last] / self.cols.trade[k][last];
                let value = if self.at_close || !r.is_finite() {
                    h.value
                } else {
                    h.value * r
                };
                Some((self.cols.stocks[k].clone(), value / nav))
            })
            .collect()
    }

    /// Completes `h`'s trade row with its exit. Without a price the trade ends at the holding's
    /// last price, where the book froze its value.
    fn close_trade(&mut self, h: Holding, mut fill: ExitFill) {
        if fill.price.is_nan() {
            fill.price = h.last_price;
        }
        let slot = h.trade.slot;
        h.trade.close(&mut self.trades[slot], self.cols.bars, fill);
    }

    /// Averages the exposure and records the trades still open at the last bar.
    fn finish(mut self) -> (Vec<f64>, Vec<Trade>, Exposure) {
        if self.active_bars > 0 {
            self.exposure.avg_exposure /= self.active_bars as f64;
            self.exposure.avg_n_stock /= self.active_bars as f64;
        }
        let last = self.cols.bars.len().saturating_sub(1);
        self.exposure.holdings = self.final_weights(last);
        for k in std::mem::take(&mut self.book.keys) {
            if let Some(h) = self.book.slots[k].take() {
                // Valued as `value_at_close` values it: at the close, or frozen.
                let close = self.cols.close[k][last];
                let valued_at_close = (close / self.cols.trade[k][last]).is_finite();
                let price = if valued_at_close { close } else { f64::NAN };
                self.close_trade(h, ExitFill::open(last, price));
            }
        }
        // Rows were reserved at entry, in bar order and, within a bar, in column order.
        (self.curve, self.trades, self.exposure)
    }
}
