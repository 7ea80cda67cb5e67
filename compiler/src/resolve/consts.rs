//! Folding compile-time constants: `const` values, extents, boundary values, directive options.
//!
//! Works on the syntax tree so consts can be used by any declaration regardless of order;
//! each const is evaluated once, and a const that depends on itself is reported.

use std::collections::HashMap;

use crate::builtins::Builtin;
use crate::diag::{Span, did_you_mean, suggestion_help};
use crate::ops::Binary;
use crate::syntax::ast::{self, ExprKind, StmtKind};

use super::error::ResolveError;
use super::tree::{ItemId, Origin};
use super::{Decl, Resolver};

/// The largest extent of an index: indices count in 32 bits. Index arithmetic (in `check`'s
/// range analysis and the engines' addressing) is exact below 2^32, and an index is one word of
/// a random draw's counter.
pub const MAX_EXTENT: usize = u32::MAX as usize;

/// Values of a scalar function's parameters while evaluating its body.
type Bindings<'b> = HashMap<&'b str, f64>;

/// Calls nested deeper than this are treated as runaway recursion.
const MAX_CALL_DEPTH: usize = 64;

impl<'a> Resolver<'a, '_> {
    /// The value of the const `id`; `use_span` is where it is needed (for cycle reports).
    pub(super) fn const_value(&mut self, id: ItemId, use_span: Span) -> Option<f64> {
        if let Some(value) = self.const_values.get(&id) {
            return *value;
        }
        if !self.consts_in_progress.insert(id) {
            let name = self.pending[id.index()].name.clone();
            self.sink.push(ResolveError::ConstCycle { name, span: use_span });
            return None;
        }
        let value = match self.override_value(id) {
            Some(value) => Some(value),
            None => {
                let Decl::Stmt(StmtKind::Const { value, .. }) = self.pending[id.index()].decl else {
                    return None;
                };
                let origin = self.pending[id.index()].origin;
                self.eval_const(value, &origin)
            }
        };
        self.consts_in_progress.remove(&id);
        self.const_values.insert(id, value);
        value
    }

    /// Evaluates a constant expression seen from code of `origin`.
    pub(super) fn eval_const(&mut self, e: &ast::Expr, origin: &Origin) -> Option<f64> {
        let value = self.eval(e, origin, &Bindings::new(), 0)?;
        if value.is_finite() {
            Some(value)
        } else {
            self.sink.push(ResolveError::NotFinite { value, span: e.span });
            None
        }
    }

    /// Evaluates an extent: an integer from 1 to [`MAX_EXTENT`].
    pub(super) fn eval_extent(&mut self, e: &ast::Expr, origin: &Origin, what: &str) -> Option<usize> {
        let value = self.eval_const(e, origin)?;
        if value >= 1.0 && value.fract() == 0.0 && value <= MAX_EXTENT as f64 {
            return Some(value as usize);
        }
        let (expected, help) = if value > MAX_EXTENT as f64 {
            let expected = format!("at most {MAX_EXTENT} (2^32 - 1), the range of an index");
            (expected, Some("indices count in 32 bits; a larger grid needs another axis".to_string()))
        } else {
            let round = format!("round it explicitly, e.g. `floor({})`", crate::syntax::print::expr(e));
            ("a positive integer".to_string(), (value.fract() != 0.0).then_some(round))
        };
        let value = format!("{value}");
        self.sink.push(ResolveError::BadExtent { what: what.into(), expected, value, span: e.span, help });
        None
    }

    fn eval(&mut self, e: &ast::Expr, origin: &Origin, locals: &Bindings<'_>, depth: usize) -> Option<f64> {
        let truth = |b: bool| if b { 1.0 } else { 0.0 };
        Some(match &e.kind {
            ExprKind::Num(value) => *value,
            ExprKind::Name(name) => return self.eval_name(name, e.span, origin, locals),
            ExprKind::Neg(a) => -self.eval(a, origin, locals, depth)?,
            ExprKind::Binary(op, a, b) => {
                let a = self.eval(a, origin, locals, depth)?;
                let b = self.eval(b, origin, locals, depth)?;
                Binary::from(*op).eval(a, b)
            }
            ExprKind::Compare(op, a, b) => {
                let a = self.eval(a, origin, locals, depth)?;
                let b = self.eval(b, origin, locals, depth)?;
                truth(op.eval(a, b))
            }
            ExprKind::And(a, b) => {
                let a = self.eval(a, origin, locals, depth)?;
                let b = self.eval(b, origin, locals, depth)?;
                truth(a != 0.0 && b != 0.0)
            }
            ExprKind::Or(a, b) => {
                let a = self.eval(a, origin, locals, depth)?;
                let b = self.eval(b, origin, locals, depth)?;
                truth(a != 0.0 || b != 0.0)
            }
            ExprKind::Not(a) => truth(self.eval(a, origin, locals, depth)? == 0.0),
            ExprKind::If(c, a, b) => {
                if self.eval(c, origin, locals, depth)? != 0.0 {
                    self.eval(a, origin, locals, depth)?
                } else {
                    self.eval(b, origin, locals, depth)?
                }
            }
            ExprKind::Call { callee, args, .. } => {
                let args = args.iter().map(|a| self.eval(a, origin, locals, depth)).collect::<Option<Vec<f64>>>()?;
                return self.eval_call(callee, &args, e.span, origin, depth);
            }
            ExprKind::Reduce { .. } | ExprKind::Index { .. } => {
                self.sink.push(ResolveError::NotConst {
                    name: crate::syntax::print::expr(e),
                    span: e.span,
                    what: "reads fields".into(),
                });
                return None;
            }
        })
    }

    fn eval_name(&mut self, name: &str, span: Span, origin: &Origin, locals: &Bindings<'_>) -> Option<f64> {
        if let Some(value) = locals.get(name) {
            return Some(*value);
        }
        if let Some(id) = self.lookup(name, origin) {
            let decl = &self.pending[id.index()].decl;
            if let Decl::Stmt(StmtKind::Const { .. }) = decl {
                return self.const_value(id, span);
            }
            let what = format!("{} changes at run time", decl.describe());
            self.sink.push(ResolveError::NotConst { name: name.into(), span, what });
            return None;
        }
        match name {
            "pi" => Some(std::f64::consts::PI),
            _ => {
                let mut candidates = self.visible_names(origin);
                candidates.push("pi");
                self.sink.push(ResolveError::UnknownName {
                    name: name.into(),
                    span,
                    help: suggestion_help(did_you_mean(name, candidates), "declare it with `const NAME = ...`"),
                });
                None
            }
        }
    }

    fn eval_call(
        &mut self,
        callee: &ast::Ident,
        args: &[f64],
        span: Span,
        origin: &Origin,
        depth: usize,
    ) -> Option<f64> {
        if let Some(id) = self.lookup(&callee.name, origin) {
            let scalar_def = match &self.pending[id.index()].decl {
                Decl::Fns(defs) => defs.iter().copied().find(|d| d.indices.is_none()),
                _ => None,
            };
            let Some(def) = scalar_def else {
                self.sink.push(ResolveError::NotConst {
                    name: callee.name.clone(),
                    span,
                    what: "not a scalar function".into(),
                });
                return None;
            };
            if def.params.len() != args.len() || depth >= MAX_CALL_DEPTH {
                self.sink.push(ResolveError::NotConst {
                    name: callee.name.clone(),
                    span,
                    what: if depth >= MAX_CALL_DEPTH {
                        "calls itself without end".into()
                    } else {
                        format!("takes {} arguments", def.params.len())
                    },
                });
                return None;
            }
            let bindings: Bindings<'a> = def.params.iter().map(|p| p.name.as_str()).zip(args.iter().copied()).collect();
            let def_origin = self.pending[id.index()].origin;
            return self.eval(&def.body, &def_origin, &bindings, depth + 1);
        }
        match Builtin::from_name(&callee.name) {
            Some(builtin) if builtin.arity().accepts(args.len()) => match builtin.eval(args) {
                Some(value) => Some(value),
                None => {
                    self.sink.push(ResolveError::NotConst {
                        name: callee.name.clone(),
                        span,
                        what: "not a constant function".into(),
                    });
                    None
                }
            },
            Some(builtin) => {
                self.sink.push(ResolveError::NotConst {
                    name: callee.name.clone(),
                    span,
                    what: format!("takes {}", builtin.arity().describe()),
                });
                None
            }
            None => {
                self.sink.push(ResolveError::UnknownName {
                    name: callee.name.clone(),
                    span: callee.span,
                    help: suggestion_help(
                        did_you_mean(&callee.name, Builtin::all().map(Builtin::name)),
                        "constants may use numbers, other consts, math functions and scalar `fn`s",
                    ),
                });
                None
            }
        }
    }
}
