//! The rebalance (`docs/semantics.md` §2.4–2.5, §2.9): the position row in effect, the target
//! of every stock, the trades that reach them with their fees and tax, cost-basis resets and
//! the splitting of trades at periodic rebalances.

use super::book::Holding;
use super::{Overflow, Sim};
use crate::backtest::schedule::{Changes, Rebalance};
use crate::backtest::trades::{ExitFill, ExitReason, OpenTrade};

/// The weight row of the rebalance being executed, replayed from the sparse changes, and the
/// scratch space that turns it into targets.
pub(super) struct Targets<'a> {
    changes: &'a Changes,
    /// The position row as replayed so far: rows `..replayed` applied.
    row: Vec<f64>,
    replayed: usize,
    /// Bit `k` set: stock `k`'s weight in `row` is not 0 (a bitset of 64 stocks a word).
    nonzero: Vec<u64>,
    /// Bit `k` set: stock `k` is in the book (filled by `weigh`).
    held: Vec<u64>,
    /// This rebalance's weights: the row with delisted and sitting-out stocks at 0 (set for
    /// the stocks to act on only).
    weights: Vec<f64>,
    /// The stocks to act on (weighted or held), in column order: the first `len` entries.
    todo: Vec<usize>,
}

impl<'a> Targets<'a> {
    pub fn new(changes: &'a Changes, stocks: usize) -> Targets<'a> {
        let words = stocks.div_ceil(64);
        Targets {
            changes,
            row: vec![0.0; stocks],
            replayed: 0,
            nonzero: vec![0; words],
            held: vec![0; words],
            weights: vec![0.0; stocks],
            todo: vec![0; stocks],
        }
    }

    /// Brings `row` (and `nonzero`) to position row `r`.
    fn replay_to(&mut self, r: usize) {
        if r < self.replayed.saturating_sub(1) {
            // Rows only move forward in a schedule; start over if one ever goes back.
            self.row.iter_mut().for_each(|w| *w = 0.0);
            self.nonzero.iter_mut().for_each(|w| *w = 0);
            self.replayed = 0;
        }
        let upto = r + 1;
        if upto > self.replayed {
            self.changes.replay(self.replayed, upto, &mut self.row);
            let (a, b) = (self.changes.start[self.replayed], self.changes.start[upto]);
            for &k in &self.changes.stock[a..b] {
                let k = k as usize;
                let bit = 1u64 << (k % 64);
                if self.row[k] != 0.0 {
                    self.nonzero[k / 64] |= bit;
                } else {
                    self.nonzero[k / 64] &= !bit;
                }
            }
            self.replayed = upto;
        }
    }
}

impl Sim<'_> {
    /// Step 4: rebalances the book to the row of `rb` with the NAV `cash + book_total` (the
    /// book's value when the sales left it as the mark summed it, else summed again). Every
    /// stock in column order: held ones are resized or sold, new ones bought.
    pub(super) fn rebalance(
        &mut self,
        bar: usize,
        rb: &Rebalance,
        book_total: Option<f64>,
    ) -> Result<(), Overflow> {
        let nav = self.cash + book_total.unwrap_or_else(|| self.book.total());
        let (todo, gross) = self.weigh(rb.row);
        // Finite weights whose sum overflows would scale every target to 0 (§2.1 step 6).
        if gross.is_infinite() {
            return Err(Overflow { row: rb.row });
        }
        let scale = nav / gross.max(1.0);
        let cap = nav * self.opts.position_limit;
        let inv_nav = 1.0 / nav.abs().max(1e-12);
        let mut new_keys = Vec::with_capacity(self.book.keys.len() + 16);
        for i in 0..todo {
            let k = self.targets.todo[i];
            let w = self.targets.weights[k];
            let mut target = w * scale;
            if target.abs() > cap {
                target = cap * w.signum();
            }
            let current = self.book.value(k);
            let price = self.prices.trade(k);
            self.exposure.traded += (target - current).abs() * inv_nav;
            if target == 0.0 {
                // `keys` is rebuilt below.
                if let Some(h) = self.book.slots[k].take() {
                    self.cash += current - current.abs() * self.exit_cost;
                    self.close_trade(
                        h,
                        ExitFill::sale(bar, price, self.exit_cost, ExitReason::Rebalance),
                    );
                }
                continue;
            }
            new_keys.push(k);
            self.trade_to(bar, k, target, current, price, nav);
        }
        self.book.keys = new_keys;
        self.stopped.clear();
        // A queued stop of a stock the rebalance just re-bought still sells next bar (D4); one
        // it sold is dropped.
        let (slots, is_queued) = (&self.book.slots, &mut self.is_queued);
        self.queued.retain(|(k, _)| {
            let keep = slots[*k].is_some();
            is_queued[*k] = keep;
            keep
        });
        Ok(())
    }

    /// The weights of position row `row` after zeroing delisted stocks (from their sale bar on,
    /// §2.7) and, with `stop_trading_next_period`, the stocks stopped since the last rebalance;
    /// fills the stocks to act on. Returns their number and the gross weight Σ|w|, summed in
    /// column order over the weighted and held stocks only (a weight of 0 adds nothing to it),
    /// found through the bitsets rather than by visiting every stock.
    fn weigh(&mut self, row: usize) -> (usize, f64) {
        let t = &mut self.targets;
        t.replay_to(row);
        t.held.iter_mut().for_each(|w| *w = 0);
        for &k in &self.book.keys {
            t.held[k / 64] |= 1 << (k % 64);
        }
        let (mut todo, mut gross) = (0, 0.0);
        let sit_out = self.opts.stop_trading_next_period;
        for (i, (&nonzero, &held)) in t.nonzero.iter().zip(&t.held).enumerate() {
            let mut bits = nonzero | held;
            while bits != 0 {
                let bit = bits & bits.wrapping_neg();
                bits ^= bit;
                let k = i * 64 + bit.trailing_zeros() as usize;
                let out = self.delisted[k] | (sit_out & self.stopped.get(k));
                let w = if out { 0.0 } else { t.row[k] };
                t.weights[k] = w;
                gross += w.abs();
                t.todo[todo] = k;
                todo += usize::from((w != 0.0) | (held & bit != 0));
            }
        }
        (todo, gross)
    }

    /// Moves stock `k` from its `current` value to a non-zero `target` at `price` (§2.5): an
    /// entry raises absolute exposure and pays the fee, a reduction pays fee + tax. A holding
    /// kept in the same direction is resized (its cost basis reset unless retained; at a
    /// periodic rebalance its trade is split without costs, §3); a new or reversed one opens a
    /// trade.
    fn trade_to(&mut self, bar: usize, k: usize, target: f64, current: f64, price: f64, nav: f64) {
        let fee = self.opts.fee_ratio;
        let a = target - current;
        let entry = (target >= 0.0 && a > 0.0) || (target <= 0.0 && a < 0.0);
        let cost = a.abs() * if entry { fee } else { self.exit_cost };
        let value = if a > 0.0 {
            self.cash -= a;
            current + a - cost
        } else {
            self.cash += a.abs() - cost;
            current - a.abs()
        };
        let flipped = current != 0.0 && (current > 0.0) != (target > 0.0);
        match self.book.slots[k].as_mut() {
            Some(h) if !flipped => {
                // Without a quote the book keeps the value and tracks again from the next one.
                let frozen = h.last_price;
                h.value = value;
                h.last_price = price;
                if !self.opts.retain_cost_when_rebalance {
                    h.reset_cost();
                }
                if self.periodic && !self.opts.retain_cost_when_rebalance {
                    let piece = OpenTrade::open(bar, target / nav, price, None, self.trades.len());
                    self.trades
                        .push(piece.row(&self.cols.stocks[k], self.cols.bars));
                    let old = std::mem::replace(&mut h.trade, piece);
                    let slot = old.slot;
                    let fill = if price.is_nan() { frozen } else { price };
                    old.close(
                        &mut self.trades[slot],
                        self.cols.bars,
                        ExitFill::split(bar, fill),
                    );
                } else if price.is_nan() {
                    h.trade.suspend(frozen);
                }
            }
            _ => {
                // A reversal is one entry on the whole difference (§2.5): the closed trade pays
                // the fee only, as the cash does.
                if let Some(h) = self.book.slots[k].take() {
                    self.close_trade(h, ExitFill::sale(bar, price, fee, ExitReason::Rebalance));
                }
                let trade = OpenTrade::open(bar, target / nav, price, Some(fee), self.trades.len());
                self.trades
                    .push(trade.row(&self.cols.stocks[k], self.cols.bars));
                self.book.slots[k] = Some(Holding::new(value, price, trade));
            }
        }
    }
}
