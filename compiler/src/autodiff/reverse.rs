//! The reverse sweep inside one kernel: from the adjoints of its outputs at a point to the
//! adjoint of every load it makes there.
//!
//! Formulas are visited from the outputs down, each node once, after every node that uses it.
//! A contribution that depends on reduction variables the receiving node does not depend on is
//! summed over them (the node was used at every point of that reduction). Domain variables are
//! never summed here: a load's adjoint is per domain point, and gathering it into the loaded
//! buffer sums over points later.
//!
//! Operations' derivatives (and the choices at kinks) are in [`super::rules`]. `max`/`min`
//! reductions share the adjoint equally between all points that attain the extremum;
//! comparisons and conditions carry no derivative.
//!
//! **Excluded points contribute exactly zero.** A point that a reduction's filter or an
//! untaken branch of a `select` excludes must not reach any derivative, whatever its local
//! derivative is there: in `sum(p, q | p != q) lj(r2[p, q])` the pair `p == q` has `r2 = 0`,
//! where `lj'` is infinite, and a zero adjoint times an infinite partial is NaN. So an adjoint
//! travels with a *guard*, the conjunction of the conditions on its path: its value only counts
//! where the guard holds and may be anything (NaN included) elsewhere. The guard is applied
//! once, where the adjoint leaves the sweep: as the filter of the sum over reduction variables
//! a receiving node does not depend on, and as `select(guard, adjoint, 0)` on a load's
//! adjoint. The output is ordinary IR, so this holds at every order of differentiation.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use crate::builtins::ReduceOp;
use crate::ops::{Binary, Compare};

use super::formula::{self as f, F, FNode, FreeVars};
use super::rules::{binary_partials, takes_first, unary_partial};
use crate::ir::VarId;

/// The adjoint of every load formula reached from `outputs` (each `(formula, seed)`), in a
/// deterministic order. `reduction_vars` are the kernel's variables bound by reductions.
pub fn load_adjoints(outputs: &[(F, F)], reduction_vars: &BTreeSet<VarId>) -> Vec<(F, F)> {
    let mut order = Vec::new();
    let mut seen = HashSet::new();
    for (root, _) in outputs {
        topological(root, &mut seen, &mut order);
    }
    let mut sweep = Sweep { adjoints: HashMap::new(), free: FreeVars::default(), reduction_vars, keep: Vec::new() };
    for (root, seed) in outputs {
        sweep.contribute(root, Adjoint { value: seed.clone(), guard: None });
    }
    let mut loads = Vec::new();
    for node in order.iter().rev() {
        let Some(adjoint) = sweep.adjoints.get(&key(node)).cloned() else { continue };
        if let FNode::Load(_) = **node {
            loads.push((node.clone(), adjoint.masked()));
        } else {
            sweep.propagate(node, &adjoint);
        }
    }
    loads
}

/// An adjoint on its way down: `value` counts where `guard` holds (everywhere without one);
/// elsewhere the point contributes zero, whatever `value` is there.
#[derive(Clone)]
struct Adjoint {
    value: F,
    guard: Option<F>,
}

impl Adjoint {
    /// The adjoint as one formula: exactly zero where the guard fails.
    fn masked(&self) -> F {
        match &self.guard {
            Some(guard) => f::select(guard.clone(), self.value.clone(), f::zero()),
            None => self.value.clone(),
        }
    }

    /// The same path's adjoint with another value (an operation's partial derivative).
    fn with(&self, value: F) -> Adjoint {
        Adjoint { value, guard: self.guard.clone() }
    }

    /// This adjoint, counted only where `condition` also holds.
    fn only_where(&self, condition: F, value: F) -> Adjoint {
        let guard = match &self.guard {
            Some(guard) => f::and(guard.clone(), condition),
            None => condition,
        };
        Adjoint { value, guard: Some(guard) }
    }

    /// The sum of two adjoints of one node. Under one guard the values add; under different
    /// ones each is masked by its own, and the sum still counts only where either holds.
    fn plus(self, other: Adjoint) -> Adjoint {
        let same_guard = match (&self.guard, &other.guard) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a == b,
            _ => false,
        };
        if same_guard {
            return Adjoint { value: f::add(self.value, other.value), guard: self.guard };
        }
        let guard = match (&self.guard, &other.guard) {
            (Some(a), Some(b)) => Some(f::or(a.clone(), b.clone())),
            _ => None,
        };
        Adjoint { value: f::add(self.masked(), other.masked()), guard }
    }
}

fn key(f: &F) -> usize {
    Arc::as_ptr(f) as usize
}

/// Operands before users, each node once.
fn topological(node: &F, seen: &mut HashSet<usize>, order: &mut Vec<F>) {
    if !seen.insert(key(node)) {
        return;
    }
    for child in f::children(node) {
        topological(child, seen, order);
    }
    order.push(node.clone());
}

struct Sweep<'v> {
    adjoints: HashMap<usize, Adjoint>,
    free: FreeVars,
    reduction_vars: &'v BTreeSet<VarId>,
    /// Every formula made during the sweep stays alive, so no address is reused while the
    /// maps above are keyed by addresses.
    keep: Vec<F>,
}

impl Sweep<'_> {
    /// Adds `c` to the adjoint of `target`. Reduction variables that `c` (value or guard)
    /// depends on and `target` does not are summed over, with the guard as the sum's filter.
    fn contribute(&mut self, target: &F, c: Adjoint) {
        if f::is_zero(&c.value) {
            return;
        }
        let mine = self.free.of(target);
        let mut extra: BTreeSet<VarId> = self.free.of(&c.value).iter().copied().collect();
        if let Some(guard) = &c.guard {
            extra.extend(self.free.of(guard).iter().copied());
        }
        extra.retain(|v| !mine.contains(v) && self.reduction_vars.contains(v));
        let c = if extra.is_empty() {
            c
        } else {
            Adjoint { value: f::sum(extra.into_iter().collect(), c.guard, c.value), guard: None }
        };
        let total = match self.adjoints.remove(&key(target)) {
            Some(previous) => previous.plus(c),
            None => c,
        };
        self.keep.extend(total.guard.iter().cloned().chain([total.value.clone()]));
        self.adjoints.insert(key(target), total);
    }

    fn propagate(&mut self, node: &F, a: &Adjoint) {
        match &**node {
            FNode::Const(_) | FNode::Index(_) | FNode::Load(_) => {}
            FNode::Compare(..) | FNode::And(..) | FNode::Or(..) | FNode::Not(_) => {}
            // Random draws are constants of the computation (the adjoint replays them).
            FNode::WordConst(_) | FNode::ToWord(_) | FNode::Word(..) | FNode::FromWord(_) | FNode::Unit(..) => {}
            FNode::Unary(op, x) => {
                let c = unary_partial(*op, x, node, a.value.clone());
                self.contribute(x, a.with(c));
            }
            // The argument `min`/`max` does not take is excluded, like an untaken branch.
            FNode::Binary(op @ (Binary::Min | Binary::Max), x, y) => {
                let takes_x = takes_first(*op, x.clone(), y.clone());
                self.contribute(x, a.only_where(takes_x.clone(), a.value.clone()));
                self.contribute(y, a.only_where(f::not(takes_x), a.value.clone()));
            }
            FNode::Binary(op, x, y) => {
                let (cx, cy) = binary_partials(*op, x, y, node, a.value.clone());
                self.contribute(x, a.with(cx));
                self.contribute(y, a.with(cy));
            }
            FNode::Select(c, x, y) => {
                self.contribute(x, a.only_where(c.clone(), a.value.clone()));
                self.contribute(y, a.only_where(f::not(c.clone()), a.value.clone()));
            }
            FNode::MulAdd(x, y, z) => {
                self.contribute(x, a.with(f::mul(a.value.clone(), y.clone())));
                self.contribute(y, a.with(f::mul(a.value.clone(), x.clone())));
                self.contribute(z, a.clone());
            }
            FNode::Reduce { op, vars, filter, body } => {
                let filtered = |a: &Adjoint, value: F| match filter {
                    Some(flt) => a.only_where(flt.clone(), value),
                    None => a.with(value),
                };
                let c = match op {
                    ReduceOp::Sum => filtered(a, a.value.clone()),
                    ReduceOp::Mean => {
                        let count = f::sum(vars.clone(), filter.clone(), f::constant(1.0));
                        filtered(a, f::div(a.value.clone(), count))
                    }
                    ReduceOp::Max | ReduceOp::Min => {
                        let attains = f::compare(Compare::Eq, body.clone(), node.clone());
                        let chosen = match filter {
                            Some(flt) => f::and(flt.clone(), attains),
                            None => attains,
                        };
                        let ties = f::sum(vars.clone(), Some(chosen.clone()), f::constant(1.0));
                        a.only_where(chosen, f::div(a.value.clone(), ties))
                    }
                };
                self.contribute(body, c);
            }
        }
    }
}
