//! Directors' and supervisors' holdings (`internal_equity_changes:董監持有股數占比`,
//! `docs/data.md` §4.4): a share of the company that insiders slowly sell down, with occasional
//! jumps (elections, pledges released, share placements). Monthly, dated at the filing deadline
//! (the 15th of the next month). Drawn from the stock's extension stream after its other added
//! datasets.

use super::model::Grid;
use crate::util::rng::Rng;

/// The dataset key.
pub const KEY: &str = "internal_equity_changes:董監持有股數占比";

/// Fills one stock's column of the insider panel from its listing month on.
pub fn write(rng: &mut Rng, grid: &Grid, listed_month: i32, out: &mut [f64]) {
    let mut pct = (18.0 * libm::exp(0.55 * rng.normal())).clamp(2.0, 70.0);
    for (r, &j) in grid.insider_rows.iter().enumerate() {
        let jump = if rng.uniform() < 0.02 {
            rng.range(-0.3, 0.2)
        } else {
            0.0
        };
        pct = (pct * libm::exp(-0.002 + 0.01 * rng.normal() + jump)).clamp(0.5, 90.0);
        if grid.months[j] >= listed_month {
            out[r] = libm::round(pct * 100.0) / 100.0;
        }
    }
}
