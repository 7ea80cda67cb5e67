//! The reverse sweep inside one kernel: from the adjoints of its outputs at a point to the
//! adjoint of every load it makes there.
//!
//! Formulas are visited from the outputs down, each node once, after every node that uses it.
//! A contribution that depends on reduction variables the receiving node does not depend on is
//! summed over them (the node was used at every point of that reduction). Domain variables are
//! never summed here: a load's adjoint is per domain point, and gathering it into the loaded
//! buffer sums over points later.
//!
//! Choices at kinks and ties: `abs` has derivative `sign(x)` (0 at 0); `floor`, `ceil`, `round`
//! and `sign` have derivative 0; `min(a, b)` and `max(a, b)` send the adjoint to `a` on ties;
//! `max`/`min` reductions share it equally between all points that attain the extremum;
//! comparisons and conditions carry no derivative; `sqrt` and `log` at 0 give infinities, as
//! their derivatives do.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use crate::builtins::ReduceOp;
use crate::ops::{Binary, Compare, Unary};

use super::formula::{self as f, F, FNode, FreeVars};
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

fn unary_partial(op: Unary, x: &F, p: &F, a: F) -> F {
    let x = x.clone();
    let call = |op: Unary, v: F| f::unary(op, v);
    let one = || f::constant(1.0);
    match op {
        Unary::Neg => f::neg(a),
        Unary::Exp => f::mul(a, p.clone()),
        Unary::Log => f::div(a, x),
        Unary::Sqrt => f::div(a, f::mul(f::constant(2.0), p.clone())),
        Unary::Sin => f::mul(a, call(Unary::Cos, x)),
        Unary::Cos => f::neg(f::mul(a, call(Unary::Sin, x))),
        Unary::Tan => f::mul(a, f::add(one(), f::mul(p.clone(), p.clone()))),
        Unary::Tanh => f::mul(a, f::sub(one(), f::mul(p.clone(), p.clone()))),
        Unary::Sinh => f::mul(a, call(Unary::Cosh, x)),
        Unary::Cosh => f::mul(a, call(Unary::Sinh, x)),
        Unary::Asin => f::div(a, call(Unary::Sqrt, f::sub(one(), f::mul(x.clone(), x)))),
        Unary::Acos => f::neg(f::div(a, call(Unary::Sqrt, f::sub(one(), f::mul(x.clone(), x))))),
        Unary::Atan => f::div(a, f::add(one(), f::mul(x.clone(), x))),
        Unary::Abs => f::mul(a, call(Unary::Sign, x)),
        Unary::Floor | Unary::Ceil | Unary::Round | Unary::Sign => f::zero(),
        Unary::Powi(0) => f::zero(),
        Unary::Powi(1) => a,
        Unary::Powi(n) => f::mul(a, f::mul(f::constant(f64::from(n)), call(Unary::Powi(n - 1), x))),
    }
}

fn binary_partials(op: Binary, x: &F, y: &F, p: &F, a: F) -> (F, F) {
    let (x, y) = (x.clone(), y.clone());
    match op {
        Binary::Add => (a.clone(), a),
        Binary::Sub => (a.clone(), f::neg(a)),
        Binary::Mul => (f::mul(a.clone(), y), f::mul(a, x)),
        Binary::Div => (f::div(a.clone(), y.clone()), f::neg(f::div(f::mul(a, p.clone()), y))),
        Binary::FloorDiv => (f::zero(), f::zero()),
        Binary::Mod => {
            let quotient = f::unary(Unary::Floor, f::div(x, y));
            (a.clone(), f::neg(f::mul(a, quotient)))
        }
        Binary::Pow => {
            let lowered = f::binary(Binary::Pow, x.clone(), f::sub(y.clone(), f::constant(1.0)));
            (f::mul(a.clone(), f::mul(y, lowered)), f::mul(a, f::mul(p.clone(), f::unary(Unary::Log, x))))
        }
        Binary::Min | Binary::Max => {
            let first = if op == Binary::Min { Compare::Le } else { Compare::Ge };
            let takes_x = f::compare(first, x, y);
            (f::select(takes_x.clone(), a.clone(), f::zero()), f::select(takes_x, f::zero(), a))
        }
        Binary::Atan2 => {
            let r2 = f::add(f::mul(x.clone(), x.clone()), f::mul(y.clone(), y.clone()));
            (f::div(f::mul(a.clone(), y), r2.clone()), f::neg(f::div(f::mul(a, x), r2)))
        }
    }
}
