//! Shared helpers for the integration tests: a module cache and a synthetic data directory that
//! persist in cargo's per-target temp dir, so only the first test run pays for compiling the guest
//! and generating the data.

// Test and benchmark code: an unwrap fails the run, and printing is the report.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

use dsl_engine::data::synth::{SynthConfig, GENERATOR, VERSION};
use dsl_engine::data::{self, DataDir};

/// The module cache shared by all integration tests.
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("module-cache")
}

/// The small test market (`SynthConfig::test()`: 300 stocks × ≈ 1,210 sessions), generated once
/// into the target temp dir (the directory name carries the generator version).
pub fn data_dir() -> DataDir {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("synthetic-data-{GENERATOR}-v{VERSION}-test"));
    data::ensure(&dir, &SynthConfig::test(), &mut |_| {}).expect("generating synthetic data")
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The finlab oracle venv's python (`tests/finlab/setup.sh`, pinned finlab 2.2.20), created on
/// first use under the target temp dir and reused afterwards. Creating it needs PyPI, which CI
/// has; without it the calling test fails with the setup's message.
pub fn oracle_python() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("finlab-oracle-venv");
    let setup = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/finlab/setup.sh");
    let out = Command::new("bash")
        .arg(&setup)
        .arg(&venv)
        .output()
        .expect("running bash tests/finlab/setup.sh");
    if !out.status.success() {
        panic!(
            "the finlab oracle venv could not be set up ({} {}), so finlab's results cannot \
             be computed. It needs python3 and network access to PyPI (exit 3 = PyPI \
             unreachable). Set DSL_FINLAB_ORACLE=0 to skip the oracle tests offline.\n{}",
            setup.display(),
            venv.display(),
            text(&out)
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let python = PathBuf::from(stdout.lines().last().unwrap_or_default().trim());
    assert!(
        python.is_file(),
        "setup.sh printed no python path:\n{}",
        text(&out)
    );
    python
}

/// False when `DSL_FINLAB_ORACLE=0` (offline work only; CI never sets it).
pub fn oracle_enabled() -> bool {
    std::env::var("DSL_FINLAB_ORACLE").map_or(true, |v| v != "0")
}

/// Strategies over the operators no example uses (numpy/pandas element-wise functions,
/// exponential and expanding windows, the TA-Lib indicators, per-date Series): the look-ahead and guest-bits
/// tests run them.
pub const MORE_OPERATORS: &[&str] = &[
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
    "c = data.get(\"etl:adj_close\")\nm = c.mean(axis=1).loc[\"2021-03\":]\n\
     early = c.loc[:\"2024-06\"].average(20)\n\
     sim((c / early).is_largest(20).loc[\"2021-09\":] & (m > m.average(60)), resample=\"M\")\n",
];

/// `(path, text)` of every `examples/*.strat`, sorted by file name.
pub fn examples() -> Vec<(String, String)> {
    let mut files: Vec<_> = std::fs::read_dir("examples")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "strat"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| (p.display().to_string(), std::fs::read_to_string(p).unwrap()))
        .collect()
}
