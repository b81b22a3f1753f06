//! The rebalance schedule (`docs/semantics.md` §2.2–2.3, §2.7): which position rows are
//! acted on, and the price bar each one executes on — the first bar strictly after its date.

use crate::simspec::Resample;

/// A position cell: a float weight (NaN reads as 0, §2.1 step 7) or a bool flag (1 or 0).
pub trait Cell: Copy + Sync {
    /// Cells of a run [`Cell::differs`] checks at once (so its comparison is vectorised).
    const RUN: usize;

    /// The weight the cell stands for.
    fn weight(self) -> f64;

    /// Σ |weight|, the number of non-zero cells and whether a weight is infinite, over `col`,
    /// whose changes (see `changes_of`) are at rows `changes`.
    fn totals(col: &[Self], changes: &[u32]) -> (f64, usize, bool) {
        let _ = changes;
        // Branch-free, with independent accumulators so the loop is not one long chain of
        // dependent additions (it reads every cell of the position).
        let (mut total, mut held, mut infinite) = ([0.0f64; 4], [0usize; 4], false);
        let mut chunks = col.chunks_exact(4);
        for c in &mut chunks {
            for lane in 0..4 {
                let w = c[lane].weight();
                infinite |= w.is_infinite();
                total[lane] += w.abs();
                held[lane] += usize::from(w != 0.0);
            }
        }
        for &v in chunks.remainder() {
            let w = v.weight();
            infinite |= w.is_infinite();
            total[0] += w.abs();
            held[0] += usize::from(w != 0.0);
        }
        let total = (total[0] + total[1]) + (total[2] + total[3]);
        (total, held.iter().sum(), infinite)
    }

    /// Whether a weight of `run` differs bit-wise from `prev` or from the one before it.
    fn differs(run: &[Self], prev: f64) -> bool {
        let Some(first) = run.first() else {
            return false;
        };
        let mut diff = first.weight().to_bits() != prev.to_bits();
        for pair in run.windows(2) {
            diff |= pair[1].weight().to_bits() != pair[0].weight().to_bits();
        }
        diff
    }
}

impl Cell for f64 {
    const RUN: usize = 8;

    #[inline(always)]
    fn weight(self) -> f64 {
        if self.is_nan() {
            0.0
        } else {
            self
        }
    }
}

/// Flags are summed as integers: every partial sum of small integers is exact in an `f64` too,
/// so the totals are the bits the float pass gives, without a conversion per cell.
impl Cell for u8 {
    const RUN: usize = 64;

    #[inline(always)]
    fn weight(self) -> f64 {
        f64::from(self)
    }

    /// From the runs between changes (the value before the first is 0): integer products,
    /// exact, so the float pass's bits without reading every cell again.
    fn totals(col: &[u8], changes: &[u32]) -> (f64, usize, bool) {
        let (mut total, mut held) = (0u64, 0usize);
        let ends = changes.iter().skip(1).map(|&r| r as usize);
        for (&r, end) in changes.iter().zip(ends.chain([col.len()])) {
            let (v, cells) = (col[r as usize], end - r as usize);
            total += u64::from(v) * cells as u64;
            held += usize::from(v != 0) * cells;
        }
        (total as f64, held, false)
    }

    fn differs(run: &[u8], prev: f64) -> bool {
        // `prev` is a flag's weight (0–255), or 0 before the first row.
        let p = prev as u8;
        run.iter().fold(0u8, |acc, &b| acc | (b ^ p)) != 0
    }
}

/// The position's weights, one column-major slice per stock (the panel's own memory, not a
/// copy), as floats or flags.
pub struct Weights<'a, T = f64> {
    /// One slice of `rows` cells per stock, in the position's column order.
    pub cols: Vec<&'a [T]>,
    /// Number of position rows (signal dates).
    pub rows: usize,
    /// Rows that differ from the previous row (the first counts as changed); filled by
    /// [`Weights::scan`] for resample=None, empty otherwise.
    pub changed: Vec<bool>,
    /// Every change of a cell from the row before, row-major (see [`Changes`]).
    pub changes: Changes,
}

/// The weights as a sparse list of changes, grouped by row: row `r` sets stock `stock[i]` to
/// `value[i]` for `i` in `start[r]..start[r + 1]` (row 0 changes from all zeros; NaN reads as 0).
/// Replaying rows `0..=r` onto zeros gives row `r` bit for bit, so the daily loop reads each
/// rebalance's row without touching one column per stock.
#[derive(Default)]
pub struct Changes {
    /// Offset of each row's first change in `stock`/`value`; `rows + 1` entries.
    pub start: Vec<usize>,
    /// Column index of the changed stock.
    pub stock: Vec<u32>,
    /// The cell's new weight (NaN already read as 0).
    pub value: Vec<f64>,
}

impl Changes {
    /// Applies the changes of rows `from..to` to `row`.
    pub fn replay(&self, from: usize, to: usize, row: &mut [f64]) {
        let (a, b) = (self.start[from], self.start[to]);
        for (&k, &v) in self.stock[a..b].iter().zip(&self.value[a..b]) {
            row[k as usize] = v;
        }
    }
}

/// What one pass over the weights found (see [`Weights::scan`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scan {
    /// Σ |weight| over all cells.
    pub total: f64,
    /// Number of non-zero cells.
    pub held_cells: usize,
}

impl<'a, T: Cell> Weights<'a, T> {
    /// Weights over `cols`, each `rows` long. With `on_change` (resample=None) the same single
    /// pass that validates the weights also marks the rows that differ from the previous one.
    /// An infinite weight is reported as `Err((stock, row))`.
    pub fn scan(
        cols: Vec<&'a [T]>,
        rows: usize,
        on_change: bool,
    ) -> Result<(Weights<'a, T>, Scan), (usize, usize)> {
        let mut changed = vec![false; if on_change { rows } else { 0 }];
        // Each column's changes (see `changes_of`), then all as (row, stock, value).
        let mut at = vec![0u32; rows];
        let mut per_row = vec![0usize; rows + 1];
        let mut found: Vec<(u32, u32, f64)> = Vec::new();
        let mut scan = Scan {
            total: 0.0,
            held_cells: 0,
        };
        let norm = |v: T| v.weight();
        for (k, col) in cols.iter().enumerate() {
            let flags = (!changed.is_empty()).then_some(changed.as_mut_slice());
            let n = changes_of(col, &mut at, flags);
            let (total, held, infinite) = T::totals(col, &at[..n]);
            if infinite {
                if let Some(r) = col.iter().position(|v| v.weight().is_infinite()) {
                    return Err((k, r));
                }
            }
            scan.total += total;
            scan.held_cells += held;
            for &r in &at[..n] {
                per_row[r as usize + 1] += 1;
                found.push((r, k as u32, norm(col[r as usize])));
            }
        }
        if let Some(first) = changed.first_mut() {
            *first = true;
        }
        // Counting sort by row (stable: column order within a row).
        for r in 0..rows {
            per_row[r + 1] += per_row[r];
        }
        let mut next = per_row.clone();
        let (mut stock, mut value) = (vec![0u32; found.len()], vec![0.0; found.len()]);
        for (r, k, w) in found {
            let i = &mut next[r as usize];
            stock[*i] = k;
            value[*i] = w;
            *i += 1;
        }
        let changes = Changes {
            start: per_row,
            stock,
            value,
        };
        Ok((
            Weights {
                cols,
                rows,
                changed,
                changes,
            },
            scan,
        ))
    }

    /// Weight of stock `k` in row `r`.
    #[inline]
    pub fn get(&self, k: usize, r: usize) -> f64 {
        self.cols[k][r].weight()
    }
}

/// Writes the rows where `col` (NaN as 0) differs bit-wise from the row before (row 0: from 0)
/// to `at` (at least `col.len()` long, else cut short) and returns their number; ORs "differs as
/// a number" into `changed` (resample=None). Runs of equal cells (most of a position: a weight
/// changes at entries and exits) are skipped after one vectorisable comparison; inside a run
/// that differs, every row is stored and the cursor only advances past a change.
fn changes_of<T: Cell>(col: &[T], at: &mut [u32], mut changed: Option<&mut [bool]>) -> usize {
    let len = col.len().min(at.len());
    let (mut n, mut prev) = (0usize, 0.0f64);
    let norm = |v: T| v.weight();
    for (i, chunk) in col[..len].chunks(T::RUN).enumerate() {
        let r0 = i * T::RUN;
        if !T::differs(chunk, prev) {
            // Equal bits: no change, as a number either (a weight is never NaN).
            prev = chunk.last().map_or(prev, |&v| norm(v));
            continue;
        }
        match changed.as_deref_mut() {
            None => {
                for (r, &v) in chunk.iter().enumerate() {
                    let w = norm(v);
                    at[n] = (r0 + r) as u32;
                    n += usize::from(w.to_bits() != prev.to_bits());
                    prev = w;
                }
            }
            Some(flags) => {
                let flags = flags.iter_mut().skip(r0);
                for ((r, &v), c) in chunk.iter().enumerate().zip(flags) {
                    let w = norm(v);
                    at[n] = (r0 + r) as u32;
                    n += usize::from(w.to_bits() != prev.to_bits());
                    *c |= w != prev;
                    prev = w;
                }
            }
        }
    }
    n
}

/// One rebalance: the signal date, the position row it uses and the bar it executes on.
#[derive(Clone, Debug, PartialEq)]
pub struct Rebalance {
    /// Date of the position row that triggers it (days since 1970-01-01).
    pub signal_date: i32,
    /// Index of that row in the position panel.
    pub row: usize,
    /// Index of the price bar it executes on (the bar after the signal, §2.3).
    pub bar: usize,
}

/// Rows kept under `resample=None`: the first and every row that differs from the previous one
/// (finlab: sum of |row − previous| ≠ 0).
fn changed_rows<T: Cell>(w: &Weights<T>) -> Vec<usize> {
    (0..w.changed.len()).filter(|&r| w.changed[r]).collect()
}

/// The latest row dated on or before `d` (pandas `reindex(method='ffill')`).
fn row_at(dates: &[i32], d: i32) -> Option<usize> {
    dates.partition_point(|&x| x <= d).checked_sub(1)
}

/// Builds the schedule.
///
/// - `dates`/`weights`: the position rows, dated, ≤ the last bar;
/// - `bars`: the price dates; `offset`: `resample_offset` in calendar days;
/// - `delist`: per column, the bar on which a delisted stock is sold (§2.7). Under
///   `resample=None` a copy of the row in effect is inserted the bar before each such sale, so
///   the book is rebalanced on the sale day.
///
/// Periodic schedules take calendar candidates from the first position date up to the last bar
/// (finlab's `present_data_date`; "now" is not used, so results are reproducible). The one
/// future candidate finlab appends after the last bar never executes and is not materialised.
pub fn schedule<T: Cell>(
    resample: Resample,
    offset: i32,
    dates: &[i32],
    weights: &Weights<T>,
    bars: &[i32],
    delist: &[Option<usize>],
) -> Vec<Rebalance> {
    let (Some(&first), Some(&last_bar)) = (dates.first(), bars.last()) else {
        return Vec::new();
    };
    // (signal date, row, inserted?) — inserted copies lose ties to real rows.
    let mut signals: Vec<(i32, usize, bool)> = match resample {
        Resample::OnChange => changed_rows(weights)
            .into_iter()
            .map(|r| (dates[r], r, false))
            .collect(),
        Resample::Every(freq) => freq
            .candidates(first, last_bar + 360)
            .into_iter()
            .map(|d| d + offset)
            .filter(|d| (first..=last_bar).contains(d))
            .filter_map(|d| row_at(dates, d).map(|r| (d, r, false)))
            .collect(),
    };
    if resample == Resample::OnChange {
        for (k, sale) in delist.iter().enumerate() {
            let Some(b) = *sale else { continue };
            let Some(day_before) = b.checked_sub(1).map(|i| bars[i]) else {
                continue;
            };
            if let Some(r) = row_at(dates, day_before) {
                if weights.get(k, r) != 0.0 {
                    signals.push((day_before, r, true));
                }
            }
        }
        signals.sort_by_key(|&(d, r, inserted)| (d, !inserted, r));
    }
    let mut out: Vec<Rebalance> = Vec::new();
    for (signal_date, row, _) in signals {
        // T+1: the first bar strictly after the signal date.
        let bar = bars.partition_point(|&b| b <= signal_date);
        if bar >= bars.len() {
            continue;
        }
        // Several signals before the same bar: only the latest is used.
        if out.last().map(|r| r.bar) == Some(bar) {
            out.pop();
        }
        out.push(Rebalance {
            signal_date,
            row,
            bar,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::days_from_civil as d;
    use crate::simspec::Frequency;

    fn weights(cols: &[Vec<f64>], on_change: bool) -> Weights<'_> {
        let slices = cols.iter().map(Vec::as_slice).collect();
        Weights::scan(slices, cols[0].len(), on_change).unwrap().0
    }

    fn monthly() -> Resample {
        Resample::Every(Frequency::parse("M").unwrap())
    }

    #[test]
    fn flags_scan_as_their_float_weights() {
        // Runs shorter and longer than a flag run (64), a column starting held, a lone flip,
        // flags above 1.
        let cols: Vec<Vec<u8>> = vec![
            (0..300).map(|r| u8::from((r / 70) % 2 == 1)).collect(),
            (0..300).map(|r| u8::from(r < 5 || r == 200)).collect(),
            (0..300).map(|r| u8::from(r % 3 == 0)).collect(),
            (0..300).map(|r| [0, 3, 255, 3, 1][(r / 50) % 5]).collect(),
            vec![0; 300],
        ];
        let floats: Vec<Vec<f64>> = cols
            .iter()
            .map(|c| c.iter().map(|&b| f64::from(b)).collect())
            .collect();
        for on_change in [false, true] {
            let (a, sa) =
                Weights::scan(cols.iter().map(Vec::as_slice).collect(), 300, on_change).unwrap();
            let (b, sb) =
                Weights::scan(floats.iter().map(Vec::as_slice).collect(), 300, on_change).unwrap();
            assert_eq!(sa, sb);
            assert_eq!(a.changed, b.changed);
            assert_eq!(a.changes.start, b.changes.start);
            assert_eq!(a.changes.stock, b.changes.stock);
            assert_eq!(a.changes.value, b.changes.value);
        }
    }

    #[test]
    fn replaying_the_changes_gives_every_row_bit_for_bit() {
        // NaN reads as 0; -0.0 vs 0.0 and runs longer and shorter than 8 cells.
        let a: Vec<f64> = (0..21)
            .map(|r| match r {
                0..=2 => f64::NAN,
                3 => -0.0,
                4..=12 => 0.5,
                13 => 0.0,
                _ => 0.25 * (r % 3) as f64,
            })
            .collect();
        let b: Vec<f64> = (0..21)
            .map(|r| if r % 9 == 4 { 1.0 } else { 0.0 })
            .collect();
        let cols = vec![a, b];
        for on_change in [false, true] {
            let w = weights(&cols, on_change);
            let mut row = vec![0.0; 2];
            for r in 0..w.rows {
                w.changes.replay(r, r + 1, &mut row);
                for (k, col) in cols.iter().enumerate() {
                    let want = if col[r].is_nan() { 0.0 } else { col[r] };
                    assert_eq!(row[k].to_bits(), want.to_bits(), "row {r} stock {k}");
                }
            }
        }
    }

    #[test]
    fn changed_rows_are_the_rows_that_differ_as_numbers() {
        // Runs longer and shorter than a float run (8): a -0.0/0.0 flip differs in bits but
        // not as a number; NaN reads as 0; a lone change deep inside a long equal run.
        let a: Vec<f64> = (0..40)
            .map(|r| match r {
                0..=9 => f64::NAN,
                10 => -0.0,
                11..=20 => 0.0,
                21 => 2.0,
                _ => 1.0,
            })
            .collect();
        let b: Vec<f64> = (0..40).map(|r| f64::from(u8::from(r == 33))).collect();
        let cols = vec![a, b];
        let w = weights(&cols, true);
        let norm = |v: f64| if v.is_nan() { 0.0 } else { v };
        let want: Vec<bool> = (0..40)
            .map(|r| r == 0 || cols.iter().any(|c| norm(c[r]) != norm(c[r - 1])))
            .collect();
        assert_eq!(w.changed, want);
        assert_eq!(changed_rows(&w), vec![0, 21, 22, 33, 34]);
    }

    #[test]
    fn monthly_uses_latest_row_and_trades_next_bar() {
        // bars: Fri 2023-04-28, Tue 05-02, Wed 05-31, Thu 06-01
        let bars = vec![d(2023, 4, 28), d(2023, 5, 2), d(2023, 5, 31), d(2023, 6, 1)];
        let cols = vec![vec![1.0, 0.0, 1.0, 1.0]];
        let rows = weights(&cols, false);
        let s = schedule(monthly(), 0, &bars, &rows, &bars, &[None]);
        // Apr 30 (Sunday) → row of Apr 28, trades May 2; May 31 → row of May 31, trades Jun 1.
        let got: Vec<(i32, usize, usize)> =
            s.iter().map(|r| (r.signal_date, r.row, r.bar)).collect();
        assert_eq!(got, vec![(d(2023, 4, 30), 0, 1), (d(2023, 5, 31), 2, 3)]);
        // resample_offset moves the dates: Apr 30 + 2 = May 2 → row of May 2, trades May 31.
        let s = schedule(monthly(), 2, &bars, &rows, &bars, &[None]);
        assert_eq!(
            (s[0].signal_date, s[0].row, s[0].bar),
            (d(2023, 5, 2), 1, 2)
        );
    }

    #[test]
    fn none_trades_on_changes() {
        let bars = vec![1, 2, 3, 4, 5];
        let cols = vec![vec![1.0, 1.0, 0.0, f64::NAN, 1.0]];
        let rows = weights(&cols, true);
        let s = schedule(Resample::OnChange, 0, &bars, &rows, &bars, &[None]);
        let got: Vec<(usize, usize)> = s.iter().map(|r| (r.row, r.bar)).collect();
        // row 4 (date 5) has no bar after it
        assert_eq!(got, vec![(0, 1), (2, 3)]);
    }

    #[test]
    fn a_delisting_sale_inserts_a_rebalance_under_none() {
        let bars: Vec<i32> = (0..30).collect();
        let cols = vec![vec![1.0], vec![1.0]];
        let rows = weights(&cols, true);
        let s = schedule(Resample::OnChange, 0, &[0], &rows, &bars, &[None, Some(5)]);
        let got: Vec<(i32, usize)> = s.iter().map(|r| (r.signal_date, r.bar)).collect();
        assert_eq!(got, vec![(0, 1), (4, 5)]);
    }
}
