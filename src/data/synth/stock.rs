//! One stock's synthetic history (`docs/data.md` §4.2): its parameters from its own PRNG
//! substream, then a session-by-session loop forming the reference price (ex-rights on event
//! days), the limit band, a close on the tick grid, open/high/low, volume and value, chips
//! (institutional flows, foreign ownership, margin balances, day trading) and valuation ratios;
//! afterwards the backward adjustment factors for `etl:adj_*`. Planted premia enter as small
//! drifts (see [`Premia`]).

use std::ops::Range;

use crate::data::reference::{Board, Security};

use super::fundamentals::{self, Drivers, Fundamentals};
use super::model::{
    ceil_tick, floor_tick, limits, session_on_or_after, snap, two_dp, Factors, Grid,
};
use super::statements;
use super::{daily as d, flows, insiders, Premia};
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

/// Simulates one stock into `out`. `mega` makes it the market's mega-cap.
///
/// The stock's stream draws, in order: its [`Profile`], its fundamentals, the walk's chip
/// baselines, then every session of the [`Walk`]. Datasets added after the first model draw
/// from a second stream (`ext/…`) so the first model's panels stay bit-identical.
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
    let Some(p) = Profile::draw(&mut rng, sec, &grid.dates, mega) else {
        return Vec::new(); // listed after the window: an all-NaN column
    };
    let f = fundamentals::draw(
        &mut rng,
        grid,
        &Drivers {
            cap0: p.cap0,
            shares0: p.shares0,
            value: p.value,
            anchor_month: super::model::month_index(grid.dates[p.first]),
            anchor_session: p.first,
            finance: sec.industry == "17",
        },
    );
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
    fundamentals::write(
        &f,
        &items,
        grid,
        sec.listed,
        p.shares0,
        &mut monthly,
        &mut quarterly,
    );
    let mut walk = Walk::new(rng, sec, grid, factors, premia, &p, &f);
    walk.run(
        &mut daily,
        Benchmark {
            weight,
            total_return,
            price_return,
        },
    );
    flows::write(&mut ext, &mut daily, p.first);
    insiders::write(
        &mut ext,
        grid,
        super::model::month_index(sec.listed),
        insider,
    );
    adjust_backward(&mut daily, &walk.events, p.first..grid.dates.len());
    walk.events
}

/// A stock's drawn parameters: size, price level, risk and liquidity.
struct Profile {
    /// First session of the window the stock trades.
    first: usize,
    /// Listed inside the window (the first sessions trade without a limit band).
    ipo: bool,
    /// Size factor (standard normal): cap, price level and foreign ownership rise with it.
    z_cap: f64,
    /// Market cap and shares outstanding at the first session.
    cap0: f64,
    shares0: f64,
    /// Price at the first session (on the tick grid).
    price0: f64,
    /// Idiosyncratic daily sd, and its standard score against [`IDIO_SD`].
    sigma: f64,
    z_sigma: f64,
    /// Loadings on the market and on the stock's industry.
    beta: f64,
    b_ind: f64,
    /// Value characteristic (positive = cheap), shared with the fundamentals.
    value: f64,
    /// Typical daily turnover (value traded over market cap).
    turnover: f64,
    /// Probability of a session without a trade.
    p_no_trade: f64,
}

impl Profile {
    /// Draws the profile; `None` when the stock lists after the window.
    fn draw(rng: &mut Rng, sec: &Security, dates: &[i32], mega: bool) -> Option<Self> {
        let first = session_on_or_after(dates, sec.listed)?;
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
        // Levels are calibrated to 2023-01-30 (`docs/data.md` §4.5); earlier anchors start lower
        // as the market grows (≈ 5 %/yr in cap, 4 %/yr in price).
        let years =
            f64::from(crate::calendar::days_from_civil(2023, 1, 30) - dates[first]) / 365.25;
        let cap0 = if mega {
            3e12
        } else {
            median_cap * libm::exp(1.05 * z_cap + tilt)
        } * libm::exp(-0.05 * years);
        let price0 = snap(
            (35.0 * libm::exp(0.3 * z_cap + 0.5 * rng.normal() - 0.03 * years)).clamp(5.0, 3000.0),
        );
        let shares0 = round_to(cap0 / price0, 1000.0).max(1e6);
        let sigma = (rng.lognormal(IDIO_SD, 0.42) * libm::exp(-0.1 * libm::log(cap0 / 5e9)))
            .clamp(0.005, 0.06);
        let z_sigma = (libm::log(sigma) - libm::log(IDIO_SD)) / 0.42;
        let beta = (1.0 + 0.3 * rng.normal()).clamp(0.2, 2.0);
        let b_ind = (1.0 + 0.3 * rng.normal()).clamp(0.0, 2.0);
        let value = rng.normal();
        let turnover = rng.lognormal(0.002, 1.7).min(0.2);
        let illiquid = turnover < 0.002 * libm::exp(-1.7 * 1.2816);
        let p_no_trade = no_trade_base * if illiquid { 9.0 } else { 0.111 };
        Some(Self {
            first,
            ipo,
            z_cap,
            cap0,
            shares0,
            price0,
            sigma,
            z_sigma,
            beta,
            b_ind,
            value,
            turnover,
            p_no_trade,
        })
    }
}

/// The benchmark inputs of one stock (see [`Columns`]).
struct Benchmark<'c> {
    weight: &'c mut [f64],
    total_return: &'c mut [f64],
    price_return: &'c mut [f64],
}

/// A session's bar.
struct Bar {
    open: f64,
    high: f64,
    low: f64,
    close: f64,
    /// Locked at a limit all session (open = high = low = close).
    locked: bool,
}

/// The session-by-session walk of one stock: its fixed inputs and the state carried from one
/// session to the next. Each session runs the phases in order — ex-rights, publications,
/// planted alpha, the return, prices, volume, chips, valuation — drawing from `rng` as it goes.
struct Walk<'a> {
    rng: Rng,
    grid: &'a Grid,
    factors: &'a Factors,
    premia: &'a Premia,
    p: &'a Profile,
    f: &'a Fundamentals,
    twse: bool,
    /// The industry factor's sd and daily returns (empty when the industry has none).
    ind_sd: f64,
    ind: &'a [f64],
    /// Revenue-surprise alpha and the sessions it still lasts.
    rev_alpha: (f64, usize),
    /// Momentum and value alpha, reset at each month start.
    mom_alpha: f64,
    value_alpha: f64,
    /// Session of the last capital reduction.
    last_reduction: usize,
    /// Cumulative idiosyncratic log return before each session (for momentum).
    idio_cum: Vec<f64>,
    /// The previous close (the reference price once adjusted for ex-rights).
    last: f64,
    shares: f64,
    /// Trailing-year net income to parent and equity, as last published.
    ttm_parent: f64,
    equity: f64,
    /// AR states of volume, foreign and trust flows, margin and short balances.
    vol_state: f64,
    foreign_state: f64,
    trust_state: f64,
    margin_state: f64,
    short_state: f64,
    /// Foreign ownership (%).
    holding: f64,
    /// Typical margin balance (lots).
    base_margin: f64,
    /// The last cash dividend and its session (for the dividend yield).
    last_cash: (f64, usize),
    events: Vec<ExRight>,
}

impl<'a> Walk<'a> {
    /// The state before the first session; draws the margin and short baselines.
    fn new(
        mut rng: Rng,
        sec: &Security,
        grid: &'a Grid,
        factors: &'a Factors,
        premia: &'a Premia,
        p: &'a Profile,
        f: &'a Fundamentals,
    ) -> Self {
        let (ind_sd, ind) = match factors.industry.get(&sec.industry) {
            Some((sd, s)) => (*sd, s.as_slice()),
            None => (0.0, &[][..]),
        };
        let holding = 100.0 / (1.0 + libm::exp(1.6 - 0.5 * p.z_cap));
        let base_margin = p.shares0 / 1000.0 * 0.02 * rng.lognormal(1.0, 0.8);
        let short_state = libm::log(0.1 * rng.lognormal(1.0, 0.6));
        Self {
            rng,
            grid,
            factors,
            premia,
            p,
            f,
            twse: sec.board == Board::Twse,
            ind_sd,
            ind,
            rev_alpha: (0.0, 0),
            mom_alpha: 0.0,
            value_alpha: 0.0,
            last_reduction: 0,
            idio_cum: vec![0.0; grid.dates.len() + 1],
            last: p.price0,
            shares: p.shares0,
            ttm_parent: f64::NAN,
            equity: f64::NAN,
            vol_state: 0.0,
            foreign_state: 0.0,
            trust_state: 0.0,
            margin_state: 0.0,
            short_state,
            holding,
            base_margin,
            last_cash: (0.0, 0),
            events: Vec::new(),
        }
    }

    /// Runs every session from the first, writing the daily panels and the benchmark inputs.
    fn run(&mut self, daily: &mut [&mut [f64]], bench: Benchmark<'_>) {
        let (f, grid, first) = (self.f, self.grid, self.p.first);
        let mut scheduled = f.events.iter().peekable();
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
        for t in first..grid.dates.len() {
            let event = scheduled
                .next_if(|e| e.session == t)
                .copied()
                .or_else(|| self.capital_reduction(t));
            let (reference, ratio) = match event {
                Some(e) => self.ex_rights(t, e),
                None => (self.last, 0.0),
            };
            while let Some((_, k)) = quarter_pubs.next_if(|&(p, _)| p <= t) {
                self.publish_quarter(k);
            }
            let mut jump = 0.0;
            while let Some((_, j)) = month_pubs.next_if(|&(p, _)| p <= t) {
                let z = f.signal[j];
                // The price reacts on the publication session (part of the planted effect:
                // with `--null` revenue carries no price information at all).
                jump += 25.0 * self.premia.revenue * z;
                self.rev_alpha = (self.premia.revenue * z, 21);
            }
            let alpha = self.alpha(t);
            let (r, sd_tot) = self.draw_return(t, alpha, jump);
            let traded = self.rng.uniform() >= self.p.p_no_trade;
            let prev_cap = self.last * self.shares / (1.0 + ratio);
            if self.twse && (t > first || !self.p.ipo) {
                bench.weight[t] = prev_cap;
            }
            if !traded {
                bench.total_return[t] = 0.0;
                bench.price_return[t] = reference * (1.0 + ratio) / self.last - 1.0;
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
                self.last = reference;
                self.write_chips_state(daily, t);
                self.write_valuation(daily, t, reference);
                continue;
            }
            let bar = self.prices(t, reference, r, sd_tot);
            daily[d::CLOSE][t] = bar.close;
            daily[d::OPEN][t] = bar.open;
            daily[d::HIGH][t] = bar.high;
            daily[d::LOW][t] = bar.low;
            let volume = self.volume(daily, t, &bar, r / sd_tot, prev_cap);
            self.chips(daily, t, volume, r / sd_tot);
            self.write_chips_state(daily, t);
            self.write_valuation(daily, t, bar.close);
            bench.total_return[t] = bar.close / reference - 1.0;
            bench.price_return[t] = bar.close * (1.0 + ratio) / self.last - 1.0;
            self.last = bar.close;
        }
    }

    /// A capital reduction to offset losses (減資): penny stocks consolidate shares.
    fn capital_reduction(&mut self, t: usize) -> Option<fundamentals::Event> {
        let first = self.p.first;
        (self.last < 3.0
            && t > self.last_reduction + 250
            && t > first + 20
            && self.rng.uniform() < 0.02)
            .then(|| {
                self.last_reduction = t;
                fundamentals::Event {
                    session: t,
                    cash: 0.0,
                    ratio: libm::round(self.rng.range(0.3, 0.6) * 100.0) / 100.0 - 1.0,
                }
            })
    }

    /// Applies an ex-rights event; returns the reference price and the stock ratio.
    fn ex_rights(&mut self, t: usize, e: fundamentals::Event) -> (f64, f64) {
        let cash = e.cash.min(0.1 * self.last);
        let reference = two_dp((self.last - cash) / (1.0 + e.ratio)).max(0.01);
        self.shares = libm::round(self.shares * (1.0 + e.ratio));
        self.events.push(ExRight {
            session: t,
            prev_close: self.last,
            reference,
        });
        if cash > 0.0 {
            self.last_cash = (cash, t);
        }
        (reference, e.ratio)
    }

    /// Takes in a newly published quarter (equity and trailing-year earnings).
    fn publish_quarter(&mut self, k: usize) {
        let quarter = &self.f.quarter;
        if !quarter[k][0].is_nan() {
            self.equity = quarter[k][6];
            self.ttm_parent = if k >= 3 {
                (k - 3..=k).map(|i| quarter[i][5]).sum()
            } else {
                f64::NAN
            };
        }
    }

    /// The planted alpha of session `t`: revenue surprise, momentum and value (updated at
    /// month starts), less the low-volatility premium.
    fn alpha(&mut self, t: usize) -> f64 {
        let (p, premia, first) = (self.p, self.premia, self.p.first);
        if self.grid.month_start[t] && t >= first + 252 {
            let z =
                (self.idio_cum[t - 21] - self.idio_cum[t - 252]) / (p.sigma * libm::sqrt(231.0));
            self.mom_alpha = premia.momentum * z.clamp(-3.0, 3.0);
        }
        if self.grid.month_start[t] && self.equity > 0.0 {
            // Value as a strategy sees it: P/B against the market's typical 1.5.
            let pb = self.last * self.shares / (self.equity * 1000.0);
            let z = (libm::log(1.5) - libm::log(pb)) / 0.7;
            self.value_alpha = premia.value * z.clamp(-3.0, 3.0);
        }
        let revenue = if self.rev_alpha.1 > 0 {
            self.rev_alpha.1 -= 1;
            self.rev_alpha.0
        } else {
            0.0
        };
        revenue + self.mom_alpha + self.value_alpha - premia.low_volatility * p.z_sigma
    }

    /// Draws the session's log return (market, industry and idiosyncratic parts); returns it
    /// with the total daily sd.
    fn draw_return(&mut self, t: usize, alpha: f64, jump: f64) -> (f64, f64) {
        let p = self.p;
        let ind_t = self.ind.get(t).copied().unwrap_or(0.0);
        let var = p.beta * p.beta * self.factors.market_var[t]
            + (p.b_ind * self.ind_sd).powi(2)
            + p.sigma * p.sigma;
        let sd_tot = libm::sqrt(var);
        // News days (≈ 1.5 %): an extra jump of 5σ sd, for the fat tails of real returns.
        let news = if self.rng.uniform() < 0.015 {
            5.0 * p.sigma * self.rng.normal()
        } else {
            0.0
        };
        let idio = p.sigma * self.rng.t4() + news + alpha + jump
            - 0.5 * (1.375 * p.sigma * p.sigma + (p.b_ind * self.ind_sd).powi(2));
        let r = p.beta * self.factors.market[t] + p.b_ind * ind_t + idio;
        self.idio_cum[t + 1] = self.idio_cum[t] + idio;
        (r, sd_tot)
    }

    /// The session's bar: the close on the tick grid inside the limit band, sometimes locked
    /// at a limit, else an open and an intraday range around it.
    fn prices(&mut self, t: usize, reference: f64, r: f64, sd_tot: f64) -> Bar {
        let (up, down) = if self.p.ipo && t < self.p.first + 5 {
            (f64::INFINITY, 0.01)
        } else {
            limits(reference, self.grid.limit_pct[t])
        };
        let raw = reference * libm::exp(r);
        let close = snap(raw).clamp(down, up);
        let hit = raw >= up || raw <= down;
        let locked = hit && self.rng.uniform() < 0.4;
        if locked {
            return Bar {
                open: close,
                high: close,
                low: close,
                close,
                locked,
            };
        }
        let rng = &mut self.rng;
        let g = 0.35 * r + 0.35 * sd_tot * rng.normal();
        let open = snap(reference * libm::exp(g)).clamp(down, up);
        let hi = open.max(close) * (1.0 + 0.18 * sd_tot * rng.t4().abs());
        let lo = open.min(close) * (1.0 - 0.18 * sd_tot * rng.t4().abs());
        Bar {
            open,
            high: ceil_tick(hi).clamp(open.max(close), up),
            low: floor_tick(lo).clamp(down, open.min(close)),
            close,
            locked,
        }
    }

    /// Writes volume, value and trade count (`z` is the return over its sd); returns the volume.
    fn volume(
        &mut self,
        daily: &mut [&mut [f64]],
        t: usize,
        bar: &Bar,
        z: f64,
        prev_cap: f64,
    ) -> f64 {
        self.vol_state = 0.7 * self.vol_state + 0.5 * self.rng.normal();
        let lock_damp = if bar.locked { 0.3 } else { 1.0 };
        let value_target = self.p.turnover
            * prev_cap
            * libm::exp(self.vol_state + 0.3 * z.abs() - 0.24)
            * lock_damp;
        let vwap = (bar.open + bar.high + bar.low + bar.close) / 4.0;
        let lot = if self.grid.odd_lots[t] { 1.0 } else { 1000.0 };
        let volume = round_to(value_target.min(0.3 * prev_cap) / vwap, lot).max(lot);
        let value = libm::round(volume * vwap);
        daily[d::VOLUME][t] = volume;
        daily[d::VALUE][t] = value;
        daily[d::TRADES][t] = libm::round(value / self.rng.range(6e4, 2e5)).max(1.0);
        volume
    }

    /// Writes institutional flows and day trading, and moves foreign ownership and the margin
    /// and short states (`z` is the return over its sd).
    fn chips(&mut self, daily: &mut [&mut [f64]], t: usize, volume: f64, z: f64) {
        let rng = &mut self.rng;
        self.foreign_state = 0.9 * self.foreign_state + 0.05 * rng.normal();
        self.trust_state = 0.95 * self.trust_state + 0.01 * rng.normal();
        let fl = (self.foreign_state + 0.1 * rng.normal() + 0.05 * z).clamp(-0.6, 0.6);
        let foreign = round_to(volume * fl, 1000.0);
        daily[d::FOREIGN][t] = foreign;
        daily[d::TRUST][t] = round_to(volume * (self.trust_state + 0.03 * rng.normal()), 1000.0);
        daily[d::DEALER][t] = round_to(volume * 0.03 * rng.normal(), 1000.0);
        daily[d::HEDGE][t] = round_to(volume * 0.02 * rng.normal(), 1000.0);
        daily[d::DAY_TRADE][t] = round_to(
            volume * (0.15 * libm::exp(0.4 * rng.normal())).min(0.8),
            1000.0,
        );
        self.holding = (self.holding + foreign / self.shares * 100.0).clamp(0.0, 99.0);
        self.margin_state = 0.98 * self.margin_state + 0.05 * rng.normal() + 0.02 * z;
        self.short_state = 0.97 * self.short_state + 0.08 * rng.normal();
    }

    /// Writes the stock-level chip panels: shares, foreign ownership, margin and short balances.
    fn write_chips_state(&self, daily: &mut [&mut [f64]], t: usize) {
        let shares = self.shares;
        let margin = libm::round(self.base_margin * libm::exp(self.margin_state));
        let short = libm::round(margin * libm::exp(self.short_state));
        let limit = shares / 1000.0 * 0.25;
        daily[d::HOLDING][t] = two_dp(self.holding);
        daily[d::SHARES][t] = shares;
        daily[d::FOREIGN_SHARES][t] = libm::round(self.holding / 100.0 * shares);
        daily[d::MARGIN][t] = margin;
        daily[d::SHORT][t] = short;
        daily[d::MARGIN_USE][t] = two_dp((margin / limit * 100.0).min(100.0));
        daily[d::SHORT_USE][t] = two_dp((short / limit * 100.0).min(100.0));
    }

    /// Writes market value, P/E, P/B and dividend yield at `price`.
    fn write_valuation(&self, daily: &mut [&mut [f64]], t: usize, price: f64) {
        let shares = self.shares;
        daily[d::MARKET_VALUE][t] = libm::round(price * shares);
        let eps = self.ttm_parent * 1000.0 / shares;
        daily[d::PE][t] = if eps > 0.0 {
            two_dp(price / eps)
        } else {
            f64::NAN
        };
        daily[d::PB][t] = if self.equity > 0.0 {
            two_dp(price * shares / (self.equity * 1000.0))
        } else {
            f64::NAN
        };
        let (cash, at) = self.last_cash;
        daily[d::YIELD][t] = if cash > 0.0 && t - at < 250 {
            two_dp(cash / price * 100.0)
        } else {
            0.0
        };
    }
}

/// Writes `etl:adj_*` over `sessions`, adjusted backward: the latest session equals the raw
/// price; before each ex-date the price is multiplied by (reference / previous close).
fn adjust_backward(daily: &mut [&mut [f64]], events: &[ExRight], sessions: Range<usize>) {
    let mut factor = 1.0;
    let mut pending = events.iter().rev().peekable();
    for t in sessions.rev() {
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
}

/// An ex-rights event of the synthetic model, as the exchanges publish it: the session of the
/// ex-date, the close before it and the reference price (the adjustment factor is their ratio).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExRight {
    pub session: usize,
    pub prev_close: f64,
    pub reference: f64,
}
