//! Hints for methods and functions the DSL does not have: the pandas, TA-Lib or finlab
//! spelling that exists (or why there is none), and per-date row reductions.

use dsl_runtime::ops::{Form, OpId};

use crate::dsl::ast::Span;
use crate::dsl::codes::Code;
use crate::dsl::diagnostic::Diagnostic;
use crate::dsl::suggest::did_you_mean;

/// Methods people write from pandas, TA-Lib habits or other backtesters, with what to write
/// here instead (the pandas/finlab spelling that exists, or why there is none yet).
const SPELLINGS: &[(&[&str], &str)] = &[
    (
        &[
            "ma",
            "sma",
            "moving_average",
            "rolling_mean",
            "avg",
            "mavg",
            "mean_n",
        ],
        "a trailing mean is `x.average(20)` (finlab) or `x.rolling(20).mean()` (pandas)",
    ),
    (
        &["ema", "ewma"],
        "exponential smoothing is `x.ewm(span=n).mean()` (pandas), or \
         `data.indicator(\"EMA\", timeperiod=n)` (TA-Lib, on prices)",
    ),
    (
        &["isnull", "notnull", "dropna"],
        "missing values are tested with `x.isna()` / `x.notna()` and replaced with `x.fillna(0)`",
    ),
    (
        &["pct", "returns", "ret", "change_pct", "pctchange"],
        "returns are `x.pct_change(n)` (x / x.shift(n) - 1)",
    ),
    (
        &["lag", "delay", "prev"],
        "the value n rows earlier is `x.shift(n)`",
    ),
    (
        &["change", "delta", "momentum"],
        "the change over n rows is `x.diff(n)`",
    ),
    (
        &["rolling_max", "highest", "hhv", "max_n"],
        "a trailing maximum is `x.rolling(n).max()`",
    ),
    (
        &["rolling_min", "lowest", "llv", "min_n"],
        "a trailing minimum is `x.rolling(n).min()`",
    ),
    (
        &["rolling_std", "stdev", "volatility"],
        "a trailing standard deviation is `x.rolling(n).std()`",
    ),
    (
        &["nlargest", "top", "largest", "top_n"],
        "the n largest per date are `x.is_largest(n)`",
    ),
    (
        &["nsmallest", "bottom", "smallest", "bottom_n"],
        "the n smallest per date are `x.is_smallest(n)`",
    ),
    (
        &["percentile", "quantile", "rank_pct", "pct_rank"],
        "per-date percentiles are `x.rank(axis=1, pct=True)`; a per-date quantile is \
         `x.quantile_row(q)`",
    ),
    (
        &["cumprod", "cummax", "cummin"],
        "not supported yet: `x.cumsum()` is the running sum, `x.expanding().max()` / `.min()` \
         the running extremes (also on rows where x is missing)",
    ),
    (
        &["bfill", "backfill"],
        "a backward fill reads the future; `x.ffill()` carries the last value forward",
    ),
    (
        &["mask"],
        "`x.where(~cond)` keeps x where cond is False (or `x[~cond]`)",
    ),
    (
        &[
            "apply",
            "map",
            "applymap",
            "pipe",
            "transform",
            "agg",
            "aggregate",
        ],
        "custom functions are not part of the DSL: combine panel methods and operators",
    ),
    (
        &["resample"],
        "rebalance frequency is a `sim` option: `sim(position, resample=\"M\")`",
    ),
    (
        &["deadline", "index_str_to_date", "reindex"],
        "not needed: revenue and statements are aligned at their publication dates for you",
    ),
    (
        &["iloc", "at", "iat", "head", "tail"],
        "select dates by label, `x.loc[\"2015\":\"2020\"]`, and stocks by condition, `x[cond]`",
    ),
];

/// The pandas aggregates that reduce a whole panel; with `axis=1` they reduce each date's row.
pub(super) const REDUCTIONS: &[&str] = &[
    "mean", "sum", "max", "min", "std", "median", "count", "var", "prod", "all", "any",
];

/// `x.name(axis=1)` for a reduction the DSL does not have, or `np.name(x, axis=1)` for one it
/// has as a method.
pub(super) fn row_reduction(name: &str, span: Span) -> Diagnostic {
    let methods: Vec<String> = OpId::ALL
        .iter()
        .filter(|op| op.is_row_reduction())
        .map(|op| format!("`.{}(axis=1)`", op.spec().name))
        .collect();
    let d = Diagnostic::error(
        Code::UnknownMethod,
        span,
        format!("`{name}(axis=1)` is not one of the DSL's per-date row reductions"),
    )
    .label("a reduction across stocks");
    if OpId::find(Form::Method, name).is_some_and(OpId::is_row_reduction) {
        return d.hint(format!(
            "write it as a method: `x.{name}(axis=1)` (one value per date, a Series)"
        ));
    }
    d.hint(format!(
        "the per-date reductions are {} (each a Series, one value per date)",
        methods.join(", ")
    ))
}

/// `x.name` where panels have no method `name`, with the likeliest fix.
pub(super) fn unknown_method(name: &str, name_span: Span) -> Diagnostic {
    let mut d = Diagnostic::error(
        Code::UnknownMethod,
        name_span,
        format!("panels have no method `{name}`"),
    )
    .label("unknown method");
    let mut names = OpId::names(Form::Method);
    names.push("rolling");
    let lower = name.to_lowercase();
    let spelled = SPELLINGS
        .iter()
        .find(|(from, _)| from.contains(&lower.as_str()))
        .map(|(_, to)| *to);
    if let Some(op) = OpId::find(Form::Rolling, name) {
        d = d.hint(format!(
            "rolling aggregates go through `.rolling(n)`: `x.rolling(20).{}()` (over all dates it \
             would read the future; across stocks, per date, see `.rank(axis=1, pct=True)`)",
            op.spec().name
        ));
    } else if let Some(op) = OpId::find(Form::Numpy, name) {
        d = d.hint(format!("write `np.{}(x, ...)`", op.spec().name));
    } else if let Some(to) = spelled {
        d = d.hint(to);
    } else if let Some(s) = did_you_mean(name, names.iter().copied()) {
        d = d.hint(format!("did you mean `{s}`?"));
    } else {
        d = d.hint(format!("available methods: {}", names.join(", ")));
    }
    d
}

/// `np.name` for a numpy function the DSL does not offer.
pub(super) fn unknown_numpy(name: &str, name_span: Span) -> Diagnostic {
    let mut names = OpId::names(Form::Numpy);
    names.push("abs");
    let d = Diagnostic::error(
        Code::UnsupportedFunction,
        name_span,
        format!("`np.{name}` is not available in strategies"),
    );
    match did_you_mean(name, names.iter().copied()) {
        Some(s) => d.hint(format!("did you mean `np.{s}`?")),
        None => d.hint(format!(
            "numpy functions available: {}; otherwise use panel methods and operators",
            names
                .iter()
                .map(|n| format!("np.{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}
