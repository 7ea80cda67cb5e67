//! Reductions: a loop nest over the reduction's box, its region emitted inside, the value folded
//! into an accumulator in visiting order. Where a filter excludes the point, only what the
//! filter reads runs: the rest of the region (in a pair sum, everything past the cut-off test)
//! is branched over. [`super::fused`] builds on the same pieces to run one loop for several
//! points.

use std::collections::HashSet;

use cranelift_codegen::ir::{Block, InstBuilder, Value, types};
use cranelift_frontend::Variable;

use crate::builtins::ReduceOp;
use crate::ir::{Kernel, Node, NodeId, Reduction, Region, VarId};

use super::translate::{LoopBlocks, Translator};

/// A reduction's running value and, for a mean, how many points it folded.
#[derive(Clone, Copy)]
pub(super) struct Accumulator {
    op: ReduceOp,
    value: Variable,
    count: Variable,
}

impl<'a> Translator<'a> {
    /// The value of `r` at the current point.
    pub(super) fn reduce(&mut self, r: &'a Reduction) -> Value {
        let acc = self.accumulator(r.op);
        let open = self.open_reduction(r, &mut |t, var| {
            let loads: Vec<NodeId> = r.region.items.clone();
            t.plan_loads(&loads, var);
        });
        let skip = self.filter_branch(r);
        self.region(&r.region, &|_| true);
        let value = self.values[r.value.index()].expect("the value is computed");
        self.fold(acc, value);
        self.close_reduction(skip, open);
        self.total(acc)
    }

    /// A fresh accumulator for `op`.
    pub(super) fn accumulator(&mut self, op: ReduceOp) -> Accumulator {
        let initial = match op {
            ReduceOp::Sum | ReduceOp::Mean => 0.0,
            ReduceOp::Max => f64::NEG_INFINITY,
            ReduceOp::Min => f64::INFINITY,
        };
        let (value, count) = (self.b.declare_var(types::F64), self.b.declare_var(types::I64));
        let (start, zero) = (self.b.ins().f64const(initial), self.b.ins().iconst(types::I64, 0));
        self.b.def_var(value, start);
        self.b.def_var(count, zero);
        Accumulator { op, value, count }
    }

    /// Opens the loops over `r`'s box; `plan` runs before the innermost one opens (what the
    /// region's loads do not vary along it is computed once per row). The current block becomes
    /// the loop body, with `r`'s region items not yet computed.
    pub(super) fn open_reduction(
        &mut self,
        r: &'a Reduction,
        plan: &mut dyn FnMut(&mut Self, VarId),
    ) -> Vec<(Variable, LoopBlocks)> {
        let mut open = Vec::with_capacity(r.vars.len());
        for (k, &var) in r.vars.iter().enumerate() {
            let extent = self.kernel.vars[var.index()] as i64;
            self.ranges[var.index()] = (0, extent - 1);
            if k + 1 == r.vars.len() {
                plan(self, var);
            }
            let counter = self.counter(var);
            let (from, to) = (self.b.ins().iconst(types::I64, 0), self.b.ins().iconst(types::I64, extent));
            open.push((counter, self.begin_loop(counter, from, to, 1)));
        }
        for &item in &r.region.items {
            self.values[item.index()] = None;
        }
        open
    }

    /// With a filter: computes what it reads, then branches to a new block for the rest of the
    /// point and returns the block after it.
    pub(super) fn filter_branch(&mut self, r: &'a Reduction) -> Option<Block> {
        let filter = r.filter?;
        let needed = region_operands(self.kernel, &r.region, filter);
        self.region(&r.region, &|id| needed.contains(&id));
        let (taken, skip) = (self.b.create_block(), self.b.create_block());
        let keep = self.values[filter.index()].expect("the filter is computed");
        self.b.ins().brif(keep, taken, &[], skip, &[]);
        self.b.switch_to_block(taken);
        self.b.seal_block(taken);
        Some(skip)
    }

    /// Folds `value` into `acc`.
    pub(super) fn fold(&mut self, acc: Accumulator, value: Value) {
        let current = self.b.use_var(acc.value);
        let folded = match acc.op {
            ReduceOp::Sum | ReduceOp::Mean => self.b.ins().fadd(current, value),
            ReduceOp::Max => self.b.ins().fmax(current, value),
            ReduceOp::Min => self.b.ins().fmin(current, value),
        };
        self.b.def_var(acc.value, folded);
        if acc.op == ReduceOp::Mean {
            let n = self.b.use_var(acc.count);
            let n_plus = self.b.ins().iadd_imm_s(n, 1);
            self.b.def_var(acc.count, n_plus);
        }
    }

    /// Joins the filter's branch and closes the loops.
    pub(super) fn close_reduction(&mut self, skip: Option<Block>, open: Vec<(Variable, LoopBlocks)>) {
        if let Some(skip) = skip {
            self.b.ins().jump(skip, &[]);
            self.b.switch_to_block(skip);
            self.b.seal_block(skip);
        }
        for (counter, blocks) in open.into_iter().rev() {
            self.end_loop(counter, 1, blocks);
        }
    }

    /// The reduction's result once its loops are closed.
    pub(super) fn total(&mut self, acc: Accumulator) -> Value {
        let total = self.b.use_var(acc.value);
        if acc.op == ReduceOp::Mean {
            let n = self.b.use_var(acc.count);
            let n = self.b.ins().fcvt_from_sint(types::F64, n);
            self.b.ins().fdiv(total, n)
        } else {
            total
        }
    }
}

/// The items of `region` that `root` is computed from (itself included, when it is one).
pub(super) fn region_operands(kernel: &Kernel, region: &Region, root: NodeId) -> HashSet<NodeId> {
    let items: HashSet<NodeId> = region.items.iter().copied().collect();
    let mut needed = HashSet::new();
    let mut pending = vec![root];
    while let Some(id) = pending.pop() {
        if items.contains(&id) && needed.insert(id) {
            uses(kernel, id, &mut pending);
        }
    }
    needed
}

/// Appends the nodes `id` uses: its operands, or for a reduction every node its region uses.
fn uses(kernel: &Kernel, id: NodeId, out: &mut Vec<NodeId>) {
    match kernel.node(id) {
        Node::Reduce(r) => {
            for &item in &r.region.items {
                uses(kernel, item, out);
            }
        }
        node => out.extend(node.operands()),
    }
}
