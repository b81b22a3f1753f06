//! What the guest's two-column SIMD kernels share. Each rolling statistic's `*_pair` kernel
//! (beside its scalar column kernel in [`super::rolling`]) runs two columns at once, one per
//! `f64x2` lane: the same IEEE operations as the scalar code, in the same order, with a
//! `v128_bitselect` where the scalar code branches — so each lane's results are the scalar
//! results, bit for bit. simd128 is part of the wasm the sandbox loads; an engine without it
//! refuses the module when it is compiled, before any code runs.

use core::arch::wasm32::*;

/// Row `i` of columns `a` and `b`, one per lane.
#[inline]
#[target_feature(enable = "simd128")]
pub(super) fn load(a: &[f64], b: &[f64], i: usize) -> v128 {
    f64x2(a[i], b[i])
}

/// Lane 0 of `r` into row `i` of `oa`, lane 1 into row `i` of `ob`.
#[inline]
#[target_feature(enable = "simd128")]
pub(super) fn store(r: v128, oa: &mut [f64], ob: &mut [f64], i: usize) {
    oa[i] = f64x2_extract_lane::<0>(r);
    ob[i] = f64x2_extract_lane::<1>(r);
}
