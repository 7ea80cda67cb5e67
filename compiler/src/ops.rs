//! Scalar operations and their exact semantics, shared by constant folding, the checked model,
//! the Kernel IR and every engine. An engine that disagrees with [`Unary::eval`] /
//! [`Binary::eval`] is wrong.

use std::fmt;

use crate::builtins::Builtin;

/// A one-argument operation on `f64`, with IEEE semantics (NaN in, NaN out).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unary {
    /// `-x`; flips the sign of zero too.
    Neg,
    /// `e^x`, by [`crate::math::exp`] (the same bits on every engine).
    Exp,
    /// Natural logarithm; NaN below zero, `-inf` at zero. By [`crate::math::log`].
    Log,
    /// Square root; NaN below zero.
    Sqrt,
    /// Sine, of radians, by [`crate::math::sin`].
    Sin,
    /// Cosine, of radians, by [`crate::math::cos`].
    Cos,
    /// Tangent, of radians, by [`crate::math::tan`].
    Tan,
    /// Hyperbolic tangent, by [`crate::math::tanh`].
    Tanh,
    /// Hyperbolic sine, by [`crate::math::sinh`].
    Sinh,
    /// Hyperbolic cosine, by [`crate::math::cosh`].
    Cosh,
    /// Arcsine, in radians; NaN outside `[-1, 1]`. By [`crate::math::asin`].
    Asin,
    /// Arccosine, in radians; NaN outside `[-1, 1]`. By [`crate::math::acos`].
    Acos,
    /// Arctangent, in radians, in `[-pi/2, pi/2]`, by [`crate::math::atan`].
    Atan,
    /// Absolute value.
    Abs,
    /// Largest integer not above `x`.
    Floor,
    /// Smallest integer not below `x`.
    Ceil,
    /// Half away from zero.
    Round,
    /// -1, 0 or 1; NaN stays NaN and a zero keeps its sign.
    Sign,
    /// `x^n` for a constant integer `n`, by [`powi`].
    Powi(i32),
}

/// A two-argument operation on `f64`; the written order is the argument order (`a op b`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Binary {
    /// `a + b`.
    Add,
    /// `a - b`.
    Sub,
    /// `a * b`.
    Mul,
    /// Real division.
    Div,
    /// `floor(a / b)`.
    FloorDiv,
    /// `a - b * floor(a / b)`: the sign of `b`.
    Mod,
    /// `a^b` for a non-constant or non-integer exponent, by [`crate::math::pow`].
    Pow,
    /// NaN if either is NaN, else the smaller; `min(-0, 0) = -0`.
    Min,
    /// NaN if either is NaN, else the larger; `max(-0, 0) = 0`.
    Max,
    /// `atan2(a, b)`: the angle of the point `(b, a)`, in radians in `[-pi, pi]`, by
    /// [`crate::math::atan2`].
    Atan2,
}

/// A comparison of two numbers, giving a boolean; every one but `Ne` is false when either
/// side is NaN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compare {
    /// `a < b`.
    Lt,
    /// `a <= b`.
    Le,
    /// `a > b`.
    Gt,
    /// `a >= b`.
    Ge,
    /// `a == b`; `-0 == 0`.
    Eq,
    /// `a != b`; true when either side is NaN.
    Ne,
}

/// Operations on 32-bit unsigned words, for counter-based random numbers (Philox): wrapping
/// addition, exclusive or, and the low and high halves of the 64-bit product.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WordOp {
    /// `a + b` modulo 2^32.
    Add,
    /// `a ^ b`, bit by bit.
    Xor,
    /// The low 32 bits of `a * b`.
    MulLo,
    /// The high 32 bits of `a * b`.
    MulHi,
}

impl WordOp {
    /// The reference result on two words.
    #[inline]
    pub fn eval(self, a: u32, b: u32) -> u32 {
        match self {
            WordOp::Add => a.wrapping_add(b),
            WordOp::Xor => a ^ b,
            WordOp::MulLo => a.wrapping_mul(b),
            WordOp::MulHi => ((u64::from(a) * u64::from(b)) >> 32) as u32,
        }
    }

    /// Its mnemonic in printed Kernel IR (`word.add`, ...).
    pub fn name(self) -> &'static str {
        match self {
            WordOp::Add => "word.add",
            WordOp::Xor => "word.xor",
            WordOp::MulLo => "word.mullo",
            WordOp::MulHi => "word.mulhi",
        }
    }
}

/// The word of an integer-valued number: its low 32 bits after truncation toward zero
/// (negative numbers wrap, as two's complement).
#[inline]
pub fn to_word(x: f64) -> u32 {
    x as i64 as u32
}

impl Unary {
    /// Whether the operation is a transcendental function (tens of operations, not one).
    pub fn is_transcendental(self) -> bool {
        matches!(
            self,
            Unary::Exp
                | Unary::Log
                | Unary::Sin
                | Unary::Cos
                | Unary::Tan
                | Unary::Tanh
                | Unary::Sinh
                | Unary::Cosh
                | Unary::Asin
                | Unary::Acos
                | Unary::Atan
        )
    }

    /// The reference result; engines must agree with it.
    #[inline]
    pub fn eval(self, x: f64) -> f64 {
        match self {
            Unary::Neg => -x,
            Unary::Exp => crate::math::on_scalar(|s| crate::math::exp(s, x)),
            Unary::Log => crate::math::on_scalar(|s| crate::math::log(s, x)),
            Unary::Sqrt => x.sqrt(),
            Unary::Sin => crate::math::on_scalar(|s| crate::math::sin(s, x)),
            Unary::Cos => crate::math::on_scalar(|s| crate::math::cos(s, x)),
            Unary::Tan => crate::math::on_scalar(|s| crate::math::tan(s, x)),
            Unary::Tanh => crate::math::on_scalar(|s| crate::math::tanh(s, x)),
            Unary::Sinh => crate::math::on_scalar(|s| crate::math::sinh(s, x)),
            Unary::Cosh => crate::math::on_scalar(|s| crate::math::cosh(s, x)),
            Unary::Asin => crate::math::on_scalar(|s| crate::math::asin(s, x)),
            Unary::Acos => crate::math::on_scalar(|s| crate::math::acos(s, x)),
            Unary::Atan => crate::math::on_scalar(|s| crate::math::atan(s, x)),
            Unary::Abs => x.abs(),
            Unary::Floor => x.floor(),
            Unary::Ceil => x.ceil(),
            Unary::Round => x.round(),
            Unary::Sign => crate::builtins::sign(x),
            Unary::Powi(n) => powi(x, n),
        }
    }

    /// Its lower-case mnemonic in the printed model and Kernel IR (`exp`, `powi.3`).
    pub fn name(self) -> String {
        match self {
            Unary::Powi(n) => format!("powi.{n}"),
            other => format!("{other:?}").to_lowercase(),
        }
    }
}

impl Binary {
    /// The reference result of `a op b`; engines must agree with it.
    #[inline]
    pub fn eval(self, a: f64, b: f64) -> f64 {
        match self {
            Binary::Add => a + b,
            Binary::Sub => a - b,
            Binary::Mul => a * b,
            Binary::Div => a / b,
            Binary::FloorDiv => (a / b).floor(),
            Binary::Mod => a - b * (a / b).floor(),
            Binary::Pow => crate::math::on_scalar(|s| crate::math::pow(s, a, b)),
            Binary::Min => minimum(a, b),
            Binary::Max => maximum(a, b),
            Binary::Atan2 => crate::math::on_scalar(|s| crate::math::atan2(s, a, b)),
        }
    }

    /// Its lower-case mnemonic in the printed model and Kernel IR (`add`, `floordiv`).
    pub fn name(self) -> &'static str {
        match self {
            Binary::Add => "add",
            Binary::Sub => "sub",
            Binary::Mul => "mul",
            Binary::Div => "div",
            Binary::FloorDiv => "floordiv",
            Binary::Mod => "mod",
            Binary::Pow => "pow",
            Binary::Min => "min",
            Binary::Max => "max",
            Binary::Atan2 => "atan2",
        }
    }
}

impl Compare {
    /// Whether `a op b` holds, by IEEE comparison.
    #[inline]
    pub fn eval(self, a: f64, b: f64) -> bool {
        match self {
            Compare::Lt => a < b,
            Compare::Le => a <= b,
            Compare::Gt => a > b,
            Compare::Ge => a >= b,
            Compare::Eq => a == b,
            Compare::Ne => a != b,
        }
    }

    /// The comparison that holds exactly when this one does not (for numbers that are not NaN).
    pub fn negated(self) -> Compare {
        match self {
            Compare::Lt => Compare::Ge,
            Compare::Le => Compare::Gt,
            Compare::Gt => Compare::Le,
            Compare::Ge => Compare::Lt,
            Compare::Eq => Compare::Ne,
            Compare::Ne => Compare::Eq,
        }
    }

    /// `a op b` == `b op.swapped() a`.
    pub fn swapped(self) -> Compare {
        match self {
            Compare::Lt => Compare::Gt,
            Compare::Le => Compare::Ge,
            Compare::Gt => Compare::Lt,
            Compare::Ge => Compare::Le,
            other => other,
        }
    }

    /// How it is written in a script.
    pub fn symbol(self) -> &'static str {
        match self {
            Compare::Lt => "<",
            Compare::Le => "<=",
            Compare::Gt => ">",
            Compare::Ge => ">=",
            Compare::Eq => "==",
            Compare::Ne => "!=",
        }
    }

    /// Its mnemonic in the printed model and Kernel IR (`lt`, `ge`), unlike the script's
    /// [`Compare::symbol`].
    pub fn name(self) -> &'static str {
        match self {
            Compare::Lt => "lt",
            Compare::Le => "le",
            Compare::Gt => "gt",
            Compare::Ge => "ge",
            Compare::Eq => "eq",
            Compare::Ne => "ne",
        }
    }
}

impl From<crate::syntax::ast::BinOp> for Binary {
    fn from(op: crate::syntax::ast::BinOp) -> Self {
        use crate::syntax::ast::BinOp;
        match op {
            BinOp::Add => Binary::Add,
            BinOp::Sub => Binary::Sub,
            BinOp::Mul => Binary::Mul,
            BinOp::Div => Binary::Div,
            BinOp::FloorDiv => Binary::FloorDiv,
            BinOp::Mod => Binary::Mod,
            BinOp::Pow => Binary::Pow,
        }
    }
}

impl fmt::Display for Unary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// The operation a math builtin stands for, if it is a plain scalar operation.
pub enum BuiltinOp {
    /// A builtin of one argument, such as `exp`.
    Unary(Unary),
    /// A builtin of two arguments, such as `atan2` or `min`.
    Binary(Binary),
}

/// The scalar operation a call to `builtin` computes; `None` for the builtins that are not one
/// (the random draws `normal` and `uniform`, and the derivatives `grad` and `diff`).
pub fn builtin_op(builtin: Builtin) -> Option<BuiltinOp> {
    use BuiltinOp::{Binary as B, Unary as U};
    Some(match builtin {
        Builtin::Exp => U(Unary::Exp),
        Builtin::Log => U(Unary::Log),
        Builtin::Sqrt => U(Unary::Sqrt),
        Builtin::Sin => U(Unary::Sin),
        Builtin::Cos => U(Unary::Cos),
        Builtin::Tan => U(Unary::Tan),
        Builtin::Tanh => U(Unary::Tanh),
        Builtin::Sinh => U(Unary::Sinh),
        Builtin::Cosh => U(Unary::Cosh),
        Builtin::Asin => U(Unary::Asin),
        Builtin::Acos => U(Unary::Acos),
        Builtin::Atan => U(Unary::Atan),
        Builtin::Abs => U(Unary::Abs),
        Builtin::Floor => U(Unary::Floor),
        Builtin::Ceil => U(Unary::Ceil),
        Builtin::Round => U(Unary::Round),
        Builtin::Sign => U(Unary::Sign),
        Builtin::Atan2 => B(Binary::Atan2),
        Builtin::Min => B(Binary::Min),
        Builtin::Max => B(Binary::Max),
        Builtin::Normal | Builtin::Uniform | Builtin::Grad | Builtin::Diff => return None,
    })
}

/// `x^n` by binary exponentiation over the bits of |n| from the lowest (the first factor taken
/// as it is, each further one multiplied onto the product), then a reciprocal for negative `n`.
/// Spelled out (not `f64::powi`) so every engine can repeat it bit for bit.
#[inline]
pub fn powi(x: f64, n: i32) -> f64 {
    let mut result: Option<f64> = None;
    let mut base = x;
    let mut bits = n.unsigned_abs();
    while bits > 0 {
        if bits & 1 == 1 {
            result = Some(match result {
                Some(r) => r * base,
                None => base,
            });
        }
        bits >>= 1;
        if bits > 0 {
            base *= base;
        }
    }
    let result = result.unwrap_or(1.0);
    if n < 0 { 1.0 / result } else { result }
}

#[inline]
fn minimum(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a < b || (a == b && a.is_sign_negative()) {
        a
    } else {
        b
    }
}

#[inline]
fn maximum(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a > b || (a == b && a.is_sign_positive()) {
        a
    } else {
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn powi_matches_repeated_multiplication() {
        assert_eq!(powi(3.0, 0), 1.0);
        assert_eq!(powi(3.0, 5), 243.0);
        assert_eq!(powi(2.0, -3), 0.125);
        assert_eq!(powi(1.1, 2), 1.1 * 1.1);
    }

    #[test]
    fn floor_semantics_of_div_and_mod() {
        assert_eq!(Binary::FloorDiv.eval(-7.0, 2.0), -4.0);
        assert_eq!(Binary::Mod.eval(-7.0, 2.0), 1.0);
        assert_eq!(Binary::Mod.eval(7.0, -2.0), -1.0);
    }

    #[test]
    fn min_max_propagate_nan_and_order_zeros() {
        assert!(Binary::Min.eval(f64::NAN, 1.0).is_nan());
        assert!(Binary::Max.eval(1.0, f64::NAN).is_nan());
        assert!(Binary::Min.eval(0.0, -0.0).is_sign_negative());
        assert!(Binary::Max.eval(-0.0, 0.0).is_sign_positive());
    }
}
