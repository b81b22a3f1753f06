//! The checker's code tables: which source gets which diagnostic codes.

use super::super::parse::parse;
use super::*;

fn all_codes(src: &str) -> Vec<&'static str> {
    let keys = [
        "price:收盤價",
        "price:最高價",
        "price:最低價",
        "etl:adj_close",
    ];
    let ctx = CheckContext {
        datasets: Some(keys.iter().map(|k| k.to_string()).collect()),
    };
    let checked = check(&parse(src).unwrap(), &ctx);
    checked
        .diagnostics
        .iter()
        .map(|d| d.code.as_str())
        .collect()
}

/// Diagnostic codes, without unused-variable warnings (the shared header defines `close`).
fn codes(src: &str) -> Vec<&'static str> {
    all_codes(src)
        .into_iter()
        .filter(|c| *c != "unused-variable")
        .collect()
}

const HEAD: &str = "from finlab import data\nfrom finlab.backtest import sim\nclose = data.get(\"price:收盤價\")\n";

#[test]
fn accepts_a_plain_strategy() {
    let src = format!(
        "{HEAD}cond = (close > close.average(20)) & (close.shift(1) > 10)\nposition = (close / close.shift(60))[cond].is_largest(10)\nreport = sim(position, resample=\"M\", fee_ratio=1.425/1000, tax_ratio=3/1000, position_limit=0.2)\nreport.display()\n"
    );
    assert_eq!(codes(&src), vec!["ignored-call"]);
}

#[test]
fn refusals_have_codes() {
    let c = |body: &str| codes(&format!("{HEAD}{body}\nsim(close > 1)\n"));
    assert_eq!(c("import os"), vec!["forbidden-import"]);
    assert_eq!(c("x = eval(\"1\")"), vec!["forbidden-builtin"]);
    assert_eq!(c("x = close.shift(-1)"), vec!["lookahead-shift"]);
    assert_eq!(c("x = close.shift(0)"), vec!["lookahead-shift"]);
    assert_eq!(c("x = close.average(3000)"), vec!["argument-out-of-range"]);
    assert_eq!(
        c("x = (close > 1) and (close < 5)"),
        vec!["python-logic-operator"]
    );
    assert_eq!(c("x = close > 1 & close < 5"), vec!["logical-needs-bool"]);
    assert_eq!(c("x = close.__class__"), vec!["forbidden-dunder"]);
    assert_eq!(c("x = close.averag(5)"), vec!["unknown-method"]);
    assert_eq!(c("x = data.get(\"price:收盤\")"), vec!["unknown-dataset"]);
    assert_eq!(
        c("for i in range(3):\n    pass"),
        vec!["forbidden-statement", "forbidden-statement"]
    );
    assert_eq!(c("x = lambda y: y"), vec!["forbidden-syntax"]);
    assert_eq!(c("x = clse"), vec!["undefined-name"]);
    assert_eq!(c("x = close[close]"), vec!["mask-needs-bool"]);
    assert_eq!(c("x = 1 < close < 5"), vec!["chained-comparison"]);
    assert_eq!(c("x = (close > 1) + (close > 5)"), vec!["bool-arithmetic"]);
    assert_eq!(c("x = (close > 1) - (close > 5)"), vec!["bool-arithmetic"]);
    assert_eq!(c("x = True + (close > 5)"), vec!["bool-arithmetic"]);
    assert_eq!(
        c("x = data.indicator(\"RSI\", 14)"),
        vec!["invalid-indicator"]
    );
}

#[test]
fn sim_takes_the_position_by_keyword_too() {
    let src = format!("{HEAD}x = close > 1\nsim(position=x, resample=\"M\")\n");
    assert!(codes(&src).is_empty(), "{:?}", codes(&src));
    let twice = format!("{HEAD}x = close > 1\nsim(x, position=x)\n");
    assert_eq!(codes(&twice), vec!["sim-arguments"]);
}

#[test]
fn counting_conditions_and_keyword_indicator_parameters_are_accepted() {
    for body in [
        "x = (close > 1) * 1 + (close > 5) * 1",
        "x = (close > 1) | (close > 5)",
        "x = close + (close > 5)",
        "x = data.indicator(\"RSI\", timeperiod=14)",
    ] {
        let v = codes(&format!("{HEAD}{body}\nsim(x)\n"));
        assert!(v.is_empty(), "{body}: {v:?}");
    }
}

#[test]
fn registry_operators_check_their_arguments() {
    let ok = |body: &str| {
        let v = codes(&format!("{HEAD}{body}\nsim(x)\n"));
        assert!(v.is_empty(), "{body}: {v:?}");
    };
    ok("x = close.rolling(20, min_periods=5).std() > 1");
    ok("x = close.rank(axis=1, pct=True) > 0.5");
    ok("x = close > close.quantile_row(0.8)");
    // Per-date Series: reductions, time-series operators, arithmetic, comparisons, filters.
    ok("x = close > close.mean(axis=1)");
    ok("m = close.mean(axis=1)\nx = (close > 1) & (m > m.average(60))");
    ok("x = (close > 1) & ~(close.std(axis=\"columns\").rolling(5).max() < 3)");
    ok("s = close.median(axis=1) - close.mean(1) * 2\nx = close > -s.shift(1)");
    ok("import numpy as np\ns = np.log(close.count(axis=1)).ewm(span=5).mean()\nx = close * (s > 1) > 1");
    ok("s = (close > 1).sum(axis=1).pct_change(fill_method=None)\nx = (close > 1) & (s > s.expanding().mean()) | (s < 0)");
    ok("x = (close > 10).hold_until(close < 5, nstocks_limit=3, stop_loss=0.1, rank=-close)");
    ok("k, d = data.indicator(\"STOCH\")\nx = k > d");
    ok("import numpy as np\nx = np.maximum(close, close.shift(1)) > 10");
    ok("x = abs(close.pct_change()) < 0.05");
    ok("x = close.where(close > 5, 0).fillna(0) > 1");
    let c = |body: &str| codes(&format!("{HEAD}{body}\nsim(x)\n"));
    assert_eq!(
        c("x = close.rank(pct=True) > 0.5"),
        vec!["missing-argument"]
    );
    assert_eq!(c("x = close.rank(axis=0) > 0.5"), vec!["lookahead-rank"]);
    assert_eq!(c("x = close.pct_change(-5) > 0"), vec!["lookahead-shift"]);
    assert_eq!(
        c("x = close.rolling(5, min_periods=9).mean() > 0"),
        vec!["argument-out-of-range"]
    );
    assert_eq!(c("x = close.rolling(5).mean"), vec!["sim-arguments"]);
    assert_eq!(c("x = close.rolling(5).avg() > 0"), vec!["unknown-method"]);
    assert_eq!(c("x = close.sum() > 0"), vec!["missing-argument"]);
    assert_eq!(c("x = close.mean(axis=0) > 0"), vec!["lookahead-rank"]);
    assert_eq!(c("x = close.var(axis=1) > 0"), vec!["unknown-method"]);
    assert_eq!(
        c("x = data.indicator(\"RSX\") > 50"),
        vec!["invalid-indicator"]
    );
    assert_eq!(
        c("x = data.indicator(\"MACD\") > 0"),
        vec!["invalid-operand"]
    );
    assert_eq!(
        c("a, b = data.indicator(\"MACD\")\nx = a > b"),
        vec!["unpack-outputs"]
    );
    assert_eq!(
        c("x = close.quantile_row(0.5) < close"),
        vec!["series-operand"]
    );
    assert_eq!(c("x = close.is_entry()"), vec!["invalid-receiver"]);
    assert_eq!(
        c("x = (close > 1).hold_until(close)"),
        vec!["invalid-argument"]
    );
    assert_eq!(
        c("x = close.clip(lower=5, upper=1) > 0"),
        vec!["argument-out-of-range"]
    );
    assert_eq!(
        c("x = close.shift(periods=1, periods=2) > 0"),
        vec!["duplicate-argument"]
    );
    assert_eq!(c("x = max(close, 1) > 0"), vec!["undefined-name"]);
    assert_eq!(
        c("import numpy as np\nx = np.cbrt(close) > 0"),
        vec!["unsupported-function"]
    );
    assert_eq!(
        all_codes(&format!(
            "{HEAD}y = close\n_z = close\nx = close > 1\nsim(x)\n"
        )),
        vec!["unused-variable"]
    );
}

#[test]
fn sim_rules() {
    assert_eq!(codes(HEAD), vec!["missing-sim"]);
    assert_eq!(
        codes(&format!("{HEAD}sim(close > 1)\nsim(close > 2)\n")),
        vec!["multiple-sim"]
    );
    assert_eq!(
        codes(&format!(
            "{HEAD}sim(close > 1, stop_loss=0.1, touched_exit=True, trade_at_price=\"open\")\n"
        )),
        Vec::<&str>::new()
    );
    assert_eq!(
        codes(&format!(
            "{HEAD}sim(close > 1, stop_loss=\"x\", touched_exit=1)\n"
        )),
        vec!["invalid-sim-option", "invalid-sim-option"]
    );
    assert_eq!(
        codes(&format!("{HEAD}sim(close > 1, resampl=\"M\")\n")),
        vec!["unknown-sim-option"]
    );
    assert_eq!(
        codes(&format!("{HEAD}sim(close > 1, resample=\"Q-NOV\")\n")),
        vec!["unsupported-resample"]
    );
}

/// Every diagnostic as `code: message | hints`, checked against the full catalog.
fn rendered(src: &str) -> Vec<String> {
    let ctx = CheckContext {
        datasets: Some(crate::data::catalog::keys()),
    };
    check(&parse(src).unwrap(), &ctx)
        .diagnostics
        .iter()
        .map(|d| format!("{}: {} | {}", d.code, d.message, d.hints.join(" | ")))
        .collect()
}

#[test]
fn one_root_error_per_mistake() {
    // (body, the only diagnostic code): names read by a failing statement count as used, and
    // a program with an error gets no unused-variable warnings.
    let cases = [
        (
            "a = close.average(5)\nb = close.average(20)\nx = a.foo(b) > 1",
            "unknown-method",
        ),
        ("y = close.average(5)\nx = clse > 1", "undefined-name"),
        (
            "m = close.average(60)\nx = close.var(axis=1, skipna=m) > 1",
            "unknown-method",
        ),
        (
            "import numpy as np\nlow = close.average(10)\nx = np.cbrt(low) > 1",
            "unsupported-function",
        ),
    ];
    for (body, code) in cases {
        let src = format!("{HEAD}{body}\nsim(close > 1)\n");
        assert_eq!(all_codes(&src), vec![code], "{body}");
    }
    // A valid program still hears about its unused names.
    let src = format!("{HEAD}y = close\nsim(close > 1)\n");
    assert_eq!(all_codes(&src), vec!["unused-variable"]);
}

#[test]
fn hints_say_the_right_thing() {
    // (body, text the first diagnostic must contain, text it must not contain)
    let cases = [
        (
            "x = close.var(axis=1) > 0",
            "`.mean(axis=1)`, `.sum(axis=1)`",
            "rolling",
        ),
        (
            "x = close.mean() > 0",
            "`.mean(axis=1)` for one value per date",
            "xx",
        ),
        ("x = close.count() > 0", "axis=1", "rolling"),
        (
            "import numpy as np\nx = np.mean(close, axis=1) > 0",
            "`x.mean(axis=1)`",
            "np.mean",
        ),
        (
            "x = close.mean() > 0",
            "x.rolling(20).mean()",
            "not supported yet",
        ),
        ("x = close.ma(20) > 0", "x.average(20)", "available methods"),
        (
            "x = close.ewm(span=10) > 0",
            "call `.mean()`",
            "available methods",
        ),
        (
            "x = close.ewma(10) > 0",
            "x.ewm(span=n).mean()",
            "available methods",
        ),
        (
            "x = close.fillna(method=\"ffill\") > 0",
            "write `x.ffill()`",
            "did you mean",
        ),
        (
            "x = close.ewm(span=3, com=2).mean() > 0",
            "mutually exclusive",
            "xx",
        ),
        (
            "x = close.ewm(alpha=1.5).mean() > 0",
            "0 < alpha <= 1",
            "xx",
        ),
        ("x = close.ewm().std() > 0", "needs one of `com`", "xx"),
        ("x = close.isnull()", "x.isna()", "available methods"),
        (
            "x = data.indicator(\"BBANDS\")[1] > 0",
            "unpack them: `upperband, middleband, lowerband = data.indicator(\"BBANDS\")`",
            "xx",
        ),
        (
            "x = close.nlargest(5)",
            "is_largest(n)",
            "available methods",
        ),
        ("x = close.pct(5) > 0", "pct_change", "available methods"),
        (
            "x = close.mean(axis=1).rank(axis=1) > 10",
            "not on a date-indexed Series",
            "xx",
        ),
        (
            "x = close.mean(axis=1).sustain(5) > 10",
            "`s > s.shift(5)`",
            "xx",
        ),
        (
            "x = (close.mean(axis=1) > 1) & (close > 1)",
            "`cond & market_ok`",
            "xx",
        ),
        (
            "x = close > 1\nsim(close.mean(axis=1) > 1)\ny = x",
            "not a date-indexed Series",
            "xx",
        ),
        (
            "x = close.mean(axis=1).pow(close) > 1",
            "takes a number as `other`",
            "xx",
        ),
        (
            "x = close.quantile_row(0.2) < close",
            "`panel > series`",
            "xx",
        ),
        // Unknown datasets: by meaning first, grouped candidates otherwise.
        (
            "x = data.get(\"pb\") > 1",
            "\"price_earning_ratio:股價淨值比\"? (`pb` is an alias",
            "price:開盤價",
        ),
        (
            "x = data.get(\"P/B\") > 1",
            "\"price_earning_ratio:股價淨值比\"",
            "price:開盤價",
        ),
        (
            "x = data.get(\"price:股價淨值比\") > 1",
            "same column in another table",
            "xx",
        ),
        (
            "x = data.get(\"EBITDA\") > 1",
            "\"fundamental_features:EBITDA\"",
            "ROE稅後",
        ),
        (
            "x = data.get(\"營業利益成長率\") > 1",
            "\"fundamental_features:營業利益成長率\"",
            "營業利益率\"",
        ),
        (
            "x = data.get(\"foo:bar\") > 1",
            "valuation: \"price_earning_ratio:本益比\"",
            "did you mean",
        ),
    ];
    for (body, want, not) in cases {
        let d = rendered(&format!("{HEAD}{body}\nsim(close > 1)\n"));
        let first = d.first().map(String::as_str).unwrap_or_default();
        assert!(first.contains(want), "{body}: {first}");
        assert!(!first.contains(not), "{body}: {first}");
    }
}

#[test]
fn elementwise_numpy_and_pandas_idioms() {
    let c = |body: &str| codes(&format!("{HEAD}import numpy as np\n{body}\nsim(x)\n"));
    for ok in [
        "x = close ** 2 + close.pow(0.5) - 2 ** close",
        "x = np.sqrt(close) * np.exp(-close.pct_change().abs()) * np.sign(close.diff())",
        "x = np.where(close > close.average(20), close, -1)",
        "x = (close > 10).astype(int) + close.isna() * 1",
        "x = close.notna() & (close.round(1) > 5) & close.astype(bool)",
        "x = close.astype(\"float\").round(decimals=-1)",
    ] {
        assert_eq!(c(ok), Vec::<&str>::new(), "{ok}");
    }
    assert_eq!(c("x = close.astype(str)"), vec!["undefined-name"]);
    assert_eq!(c("x = close.astype(\"str\")"), vec!["invalid-argument"]);
    assert_eq!(c("x = close.round(30)"), vec!["argument-out-of-range"]);
    assert_eq!(c("x = close * (-8) ** 0.5"), vec!["invalid-number"]);
    assert_eq!(c("x = np.where(close, 1, 0)"), vec!["invalid-receiver"]);
    assert_eq!(c("x = close // 2"), vec!["unsupported-operator"]);
}

#[test]
fn growing_windows_and_pandas_spellings() {
    let c = |body: &str| codes(&format!("{HEAD}{body}\nsim(x)\n"));
    for ok in [
        "x = close.ewm(span=10).mean() > close.ewm(com=3, adjust=False, min_periods=5).mean()",
        "x = close.ewm(halflife=2.5, ignore_na=True).std() + close.ewm(alpha=0.1).mean()",
        "x = close.expanding().max() + close.expanding(5).mean() - close.expanding(min_periods=2).sum()",
        "x = (close > close.shift()).cumsum() + close.expanding().min()",
        "x = close.pct_change(fill_method=None)",
        "x = close.pct_change(5, None)",
    ] {
        assert_eq!(c(ok), Vec::<&str>::new(), "{ok}");
    }
    assert_eq!(
        c("x = close.ewm(span=0.5).mean()"),
        vec!["argument-out-of-range"]
    );
    assert_eq!(c("x = close.ewm(span=5).median()"), vec!["unknown-method"]);
    assert_eq!(
        c("x = close.expanding(0).sum()"),
        vec!["argument-out-of-range"]
    );
    assert_eq!(
        c("x = close.ewm(span=5, min_periods=-1).mean()"),
        vec!["argument-out-of-range"]
    );
    assert_eq!(
        c("x = close.pct_change(fill_method=\"ffill\")"),
        vec!["invalid-argument"]
    );
}

#[test]
fn indicators_take_talib_defaults_and_refuse_what_talib_refuses() {
    let c = |body: &str| codes(&format!("{HEAD}{body}\nsim(x > 0)\n"));
    for ok in [
        "x = data.indicator(\"SMA\", timeperiod=1) + data.indicator(\"ADX\", timeperiod=2)",
        "x = data.indicator(\"PLUS_DI\", timeperiod=1) + data.indicator(\"ATR\", timeperiod=1)",
        "x = data.indicator(\"SAR\", acceleration=0.05, maximum=0.1)",
        "x = data.indicator(\"ULTOSC\", timeperiod1=3, timeperiod2=5, timeperiod3=9)",
        "x = data.indicator(\"STDDEV\", timeperiod=20, nbdev=2)",
        "d, u = data.indicator(\"AROON\")\nx = u - d",
    ] {
        assert_eq!(c(ok), Vec::<&str>::new(), "{ok}");
    }
    for refused in [
        "x = data.indicator(\"RSI\", timeperiod=1)",
        "x = data.indicator(\"BBANDS\", timeperiod=1)[0]",
        "x = data.indicator(\"ADX\", timeperiod=1)",
        "x = data.indicator(\"MACD\", fastperiod=1)[0]",
        "x = data.indicator(\"SAR\", acceleration=-0.1)",
        "x = data.indicator(\"WILLR\", timeperiod=1)",
    ] {
        assert_eq!(c(refused), vec!["argument-out-of-range"], "{refused}");
    }
    assert_eq!(
        c("x = data.indicator(\"PPO\", matype=1)"),
        vec!["unknown-argument"]
    );
}

#[test]
fn loc_takes_a_range_of_partial_dates() {
    let c = |body: &str| codes(&format!("{HEAD}{body}\nsim(x)\n"));
    for ok in [
        "x = close.loc[\"2015\":] > close.average(20)",
        "x = (close > 1).loc[\"2015-01\":\"2020-12\"]",
        "m = close.mean(axis=1).loc[:\"2020-06-30\"]\nx = (close > 1) & (m > m.average(5))",
        "start = \"2016-03\"\nx = (close > 1).is_largest(5).loc[start:]",
        "x = (close > 1).loc[:]",
    ] {
        assert_eq!(c(ok), Vec::<&str>::new(), "{ok}");
    }
    assert_eq!(c("x = close.loc[\"2015\"] > 1"), vec!["unsupported-index"]);
    assert_eq!(
        c("x = close.loc[\"2015\"::2] > 1"),
        vec!["unsupported-index"]
    );
    assert_eq!(c("x = close.loc[2015:] > 1"), vec!["invalid-argument"]);
    assert_eq!(
        c("x = close.loc[\"2015-02-30\":] > 1"),
        vec!["invalid-argument"]
    );
    assert_eq!(
        c("x = close.loc[\"2020\":\"2019-06\"] > 1"),
        vec!["argument-out-of-range"]
    );
    assert_eq!(c("x = close[\"2015\":] > 1"), vec!["unsupported-index"]);
    assert_eq!(c("x = close.iloc[-5:] > 1"), vec!["unknown-method"]);
    // The range becomes one `loc` call with the first and last day it covers.
    let src = format!("{HEAD}sim((close > 1).loc[\"2015-02\":\"2016\"])\n");
    let program = check(&parse(&src).unwrap(), &CheckContext::default()).program;
    let day = |s| i64::from(crate::calendar::parse(s).unwrap());
    match program.map(|p| p.position) {
        Some(e) => match &*e {
            TExpr::Call {
                op: OpId::Loc,
                args,
                ..
            } => assert_eq!(
                args,
                &vec![TArg::Int(day("2015-02-01")), TArg::Int(day("2016-12-31"))]
            ),
            other => panic!("not a loc call: {other:?}"),
        },
        None => panic!("refused"),
    }
}
