//! The syntax tree: what the script says, with a span on every node, before any name is looked up.

use crate::diag::Span;

/// A parsed script: its statements in source order.
#[derive(Clone, Debug, Default)]
pub struct Module {
    pub stmts: Vec<Stmt>,
}

/// A name as written, with where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum StmtKind {
    Const {
        name: Ident,
        value: Expr,
    },
    Param {
        name: Ident,
        ty: Option<TypeAnn>,
        init: Expr,
    },
    Shape {
        name: Ident,
        dims: Vec<IndexDecl>,
        modifiers: Vec<Modifier>,
    },
    State {
        name: Ident,
        ty: Option<TypeAnn>,
        init: Expr,
    },
    Noise {
        name: Ident,
        ty: TypeAnn,
    },
    Data {
        name: Ident,
        ty: TypeAnn,
        loader: Ident,
        path: String,
        path_span: Span,
    },
    Let {
        name: Ident,
        form: LetForm,
        value: Expr,
    },
    Fn(FnDecl),
    Named {
        kind: NamedKind,
        name: Ident,
        value: Expr,
    },
    Use {
        path: Vec<Ident>,
    },
    /// `d/dt u[i, j] = rhs`
    Ode {
        target: Target,
        rhs: Expr,
    },
    /// `d X[p] = drift * dt + diffusion * dW[p]`
    Sde {
        target: Target,
        rhs: Expr,
    },
    Run(Directive),
    /// `sample s ~ exp(-beta * H) with metropolis(...)`; several states for block Gibbs.
    Sample {
        vars: Vec<Ident>,
        density: Expr,
        sampler: Directive,
    },
    Fit {
        params: Vec<Ident>,
        loss: Ident,
        optimizer: Directive,
    },
    /// A statement that did not parse; its error is already reported.
    Error,
}

/// The `: SHAPE modifiers...` part of a declaration.
#[derive(Clone, Debug)]
pub struct TypeAnn {
    pub shape: ShapeSpec,
    pub modifiers: Vec<Modifier>,
    pub span: Span,
}

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
    pub name: Ident,
    pub extent: Option<Expr>,
}

/// A word after a shape: a boundary rule (`periodic`, `dirichlet(0)`) or a value domain (`spin`).
#[derive(Clone, Debug)]
pub struct Modifier {
    pub name: Ident,
    pub args: Vec<Expr>,
    pub span: Span,
}

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
    pub name: Ident,
    pub params: Vec<Ident>,
    /// `Some` for a field-valued function.
    pub indices: Option<Vec<IndexDecl>>,
    pub body: Expr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NamedKind {
    Energy,
    Loss,
    Observe,
}

impl NamedKind {
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
    pub name: Ident,
    pub indices: Option<Vec<Ident>>,
    pub span: Span,
}

/// `name(key = value, ...)` in `run`, `sample ... with` and `fit ... with`.
#[derive(Clone, Debug)]
pub struct Directive {
    pub name: Ident,
    pub args: Vec<NamedArg>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct NamedArg {
    pub key: Ident,
    pub value: Expr,
}

#[derive(Clone, Debug)]
pub struct Expr {
    pub kind: ExprKind,
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

#[derive(Clone, Debug)]
pub enum ExprKind {
    Num(f64),
    Name(String),
    Neg(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Compare(CmpOp, Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    If(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `f(a, b)`; `filter` is only meaningful for reductions and is rejected elsewhere.
    Call {
        callee: Ident,
        args: Vec<Expr>,
        filter: Option<Box<Expr>>,
    },
    /// `sum(i, j | cond) body`: the head's arguments are index declarations once resolved.
    Reduce {
        op: Ident,
        args: Vec<Expr>,
        filter: Option<Box<Expr>>,
        body: Box<Expr>,
    },
    /// `base[i + 1, j]`
    Index {
        base: Box<Expr>,
        indices: Vec<Expr>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    FloorDiv,
    Mod,
    Pow,
}

impl BinOp {
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
