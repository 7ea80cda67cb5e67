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
    /// Position in [`Resolved::items`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl LocalId {
    /// Position in the enclosing [`Body::locals`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A whole script after name resolution, stdlib items included.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// Every declaration, indexed by [`ItemId`].
    pub items: Vec<Item>,
    /// The `d/dt` and `d X` equations, in source order.
    pub equations: Vec<Equation>,
    /// The `run` directive, if the script has one.
    pub run: Option<Directive>,
    /// The `sample` directive, if the script has one.
    pub sample: Option<Sample>,
    /// The `fit` directive, if the script has one.
    pub fit: Option<Fit>,
}

impl Resolved {
    /// The declaration `id` refers to.
    pub fn item(&self, id: ItemId) -> &Item {
        &self.items[id.index()]
    }
}

/// Where a declaration came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Written in the user's script.
    User,
    /// A standard-library module, by name (`prelude`, `fd4`).
    Std(&'static str),
}

/// One global declaration: a const, shape, param, state, noise, data, let, fn or named scalar.
#[derive(Clone, Debug)]
pub struct Item {
    /// The declared name.
    pub name: String,
    /// The declaring statement's name span (for stdlib items, a span in the stdlib text).
    pub span: Span,
    /// The user's script or a stdlib module.
    pub origin: Origin,
    /// What was declared.
    pub kind: ItemKind,
}

/// What a global declaration is, with its resolved contents.
#[derive(Clone, Debug)]
pub enum ItemKind {
    /// A `const`, folded to a number.
    Const {
        /// The folded value.
        value: f64,
    },
    /// A named `shape`.
    Shape(Shape),
    /// A differentiable value; `shape` has no dims for a scalar.
    Param {
        /// The parameter's shape.
        shape: Shape,
        /// Its initial value.
        init: Body,
    },
    /// A field evolved by the equations.
    State {
        /// The state's shape.
        shape: Shape,
        /// Its initial value.
        init: Body,
        /// Whether the state has the `spin` value domain (values ±1).
        spin: bool,
    },
    /// A Brownian motion read as `dW` in an SDE.
    Noise {
        /// The shape of the noise: one independent motion per point.
        shape: Shape,
        /// `fractional(hurst = H)`: H (a const) and where the modifier was written.
        fractional: Option<(f64, Span)>,
    },
    /// A non-differentiable input loaded from a file.
    Data {
        /// The shape the loaded array must have.
        shape: Shape,
        /// The file path, as written.
        path: String,
        /// Where the path was written.
        path_span: Span,
    },
    /// A derived value.
    Let {
        /// How its shape is given.
        form: LetShape,
        /// Its defining expression.
        value: Body,
    },
    /// A function; several definitions with the same name are overloads.
    Fn {
        /// Each definition, in declaration order.
        overloads: Vec<FnDef>,
    },
    /// An `energy`, `loss` or `observe` scalar.
    Named {
        /// Which of the three.
        kind: NamedKind,
        /// Its defining expression.
        value: Body,
    },
}

/// An index space: named axes with extents and boundary rules.
#[derive(Clone, Debug, PartialEq)]
pub struct Shape {
    /// The axes, outermost first; empty for a scalar.
    pub dims: Vec<Dim>,
    /// Where the shape was written.
    pub span: Span,
}

impl Shape {
    /// A shape with no axes.
    pub fn scalar(span: Span) -> Shape {
        Shape { dims: Vec::new(), span }
    }

    /// The number of axes.
    pub fn rank(&self) -> usize {
        self.dims.len()
    }

    /// The extent of each axis, outermost first.
    pub fn extents(&self) -> Vec<usize> {
        self.dims.iter().map(|d| d.extent).collect()
    }
}

/// One axis of a shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Dim {
    /// The index variable's name.
    pub name: String,
    /// The number of points along the axis.
    pub extent: usize,
    /// What a read outside `0..extent` means.
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
    /// The rule as a user would write it, for diagnostics.
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

/// How a `let` gives the shape of its value.
#[derive(Clone, Debug)]
pub enum LetShape {
    /// `let x = expr`: the shape of the expression.
    Inferred,
    /// `let d[p, q] = expr`: the first `rank` locals of the body are its indices.
    Indexed {
        /// How many indices the `let` names.
        rank: usize,
    },
    /// `let f : G = expr`.
    Declared(Shape),
}

/// One definition of a function.
#[derive(Clone, Debug)]
pub struct FnDef {
    /// Where the definition was written.
    pub span: Span,
    /// The body's first `params` locals are the parameters.
    pub params: usize,
    /// For each parameter, how many indices the body reads it with, if it indexes it.
    pub param_ranks: Vec<Option<usize>>,
    /// Number of output indices (0 for a scalar function); they follow the parameters.
    pub rank: usize,
    /// The right side; its locals start with the parameters and then the output indices.
    pub body: Body,
}

/// An expression with the names it binds.
#[derive(Clone, Debug)]
pub struct Body {
    /// The names bound in the expression; [`LocalId`] indexes this.
    pub locals: Vec<Local>,
    /// The expression itself.
    pub expr: RExpr,
}

/// A name bound inside a body.
#[derive(Clone, Debug)]
pub struct Local {
    /// The name as written.
    pub name: String,
    /// Where it was bound.
    pub span: Span,
    /// The written extent of an index (`k < 3`), if any.
    pub extent: Option<usize>,
}

/// A resolved expression with its source extent.
#[derive(Clone, Debug)]
pub struct RExpr {
    /// What the expression is.
    pub kind: RKind,
    /// Where the expression was written.
    pub span: Span,
}

/// The expression forms after every name has been looked up.
#[derive(Clone, Debug)]
pub enum RKind {
    /// A number literal or folded const.
    Num(f64),
    /// The constant `pi`.
    Pi,
    /// The current time `t`.
    Time,
    /// The optimizer's iteration during `fit` (0 otherwise): `iteration`.
    Iteration,
    /// A reference to a global declaration.
    Item(ItemId),
    /// A reference to a name bound in the enclosing body.
    Local(LocalId),
    /// `dt` on the right side of an SDE.
    Dt,
    /// `dW` on the right side of an SDE, for the noise `W`.
    Dw(ItemId),
    /// Unary minus.
    Neg(Box<RExpr>),
    /// An arithmetic operation.
    Binary(BinOp, Box<RExpr>, Box<RExpr>),
    /// A comparison such as `a < b`.
    Compare(CmpOp, Box<RExpr>, Box<RExpr>),
    /// `a and b`.
    And(Box<RExpr>, Box<RExpr>),
    /// `a or b`.
    Or(Box<RExpr>, Box<RExpr>),
    /// `not a`.
    Not(Box<RExpr>),
    /// `if c then a else b`.
    If(Box<RExpr>, Box<RExpr>, Box<RExpr>),
    /// A call of a user function or a builtin.
    Call {
        /// What is called.
        callee: Callee,
        /// The call's arguments, in order.
        args: Vec<RExpr>,
    },
    /// A reduction `sum/mean/max/min(vars | filter) body`.
    Reduce {
        /// Which reduction.
        op: Reduction,
        /// The index variables reduced over, bound in the body.
        vars: Vec<LocalId>,
        /// The condition restricting which index values count, if any.
        filter: Option<Box<RExpr>>,
        /// The expression reduced.
        body: Box<RExpr>,
    },
    /// A read `base[i + 1, j]`.
    Index {
        /// The value read.
        base: Box<RExpr>,
        /// One index expression per axis.
        indices: Vec<RExpr>,
    },
}

/// What a call refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Callee {
    /// A user or stdlib function, by its item.
    Fn(ItemId),
    /// A function built into the compiler (math, `grad`, random draws).
    Builtin(Builtin),
}

/// Which kind of equation a state obeys.
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
    /// The state the equation evolves.
    pub state: ItemId,
    /// ODE or SDE.
    pub kind: EquationKind,
    /// Where the left side was written.
    pub target_span: Span,
    /// The whole equation.
    pub span: Span,
    /// The right side.
    pub rhs: Body,
}

/// `name(key = value, ...)` with values folded.
#[derive(Clone, Debug)]
pub struct Directive {
    /// The directive's name.
    pub name: Ident,
    /// Its arguments, in order.
    pub args: Vec<Arg>,
    /// The whole directive.
    pub span: Span,
}

/// One `key = value` argument of a directive.
#[derive(Clone, Debug)]
pub struct Arg {
    /// The argument's name.
    pub key: Ident,
    /// Its folded value.
    pub value: ArgValue,
    /// The whole `key = value`.
    pub span: Span,
}

/// A directive argument's folded value.
#[derive(Clone, Debug, PartialEq)]
pub enum ArgValue {
    /// A number, consts and CLI overrides applied.
    Number(f64),
    /// A bare word such as `checkerboard`.
    Word(String),
}

/// A `sample VARS ~ density with SAMPLER(...)` directive.
#[derive(Clone, Debug)]
pub struct Sample {
    /// The sampled states and where each is named.
    pub vars: Vec<(ItemId, Span)>,
    /// The unnormalised density the states are drawn from.
    pub density: Body,
    /// The sampler and its arguments.
    pub sampler: Directive,
}

/// A `fit PARAMS minimizing LOSS with OPTIMIZER(...)` directive.
#[derive(Clone, Debug)]
pub struct Fit {
    /// The parameters optimised, each with where it is named.
    pub params: Vec<(ItemId, Span)>,
    /// The named loss minimised, with where it is named.
    pub loss: (ItemId, Span),
    /// The optimiser and its arguments.
    pub optimizer: Directive,
}
