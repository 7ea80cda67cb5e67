//! Index expressions: elaborating them to [`Affine`] form and learning index extents from reads.

use crate::diag::Span;
use crate::model::{Affine, FieldId, Node};
use crate::resolve::{RExpr, RKind};
use crate::syntax::ast::BinOp;

use super::elab::{Binding, Elab, Env, Implicit, Kind, R, Value};
use super::error::CheckError;
use super::{Reported, shape_text};

/// Index coefficients and offsets beyond these cannot address any field (extents are at most
/// [`crate::resolve::MAX_EXTENT`], below 2^32) and would risk overflow in range analysis.
const MAX_COEFF: i64 = 1 << 20;
const MAX_OFFSET: i64 = 1 << 40;

impl<'r> Elab<'_, 'r, '_> {
    /// Elaborates an index: an integer combination of index names plus an integer constant.
    pub fn affine(&mut self, e: &'r RExpr, env: &Env<'r>) -> R<Affine> {
        let affine = self.affine_unbounded(e, env)?;
        let too_big = affine.offset.abs() > MAX_OFFSET || affine.terms.iter().any(|(_, c)| c.abs() > MAX_COEFF);
        if too_big {
            return Err(self.report(CheckError::NotAffine {
                span: env.span(e),
                found: "an index too large to address a field".into(),
                help: format!("coefficients are limited to {MAX_COEFF} and offsets to {MAX_OFFSET}"),
            }));
        }
        Ok(affine)
    }

    fn affine_unbounded(&mut self, e: &'r RExpr, env: &Env<'r>) -> R<Affine> {
        match &e.kind {
            RKind::Local(id) => match env.binding(*id).clone() {
                Binding::Index(affine) => return Ok(affine),
                Binding::Arg(arg, arg_env) | Binding::Scalar(arg, arg_env, ..) => {
                    return self.affine_unbounded(arg, &arg_env);
                }
                Binding::Value(_) => return Err(self.not_affine(env.span(e), "a parameter being differentiated")),
                Binding::Unset => return Err(Reported),
            },
            RKind::Neg(a) => return Ok(self.affine(a, env)?.scale(-1)),
            RKind::Binary(BinOp::Add, a, b) => {
                let (a, b) = (self.affine(a, env)?, self.affine(b, env)?);
                return Ok(a.add(&b));
            }
            RKind::Binary(BinOp::Sub, a, b) => {
                let (a, b) = (self.affine(a, env)?, self.affine(b, env)?);
                return Ok(a.add(&b.scale(-1)));
            }
            RKind::Binary(BinOp::Mul, a, b) => {
                let (a, b) = (self.affine(a, env)?, self.affine(b, env)?);
                let (factor, other) = match (a.is_constant(), b.is_constant()) {
                    (true, _) => (a.offset, b),
                    (_, true) => (b.offset, a),
                    _ => return Err(self.not_affine(env.span(e), "a product of indices")),
                };
                if factor.abs() > MAX_COEFF {
                    return Err(self.report(CheckError::NotAffine {
                        span: env.span(e),
                        found: "an index too large to address a field".into(),
                        help: format!("coefficients are limited to {MAX_COEFF}"),
                    }));
                }
                return Ok(other.scale(factor));
            }
            _ => {}
        }
        // Anything else must fold to an integer constant, like `N / 2` or `floor(N / 3)`.
        let span = env.span(e);
        match self.elab(e, &env.with_implicit(None))? {
            Value::Scalar(expr, Kind::Num) => match *expr {
                Node::Num(v) if v.fract() == 0.0 && v.abs() <= MAX_OFFSET as f64 => Ok(Affine::constant(v as i64)),
                Node::Num(v) => Err(self.report(CheckError::NotAffine {
                    span,
                    found: format!("{v}, not an integer"),
                    help: "use `//` for integer division, or `floor(...)`".into(),
                })),
                _ => Err(self.not_affine(span, "depends on values, not only on index names")),
            },
            Value::Scalar(_, Kind::Bool) => Err(self.not_affine(span, "a condition")),
            Value::Field(_) => Err(self.not_affine(span, "a field")),
        }
    }

    fn not_affine(&mut self, span: Span, found: &str) -> Reported {
        self.report(CheckError::NotAffine {
            span,
            found: found.into(),
            help: "write indices like `i`, `i + 1`, `2*i - j` or `N - 1 - i`; read fields at computed positions through a `let` field".into(),
        })
    }

    /// Checks that a field of `extents` can be read at the implicit indices, learning the
    /// extents of index variables that do not have one yet.
    pub fn fit_indices(&mut self, field: FieldId, extents: &[usize], implicit: &Implicit, span: Span) -> R<()> {
        let name = format!("`{}`", self.ck.fields[field.index()].name);
        self.fit(&name, extents, implicit, span)
    }

    /// As [`Self::fit_indices`], for anything with a shape (`what` names it in messages).
    pub fn fit(&mut self, what: &str, extents: &[usize], implicit: &Implicit, span: Span) -> R<()> {
        if implicit.indices.len() != extents.len() {
            let context: Vec<String> = implicit
                .indices
                .iter()
                .map(|a| a.single_var().and_then(|v| self.vars[v.index()].extent).map_or("?".into(), |e| e.to_string()))
                .collect();
            return Err(self.report(CheckError::ShapeMismatch {
                message: format!(
                    "{what} has shape {}, but is used where the shape is [{}]",
                    shape_text(extents),
                    context.join(", ")
                ),
                span,
                label: format!("shape {}", shape_text(extents)),
                help: "without indices, a field takes the shape of where it is used; index it to read it differently"
                    .into(),
            }));
        }
        for (axis, (index, &extent)) in implicit.indices.iter().zip(extents).enumerate() {
            let Some(var) = index.single_var() else { continue };
            let info = &mut self.vars[var.index()];
            match info.extent {
                None => {
                    info.extent = Some(extent);
                    info.inferred_at = Some(span);
                }
                Some(known) if known != extent && (implicit.point_free || info.inferred_at.is_some()) => {
                    let name = info.name.clone();
                    let from = if implicit.point_free { "the context" } else { "an earlier read" };
                    return Err(self.report(CheckError::ShapeMismatch {
                        message: format!(
                            "index `{name}` runs over 0..{known} (from {from}), but axis {axis} of {what} has extent {extent}"
                        ),
                        span,
                        label: format!("axis {axis} has extent {extent}"),
                        help: "point-free expressions need fields of the equation's shape; use explicit indices with a boundary rule to mix sizes".into(),
                    }));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}
