//! The built-in math functions and reductions every stage agrees on.

/// A function the language provides without a definition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Builtin {
    /// `exp(x)`, e to the x.
    Exp,
    /// `log(x)`, the natural logarithm.
    Log,
    /// `sqrt(x)`.
    Sqrt,
    /// `sin(x)`, in radians.
    Sin,
    /// `cos(x)`, in radians.
    Cos,
    /// `tan(x)`, in radians.
    Tan,
    /// `tanh(x)`, the hyperbolic tangent.
    Tanh,
    /// `sinh(x)`, the hyperbolic sine.
    Sinh,
    /// `cosh(x)`, the hyperbolic cosine.
    Cosh,
    /// `asin(x)`, in radians.
    Asin,
    /// `acos(x)`, in radians.
    Acos,
    /// `atan(x)`, in radians.
    Atan,
    /// `atan2(y, x)`: the angle of the point (x, y), in (-pi, pi].
    Atan2,
    /// `abs(x)`.
    Abs,
    /// `floor(x)`: rounded down (derivative 0).
    Floor,
    /// `ceil(x)`: rounded up (derivative 0).
    Ceil,
    /// `round(x)`: to the nearest integer (derivative 0).
    Round,
    /// `sign(x)`: -1, 0 or 1 (derivative 0).
    Sign,
    /// `min(a, b)`, elementwise (reductions are `min(i) ...`).
    Min,
    /// `max(a, b)`, elementwise (reductions are `max(i) ...`).
    Max,
    /// `normal(seed, ...)`: a standard normal draw, deterministic in its arguments.
    Normal,
    /// `uniform(seed, ...)`: a draw from (0, 1), deterministic in its arguments.
    Uniform,
    /// `grad(E, x)`: the gradient of a scalar with respect to a field.
    Grad,
    /// `diff(expr, x)`: the derivative of an expression with respect to a scalar.
    Diff,
}

/// How many arguments a builtin takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arity {
    /// This many, no more, no fewer.
    Exactly(usize),
    /// This many or more (the random draws' seed and indices).
    AtLeast(usize),
}

impl Arity {
    /// Whether a call with `n` arguments fits.
    pub fn accepts(self, n: usize) -> bool {
        match self {
            Arity::Exactly(k) => n == k,
            Arity::AtLeast(k) => n >= k,
        }
    }

    /// `2 arguments`, `at least 1 argument`: for diagnostics.
    pub fn describe(self) -> String {
        match self {
            Arity::Exactly(1) => "1 argument".into(),
            Arity::Exactly(k) => format!("{k} arguments"),
            Arity::AtLeast(1) => "at least 1 argument".into(),
            Arity::AtLeast(k) => format!("at least {k} arguments"),
        }
    }
}

const ALL: [Builtin; 24] = [
    Builtin::Exp,
    Builtin::Log,
    Builtin::Sqrt,
    Builtin::Sin,
    Builtin::Cos,
    Builtin::Tan,
    Builtin::Tanh,
    Builtin::Sinh,
    Builtin::Cosh,
    Builtin::Asin,
    Builtin::Acos,
    Builtin::Atan,
    Builtin::Atan2,
    Builtin::Abs,
    Builtin::Floor,
    Builtin::Ceil,
    Builtin::Round,
    Builtin::Sign,
    Builtin::Min,
    Builtin::Max,
    Builtin::Normal,
    Builtin::Uniform,
    Builtin::Grad,
    Builtin::Diff,
];

impl Builtin {
    /// Every builtin, for name suggestions and tables.
    pub fn all() -> impl Iterator<Item = Builtin> {
        ALL.into_iter()
    }

    /// The builtin a script calls by `name`, if any.
    pub fn from_name(name: &str) -> Option<Builtin> {
        ALL.into_iter().find(|b| b.name() == name)
    }

    /// The name scripts call it by.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Exp => "exp",
            Builtin::Log => "log",
            Builtin::Sqrt => "sqrt",
            Builtin::Sin => "sin",
            Builtin::Cos => "cos",
            Builtin::Tan => "tan",
            Builtin::Tanh => "tanh",
            Builtin::Sinh => "sinh",
            Builtin::Cosh => "cosh",
            Builtin::Asin => "asin",
            Builtin::Acos => "acos",
            Builtin::Atan => "atan",
            Builtin::Atan2 => "atan2",
            Builtin::Abs => "abs",
            Builtin::Floor => "floor",
            Builtin::Ceil => "ceil",
            Builtin::Round => "round",
            Builtin::Sign => "sign",
            Builtin::Min => "min",
            Builtin::Max => "max",
            Builtin::Normal => "normal",
            Builtin::Uniform => "uniform",
            Builtin::Grad => "grad",
            Builtin::Diff => "diff",
        }
    }

    /// How many arguments it takes.
    pub fn arity(self) -> Arity {
        match self {
            Builtin::Atan2 | Builtin::Min | Builtin::Max | Builtin::Grad | Builtin::Diff => Arity::Exactly(2),
            Builtin::Normal | Builtin::Uniform => Arity::AtLeast(1),
            _ => Arity::Exactly(1),
        }
    }

    /// Evaluates a pure math builtin on numbers; `None` for the ones that are not plain math.
    pub fn eval(self, args: &[f64]) -> Option<f64> {
        let x = args.first().copied().unwrap_or(f64::NAN);
        let y = args.get(1).copied().unwrap_or(f64::NAN);
        Some(match self {
            Builtin::Exp => x.exp(),
            Builtin::Log => x.ln(),
            Builtin::Sqrt => x.sqrt(),
            Builtin::Sin => x.sin(),
            Builtin::Cos => x.cos(),
            Builtin::Tan => x.tan(),
            Builtin::Tanh => x.tanh(),
            Builtin::Sinh => x.sinh(),
            Builtin::Cosh => x.cosh(),
            Builtin::Asin => x.asin(),
            Builtin::Acos => x.acos(),
            Builtin::Atan => x.atan(),
            Builtin::Atan2 => x.atan2(y),
            Builtin::Abs => x.abs(),
            Builtin::Floor => x.floor(),
            Builtin::Ceil => x.ceil(),
            Builtin::Round => x.round(),
            Builtin::Sign => sign(x),
            Builtin::Min => x.min(y),
            Builtin::Max => x.max(y),
            Builtin::Normal | Builtin::Uniform | Builtin::Grad | Builtin::Diff => return None,
        })
    }
}

/// -1, 0 or 1 (NaN stays NaN); unlike `f64::signum`, zero maps to zero.
pub fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        x
    }
}

/// A reduction as written in a script: one of the IR's, or `var`, the population variance,
/// which the checker writes as two means, `mean((x - mean(x))^2)` (stable for large means).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reduction {
    /// A reduction the IR has.
    Op(ReduceOp),
    /// `var`: the population variance, written as two means.
    Var,
}

impl Reduction {
    /// The reduction a script writes as `name(i) ...`, if any.
    pub fn from_name(name: &str) -> Option<Reduction> {
        match name {
            "var" => Some(Reduction::Var),
            other => ReduceOp::from_name(other).map(Reduction::Op),
        }
    }

    /// The name scripts write it with.
    pub fn name(self) -> &'static str {
        match self {
            Reduction::Op(op) => op.name(),
            Reduction::Var => "var",
        }
    }
}

/// `sum`, `mean`, `max`, `min` over index ranges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    /// The sum; 0 over an empty range.
    Sum,
    /// The arithmetic mean.
    Mean,
    /// The largest value.
    Max,
    /// The smallest value.
    Min,
}

impl ReduceOp {
    /// The reduction named `name`, if any.
    pub fn from_name(name: &str) -> Option<ReduceOp> {
        match name {
            "sum" => Some(ReduceOp::Sum),
            "mean" => Some(ReduceOp::Mean),
            "max" => Some(ReduceOp::Max),
            "min" => Some(ReduceOp::Min),
            _ => None,
        }
    }

    /// The name scripts write it with.
    pub fn name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "sum",
            ReduceOp::Mean => "mean",
            ReduceOp::Max => "max",
            ReduceOp::Min => "min",
        }
    }
}
