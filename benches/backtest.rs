//! Backtester speed on a full-size market (1,900 stocks × ~4,700 sessions, 2007 → 2025,
//! generated in-process so the figures do not depend on a data cache): a monthly top-20
//! rebalance (target < 50 ms) and daily signals with stops (target < 300 ms), the latter twice —
//! a daily top-50 rotation, and a stress case holding about half the market with ~500k trades.
//! Run with `cargo bench --bench backtest [-- monthly|rotation|stress]`; prints the median of
//! several runs and a fingerprint of the results.

// Test and benchmark code: an unwrap fails the run, and printing is the report.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

use std::time::{Duration, Instant};

use dsl_engine::backtest::{simulate, Cell, Frequency, Market, Resample, SimOptions, SimResult};
use dsl_engine::util::rng::Rng;
use dsl_runtime::fnv::Fnv1a;
use dsl_runtime::wire::PanelData;

const STOCKS: usize = 1900;
const BARS: usize = 4700;

fn market() -> PanelData {
    let mut values = Vec::with_capacity(STOCKS * BARS);
    for s in 0..STOCKS {
        let mut rng = Rng::new(7, &format!("bench-{s}"));
        let mut p = 20.0 + 100.0 * rng.uniform();
        let listed = if s % 3 == 0 {
            (rng.uniform() * 2000.0) as usize
        } else {
            0
        };
        for t in 0..BARS {
            p *= 1.0 + 0.02 * rng.normal();
            values.push(if t < listed { f64::NAN } else { p });
        }
    }
    // weekdays from 2007-01-02
    let start = dsl_engine::calendar::days_from_civil(2007, 1, 2);
    let dates: Vec<i32> = (start..)
        .filter(|d| dsl_engine::calendar::weekday(*d) < 5)
        .take(BARS)
        .collect();
    PanelData {
        name: "etl:adj_close".into(),
        dates,
        columns: (0..STOCKS).map(|s| format!("{}", 1101 + s)).collect(),
        values,
    }
}

/// Bool panel: per date the `n` stocks with the best `lookback`-bar return (among `allowed`).
fn top(close: &PanelData, n: usize, lookback: usize, allowed: Option<&PanelData>) -> PanelData {
    let mut values = vec![0.0; STOCKS * BARS];
    let mut score: Vec<(f64, usize)> = Vec::with_capacity(STOCKS);
    for t in lookback..BARS {
        score.clear();
        for s in 0..STOCKS {
            let r = close.get(t, s) / close.get(t - lookback, s);
            if r.is_finite() && allowed.is_none_or(|a| a.get(t, s) > 0.0) {
                score.push((r, s));
            }
        }
        score.sort_by(|a, b| b.0.total_cmp(&a.0));
        for &(_, s) in score.iter().take(n) {
            values[s * BARS + t] = 1.0;
        }
    }
    PanelData {
        values,
        ..close.clone()
    }
}

/// Bool panel: close above its 20-bar mean (daily signals).
fn above_mean(close: &PanelData) -> PanelData {
    let mut values = vec![0.0; STOCKS * BARS];
    for s in 0..STOCKS {
        let col = close.column(s);
        let mut sum = 0.0;
        for t in 0..BARS {
            sum += if col[t].is_nan() { 0.0 } else { col[t] };
            if t >= 20 {
                sum -= if col[t - 20].is_nan() {
                    0.0
                } else {
                    col[t - 20]
                };
                if col[t] > sum / 20.0 {
                    values[s * BARS + t] = 1.0;
                }
            }
        }
    }
    PanelData {
        values,
        ..close.clone()
    }
}

/// The same panel as flags (what a boolean position arrives as from the sandbox).
fn flags(p: &PanelData) -> PanelData<Vec<u8>> {
    PanelData {
        name: p.name.clone(),
        dates: p.dates.clone(),
        columns: p.columns.clone(),
        values: p.values.iter().map(|&v| u8::from(v != 0.0)).collect(),
    }
}

/// FNV-1a over the bits of the curve, the trades and the exposure: a change in any result shows
/// up as a different fingerprint (speed work must leave it unchanged).
fn fingerprint(r: &SimResult) -> u64 {
    let mut h = Fnv1a::new();
    let mut eat = |x: u64| h.write(&x.to_le_bytes());
    for &(d, v) in &r.creturn {
        eat(d as u64);
        eat(v.to_bits());
    }
    for t in &r.trades {
        for b in t.stock.bytes() {
            eat(u64::from(b));
        }
        for d in [t.entry_sig_date, t.entry_date] {
            eat(d as u64);
        }
        for d in [t.exit_sig_date, t.exit_date] {
            eat(d.map_or(u64::MAX, |d| d as u64));
        }
        for x in [t.weight, t.ret, t.mae, t.gmfe, t.bmfe, t.mdd] {
            eat(x.to_bits());
        }
        eat(t.period as u64);
        eat(t.pdays as u64);
        eat(t.exit_reason as u64);
    }
    let e = &r.exposure;
    for x in [e.avg_exposure, e.avg_n_stock, e.traded] {
        eat(x.to_bits());
    }
    eat(e.max_n_stock as u64);
    eat(r.rebalances as u64);
    h.finish()
}

fn median_time(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

/// Times `position` under `opts` and prints the median, the trade count and the fingerprint.
fn case<T: Cell>(
    label: &str,
    runs: usize,
    target_ms: u32,
    position: &PanelData<Vec<T>>,
    market: &Market,
    opts: &SimOptions,
) {
    let t = median_time(runs, || {
        simulate(position, market, opts).unwrap();
    });
    let r = simulate(position, market, opts).unwrap();
    println!(
        "{label}, {STOCKS} stocks x {BARS} bars: {:.1} ms (target < {target_ms} ms; {} trades, fingerprint {:016x})",
        t.as_secs_f64() * 1e3,
        r.trades.len(),
        fingerprint(&r)
    );
}

/// `cargo bench --bench backtest [-- FILTER]`: runs the cases whose name contains FILTER
/// (`monthly`, `rotation`, `stress`), all by default.
fn main() {
    let filter = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .unwrap_or_default();
    let wanted = |name: &str| name.contains(filter.as_str());
    let close = market();
    let market = Market {
        close: &close,
        open: None,
        high: None,
        low: None,
    };
    if wanted("monthly") {
        let monthly = top(&close, 20, 60, None);
        let opts = SimOptions {
            resample: Resample::Every(Frequency::parse("M").unwrap()),
            ..SimOptions::default()
        };
        case("monthly top-20 rebalance", 7, 50, &monthly, &market, &opts);
        let label = "monthly top-20 rebalance, as flags";
        case(label, 7, 50, &flags(&monthly), &market, &opts);
    }
    let opts = SimOptions {
        stop_loss: Some(0.1),
        take_profit: Some(0.2),
        ..SimOptions::default()
    };
    let above = above_mean(&close);
    if wanted("rotation") {
        let rotation = top(&close, 50, 20, Some(&above));
        case(
            "daily top-50 rotation with stops",
            5,
            300,
            &rotation,
            &market,
            &opts,
        );
        let label = "daily top-50 rotation with stops, as flags";
        case(label, 5, 300, &flags(&rotation), &market, &opts);
    }
    if wanted("stress") {
        let label = "daily signals with stops, half the market held (stress)";
        case(label, 5, 300, &above, &market, &opts);
    }
}
