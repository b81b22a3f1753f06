//! The shared part of the synthetic market: Taiwan's tick and price-limit rules
//! (`docs/data.md` §4.3), the session/month/quarter grids with their publication dates
//! (`docs/semantics.md` §6.2, `docs/data.md` §4.4), and the common factors every stock loads on —
//! a GARCH(1,1) market factor with Student-t innovations and one factor per industry, the
//! electronics industries sharing a common part.

use std::collections::BTreeMap;

use crate::calendar::{civil_from_days, days_from_civil};

use crate::util::rng::Rng;

/// Taiwan equity tick size for a price (TWSE/TPEx).
pub fn tick(price: f64) -> f64 {
    match price {
        p if p < 10.0 => 0.01,
        p if p < 50.0 => 0.05,
        p if p < 100.0 => 0.1,
        p if p < 500.0 => 0.5,
        p if p < 1000.0 => 1.0,
        _ => 5.0,
    }
}

/// Rounds to whole cents (prices are decimals with at most two places).
fn cents(x: f64) -> f64 {
    libm::round(x * 100.0) / 100.0
}

/// Rounds a price to the nearest tick of its band.
pub fn snap(price: f64) -> f64 {
    let t = tick(price);
    cents(libm::round(price / t) * t)
}

/// Rounds down to the tick of the band of `x` itself (used for the limit-up price).
pub fn floor_tick(x: f64) -> f64 {
    let t = tick(x);
    cents(libm::floor(x / t + 1e-9) * t)
}

/// Rounds up to the tick of the band of `x` itself (used for the limit-down price).
pub fn ceil_tick(x: f64) -> f64 {
    let t = tick(x);
    cents(libm::ceil(x / t - 1e-9) * t)
}

/// The limit-up and limit-down prices for a reference price: `floor_to_tick(ref·(1+l))` and
/// `ceil_to_tick(ref·(1−l))`, the tick taken from the band of the computed limit
/// (`docs/data.md` §4.3, verified on all TPEx common stocks of 2023-01-30).
pub fn limits(reference: f64, pct: f64) -> (f64, f64) {
    (
        floor_tick(reference * (1.0 + pct)),
        ceil_tick(reference * (1.0 - pct)).max(0.01),
    )
}

/// The first session on or after `day`, as an index into `dates`.
pub fn session_on_or_after(dates: &[i32], day: i32) -> Option<usize> {
    let i = dates.partition_point(|&d| d < day);
    (i < dates.len()).then_some(i)
}

/// Month number (`year·12 + month − 1`) of a day.
pub fn month_index(day: i32) -> i32 {
    let (y, m, _) = civil_from_days(day);
    y * 12 + m as i32 - 1
}

/// First day of a month number.
pub fn month_first_day(month: i32) -> i32 {
    days_from_civil(month.div_euclid(12), (month.rem_euclid(12) + 1) as u32, 1)
}

/// Everything the per-stock simulation shares.
pub struct Grid {
    /// Sessions (day numbers).
    pub dates: Vec<i32>,
    /// Daily limit per session: 7% before 2015-06-01, 10% from then on.
    pub limit_pct: Vec<f64>,
    /// Odd-lot trading counts in the volume (since 2020-10-26).
    pub odd_lots: Vec<bool>,
    /// First session of each calendar month.
    pub month_start: Vec<bool>,
    /// Simulated months (month numbers), starting 27 months before the first session.
    pub months: Vec<i32>,
    /// Session index where each simulated month's revenue becomes public (the 10th of the next
    /// month, moved to the next session), if within the sessions.
    pub month_pub: Vec<Option<usize>>,
    /// Monthly panel rows: index into `months` for each row (publication inside the sessions).
    pub month_rows: Vec<usize>,
    /// Session index where each simulated month's insider holdings become public (the 15th of
    /// the next month, their filing deadline, moved to the next session), and the insider
    /// panel's rows (index into `months`).
    pub insider_pub: Vec<Option<usize>>,
    pub insider_rows: Vec<usize>,
    /// Simulated quarters as `(year, quarter 1..=4)`, from the quarter of `months[0]`.
    pub quarters: Vec<(i32, u32)>,
    /// Session index of each quarter's statutory filing deadline (Q1 May 15, Q2 Aug 14,
    /// Q3 Nov 14, Q4 Mar 31 of the next year), moved to the next session.
    pub quarter_pub: Vec<Option<usize>>,
    /// Quarterly panel rows: index into `quarters` for each row.
    pub quarter_rows: Vec<usize>,
}

impl Grid {
    /// Builds the grids for a list of sessions.
    pub fn new(dates: Vec<i32>) -> Grid {
        let regime = days_from_civil(2015, 6, 1);
        let odd = days_from_civil(2020, 10, 26);
        let limit_pct = dates
            .iter()
            .map(|&d| if d < regime { 0.07 } else { 0.10 })
            .collect();
        let odd_lots = dates.iter().map(|&d| d >= odd).collect();
        let month_start = dates
            .iter()
            .enumerate()
            .map(|(i, &d)| i == 0 || month_index(dates[i - 1]) != month_index(d))
            .collect();
        let (first, last) = (
            dates.first().copied().unwrap_or(0),
            dates.last().copied().unwrap_or(0),
        );
        let months: Vec<i32> = (month_index(first) - 27..=month_index(last)).collect();
        let published = |day_of_next_month: i32| -> Vec<Option<usize>> {
            months
                .iter()
                .map(|&m| {
                    let deadline = month_first_day(m + 1) + day_of_next_month - 1;
                    session_on_or_after(&dates, deadline)
                        .filter(|_| deadline >= first && deadline <= last)
                })
                .collect()
        };
        let month_pub = published(10);
        let month_rows = (0..months.len())
            .filter(|&i| month_pub[i].is_some())
            .collect();
        let insider_pub = published(15);
        let insider_rows = (0..months.len())
            .filter(|&i| insider_pub[i].is_some())
            .collect();
        let q0 = months.first().copied().unwrap_or(0);
        let mut quarters = Vec::new();
        let (mut y, mut q) = (q0.div_euclid(12), (q0.rem_euclid(12) / 3 + 1) as u32);
        while y * 12 + (q as i32 - 1) * 3 <= month_index(last) {
            quarters.push((y, q));
            (y, q) = if q == 4 { (y + 1, 1) } else { (y, q + 1) };
        }
        let quarter_pub: Vec<Option<usize>> = quarters
            .iter()
            .map(|&(y, q)| {
                let deadline = match q {
                    1 => days_from_civil(y, 5, 15),
                    2 => days_from_civil(y, 8, 14),
                    3 => days_from_civil(y, 11, 14),
                    _ => days_from_civil(y + 1, 3, 31),
                };
                session_on_or_after(&dates, deadline)
                    .filter(|_| deadline >= first && deadline <= last)
            })
            .collect();
        let quarter_rows = (0..quarters.len())
            .filter(|&i| quarter_pub[i].is_some())
            .collect();
        Grid {
            dates,
            limit_pct,
            odd_lots,
            month_start,
            months,
            month_pub,
            month_rows,
            insider_pub,
            insider_rows,
            quarters,
            quarter_pub,
            quarter_rows,
        }
    }

    /// Dates of the monthly panel rows.
    pub fn month_dates(&self) -> Vec<i32> {
        self.month_rows
            .iter()
            .filter_map(|&i| self.month_pub[i].map(|t| self.dates[t]))
            .collect()
    }

    /// Dates of the insider-holdings panel rows.
    pub fn insider_dates(&self) -> Vec<i32> {
        self.insider_rows
            .iter()
            .filter_map(|&i| self.insider_pub[i].map(|t| self.dates[t]))
            .collect()
    }

    /// Dates of the quarterly panel rows.
    pub fn quarter_dates(&self) -> Vec<i32> {
        self.quarter_rows
            .iter()
            .filter_map(|&i| self.quarter_pub[i].map(|t| self.dates[t]))
            .collect()
    }
}

/// Industries whose factors share a common electronics component (TWSE codes 24–31).
pub fn is_electronics(code: &str) -> bool {
    matches!(code, "24" | "25" | "26" | "27" | "28" | "29" | "30" | "31")
}

/// Common factors: the market's daily log return and conditional variance, and one return
/// series per industry code.
pub struct Factors {
    pub market: Vec<f64>,
    pub market_var: Vec<f64>,
    pub industry: BTreeMap<String, (f64, Vec<f64>)>,
}

/// Long-run daily sd of the market factor (`docs/data.md` §4.2: 1.05 % planned; a little more so
/// the index, which diversifies part of it away, lands near the real 1.07 %).
pub const MARKET_SD: f64 = 0.011;
/// Daily log drift of the market factor (≈ +11 %/yr before the variance drag and dividends).
pub const MARKET_DRIFT: f64 = 0.0005;

/// Draws the market factor (GARCH(1,1): α 0.08, β 0.90, t₄ innovations) and the industry
/// factors (sd 0.4–0.9 %/day; electronics correlated ρ ≈ 0.5 through a shared component).
pub fn factors(seed: u64, n: usize, industries: &[String]) -> Factors {
    let (alpha, beta) = (0.08, 0.90);
    let omega = MARKET_SD * MARKET_SD * (1.0 - alpha - beta);
    let mut rng = Rng::new(seed, "market");
    let mut h = MARKET_SD * MARKET_SD;
    let mut market = Vec::with_capacity(n);
    let mut market_var = Vec::with_capacity(n);
    for _ in 0..n {
        let e = libm::sqrt(h) * rng.t4();
        market.push(MARKET_DRIFT - 0.5 * h + e);
        market_var.push(h);
        h = omega + alpha * e * e + beta * h;
    }
    let mut erng = Rng::new(seed, "industry/electronics");
    let common: Vec<f64> = (0..n).map(|_| erng.t4()).collect();
    let industry = industries
        .iter()
        .map(|code| {
            let mut r = Rng::new(seed, &format!("industry/{code}"));
            let sd = r.range(0.004, 0.009);
            let shared = if is_electronics(code) {
                libm::sqrt(0.5)
            } else {
                0.0
            };
            let own = libm::sqrt(1.0 - shared * shared);
            let series = (0..n)
                .map(|t| sd * (shared * common[t] + own * r.t4()))
                .collect();
            (code.clone(), (sd, series))
        })
        .collect();
    Factors {
        market,
        market_var,
        industry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_prices_follow_the_band_of_the_limit() {
        // docs/data.md §4.3: ref 101 → up 111.10 → tick 0.5 → 111.00; down 90.90 (tick 0.1).
        assert_eq!(limits(101.0, 0.10), (111.0, 90.9));
        assert_eq!(limits(10.0, 0.10), (11.0, 9.0));
        assert_eq!(limits(49.0, 0.07), (52.4, 45.6));
        assert_eq!(snap(33.33), 33.35);
        assert_eq!(snap(1234.0), 1235.0);
    }

    #[test]
    fn publication_dates_follow_the_statutory_deadlines() {
        let dates: Vec<i32> = (days_from_civil(2024, 1, 1)..days_from_civil(2024, 12, 31))
            .filter(|&d| crate::calendar::weekday(d) < 5)
            .collect();
        let g = Grid::new(dates.clone());
        let md = g.month_dates();
        // 2024-02-10 is a Saturday → revenue for January is first visible Monday 2024-02-12.
        assert!(md.contains(&days_from_civil(2024, 2, 12)));
        assert_eq!(md[0], days_from_civil(2024, 1, 10));
        let qd = g.quarter_dates();
        assert_eq!(
            qd,
            [
                days_from_civil(2024, 4, 1),
                days_from_civil(2024, 5, 15),
                days_from_civil(2024, 8, 14),
                days_from_civil(2024, 11, 14)
            ]
        );
    }
}
