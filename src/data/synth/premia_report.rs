//! The planted premia as a strategy would see them: the average monthly rank IC (Spearman
//! correlation between a signal at a month's last session and the next month's return) of
//! revenue acceleration, 12–1 month momentum, value (−log P/B) and low volatility (−60-day sd).
//! In a `--null` market all four should be indistinguishable from 0.

use dsl_runtime::wire::PanelData;

use super::report::Row;
use super::{daily as d, DAILY_KEYS, MONTHLY_KEYS};

/// Ranks (average rank for ties) of `x`.
fn ranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && x[idx[j + 1]] == x[idx[i]] {
            j += 1;
        }
        for &k in &idx[i..=j] {
            r[k] = (i + j) as f64 / 2.0;
        }
        i = j + 1;
    }
    r
}

/// Spearman rank correlation of the pairs where both are finite.
pub fn spearman(a: &[f64], b: &[f64]) -> Option<f64> {
    let (x, y): (Vec<f64>, Vec<f64>) = a
        .iter()
        .zip(b)
        .filter(|(u, v)| u.is_finite() && v.is_finite())
        .map(|(u, v)| (*u, *v))
        .unzip();
    if x.len() < 30 {
        return None;
    }
    let (rx, ry) = (ranks(&x), ranks(&y));
    let n = rx.len() as f64;
    let (mx, my) = (rx.iter().sum::<f64>() / n, ry.iter().sum::<f64>() / n);
    let cov: f64 = rx.iter().zip(&ry).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = rx.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = ry.iter().map(|b| (b - my).powi(2)).sum();
    (vx > 0.0 && vy > 0.0).then(|| cov / (vx * vy).sqrt())
}

/// One report row per planted premium.
pub fn ic_rows(panels: &[PanelData]) -> Vec<Row> {
    let get = |k: &str| panels.iter().find(|p| p.name == k);
    let (Some(adj), Some(pb), Some(yoy)) = (
        get(DAILY_KEYS[d::ADJ_CLOSE]),
        get(DAILY_KEYS[d::PB]),
        get(MONTHLY_KEYS[4]),
    ) else {
        return Vec::new();
    };
    let n = adj.dates.len();
    let ns = adj.columns.len();
    let month_ends: Vec<usize> = (0..n)
        .filter(|&t| {
            t + 1 == n
                || crate::data::synth::model::month_index(adj.dates[t])
                    != crate::data::synth::model::month_index(adj.dates[t + 1])
        })
        .collect();
    let mut ics: [Vec<f64>; 4] = Default::default();
    for w in month_ends.windows(2) {
        let (t, t2) = (w[0], w[1]);
        if t < 252 {
            continue;
        }
        // Latest two revenue rows visible at t.
        let row = yoy.dates.partition_point(|&x| x <= adj.dates[t]);
        let mut sig: [Vec<f64>; 4] = Default::default();
        let mut fwd = Vec::with_capacity(ns);
        for c in 0..ns {
            let a = adj.column(c);
            fwd.push(a[t2] / a[t] - 1.0);
            sig[0].push(if row >= 2 {
                yoy.get(row - 1, c) - yoy.get(row - 2, c)
            } else {
                f64::NAN
            });
            sig[1].push(a[t - 21] / a[t - 252] - 1.0);
            sig[2].push(-libm::log(pb.get(t, c)));
            let r: Vec<f64> = (t - 59..=t)
                .map(|u| libm::log(a[u] / a[u - 1]))
                .filter(|v| v.is_finite())
                .collect();
            sig[3].push(if r.len() > 40 {
                let m = r.iter().sum::<f64>() / r.len() as f64;
                -(r.iter().map(|v| (v - m).powi(2)).sum::<f64>() / r.len() as f64).sqrt()
            } else {
                f64::NAN
            });
        }
        for k in 0..4 {
            if let Some(ic) = spearman(&sig[k], &fwd) {
                ics[k].push(ic);
            }
        }
    }
    let names = [
        ("premium: revenue acceleration (ΔYoY)", "planted > 0 (IC ≈ 0.02–0.03); null ≈ 0"),
        ("premium: momentum 12–1 months", "planted > 0 (small); null ≈ 0"),
        ("premium: value (−log P/B)", "planted > 0 (small); null ≈ 0"),
        ("premium: low volatility (−60d sd)", "planted > 0 (small); null ≈ 0"),
    ];
    names
        .iter()
        .zip(ics.iter())
        .map(|((name, target), v)| {
            let m = v.len() as f64;
            let realised = if v.is_empty() {
                "n/a".to_string()
            } else {
                let mean = v.iter().sum::<f64>() / m;
                let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / m).sqrt();
                format!("IC {mean:+.3} (t {:+.1}, {} months)", mean / sd * m.sqrt(), v.len())
            };
            Row {
                name: name.to_string(),
                realised,
                target: target.to_string(),
            }
        })
        .collect()
}
