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

use super::MathOp;
use super::interleave::Interleaved;
use super::math::Domain;
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
    /// `a[k] < exp(z[k])` for each of several points (`ty` F64) or vectors (F64X2), their
    /// bounds interleaved (see `interleave`), with the exponentials computed only when the
    /// bounds leave some answer open.
    pub fn less_than_exp(&mut self, a: &[Value], z: &[Value], ty: types::Type) -> Vec<Value> {
        let mut all = Interleaved::new(self, ty, z.len());
        let exponents = all.put(z);
        let (lo, hi, hold) = crate::math::exp_bounds(&mut all, exponents);
        let (lo, hi, hold) = (all.get(lo), all.get(hi), all.get(hold));
        let mut below = Vec::with_capacity(a.len());
        let mut all_decided: Option<Value> = None;
        for k in 0..a.len() {
            below.push(self.b.ins().fcmp(FloatCC::LessThan, a[k], lo[k]));
            let above = self.b.ins().fcmp(FloatCC::GreaterThanOrEqual, a[k], hi[k]);
            let outside = self.b.ins().bor(below[k], above);
            let decided = self.b.ins().band(outside, hold[k]);
            all_decided = Some(match all_decided {
                Some(all) => self.b.ins().band(all, decided),
                None => decided,
            });
        }
        // Lanes' masks are combined first and tested once: one `and` a vector, not a test each.
        let all_decided = all_decided.expect("at least one comparison");
        let every_answer = if ty == types::F64 { all_decided } else { self.b.ins().vall_true(all_decided) };
        let (exact, join) = (self.b.create_block(), self.b.create_block());
        let answers: Vec<Value> =
            below.iter().map(|&b| self.b.append_block_param(join, self.b.func.dfg.value_type(b))).collect();
        let below: Vec<BlockArg> = below.into_iter().map(BlockArg::Value).collect();
        self.b.ins().brif(every_answer, join, &below, exact, &[]);
        self.b.switch_to_block(exact);
        self.b.seal_block(exact);
        let arguments: Vec<Vec<Value>> = z.iter().map(|&z| vec![z]).collect();
        let e = self.library_on_all(MathOp::Unary(Unary::Exp), Domain::Any, &arguments, ty);
        let less: Vec<BlockArg> =
            a.iter().zip(&e).map(|(&a, &e)| BlockArg::Value(self.b.ins().fcmp(FloatCC::LessThan, a, e))).collect();
        self.b.ins().jump(join, &less);
        self.b.switch_to_block(join);
        self.b.seal_block(join);
        answers
    }
}
