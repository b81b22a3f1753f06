//! `a·b + c` with one rounding, as TA-Lib's FMA builds compute it.
//!
//! Natively this is `f64::mul_add`. Core wasm has no scalar fused multiply-add, so in the guest
//! `mul_add` is the C library's software routine (about 30 ns, four times an EMA step's other
//! work). Relaxed SIMD's `f64x2.relaxed_madd` is the hardware instruction instead; relaxed SIMD
//! only allows it to be unfused where the host has no FMA, and the sandbox's engine runs it in
//! deterministic mode (`relaxed_simd_deterministic`: always fused, by a correctly rounded host
//! routine where the CPU lacks FMA). So both give the same bits.

/// `a * b + c` rounded once.
#[cfg(not(target_arch = "wasm32"))]
#[inline(always)]
pub fn fma(a: f64, b: f64, c: f64) -> f64 {
    a.mul_add(b, c)
}

/// `a * b + c` rounded once: lane 0 of relaxed SIMD's multiply-add (see the module doc).
/// Relaxed SIMD is part of the wasm the sandbox loads; an engine without it refuses the module
/// when it is compiled, before any code runs.
#[cfg(target_arch = "wasm32")]
#[inline]
#[target_feature(enable = "relaxed-simd")]
pub fn fma(a: f64, b: f64, c: f64) -> f64 {
    use core::arch::wasm32::{f64x2_extract_lane, f64x2_relaxed_madd, f64x2_splat};
    f64x2_extract_lane::<0>(f64x2_relaxed_madd(
        f64x2_splat(a),
        f64x2_splat(b),
        f64x2_splat(c),
    ))
}

#[cfg(test)]
mod tests {
    use super::fma;

    #[test]
    fn rounds_once() {
        // (1 + 2⁻⁵²)(1 − 2⁻⁵²) − 1 = −2⁻¹⁰⁴ exactly; unfused, the product rounds to 1 and gives 0.
        let e = f64::EPSILON;
        assert_eq!(fma(1.0 + e, 1.0 - e, -1.0), -(e * e));
    }
}
