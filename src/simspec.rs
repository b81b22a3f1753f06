//! The vocabulary of finlab's `sim()` options, shared by the checker (which validates a
//! strategy's `sim(...)` call), the backtester (which gives them meaning) and the `sim` command:
//! [`SimOptions`] with finlab's defaults, [`Frequency`] (pandas-style `resample` strings, with
//! in-string day shifts) and [`TradeAt`]. Semantics: `docs/semantics.md` §1–2.

use serde::{Deserialize, Serialize};

use crate::calendar::{civil_from_days, days_from_civil, month_end, weekday};

/// Taiwan's default fee ratio (1.425‰ per side).
pub const TW_FEE: f64 = 1.425 / 1000.0;
/// Taiwan's default securities transaction tax (3‰ on sells).
pub const TW_TAX: f64 = 3.0 / 1000.0;

/// The price a trade fills at (always the adjusted series).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TradeAt {
    /// The close (finlab's default).
    Close,
    /// The open.
    Open,
    /// (open + close) / 2
    OpenCloseAvg,
    /// (high + low) / 2
    HighLowAvg,
    /// (open + high + low + close) / 4
    PriceAvg,
}

impl TradeAt {
    /// finlab's spellings.
    pub const NAMES: &'static [&'static str] = &[
        "close",
        "open",
        "open_close_avg",
        "close_open_avg",
        "high_low_avg",
        "low_high_avg",
        "price_avg",
    ];

    /// Parses a `trade_at_price` string.
    pub fn parse(s: &str) -> Option<TradeAt> {
        Some(match s {
            "close" => TradeAt::Close,
            "open" => TradeAt::Open,
            "open_close_avg" | "close_open_avg" => TradeAt::OpenCloseAvg,
            "high_low_avg" | "low_high_avg" => TradeAt::HighLowAvg,
            "price_avg" => TradeAt::PriceAvg,
            _ => return None,
        })
    }

    /// The canonical finlab spelling.
    pub fn name(self) -> &'static str {
        match self {
            TradeAt::Close => "close",
            TradeAt::Open => "open",
            TradeAt::OpenCloseAvg => "open_close_avg",
            TradeAt::HighLowAvg => "high_low_avg",
            TradeAt::PriceAvg => "price_avg",
        }
    }
}

/// The calendar rule of a `resample` string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rule {
    /// Every `n` calendar days from the first position date (`"D"`, `"20D"`).
    Days(u32),
    /// Weekly on a weekday, 0 = Monday … 6 = Sunday (`"W"` = `"W-SUN"`, `"W-FRI"`).
    Weekly(u8),
    /// Calendar month ends (`"M"`, `"ME"`).
    MonthEnd,
    /// First day of each month (`"MS"`).
    MonthStart,
    /// Quarter ends: Mar 31, Jun 30, Sep 30, Dec 31 (`"Q"`, `"QE"`).
    QuarterEnd,
    /// Quarter starts: Jan 1, Apr 1, Jul 1, Oct 1 (`"QS"`).
    QuarterStart,
    /// Year ends (`"Y"`, `"YE"`, `"A"`).
    YearEnd,
}

/// A `resample` string: a calendar rule plus an in-string day shift (`"M+5"`, `"W-FRI-1"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frequency {
    /// Which calendar dates rebalance.
    pub rule: Rule,
    /// Calendar days added to each of those dates (`+5` in `"M+5"`; negative for `-`).
    pub shift_days: i32,
}

/// Weekday suffixes of `W-…`, Monday first (the index is the weekday `Rule::Weekly` holds).
pub const WEEKDAYS: [&str; 7] = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];

/// The calendar rules spelled by name (upper case); `W-<weekday>` and `<n>D` are the others.
pub const NAMED_RULES: &[(&str, Rule)] = &[
    ("M", Rule::MonthEnd),
    ("ME", Rule::MonthEnd),
    ("MS", Rule::MonthStart),
    ("Q", Rule::QuarterEnd),
    ("QE", Rule::QuarterEnd),
    ("Q-DEC", Rule::QuarterEnd),
    ("QE-DEC", Rule::QuarterEnd),
    ("QS", Rule::QuarterStart),
    ("QS-JAN", Rule::QuarterStart),
    ("Y", Rule::YearEnd),
    ("YE", Rule::YearEnd),
    ("A", Rule::YearEnd),
    ("A-DEC", Rule::YearEnd),
    ("YE-DEC", Rule::YearEnd),
    ("W", Rule::Weekly(6)),
];

impl Frequency {
    /// Parses finlab/pandas spellings: `D`, `NND`, `W`, `W-MON`…`W-SUN`, `M`/`ME`, `MS`,
    /// `Q`/`QE`, `QS`, `Y`/`YE`/`A`, each optionally followed by `+N` or `-N` calendar days.
    pub fn parse(text: &str) -> Option<Frequency> {
        let upper = text.trim().to_ascii_uppercase();
        // In-string shift: a trailing `+N` / `-N` with N all digits (so `W-FRI` is not a shift).
        let (base, shift_days) = match upper.rfind(['+', '-']) {
            Some(i)
                if i > 0
                    && i + 1 < upper.len()
                    && upper[i + 1..].bytes().all(|b| b.is_ascii_digit()) =>
            {
                let n: i32 = upper[i + 1..].parse().ok()?;
                (&upper[..i], if &upper[i..=i] == "-" { -n } else { n })
            }
            _ => (upper.as_str(), 0),
        };
        if let Some((_, rule)) = NAMED_RULES.iter().find(|(name, _)| *name == base) {
            return Some(Frequency {
                rule: *rule,
                shift_days,
            });
        }
        let rule = match base {
            b if b.starts_with("W-") => {
                Rule::Weekly(WEEKDAYS.iter().position(|w| *w == &b[2..])? as u8)
            }
            b if b.ends_with('D') => {
                let n = &b[..b.len() - 1];
                let n: u32 = if n.is_empty() { 1 } else { n.parse().ok()? };
                if n == 0 {
                    return None;
                }
                Rule::Days(n)
            }
            _ => return None,
        };
        Some(Frequency { rule, shift_days })
    }

    /// Candidate rebalance dates of `pandas.date_range(first, until, freq)` (calendar dates),
    /// each moved by the in-string shift.
    pub fn candidates(&self, first: i32, until: i32) -> Vec<i32> {
        let mut out = Vec::new();
        let mut push_while = |mut d: i32, next: &dyn Fn(i32) -> i32| {
            while d <= until {
                out.push(d + self.shift_days);
                d = next(d);
            }
        };
        match self.rule {
            Rule::Days(n) => push_while(first, &|d| d + n as i32),
            Rule::Weekly(wd) => {
                let start = first + (i32::from(wd) - weekday(first)).rem_euclid(7);
                push_while(start, &|d| d + 7)
            }
            Rule::MonthEnd => push_while(month_end(first), &|d| month_end(d + 1)),
            Rule::MonthStart => {
                let start = if civil_from_days(first).2 == 1 {
                    first
                } else {
                    month_end(first) + 1
                };
                push_while(start, &|d| month_end(d) + 1)
            }
            Rule::QuarterEnd => {
                let next_qe = |d: i32| {
                    let mut e = month_end(d);
                    while !civil_from_days(e).1.is_multiple_of(3) {
                        e = month_end(e + 1);
                    }
                    e
                };
                push_while(next_qe(first), &|d| next_qe(d + 1))
            }
            Rule::QuarterStart => {
                let next_qs = |d: i32| {
                    let (y, m, day) = civil_from_days(d);
                    if day == 1 && (m - 1) % 3 == 0 {
                        return d;
                    }
                    let q_month = ((m - 1) / 3 + 1) * 3 + 1;
                    if q_month > 12 {
                        days_from_civil(y + 1, 1, 1)
                    } else {
                        days_from_civil(y, q_month, 1)
                    }
                };
                push_while(next_qs(first), &|d| next_qs(d + 1))
            }
            Rule::YearEnd => {
                let ye = |d: i32| days_from_civil(civil_from_days(d).0, 12, 31);
                push_while(ye(first), &|d| ye(d + 1))
            }
        }
        out
    }
}

/// Parses a `resample_offset` such as `"1D"`, `"10D"`, `"-2D"` into calendar days.
pub fn parse_offset(text: &str) -> Option<i32> {
    let t = text.trim().to_ascii_uppercase();
    let n = t.strip_suffix('D')?;
    if n.is_empty() {
        return Some(1);
    }
    n.parse().ok()
}

/// `resample=`: when the whole book is rebalanced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Resample {
    /// Whenever the position row changes.
    OnChange,
    /// On the dates of a calendar frequency.
    Every(Frequency),
}

/// Every `sim()` option the engine implements, with finlab's defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimOptions {
    /// When to rebalance (`resample`; default `None` = whenever the position changes).
    pub resample: Resample,
    /// Calendar days added to every rebalance date (`resample_offset`).
    pub resample_offset: i32,
    /// The fill price (`trade_at_price`).
    pub trade_at: TradeAt,
    /// Largest absolute weight of one stock, in (0, 1]; the excess stays in cash (§2.4).
    pub position_limit: f64,
    /// Fee on every buy and every sell, as a fraction of the traded value (default [`TW_FEE`]).
    pub fee_ratio: f64,
    /// Tax on every sell or reduction, as a fraction of the traded value (default [`TW_TAX`]).
    pub tax_ratio: f64,
    /// Stop thresholds as fractions; `None` (or 0) = disabled.
    pub stop_loss: Option<f64>,
    /// Exit once the gain from the cost basis reaches this fraction.
    pub take_profit: Option<f64>,
    /// Exit once the price falls this far below its peak, in units of the cost basis.
    pub trail_stop: Option<f64>,
    /// Arm the trailing stop only once the gain reaches this fraction.
    pub trail_stop_activation: Option<f64>,
    /// Check stops intraday against open/high/low instead of at the close (§2.9).
    pub touched_exit: bool,
    /// A stock stopped out sits out the next rebalance (finlab's default: true).
    pub stop_trading_next_period: bool,
    /// Held stocks keep their cost basis across rebalances, so stops measure from the first entry.
    pub retain_cost_when_rebalance: bool,
    /// Inclusive last date (days since 1970-01-01).
    pub end_date: Option<i32>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            resample: Resample::OnChange,
            resample_offset: 0,
            trade_at: TradeAt::Close,
            position_limit: 1.0,
            fee_ratio: TW_FEE,
            tax_ratio: TW_TAX,
            stop_loss: None,
            take_profit: None,
            trail_stop: None,
            trail_stop_activation: None,
            touched_exit: false,
            stop_trading_next_period: true,
            retain_cost_when_rebalance: false,
            end_date: None,
        }
    }
}

impl SimOptions {
    /// True when any stop is armed.
    pub fn has_stops(&self) -> bool {
        let on = |x: Option<f64>| x.is_some_and(|v| v != 0.0);
        on(self.stop_loss) || on(self.take_profit) || on(self.trail_stop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::{days_from_civil as d, format};

    fn dates(f: &str, first: i32, until: i32) -> Vec<String> {
        Frequency::parse(f)
            .unwrap()
            .candidates(first, until)
            .into_iter()
            .map(format)
            .collect()
    }

    #[test]
    fn frequencies_follow_pandas() {
        let (a, b) = (d(2023, 1, 15), d(2023, 7, 5));
        assert_eq!(
            dates("M", a, b),
            [
                "2023-01-31",
                "2023-02-28",
                "2023-03-31",
                "2023-04-30",
                "2023-05-31",
                "2023-06-30"
            ]
        );
        assert_eq!(dates("MS", a, d(2023, 3, 1)), ["2023-02-01", "2023-03-01"]);
        assert_eq!(dates("Q", a, b), ["2023-03-31", "2023-06-30"]);
        assert_eq!(dates("QS", a, b), ["2023-04-01", "2023-07-01"]);
        // 2023-01-15 is a Sunday
        assert_eq!(
            dates("W", a, d(2023, 1, 29)),
            ["2023-01-15", "2023-01-22", "2023-01-29"]
        );
        assert_eq!(
            dates("W-FRI", a, d(2023, 1, 28)),
            ["2023-01-20", "2023-01-27"]
        );
        assert_eq!(
            dates("20D", a, d(2023, 2, 20)),
            ["2023-01-15", "2023-02-04"]
        );
        assert_eq!(
            dates("M+5", a, d(2023, 2, 28)),
            ["2023-02-05", "2023-03-05"]
        );
        assert_eq!(
            dates("M-3", a, d(2023, 2, 28)),
            ["2023-01-28", "2023-02-25"]
        );
        assert_eq!(dates("W-FRI-1", a, d(2023, 1, 21)), ["2023-01-19"]);
        assert_eq!(dates("YE", a, b), Vec::<String>::new());
        for bad in ["X", "W-XYZ", "0D", "M+", "+5"] {
            assert_eq!(Frequency::parse(bad), None, "{bad}");
        }
        assert_eq!(parse_offset("10D"), Some(10));
        assert_eq!(parse_offset("-1D"), Some(-1));
        assert_eq!(parse_offset("1W"), None);
    }
}
