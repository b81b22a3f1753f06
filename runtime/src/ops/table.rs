//! The registry table: every operator's [`OpSpec`], in [`OpId::ALL`] order (checked by a unit
//! test in `ops`), and the parameter lists they share.

use super::{Form, OpId, OpSpec, Output, ParamDefault, ParamKind, ParamSpec, PriceField, Receiver};

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
        core: true,
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
        core: true,
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
/// pandas 3 takes only `fill_method=None` (no padding before the change).
const PCT_CHANGE: &[ParamSpec] = &[
    p("periods", K::Lag, D::Int(1)),
    p("fill_method", K::Choice(&[]), D::Nothing),
];
const EWM: &[ParamSpec] = &[
    p("com", K::Number, D::Nothing),
    p("span", K::Number, D::Nothing),
    p("halflife", K::Number, D::Nothing),
    p("alpha", K::Number, D::Nothing),
    p("min_periods", K::MinPeriods, D::Int(0)),
    p("adjust", K::Flag, D::Bool(true)),
    p("ignore_na", K::Flag, D::Bool(false)),
];
const EXPANDING: &[ParamSpec] = &[p("min_periods", K::Window, D::Int(1))];
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
const NP_WHERE: &[ParamSpec] = &[
    p("x", K::PanelOrNumber, D::Required),
    p("y", K::PanelOrNumber, D::Required),
];
const DTYPES: &[&str] = &["int", "float", "bool"];
const ASTYPE: &[ParamSpec] = &[p("dtype", K::Choice(DTYPES), D::Required)];
/// A reduction across each date's stocks: `axis=1` is required (axis 0 would reduce every stock
/// over all dates, the future included).
const AXIS: &[ParamSpec] = &[p("axis", K::Axis, D::Required)];
/// A date range; either end may be left out (`x.loc["2015":]`).
const DATES: &[ParamSpec] = &[
    p("start", K::Date, D::Nothing),
    p("end", K::Date, D::Nothing),
];
const ROUND: &[ParamSpec] = &[p("decimals", K::Decimals, D::Int(0))];

const ADJUST: ParamSpec = p("adjust_price", K::Flag, D::Bool(false));
/// `timeperiod=default`, at least `min` (what TA-Lib accepts), and `adjust_price`.
macro_rules! timeperiod {
    ($min:expr, $default:expr) => {
        &[p("timeperiod", K::Period($min), D::Int($default)), ADJUST]
    };
}
const TIMEPERIOD_14: &[ParamSpec] = timeperiod!(2, 14);
const TIMEPERIOD_14_1: &[ParamSpec] = timeperiod!(1, 14);
const TIMEPERIOD_30: &[ParamSpec] = timeperiod!(1, 30);
const TIMEPERIOD_10: &[ParamSpec] = timeperiod!(1, 10);
const ADJUST_ONLY: &[ParamSpec] = &[ADJUST];
const MACD: &[ParamSpec] = &[
    p("fastperiod", K::Period(2), D::Int(12)),
    p("slowperiod", K::Period(2), D::Int(26)),
    p("signalperiod", K::Period(1), D::Int(9)),
    ADJUST,
];
const STOCH: &[ParamSpec] = &[
    p("fastk_period", K::Period(1), D::Int(5)),
    p("slowk_period", K::Period(1), D::Int(3)),
    p("slowd_period", K::Period(1), D::Int(3)),
    ADJUST,
];
const STDDEV: &[ParamSpec] = &[
    p("timeperiod", K::Period(2), D::Int(5)),
    p("nbdev", K::Number, D::Float(1.0)),
    ADJUST,
];
const SAR: &[ParamSpec] = &[
    p("acceleration", K::Number, D::Float(0.02)),
    p("maximum", K::Number, D::Float(0.2)),
    ADJUST,
];
const ULTOSC: &[ParamSpec] = &[
    p("timeperiod1", K::Period(1), D::Int(7)),
    p("timeperiod2", K::Period(1), D::Int(14)),
    p("timeperiod3", K::Period(1), D::Int(28)),
    ADJUST,
];
const OSCILLATOR: &[ParamSpec] = &[
    p("fastperiod", K::Period(2), D::Int(12)),
    p("slowperiod", K::Period(2), D::Int(26)),
    ADJUST,
];
const ADOSC: &[ParamSpec] = &[
    p("fastperiod", K::Period(2), D::Int(3)),
    p("slowperiod", K::Period(2), D::Int(10)),
    ADJUST,
];
const BBANDS: &[ParamSpec] = &[
    p("timeperiod", K::Period(2), D::Int(20)),
    p("nbdevup", K::Number, D::Float(2.0)),
    p("nbdevdn", K::Number, D::Float(2.0)),
    ADJUST,
];
const CLOSE: &[PriceField] = &[PriceField::Close];
const HLC: &[PriceField] = &[PriceField::High, PriceField::Low, PriceField::Close];
/// High and low; the close only for finlab's rules on unpriced stocks.
const HL: &[PriceField] = &[PriceField::High, PriceField::Low, PriceField::Close];
const HLCV: &[PriceField] = &[
    PriceField::High,
    PriceField::Low,
    PriceField::Close,
    PriceField::Volume,
];
const CV: &[PriceField] = &[PriceField::Close, PriceField::Volume];
const OHLC: &[PriceField] = &[
    PriceField::Open,
    PriceField::High,
    PriceField::Low,
    PriceField::Close,
];

use Form::{Ewm, Expanding, Method, Numpy, Rolling};
use Output::{Bool as OBool, Float as OFloat, Same, Series};
use Receiver::{Bool as RBool, Numeric};

#[rustfmt::skip]
pub(super) static SPECS: &[OpSpec] = &[
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
    op(OpId::PctChange, "pct_change", Method, Numeric, PCT_CHANGE, OFloat,
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
    op(OpId::Pow, "pow", Method, Numeric, OTHER, OFloat,
        "x ** other: with a number element-wise, with a panel pandas' outer alignment (as `np.maximum`); `x ** y` aligns like `+`.",
        "close.pct_change().pow(2)").more(),
    op(OpId::Sqrt, "sqrt", Numpy, Numeric, &[], OFloat,
        "Square root (NaN for negatives).",
        "np.sqrt(vol)").more(),
    op(OpId::Exp, "exp", Numpy, Numeric, &[], OFloat,
        "Exponential.",
        "np.exp(-close.pct_change().abs())").more(),
    op(OpId::Sign, "sign", Numpy, Numeric, &[], OFloat,
        "-1, 0 or 1 by the sign (NaN stays NaN).",
        "np.sign(close.diff())").more(),
    op(OpId::NpWhere, "where", Numpy, RBool, NP_WHERE, OFloat,
        "x where cond is True, else y (numbers or panels; a panel is matched to cond's dates and stocks exactly, missing labels NaN); cond's dates and stocks.",
        "np.where(close > close.average(20), 1, -1)").more(),
    op(OpId::Astype, "astype", Method, Numeric, ASTYPE, OFloat,
        "Cast to int (truncates; a missing value is an error, as in pandas), float, or bool (non-zero and NaN are True).",
        "(close > close.average(20)).astype(int)").more(),
    op(OpId::IsNa, "isna", Method, Numeric, &[], OBool,
        "True where the value is missing (never on a bool panel).",
        "rev.isna()").more(),
    op(OpId::NotNa, "notna", Method, Numeric, &[], OBool,
        "True where the value is present.",
        "pb.notna()").more(),
    op(OpId::Round, "round", Method, Numeric, ROUND, Same,
        "Rounded to `decimals` places, halves to even (numpy's x * 10**d, rint, / 10**d).",
        "pe.round(1)").more(),
    op(OpId::EwmMean, "mean", Ewm, Numeric, EWM, OFloat,
        "Exponentially weighted mean (pandas' recursion; exactly one of com, span, halflife, alpha).",
        "close.ewm(span=20).mean()").more(),
    op(OpId::EwmStd, "std", Ewm, Numeric, EWM, OFloat,
        "Exponentially weighted standard deviation (bias=False).",
        "close.pct_change().ewm(halflife=20).std()").more(),
    op(OpId::ExpandingMean, "mean", Expanding, Numeric, EXPANDING, OFloat,
        "Mean of every row so far.",
        "roe.expanding(4).mean()").more(),
    op(OpId::ExpandingMax, "max", Expanding, Numeric, EXPANDING, OFloat,
        "Maximum so far.",
        "close.expanding().max()").more(),
    op(OpId::ExpandingMin, "min", Expanding, Numeric, EXPANDING, OFloat,
        "Minimum so far.",
        "close.expanding().min()").more(),
    op(OpId::ExpandingSum, "sum", Expanding, Numeric, EXPANDING, OFloat,
        "Sum of every row so far.",
        "eps.expanding().sum()").more(),
    op(OpId::Cumsum, "cumsum", Method, Numeric, &[], OFloat,
        "Running sum down each column, skipping missing values (NaN stays NaN).",
        "(close > close.shift()).cumsum()").more(),
    op(OpId::Loc, "loc", Form::Loc, Numeric, DATES, Same,
        "rows dated start through end (either may be left out; a year or month covers all \
         its days), on panels, Series or the position.",
        "close.loc[\"2015\":]").more(),
    op(OpId::RowMean, "mean", Method, Numeric, AXIS, Series,
        "Per date mean across stocks, missing values skipped (a Series: one value per date).",
        "close.mean(axis=1) > close.mean(axis=1).average(60)").more(),
    op(OpId::RowSum, "sum", Method, Numeric, AXIS, Series,
        "Per date sum across stocks (0 when none is valid; bool panels count True).",
        "(close > close.average(20)).sum(axis=1)").more(),
    op(OpId::RowMax, "max", Method, Numeric, AXIS, Series,
        "Per date maximum across stocks.",
        "close.pct_change().max(axis=1)").more(),
    op(OpId::RowMin, "min", Method, Numeric, AXIS, Series,
        "Per date minimum across stocks.",
        "close.pct_change().min(axis=1)").more(),
    op(OpId::RowStd, "std", Method, Numeric, AXIS, Series,
        "Per date sample standard deviation across stocks (ddof=1).",
        "close.pct_change().std(axis=1)").more(),
    op(OpId::RowMedian, "median", Method, Numeric, AXIS, Series,
        "Per date median across stocks.",
        "pb.median(axis=1)").more(),
    op(OpId::RowCount, "count", Method, Numeric, AXIS, Series,
        "Per date number of valid values.",
        "close.count(axis=1)").more(),
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
    indicator(OpId::Atr, "ATR", TIMEPERIOD_14_1, &[], HLC,
        "Average true range (TA-Lib, Wilder smoothing).",
        "data.indicator(\"ATR\")"),
    indicator(OpId::Willr, "WILLR", TIMEPERIOD_14, &[], HLC,
        "Williams %R (-100..0).",
        "data.indicator(\"WILLR\")"),
    indicator(OpId::Sma, "SMA", TIMEPERIOD_30, &[], CLOSE,
        "Simple moving average of the close.",
        "data.indicator(\"SMA\", timeperiod=20)").more(),
    indicator(OpId::Ema, "EMA", TIMEPERIOD_30, &[], CLOSE,
        "Exponential moving average (seeded with the SMA).",
        "data.indicator(\"EMA\", timeperiod=20)").more(),
    indicator(OpId::Wma, "WMA", TIMEPERIOD_30, &[], CLOSE,
        "Linearly weighted moving average.",
        "data.indicator(\"WMA\", timeperiod=20)").more(),
    indicator(OpId::Dema, "DEMA", TIMEPERIOD_30, &[], CLOSE,
        "Double exponential moving average.",
        "data.indicator(\"DEMA\")").more(),
    indicator(OpId::Tema, "TEMA", TIMEPERIOD_30, &[], CLOSE,
        "Triple exponential moving average.",
        "data.indicator(\"TEMA\")").more(),
    indicator(OpId::Kama, "KAMA", TIMEPERIOD_30, &[], CLOSE,
        "Kaufman adaptive moving average.",
        "data.indicator(\"KAMA\")").more(),
    indicator(OpId::Adx, "ADX", TIMEPERIOD_14, &[], HLC,
        "Average directional index.",
        "data.indicator(\"ADX\")").more(),
    indicator(OpId::PlusDi, "PLUS_DI", TIMEPERIOD_14_1, &[], HLC,
        "Plus directional indicator.",
        "data.indicator(\"PLUS_DI\")").more(),
    indicator(OpId::MinusDi, "MINUS_DI", TIMEPERIOD_14_1, &[], HLC,
        "Minus directional indicator.",
        "data.indicator(\"MINUS_DI\")").more(),
    indicator(OpId::Cci, "CCI", TIMEPERIOD_14, &[], HLC,
        "Commodity channel index.",
        "data.indicator(\"CCI\")").more(),
    indicator(OpId::Mfi, "MFI", TIMEPERIOD_14, &[], HLCV,
        "Money flow index (volume-weighted RSI).",
        "data.indicator(\"MFI\")").more(),
    indicator(OpId::Obv, "OBV", ADJUST_ONLY, &[], CV,
        "On-balance volume.",
        "data.indicator(\"OBV\")").more(),
    indicator(OpId::Roc, "ROC", TIMEPERIOD_10, &[], CLOSE,
        "Rate of change in percent: (close / close n rows earlier - 1) * 100.",
        "data.indicator(\"ROC\")").more(),
    indicator(OpId::Mom, "MOM", TIMEPERIOD_10, &[], CLOSE,
        "Momentum: close - close n rows earlier.",
        "data.indicator(\"MOM\")").more(),
    indicator(OpId::Stddev, "STDDEV", STDDEV, &[], CLOSE,
        "Rolling population standard deviation of the close times nbdev.",
        "data.indicator(\"STDDEV\", timeperiod=20)").more(),
    indicator(OpId::Natr, "NATR", TIMEPERIOD_14_1, &[], HLC,
        "ATR as a percentage of the close.",
        "data.indicator(\"NATR\")").more(),
    indicator(OpId::Trange, "TRANGE", ADJUST_ONLY, &[], HLC,
        "True range.",
        "data.indicator(\"TRANGE\")").more(),
    indicator(OpId::Aroon, "AROON", TIMEPERIOD_14, &["aroondown", "aroonup"], HL,
        "Aroon down and up (0..100).",
        "down, up = data.indicator(\"AROON\")").more(),
    indicator(OpId::Sar, "SAR", SAR, &[], HL,
        "Parabolic SAR.",
        "data.indicator(\"SAR\")").more(),
    indicator(OpId::Ultosc, "ULTOSC", ULTOSC, &[], HLC,
        "Ultimate oscillator.",
        "data.indicator(\"ULTOSC\")").more(),
    indicator(OpId::Cmo, "CMO", TIMEPERIOD_14, &[], CLOSE,
        "Chande momentum oscillator (-100..100).",
        "data.indicator(\"CMO\")").more(),
    indicator(OpId::Ppo, "PPO", OSCILLATOR, &[], CLOSE,
        "Percentage price oscillator (EMAs, TA-Lib's default).",
        "data.indicator(\"PPO\")").more(),
    indicator(OpId::Apo, "APO", OSCILLATOR, &[], CLOSE,
        "Absolute price oscillator: fast EMA - slow EMA.",
        "data.indicator(\"APO\")").more(),
    indicator(OpId::Bop, "BOP", ADJUST_ONLY, &[], OHLC,
        "Balance of power: (close - open) / (high - low).",
        "data.indicator(\"BOP\")").more(),
    indicator(OpId::Ad, "AD", ADJUST_ONLY, &[], HLCV,
        "Chaikin accumulation/distribution line.",
        "data.indicator(\"AD\")").more(),
    indicator(OpId::Adosc, "ADOSC", ADOSC, &[], HLCV,
        "Chaikin oscillator.",
        "data.indicator(\"ADOSC\")").more(),
];
