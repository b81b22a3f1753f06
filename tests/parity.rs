//! Operator parity with the real finlab 2.2.20: every registry operator and a set of random
//! compositions, evaluated by the wasm guest in the sandbox and by finlab's `FinlabDataFrame`
//! (pandas) on small synthetic panels built to hit finlab's alignment rules — NaNs, gaps, a
//! shifted start, different stock sets and orders, monthly and quarterly dates, ties
//! (`tests/finlab/make_panels.py`). Results must match: same dates, same stocks in the same
//! order, bools equal, floats within 1e-9 relative (NaN = NaN).
//!
//! finlab runs in the pinned oracle venv (`tests/finlab/setup.sh`, created under the target
//! temp dir on first use; needs PyPI). `DSL_FINLAB_ORACLE=0` skips this test offline.

// Test and benchmark code: an unwrap fails the run, and printing is the report.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use dsl_engine::data::feather::read_wide;
use dsl_engine::dsl::{compile, CheckContext};
use dsl_engine::plan::lower;
use dsl_engine::sandbox::{Limits, Sandbox};
use dsl_engine::util::rng::Rng;
use dsl_runtime::wire::PanelData;

/// One expression evaluated by both sides.
#[derive(Clone, Debug)]
struct Case {
    name: String,
    expr: String,
    /// The pandas spelling finlab runs, when it is not `expr` (the exporter's).
    py: Option<String>,
    /// A statement the DSL strategy runs before `sim(expr)` (unpacking an indicator).
    setup: Option<String>,
}

/// The panels `make_panels.py` writes (name → float panel file).
const PANELS: &[&str] = &[
    "daily",
    "daily2",
    "gapped",
    "shifted",
    "ties",
    "bools",
    "monthly",
    "quarterly",
];

/// Hand-written cases: every operator at least once, the alignment rules, and finlab's quirks.
fn operator_cases() -> Vec<Case> {
    let cases = [
        ("average5", "daily.average(5)"),
        ("average4_gapped", "gapped.average(4)"),
        ("rolling_mean_mp", "daily.rolling(5, min_periods=2).mean()"),
        ("rolling_std", "daily.rolling(6, min_periods=3).std()"),
        ("rolling_sum_gapped", "gapped.rolling(4).sum()"),
        ("rolling_max", "daily.rolling(5).max()"),
        ("rolling_min_gapped", "gapped.rolling(3, min_periods=1).min()"),
        ("rolling_median", "daily.rolling(4).median()"),
        ("rolling_median_odd", "gapped.rolling(5, min_periods=2).median()"),
        ("shift", "daily.shift(2)"),
        ("pct_change", "daily.pct_change()"),
        ("pct_change_gapped", "gapped.pct_change(3)"),
        ("diff", "gapped.diff(2)"),
        ("rise", "daily.rise()"),
        ("rise3", "daily.rise(3)"),
        ("fall2_gapped", "gapped.fall(2)"),
        ("sustain3", "bools.sustain(3)"),
        ("sustain5_2", "bools.sustain(5, 2)"),
        ("sustain_cond", "(gapped > 50).sustain(4, 3)"),
        ("is_largest2", "daily.is_largest(2)"),
        ("is_smallest2", "daily.is_smallest(2)"),
        ("is_largest2_ties", "ties.is_largest(2)"),
        ("is_smallest2_ties", "ties.is_smallest(2)"),
        ("is_largest_all", "daily.is_largest(10)"),
        ("is_largest_gapped", "gapped.is_largest(3)"),
        ("rank_pct", "daily.rank(axis=1, pct=True)"),
        ("rank_pct_ties", "ties.rank(axis=1, pct=True)"),
        ("rank_plain_ties", "ties.rank(axis=1)"),
        ("rank_desc_min", "ties.rank(axis=1, ascending=False, method=\"min\")"),
        ("rank_dense_pct", "ties.rank(axis=1, method=\"dense\", pct=True)"),
        ("rank_first", "gapped.rank(axis=1, method=\"first\")"),
        ("quantile_row", "daily > daily.quantile_row(0.3)"),
        ("quantile_row_ties", "ties >= ties.quantile_row(0.5)"),
        ("quantile_row_mixed", "daily - gapped.quantile_row(0.75)"),
        ("is_entry", "(bools > 0).is_entry()"),
        ("is_exit", "(bools > 0).is_exit()"),
        ("fillna0", "gapped.fillna(0)"),
        ("ffill", "gapped.ffill()"),
        ("clip", "daily.clip(40, 60)"),
        ("clip_upper", "gapped.clip(upper=55)"),
        ("abs", "(daily - 50).abs()"),
        ("where", "daily.where(daily > 50)"),
        ("where_other", "daily.where(daily2 > 40, 0)"),
        ("where_monthly", "daily.where(monthly > 5e5, -1)"),
        ("np_log", "np.log(gapped)"),
        ("industry_rank", "daily.industry_rank()"),
        ("industry_rank_gapped", "(gapped * 2).industry_rank() > 0.5"),
        ("np_maximum_shifted", "np.maximum(daily, shifted)"),
        ("np_minimum_daily2", "np.minimum(daily, daily2)"),
        ("np_maximum_scalar", "np.maximum(gapped, 50)"),
        ("neg", "-daily"),
        ("invert", "~(bools > 0)"),
        ("gt_scalar", "daily > 50"),
        ("ne_gapped", "gapped != 50"),
        ("gt_daily2", "daily > daily2"),
        ("add_daily2", "daily + daily2"),
        ("div_shifted", "daily / shifted"),
        ("shifted_div", "shifted / daily"),
        ("gt_gapped", "daily > gapped"),
        ("and_monthly", "(daily > 50) & (monthly > 5e5)"),
        ("monthly_and_daily", "(monthly > 5e5) & (daily > 50)"),
        ("and_quarterly", "(daily > 50) & (quarterly > 0)"),
        ("or_quarterly", "(daily > 50) | (quarterly > 0)"),
        ("mul_bool_float", "(daily > 50) * daily"),
        ("select_mask", "daily[daily2 > 40]"),
        ("select_mask_monthly", "daily[monthly > 5e5]"),
        ("monthly_average3", "monthly.average(3)"),
        ("monthly_pct", "monthly.pct_change(2)"),
        ("quarterly_rolling2", "quarterly.rolling(2).sum()"),
        ("hold_until", "(daily > daily.average(5)).hold_until(daily < daily.average(10))"),
        (
            "hold_until_n2_rank",
            "(daily > daily.average(5)).hold_until(daily < daily.average(10), nstocks_limit=2, rank=daily)",
        ),
        (
            "hold_until_monthly_exit",
            "(daily > 55).hold_until(monthly < 5e5, nstocks_limit=3, rank=-daily)",
        ),
        // Stops read etl:adj_close, whose holes meet entries (finlab waits for the next priced
        // row for the entry price) and holdings (finlab's running max turns NaN: no more
        // trailing for that holding).
        (
            "hold_until_stop_loss_take_profit",
            "(daily > daily.average(5)).hold_until(daily < daily.average(20), stop_loss=0.03, take_profit=0.05)",
        ),
        (
            "hold_until_trail_stop",
            "(daily > daily.average(5)).hold_until(daily < daily.average(30), trail_stop=0.03)",
        ),
        (
            "hold_until_trail_activation",
            "(daily > daily.average(3)).hold_until(daily < daily.average(40), stop_loss=0.08, trail_stop=0.02, trail_stop_activation=0.02)",
        ),
        (
            "hold_until_stops_limit_rank",
            "(daily2 > daily2.average(5)).hold_until(daily2 < daily2.average(20), nstocks_limit=2, rank=shifted, stop_loss=0.04, trail_stop=0.05)",
        ),
    ];
    let mut cases: Vec<Case> = cases
        .iter()
        .chain(ELEMENTWISE_CASES)
        .chain(WINDOW_CASES)
        .chain(SERIES_CASES)
        .chain(LOC_CASES)
        .map(|(n, e)| Case {
            name: n.to_string(),
            expr: e.to_string(),
            py: None,
            setup: None,
        })
        .collect();
    cases.extend(indicator_cases());
    // pandas' Series has no `average`: the exporter writes finlab's rolling mean.
    cases.push(Case {
        name: "series_average".to_string(),
        expr: "daily - daily.mean(axis=1).average(3) + gapped.median(axis=1).average(4)"
            .to_string(),
        py: Some(
            "daily - daily.mean(axis=1).rolling(3, min_periods=1).mean() \
             + gapped.median(axis=1).rolling(4, min_periods=2).mean()"
                .to_string(),
        ),
        setup: None,
    });
    // numpy's `where` returns a bare array; the exporter writes pandas calls on cond's grid.
    for (n, c, x, y) in [
        ("np_where_scalars", "daily > 50", "1", "-1"),
        ("np_where_panel", "daily > 50", "daily", "-1"),
        ("np_where_aligned", "daily > daily2", "shifted", "monthly"),
    ] {
        cases.push(Case {
            name: n.to_string(),
            expr: format!("np.where({c}, {x}, {y})"),
            py: Some(format!(
                "({c}).astype(float).where(~({c}), {x}).where({c}, {y})"
            )),
            setup: None,
        });
    }
    cases
}

/// Every TA-Lib indicator on the raw candles `make_panels.py` writes (a stock listed late, one
/// halted for 25 bars, a constant one, one never priced, holes in the volume and the close),
/// with defaults and with other parameters: one case per output.
fn indicator_cases() -> Vec<Case> {
    let calls = [
        ("rsi", "\"RSI\""),
        ("atr1", "\"ATR\", timeperiod=1"),
        ("willr", "\"WILLR\", timeperiod=5"),
        ("sma", "\"SMA\", timeperiod=10"),
        ("sma1", "\"SMA\", timeperiod=1"),
        ("ema", "\"EMA\""),
        ("ema7", "\"EMA\", timeperiod=7"),
        ("wma", "\"WMA\", timeperiod=10"),
        ("wma1", "\"WMA\", timeperiod=1"),
        ("dema", "\"DEMA\", timeperiod=8"),
        ("tema", "\"TEMA\", timeperiod=6"),
        ("kama", "\"KAMA\""),
        ("kama10", "\"KAMA\", timeperiod=10"),
        ("adx", "\"ADX\""),
        ("adx5", "\"ADX\", timeperiod=5"),
        ("plus_di", "\"PLUS_DI\""),
        ("plus_di1", "\"PLUS_DI\", timeperiod=1"),
        ("minus_di", "\"MINUS_DI\""),
        ("minus_di1", "\"MINUS_DI\", timeperiod=1"),
        ("cci", "\"CCI\""),
        ("cci5", "\"CCI\", timeperiod=5"),
        ("mfi", "\"MFI\""),
        ("mfi5", "\"MFI\", timeperiod=5"),
        ("obv", "\"OBV\""),
        ("roc", "\"ROC\""),
        ("roc1", "\"ROC\", timeperiod=1"),
        ("mom", "\"MOM\", timeperiod=3"),
        ("stddev", "\"STDDEV\""),
        ("stddev10", "\"STDDEV\", timeperiod=10, nbdev=2.0"),
        ("natr", "\"NATR\""),
        ("natr1", "\"NATR\", timeperiod=1"),
        ("trange", "\"TRANGE\""),
        ("sar", "\"SAR\""),
        ("sar_fast", "\"SAR\", acceleration=0.05, maximum=0.1"),
        ("sar_capped", "\"SAR\", acceleration=0.3, maximum=0.2"),
        ("ultosc", "\"ULTOSC\""),
        (
            "ultosc_unsorted",
            "\"ULTOSC\", timeperiod1=14, timeperiod2=3, timeperiod3=5",
        ),
        ("cmo", "\"CMO\""),
        ("ppo", "\"PPO\""),
        ("ppo_swapped", "\"PPO\", fastperiod=26, slowperiod=12"),
        ("apo", "\"APO\", fastperiod=5, slowperiod=20"),
        ("bop", "\"BOP\""),
        ("ad", "\"AD\""),
        ("adosc", "\"ADOSC\""),
        ("adosc_swapped", "\"ADOSC\", fastperiod=5, slowperiod=3"),
    ];
    let mut cases: Vec<Case> = calls
        .iter()
        .map(|(n, call)| Case {
            name: format!("ind_{n}"),
            expr: format!("data.indicator({call})"),
            py: None,
            setup: None,
        })
        .collect();
    let multi = [
        ("aroon", "\"AROON\"", 2),
        ("aroon5", "\"AROON\", timeperiod=5", 2),
        (
            "macd",
            "\"MACD\", fastperiod=5, slowperiod=10, signalperiod=3",
            3,
        ),
        ("stoch", "\"STOCH\"", 2),
        ("bbands", "\"BBANDS\", timeperiod=5", 3),
    ];
    for (n, call, outputs) in multi {
        let names: Vec<String> = (0..outputs).map(|k| format!("out{k}")).collect();
        for k in 0..outputs {
            cases.push(Case {
                name: format!("ind_{n}_{k}"),
                expr: names[k].clone(),
                py: Some(format!("data.indicator({call})[{k}]")),
                setup: Some(format!("{} = data.indicator({call})", names.join(", "))),
            });
        }
    }
    cases
}

/// `.loc[start:end]` on panels, bool panels, lower-frequency panels and Series: partial dates,
/// open ends, bounds between rows, windows after the cut and the alignment of a cut panel.
const LOC_CASES: &[(&str, &str)] = &[
    ("loc_start", "daily.loc[\"2023-02\":]"),
    (
        "loc_range_windows",
        "daily.loc[\"2023-02-11\":\"2023-05\"].average(5)",
    ),
    (
        "loc_end_aligned",
        "daily.loc[:\"2023-04-15\"] > gapped.average(3)",
    ),
    (
        "loc_both_cut",
        "daily.loc[\"2023-03\":] - gapped.loc[:\"2023-05-20\"]",
    ),
    (
        "loc_bools",
        "(daily > 50).loc[\"2023-02\":\"2023-03\"] & (gapped < 60)",
    ),
    ("loc_monthly", "monthly.loc[\"2023-03\":].pct_change()"),
    (
        "loc_series",
        "daily.notna() * gapped.mean(axis=1).loc[\"2023-03-01\":].diff()",
    ),
    ("loc_whole_year", "quarterly.loc[\"2023\":\"2023\"]"),
];

/// Per-date Series: the reductions across stocks (shown in every cell through a bool panel,
/// which has no missing values), the time-series and element-wise operators on a Series,
/// Series with numbers and with Series on other dates, and Series broadcast into panels.
const SERIES_CASES: &[(&str, &str)] = &[
    ("row_mean", "daily.notna() * gapped.mean(axis=1)"),
    ("row_sum_bools", "daily.notna() * (gapped > 50).sum(axis=1)"),
    ("row_sum_gapped", "daily.notna() * gapped.sum(axis=1)"),
    ("row_max", "daily.notna() * gapped.max(axis=1)"),
    ("row_min_ties", "daily.notna() * ties.min(axis=1)"),
    ("row_std", "daily.notna() * gapped.std(axis=1)"),
    ("row_median_ties", "daily.notna() * ties.median(axis=1)"),
    ("row_median_gapped", "daily.notna() * gapped.median(axis=1)"),
    ("row_count", "daily.notna() * gapped.count(axis=1)"),
    ("row_mean_monthly", "monthly.notna() * monthly.mean(axis=\"columns\")"),
    (
        "series_windows",
        "daily.notna() * (gapped.mean(axis=1).shift(2).pct_change().rolling(3, min_periods=1).std() \
         + gapped.max(axis=1).ewm(span=4).mean() + gapped.count(axis=1).cumsum() \
         + gapped.min(axis=1).expanding(2).max() + daily.std(axis=1).rolling(4).median())",
    ),
    (
        "series_elementwise",
        "daily.notna() * (np.log(daily.mean(axis=1)).round(3) + np.sqrt(daily.std(axis=1)).clip(0, 5) \
         + np.maximum(daily.min(axis=1), 45) + daily.max(axis=1).pow(0.5) \
         + np.sign(daily.mean(axis=1).diff()).fillna(0) + np.exp(-daily.std(axis=1) / 10) \
         + gapped.mean(axis=1).ffill().abs())",
    ),
    ("series_gt_number", "(daily > 50) & (daily.mean(axis=1) > 50)"),
    ("series_number_lt", "(daily > 50) & (50 < daily.mean(axis=1))"),
    ("series_vs_series", "(daily > 45) & (daily.mean(axis=1) > daily.mean(axis=1).shift(1))"),
    (
        "series_monthly_filter",
        "(daily > 50) & (monthly.mean(axis=1) > monthly.mean(axis=1).shift(1))",
    ),
    (
        "series_arith_other_dates",
        "daily.notna() * (daily.mean(axis=1) - monthly.mean(axis=1) * 1e-4)",
    ),
    (
        "series_or_other_dates",
        "(daily > 0) & ((daily.mean(axis=1) > 50) | (monthly.mean(axis=1) > 5e5))",
    ),
    (
        "series_or_other_dates_flipped",
        "(daily > 0) & ((monthly.mean(axis=1) > 5e5) | (daily.mean(axis=1) > 50))",
    ),
    (
        "series_and_other_dates",
        "(daily > 0) | ((monthly.mean(axis=1) > 5e5) & (daily.mean(axis=1) > 50))",
    ),
    ("panel_gt_series", "daily > daily2.median(axis=1)"),
    // pandas refuses to compare Series on different dates; so does the guest.
    (
        "series_compare_other_dates",
        "(daily > 0) & (daily.mean(axis=1) > monthly.mean(axis=1))",
    ),
    ("panel_minus_neg_series", "daily + -daily.mean(axis=1)"),
    ("invert_series", "(daily > 0) & ~(daily.mean(axis=1) > 50)"),
    ("panel_times_bool_series", "daily * (daily.mean(axis=1) > 50)"),
    ("series_astype", "daily.notna() * (daily.mean(axis=1) > 50).astype(int)"),
    ("series_isna", "(daily > 0) & gapped.min(axis=1).isna() | gapped.max(axis=1).notna()"),
    ("shifted_vs_series", "shifted / daily.mean(axis=1)"),
];

/// Exponentially weighted and expanding windows, `cumsum`, pandas 3's `pct_change`.
const WINDOW_CASES: &[(&str, &str)] = &[
    ("ewm_span_mean", "daily.ewm(span=5).mean()"),
    ("ewm_com_noadjust", "gapped.ewm(com=2, adjust=False).mean()"),
    (
        "ewm_halflife_minp",
        "gapped.ewm(halflife=3, min_periods=4).mean()",
    ),
    (
        "ewm_alpha_ignore_na",
        "gapped.ewm(alpha=0.3, ignore_na=True).mean()",
    ),
    (
        "ewm_noadjust_ignore_na",
        "gapped.ewm(span=4, adjust=False, ignore_na=True).mean()",
    ),
    ("ewm_bool", "(daily > 50).ewm(span=3).mean()"),
    ("ewm_monthly", "monthly.ewm(span=3).mean()"),
    ("ewm_std", "daily.ewm(span=6).std()"),
    (
        "ewm_std_noadjust",
        "gapped.ewm(com=1, adjust=False, ignore_na=True).std()",
    ),
    (
        "ewm_std_halflife",
        "daily.pct_change().ewm(halflife=4, min_periods=3).std()",
    ),
    ("ewm_std_constant", "(daily * 0 + 5).ewm(span=3).std()"),
    ("expanding_mean", "gapped.expanding().mean()"),
    ("expanding_max", "daily.expanding(5).max()"),
    ("expanding_min", "gapped.expanding(3).min()"),
    ("expanding_sum", "daily.expanding().sum()"),
    ("expanding_monthly", "monthly.expanding(2).mean()"),
    ("cumsum", "gapped.cumsum()"),
    ("cumsum_bool", "(daily > 50).cumsum()"),
    (
        "pct_change_fill_none",
        "gapped.pct_change(2, fill_method=None)",
    ),
];

/// The element-wise numpy and pandas functions and `**`.
const ELEMENTWISE_CASES: &[(&str, &str)] = &[
    ("pow_scalar", "daily ** 2"),
    ("pow_fraction_gapped", "(gapped - 50) ** 0.5"),
    ("rpow", "2 ** (daily / 50)"),
    ("pow_panels", "daily ** (shifted / 100)"),
    ("pow_method", "gapped.pow(3)"),
    ("pow_method_panel", "daily.pow(shifted / 100)"),
    ("neg_pow", "-daily ** 2"),
    // numpy computes `** 0.5` as sqrt (NaN for -inf, -0.0 kept), `** 0` as ones (also for
    // NaN), `** -1` as a reciprocal.
    ("pow_half_neg_inf", "(-(daily / 0)) ** 0.5"),
    ("pow_method_half_neg_inf", "(-(daily / 0)).pow(0.5)"),
    ("pow_zero_missing", "gapped ** 0"),
    ("pow_reciprocal", "(daily - 50) ** -1"),
    ("np_sqrt", "np.sqrt(daily - 50)"),
    ("np_exp", "np.exp(gapped / 50)"),
    ("np_sign", "np.sign(daily.diff())"),
    ("astype_int_bool", "(daily > 50).astype(int)"),
    ("astype_float_bool", "(gapped > 50).astype(float)"),
    ("astype_bool", "gapped.astype(bool)"),
    ("astype_int_filled", "(gapped.fillna(-7) / 3).astype(int)"),
    ("astype_int_missing", "gapped.astype(int)"),
    ("isna", "gapped.isna()"),
    ("notna", "gapped.notna()"),
    ("isna_bool", "(daily > 50).isna()"),
    ("round2", "(daily / 7).round(2)"),
    ("round_neg", "(daily * 13).round(-1)"),
    ("round0", "(gapped / 4).round()"),
];

/// Random compositions from a small grammar of float and bool expressions.
struct Gen {
    rng: Rng,
}

impl Gen {
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let i = (self.rng.uniform() * items.len() as f64) as usize;
        items[i.min(items.len() - 1)]
    }

    fn int(&mut self, lo: u32, hi: u32) -> u32 {
        lo + ((self.rng.uniform() * f64::from(hi - lo + 1)) as u32).min(hi - lo)
    }

    fn float(&mut self, depth: u32) -> String {
        let p = self.pick(&["daily", "daily2", "gapped", "shifted", "monthly", "ties"]);
        let w = self.int(2, 6);
        let atom = match self.int(0, 13) {
            0 => p.to_string(),
            1 => format!("{p}.average({w})"),
            2 => format!(
                "{p}.rolling({w}).{}()",
                self.pick(&["mean", "max", "min", "sum", "std", "median"])
            ),
            3 => format!("{p}.shift({})", self.int(1, 3)),
            4 => format!("{p}.pct_change({})", self.int(1, 3)),
            5 => format!("{p}.diff({})", self.int(1, 3)),
            6 => format!("{p}.rank(axis=1, pct=True)"),
            7 => format!("{p}.fillna(0)"),
            8 => format!("{p}.ffill()"),
            9 => format!("{p}.clip({}, {})", self.int(30, 45), self.int(55, 70)),
            10 => format!("({p} - 50).abs()"),
            11 => format!("{p}.ewm(span={w}).mean()"),
            12 => format!(
                "{p}.expanding({}).{}()",
                self.int(1, 3),
                self.pick(&["mean", "max", "min", "sum"])
            ),
            _ => format!("{p}.rolling({w}, min_periods={}).mean()", self.int(1, w)),
        };
        if depth > 0 && self.int(0, 2) == 0 {
            let op = self.pick(&["+", "-", "*", "/"]);
            let rhs = self.float(depth - 1);
            format!("({atom} {op} {rhs})")
        } else {
            atom
        }
    }

    fn boolean(&mut self, depth: u32) -> String {
        let b = match self.int(0, 5) {
            0 | 1 => {
                let l = self.float(1);
                let r = self.float(1);
                format!("({l} {} {r})", self.pick(&[">", "<", ">=", "<="]))
            }
            2 => {
                let l = self.float(1);
                format!("({l} > {})", self.int(0, 60))
            }
            3 => format!("{}.rise({})", self.float(0), self.int(1, 3)),
            4 => format!("{}.fall({})", self.float(0), self.int(1, 3)),
            _ => {
                let inner = self.float(0);
                format!(
                    "({inner} > 45).sustain({}, {})",
                    self.int(3, 5),
                    self.int(1, 3)
                )
            }
        };
        if depth > 0 && self.int(0, 1) == 0 {
            let op = self.pick(&["&", "|"]);
            let rhs = self.boolean(depth - 1);
            format!("({b} {op} {rhs})")
        } else if self.int(0, 4) == 0 {
            format!("~{b}")
        } else {
            b
        }
    }

    fn case(&mut self, i: usize) -> Case {
        let expr = match self.int(0, 5) {
            // No `nstocks_limit`: finlab breaks ties at the limit with numpy's unstable sort.
            5 => format!(
                "{}.hold_until({}, rank={})",
                self.boolean(1),
                self.boolean(1),
                self.float(1)
            ),
            0 => self.boolean(2),
            1 => format!("{}.is_largest({})", self.float(2), self.int(1, 4)),
            2 => format!("{}[{}]", self.float(1), self.boolean(1)),
            3 => format!(
                "{}[{}].is_smallest({})",
                self.float(1),
                self.boolean(1),
                self.int(1, 3)
            ),
            _ => self.float(2),
        };
        Case {
            name: format!("random{i:03}"),
            expr,
            py: None,
            setup: None,
        }
    }
}

fn strategy(expr: &str, setup: Option<&str>) -> String {
    let mut s = String::from(
        "from finlab import data\nfrom finlab.backtest import sim\nimport numpy as np\n",
    );
    for p in PANELS {
        if expr.contains(p) {
            let _ = writeln!(s, "{p} = data.get(\"t:{p}\")");
        }
    }
    if let Some(setup) = setup {
        let _ = writeln!(s, "{setup}");
    }
    let _ = writeln!(s, "sim({expr})");
    s
}

/// Compares two panels: the largest relative difference of a cell when they match, else what
/// differs.
fn difference(ours: &PanelData, theirs: &PanelData, absolute: f64) -> Result<f64, String> {
    if ours.dates != theirs.dates {
        return Err(format!(
            "dates differ: ours {} rows {:?}..{:?}, finlab {} rows {:?}..{:?}",
            ours.dates.len(),
            ours.dates.first(),
            ours.dates.last(),
            theirs.dates.len(),
            theirs.dates.first(),
            theirs.dates.last()
        ));
    }
    if ours.columns != theirs.columns {
        return Err(format!(
            "stocks differ: ours {:?}, finlab {:?}",
            ours.columns, theirs.columns
        ));
    }
    let n = ours.dates.len();
    let mut largest = 0.0f64;
    for (i, (a, b)) in ours.values.iter().zip(&theirs.values).enumerate() {
        let same = (a.is_nan() && b.is_nan())
            || a == b
            || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
            || (a - b).abs() <= absolute;
        if !same {
            return Err(format!(
                "stock {} on day {}: ours {a}, finlab {b}",
                ours.columns[i / n.max(1)],
                ours.dates[i % n.max(1)]
            ));
        }
        if a != b && !a.is_nan() && (a - b).abs() > absolute {
            largest = largest.max((a - b).abs() / a.abs().max(b.abs()));
        }
    }
    Ok(largest)
}

fn run_python(python: &Path, args: &[&Path]) {
    let out = Command::new(python)
        .args(args)
        .output()
        .expect("starting the oracle python");
    assert!(
        out.status.success(),
        "{:?} failed:\n{}\n{}",
        args,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn operators_and_random_compositions_match_finlab() {
    if !common::oracle_enabled() {
        eprintln!("finlab oracle skipped: DSL_FINLAB_ORACLE=0");
        return;
    }
    let python = common::oracle_python();
    let work = tempfile::tempdir().expect("temp dir");
    let panels = work.path().join("panels");
    let results = work.path().join("results");
    let scripts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/finlab");
    run_python(
        &python,
        &[
            &scripts.join("make_panels.py"),
            &panels,
            Path::new("--seed"),
            Path::new("1"),
        ],
    );

    let mut cases = operator_cases();
    // `DSL_PARITY_CASES` / `DSL_PARITY_SEED` widen the random search (default: 80 cases, seed 11).
    let count = std::env::var("DSL_PARITY_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(80);
    let seed = std::env::var("DSL_PARITY_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(11);
    let mut gen = Gen {
        rng: Rng::new(seed, "parity"),
    };
    cases.extend((0..count).map(|i| gen.case(i)));

    // The case list for the oracle: every panel bound to its name.
    let inputs: BTreeMap<&str, String> = PANELS
        .iter()
        .map(|p| (*p, format!("{p}.feather")))
        .collect();
    let json: Vec<serde_json::Value> = cases
        .iter()
        .map(|c| {
            let expr = c.py.as_ref().unwrap_or(&c.expr);
            serde_json::json!({"name": c.name, "expr": expr, "inputs": inputs})
        })
        .collect();
    let case_file = panels.join("parity_cases.json");
    std::fs::write(&case_file, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
    run_python(
        &python,
        &[
            &scripts.join("ops_oracle.py"),
            &case_file,
            &results,
            Path::new("--data-dir"),
            &panels,
        ],
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(results.join("summary.json")).unwrap()).unwrap();

    let sandbox = Sandbox::new(Limits::default(), Some(&common::cache_dir())).expect("sandbox");
    let mut failures = Vec::new();
    let (mut compared, mut finlab_raised) = (0, 0);
    let mut largest = (0.0f64, String::new());
    for case in &cases {
        let raised = summary
            .get(&case.name)
            .and_then(|s| s.get("error"))
            .is_some_and(|e| !e.is_null());
        let source = strategy(&case.expr, case.setup.as_deref());
        let checked = compile(&source, &CheckContext::default());
        let Some(program) = checked.program else {
            failures.push(format!(
                "{}: `{}` refused by the checker: {:?}",
                case.name,
                case.expr,
                checked
                    .diagnostics
                    .iter()
                    .map(|d| d.message.clone())
                    .collect::<Vec<_>>()
            ));
            continue;
        };
        let plan = lower(&program).plan;
        let data: Vec<PanelData> = plan
            .inputs
            .iter()
            .map(|k| match k.strip_prefix("t:") {
                Some(name) => read_wide(&panels.join(format!("{name}.feather"))).expect("panel"),
                None => dsl_engine::data::DataDir::open(&panels)
                    .and_then(|d| d.load(k))
                    .expect("reference dataset"),
            })
            .collect();
        let refs: Vec<&PanelData> = data.iter().collect();
        let ours = sandbox.evaluate(&plan, &refs);
        if raised {
            // finlab refuses the expression: we must not silently produce something else.
            finlab_raised += 1;
            if let Ok(ev) = ours {
                failures.push(format!(
                    "{}: finlab raises on `{}` ({}), but we evaluate it ({} rows)",
                    case.name,
                    case.expr,
                    summary[&case.name]["error"],
                    ev.position.dates().len()
                ));
            }
            continue;
        }
        let ours = match ours {
            Ok(ev) => ev.position.into_weights(),
            Err(e) => {
                failures.push(format!(
                    "{}: `{}` failed in the sandbox: {e}",
                    case.name, case.expr
                ));
                continue;
            }
        };
        let theirs = match read_wide(&results.join(format!("{}.feather", case.name))) {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("{}: no finlab result: {e}", case.name));
                continue;
            }
        };
        compared += 1;
        // MFI's running money-flow sums drift by a few ulps in another order than TA-Lib's:
        // where the exact value is 0 the two may differ by ~1e-13 on its 0..100 scale.
        let absolute = if case.name.starts_with("ind_mfi") {
            1e-11
        } else {
            0.0
        };
        match difference(&ours, &theirs, absolute) {
            Ok(d) if d > largest.0 => largest = (d, case.name.clone()),
            Ok(_) => {}
            Err(d) => failures.push(format!("{}: `{}`: {d}", case.name, case.expr)),
        }
    }
    eprintln!(
        "parity: {compared} cases compared with finlab, {finlab_raised} refused by finlab, {} failures; \
         largest relative difference {:e} ({})",
        failures.len(),
        largest.0,
        largest.1
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from finlab:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
