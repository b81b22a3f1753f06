//! No look-ahead: for every example strategy, the position up to a date `d` is the same whether
//! or not the data after `d` exists. Each input panel is cut after a random `d` (proptest picks
//! the dates), the strategy is evaluated in the sandbox on the cut data and compared with the
//! full evaluation on every row up to `d`.

// Test and benchmark code: an unwrap fails the run, and printing is the report.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::sync::OnceLock;

use dsl_engine::dsl::{compile, CheckContext};
use dsl_engine::plan::{lower, Plan};
use dsl_engine::sandbox::{Limits, Sandbox};
use dsl_runtime::wire::PanelData;
use proptest::prelude::*;

struct Example {
    name: String,
    plan: Plan,
    inputs: Vec<PanelData>,
    full: PanelData,
}

/// Strategies over the operators no example uses (element-wise numpy/pandas functions,
/// exponential and expanding windows, more indicators).
const MORE_OPERATORS: &[&str] = &[
    "import numpy as np\nc = data.get(\"etl:adj_close\")\nr = c.pct_change()\n\
     x = np.sqrt(r.abs()) * np.exp(-r * 10) + c ** 0.5 - 2 ** (r * 3) + c.pow(r)\n\
     y = np.where(c > c.average(20), x, np.sign(r) * (c / 7).round(2))\n\
     z = y + (c > 30).astype(int) * r.isna() - r.notna().astype(float)\n\
     sim(z.is_largest(20))\n",
    "c = data.get(\"etl:adj_close\")\nr = c.pct_change(fill_method=None)\n\
     e = c.ewm(span=12).mean() - c.ewm(halflife=5.5, adjust=False).mean()\n\
     v = r.ewm(com=9, min_periods=20, ignore_na=True).std() + r.ewm(alpha=0.05).std()\n\
     x = c.expanding(20).max() / c - c.expanding().min() / c + r.expanding(5).mean()\n\
     sim(((e / v) + x - r.expanding().sum() + (r > 0).cumsum() * 1e-3).is_largest(30))\n",
    "a = data.indicator(\"SMA\", timeperiod=20) / data.indicator(\"EMA\") + data.indicator(\"KAMA\") \
     / data.indicator(\"TEMA\", timeperiod=10) - data.indicator(\"WMA\") / data.indicator(\"DEMA\")\n\
     b = data.indicator(\"ADX\") + data.indicator(\"PLUS_DI\") - data.indicator(\"MINUS_DI\") \
     + data.indicator(\"CCI\") + data.indicator(\"MFI\") + data.indicator(\"ULTOSC\") + data.indicator(\"CMO\")\n\
     d, u = data.indicator(\"AROON\")\n\
     c = data.get(\"price:收盤價\")\n\
     e = (c > data.indicator(\"SAR\")) * (u - d) + data.indicator(\"ROC\") + data.indicator(\"MOM\") \
     + data.indicator(\"STDDEV\") + data.indicator(\"NATR\") + data.indicator(\"TRANGE\") + data.indicator(\"PPO\") \
     + data.indicator(\"APO\") + data.indicator(\"BOP\") + data.indicator(\"OBV\") * 1e-9 + data.indicator(\"AD\") * 1e-9 \
     + data.indicator(\"ADOSC\") * 1e-6\n\
     sim((a + b + e).is_largest(20))\n",
    "import numpy as np\nc = data.get(\"etl:adj_close\")\nr = c.pct_change(fill_method=None)\n\
     m = c.mean(axis=1)\n\
     s = c.std(axis=1) / c.median(axis=1) + c.max(axis=1) / c.min(axis=1) - c.count(axis=1) * 1e-3 + (r > 0).sum(axis=1) / c.count(axis=1)\n\
     t = m.pct_change(fill_method=None).rolling(20).std() + m.diff(5).abs().rolling(10).median() / m.shift(1)\n\
     u = np.log(m).ewm(span=10).std().fillna(0) + np.sqrt(s.clip(0, 100)).expanding(5).max() - s.ffill().cumsum() * 1e-6\n\
     v = np.maximum(m.rolling(60, min_periods=20).max() / m, 1.01) - np.minimum(s.round(2), 3) + np.sign(t).astype(float) + np.exp(-t.abs()) + s.pow(2) * 1e-3\n\
     ok = (m > m.average(60)) & ~(t > t.expanding().mean()) | (u.isna() & v.notna())\n\
     sim((r * v + c / m * u)[c > c.quantile_row(0.3)].is_largest(20) & ok & (v > 0))\n",
    "c = data.get(\"etl:adj_close\")\nm = c.mean(axis=1)\n\
     sim(c.rank(axis=1, pct=True) * (m > m.average(20)) - c / m * 1e-9)\n",
    "close = data.get(\"price:收盤價\")\nadj = data.get(\"etl:adj_close\")\n\
     market = close.mean(axis=1)\nmarket_ok = market > market.average(60)\n\
     breadth = (adj > adj.average(20)).sum(axis=1) / adj.count(axis=1)\n\
     calm = breadth.ewm(span=10).mean() < 0.7\n\
     sim((adj / adj.shift(60)).is_largest(10) & market_ok & calm, resample=\"M\")\n",
];

fn sandbox() -> &'static Sandbox {
    static SB: OnceLock<Sandbox> = OnceLock::new();
    SB.get_or_init(|| Sandbox::new(Limits::default(), Some(&common::cache_dir())).expect("sandbox"))
}

fn examples() -> &'static [Example] {
    static EX: OnceLock<Vec<Example>> = OnceLock::new();
    EX.get_or_init(|| {
        let data = common::data_dir();
        let mut files: Vec<_> = std::fs::read_dir("examples")
            .expect("examples/")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        files.sort();
        let sources = files
            .into_iter()
            .map(|path| {
                let src = std::fs::read_to_string(&path).expect("example");
                (path.display().to_string(), src)
            })
            .chain(
                MORE_OPERATORS
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (format!("MORE_OPERATORS[{i}]"), s.to_string())),
            );
        sources
            .map(|(name, src)| {
                let program = compile(&src, &CheckContext::default())
                    .program
                    .expect("examples are valid");
                let plan = lower(&program).plan;
                let inputs =
                    dsl_engine::pipeline::load_inputs_owned(&plan, &data).expect("dataset");
                let refs: Vec<&PanelData> = inputs.iter().collect();
                let full = sandbox()
                    .evaluate(&plan, &refs)
                    .expect("evaluation")
                    .position
                    .into_weights();
                Example {
                    name,
                    plan,
                    inputs,
                    full,
                }
            })
            .collect()
    })
}

/// `p` without the rows dated after `cut`.
fn truncate(p: &PanelData, cut: i32) -> PanelData {
    let rows = p.dates.partition_point(|d| *d <= cut);
    let n = p.dates.len();
    let mut values = Vec::with_capacity(rows * p.columns.len());
    for c in 0..p.columns.len() {
        values.extend_from_slice(&p.values[c * n..c * n + rows]);
    }
    PanelData {
        name: p.name.clone(),
        dates: p.dates[..rows].to_vec(),
        columns: p.columns.clone(),
        values,
    }
}

/// Compares the cut evaluation with the full one on the cut's rows; `Err` names the first
/// difference.
fn same_prefix(full: &PanelData, cut: &PanelData) -> Result<(), String> {
    let rows = cut.dates.len();
    if full.dates[..rows] != cut.dates[..] {
        return Err("the cut evaluation has other dates".into());
    }
    let col_of: std::collections::HashMap<&str, usize> = full
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    let (nf, nc) = (full.dates.len(), rows);
    for (j, name) in cut.columns.iter().enumerate() {
        let Some(&i) = col_of.get(name.as_str()) else {
            // A stock the full run does not have must hold nothing in the cut run.
            if cut.values[j * nc..(j + 1) * nc]
                .iter()
                .any(|v| *v != 0.0 && !v.is_nan())
            {
                return Err(format!("stock {name} appears only in the cut evaluation"));
            }
            continue;
        };
        for r in 0..rows {
            let (a, b) = (full.values[i * nf + r], cut.values[j * nc + r]);
            if !(a == b || (a.is_nan() && b.is_nan())) {
                return Err(format!(
                    "stock {name} on day {}: {a} with all data, {b} without the future",
                    cut.dates[r]
                ));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn positions_never_depend_on_later_data(at in 0.2f64..0.95) {
        for ex in examples() {
            let dates = &ex.full.dates;
            let cut = dates[((dates.len() - 1) as f64 * at) as usize];
            let inputs: Vec<PanelData> = ex.inputs.iter().map(|p| truncate(p, cut)).collect();
            let refs: Vec<&PanelData> = inputs.iter().collect();
            let ev = sandbox().evaluate(&ex.plan, &refs).expect("evaluation on cut data");
            if let Err(e) = same_prefix(&ex.full, &ev.position.into_weights()) {
                return Err(TestCaseError::fail(format!("{}: cut after day {cut}: {e}", ex.name)));
            }
        }
    }
}
