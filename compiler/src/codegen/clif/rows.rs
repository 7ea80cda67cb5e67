//! Two rows on lanes: kernels whose points are dominated by reductions (pair sums) run two
//! neighbouring rows at once on `f64x2` lanes, each lane folding its own accumulator in the
//! reduction's visiting order, so the results are the bits the scalar loop gives.
//!
//! The lanes run along the *row axis*: the innermost domain axis, or where the innermost axis is
//! short and fused (see [`super::fused`]) the one outside it, whose points are then evaluated
//! together per row as in the scalar code. In a pair force `F[p, k] = sum(q | cut-off) ...` the
//! lanes are particles `p` and `p + 1` and the loop over `q` serves both: `x[q, k]` is loaded
//! once for the two, the separations and the cut-off test are one vector operation each.
//!
//! A filter becomes a mask: the rest of the point is skipped only when it excludes both lanes,
//! and each lane folds where its own mask is set (`acc = mask ? acc + v : acc`, so an excluded
//! point, even a singular one, changes nothing, as when the scalar loop branches over it).
//! Reductions over boxes of one shape that do not read each other share one loop, each with
//! its own accumulators, in its own order: a pair force's two sums (`p`'s role and `q`'s) load
//! `x[q, k]` once and branch once (past a point only when every filter excludes both lanes).
//! What no row changes (a mean over every particle) is computed once before the rows, in both
//! lanes. Innermost reductions over at most [`UNROLLED`] points (the components of a
//! separation) are unrolled.
//!
//! Used for kernels with a reduction in their rows, no scatter, no in-place update, no random
//! words, and loads that need no boundary rule; rows past the last pair run through the
//! scalar code.

use std::collections::{HashMap, HashSet};

use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value, types};
use cranelift_frontend::Variable;

use crate::builtins::ReduceOp;
use crate::ir::{Access, Load, Node, NodeId, Partition, Reduction, Store, VarId, Visit};

use super::reduce::region_operands;
use super::translate::Translator;

const LANES: types::Type = types::F64X2;

/// Innermost reductions over at most this many points are unrolled on lanes.
const UNROLLED: usize = 4;

/// The row axis and how the rows' points are evaluated.
#[derive(Clone, Copy)]
pub(super) struct RowLanes {
    /// The axis whose indices `i` and `i + 1` are the lanes.
    pub axis: VarId,
    /// The number of points of the innermost axis evaluated per row when it is fused (and
    /// not the row axis), else 1.
    points: usize,
}

/// What the lane code has computed: values by node and point of a fused row (`None` for what
/// the points share), row values in both lanes, and reduction indices that are unrolled.
struct Lanes {
    rows: RowLanes,
    values: HashMap<(NodeId, Option<usize>), Value>,
    splats: HashMap<NodeId, Value>,
    unrolled: HashMap<VarId, i64>,
}

/// A reduction being folded on lanes: at which points of the row, into which accumulators.
struct LaneFold<'a> {
    r: &'a Reduction,
    folding: Vec<Option<usize>>,
    accumulators: Vec<LaneAccumulator>,
}

/// A reduction's running values on lanes, one per point that folds it.
struct LaneAccumulator {
    op: ReduceOp,
    value: Variable,
    /// For a mean: how many points each lane folded.
    count: Option<Variable>,
}

impl<'a> Translator<'a> {
    /// The row axis when the kernel's rows may run on lanes (see the module docs).
    pub fn row_lanes(&self) -> Option<RowLanes> {
        let kernel = self.kernel;
        if !self.options.vectorize
            || kernel.rank == 0
            || kernel.visit != Visit::RowMajor
            || matches!(kernel.partition(self.program), Partition::ScatterRows(_))
            || kernel.has_scatter()
            || kernel.has_update()
            || !kernel.outputs.iter().all(|o| matches!(o.store, Store::Assign | Store::Add))
        {
            return None;
        }
        let written: HashSet<_> = kernel.outputs.iter().map(|o| o.buffer).collect();
        let supported = kernel.nodes.iter().all(|node| match node {
            Node::WordConst(_) | Node::ToWord(_) | Node::Word(..) | Node::FromWord(_) | Node::Unit(..) => false,
            Node::Load(load) => !written.contains(&load.buffer) && load.axes.iter().all(|a| *a == Access::Direct),
            _ => true,
        });
        let inner_reduction =
            kernel.body.items.iter().any(|id| self.inner[id.index()] && matches!(kernel.node(*id), Node::Reduce(_)));
        let fused = self.fusable();
        let rows = if fused {
            RowLanes { axis: VarId(kernel.rank as u32 - 2), points: kernel.vars[kernel.rank - 1] }
        } else {
            RowLanes { axis: VarId(kernel.rank as u32 - 1), points: 1 }
        };
        (supported && inner_reduction && kernel.vars[rows.axis.index()] >= 2).then_some(rows)
    }

    /// Rows `from, from + 1`, `from + 2, from + 3`, ... of the row axis on lanes while two
    /// remain before `to`; returns the first row not done.
    pub fn rows_on_lanes(&mut self, rows: RowLanes, from: Value, to: Value) -> Value {
        let mut lanes = Lanes { rows, values: HashMap::new(), splats: HashMap::new(), unrolled: HashMap::new() };
        let inner = self.inner.clone();
        let items: Vec<NodeId> = if rows.points > 1 {
            self.kernel.body.items.clone()
        } else {
            // What no row changes (a mean over all particles) is computed once, before the
            // rows, as the scalar loop does: the rows read it in both lanes.
            self.region(&self.kernel.body, &|id| !inner[id.index()]);
            self.kernel.body.items.iter().copied().filter(|id| inner[id.index()]).collect()
        };
        self.splat_row_values(&mut lanes, &items);
        let counter = self.counter(rows.axis);
        let blocks = self.begin_loop(counter, from, to, 2);
        let points = self.points(&lanes);
        self.lane_items(&mut lanes, &items, &points);
        self.store_rows(&lanes, &points);
        self.end_loop(counter, 2, blocks);
        self.b.use_var(counter)
    }

    /// Every value computed before the rows (the prelude's, and what no row changes) that the
    /// lanes' `items` or the outputs read, in both lanes, before the loop.
    fn splat_row_values(&mut self, lanes: &mut Lanes, items: &[NodeId]) {
        let mut computed = HashSet::new();
        let mut operands = Vec::new();
        collect(self.kernel, items, &mut computed, &mut operands);
        operands.extend(self.kernel.outputs.iter().map(|o| o.value));
        for id in operands {
            if computed.contains(&id) || lanes.splats.contains_key(&id) {
                continue;
            }
            let scalar = self.values[id.index()].expect("row values are computed first");
            let splat = if self.b.func.dfg.value_type(scalar) == types::F64 {
                self.b.ins().splat(LANES, scalar)
            } else {
                // A condition becomes a mask: all ones where true.
                let wide = self.b.ins().uextend(types::I64, scalar);
                let mask = self.b.ins().ineg(wide);
                self.b.ins().splat(types::I64X2, mask)
            };
            lanes.splats.insert(id, splat);
        }
    }

    /// The points of a row: each of the fused innermost axis, or the row itself.
    fn points(&self, lanes: &Lanes) -> Vec<Option<usize>> {
        if lanes.rows.points > 1 { (0..lanes.rows.points).map(Some).collect() } else { vec![None] }
    }

    /// Where `id` at point `point` is kept: per point when it depends on the fused axis.
    fn lane_key(&self, lanes: &Lanes, id: NodeId, point: Option<usize>) -> (NodeId, Option<usize>) {
        let per_point = lanes.rows.points > 1 && self.inner[id.index()];
        (id, if per_point { point } else { None })
    }

    fn lane_value(&self, lanes: &Lanes, id: NodeId, point: Option<usize>) -> Value {
        let key = self.lane_key(lanes, id, point);
        lanes.values.get(&key).or_else(|| lanes.splats.get(&id)).copied().expect("operands are emitted first")
    }

    /// Emits `items` not computed yet at every point of `points`; what no point changes, once.
    /// Looped reductions over boxes of one shape that do not read each other share one loop.
    fn lane_items(&mut self, lanes: &mut Lanes, items: &[NodeId], points: &[Option<usize>]) {
        for (at, &id) in items.iter().enumerate() {
            if let Node::Reduce(r) = self.kernel.node(id) {
                if !lanes.values.contains_key(&self.lane_key(lanes, id, points[0])) {
                    let mut group = vec![(id, r)];
                    for sibling in self.siblings(lanes, items, at, points) {
                        // What a sibling reads between the first and itself, first.
                        let needed: Vec<NodeId> = items[at..]
                            .iter()
                            .take_while(|&&item| item != sibling)
                            .copied()
                            .filter(|&item| reads(self.kernel, sibling, item))
                            .collect();
                        self.lane_items(lanes, &needed, points);
                        let Node::Reduce(r) = self.kernel.node(sibling) else {
                            unreachable!("siblings are reductions")
                        };
                        group.push((sibling, r));
                    }
                    self.lane_reduce(lanes, &group, points);
                }
                continue;
            }
            for &point in points {
                let key = self.lane_key(lanes, id, point);
                if !lanes.values.contains_key(&key) {
                    let value = self.row_lane_node(lanes, id, point);
                    lanes.values.insert(key, value);
                }
            }
        }
    }

    /// The reductions after `items[at]` that can share its loop: not computed yet, over a box
    /// of the same extents (one that is looped, not unrolled), folded at the same points, and
    /// reading neither it nor each other.
    fn siblings(&self, lanes: &Lanes, items: &[NodeId], at: usize, points: &[Option<usize>]) -> Vec<NodeId> {
        let kernel = self.kernel;
        let extents = |id: NodeId| match kernel.node(id) {
            Node::Reduce(r) => Some(r.vars.iter().map(|v| kernel.vars[v.index()]).collect::<Vec<_>>()),
            _ => None,
        };
        let shape = extents(items[at]);
        if self.unrolls(items[at]) {
            return Vec::new();
        }
        let mut group = vec![items[at]];
        for &id in &items[at + 1..] {
            if extents(id) == shape
                && self.inner[id.index()] == self.inner[items[at].index()]
                && !lanes.values.contains_key(&self.lane_key(lanes, id, points[0]))
                && !group.iter().any(|&member| reads(kernel, id, member) || reads(kernel, member, id))
            {
                group.push(id);
            }
        }
        group.split_off(1)
    }

    /// Whether the reduction `id` is unrolled: one short innermost axis, no reduction inside.
    fn unrolls(&self, id: NodeId) -> bool {
        let Node::Reduce(r) = self.kernel.node(id) else { return false };
        let innermost = !r.region.items.iter().any(|item| matches!(self.kernel.node(*item), Node::Reduce(_)));
        r.vars.len() == 1 && self.kernel.vars[r.vars[0].index()] <= UNROLLED && innermost
    }

    fn row_lane_node(&mut self, lanes: &Lanes, id: NodeId, point: Option<usize>) -> Value {
        match self.kernel.node(id) {
            Node::Const(c) => self.constant(*c, LANES),
            Node::Index(var) => self.lane_index(lanes, *var, point),
            Node::Load(load) => self.lane_load(lanes, load, point),
            Node::Reduce(_) => unreachable!("reductions are emitted by lane_reduce"),
            Node::WordConst(_) | Node::ToWord(_) | Node::Word(..) | Node::FromWord(_) | Node::Unit(..) => {
                unreachable!("kernels with random words do not run rows on lanes")
            }
            node => {
                let operands: Vec<Value> = node.operands().iter().map(|a| self.lane_value(lanes, *a, point)).collect();
                self.lane_operation(node, &operands)
            }
        }
    }

    /// The index `var` on lanes: the two rows, a fused point, an unrolled reduction's index,
    /// or an open loop's counter in both lanes.
    fn lane_index(&mut self, lanes: &Lanes, var: VarId, point: Option<usize>) -> Value {
        let fused_axis = VarId(self.kernel.rank as u32 - 1);
        if var == lanes.rows.axis {
            let i = self.b.use_var(self.counters[var.index()].expect("the row loop is open"));
            let first = self.b.ins().fcvt_from_sint(types::F64, i);
            let next = self.b.ins().iadd_imm_s(i, 1);
            let second = self.b.ins().fcvt_from_sint(types::F64, next);
            return self.f64_pair(first, second);
        }
        if let (Some(k), true) = (point, var == fused_axis) {
            return self.constant(k as f64, LANES);
        }
        if let Some(&k) = lanes.unrolled.get(&var) {
            return self.constant(k as f64, LANES);
        }
        let i = self.b.use_var(self.counters[var.index()].expect("an index is used inside its loop"));
        let i = self.b.ins().fcvt_from_sint(types::F64, i);
        self.b.ins().splat(LANES, i)
    }

    /// A load on lanes: one element in both lanes when the row axis does not move it, else
    /// the two rows' elements (neighbours in one load).
    fn lane_load(&mut self, lanes: &Lanes, load: &Load, point: Option<usize>) -> Value {
        let shape = &self.program.buffer(load.buffer).shape;
        let fused_axis = VarId(self.kernel.rank as u32 - 1);
        let mut address = self.bases[&load.buffer];
        let (mut offset, mut lane_step, mut stride) = (0i64, 0i64, 1i64);
        for (axis, affine) in load.index.iter().enumerate().rev() {
            offset += affine.offset * stride;
            for &(var, coeff) in &affine.terms {
                let step = coeff * stride;
                if let (Some(k), true) = (point, var == fused_axis && lanes.rows.points > 1) {
                    offset += step * k as i64;
                } else if let Some(&k) = lanes.unrolled.get(&var) {
                    offset += step * k;
                } else {
                    if var == lanes.rows.axis {
                        lane_step += step;
                    }
                    let i = self.b.use_var(self.counters[var.index()].expect("an index is used inside its loop"));
                    let bytes = self.b.ins().imul_imm_s(i, 8 * step);
                    address = self.b.ins().iadd(address, bytes);
                }
            }
            stride *= shape[axis] as i64;
        }
        let address = self.b.ins().iadd_imm_s(address, 8 * offset);
        let flags = MemFlagsData::new().with_notrap().with_readonly().with_can_move();
        match lane_step {
            0 => {
                let scalar = self.b.ins().load(types::F64, flags, address, 0);
                self.b.ins().splat(LANES, scalar)
            }
            1 => self.b.ins().load(LANES, flags, address, 0),
            _ => {
                let first = self.b.ins().load(types::F64, flags, address, 0);
                let next = self.b.ins().iadd_imm_s(address, 8 * lane_step);
                let second = self.b.ins().load(types::F64, flags, next, 0);
                self.f64_pair(first, second)
            }
        }
    }

    /// The reductions of `group` (nodes and what they fold, over boxes of one shape) on lanes:
    /// one loop for all of them and every point of `points` that folds them (see the module
    /// docs for filters).
    fn lane_reduce(&mut self, lanes: &mut Lanes, group: &[(NodeId, &'a Reduction)], points: &[Option<usize>]) {
        let folds: Vec<LaneFold<'a>> = group
            .iter()
            .map(|&(id, r)| {
                let folding: Vec<Option<usize>> =
                    if lanes.rows.points > 1 && self.inner[id.index()] { points.to_vec() } else { vec![None] };
                let accumulators = folding.iter().map(|_| self.lane_accumulator(r.op)).collect();
                LaneFold { r, folding, accumulators }
            })
            .collect();
        let mut region_items = HashSet::new();
        for fold in &folds {
            collect(self.kernel, &fold.r.region.items, &mut region_items, &mut Vec::new());
        }
        let first = folds[0].r;
        if self.unrolls(group[0].0) {
            let var = first.vars[0];
            for k in 0..self.kernel.vars[var.index()] as i64 {
                lanes.unrolled.insert(var, k);
                self.lane_visit(lanes, &folds, false);
                lanes.values.retain(|(item, _), _| !region_items.contains(item));
            }
            lanes.unrolled.remove(&var);
        } else {
            let mut open = Vec::with_capacity(first.vars.len());
            for (axis, &var) in first.vars.iter().enumerate() {
                let counter = self.counter(var);
                let extent = self.kernel.vars[var.index()] as i64;
                let (from, to) = (self.b.ins().iconst(types::I64, 0), self.b.ins().iconst(types::I64, extent));
                open.push((counter, self.begin_loop(counter, from, to, 1)));
                // The other reductions' indices follow this loop's.
                let index = self.b.use_var(counter);
                for fold in &folds[1..] {
                    let alias = self.counter(fold.r.vars[axis]);
                    self.b.def_var(alias, index);
                }
            }
            self.lane_visit(lanes, &folds, true);
            lanes.values.retain(|(item, _), _| !region_items.contains(item));
            for (counter, blocks) in open.into_iter().rev() {
                self.end_loop(counter, 1, blocks);
            }
        }
        for (&(id, _), fold) in group.iter().zip(&folds) {
            for (&point, acc) in fold.folding.iter().zip(&fold.accumulators) {
                let mut total = self.b.use_var(acc.value);
                if let Some(count) = acc.count {
                    let count = self.b.use_var(count);
                    total = self.b.ins().fdiv(total, count);
                }
                lanes.values.insert((id, point), total);
            }
        }
    }

    fn lane_accumulator(&mut self, op: ReduceOp) -> LaneAccumulator {
        let initial = match op {
            ReduceOp::Sum | ReduceOp::Mean => 0.0,
            ReduceOp::Max => f64::NEG_INFINITY,
            ReduceOp::Min => f64::INFINITY,
        };
        let value = self.b.declare_var(LANES);
        let start = self.constant(initial, LANES);
        self.b.def_var(value, start);
        let count = (op == ReduceOp::Mean).then(|| {
            let count = self.b.declare_var(LANES);
            let zero = self.constant(0.0, LANES);
            self.b.def_var(count, zero);
            count
        });
        LaneAccumulator { op, value, count }
    }

    /// One point of the reductions' box: their filters first, then (unless the filters
    /// exclude every lane, where `branch` allows skipping) the rest of their regions and each
    /// point's masked fold.
    fn lane_visit(&mut self, lanes: &mut Lanes, folds: &[LaneFold<'a>], branch: bool) {
        let masks: Vec<Option<Vec<Value>>> = folds
            .iter()
            .map(|fold| {
                fold.r.filter.map(|filter| {
                    let needed = region_operands(self.kernel, &fold.r.region, filter);
                    let first: Vec<NodeId> =
                        fold.r.region.items.iter().copied().filter(|id| needed.contains(id)).collect();
                    self.lane_items(lanes, &first, &fold.folding);
                    fold.folding.iter().map(|&point| self.lane_value(lanes, filter, point)).collect()
                })
            })
            .collect();
        // A reduction without a filter visits every point: then nothing is skipped.
        let skip = if branch && masks.iter().all(Option::is_some) {
            let mut all: Vec<Value> = masks.iter().flatten().flatten().copied().collect();
            all.dedup();
            let any = all[1..].iter().fold(all[0], |any, &mask| self.b.ins().bor(any, mask));
            let some_lane = self.b.ins().vany_true(any);
            let (taken, skip) = (self.b.create_block(), self.b.create_block());
            self.b.ins().brif(some_lane, taken, &[], skip, &[]);
            self.b.switch_to_block(taken);
            self.b.seal_block(taken);
            Some(skip)
        } else {
            None
        };
        for (fold, masks) in folds.iter().zip(&masks) {
            self.lane_items(lanes, &fold.r.region.items, &fold.folding);
            for (k, (&point, acc)) in fold.folding.iter().zip(&fold.accumulators).enumerate() {
                let value = self.lane_value(lanes, fold.r.value, point);
                let mask = masks.as_ref().map(|m| m[k]);
                self.lane_fold(acc, value, mask);
            }
        }
        if let Some(skip) = skip {
            self.b.ins().jump(skip, &[]);
            self.b.switch_to_block(skip);
            self.b.seal_block(skip);
        }
    }

    /// Folds `value` into the lanes of `acc` where `mask` is set (every lane without one).
    fn lane_fold(&mut self, acc: &LaneAccumulator, value: Value, mask: Option<Value>) {
        let current = self.b.use_var(acc.value);
        let folded = match acc.op {
            ReduceOp::Sum | ReduceOp::Mean => self.b.ins().fadd(current, value),
            ReduceOp::Max => self.b.ins().fmax(current, value),
            ReduceOp::Min => self.b.ins().fmin(current, value),
        };
        let folded = match mask {
            Some(mask) => self.lane_select(mask, folded, current),
            None => folded,
        };
        self.b.def_var(acc.value, folded);
        if let Some(count) = acc.count {
            let n = self.b.use_var(count);
            let one = self.one(LANES);
            let n_plus = self.b.ins().fadd(n, one);
            let n_plus = match mask {
                Some(mask) => self.lane_select(mask, n_plus, n),
                None => n_plus,
            };
            self.b.def_var(count, n_plus);
        }
    }

    /// Stores every output at both rows, at every point of the row.
    fn store_rows(&mut self, lanes: &Lanes, points: &[Option<usize>]) {
        let rank = self.kernel.rank;
        let row_axis = lanes.rows.axis.index();
        let mut row_stride = 1i64;
        let mut offset = self.b.ins().iconst(types::I64, 0);
        let mut stride = 1i64;
        for axis in (0..rank).rev() {
            if axis == row_axis {
                row_stride = stride;
            }
            if !(lanes.rows.points > 1 && axis == rank - 1) {
                let i = self.b.use_var(self.counters[axis].expect("the domain's loops are open"));
                let bytes = self.b.ins().imul_imm_s(i, 8 * stride);
                offset = self.b.ins().iadd(offset, bytes);
            }
            stride *= self.kernel.vars[axis] as i64;
        }
        let flags = MemFlagsData::trusted();
        for output in &self.kernel.outputs {
            let row = self.b.ins().iadd(self.bases[&output.buffer], offset);
            for &point in points {
                let value = self.lane_value(lanes, output.value, point);
                let at = 8 * point.unwrap_or(0) as i64;
                for lane in 0..2u8 {
                    let element = self.b.ins().extractlane(value, lane);
                    let bytes = i32::try_from(at + 8 * row_stride * i64::from(lane)).expect("rows are small");
                    match output.store {
                        Store::Assign => {
                            self.b.ins().store(flags, element, row, bytes);
                        }
                        Store::Add => self.add_at(row, bytes, element, types::F64),
                        Store::Update { .. } | Store::Scatter { .. } => unreachable!("only assignments and additions"),
                    }
                }
            }
        }
    }
}

/// Whether computing `id` reads `other`, directly or through what it reads.
fn reads(kernel: &crate::ir::Kernel, id: NodeId, other: NodeId) -> bool {
    let mut seen = HashSet::new();
    let mut pending = vec![id];
    while let Some(next) = pending.pop() {
        if !seen.insert(next) {
            continue;
        }
        let node = kernel.node(next);
        if let Node::Reduce(r) = node {
            pending.extend(&r.region.items);
        }
        for operand in node.operands() {
            if operand == other {
                return true;
            }
            pending.push(operand);
        }
    }
    false
}

/// Adds `items` (the items of reductions among them included) to `into`, their operands to
/// `operands`.
fn collect(kernel: &crate::ir::Kernel, items: &[NodeId], into: &mut HashSet<NodeId>, operands: &mut Vec<NodeId>) {
    for &id in items {
        into.insert(id);
        let node = kernel.node(id);
        if let Node::Reduce(r) = node {
            collect(kernel, &r.region.items, into, operands);
        }
        operands.extend(node.operands());
    }
}
