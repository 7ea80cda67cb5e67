//! `atan(x)` and `atan2(y, x)`: fdlibm's reduction of a ratio `m >= 0` to `|t| <= 7/16` by one
//! of four identities `atan(m) = atan(c) + atan((m - c) / (1 + c m))` (with `c` = 1/2, 1, 3/2,
//! or infinity), chosen by selects so that one division serves every range, then an odd
//! polynomial.
//!
//! `atan2` forms the reduced fraction from `|y|` and `|x|` themselves (`(|y| - c |x|) /
//! (|x| + c |y|)`) rather than from their rounded quotient, so the quotient rounds once, and
//! for negative `x` adds `atan(-t)` to `pi - atan(c)` (a table of its own) rather than
//! subtracting a rounded `atan(m)` from `pi`. Where no reduction is needed, the quotient's
//! rounding error (by Dekker's exact product) joins the low part: without it, `atan2` was
//! 1.3 ulp from the correctly rounded result just below powers of two, as fdlibm's is.

use super::{Arith, Bits, clamp, head, horner};

/// `atan(c)` for the four reduction points, high and low parts.
const ATAN_HI: [f64; 4] = [
    f64::from_bits(0x3FDD_AC67_0561_BB4F),
    f64::from_bits(0x3FE9_21FB_5444_2D18),
    f64::from_bits(0x3FEF_730B_D281_F69B),
    f64::from_bits(0x3FF9_21FB_5444_2D18),
];
const ATAN_LO: [f64; 4] = [
    f64::from_bits(0x3C7A_2B7F_222F_65E2),
    f64::from_bits(0x3C81_A626_3314_5C07),
    f64::from_bits(0x3C70_0788_7AF0_CBBD),
    f64::from_bits(0x3C91_A626_3314_5C07),
];
/// `pi - atan(c)` for the four reduction points, high and low parts (computed with 300-bit
/// arithmetic).
const PI_MINUS_ATAN_HI: [f64; 4] = [
    f64::from_bits(0x4005_6C6E_7397_F5AE),
    f64::from_bits(0x4002_D97C_7F33_21D2),
    f64::from_bits(0x4001_4538_5FA3_AF71),
    f64::from_bits(0x3FF9_21FB_5444_2D18),
];
const PI_MINUS_ATAN_LO: [f64; 4] = [
    f64::from_bits(0x3CA6_60B6_4ECE_6F4B),
    f64::from_bits(0x3C9A_7939_4C9E_8A0A),
    f64::from_bits(0x3CAF_A535_23B6_428F),
    f64::from_bits(0x3C91_A626_3314_5C07),
];
/// `pi`, high and low parts.
const PI_HI: f64 = f64::from_bits(0x4009_21FB_5444_2D18);
const PI_LO: f64 = f64::from_bits(0x3CA1_A626_3314_5C07);
/// The odd coefficients (`z = t^2`, in `w = z^2`) and the even ones of fdlibm's polynomial.
const ODD: [f64; 6] = [
    f64::from_bits(0x3FD5_5555_5555_550D),
    f64::from_bits(0x3FC2_4924_9200_83FF),
    f64::from_bits(0x3FB7_45CD_C54C_206E),
    f64::from_bits(0x3FB1_0D66_A0D0_3D51),
    f64::from_bits(0x3FA9_7B4B_2476_0DEB),
    f64::from_bits(0x3F90_AD3A_E322_DA11),
];
const EVEN: [f64; 5] = [
    f64::from_bits(0xBFC9_9999_9998_EBC4),
    f64::from_bits(0xBFBC_71C6_FE23_1671),
    f64::from_bits(0xBFB3_B0F2_AF74_9A6D),
    f64::from_bits(0xBFAD_DE2D_52DE_FD9A),
    f64::from_bits(0xBFA2_B444_2C6A_6C2F),
];
/// Below this (2^-27) `atan(x)` rounds to `x`.
const TINY: f64 = 7.450_580_596_923_828e-9; // 2^-27
/// Above this (2^-900) a quotient's remainder is exact at any scale (see [`remainder`]).
const REMAINDER_FROM: f64 = f64::from_bits(0x07B0_0000_0000_0000);

/// Which range a ratio `m` falls in: below 7/16 (no reduction), 11/16 (`c` = 1/2), 19/16
/// (`c` = 1) or 39/16 (`c` = 3/2); none of them (`c` infinite) beyond, or for NaN.
struct Ranges<C> {
    small: C,
    lower: C,
    middle: C,
    upper: C,
}

fn ranges<A: Arith>(a: &mut A, m: A::Num) -> Ranges<A::Cond> {
    let mut below = |limit: f64| {
        let limit = a.num(limit);
        a.less(m, limit)
    };
    Ranges { small: below(0.4375), lower: below(0.6875), middle: below(1.1875), upper: below(2.4375) }
}

/// The reduced fraction `t = n / d`: `n` and `d` are picked by range from `[small, c = 1/2,
/// 1, 3/2, infinite]`.
fn fraction<A: Arith>(a: &mut A, r: &Ranges<A::Cond>, n: [A::Num; 5], d: [A::Num; 5]) -> A::Num {
    let mut pick = |v: [A::Num; 5]| {
        let chosen = a.select(r.upper, v[3], v[4]);
        let chosen = a.select(r.middle, v[2], chosen);
        let chosen = a.select(r.lower, v[1], chosen);
        a.select(r.small, v[0], chosen)
    };
    let (n, d) = (pick(n), pick(d));
    a.div(n, d)
}

/// One of the reduced ranges' `table` entries (`c` = 1/2, 1, 3/2, infinite), by range.
fn pick_reduced<A: Arith>(a: &mut A, r: &Ranges<A::Cond>, table: &[f64; 4]) -> A::Num {
    let (v0, v1, v2, v3) = (a.num(table[0]), a.num(table[1]), a.num(table[2]), a.num(table[3]));
    let v = a.select(r.upper, v2, v3);
    let v = a.select(r.middle, v1, v);
    a.select(r.lower, v0, v)
}

/// `t s` with `atan(t) = t - t s` for `|t| <= 7/16`.
fn series<A: Arith>(a: &mut A, t: A::Num) -> A::Num {
    let z = a.mul(t, t);
    let w = a.mul(z, z);
    let s1 = horner(a, w, &ODD);
    let s1 = a.mul(z, s1);
    let s2 = horner(a, w, &EVEN);
    let s2 = a.mul(w, s2);
    let s = a.add(s1, s2);
    a.mul(t, s)
}

/// `hi + lo + atan(t)` (`ts` from [`series`]) as fdlibm sums it: `hi - ((t s - lo) - t)`.
fn offset<A: Arith>(a: &mut A, hi: A::Num, lo: A::Num, t: A::Num, ts: A::Num) -> A::Num {
    let inner = a.sub(ts, lo);
    let inner = a.sub(inner, t);
    a.sub(hi, inner)
}

/// The arctangent, in radians, within 1 ulp. `atan(±inf) = ±pi/2`, NaN stays NaN, `-0` stays
/// `-0`.
pub fn atan<A: Arith>(a: &mut A, x: A::Num) -> A::Num {
    let m = a.abs(x);
    let r = ranges(a, m);
    let (one, two, three_halves) = (a.num(1.0), a.num(2.0), a.num(1.5));
    // t = (m - c) / (1 + c m) per range: (2m - 1) / (2 + m), (m - 1) / (m + 1),
    // (m - 1.5) / (1 + 1.5 m), -1 / m; below 7/16 no reduction (x / 1).
    let twice = a.mul(two, m);
    let n0 = a.sub(twice, one);
    let d0 = a.add(two, m);
    let n1 = a.sub(m, one);
    let d1 = a.add(m, one);
    let n2 = a.sub(m, three_halves);
    let scaled = a.mul(three_halves, m);
    let d2 = a.add(one, scaled);
    let minus_one = a.num(-1.0);
    let t = fraction(a, &r, [x, n0, n1, n2, minus_one], [one, d0, d1, d2, m]);
    let ts = series(a, t);
    let unreduced = a.sub(t, ts);
    let (hi, lo) = (pick_reduced(a, &r, &ATAN_HI), pick_reduced(a, &r, &ATAN_LO));
    let reduced = offset(a, hi, lo, t, ts);
    let zero = a.num(0.0);
    let negative = a.less(x, zero);
    let minus_reduced = a.neg(reduced);
    let reduced = a.select(negative, minus_reduced, reduced);
    let value = a.select(r.small, unreduced, reduced);
    let tiny = a.num(TINY);
    let tiny = a.less(m, tiny);
    a.select(tiny, x, value)
}

/// The angle of the point `(x, y)`, in radians in `[-pi, pi]`, within 1 ulp, with C99's
/// special values: `atan2(±0, +0) = ±0`, `atan2(±0, -0) = ±pi`, `atan2(±inf, ±inf)` an odd
/// multiple of `±pi/4`, NaN if either is NaN; the sign of `y` is the sign of the result.
pub fn atan2<A: Bits>(a: &mut A, y: A::Num, x: A::Num) -> A::Num {
    let (zero, one, two, infinity) = (a.num(0.0), a.num(1.0), a.num(2.0), a.num(f64::INFINITY));
    let (ay, ax) = (a.abs(y), a.abs(x));
    // Two infinities, or two zeros, have no ratio: as (1, 1) and (0, 1) they have the angle
    // they are given (with the sign of x kept apart).
    let (y_infinite, x_infinite) = (a.equal(ay, infinity), a.equal(ax, infinity));
    let infinities = a.both(y_infinite, x_infinite);
    let (y_zero, x_zero) = (a.equal(ay, zero), a.equal(ax, zero));
    let zeros = a.both(y_zero, x_zero);
    let ay = a.select(infinities, one, ay);
    let ax = a.select(infinities, one, ax);
    let ax = a.select(zeros, one, ax);
    let m = a.div(ay, ax);
    let r = ranges(a, m);
    // Where c is finite, |y| and |x| are within a factor 2.5 of each other; above 1 both are
    // scaled by 1/8 (exactly, there), so that 2 |x| + 3 |y| cannot overflow.
    let big = a.less(one, ay);
    let eighth = a.num(0.125);
    let scale = a.select(big, eighth, one);
    let (sy, sx) = (a.mul(ay, scale), a.mul(ax, scale));
    let (two_y, two_x) = (a.mul(two, sy), a.mul(two, sx));
    // t = (|y| - c |x|) / (|x| + c |y|) per range: (2|y| - |x|) / (2|x| + |y|),
    // (|y| - |x|) / (|y| + |x|), (2|y| - 3|x|) / (2|x| + 3|y|), -|x| / |y|; below 7/16
    // |y| / |x|. The numerators are exact (the last one but for its one rounding: 3|x| is
    // taken with its rounding error).
    let n0 = a.sub(two_y, sx);
    let d0 = a.add(two_x, sy);
    let n1 = a.sub(sy, sx);
    let d1 = a.add(sy, sx);
    let three_x = a.add(two_x, sx);
    let lost = a.sub(three_x, two_x);
    let lost = a.sub(sx, lost);
    let n2 = a.sub(two_y, three_x);
    let n2 = a.sub(n2, lost);
    let three = a.num(3.0);
    let three_y = a.mul(three, sy);
    let d2 = a.add(two_x, three_y);
    let minus_x = a.neg(ax);
    let t = fraction(a, &r, [ay, n0, n1, n2, minus_x], [ax, d0, d1, d2, ay]);
    // x < 0 (or -0): pi - atan(c) - atan(t) = (pi - atan(c)) + atan(-t).
    let sign = a.copysign(one, x);
    let x_negative = a.less(sign, zero);
    let minus_t = a.neg(t);
    let t = a.select(x_negative, minus_t, t);
    let ts = series(a, t);
    let mut offsets = |positive: &[f64; 4], negative: &[f64; 4], small_negative: f64| {
        let (positive, negative) = (pick_reduced(a, &r, positive), pick_reduced(a, &r, negative));
        let reduced = a.select(x_negative, negative, positive);
        let small_negative = a.num(small_negative);
        let small = a.select(x_negative, small_negative, zero);
        a.select(r.small, small, reduced)
    };
    let hi = offsets(&ATAN_HI, &PI_MINUS_ATAN_HI, PI_HI);
    let lo = offsets(&ATAN_LO, &PI_MINUS_ATAN_LO, PI_LO);
    // Below 7/16 t = |y| / |x| itself rounds (where atan(t) may fall a binade below t, half an
    // ulp of t is a whole ulp of the result): what it lost, (|y| - t |x|) / |x| times
    // atan'(t) = 1 / (1 + t^2) to second order, joins the low part.
    let lost = remainder(a, ay, ax, m);
    let from = a.num(REMAINDER_FROM);
    let not_tiny = a.less(from, m);
    let finite = a.less(ax, infinity);
    let exact = a.both(not_tiny, finite);
    let lost = a.select(exact, lost, zero);
    let mm = a.mul(m, m);
    let lost_mm = a.mul(lost, mm);
    let lost = a.sub(lost, lost_mm);
    let minus_lost = a.neg(lost);
    let lost = a.select(x_negative, minus_lost, lost);
    let small_lo = a.add(lo, lost);
    let lo = a.select(r.small, small_lo, lo);
    let angle = offset(a, hi, lo, t, ts);
    a.copysign(angle, y)
}

/// `(y - q x) / x` for a quotient `q = y / x` (`x` finite and not zero, `q` above
/// [`REMAINDER_FROM`]): the product `q x` exactly by Dekker's method, on `y` and `x` scaled by
/// a power of two that brings `x` near 1, so that no split overflows, no partial product
/// underflows, and the scaling itself is exact.
fn remainder<A: Bits>(a: &mut A, y: A::Num, x: A::Num, q: A::Num) -> A::Num {
    let e = a.exponent(x);
    let e = clamp(a, e, -1022.0, 1022.0);
    let minus_e = a.neg(e);
    let scale = a.pow2(minus_e);
    let (y, x) = (a.mul(y, scale), a.mul(x, scale));
    let p = a.mul(q, x);
    let (q_hi, x_hi) = (head(a, q), head(a, x));
    let (q_lo, x_lo) = (a.sub(q, q_hi), a.sub(x, x_hi));
    // q x - p = ((q_hi x_hi - p) + q_hi x_lo + q_lo x_hi) + q_lo x_lo, every step exact.
    let hh = a.mul(q_hi, x_hi);
    let error = a.sub(hh, p);
    let hl = a.mul(q_hi, x_lo);
    let error = a.add(error, hl);
    let lh = a.mul(q_lo, x_hi);
    let error = a.add(error, lh);
    let ll = a.mul(q_lo, x_lo);
    let error = a.add(error, ll);
    let rest = a.sub(y, p);
    let rest = a.sub(rest, error);
    a.div(rest, x)
}
