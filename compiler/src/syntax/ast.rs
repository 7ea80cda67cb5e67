//! The syntax tree: what the script says, with a span on every node, before any name is looked up.

use crate::diag::Span;

/// A parsed script: its statements in source order.
#[derive(Clone, Debug, Default)]
pub struct Module {
    /// Top-level statements, in the order they appear in the source.
    pub stmts: Vec<Stmt>,
}

/// A name as written, with where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    /// The name exactly as written.
    pub name: String,
    /// Where the name was written.
    pub span: Span,
}

/// One statement with its source extent.
#[derive(Clone, Debug)]
pub struct Stmt {
    /// What the statement declares or does.
    pub kind: StmtKind,
    /// The whole statement, from its keyword to its end.
    pub span: Span,
}

/// The statement forms of the language.
#[derive(Clone, Debug)]
pub enum StmtKind {
    /// `const N = expr`: a compile-time number.
    Const {
        /// The constant's name.
        name: Ident,
        /// Its value; resolution folds it to a number.
        value: Expr,
    },
    /// `param D : shape = expr`: a differentiable value.
    Param {
        /// The parameter's name.
        name: Ident,
        /// Its shape and modifiers; `None` for a scalar.
        ty: Option<TypeAnn>,
        /// Its initial value.
        init: Expr,
    },
    /// `shape G = [i < N, ...] modifiers`: a named index space.
    Shape {
        /// The shape's name.
        name: Ident,
        /// Its axes, in order.
        dims: Vec<IndexDecl>,
        /// Boundary rules applied to its axes.
        modifiers: Vec<Modifier>,
    },
    /// `state u : shape = expr`: a field evolved by the equations.
    State {
        /// The state's name.
        name: Ident,
        /// Its shape and modifiers; `None` for a scalar.
        ty: Option<TypeAnn>,
        /// Its initial value.
        init: Expr,
    },
    /// `noise W : shape`: a Brownian motion, read as `dW` in an SDE.
    Noise {
        /// The noise's name.
        name: Ident,
        /// Its shape and modifiers (e.g. `fractional(hurst = 0.7)`).
        ty: TypeAnn,
    },
    /// `data x : shape = load("file.npy")`: a non-differentiable input.
    Data {
        /// The input's name.
        name: Ident,
        /// The shape the loaded array must have.
        ty: TypeAnn,
        /// The loader function named; only `load` is accepted.
        loader: Ident,
        /// The file path, with the quotes removed.
        path: String,
        /// Where the path's string literal was written.
        path_span: Span,
    },
    /// `let`: a derived scalar or field.
    Let {
        /// The derived value's name.
        name: Ident,
        /// How its shape is given.
        form: LetForm,
        /// Its defining expression.
        value: Expr,
    },
    /// `fn`: a pure function, inlined at each call.
    Fn(FnDecl),
    /// `energy`, `loss` or `observe`: a named scalar.
    Named {
        /// Which of the three keywords.
        kind: NamedKind,
        /// The scalar's name.
        name: Ident,
        /// Its defining expression.
        value: Expr,
    },
    /// `use std.NAME`: import a standard-library module.
    Use {
        /// The dotted path, one part per segment.
        path: Vec<Ident>,
    },
    /// `d/dt u[i, j] = rhs`
    Ode {
        /// The state being differentiated in time.
        target: Target,
        /// The right side, `f` in `d/dt u = f`.
        rhs: Expr,
    },
    /// `d X[p] = drift * dt + diffusion * dW[p]`
    Sde {
        /// The state being stepped.
        target: Target,
        /// The right side, linear in `dt` and `dW`.
        rhs: Expr,
    },
    /// `run INTEGRATOR(...)`: how to integrate the equations.
    Run(Directive),
    /// `sample s ~ exp(-beta * H) with metropolis(...)`; several states for block Gibbs.
    Sample {
        /// The states sampled together.
        vars: Vec<Ident>,
        /// The unnormalised density, `exp(-beta * H)`.
        density: Expr,
        /// The sampler and its arguments.
        sampler: Directive,
    },
    /// `fit PARAMS minimizing LOSS with OPTIMIZER(...)`.
    Fit {
        /// The parameters to optimise.
        params: Vec<Ident>,
        /// The named loss to minimise.
        loss: Ident,
        /// The optimiser and its arguments.
        optimizer: Directive,
    },
    /// A statement that did not parse; its error is already reported.
    Error,
}

/// The `: SHAPE modifiers...` part of a declaration.
#[derive(Clone, Debug)]
pub struct TypeAnn {
    /// The shape, by name or inline.
    pub shape: ShapeSpec,
    /// Boundary rules and value domains after the shape.
    pub modifiers: Vec<Modifier>,
    /// The whole annotation.
    pub span: Span,
}

/// How a declaration's shape is written.
#[derive(Clone, Debug)]
pub enum ShapeSpec {
    /// A shape declared elsewhere: `G`.
    Named(Ident),
    /// An inline shape: `[i < N, j < N]`.
    Literal(Vec<IndexDecl>),
}

/// `i < N` in a shape literal, or `i` / `i < N` in an index list.
#[derive(Clone, Debug)]
pub struct IndexDecl {
    /// The index variable's name.
    pub name: Ident,
    /// Its extent `N`; `None` when not written.
    pub extent: Option<Expr>,
}

/// A word after a shape: a boundary rule (`periodic`, `dirichlet(0)`) or a value domain (`spin`).
#[derive(Clone, Debug)]
pub struct Modifier {
    /// The modifier's word (`periodic`, `dirichlet`, `spin`).
    pub name: Ident,
    /// Its arguments, empty if written without parentheses.
    pub args: Vec<Expr>,
    /// Its named arguments instead, as in `fractional(hurst = 0.7)`.
    pub options: Vec<NamedArg>,
    /// The whole modifier, arguments included.
    pub span: Span,
}

/// An argument of a modifier as written: `dirichlet(0)` or `fractional(hurst = 0.7)`.
#[derive(Clone, Debug)]
pub enum ModifierArg {
    /// A value.
    Positional(Expr),
    /// `name = value`.
    Named(NamedArg),
}

impl Modifier {
    /// A modifier with its arguments sorted into values and named ones.
    pub fn new(name: Ident, written: Vec<ModifierArg>, span: Span) -> Modifier {
        let (mut args, mut options) = (Vec::new(), Vec::new());
        for arg in written {
            match arg {
                ModifierArg::Positional(e) => args.push(e),
                ModifierArg::Named(n) => options.push(n),
            }
        }
        Modifier { name, args, options, span }
    }
}

/// How a `let` gives the shape of its value.
#[derive(Clone, Debug)]
pub enum LetForm {
    /// `let r = expr`: a scalar, or a field whose shape is the expression's.
    Plain,
    /// `let d[p, q, k] = expr`: indices named here, extents written or inferred.
    Indexed(Vec<IndexDecl>),
    /// `let flux : G = expr`: the shape and its boundary rule given.
    Typed(TypeAnn),
}

/// `fn name(params)[indices] = body`.
#[derive(Clone, Debug)]
pub struct FnDecl {
    /// The function's name.
    pub name: Ident,
    /// Its parameter names, in order.
    pub params: Vec<Ident>,
    /// `Some` for a field-valued function.
    pub indices: Option<Vec<IndexDecl>>,
    /// The right side of `=`.
    pub body: Expr,
}

/// Which named scalar a statement declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NamedKind {
    /// `energy`: a scalar to differentiate or sample with.
    Energy,
    /// `loss`: a scalar to minimise, read at the final state by default.
    Loss,
    /// `observe`: a scalar recorded as a time series.
    Observe,
}

impl NamedKind {
    /// The keyword that introduces this kind in source.
    pub fn keyword(self) -> &'static str {
        match self {
            NamedKind::Energy => "energy",
            NamedKind::Loss => "loss",
            NamedKind::Observe => "observe",
        }
    }
}

/// The left side of an equation: a state, optionally with index names.
#[derive(Clone, Debug)]
pub struct Target {
    /// The state's name.
    pub name: Ident,
    /// Index names after the state (`u[i, j]`); `None` when written bare.
    pub indices: Option<Vec<Ident>>,
    /// The whole target.
    pub span: Span,
}

/// `name(key = value, ...)` in `run`, `sample ... with` and `fit ... with`.
#[derive(Clone, Debug)]
pub struct Directive {
    /// The directive's name, e.g. the integrator or sampler.
    pub name: Ident,
    /// Its `key = value` arguments, in order.
    pub args: Vec<NamedArg>,
    /// The whole directive.
    pub span: Span,
}

/// One `key = value` argument of a directive.
#[derive(Clone, Debug)]
pub struct NamedArg {
    /// The argument's name.
    pub key: Ident,
    /// The argument's value, folded during resolution.
    pub value: Expr,
}

/// An expression with its source extent.
#[derive(Clone, Debug)]
pub struct Expr {
    /// What the expression is.
    pub kind: ExprKind,
    /// Where the expression was written.
    pub span: Span,
}

/// Dropping an expression does not recurse once per level (a 100,000-term sum would overflow
/// the stack of whichever thread drops it): subexpressions are moved to a work list, leaving
/// placeholders, and dropped from there.
impl Drop for Expr {
    fn drop(&mut self) {
        let mut pending = Vec::new();
        self.kind.take_children(&mut pending);
        while let Some(mut e) = pending.pop() {
            e.kind.take_children(&mut pending);
        }
    }
}

impl ExprKind {
    /// Moves the direct subexpressions into `out`, leaving this node without any.
    fn take_children(&mut self, out: &mut Vec<Expr>) {
        let mut take = |e: &mut Box<Expr>| out.push(std::mem::replace(&mut **e, Expr::PLACEHOLDER));
        match self {
            ExprKind::Num(_) | ExprKind::Name(_) => {}
            ExprKind::Neg(a) | ExprKind::Not(a) => take(a),
            ExprKind::Binary(_, a, b) | ExprKind::Compare(_, a, b) | ExprKind::And(a, b) | ExprKind::Or(a, b) => {
                take(a);
                take(b);
            }
            ExprKind::If(c, a, b) => {
                take(c);
                take(a);
                take(b);
            }
            ExprKind::Call { args, filter, .. } => {
                out.append(args);
                out.extend(filter.take().map(|f| *f));
            }
            ExprKind::Reduce { args, filter, body, .. } => {
                take(body);
                out.append(args);
                out.extend(filter.take().map(|f| *f));
            }
            ExprKind::Index { base, indices } => {
                take(base);
                out.append(indices);
            }
        }
    }
}

impl Expr {
    /// What a subexpression is replaced by while a tree is dropped.
    const PLACEHOLDER: Expr = Expr { kind: ExprKind::Num(0.0), span: Span { start: 0, end: 0 } };
}

/// The expression forms, before names are looked up.
#[derive(Clone, Debug)]
pub enum ExprKind {
    /// A number literal.
    Num(f64),
    /// A bare name; resolution decides what it refers to.
    Name(String),
    /// Unary minus.
    Neg(Box<Expr>),
    /// An arithmetic operation.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// A comparison such as `a < b`.
    Compare(CmpOp, Box<Expr>, Box<Expr>),
    /// `a and b`.
    And(Box<Expr>, Box<Expr>),
    /// `a or b`.
    Or(Box<Expr>, Box<Expr>),
    /// `not a`.
    Not(Box<Expr>),
    /// `if c then a else b`.
    If(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `f(a, b)`; `filter` is only meaningful for reductions and is rejected elsewhere.
    Call {
        /// The function or builtin called.
        callee: Ident,
        /// The call's arguments, in order.
        args: Vec<Expr>,
        /// The `| cond` part, if written.
        filter: Option<Box<Expr>>,
    },
    /// `sum(i, j | cond) body`: the head's arguments are index declarations once resolved.
    Reduce {
        /// The reduction: `sum`, `mean`, `max` or `min`.
        op: Ident,
        /// The index variables reduced over, as written in the head.
        args: Vec<Expr>,
        /// The `| cond` restricting which index values count.
        filter: Option<Box<Expr>>,
        /// The expression reduced.
        body: Box<Expr>,
    },
    /// `base[i + 1, j]`
    Index {
        /// The value read.
        base: Box<Expr>,
        /// One index expression per axis, affine in index variables.
        indices: Vec<Expr>,
    },
}

/// Binary arithmetic operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`: always real division.
    Div,
    /// `//`: integer floor division.
    FloorDiv,
    /// `%`: modulo, with the sign of the divisor.
    Mod,
    /// `^`: power.
    Pow,
}

impl BinOp {
    /// The operator as written in source.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::FloorDiv => "//",
            BinOp::Mod => "%",
            BinOp::Pow => "^",
        }
    }
}

/// Comparisons are the same at every level of the compiler.
pub use crate::ops::Compare as CmpOp;
