//! `expm1(x) = e^x - 1` and the hyperbolic functions built on it and on [`super::exp`]:
//! `tanh`, `sinh`, `cosh`. fdlibm's algorithms (`s_expm1.c`, `s_tanh.c`, `e_sinh.c`,
//! `e_cosh.c`), with every branch computed and the result selected, so lanes stay in step.

use super::{Bits, LN2_HI, LN2_LO, clamp, exp, horner, nearest_multiple};

/// `1 / ln 2`.
const INV_LN2: f64 = std::f64::consts::LOG2_E;
/// The Remez coefficients of `expm1`'s rational approximation on `|r| <= ln2 / 2`, after its
/// leading 1.
const Q: [f64; 6] = [
    1.0,
    f64::from_bits(0xBFA1_1111_1111_10F4),
    f64::from_bits(0x3F5A_01A0_19FE_5585),
    f64::from_bits(0xBF14_CE19_9EAA_DBB7),
    f64::from_bits(0x3ED0_CFCA_86E6_5239),
    f64::from_bits(0xBE8A_FDB7_6E09_C32D),
];
/// From here down `expm1` is `x` (2^-54).
const EXPM1_TINY: f64 = f64::from_bits(0x3C90_0000_0000_0000);
/// Below `ln2 / 2` (its first 32 bits, rounded up) there is no reduction.
const HALF_LN2: f64 = f64::from_bits(0x3FD6_2E43_0000_0000);
/// Below `1.5 ln2` (its first 32 bits) the reduction takes one `ln 2`.
const THREE_HALVES_LN2: f64 = f64::from_bits(0x3FF0_A2B2_0000_0000);
/// From `56 ln2` (its first 32 bits) down, `expm1` rounds to -1.
const MINUS_ONE_BELOW: f64 = -f64::from_bits(0x4043_687A_0000_0000);
/// Above this `expm1` overflows.
const OVERFLOW: f64 = f64::from_bits(0x4086_2E42_FEFA_39EF);
/// `ln` of the largest double (its first 32 bits): from here `sinh` and `cosh` take
/// `e^(|x|/2)` twice so as not to overflow early.
const LOG_MAX: f64 = f64::from_bits(0x4086_2E42_0000_0000);

/// `e^x - 1`, within 1 ulp, accurate near 0 where `exp(x) - 1` cancels.
pub fn expm1<A: Bits>(a: &mut A, x: A::Num) -> A::Num {
    let magnitude = a.abs(x);
    let zero = a.num(0.0);
    let negative = a.less(x, zero);
    // Arguments beyond the range that matters are clamped (the result is selected below), so
    // every lane's scale stays within `pow2`'s reach.
    let xc = clamp(a, x, MINUS_ONE_BELOW, OVERFLOW);
    let magnitude_c = a.abs(xc);
    // k: 0 below ln2/2, +-1 below 1.5 ln2, else x / ln2 rounded half away from zero.
    let m = nearest_multiple(a, magnitude_c, INV_LN2);
    let minus_m = a.neg(m);
    let far = a.select(negative, minus_m, m);
    let (one, minus_one) = (a.num(1.0), a.num(-1.0));
    let near = a.select(negative, minus_one, one);
    let below_three_halves = {
        let limit = a.num(THREE_HALVES_LN2);
        a.less(magnitude_c, limit)
    };
    let k = a.select(below_three_halves, near, far);
    let below_half = {
        let limit = a.num(HALF_LN2);
        a.less(magnitude_c, limit)
    };
    let k = a.select(below_half, zero, k);
    // x = k ln2 + r, with c the rounding error of r.
    let ln2_hi = a.num(LN2_HI);
    let ln2_lo = a.num(LN2_LO);
    let k_hi = a.mul(k, ln2_hi);
    let hi = a.sub(xc, k_hi);
    let lo = a.mul(k, ln2_lo);
    let r = a.sub(hi, lo);
    let hi_minus_r = a.sub(hi, r);
    let c = a.sub(hi_minus_r, lo);
    // expm1(r) = r - (r e - r^2/2), e from the rational approximation.
    let half = a.num(0.5);
    let hfx = a.mul(half, r);
    let hxs = a.mul(r, hfx);
    let r1 = horner(a, hxs, &Q);
    let three = a.num(3.0);
    let r1_hfx = a.mul(r1, hfx);
    let t = a.sub(three, r1_hfx);
    let six = a.num(6.0);
    let r_t = a.mul(r, t);
    let denominator = a.sub(six, r_t);
    let numerator = a.sub(r1, t);
    let quotient = a.div(numerator, denominator);
    let e = a.mul(hxs, quotient);
    let r_e = a.mul(r, e);
    let r_e_minus = a.sub(r_e, hxs);
    let unreduced = a.sub(r, r_e_minus);
    // With k != 0: e' = r (e - c) - c - r^2/2, then 2^k (1 + r - e') - 1 in a form for each k.
    let e_minus_c = a.sub(e, c);
    let r_e_c = a.mul(r, e_minus_c);
    let e2 = a.sub(r_e_c, c);
    let e2 = a.sub(e2, hxs);
    let r_minus_e2 = a.sub(r, e2);
    // k = -1: (r - e') / 2 - 1/2.
    let half_diff = a.mul(half, r_minus_e2);
    let k_minus_one = a.sub(half_diff, half);
    // k = 1: -2 (e' - (r + 1/2)) below r = -1/4, else 1 + 2 (r - e').
    let two = a.num(2.0);
    let minus_two = a.num(-2.0);
    let r_half = a.add(r, half);
    let e2_minus = a.sub(e2, r_half);
    let k_one_low = a.mul(minus_two, e2_minus);
    let twice = a.mul(two, r_minus_e2);
    let k_one_high = a.add(one, twice);
    let quarter = a.num(-0.25);
    let low_r = a.less(r, quarter);
    let k_one = a.select(low_r, k_one_low, k_one_high);
    // 2^k, by two factors so that k = 1024 does not overflow early.
    let k_half = a.mul(k, half);
    let k1 = a.floor(k_half);
    let k2 = a.sub(k, k1);
    let (scale1, scale2) = (a.pow2(k1), a.pow2(k2));
    let scale = |a: &mut A, y: A::Num| {
        let y = a.mul(y, scale1);
        a.mul(y, scale2)
    };
    // k <= -2 or k > 56: 2^k (1 - (e' - r)) - 1.
    let e2_minus_r = a.sub(e2, r);
    let y = a.sub(one, e2_minus_r);
    let y = scale(a, y);
    let k_far = a.sub(y, one);
    // 2 <= k < 20: 2^k ((1 - 2^-k) - (e' - r)).
    let minus_k = a.neg(k);
    let inverse_scale = a.pow2(minus_k);
    let one_minus = a.sub(one, inverse_scale);
    let y = a.sub(one_minus, e2_minus_r);
    let k_middle = scale(a, y);
    // 20 <= k <= 56: 2^k ((r - (e' + 2^-k)) + 1).
    let e2_plus = a.add(e2, inverse_scale);
    let y = a.sub(r, e2_plus);
    let y = a.add(y, one);
    let k_upper = scale(a, y);
    let in_range = |a: &mut A, lo: f64, hi: f64| {
        let (lo, hi) = (a.num(lo), a.num(hi));
        let above = a.less(lo, k);
        let below = a.less(k, hi);
        a.both(above, below)
    };
    let middle = in_range(a, 1.5, 19.5);
    let upper = in_range(a, 19.5, 56.5);
    let result = a.select(middle, k_middle, k_far);
    let result = a.select(upper, k_upper, result);
    let is_one = a.equal(k, one);
    let result = a.select(is_one, k_one, result);
    let is_minus_one = a.equal(k, minus_one);
    let result = a.select(is_minus_one, k_minus_one, result);
    let is_zero = a.equal(k, zero);
    let result = a.select(is_zero, unreduced, result);
    // The ends: tiny arguments are their own expm1, far below it is -1, beyond it overflows,
    // NaN stays NaN.
    let tiny = {
        let limit = a.num(EXPM1_TINY);
        a.less(magnitude, limit)
    };
    let result = a.select(tiny, x, result);
    let (low, high) = (a.num(MINUS_ONE_BELOW), a.num(OVERFLOW));
    let above_low = a.less(low, x);
    let result = a.select(above_low, result, minus_one);
    let overflows = a.less(high, x);
    let infinity = a.num(f64::INFINITY);
    let result = a.select(overflows, infinity, result);
    let is_number = a.equal(x, x);
    a.select(is_number, result, x)
}

/// `tanh(x)`, from `expm1(+-2|x|)`, within 3 ulp of glibc's (the quotient `-t / (t + 2)`
/// rounds twice after `t`'s own error). `tanh(+-inf) = +-1`.
pub fn tanh<A: Bits>(a: &mut A, x: A::Num) -> A::Num {
    let magnitude = a.abs(x);
    let (one, two) = (a.num(1.0), a.num(2.0));
    let large = a.less(magnitude, one);
    // Below 1: t = expm1(-2|x|), -t / (t + 2); from 1 to 22: t = expm1(2|x|), 1 - 2 / (t + 2).
    let twice = a.mul(two, magnitude);
    let minus_twice = a.neg(twice);
    let argument = a.select(large, minus_twice, twice);
    let t = expm1(a, argument);
    let t_two = a.add(t, two);
    let minus_t = a.neg(t);
    let small_value = a.div(minus_t, t_two);
    let ratio = a.div(two, t_two);
    let large_value = a.sub(one, ratio);
    let z = a.select(large, small_value, large_value);
    let limit = a.num(22.0);
    let below_limit = a.less(magnitude, limit);
    let z = a.select(below_limit, z, one);
    let zero = a.num(0.0);
    let negative = a.less(x, zero);
    let minus_z = a.neg(z);
    let z = a.select(negative, minus_z, z);
    // Tiny: x (1 + x), which is x, keeping the sign of zero.
    let tiny_limit = a.num(f64::from_bits(0x3C80_0000_0000_0000));
    let tiny = a.less(magnitude, tiny_limit);
    let one_plus = a.add(one, x);
    let tiny_value = a.mul(x, one_plus);
    let z = a.select(tiny, tiny_value, z);
    let is_number = a.equal(x, x);
    a.select(is_number, z, x)
}

/// `h e^|x|`, from `e^(|x|/2)` squared in two halves beyond `ln` of the largest double, where
/// `e^|x|` alone would overflow.
fn scaled_exp<A: Bits>(a: &mut A, magnitude: A::Num, h: A::Num) -> A::Num {
    let half = a.num(0.5);
    let half_magnitude = a.mul(half, magnitude);
    let w = exp(a, half_magnitude);
    let t = a.mul(h, w);
    let beyond = a.mul(t, w);
    let whole = exp(a, magnitude);
    let direct = a.mul(h, whole);
    let log_max = a.num(LOG_MAX);
    let below_log_max = a.less(magnitude, log_max);
    a.select(below_log_max, direct, beyond)
}

/// `sinh(x)`, from `expm1(|x|)` below 22 and `e^|x|` above; within 3 ulp of glibc's (beyond
/// `ln` of the largest double, `e^(|x|/2)` is squared).
pub fn sinh<A: Bits>(a: &mut A, x: A::Num) -> A::Num {
    let magnitude = a.abs(x);
    let (one, two) = (a.num(1.0), a.num(2.0));
    let zero = a.num(0.0);
    let negative = a.less(x, zero);
    let (half, minus_half) = (a.num(0.5), a.num(-0.5));
    let h = a.select(negative, minus_half, half);
    let t = expm1(a, magnitude);
    let t_one = a.add(t, one);
    // Below 1: h (2t - t^2 / (t + 1)); below 22: h (t + t / (t + 1)).
    let t_squared = a.mul(t, t);
    let quotient = a.div(t_squared, t_one);
    let twice = a.mul(two, t);
    let inner = a.sub(twice, quotient);
    let below_one_value = a.mul(h, inner);
    let quotient = a.div(t, t_one);
    let inner = a.add(t, quotient);
    let below_22_value = a.mul(h, inner);
    let result = scaled_exp(a, magnitude, h);
    let limit = a.num(22.0);
    let below_22 = a.less(magnitude, limit);
    let result = a.select(below_22, below_22_value, result);
    let below_one = a.less(magnitude, one);
    let result = a.select(below_one, below_one_value, result);
    // Below 2^-28: x itself.
    let tiny_limit = a.num(f64::from_bits(0x3E30_0000_0000_0000));
    let tiny = a.less(magnitude, tiny_limit);
    let result = a.select(tiny, x, result);
    let is_number = a.equal(x, x);
    a.select(is_number, result, x)
}

/// `cosh(x)`, from `expm1(|x|)` below `ln2 / 2` and `e^|x|` above; within 3 ulp of glibc's.
pub fn cosh<A: Bits>(a: &mut A, x: A::Num) -> A::Num {
    let magnitude = a.abs(x);
    let one = a.num(1.0);
    let half = a.num(0.5);
    // Below ln2/2: 1 + t^2 / (2 (1 + t)) with t = expm1(|x|) (just 1 + t below 2^-55).
    let t = expm1(a, magnitude);
    let w = a.add(one, t);
    let t_squared = a.mul(t, t);
    let w_twice = a.add(w, w);
    let quotient = a.div(t_squared, w_twice);
    let small_value = a.add(one, quotient);
    let tiny_limit = a.num(f64::from_bits(0x3C80_0000_0000_0000));
    let tiny = a.less(magnitude, tiny_limit);
    let small_value = a.select(tiny, w, small_value);
    // Below 22: e^|x| / 2 + 1 / (2 e^|x|).
    let e = exp(a, magnitude);
    let half_e = a.mul(half, e);
    let half_over = a.div(half, e);
    let middle_value = a.add(half_e, half_over);
    let result = scaled_exp(a, magnitude, half);
    let limit = a.num(22.0);
    let below_22 = a.less(magnitude, limit);
    let result = a.select(below_22, middle_value, result);
    let half_ln2 = a.num(HALF_LN2);
    let small = a.less(magnitude, half_ln2);
    let result = a.select(small, small_value, result);
    let is_number = a.equal(x, x);
    a.select(is_number, result, x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::{Scalar, ulps};

    /// `expm1` has no IR operation of its own, so it is checked here, against the platform's
    /// (x87-based on x86-64 glibc), over the reduction's ranges and far into both tails.
    #[test]
    fn expm1_is_within_one_ulp_of_libm() {
        let mut worst = (0, 0.0);
        let mut state = 12345u64;
        for i in 0..2_000_000 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let u = (state >> 11) as f64 / (1u64 << 53) as f64;
            let x = if i % 2 == 0 { -3.0 + 6.0 * u } else { -50.0 + 760.0 * u };
            let d = ulps(expm1(&mut Scalar, x), x.exp_m1());
            if d > worst.0 {
                worst = (d, x);
            }
        }
        assert!(worst.0 <= 1, "expm1({:e}) is {} ulp from libm", worst.1, worst.0);
    }
}
