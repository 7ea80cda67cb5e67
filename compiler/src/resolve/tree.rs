//! The resolved program: every name replaced by what it refers to, consts folded to numbers,
//! shapes given their extents and boundary rules.

use crate::builtins::{Builtin, Reduction};
use crate::diag::Span;
pub use crate::syntax::ast::NamedKind;
use crate::syntax::ast::{BinOp, CmpOp, Ident};

/// A global declaration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemId(pub u32);

/// A name bound inside one body: an index, a function parameter, a reduction variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocalId(pub u32);

impl ItemId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl LocalId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

#[derive(Clone, Debug)]
pub struct Resolved {
    pub items: Vec<Item>,
    pub equations: Vec<Equation>,
    pub run: Option<Directive>,
    pub sample: Option<Sample>,
    pub fit: Option<Fit>,
}

impl Resolved {
    pub fn item(&self, id: ItemId) -> &Item {
        &self.items[id.index()]
    }
}

/// Where a declaration came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    User,
    /// A standard-library module, by name (`prelude`, `fd4`).
    Std(&'static str),
}

#[derive(Clone, Debug)]
pub struct Item {
    pub name: String,
    /// The declaring statement's name span (for stdlib items, a span in the stdlib text).
    pub span: Span,
    pub origin: Origin,
    pub kind: ItemKind,
}

#[derive(Clone, Debug)]
pub enum ItemKind {
    Const {
        value: f64,
    },
    Shape(Shape),
    /// A differentiable value; `shape` has no dims for a scalar.
    Param {
        shape: Shape,
        init: Body,
    },
    State {
        shape: Shape,
        init: Body,
        spin: bool,
    },
    Noise {
        shape: Shape,
    },
    Data {
        shape: Shape,
        path: String,
        path_span: Span,
    },
    Let {
        form: LetShape,
        value: Body,
    },
    Fn {
        overloads: Vec<FnDef>,
    },
    Named {
        kind: NamedKind,
        value: Body,
    },
}

/// An index space: named axes with extents and boundary rules.
#[derive(Clone, Debug, PartialEq)]
pub struct Shape {
    pub dims: Vec<Dim>,
    pub span: Span,
}

impl Shape {
    pub fn scalar(span: Span) -> Shape {
        Shape { dims: Vec::new(), span }
    }

    pub fn rank(&self) -> usize {
        self.dims.len()
    }

    pub fn extents(&self) -> Vec<usize> {
        self.dims.iter().map(|d| d.extent).collect()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Dim {
    pub name: String,
    pub extent: usize,
    pub rule: Rule,
}

/// What a read outside `0..extent` on an axis means.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rule {
    /// No rule: such a read is a compile-time error.
    None,
    /// Wraps around: `u[-1] = u[N-1]`.
    Periodic,
    /// Mirror about the edge point, so the centred derivative there is zero: `u[-k] = u[k]`.
    Neumann,
    /// The nearest edge value: `u[-k] = u[0]` (zero flux across a cell face).
    Clamp,
    /// A fixed value outside the domain: `u[-1] = v`.
    Dirichlet(f64),
}

impl Rule {
    pub fn describe(self) -> String {
        match self {
            Rule::None => "no boundary rule".into(),
            Rule::Periodic => "periodic".into(),
            Rule::Neumann => "neumann".into(),
            Rule::Clamp => "clamp".into(),
            Rule::Dirichlet(v) => format!("dirichlet({v})"),
        }
    }
}

#[derive(Clone, Debug)]
pub enum LetShape {
    /// `let x = expr`: the shape of the expression.
    Inferred,
    /// `let d[p, q] = expr`: the first `rank` locals of the body are its indices.
    Indexed { rank: usize },
    /// `let f : G = expr`.
    Declared(Shape),
}

/// One definition of a function.
#[derive(Clone, Debug)]
pub struct FnDef {
    pub span: Span,
    /// The body's first `params` locals are the parameters.
    pub params: usize,
    /// For each parameter, how many indices the body reads it with, if it indexes it.
    pub param_ranks: Vec<Option<usize>>,
    /// Number of output indices (0 for a scalar function); they follow the parameters.
    pub rank: usize,
    pub body: Body,
}

/// An expression with the names it binds.
#[derive(Clone, Debug)]
pub struct Body {
    pub locals: Vec<Local>,
    pub expr: RExpr,
}

#[derive(Clone, Debug)]
pub struct Local {
    pub name: String,
    pub span: Span,
    /// The written extent of an index (`k < 3`), if any.
    pub extent: Option<usize>,
}

#[derive(Clone, Debug)]
pub struct RExpr {
    pub kind: RKind,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum RKind {
    Num(f64),
    Pi,
    /// The current time `t`.
    Time,
    Item(ItemId),
    Local(LocalId),
    /// `dt` on the right side of an SDE.
    Dt,
    /// `dW` on the right side of an SDE, for the noise `W`.
    Dw(ItemId),
    Neg(Box<RExpr>),
    Binary(BinOp, Box<RExpr>, Box<RExpr>),
    Compare(CmpOp, Box<RExpr>, Box<RExpr>),
    And(Box<RExpr>, Box<RExpr>),
    Or(Box<RExpr>, Box<RExpr>),
    Not(Box<RExpr>),
    If(Box<RExpr>, Box<RExpr>, Box<RExpr>),
    Call {
        callee: Callee,
        args: Vec<RExpr>,
    },
    Reduce {
        op: Reduction,
        vars: Vec<LocalId>,
        filter: Option<Box<RExpr>>,
        body: Box<RExpr>,
    },
    Index {
        base: Box<RExpr>,
        indices: Vec<RExpr>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Callee {
    Fn(ItemId),
    Builtin(Builtin),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EquationKind {
    /// `d/dt u = f`
    Ode,
    /// `d X = a dt + b dW`
    Sde,
}

/// An equation; the body's first `rank` locals are the state's indices.
#[derive(Clone, Debug)]
pub struct Equation {
    pub state: ItemId,
    pub kind: EquationKind,
    pub target_span: Span,
    pub span: Span,
    pub rhs: Body,
}

/// `name(key = value, ...)` with values folded.
#[derive(Clone, Debug)]
pub struct Directive {
    pub name: Ident,
    pub args: Vec<Arg>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Arg {
    pub key: Ident,
    pub value: ArgValue,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ArgValue {
    Number(f64),
    /// A bare word such as `checkerboard`.
    Word(String),
}

#[derive(Clone, Debug)]
pub struct Sample {
    /// The sampled states and where each is named.
    pub vars: Vec<(ItemId, Span)>,
    pub density: Body,
    pub sampler: Directive,
}

#[derive(Clone, Debug)]
pub struct Fit {
    pub params: Vec<(ItemId, Span)>,
    pub loss: (ItemId, Span),
    pub optimizer: Directive,
}
