//! The one operator registry. Every panel operation of the DSL is an [`OpId`]; its [`OpSpec`]
//! says how it is written (here and in finlab), what it takes and what it returns. The host's
//! checker, lowering, exporter and prompt reference and the guest's kernel dispatch all `match`
//! on `OpId`, so adding an operator forces every consumer to handle it.

use serde::{Deserialize, Serialize};

use crate::fnv::Fnv1a;

mod table;

use table::SPECS;

/// Identifier of a registry operator; the only operator name that crosses into the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpId {
    Average,
    RollingMean,
    RollingStd,
    RollingSum,
    RollingMax,
    RollingMin,
    RollingMedian,
    Shift,
    PctChange,
    Diff,
    Rise,
    Fall,
    Sustain,
    IsLargest,
    IsSmallest,
    Rank,
    QuantileRow,
    IsEntry,
    IsExit,
    HoldUntil,
    Fillna,
    Ffill,
    Abs,
    Clip,
    Where,
    Log,
    Maximum,
    Minimum,
    IndustryRank,
    Pow,
    Sqrt,
    Exp,
    Sign,
    NpWhere,
    Astype,
    IsNa,
    NotNa,
    Round,
    EwmMean,
    EwmStd,
    ExpandingMean,
    ExpandingMax,
    ExpandingMin,
    ExpandingSum,
    Cumsum,
    Loc,
    RowMean,
    RowSum,
    RowMax,
    RowMin,
    RowStd,
    RowMedian,
    RowCount,
    Rsi,
    Macd,
    Stoch,
    Bbands,
    Atr,
    Willr,
    Sma,
    Ema,
    Wma,
    Dema,
    Tema,
    Kama,
    Adx,
    PlusDi,
    MinusDi,
    Cci,
    Mfi,
    Obv,
    Roc,
    Mom,
    Stddev,
    Natr,
    Trange,
    Aroon,
    Sar,
    Ultosc,
    Cmo,
    Ppo,
    Apo,
    Bop,
    Ad,
    Adosc,
}

/// How an operator is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// `x.name(args)`.
    Method,
    /// `x.rolling(window, min_periods=None).name()`: the window parameters belong to `rolling`.
    Rolling,
    /// `x.ewm(span=…, …).name()`: exponentially weighted; the parameters belong to `ewm`.
    Ewm,
    /// `x.expanding(min_periods=1).name()`: every row so far; the parameter belongs to
    /// `expanding`.
    Expanding,
    /// `np.name(x, args)`: a numpy function whose first argument is the receiver.
    Numpy,
    /// `data.indicator("NAME", args)`: a TA-Lib indicator computed per stock from prices.
    Indicator,
    /// `x.loc["start":"end"]`: the rows dated from `start` through `end` (either left out).
    Loc,
}

/// What kind of value an operator accepts as its receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Receiver {
    /// Float panels; bool panels are read as 0/1 (as pandas does).
    Numeric,
    /// Bool panels only.
    Bool,
    /// No receiver (indicators read prices).
    None,
}

/// What an operator returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Float,
    Bool,
    /// The receiver's kind (e.g. `shift` of a bool panel is a bool panel).
    Same,
    /// A float Series indexed by date (one value per row), broadcast over stocks when combined.
    Series,
}

/// How a parameter is constrained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// A rolling window length in rows, `1..=MAX_WINDOW`.
    Window,
    /// A positive lag in rows, `1..=MAX_WINDOW`; zero or negative would read the future.
    Lag,
    /// A count (of stocks per row, or of rows), `1..=MAX_COUNT`.
    Count,
    /// Any finite number.
    Number,
    /// A number in `0..=1`.
    Fraction,
    /// `True` / `False`.
    Flag,
    /// The axis of a cross-sectional operation; only `1` (across stocks) is allowed.
    Axis,
    /// A TA-Lib period: an integer from this minimum (what TA-Lib accepts) to `MAX_WINDOW`.
    Period(i64),
    /// A minimum number of observations that may be 0, `0..=MAX_WINDOW`.
    MinPeriods,
    /// Decimal places of `round`, `-MAX_DECIMALS..=MAX_DECIMALS` (negative: tens, hundreds, …).
    Decimals,
    /// A date, as a day number (days since 1970-01-01) in `MIN_DAY..=MAX_DAY`; written as a
    /// `"YYYY"`, `"YYYY-MM"` or `"YYYY-MM-DD"` string in a strategy.
    Date,
    /// One of a fixed set of strings.
    Choice(&'static [&'static str]),
    /// A float panel (bool panels are read as 0/1).
    FloatPanel,
    /// A bool panel.
    BoolPanel,
    /// A float panel or a number.
    PanelOrNumber,
}

/// The dataset `industry_rank` reads: industry membership (see the host's data module).
pub const INDUSTRY_THEMES: &str = "security_industry_themes";

/// Day number of 1900-01-01, the earliest date a strategy may name.
pub const MIN_DAY: i64 = -25_567;
/// Day number of 2200-12-31, the latest date a strategy may name.
pub const MAX_DAY: i64 = 84_370;
/// Largest window or lag (ten years of trading days).
pub const MAX_WINDOW: i64 = 2520;
/// Largest number of decimal places `round` takes (either way).
pub const MAX_DECIMALS: i64 = 20;
/// Largest stock count for `is_largest`-style selections.
pub const MAX_COUNT: i64 = 5000;

impl ParamKind {
    /// The inclusive range of an integer kind.
    pub fn range(self) -> Option<(i64, i64)> {
        match self {
            ParamKind::Window | ParamKind::Lag => Some((1, MAX_WINDOW)),
            ParamKind::Count => Some((1, MAX_COUNT)),
            ParamKind::Axis => Some((1, 1)),
            ParamKind::Decimals => Some((-MAX_DECIMALS, MAX_DECIMALS)),
            ParamKind::MinPeriods => Some((0, MAX_WINDOW)),
            ParamKind::Period(min) => Some((min, MAX_WINDOW)),
            ParamKind::Date => Some((MIN_DAY, MAX_DAY)),
            _ => None,
        }
    }

    /// True for kinds whose value is a panel (an operand node).
    pub fn is_panel(self) -> bool {
        matches!(
            self,
            ParamKind::FloatPanel | ParamKind::BoolPanel | ParamKind::PanelOrNumber
        )
    }

    /// Short name for the reference.
    pub fn describe(self) -> &'static str {
        match self {
            ParamKind::Window => "window",
            ParamKind::Lag => "lag ≥ 1",
            ParamKind::Count => "count",
            ParamKind::Number => "number",
            ParamKind::Fraction => "0..1",
            ParamKind::Flag => "bool",
            ParamKind::Axis => "1",
            ParamKind::Decimals => "whole number",
            ParamKind::MinPeriods => "count ≥ 0",
            ParamKind::Period(_) => "period",
            ParamKind::Date => "date",
            ParamKind::Choice(_) => "string",
            ParamKind::FloatPanel => "float panel",
            ParamKind::BoolPanel => "bool panel",
            ParamKind::PanelOrNumber => "panel or number",
        }
    }
}

/// A parameter's default.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ParamDefault {
    /// The argument must be given.
    Required,
    /// `None` (the operator's "not set").
    Nothing,
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(&'static str),
}

/// One parameter of an operator.
#[derive(Debug)]
pub struct ParamSpec {
    pub name: &'static str,
    pub kind: ParamKind,
    pub default: ParamDefault,
}

/// A price field an indicator reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PriceField {
    Open,
    High,
    Low,
    Close,
    Volume,
}

impl PriceField {
    /// The dataset key finlab's `data.indicator` loads (raw, or adjusted with `adjust_price=True`).
    pub fn key(self, adjusted: bool) -> &'static str {
        match (self, adjusted) {
            (PriceField::Open, false) => "price:開盤價",
            (PriceField::High, false) => "price:最高價",
            (PriceField::Low, false) => "price:最低價",
            (PriceField::Close, false) => "price:收盤價",
            (PriceField::Open, true) => "etl:adj_open",
            (PriceField::High, true) => "etl:adj_high",
            (PriceField::Low, true) => "etl:adj_low",
            (PriceField::Close, true) => "etl:adj_close",
            (PriceField::Volume, _) => "price:成交股數",
        }
    }
}

/// Everything the host and guest need to know about an operator.
#[derive(Debug)]
pub struct OpSpec {
    pub id: OpId,
    /// The DSL spelling: the method name (`average`), the rolling aggregate (`mean`), the numpy
    /// function (`maximum`) or the TA-Lib indicator name (`RSI`).
    pub name: &'static str,
    pub form: Form,
    /// The finlab / pandas spelling the exporter writes (the same as `name` for every operator
    /// today; kept separate so a DSL alias can export to finlab's name).
    pub finlab: &'static str,
    pub receiver: Receiver,
    /// Parameters in positional order (for [`Form::Rolling`]: the arguments of `rolling(...)`).
    pub params: &'static [ParamSpec],
    pub output: Output,
    /// Names of the outputs of a multi-output indicator (`macd, signal, hist = ...`).
    pub outputs: &'static [&'static str],
    /// Price panels an indicator reads, in the order the guest receives them.
    pub prices: &'static [PriceField],
    /// One-line documentation for the DSL reference.
    pub doc: &'static str,
    /// A `.strat` expression using the operator.
    pub example: &'static str,
    /// Part of the common core the prompt's reference shows in full; the others are listed by
    /// signature only.
    pub core: bool,
}

impl OpSpec {
    /// The same operator, listed by signature only in the prompt's reference.
    pub(crate) const fn more(self) -> OpSpec {
        OpSpec {
            core: false,
            ..self
        }
    }

    /// Rows of history the operator needs before its first valid output (for lookback planning),
    /// given the integer arguments in parameter order (`None` where unset).
    pub fn lookback(&self, ints: &[Option<i64>]) -> i64 {
        let first = ints.first().copied().flatten().unwrap_or(1);
        match self.id {
            OpId::Average
            | OpId::RollingMean
            | OpId::RollingStd
            | OpId::RollingSum
            | OpId::RollingMax
            | OpId::RollingMin
            | OpId::RollingMedian
            | OpId::Sustain
            | OpId::Rsi
            | OpId::Atr
            | OpId::Willr
            | OpId::Bbands => first,
            OpId::Shift | OpId::PctChange | OpId::Diff | OpId::Rise | OpId::Fall => first,
            OpId::IsEntry | OpId::IsExit => 1,
            OpId::Macd => {
                let slow = ints.get(1).copied().flatten().unwrap_or(26);
                let signal = ints.get(2).copied().flatten().unwrap_or(9);
                slow + signal
            }
            OpId::Stoch => ints.iter().take(3).map(|v| v.unwrap_or(1)).sum(),
            _ => 0,
        }
    }

    /// The position of a parameter by name.
    pub fn param(&self, name: &str) -> Option<usize> {
        self.params.iter().position(|p| p.name == name)
    }

    /// How the operator is written in a call (for messages and the reference).
    pub fn signature(&self) -> String {
        let params: Vec<String> = self
            .params
            .iter()
            .map(|p| match p.default {
                ParamDefault::Required => p.name.to_string(),
                ParamDefault::Nothing => format!("{}=None", p.name),
                ParamDefault::Int(v) => format!("{}={v}", p.name),
                ParamDefault::Float(v) => format!("{}={v}", p.name),
                ParamDefault::Bool(v) => format!("{}={}", p.name, if v { "True" } else { "False" }),
                ParamDefault::Str(v) => format!("{}=\"{v}\"", p.name),
            })
            .collect();
        let params = params.join(", ");
        match self.form {
            Form::Method => format!(".{}({params})", self.name),
            Form::Rolling => format!(".rolling({params}).{}()", self.name),
            Form::Ewm => format!(".ewm({params}).{}()", self.name),
            Form::Expanding => format!(".expanding({params}).{}()", self.name),
            Form::Numpy => {
                let recv = if self.receiver == Receiver::Bool {
                    "cond"
                } else {
                    "x"
                };
                let sep = if params.is_empty() { "" } else { ", " };
                format!("np.{}({recv}{sep}{params})", self.name)
            }
            Form::Loc => ".loc[\"start\":\"end\"]".to_string(),
            Form::Indicator if params.is_empty() => format!("data.indicator(\"{}\")", self.name),
            Form::Indicator => format!("data.indicator(\"{}\", {params})", self.name),
        }
    }
}

impl OpId {
    /// Every operator, in registry order.
    pub const ALL: &'static [OpId] = &[
        OpId::Average,
        OpId::RollingMean,
        OpId::RollingStd,
        OpId::RollingSum,
        OpId::RollingMax,
        OpId::RollingMin,
        OpId::RollingMedian,
        OpId::Shift,
        OpId::PctChange,
        OpId::Diff,
        OpId::Rise,
        OpId::Fall,
        OpId::Sustain,
        OpId::IsLargest,
        OpId::IsSmallest,
        OpId::Rank,
        OpId::QuantileRow,
        OpId::IsEntry,
        OpId::IsExit,
        OpId::HoldUntil,
        OpId::Fillna,
        OpId::Ffill,
        OpId::Abs,
        OpId::Clip,
        OpId::Where,
        OpId::Log,
        OpId::Maximum,
        OpId::Minimum,
        OpId::IndustryRank,
        OpId::Pow,
        OpId::Sqrt,
        OpId::Exp,
        OpId::Sign,
        OpId::NpWhere,
        OpId::Astype,
        OpId::IsNa,
        OpId::NotNa,
        OpId::Round,
        OpId::EwmMean,
        OpId::EwmStd,
        OpId::ExpandingMean,
        OpId::ExpandingMax,
        OpId::ExpandingMin,
        OpId::ExpandingSum,
        OpId::Cumsum,
        OpId::Loc,
        OpId::RowMean,
        OpId::RowSum,
        OpId::RowMax,
        OpId::RowMin,
        OpId::RowStd,
        OpId::RowMedian,
        OpId::RowCount,
        OpId::Rsi,
        OpId::Macd,
        OpId::Stoch,
        OpId::Bbands,
        OpId::Atr,
        OpId::Willr,
        OpId::Sma,
        OpId::Ema,
        OpId::Wma,
        OpId::Dema,
        OpId::Tema,
        OpId::Kama,
        OpId::Adx,
        OpId::PlusDi,
        OpId::MinusDi,
        OpId::Cci,
        OpId::Mfi,
        OpId::Obv,
        OpId::Roc,
        OpId::Mom,
        OpId::Stddev,
        OpId::Natr,
        OpId::Trange,
        OpId::Aroon,
        OpId::Sar,
        OpId::Ultosc,
        OpId::Cmo,
        OpId::Ppo,
        OpId::Apo,
        OpId::Bop,
        OpId::Ad,
        OpId::Adosc,
    ];

    /// The operator's specification.
    pub fn spec(self) -> &'static OpSpec {
        // invariant: SPECS lists every OpId in the order of ALL (checked by a unit test).
        &SPECS[self as usize]
    }

    /// Whether the operator also applies to a date-indexed Series (one value per date), with
    /// the same result as on a one-column panel: the time-series and element-wise operators
    /// pandas' Series has (and `average`, finlab's rolling mean). Cross-sectional operators,
    /// finlab-only signals and operators taking a second panel do not.
    pub fn on_series(self) -> bool {
        match self {
            OpId::Average
            | OpId::RollingMean
            | OpId::RollingStd
            | OpId::RollingSum
            | OpId::RollingMax
            | OpId::RollingMin
            | OpId::RollingMedian
            | OpId::Shift
            | OpId::PctChange
            | OpId::Diff
            | OpId::Fillna
            | OpId::Ffill
            | OpId::Abs
            | OpId::Clip
            | OpId::Log
            | OpId::Maximum
            | OpId::Minimum
            | OpId::Pow
            | OpId::Sqrt
            | OpId::Exp
            | OpId::Sign
            | OpId::Astype
            | OpId::IsNa
            | OpId::NotNa
            | OpId::Round
            | OpId::EwmMean
            | OpId::EwmStd
            | OpId::ExpandingMean
            | OpId::ExpandingMax
            | OpId::ExpandingMin
            | OpId::ExpandingSum
            | OpId::Cumsum
            | OpId::Loc => true,
            OpId::Rise
            | OpId::Fall
            | OpId::Sustain
            | OpId::IsLargest
            | OpId::IsSmallest
            | OpId::Rank
            | OpId::QuantileRow
            | OpId::IsEntry
            | OpId::IsExit
            | OpId::HoldUntil
            | OpId::Where
            | OpId::IndustryRank
            | OpId::NpWhere
            | OpId::RowMean
            | OpId::RowSum
            | OpId::RowMax
            | OpId::RowMin
            | OpId::RowStd
            | OpId::RowMedian
            | OpId::RowCount
            | OpId::Rsi
            | OpId::Macd
            | OpId::Stoch
            | OpId::Bbands
            | OpId::Atr
            | OpId::Willr
            | OpId::Sma
            | OpId::Ema
            | OpId::Wma
            | OpId::Dema
            | OpId::Tema
            | OpId::Kama
            | OpId::Adx
            | OpId::PlusDi
            | OpId::MinusDi
            | OpId::Cci
            | OpId::Mfi
            | OpId::Obv
            | OpId::Roc
            | OpId::Mom
            | OpId::Stddev
            | OpId::Natr
            | OpId::Trange
            | OpId::Aroon
            | OpId::Sar
            | OpId::Ultosc
            | OpId::Cmo
            | OpId::Ppo
            | OpId::Apo
            | OpId::Bop
            | OpId::Ad
            | OpId::Adosc => false,
        }
    }

    /// Whether the operator reduces each date's row across stocks to one value (`.mean(axis=1)`
    /// and the like): its result is a Series.
    pub fn is_row_reduction(self) -> bool {
        matches!(
            self,
            OpId::RowMean
                | OpId::RowSum
                | OpId::RowMax
                | OpId::RowMin
                | OpId::RowStd
                | OpId::RowMedian
                | OpId::RowCount
        )
    }

    /// Looks an operator up by form and DSL name.
    pub fn find(form: Form, name: &str) -> Option<OpId> {
        SPECS
            .iter()
            .find(|s| s.form == form && s.name == name)
            .map(|s| s.id)
    }

    /// Names of the operators of one form (for "did you mean").
    pub fn names(form: Form) -> Vec<&'static str> {
        SPECS
            .iter()
            .filter(|s| s.form == form)
            .map(|s| s.name)
            .collect()
    }
}

/// A stable hash of the registry's operator names, forms and parameters; host and guest must
/// agree on it.
pub fn registry_hash() -> u64 {
    let mut h = Fnv1a::new();
    let mut eat = |s: &str| {
        h.write(s.as_bytes());
        h.write(&[0]);
    };
    for spec in SPECS {
        eat(spec.name);
        eat(&format!("{:?}", spec.form));
        for p in spec.params {
            eat(p.name);
            eat(&format!("{:?}", p.kind));
        }
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_follow_all_in_order() {
        assert_eq!(SPECS.len(), OpId::ALL.len());
        for (i, id) in OpId::ALL.iter().enumerate() {
            let s = id.spec();
            assert_eq!(SPECS[i].id, *id);
            assert_eq!(*id as usize, i);
            assert_eq!(OpId::find(s.form, s.name), Some(*id));
            assert_eq!(s.form == Form::Indicator, s.receiver == Receiver::None);
            assert_eq!(s.form == Form::Indicator, !s.prices.is_empty());
        }
    }
}
