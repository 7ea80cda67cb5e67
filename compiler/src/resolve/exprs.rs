//! Resolving expressions: lexical scopes of index names, parameters and reduction variables.

use crate::builtins::{Builtin, Reduction};
use crate::diag::{Span, did_you_mean, suggestion_help};
use crate::syntax::ast::{self, ExprKind};

use super::error::ResolveError;
use super::tree::*;
use super::{Decl, Resolver};

/// The names bound while resolving one body.
pub(super) struct BodyCx {
    locals: Vec<Local>,
    /// Locals currently in scope, innermost last.
    scope: Vec<LocalId>,
    origin: Origin,
    /// On the right side of an SDE, `dt` and `dW` are differentials.
    sde: bool,
}

impl BodyCx {
    pub(super) fn new(locals: Vec<Local>, origin: Origin, sde: bool) -> Self {
        let scope = (0..locals.len() as u32).map(LocalId).collect();
        BodyCx { locals, scope, origin, sde }
    }

    pub(super) fn into_locals(self) -> Vec<Local> {
        self.locals
    }

    fn lookup(&self, name: &str) -> Option<LocalId> {
        self.scope.iter().rev().copied().find(|id| self.locals[id.index()].name == name)
    }

    fn bind(&mut self, local: Local) -> LocalId {
        let id = LocalId(self.locals.len() as u32);
        self.locals.push(local);
        self.scope.push(id);
        id
    }

    fn local_names(&self) -> impl Iterator<Item = &str> {
        self.scope.iter().map(|id| self.locals[id.index()].name.as_str())
    }
}

impl Resolver<'_, '_> {
    pub(super) fn expr(&mut self, e: &ast::Expr, cx: &mut BodyCx) -> RExpr {
        let kind = match &e.kind {
            ExprKind::Num(value) => RKind::Num(*value),
            ExprKind::Name(name) => self.name(name, e.span, cx),
            ExprKind::Neg(a) => RKind::Neg(self.boxed(a, cx)),
            ExprKind::Binary(op, a, b) => RKind::Binary(*op, self.boxed(a, cx), self.boxed(b, cx)),
            ExprKind::Compare(op, a, b) => RKind::Compare(*op, self.boxed(a, cx), self.boxed(b, cx)),
            ExprKind::And(a, b) => RKind::And(self.boxed(a, cx), self.boxed(b, cx)),
            ExprKind::Or(a, b) => RKind::Or(self.boxed(a, cx), self.boxed(b, cx)),
            ExprKind::Not(a) => RKind::Not(self.boxed(a, cx)),
            ExprKind::If(c, a, b) => RKind::If(self.boxed(c, cx), self.boxed(a, cx), self.boxed(b, cx)),
            ExprKind::Index { base, indices } => {
                RKind::Index { base: self.boxed(base, cx), indices: indices.iter().map(|i| self.expr(i, cx)).collect() }
            }
            ExprKind::Call { callee, args, filter } => {
                if let Some(filter) = filter {
                    self.sink.push(ResolveError::FilterOnCall { name: callee.name.clone(), span: filter.span });
                }
                let args = args.iter().map(|a| self.expr(a, cx)).collect();
                match self.callee(callee, cx) {
                    Some(callee) => RKind::Call { callee, args },
                    None => RKind::Num(f64::NAN),
                }
            }
            ExprKind::Reduce { op, args, filter, body } => self.reduce(op, args, filter.as_deref(), body, cx),
        };
        RExpr { kind, span: e.span }
    }

    fn boxed(&mut self, e: &ast::Expr, cx: &mut BodyCx) -> Box<RExpr> {
        Box::new(self.expr(e, cx))
    }

    fn name(&mut self, name: &str, span: Span, cx: &BodyCx) -> RKind {
        if let Some(id) = cx.lookup(name) {
            return RKind::Local(id);
        }
        if cx.sde {
            if name == "dt" {
                return RKind::Dt;
            }
            if let Some(noise) = name.strip_prefix('d').and_then(|n| self.lookup(n, &cx.origin)) {
                if matches!(self.pending[noise.index()].decl, Decl::Stmt(ast::StmtKind::Noise { .. })) {
                    return RKind::Dw(noise);
                }
            }
        }
        if let Some(id) = self.lookup(name, &cx.origin) {
            if let Decl::Fns(_) = self.pending[id.index()].decl {
                self.not_a_value(name, "a function", span, format!("call it: `{name}(...)`"));
                return RKind::Num(f64::NAN);
            }
            return RKind::Item(id);
        }
        match name {
            "pi" => return RKind::Pi,
            "t" => return RKind::Time,
            "iteration" => return RKind::Iteration,
            _ => {}
        }
        if Builtin::from_name(name).is_some() || Reduction::from_name(name).is_some() {
            self.not_a_value(name, "a built-in function", span, format!("call it: `{name}(...)`"));
            return RKind::Num(f64::NAN);
        }
        let mut candidates: Vec<&str> = self.visible_names(&cx.origin);
        candidates.extend(cx.local_names());
        candidates.extend(["pi", "t", "iteration"]);
        let help = if name == "dt" || (name.starts_with('d') && name.len() > 1 && !cx.sde) {
            "`dt` and `dW` are differentials, written only on the right side of an SDE `d X = a * dt + b * dW`"
                .to_string()
        } else {
            suggestion_help(
                did_you_mean(name, candidates),
                "declare it first, e.g. `const NAME = 1` or `param NAME = 1`",
            )
        };
        self.sink.push(ResolveError::UnknownName { name: name.into(), span, help });
        RKind::Num(f64::NAN)
    }

    fn not_a_value(&mut self, name: &str, found: &str, span: Span, help: String) {
        self.sink.push(ResolveError::WrongKind {
            name: name.into(),
            found: found.into(),
            expected: "a value".into(),
            span,
            help,
        });
    }

    fn callee(&mut self, callee: &ast::Ident, cx: &BodyCx) -> Option<Callee> {
        let name = callee.name.as_str();
        if cx.lookup(name).is_some() {
            self.sink.push(ResolveError::WrongKind {
                name: name.into(),
                found: "a parameter or index".into(),
                expected: "a function".into(),
                span: callee.span,
                help: "functions cannot be passed as arguments; call a declared `fn` by name".into(),
            });
            return None;
        }
        if let Some(id) = self.lookup(name, &cx.origin) {
            return match &self.pending[id.index()].decl {
                Decl::Fns(_) => Some(Callee::Fn(id)),
                other => {
                    let found = other.describe();
                    self.sink.push(ResolveError::WrongKind {
                        name: name.into(),
                        found: found.into(),
                        expected: "a function".into(),
                        span: callee.span,
                        help: format!("read a field with brackets: `{name}[i]`"),
                    });
                    None
                }
            };
        }
        if let Some(builtin) = Builtin::from_name(name) {
            return Some(Callee::Builtin(builtin));
        }
        if let Some(op) = Reduction::from_name(name) {
            self.sink.push(ResolveError::MissingReductionBody {
                name: name.into(),
                span: callee.span,
                help: format!(
                    "write the expression after the indices: `{0}(i) u[i]`; a body starting with a minus needs parentheses: `{0}(i) (-u[i])`",
                    op.name()
                ),
            });
            return None;
        }
        let mut candidates: Vec<String> = self
            .visible_names(&cx.origin)
            .into_iter()
            .filter(|n| {
                self.lookup(n, &cx.origin).is_some_and(|id| matches!(self.pending[id.index()].decl, Decl::Fns(_)))
            })
            .map(String::from)
            .collect();
        candidates.extend(Builtin::all().map(|b| b.name().to_string()));
        candidates.extend(["sum".to_string(), "mean".to_string()]);
        let suggestion = did_you_mean(name, candidates.iter().map(String::as_str));
        self.sink.push(ResolveError::UnknownName {
            name: name.into(),
            span: callee.span,
            help: suggestion_help(suggestion, "define it with `fn NAME(x) = ...`"),
        });
        None
    }

    fn reduce(
        &mut self,
        op: &ast::Ident,
        args: &[ast::Expr],
        filter: Option<&ast::Expr>,
        body: &ast::Expr,
        cx: &mut BodyCx,
    ) -> RKind {
        let Some(reduce_op) = Reduction::from_name(&op.name) else {
            self.sink.push(ResolveError::WrongKind {
                name: op.name.clone(),
                found: "not a reduction".into(),
                expected: "sum, mean, var, max or min".into(),
                span: op.span,
                help:
                    "only sum, mean, var, max and min take a body; a function call cannot be followed by an expression"
                        .into(),
            });
            return RKind::Num(f64::NAN);
        };
        let scope_len = cx.scope.len();
        let mut vars = Vec::new();
        for arg in args {
            let (name, extent) = match &arg.kind {
                ExprKind::Name(name) => (name.clone(), None),
                ExprKind::Compare(ast::CmpOp::Lt, lhs, extent) => match &lhs.kind {
                    ExprKind::Name(name) => (name.clone(), Some(extent.as_ref())),
                    _ => {
                        self.sink.push(ResolveError::BadReductionVar { span: arg.span });
                        continue;
                    }
                },
                _ => {
                    self.sink.push(ResolveError::BadReductionVar { span: arg.span });
                    continue;
                }
            };
            let extent = extent.and_then(|e| self.eval_extent(e, &cx.origin, "a reduction extent"));
            vars.push(cx.bind(Local { name, span: arg.span, extent }));
        }
        let filter = filter.map(|f| self.boxed(f, cx));
        let body = self.boxed(body, cx);
        cx.scope.truncate(scope_len);
        RKind::Reduce { op: reduce_op, vars, filter, body }
    }
}

/// Records, for each of the first `ranks.len()` locals, how many indices it is read with.
pub(super) fn indexed_ranks(e: &RExpr, ranks: &mut [Option<usize>]) {
    if let RKind::Index { base, indices } = &e.kind {
        if let RKind::Local(id) = base.kind {
            if let Some(slot) = ranks.get_mut(id.index()) {
                slot.get_or_insert(indices.len());
            }
        }
    }
    for child in children(e) {
        indexed_ranks(child, ranks);
    }
}

/// The direct subexpressions of `e`.
pub fn children(e: &RExpr) -> Vec<&RExpr> {
    match &e.kind {
        RKind::Num(_)
        | RKind::Pi
        | RKind::Time
        | RKind::Iteration
        | RKind::Item(_)
        | RKind::Local(_)
        | RKind::Dt
        | RKind::Dw(_) => Vec::new(),
        RKind::Neg(a) | RKind::Not(a) => vec![a],
        RKind::Binary(_, a, b) | RKind::Compare(_, a, b) | RKind::And(a, b) | RKind::Or(a, b) => vec![a, b],
        RKind::If(c, a, b) => vec![c, a, b],
        RKind::Call { args, .. } => args.iter().collect(),
        RKind::Reduce { filter, body, .. } => filter.iter().map(|f| f.as_ref()).chain([body.as_ref()]).collect(),
        RKind::Index { base, indices } => std::iter::once(base.as_ref()).chain(indices).collect(),
    }
}
