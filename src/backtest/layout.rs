//! Memory layout for the daily loop. Panels arrive column-major (one column per stock); the loop
//! walks bars and, on a busy book, touches hundreds of stocks per bar, so reading one value per
//! column per bar misses the cache and the TLB on every stock. Prices are copied into small
//! row-major blocks instead (the weights are replayed from their changes, see `schedule`).

/// Bars per row-major price chunk.
pub(crate) const CHUNK: usize = 16;

/// Copies bars `start..end` of column-major `cols` into `buf` row-major (`(bar - start) × nk`),
/// NaN kept. Reusing one small buffer avoids allocating (and page-faulting) a whole panel.
pub(crate) fn fill_chunk<C: AsRef<[f64]>>(cols: &[C], start: usize, end: usize, buf: &mut [f64]) {
    let nk = cols.len();
    // Two columns at a time: twice the independent loads in flight per step (the reads miss).
    let mut pairs = cols.chunks_exact(2);
    for (j, pair) in (&mut pairs).enumerate() {
        let (a, b) = (&pair[0].as_ref()[start..end], &pair[1].as_ref()[start..end]);
        for ((row, &x), &y) in buf.chunks_exact_mut(nk).zip(a).zip(b) {
            row[2 * j] = x;
            row[2 * j + 1] = y;
        }
    }
    if let [last] = pairs.remainder() {
        for (row, &x) in buf.chunks_exact_mut(nk).zip(&last.as_ref()[start..end]) {
            row[nk - 1] = x;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn transposes_a_chunk() {
        let cols = vec![vec![1.0, 2.0, f64::NAN], vec![4.0, 5.0, 6.0]];
        let mut t = vec![0.0; 4];
        super::fill_chunk(&cols, 1, 3, &mut t);
        assert!(t[0] == 2.0 && t[1] == 5.0 && t[2].is_nan() && t[3] == 6.0);
    }
}
