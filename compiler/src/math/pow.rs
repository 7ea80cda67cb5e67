//! `pow(x, y) = x^y`: fdlibm's method. `log2 |x|` is computed as a sum `t1 + t2` of two
//! doubles good to about 70 bits, `y log2 |x|` as `p_h + p_l` with `p_h` exact, split into an
//! integer `n` and a fraction, and `2^fraction` by `exp`'s rational approximation, scaled by
//! `2^n`; the special values of C99 (zeros, infinities, NaN, negative `x`) are selected.
//!
//! fdlibm makes the heads of its double-double numbers by clearing their low 32 bits; here
//! they are Veltkamp's splits (26 significant bits), which make the same products exact.

use super::exp::P;
use super::{Bits, clamp, head, horner};

/// The polynomial of `(3/2) (log(x) - 2s - 2/3 s^3)` in `s^2`, `s = (x - 1) / (x + 1)`.
const L: [f64; 6] = [
    f64::from_bits(0x3FE3_3333_3333_3303),
    f64::from_bits(0x3FDB_6DB6_DB6F_ABFF),
    f64::from_bits(0x3FD5_5555_518F_264D),
    f64::from_bits(0x3FD1_7460_A91D_4101),
    f64::from_bits(0x3FCD_864A_93C9_DB65),
    f64::from_bits(0x3FCA_7E28_4A45_4EEF),
];
/// `log2(3/2)` in a head of 24 bits and a tail.
const DP_H: f64 = f64::from_bits(0x3FE2_B803_4000_0000);
const DP_L: f64 = f64::from_bits(0x3E4C_FDEB_43CF_D006);
/// `2 / (3 ln 2)`, and it in a head of 24 bits and a tail.
const CP: f64 = f64::from_bits(0x3FEE_C709_DC3A_03FD);
const CP_H: f64 = f64::from_bits(0x3FEE_C709_E000_0000);
const CP_L: f64 = f64::from_bits(0xBE3E_2FE0_145B_01F5);
/// `ln 2`, and it in a head of 21 bits and a tail.
const LG2: f64 = f64::from_bits(0x3FE6_2E42_FEFA_39EF);
const LG2_H: f64 = f64::from_bits(0x3FE6_2E43_0000_0000);
const LG2_L: f64 = f64::from_bits(0xBE20_5C61_0CA8_6C39);
/// `sqrt(3/2)` and `sqrt(3)` as fdlibm compares them (the high words 0x3FF3988E and
/// 0x3FFBB67A): the significand is halved from the second on (then in `[sqrt(3)/2, 1)`), and
/// reduced by 3/2 from the first on, by 1 below it.
const SQRT_3_2: f64 = f64::from_bits(0x3FF3_988F_0000_0000);
const SQRT_3: f64 = f64::from_bits(0x3FFB_B67A_0000_0000);
/// `2^53`, which scales a subnormal `|x|` into the normal range.
const TWO_POW_53: f64 = 9_007_199_254_740_992.0;
/// Beyond `2^64` in magnitude every `y` overflows or underflows (`|log2 x| > 2^-53` unless
/// `x = 1`) just as `±2^64` does, so `y` is clamped there (which keeps its split in range).
const Y_LIMIT: f64 = 18_446_744_073_709_551_616.0;
/// Beyond this `|y log2 x|` the result is 0 or infinity whatever the fraction.
const Z_LIMIT: f64 = 1100.0;
/// `log2 m` for a finite `m > 0`, as `t1 + t2` with `t1` a head of 26 bits.
fn log2<A: Bits>(a: &mut A, m: A::Num) -> (A::Num, A::Num) {
    // m = 2^e (1 + f), subnormal m scaled up first.
    let (zero, one) = (a.num(0.0), a.num(1.0));
    let smallest_normal = a.num(f64::MIN_POSITIVE);
    let subnormal = a.less(m, smallest_normal);
    let scale = a.num(TWO_POW_53);
    let scaled = a.mul(m, scale);
    let m = a.select(subnormal, scaled, m);
    let shift = a.num(53.0);
    let shift = a.select(subnormal, shift, zero);
    // f in [sqrt(3)/2, sqrt(3)): halved above sqrt(3) (and e one more), by one carry.
    let [e, f] = a.split_below(m, SQRT_3);
    let e = a.sub(e, shift);
    // The reduction point b (1, or 3/2 from sqrt(3/2) on) and log2 b.
    let sqrt_3_2 = a.num(SQRT_3_2);
    let below_middle = a.less(f, sqrt_3_2);
    let mut by_range = |low: f64, middle: f64| {
        let (low, middle) = (a.num(low), a.num(middle));
        a.select(below_middle, low, middle)
    };
    let b = by_range(1.0, 1.5);
    let dp_h = by_range(0.0, DP_H);
    let dp_l = by_range(0.0, DP_L);

    // s = (f - b) / (f + b) = s_h + s_l, with f + b = t_h + t_l.
    let u = a.sub(f, b);
    let sum = a.add(f, b);
    let v = a.div(one, sum);
    let s = a.mul(u, v);
    let s_h = head(a, s);
    let t_h = head(a, sum);
    let t_l = a.sub(t_h, b);
    let t_l = a.sub(f, t_l);
    let st = a.mul(s_h, t_h);
    let rest = a.sub(u, st);
    let st_l = a.mul(s_h, t_l);
    let rest = a.sub(rest, st_l);
    let s_l = a.mul(v, rest);
    // log(f / b) = 2s + 2/3 s^3 + s^5 R(s^2): (3/2) of it is s (3 + s^2 + r) = s_h t_h + ...
    let s2 = a.mul(s, s);
    let s4 = a.mul(s2, s2);
    let poly = horner(a, s2, &L);
    let r = a.mul(s4, poly);
    let s_sum = a.add(s_h, s);
    let correction = a.mul(s_l, s_sum);
    let r = a.add(r, correction);
    let s2 = a.mul(s_h, s_h);
    let three = a.num(3.0);
    let t = a.add(three, s2);
    let t = a.add(t, r);
    let t_h = head(a, t);
    let t_l = a.sub(t_h, three);
    let t_l = a.sub(t_l, s2);
    let t_l = a.sub(r, t_l);
    let u = a.mul(s_h, t_h);
    let v1 = a.mul(s_l, t_h);
    let v2 = a.mul(t_l, s);
    let v = a.add(v1, v2);
    let p = a.add(u, v);
    let p_h = head(a, p);
    let p_l = a.sub(p_h, u);
    let p_l = a.sub(v, p_l);
    // log2(f / b) = (2 / (3 ln 2)) (p_h + p_l); log2 m = e + log2 b + that.
    let cp_h = a.num(CP_H);
    let z_h = a.mul(cp_h, p_h);
    let (cp_l, cp) = (a.num(CP_L), a.num(CP));
    let z_l1 = a.mul(cp_l, p_h);
    let z_l2 = a.mul(p_l, cp);
    let z_l = a.add(z_l1, z_l2);
    let z_l = a.add(z_l, dp_l);
    let sum = a.add(z_h, z_l);
    let sum = a.add(sum, dp_h);
    let sum = a.add(sum, e);
    let t1 = head(a, sum);
    let t2 = a.sub(t1, e);
    let t2 = a.sub(t2, dp_h);
    let t2 = a.sub(t2, z_h);
    let t2 = a.sub(z_l, t2);
    (t1, t2)
}

/// `2^(p_h + p_l)` where `z`, their rounded sum, is within [`Z_LIMIT`] (elsewhere finite or
/// NaN, to be replaced).
fn exp2<A: Bits>(a: &mut A, p_h: A::Num, p_l: A::Num, z: A::Num) -> A::Num {
    let z = clamp(a, z, -Z_LIMIT, Z_LIMIT);
    let half = a.num(0.5);
    let shifted = a.add(z, half);
    let n = a.floor(shifted);
    let p_h = a.sub(p_h, n);
    // (p_h + p_l) ln 2 = z + w, then e^z by exp's approximation with w as its low part.
    let sum = a.add(p_l, p_h);
    let t = head(a, sum);
    let lg2_h = a.num(LG2_H);
    let u = a.mul(t, lg2_h);
    let lost = a.sub(t, p_h);
    let lost = a.sub(p_l, lost);
    let lg2 = a.num(LG2);
    let v = a.mul(lost, lg2);
    let lg2_l = a.num(LG2_L);
    let t_lo = a.mul(t, lg2_l);
    let v = a.add(v, t_lo);
    let z = a.add(u, v);
    let w = a.sub(z, u);
    let w = a.sub(v, w);
    let zz = a.mul(z, z);
    let poly = horner(a, zz, &P);
    let poly = a.mul(zz, poly);
    let c = a.sub(z, poly);
    let zc = a.mul(z, c);
    let two = a.num(2.0);
    let c_minus_two = a.sub(c, two);
    let quotient = a.div(zc, c_minus_two);
    let zw = a.mul(z, w);
    let low = a.add(w, zw);
    let r = a.sub(quotient, low);
    let r = a.sub(r, z);
    let one = a.num(1.0);
    let y = a.sub(one, r);
    // y 2^n in two steps, as `exp` scales: the first exact, the second rounding once.
    let n_half = a.mul(n, half);
    let n1 = a.floor(n_half);
    let n2 = a.sub(n, n1);
    let (scale1, scale2) = (a.pow2(n1), a.pow2(n2));
    let y = a.mul(y, scale1);
    a.mul(y, scale2)
}

/// `result` where `y` is `at`, else `value`.
fn exactly<A: Bits>(a: &mut A, y: A::Num, at: f64, result: A::Num, value: A::Num) -> A::Num {
    let at = a.num(at);
    let here = a.equal(y, at);
    a.select(here, result, value)
}

/// `x^y`, within 1 ulp (and exact for `y` = 1, -1, 2 and, at `x >= +0`, 1/2: `x`, `1/x`,
/// `x x`, `sqrt(x)`), with C99's special values: `pow(x, ±0) = 1` and `pow(1, y) = 1` even
/// for NaN (of any bits: NaNs are not told apart); NaN for other NaNs and for a negative
/// finite `x` with a non-integer `y`; the sign of `x` kept for odd integers `y`
/// (`pow(-0, -1) = -inf`); `pow(-1, ±inf) = 1`.
pub fn pow<A: Bits>(a: &mut A, x: A::Num, y: A::Num) -> A::Num {
    let (zero, one, half, infinity, nan) = (a.num(0.0), a.num(1.0), a.num(0.5), a.num(f64::INFINITY), a.num(f64::NAN));
    let m = a.abs(x);
    let (t1, t2) = log2(a, m);
    // y log2 |x| = p_h + p_l, p_h exact.
    let y_clamped = clamp(a, y, -Y_LIMIT, Y_LIMIT);
    let y1 = head(a, y_clamped);
    let y2 = a.sub(y_clamped, y1);
    let p_l1 = a.mul(y2, t1);
    let p_l2 = a.mul(y_clamped, t2);
    let p_l = a.add(p_l1, p_l2);
    let p_h = a.mul(y1, t1);
    let z = a.add(p_l, p_h);
    let value = exp2(a, p_h, p_l, z);
    let limit = a.num(Z_LIMIT);
    let overflow = a.less(limit, z);
    let value = a.select(overflow, infinity, value);
    let minus_limit = a.num(-Z_LIMIT);
    let underflow = a.less(z, minus_limit);
    let value = a.select(underflow, zero, value);

    // Zeros and infinities of x: 0 or infinity by the sign of y.
    let y_positive = a.less(zero, y);
    let to_zero = a.select(y_positive, zero, infinity);
    let to_infinity = a.select(y_positive, infinity, zero);
    let x_zero = a.equal(m, zero);
    let value = a.select(x_zero, to_zero, value);
    let x_infinite = a.equal(m, infinity);
    let value = a.select(x_infinite, to_infinity, value);
    // Negative x (-0 and -inf included): the sign of x for odd integers y; NaN for non-integers
    // unless x is -0 or -inf.
    let y_floor = a.floor(y);
    let integer = a.equal(y_floor, y);
    let y_half = a.mul(y, half);
    let half_floor = a.floor(y_half);
    let even = a.equal(half_floor, y_half);
    let minus_one = a.num(-1.0);
    let parity = a.select(even, one, minus_one);
    let parity = a.select(integer, parity, one);
    let sign = a.copysign(one, x);
    let x_negative = a.less(sign, zero);
    let factor = a.select(x_negative, parity, one);
    let value = a.mul(value, factor);
    let minus_infinity = a.num(f64::NEG_INFINITY);
    let below_zero = a.less(x, zero);
    let finite = a.less(minus_infinity, x);
    let negative_finite = a.both(below_zero, finite);
    let defined = a.select(integer, value, nan);
    let value = a.select(negative_finite, defined, value);
    // Exact results: x^1, x^-1, x^2, and x^(1/2) for x >= +0.
    let reciprocal = a.div(one, x);
    let square = a.mul(x, x);
    let root = a.sqrt(x);
    let value = exactly(a, y, 1.0, x, value);
    let value = exactly(a, y, -1.0, reciprocal, value);
    let value = exactly(a, y, 2.0, square, value);
    let root = a.select(x_negative, value, root);
    let value = exactly(a, y, 0.5, root, value);
    // y infinite: 1 at |x| = 1, else 0 or infinity by whether |x| > 1 and the sign of y.
    let above_one = a.less(one, m);
    let limit_value = a.select(above_one, to_infinity, to_zero);
    let at_one = a.equal(m, one);
    let limit_value = a.select(at_one, one, limit_value);
    let y_magnitude = a.abs(y);
    let y_infinite = a.equal(y_magnitude, infinity);
    let value = a.select(y_infinite, limit_value, value);
    // NaN in, NaN out, except for pow(x, 0) = pow(1, y) = 1.
    let x_number = a.equal(x, x);
    let value = a.select(x_number, value, x);
    let y_number = a.equal(y, y);
    let value = a.select(y_number, value, y);
    let y_zero = a.equal(y, zero);
    let value = a.select(y_zero, one, value);
    let x_one = a.equal(x, one);
    a.select(x_one, one, value)
}
