//! `atan(x)`: fdlibm's reduction to `|t| <= 7/16` by one of four identities
//! `atan(x) = atan(c) + atan((x - c) / (1 + c x))` (with `c` = 1/2, 1, 3/2, or infinity),
//! chosen by selects so that one division serves every range, then an odd polynomial.

use super::{Arith, horner};

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

/// The arctangent, in radians, within 1 ulp. `atan(±inf) = ±pi/2`, NaN stays NaN, `-0` stays
/// `-0`.
pub fn atan<A: Arith>(a: &mut A, x: A::Num) -> A::Num {
    let m = a.abs(x);
    let (one, two, three_halves) = (a.num(1.0), a.num(2.0), a.num(1.5));
    let below = |a: &mut A, limit: f64| {
        let limit = a.num(limit);
        a.less(m, limit)
    };
    let (small, lower, middle, upper) = (below(a, 0.4375), below(a, 0.6875), below(a, 1.1875), below(a, 2.4375));
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
    let n = a.select(upper, n2, minus_one);
    let d = a.select(upper, d2, m);
    let n = a.select(middle, n1, n);
    let d = a.select(middle, d1, d);
    let n = a.select(lower, n0, n);
    let d = a.select(lower, d0, d);
    let n = a.select(small, x, n);
    let d = a.select(small, one, d);
    let t = a.div(n, d);
    let z = a.mul(t, t);
    let w = a.mul(z, z);
    let s1 = horner(a, w, &ODD);
    let s1 = a.mul(z, s1);
    let s2 = horner(a, w, &EVEN);
    let s2 = a.mul(w, s2);
    let s = a.add(s1, s2);
    let ts = a.mul(t, s);
    let unreduced = a.sub(t, ts);
    let pick = |a: &mut A, table: &[f64; 4]| {
        let (v0, v1, v2, v3) = (a.num(table[0]), a.num(table[1]), a.num(table[2]), a.num(table[3]));
        let v = a.select(upper, v2, v3);
        let v = a.select(middle, v1, v);
        a.select(lower, v0, v)
    };
    let (hi, lo) = (pick(a, &ATAN_HI), pick(a, &ATAN_LO));
    // hi - ((t s - lo) - t), then the sign of x.
    let inner = a.sub(ts, lo);
    let inner = a.sub(inner, t);
    let reduced = a.sub(hi, inner);
    let zero = a.num(0.0);
    let negative = a.less(x, zero);
    let minus_reduced = a.neg(reduced);
    let reduced = a.select(negative, minus_reduced, reduced);
    let value = a.select(small, unreduced, reduced);
    let tiny = below(a, TINY);
    a.select(tiny, x, value)
}
