//! Comparisons with an exponential, decided without it: `u < exp(z)` (a Metropolis test,
//! `u < exp(-beta dH)`) is true where `u` lies below [`crate::math::exp_bounds`]'s lower bound
//! and false from its upper one on; only between them, under one test in a hundred for a
//! uniform `u`, is `exp` computed. The answer is the comparison's, bit for bit: what is saved
//! is the exponential, most of an Ising sweep's arithmetic.
//!
//! Applies to an `exp` whose only use is such a comparison in the same region (so nothing
//! else needs its value, and it is computed where the comparison is).

use std::collections::HashMap;

use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{BlockArg, InstBuilder, Value, types};

use crate::ir::{Kernel, Node, NodeId, Region};
use crate::ops::{Compare, Unary};

use super::math::Emit;
use super::translate::Translator;

/// The `exp` nodes of `kernel` that only `u < exp(z)` of their own region reads, with that
/// comparison.
pub(super) fn deferred_exponentials(kernel: &Kernel) -> HashMap<NodeId, NodeId> {
    let mut uses: HashMap<NodeId, usize> = HashMap::new();
    for node in &kernel.nodes {
        for operand in node.operands() {
            *uses.entry(operand).or_default() += 1;
        }
    }
    for output in &kernel.outputs {
        *uses.entry(output.value).or_default() += 1;
    }
    let mut deferred = HashMap::new();
    let mut regions: Vec<&Region> = vec![&kernel.prelude, &kernel.body];
    while let Some(region) = regions.pop() {
        for &id in &region.items {
            match kernel.node(id) {
                Node::Reduce(r) => regions.push(&r.region),
                Node::Compare(Compare::Lt, _, e)
                    if uses.get(e) == Some(&1)
                        && matches!(kernel.node(*e), Node::Unary(Unary::Exp, _))
                        && region.items.contains(e) =>
                {
                    deferred.insert(*e, id);
                }
                _ => {}
            }
        }
    }
    deferred
}

impl Translator<'_> {
    /// `a < exp(z)` on one point (`ty` F64) or on lanes (F64X2), with `exp` computed only when
    /// the bounds leave the answer open for some lane.
    pub fn less_than_exp(&mut self, a: Value, z: Value, ty: types::Type) -> Value {
        let (lo, hi, hold) = crate::math::exp_bounds(&mut Emit { t: self, ty }, z);
        let below = self.b.ins().fcmp(FloatCC::LessThan, a, lo);
        let above = self.b.ins().fcmp(FloatCC::GreaterThanOrEqual, a, hi);
        let outside = self.b.ins().bor(below, above);
        let decided = self.b.ins().band(outside, hold);
        let every_lane = if ty == types::F64 { decided } else { self.b.ins().vall_true(decided) };
        let (exact, join) = (self.b.create_block(), self.b.create_block());
        let answer = self.b.append_block_param(join, self.b.func.dfg.value_type(below));
        self.b.ins().brif(every_lane, join, &[BlockArg::Value(below)], exact, &[]);
        self.b.switch_to_block(exact);
        self.b.seal_block(exact);
        let e = self.unary(Unary::Exp, z, ty);
        let less = self.b.ins().fcmp(FloatCC::LessThan, a, e);
        self.b.ins().jump(join, &[BlockArg::Value(less)]);
        self.b.switch_to_block(join);
        self.b.seal_block(join);
        answer
    }
}
