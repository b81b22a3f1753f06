//! `a·b + c` with one rounding, as TA-Lib's FMA builds compute it, and a branch-free "take it if
//! greater" for the guest ([`greater`]).
//!
//! Natively `fma` is `f64::mul_add`. Core wasm has no scalar fused multiply-add, so in the guest
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

/// `t` where `t > running`, else `running` (NaN never replaces it; of equal values it stays).
#[cfg(not(target_arch = "wasm32"))]
#[inline(always)]
pub fn greater(running: f64, t: f64) -> f64 {
    if t > running {
        t
    } else {
        running
    }
}

/// `t` where `t > running`, else `running`, without a branch: lane 0 of SIMD's pseudo-maximum,
/// `pmax(a, b) = a < b ? b : a` (so NaN and ties keep `running`, as the compare does). Scalar,
/// the guest compares and branches, and on prices the branch is mispredicted often.
#[cfg(target_arch = "wasm32")]
#[inline]
#[target_feature(enable = "simd128")]
pub fn greater(running: f64, t: f64) -> f64 {
    use core::arch::wasm32::{f64x2_extract_lane, f64x2_pmax, f64x2_splat};
    f64x2_extract_lane::<0>(f64x2_pmax(f64x2_splat(running), f64x2_splat(t)))
}

/// A change split into its rise and its fall: `(0.0, d)` where `d < 0`, else `(d, 0.0)` — so
/// adding the rise to a running gain and taking the fall from a running loss changes only the
/// side the branch would have (the other gets an exact `± 0.0`).
#[cfg(not(target_arch = "wasm32"))]
#[inline(always)]
pub fn rise_fall(d: f64) -> (f64, f64) {
    if d < 0.0 {
        (0.0, d)
    } else {
        (d, 0.0)
    }
}

/// [`rise_fall`] without a branch: the comparison's mask selects the bits (a branch on the
/// sign of a price change is mispredicted half the time).
#[cfg(target_arch = "wasm32")]
#[inline]
#[target_feature(enable = "simd128")]
pub fn rise_fall(d: f64) -> (f64, f64) {
    use core::arch::wasm32::{f64x2_extract_lane, f64x2_lt, f64x2_splat, v128_and, v128_andnot};
    let v = f64x2_splat(d);
    let falls = f64x2_lt(v, f64x2_splat(0.0));
    (
        f64x2_extract_lane::<0>(v128_andnot(v, falls)),
        f64x2_extract_lane::<0>(v128_and(v, falls)),
    )
}

#[cfg(test)]
mod tests {
    use super::{fma, greater, rise_fall};

    #[test]
    fn a_change_is_a_rise_or_a_fall() {
        let bits = |(a, b): (f64, f64)| (a.to_bits(), b.to_bits());
        for d in [
            1.5,
            -1.5,
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
        ] {
            let want = if d < 0.0 { (0.0, d) } else { (d, 0.0) };
            assert_eq!(bits(rise_fall(d)), bits(want), "{d}");
        }
        let (rise, fall) = rise_fall(f64::NAN);
        assert!(rise.is_nan() && fall.to_bits() == 0);
    }

    #[test]
    fn greater_takes_only_a_greater_value() {
        let n = f64::NAN;
        assert_eq!(greater(1.0, 2.0), 2.0);
        assert_eq!(greater(2.0, 1.0), 2.0);
        assert!(greater(1.0, n) == 1.0 && greater(n, 1.0).is_nan());
        // Of equal values (signed zeros) the running one stays.
        assert!(greater(-0.0, 0.0).is_sign_negative() && greater(0.0, -0.0).is_sign_positive());
    }

    #[test]
    fn rounds_once() {
        // (1 + 2⁻⁵²)(1 − 2⁻⁵²) − 1 = −2⁻¹⁰⁴ exactly; unfused, the product rounds to 1 and gives 0.
        let e = f64::EPSILON;
        assert_eq!(fma(1.0 + e, 1.0 - e, -1.0), -(e * e));
    }
}
