//! Report metrics as finlab computes them (`docs/semantics.md` §4): `get_stats()` on the
//! daily curve (CAGR over 365.25-day years; daily Sharpe and Sortino with a 2% annual risk-free
//! rate and √252; Calmar; drawdowns), trade statistics (win ratio over all trades including open
//! ones — decision D11 of `docs/semantics.md` §8; average win/loss; profit factor; expectancy),
//! exposure and turnover, and alpha/beta against the data set's benchmark index.

use serde::Serialize;

use crate::backtest::{SimResult, Trade};
use crate::calendar;

/// finlab's default annual risk-free rate in `get_stats`.
pub const RISK_FREE: f64 = 0.02;

/// Metrics of a backtest. NaN (JSON `null`) where a value is undefined.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Metrics {
    /// First date of the (trimmed) equity curve, `YYYY-MM-DD`; empty without a curve.
    pub start: String,
    /// Last date of the equity curve, `YYYY-MM-DD`; empty without a curve.
    pub end: String,
    /// Final equity / initial equity − 1 (0.25 = +25%).
    pub total_return: f64,
    /// Compound annual growth over 365.25-day calendar years; NaN for a one-day curve.
    pub cagr: f64,
    /// Mean daily return × 252 (NaN with fewer than two returns).
    pub daily_mean: f64,
    /// Standard deviation of daily returns × √252 (NaN with fewer than two returns).
    pub daily_vol: f64,
    /// finlab `daily_sharpe` (`sharpeRatio`).
    pub sharpe: f64,
    /// finlab `daily_sortino`: downside deviation over all observations.
    pub sortino: f64,
    /// CAGR / (|max drawdown| + 1e-5), as finlab guards the division.
    pub calmar: f64,
    /// Deepest fall of equity from its running peak, as a fraction (≤ 0; −0.3 = −30%).
    pub max_drawdown: f64,
    /// Mean depth of drawdown episodes (≤ 0); an episode runs from leaving a peak to regaining it.
    pub avg_drawdown: f64,
    /// Mean length of drawdown episodes in calendar days (an open one ends at the last date).
    pub avg_drawdown_days: f64,
    /// Largest daily return.
    pub best_day: f64,
    /// Smallest (most negative) daily return.
    pub worst_day: f64,
    /// Share of trades with a return > 0, open trades included (D11); NaN without trades.
    pub win_ratio: f64,
    /// Mean return of winning trades (> 0).
    pub avg_win: f64,
    /// Mean return of losing trades (≤ 0; a zero return counts as a loss).
    pub avg_loss: f64,
    /// Σ winning returns / |Σ losing returns| (∞ without losers).
    pub profit_factor: f64,
    /// Mean trade return.
    pub expectancy: f64,
    /// Number of trades, open ones included.
    pub trades: usize,
    /// Traded value (buys + sells) per year as a multiple of NAV.
    pub turnover: f64,
    /// Mean gross exposure (holdings / NAV) since the first rebalance; 1.0 = fully invested.
    pub avg_exposure: f64,
    /// Mean number of stocks held since the first rebalance.
    pub avg_n_stock: f64,
    /// Most stocks held on any one bar.
    pub max_n_stock: usize,
    /// α = CAGR − β·CAGR(benchmark) over the curve's span (D12); NaN without a benchmark.
    pub alpha: f64,
    /// β = cov/var of daily returns against the benchmark; NaN without a benchmark.
    pub beta: f64,
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

fn std(x: &[f64]) -> f64 {
    let m = mean(x);
    (x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (x.len() as f64 - 1.0)).sqrt()
}

fn cagr(first: (i32, f64), last: (i32, f64)) -> f64 {
    let years = f64::from(last.0 - first.0) / 365.25;
    if years > 0.0 {
        (last.1 / first.1).powf(1.0 / years) - 1.0
    } else {
        f64::NAN
    }
}

/// Computes the metrics; `benchmark` is a (date, index level) series for alpha and beta.
pub fn score(result: &SimResult, benchmark: Option<&[(i32, f64)]>) -> Metrics {
    score_with(result, benchmark, RISK_FREE)
}

/// [`score`] with another annual risk-free rate for Sharpe and Sortino (`--rf`).
pub fn score_with(result: &SimResult, benchmark: Option<&[(i32, f64)]>, risk_free: f64) -> Metrics {
    let curve = &result.creturn;
    let nan = f64::NAN;
    let (first, last) = match (curve.first(), curve.last()) {
        (Some(f), Some(l)) => (*f, *l),
        _ => ((0, nan), (0, nan)),
    };
    let returns: Vec<f64> = curve.windows(2).map(|w| w[1].1 / w[0].1 - 1.0).collect();
    let enough = returns.len() >= 2;
    let ann = 252f64.sqrt();
    let (sharpe, sortino) = sharpe_sortino(&returns, risk_free);
    let dd = Drawdowns::of(curve, last.0);
    let t = TradeStats::of(&result.trades);
    let strategy_cagr = cagr(first, last);
    let years = f64::from(last.0 - first.0) / 365.25;
    let (alpha, beta) = benchmark
        .map(|b| alpha_beta(curve, b, strategy_cagr))
        .unwrap_or((nan, nan));
    let date = |d: i32| {
        if curve.is_empty() {
            String::new()
        } else {
            calendar::format(d)
        }
    };
    Metrics {
        start: date(first.0),
        end: date(last.0),
        total_return: last.1 / first.1 - 1.0,
        cagr: strategy_cagr,
        daily_mean: if enough { mean(&returns) * 252.0 } else { nan },
        daily_vol: if enough { std(&returns) * ann } else { nan },
        sharpe,
        sortino,
        calmar: strategy_cagr / (dd.max.abs() + 1e-5),
        max_drawdown: dd.max,
        avg_drawdown: dd.avg,
        avg_drawdown_days: dd.avg_days,
        best_day: returns.iter().copied().fold(nan, f64::max),
        worst_day: returns.iter().copied().fold(nan, f64::min),
        win_ratio: t.win_ratio,
        avg_win: t.avg_win,
        avg_loss: t.avg_loss,
        profit_factor: t.profit_factor,
        expectancy: t.expectancy,
        trades: result.trades.len(),
        turnover: if years > 0.0 {
            result.exposure.traded / years
        } else {
            nan
        },
        avg_exposure: result.exposure.avg_exposure,
        avg_n_stock: result.exposure.avg_n_stock,
        max_n_stock: result.exposure.max_n_stock,
        alpha,
        beta,
    }
}

/// Daily Sharpe and Sortino of `returns` above the daily equivalent of `risk_free`, × √252
/// (NaN with fewer than two returns; Sortino also NaN without a losing day).
fn sharpe_sortino(returns: &[f64], risk_free: f64) -> (f64, f64) {
    let daily_rf = (1.0 + risk_free).powf(1.0 / 252.0) - 1.0;
    let excess: Vec<f64> = returns.iter().map(|r| r - daily_rf).collect();
    let enough = returns.len() >= 2;
    let ann = 252f64.sqrt();
    let sharpe = if enough {
        mean(&excess) / std(&excess).max(1e-6) * ann
    } else {
        f64::NAN
    };
    let downside = (excess.iter().map(|e| e.min(0.0).powi(2)).sum::<f64>()
        / excess.len().max(1) as f64)
        .sqrt();
    let sortino = if enough && downside > 0.0 {
        mean(&excess) / downside * ann
    } else {
        f64::NAN
    };
    (sharpe, sortino)
}

/// The equity curve's drawdowns: the deepest, and the mean depth and length (calendar days) of
/// the episodes.
struct Drawdowns {
    max: f64,
    avg: f64,
    avg_days: f64,
}

impl Drawdowns {
    /// An episode starts at the first non-zero drawdown after a zero and ends at the next zero;
    /// one still open ends at `last_date`.
    fn of(curve: &[(i32, f64)], last_date: i32) -> Self {
        let mut peak = f64::NEG_INFINITY;
        let mut mdd: f64 = 0.0;
        let mut episodes: Vec<(f64, i32)> = Vec::new();
        let mut open: Option<(f64, i32)> = None;
        for &(d, v) in curve {
            peak = peak.max(v);
            let dd = v / peak - 1.0;
            mdd = mdd.min(dd);
            match (&mut open, dd < 0.0) {
                (None, true) => open = Some((dd, d)),
                (Some((depth, _)), true) => *depth = depth.min(dd),
                (Some((depth, start)), false) => {
                    episodes.push((*depth, d - *start));
                    open = None;
                }
                (None, false) => {}
            }
        }
        if let Some((depth, start)) = open {
            episodes.push((depth, last_date - start));
        }
        let (avg, avg_days) = if episodes.is_empty() {
            (0.0, 0.0)
        } else {
            let n = episodes.len() as f64;
            (
                episodes.iter().map(|e| e.0).sum::<f64>() / n,
                episodes.iter().map(|e| f64::from(e.1)).sum::<f64>() / n,
            )
        };
        Self {
            max: mdd,
            avg,
            avg_days,
        }
    }
}

/// Statistics of the trades' returns (open trades included; non-finite returns left out).
struct TradeStats {
    win_ratio: f64,
    avg_win: f64,
    avg_loss: f64,
    profit_factor: f64,
    expectancy: f64,
}

impl TradeStats {
    fn of(trades: &[Trade]) -> Self {
        let nan = f64::NAN;
        let rets: Vec<f64> = trades
            .iter()
            .map(|t| t.ret)
            .filter(|r| r.is_finite())
            .collect();
        let wins: Vec<f64> = rets.iter().copied().filter(|r| *r > 0.0).collect();
        let losses: Vec<f64> = rets.iter().copied().filter(|r| *r <= 0.0).collect();
        let loss_sum: f64 = losses.iter().sum();
        let profit_factor = if loss_sum < 0.0 {
            wins.iter().sum::<f64>() / loss_sum.abs()
        } else if wins.is_empty() {
            nan
        } else {
            f64::INFINITY
        };
        let avg = |x: &[f64]| if x.is_empty() { nan } else { mean(x) };
        Self {
            win_ratio: if rets.is_empty() {
                nan
            } else {
                wins.len() as f64 / rets.len() as f64
            },
            avg_win: avg(&wins),
            avg_loss: avg(&losses),
            profit_factor,
            expectancy: avg(&rets),
        }
    }
}

/// β of daily returns against the benchmark on the curve's dates (benchmark forward-filled),
/// and α = CAGR − β·CAGR(benchmark) over the same span (finlab's exact α is uncertain: decision
/// D12, `docs/semantics.md` §8).
fn alpha_beta(curve: &[(i32, f64)], bench: &[(i32, f64)], strategy_cagr: f64) -> (f64, f64) {
    let level = |d: i32| {
        let i = bench.partition_point(|&(x, _)| x <= d);
        bench[..i].iter().rev().map(|x| x.1).find(|v| v.is_finite())
    };
    let pairs: Vec<(i32, f64, f64)> = curve
        .iter()
        .filter_map(|&(d, v)| level(d).map(|b| (d, v, b)))
        .collect();
    if pairs.len() < 3 {
        return (f64::NAN, f64::NAN);
    }
    let rs: Vec<f64> = pairs.windows(2).map(|w| w[1].1 / w[0].1 - 1.0).collect();
    let rb: Vec<f64> = pairs.windows(2).map(|w| w[1].2 / w[0].2 - 1.0).collect();
    let (ms, mb) = (mean(&rs), mean(&rb));
    let cov: f64 = rs
        .iter()
        .zip(&rb)
        .map(|(s, b)| (s - ms) * (b - mb))
        .sum::<f64>();
    let var: f64 = rb.iter().map(|b| (b - mb).powi(2)).sum::<f64>();
    if var <= 0.0 {
        return (f64::NAN, f64::NAN);
    }
    let beta = cov / var;
    let (f, l) = (pairs[0], pairs[pairs.len() - 1]);
    let bench_cagr = cagr((f.0, f.2), (l.0, l.2));
    (strategy_cagr - beta * bench_cagr, beta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backtest::{ExitReason, Exposure, Trade};

    fn trade(ret: f64) -> Trade {
        Trade {
            stock: "A".into(),
            entry_sig_date: 0,
            entry_date: 1,
            exit_sig_date: Some(1),
            exit_date: Some(2),
            weight: 1.0,
            ret,
            period: 1,
            exit_reason: ExitReason::Rebalance,
            mae: 0.0,
            gmfe: 0.0,
            bmfe: 0.0,
            mdd: 0.0,
            pdays: 0,
        }
    }

    #[test]
    fn metrics_of_a_known_curve() {
        // 1 → 1.1 → 0.99 → 1.21 over 730 days.
        let curve = vec![(0, 1.0), (1, 1.1), (2, 0.99), (730, 1.21)];
        let r = SimResult {
            creturn: curve.clone(),
            trades: vec![trade(0.1), trade(-0.05), trade(0.2)],
            rebalances: 1,
            exposure: Exposure {
                traded: 4.0,
                ..Exposure::default()
            },
            warnings: vec![],
        };
        let m = score(&r, None);
        assert!((m.total_return - 0.21).abs() < 1e-12);
        let cagr = 1.21f64.powf(365.25 / 730.0) - 1.0;
        assert!((m.cagr - cagr).abs() < 1e-12);
        let mdd = 0.99 / 1.1 - 1.0;
        assert!((m.max_drawdown - mdd).abs() < 1e-12);
        assert!((m.calmar - cagr / (mdd.abs() + 1e-5)).abs() < 1e-12);
        // one episode from day 2 to day 730
        assert!((m.avg_drawdown - mdd).abs() < 1e-12);
        assert_eq!(m.avg_drawdown_days, 728.0);
        assert!((m.win_ratio - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.profit_factor - 0.3 / 0.05).abs() < 1e-12);
        assert!((m.avg_win - 0.15).abs() < 1e-12 && (m.avg_loss + 0.05).abs() < 1e-12);
        assert_eq!(m.trades, 3);
        assert!((m.turnover - 4.0 / (730.0 / 365.25)).abs() < 1e-12);
        let rf = 1.02f64.powf(1.0 / 252.0) - 1.0;
        let e = [0.1 - rf, 0.99 / 1.1 - 1.0 - rf, 1.21 / 0.99 - 1.0 - rf];
        let mean = e.iter().sum::<f64>() / 3.0;
        let sd = (e.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
        assert!((m.sharpe - mean / sd * 252f64.sqrt()).abs() < 1e-12);
        let dd = (e.iter().map(|x| x.min(0.0).powi(2)).sum::<f64>() / 3.0).sqrt();
        assert!((m.sortino - mean / dd * 252f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn beta_of_a_levered_copy_is_its_leverage() {
        let bench: Vec<(i32, f64)> =
            vec![(0, 100.0), (1, 101.0), (2, 99.0), (3, 102.0), (4, 103.0)];
        let mut v = 1.0;
        let mut curve = vec![(0, 1.0)];
        for w in bench.windows(2) {
            v *= 1.0 + 2.0 * (w[1].1 / w[0].1 - 1.0);
            curve.push((w[1].0, v));
        }
        let r = SimResult {
            creturn: curve,
            trades: vec![],
            rebalances: 1,
            exposure: Exposure::default(),
            warnings: vec![],
        };
        let m = score(&r, Some(&bench));
        assert!((m.beta - 2.0).abs() < 1e-12, "{}", m.beta);
        assert!(m.win_ratio.is_nan());
    }
}
