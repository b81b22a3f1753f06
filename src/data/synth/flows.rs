//! The daily chip flows behind the balances and net buys the price loop writes
//! (`docs/data.md` §4.4): institutional buys and sells whose difference is the net buy, margin
//! purchases and sales (short sales and covers) whose difference is the change in the balance,
//! and the securities-lending short balance. Drawn from the stock's extension stream after its
//! price history, so the other panels do not change; uniform draws keep it cheap.

use super::daily as d;
use crate::util::rng::Rng;

fn round_to(x: f64, step: f64) -> f64 {
    libm::round(x / step) * step
}

/// Fills the flow columns of one stock from session `first` on, reading its volume, net buys,
/// balances and shares outstanding.
pub fn write(rng: &mut Rng, daily: &mut [&mut [f64]], first: usize) {
    let n = daily[d::VOLUME].len();
    // Securities-lending short balance: a persistent share of the shares outstanding.
    let sbl_share = 0.0005 + 0.02 * rng.uniform() * rng.uniform();
    let mut sbl_state = 0.0;
    for t in first..n {
        let volume = daily[d::VOLUME][t];
        if volume.is_nan() {
            continue;
        }
        // Gross activity beyond the net buy, in whole lots, both sides alike.
        let (uf, ut) = (rng.uniform(), rng.uniform());
        let extra = |share: f64| round_to(volume * share / 2.0, 1000.0);
        let (foreign, trust) = (daily[d::FOREIGN][t], daily[d::TRUST][t]);
        let (ef, et) = (extra(0.3 * uf * uf), extra(0.08 * ut * ut * ut));
        daily[d::FOREIGN_BUY][t] = foreign.max(0.0) + ef;
        daily[d::FOREIGN_SELL][t] = (-foreign).max(0.0) + ef;
        daily[d::TRUST_BUY][t] = trust.max(0.0) + et;
        daily[d::TRUST_SELL][t] = (-trust).max(0.0) + et;
        // Margin (lots): buys − sells = the change of the balance; turnover of the book on
        // trading days only.
        let traded = volume > 0.0;
        for (bal, up, down, rate) in [
            (d::MARGIN, d::MARGIN_BUY, d::MARGIN_SELL, 0.06),
            (d::SHORT, d::SHORT_SELL, d::SHORT_BUY, 0.1),
        ] {
            let now = daily[bal][t];
            let before = if t > first && daily[bal][t - 1].is_finite() {
                daily[bal][t - 1]
            } else {
                now
            };
            let u = rng.uniform();
            let churn = if traded {
                libm::round(before * rate * u * u)
            } else {
                0.0
            };
            daily[up][t] = (now - before).max(0.0) + churn;
            daily[down][t] = (before - now).max(0.0) + churn;
        }
        sbl_state = 0.98 * sbl_state + 0.2 * (rng.uniform() - 0.5);
        let shares = daily[d::SHARES][t];
        daily[d::SBL][t] = round_to(shares * sbl_share * libm::exp(sbl_state), 1000.0);
    }
}
