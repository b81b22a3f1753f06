//! Trades as finlab's report lists them (`docs/semantics.md` §3): one row per holding
//! period (or per piece between periodic rebalances), its return after costs, and the excursion
//! statistics (MAE, MFE, drawdown) of its value path.

use std::sync::Arc;

use serde::Serialize;

/// Why a trade ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitReason {
    /// A rebalance sold it (or reversed it).
    Rebalance,
    /// Split at a periodic rebalance while still held (no costs); the next piece continues.
    Split,
    /// The price fell to `1 − stop_loss` times the entry cost (rose to `1 + stop_loss` for a short).
    StopLoss,
    /// The price reached `1 + take_profit` times the entry cost (`1 − take_profit` for a short).
    TakeProfit,
    /// The price fell `trail_stop` (a fraction of the entry cost) below its best since entry, once
    /// that best passed `trail_stop_activation`.
    TrailStop,
    /// Sold on its last priced bar: prices ended 20+ bars before the data (§2.7).
    Delisted,
    /// Still held at the end.
    Open,
}

/// One trade.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Trade {
    /// Stock id (shared, so a run with many trades does not allocate one string per trade).
    #[serde(serialize_with = "as_str")]
    pub stock: Arc<str>,
    /// Bar before the entry bar (finlab's `entry_sig_date`).
    pub entry_sig_date: i32,
    /// Bar on which it was bought (T+1 after the signal), in days since 1970-01-01.
    pub entry_date: i32,
    /// Bar before the exit bar; the exit bar itself for touched exits. `None` while open.
    pub exit_sig_date: Option<i32>,
    /// Bar on which it was sold, in days since 1970-01-01. `None` while open.
    pub exit_date: Option<i32>,
    /// Weight at entry: target value / pre-trade NAV (negative for shorts).
    pub weight: f64,
    /// Return including costs (paper value for open trades).
    #[serde(rename = "return")]
    pub ret: f64,
    /// Bars held.
    pub period: usize,
    /// Why it ended ([`ExitReason::Open`] while still held).
    pub exit_reason: ExitReason,
    /// Maximum adverse excursion (≤ 0).
    pub mae: f64,
    /// Maximum favourable excursion over the whole trade (≥ 0).
    pub gmfe: f64,
    /// Maximum favourable excursion before the MAE bar.
    pub bmfe: f64,
    /// Worst drawdown of the trade's value path.
    pub mdd: f64,
    /// Bars with the trade in profit.
    pub pdays: usize,
}

fn as_str<S: serde::Serializer>(s: &Arc<str>, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s)
}

/// A trade in progress and its value path, marked at every close while held (the close is
/// already in cache then; replaying it from the column at exit costs a cache miss per trade).
#[derive(Clone, Debug)]
pub(crate) struct OpenTrade {
    pub entry_bar: usize,
    /// Index of this trade in the output list, reserved at entry so the list comes out in entry
    /// order without sorting.
    pub slot: usize,
    pub weight: f64,
    pub short: bool,
    path: Path,
}

/// The value ratio path of a trade and its excursion statistics. The ratio is the trade's value
/// per unit of entry value, as the cash book counts it (§3): a long's `(1 − fee) · L`, a short's
/// `(2 − fee) − L` (proceeds `1 − fee` plus the unit of NAV the short stands on, minus the
/// liability), `L` being the price ratio since entry.
#[derive(Clone, Debug)]
struct Path {
    short: bool,
    ratio: f64,
    /// Shorts: the price ratio since entry (`L`) and `2 − fee`.
    level: f64,
    base: f64,
    /// The price the path was last moved to (it compounds close to close; NaN while the book
    /// has no price for the holding).
    last: f64,
    min: f64,
    max: f64,
    max_before_min: f64,
    peak: f64,
    mdd: f64,
    pdays: usize,
}

impl Path {
    fn apply(&mut self, price_ratio: f64) {
        if !price_ratio.is_finite() {
            return;
        }
        if self.short {
            self.level *= price_ratio;
            self.ratio = self.base - self.level;
        } else {
            self.ratio *= price_ratio;
        }
    }

    /// Moves the path to `price` from the last price (no move when either is missing).
    fn move_to(&mut self, price: f64) {
        if !price.is_nan() && !self.last.is_nan() {
            self.apply(price / self.last);
        }
    }

    /// Deducts the exit cost ratio `c` of a sale: a long receives `1 − c` of its value, a short
    /// pays `1 + c` of its liability.
    fn charge(&mut self, c: f64) {
        if self.short {
            self.ratio = self.base - self.level * (1.0 + c);
        } else {
            self.ratio *= 1.0 - c;
        }
    }

    fn record(&mut self) {
        // Selects, not branches: whether a trade is at a new low or in profit changes from
        // bar to bar and stock to stock.
        let x = self.ratio;
        let low = x < self.min;
        self.max_before_min = if low {
            self.max.max(1.0)
        } else {
            self.max_before_min
        };
        self.min = if low { x } else { self.min };
        self.max = self.max.max(x);
        self.peak = self.peak.max(x);
        self.mdd = self.mdd.min(x / self.peak - 1.0);
        self.pdays += usize::from(x > 1.0);
    }

    /// Marks the path at a bar's close (a missing close keeps the last value).
    fn mark(&mut self, close: f64) {
        if !close.is_nan() {
            self.move_to(close);
            self.last = close;
        }
        self.record();
    }
}

/// How and when a trade ends.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ExitFill {
    pub bar: usize,
    /// The fill price; for an open trade the price the book values it at (NaN: none, the path
    /// stays where it is).
    pub price: f64,
    /// The exit cost ratio of a real sale; `None` for a split or an open trade.
    pub cost: Option<f64>,
    pub reason: ExitReason,
    /// Filled intraday on the exit bar (a touched stop): the exit bar is its own signal date.
    pub touched: bool,
    /// Bounds (stop-loss, take-profit) on a touched exit's excursions.
    pub clip: Option<(f64, f64)>,
}

impl ExitFill {
    /// A sale at `price` paying `cost` (fee + tax) for `reason`.
    pub fn sale(bar: usize, price: f64, cost: f64, reason: ExitReason) -> ExitFill {
        ExitFill {
            bar,
            price,
            cost: Some(cost),
            reason,
            touched: false,
            clip: None,
        }
    }

    /// The split of a kept holding at a periodic rebalance: no costs (§3).
    pub fn split(bar: usize, price: f64) -> ExitFill {
        ExitFill {
            cost: None,
            ..ExitFill::sale(bar, price, 0.0, ExitReason::Split)
        }
    }

    /// A trade still open at the last bar, valued at `price`.
    pub fn open(bar: usize, price: f64) -> ExitFill {
        ExitFill {
            cost: None,
            ..ExitFill::sale(bar, price, 0.0, ExitReason::Open)
        }
    }
}

impl OpenTrade {
    /// Opens a trade at `bar` filled at `fill`; `fee` is the entry cost when this is a real
    /// purchase (not the continuation of a split trade).
    pub fn open(bar: usize, weight: f64, fill: f64, fee: Option<f64>, slot: usize) -> OpenTrade {
        let (short, fee) = (weight < 0.0, fee.unwrap_or(0.0));
        let base = 2.0 - fee;
        OpenTrade {
            entry_bar: bar,
            slot,
            weight,
            short,
            path: Path {
                short,
                ratio: if short { base - 1.0 } else { 1.0 - fee },
                level: 1.0,
                base,
                last: fill,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
                max_before_min: 1.0,
                peak: f64::NEG_INFINITY,
                mdd: 0.0,
                pdays: 0,
            },
        }
    }

    /// Marks the trade at a bar's close (call once per bar while held, from the entry bar on;
    /// NaN while the book has no price for the holding).
    pub fn mark(&mut self, close: f64) {
        self.path.mark(close);
    }

    /// The book starts tracking the holding from `price` (its first quote after an entry or a
    /// rebalance without one): the path starts from there too.
    pub fn rebase(&mut self, price: f64) {
        self.path.last = price;
    }

    /// The book stops tracking the holding at `frozen`, its last price (a rebalance while it has
    /// no quote): the path moves there and waits for [`OpenTrade::rebase`].
    pub fn suspend(&mut self, frozen: f64) {
        self.path.move_to(frozen);
        self.path.last = f64::NAN;
    }

    /// The trade's output row as it reads at entry (exit fields as for an open trade), reserved
    /// at `slot` so the list comes out in entry order; [`OpenTrade::close`] completes it.
    pub fn row(&self, stock: &Arc<str>, bars: &[i32]) -> Trade {
        Trade {
            stock: stock.clone(),
            entry_sig_date: bars[self.entry_bar.saturating_sub(1)],
            entry_date: bars[self.entry_bar],
            exit_sig_date: None,
            exit_date: None,
            weight: self.weight,
            ret: 0.0,
            period: 0,
            exit_reason: ExitReason::Open,
            mae: 0.0,
            gmfe: 0.0,
            bmfe: 0.0,
            mdd: 0.0,
            pdays: 0,
        }
    }

    /// Closes the trade with `exit` (the path was marked through the previous close: an exit
    /// happens before the exit bar's close), writing the exit fields into `row` (from
    /// [`OpenTrade::row`]; only stores, so a row far back in the list costs no cache miss). An
    /// open trade (`ExitReason::Open`) is valued as the book values it at the last bar, without
    /// costs.
    pub fn close(self, row: &mut Trade, bars: &[i32], exit: ExitFill) {
        let ExitFill {
            bar,
            price: fill,
            cost,
            reason,
            touched,
            clip,
        } = exit;
        let open = reason == ExitReason::Open;
        let mut path = self.path;
        path.move_to(fill);
        if !open {
            if let Some(c) = cost {
                path.charge(c);
            }
            path.record();
        }
        let mut mae = path.min.min(1.0) - 1.0;
        let mut gmfe = path.max.max(1.0) - 1.0;
        if let Some((sl, tp)) = clip {
            mae = mae.max(-sl);
            gmfe = gmfe.min(tp);
        }
        let exit_sig = if touched { bar } else { bar.saturating_sub(1) };
        row.exit_sig_date = (!open).then(|| bars[exit_sig]);
        row.exit_date = (!open).then(|| bars[bar]);
        row.ret = path.ratio - 1.0;
        row.period = bar - self.entry_bar;
        row.exit_reason = reason;
        row.mae = mae;
        row.gmfe = gmfe;
        row.bmfe = path.max_before_min - 1.0;
        row.mdd = path.mdd;
        row.pdays = path.pdays;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_round_trip_return_and_excursions() {
        let (f, t) = (0.001, 0.003);
        let bars = [10, 11, 12, 13];
        // buy at 100 (close 100), closes 90, 120, sell at 110 on bar 3
        let mut tr = OpenTrade::open(0, 0.5, 100.0, Some(f), 0);
        for c in [100.0, 90.0, 120.0] {
            tr.mark(c);
        }
        let mut done = tr.row(&"A".into(), &bars);
        tr.close(
            &mut done,
            &bars,
            ExitFill::sale(3, 110.0, f + t, ExitReason::Rebalance),
        );
        assert!((done.ret - ((1.0 - f) * 1.1 * (1.0 - f - t) - 1.0)).abs() < 1e-15);
        assert!((done.mae - ((1.0 - f) * 0.9 - 1.0)).abs() < 1e-15);
        assert!((done.gmfe - ((1.0 - f) * 1.2 - 1.0)).abs() < 1e-15);
        assert!((done.mdd - (0.9 / 1.0 - 1.0)).abs() < 1e-12);
        assert_eq!(
            (done.entry_sig_date, done.exit_sig_date, done.period),
            (10, Some(12), 3)
        );
    }

    #[test]
    fn short_path_mirrors_price_moves() {
        let mut tr = OpenTrade::open(0, -1.0, 100.0, None, 0);
        tr.mark(100.0);
        let mut done = tr.row(&"S".into(), &[0, 1]);
        let exit = ExitFill {
            cost: None,
            ..ExitFill::sale(1, 90.0, 0.0, ExitReason::Rebalance)
        };
        tr.close(&mut done, &[0, 1], exit);
        assert!((done.ret - 0.1).abs() < 1e-15);
    }
}
