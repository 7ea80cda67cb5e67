//! `asin(x)` and `acos(x)`: fdlibm's rational approximation `asin(x) = x + x^3 R(x^2)` on
//! `|x| < 1/2`, and beyond it the same `R` at `z = (1 - |x|) / 2` through
//! `asin(x) = pi/2 - 2 asin(sqrt(z))`. Both arguments of `R` lie in `[0, 1/4]`, so one
//! selected `z` and one division serve every range; the ranges' formulas are all computed and
//! the result selected.
//!
//! Where `pi/2 - 2 sqrt(z)` cancels (`1/2 <= |x| < 0.975` for `asin`, `x > 1/2` for `acos`),
//! `sqrt(z)` is carried as a head of 26 bits (whose square is exact) and a correction, as
//! fdlibm does; fdlibm takes the head by clearing the low word, here by Veltkamp's split.

use super::{Arith, head, horner};

/// `pi/2` in two parts, and the high part of `pi/4` and of `pi`.
const PIO2_HI: f64 = f64::from_bits(0x3FF9_21FB_5444_2D18);
const PIO2_LO: f64 = f64::from_bits(0x3C91_A626_3314_5C07);
const PIO4_HI: f64 = f64::from_bits(0x3FE9_21FB_5444_2D18);
const PI: f64 = f64::from_bits(0x4009_21FB_5444_2D18);
/// `R(z) = z P(z) / Q(z)` approximates `(asin(x) - x) / x^3` at `z = x^2` on `[0, 1/4]`
/// (Remez, error below 2^-58.75).
const P: [f64; 6] = [
    f64::from_bits(0x3FC5_5555_5555_5555),
    f64::from_bits(0xBFD4_D612_03EB_6F7D),
    f64::from_bits(0x3FC9_C155_0E88_4455),
    f64::from_bits(0xBFA4_8228_B568_8F3B),
    f64::from_bits(0x3F49_EFE0_7501_B288),
    f64::from_bits(0x3F02_3DE1_0DFD_F709),
];
const Q: [f64; 5] = [
    1.0,
    f64::from_bits(0xC003_3A27_1C8A_2D4B),
    f64::from_bits(0x4000_2AE5_9C59_8AC8),
    f64::from_bits(0xBFE6_066C_1B8D_0159),
    f64::from_bits(0x3FB3_B8C5_B12E_9282),
];
/// From here (0.975, fdlibm's threshold) `asin` needs no correction of `sqrt(z)`.
const NEAR_ONE: f64 = f64::from_bits(0x3FEF_3333_0000_0000);

/// What both functions start from: whether `|x| < 1/2`; `z`, which is `x^2` there and
/// `(1 - |x|) / 2` elsewhere; `R(z)`; and `sqrt(z)`.
struct Reduced<A: Arith> {
    small: A::Cond,
    z: A::Num,
    r: A::Num,
    s: A::Num,
}

fn reduce<A: Arith>(a: &mut A, x: A::Num) -> Reduced<A> {
    let m = a.abs(x);
    let (one, half) = (a.num(1.0), a.num(0.5));
    let small = a.less(m, half);
    let square = a.mul(x, x);
    let rest = a.sub(one, m);
    let rest = a.mul(rest, half);
    let z = a.select(small, square, rest);
    let p = horner(a, z, &P);
    let p = a.mul(z, p);
    let q = horner(a, z, &Q);
    let r = a.div(p, q);
    let s = a.sqrt(z);
    Reduced { small, z, r, s }
}

/// `sqrt(z)` as `head + correction`: `head` is `s` rounded to 26 bits, so `head^2` and
/// `z - head^2` are exact, and `correction = (z - head^2) / (s + head)`. NaN when `z = 0`.
fn split_root<A: Arith>(a: &mut A, z: A::Num, s: A::Num) -> (A::Num, A::Num) {
    let head = head(a, s);
    let square = a.mul(head, head);
    let residual = a.sub(z, square);
    let sum = a.add(s, head);
    (head, a.div(residual, sum))
}

/// The arcsine, in radians, within 1 ulp. NaN outside `[-1, 1]`; `-0` stays `-0`.
pub fn asin<A: Arith>(a: &mut A, x: A::Num) -> A::Num {
    let Reduced { small, z, r, s } = reduce(a, x);
    // |x| < 1/2: x + x R(x^2).
    let xr = a.mul(x, r);
    let small_value = a.add(x, xr);
    let (two, pio2_hi, pio2_lo, pio4_hi) = (a.num(2.0), a.num(PIO2_HI), a.num(PIO2_LO), a.num(PIO4_HI));
    // |x| >= 0.975: pi/2 - 2 (s + s R), with pi/2's low part.
    let sr = a.mul(s, r);
    let root_asin = a.add(s, sr);
    let twice = a.mul(two, root_asin);
    let twice = a.sub(twice, pio2_lo);
    let near_one = a.sub(pio2_hi, twice);
    // Otherwise, with s = head + correction: pi/4 + ((pi/4 - 2 head) - (2 s R - (pi/2_lo - 2 correction))).
    let (head, correction) = split_root(a, z, s);
    let two_s = a.mul(two, s);
    let tail = a.mul(two_s, r);
    let two_correction = a.mul(two, correction);
    let low = a.sub(pio2_lo, two_correction);
    let tail = a.sub(tail, low);
    let two_head = a.mul(two, head);
    let quarter_rest = a.sub(pio4_hi, two_head);
    let difference = a.sub(tail, quarter_rest);
    let middle = a.sub(pio4_hi, difference);
    let m = a.abs(x);
    let limit = a.num(NEAR_ONE);
    let below_near_one = a.less(m, limit);
    let magnitude = a.select(below_near_one, middle, near_one);
    let zero = a.num(0.0);
    let negative = a.less(x, zero);
    let minus = a.neg(magnitude);
    let large_value = a.select(negative, minus, magnitude);
    a.select(small, small_value, large_value)
}

/// The arccosine, in radians, within 1 ulp. NaN outside `[-1, 1]`; `acos(1) = 0`.
pub fn acos<A: Arith>(a: &mut A, x: A::Num) -> A::Num {
    let Reduced { small, z, r, s } = reduce(a, x);
    let (two, pio2_hi, pio2_lo) = (a.num(2.0), a.num(PIO2_HI), a.num(PIO2_LO));
    // |x| < 1/2: pi/2 - (x + x R(x^2)), as pi/2_hi - (x - (pi/2_lo - x R)).
    let xr = a.mul(x, r);
    let low = a.sub(pio2_lo, xr);
    let low = a.sub(x, low);
    let small_value = a.sub(pio2_hi, low);
    // x <= -1/2: pi - 2 asin(s) = pi - 2 (s + (s R - pi/2_lo)).
    let rs = a.mul(r, s);
    let w = a.sub(rs, pio2_lo);
    let root_asin = a.add(s, w);
    let twice = a.mul(two, root_asin);
    let pi = a.num(PI);
    let negative_value = a.sub(pi, twice);
    // x >= 1/2: 2 asin(s) = 2 (head + (s R + correction)); at x = 1 the correction is 0/0.
    let (head, correction) = split_root(a, z, s);
    let w = a.add(rs, correction);
    let root_asin = a.add(head, w);
    let positive_value = a.mul(two, root_asin);
    let (zero, one) = (a.num(0.0), a.num(1.0));
    let at_one = a.equal(x, one);
    let positive_value = a.select(at_one, zero, positive_value);
    let negative = a.less(x, zero);
    let large_value = a.select(negative, negative_value, positive_value);
    a.select(small, small_value, large_value)
}
