//! Math functions written once, as exactly rounded arithmetic, for every engine.
//!
//! `exp`, `log`, `pow`, `sin`, `cos`, `tan`, `asin`, `acos`, `atan`, `atan2`, `tanh`, `sinh`
//! and `cosh` (and `expm1`, which the last three use) are not calls into the platform's libm:
//! each is an algorithm over the operations of [`Arith`] (IEEE double `+ - * /`, fused
//! multiply-add, `sqrt`, `floor`, comparisons, selects, and, in [`Bits`], three bit
//! manipulations of the exponent field, `copysign`, and the large-argument reduction of `sin`
//! and `cos`, [`reduce::large`], integer arithmetic in plain Rust), all exactly specified. The interpreter and constant folding run
//! them on `f64` ([`Scalar`]); the JIT emits the same operations inline as Cranelift
//! instructions, on one point or on `f64x2` lanes (or calls the `Scalar` versions where a
//! kernel has very many, see `codegen::clif::INLINE_MATH_LIMIT`). So every engine computes the
//! same bits, and the JIT vectorises kernels that use them. The algorithms branch only around
//! the rare large reduction (selects otherwise), so lanes stay in step.
//!
//! Accuracy (measured by `tests/math.rs` on every engine against the platform libm, over
//! millions of arguments and the special values, and against 4000-bit values where glibc
//! itself is off): [`exp`], [`log`], [`sin`] and [`cos`] are within 1 ulp of the correctly
//! rounded result (`sin` and `cos` for every finite argument); [`pow`], [`asin`], [`acos`],
//! [`atan`], [`atan2`] and [`expm1`] within 1 ulp of glibc's; [`tanh`], [`sinh`] and [`cosh`]
//! within 3 (glibc's own are within 2 of the correctly rounded result; fdlibm's formulas round
//! two or three times after `expm1` or `exp`); [`tan`] within 3 (a division of the two). The
//! special values (signed zeros, infinities, NaN, `atan2`'s quadrants, `pow`'s negative bases)
//! are C99's.
//!
//! The reductions and polynomials are those of fdlibm (Sun Microsystems, 1993) and FreeBSD's
//! msun, restated here without their branches. Polynomials are evaluated by fused multiply-adds
//! (Horner's rule, and the final `a + b c` steps where the product is not needed alone): one
//! rounding instead of two, and one instruction instead of two where the processor has FMA.
//! Every engine fuses exactly there and nowhere else (a script's `a * b + c` is never fused);
//! on a processor without FMA the JIT and [`Scalar`] call a library `fma`, which is exact too,
//! only slower.

mod asin;
mod atan;
mod exp;
mod hyperbolic;
mod log;
mod pow;
pub mod reduce;
mod trig;

use crate::ops::Binary;

pub use asin::{acos, asin};
pub use atan::{atan, atan2};
pub use exp::{exp, exp_bounds};
pub use hyperbolic::{cosh, expm1, sinh, tanh};
pub use log::{log, log_of_normal};
pub use pow::pow;
pub use trig::{MEDIUM as TRIG_MEDIUM, cos, sin, sin_cos, sin_cos_turns, tan};

/// The operations the math functions are written in. Every method is exactly specified, so
/// two implementations that follow the contract agree bit for bit: no reassociation, round to
/// nearest even, and a product fused with a sum only where an algorithm asks for it
/// ([`Arith::mul_add`]).
pub trait Arith {
    /// A number (a double, or lanes of doubles).
    type Num: Copy;
    /// The outcome of a comparison (a flag, or lane masks).
    type Cond: Copy;

    /// The constant `c`.
    fn num(&mut self, c: f64) -> Self::Num;
    /// `a + b`.
    fn add(&mut self, a: Self::Num, b: Self::Num) -> Self::Num;
    /// `a - b`.
    fn sub(&mut self, a: Self::Num, b: Self::Num) -> Self::Num;
    /// `a * b`.
    fn mul(&mut self, a: Self::Num, b: Self::Num) -> Self::Num;
    /// `a * b + c` rounded once (IEEE fused multiply-add): one instruction where the machine
    /// has it, and no less accurate than the two operations it replaces.
    fn mul_add(&mut self, a: Self::Num, b: Self::Num, c: Self::Num) -> Self::Num;
    /// `a / b`.
    fn div(&mut self, a: Self::Num, b: Self::Num) -> Self::Num;
    /// The largest integer not above `a`.
    fn floor(&mut self, a: Self::Num) -> Self::Num;
    /// The smaller of `a` and `b`; NaN if either is NaN.
    fn min(&mut self, a: Self::Num, b: Self::Num) -> Self::Num;
    /// The larger of `a` and `b`; NaN if either is NaN.
    fn max(&mut self, a: Self::Num, b: Self::Num) -> Self::Num;
    /// `|a|`.
    fn abs(&mut self, a: Self::Num) -> Self::Num;
    /// The square root of `a`, correctly rounded (NaN below zero, `sqrt(-0) = -0`).
    fn sqrt(&mut self, a: Self::Num) -> Self::Num;
    /// `-a`.
    fn neg(&mut self, a: Self::Num) -> Self::Num;
    /// `a < b` (false when either is NaN).
    fn less(&mut self, a: Self::Num, b: Self::Num) -> Self::Cond;
    /// `a == b` (false when either is NaN).
    fn equal(&mut self, a: Self::Num, b: Self::Num) -> Self::Cond;
    /// Both `a` and `b`.
    fn both(&mut self, a: Self::Cond, b: Self::Cond) -> Self::Cond;
    /// `a` where `c` holds, else `b`.
    fn select(&mut self, c: Self::Cond, a: Self::Num, b: Self::Num) -> Self::Num;
}

/// [`Arith`] and operations on a double's bits, which the functions that take a number apart
/// by its exponent or sign need (the Kernel IR has the rest of `Arith` as nodes, not these).
pub trait Bits: Arith {
    /// `2^n` for an integer `n` in `-1022..=1023`, built from its bits: the biased exponent
    /// `n + 1023` (read from the low bits of `n + 2^52 + 1023`) shifted into the exponent field.
    /// Callers never pass anything else, except NaN, whose result they discard.
    fn pow2(&mut self, n: Self::Num) -> Self::Num;
    /// The exponent field of `a` minus 1023, as a number: `floor(log2 |a|)` for normal
    /// numbers, -1023 for zeros and subnormals, 1024 for infinities and NaN.
    fn exponent(&mut self, a: Self::Num) -> Self::Num;
    /// A positive normal `a` as `2^k m` with `m` in `[limit/2, limit)`, for a `limit` in
    /// `(1, 2]`: `[k, m]`, from the bits. Adding `bits(1) - bits(limit/2)` to `a`'s bits
    /// carries into the exponent field exactly when `a`'s significand is at least `limit`'s,
    /// and adding `bits(limit/2)` back to the significand field gives `m`: the choice between
    /// the significand and its half made by one addition instead of a comparison and two
    /// selects. Other arguments give numbers their callers discard.
    fn split_below(&mut self, a: Self::Num, limit: f64) -> [Self::Num; 2];
    /// `magnitude` with the sign bit of `sign`, which tells `-0` from `0` where comparisons
    /// cannot.
    fn copysign(&mut self, magnitude: Self::Num, sign: Self::Num) -> Self::Num;
    /// [`reduce::large`] of `x` where `large` holds, else `medium`: the reduction by pi/2 of
    /// arguments too large for the inline one. Engines may branch around it, since it is rare.
    fn reduce_large(&mut self, x: Self::Num, large: Self::Cond, medium: [Self::Num; 3]) -> [Self::Num; 3];
}

/// `ln 2` split in two: the high part has 32 significant bits, so `k * LN2_HI` is exact for
/// every `k` below 2^11 in magnitude (all `exp` and `log` meet), and so is `x - k * LN2_HI`
/// near `k ln 2`.
const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
/// The rest of `ln 2`.
const LN2_LO: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76);

/// The sign and exponent fields of a double.
const SIGN_AND_EXPONENT: u64 = 0xFFF0_0000_0000_0000;
/// The exponent field of 1.0 (biased exponent 1023).
const EXPONENT_OF_ONE: u64 = 0x3FF0_0000_0000_0000;
/// 2^52: adding an integer `n` in `0..2^52` to it puts `n` in the low bits.
pub const TWO_POW_52: f64 = 4_503_599_627_370_496.0;
/// `2^52 + 1023`: `n + POW2_BIAS` has `n + 1023` in its low bits.
pub const POW2_BIAS: f64 = TWO_POW_52 + 1023.0;
/// The bits of [`POW2_BIAS`] minus 1023: ORing a biased exponent into them and subtracting
/// [`POW2_BIAS`] gives the unbiased exponent exactly.
pub const EXPONENT_BITS_BASE: u64 = 0x4330_0000_0000_0000;
/// Clears the sign and exponent fields.
pub const SIGNIFICAND_MASK: u64 = !SIGN_AND_EXPONENT;

/// [`Bits::split_below`]'s two constants for `limit`: what its carry adds to the argument's
/// bits (`bits(1) - bits(limit/2)`), and what is added back to the significand field
/// (`bits(limit/2)`).
pub fn split_constants(limit: f64) -> (u64, u64) {
    let half_limit = (limit / 2.0).to_bits();
    (EXPONENT_OF_ONE - half_limit, half_limit)
}
/// The sign bit of a double, for [`Bits::copysign`].
pub const SIGN_BIT: u64 = 0x8000_0000_0000_0000;

/// [`Arith`] on plain `f64`: the reference every engine must match.
pub struct Scalar;

/// `f` on [`Scalar`], compiled a second time with fused multiply-add instructions and run so
/// where the processor has them: without, every [`Arith::mul_add`] is a library call, which
/// made Box–Muller's normals on `Scalar` half as slow again. The same bits either way.
#[inline(always)]
#[allow(unsafe_code)]
pub fn on_scalar<R>(f: impl FnOnce(&mut Scalar) -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the processor has the instructions `with_fma` may use.
        return unsafe { with_fma(f) };
    }
    f(&mut Scalar)
}

/// `f` where the compiler may use FMA instructions (it inlines the math functions `f` calls).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "fma")]
fn with_fma<R>(f: impl FnOnce(&mut Scalar) -> R) -> R {
    f(&mut Scalar)
}

impl Arith for Scalar {
    type Num = f64;
    type Cond = bool;

    fn num(&mut self, c: f64) -> f64 {
        c
    }
    fn add(&mut self, a: f64, b: f64) -> f64 {
        a + b
    }
    fn sub(&mut self, a: f64, b: f64) -> f64 {
        a - b
    }
    fn mul(&mut self, a: f64, b: f64) -> f64 {
        a * b
    }
    fn mul_add(&mut self, a: f64, b: f64, c: f64) -> f64 {
        a.mul_add(b, c)
    }
    fn div(&mut self, a: f64, b: f64) -> f64 {
        a / b
    }
    fn floor(&mut self, a: f64) -> f64 {
        a.floor()
    }
    fn min(&mut self, a: f64, b: f64) -> f64 {
        Binary::Min.eval(a, b)
    }
    fn max(&mut self, a: f64, b: f64) -> f64 {
        Binary::Max.eval(a, b)
    }
    fn abs(&mut self, a: f64) -> f64 {
        a.abs()
    }
    fn sqrt(&mut self, a: f64) -> f64 {
        a.sqrt()
    }
    fn neg(&mut self, a: f64) -> f64 {
        -a
    }
    fn less(&mut self, a: f64, b: f64) -> bool {
        a < b
    }
    fn equal(&mut self, a: f64, b: f64) -> bool {
        a == b
    }
    fn both(&mut self, a: bool, b: bool) -> bool {
        a && b
    }
    fn select(&mut self, c: bool, a: f64, b: f64) -> f64 {
        if c { a } else { b }
    }
}

impl Bits for Scalar {
    fn pow2(&mut self, n: f64) -> f64 {
        f64::from_bits((n + POW2_BIAS).to_bits() << 52)
    }
    fn exponent(&mut self, a: f64) -> f64 {
        f64::from_bits(EXPONENT_BITS_BASE | ((a.to_bits() >> 52) & 0x7FF)) - POW2_BIAS
    }
    fn split_below(&mut self, a: f64, limit: f64) -> [f64; 2] {
        let (offset, half_limit) = split_constants(limit);
        let carried = a.to_bits().wrapping_add(offset);
        let k = f64::from_bits(EXPONENT_BITS_BASE | (carried >> 52)) - POW2_BIAS;
        [k, f64::from_bits((carried & SIGNIFICAND_MASK) + half_limit)]
    }
    fn copysign(&mut self, magnitude: f64, sign: f64) -> f64 {
        magnitude.copysign(sign)
    }
    fn reduce_large(&mut self, x: f64, large: bool, medium: [f64; 3]) -> [f64; 3] {
        if large { reduce::large(x) } else { medium }
    }
}

/// How many doubles lie between `a` and `b` (0 for equal numbers and for two NaNs).
#[cfg(test)]
fn ulps(a: f64, b: f64) -> u64 {
    if a == b || (a.is_nan() && b.is_nan()) {
        return 0;
    }
    let key = |x: f64| {
        let bits = x.to_bits() as i64;
        if bits < 0 { i64::MIN - bits } else { bits }
    };
    key(a).abs_diff(key(b))
}

/// `x` clamped to `[low, high]` (nonzero bounds), NaN staying NaN: by comparisons and selects
/// rather than `max` and `min`, which vector code spends several instructions on to order NaN
/// and signed zeros.
fn clamp<A: Arith>(a: &mut A, x: A::Num, low: f64, high: f64) -> A::Num {
    let (low, high) = (a.num(low), a.num(high));
    let below = a.less(x, low);
    let x = a.select(below, low, x);
    let above = a.less(high, x);
    a.select(above, high, x)
}

/// The integer nearest `x * inverse` (halves up): how many periods `1 / inverse` to take away.
fn nearest_multiple<A: Arith>(a: &mut A, x: A::Num, inverse: f64) -> A::Num {
    let inverse = a.num(inverse);
    let half = a.num(0.5);
    let shifted = a.mul_add(x, inverse, half);
    a.floor(shifted)
}

/// `k mod m` in `0..m` for an integer `k` and a power of two `m` (every step exact).
fn modulo<A: Arith>(a: &mut A, k: A::Num, m: f64) -> A::Num {
    let inverse = a.num(1.0 / m);
    let scaled = a.mul(k, inverse);
    let turns = a.floor(scaled);
    let minus_m = a.num(-m);
    a.mul_add(turns, minus_m, k)
}

/// `x` rounded to 26 significant bits by Veltkamp's split (`x (2^27 + 1)` minus what it added):
/// the product of two such heads, and the square of one, is exact, and so is `x - head`. For
/// `|x|` below 2^996, where the scaling cannot overflow.
fn head<A: Arith>(a: &mut A, x: A::Num) -> A::Num {
    let splitter = a.num(134_217_729.0);
    let scaled = a.mul(x, splitter);
    let excess = a.sub(scaled, x);
    a.sub(scaled, excess)
}

/// `p(x) = c[0] + x (c[1] + x (c[2] + ...))` by Horner's rule, one fused multiply-add a term.
fn horner<A: Arith>(a: &mut A, x: A::Num, coefficients: &[f64]) -> A::Num {
    let (&last, rest) = coefficients.split_last().expect("a polynomial has a coefficient");
    let mut p = a.num(last);
    for &c in rest.iter().rev() {
        let c = a.num(c);
        p = a.mul_add(p, x, c);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_operations() {
        let mut s = Scalar;
        assert_eq!(s.pow2(0.0), 1.0);
        assert_eq!(s.pow2(-1022.0), f64::MIN_POSITIVE);
        assert_eq!(s.pow2(1023.0), 2f64.powi(1023));
        assert_eq!(s.exponent(1.5), 0.0);
        assert_eq!(s.exponent(-0.375), -2.0);
        assert_eq!(s.exponent(0.0), -1023.0);
        assert_eq!(s.exponent(f64::INFINITY), 1024.0);
        assert_eq!(s.split_below(3.0, std::f64::consts::SQRT_2), [2.0, 0.75]);
        assert_eq!(s.split_below(1.25, std::f64::consts::SQRT_2), [0.0, 1.25]);
        assert_eq!(s.split_below(1.0, 2.0), [0.0, 1.0]);
        assert_eq!(s.split_below(f64::MIN_POSITIVE, 1.5), [-1022.0, 1.0]);
        assert_eq!(s.copysign(2.0, -0.0).to_bits(), (-2.0f64).to_bits());
        assert_eq!(s.copysign(-0.0, 1.0).to_bits(), 0.0f64.to_bits());
    }
}
