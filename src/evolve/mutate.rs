//! Point mutations: one site of a strategy changed as a text edit (so numbers keep their
//! spelling elsewhere and the formatter re-canonicalizes the result): windows and counts scaled,
//! thresholds and fractions nudged, a dataset swapped for one of the same frequency, an operator
//! swapped for one with the same signature in the registry, the rebalance frequency changed or a
//! stop loss added.

use dsl_runtime::ops::{Form, OpId, ParamKind};

use super::sites::{Site, SiteKind};
use crate::data::catalog::Entry;
use crate::dsl::ast::Span;
use crate::util::rng::Rng;

/// Largest window/count a mutation proposes (longer windows mostly add cost and NaN history).
const MAX_INT: i64 = 500;
const FACTORS: [f64; 6] = [0.5, 0.67, 0.8, 1.25, 1.5, 2.0];
const RESAMPLES: [&str; 3] = ["W", "M", "Q"];

/// A uniform pick from a non-empty slice.
pub fn pick<'a, T>(rng: &mut Rng, items: &'a [T]) -> Option<&'a T> {
    if items.is_empty() {
        return None;
    }
    let i = (rng.uniform() * items.len() as f64) as usize;
    items.get(i.min(items.len() - 1))
}

/// `src` with `span` replaced by `text`.
pub fn edit(src: &str, span: Span, text: &str) -> String {
    let (a, b) = (span.start as usize, span.end as usize);
    format!("{}{}{}", &src[..a], text, &src[b..])
}

/// A number with at most three significant digits, written as Python would read it.
fn short_number(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return "0".into();
    }
    let mag = v.abs().log10().floor() as i32;
    let scale = 10f64.powi(2 - mag);
    let r = (v * scale).round() / scale;
    if r.fract() == 0.0 && r.abs() < 1e15 {
        format!("{}", r as i64)
    } else {
        let s = format!("{r:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Operators that can stand in for `op`: the same form, receiver, output and parameter kinds.
pub fn swaps(op: OpId) -> Vec<OpId> {
    let a = op.spec();
    OpId::ALL
        .iter()
        .copied()
        .filter(|&o| o != op)
        .filter(|o| {
            let b = o.spec();
            b.form == a.form
                && b.receiver == a.receiver
                && b.output == a.output
                && b.outputs.len() == a.outputs.len()
                && b.params.len() == a.params.len()
                && b.params
                    .iter()
                    .zip(a.params)
                    .all(|(x, y)| same_kind(x.kind, y.kind))
                && b.core == a.core
        })
        .collect()
}

/// Kinds a swapped operator's arguments keep: TA-Lib periods of any minimum count as one (a
/// child whose period falls below the new minimum is refused by the checker).
fn same_kind(x: ParamKind, y: ParamKind) -> bool {
    matches!((x, y), (ParamKind::Period(_), ParamKind::Period(_))) || x == y
}

/// Applies one random mutation at `site`; `None` when the site offers nothing to change.
/// Returns the new source and a short description.
pub fn mutate(
    src: &str,
    site: &Site,
    datasets: &[Entry],
    rng: &mut Rng,
) -> Option<(String, String)> {
    let old = &src[site.span.start as usize..site.span.end as usize];
    let (text, what) = match &site.kind {
        SiteKind::Int { value, lo, hi } => {
            let f = *pick(rng, &FACTORS)?;
            let hi = (*hi).min(MAX_INT.max(*value));
            let mut n = ((*value as f64) * f).round() as i64;
            if n == *value {
                n += if f > 1.0 { 1 } else { -1 };
            }
            let n = n.clamp(*lo, hi);
            if n == *value {
                return None;
            }
            (n.to_string(), format!("{old}→{n}"))
        }
        SiteKind::Fraction { value } => {
            let v = (value * (0.6 + 0.9 * rng.uniform())).clamp(0.01, 0.99);
            let t = short_number(v);
            (t.clone(), format!("{old}→{t}"))
        }
        SiteKind::Threshold { value } => {
            let v = value * (0.7 + 0.6 * rng.uniform());
            let t = short_number(v);
            if t == old {
                return None;
            }
            (t.clone(), format!("threshold {old}→{t}"))
        }
        SiteKind::Dataset { key } => {
            let me = datasets.iter().find(|e| &e.key == key)?;
            let same_freq: Vec<&Entry> = datasets
                .iter()
                .filter(|e| e.key != *key && e.frequency == me.frequency)
                .collect();
            let same_cat: Vec<&Entry> = same_freq
                .iter()
                .copied()
                .filter(|e| e.category == me.category)
                .collect();
            let pool = if !same_cat.is_empty() && rng.uniform() < 0.7 {
                same_cat
            } else {
                same_freq
            };
            let new = pick(rng, &pool)?;
            (format!("\"{}\"", new.key), format!("{key}→{}", new.key))
        }
        SiteKind::Method { op } => {
            let to = *pick(rng, &swaps(*op))?;
            (
                to.spec().name.to_string(),
                format!("{old}→{}", to.spec().name),
            )
        }
        SiteKind::Indicator { op } => {
            let to = *pick(rng, &swaps(*op))?;
            debug_assert_eq!(to.spec().form, Form::Indicator);
            (
                format!("\"{}\"", to.spec().name),
                format!("{}→{}", op.spec().name, to.spec().name),
            )
        }
        SiteKind::Resample { value } => {
            let others: Vec<&str> = RESAMPLES.iter().copied().filter(|r| r != value).collect();
            let r = *pick(rng, &others)?;
            (format!("\"{r}\""), format!("resample {value}→{r}"))
        }
        SiteKind::SimEnd { has } => {
            let options: Vec<&str> = ["resample", "stop_loss"]
                .into_iter()
                .filter(|k| !has.iter().any(|h| h == k))
                .collect();
            match *pick(rng, &options)? {
                "resample" => {
                    let r = *pick(rng, &RESAMPLES)?;
                    (format!(", resample=\"{r}\""), format!("resample {r}"))
                }
                _ => (", stop_loss=0.1".to_string(), "stop_loss 0.1".to_string()),
            }
        }
    };
    Some((edit(src, site.span, &text), what))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swaps_keep_the_signature() {
        assert_eq!(swaps(OpId::IsLargest), vec![OpId::IsSmallest]);
        assert!(swaps(OpId::RollingMean).contains(&OpId::RollingMax));
        assert!(swaps(OpId::Rsi).contains(&OpId::Atr));
        assert!(!swaps(OpId::Rsi).contains(&OpId::Macd));
        assert!(swaps(OpId::Average).is_empty());
        assert!(
            !swaps(OpId::PctChange).contains(&OpId::Shift),
            "shift keeps bool panels bool"
        );
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(short_number(1.23456), "1.23");
        assert_eq!(short_number(123456.0), "123000");
        assert_eq!(short_number(0.0812), "0.0812");
        assert_eq!(short_number(-4.56), "-4.56");
    }
}
