//! The one operator registry. Every panel operation of the DSL is an [`OpId`]; its [`OpSpec`]
//! says how it is written (here and in finlab), what it takes and what it returns. The host's
//! checker, lowering, exporter and prompt reference and the guest's kernel dispatch all `match`
//! on `OpId`, so adding an operator forces every consumer to handle it.

use serde::{Deserialize, Serialize};

use crate::fnv::Fnv1a;

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
    Rsi,
    Macd,
    Stoch,
    Bbands,
    Atr,
    Willr,
}

/// How an operator is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// `x.name(args)`.
    Method,
    /// `x.rolling(window, min_periods=None).name()`: the window parameters belong to `rolling`.
    Rolling,
    /// `np.name(x, args)`: a numpy function whose first argument is the receiver.
    Numpy,
    /// `data.indicator("NAME", args)`: a TA-Lib indicator computed per stock from prices.
    Indicator,
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

/// Largest window or lag (ten years of trading days).
pub const MAX_WINDOW: i64 = 2520;
/// Largest stock count for `is_largest`-style selections.
pub const MAX_COUNT: i64 = 5000;

impl ParamKind {
    /// The inclusive range of an integer kind.
    pub fn range(self) -> Option<(i64, i64)> {
        match self {
            ParamKind::Window | ParamKind::Lag => Some((1, MAX_WINDOW)),
            ParamKind::Count => Some((1, MAX_COUNT)),
            ParamKind::Axis => Some((1, 1)),
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
}

const fn p(name: &'static str, kind: ParamKind, default: ParamDefault) -> ParamSpec {
    ParamSpec {
        name,
        kind,
        default,
    }
}

#[allow(clippy::too_many_arguments)]
const fn op(
    id: OpId,
    name: &'static str,
    form: Form,
    receiver: Receiver,
    params: &'static [ParamSpec],
    output: Output,
    doc: &'static str,
    example: &'static str,
) -> OpSpec {
    OpSpec {
        id,
        name,
        form,
        finlab: name,
        receiver,
        params,
        output,
        outputs: &[],
        prices: &[],
        doc,
        example,
    }
}

const fn indicator(
    id: OpId,
    name: &'static str,
    params: &'static [ParamSpec],
    outputs: &'static [&'static str],
    prices: &'static [PriceField],
    doc: &'static str,
    example: &'static str,
) -> OpSpec {
    OpSpec {
        id,
        name,
        form: Form::Indicator,
        finlab: name,
        receiver: Receiver::None,
        params,
        output: Output::Float,
        outputs,
        prices,
        doc,
        example,
    }
}

use ParamDefault as D;
use ParamKind as K;

const WINDOW: &[ParamSpec] = &[p("n", K::Window, D::Required)];
const ROLLING: &[ParamSpec] = &[
    p("window", K::Window, D::Required),
    p("min_periods", K::Window, D::Nothing),
];
const LAG: &[ParamSpec] = &[p("periods", K::Lag, D::Int(1))];
const RISE: &[ParamSpec] = &[p("nwindow", K::Lag, D::Int(1))];
const COUNT: &[ParamSpec] = &[p("n", K::Count, D::Required)];
const SUSTAIN: &[ParamSpec] = &[
    p("nwindow", K::Window, D::Required),
    p("nsatisfy", K::Window, D::Nothing),
];
const RANK_METHODS: &[&str] = &["average", "min", "max", "first", "dense"];
const RANK: &[ParamSpec] = &[
    p("axis", K::Axis, D::Required),
    p("pct", K::Flag, D::Bool(false)),
    p("ascending", K::Flag, D::Bool(true)),
    p("method", K::Choice(RANK_METHODS), D::Str("average")),
];
const QUANTILE: &[ParamSpec] = &[p("c", K::Fraction, D::Float(0.5))];
const HOLD_UNTIL: &[ParamSpec] = &[
    p("exit", K::BoolPanel, D::Required),
    p("nstocks_limit", K::Count, D::Nothing),
    p("stop_loss", K::Number, D::Nothing),
    p("take_profit", K::Number, D::Nothing),
    p("trail_stop", K::Number, D::Nothing),
    p("trail_stop_activation", K::Number, D::Nothing),
    p("rank", K::FloatPanel, D::Nothing),
];
const FILLNA: &[ParamSpec] = &[p("value", K::Number, D::Required)];
const CLIP: &[ParamSpec] = &[
    p("lower", K::Number, D::Nothing),
    p("upper", K::Number, D::Nothing),
];
const WHERE: &[ParamSpec] = &[
    p("cond", K::BoolPanel, D::Required),
    p("other", K::Number, D::Nothing),
];
const OTHER: &[ParamSpec] = &[p("other", K::PanelOrNumber, D::Required)];

const ADJUST: ParamSpec = p("adjust_price", K::Flag, D::Bool(false));
const TIMEPERIOD_14: &[ParamSpec] = &[p("timeperiod", K::Window, D::Int(14)), ADJUST];
const MACD: &[ParamSpec] = &[
    p("fastperiod", K::Window, D::Int(12)),
    p("slowperiod", K::Window, D::Int(26)),
    p("signalperiod", K::Window, D::Int(9)),
    ADJUST,
];
const STOCH: &[ParamSpec] = &[
    p("fastk_period", K::Window, D::Int(5)),
    p("slowk_period", K::Window, D::Int(3)),
    p("slowd_period", K::Window, D::Int(3)),
    ADJUST,
];
const BBANDS: &[ParamSpec] = &[
    p("timeperiod", K::Window, D::Int(20)),
    p("nbdevup", K::Number, D::Float(2.0)),
    p("nbdevdn", K::Number, D::Float(2.0)),
    ADJUST,
];
const CLOSE: &[PriceField] = &[PriceField::Close];
const HLC: &[PriceField] = &[PriceField::High, PriceField::Low, PriceField::Close];

use Form::{Method, Numpy, Rolling};
use Output::{Bool as OBool, Float as OFloat, Same, Series};
use Receiver::{Bool as RBool, Numeric};

#[rustfmt::skip]
static SPECS: &[OpSpec] = &[
    op(OpId::Average, "average", Method, Numeric, WINDOW, OFloat,
        "Rolling mean over the last n rows; NaN until at least floor(n/2) values are valid.",
        "close.average(20)"),
    op(OpId::RollingMean, "mean", Rolling, Numeric, ROLLING, OFloat,
        "Rolling mean; NaN until `min_periods` (default: the window) values are valid.",
        "close.rolling(20).mean()"),
    op(OpId::RollingStd, "std", Rolling, Numeric, ROLLING, OFloat,
        "Rolling sample standard deviation (ddof=1).",
        "close.pct_change().rolling(60).std()"),
    op(OpId::RollingSum, "sum", Rolling, Numeric, ROLLING, OFloat,
        "Rolling sum (bool panels count True values).",
        "eps.rolling(4).sum()"),
    op(OpId::RollingMax, "max", Rolling, Numeric, ROLLING, OFloat,
        "Rolling maximum.",
        "close.rolling(250).max()"),
    op(OpId::RollingMin, "min", Rolling, Numeric, ROLLING, OFloat,
        "Rolling minimum.",
        "rev.rolling(12).min()"),
    op(OpId::RollingMedian, "median", Rolling, Numeric, ROLLING, OFloat,
        "Rolling median.",
        "close.rolling(20).median()"),
    op(OpId::Shift, "shift", Method, Numeric, LAG, Same,
        "The value `periods` rows earlier (periods >= 1; the future is not readable).",
        "close.shift(60)"),
    op(OpId::PctChange, "pct_change", Method, Numeric, LAG, OFloat,
        "x / x.shift(periods) - 1 (no padding of missing values).",
        "rev.pct_change(12)"),
    op(OpId::Diff, "diff", Method, Numeric, LAG, OFloat,
        "x - x.shift(periods).",
        "close.diff(5)"),
    op(OpId::Rise, "rise", Method, Numeric, RISE, OBool,
        "True where the value is above its value `nwindow` rows earlier.",
        "close.rise(5)"),
    op(OpId::Fall, "fall", Method, Numeric, RISE, OBool,
        "True where the value is below its value `nwindow` rows earlier.",
        "close.fall(5)"),
    op(OpId::Sustain, "sustain", Method, Numeric, SUSTAIN, OBool,
        "True where at least `nsatisfy` (default: all) of the last `nwindow` rows are True.",
        "(close > close.average(20)).sustain(5, 3)"),
    op(OpId::IsLargest, "is_largest", Method, Numeric, COUNT, OBool,
        "Per date, True for the n largest valid values (ties go to the earlier column).",
        "(close / close.shift(60)).is_largest(10)"),
    op(OpId::IsSmallest, "is_smallest", Method, Numeric, COUNT, OBool,
        "Per date, True for the n smallest valid values (ties go to the earlier column).",
        "pb.is_smallest(20)"),
    op(OpId::Rank, "rank", Method, Numeric, RANK, OFloat,
        "Per date rank across stocks (axis=1 is required); `pct=True` gives 0..1.",
        "roe.rank(axis=1, pct=True)"),
    op(OpId::QuantileRow, "quantile_row", Method, Numeric, QUANTILE, Series,
        "Per date quantile across stocks (a Series, compared against every stock).",
        "pb < pb.quantile_row(0.2)"),
    op(OpId::IsEntry, "is_entry", Method, RBool, &[], OBool,
        "True on the first row of each run of True (x & ~x.shift(1)).",
        "(close > close.average(60)).is_entry()"),
    op(OpId::IsExit, "is_exit", Method, RBool, &[], OBool,
        "True on the first row after each run of True (~x & x.shift(1)).",
        "(close > close.average(60)).is_exit()"),
    op(OpId::HoldUntil, "hold_until", Method, RBool, HOLD_UNTIL, OBool,
        "Hold from each entry until `exit`, at most `nstocks_limit` names by `rank`, with optional stops on the adjusted close.",
        "(close > close.average(20)).hold_until(close < close.average(60), nstocks_limit=10, rank=-pb)"),
    op(OpId::Fillna, "fillna", Method, Numeric, FILLNA, Same,
        "Missing values replaced by `value`.",
        "rev.pct_change().fillna(0)"),
    op(OpId::Ffill, "ffill", Method, Numeric, &[], Same,
        "Missing values replaced by the last valid value above (per stock).",
        "pb.ffill()"),
    op(OpId::Abs, "abs", Method, Numeric, &[], OFloat,
        "Absolute value.",
        "close.pct_change().abs()"),
    op(OpId::Clip, "clip", Method, Numeric, CLIP, OFloat,
        "Values limited to [lower, upper] (either may be None).",
        "pe.clip(0, 100)"),
    op(OpId::Where, "where", Method, Numeric, WHERE, OFloat,
        "The value where `cond` is True, `other` (default NaN) elsewhere; the receiver's dates and stocks.",
        "pb.where(pb > 0)"),
    op(OpId::Log, "log", Numpy, Numeric, &[], OFloat,
        "Natural logarithm (NaN for negatives, -inf for 0).",
        "np.log(vol)"),
    op(OpId::Maximum, "maximum", Numpy, Numeric, OTHER, OFloat,
        "Element-wise maximum of a panel and a number, or of two panels (numpy/pandas outer alignment: union of dates and stocks, no carry-forward).",
        "np.maximum(close.average(5), close.average(20))"),
    op(OpId::Minimum, "minimum", Numpy, Numeric, OTHER, OFloat,
        "Element-wise minimum (see `maximum`).",
        "np.minimum(pe, 50)"),
    op(OpId::IndustryRank, "industry_rank", Method, Numeric, &[], OFloat,
        "Per date percentile rank (0..1) within each stock's industry; stocks without an industry are dropped.",
        "roe.industry_rank()"),
    indicator(OpId::Rsi, "RSI", TIMEPERIOD_14, &[], CLOSE,
        "Relative strength index (TA-Lib, Wilder smoothing) of the close.",
        "data.indicator(\"RSI\", timeperiod=14)"),
    indicator(OpId::Macd, "MACD", MACD, &["macd", "macdsignal", "macdhist"], CLOSE,
        "MACD line, signal line and histogram (TA-Lib EMAs) of the close.",
        "macd, signal, hist = data.indicator(\"MACD\")"),
    indicator(OpId::Stoch, "STOCH", STOCH, &["slowk", "slowd"], HLC,
        "Stochastic oscillator (KD): slow %K and slow %D (simple moving averages).",
        "k, d = data.indicator(\"STOCH\")"),
    indicator(OpId::Bbands, "BBANDS", BBANDS, &["upperband", "middleband", "lowerband"], CLOSE,
        "Bollinger bands: simple moving average ± nbdev population standard deviations.",
        "upper, middle, lower = data.indicator(\"BBANDS\")"),
    indicator(OpId::Atr, "ATR", TIMEPERIOD_14, &[], HLC,
        "Average true range (TA-Lib, Wilder smoothing).",
        "data.indicator(\"ATR\")"),
    indicator(OpId::Willr, "WILLR", TIMEPERIOD_14, &[], HLC,
        "Williams %R (-100..0).",
        "data.indicator(\"WILLR\")"),
];

impl OpSpec {
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
            Form::Numpy if params.is_empty() => format!("np.{}(x)", self.name),
            Form::Numpy => format!("np.{}(x, {params})", self.name),
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
        OpId::Rsi,
        OpId::Macd,
        OpId::Stoch,
        OpId::Bbands,
        OpId::Atr,
        OpId::Willr,
    ];

    /// The operator's specification.
    pub fn spec(self) -> &'static OpSpec {
        // invariant: SPECS lists every OpId in the order of ALL (checked by a unit test).
        &SPECS[self as usize]
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
