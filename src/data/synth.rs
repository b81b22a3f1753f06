//! The minimal synthetic market (`tw-synth-mini`): a few hundred stocks over five years of
//! weekday sessions, generated deterministically (own xoshiro256** PRNG seeded per stock by
//! FNV-1a, pure-Rust `libm` for every transcendental) so the same seed gives bit-identical files
//! on every machine. Prices follow a one-factor model with Taiwan's tick sizes and ±10% limits;
//! one cash dividend a year gives `etl:adj_*` (backward-adjusted, latest = raw) something to do.
//! The full calibrated market generator is a later issue (see `spec/tw-data.md` §5).

use dsl_runtime::wire::PanelData;

use crate::calendar::{civil_from_days, days_from_civil, weekday};

/// Generator name and version recorded in the manifest and every file's metadata.
pub const GENERATOR: &str = "tw-synth-mini";
pub const VERSION: u32 = 1;

/// Dataset keys the mini market provides, in generation order.
pub const KEYS: [&str; 7] = [
    "price:收盤價",
    "price:開盤價",
    "price:最高價",
    "price:最低價",
    "price:成交股數",
    "etl:adj_close",
    "etl:adj_open",
];

/// Parameters of the mini market.
#[derive(Clone, Debug)]
pub struct SynthConfig {
    pub seed: u64,
    pub stocks: usize,
    /// First and last calendar day (days since 1970-01-01); sessions are the weekdays between,
    /// without 1 January.
    pub start: i32,
    pub end: i32,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            seed: 42,
            stocks: 300,
            start: days_from_civil(2020, 1, 1),
            end: days_from_civil(2024, 12, 31),
        }
    }
}

/// SplitMix64 step (seeds xoshiro).
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xoshiro256** — small, fast, and fully specified, so streams never change with a crate update.
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A stream for `(seed, label)`; labels give independent substreams per stock.
    pub fn new(seed: u64, label: &str) -> Rng {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in label.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        let mut st = seed ^ h;
        Rng {
            s: [
                splitmix(&mut st),
                splitmix(&mut st),
                splitmix(&mut st),
                splitmix(&mut st),
            ],
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal (Box–Muller with libm).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(2.0 * std::f64::consts::PI * u2)
    }
}

/// Taiwan equity tick size for a price (TWSE/TPEx, since 2005).
pub fn tick(price: f64) -> f64 {
    match price {
        p if p < 10.0 => 0.01,
        p if p < 50.0 => 0.05,
        p if p < 100.0 => 0.1,
        p if p < 500.0 => 0.5,
        p if p < 1000.0 => 1.0,
        _ => 5.0,
    }
}

fn snap(price: f64) -> f64 {
    let t = tick(price);
    // Round to the tick, then to 2 decimals so values are exact-looking decimals.
    libm::round(libm::round(price / t) * t * 100.0) / 100.0
}

/// The sessions of the mini calendar.
pub fn sessions(cfg: &SynthConfig) -> Vec<i32> {
    (cfg.start..=cfg.end)
        .filter(|&d| weekday(d) < 5 && civil_from_days(d).1 * 100 + civil_from_days(d).2 != 101)
        .collect()
}

/// Stock codes of the mini market: four-digit codes from 1101 up.
pub fn codes(cfg: &SynthConfig) -> Vec<String> {
    (0..cfg.stocks)
        .map(|i| format!("{}", 1101 + i * 7))
        .collect()
}

/// Generates every dataset of the mini market, keyed by finlab dataset key, in a fixed order.
pub fn generate(cfg: &SynthConfig) -> Vec<PanelData> {
    let dates = sessions(cfg);
    let codes = codes(cfg);
    let n = dates.len();
    let mut market = Rng::new(cfg.seed, "market");
    let m: Vec<f64> = (0..n).map(|_| 0.0003 + 0.011 * market.normal()).collect();

    let keys = KEYS;
    let mut out: Vec<Vec<f64>> = vec![Vec::with_capacity(n * codes.len()); keys.len()];
    for code in &codes {
        let mut rng = Rng::new(cfg.seed, code);
        let beta = 0.6 + 0.8 * rng.uniform();
        let sigma = 0.01 + 0.02 * rng.uniform();
        let drift = 0.0004 * rng.normal();
        let mut price = snap(10.0 * libm::exp(1.0 + 2.0 * rng.uniform()));
        // A third of the stocks list after the start; the rest trade from day one.
        let listed = if rng.uniform() < 0.33 {
            (rng.uniform() * n as f64 * 0.6) as usize
        } else {
            0
        };
        let div_yield = 0.01 + 0.05 * rng.uniform();
        let mut close = vec![f64::NAN; n];
        let mut open = vec![f64::NAN; n];
        let mut high = vec![f64::NAN; n];
        let mut low = vec![f64::NAN; n];
        let mut volume = vec![f64::NAN; n];
        // cash dividend paid on the ex-date (row index) → amount
        let mut dividends: Vec<(usize, f64)> = Vec::new();
        let mut last_year = 0;
        for t in listed..n {
            let (y, mo, _) = civil_from_days(dates[t]);
            let mut reference = price;
            if mo >= 7 && y != last_year && t > listed {
                last_year = y;
                let cash = snap(price * div_yield).min(price * 0.5);
                if cash > 0.0 {
                    dividends.push((t, cash));
                    reference = price - cash;
                }
            }
            let suspended = rng.uniform() < 0.002;
            let r = beta * m[t] + drift + sigma * rng.normal();
            let gap = 0.3 * sigma * rng.normal();
            if suspended {
                continue;
            }
            let (up, down) = (snap(reference * 1.1), snap(reference * 0.9));
            let c = snap((reference * libm::exp(r)).clamp(down, up));
            let o = snap((reference * libm::exp(gap)).clamp(down, up));
            let h = snap((c.max(o) * (1.0 + 0.01 * rng.uniform())).min(up));
            let l = snap((c.min(o) * (1.0 - 0.01 * rng.uniform())).max(down));
            close[t] = c;
            open[t] = o;
            high[t] = h.max(c).max(o);
            low[t] = l.min(c).min(o);
            volume[t] = libm::round(libm::exp(13.0 + rng.normal()) / 1000.0) * 1000.0;
            price = c;
        }
        // Backward adjustment: before each ex-date multiply by (1 − cash / previous close).
        let mut factor = vec![1.0; n];
        let mut f = 1.0;
        let mut divs = dividends.iter().rev().peekable();
        for t in (0..n).rev() {
            factor[t] = f;
            if let Some(&&(ex, cash)) = divs.peek() {
                if ex == t {
                    let prev = (0..t).rev().map(|u| close[u]).find(|v| !v.is_nan());
                    if let Some(prev) = prev {
                        f *= 1.0 - cash / prev;
                    }
                    divs.next();
                }
            }
        }
        let adj_close: Vec<f64> = (0..n).map(|t| close[t] * factor[t]).collect();
        let adj_open: Vec<f64> = (0..n).map(|t| open[t] * factor[t]).collect();
        for (k, col) in [close, open, high, low, volume, adj_close, adj_open]
            .into_iter()
            .enumerate()
        {
            out[k].extend(col);
        }
    }
    keys.iter()
        .zip(out)
        .map(|(k, values)| PanelData {
            name: k.to_string(),
            dates: dates.clone(),
            columns: codes.clone(),
            values,
        })
        .collect()
}

/// FNV-1a 64 over the canonical little-endian encoding of the panels (keys, dates, columns, value
/// bits): a digest of the logical content, independent of file compression.
pub fn digest(panels: &[PanelData]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for p in panels {
        eat(p.name.as_bytes());
        for d in &p.dates {
            eat(&d.to_le_bytes());
        }
        for c in &p.columns {
            eat(c.as_bytes());
        }
        for v in &p.values {
            let bits = if v.is_nan() { u64::MAX } else { v.to_bits() };
            eat(&bits.to_le_bytes());
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mini_market_is_deterministic_and_plausible() {
        let cfg = SynthConfig {
            stocks: 20,
            ..SynthConfig::default()
        };
        let a = generate(&cfg);
        let b = generate(&cfg);
        assert_eq!(digest(&a), digest(&b));
        // Golden digest: changes only when the generator changes (then bump VERSION).
        assert_eq!(
            digest(&a),
            0xcae2_3430_0b51_255a,
            "digest {:#x}",
            digest(&a)
        );
        let close = &a[0];
        let adj = &a[5];
        for c in 0..close.columns.len() {
            let col = close.column(c);
            let valid: Vec<f64> = col.iter().copied().filter(|v| !v.is_nan()).collect();
            assert!(valid.len() > 200);
            for w in valid.windows(2) {
                // ±10% limit plus a dividend drop of at most ~6%.
                assert!((w[1] / w[0] - 1.0).abs() < 0.18, "{w:?}");
            }
            // adjusted = raw on the last session; below raw before a dividend.
            let last = close.dates.len() - 1;
            if !col[last].is_nan() {
                assert_eq!(adj.get(last, c), col[last]);
            }
        }
    }
}
