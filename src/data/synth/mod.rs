//! The synthetic Taiwan market (`tw-synth`): the real common-stock directory, industries and
//! session calendar (`data::reference`) with synthetic prices, volumes, corporate actions,
//! fundamentals, chips and a cap-weighted benchmark, calibrated to `docs/data.md` §4.5.
//!
//! Deterministic: own PRNG with one substream per stock (labelled by its code), pure-Rust `libm`
//! for every transcendental, stocks written into fixed columns and reductions in code order, so a
//! seed gives bit-identical panels on every machine and thread count ([`digest`] guards it).
//! Small planted premia ([`Premia`]) give a search something real but weak to find; `--null`
//! removes them.

mod flows;
pub mod fundamentals;
mod insiders;
mod keys;
pub mod model;
pub mod report;
pub mod statements;
pub mod stock;

use std::sync::atomic::{AtomicUsize, Ordering};

use dsl_runtime::fnv::{fnv1a, Fnv1a};
use dsl_runtime::wire::PanelData;

use crate::calendar::days_from_civil;

use super::reference::{self, Board, Security};
use super::DataError;
use crate::util::rng::Rng;
pub use keys::{
    daily, quarterly, BENCHMARK, DAILY_KEYS, MONTHLY_KEYS, PRICE_INDEX, PRICE_INDEX_OHL,
    QUARTERLY_KEYS,
};
use model::Grid;

/// Generator name recorded in the manifest and every file's metadata.
pub const GENERATOR: &str = "tw-synth";
/// Generator version (part of the default directory name): bump it whenever the output for a
/// seed changes, so caches of an older generator are not reused.
pub const VERSION: u32 = 1;

/// Digest of the default market ([`SynthConfig::default`]); checked when it is materialised, so
/// a platform that computes different bits is caught on first use.
pub const DEFAULT_DIGEST: &str = "53307b13461a2e77";

/// Last session of the default window (fixed, so the default data set never depends on today).
pub const DEFAULT_END: (i32, u32, u32) = (2026, 10, 30);

/// Every key the generator writes, in output order.
pub fn keys() -> Vec<&'static str> {
    let mut k: Vec<&str> = DAILY_KEYS.to_vec();
    k.extend(MONTHLY_KEYS);
    k.extend(QUARTERLY_KEYS);
    k.extend(statements::KEYS);
    k.extend([BENCHMARK.0, PRICE_INDEX.0]);
    k.extend(PRICE_INDEX_OHL);
    k.push(insiders::KEY);
    k
}

/// Planted premia, as extra daily log drift per standard deviation of the signal. Intended
/// strengths (documented in `datasets/README.md`): revenue momentum (3- vs 12-month mean
/// revenue) ≈ +0.08 %/month per sd for the 21 sessions after publication plus a 0.1 % per sd
/// price reaction on the publication session (monthly IC ≈ 0.02); price momentum (12–1 month
/// idiosyncratic return) ≈ +1.5 %/yr per sd; value (P/B against 1.5) ≈ +2 %/yr per sd; low
/// volatility ≈ +2 %/yr per sd of the log idiosyncratic sd.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Premia {
    pub revenue: f64,
    pub momentum: f64,
    pub value: f64,
    pub low_volatility: f64,
}

impl Premia {
    /// The default planted premia.
    pub const PLANTED: Premia = Premia {
        revenue: 0.00004,
        momentum: 0.00006,
        value: 0.00008,
        low_volatility: 0.00008,
    };
    /// No premia (`--null`).
    pub const NONE: Premia = Premia {
        revenue: 0.0,
        momentum: 0.0,
        value: 0.0,
        low_volatility: 0.0,
    };
}

/// Parameters of one synthetic market.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthConfig {
    pub seed: u64,
    /// First and last calendar day (days since 1970-01-01); sessions come from the calendar.
    pub start: i32,
    pub end: i32,
    /// At most this many stocks (a fixed pseudo-random subset of the directory); `None` = all.
    pub stocks: Option<usize>,
    /// No planted premia.
    pub null: bool,
}

impl Default for SynthConfig {
    /// The full market: every common stock, 2007-01-02 → [`DEFAULT_END`], seed 42.
    fn default() -> Self {
        let (y, m, d) = DEFAULT_END;
        SynthConfig {
            seed: 42,
            start: days_from_civil(2007, 1, 2),
            end: days_from_civil(y, m, d),
            stocks: None,
            null: false,
        }
    }
}

impl SynthConfig {
    /// The small preset for tests: 300 stocks, 2021 → 2025 (≈ 1,210 sessions).
    pub fn test() -> Self {
        SynthConfig {
            start: days_from_civil(2021, 1, 1),
            end: days_from_civil(2025, 12, 31),
            stocks: Some(300),
            ..SynthConfig::default()
        }
    }

    /// The premia this configuration plants.
    pub fn premia(&self) -> Premia {
        if self.null {
            Premia::NONE
        } else {
            Premia::PLANTED
        }
    }

    /// A short stable label, e.g. `seed42-2007-01-02-all` (used for directory names).
    pub fn label(&self) -> String {
        format!(
            "seed{}-{}-{}-{}{}",
            self.seed,
            crate::calendar::format(self.start),
            crate::calendar::format(self.end),
            self.stocks.map_or("all".to_string(), |n| n.to_string()),
            if self.null { "-null" } else { "" }
        )
    }
}

/// The stocks of a configuration: all, or the `n` codes with the smallest FNV-1a hash (a fixed
/// subset mixing boards and industries, independent of the seed), sorted by code.
pub fn universe(cfg: &SynthConfig) -> Result<Vec<Security>, DataError> {
    let mut all = reference::securities()?;
    if let Some(n) = cfg.stocks {
        all.sort_by_key(|s| (fnv1a(s.code.as_bytes()), s.code.clone()));
        all.truncate(n);
        all.sort_by(|a, b| a.code.cmp(&b.code));
    }
    Ok(all)
}

/// Generates every panel of the market, in [`keys`](fn@keys) order. `progress(done, total)` is called
/// from this thread as stocks complete.
pub fn generate(
    cfg: &SynthConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<PanelData>, DataError> {
    let workers = std::thread::available_parallelism().map_or(1, |p| p.get());
    generate_with(cfg, workers.clamp(1, 8), progress)
}

/// [`generate`] on a given number of worker threads (the output does not depend on it).
pub fn generate_with(
    cfg: &SynthConfig,
    workers: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<PanelData>, DataError> {
    generate_events(cfg, workers, progress).map(|(panels, _)| panels)
}

/// One ex-rights event of a generated market: code, ex-date, close before it, reference price.
pub type Event = (String, i32, f64, f64);

/// [`generate_with`], with every stock's ex-rights events, from which `etl:adj_*` were derived.
pub fn generate_events(
    cfg: &SynthConfig,
    workers: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(Vec<PanelData>, Vec<Event>), DataError> {
    let secs = universe(cfg)?;
    let dates = reference::sessions_between(cfg.start, cfg.end)?;
    let grid = Grid::new(dates);
    let mut industries: Vec<String> = secs.iter().map(|s| s.industry.clone()).collect();
    industries.sort();
    industries.dedup();
    let factors = model::factors(cfg.seed, grid.dates.len(), &industries);
    let mega_code = mega_cap(cfg, &secs, grid.dates[0]);
    let mega = mega_code.as_deref();
    let (n, nm, nq, ns) = (
        grid.dates.len(),
        grid.month_rows.len(),
        grid.quarter_rows.len(),
        secs.len(),
    );
    let alloc = |rows: usize, k: usize| vec![vec![f64::NAN; rows * ns]; k];
    let mut daily = alloc(n, DAILY_KEYS.len());
    let mut monthly = alloc(nm, MONTHLY_KEYS.len());
    let mut quarterly = alloc(nq, QUARTERLY_KEYS.len() + statements::KEYS.len());
    let mut bench = alloc(n, 3);
    let ni = grid.insider_rows.len();
    let mut insider = vec![f64::NAN; ni * ns];
    let mut events = Vec::new();
    {
        let mut cols = per_stock(
            &mut daily,
            &mut monthly,
            &mut quarterly,
            &mut bench,
            &mut insider,
            (n, nm, nq, ni),
            ns,
        );
        let done = AtomicUsize::new(0);
        let premia = cfg.premia();
        let chunk = ns.div_ceil(workers.max(1)).max(1);
        let mut jobs: Vec<Vec<(usize, stock::Columns<'_>)>> = Vec::new();
        let mut it = cols.drain(..).enumerate().peekable();
        while it.peek().is_some() {
            jobs.push(it.by_ref().take(chunk).collect());
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = jobs
                .into_iter()
                .map(|job| {
                    let (grid, factors, secs, done) = (&grid, &factors, &secs, &done);
                    scope.spawn(move || {
                        let mut events = Vec::new();
                        for (i, c) in job {
                            let is_mega = mega == Some(secs[i].code.as_str());
                            let ev = stock::simulate(
                                &secs[i], grid, factors, cfg.seed, &premia, is_mega, c,
                            );
                            events.extend(ev.into_iter().map(|e| {
                                let code = secs[i].code.clone();
                                (code, grid.dates[e.session], e.prev_close, e.reference)
                            }));
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        events
                    })
                })
                .collect();
            while handles.iter().any(|h| !h.is_finished()) {
                progress(done.load(Ordering::Relaxed), ns);
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            for h in handles {
                // A panicking worker is a generator bug; its stocks' events are then missing,
                // which the adjustment test would show.
                events.extend(h.join().unwrap_or_default());
            }
        });
        progress(ns, ns);
    }
    let codes: Vec<String> = secs.iter().map(|s| s.code.clone()).collect();
    let mut out = Vec::new();
    let panel = |name: &str, dates: &[i32], values: Vec<f64>| PanelData {
        name: name.to_string(),
        dates: dates.to_vec(),
        columns: codes.clone(),
        values,
    };
    for (k, v) in DAILY_KEYS.iter().zip(daily) {
        out.push(panel(k, &grid.dates, v));
    }
    let md = grid.month_dates();
    for (k, v) in MONTHLY_KEYS.iter().zip(monthly) {
        out.push(panel(k, &md, v));
    }
    let qd = grid.quarter_dates();
    for (k, v) in QUARTERLY_KEYS
        .iter()
        .chain(&statements::KEYS)
        .zip(quarterly)
    {
        out.push(panel(k, &qd, v));
    }
    let (total, price) = index_levels(&bench, n, ns);
    let ohl = index_ohl(cfg.seed, &price);
    let index_panels = [BENCHMARK, PRICE_INDEX]
        .into_iter()
        .zip([total, price])
        .chain(
            PRICE_INDEX_OHL
                .into_iter()
                .map(|k| (k, PRICE_INDEX.1))
                .zip(ohl),
        );
    for ((key, col), v) in index_panels {
        out.push(PanelData {
            name: key.to_string(),
            dates: grid.dates.clone(),
            columns: vec![col.to_string()],
            values: v,
        });
    }
    out.push(panel(insiders::KEY, &grid.insider_dates(), insider));
    Ok((out, events))
}

/// The mega-cap (≈ a third of the main board's value, as in Taiwan): in markets of at least 1,000
/// stocks, the semiconductor stock listed on the TWSE main board before the first session whose
/// code has the smallest seeded hash.
fn mega_cap(cfg: &SynthConfig, secs: &[Security], first: i32) -> Option<String> {
    if secs.len() < 1000 {
        return None;
    }
    secs.iter()
        .filter(|s| s.board == Board::Twse && s.industry == "24" && s.listed <= first)
        .min_by_key(|s| fnv1a(format!("{}/{}", cfg.seed, s.code).as_bytes()))
        .map(|s| s.code.clone())
}

/// Splits the panels into per-stock column slices; `rows` are the daily, monthly, quarterly and
/// insider row counts.
fn per_stock<'a>(
    daily: &'a mut [Vec<f64>],
    monthly: &'a mut [Vec<f64>],
    quarterly: &'a mut [Vec<f64>],
    bench: &'a mut [Vec<f64>],
    insider: &'a mut Vec<f64>,
    rows: (usize, usize, usize, usize),
    ns: usize,
) -> Vec<stock::Columns<'a>> {
    let (n, nm, nq, ni) = rows;
    fn split(panels: &mut [Vec<f64>], rows: usize, ns: usize) -> Vec<Vec<&mut [f64]>> {
        let mut per: Vec<Vec<&mut [f64]>> = (0..ns).map(|_| Vec::new()).collect();
        for p in panels.iter_mut() {
            if rows == 0 {
                for s in per.iter_mut() {
                    s.push(&mut []);
                }
                continue;
            }
            for (s, chunk) in p.chunks_mut(rows).enumerate() {
                per[s].push(chunk);
            }
        }
        per
    }
    let d = split(daily, n, ns);
    let m = split(monthly, nm, ns);
    let q = split(quarterly, nq, ns);
    let b = split(bench, n, ns);
    let i = split(std::slice::from_mut(insider), ni, ns);
    d.into_iter()
        .zip(m)
        .zip(q)
        .zip(b)
        .zip(i)
        .map(|((((daily, monthly), quarterly), mut b), mut i)| {
            let price_return = b.pop().unwrap_or_default();
            let total_return = b.pop().unwrap_or_default();
            let weight = b.pop().unwrap_or_default();
            stock::Columns {
                daily,
                monthly,
                quarterly,
                insider: i.pop().unwrap_or_default(),
                weight,
                total_return,
                price_return,
            }
        })
        .collect()
}

/// Cap-weighted total-return and price index levels (base 10,000 on the first session),
/// accumulated in code order so the result is independent of the thread count.
fn index_levels(bench: &[Vec<f64>], n: usize, ns: usize) -> (Vec<f64>, Vec<f64>) {
    let (mut w_sum, mut tr_sum, mut pr_sum) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    for s in 0..ns {
        let (w, tr, pr) = (
            &bench[0][s * n..(s + 1) * n],
            &bench[1][s * n..(s + 1) * n],
            &bench[2][s * n..(s + 1) * n],
        );
        for t in 0..n {
            if w[t].is_finite() && tr[t].is_finite() && pr[t].is_finite() {
                w_sum[t] += w[t];
                tr_sum[t] += w[t] * tr[t];
                pr_sum[t] += w[t] * pr[t];
            }
        }
    }
    let (mut total, mut price) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut lt, mut lp) = (10_000.0, 10_000.0);
    for t in 0..n {
        if t > 0 && w_sum[t] > 0.0 {
            lt *= 1.0 + tr_sum[t] / w_sum[t];
            lp *= 1.0 + pr_sum[t] / w_sum[t];
        }
        total.push(libm::round(lt * 100.0) / 100.0);
        price.push(libm::round(lp * 100.0) / 100.0);
    }
    (total, price)
}

/// The price index's open, high and low around its closes (its own stream `index/ohl`): the
/// open between the previous close and the close, the high and low a little beyond both,
/// rounded to 0.01 outward.
fn index_ohl(seed: u64, close: &[f64]) -> [Vec<f64>; 3] {
    let mut rng = Rng::new(seed, "index/ohl");
    let (mut open, mut high, mut low) = (Vec::new(), Vec::new(), Vec::new());
    for (t, &c) in close.iter().enumerate() {
        let prev = if t > 0 { close[t - 1] } else { c };
        let o = libm::round((prev + (c - prev) * rng.range(0.0, 0.5)) * 100.0) / 100.0;
        let hi = o.max(c) * (1.0 + 0.004 * rng.t4().abs());
        let lo = o.min(c) * (1.0 - 0.004 * rng.t4().abs());
        open.push(o);
        high.push(libm::ceil(hi * 100.0) / 100.0);
        low.push(libm::floor(lo * 100.0) / 100.0);
    }
    [open, high, low]
}

/// FNV-1a-style 64-bit digest over the canonical little-endian encoding of the panels (names,
/// dates, columns, value bits with one canonical NaN), word by word: a digest of the logical
/// content, independent of file compression.
pub fn digest(panels: &[PanelData]) -> u64 {
    let mut h = Fnv1a::new();
    let mut word = |w: u64| h.write_word(w);
    for p in panels {
        word(fnv1a(p.name.as_bytes()));
        for d in &p.dates {
            word(*d as u64);
        }
        for c in &p.columns {
            word(fnv1a(c.as_bytes()));
        }
        for v in &p.values {
            word(if v.is_nan() { u64::MAX } else { v.to_bits() });
        }
    }
    h.finish()
}

#[cfg(test)]
mod tests;
