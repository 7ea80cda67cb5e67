//! Read classification: can this read leave its field, and what happens if it does?
//!
//! Index variables range over their extents. A read proven inside its field is [`Access::Direct`];
//! otherwise the field's boundary rule decides. A field without a rule may only be read outside
//! its extent where an `if` (or a reduction filter) excludes those points: conditions of the form
//! `i OP constant`, joined by `and`/`or`/`not`, narrow the ranges of the branch they guard. Such a
//! read is marked [`Access::Fill`] with NaN: it is evaluated (both branches of a select are) but
//! never chosen. Anything else is an out-of-range error.

use std::collections::HashSet;
use std::sync::Arc;

use crate::model::{Access, Expr, FieldId, Node, ReadAccess, ReadId, VarId};
use crate::ops::{Binary, Compare, Unary};
use crate::resolve::Rule;

use super::elab::{Elab, R};
use super::error::CheckError;
use super::{Reported, shape_text};

/// Inclusive bounds per variable; `lo > hi` means no value is possible.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Ranges {
    lo: Vec<i64>,
    hi: Vec<i64>,
}

impl Ranges {
    /// Every variable over its whole extent.
    fn full(elab: &Elab<'_, '_, '_>) -> Ranges {
        Ranges {
            lo: vec![0; elab.vars.len()],
            hi: elab.vars.iter().map(|v| v.extent.map_or(0, |e| e as i64 - 1)).collect(),
        }
    }

    fn is_empty(&self) -> bool {
        self.lo.iter().zip(&self.hi).any(|(lo, hi)| lo > hi)
    }

    fn hull(&self, other: &Ranges) -> Ranges {
        if self.is_empty() {
            return other.clone();
        }
        if other.is_empty() {
            return self.clone();
        }
        Ranges {
            lo: self.lo.iter().zip(&other.lo).map(|(a, b)| *a.min(b)).collect(),
            hi: self.hi.iter().zip(&other.hi).map(|(a, b)| *a.max(b)).collect(),
        }
    }

    fn interval(&self, terms: &[(VarId, i64)], offset: i64) -> (i64, i64) {
        let (mut lo, mut hi) = (offset, offset);
        for &(var, coeff) in terms {
            let (a, b) = (coeff * self.lo[var.index()], coeff * self.hi[var.index()]);
            lo += a.min(b);
            hi += a.max(b);
        }
        (lo, hi)
    }
}

/// Decides the access of every read in `expr`, reporting reads that can leave a field with no
/// boundary rule.
pub(super) fn classify(elab: &mut Elab<'_, '_, '_>, expr: &Expr) -> R<Vec<ReadAccess>> {
    let full = Ranges::full(elab);
    let mut classifier = Classifier {
        elab,
        full: full.clone(),
        accesses: Vec::new(),
        failed: false,
        reported_at: Vec::new(),
        shared_seen: HashSet::new(),
    };
    classifier.accesses = classifier
        .elab
        .reads
        .iter()
        .map(|r| {
            let rank = classifier.elab.ck.fields[r.field.index()].shape.rank();
            ReadAccess { axes: vec![Access::Direct; rank], fill: 0.0 }
        })
        .collect();
    let mut ranges = full;
    classifier.walk(expr, &mut ranges);
    if classifier.failed { Err(Reported) } else { Ok(classifier.accesses) }
}

/// Reports `dW[...]` reads that can leave their noise's shape: a noise has one increment per
/// element, so no boundary rule or guard applies.
pub(super) fn noise_reads(elab: &mut Elab<'_, '_, '_>, expr: &Expr) -> R<()> {
    let full = Ranges::full(elab);
    let mut uses = Vec::new();
    crate::model::walk(expr, &mut |node| {
        if let Node::Dw { noise, index, span } = node {
            uses.push((*noise, index.clone(), *span));
        }
    });
    let mut classifier = Classifier {
        elab,
        full,
        accesses: Vec::new(),
        failed: false,
        reported_at: Vec::new(),
        shared_seen: HashSet::new(),
    };
    for (noise, index, span) in uses {
        let extents = classifier.elab.ck.fields[noise.index()].shape.extents();
        for (axis, (affine, extent)) in index.iter().zip(extents).enumerate() {
            let (lo, hi) = classifier.full.interval(&affine.terms, affine.offset);
            if lo < 0 || hi >= extent as i64 {
                classifier.out_of_range(span, noise, &index, axis, (lo, hi));
                break;
            }
        }
    }
    if classifier.failed { Err(Reported) } else { Ok(()) }
}

struct Classifier<'e, 'c, 'r, 's> {
    elab: &'e mut Elab<'c, 'r, 's>,
    full: Ranges,
    accesses: Vec<ReadAccess>,
    failed: bool,
    /// Spans already reported: one error per place (a library stencil makes several reads
    /// that all point at its call).
    reported_at: Vec<crate::diag::Span>,
    /// Shared nodes already classified, with the ranges they were classified under: a node
    /// several parents hold (a function's scalar argument used twice) is walked once per
    /// distinct ranges, not once per path to it.
    shared_seen: HashSet<(*const Node, Ranges)>,
}

impl Classifier<'_, '_, '_, '_> {
    /// Classifies the reads of `e` where the variables lie in `ranges` (empty in a branch that
    /// is never taken: its reads still run, so they still need a safe access).
    fn walk(&mut self, e: &Expr, ranges: &mut Ranges) {
        if Arc::strong_count(e) > 1 && !self.shared_seen.insert((Arc::as_ptr(e), ranges.clone())) {
            return;
        }
        match &**e {
            Node::Read(read) => self.read(read.id, read.field, &read.index, ranges),
            Node::Select(c, a, b) => {
                self.walk(c, ranges);
                let mut then = refine(c, true, ranges);
                self.walk(a, &mut then);
                let mut otherwise = refine(c, false, ranges);
                self.walk(b, &mut otherwise);
            }
            Node::Reduce(reduce) => {
                // The reduction's variables range over their extents inside it: set in place
                // and restored after (a copy per level made nested reductions quadratic).
                let outside: Vec<(usize, i64, i64)> =
                    reduce.vars.iter().map(|v| (v.index(), ranges.lo[v.index()], ranges.hi[v.index()])).collect();
                for &(var, ..) in &outside {
                    ranges.lo[var] = self.full.lo[var];
                    ranges.hi[var] = self.full.hi[var];
                }
                match &reduce.filter {
                    Some(filter) => {
                        self.walk(filter, ranges);
                        self.walk(&reduce.body, &mut refine(filter, true, ranges));
                    }
                    None => self.walk(&reduce.body, ranges),
                }
                for (var, lo, hi) in outside {
                    ranges.lo[var] = lo;
                    ranges.hi[var] = hi;
                }
            }
            other => {
                for child in crate::model::children(other) {
                    self.walk(child, ranges);
                }
            }
        }
    }

    fn read(&mut self, id: ReadId, field: FieldId, index: &[crate::model::Affine], ranges: &Ranges) {
        let shape = self.elab.ck.fields[field.index()].shape.clone();
        for (axis, (affine, dim)) in index.iter().zip(&shape.dims).enumerate() {
            let inside = |(lo, hi): (i64, i64)| lo >= 0 && hi < dim.extent as i64;
            if inside(self.full.interval(&affine.terms, affine.offset)) {
                continue;
            }
            let slot = &mut self.accesses[id.0 as usize];
            if let Some(access) = crate::model::access_for_rule(dim.rule) {
                slot.axes[axis] = access;
                if let Rule::Dirichlet(value) = dim.rule {
                    slot.fill = value;
                }
                continue;
            }
            let (lo, hi) = ranges.interval(&affine.terms, affine.offset);
            if ranges.is_empty() || inside((lo, hi)) {
                slot.axes[axis] = Access::Fill;
                slot.fill = f64::NAN;
                continue;
            }
            self.out_of_range(self.elab.reads[id.0 as usize].span, field, index, axis, (lo, hi));
            return;
        }
    }

    fn out_of_range(
        &mut self,
        span: crate::diag::Span,
        field: FieldId,
        index: &[crate::model::Affine],
        axis: usize,
        (lo, hi): (i64, i64),
    ) {
        self.failed = true;
        if self.reported_at.contains(&span) {
            return;
        }
        self.reported_at.push(span);
        let info = &self.elab.ck.fields[field.index()];
        let name = info.name.clone();
        let extents = info.shape.extents();
        let names: Vec<String> = self.elab.vars.iter().map(|v| v.name.clone()).collect();
        let indices: Vec<String> = index.iter().map(|a| a.display(&|v| names[v.index()].clone())).collect();
        let extent = extents[axis] as i64;
        let reach = if lo < 0 { lo } else { hi };
        let detail = format!("index `{}` reaches {reach}, outside 0..{} on axis {axis}", indices[axis], extent - 1);
        let (extents, help) = if matches!(info.kind, crate::model::FieldKind::Noise { .. }) {
            (
                shape_text(&extents),
                format!("`{name}` has one Brownian increment per element: read `d{name}` inside its shape"),
            )
        } else {
            (
                format!("{}, no boundary rule", shape_text(&extents)),
                format!(
                    "give the {} `{name}` a boundary rule after its shape (periodic, dirichlet(v), neumann or clamp), or guard the read with `if ... then ... else ...`",
                    info.kind.describe()
                ),
            )
        };
        self.elab.report(CheckError::OutOfRange {
            read: format!("{name}[{}]", indices.join(", ")),
            detail,
            span,
            field: name.clone(),
            extents,
            help,
        });
    }
}

/// The ranges under which `cond` is `positive`, as far as simple index comparisons tell.
fn refine(cond: &Expr, positive: bool, ranges: &Ranges) -> Ranges {
    match (&**cond, positive) {
        (Node::And(a, b), true) | (Node::Or(a, b), false) => refine(b, positive, &refine(a, positive, ranges)),
        (Node::Or(a, b), true) | (Node::And(a, b), false) => {
            refine(a, positive, ranges).hull(&refine(b, positive, ranges))
        }
        (Node::Not(a), _) => refine(a, !positive, ranges),
        (Node::Compare(op, a, b), _) => {
            let op = if positive { *op } else { op.negated() };
            match (linear(a), linear(b)) {
                (Some(a), Some(b)) => bound(&a.minus(&b), op, ranges),
                _ => ranges.clone(),
            }
        }
        _ => ranges.clone(),
    }
}

/// `terms + offset` with a real offset: the shape of index comparisons.
struct Linear {
    terms: Vec<(VarId, i64)>,
    offset: f64,
}

impl Linear {
    fn minus(&self, other: &Linear) -> Linear {
        let mut terms = self.terms.clone();
        for &(v, c) in &other.terms {
            match terms.iter_mut().find(|(w, _)| *w == v) {
                Some(t) => t.1 -= c,
                None => terms.push((v, -c)),
            }
        }
        terms.retain(|(_, c)| *c != 0);
        Linear { terms, offset: self.offset - other.offset }
    }
}

fn linear(e: &Expr) -> Option<Linear> {
    match &**e {
        Node::Num(v) => Some(Linear { terms: Vec::new(), offset: *v }),
        Node::Var(v) => Some(Linear { terms: vec![(*v, 1)], offset: 0.0 }),
        Node::Unary(Unary::Neg, a) => {
            let a = linear(a)?;
            Some(Linear { terms: a.terms.iter().map(|(v, c)| (*v, -c)).collect(), offset: -a.offset })
        }
        Node::Binary(Binary::Add, a, b) => {
            let b = linear(b)?;
            let negated = Linear { terms: b.terms.iter().map(|(v, c)| (*v, -c)).collect(), offset: -b.offset };
            Some(linear(a)?.minus(&negated))
        }
        Node::Binary(Binary::Sub, a, b) => Some(linear(a)?.minus(&linear(b)?)),
        Node::Binary(Binary::Mul, a, b) => {
            let (a, b) = (linear(a)?, linear(b)?);
            let (scale, other) = match (a.terms.is_empty(), b.terms.is_empty()) {
                (true, _) => (a.offset, b),
                (_, true) => (b.offset, a),
                _ => return None,
            };
            if scale.fract() != 0.0 {
                return None;
            }
            let k = scale as i64;
            Some(Linear { terms: other.terms.iter().map(|(v, c)| (*v, c * k)).collect(), offset: other.offset * scale })
        }
        _ => None,
    }
}

/// Narrows `ranges` by `diff OP 0` when `diff` is `±v + k`.
fn bound(diff: &Linear, op: Compare, ranges: &Ranges) -> Ranges {
    let [(var, coeff)] = diff.terms[..] else { return ranges.clone() };
    // coeff * v + k OP 0  <=>  v OP' -k / coeff
    let (op, k) = match coeff {
        1 => (op, -diff.offset),
        -1 => (op.swapped(), diff.offset),
        _ => return ranges.clone(),
    };
    let mut out = ranges.clone();
    let (lo, hi) = (&mut out.lo[var.index()], &mut out.hi[var.index()]);
    match op {
        Compare::Lt => *hi = (*hi).min(k.ceil() as i64 - 1),
        Compare::Le => *hi = (*hi).min(k.floor() as i64),
        Compare::Gt => *lo = (*lo).max(k.floor() as i64 + 1),
        Compare::Ge => *lo = (*lo).max(k.ceil() as i64),
        Compare::Eq if k.fract() == 0.0 => {
            *lo = (*lo).max(k as i64);
            *hi = (*hi).min(k as i64);
        }
        Compare::Eq => *hi = *lo - 1,
        Compare::Ne if k.fract() == 0.0 && k as i64 == *lo => *lo += 1,
        Compare::Ne if k.fract() == 0.0 && k as i64 == *hi => *hi -= 1,
        Compare::Ne => {}
    }
    out
}
