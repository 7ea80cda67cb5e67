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
    let ln2_hi = a.num(LN2_HI);
    let ln2_lo = a.num(LN2_LO);
    let k_hi = a.mul(k, ln2_hi);
    let hi = a.sub(x, k_hi);
    let lo = a.mul(k, ln2_lo);
    let r = a.sub(hi, lo);
    // e^r = 1 + 2r / (R1(r) - r) with R1(r) = r coth(r/2), rewritten as fdlibm does to keep
    // the low part: 1 - ((lo - r c / (2 - c)) - hi) with c = r - r^2 R(r^2).
    let t = a.mul(r, r);
    let poly = horner(a, t, &P);
    let t_poly = a.mul(t, poly);
    let c = a.sub(r, t_poly);
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
