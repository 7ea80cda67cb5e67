//! The built-in math functions and reductions every stage agrees on.

/// A function the language provides without a definition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Builtin {
    Exp,
    Log,
    Sqrt,
    Sin,
    Cos,
    Tan,
    Tanh,
    Sinh,
    Cosh,
    Asin,
    Acos,
    Atan,
    Atan2,
    Abs,
    Floor,
    Ceil,
    Round,
    Sign,
    Min,
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
    Exactly(usize),
    AtLeast(usize),
}

impl Arity {
    pub fn accepts(self, n: usize) -> bool {
        match self {
            Arity::Exactly(k) => n == k,
            Arity::AtLeast(k) => n >= k,
        }
    }

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
    pub fn all() -> impl Iterator<Item = Builtin> {
        ALL.into_iter()
    }

    pub fn from_name(name: &str) -> Option<Builtin> {
        ALL.into_iter().find(|b| b.name() == name)
    }

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
    Op(ReduceOp),
    Var,
}

impl Reduction {
    pub fn from_name(name: &str) -> Option<Reduction> {
        match name {
            "var" => Some(Reduction::Var),
            other => ReduceOp::from_name(other).map(Reduction::Op),
        }
    }

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
    Sum,
    Mean,
    Max,
    Min,
}

impl ReduceOp {
    pub fn from_name(name: &str) -> Option<ReduceOp> {
        match name {
            "sum" => Some(ReduceOp::Sum),
            "mean" => Some(ReduceOp::Mean),
            "max" => Some(ReduceOp::Max),
            "min" => Some(ReduceOp::Min),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "sum",
            ReduceOp::Mean => "mean",
            ReduceOp::Max => "max",
            ReduceOp::Min => "min",
        }
    }
}
