//! Elaboration: a resolved expression in an environment -> a scalar [`Expr`] of the model.
//!
//! Functions are inlined call-by-name: a parameter is bound to the caller's argument expression
//! and environment, and each use elaborates that argument where it is used. Field-valued
//! expressions written without indices (point-free, `D * laplacian(u)`) are elaborated under
//! *implicit indices*: the indices the surrounding context supplies (the equation's domain, an
//! explicit `[...]`, a field function's own indices). Without implicit indices a field-valued
//! expression stays a [`FieldVal`]: a promise to elaborate it once indices are known.

use std::sync::Arc;

use crate::autodiff::rules::Terms;
use crate::builtins::{ReduceOp, Reduction};
use crate::diag::Span;
use crate::model::{Affine, Expr, FieldId, FieldKind, Node, Read, ReadId, Reduce, VarId};
use crate::ops::{Binary, Compare, Unary};
use crate::resolve::{ItemKind, Local, LocalId, RExpr, RKind};
use crate::syntax::ast::BinOp;
use crate::syntax::depth::MAX_INLINED_DEPTH;

use super::bindings::Table;
use super::error::CheckError;
use super::{Checker, Reported, shape_text};

pub(super) type R<T> = Result<T, Reported>;

/// What the names of one body are bound to.
#[derive(Clone)]
pub(super) struct Env<'r> {
    pub locals: &'r [Local],
    bindings: Table<Binding<'r>>,
    pub implicit: Option<Arc<Implicit>>,
    /// Inside a library function: where it was called, so errors point at user code.
    pub site: Option<Span>,
}

#[derive(Clone, Default)]
pub(super) enum Binding<'r> {
    #[default]
    Unset,
    /// An index name: stands for this affine expression of the definition's variables.
    Index(Affine),
    /// A function parameter: the caller's argument, elaborated where it is used.
    Arg(&'r RExpr, Env<'r>),
    /// A function parameter whose argument is a scalar: elaborated once, at the call, and
    /// shared by every use (elaborating it again at each use made nested calls `f(f(f(x)))`
    /// exponential). The argument as written stays for index arithmetic (`u[p + k]`).
    Scalar(&'r RExpr, Env<'r>, Expr, Kind),
    /// A function parameter `diff` differentiates by: its elaborated value (a marker, see
    /// [`crate::autodiff::forward`]).
    Value(Expr),
}

/// Indices supplied by the context to a field-valued expression written without them.
pub(super) struct Implicit {
    pub indices: Vec<Affine>,
    /// Point-free use (`d/dt u = laplacian(u)`): fields must have the context's shape exactly.
    pub point_free: bool,
    /// For explicit indices, the whole `base[...]` expression: what a read of it is reported at.
    pub site: Option<Span>,
}

impl<'r> Env<'r> {
    pub fn new(locals: &'r [Local]) -> Self {
        Env { locals, bindings: Table::new(locals.len()), implicit: None, site: None }
    }

    pub fn bind(&self, id: LocalId, binding: Binding<'r>) -> Self {
        Env { bindings: self.bindings.set(id.index(), binding), ..self.clone() }
    }

    pub fn with_implicit(&self, implicit: Option<Arc<Implicit>>) -> Self {
        Env { implicit, ..self.clone() }
    }

    pub fn binding(&self, id: LocalId) -> &Binding<'r> {
        static UNSET: Binding<'static> = Binding::Unset;
        self.bindings.get(id.index()).unwrap_or(&UNSET)
    }

    /// Where to report a problem with `e`.
    pub fn span(&self, e: &RExpr) -> Span {
        self.site.unwrap_or(e.span)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Num,
    Bool,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::Num => "a number",
            Kind::Bool => "a condition",
        }
    }
}

pub(super) enum Value<'r> {
    Scalar(Expr, Kind),
    Field(FieldVal<'r>),
}

/// A field-valued expression awaiting indices.
pub(super) struct FieldVal<'r> {
    pub extents: Vec<usize>,
    pub kind: Kind,
    pub expr: &'r RExpr,
    pub env: Env<'r>,
}

#[derive(Clone)]
pub(super) struct VarInfo {
    pub name: String,
    pub extent: Option<usize>,
    /// Where the extent was learnt from a read, if it was not written.
    pub inferred_at: Option<Span>,
    pub span: Span,
}

pub(super) struct ReadInfo {
    pub field: FieldId,
    pub span: Span,
}

/// Elaborates the expressions of one definition, owning its index variables and reads.
pub(super) struct Elab<'c, 'r, 's> {
    pub ck: &'c mut Checker<'r, 's>,
    pub vars: Vec<VarInfo>,
    pub reads: Vec<ReadInfo>,
}

impl<'c, 'r, 's> Elab<'c, 'r, 's> {
    pub fn new(ck: &'c mut Checker<'r, 's>) -> Self {
        Elab { ck, vars: Vec::new(), reads: Vec::new() }
    }

    pub fn new_var(&mut self, name: &str, extent: Option<usize>, span: Span) -> VarId {
        self.vars.push(VarInfo { name: name.into(), extent, inferred_at: None, span });
        VarId(self.vars.len() as u32 - 1)
    }

    /// A short description of an expression for messages: its name when it is one.
    fn describe(&self, e: &RExpr, env: &Env<'_>) -> String {
        match &e.kind {
            RKind::Local(id) => format!("`{}`", env.locals[id.index()].name),
            RKind::Item(id) => format!("`{}`", self.ck.resolved.item(*id).name),
            _ => "this expression".into(),
        }
    }

    pub fn report(&mut self, error: CheckError) -> Reported {
        self.ck.report(error)
    }

    /// Elaborates `e`, refusing to nest deeper than [`MAX_INLINED_DEPTH`]: the written
    /// expression is bounded by the parser, but inlined functions nest their bodies.
    pub fn elab(&mut self, e: &'r RExpr, env: &Env<'r>) -> R<Value<'r>> {
        if self.ck.depth == MAX_INLINED_DEPTH {
            return Err(self.report(CheckError::TooDeep {
                limit: MAX_INLINED_DEPTH,
                span: env.span(e),
                what: format!("level {} is reached here", MAX_INLINED_DEPTH + 1),
            }));
        }
        self.ck.depth += 1;
        let value = self.elab_node(e, env);
        self.ck.depth -= 1;
        value
    }

    fn elab_node(&mut self, e: &'r RExpr, env: &Env<'r>) -> R<Value<'r>> {
        match &e.kind {
            RKind::Num(value) => Ok(num(*value)),
            RKind::Pi => Ok(num(std::f64::consts::PI)),
            RKind::Time => Ok(Value::Scalar(Arc::new(Node::Time), Kind::Num)),
            RKind::Iteration => Ok(Value::Scalar(Arc::new(Node::Iteration), Kind::Num)),
            RKind::Dt => Ok(Value::Scalar(Arc::new(Node::Dt), Kind::Num)),
            RKind::Dw(item) => {
                let field = self.ck.field_of(*item).ok_or(Reported)?;
                self.field(field, true, e, env)
            }
            RKind::Item(item) => self.item(*item, e, env),
            RKind::Local(id) => match env.binding(*id).clone() {
                Binding::Index(affine) => Ok(Value::Scalar(affine_expr(&affine), Kind::Num)),
                Binding::Arg(arg, arg_env) => self.elab(arg, &arg_env.with_implicit(env.implicit.clone())),
                Binding::Scalar(_, _, value, kind) => Ok(Value::Scalar(value, kind)),
                Binding::Value(value) => Ok(Value::Scalar(value, Kind::Num)),
                Binding::Unset => Err(Reported),
            },
            RKind::Neg(a) => self.operator(e, env, &[a], Kind::Num, |xs| unary(Unary::Neg, xs[0].clone())),
            RKind::Binary(op, a, b) => {
                let op = *op;
                self.operator(e, env, &[a, b], Kind::Num, |xs| binary_ast(op, xs[0].clone(), xs[1].clone()))
            }
            RKind::Compare(op, a, b) => {
                let op = *op;
                self.typed_operator(e, env, &[a, b], [Kind::Num, Kind::Num], Kind::Bool, |xs| {
                    compare(op, xs[0].clone(), xs[1].clone())
                })
            }
            RKind::And(a, b) => self.typed_operator(e, env, &[a, b], [Kind::Bool; 2], Kind::Bool, |xs| {
                Arc::new(Node::And(xs[0].clone(), xs[1].clone()))
            }),
            RKind::Or(a, b) => self.typed_operator(e, env, &[a, b], [Kind::Bool; 2], Kind::Bool, |xs| {
                Arc::new(Node::Or(xs[0].clone(), xs[1].clone()))
            }),
            RKind::Not(a) => {
                self.typed_operator(e, env, &[a], [Kind::Bool], Kind::Bool, |xs| Arc::new(Node::Not(xs[0].clone())))
            }
            RKind::If(c, a, b) => self.conditional(e, env, c, a, b),
            RKind::Call { callee, args } => self.call(*callee, args, e, env),
            RKind::Reduce { op, vars, filter, body } => self.reduce(*op, vars, filter.as_deref(), body, env),
            RKind::Index { base, indices } => self.index(base, indices, e, env),
        }
    }

    /// Elaborates `e` and insists on a number.
    pub fn scalar(&mut self, e: &'r RExpr, env: &Env<'r>, what: &str) -> R<Expr> {
        let value = self.elab(e, env)?;
        self.expect(value, Kind::Num, env.span(e), what)
    }

    pub fn expect(&mut self, value: Value<'r>, kind: Kind, span: Span, what: &str) -> R<Expr> {
        match value {
            Value::Scalar(expr, found) if found == kind => Ok(expr),
            Value::Scalar(_, found) => Err(self.report(CheckError::TypeMismatch {
                expected: kind.describe(),
                found: found.describe(),
                span,
                help: match kind {
                    Kind::Num => "a comparison gives a condition; choose a number with `if c then a else b`".into(),
                    Kind::Bool => "compare it to get a condition, e.g. `x > 0`".into(),
                },
            })),
            Value::Field(field) => Err(self.report(CheckError::NotScalar {
                what: what.into(),
                shape: shape_text(&field.extents),
                span,
                help: "index it (`u[i, j]`) or reduce it (`sum(i, j) u[i, j]`)".into(),
            })),
        }
    }

    fn item(&mut self, item: crate::resolve::ItemId, e: &'r RExpr, env: &Env<'r>) -> R<Value<'r>> {
        let resolved = self.ck.resolved;
        match &resolved.item(item).kind {
            ItemKind::Const { value } => Ok(num(*value)),
            ItemKind::Named { value, .. } => {
                let name = resolved.item(item).name.clone();
                if self.ck.inlining.contains(&item) {
                    return Err(self.report(CheckError::Cycle { name, span: env.span(e) }));
                }
                self.ck.inlining.push(item);
                let inner = Env::new(&value.locals);
                let result = self.scalar(&value.expr, &inner, &format!("`{name}`"));
                self.ck.inlining.pop();
                Ok(Value::Scalar(result?, Kind::Num))
            }
            ItemKind::Param { .. }
            | ItemKind::State { .. }
            | ItemKind::Noise { .. }
            | ItemKind::Data { .. }
            | ItemKind::Let { .. } => {
                let field = self.ck.field_of(item).ok_or(Reported)?;
                self.field(field, false, e, env)
            }
            ItemKind::Shape(_) | ItemKind::Fn { .. } => Err(Reported),
        }
    }

    /// A reference to a field: read it at the implicit indices, or keep it as a field value.
    pub(super) fn field(&mut self, field: FieldId, differential: bool, e: &'r RExpr, env: &Env<'r>) -> R<Value<'r>> {
        let span = match (&env.implicit, env.site) {
            (Some(implicit), None) => implicit.site.unwrap_or(e.span),
            _ => env.span(e),
        };
        let info = self.ck.fields[field.index()].kind.clone();
        if matches!(info, FieldKind::Noise { .. }) && !differential {
            let name = self.ck.fields[field.index()].name.clone();
            return Err(self.report(CheckError::NoiseUse { name, span }));
        }
        let extents = self.ck.field_extents(field, span)?;
        let indices = match (&env.implicit, extents.is_empty()) {
            (_, true) => Vec::new(),
            (None, false) => {
                return Ok(Value::Field(FieldVal { extents, kind: Kind::Num, expr: e, env: env.clone() }));
            }
            (Some(implicit), false) => {
                self.fit_indices(field, &extents, implicit, span)?;
                implicit.indices.clone()
            }
        };
        let node = if differential {
            Node::Dw { noise: field, index: indices, span }
        } else {
            let id = ReadId(self.reads.len() as u32);
            self.reads.push(ReadInfo { field, span });
            Node::Read(Read { id, field, index: indices })
        };
        Ok(Value::Scalar(Arc::new(node), Kind::Num))
    }

    /// Applies the operator `build` to scalar operands, or makes a field value if any operand
    /// is a field. Every operand must be `operand_kind`.
    fn operator(
        &mut self,
        e: &'r RExpr,
        env: &Env<'r>,
        operands: &[&'r RExpr],
        kind: Kind,
        build: impl FnOnce(&[Expr]) -> Expr,
    ) -> R<Value<'r>> {
        let kinds = vec![kind; operands.len()];
        self.operator_with(e, env, operands, &kinds, kind, build)
    }

    fn typed_operator<const N: usize>(
        &mut self,
        e: &'r RExpr,
        env: &Env<'r>,
        operands: &[&'r RExpr],
        kinds: [Kind; N],
        result: Kind,
        build: impl FnOnce(&[Expr]) -> Expr,
    ) -> R<Value<'r>> {
        self.operator_with(e, env, operands, &kinds, result, build)
    }

    pub fn operator_with(
        &mut self,
        e: &'r RExpr,
        env: &Env<'r>,
        operands: &[&'r RExpr],
        kinds: &[Kind],
        result: Kind,
        build: impl FnOnce(&[Expr]) -> Expr,
    ) -> R<Value<'r>> {
        let values = self.elab_all(env, operands)?;
        self.combine(e, env, values, kinds, result, build)
    }

    fn elab_all(&mut self, env: &Env<'r>, operands: &[&'r RExpr]) -> R<Vec<(Value<'r>, Span)>> {
        operands.iter().map(|operand| Ok((self.elab(operand, env)?, env.span(operand)))).collect()
    }

    /// Builds `e` from its elaborated operands: a field value if any operand is a field (all
    /// fields must share one shape), else the scalar `build` makes from operands of `kinds`.
    fn combine(
        &mut self,
        e: &'r RExpr,
        env: &Env<'r>,
        values: Vec<(Value<'r>, Span)>,
        kinds: &[Kind],
        result: Kind,
        build: impl FnOnce(&[Expr]) -> Expr,
    ) -> R<Value<'r>> {
        let mut field_extents: Option<&Vec<usize>> = None;
        for (value, span) in &values {
            let Value::Field(field) = value else { continue };
            match field_extents {
                Some(extents) if *extents != field.extents => {
                    return Err(self.report(CheckError::ShapeMismatch {
                        message: format!(
                            "combining fields of shapes {} and {}",
                            shape_text(extents),
                            shape_text(&field.extents)
                        ),
                        span: *span,
                        label: format!("shape {}", shape_text(&field.extents)),
                        help: "point-free arithmetic needs fields of one shape; index them explicitly to combine different shapes".into(),
                    }));
                }
                Some(_) => {}
                None => field_extents = Some(&field.extents),
            }
        }
        if let Some(extents) = field_extents {
            let extents = extents.clone();
            return Ok(Value::Field(FieldVal { extents, kind: result, expr: e, env: env.clone() }));
        }
        let mut scalars = Vec::with_capacity(values.len());
        for ((value, span), kind) in values.into_iter().zip(kinds) {
            scalars.push(self.expect(value, *kind, span, "an operand")?);
        }
        Ok(Value::Scalar(build(&scalars), result))
    }

    fn conditional(&mut self, e: &'r RExpr, env: &Env<'r>, c: &'r RExpr, a: &'r RExpr, b: &'r RExpr) -> R<Value<'r>> {
        let values = self.elab_all(env, &[c, a, b])?;
        // The `then` branch decides the result kind.
        let kind = match &values[1].0 {
            Value::Scalar(_, kind) => *kind,
            Value::Field(field) => field.kind,
        };
        self.combine(e, env, values, &[Kind::Bool, kind, kind], kind, |xs| {
            select(xs[0].clone(), xs[1].clone(), xs[2].clone())
        })
    }

    fn reduce(
        &mut self,
        op: Reduction,
        locals: &[LocalId],
        filter: Option<&'r RExpr>,
        body: &'r RExpr,
        env: &Env<'r>,
    ) -> R<Value<'r>> {
        let reduced = match op {
            Reduction::Op(op) => self.reduction(op, locals, filter, body, env, None)?,
            Reduction::Var => {
                // mean((x - mean(x))^2): the inner mean has variables of its own and does not
                // depend on the outer ones, so it is computed once.
                let center = self.reduction(ReduceOp::Mean, locals, filter, body, env, None)?;
                self.reduction(ReduceOp::Mean, locals, filter, body, env, Some(center))?
            }
        };
        Ok(Value::Scalar(reduced, Kind::Num))
    }

    /// `op` over fresh variables for `locals` of `body`, or of `(body - center)^2`.
    fn reduction(
        &mut self,
        op: ReduceOp,
        locals: &[LocalId],
        filter: Option<&'r RExpr>,
        body: &'r RExpr,
        env: &Env<'r>,
        center: Option<Expr>,
    ) -> R<Expr> {
        let mut inner = env.clone();
        let mut vars = Vec::with_capacity(locals.len());
        for &local in locals {
            let decl = &env.locals[local.index()];
            let span = env.site.unwrap_or(decl.span);
            let var = self.new_var(&decl.name, decl.extent, span);
            vars.push(var);
            inner = inner.bind(local, Binding::Index(Affine::var(var)));
        }
        let filter = match filter {
            Some(f) => {
                let value = self.elab(f, &inner)?;
                Some(self.expect(value, Kind::Bool, inner.span(f), "a reduction filter")?)
            }
            None => None,
        };
        let value = self.elab(body, &inner)?;
        let body = self.expect(value, Kind::Num, inner.span(body), &format!("the body of `{}`", op.name()))?;
        let body = match center {
            Some(center) => unary(Unary::Powi(2), binary(Binary::Sub, body, center)),
            None => body,
        };
        Ok(Arc::new(Node::Reduce(Reduce { op, vars, filter, body })))
    }

    /// `base[indices]`: elaborates `base` with the indices as its implicit indices.
    fn index(&mut self, base: &'r RExpr, indices: &'r [RExpr], e: &'r RExpr, env: &Env<'r>) -> R<Value<'r>> {
        let span = env.span(e);
        let affines = indices.iter().map(|i| self.affine(i, env)).collect::<Vec<R<Affine>>>();
        let affines: Vec<Affine> = affines.into_iter().collect::<R<_>>()?;
        match self.elab(base, &env.with_implicit(None))? {
            Value::Scalar(..) => {
                return Err(self.report(CheckError::NotIndexable { what: self.describe(base, env), span }));
            }
            Value::Field(field) if field.extents.len() != affines.len() => {
                let rank = field.extents.len();
                return Err(self.report(CheckError::IndexCount {
                    name: self.describe(base, env),
                    rank,
                    axes: if rank == 1 { "axis" } else { "axes" },
                    count: affines.len(),
                    indices: if affines.len() == 1 { "index is" } else { "indices are" },
                    span,
                    help: format!("its shape is {}", shape_text(&field.extents)),
                }));
            }
            Value::Field(_) => {}
        }
        let implicit = Arc::new(Implicit { indices: affines, point_free: false, site: Some(span) });
        self.elab(base, &env.with_implicit(Some(implicit)))
    }
}

pub(super) fn num<'r>(value: f64) -> Value<'r> {
    Value::Scalar(Arc::new(Node::Num(value)), Kind::Num)
}

fn constant(e: &Expr) -> Option<f64> {
    match **e {
        Node::Num(v) => Some(v),
        _ => None,
    }
}

/// `op a`, folded when `a` is a number.
pub(super) fn unary(op: Unary, a: Expr) -> Expr {
    <Expr as Terms>::unary(op, a)
}

/// `a op b`, folded when both are numbers.
pub(super) fn binary(op: Binary, a: Expr, b: Expr) -> Expr {
    <Expr as Terms>::binary(op, a, b)
}

/// A source-level binary operator; `x^n` with a small integer constant `n` becomes `powi`.
fn binary_ast(op: BinOp, a: Expr, b: Expr) -> Expr {
    if op == BinOp::Pow {
        if let Some(n) = constant(&b) {
            if constant(&a).is_none() && n.fract() == 0.0 && n.abs() <= 64.0 {
                return unary(Unary::Powi(n as i32), a);
            }
        }
    }
    binary(Binary::from(op), a, b)
}

fn compare(op: Compare, a: Expr, b: Expr) -> Expr {
    Arc::new(Node::Compare(op, a, b))
}

fn select(c: Expr, a: Expr, b: Expr) -> Expr {
    Arc::new(Node::Select(c, a, b))
}

/// The numeric value of an affine index expression.
pub(super) fn affine_expr(affine: &Affine) -> Expr {
    let mut total: Option<Expr> = None;
    for &(var, coeff) in &affine.terms {
        let var = Arc::new(Node::Var(var));
        let term = if coeff == 1 { var } else { binary(Binary::Mul, Arc::new(Node::Num(coeff as f64)), var) };
        total = Some(match total {
            Some(sum) => binary(Binary::Add, sum, term),
            None => term,
        });
    }
    match total {
        None => Arc::new(Node::Num(affine.offset as f64)),
        Some(sum) if affine.offset == 0 => sum,
        Some(sum) => binary(Binary::Add, sum, Arc::new(Node::Num(affine.offset as f64))),
    }
}
