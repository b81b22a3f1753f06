//! Element-wise loops over panel cells, in blocks of [`BLOCK`] cells. In the wasm guest every
//! loop iteration pays wasmtime's fuel and deadline checks (a few instructions at the loop
//! header); a one-comparison body would pay them once per cell. A fixed-size block is unrolled
//! by the compiler, so the checks run once per block. The results are the same: each cell is
//! computed by the same `f`, in order.

/// Cells per unrolled block.
pub const BLOCK: usize = 8;

/// A flag as a number (how pandas reads a bool in arithmetic).
#[inline(always)]
pub fn one(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// `f` of every cell, collected.
#[inline(always)]
pub fn map<T: Copy, U>(x: &[T], f: impl Fn(T) -> U) -> Vec<U> {
    let n = x.len();
    let mut out: Vec<U> = Vec::with_capacity(n);
    let spare = &mut out.spare_capacity_mut()[..n];
    let (ob, or) = spare.as_chunks_mut::<BLOCK>();
    let (xb, xr) = x.as_chunks::<BLOCK>();
    for (o, x) in ob.iter_mut().zip(xb) {
        for i in 0..BLOCK {
            o[i].write(f(x[i]));
        }
    }
    for (o, x) in or.iter_mut().zip(xr) {
        o.write(f(*x));
    }
    // SAFETY: the blocks and the remainder cover all `n` cells, each written above.
    unsafe { out.set_len(n) };
    out
}

/// `f` of every pair of cells, collected (as long as the shorter of `a` and `b`).
#[inline(always)]
pub fn zip<A: Copy, B: Copy, U>(a: &[A], b: &[B], f: impl Fn(A, B) -> U) -> Vec<U> {
    let n = a.len().min(b.len());
    let mut out: Vec<U> = Vec::with_capacity(n);
    let spare = &mut out.spare_capacity_mut()[..n];
    let (ob, or) = spare.as_chunks_mut::<BLOCK>();
    let (ab, ar) = a[..n].as_chunks::<BLOCK>();
    let (bb, br) = b[..n].as_chunks::<BLOCK>();
    for ((o, x), y) in ob.iter_mut().zip(ab).zip(bb) {
        for i in 0..BLOCK {
            o[i].write(f(x[i], y[i]));
        }
    }
    for ((o, x), y) in or.iter_mut().zip(ar).zip(br) {
        o.write(f(*x, *y));
    }
    // SAFETY: the blocks and the remainder cover all `n` cells, each written above.
    unsafe { out.set_len(n) };
    out
}

/// Every cell replaced by `f` of itself.
#[inline(always)]
pub fn update<T: Copy>(v: &mut [T], f: impl Fn(T) -> T) {
    let (blocks, rest) = v.as_chunks_mut::<BLOCK>();
    for b in blocks {
        for x in b.iter_mut() {
            *x = f(*x);
        }
    }
    for x in rest {
        *x = f(*x);
    }
}

/// Every cell of `v` replaced by `f(cell, other)` (`b` as long as `v`).
#[inline(always)]
pub fn update_zip<T: Copy, B: Copy>(v: &mut [T], b: &[B], f: impl Fn(T, B) -> T) {
    let n = v.len().min(b.len());
    let (vb, vr) = v[..n].as_chunks_mut::<BLOCK>();
    let (bb, br) = b[..n].as_chunks::<BLOCK>();
    for (x, y) in vb.iter_mut().zip(bb) {
        for i in 0..BLOCK {
            x[i] = f(x[i], y[i]);
        }
    }
    for (x, y) in vr.iter_mut().zip(br) {
        *x = f(*x, *y);
    }
}

/// `out[i] = f(x[i])` into an existing buffer (as long as the shorter of the two). Not
/// inlined: a function of its own, so the guest's compiler allocates registers for this loop
/// alone (the fused chains call it once per step and block). The guest compiles it with
/// simd128, so the block loop is vectorised (lane-wise IEEE operations: the same bits as one
/// cell at a time); the rest of the guest stays scalar, where vectorising measured slower.
#[inline(never)]
#[cfg_attr(target_arch = "wasm32", target_feature(enable = "simd128"))]
pub fn map_into<A: Copy, U>(out: &mut [U], x: &[A], f: impl Fn(A) -> U) {
    let n = out.len().min(x.len());
    let (ob, or) = out[..n].as_chunks_mut::<BLOCK>();
    let (xb, xr) = x[..n].as_chunks::<BLOCK>();
    for (o, x) in ob.iter_mut().zip(xb) {
        for i in 0..BLOCK {
            o[i] = f(x[i]);
        }
    }
    for (o, x) in or.iter_mut().zip(xr) {
        *o = f(*x);
    }
}

/// `out[i] = f(x[i], y[i])` into an existing buffer (see [`map_into`]).
#[inline(never)]
#[cfg_attr(target_arch = "wasm32", target_feature(enable = "simd128"))]
pub fn zip_into<A: Copy, B: Copy, U>(out: &mut [U], x: &[A], y: &[B], f: impl Fn(A, B) -> U) {
    let n = out.len().min(x.len()).min(y.len());
    let (ob, or) = out[..n].as_chunks_mut::<BLOCK>();
    let (xb, xr) = x[..n].as_chunks::<BLOCK>();
    let (yb, yr) = y[..n].as_chunks::<BLOCK>();
    for ((o, x), y) in ob.iter_mut().zip(xb).zip(yb) {
        for i in 0..BLOCK {
            o[i] = f(x[i], y[i]);
        }
    }
    for ((o, x), y) in or.iter_mut().zip(xr).zip(yr) {
        *o = f(*x, *y);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_and_remainders_give_every_cell_in_order() {
        for n in [0, 1, 7, 8, 9, 17, 64, 100] {
            let a: Vec<f64> = (0..n).map(|i| i as f64).collect();
            let b: Vec<f64> = (0..n).map(|i| (i * 3) as f64).collect();
            assert_eq!(
                map(&a, |x| x * 2.0),
                a.iter().map(|x| x * 2.0).collect::<Vec<_>>()
            );
            let z = zip(&a, &b, |x, y| x < y - 1.0);
            assert_eq!(
                z,
                a.iter()
                    .zip(&b)
                    .map(|(x, y)| *x < y - 1.0)
                    .collect::<Vec<_>>()
            );
            let mut u = a.clone();
            update(&mut u, |x| x + 1.0);
            assert_eq!(u, a.iter().map(|x| x + 1.0).collect::<Vec<_>>());
            let mut w = a.clone();
            update_zip(&mut w, &b, |x, y| x - y);
            assert_eq!(w, a.iter().zip(&b).map(|(x, y)| x - y).collect::<Vec<_>>());
            let mut m = vec![0.0; n];
            map_into(&mut m, &a, |x| x * 2.0);
            assert_eq!(m, map(&a, |x| x * 2.0));
            zip_into(&mut m, &a, &b, |x, y| x - y);
            assert_eq!(m, w);
        }
    }
}
