//! finlab's `hold_until` (`docs/semantics.md` §5.4): hold each name from an entry event until its
//! exit, at most `nstocks_limit` names per row chosen by a min–max-normalised rank, with optional
//! price stops.
//! The day-by-day loop looks only at the names in play (the holdings, and the day's entries
//! when a place is free), so its cost follows the number of events, not the size of the panel.

// Index loops mirror the reference algorithm line by line.
#![allow(clippy::needless_range_loop)]

use std::collections::HashMap;

use crate::kernels;
use crate::panel::ffill_rows;

/// Cells of a [`Frame`], column-major.
#[derive(Clone, Copy)]
pub enum Cells<'a> {
    Float(&'a [f64]),
    Bool(&'a [bool]),
}

/// A date-indexed panel, column-major (`values[c * dates.len() + r]`; NaN = missing).
pub struct Frame<'a> {
    pub dates: &'a [i32],
    pub columns: &'a [String],
    pub values: Cells<'a>,
}

/// One column of a [`Frame`].
#[derive(Clone, Copy)]
enum Column<'a> {
    Float(&'a [f64]),
    Bool(&'a [bool]),
}

impl Column<'_> {
    /// The value as a float (a bool as 0/1).
    fn get(self, i: usize) -> f64 {
        match self {
            Column::Float(v) => v[i],
            Column::Bool(b) => f64::from(u8::from(b[i])),
        }
    }

    /// Whether the value is True (1).
    fn is_true(self, i: usize) -> bool {
        match self {
            Column::Float(v) => v[i] == 1.0,
            Column::Bool(b) => b[i],
        }
    }
}

impl Frame<'_> {
    fn col(&self, c: usize) -> Column<'_> {
        let n = self.dates.len();
        match self.values {
            Cells::Float(v) => Column::Float(&v[c * n..(c + 1) * n]),
            Cells::Bool(b) => Column::Bool(&b[c * n..(c + 1) * n]),
        }
    }
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

/// The result: the grid and the held flags, column-major.
pub struct Held {
    pub dates: Vec<i32>,
    pub columns: Vec<String>,
    pub values: Vec<bool>,
}

fn column_index<'a>(f: &Frame<'a>) -> HashMap<&'a str, usize> {
    f.columns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect()
}

/// The grid of step 1: the union of entry and exit dates (+ price dates in that span when stops
/// are set, + rank dates), and the stocks common to every input in the entry's order, each with
/// its column in the entry and in the other inputs (exit, rank, price: those given).
type Grid = (Vec<i32>, Vec<String>, Vec<(usize, Vec<usize>)>);

fn grid(entry: &Frame, exit: &Frame, rank: Option<&Frame>, price: Option<&Frame>) -> Grid {
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
    let others: Vec<HashMap<&str, usize>> = [Some(exit), rank, price]
        .into_iter()
        .flatten()
        .map(column_index)
        .collect();
    let mut columns = Vec::new();
    let mut picks: Vec<(usize, Vec<usize>)> = Vec::new();
    for (i, c) in entry.columns.iter().enumerate() {
        let found: Option<Vec<usize>> = others
            .iter()
            .map(|ix| ix.get(c.as_str()).copied())
            .collect();
        if let Some(found) = found {
            columns.push(c.clone());
            picks.push((i, found));
        }
    }
    (dates, columns, picks)
}

/// The smallest and largest finite rank over the frame on the grid (step 3): every grid row's
/// carried-forward value (`rows`), per name.
fn rank_bounds(rows: &[Option<usize>], cols: &[Column]) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    // The frame on the grid: every grid row's carried-forward value, per name. The rows
    // carried forward never decrease, so a repeat is adjacent (and changes neither
    // extreme); usually they are one run of consecutive rows, read as a slice.
    let mut used: Vec<usize> = rows.iter().flatten().copied().collect();
    used.dedup();
    let run = match (used.first(), used.last()) {
        (Some(&a), Some(&b)) if b + 1 - a == used.len() => Some(a..b + 1),
        _ => None,
    };
    for col in cols {
        (lo, hi) = match (*col, &run) {
            (Column::Float(v), Some(run)) => {
                let v = &v[run.clone()];
                match finite_bounds(v) {
                    // A zero's sign is the first zero's, which the lanes do not keep: one by one.
                    (l, h) if l == 0.0 || h == 0.0 => v.iter().fold((lo, hi), |b, &x| widen(b, x)),
                    (l, h) => (kernels::min(lo, l), kernels::max(hi, h)),
                }
            }
            _ => used.iter().fold((lo, hi), |b, &i| widen(b, col.get(i))),
        };
    }
    (lo, hi)
}

/// The smallest and largest finite values of `v` (∞ and −∞ if none), in eight lanes that
/// do not wait for each other (also the guest's fuel check once per eight values). Values of
/// equal bits are the same whichever lane keeps them; only the sign of a zero depends on the
/// order, which the caller handles.
fn finite_bounds(v: &[f64]) -> (f64, f64) {
    const LANES: usize = 8;
    let (mut lo, mut hi) = ([f64::INFINITY; LANES], [f64::NEG_INFINITY; LANES]);
    let (blocks, rest) = v.as_chunks::<LANES>();
    for b in blocks {
        for j in 0..LANES {
            let (x, finite) = (b[j], b[j].is_finite());
            lo[j] = if finite && x < lo[j] { x } else { lo[j] };
            hi[j] = if finite && x > hi[j] { x } else { hi[j] };
        }
    }
    let start = (f64::INFINITY, f64::NEG_INFINITY);
    (lo.iter().chain(&hi).chain(rest)).fold(start, |b, &x| widen(b, x))
}

/// `(lo, hi)` widened to take `v` in, if it is finite.
fn widen((lo, hi): (f64, f64), v: f64) -> (f64, f64) {
    match v.is_finite() {
        true => (kernels::min(lo, v), kernels::max(hi, v)),
        false => (lo, hi),
    }
}

/// The price stops of step 7 and each name's entry price and running maximum ratio.
struct PriceStops {
    stop_loss: f64,
    take_profit: f64,
    trail_stop: f64,
    activation: f64,
    entry_price: Vec<f64>,
    max_ratio: Vec<f64>,
}

impl PriceStops {
    /// `None` without a stop.
    fn new(opts: &HoldOptions, ncol: usize) -> Option<PriceStops> {
        let on =
            opts.stop_loss.is_some() || opts.take_profit.is_some() || opts.trail_stop.is_some();
        on.then(|| PriceStops {
            stop_loss: opts.stop_loss.map_or(f64::INFINITY, f64::abs),
            take_profit: opts.take_profit.map_or(f64::INFINITY, f64::abs),
            trail_stop: opts.trail_stop.map_or(f64::INFINITY, f64::abs),
            activation: opts.trail_stop_activation.map_or(0.0, f64::abs),
            entry_price: vec![f64::NAN; ncol],
            max_ratio: vec![f64::NAN; ncol],
        })
    }

    /// Whether held name `k` stops at price `p`. The entry price is the price on the row after
    /// the name became held (`entered_yesterday`); without one, the next priced row's (finlab
    /// waits for it).
    fn hit(&mut self, k: usize, p: f64, entered_yesterday: bool) -> bool {
        if entered_yesterday || self.entry_price[k].is_nan() {
            self.entry_price[k] = p;
            self.max_ratio[k] = 1.0;
        }
        let ratio = p / self.entry_price[k];
        // finlab's running maximum takes a missing price in (numpy's maximum): from then on it
        // is NaN and the holding never trails out.
        let max = &mut self.max_ratio[k];
        *max = if ratio.is_nan() || max.is_nan() {
            f64::NAN
        } else {
            kernels::max(*max, ratio)
        };
        if ratio.is_nan() {
            return false;
        }
        let trail = *max >= 1.0 + self.activation && ratio < *max - self.trail_stop;
        ratio > 1.0 + self.take_profit || ratio < 1.0 - self.stop_loss || trail
    }
}

/// Step 2's entries: per grid row, one bit per name (index into `picks`) with an entry on that
/// date. A row-major bitset (a bit per grid cell, ~1 MB for the whole market) rather than a
/// list per row: a state used as the entry (`close > close.average(20)`) has an entry in half
/// the cells, and setting bits in a cache-sized table is cheaper than pushing to thousands of
/// growing lists.
#[derive(Debug, PartialEq)]
struct Entries {
    /// Words per row.
    words: usize,
    bits: Vec<u64>,
}

impl Entries {
    fn new(rows: usize, names: usize) -> Entries {
        let words = names.div_ceil(64);
        Entries {
            words,
            bits: vec![0; rows * words],
        }
    }

    fn set(&mut self, r: usize, k: usize) {
        self.bits[r * self.words + k / 64] |= 1 << (k % 64);
    }

    /// Whether name `k` has an entry on row `r`.
    fn has(&self, r: usize, k: usize) -> bool {
        self.bits[r * self.words + k / 64] >> (k % 64) & 1 == 1
    }

    /// The names with an entry on row `r`, in ascending order.
    fn on(&self, r: usize) -> impl Iterator<Item = usize> + '_ {
        let row = &self.bits[r * self.words..(r + 1) * self.words];
        (row.iter().enumerate()).flat_map(|(w, &x)| Ones(x).map(move |b| w * 64 + b))
    }
}

/// The positions of a word's set bits, lowest first.
struct Ones(u64);

impl Iterator for Ones {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        let b = (self.0 != 0).then(|| self.0.trailing_zeros() as usize)?;
        self.0 &= self.0 - 1;
        Some(b)
    }
}

/// Step 2's entries on the grid of `dates`.
fn entries_by_row(entry: &Frame, picks: &[(usize, Vec<usize>)], dates: &[i32]) -> Entries {
    let mut entries = Entries::new(dates.len(), picks.len());
    let grid_row: Vec<usize> = entry
        .dates
        .iter()
        .map(|d| dates.partition_point(|g| g < d))
        .collect();
    for (k, (ei, _)) in picks.iter().enumerate() {
        match entry.col(*ei) {
            // Entries are often rare: sixteen flags tested at a time without an early exit (so
            // the compiler vectorises the test), the rows of a sixteen with one then one by one.
            Column::Bool(b) => {
                const STEP: usize = 16;
                let whole = b.len() - b.len() % STEP;
                let sixteens = b.chunks_exact(STEP).zip(grid_row.chunks_exact(STEP));
                let with_one = sixteens.filter(|(f, _)| f.iter().fold(false, |any, x| any | x));
                let rest = std::iter::once((&b[whole..], &grid_row[whole..]));
                for (flags, rows) in with_one.chain(rest) {
                    for (_, g) in flags.iter().zip(rows).filter(|(f, _)| **f) {
                        entries.set(*g, k);
                    }
                }
            }
            col => {
                for (er, g) in grid_row.iter().enumerate() {
                    if col.is_true(er) {
                        entries.set(*g, k);
                    }
                }
            }
        }
    }
    entries
}

/// The best `limit` candidates by score; ties favour later columns (finlab: a stable ascending
/// sort, then the last `limit`).
fn keep_top(cands: &mut Vec<(f64, usize)>, limit: usize) {
    if cands.len() > limit {
        let order = |a: &(f64, usize), b: &(f64, usize)| {
            b.0.partial_cmp(&a.0)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(b.1.cmp(&a.1))
        };
        cands.select_nth_unstable_by(limit - 1, order);
        cands.truncate(limit);
    }
}

/// Runs `hold_until`.
pub fn hold_until(
    entry: &Frame,
    exit: &Frame,
    rank: Option<&Frame>,
    price: Option<&Frame>,
    opts: HoldOptions,
) -> Held {
    // 1. The grid and the stocks.
    let (dates, columns, picks) = grid(entry, exit, rank, price);
    let rows = dates.len();
    let ncol = columns.len();

    // 2. Entries are events on their own dates; exits, rank and prices are read carried forward
    //    (state mode). Only the names in play on a day (entries and holdings) are looked at, so
    //    nothing is materialised on the grid.
    let entries = entries_by_row(entry, &picks, &dates);
    let exit_rows = ffill_rows(exit.dates, &dates);
    let rank_rows = rank.map(|f| ffill_rows(f.dates, &dates));
    let price_rows = price.map(|f| ffill_rows(f.dates, &dates));
    let exit_cols: Vec<Column> = picks.iter().map(|(_, f)| exit.col(f[0])).collect();
    let rank_cols: Vec<Column> = match rank {
        Some(rf) => picks.iter().map(|(_, f)| rf.col(f[1])).collect(),
        None => Vec::new(),
    };
    let price_slot = if rank.is_some() { 2 } else { 1 };
    let price_cols: Vec<Column> = match price {
        Some(pf) => picks.iter().map(|(_, f)| pf.col(f[price_slot])).collect(),
        None => Vec::new(),
    };
    let exits = |r: usize, k: usize| exit_rows[r].is_some_and(|i| exit_cols[k].is_true(i));
    // 3. Rank: ±inf → NaN, min–max normalised over the whole frame, missing → 0. Without a
    //    rank every score is 0.
    let finite = |v: f64| if v.is_finite() { v } else { f64::NAN };
    let (lo, hi) = match &rank_rows {
        Some(rr) => rank_bounds(rr, &rank_cols),
        None => (f64::INFINITY, f64::NEG_INFINITY),
    };
    let score = |r: usize, k: usize| -> f64 {
        let Some(rr) = &rank_rows else { return 0.0 };
        let v = rr[r].map_or(f64::NAN, |i| finite(rank_cols[k].get(i)));
        let n = (v - lo) / (hi - lo);
        if n.is_nan() {
            0.0
        } else {
            n
        }
    };
    let px = |r: usize, k: usize| -> f64 {
        match &price_rows {
            Some(pr) => pr[r].map_or(f64::NAN, |i| price_cols[k].get(i)),
            None => f64::NAN,
        }
    };

    let limit = opts.nstocks_limit.unwrap_or(usize::MAX);
    let mut stops = PriceStops::new(&opts, ncol);
    let mut values = vec![false; rows * ncol];
    let mut held: Vec<usize> = Vec::new();
    let mut is_held = vec![false; ncol];
    let mut since = vec![usize::MAX; ncol];
    let mut stopped = vec![false; ncol];
    let mut cands: Vec<(f64, usize)> = Vec::with_capacity(64);
    for r in 0..rows {
        cands.clear();
        if r == 0 {
            cands.extend(entries.on(0).map(|k| (score(0, k), k)));
            keep_top(&mut cands, limit);
            cands.retain(|&(_, k)| !exits(0, k));
        } else {
            // 7. Price stops on names held yesterday.
            if let Some(stops) = &mut stops {
                for &k in &held {
                    stopped[k] |= stops.hit(k, px(r, k), since[k] == r - 1);
                }
            }
            // 5. Score: entry·rank + 3·held yesterday; exits and idle names are out.
            let out = |k: usize| stopped[k] || exits(r, k);
            for &k in &held {
                if !out(k) {
                    let e = if entries.has(r, k) { score(r, k) } else { 0.0 };
                    cands.push((e + 3.0, k));
                }
            }
            // A held name scores 3 or more, an entry at most 1: with every place taken by one
            // still held, no entry gets in.
            if cands.len() < limit {
                for k in entries.on(r) {
                    if !is_held[k] && !out(k) {
                        cands.push((score(r, k), k));
                    }
                }
            }
            keep_top(&mut cands, limit);
        }
        for &k in &held {
            is_held[k] = false;
            stopped[k] = false;
        }
        held.clear();
        for &(_, k) in cands.iter() {
            held.push(k);
            values[k * rows + r] = true;
        }
        for &k in &held {
            if r == 0 || !is_held_before(&values, k, rows, r) {
                since[k] = r;
            }
            is_held[k] = true;
        }
    }
    Held {
        dates,
        columns,
        values,
    }
}

/// Whether name `k` was held on the row before `r`.
fn is_held_before(values: &[bool], k: usize, rows: usize, r: usize) -> bool {
    r > 0 && values[k * rows + r - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_of_flags_are_the_entries_of_their_floats() {
        // 37 rows: two whole sixteens and a remainder, entries in each, on a grid with more dates.
        let dates: Vec<i32> = (0..37).map(|d| d * 2).collect();
        let grid: Vec<i32> = (0..74).collect();
        let cols: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let flags: Vec<bool> = (0..3 * 37).map(|i| i % 7 == 0 || i % 37 == 36).collect();
        let floats: Vec<f64> = flags.iter().map(|&f| f64::from(u8::from(f))).collect();
        let picks = vec![(2, vec![]), (0, vec![])];
        let on = |values| {
            let frame = Frame {
                dates: &dates,
                columns: &cols,
                values,
            };
            entries_by_row(&frame, &picks, &grid)
        };
        let want = on(Cells::Float(&floats));
        let count = (0..grid.len()).map(|r| want.on(r).count()).sum::<usize>();
        assert!(count > 8);
        assert_eq!(on(Cells::Bool(&flags)), want);
    }

    #[test]
    fn rank_bounds_in_lanes_are_the_bounds_one_by_one() {
        let serial = |v: &[f64]| {
            let start = (f64::INFINITY, f64::NEG_INFINITY);
            v.iter()
                .filter(|x| x.is_finite())
                .fold(start, |(l, h), &x| (kernels::min(l, x), kernels::max(h, x)))
        };
        let (n, inf) = (f64::NAN, f64::INFINITY);
        let mut rng = 7u64;
        let mut next = || {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (rng >> 33) as f64 / (1u64 << 31) as f64 - 0.5
        };
        let random: Vec<f64> = (0..203)
            .map(|i| if i % 9 == 0 { n } else { next() })
            .collect();
        // Zeros of both signs as the smallest or largest value: the first one's sign counts.
        let zeros = [
            3.0, -0.0, n, 0.0, 5.0, 0.0, -inf, 1.0, 2.0, -0.0, 4.0, 6.0, 7.0, 8.0,
        ];
        let neg = [
            -3.0, 0.0, -0.0, -1.0, inf, -2.0, -4.0, -5.0, -6.0, -7.0, 0.0, -8.0,
        ];
        // The first zero in a later lane than a zero of the other sign after it.
        let mut late = [1.0; 16];
        (late[3], late[8]) = (-0.0, 0.0);
        let high = late.map(|x| -x);
        let cases: [&[f64]; 7] = [&random, &zeros, &neg, &late, &high, &[n, inf, -inf], &[]];
        for v in cases {
            let rows: Vec<Option<usize>> = (0..v.len()).map(Some).collect();
            let back: Vec<f64> = v.iter().rev().copied().collect();
            let (l, h) = rank_bounds(&rows, &[Column::Float(v), Column::Float(&back)]);
            let mut both = v.to_vec();
            both.extend_from_slice(&back);
            let (wl, wh) = serial(&both);
            assert_eq!(
                (l.to_bits(), h.to_bits()),
                (wl.to_bits(), wh.to_bits()),
                "{v:?}"
            );
        }
    }

    #[test]
    fn a_rows_entries_are_its_names_in_order_across_words() {
        let mut e = Entries::new(3, 130);
        for (r, k) in [(1, 70), (1, 3), (0, 5), (1, 64), (2, 129), (1, 3)] {
            e.set(r, k);
        }
        assert_eq!(e.on(1).collect::<Vec<_>>(), [3, 64, 70]);
        assert_eq!(e.on(0).collect::<Vec<_>>(), [5]);
        assert_eq!(e.on(2).collect::<Vec<_>>(), [129]);
        assert!(e.has(1, 70) && e.has(2, 129) && !e.has(0, 70) && !e.has(1, 5));
    }

    #[test]
    fn holds_from_entry_until_exit_and_respects_the_limit() {
        let dates = [1, 2, 3, 4, 5];
        let cols: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let entry = [
            1., 0., 0., 0., 0., //
            1., 0., 0., 0., 0., //
            0., 1., 0., 0., 0.,
        ];
        let exit = [
            0., 0., 1., 0., 0., //
            0., 0., 0., 0., 0., //
            0., 0., 0., 0., 0.,
        ];
        let rank = [1.0, 1., 1., 1., 1., 2., 2., 2., 2., 2., 3., 3., 3., 3., 3.];
        let frame = |values| Frame {
            dates: &dates,
            columns: &cols,
            values: Cells::Float(values),
        };
        let opts = HoldOptions {
            nstocks_limit: Some(2),
            ..HoldOptions::default()
        };
        let h = hold_until(
            &frame(&entry),
            &frame(&exit),
            Some(&frame(&rank)),
            None,
            opts,
        );
        // a and b enter on day 1; c's entry on day 2 loses to the held names; a exits on day 3.
        assert_eq!(&h.values[0..5], &[true, true, false, false, false]);
        assert_eq!(&h.values[5..10], &[true; 5]);
        assert_eq!(&h.values[10..15], &[false; 5]);
    }

    /// One name entering on the first day and never exiting, with stops on `price`: the days
    /// it is held.
    fn held_with_stops(price: &[f64], opts: HoldOptions) -> Vec<bool> {
        let dates: Vec<i32> = (1..=price.len() as i32).collect();
        let cols = vec!["a".to_string()];
        let mut entry = vec![0.0; price.len()];
        entry[0] = 1.0;
        let exit = vec![0.0; price.len()];
        let frame = |values| Frame {
            dates: &dates,
            columns: &cols,
            values: Cells::Float(values),
        };
        hold_until(
            &frame(&entry),
            &frame(&exit),
            None,
            Some(&frame(price)),
            opts,
        )
        .values
    }

    #[test]
    fn an_entry_without_a_price_takes_the_next_priced_row_as_its_entry_price() {
        let opts = HoldOptions {
            stop_loss: Some(0.05),
            ..HoldOptions::default()
        };
        // Entry price: day 2 has none, so day 3's 10; day 4's 9 is a 10 % loss.
        let held = held_with_stops(&[10.0, f64::NAN, 10.0, 9.0, 9.0], opts);
        assert_eq!(held, [true, true, true, false, false]);
    }

    #[test]
    fn a_missing_price_while_held_ends_the_trailing_stop_for_that_holding() {
        let opts = HoldOptions {
            trail_stop: Some(0.1),
            ..HoldOptions::default()
        };
        // Peak 1.2 on day 3; day 4 has no price, so the running maximum is NaN from then on and
        // day 6's fall to 1.0 does not trail out.
        let held = held_with_stops(&[10.0, 10.0, 12.0, f64::NAN, 12.0, 10.0], opts);
        assert_eq!(held, [true; 6]);
        // Without the hole it does: sold from day 6.
        let held = held_with_stops(&[10.0, 10.0, 12.0, 12.0, 12.0, 10.0], opts);
        assert_eq!(held, [true, true, true, true, true, false]);
    }
}
