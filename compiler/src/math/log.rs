//! `log(x)`: `x = 2^k (1 + f)` with `sqrt(2)/2 <= 1 + f < sqrt(2)`, then
//! `log(1 + f) = 2 atanh(s)` with `s = f / (2 + f)`, a polynomial in `s^2`, and `k ln 2` added
//! in two parts so that no bit of the small terms is lost.

use super::{Bits, LN2_HI, LN2_LO, horner};

/// Remez coefficients of `R(z)` in `log(1 + f) = f - f^2/2 + s (f^2/2 + R(s^2))`, the odd and
/// even halves evaluated in `w = s^4` (two shorter dependency chains).
const ODD: [f64; 4] = [
    f64::from_bits(0x3FE5_5555_5555_5593),
    f64::from_bits(0x3FD2_4924_9422_9359),
    f64::from_bits(0x3FC7_4664_96CB_03DE),
    f64::from_bits(0x3FC2_F112_DF3E_5244),
];
const EVEN: [f64; 3] = [
    f64::from_bits(0x3FD9_9999_9997_FA04),
    f64::from_bits(0x3FCC_71C5_1D8E_78AF),
    f64::from_bits(0x3FC3_9A09_D078_C69F),
];
/// The smallest normal number: below it the argument is scaled up by `2^54` first.
const SMALLEST_NORMAL: f64 = f64::MIN_POSITIVE;
const TWO_POW_54: f64 = 18_014_398_509_481_984.0;

/// The natural logarithm, within 1 ulp. `log(0) = -inf`, `log(inf) = inf`, NaN for negative
/// numbers and NaN.
pub fn log<A: Bits>(a: &mut A, x: A::Num) -> A::Num {
    // Subnormal arguments get a normal significand by an exact scaling.
    let smallest_normal = a.num(SMALLEST_NORMAL);
    let subnormal = a.less(x, smallest_normal);
    let scale = a.num(TWO_POW_54);
    let scaled = a.mul(x, scale);
    let normal = a.select(subnormal, scaled, x);
    let (shift, no_shift) = (a.num(54.0), a.num(0.0));
    let exponent_shift = a.select(subnormal, shift, no_shift);
    let [exponent, m] = a.split_below(normal, std::f64::consts::SQRT_2);
    let k = a.sub(exponent, exponent_shift);
    let value = log_of_parts(a, m, k);

    // Zero, infinity, negative numbers and NaN.
    let zero = a.num(0.0);
    let infinity = a.num(f64::INFINITY);
    let positive = a.less(zero, x);
    let finite = a.less(x, infinity);
    let is_zero = a.equal(x, zero);
    let minus_infinity = a.num(f64::NEG_INFINITY);
    let nan = a.num(f64::NAN);
    let not_positive = a.select(is_zero, minus_infinity, nan);
    let positive_value = a.select(finite, value, infinity);
    a.select(positive, positive_value, not_positive)
}

/// [`log`] of a positive, normal, finite `x` (a uniform draw, say), without the scaling and
/// the selects that only other arguments need: the same bits as [`log`] there.
pub fn log_of_normal<A: Bits>(a: &mut A, x: A::Num) -> A::Num {
    let [k, m] = a.split_below(x, std::f64::consts::SQRT_2);
    log_of_parts(a, m, k)
}

/// The logarithm of `2^k m`, `m = 1 + f` in `[sqrt(2)/2, sqrt(2))`.
fn log_of_parts<A: Bits>(a: &mut A, m: A::Num, k: A::Num) -> A::Num {
    let (one, half) = (a.num(1.0), a.num(0.5));
    let f = a.sub(m, one);

    let two = a.num(2.0);
    let two_plus_f = a.add(two, f);
    let s = a.div(f, two_plus_f);
    let z = a.mul(s, s);
    let w = a.mul(z, z);
    let odd = horner(a, w, &ODD);
    let even = horner(a, w, &EVEN);
    let even = a.mul(w, even);
    let r = a.mul_add(z, odd, even);
    let f_half = a.mul(half, f);
    let hfsq = a.mul(f_half, f);
    // k ln2_hi - ((hfsq - (s (hfsq + R) + k ln2_lo)) - f)
    let hfsq_r = a.add(hfsq, r);
    let ln2_lo = a.num(LN2_LO);
    let k_lo = a.mul(k, ln2_lo);
    let small_terms = a.mul_add(s, hfsq_r, k_lo);
    let correction = a.sub(hfsq, small_terms);
    let correction = a.sub(correction, f);
    let ln2_hi = a.num(LN2_HI);
    let k_hi = a.mul(k, ln2_hi);
    a.sub(k_hi, correction)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::Scalar;

    /// Wherever the shortcut applies it gives [`log`]'s bits: uniform draws' range, its ends,
    /// and normal numbers of every exponent.
    #[test]
    fn log_of_normal_numbers_skips_nothing_they_need() {
        let mut state = 12345u64;
        let mut arguments = vec![2f64.powi(-53), 1.0 - 2f64.powi(-53), f64::MIN_POSITIVE, f64::MAX, 1.0, 0.5];
        for i in 0..200_000 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let x = if i % 2 == 0 {
                ((state >> 12) as f64 + 0.5) * 2f64.powi(-52)
            } else {
                f64::from_bits(((state >> 1) % (0x7FE0_0000_0000_0000 - 0x0010_0000_0000_0000)) + 0x0010_0000_0000_0000)
            };
            arguments.push(x);
        }
        for x in arguments {
            assert_eq!(log_of_normal(&mut Scalar, x).to_bits(), log(&mut Scalar, x).to_bits(), "log({x:e})");
        }
    }
}
