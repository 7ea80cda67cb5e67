//! Spin energies: is `log p` linear in each spin, and which sites does a site's update read?
//!
//! A spin sampler flips one spin `s_k` at a time, and lowering computes the change of `log p`
//! as `-2 s_k ∂log p/∂s_k` from the gradient (reverse-mode autodiff of `log p`). That formula
//! is exact only when `log p` is affine in each spin: the spins of a sampled field are read
//! directly (no let in between, at `site + offset` on every axis, no clamped or mirrored edge
//! that could read one site twice), never inside a non-linear function, a condition or a
//! denominator, and where two reads of sampled fields multiply they can never be the same site
//! (a constant offset apart, or `i` and `j` where a filter says `i != j`).
//!
//! Each such product couples the sites of its two reads: the update of one reads the other.
//! `order = checkerboard` updates a whole colour class at once, so no site may read a site of
//! its own class: a field that no product couples to itself is one class ([`Colouring::Whole`],
//! an RBM's layer); otherwise its sites split by the parity of their index sum
//! ([`Colouring::Parity`]), which needs every self-coupling at a constant offset of odd total
//! length (and even extents where such a read wraps). Anything else is refused at the read.
//!
//! Example: `H = -sum(i, j) s[i, j] * (s[i + 1, j] + s[i, j + 1])` is linear, couples offsets
//! (±1, 0) and (0, ±1), and colours by parity; adding `s[i, j] * s[i + 1, j + 1]` couples the
//! offset (1, 1), of even length, so checkerboard is refused at that read.

use crate::ir::Access;
use crate::model::{Affine, Colouring, Def, Expr, Field, FieldId, Node, Read, ReadId, VarId};
use crate::ops::{Binary, Compare, Unary};

use super::error::CheckError;

/// Two reads of sampled fields that multiply: the update of `from`'s site reads `to`'s site.
pub(super) struct Coupling {
    pub from: ReadId,
    pub to: ReadId,
    pub field: FieldId,
    /// `to`'s index minus `from`'s, when it is a constant on every axis.
    pub offset: Option<Vec<i64>>,
}

/// Every coupling of `log_density`, after proving it linear in each spin of `sampled`.
pub(super) fn couplings(fields: &[Field], log_density: &Def, sampled: &[FieldId]) -> Result<Vec<Coupling>, CheckError> {
    let mut walk = Walk { fields, def: log_density, sampled, couplings: Vec::new() };
    walk.linear(&log_density.expr, &[])?;
    Ok(walk.couplings)
}

/// The checkerboard classes of `field`, or the error at the read that forbids them.
pub(super) fn colouring(
    fields: &[Field],
    log_density: &Def,
    couplings: &[Coupling],
    field: FieldId,
) -> Result<Colouring, CheckError> {
    let own: Vec<&Coupling> = couplings.iter().filter(|c| c.field == field).collect();
    if own.is_empty() {
        return Ok(Colouring::Whole);
    }
    let info = &fields[field.index()];
    let extents = info.shape.extents();
    for coupling in own {
        let refuse = |problem: String| CheckError::Checkerboard {
            field: info.name.clone(),
            problem,
            span: log_density.read_spans[coupling.to.0 as usize],
        };
        let Some(offset) = &coupling.offset else {
            return Err(refuse("a site's update reads sites that are no fixed offset away".into()));
        };
        if offset.iter().sum::<i64>().rem_euclid(2) == 0 {
            let text: Vec<String> = offset.iter().map(i64::to_string).collect();
            return Err(refuse(format!(
                "a site's update reads the site at offset ({}), of its own colour",
                text.join(", ")
            )));
        }
        for (axis, (&d, &extent)) in offset.iter().zip(&extents).enumerate() {
            let wraps = [coupling.from, coupling.to]
                .iter()
                .any(|r| log_density.accesses[r.0 as usize].axes[axis] == Access::Periodic);
            if d != 0 && wraps && extent % 2 == 1 {
                return Err(refuse(format!(
                    "it wraps around an axis of odd extent {extent}, where the two colours meet"
                )));
            }
        }
    }
    Ok(Colouring::Parity)
}

struct Walk<'a> {
    fields: &'a [Field],
    def: &'a Def,
    sampled: &'a [FieldId],
    couplings: Vec<Coupling>,
}

impl<'a> Walk<'a> {
    /// The reads of sampled fields `e` is affine in, each spin at most once per product term.
    /// `distinct` holds pairs of variables that an enclosing filter or condition keeps apart.
    fn linear(&mut self, e: &'a Expr, distinct: &[(VarId, VarId)]) -> Result<Vec<&'a Read>, CheckError> {
        Ok(match &**e {
            Node::Num(_) | Node::Var(_) | Node::Time | Node::Iteration => Vec::new(),
            Node::Read(read) if self.sampled.contains(&read.field) => {
                self.direct(read)?;
                vec![read]
            }
            Node::Read(read) => {
                self.not_derived_from_spins(read)?;
                Vec::new()
            }
            Node::Unary(Unary::Neg, a) => self.linear(a, distinct)?,
            Node::Unary(op, a) => {
                self.constant(a, distinct, &format!("inside `{op}`"))?;
                Vec::new()
            }
            Node::Binary(Binary::Add | Binary::Sub, a, b) => {
                let mut reads = self.linear(a, distinct)?;
                reads.extend(self.linear(b, distinct)?);
                reads
            }
            Node::Binary(Binary::Mul, a, b) => {
                let (left, right) = (self.linear(a, distinct)?, self.linear(b, distinct)?);
                for &x in &left {
                    for &y in &right {
                        self.product(x, y, distinct)?;
                    }
                }
                left.into_iter().chain(right).collect()
            }
            Node::Binary(Binary::Div, a, b) => {
                self.constant(b, distinct, "in a denominator")?;
                self.linear(a, distinct)?
            }
            Node::Binary(op, a, b) => {
                let what = format!("inside `{}`", op.name());
                self.constant(a, distinct, &what)?;
                self.constant(b, distinct, &what)?;
                Vec::new()
            }
            Node::Compare(_, a, b) | Node::And(a, b) | Node::Or(a, b) => {
                self.constant(a, distinct, "in a condition")?;
                self.constant(b, distinct, "in a condition")?;
                Vec::new()
            }
            Node::Not(a) => {
                self.constant(a, distinct, "in a condition")?;
                Vec::new()
            }
            Node::Select(c, a, b) => {
                self.constant(c, distinct, "in a condition")?;
                let mut guarded = distinct.to_vec();
                kept_apart(c, &mut guarded);
                let mut reads = self.linear(a, &guarded)?;
                reads.extend(self.linear(b, distinct)?);
                reads
            }
            Node::Reduce(r) => {
                let mut guarded = distinct.to_vec();
                if let Some(filter) = &r.filter {
                    self.constant(filter, distinct, "in a reduction's filter")?;
                    kept_apart(filter, &mut guarded);
                }
                let body = self.linear(&r.body, &guarded)?;
                if !matches!(r.op, crate::builtins::ReduceOp::Sum | crate::builtins::ReduceOp::Mean) {
                    if let Some(read) = body.first() {
                        return Err(self.not_linear(read, &format!("inside a `{}` reduction", r.op.name())));
                    }
                }
                body
            }
            Node::Random(_, args) => {
                for arg in args {
                    self.constant(arg, distinct, "in a random draw's arguments")?;
                }
                Vec::new()
            }
            Node::Dt | Node::Dw { .. } => unreachable!("differentials only appear in SDEs"),
        })
    }

    /// Requires `e` to read no spin; `place` says where, for the error.
    fn constant(&mut self, e: &'a Expr, distinct: &[(VarId, VarId)], place: &str) -> Result<(), CheckError> {
        match self.linear(e, distinct)?.first() {
            Some(read) => Err(self.not_linear(read, place)),
            None => Ok(()),
        }
    }

    fn not_linear(&self, read: &Read, place: &str) -> CheckError {
        let name = self.fields[read.field.index()].name.clone();
        CheckError::SpinEnergy {
            problem: format!("the spin `{name}` is read {place}"),
            span: self.span(read),
            label: format!("`{name}` {place}"),
            help: format!(
                "spin samplers compute a flip's change from the derivative, which needs log p linear in each \
                 spin: write products and sums of `{name}` reads with coefficients that do not depend on spins"
            ),
        }
    }

    fn span(&self, read: &Read) -> crate::diag::Span {
        self.def.read_spans[read.id.0 as usize]
    }

    /// A spin read at `site + offset`, resolved without clamping or mirroring.
    fn direct(&self, read: &Read) -> Result<(), CheckError> {
        let name = &self.fields[read.field.index()].name;
        let problem = if !read.index.iter().all(|a| matches!(a.terms.as_slice(), [] | [(_, 1)])) {
            Some(format!("`{name}` is read at an index that is not an index name plus a constant"))
        } else if self.def.accesses[read.id.0 as usize]
            .axes
            .iter()
            .any(|a| matches!(a, Access::Clamp | Access::Reflect))
        {
            Some(format!("a clamped or mirrored read of `{name}` can read one edge site twice"))
        } else {
            None
        };
        match problem {
            None => Ok(()),
            Some(problem) => Err(CheckError::SpinEnergy {
                problem,
                span: self.span(read),
                label: "this read".into(),
                help: format!("read spins like `{name}[i + 1, j]`, on axes that are periodic, dirichlet or never left"),
            }),
        }
    }

    /// Refuses a read of a let (or gradient) whose value depends on a sampled spin.
    fn not_derived_from_spins(&self, read: &Read) -> Result<(), CheckError> {
        if !super::sample::derived_from(self.fields, read.field, self.sampled) {
            return Ok(());
        }
        let name = self.fields[read.field.index()].name.clone();
        Err(CheckError::SpinEnergy {
            problem: format!("it reads `{name}`, which depends on a sampled spin"),
            span: self.span(read),
            label: "derived from spins".into(),
            help: format!("write the spins into the energy directly instead of through `{name}`"),
        })
    }

    /// Records the coupling of two multiplied reads, after proving they never read one site.
    fn product(&mut self, x: &Read, y: &Read, distinct: &[(VarId, VarId)]) -> Result<(), CheckError> {
        if x.field != y.field {
            return Ok(());
        }
        let difference: Vec<Affine> = x.index.iter().zip(&y.index).map(|(a, b)| b.add(&a.scale(-1))).collect();
        let extents = self.fields[x.field.index()].shape.extents();
        let (ax, ay) = (&self.def.accesses[x.id.0 as usize], &self.def.accesses[y.id.0 as usize]);
        let apart = difference.iter().enumerate().any(|(axis, d)| match d.terms.as_slice() {
            [] => {
                let wraps = ax.axes[axis] == Access::Periodic || ay.axes[axis] == Access::Periodic;
                d.offset != 0 && !(wraps && d.offset % extents[axis] as i64 == 0)
            }
            // `i != j` keeps the sites apart only while both indices stay inside the axis: past
            // its end a periodic read wraps (and a clamped one sticks) onto a site already read.
            [(v, 1), (w, -1)] | [(v, -1), (w, 1)] if d.offset == 0 => {
                let inside = |var: &VarId| self.def.vars[var.index()].extent <= extents[axis];
                inside(v) && inside(w) && distinct.iter().any(|&(p, q)| (p, q) == (*v, *w) || (p, q) == (*w, *v))
            }
            _ => false,
        });
        if !apart {
            let name = self.fields[x.field.index()].name.clone();
            return Err(CheckError::SpinEnergy {
                problem: format!("two reads of `{name}` that multiply may be the same site"),
                span: self.span(y),
                label: "may read the same site as the spin it multiplies".into(),
                help: format!(
                    "the energy must be linear in each spin (s^2 = 1 is not linear): keep the sites apart, e.g. \
                     with a filter `sum(i, j | i != j) ... {name}[i] * {name}[j]`"
                ),
            });
        }
        let offset = difference.iter().map(|d| d.is_constant().then_some(d.offset)).collect::<Option<Vec<i64>>>();
        let back = offset.as_ref().map(|o| o.iter().map(|d| -d).collect());
        self.couplings.push(Coupling { from: x.id, to: y.id, field: x.field, offset });
        self.couplings.push(Coupling { from: y.id, to: x.id, field: x.field, offset: back });
        Ok(())
    }
}

/// Adds the pairs of variables the condition `c` keeps apart (`i != j`, `i < j`, `not i == j`,
/// joined by `and`) to `pairs`.
fn kept_apart(c: &Expr, pairs: &mut Vec<(VarId, VarId)>) {
    match &**c {
        Node::And(a, b) => {
            kept_apart(a, pairs);
            kept_apart(b, pairs);
        }
        Node::Compare(Compare::Ne | Compare::Lt | Compare::Gt, a, b) => {
            if let (Node::Var(v), Node::Var(w)) = (&**a, &**b) {
                pairs.push((*v, *w));
            }
        }
        Node::Not(inner) => {
            if let Node::Compare(Compare::Eq, a, b) = &**inner {
                if let (Node::Var(v), Node::Var(w)) = (&**a, &**b) {
                    pairs.push((*v, *w));
                }
            }
        }
        _ => {}
    }
}
