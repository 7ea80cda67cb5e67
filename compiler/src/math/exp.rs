//! `exp(x)`: `x = k ln2 + r` with `|r| <= ln2 / 2`, a rational approximation of `e^r`, then a
//! scale by `2^k` in two exact-or-once-rounded steps (so results near overflow and in the
//! subnormal range need no special case).

use super::{Bits, LN2_HI, LN2_LO, clamp, horner, nearest_multiple};

/// `1 / ln 2`.
const INV_LN2: f64 = std::f64::consts::LOG2_E;
/// The Remez coefficients of `R(r^2)` in `r coth(r/2) = 2 + r^2 R(r^2)` on `|r| <= ln2 / 2`.
pub(super) const P: [f64; 5] = [
    f64::from_bits(0x3FC5_5555_5555_553E),
    f64::from_bits(0xBF66_C16C_16BE_BD93),
    f64::from_bits(0x3F11_566A_AF25_DE2C),
    f64::from_bits(0xBEBB_BD41_C5D2_6BF1),
    f64::from_bits(0x3E66_3769_72BE_A4D0),
];
/// Below this `e^x` rounds to 0, above `HIGH` to infinity: clamping there changes no result
/// and keeps `k` within reach of [`Bits::pow2`].
const LOW: f64 = -746.0;
const HIGH: f64 = 710.0;

/// `e^x`, within 1 ulp. `exp(NaN)` is NaN, `exp(-inf) = 0`, `exp(inf) = inf`.
pub fn exp<A: Bits>(a: &mut A, x: A::Num) -> A::Num {
    let x = clamp(a, x, LOW, HIGH);
    let k = nearest_multiple(a, x, INV_LN2);
    let (minus_ln2_hi, ln2_lo) = (a.num(-LN2_HI), a.num(LN2_LO));
    // Exact: `k LN2_HI` is, and `x` is near it.
    let hi = a.mul_add(k, minus_ln2_hi, x);
    let lo = a.mul(k, ln2_lo);
    let r = a.sub(hi, lo);
    // e^r = 1 + 2r / (R1(r) - r) with R1(r) = r coth(r/2), rewritten as fdlibm does to keep
    // the low part: 1 - ((lo - r c / (2 - c)) - hi) with c = r - r^2 R(r^2).
    let t = a.mul(r, r);
    let poly = horner(a, t, &P);
    let minus_t = a.neg(t);
    let c = a.mul_add(minus_t, poly, r);
    let rc = a.mul(r, c);
    let two = a.num(2.0);
    let two_minus_c = a.sub(two, c);
    let quotient = a.div(rc, two_minus_c);
    let low_part = a.sub(lo, quotient);
    let low_part = a.sub(low_part, hi);
    let one = a.num(1.0);
    let y = a.sub(one, low_part);
    // y 2^k = (y 2^k1) 2^k2 with k1 = floor(k / 2): the first product is exact, the second
    // rounds once, also when the result is subnormal or overflows.
    let half = a.num(0.5);
    let k_half = a.mul(k, half);
    let k1 = a.floor(k_half);
    let k2 = a.sub(k, k1);
    let (scale1, scale2) = (a.pow2(k1), a.pow2(k2));
    let y = a.mul(y, scale1);
    a.mul(y, scale2)
}

/// Where [`exp_bounds`] brackets `exp`: `|x| < BOUNDED` keeps `e^x` and the bounds normal.
const BOUNDED: f64 = 700.0;
/// The bounds' distance from the approximation, relative: above its error (below 1.21e-3:
/// Taylor's remainder `e^|r| r^4 / 24` at `|r| = ln2 / 2`, over `e^r >= 1 / sqrt 2`).
const BOUND_GAP: f64 = 1.0 / 512.0;

/// Bounds `lo <= exp(x) <= hi` on [`exp`] (not just on `e^x`), 2^-9 from a cubic Taylor
/// polynomial, at a fraction of `exp`'s cost, and whether they hold: a comparison
/// `u < exp(x)` is true where `u < lo` and false where `u >= hi`, and only between them
/// needs `exp` itself. They hold for `|x| < 700` (not for NaN); elsewhere they
/// are meaningless.
pub fn exp_bounds<A: Bits>(a: &mut A, x: A::Num) -> (A::Num, A::Num, A::Cond) {
    let magnitude = a.abs(x);
    let bounded = a.num(BOUNDED);
    let holds = a.less(magnitude, bounded);
    let k = nearest_multiple(a, x, INV_LN2);
    // `k * LN2` is off by at most 1e-13 where the bounds hold: nothing beside the polynomial's.
    let minus_ln2 = a.num(-std::f64::consts::LN_2);
    let r = a.mul_add(k, minus_ln2, x);
    let polynomial = horner(a, r, &[1.0, 1.0, 1.0 / 2.0, 1.0 / 6.0]);
    let scale = a.pow2(k);
    let approximation = a.mul(polynomial, scale);
    let (below, above) = (a.num(1.0 - BOUND_GAP), a.num(1.0 + BOUND_GAP));
    (a.mul(approximation, below), a.mul(approximation, above), holds)
}

#[cfg(test)]
mod tests {
    use super::super::Scalar;
    use super::*;

    /// `exp_bounds` brackets `exp` over the whole bounded range (a dense sweep, the ends, the
    /// reduction's half-way points) within 2^-7, and do not claim to hold outside it.
    #[test]
    fn bounds_bracket_exp() {
        let mut s = Scalar;
        let half_steps = (-2020..=2020).map(|k| (k as f64 + 0.5) * std::f64::consts::LN_2 / 2.0);
        let sweep = (0..2_000_000).map(|i| -BOUNDED + 2.0 * BOUNDED * i as f64 / 2_000_000.0);
        let ends = [-699.999_999_999, 699.999_999_999, -1e-300, 0.0, -0.0, 1e-300, 0.3465, -0.3466];
        for x in sweep.chain(half_steps).chain(ends).filter(|x| x.abs() < BOUNDED) {
            let (lo, hi, holds) = exp_bounds(&mut s, x);
            let e = exp(&mut s, x);
            assert!(holds && lo <= e && e <= hi, "exp({x}) = {e} outside [{lo}, {hi}]");
            assert!(hi / lo - 1.0 < 1.0 / 128.0, "bounds of exp({x}) too far apart: [{lo}, {hi}]");
        }
        for x in [BOUNDED, -BOUNDED, 710.0, -746.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
            assert!(!exp_bounds(&mut s, x).2, "bounds said to hold at {x}");
        }
    }
}
