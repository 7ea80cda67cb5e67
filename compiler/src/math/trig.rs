//! `sin(x)` and `cos(x)`: `x = k pi/2 + y` with `y` as a sum of two doubles, then a polynomial
//! for `sin y` and one for `cos y` on `|y| <= pi/4`, chosen and signed by `k mod 4`.
//!
//! Medium arguments (`|x| < 2^20 pi/2`) are reduced by Cody and Waite's method with `pi/2` in
//! three pieces whose products with `k` are exact; larger ones by [`super::reduce::large`],
//! which engines may run out of line since such arguments are rare.

use super::{Arith, Bits, horner, modulo, nearest_multiple};

/// `2/pi`.
const INV_PIO2: f64 = f64::from_bits(0x3FE4_5F30_6DC9_C883);
/// `pi/2` in pieces of 31, 32 and 28 significant bits, and what remains after each.
const PIO2_1: f64 = f64::from_bits(0x3FF9_21FB_5440_0000);
const PIO2_2: f64 = f64::from_bits(0x3DD0_B461_1A60_0000);
const PIO2_2T: f64 = f64::from_bits(0x3BA3_198A_2E03_7073);
const PIO2_3: f64 = f64::from_bits(0x3BA3_198A_2E00_0000);
const PIO2_3T: f64 = f64::from_bits(0x397B_839A_2520_49C1);
/// Up to here `k < 2^20`, so `k PIO2_i` is exact.
pub const MEDIUM: f64 = 1_647_099.0;
/// `sin y = y + S1 y^3 + y^5 (S2 + ...)` on `|y| <= pi/4` (Remez).
const S1: f64 = f64::from_bits(0xBFC5_5555_5555_5549);
const S_REST: [f64; 5] = [
    f64::from_bits(0x3F81_1111_1110_F8A6),
    f64::from_bits(0xBF2A_01A0_19C1_61D5),
    f64::from_bits(0x3EC7_1DE3_57B1_FE7D),
    f64::from_bits(0xBE5A_E5E6_8A2B_9CEB),
    f64::from_bits(0x3DE5_D93A_5ACF_D57C),
];
/// `cos y = 1 - y^2/2 + y^4 (C1 + ...)` on `|y| <= pi/4` (Remez).
const C: [f64; 6] = [
    f64::from_bits(0x3FA5_5555_5555_554C),
    f64::from_bits(0xBF56_C16C_16C1_5177),
    f64::from_bits(0x3EFA_01A0_19CB_1590),
    f64::from_bits(0xBE92_7E4F_809C_52AD),
    f64::from_bits(0x3E21_EE9E_BDB4_B1C4),
    f64::from_bits(0xBDA8_FAE9_BE88_38D4),
];

/// `(k mod 4, y0, y1)` with `x = k pi/2 + y0 + y1`.
fn reduce<A: Bits>(a: &mut A, x: A::Num) -> [A::Num; 3] {
    let k = nearest_multiple(a, x, INV_PIO2);
    // Exact: `k PIO2_1` is, and `x` is near it.
    let minus_pio2_1 = a.num(-PIO2_1);
    let r = a.mul_add(k, minus_pio2_1, x);
    let (r, _) = subtract_piece(a, k, r, PIO2_2, PIO2_2T);
    let (r, w) = subtract_piece(a, k, r, PIO2_3, PIO2_3T);
    let y0 = a.sub(r, w);
    let y1 = a.sub(r, y0);
    let y1 = a.sub(y1, w);
    let quadrant = modulo(a, k, 4.0);
    let medium = [quadrant, y0, y1];
    let magnitude = a.abs(x);
    let limit = a.num(MEDIUM);
    let beyond = a.less(limit, magnitude);
    let infinity = a.num(f64::INFINITY);
    let finite = a.less(magnitude, infinity);
    let large = a.both(beyond, finite);
    a.reduce_large(x, large, medium)
}

/// `r - k piece` (exact) and `w`, what remains to subtract: `k rest` plus what that subtraction
/// rounded away.
fn subtract_piece<A: Arith>(a: &mut A, k: A::Num, r: A::Num, piece: f64, rest: f64) -> (A::Num, A::Num) {
    let piece = a.num(piece);
    let k_piece = a.mul(k, piece);
    let reduced = a.sub(r, k_piece);
    let rest = a.num(rest);
    let k_rest = a.mul(k, rest);
    let lost = a.sub(r, reduced);
    let lost = a.sub(lost, k_piece);
    (reduced, a.sub(k_rest, lost))
}

/// `sin(y0 + y1)` for `|y0 + y1| <= pi/4`, `y1` a correction below an ulp of `y0` (`None`: 0).
fn sin_kernel<A: Arith>(a: &mut A, y0: A::Num, y1: Option<A::Num>) -> A::Num {
    let z = a.mul(y0, y0);
    let v = a.mul(z, y0);
    let r = horner(a, z, &S_REST);
    let s1 = a.num(S1);
    let Some(y1) = y1 else {
        // y0 + v (S1 + z r)
        let sum = a.mul_add(z, r, s1);
        return a.mul_add(v, sum, y0);
    };
    // y0 - ((z (y1/2 - v r) - y1) - v S1)
    let half = a.num(0.5);
    let half_y1 = a.mul(half, y1);
    let minus_v = a.neg(v);
    let inner = a.mul_add(minus_v, r, half_y1);
    let inner = a.mul(z, inner);
    let inner = a.sub(inner, y1);
    let v_s1 = a.mul(v, s1);
    let inner = a.sub(inner, v_s1);
    a.sub(y0, inner)
}

/// `cos(y0 + y1)` for `|y0 + y1| <= pi/4` (`y1` `None`: 0).
fn cos_kernel<A: Arith>(a: &mut A, y0: A::Num, y1: Option<A::Num>) -> A::Num {
    let z = a.mul(y0, y0);
    let r = horner(a, z, &C);
    let r = a.mul(z, r);
    // w + (((1 - w) - z/2) + (z r - y0 y1)) with w = 1 - z/2
    let half = a.num(0.5);
    let hz = a.mul(half, z);
    let one = a.num(1.0);
    let w = a.sub(one, hz);
    let lost = a.sub(one, w);
    let lost = a.sub(lost, hz);
    let tail = match y1 {
        Some(y1) => {
            let zr = a.mul(z, r);
            let y0y1 = a.mul(y0, y1);
            let tail = a.sub(zr, y0y1);
            a.add(lost, tail)
        }
        None => a.mul_add(z, r, lost),
    };
    a.add(w, tail)
}

/// `sin x` and `cos x` from one reduction: within 1 ulp. NaN for infinities and NaN.
pub fn sin_cos<A: Bits>(a: &mut A, x: A::Num) -> (A::Num, A::Num) {
    let [quadrant, y0, y1] = reduce(a, x);
    by_quadrant(a, quadrant, y0, Some(y1))
}

/// `sin(2 pi u)` and `cos(2 pi u)` for `|u| < 2^50`: one turn is exact to reduce, `u = k/4 + r`
/// with `|r| <= 1/8` exactly, so no piece of pi is needed and neither is a large-argument path;
/// only `2 pi r` rounds (once), which puts the results within 2 ulp. Box–Muller's angle.
pub fn sin_cos_turns<A: Arith>(a: &mut A, u: A::Num) -> (A::Num, A::Num) {
    let k = nearest_multiple(a, u, 4.0);
    let minus_quarter = a.num(-0.25);
    let r = a.mul_add(k, minus_quarter, u);
    let two_pi = a.num(2.0 * std::f64::consts::PI);
    let y = a.mul(r, two_pi);
    let quadrant = modulo(a, k, 4.0);
    by_quadrant(a, quadrant, y, None)
}

/// `sin` and `cos` of `k pi/2 + y0 + y1` from `k mod 4` and the reduced argument (`y1` `None`:
/// 0).
fn by_quadrant<A: Arith>(a: &mut A, quadrant: A::Num, y0: A::Num, y1: Option<A::Num>) -> (A::Num, A::Num) {
    let s = sin_kernel(a, y0, y1);
    let c = cos_kernel(a, y0, y1);
    // k mod 4 = 0: (s, c); 1: (c, -s); 2: (-s, -c); 3: (-c, s): an odd quadrant turns (s, c)
    // into (c, -s), the upper two negate both.
    let (one, two, three_halves) = (a.num(1.0), a.num(2.0), a.num(1.5));
    let from_two = a.sub(quadrant, two);
    let distance = a.abs(from_two);
    let odd = a.equal(distance, one);
    let upper = a.less(three_halves, quadrant);
    let minus_s = a.neg(s);
    let (sin, cos) = (a.select(odd, c, s), a.select(odd, minus_s, c));
    let (minus_sin, minus_cos) = (a.neg(sin), a.neg(cos));
    (a.select(upper, minus_sin, sin), a.select(upper, minus_cos, cos))
}

/// `tan x` as `sin x / cos x` from one reduction: within 3 ulp (each within 1, then the
/// division). NaN for infinities and NaN.
pub fn tan<A: Bits>(a: &mut A, x: A::Num) -> A::Num {
    let (s, c) = sin_cos(a, x);
    a.div(s, c)
}

/// `sin x`, within 1 ulp.
pub fn sin<A: Bits>(a: &mut A, x: A::Num) -> A::Num {
    sin_cos(a, x).0
}

/// `cos x`, within 1 ulp.
pub fn cos<A: Bits>(a: &mut A, x: A::Num) -> A::Num {
    sin_cos(a, x).1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::{Scalar, ulps};

    /// `sin(2 pi u)` and `cos(2 pi u)` from the same exact reduction, with `2 pi r` carried as
    /// a double-double and the platform's `sin` and `cos` of its head: within half an ulp.
    fn reference(u: f64) -> (f64, f64) {
        let k = (4.0 * u + 0.5).floor();
        let r = u - k / 4.0;
        let two_pi = 2.0 * std::f64::consts::PI;
        let two_pi_tail = 2.449_293_598_294_706_4e-16;
        let head = r * two_pi;
        let tail = r.mul_add(two_pi, -head) + r * two_pi_tail;
        let (s, c) = (head.sin() + head.cos() * tail, head.cos() - head.sin() * tail);
        match k.rem_euclid(4.0) as u8 {
            0 => (s, c),
            1 => (c, -s),
            2 => (-s, -c),
            _ => (-c, s),
        }
    }

    /// Box–Muller's angles (`u` in (0, 1)), negative and large turns: within 2 ulp.
    #[test]
    fn sin_cos_of_turns_are_within_two_ulp() {
        let mut worst = (0, 0.0);
        let mut state = 98765u64;
        for i in 0..2_000_000 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let unit = (state >> 11) as f64 / (1u64 << 53) as f64;
            let u = match i % 4 {
                0 | 1 => unit,
                2 => -1e3 * unit,
                _ => 1e12 * unit,
            };
            let (s, c) = sin_cos_turns(&mut Scalar, u);
            let (rs, rc) = reference(u);
            for d in [ulps(s, rs), ulps(c, rc)] {
                if d > worst.0 {
                    worst = (d, u);
                }
            }
        }
        assert!(worst.0 <= 2, "sin_cos_turns({:e}) is {} ulp off", worst.1, worst.0);
        let (s, c) = sin_cos_turns(&mut Scalar, 0.25);
        assert_eq!((s, c), (1.0, 0.0));
    }
}
