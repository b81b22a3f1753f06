//! Trades as finlab's report lists them (`spec/finlab-semantics.md` §3): one row per holding
//! period (or per piece between periodic rebalances), its return after costs, and the excursion
//! statistics (MAE, MFE, drawdown) of its value path.

use serde::Serialize;

/// Why a trade ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitReason {
    /// A rebalance sold it (or reversed it).
    Rebalance,
    /// Split at a periodic rebalance while still held (no costs); the next piece continues.
    Split,
    StopLoss,
    TakeProfit,
    TrailStop,
    /// Sold on its last priced bar: prices ended 20+ bars before the data (§2.7).
    Delisted,
    /// Still held at the end.
    Open,
}

/// One trade.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Trade {
    pub stock: String,
    /// Bar before the entry bar (finlab's `entry_sig_date`).
    pub entry_sig_date: i32,
    pub entry_date: i32,
    /// Bar before the exit bar; the exit bar itself for touched exits. `None` while open.
    pub exit_sig_date: Option<i32>,
    pub exit_date: Option<i32>,
    /// Weight at entry: target value / pre-trade NAV (negative for shorts).
    pub weight: f64,
    /// Return including costs (paper value for open trades).
    #[serde(rename = "return")]
    pub ret: f64,
    /// Bars held.
    pub period: usize,
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

/// A trade in progress: its value ratio path (1 = entry price, before the exit cost).
#[derive(Clone, Debug)]
pub(crate) struct OpenTrade {
    pub entry_bar: usize,
    pub weight: f64,
    pub short: bool,
    /// Current value ratio of the trade.
    pub ratio: f64,
    /// Last valid close seen (the path compounds close to close).
    pub last_close: f64,
    min: f64,
    max: f64,
    max_before_min: f64,
    peak: f64,
    mdd: f64,
    pdays: usize,
}

impl OpenTrade {
    /// Opens a trade at `bar` filled at `fill`; `fee` is the entry cost when this is a real
    /// purchase (not the continuation of a split trade). Mark it at the bar's close next.
    pub fn open(bar: usize, weight: f64, fill: f64, fee: Option<f64>) -> OpenTrade {
        let short = weight < 0.0;
        OpenTrade {
            entry_bar: bar,
            weight,
            short,
            ratio: 1.0 - fee.unwrap_or(0.0),
            last_close: fill,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            max_before_min: 1.0,
            peak: f64::NEG_INFINITY,
            mdd: 0.0,
            pdays: 0,
        }
    }

    fn apply(&mut self, price_ratio: f64) {
        if !price_ratio.is_finite() {
            return;
        }
        self.ratio = if self.short {
            2.0 - (2.0 - self.ratio) * price_ratio
        } else {
            self.ratio * price_ratio
        };
    }

    fn record(&mut self) {
        let x = self.ratio;
        if x < self.min {
            self.min = x;
            self.max_before_min = self.max.max(1.0);
        }
        self.max = self.max.max(x);
        self.peak = self.peak.max(x);
        self.mdd = self.mdd.min(x / self.peak - 1.0);
        if x > 1.0 {
            self.pdays += 1;
        }
    }

    /// Marks the trade at a bar's close (a missing close keeps the last value).
    pub fn mark(&mut self, close: f64) {
        if !close.is_nan() {
            if !self.last_close.is_nan() {
                self.apply(close / self.last_close);
            }
            self.last_close = close;
        }
        self.record();
    }

    /// Closes the trade at `bar` at fill price `fill` (the path is at that bar's close), with
    /// the exit cost `cost` for a real sale. `clip` bounds the excursions for touched exits.
    #[allow(clippy::too_many_arguments)]
    pub fn close(
        mut self,
        stock: &str,
        bars: &[i32],
        bar: usize,
        fill: f64,
        cost: Option<f64>,
        reason: ExitReason,
        touched: bool,
        clip: Option<(f64, f64)>,
    ) -> Trade {
        let open = reason == ExitReason::Open;
        // An open trade was marked at the last close already: its paper value stands.
        if !open {
            if !fill.is_nan() && !self.last_close.is_nan() {
                self.apply(fill / self.last_close);
            }
            if let Some(c) = cost {
                self.ratio = if self.short {
                    self.ratio - c * (2.0 - self.ratio)
                } else {
                    self.ratio * (1.0 - c)
                };
            }
            self.record();
        }
        let mut mae = self.min.min(1.0) - 1.0;
        let mut gmfe = self.max.max(1.0) - 1.0;
        if let Some((sl, tp)) = clip {
            mae = mae.max(-sl);
            gmfe = gmfe.min(tp);
        }
        let exit_sig = if touched { bar } else { bar.saturating_sub(1) };
        Trade {
            stock: stock.to_string(),
            entry_sig_date: bars[self.entry_bar.saturating_sub(1)],
            entry_date: bars[self.entry_bar],
            exit_sig_date: (!open).then(|| bars[exit_sig]),
            exit_date: (!open).then(|| bars[bar]),
            weight: self.weight,
            ret: self.ratio - 1.0,
            period: bar - self.entry_bar,
            exit_reason: reason,
            mae,
            gmfe,
            bmfe: self.max_before_min - 1.0,
            mdd: self.mdd,
            pdays: self.pdays,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_round_trip_return_and_excursions() {
        let (f, t) = (0.001, 0.003);
        let bars = [10, 11, 12, 13];
        // buy at 100 (close 100), closes 90, 120, sell at 110
        let mut tr = OpenTrade::open(0, 0.5, 100.0, Some(f));
        tr.mark(100.0);
        tr.mark(90.0);
        tr.mark(120.0);
        let done = tr.close(
            "A",
            &bars,
            3,
            110.0,
            Some(f + t),
            ExitReason::Rebalance,
            false,
            None,
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
        let bars = [0, 1];
        let mut tr = OpenTrade::open(0, -1.0, 100.0, None);
        tr.mark(100.0);
        let done = tr.close(
            "S",
            &bars,
            1,
            90.0,
            None,
            ExitReason::Rebalance,
            false,
            None,
        );
        assert!((done.ret - 0.1).abs() < 1e-15);
    }
}
