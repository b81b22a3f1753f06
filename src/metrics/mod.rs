//! Report metrics as finlab's `get_stats()` computes them (`spec/finlab-semantics.md` §4.1):
//! CAGR over 365.25-day years, daily Sharpe with a 2% annual risk-free rate and √252, max
//! drawdown, win ratio (share of trades with return > 0, open trades included, U7) and the
//! number of trades.

use serde::Serialize;

use crate::backtest::SimResult;
use crate::calendar;

/// finlab's default annual risk-free rate in `get_stats`.
pub const RISK_FREE: f64 = 0.02;

/// Headline metrics of a backtest.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Metrics {
    pub start: String,
    pub end: String,
    pub total_return: f64,
    pub cagr: f64,
    pub sharpe: f64,
    pub max_drawdown: f64,
    pub win_ratio: f64,
    pub trades: usize,
}

/// Computes the metrics of a backtest result.
pub fn score(result: &SimResult) -> Metrics {
    let curve = &result.creturn;
    let nan = f64::NAN;
    let (first, last) = match (curve.first(), curve.last()) {
        (Some(f), Some(l)) => (*f, *l),
        _ => {
            return Metrics {
                start: String::new(),
                end: String::new(),
                total_return: nan,
                cagr: nan,
                sharpe: nan,
                max_drawdown: nan,
                win_ratio: nan,
                trades: result.trades.len(),
            }
        }
    };
    let total = last.1 / first.1;
    let years = f64::from(last.0 - first.0) / 365.25;
    let cagr = if years > 0.0 {
        total.powf(1.0 / years) - 1.0
    } else {
        nan
    };
    let daily_rf = (1.0 + RISK_FREE).powf(1.0 / 252.0) - 1.0;
    let excess: Vec<f64> = curve
        .windows(2)
        .map(|w| w[1].1 / w[0].1 - 1.0 - daily_rf)
        .collect();
    let sharpe = if excess.len() >= 2 {
        let n = excess.len() as f64;
        let mean = excess.iter().sum::<f64>() / n;
        let var = excess.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (n - 1.0);
        mean / var.sqrt().max(1e-6) * 252f64.sqrt()
    } else {
        nan
    };
    let mut peak = f64::NEG_INFINITY;
    let mut mdd: f64 = 0.0;
    for (_, v) in curve {
        peak = peak.max(*v);
        mdd = mdd.min(v / peak - 1.0);
    }
    let trades = result.trades.len();
    let win_ratio = if trades > 0 {
        result.trades.iter().filter(|t| t.ret > 0.0).count() as f64 / trades as f64
    } else {
        nan
    };
    Metrics {
        start: calendar::format(first.0),
        end: calendar::format(last.0),
        total_return: total - 1.0,
        cagr,
        sharpe,
        max_drawdown: mdd,
        win_ratio,
        trades,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backtest::Trade;

    #[test]
    fn metrics_of_a_known_curve() {
        // 1 → 1.1 → 0.99 → 1.21 over 730.5 days.
        let curve = vec![(0, 1.0), (1, 1.1), (2, 0.99), (730, 1.21)];
        let trade = |ret| Trade {
            stock: "A".into(),
            entry_sig_date: 0,
            entry_date: 1,
            exit_date: Some(2),
            weight: 1.0,
            ret,
            period: 1,
        };
        let r = SimResult {
            creturn: curve,
            trades: vec![trade(0.1), trade(-0.05), trade(0.2)],
            rebalances: 1,
        };
        let m = score(&r);
        assert!((m.total_return - 0.21).abs() < 1e-12);
        assert!((m.cagr - (1.21f64.powf(365.25 / 730.0) - 1.0)).abs() < 1e-12);
        assert!((m.max_drawdown - (0.99 / 1.1 - 1.0)).abs() < 1e-12);
        assert!((m.win_ratio - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(m.trades, 3);
        let rf = 1.02f64.powf(1.0 / 252.0) - 1.0;
        let e = [0.1 - rf, 0.99 / 1.1 - 1.0 - rf, 1.21 / 0.99 - 1.0 - rf];
        let mean = e.iter().sum::<f64>() / 3.0;
        let sd = (e.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
        assert!((m.sharpe - mean / sd * 252f64.sqrt()).abs() < 1e-12);
    }
}
