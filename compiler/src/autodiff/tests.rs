//! Derivative rules checked on formulas evaluated at a point.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use super::formula::{F, FNode};
use super::reverse::load_adjoints;
use super::tangent::tangent;
use crate::ir::{BufferId, Load};

/// A load of the scalar in buffer `b`.
fn load(b: u32) -> F {
    Arc::new(FNode::Load(Load { buffer: BufferId(b), index: Vec::new(), axes: Vec::new(), fill: 0.0 }))
}

/// `f` where buffer `b` holds `values[b]` (the arithmetic the rules below produce).
fn eval(f: &F, values: &[f64]) -> f64 {
    match &**f {
        FNode::Const(c) => *c,
        FNode::Load(load) => values[load.buffer.0 as usize],
        FNode::Unary(op, a) => op.eval(eval(a, values)),
        FNode::Binary(op, a, b) => op.eval(eval(a, values), eval(b, values)),
        FNode::MulAdd(a, b, c) => eval(a, values).mul_add(eval(b, values), eval(c, values)),
        other => unreachable!("not made by these rules: {other:?}"),
    }
}

/// `x y + z` rounded once: forward and reverse mode give the partials `y`, `x` and 1 (the
/// math functions' polynomials are built of it, wherever they end up differentiated).
#[test]
fn a_fused_multiply_add_differentiates_like_its_product_and_sum() {
    let value = Arc::new(FNode::MulAdd(load(0), load(1), load(2)));
    let (x, y, z) = (1.5, -2.25, 0.75);
    let tangents = HashMap::from([
        (BufferId(0), vec![BufferId(3)]),
        (BufferId(1), vec![BufferId(4)]),
        (BufferId(2), vec![BufferId(5)]),
    ]);
    let (dx, dy, dz) = (0.5, 3.0, -7.0);
    let dot = tangent(&value, &tangents, 0, &mut HashMap::new());
    assert_eq!(eval(&dot, &[x, y, z, dx, dy, dz]), dx * y + x * dy + dz);

    let seed = 2.0;
    let adjoints = load_adjoints(&[(value, load(6))], &BTreeSet::new());
    let values = [x, y, z, 0.0, 0.0, 0.0, seed];
    let mut bars = [0.0; 3];
    for (load, adjoint) in &adjoints {
        let FNode::Load(l) = &**load else { unreachable!("adjoints are of loads") };
        bars[l.buffer.0 as usize] += eval(adjoint, &values);
    }
    assert_eq!(bars, [seed * y, seed * x, seed]);
}
