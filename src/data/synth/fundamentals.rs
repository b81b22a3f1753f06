//! A company's fundamentals, drawn before its prices (they do not depend on them): monthly
//! revenue (YoY growth AR(1), seasonality), quarterly income statement and balance sheet items,
//! and the corporate-action schedule (cash and stock dividends from last year's earnings).
//! Amounts are in thousand NT$, as MOPS and finlab report them. [`write`](fn@write) puts them into the
//! monthly revenue and quarterly statement panels.

use crate::calendar::days_from_civil;

use super::model::{session_on_or_after, two_dp, Grid};
use super::statements::{self, Items};
use super::{quarterly as q, QUARTERLY_KEYS};
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

/// Draws a company's fundamentals and dividend schedule: revenue, then the company's margins,
/// the quarterly income statements, the dividends and the balance sheets (in that order of
/// draws).
pub fn draw(rng: &mut Rng, grid: &Grid, d: &Drivers) -> Fundamentals {
    let first_month = pos(grid, d.anchor_month - 27).unwrap_or(0);
    let anchor = pos(grid, d.anchor_month).unwrap_or(first_month);
    let revenue = draw_revenue(rng, grid, d, first_month, anchor);
    let signal = revenue_signal(&revenue, first_month);
    let m = Margins::draw(rng, d);
    let pnl = draw_income(rng, grid, &revenue, &m);
    let events = draw_dividends(rng, grid, d, &m, &pnl);
    let quarter = draw_balance_sheets(rng, grid, d, &m, &pnl, &events);
    Fundamentals {
        first_month,
        revenue,
        signal,
        quarter,
        events,
    }
}

/// Monthly revenue from `first_month`: log level = Σ growth/12 + season + noise, with YoY
/// growth an AR(1); anchored so the TTM at `anchor` ≈ cap / (P/S).
fn draw_revenue(
    rng: &mut Rng,
    grid: &Grid,
    d: &Drivers,
    first_month: usize,
    anchor: usize,
) -> Vec<f64> {
    let ps = rng.lognormal(1.5, 0.6) * libm::exp(-0.3 * d.value);
    let mu_g = 0.04 + 0.05 * rng.normal();
    let mut y = mu_g + 0.15 * rng.normal();
    let mut trend = 0.0;
    let mut log_rev = vec![f64::NAN; grid.months.len()];
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
    log_rev
        .iter()
        .map(|&l| {
            if l.is_nan() {
                f64::NAN
            } else {
                libm::round(libm::exp(l + shift))
            }
        })
        .collect()
}

/// Each month's revenue momentum (see [`Fundamentals::signal`]).
fn revenue_signal(revenue: &[f64], first_month: usize) -> Vec<f64> {
    (0..revenue.len())
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
        .collect()
}

/// A company's structural ratios, drawn once.
struct Margins {
    /// Typical gross margin and operating expenses (share of revenue).
    gross: f64,
    opex: f64,
    /// Liabilities and cash as shares of assets.
    debt: f64,
    cash: f64,
    /// Share of last year's earnings paid out.
    payout: f64,
    /// Pays stock dividends too.
    stock_div: bool,
    /// Price-to-book at the anchor (sets the starting equity).
    pb: f64,
}

impl Margins {
    fn draw(rng: &mut Rng, d: &Drivers) -> Self {
        let gross = (0.22 + 0.10 * rng.normal()).clamp(0.03, 0.7);
        let opex = gross * rng.range(0.3, 0.8);
        let debt = if d.finance {
            rng.range(0.85, 0.93)
        } else {
            rng.range(0.2, 0.65)
        };
        let cash = rng.range(0.05, 0.3);
        let payout = rng.range(0.35, 0.9);
        let stock_div = rng.uniform() < 0.05;
        let pb = rng.lognormal(1.5, 0.5) * libm::exp(-0.35 * d.value);
        Self {
            gross,
            opex,
            debt,
            cash,
            payout,
            stock_div,
            pb,
        }
    }
}

/// Quarterly income statements (revenue, gross profit, operating income, pre-tax income, net
/// income, net income to parent) of the quarters whose three months have revenue; NaN
/// elsewhere.
fn draw_income(rng: &mut Rng, grid: &Grid, revenue: &[f64], m: &Margins) -> Vec<[f64; 6]> {
    let nm = grid.months.len();
    let month0 = grid.months.first().copied().unwrap_or(0);
    let mut pnl = vec![[f64::NAN; 6]; grid.quarters.len()];
    for (k, &(qy, qn)) in grid.quarters.iter().enumerate() {
        let first = qy * 12 + (qn as i32 - 1) * 3 - month0;
        let idx: Vec<usize> = (first..first + 3)
            .filter_map(|j| usize::try_from(j).ok())
            .collect();
        if idx.len() < 3 || idx.iter().any(|&j| j >= nm || revenue[j].is_nan()) {
            continue;
        }
        let rev: f64 = idx.iter().map(|&j| revenue[j]).sum();
        let gm = (m.gross + 0.02 * rng.normal()).clamp(0.0, 0.9);
        let op = rev * (gm - m.opex + 0.015 * rng.normal());
        let pretax = op + rev * 0.01 * rng.normal();
        let net = pretax - 0.2 * pretax.max(0.0);
        pnl[k] = [rev, rev * gm, op, pretax, net, 0.97 * net];
    }
    pnl
}

/// Dividends, paid June–September from last year's earnings (each year of the grid draws its
/// date, a skip and a stock ratio, whether it pays or not).
fn draw_dividends(
    rng: &mut Rng,
    grid: &Grid,
    d: &Drivers,
    m: &Margins,
    pnl: &[[f64; 6]],
) -> Vec<Event> {
    let mut events = Vec::new();
    let mut shares = d.shares0;
    let (y0, y1) = (
        crate::calendar::civil_from_days(grid.dates.first().copied().unwrap_or(0)).0,
        crate::calendar::civil_from_days(grid.dates.last().copied().unwrap_or(0)).0,
    );
    for year in y0..=y1 {
        let day = days_from_civil(year, 6, 15) + (rng.uniform() * 92.0) as i32;
        let skip = rng.uniform() < 0.12;
        let ratio = if m.stock_div {
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
        let last_year: Vec<usize> = (0..grid.quarters.len())
            .filter(|&k| grid.quarters[k].0 == year - 1)
            .collect();
        if last_year.len() != 4 || last_year.iter().any(|&k| pnl[k][5].is_nan()) {
            continue;
        }
        let eps: f64 = last_year.iter().map(|&k| pnl[k][5]).sum::<f64>() * 1000.0 / shares;
        if eps <= 0.0 {
            continue;
        }
        let cash = libm::round(m.payout * eps * (1.0 - ratio) * 100.0) / 100.0;
        events.push(Event {
            session: t,
            cash,
            ratio,
        });
        shares = libm::round(shares * (1.0 + ratio));
    }
    events
}

/// The full quarterly rows ([`Fundamentals::quarter`]): equity starts at cap / (P/B) and
/// accumulates earnings less dividends; assets, cash and operating cash flow follow.
fn draw_balance_sheets(
    rng: &mut Rng,
    grid: &Grid,
    d: &Drivers,
    m: &Margins,
    pnl: &[[f64; 6]],
    events: &[Event],
) -> Vec<[f64; 10]> {
    let mut quarter = vec![[f64::NAN; 10]; pnl.len()];
    let mut equity = d.cap0 / m.pb / 1000.0;
    let mut shares = d.shares0;
    for (k, p) in pnl.iter().enumerate() {
        if p[0].is_nan() {
            continue;
        }
        let (qy, qn) = grid.quarters[k];
        let q_end = days_from_civil(qy, qn * 3, 1) + 27;
        equity += p[5];
        for e in events {
            let d = grid.dates[e.session];
            if d <= q_end && d > q_end - 92 {
                equity -= e.cash * shares / 1000.0;
                shares = libm::round(shares * (1.0 + e.ratio));
            }
        }
        let assets = equity.max(1.0) / (1.0 - m.debt) * libm::exp(0.03 * rng.normal());
        let cash = assets * m.cash * libm::exp(0.1 * rng.normal());
        let ocf = p[4] * 1.2 + 0.05 * p[0] * rng.normal();
        quarter[k] = [
            p[0], p[1], p[2], p[3], p[4], p[5], equity, assets, cash, ocf,
        ];
    }
    quarter
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

/// Writes the monthly revenue and quarterly statement panels of one stock.
pub fn write(
    f: &Fundamentals,
    items: &[Option<Items>],
    grid: &Grid,
    listed: i32,
    shares0: f64,
    monthly: &mut [&mut [f64]],
    quarterly: &mut [&mut [f64]],
) {
    let listed_month = super::model::month_index(listed);
    let rev = |j: usize| f.revenue.get(j).copied().unwrap_or(f64::NAN);
    let pct = |a: f64, b: f64| {
        if b > 0.0 {
            two_dp((a / b - 1.0) * 100.0)
        } else {
            f64::NAN
        }
    };
    for (r, &j) in grid.month_rows.iter().enumerate() {
        if j < f.first_month + 24 || grid.months[j] < listed_month {
            continue;
        }
        let year_pos = grid.months[j].rem_euclid(12) as usize;
        let ytd: f64 = (j - year_pos..=j).map(rev).sum();
        let ly_ytd: f64 = (j - 12 - year_pos..=j - 12).map(rev).sum();
        let vals = [
            rev(j),
            rev(j - 1),
            rev(j - 12),
            pct(rev(j), rev(j - 1)),
            pct(rev(j), rev(j - 12)),
            ytd,
            ly_ytd,
            pct(ytd, ly_ytd),
        ];
        for (k, v) in vals.into_iter().enumerate() {
            monthly[k][r] = v;
        }
    }
    for (r, &k) in grid.quarter_rows.iter().enumerate() {
        let qv = f.quarter[k];
        let published = grid.quarter_pub[k]
            .map(|t| grid.dates[t])
            .unwrap_or(i32::MIN);
        if qv[0].is_nan() || published < listed - 365 {
            continue;
        }
        let [rev_q, gross, op, pretax, net, parent, equity, assets, cash, ocf] = qv;
        let shares = f
            .events
            .iter()
            .filter(|e| grid.dates[e.session] < published - 30)
            .fold(shares0, |s, e| libm::round(s * (1.0 + e.ratio)));
        let last_year = if k >= 4 {
            f.quarter[k - 4][0]
        } else {
            f64::NAN
        };
        let mut put = |key: usize, v: f64| quarterly[key][r] = v;
        put(q::EPS, two_dp(parent * 1000.0 / shares));
        put(q::REVENUE, libm::round(rev_q));
        put(q::GROSS, libm::round(gross));
        put(q::OPERATING, libm::round(op));
        put(q::PRETAX, libm::round(pretax));
        put(q::PARENT, libm::round(parent));
        put(q::EQUITY, libm::round(equity));
        put(q::ASSETS, libm::round(assets));
        put(q::LIABILITIES, libm::round(assets - equity));
        put(q::CAPITAL, libm::round(shares * 10.0 / 1000.0));
        put(q::CASH, libm::round(cash));
        put(q::OCF, libm::round(ocf));
        put(q::ROE, two_dp(parent / equity * 100.0));
        put(q::ROA, two_dp(net / assets * 100.0));
        put(q::GROSS_MARGIN, two_dp(gross / rev_q * 100.0));
        put(q::OP_MARGIN, two_dp(op / rev_q * 100.0));
        put(q::NET_MARGIN, two_dp(net / rev_q * 100.0));
        put(q::REV_GROWTH, pct(rev_q, last_year));
        put(q::DEBT_RATIO, two_dp((assets - equity) / assets * 100.0));
        if let Some(it) = &items[k] {
            let last = k.checked_sub(4).and_then(|j| items[j].as_ref());
            let extra = statements::values(it, last, shares);
            for (i, v) in extra.into_iter().enumerate() {
                quarterly[QUARTERLY_KEYS.len() + i][r] = v;
            }
        }
    }
}
