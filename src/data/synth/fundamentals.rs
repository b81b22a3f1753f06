//! A company's fundamentals, drawn before its prices (they do not depend on them): monthly
//! revenue (YoY growth AR(1), seasonality), quarterly income statement and balance sheet items,
//! and the corporate-action schedule (cash and stock dividends from last year's earnings).
//! Amounts are in thousand NT$, as MOPS and finlab report them.

use crate::calendar::days_from_civil;

use super::model::{session_on_or_after, Grid};
use crate::util::rng::Rng;

/// Sd of the monthly innovation of YoY revenue growth (stationary sd 15 %, AR 0.8).
pub const REVENUE_SHOCK_SD: f64 = 0.09;

/// Cross-sectional sd of `ln(3-month / 12-month mean revenue)` (measured on the generator).
pub const REVENUE_SIGNAL_SD: f64 = 0.07;

/// One company's fundamentals on the grid.
pub struct Fundamentals {
    /// First simulated month (index into `grid.months`) with meaningful values.
    pub first_month: usize,
    /// Revenue per simulated month (thousand NT$); NaN before `first_month`.
    pub revenue: Vec<f64>,
    /// Revenue momentum of each month as a strategy sees it once published:
    /// `ln(mean of the last 3 months / mean of the last 12)`, standardised (sd ≈ 1), 0 when
    /// there is not a year of history.
    pub signal: Vec<f64>,
    /// Per simulated quarter: revenue, gross profit, operating income, pre-tax income, net income,
    /// net income to parent, equity, assets, cash, operating cash flow (thousand NT$); NaN
    /// where the quarter is not simulated.
    pub quarter: Vec<[f64; 10]>,
    /// Corporate actions, ascending by session.
    pub events: Vec<Event>,
}

/// An ex-rights/ex-dividend day.
#[derive(Clone, Copy, Debug)]
pub struct Event {
    /// Session index of the ex-date.
    pub session: usize,
    /// Planned cash dividend per share (NT$), before the 10 %-of-price cap.
    pub cash: f64,
    /// Stock dividend: new shares per existing share.
    pub ratio: f64,
}

/// Company-level drivers shared with the price model.
pub struct Drivers {
    /// Market cap at the anchor (listing or first session), NT$.
    pub cap0: f64,
    /// Shares outstanding at the anchor.
    pub shares0: f64,
    /// Value characteristic (positive = cheap: low P/B and P/S).
    pub value: f64,
    /// Anchor month (month number) and session index.
    pub anchor_month: i32,
    pub anchor_session: usize,
    /// True for finance and insurance (higher leverage).
    pub finance: bool,
}

fn pos(grid: &Grid, month: i32) -> Option<usize> {
    let j = month - grid.months.first().copied()?;
    usize::try_from(j).ok().filter(|&j| j < grid.months.len())
}

/// Draws a company's fundamentals and dividend schedule.
pub fn draw(rng: &mut Rng, grid: &Grid, d: &Drivers) -> Fundamentals {
    let nm = grid.months.len();
    let first_month = pos(grid, d.anchor_month - 27).unwrap_or(0);
    let anchor = pos(grid, d.anchor_month).unwrap_or(first_month);
    // Revenue: log level = Σ growth/12 + season + noise; anchored so TTM ≈ cap / (P/S).
    let ps = rng.lognormal(1.5, 0.6) * libm::exp(-0.3 * d.value);
    let mu_g = 0.04 + 0.05 * rng.normal();
    let mut y = mu_g + 0.15 * rng.normal();
    let mut trend = 0.0;
    let mut log_rev = vec![f64::NAN; nm];
    for (j, slot) in log_rev.iter_mut().enumerate().skip(first_month) {
        let e = REVENUE_SHOCK_SD * rng.normal();
        y = mu_g + 0.8 * (y - mu_g) + e;
        trend += y / 12.0;
        let season = match grid.months[j].rem_euclid(12) {
            1 => libm::log(0.85),
            11 => libm::log(1.08),
            _ => 0.0,
        };
        *slot = trend + season + 0.06 * rng.normal();
    }
    let target = libm::log(d.cap0 / ps / 12.0 / 1000.0);
    let shift = target - (trend_at(&log_rev, anchor));
    let revenue: Vec<f64> = log_rev
        .iter()
        .map(|&l| {
            if l.is_nan() {
                f64::NAN
            } else {
                libm::round(libm::exp(l + shift))
            }
        })
        .collect();

    let signal: Vec<f64> = (0..nm)
        .map(|j| {
            if j < first_month + 11 {
                return 0.0;
            }
            let mean = |k: usize| revenue[j + 1 - k..=j].iter().sum::<f64>() / k as f64;
            let (m3, m12) = (mean(3), mean(12));
            if m3 > 0.0 && m12 > 0.0 {
                (libm::log(m3 / m12) / REVENUE_SIGNAL_SD).clamp(-3.0, 3.0)
            } else {
                0.0
            }
        })
        .collect();

    // Quarterly P&L.
    let gm_s = (0.22 + 0.10 * rng.normal()).clamp(0.03, 0.7);
    let opex_s = gm_s * rng.range(0.3, 0.8);
    let debt_s = if d.finance {
        rng.range(0.85, 0.93)
    } else {
        rng.range(0.2, 0.65)
    };
    let cash_s = rng.range(0.05, 0.3);
    let payout = rng.range(0.35, 0.9);
    let stock_div = rng.uniform() < 0.05;
    let pb = rng.lognormal(1.5, 0.5) * libm::exp(-0.35 * d.value);
    let month0 = grid.months.first().copied().unwrap_or(0);
    let nq = grid.quarters.len();
    let mut pnl = vec![[f64::NAN; 6]; nq];
    for (k, &(qy, qn)) in grid.quarters.iter().enumerate() {
        let m = qy * 12 + (qn as i32 - 1) * 3 - month0;
        let idx: Vec<usize> = (m..m + 3).filter_map(|j| usize::try_from(j).ok()).collect();
        if idx.len() < 3 || idx.iter().any(|&j| j >= nm || revenue[j].is_nan()) {
            continue;
        }
        let rev: f64 = idx.iter().map(|&j| revenue[j]).sum();
        let gm = (gm_s + 0.02 * rng.normal()).clamp(0.0, 0.9);
        let op = rev * (gm - opex_s + 0.015 * rng.normal());
        let pretax = op + rev * 0.01 * rng.normal();
        let net = pretax - 0.2 * pretax.max(0.0);
        pnl[k] = [rev, rev * gm, op, pretax, net, 0.97 * net];
    }

    // Dividends: paid June–September from last year's earnings.
    let mut events = Vec::new();
    let mut shares = d.shares0;
    let (y0, y1) = (
        crate::calendar::civil_from_days(grid.dates.first().copied().unwrap_or(0)).0,
        crate::calendar::civil_from_days(grid.dates.last().copied().unwrap_or(0)).0,
    );
    for year in y0..=y1 {
        let day = days_from_civil(year, 6, 15) + (rng.uniform() * 92.0) as i32;
        let skip = rng.uniform() < 0.12;
        let ratio = if stock_div {
            libm::round(rng.range(0.02, 0.10) * 1000.0) / 1000.0
        } else {
            0.0
        };
        let Some(t) = session_on_or_after(&grid.dates, day) else {
            continue;
        };
        if t < d.anchor_session + 20 || skip || grid.dates[t] - day > 10 {
            continue;
        }
        let last_year: Vec<usize> = (0..nq)
            .filter(|&k| grid.quarters[k].0 == year - 1)
            .collect();
        if last_year.len() != 4 || last_year.iter().any(|&k| pnl[k][5].is_nan()) {
            continue;
        }
        let eps: f64 = last_year.iter().map(|&k| pnl[k][5]).sum::<f64>() * 1000.0 / shares;
        if eps <= 0.0 {
            continue;
        }
        let cash = libm::round(payout * eps * (1.0 - ratio) * 100.0) / 100.0;
        events.push(Event {
            session: t,
            cash,
            ratio,
        });
        shares = libm::round(shares * (1.0 + ratio));
    }

    // Balance sheet: equity starts at cap / (P/B) and accumulates earnings less dividends.
    let mut quarter = vec![[f64::NAN; 10]; nq];
    let mut equity = d.cap0 / pb / 1000.0;
    let mut shares = d.shares0;
    for k in 0..nq {
        let p = pnl[k];
        if p[0].is_nan() {
            continue;
        }
        let (qy, qn) = grid.quarters[k];
        let q_end = days_from_civil(qy, qn * 3, 1) + 27;
        equity += p[5];
        for e in &events {
            let d = grid.dates[e.session];
            if d <= q_end && d > q_end - 92 {
                equity -= e.cash * shares / 1000.0;
                shares = libm::round(shares * (1.0 + e.ratio));
            }
        }
        let assets = equity.max(1.0) / (1.0 - debt_s) * libm::exp(0.03 * rng.normal());
        let cash = assets * cash_s * libm::exp(0.1 * rng.normal());
        let ocf = p[4] * 1.2 + 0.05 * p[0] * rng.normal();
        quarter[k] = [
            p[0], p[1], p[2], p[3], p[4], p[5], equity, assets, cash, ocf,
        ];
    }
    Fundamentals {
        first_month,
        revenue,
        signal,
        quarter,
        events,
    }
}

/// The TTM-average log level around `j` (falls back to the value at `j`).
fn trend_at(log_rev: &[f64], j: usize) -> f64 {
    let lo = j.saturating_sub(11);
    let vals: Vec<f64> = log_rev[lo..=j.min(log_rev.len().saturating_sub(1))]
        .iter()
        .copied()
        .filter(|v| !v.is_nan())
        .collect();
    if vals.is_empty() {
        0.0
    } else {
        let mean_exp = vals.iter().map(|&v| libm::exp(v)).sum::<f64>() / vals.len() as f64;
        libm::log(mean_exp)
    }
}
