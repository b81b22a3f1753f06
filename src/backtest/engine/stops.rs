//! Stops (`docs/semantics.md` §2.9): the exit bounds of a holding, the close-based check
//! (detected at the close, sold on the next bar) and touched exits (intraday against the open,
//! high and low, sold on the same bar).

use super::book::Holding;
use super::Sim;
use crate::backtest::trades::{ExitFill, ExitReason};
use crate::simspec::{SimOptions, TradeAt};

/// The stop thresholds as fractions (their absolute values; a disabled one is +∞).
#[derive(Clone, Copy)]
pub(super) struct Stops {
    pub stop_loss: f64,
    pub take_profit: f64,
    pub trail_stop: f64,
    /// The favourable run that arms the trailing stop.
    pub trail_activation: f64,
}

/// Where a holding exits, as ratios of its cost basis, and why.
struct Bounds {
    upper: f64,
    lower: f64,
    at_upper: ExitReason,
    at_lower: ExitReason,
}

impl Stops {
    pub fn new(o: &SimOptions) -> Stops {
        let threshold = |x: Option<f64>| match x {
            Some(v) if v != 0.0 => v.abs(),
            _ => f64::INFINITY,
        };
        Stops {
            stop_loss: threshold(o.stop_loss),
            take_profit: threshold(o.take_profit),
            trail_stop: threshold(o.trail_stop),
            trail_activation: o.trail_stop_activation.map(f64::abs).unwrap_or(0.0),
        }
    }

    /// The bounds of a holding whose running max and min cost ratios are `peak` and `trough`.
    fn bounds(&self, short: bool, peak: f64, trough: f64) -> Bounds {
        if short {
            let stop = 1.0 + self.stop_loss;
            // The trail term applies once the favourable run reaches the activation (D13).
            let trail = if self.trail_stop.is_finite() && trough <= 1.0 - self.trail_activation {
                trough + self.trail_stop
            } else {
                f64::INFINITY
            };
            let reason = if trail < stop {
                ExitReason::TrailStop
            } else {
                ExitReason::StopLoss
            };
            Bounds {
                upper: stop.min(trail),
                lower: 1.0 - self.take_profit,
                at_upper: reason,
                at_lower: ExitReason::TakeProfit,
            }
        } else {
            let stop = 1.0 - self.stop_loss;
            let trail = if self.trail_stop.is_finite() && peak >= 1.0 + self.trail_activation {
                peak - self.trail_stop
            } else {
                f64::NEG_INFINITY
            };
            let reason = if trail > stop {
                ExitReason::TrailStop
            } else {
                ExitReason::StopLoss
            };
            Bounds {
                upper: 1.0 + self.take_profit,
                lower: stop.max(trail),
                at_upper: ExitReason::TakeProfit,
                at_lower: reason,
            }
        }
    }

    /// The close-based check: the stop `h` hits at `q`, its cost ratio at the close (NaN: none).
    /// Long: `q ≥ upper` or `q < lower`; short: `q ≤ lower` or `q > upper`.
    pub fn close_hit(&self, h: &Holding, q: f64) -> Option<ExitReason> {
        if q.is_nan() {
            return None;
        }
        let b = self.bounds(h.is_short(), h.peak, h.trough);
        if h.is_short() {
            if q <= b.lower {
                Some(b.at_lower)
            } else if q > b.upper {
                Some(b.at_upper)
            } else {
                None
            }
        } else if q >= b.upper {
            Some(b.at_upper)
        } else if q < b.lower {
            Some(b.at_lower)
        } else {
            None
        }
    }

    /// The touched check: with the cost ratios at the bar's open, high and low, the exit ratio
    /// and reason — the open when it already crosses a bound, else the bound the high or low
    /// reaches (the high first). When trading at the open, the running max / min include
    /// today's open (the peak is made of the trade prices up to today's).
    fn touched_hit(
        &self,
        h: &Holding,
        [open, high, low]: [f64; 3],
        at_open: bool,
    ) -> Option<(f64, ExitReason)> {
        let (peak, trough) = if at_open {
            (h.peak.max(open), h.trough.min(open))
        } else {
            (h.peak, h.trough)
        };
        let b = self.bounds(h.is_short(), peak, trough);
        if open >= b.upper {
            Some((open, b.at_upper))
        } else if open <= b.lower {
            Some((open, b.at_lower))
        } else if high >= b.upper {
            Some((b.upper, b.at_upper))
        } else if low <= b.lower {
            Some((b.lower, b.at_lower))
        } else {
            None
        }
    }

    /// Bounds on a touched exit's excursions: (stop-loss, take-profit).
    fn clip(&self) -> (f64, f64) {
        (self.stop_loss, self.take_profit)
    }
}

impl Sim<'_> {
    /// Touched exits (step 0, before the day's mark): each holding is checked against the bar's
    /// open, high and low as ratios of its cost basis from its last trade price, and one that
    /// crosses a bound is sold this bar at the threshold (at the open through a gap, D6), fee +
    /// tax. No-op unless `touched_exit` with a stop (the only case the columns carry the
    /// open, high and low).
    pub(super) fn touched_exits(&mut self, bar: usize) {
        let Some([open, high, low]) = &self.cols.ohl else {
            return;
        };
        for k in self.book.keys.clone() {
            let Some(h) = self.book.get(k) else { continue };
            let base = h.cost_ratio / h.last_price;
            let (ro, rh, rl) = (base * open[k][bar], base * high[k][bar], base * low[k][bar]);
            if !(ro.is_finite() && rh.is_finite() && rl.is_finite()) {
                continue;
            }
            let at_open = self.opts.trade_at == TradeAt::Open;
            let Some((ratio, reason)) = self.stops.touched_hit(h, [ro, rh, rl], at_open) else {
                continue;
            };
            let Some(h) = self.book.take(k) else { continue };
            let value = h.value / h.cost_ratio * ratio;
            let nav = self.cash + value + self.book.total();
            self.exposure.traded += value.abs() / nav.abs().max(1e-12);
            self.cash += value - value.abs() * self.exit_cost;
            let fill = ExitFill {
                touched: true,
                clip: Some(self.stops.clip()),
                ..ExitFill::sale(
                    bar,
                    h.last_price * ratio / h.cost_ratio,
                    self.exit_cost,
                    reason,
                )
            };
            self.close_trade(h, fill);
            self.stopped.mark(k);
        }
    }
}
