//! Formulas: a kernel's computation as expression trees, the form reverse mode works on.
//!
//! A kernel's SSA nodes, regions and all, become shared trees (`Arc`), a reduction holding its
//! filter and body. Constructors fold constants and drop structural zeros (`0 * x` is 0 even
//! where `x` would be NaN: an adjoint that is structurally zero stays zero).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::builtins::ReduceOp;
use crate::ir::{Kernel, Load, Node, NodeId, VarId};
use crate::ops::{Binary, Compare, Unary, WordOp};

/// A shared formula node; equal subtrees may be shared by pointer.
pub type F = Arc<FNode>;

/// One node of a formula tree, mirroring a kernel IR node.
#[derive(Debug, PartialEq)]
pub enum FNode {
    /// A number.
    Const(f64),
    /// The value of an index variable.
    Index(VarId),
    /// A read of a buffer at affine indices.
    Load(Load),
    /// A one-argument operation.
    Unary(Unary, F),
    /// A two-argument arithmetic operation.
    Binary(Binary, F, F),
    /// A comparison, yielding a condition.
    Compare(Compare, F, F),
    /// Logical and of two conditions.
    And(F, F),
    /// Logical or of two conditions.
    Or(F, F),
    /// Logical negation.
    Not(F),
    /// `c ? a : b`: the first operand chooses.
    Select(F, F, F),
    /// A nested reduction over index variables.
    Reduce {
        /// Which reduction (sum, max, ...).
        op: ReduceOp,
        /// The variables reduced over.
        vars: Vec<VarId>,
        /// The condition restricting which points count, if any.
        filter: Option<F>,
        /// The value reduced at each point.
        body: F,
    },
    /// Word arithmetic (random numbers): no derivatives flow through it.
    WordConst(u32),
    /// A number converted to a 32-bit word.
    ToWord(F),
    /// An operation on two words (for the counter-based RNG).
    Word(WordOp, F, F),
    /// A word converted back to a number.
    FromWord(F),
    /// A uniform number from two words ([`Node::Unit`]).
    Unit(F, F),
    /// `a b + c` rounded once ([`Node::MulAdd`]).
    MulAdd(F, F, F),
}

/// Every node of `kernel` as a formula, by node id.
pub fn of_kernel(kernel: &Kernel) -> Vec<Option<F>> {
    let mut formulas: Vec<Option<F>> = vec![None; kernel.nodes.len()];
    let regions = std::iter::once(&kernel.prelude).chain([&kernel.body]);
    for region in regions {
        convert_region(kernel, region, &mut formulas);
    }
    formulas
}

fn convert_region(kernel: &Kernel, region: &crate::ir::Region, formulas: &mut [Option<F>]) {
    for &id in &region.items {
        let get = |formulas: &[Option<F>], o: NodeId| formulas[o.index()].clone().expect("operands come first");
        let formula = match kernel.node(id) {
            Node::Const(c) => constant(*c),
            Node::Index(v) => Arc::new(FNode::Index(*v)),
            Node::Load(load) => Arc::new(FNode::Load(load.clone())),
            Node::Unary(op, a) => Arc::new(FNode::Unary(*op, get(formulas, *a))),
            Node::Binary(op, a, b) => Arc::new(FNode::Binary(*op, get(formulas, *a), get(formulas, *b))),
            Node::Compare(op, a, b) => Arc::new(FNode::Compare(*op, get(formulas, *a), get(formulas, *b))),
            Node::And(a, b) => Arc::new(FNode::And(get(formulas, *a), get(formulas, *b))),
            Node::Or(a, b) => Arc::new(FNode::Or(get(formulas, *a), get(formulas, *b))),
            Node::Not(a) => Arc::new(FNode::Not(get(formulas, *a))),
            Node::Select(c, a, b) => Arc::new(FNode::Select(get(formulas, *c), get(formulas, *a), get(formulas, *b))),
            Node::WordConst(w) => Arc::new(FNode::WordConst(*w)),
            Node::ToWord(a) => Arc::new(FNode::ToWord(get(formulas, *a))),
            Node::Word(op, a, b) => Arc::new(FNode::Word(*op, get(formulas, *a), get(formulas, *b))),
            Node::FromWord(a) => Arc::new(FNode::FromWord(get(formulas, *a))),
            Node::Unit(hi, lo) => Arc::new(FNode::Unit(get(formulas, *hi), get(formulas, *lo))),
            Node::MulAdd(a, b, c) => Arc::new(FNode::MulAdd(get(formulas, *a), get(formulas, *b), get(formulas, *c))),
            Node::Reduce(r) => {
                convert_region(kernel, &r.region, formulas);
                Arc::new(FNode::Reduce {
                    op: r.op,
                    vars: r.vars.clone(),
                    filter: r.filter.map(|f| get(formulas, f)),
                    body: get(formulas, r.value),
                })
            }
        };
        formulas[id.index()] = Some(formula);
    }
}

/// A constant formula.
pub fn constant(c: f64) -> F {
    Arc::new(FNode::Const(c))
}

/// The value of a constant formula, `None` otherwise.
pub fn value_of(f: &F) -> Option<f64> {
    match **f {
        FNode::Const(c) => Some(c),
        _ => None,
    }
}

/// Whether `f` is the constant 0 (a structural zero).
pub fn is_zero(f: &F) -> bool {
    value_of(f) == Some(0.0)
}

/// The constant 0.
pub fn zero() -> F {
    constant(0.0)
}

/// `op(a)`, folded when `a` is constant; `--x` becomes `x`.
pub fn unary(op: Unary, a: F) -> F {
    if let Some(x) = value_of(&a) {
        return constant(op.eval(x));
    }
    if let (Unary::Neg, FNode::Unary(Unary::Neg, inner)) = (op, &*a) {
        return inner.clone();
    }
    if op == Unary::Powi(1) {
        return a;
    }
    Arc::new(FNode::Unary(op, a))
}

/// `-a`, keeping a zero zero.
pub fn neg(a: F) -> F {
    if is_zero(&a) { a } else { unary(Unary::Neg, a) }
}

/// `a + b`, dropping zero terms.
pub fn add(a: F, b: F) -> F {
    if is_zero(&a) {
        return b;
    }
    if is_zero(&b) {
        return a;
    }
    binary(Binary::Add, a, b)
}

/// `a - b`, dropping zero terms.
pub fn sub(a: F, b: F) -> F {
    if is_zero(&b) {
        return a;
    }
    if is_zero(&a) {
        return neg(b);
    }
    binary(Binary::Sub, a, b)
}

/// `a * b`: zero if either is zero, units dropped, invariant factors grouped.
pub fn mul(a: F, b: F) -> F {
    if is_zero(&a) || is_zero(&b) {
        return zero();
    }
    match (value_of(&a), value_of(&b)) {
        (Some(1.0), _) => b,
        (_, Some(1.0)) => a,
        (Some(-1.0), _) => neg(b),
        (_, Some(-1.0)) => neg(a),
        _ => {
            // `(x * c) * k` with `c` and `k` the same at every point: `x * (c * k)`, so the
            // product of the invariants is computed once per kernel, not at every point.
            if let FNode::Binary(Binary::Mul, x, c) = &*a {
                if invariant(c, 4) && invariant(&b, 4) {
                    return mul(x.clone(), mul(c.clone(), b));
                }
            }
            binary(Binary::Mul, a, b)
        }
    }
}

/// Whether `f` is the same at every point (no index, no indexed read), looking `depth` deep.
fn invariant(f: &F, depth: usize) -> bool {
    if depth == 0 {
        return false;
    }
    match &**f {
        FNode::Const(_) => true,
        FNode::Index(_) | FNode::Reduce { .. } => false,
        FNode::Load(load) => load.index.iter().all(|a| a.terms.is_empty()),
        other => children(other).iter().all(|c| invariant(c, depth - 1)),
    }
}

/// `a / b`: zero if `a` is zero, division by 1 dropped.
pub fn div(a: F, b: F) -> F {
    if is_zero(&a) {
        return zero();
    }
    if value_of(&b) == Some(1.0) {
        return a;
    }
    binary(Binary::Div, a, b)
}

/// `a op b`, folded when both are constants.
pub fn binary(op: Binary, a: F, b: F) -> F {
    match (value_of(&a), value_of(&b)) {
        (Some(x), Some(y)) => constant(op.eval(x, y)),
        _ => Arc::new(FNode::Binary(op, a, b)),
    }
}

/// `a op b` for a comparison.
pub fn compare(op: Compare, a: F, b: F) -> F {
    Arc::new(FNode::Compare(op, a, b))
}

/// `a and b`.
pub fn and(a: F, b: F) -> F {
    Arc::new(FNode::And(a, b))
}

/// `a or b`.
pub fn or(a: F, b: F) -> F {
    Arc::new(FNode::Or(a, b))
}

/// `not a`.
pub fn not(a: F) -> F {
    Arc::new(FNode::Not(a))
}

/// `c ? a : b`, collapsed when both branches are the same.
pub fn select(c: F, a: F, b: F) -> F {
    if Arc::ptr_eq(&a, &b) || (is_zero(&a) && is_zero(&b)) {
        return a;
    }
    Arc::new(FNode::Select(c, a, b))
}

/// A sum over `vars` (of zero, zero).
pub fn sum(vars: Vec<VarId>, filter: Option<F>, body: F) -> F {
    if is_zero(&body) {
        return zero();
    }
    if vars.is_empty() {
        return match filter {
            Some(f) => select(f, body, zero()),
            None => body,
        };
    }
    Arc::new(FNode::Reduce { op: ReduceOp::Sum, vars, filter, body })
}

/// The variables a formula depends on (reduction variables of its own reductions excluded).
#[derive(Default)]
pub struct FreeVars {
    memo: HashMap<usize, Arc<BTreeSet<VarId>>>,
}

impl FreeVars {
    /// The free variables of `f`, memoised per node.
    pub fn of(&mut self, f: &F) -> Arc<BTreeSet<VarId>> {
        let key = Arc::as_ptr(f) as usize;
        if let Some(set) = self.memo.get(&key) {
            return set.clone();
        }
        let mut set = BTreeSet::new();
        match &**f {
            FNode::Const(_) => {}
            FNode::Index(v) => {
                set.insert(*v);
            }
            FNode::Load(load) => set.extend(load.index.iter().flat_map(|a| a.terms.iter().map(|(v, _)| *v))),
            FNode::Reduce { vars, filter, body, .. } => {
                set.extend(self.of(body).iter().copied());
                if let Some(filter) = filter {
                    set.extend(self.of(filter).iter().copied());
                }
                for v in vars {
                    set.remove(v);
                }
            }
            other => {
                for child in children(other) {
                    set.extend(self.of(child).iter().copied());
                }
            }
        }
        let set = Arc::new(set);
        self.memo.insert(key, set.clone());
        set
    }
}

/// `f` with every subformula that is (by pointer) a key of `by` replaced by its value; a node
/// none of whose children changed stays the same node, so sharing survives.
pub fn replace_shared(f: &F, by: &HashMap<usize, F>, memo: &mut HashMap<usize, F>) -> F {
    let key = Arc::as_ptr(f) as usize;
    if let Some(found) = by.get(&key).or_else(|| memo.get(&key)) {
        return found.clone();
    }
    let mut changed = false;
    let mut new = |child: &F| {
        let replaced = replace_shared(child, by, memo);
        changed |= !Arc::ptr_eq(&replaced, child);
        replaced
    };
    let rebuilt = match &**f {
        FNode::Const(_) | FNode::Index(_) | FNode::Load(_) | FNode::WordConst(_) => None,
        FNode::Unary(op, a) => Some(FNode::Unary(*op, new(a))),
        FNode::Not(a) => Some(FNode::Not(new(a))),
        FNode::ToWord(a) => Some(FNode::ToWord(new(a))),
        FNode::FromWord(a) => Some(FNode::FromWord(new(a))),
        FNode::Binary(op, a, b) => Some(FNode::Binary(*op, new(a), new(b))),
        FNode::Compare(op, a, b) => Some(FNode::Compare(*op, new(a), new(b))),
        FNode::And(a, b) => Some(FNode::And(new(a), new(b))),
        FNode::Or(a, b) => Some(FNode::Or(new(a), new(b))),
        FNode::Word(op, a, b) => Some(FNode::Word(*op, new(a), new(b))),
        FNode::Unit(a, b) => Some(FNode::Unit(new(a), new(b))),
        FNode::Select(c, a, b) => Some(FNode::Select(new(c), new(a), new(b))),
        FNode::MulAdd(a, b, c) => Some(FNode::MulAdd(new(a), new(b), new(c))),
        FNode::Reduce { op, vars, filter, body } => {
            Some(FNode::Reduce { op: *op, vars: vars.clone(), filter: filter.as_ref().map(&mut new), body: new(body) })
        }
    };
    let result = match rebuilt {
        Some(node) if changed => Arc::new(node),
        _ => f.clone(),
    };
    memo.insert(key, result.clone());
    result
}

/// Direct subformulas (a reduction's filter and body included).
pub fn children(f: &FNode) -> Vec<&F> {
    match f {
        FNode::Const(_) | FNode::Index(_) | FNode::Load(_) | FNode::WordConst(_) => Vec::new(),
        FNode::Unary(_, a) | FNode::Not(a) | FNode::ToWord(a) | FNode::FromWord(a) => vec![a],
        FNode::Binary(_, a, b)
        | FNode::Compare(_, a, b)
        | FNode::And(a, b)
        | FNode::Or(a, b)
        | FNode::Word(_, a, b)
        | FNode::Unit(a, b) => vec![a, b],
        FNode::Select(c, a, b) | FNode::MulAdd(c, a, b) => vec![c, a, b],
        FNode::Reduce { filter, body, .. } => filter.iter().chain([body]).collect(),
    }
}

impl super::rules::Terms for F {
    fn constant(c: f64) -> F {
        constant(c)
    }
    fn unary(op: Unary, x: F) -> F {
        unary(op, x)
    }
    fn binary(op: Binary, x: F, y: F) -> F {
        binary(op, x, y)
    }
    fn compare(op: Compare, x: F, y: F) -> F {
        compare(op, x, y)
    }
    fn select(c: F, x: F, y: F) -> F {
        select(c, x, y)
    }
    fn neg(x: F) -> F {
        neg(x)
    }
    fn add(x: F, y: F) -> F {
        add(x, y)
    }
    fn sub(x: F, y: F) -> F {
        sub(x, y)
    }
    fn mul(x: F, y: F) -> F {
        mul(x, y)
    }
    fn div(x: F, y: F) -> F {
        div(x, y)
    }
}
