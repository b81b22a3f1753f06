//! Validation of the keyword options of a strategy's `sim(...)` call against the engine's
//! [`SimOptions`] vocabulary: each accepted option is stored, each bad one becomes a diagnostic
//! with a hint, options that only matter to finlab's servers are ignored.

use crate::simspec::{parse_offset, Frequency, Resample, SimOptions, TradeAt};

use super::ast::Span;
use super::codes::Code;
use super::diagnostic::Diagnostic;
use super::suggest::did_you_mean;

/// The options of the strategy's `sim(...)` call.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SimCall {
    pub options: SimOptions,
    /// `name=` (a label for reports).
    pub name: Option<String>,
    /// The `resample=` text as written (for reports and the exporter).
    pub resample_text: Option<String>,
}

/// A checked option value.
#[derive(Clone, Debug, PartialEq)]
pub enum OptValue {
    Number(f64),
    Str(String),
    Bool(bool),
    /// Python's `None`.
    None,
    /// Anything else, described (e.g. "a bool panel").
    Other(&'static str),
}

impl OptValue {
    fn describe(&self) -> String {
        match self {
            OptValue::Number(x) => x.to_string(),
            OptValue::Str(s) => format!("{s:?}"),
            OptValue::Bool(b) => if *b { "True" } else { "False" }.to_string(),
            OptValue::None => "None".to_string(),
            OptValue::Other(d) => d.to_string(),
        }
    }
}

/// Options accepted and acted on.
pub const SIM_OPTIONS: &[&str] = &[
    "resample",
    "resample_offset",
    "trade_at_price",
    "position_limit",
    "fee_ratio",
    "tax_ratio",
    "stop_loss",
    "take_profit",
    "trail_stop",
    "trail_stop_activation",
    "touched_exit",
    "stop_trading_next_period",
    "retain_cost_when_rebalance",
    "end_date",
    "name",
];

/// Options finlab accepts that do not change results (uploads, notifications, metadata).
pub const SIM_IGNORED: &[&str] = &[
    "upload",
    "metrics_only",
    "notification_enable",
    "line_access_token",
    "live_performance_start",
    "mae_mfe_window",
    "mae_mfe_window_step",
    "market",
];

/// What an accepted option takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionKind {
    /// `None` or a frequency string ([`Frequency::parse`]).
    Resample,
    /// `None` or a day offset string ([`parse_offset`]).
    DayOffset,
    /// One of [`TradeAt::NAMES`].
    TradeAt,
    /// `None` or a `"YYYY-MM-DD"` date.
    Date,
    /// Any string.
    Label,
    /// A number (`None` too when `nullable`: the default, or the stop turned off).
    Number { nullable: bool },
    /// `True` / `False`.
    Flag,
}

/// The kind of an accepted option (every name of [`SIM_OPTIONS`]), `None` for any other name.
pub fn option_kind(name: &str) -> Option<OptionKind> {
    Some(match name {
        "resample" => OptionKind::Resample,
        "resample_offset" => OptionKind::DayOffset,
        "trade_at_price" => OptionKind::TradeAt,
        "end_date" => OptionKind::Date,
        "name" => OptionKind::Label,
        "position_limit" => OptionKind::Number { nullable: false },
        "fee_ratio"
        | "tax_ratio"
        | "stop_loss"
        | "take_profit"
        | "trail_stop"
        | "trail_stop_activation" => OptionKind::Number { nullable: true },
        "touched_exit" | "stop_trading_next_period" | "retain_cost_when_rebalance" => {
            OptionKind::Flag
        }
        _ => return None,
    })
}

fn bad(span: Span, message: String, hint: &str) -> Diagnostic {
    Diagnostic::error(Code::InvalidSimOption, span, message).hint(hint)
}

/// Stores option `name` = `value` in `call`, or explains why it cannot be.
pub fn apply(
    call: &mut SimCall,
    name: &str,
    name_span: Span,
    value: OptValue,
    value_span: Span,
) -> Result<(), Diagnostic> {
    match option_kind(name) {
        Some(OptionKind::Resample) => set_resample(call, value, value_span),
        Some(
            OptionKind::DayOffset | OptionKind::TradeAt | OptionKind::Date | OptionKind::Label,
        ) => set_text(call, name, value, value_span),
        Some(OptionKind::Number { .. }) => set_number(&mut call.options, name, value, value_span),
        Some(OptionKind::Flag) => {
            let b = match value {
                OptValue::Bool(b) => b,
                v => {
                    return Err(bad(
                        value_span,
                        format!("`{name}` must be True or False, not {}", v.describe()),
                        "write True or False",
                    ))
                }
            };
            let o = &mut call.options;
            match name {
                "touched_exit" => o.touched_exit = b,
                "stop_trading_next_period" => o.stop_trading_next_period = b,
                _ => o.retain_cost_when_rebalance = b,
            }
            Ok(())
        }
        None if SIM_IGNORED.contains(&name) => Ok(()),
        None => {
            let mut d = Diagnostic::error(
                Code::UnknownSimOption,
                name_span,
                format!("`sim` has no option `{name}`"),
            );
            let all = SIM_OPTIONS.iter().chain(SIM_IGNORED).copied();
            if let Some(s) = did_you_mean(name, all) {
                d = d.hint(format!("did you mean `{s}`?"));
            } else {
                d = d.hint(format!("options: {}", SIM_OPTIONS.join(", ")));
            }
            Err(d)
        }
    }
}

/// `resample=`: `None` (trade on changes) or a frequency string.
fn set_resample(call: &mut SimCall, value: OptValue, value_span: Span) -> Result<(), Diagnostic> {
    match value {
        OptValue::None => call.options.resample = Resample::OnChange,
        OptValue::Str(s) => match Frequency::parse(&s) {
            Some(f) => {
                call.options.resample = Resample::Every(f);
                call.resample_text = Some(s);
            }
            None => {
                return Err(Diagnostic::error(
                    Code::UnsupportedResample,
                    value_span,
                    format!("resample={s:?} is not a frequency this engine knows"),
                )
                .hint("use None (trade on changes), \"D\", \"20D\", \"W\", \"W-FRI\", \"M\", \"MS\", \"Q\", \"QS\", \"Y\", optionally shifted like \"M+5\" or \"M-3\""))
            }
        },
        other => {
            return Err(Diagnostic::error(
                Code::UnsupportedResample,
                value_span,
                format!("resample={} is not supported", other.describe()),
            )
            .hint("pass a frequency string such as \"M\" or None; resampling on another panel's dates is not supported yet"))
        }
    }
    Ok(())
}

/// The options written as strings: `resample_offset`, `trade_at_price`, `end_date`, `name`.
fn set_text(
    call: &mut SimCall,
    name: &str,
    value: OptValue,
    value_span: Span,
) -> Result<(), Diagnostic> {
    let o = &mut call.options;
    match (name, value) {
        ("resample_offset", OptValue::None) => o.resample_offset = 0,
        ("resample_offset", OptValue::Str(s)) if parse_offset(&s).is_some() => {
            o.resample_offset = parse_offset(&s).unwrap_or(0)
        }
        ("resample_offset", v) => {
            return Err(bad(
                value_span,
                format!("resample_offset={} is not a day offset", v.describe()),
                "write days as a string, e.g. resample_offset=\"1D\"",
            ))
        }
        ("trade_at_price", OptValue::Str(s)) if TradeAt::parse(&s).is_some() => {
            o.trade_at = TradeAt::parse(&s).unwrap_or(TradeAt::Close)
        }
        ("trade_at_price", v) => {
            return Err(bad(
                value_span,
                format!("trade_at_price={} is not supported", v.describe()),
                &format!("one of: {}", TradeAt::NAMES.join(", ")),
            ))
        }
        ("end_date", OptValue::None) => o.end_date = None,
        ("end_date", OptValue::Str(s)) if crate::calendar::parse(&s).is_some() => {
            o.end_date = crate::calendar::parse(&s)
        }
        ("end_date", v) => {
            return Err(bad(
                value_span,
                format!("end_date={} is not a date", v.describe()),
                "write end_date=\"YYYY-MM-DD\"",
            ))
        }
        (_, OptValue::Str(s)) => call.name = Some(s),
        (_, v) => {
            return Err(bad(
                value_span,
                format!("`name` must be a string, not {}", v.describe()),
                "e.g. name=\"momentum\"",
            ))
        }
    }
    Ok(())
}

/// The numeric options: costs, the position limit and the stops (`None` or 0 turns a stop off).
fn set_number(
    o: &mut SimOptions,
    name: &str,
    value: OptValue,
    value_span: Span,
) -> Result<(), Diagnostic> {
    let fraction = |v: &OptValue, lo: f64, hi: f64| match v {
        OptValue::Number(x) if (lo..=hi).contains(x) => Ok(Some(*x)),
        OptValue::None => Ok(None),
        _ => Err(()),
    };
    match name {
        "fee_ratio" | "tax_ratio" => {
            let x = fraction(&value, 0.0, 0.1).map_err(|_| {
                bad(
                    value_span,
                    format!(
                        "`{name}` must be a number between 0 and 0.1, not {}",
                        value.describe()
                    ),
                    "Taiwan defaults: fee_ratio=1.425/1000, tax_ratio=3/1000",
                )
            })?;
            let default = SimOptions::default();
            if name == "fee_ratio" {
                o.fee_ratio = x.unwrap_or(default.fee_ratio);
            } else {
                o.tax_ratio = x.unwrap_or(default.tax_ratio);
            }
        }
        "position_limit" => match value {
            OptValue::Number(x) if x > 0.0 && x <= 1.0 => o.position_limit = x,
            v => {
                return Err(bad(
                    value_span,
                    format!("`position_limit` must be in (0, 1], not {}", v.describe()),
                    "e.g. position_limit=0.1 caps each stock at 10% of the portfolio",
                ))
            }
        },
        _ => {
            let x = fraction(&value, 0.0, 100.0).map_err(|_| {
                bad(
                    value_span,
                    format!("`{name}` must be a non-negative fraction, not {}", value.describe()),
                    "e.g. stop_loss=0.1 exits after a 10% loss from the cost basis; None or 0 disables it",
                )
            })?;
            match name {
                "stop_loss" => o.stop_loss = x,
                "take_profit" => o.take_profit = x,
                "trail_stop" => o.trail_stop = x,
                _ => o.trail_stop_activation = x,
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_accepted_option_has_a_kind() {
        for name in SIM_OPTIONS {
            assert!(option_kind(name).is_some(), "{name}");
        }
        for name in SIM_IGNORED {
            assert!(option_kind(name).is_none(), "{name}");
        }
    }
}
