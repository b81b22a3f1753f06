//! The `sim()` options a backtest ran with, in finlab's spelling and in words: echoed by
//! `backtest` and `sim`, listed in the HTML report and in `--json`.

use crate::calendar;
use crate::simspec::{Frequency, Resample, Rule, SimOptions};

const WEEKDAYS: [&str; 7] = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];
const DAY_NAMES: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// A `resample` string for a frequency (`M`, `W-FRI`, `20D`, `M+5`).
pub fn resample_text(f: &Frequency) -> String {
    let base = match f.rule {
        Rule::Days(1) => "D".to_string(),
        Rule::Days(n) => format!("{n}D"),
        Rule::Weekly(wd) => format!("W-{}", WEEKDAYS[usize::from(wd) % 7]),
        Rule::MonthEnd => "M".into(),
        Rule::MonthStart => "MS".into(),
        Rule::QuarterEnd => "Q".into(),
        Rule::QuarterStart => "QS".into(),
        Rule::YearEnd => "Y".into(),
    };
    match f.shift_days {
        0 => base,
        n if n > 0 => format!("{base}+{n}"),
        n => format!("{base}{n}"),
    }
}

/// When a schedule rebalances, in words.
pub fn resample_words(r: &Resample) -> String {
    let Resample::Every(f) = r else {
        return "whenever the position changes".into();
    };
    let base = match f.rule {
        Rule::Days(1) => "every calendar day".to_string(),
        Rule::Days(n) => format!("every {n} calendar days from the first position date"),
        Rule::Weekly(wd) => format!("every {}", DAY_NAMES[usize::from(wd) % 7]),
        Rule::MonthEnd => "at each month end".into(),
        Rule::MonthStart => "on the 1st of each month".into(),
        Rule::QuarterEnd => "at each quarter end".into(),
        Rule::QuarterStart => "at each quarter start".into(),
        Rule::YearEnd => "at each year end".into(),
    };
    match f.shift_days {
        0 => base,
        n => format!("{base}, moved {n:+} days"),
    }
}

/// One option as shown: finlab's keyword, its value in Python spelling, what it does.
#[derive(Clone, Debug, PartialEq)]
pub struct OptionRow {
    pub key: &'static str,
    pub value: String,
    pub meaning: String,
}

fn py_bool(b: bool) -> String {
    if b { "True" } else { "False" }.into()
}

fn pct(x: f64) -> String {
    format!("{}%", super::trim_float(x * 100.0, 4))
}

/// Every option in effect (stops only when armed), then the risk-free rate of the metrics.
pub fn rows(opts: &SimOptions, written: Option<&str>, risk_free: f64) -> Vec<OptionRow> {
    let row = |key, value: String, meaning: String| OptionRow {
        key,
        value,
        meaning,
    };
    let resample = match (&opts.resample, written) {
        (Resample::OnChange, _) => "None".to_string(),
        (_, Some(w)) => format!("{w:?}"),
        (Resample::Every(f), None) => format!("{:?}", resample_text(f)),
    };
    let mut out = vec![row(
        "resample",
        resample,
        format!("rebalance {}", resample_words(&opts.resample)),
    )];
    if opts.resample_offset != 0 {
        out.push(row(
            "resample_offset",
            format!("\"{}D\"", opts.resample_offset),
            "calendar days added to every rebalance date".into(),
        ));
    }
    out.extend([
        row(
            "trade_at_price",
            format!("{:?}", opts.trade_at.name()),
            "fill price, on the first session after the signal".into(),
        ),
        row(
            "position_limit",
            format!("{}", opts.position_limit),
            format!(
                "at most {} of the book in one stock",
                pct(opts.position_limit)
            ),
        ),
        row(
            "fee_ratio",
            format!("{}", opts.fee_ratio),
            format!("{} on every buy and sell", pct(opts.fee_ratio)),
        ),
        row(
            "tax_ratio",
            format!("{}", opts.tax_ratio),
            format!("{} on every sell", pct(opts.tax_ratio)),
        ),
    ]);
    let stops = [
        ("stop_loss", opts.stop_loss, "sell after a loss of"),
        ("take_profit", opts.take_profit, "sell after a gain of"),
        (
            "trail_stop",
            opts.trail_stop,
            "sell after a fall from the high of",
        ),
        (
            "trail_stop_activation",
            opts.trail_stop_activation,
            "trailing stop armed after a gain of",
        ),
    ];
    for (key, v, meaning) in stops {
        if let Some(v) = v.filter(|v| *v != 0.0) {
            out.push(row(
                key,
                format!("{v}"),
                format!("{meaning} {}", pct(v.abs())),
            ));
        }
    }
    if opts.has_stops() {
        out.push(row(
            "touched_exit",
            py_bool(opts.touched_exit),
            if opts.touched_exit {
                "stops fill intraday at the threshold".into()
            } else {
                "stops checked at the close, sold the next session".into()
            },
        ));
        out.push(row(
            "stop_trading_next_period",
            py_bool(opts.stop_trading_next_period),
            if opts.stop_trading_next_period {
                "a stopped stock sits out the next rebalance".into()
            } else {
                "a stopped stock may be bought again at the next rebalance".into()
            },
        ));
    }
    out.push(row(
        "retain_cost_when_rebalance",
        py_bool(opts.retain_cost_when_rebalance),
        if opts.retain_cost_when_rebalance {
            "stops measure from the first entry across rebalances".into()
        } else {
            "stops measure from the last rebalance".into()
        },
    ));
    if let Some(d) = opts.end_date {
        out.push(row(
            "end_date",
            format!("\"{}\"", calendar::format(d)),
            "the backtest stops here".into(),
        ));
    }
    out.push(row(
        "risk-free rate",
        pct(risk_free),
        "annual rate Sharpe and Sortino subtract (finlab's 2%; --rf to change)".into(),
    ));
    out
}

/// The options as `key=value` pairs for one terminal line (the risk-free rate last).
pub fn one_line(opts: &SimOptions, written: Option<&str>, risk_free: f64) -> String {
    rows(opts, written, risk_free)
        .into_iter()
        .map(|r| match r.key {
            "risk-free rate" => format!("risk-free {}", r.value),
            key => format!("{key}={}", r.value),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resample_strings_round_trip() {
        for s in [
            "D", "20D", "W-FRI", "W-SUN", "M", "MS", "Q", "QS", "Y", "M+5", "W-FRI-1",
        ] {
            let f = Frequency::parse(s).unwrap();
            assert_eq!(resample_text(&f), s);
            assert_eq!(Frequency::parse(&resample_text(&f)), Some(f));
        }
        assert_eq!(
            resample_words(&Resample::Every(Frequency::parse("W-FRI").unwrap())),
            "every Friday"
        );
    }

    #[test]
    fn the_line_lists_what_is_in_effect() {
        let opts = SimOptions {
            resample: Resample::Every(Frequency::parse("M").unwrap()),
            stop_loss: Some(0.1),
            ..SimOptions::default()
        };
        let line = one_line(&opts, Some("M"), 0.02);
        assert!(line.starts_with("resample=\"M\", trade_at_price=\"close\", position_limit=1, fee_ratio=0.001425, tax_ratio=0.003, stop_loss=0.1"), "{line}");
        assert!(line.contains("stop_trading_next_period=True"), "{line}");
        assert!(line.ends_with("risk-free 2%"), "{line}");
        let plain = one_line(&SimOptions::default(), None, 0.02);
        assert!(
            plain.starts_with("resample=None,") && !plain.contains("stop_"),
            "{plain}"
        );
    }
}
