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

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use crate::builtins::ReduceOp;
use crate::ops::Compare;

use super::formula::{self as f, F, FNode, FreeVars};
use super::rules::{binary_partials, unary_partial};
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
        sweep.contribute(root, seed.clone());
    }
    let mut loads = Vec::new();
    for node in order.iter().rev() {
        let Some(adjoint) = sweep.adjoints.get(&key(node)).cloned() else { continue };
        if f::is_zero(&adjoint) {
            continue;
        }
        if let FNode::Load(_) = **node {
            loads.push((node.clone(), adjoint));
        } else {
            sweep.propagate(node, &adjoint);
        }
    }
    loads
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
    adjoints: HashMap<usize, F>,
    free: FreeVars,
    reduction_vars: &'v BTreeSet<VarId>,
    /// Every formula made during the sweep stays alive, so no address is reused while the
    /// maps above are keyed by addresses.
    keep: Vec<F>,
}

impl Sweep<'_> {
    /// Adds `c` to the adjoint of `target`, summed over the reduction variables only `c` has.
    fn contribute(&mut self, target: &F, c: F) {
        if f::is_zero(&c) {
            return;
        }
        let mine = self.free.of(target);
        let extra: Vec<VarId> =
            self.free.of(&c).iter().filter(|v| !mine.contains(v) && self.reduction_vars.contains(v)).copied().collect();
        let c = f::sum(extra, None, c);
        self.keep.push(c.clone());
        let total = match self.adjoints.remove(&key(target)) {
            Some(previous) => f::add(previous, c),
            None => c,
        };
        self.keep.push(total.clone());
        self.adjoints.insert(key(target), total);
    }

    fn propagate(&mut self, node: &F, a: &F) {
        let a = a.clone();
        match &**node {
            FNode::Const(_) | FNode::Index(_) | FNode::Load(_) => {}
            FNode::Compare(..) | FNode::And(..) | FNode::Or(..) | FNode::Not(_) => {}
            // Random draws are constants of the computation (the adjoint replays them).
            FNode::WordConst(_) | FNode::ToWord(_) | FNode::Word(..) | FNode::FromWord(_) => {}
            FNode::Unary(op, x) => {
                let c = unary_partial(*op, x, node, a);
                self.contribute(x, c);
            }
            FNode::Binary(op, x, y) => {
                let (cx, cy) = binary_partials(*op, x, y, node, a);
                self.contribute(x, cx);
                self.contribute(y, cy);
            }
            FNode::Select(c, x, y) => {
                self.contribute(x, f::select(c.clone(), a.clone(), f::zero()));
                self.contribute(y, f::select(c.clone(), f::zero(), a));
            }
            FNode::Reduce { op, vars, filter, body } => {
                let masked = |a: F| match filter {
                    Some(flt) => f::select(flt.clone(), a, f::zero()),
                    None => a,
                };
                let c = match op {
                    ReduceOp::Sum => masked(a),
                    ReduceOp::Mean => {
                        let count = f::sum(vars.clone(), filter.clone(), f::constant(1.0));
                        masked(f::div(a, count))
                    }
                    ReduceOp::Max | ReduceOp::Min => {
                        let attains = f::compare(Compare::Eq, body.clone(), node.clone());
                        let chosen = match filter {
                            Some(flt) => f::and(flt.clone(), attains),
                            None => attains,
                        };
                        let ties = f::sum(vars.clone(), Some(chosen.clone()), f::constant(1.0));
                        f::select(chosen, f::div(a, ties), f::zero())
                    }
                };
                self.contribute(body, c);
            }
        }
    }
}
