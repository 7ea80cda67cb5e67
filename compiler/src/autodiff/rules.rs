//! Derivative rules of every operation, written once over [`Terms`] so reverse mode (on kernel
//! formulas) and forward mode (on model expressions) share them.
//!
//! Each rule gives a partial derivative times a factor `a`: the adjoint arriving at the
//! operation in reverse mode, the argument's tangent in forward mode (the rules are linear in
//! `a`). Choices at kinks: `abs` has derivative `sign(x)` (0 at 0); `floor`, `ceil`, `round`,
//! `sign` and `//` have derivative 0; `min(a, b)` and `max(a, b)` follow `a` on ties; `x % y`
//! is `x - y * floor(x / y)` with the floor held constant; `sqrt` and `log` at 0 give
//! infinities, as their derivatives do.

use crate::ops::{Binary, Compare, Unary};

/// Expressions the rules build: constructors that may simplify (`0 * x` to `0`).
pub trait Terms: Clone {
    /// The constant `c`.
    fn constant(c: f64) -> Self;
    /// `op(x)`.
    fn unary(op: Unary, x: Self) -> Self;
    /// `x op y` for arithmetic.
    fn binary(op: Binary, x: Self, y: Self) -> Self;
    /// `x op y` for a comparison, yielding a condition.
    fn compare(op: Compare, x: Self, y: Self) -> Self;
    /// `c ? x : y`.
    fn select(c: Self, x: Self, y: Self) -> Self;
    /// `-x`.
    fn neg(x: Self) -> Self;
    /// `x + y`.
    fn add(x: Self, y: Self) -> Self;
    /// `x - y`.
    fn sub(x: Self, y: Self) -> Self;
    /// `x * y`.
    fn mul(x: Self, y: Self) -> Self;
    /// `x / y`.
    fn div(x: Self, y: Self) -> Self;
}

/// `a * d op(x) / dx`, where `p` is `op(x)` itself.
pub fn unary_partial<T: Terms>(op: Unary, x: &T, p: &T, a: T) -> T {
    let x = x.clone();
    let one = || T::constant(1.0);
    let square = |v: T| T::mul(v.clone(), v);
    match op {
        Unary::Neg => T::neg(a),
        Unary::Exp => T::mul(a, p.clone()),
        Unary::Log => T::div(a, x),
        Unary::Sqrt => T::div(a, T::mul(T::constant(2.0), p.clone())),
        Unary::Sin => T::mul(a, T::unary(Unary::Cos, x)),
        Unary::Cos => T::neg(T::mul(a, T::unary(Unary::Sin, x))),
        Unary::Tan => T::mul(a, T::add(one(), square(p.clone()))),
        Unary::Tanh => T::mul(a, T::sub(one(), square(p.clone()))),
        Unary::Sinh => T::mul(a, T::unary(Unary::Cosh, x)),
        Unary::Cosh => T::mul(a, T::unary(Unary::Sinh, x)),
        Unary::Asin => T::div(a, T::unary(Unary::Sqrt, T::sub(one(), square(x)))),
        Unary::Acos => T::neg(T::div(a, T::unary(Unary::Sqrt, T::sub(one(), square(x))))),
        Unary::Atan => T::div(a, T::add(one(), square(x))),
        Unary::Abs => T::mul(a, T::unary(Unary::Sign, x)),
        Unary::Floor | Unary::Ceil | Unary::Round | Unary::Sign => T::constant(0.0),
        Unary::Powi(0) => T::constant(0.0),
        Unary::Powi(1) => a,
        Unary::Powi(n) => T::mul(a, T::mul(T::constant(f64::from(n)), T::unary(Unary::Powi(n - 1), x))),
    }
}

/// `(a * d(x op y)/dx, a * d(x op y)/dy)`, where `p` is `x op y` itself.
pub fn binary_partials<T: Terms>(op: Binary, x: &T, y: &T, p: &T, a: T) -> (T, T) {
    let (x, y) = (x.clone(), y.clone());
    let zero = || T::constant(0.0);
    match op {
        Binary::Add => (a.clone(), a),
        Binary::Sub => (a.clone(), T::neg(a)),
        Binary::Mul => (T::mul(a.clone(), y), T::mul(a, x)),
        Binary::Div => (T::div(a.clone(), y.clone()), T::neg(T::div(T::mul(a, p.clone()), y))),
        Binary::FloorDiv => (zero(), zero()),
        Binary::Mod => {
            let quotient = T::unary(Unary::Floor, T::div(x, y));
            (a.clone(), T::neg(T::mul(a, quotient)))
        }
        Binary::Pow => {
            let lowered = T::binary(Binary::Pow, x.clone(), T::sub(y.clone(), T::constant(1.0)));
            (T::mul(a.clone(), T::mul(y, lowered)), T::mul(a, T::mul(p.clone(), T::unary(Unary::Log, x))))
        }
        Binary::Min | Binary::Max => {
            let takes_x = takes_first(op, x, y);
            (T::select(takes_x.clone(), a.clone(), zero()), T::select(takes_x, zero(), a))
        }
        Binary::Atan2 => {
            let r2 = T::add(T::mul(x.clone(), x.clone()), T::mul(y.clone(), y.clone()));
            (T::div(T::mul(a.clone(), y), r2.clone()), T::neg(T::div(T::mul(a, x), r2)))
        }
    }
}

/// Whether `min(x, y)` or `max(x, y)` (`op`) is `x`: ties follow `x`.
pub fn takes_first<T: Terms>(op: Binary, x: T, y: T) -> T {
    let first = if op == Binary::Min { Compare::Le } else { Compare::Ge };
    T::compare(first, x, y)
}
