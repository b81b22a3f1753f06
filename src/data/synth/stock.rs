//! One stock's synthetic history (`docs/data.md` §4.2): its parameters from its own PRNG
//! substream, then a session-by-session loop forming the reference price (ex-rights on event
//! days), the limit band, a close on the tick grid, open/high/low, volume and value, chips
//! (institutional flows, foreign ownership, margin balances, day trading) and valuation ratios;
//! afterwards the backward adjustment factors for `etl:adj_*`. Planted premia enter as small
//! drifts (see [`Premia`]).

use crate::data::reference::{Board, Security};

use super::fundamentals::{self, Drivers, Fundamentals};
use super::model::{ceil_tick, floor_tick, limits, session_on_or_after, snap, Factors, Grid};
use super::statements::{self, Items};
use super::{daily as d, flows, insiders, quarterly as q, Premia, QUARTERLY_KEYS};
use crate::util::rng::Rng;

/// Where one stock's columns go (each slice is that stock's column of one panel).
pub struct Columns<'a> {
    pub daily: Vec<&'a mut [f64]>,
    pub monthly: Vec<&'a mut [f64]>,
    pub quarterly: Vec<&'a mut [f64]>,
    /// The insider-holdings panel (one row per insider publication session).
    pub insider: &'a mut [f64],
    /// Benchmark inputs per session: weight (previous market cap, TWSE main board only),
    /// total return and price return.
    pub weight: &'a mut [f64],
    pub total_return: &'a mut [f64],
    pub price_return: &'a mut [f64],
}

/// Median idiosyncratic daily sd (small caps higher: σ ∝ cap^−0.1).
pub const IDIO_SD: f64 = 0.0105;

fn round_to(x: f64, step: f64) -> f64 {
    libm::round(x / step) * step
}

fn two_dp(x: f64) -> f64 {
    libm::round(x * 100.0) / 100.0
}

/// Simulates one stock into `out`. `mega` makes it the market's mega-cap.
pub fn simulate(
    sec: &Security,
    grid: &Grid,
    factors: &Factors,
    seed: u64,
    premia: &Premia,
    mega: bool,
    out: Columns<'_>,
) -> Vec<ExRight> {
    let mut rng = Rng::new(seed, &format!("stock/{}", sec.code));
    let dates = &grid.dates;
    let n = dates.len();
    let Some(first) = session_on_or_after(dates, sec.listed) else {
        return Vec::new(); // listed after the window: an all-NaN column
    };
    let ipo = sec.listed > dates[0];
    let z_cap = rng.normal();
    let (median_cap, no_trade_base) = match sec.board {
        Board::Twse => (8e9, 0.001),
        Board::Tib => (3e9, 0.015),
        Board::Tpex => (2.4e9, 0.015),
    };
    let tilt = match sec.industry.as_str() {
        "24" => 0.6,
        "17" => 0.5,
        c if super::model::is_electronics(c) => 0.2,
        _ => 0.0,
    };
    // Levels are calibrated to 2023-01-30 (`docs/data.md` §4.5); earlier anchors start lower as
    // the market grows (≈ 5 %/yr in cap, 4 %/yr in price).
    let years = f64::from(crate::calendar::days_from_civil(2023, 1, 30) - dates[first]) / 365.25;
    let cap0 = if mega {
        3e12
    } else {
        median_cap * libm::exp(1.05 * z_cap + tilt)
    } * libm::exp(-0.05 * years);
    let price0 = snap(
        (35.0 * libm::exp(0.3 * z_cap + 0.5 * rng.normal() - 0.03 * years)).clamp(5.0, 3000.0),
    );
    let shares0 = round_to(cap0 / price0, 1000.0).max(1e6);
    let sigma =
        (rng.lognormal(IDIO_SD, 0.42) * libm::exp(-0.1 * libm::log(cap0 / 5e9))).clamp(0.005, 0.06);
    let z_sigma = (libm::log(sigma) - libm::log(IDIO_SD)) / 0.42;
    let beta = (1.0 + 0.3 * rng.normal()).clamp(0.2, 2.0);
    let b_ind = (1.0 + 0.3 * rng.normal()).clamp(0.0, 2.0);
    let value = rng.normal();
    let turnover = rng.lognormal(0.002, 1.7).min(0.2);
    let illiquid = turnover < 0.002 * libm::exp(-1.7 * 1.2816);
    let p_no_trade = no_trade_base * if illiquid { 9.0 } else { 0.111 };
    let (ind_sd, ind) = match factors.industry.get(&sec.industry) {
        Some((sd, s)) => (*sd, s.as_slice()),
        None => (0.0, &[][..]),
    };
    let f = fundamentals::draw(
        &mut rng,
        grid,
        &Drivers {
            cap0,
            shares0,
            value,
            anchor_month: super::model::month_index(dates[first]),
            anchor_session: first,
            finance: sec.industry == "17",
        },
    );
    // Everything added after the first version of the model draws from its own stream, so the
    // panels above stay bit-identical.
    let mut ext = Rng::new(seed, &format!("ext/{}", sec.code));
    let electronics = super::model::is_electronics(&sec.industry);
    let items = statements::draw(&mut ext, &f.quarter, sec.industry == "17", electronics);
    let Columns {
        mut daily,
        mut monthly,
        mut quarterly,
        insider,
        weight,
        total_return,
        price_return,
    } = out;
    write_fundamentals(
        &f,
        &items,
        grid,
        sec.listed,
        shares0,
        &mut monthly,
        &mut quarterly,
    );

    // Daily state.
    let mut rev_alpha = (0.0, 0usize);
    let mut mom_alpha = 0.0;
    let mut value_alpha = 0.0;
    let mut last_reduction = 0usize;
    let mut idio_cum = vec![0.0; n + 1];
    let mut last = price0;
    let mut shares = shares0;
    let mut ev = f.events.iter().peekable();
    let mut month_pubs = grid
        .month_pub
        .iter()
        .enumerate()
        .filter_map(|(j, p)| p.map(|t| (t, j)))
        .filter(|&(_, j)| j >= f.first_month)
        .peekable();
    let mut quarter_pubs = grid
        .quarter_pub
        .iter()
        .enumerate()
        .filter_map(|(k, p)| p.map(|t| (t, k)))
        .peekable();
    let (mut ttm_parent, mut equity) = (f64::NAN, f64::NAN);
    let mut vol_state = 0.0;
    let (mut foreign_state, mut trust_state) = (0.0, 0.0);
    let mut holding = 100.0 / (1.0 + libm::exp(1.6 - 0.5 * z_cap));
    let base_margin = shares0 / 1000.0 * 0.02 * rng.lognormal(1.0, 0.8);
    let (mut margin_state, mut short_state) = (0.0, libm::log(0.1 * rng.lognormal(1.0, 0.6)));
    let mut last_cash = (0.0, 0usize);
    let mut events: Vec<ExRight> = Vec::new();
    for t in first..n {
        let mut reference = last;
        let mut ratio = 0.0;
        let event = ev.next_if(|e| e.session == t).copied().or_else(|| {
            // Capital reduction to offset losses (減資): penny stocks consolidate shares.
            (last < 3.0 && t > last_reduction + 250 && t > first + 20 && rng.uniform() < 0.02).then(
                || {
                    last_reduction = t;
                    fundamentals::Event {
                        session: t,
                        cash: 0.0,
                        ratio: libm::round(rng.range(0.3, 0.6) * 100.0) / 100.0 - 1.0,
                    }
                },
            )
        });
        if let Some(e) = event {
            let cash = e.cash.min(0.1 * last);
            ratio = e.ratio;
            reference = two_dp((last - cash) / (1.0 + ratio)).max(0.01);
            shares = libm::round(shares * (1.0 + ratio));
            events.push(ExRight {
                session: t,
                prev_close: last,
                reference,
            });
            if cash > 0.0 {
                last_cash = (cash, t);
            }
        }
        // Newly published fundamentals.
        while let Some((_, k)) = quarter_pubs.next_if(|&(p, _)| p <= t) {
            let qv = f.quarter[k];
            if !qv[0].is_nan() {
                equity = qv[6];
                ttm_parent = if k >= 3 {
                    (k - 3..=k).map(|i| f.quarter[i][5]).sum()
                } else {
                    f64::NAN
                };
            }
        }
        let mut jump = 0.0;
        while let Some((_, j)) = month_pubs.next_if(|&(p, _)| p <= t) {
            let z = f.signal[j];
            // The price reacts on the publication session (part of the planted effect: with
            // `--null` revenue carries no price information at all).
            jump += 25.0 * premia.revenue * z;
            rev_alpha = (premia.revenue * z, 21);
        }
        if grid.month_start[t] && t >= first + 252 {
            let z = (idio_cum[t - 21] - idio_cum[t - 252]) / (sigma * libm::sqrt(231.0));
            mom_alpha = premia.momentum * z.clamp(-3.0, 3.0);
        }
        if grid.month_start[t] && equity > 0.0 {
            // Value as a strategy sees it: P/B against the market's typical 1.5.
            let pb = last * shares / (equity * 1000.0);
            let z = (libm::log(1.5) - libm::log(pb)) / 0.7;
            value_alpha = premia.value * z.clamp(-3.0, 3.0);
        }
        let alpha = if rev_alpha.1 > 0 {
            rev_alpha.1 -= 1;
            rev_alpha.0
        } else {
            0.0
        } + mom_alpha
            + value_alpha
            - premia.low_volatility * z_sigma;
        let ind_t = ind.get(t).copied().unwrap_or(0.0);
        let var = beta * beta * factors.market_var[t] + (b_ind * ind_sd).powi(2) + sigma * sigma;
        let sd_tot = libm::sqrt(var);
        // News days (≈ 1.5 %): an extra jump of 5σ sd, for the fat tails of real returns.
        let news = if rng.uniform() < 0.015 {
            5.0 * sigma * rng.normal()
        } else {
            0.0
        };
        let idio = sigma * rng.t4() + news + alpha + jump
            - 0.5 * (1.375 * sigma * sigma + (b_ind * ind_sd).powi(2));
        let r = beta * factors.market[t] + b_ind * ind_t + idio;
        idio_cum[t + 1] = idio_cum[t] + idio;
        let traded = rng.uniform() >= p_no_trade;
        let prev_cap = last * shares / (1.0 + ratio);
        if sec.board == Board::Twse && (t > first || !ipo) {
            weight[t] = prev_cap;
        }
        if !traded {
            total_return[t] = 0.0;
            price_return[t] = reference * (1.0 + ratio) / last - 1.0;
            for k in [
                d::VOLUME,
                d::VALUE,
                d::TRADES,
                d::FOREIGN,
                d::TRUST,
                d::DEALER,
                d::HEDGE,
                d::DAY_TRADE,
            ] {
                daily[k][t] = 0.0;
            }
            last = reference;
            write_chips_state(
                &mut daily,
                t,
                holding,
                base_margin,
                margin_state,
                short_state,
                shares,
            );
            write_valuation(
                &mut daily, t, last, shares, ttm_parent, equity, last_cash, t,
            );
            continue;
        }
        let (up, down) = if ipo && t < first + 5 {
            (f64::INFINITY, 0.01)
        } else {
            limits(reference, grid.limit_pct[t])
        };
        let raw = reference * libm::exp(r);
        let close = snap(raw).clamp(down, up);
        let hit = raw >= up || raw <= down;
        let locked = hit && rng.uniform() < 0.4;
        let (open, high, low) = if locked {
            (close, close, close)
        } else {
            let g = 0.35 * r + 0.35 * sd_tot * rng.normal();
            let open = snap(reference * libm::exp(g)).clamp(down, up);
            let hi = open.max(close) * (1.0 + 0.18 * sd_tot * rng.t4().abs());
            let lo = open.min(close) * (1.0 - 0.18 * sd_tot * rng.t4().abs());
            (
                open,
                ceil_tick(hi).clamp(open.max(close), up),
                floor_tick(lo).clamp(down, open.min(close)),
            )
        };
        daily[d::CLOSE][t] = close;
        daily[d::OPEN][t] = open;
        daily[d::HIGH][t] = high;
        daily[d::LOW][t] = low;
        vol_state = 0.7 * vol_state + 0.5 * rng.normal();
        let lock_damp = if locked { 0.3 } else { 1.0 };
        let value_target = turnover
            * prev_cap
            * libm::exp(vol_state + 0.3 * (r / sd_tot).abs() - 0.24)
            * lock_damp;
        let vwap = (open + high + low + close) / 4.0;
        let lot = if grid.odd_lots[t] { 1.0 } else { 1000.0 };
        let volume = round_to(value_target.min(0.3 * prev_cap) / vwap, lot).max(lot);
        let value = libm::round(volume * vwap);
        daily[d::VOLUME][t] = volume;
        daily[d::VALUE][t] = value;
        daily[d::TRADES][t] = libm::round(value / rng.range(6e4, 2e5)).max(1.0);
        // Chips.
        foreign_state = 0.9 * foreign_state + 0.05 * rng.normal();
        trust_state = 0.95 * trust_state + 0.01 * rng.normal();
        let fl = (foreign_state + 0.1 * rng.normal() + 0.05 * (r / sd_tot)).clamp(-0.6, 0.6);
        let foreign = round_to(volume * fl, 1000.0);
        daily[d::FOREIGN][t] = foreign;
        daily[d::TRUST][t] = round_to(volume * (trust_state + 0.03 * rng.normal()), 1000.0);
        daily[d::DEALER][t] = round_to(volume * 0.03 * rng.normal(), 1000.0);
        daily[d::HEDGE][t] = round_to(volume * 0.02 * rng.normal(), 1000.0);
        daily[d::DAY_TRADE][t] = round_to(
            volume * (0.15 * libm::exp(0.4 * rng.normal())).min(0.8),
            1000.0,
        );
        holding = (holding + foreign / shares * 100.0).clamp(0.0, 99.0);
        margin_state = 0.98 * margin_state + 0.05 * rng.normal() + 0.02 * (r / sd_tot);
        short_state = 0.97 * short_state + 0.08 * rng.normal();
        write_chips_state(
            &mut daily,
            t,
            holding,
            base_margin,
            margin_state,
            short_state,
            shares,
        );
        write_valuation(
            &mut daily, t, close, shares, ttm_parent, equity, last_cash, t,
        );
        total_return[t] = close / reference - 1.0;
        price_return[t] = close * (1.0 + ratio) / last - 1.0;
        last = close;
    }
    flows::write(&mut ext, &mut daily, first);
    insiders::write(
        &mut ext,
        grid,
        super::model::month_index(sec.listed),
        insider,
    );
    // Backward adjustment: the latest session equals the raw price; before each ex-date the
    // price is multiplied by (reference·(1+ratio) / previous close).
    let mut factor = 1.0;
    let mut pending = events.iter().rev().peekable();
    for t in (first..n).rev() {
        for (raw_k, adj_k) in [
            (d::CLOSE, d::ADJ_CLOSE),
            (d::OPEN, d::ADJ_OPEN),
            (d::HIGH, d::ADJ_HIGH),
            (d::LOW, d::ADJ_LOW),
        ] {
            daily[adj_k][t] = daily[raw_k][t] * factor;
        }
        if let Some(e) = pending.next_if(|e| e.session == t) {
            factor *= e.reference / e.prev_close;
        }
    }
    events
}

/// An ex-rights event of the synthetic model, as the exchanges publish it: the session of the
/// ex-date, the close before it and the reference price (the adjustment factor is their ratio).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExRight {
    pub session: usize,
    pub prev_close: f64,
    pub reference: f64,
}

fn write_chips_state(
    daily: &mut [&mut [f64]],
    t: usize,
    holding: f64,
    base_margin: f64,
    margin_state: f64,
    short_state: f64,
    shares: f64,
) {
    let margin = libm::round(base_margin * libm::exp(margin_state));
    let short = libm::round(margin * libm::exp(short_state));
    let limit = shares / 1000.0 * 0.25;
    daily[d::HOLDING][t] = two_dp(holding);
    daily[d::SHARES][t] = shares;
    daily[d::FOREIGN_SHARES][t] = libm::round(holding / 100.0 * shares);
    daily[d::MARGIN][t] = margin;
    daily[d::SHORT][t] = short;
    daily[d::MARGIN_USE][t] = two_dp((margin / limit * 100.0).min(100.0));
    daily[d::SHORT_USE][t] = two_dp((short / limit * 100.0).min(100.0));
}

#[allow(clippy::too_many_arguments)]
fn write_valuation(
    daily: &mut [&mut [f64]],
    t: usize,
    price: f64,
    shares: f64,
    ttm_parent: f64,
    equity: f64,
    last_cash: (f64, usize),
    now: usize,
) {
    daily[d::MARKET_VALUE][t] = libm::round(price * shares);
    let eps = ttm_parent * 1000.0 / shares;
    daily[d::PE][t] = if eps > 0.0 {
        two_dp(price / eps)
    } else {
        f64::NAN
    };
    daily[d::PB][t] = if equity > 0.0 {
        two_dp(price * shares / (equity * 1000.0))
    } else {
        f64::NAN
    };
    let (cash, at) = last_cash;
    daily[d::YIELD][t] = if cash > 0.0 && now - at < 250 {
        two_dp(cash / price * 100.0)
    } else {
        0.0
    };
}

/// Writes the monthly revenue and quarterly statement panels of one stock.
fn write_fundamentals(
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
