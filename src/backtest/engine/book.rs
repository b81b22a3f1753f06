//! The book: the holdings by stock, each with its value, its cost basis for the stops and its
//! trade in progress (`docs/semantics.md` §2.5, §2.9).

use crate::backtest::trades::OpenTrade;

/// One holding.
pub(super) struct Holding {
    /// Signed value in NAV units at the last trade price (negative for a short).
    pub value: f64,
    /// The last valid trade price (NaN until the first one after the holding was set).
    pub last_price: f64,
    /// Price ratio since the cost basis was set, and its running max / min (trailing stops).
    pub cost_ratio: f64,
    pub peak: f64,
    pub trough: f64,
    pub trade: OpenTrade,
}

impl Holding {
    /// A new holding of `value` filled at `price`, its cost basis set there.
    pub fn new(value: f64, price: f64, trade: OpenTrade) -> Holding {
        Holding {
            value,
            last_price: price,
            cost_ratio: 1.0,
            peak: 1.0,
            trough: 1.0,
            trade,
        }
    }

    /// Whether the holding is short.
    pub fn is_short(&self) -> bool {
        self.trade.short
    }

    /// Marks the holding to `price`: the value and the cost ratio move by the price ratio; a
    /// missing quote (a ratio that is not finite) leaves them frozen. A holding without a last
    /// price starts tracking from `price`, and so does its trade.
    pub fn mark(&mut self, price: f64) {
        if self.last_price.is_nan() {
            self.last_price = price;
            if !price.is_nan() {
                self.trade.rebase(price);
            }
        }
        let r = price / self.last_price;
        if r.is_finite() {
            self.value *= r;
            self.cost_ratio *= r;
            self.peak = self.peak.max(self.cost_ratio);
            self.trough = self.trough.min(self.cost_ratio);
        }
        if !price.is_nan() {
            self.last_price = price;
        }
    }

    /// Sets the cost basis to the current price (the stops start again from 1).
    pub fn reset_cost(&mut self) {
        (self.cost_ratio, self.peak, self.trough) = (1.0, 1.0, 1.0);
    }
}

/// Holdings by stock index: a dense slot per stock plus the sorted list of held indices, so
/// per-bar work touches only what is held and always runs in column order.
pub(super) struct Book {
    pub slots: Vec<Option<Holding>>,
    pub keys: Vec<usize>,
}

impl Book {
    pub fn new(stocks: usize) -> Book {
        Book {
            slots: (0..stocks).map(|_| None).collect(),
            keys: Vec::new(),
        }
    }

    pub fn get(&self, k: usize) -> Option<&Holding> {
        self.slots[k].as_ref()
    }

    /// The value held in stock `k` (0 when not held).
    pub fn value(&self, k: usize) -> f64 {
        self.get(k).map(|h| h.value).unwrap_or(0.0)
    }

    /// Removes and returns the holding of stock `k`.
    pub fn take(&mut self, k: usize) -> Option<Holding> {
        let h = self.slots[k].take();
        if h.is_some() {
            if let Ok(i) = self.keys.binary_search(&k) {
                self.keys.remove(i);
            }
        }
        h
    }

    /// The value of all holdings, summed in column order.
    pub fn total(&self) -> f64 {
        self.keys
            .iter()
            .filter_map(|&k| self.get(k))
            .map(|h| h.value)
            .sum()
    }
}
