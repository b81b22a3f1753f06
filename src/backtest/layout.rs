//! Memory layout for the daily loop. Panels arrive column-major (one column per stock); the loop
//! walks bars and, on a busy book, touches hundreds of stocks per bar, so reading one value per
//! column per bar misses the cache and the TLB on every stock. These helpers copy what the loop
//! reads into row-major blocks, transposing tile by tile so both sides stay cache-resident.

const TILE: usize = 64;

/// Writes the given rows of column-major `cols` row-major into `out` (`rows.len()` ×
/// `cols.len()`), tile by tile; NaN becomes `nan_as`.
pub(crate) fn gather_rows<C: AsRef<[f64]>>(
    cols: &[C],
    rows: &[usize],
    nan_as: f64,
    out: &mut [f64],
) {
    let nk = cols.len();
    for k0 in (0..nk).step_by(TILE) {
        let k1 = (k0 + TILE).min(nk);
        for i0 in (0..rows.len()).step_by(TILE) {
            let i1 = (i0 + TILE).min(rows.len());
            for (k, col) in cols.iter().enumerate().take(k1).skip(k0) {
                let col = col.as_ref();
                for i in i0..i1 {
                    let v = col[rows[i]];
                    out[i * nk + k] = if v.is_nan() { nan_as } else { v };
                }
            }
        }
    }
}

/// Bars per row-major price chunk.
pub(crate) const CHUNK: usize = 16;

/// Copies bars `start..end` of column-major `cols` into `buf` row-major (`(bar - start) × nk`),
/// NaN kept. Reusing one small buffer avoids allocating (and page-faulting) a whole panel.
pub(crate) fn fill_chunk<C: AsRef<[f64]>>(cols: &[C], start: usize, end: usize, buf: &mut [f64]) {
    let nk = cols.len();
    for (k, col) in cols.iter().enumerate() {
        for (i, &v) in col.as_ref()[start..end].iter().enumerate() {
            buf[i * nk + k] = v;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn gathers_and_transposes() {
        let cols = vec![vec![1.0, 2.0, f64::NAN], vec![4.0, 5.0, 6.0]];
        let mut out = vec![9.0; 4];
        super::gather_rows(&cols, &[2, 0], 0.0, &mut out);
        assert_eq!(out, vec![0.0, 6.0, 1.0, 4.0]);
        let mut t = vec![0.0; 4];
        super::fill_chunk(&cols, 1, 3, &mut t);
        assert!(t[0] == 2.0 && t[1] == 5.0 && t[2].is_nan() && t[3] == 6.0);
    }
}
