//! finlab's `hold_until` (spec §5.4): hold each name from an entry event until its exit, at most
//! `nstocks_limit` names per row chosen by a min–max-normalised rank, with optional price stops.

// Index loops mirror the reference algorithms (TA-Lib, pandas) line by line.
#![allow(clippy::needless_range_loop)]

/// A date-indexed panel as plain columns (NaN = missing; bools as 0/1).
pub struct Frame<'a> {
    pub dates: &'a [i32],
    pub columns: &'a [String],
    pub cols: Vec<Vec<f64>>,
}

/// Options of one `hold_until` call (stops as given; their absolute values are used).
#[derive(Clone, Copy, Debug, Default)]
pub struct HoldOptions {
    pub nstocks_limit: Option<usize>,
    pub stop_loss: Option<f64>,
    pub take_profit: Option<f64>,
    pub trail_stop: Option<f64>,
    pub trail_stop_activation: Option<f64>,
}

/// The result: the grid and one bool column per common stock.
pub struct Held {
    pub dates: Vec<i32>,
    pub columns: Vec<String>,
    pub cols: Vec<Vec<bool>>,
}

/// For each target date, the last source row dated on or before it.
fn ffill_rows(src: &[i32], target: &[i32]) -> Vec<Option<usize>> {
    let mut j = 0usize;
    target
        .iter()
        .map(|d| {
            while j < src.len() && src[j] <= *d {
                j += 1;
            }
            j.checked_sub(1)
        })
        .collect()
}

fn column_index<'a>(f: &Frame<'a>) -> std::collections::HashMap<&'a str, usize> {
    f.columns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect()
}

/// Runs `hold_until`.
pub fn hold_until(
    entry: &Frame,
    exit: &Frame,
    rank: Option<&Frame>,
    price: Option<&Frame>,
    opts: HoldOptions,
) -> Held {
    // 1. The grid: union of entry and exit dates (+ price dates in that span when stops are set,
    //    + rank dates); the stocks common to every input, in the entry's order.
    let mut dates: Vec<i32> = entry.dates.iter().chain(exit.dates).copied().collect();
    dates.sort_unstable();
    dates.dedup();
    if let (Some(p), Some(first), Some(last)) =
        (price, dates.first().copied(), dates.last().copied())
    {
        dates.extend(
            p.dates
                .iter()
                .copied()
                .filter(|d| *d >= first && *d <= last),
        );
    }
    if let Some(r) = rank {
        dates.extend(r.dates.iter().copied());
    }
    dates.sort_unstable();
    dates.dedup();
    let others: Vec<(&Frame, std::collections::HashMap<&str, usize>)> = [Some(exit), rank, price]
        .into_iter()
        .flatten()
        .map(|f| (f, column_index(f)))
        .collect();
    let mut columns = Vec::new();
    let mut picks: Vec<(usize, Vec<usize>)> = Vec::new();
    for (i, c) in entry.columns.iter().enumerate() {
        let found: Option<Vec<usize>> = others
            .iter()
            .map(|(_, ix)| ix.get(c.as_str()).copied())
            .collect();
        if let Some(found) = found {
            columns.push(c.clone());
            picks.push((i, found));
        }
    }
    let rows = dates.len();
    let ncol = columns.len();
    // 2. Entries only on their own dates; exits carried forward (state mode).
    let entry_at: std::collections::HashMap<i32, usize> = entry
        .dates
        .iter()
        .enumerate()
        .map(|(i, d)| (*d, i))
        .collect();
    let exit_rows = ffill_rows(exit.dates, &dates);
    // A column carried forward onto the grid.
    let grid = |f: &Frame, col: usize| -> Vec<f64> {
        ffill_rows(f.dates, &dates)
            .iter()
            .map(|r| r.map_or(f64::NAN, |r| f.cols[col][r]))
            .collect()
    };
    let mut ent = vec![vec![false; ncol]; rows];
    let mut ext = vec![vec![false; ncol]; rows];
    let mut score_rank = vec![vec![0.0f64; ncol]; rows];
    let mut px = vec![vec![f64::NAN; ncol]; rows];
    for (k, (ei, found)) in picks.iter().enumerate() {
        for (r, d) in dates.iter().enumerate() {
            if let Some(&er) = entry_at.get(d) {
                ent[r][k] = entry.cols[*ei][er] == 1.0;
            }
            if let Some(xr) = exit_rows[r] {
                ext[r][k] = exit.cols[found[0]][xr] == 1.0;
            }
        }
        let mut slot = 1;
        if let Some(rf) = rank {
            let v = grid(rf, found[slot]);
            for r in 0..rows {
                score_rank[r][k] = if v[r].is_finite() { v[r] } else { f64::NAN };
            }
            slot += 1;
        }
        if let Some(pf) = price {
            let v = grid(pf, found[slot]);
            for r in 0..rows {
                px[r][k] = v[r];
            }
        }
    }
    // 3. Rank: min–max normalised over the whole frame, missing → 0.
    if rank.is_some() {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in score_rank.iter().flatten().filter(|v| !v.is_nan()) {
            lo = lo.min(*v);
            hi = hi.max(*v);
        }
        for v in score_rank.iter_mut().flatten() {
            let n = (*v - lo) / (hi - lo);
            *v = if n.is_nan() { 0.0 } else { n };
        }
    }
    let limit = opts.nstocks_limit.unwrap_or(usize::MAX);
    let stops = opts.stop_loss.is_some() || opts.take_profit.is_some() || opts.trail_stop.is_some();
    let sl = opts.stop_loss.map_or(f64::INFINITY, f64::abs);
    let tp = opts.take_profit.map_or(f64::INFINITY, f64::abs);
    let ts = opts.trail_stop.map_or(f64::INFINITY, f64::abs);
    let act = opts.trail_stop_activation.map_or(0.0, f64::abs);
    let mut held = vec![vec![false; ncol]; rows];
    let mut since = vec![usize::MAX; ncol];
    let mut entry_price = vec![f64::NAN; ncol];
    let mut max_ratio = vec![f64::NAN; ncol];
    // Stable ascending sort by score, then take the last `limit`: ties favour later columns.
    let top = |cands: &mut Vec<(f64, usize)>, limit: usize| -> Vec<usize> {
        cands.sort_by(|a, b| {
            a.0.partial_cmp(&b.0)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(a.1.cmp(&b.1))
        });
        let skip = cands.len().saturating_sub(limit);
        cands[skip..].iter().map(|c| c.1).collect()
    };
    for r in 0..rows {
        if r == 0 {
            let mut cands: Vec<(f64, usize)> = (0..ncol)
                .filter(|&c| ent[0][c])
                .map(|c| (score_rank[0][c], c))
                .collect();
            for c in top(&mut cands, limit) {
                if !ext[0][c] {
                    held[0][c] = true;
                    since[c] = 0;
                }
            }
            continue;
        }
        // 6. Price stops on names held yesterday.
        if stops {
            for c in 0..ncol {
                if !held[r - 1][c] {
                    continue;
                }
                if since[c] == r - 1 {
                    entry_price[c] = px[r][c];
                    max_ratio[c] = f64::NAN;
                }
                let ratio = px[r][c] / entry_price[c];
                if ratio.is_nan() {
                    continue;
                }
                max_ratio[c] = if max_ratio[c].is_nan() {
                    ratio
                } else {
                    max_ratio[c].max(ratio)
                };
                let trail = max_ratio[c] >= 1.0 + act && ratio < max_ratio[c] - ts;
                if ratio > 1.0 + tp || ratio < 1.0 - sl || trail {
                    ext[r][c] = true;
                }
            }
        }
        // 5. Score: entry·rank + 3·held yesterday; exits and idle names are out.
        let mut cands: Vec<(f64, usize)> = Vec::new();
        for c in 0..ncol {
            let was = held[r - 1][c];
            if ext[r][c] || (!ent[r][c] && !was) {
                continue;
            }
            let e = if ent[r][c] { score_rank[r][c] } else { 0.0 };
            cands.push((e + if was { 3.0 } else { 0.0 }, c));
        }
        for c in top(&mut cands, limit) {
            held[r][c] = true;
            if !held[r - 1][c] {
                since[c] = r;
            }
        }
    }
    let cols = (0..ncol)
        .map(|c| held.iter().map(|row| row[c]).collect())
        .collect();
    Held {
        dates,
        columns,
        cols,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame<'a>(dates: &'a [i32], columns: &'a [String], cols: Vec<Vec<f64>>) -> Frame<'a> {
        Frame {
            dates,
            columns,
            cols,
        }
    }

    #[test]
    fn holds_from_entry_until_exit_and_respects_the_limit() {
        let dates = [1, 2, 3, 4, 5];
        let cols: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let entry = frame(
            &dates,
            &cols,
            vec![
                vec![1., 0., 0., 0., 0.],
                vec![1., 0., 0., 0., 0.],
                vec![0., 1., 0., 0., 0.],
            ],
        );
        let exit = frame(
            &dates,
            &cols,
            vec![
                vec![0., 0., 1., 0., 0.],
                vec![0., 0., 0., 0., 0.],
                vec![0., 0., 0., 0., 0.],
            ],
        );
        let rank_cols = vec![vec![1.0; 5], vec![2.0; 5], vec![3.0; 5]];
        let rank = frame(&dates, &cols, rank_cols);
        let opts = HoldOptions {
            nstocks_limit: Some(2),
            ..HoldOptions::default()
        };
        let h = hold_until(&entry, &exit, Some(&rank), None, opts);
        // a and b enter on day 1; c's entry on day 2 loses to the held names; a exits on day 3.
        assert_eq!(h.cols[0], vec![true, true, false, false, false]);
        assert_eq!(h.cols[1], vec![true; 5]);
        assert_eq!(h.cols[2], vec![false; 5]);
    }
}
