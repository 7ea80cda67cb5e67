//! Two points at a time: the interior of the innermost loop on `f64x2` lanes.
//!
//! Only used where every innermost-loop operation has a lane-wise form that computes exactly
//! what the scalar code computes: arithmetic, comparisons and selects (masks), math functions,
//! random-number words (the two points' words in the low lanes of an `i32x4`, so one `pmuludq`
//! makes both 64-bit products of a Philox round), loads that move along one axis of their
//! buffer (neighbouring elements in one load, elements a stride apart in two; two apart along
//! the last axis, from pairs of neighbours that the loads beside them share), and stores that
//! assign, add, or update in place where no point reads what another writes (a checkerboard
//! colour). Values that do not change along the row are splatted.
//!
//! Blocks of `n` neighbouring points that share a random draw (a noise's pairs, `n = 2`; a
//! sampler's blocks of four uniforms, `n = 4`; see `lower::random`) compute it once: such
//! *paired* values are computed on the lanes of two blocks, and each vector of two points
//! reads its block's lane. The words of each two groups of blocks share one `i32x4` (*joint*
//! words), so a Philox round's additions and exclusive ors serve four counters and its
//! products take two 64-bit multiplies per multiplier, their halves gathered by one `shufps`
//! each: `vpmullq` of the words' even and odd lanes by the constant, where the target has it
//! (their halves then come in another order, [`WordOrder`]), else `pmuludq` of both operands
//! widened.
//! A loop body interleaves several vectors' independent chains, which is why such functions
//! are compiled as emitted (`Translated::vectorized`); math functions and the bounds of a
//! deferred `exp` are interleaved operation by operation (`interleave`).

use std::collections::HashMap;

use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{ConstantData, InstBuilder, MemFlagsData, Value, types};

use crate::ir::{Affine, BufferId, Load, Node, NodeId, Store, VarId};
use crate::math::TWO_POW_52;
use crate::ops::{Binary, Compare, Unary, WordOp};

use super::math::Domain;
use super::translate::{Translator, float_cc};
use super::{MathOp, is_inline_math};

const LANES: types::Type = types::F64X2;
const MASKS: types::Type = types::I64X2;
/// Words of the two points in lanes 0 and 1 (lanes 2 and 3 are unused).
const WORDS: types::Type = types::I32X4;

/// How a vector of joint words (see the module docs) orders its four counters. A product by a
/// constant multiplies the even lanes' counters in one 64-bit multiply and the odd lanes' in
/// another (`Options::wide_products`), so its halves come in the other order; in a Philox
/// round each product's halves meet only words of their own order, so the order alternates
/// with no shuffle until the words become numbers, which want them straight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WordOrder {
    /// The same word in every lane (a row value): any order.
    Any,
    /// Counters 0, 1, 2, 3.
    Straight,
    /// Counters 0, 2, 1, 3.
    Swapped,
}

impl WordOrder {
    /// The order of a product's halves by even and odd lanes, from its factor's.
    fn swapped(self) -> WordOrder {
        match self {
            WordOrder::Any => WordOrder::Any,
            WordOrder::Straight => WordOrder::Swapped,
            WordOrder::Swapped => WordOrder::Straight,
        }
    }
}

/// A row of a buffer: the buffer and the indices of its other axes (the row's own is blank).
pub(super) type WideRow = (BufferId, Vec<Affine>);

/// Whether `node` makes a word (rather than a number or a condition).
fn makes_word(node: &Node) -> bool {
    matches!(node, Node::WordConst(_) | Node::ToWord(_) | Node::Word(..))
}

impl Translator<'_> {
    /// Whether the innermost loop body can run on lanes where the innermost index lies in `range`.
    pub fn vectorizable(&mut self, range: (i64, i64)) -> bool {
        let innermost = VarId(self.kernel.rank as u32 - 1);
        let saved = self.ranges[innermost.index()];
        self.ranges[innermost.index()] = range;
        // A scatter may hit one element from both lanes. An update is seen by later points, so
        // it runs point by point unless no point reads what another writes (a checkerboard
        // colour): then computing both lanes before storing either changes nothing.
        let independent = self.kernel.updates_independent(self.program);
        let stores_fit = self.kernel.outputs.iter().all(|o| match &o.store {
            Store::Assign | Store::Add => true,
            Store::Update { index } => independent && self.update_step(o.buffer, index) != 0,
            Store::Scatter { .. } => false,
        });
        let ok = stores_fit
            && self.kernel.body.items.iter().filter(|id| self.inner[id.index()]).all(|&id| {
                match self.kernel.node(id) {
                    // Reductions run point by point.
                    Node::Reduce(_) => false,
                    Node::Load(load) => self.along_row(id, load),
                    _ => true,
                }
            });
        self.ranges[innermost.index()] = saved;
        ok
    }

    /// The bytes an update's element moves when the innermost index steps by one.
    fn update_step(&self, buffer: BufferId, index: &[Affine]) -> i64 {
        let innermost = VarId(self.kernel.rank as u32 - 1);
        let shape = &self.program.buffer(buffer).shape;
        let mut stride = 8;
        let mut step = 0;
        for (axis, affine) in index.iter().enumerate().rev() {
            let coeff: i64 = affine.terms.iter().filter(|(v, _)| *v == innermost).map(|(_, c)| c).sum();
            step += coeff * stride;
            stride *= shape[axis] as i64;
        }
        step
    }

    /// A load moving along one axis of its buffer as the innermost index steps, inside the
    /// buffer: neighbouring elements (one vector load) or elements a stride apart (two loads).
    fn along_row(&self, id: NodeId, load: &Load) -> bool {
        let Some(plan) = self.plans.get(&id) else { return false };
        match plan.varying.as_slice() {
            [axis] if axis.coeff >= 1 && plan.inside.is_none() && plan.row.is_some() => {
                let (lo, hi) = self.interval(&load.index[axis.axis]);
                let extent = self.program.buffer(load.buffer).shape[axis.axis] as i64;
                lo >= 0 && hi < extent
            }
            _ => false,
        }
    }

    /// Which innermost-loop nodes are the same at every point of an aligned block of `n`
    /// neighbouring points (`n j` to `n j + n - 1`), and `n`: `floor(i / n)` of the innermost
    /// index `i` (a draw's block counter: `n` is 2 for normals, 4 for uniforms) and what is
    /// computed from it and row values only (the block's Philox draw and its numbers). Nothing
    /// is shared where blocks of both sizes meet in one body: each vector then draws for itself.
    pub fn paired_nodes(&self) -> (Vec<bool>, i64) {
        let inner: Vec<NodeId> = self.kernel.body.items.iter().copied().filter(|id| self.inner[id.index()]).collect();
        let mut paired = vec![false; self.kernel.nodes.len()];
        let mut sizes = inner.iter().filter_map(|id| self.block_index(self.kernel.node(*id)));
        let Some(size) = sizes.next() else { return (paired, 2) };
        if sizes.any(|other| other != size) {
            return (paired, 2);
        }
        for id in inner {
            let node = self.kernel.node(id);
            paired[id.index()] = self.block_index(node).is_some()
                || (!matches!(node, Node::Load(_) | Node::Index(_) | Node::Reduce(_))
                    && node.operands().iter().any(|o| paired[o.index()])
                    && node.operands().iter().all(|o| paired[o.index()] || !self.inner[o.index()]));
        }
        (paired, size)
    }

    /// `n` where `node` is `floor(i * (1 / n))` of the innermost index `i`, for `n` 2 or 4.
    fn block_index(&self, node: &Node) -> Option<i64> {
        let innermost = VarId(self.kernel.rank as u32 - 1);
        let Node::Unary(Unary::Floor, product) = node else { return None };
        let Node::Binary(Binary::Mul, a, b) = self.kernel.node(*product) else { return None };
        let index = |id: &NodeId| matches!(self.kernel.node(*id), Node::Index(v) if *v == innermost);
        let fraction = |id: &NodeId| match self.kernel.node(*id) {
            Node::Const(c) if *c == 0.5 => Some(2),
            Node::Const(c) if *c == 0.25 => Some(4),
            _ => None,
        };
        if index(a) {
            fraction(b)
        } else if index(b) {
            fraction(a)
        } else {
            None
        }
    }

    /// `n` where `node` is `i - n floor(i * (1 / n))`, the innermost index's offset in its block.
    fn block_offset(&self, node: &Node) -> Option<i64> {
        let innermost = VarId(self.kernel.rank as u32 - 1);
        let Node::Binary(Binary::Sub, i, start) = node else { return None };
        let Node::Binary(Binary::Mul, a, b) = self.kernel.node(*start) else { return None };
        let size = |id: &NodeId| match self.kernel.node(*id) {
            Node::Const(c) => Some(*c),
            _ => None,
        };
        let block = |id: &NodeId| self.block_index(self.kernel.node(*id));
        let n = block(a).filter(|&n| size(b) == Some(n as f64)).or(block(b).filter(|&n| size(a) == Some(n as f64)))?;
        matches!(self.kernel.node(*i), Node::Index(v) if *v == innermost).then_some(n)
    }

    /// The group of blocks (index into the groups' lanes) and the lane that the vector `k` of a
    /// body (points `v + 2k`, `v + 2k + 1`) reads.
    fn block_lane(&self, k: usize) -> (usize, usize) {
        let block = k / (self.block as usize / 2);
        (block / 2, block % 2)
    }

    /// The body at the points `v + shift` and `v + shift + 1` for every shift, storing them.
    /// Long chains are interleaved across the vectors, so that they overlap in the processor
    /// instead of one waiting for the other's to drain: paired nodes (the draws: ten Philox
    /// rounds, Box–Muller) node by node, math functions and deferred comparisons operation by
    /// operation (see `interleave`). The rest, short chains, runs vector by vector between
    /// those, which keeps fewer values live. A kernel never reads what another of its points
    /// writes (it writes other buffers, or updates only where `updates_independent` holds), so
    /// computing every point before storing any changes nothing.
    ///
    /// With `paired` nodes (see [`Self::paired_nodes`]) the shifts go up by 2 from a `v` at the
    /// start of a block and come in groups of `n` (the block size): each paired node is computed
    /// once per group, on the lanes of the group's two blocks, and each shift reads its own
    /// block's lane in both of its lanes. Groups `2s` and `2s + 1` keep their words joint (set
    /// `s`) where words stay paired.
    pub fn vector_points(&mut self, shifts: &[i64], paired: &[bool]) {
        self.products.clear();
        self.joint_products.clear();
        self.addresses.clear();
        self.wide_loads.clear();
        let mut lanes: Vec<HashMap<NodeId, Value>> = vec![HashMap::new(); shifts.len()];
        let groups: Vec<i64> = shifts.iter().step_by(self.block as usize).copied().collect();
        let mut pairs: Vec<HashMap<NodeId, Value>> = vec![HashMap::new(); groups.len()];
        let pairing = paired.contains(&true);
        let joint = groups.len() % 2 == 0 && self.words_stay_paired(paired);
        let mut joint_words: Vec<HashMap<NodeId, Value>> = vec![HashMap::new(); groups.len() / 2];
        // A paired exponential is computed once per block, not in its comparison.
        self.deferred.retain(|e, _| !paired[e.index()]);
        let items: Vec<NodeId> = self
            .kernel
            .body
            .items
            .iter()
            .copied()
            .filter(|id| self.inner[id.index()] && !self.deferred.contains_key(id))
            .collect();
        let (draws, points): (Vec<NodeId>, Vec<NodeId>) = items.into_iter().partition(|id| paired[id.index()]);
        for id in draws {
            self.paired_node(id, &groups, &mut pairs, joint.then_some(&mut joint_words));
        }
        // A point's own nodes run vector by vector, each run up to a node that every vector
        // computes at once: their chains are short, and interleaving them would keep every
        // vector's values live at once (spills).
        let mut run: Vec<NodeId> = Vec::new();
        for id in points.into_iter().map(Some).chain([None]) {
            let at_once = id.and_then(|id| self.all_at_once(self.kernel.node(id)));
            if let (Some(id), None) = (id, &at_once) {
                run.push(id);
                continue;
            }
            for (k, (lanes, &shift)) in lanes.iter_mut().zip(shifts).enumerate() {
                for &id in &run {
                    // Bodies start at a block's first point.
                    let first = (shift % self.block) as f64;
                    let (group, lane) = self.block_lane(k);
                    let by_offset = || self.select_by_offset(id, first, paired, &pairs[group], lane, lanes);
                    let value = if pairing && self.block_offset(self.kernel.node(id)).is_some() {
                        self.lane_constants([first, first + 1.0])
                    } else if let Some(picks) = pairing.then(by_offset).flatten() {
                        self.lanes_of(picks)
                    } else {
                        self.spread_pairs(self.kernel.node(id).operands(), paired, &pairs[group], lane, lanes);
                        self.lane_node(id, shift, lanes)
                    };
                    lanes.insert(id, value);
                }
            }
            run.clear();
            if let (Some(id), Some(operands)) = (id, at_once) {
                for (k, lanes) in lanes.iter_mut().enumerate() {
                    let (group, lane) = self.block_lane(k);
                    self.spread_pairs(operands.clone(), paired, &pairs[group], lane, lanes);
                }
                let values = self.on_all(self.kernel.node(id), &operands, &lanes);
                for (lanes, value) in lanes.iter_mut().zip(values) {
                    lanes.insert(id, value);
                }
            }
        }
        let mut updated: HashMap<BufferId, Value> = HashMap::new();
        for (k, (lanes, &shift)) in lanes.iter_mut().zip(shifts).enumerate() {
            let values = self.kernel.outputs.iter().map(|o| o.value).collect();
            let (group, lane) = self.block_lane(k);
            self.spread_pairs(values, paired, &pairs[group], lane, lanes);
            for output in &self.kernel.outputs {
                let value = self.lane(output.value, lanes);
                let offset = 8 * shift as i32;
                match &output.store {
                    Store::Add => {
                        let address = self.output_address(output.buffer);
                        self.add_at(address, offset, value, LANES);
                    }
                    Store::Assign => {
                        let address = self.output_address(output.buffer);
                        self.b.ins().store(MemFlagsData::new().with_notrap(), value, address, offset);
                    }
                    Store::Update { index } => {
                        let step = self.update_step(output.buffer, index);
                        let axes = vec![crate::ir::Access::Direct; index.len()];
                        let address = match updated.get(&output.buffer) {
                            Some(&address) => address,
                            None => {
                                let (address, _) = self.element(output.buffer, index, &axes);
                                updated.insert(output.buffer, address);
                                address
                            }
                        };
                        for lane in 0..2u8 {
                            let value = self.b.ins().extractlane(value, lane);
                            let offset = (step * (shift + i64::from(lane))) as i32;
                            self.b.ins().store(MemFlagsData::trusted(), value, address, offset);
                        }
                    }
                    Store::Scatter { .. } => unreachable!("kernels with scatters are not vectorised"),
                }
            }
        }
    }

    /// The vector `[lanes[0], lanes[1]]`.
    fn lane_constants(&mut self, lanes: [f64; 2]) -> Value {
        let bytes: Vec<u8> = lanes.iter().flat_map(|c| c.to_le_bytes()).collect();
        let handle = self.b.func.dfg.constants.insert(ConstantData::from(bytes));
        self.b.ins().vconst(LANES, handle)
    }

    /// For a select by the point's offset in its block (`pick`'s chain: `offset == k ? a : b`),
    /// which the vector at offsets `first` and `first + 1` knows lane by lane: where each of its
    /// lanes comes from, a paired operand's group vector at the block's `lane`, or the lane of
    /// the point's own vector. One shuffle then, instead of a comparison and a blend of both
    /// operands spread over the lanes.
    fn select_by_offset(
        &self,
        id: NodeId,
        first: f64,
        paired: &[bool],
        pairs: &HashMap<NodeId, Value>,
        lane: usize,
        lanes: &HashMap<NodeId, Value>,
    ) -> Option<[(Value, u8); 2]> {
        let Node::Select(condition, a, b) = self.kernel.node(id) else { return None };
        let Node::Compare(Compare::Eq, x, y) = self.kernel.node(*condition) else { return None };
        let offset_and_constant = |offset: &NodeId, constant: &NodeId| match self.kernel.node(*constant) {
            Node::Const(k) if self.block_offset(self.kernel.node(*offset)).is_some() => Some(*k),
            _ => None,
        };
        let k = offset_and_constant(x, y).or_else(|| offset_and_constant(y, x))?;
        let source = |point_lane: u8, offset: f64| {
            let id = if offset == k { *a } else { *b };
            if paired[id.index()] { (pairs[&id], lane as u8) } else { (self.lane(id, lanes), point_lane) }
        };
        Some([source(0, first), source(1, first + 1.0)])
    }

    /// The vector of lane `.1` of `.0` of each pick, in order (one shuffle, or none).
    fn lanes_of(&mut self, [(a, lane_a), (b, lane_b)]: [(Value, u8); 2]) -> Value {
        if a == b && (lane_a, lane_b) == (0, 1) {
            return a;
        }
        let ty = self.b.func.dfg.value_type(a);
        let mask: Vec<u8> =
            (0..16u8).map(|byte| if byte < 8 { 8 * lane_a + byte } else { 16 + 8 * lane_b + byte % 8 }).collect();
        let mask = self.b.func.dfg.immediates.push(ConstantData::from(mask.as_slice()));
        let (a, b) = (self.reinterpret(types::I8X16, a), self.reinterpret(types::I8X16, b));
        let picked = self.b.ins().shuffle(a, b, mask);
        self.reinterpret(ty, picked)
    }

    /// `[b, b + 1]` for `b = (v + shift) / n`, `v + shift` the first point of a block of `n`: the
    /// blocks of the group of vectors from `shift`.
    fn block_indices(&mut self, shift: i64) -> Value {
        let i = self.b.use_var(self.counters[self.kernel.rank - 1].expect("the loop is open"));
        let i = self.b.ins().iadd_imm_s(i, shift);
        let block = self.b.ins().sshr_imm_u(i, i64::from(self.block.trailing_zeros()));
        let first = self.b.ins().fcvt_from_sint(types::F64, block);
        let next = self.b.ins().iadd_imm_s(block, 1);
        let second = self.b.ins().fcvt_from_sint(types::F64, next);
        self.f64_pair(first, second)
    }

    /// For `to_word(a)` where `a` is `rest + scale * b` in integers, `b` the innermost index's
    /// block (see [`Self::block_index`]) and `rest` affine in the outer indices (a draw's counter
    /// word: a site's block in its row, the row's place in the grid): `rest` and `scale`. Every
    /// partial sum is below 2^52 in magnitude, so the numbers are exact and their words the
    /// integers' low 32 bits.
    fn block_counter(&self, node: &Node) -> Option<(Affine, i64)> {
        let Node::ToWord(a) = node else { return None };
        let (rest, scale, _) = self.counter_terms(*a)?;
        (scale != 0).then_some((rest, scale))
    }

    /// `id` as `rest + scale * block` (see [`Self::block_counter`]) and a bound on its magnitude.
    fn counter_terms(&self, id: NodeId) -> Option<(Affine, i64, f64)> {
        const EXACT: f64 = TWO_POW_52;
        let innermost = VarId(self.kernel.rank as u32 - 1);
        let node = self.kernel.node(id);
        let terms = if let Some(n) = self.block_index(node) {
            (Affine::constant(0), 1, self.kernel.vars[innermost.index()] as f64 / n as f64)
        } else {
            match node {
                Node::Const(c) if c.fract() == 0.0 && c.abs() < EXACT => (Affine::constant(*c as i64), 0, c.abs()),
                Node::Index(v) if *v != innermost => (Affine::var(*v), 0, self.kernel.vars[v.index()] as f64),
                Node::Binary(op @ (Binary::Add | Binary::Sub), a, b) => {
                    let ((ra, sa, ba), (rb, sb, bb)) = (self.counter_terms(*a)?, self.counter_terms(*b)?);
                    let sign = if *op == Binary::Add { 1 } else { -1 };
                    (ra.add(&rb.scale(sign)), sa.checked_add(sign * sb)?, ba + bb)
                }
                Node::Binary(Binary::Mul, a, b) => {
                    let constant = |id: &NodeId| match self.kernel.node(*id) {
                        Node::Const(c) if c.fract() == 0.0 && c.abs() < EXACT => Some(*c as i64),
                        _ => None,
                    };
                    let (factor, other) = match (constant(a), constant(b)) {
                        (Some(c), _) => (c, *b),
                        (_, Some(c)) => (c, *a),
                        _ => return None,
                    };
                    let (rest, scale, bound) = self.counter_terms(other)?;
                    (rest.scale(factor), scale.checked_mul(factor)?, bound * factor.abs() as f64)
                }
                _ => return None,
            }
        };
        (terms.2 < EXACT).then_some(terms)
    }

    /// The words of [`Self::block_indices`]' blocks and the next group's under `counter`
    /// ([`Self::block_counter`]): `rest + scale (b + k)` for `k` 0 to 3 (mod 2^32, what `to_word`
    /// of the numbers gives), in integers: a splat and an add where converting the numbers
    /// would take a dozen operations a pair.
    fn block_words(&mut self, shift: i64, (rest, scale): &(Affine, i64)) -> Value {
        let i = self.b.use_var(self.counters[self.kernel.rank - 1].expect("the loop is open"));
        let i = self.b.ins().iadd_imm_s(i, shift);
        let block = self.b.ins().sshr_imm_u(i, i64::from(self.block.trailing_zeros()));
        let scaled = self.b.ins().imul_imm_s(block, *scale);
        let rest = self.affine_value(rest, None);
        let first = self.b.ins().iadd(rest, scaled);
        let word = self.b.ins().ireduce(types::I32, first);
        let first = self.b.ins().splat(WORDS, word);
        let bytes: Vec<u8> = (0..4).flat_map(|k| (scale.wrapping_mul(k) as u32).to_le_bytes()).collect();
        let handle = self.b.func.dfg.constants.insert(ConstantData::from(bytes));
        let steps = self.b.ins().vconst(WORDS, handle);
        self.b.ins().iadd(first, steps)
    }

    /// Puts into `lanes` the paired values among `ids` that are not there yet, each as the
    /// lane of `pair` repeated.
    fn spread_pairs(
        &mut self,
        ids: Vec<NodeId>,
        paired: &[bool],
        pairs: &HashMap<NodeId, Value>,
        pair: usize,
        lanes: &mut HashMap<NodeId, Value>,
    ) {
        for id in ids {
            if paired[id.index()] && !lanes.contains_key(&id) {
                let spread = self.repeat_lane(pairs[&id], pair as u8);
                lanes.insert(id, spread);
            }
        }
    }

    /// Lane `lane` of `v` in every lane (of numbers and masks; of words, in lanes 0 and 1,
    /// where vector loops keep them).
    fn repeat_lane(&mut self, v: Value, lane: u8) -> Value {
        let ty = self.b.func.dfg.value_type(v);
        let width = if ty == WORDS { 4 } else { 8 };
        let mask: Vec<u8> = (0..16u8).map(|byte| width * lane + byte % width).collect();
        let mask = self.b.func.dfg.immediates.push(ConstantData::from(mask.as_slice()));
        let bytes = self.reinterpret(types::I8X16, v);
        let repeated = self.b.ins().shuffle(bytes, bytes, mask);
        self.reinterpret(ty, repeated)
    }

    /// Picks lanes of `a` where the mask `c` is set, else of `b` (floats or masks).
    pub fn lane_select(&mut self, c: Value, a: Value, b: Value) -> Value {
        let ty = self.b.func.dfg.value_type(a);
        let c = if ty == LANES { self.reinterpret(LANES, c) } else { c };
        self.b.ins().bitselect(c, a, b)
    }

    /// An operand on lanes: computed in this point's code, or a row value in both lanes.
    fn lane(&self, id: NodeId, lanes: &HashMap<NodeId, Value>) -> Value {
        lanes.get(&id).or_else(|| self.splats.get(&id)).copied().expect("operands are emitted before their uses")
    }

    /// Before a vector loop: every row value the loop uses, in both lanes, computed once.
    pub fn prepare_splats(&mut self) {
        let mut wanted: Vec<NodeId> = self.kernel.outputs.iter().map(|o| o.value).collect();
        for &id in &self.kernel.body.items {
            if self.inner[id.index()] {
                wanted.extend(self.kernel.node(id).operands());
            }
        }
        self.splats.clear();
        for id in wanted {
            if self.inner[id.index()] || self.splats.contains_key(&id) {
                continue;
            }
            let scalar = self.values[id.index()].expect("row values are computed before the row");
            let splat = if let Node::WordConst(w) = self.kernel.node(id) {
                self.word_constant(*w)
            } else if makes_word(self.kernel.node(id)) {
                let splat = self.b.ins().splat(WORDS, scalar);
                self.word_orders.insert(splat, WordOrder::Any);
                splat
            } else if self.kernel.node(id).is_boolean() {
                // A condition becomes a mask: all ones where true.
                let wide = self.b.ins().uextend(types::I64, scalar);
                let mask = self.b.ins().ineg(wide);
                self.b.ins().splat(MASKS, mask)
            } else {
                self.b.ins().splat(LANES, scalar)
            };
            self.splats.insert(id, splat);
        }
    }

    fn lane_node(&mut self, id: NodeId, shift: i64, lanes: &HashMap<NodeId, Value>) -> Value {
        match self.kernel.node(id) {
            Node::Const(c) => self.constant(*c, LANES),
            Node::Index(var) => {
                let i = self.b.use_var(self.counters[var.index()].expect("the loop is open"));
                let i = self.b.ins().iadd_imm_s(i, shift);
                let first = self.b.ins().fcvt_from_sint(types::F64, i);
                let next = self.b.ins().iadd_imm_s(i, 1);
                let second = self.b.ins().fcvt_from_sint(types::F64, next);
                self.f64_pair(first, second)
            }
            Node::Load(load) => {
                let plan = &self.plans[&id];
                let (row, displacement) = (plan.row.expect("loads along a row have a row pointer"), plan.displacement);
                let step = plan.step_bytes;
                // A buffer the kernel updates changes between iterations: not read-only memory.
                let flags = if self.updates(load.buffer) {
                    MemFlagsData::new().with_notrap()
                } else {
                    MemFlagsData::new().with_notrap().with_readonly().with_can_move()
                };
                if step == 8 {
                    let bytes = self.point_bytes.expect("a point is open");
                    let address = self.b.ins().iadd(row, bytes);
                    return self.b.ins().load(LANES, flags, address, displacement + 8 * shift as i32);
                }
                let var = plan.var;
                // The shifts differ only in the loads' displacements: one address serves all.
                let address = match self.addresses.get(&(row, step)) {
                    Some(&address) => address,
                    None => {
                        let counter = self.counters[var.index()].expect("the row's loop is open");
                        let v = self.b.use_var(counter);
                        let offset = self.b.ins().imul_imm_s(v, step);
                        let address = self.b.ins().iadd(row, offset);
                        self.addresses.insert((row, step), address);
                        address
                    }
                };
                if let Some((parity, row_of)) = self.paired_elements(id, load) {
                    // Two neighbouring pairs of elements, each lane's element from one.
                    let first = displacement + (step * shift) as i32 - 8 * parity;
                    let a = self.wide_load(&row_of, address, first, flags);
                    let b = self.wide_load(&row_of, address, first + 16, flags);
                    return self.lanes_of([(a, parity as u8), (b, parity as u8)]);
                }
                let at = |lane: i64| displacement + (step * (shift + lane)) as i32;
                let first = self.b.ins().load(types::F64, flags, address, at(0));
                let second = self.b.ins().load(types::F64, flags, address, at(1));
                self.f64_pair(first, second)
            }
            node @ (Node::Unary(..)
            | Node::Binary(..)
            | Node::Compare(..)
            | Node::And(..)
            | Node::Or(..)
            | Node::Not(_)
            | Node::Select(..)
            | Node::MulAdd(..)) => {
                let operands: Vec<Value> = node.operands().iter().map(|a| self.lane(*a, lanes)).collect();
                self.lane_operation(node, &operands)
            }
            Node::WordConst(w) => self.word_constant(*w),
            Node::ToWord(a) => {
                let a = self.lane(*a, lanes);
                self.lane_words(a)
            }
            Node::Word(op, a, b) => {
                let (a, b) = (self.lane(*a, lanes), self.lane(*b, lanes));
                self.word_operation(*op, a, b, false)
            }
            Node::FromWord(a) => {
                let a = self.lane(*a, lanes);
                let wide = self.b.ins().uwiden_low(a);
                self.numbers_of_words(wide)
            }
            Node::Unit(hi, lo) => {
                let (hi, lo) = (self.lane(*hi, lanes), self.lane(*lo, lanes));
                let (hi, lo) = (self.b.ins().uwiden_low(hi), self.b.ins().uwiden_low(lo));
                self.unit_of_words(hi, lo, MASKS)
            }
            Node::Reduce(_) => unreachable!("kernels with reductions in the innermost loop are not vectorised"),
        }
    }

    /// A paired node (see [`Self::paired_nodes`]) on each group's lanes, interleaved: words
    /// joint in sets of two groups where `joint_words` is given.
    fn paired_node(
        &mut self,
        id: NodeId,
        groups: &[i64],
        pairs: &mut [HashMap<NodeId, Value>],
        joint_words: Option<&mut Vec<HashMap<NodeId, Value>>>,
    ) {
        let node = self.kernel.node(id);
        if let Some(joint_words) = joint_words {
            if makes_word(node) {
                for (set, words) in joint_words.iter_mut().enumerate() {
                    let value = if let Some(counter) = self.block_counter(node) {
                        self.block_words(groups[2 * set], &counter)
                    } else {
                        self.joint_word(node, &pairs[2 * set..2 * set + 2], words)
                    };
                    words.insert(id, value);
                }
                return;
            }
            if matches!(node, Node::FromWord(_) | Node::Unit(..)) {
                let operands = node.operands();
                let mut numbers = Vec::with_capacity(joint_words.len());
                for words in joint_words.iter() {
                    numbers.push(match *operands.as_slice() {
                        [hi, lo] => self.joint_units(words[&hi], words[&lo]),
                        [word] => {
                            let [first, second] = self.groups_of_words(words[&word]);
                            [self.numbers_of_words(first), self.numbers_of_words(second)]
                        }
                        _ => unreachable!("a word's number has one or two words"),
                    });
                }
                for (group, pairs) in pairs.iter_mut().enumerate() {
                    pairs.insert(id, numbers[group / 2][group % 2]);
                }
                return;
            }
        }
        if let Some(operands) = self.all_at_once(node) {
            let values = self.on_all(node, &operands, pairs);
            for (pairs, value) in pairs.iter_mut().zip(values) {
                pairs.insert(id, value);
            }
            return;
        }
        for (pairs, &shift) in pairs.iter_mut().zip(groups) {
            let value = if self.block_index(node).is_some() {
                self.block_indices(shift)
            } else if let Some(counter) = self.block_counter(node) {
                self.block_words(shift, &counter)
            } else {
                self.lane_node(id, shift, pairs)
            };
            pairs.insert(id, value);
        }
    }

    /// For a node that every vector computes at once, interleaved (a library math function, a
    /// comparison with a deferred `exp`): the operands each vector supplies.
    fn all_at_once(&self, node: &Node) -> Option<Vec<NodeId>> {
        let library = |op: MathOp| self.inline_math && is_inline_math(op);
        match node {
            Node::Compare(Compare::Lt, a, e) if self.deferred.contains_key(e) => {
                let Node::Unary(Unary::Exp, z) = self.kernel.node(*e) else { unreachable!("deferred nodes are exp") };
                Some(vec![*a, *z])
            }
            Node::Unary(op, a) if library(MathOp::Unary(*op)) => Some(vec![*a]),
            Node::Binary(op, a, b) if library(MathOp::Binary(*op)) => Some(vec![*a, *b]),
            _ => None,
        }
    }

    /// `node` (see [`Self::all_at_once`]) for each vector, from its `operands` in `values`.
    fn on_all(&mut self, node: &Node, operands: &[NodeId], values: &[HashMap<NodeId, Value>]) -> Vec<Value> {
        let arguments: Vec<Vec<Value>> =
            values.iter().map(|v| operands.iter().map(|id| self.lane(*id, v)).collect()).collect();
        match node {
            Node::Compare(..) => {
                let (a, z): (Vec<Value>, Vec<Value>) = arguments.iter().map(|v| (v[0], v[1])).unzip();
                self.less_than_exp(&a, &z, LANES)
            }
            Node::Unary(op, a) => {
                let domain = if matches!(self.kernel.node(*a), Node::Unit(..)) { Domain::Unit } else { Domain::Any };
                self.library_on_all(MathOp::Unary(*op), domain, &arguments, LANES)
            }
            Node::Binary(op, ..) => self.library_on_all(MathOp::Binary(*op), Domain::Any, &arguments, LANES),
            _ => unreachable!("all_at_once names the nodes computed at once"),
        }
    }

    /// An arithmetic, comparison, logic or select node on lanes, from its operands' lanes
    /// (numbers or masks) in [`Node::operands`] order.
    pub fn lane_operation(&mut self, node: &Node, operands: &[Value]) -> Value {
        match (node, operands) {
            (Node::Unary(op, _), &[a]) => self.unary(*op, a, LANES),
            (Node::Binary(op, ..), &[a, b]) => self.binary(*op, a, b, LANES),
            (Node::Compare(op, ..), &[a, b]) => self.b.ins().fcmp(float_cc(*op), a, b),
            (Node::And(..), &[a, b]) => self.b.ins().band(a, b),
            (Node::Or(..), &[a, b]) => self.b.ins().bor(a, b),
            (Node::Not(_), &[a]) => self.b.ins().bnot(a),
            (Node::Select(..), &[c, a, b]) => self.lane_select(c, a, b),
            (Node::MulAdd(..), &[a, b, c]) => self.b.ins().fma(a, b, c),
            _ => unreachable!("lane_operation is given an operation and its operands"),
        }
    }

    /// For a load two elements apart along the last axis of its buffer (`u[i, 2 j + o]`): the
    /// parity of `o` when every element it reads has its neighbour on the other side of that
    /// parity (`2 j + o - parity .. 2 j + o - parity + 1`) in the row too, so that it can be
    /// read in neighbouring pairs that the loads at `o ± 1` share (a checkerboard colour's
    /// left, centre and right spins come from the same vectors).
    fn paired_elements(&self, id: NodeId, load: &Load) -> Option<(i32, WideRow)> {
        let plan = &self.plans[&id];
        let [axis] = plan.varying.as_slice() else { return None };
        let innermost = VarId(self.kernel.rank as u32 - 1);
        let affine = &load.index[axis.axis];
        let extent = self.program.buffer(load.buffer).shape[axis.axis] as i64;
        let only_the_row_index = affine.terms.iter().all(|(v, _)| *v == innermost);
        if plan.step_bytes != 16 || axis.stride != 1 || !only_the_row_index {
            return None;
        }
        let parity = affine.offset.rem_euclid(2);
        let (lo, hi) = self.interval(affine);
        let mut row = load.index.clone();
        row[axis.axis] = Affine::default();
        (lo - parity >= 0 && hi - parity < extent - 1).then_some((parity as i32, (load.buffer, row)))
    }

    /// The two elements at `address + offset` of the row `row`, in one load that every load of
    /// the row in the vector loop's body shares (their row addresses are equal, not the same
    /// value: vector code is compiled as emitted).
    fn wide_load(&mut self, row: &WideRow, address: Value, offset: i32, flags: MemFlagsData) -> Value {
        let key = (row.clone(), offset);
        if let Some(&v) = self.wide_loads.get(&key) {
            return v;
        }
        let v = self.b.ins().load(LANES, flags, address, offset);
        self.wide_loads.insert(key, v);
        v
    }

    /// The numbers of the words in the low halves of `wide`'s two 64-bit lanes (high halves 0):
    /// `2^52 + w`, exactly, then minus `2^52` (one constant, loaded once for both).
    fn numbers_of_words(&mut self, wide: Value) -> Value {
        let offset = self.constant(TWO_POW_52, LANES);
        let exponent = self.reinterpret(MASKS, offset);
        let bits = self.b.ins().bor(wide, exponent);
        let shifted = self.reinterpret(LANES, bits);
        self.b.ins().fsub(shifted, offset)
    }

    /// Whether paired words are only read by paired nodes, so that they can stay joint (see
    /// the module docs): no point's own value needs one pair's words.
    fn words_stay_paired(&self, paired: &[bool]) -> bool {
        let word_of_pair = |id: &NodeId| paired[id.index()] && makes_word(self.kernel.node(*id));
        let inner = self.kernel.body.items.iter().filter(|id| self.inner[id.index()]);
        inner.filter(|id| !paired[id.index()]).all(|&id| !self.kernel.node(id).operands().iter().any(word_of_pair))
            && !self.kernel.outputs.iter().any(|o| word_of_pair(&o.value))
    }

    /// A paired word node on four lanes: those of the first group's two pairs, then the
    /// second's. Its operands are joint words, row words (in every lane), or (for `to_word`)
    /// each group's paired numbers.
    fn joint_word(&mut self, node: &Node, pairs: &[HashMap<NodeId, Value>], joint: &HashMap<NodeId, Value>) -> Value {
        match node {
            Node::ToWord(a) => {
                let (first, second) = (self.word_bits(pairs[0][a]), self.word_bits(pairs[1][a]));
                self.gather_words(first, second, [0, 2, 4, 6])
            }
            Node::Word(op @ (WordOp::Add | WordOp::Xor), a, b) => {
                let (a, b) = (self.lane(*a, joint), self.lane(*b, joint));
                let (a, b, order) = self.in_common_order(a, b);
                let value = self.word_operation(*op, a, b, true);
                self.word_orders.insert(value, order);
                value
            }
            Node::Word(op, a, b) => {
                let (a, b) = (self.lane(*a, joint), self.lane(*b, joint));
                self.word_operation(*op, a, b, true)
            }
            _ => unreachable!("a word constant is a row value"),
        }
    }

    /// `a op b` on words: those of two points (lanes 0 and 1), or `joint` ones of four.
    fn word_operation(&mut self, op: WordOp, a: Value, b: Value, joint: bool) -> Value {
        match (op, joint) {
            (WordOp::Add, _) => self.b.ins().iadd(a, b),
            (WordOp::Xor, _) => self.b.ins().bxor(a, b),
            (WordOp::MulLo, false) => self.product_half(a, b, 0),
            (WordOp::MulHi, false) => self.product_half(a, b, 1),
            (WordOp::MulLo, true) => self.joint_product_half(a, b, 0),
            (WordOp::MulHi, true) => self.joint_product_half(a, b, 1),
        }
    }

    /// The low (`half` 0) or high (`half` 1) words of the four lanes' 64-bit products `a b`,
    /// shared with the other half's node: two 64-bit multiplies, their halves gathered by one
    /// `shufps` each. By a constant where the target multiplies 64-bit lanes whole
    /// (`Options::wide_products`): the words of the even and odd lanes (masked, shifted) times
    /// the constant widened once, so the halves come in the other order (see [`WordOrder`]).
    /// Otherwise two `pmuludq`, which Cranelift makes only from both operands widened (lanes 0
    /// and 1, lanes 2 and 3; each widening a `pshufd`).
    fn joint_product_half(&mut self, a: Value, b: Value, half: usize) -> Value {
        if let Some(halves) = self.joint_products.get(&(a, b)) {
            return halves[half];
        }
        let constant = [(b, a), (a, b)].into_iter().find_map(|(c, x)| Some((*self.word_constants.get(&c)?, x)));
        let (halves, order) = match constant {
            Some((w, x)) if self.options.wide_products => {
                let order = self.word_order(x);
                let [even, odd] = self.even_and_odd_words(x);
                let multiplier = self.wide_constant(u64::from(w));
                let (even, odd) = (self.b.ins().imul(even, multiplier), self.b.ins().imul(odd, multiplier));
                (self.product_halves(even, odd), order.swapped())
            }
            _ => {
                let (a, b) = (self.in_order(a, WordOrder::Straight), self.in_order(b, WordOrder::Straight));
                let (low_a, low_b) = (self.b.ins().uwiden_low(a), self.b.ins().uwiden_low(b));
                let low = self.b.ins().imul(low_a, low_b);
                let (high_a, high_b) = (self.b.ins().uwiden_high(a), self.b.ins().uwiden_high(b));
                let high = self.b.ins().imul(high_a, high_b);
                (self.product_halves(low, high), WordOrder::Straight)
            }
        };
        for value in halves {
            self.word_orders.insert(value, order);
        }
        self.joint_products.insert((a, b), halves);
        halves[half]
    }

    /// The low words and the high words of the 64-bit products in `first`'s and `second`'s
    /// lanes, in that order.
    fn product_halves(&mut self, first: Value, second: Value) -> [Value; 2] {
        let (first, second) = (self.reinterpret(WORDS, first), self.reinterpret(WORDS, second));
        [self.gather_words(first, second, [0, 2, 4, 6]), self.gather_words(first, second, [1, 3, 5, 7])]
    }

    /// The joint words `v` of two groups as 64-bit lanes, each group's two: counters 0 and 1
    /// (the first group), 2 and 3. Words in swapped order have them in their even and odd lanes.
    fn groups_of_words(&mut self, v: Value) -> [Value; 2] {
        if self.word_order(v) == WordOrder::Swapped {
            return self.even_and_odd_words(v);
        }
        [self.b.ins().uwiden_low(v), self.b.ins().uwiden_high(v)]
    }

    /// [`Node::Unit`] of the joint words `hi` and `lo`, for each group its two counters' numbers.
    /// A counter's words are joined into one 64-bit integer `hi lo`, whose top 52 bits are the
    /// number's: an unpack where the words are straight; where swapped (a group's counters in
    /// the even or the odd lanes) a shift and a blend.
    fn joint_units(&mut self, hi: Value, lo: Value) -> [Value; 2] {
        let (hi, lo, order) = self.in_common_order(hi, lo);
        let joined = if order == WordOrder::Swapped {
            let (wide_hi, wide_lo) = (self.reinterpret(MASKS, hi), self.reinterpret(MASKS, lo));
            let (raised_hi, lowered_lo) = (self.b.ins().ishl_imm_u(wide_hi, 32), self.b.ins().ushr_imm_u(wide_lo, 32));
            [self.gather_words(lo, raised_hi, [0, 5, 2, 7]), self.gather_words(lowered_lo, hi, [0, 5, 2, 7])]
        } else {
            [self.gather_words(lo, hi, [0, 4, 1, 5]), self.gather_words(lo, hi, [2, 6, 3, 7])]
        };
        joined.map(|words| {
            let wide = self.reinterpret(MASKS, words);
            let k = self.b.ins().ushr_imm_u(wide, 12);
            self.unit_of_top_bits(k, MASKS)
        })
    }

    /// The words in the even lanes of `v` (0 and 2) and those in its odd lanes (1 and 3), each
    /// pair zero-extended into 64-bit lanes: an `and` and a shift.
    fn even_and_odd_words(&mut self, v: Value) -> [Value; 2] {
        let wide = self.reinterpret(MASKS, v);
        let low_words = self.wide_constant(0xFFFF_FFFF);
        [self.b.ins().band(wide, low_words), self.b.ins().ushr_imm_u(wide, 32)]
    }

    /// How the vector of joint words `v` orders its counters.
    fn word_order(&self, v: Value) -> WordOrder {
        self.word_orders.get(&v).copied().unwrap_or(WordOrder::Straight)
    }

    /// Joint words `a` and `b` in one order, `a`'s unless it is [`WordOrder::Any`] (`b`
    /// reordered if it differs), and that order.
    fn in_common_order(&mut self, a: Value, b: Value) -> (Value, Value, WordOrder) {
        let order = match (self.word_order(a), self.word_order(b)) {
            (WordOrder::Any, order) | (order, _) => order,
        };
        (self.in_order(a, order), self.in_order(b, order), order)
    }

    /// The joint words `v` in `order` (one `pshufd` if they are in the other).
    fn in_order(&mut self, v: Value, order: WordOrder) -> Value {
        let current = self.word_order(v);
        if current == order || current == WordOrder::Any || order == WordOrder::Any {
            return v;
        }
        let swapped = self.gather_words(v, v, [0, 2, 1, 3]);
        self.word_orders.insert(swapped, order);
        swapped
    }

    /// `w` in both 64-bit lanes.
    fn wide_constant(&mut self, w: u64) -> Value {
        let bytes: Vec<u8> = (0..2).flat_map(|_| w.to_le_bytes()).collect();
        let handle = self.b.func.dfg.constants.insert(ConstantData::from(bytes));
        self.b.ins().vconst(MASKS, handle)
    }

    /// The 32-bit lanes `from` of `first` (0 to 3) and `second` (4 to 7), in that order: one
    /// instruction for the patterns used here (`shufps` where the first two come from `first`
    /// and the last two from `second`, `pshufd` where all come from one, `punpckldq` and
    /// `punpckhdq` for interleaved lanes, `pblendw` where each lane keeps its place).
    fn gather_words(&mut self, first: Value, second: Value, from: [u8; 4]) -> Value {
        let mask: Vec<u8> = from.iter().flat_map(|&lane| (0..4).map(move |byte| 4 * lane + byte)).collect();
        let mask = self.b.func.dfg.immediates.push(ConstantData::from(mask.as_slice()));
        let (first, second) = (self.reinterpret(types::I8X16, first), self.reinterpret(types::I8X16, second));
        let gathered = self.b.ins().shuffle(first, second, mask);
        self.reinterpret(WORDS, gathered)
    }

    /// `w` in every lane, as a vector constant rather than a splat: Cranelift folds a widened
    /// splat into a 64-bit constant, after which a product with it no longer lowers to one
    /// `pmuludq` but to the three of a general 64-bit multiply.
    fn word_constant(&mut self, w: u32) -> Value {
        let bytes: Vec<u8> = (0..4).flat_map(|_| w.to_le_bytes()).collect();
        let handle = self.b.func.dfg.constants.insert(ConstantData::from(bytes));
        let v = self.b.ins().vconst(WORDS, handle);
        self.word_constants.insert(v, w);
        self.word_orders.insert(v, WordOrder::Any);
        v
    }

    /// `v` as `to` (floats as integers, masks as floats, ...), lane bits unchanged.
    pub fn reinterpret(&mut self, to: types::Type, v: Value) -> Value {
        let little = MemFlagsData::new().with_endianness(cranelift_codegen::ir::Endianness::Little);
        self.b.ins().bitcast(to, little, v)
    }

    /// The low (`half` 0) or high (`half` 1) words of the lanes' 64-bit products `a b`: one
    /// `pmuludq`, which the other half's node shares (cached by operands in `products`: vector
    /// code is compiled unoptimised, so Cranelift would not merge them).
    fn product_half(&mut self, a: Value, b: Value, half: u8) -> Value {
        let product = match self.products.get(&(a, b)) {
            Some(&product) => product,
            None => {
                let (wide_a, wide_b) = (self.b.ins().uwiden_low(a), self.b.ins().uwiden_low(b));
                let product = self.b.ins().imul(wide_a, wide_b);
                self.products.insert((a, b), product);
                product
            }
        };
        let words = self.reinterpret(WORDS, product);
        self.pick_words(words, [half, half + 2])
    }

    /// Lanes 0 and 1 of the result are `v`'s 32-bit lanes `from` (lanes 2 and 3 repeat them).
    fn pick_words(&mut self, v: Value, from: [u8; 2]) -> Value {
        let mut mask = [0u8; 16];
        for (lane, &source) in [from[0], from[1], from[0], from[1]].iter().enumerate() {
            for byte in 0..4 {
                mask[4 * lane + byte] = 4 * source + byte as u8;
            }
        }
        let mask = self.b.func.dfg.immediates.push(ConstantData::from(mask.as_ref()));
        let bytes = self.reinterpret(types::I8X16, v);
        let picked = self.b.ins().shuffle(bytes, bytes, mask);
        self.reinterpret(WORDS, picked)
    }

    /// The words of numbers, as Rust's `x as i64 as u32` (truncation, saturation, NaN to 0)
    /// computes them: `trunc(x) mod 2^32` exactly in doubles, then read from the low bits of
    /// `2^52 + w`.
    fn lane_words(&mut self, x: Value) -> Value {
        let bits = self.word_bits(x);
        self.pick_words(bits, [0, 2])
    }

    /// The words of [`Self::lane_words`] in 32-bit lanes 0 and 2 (lanes 1 and 3 hold other bits).
    fn word_bits(&mut self, x: Value) -> Value {
        let t = self.b.ins().trunc(x);
        let (scale, unscale) = (self.constant(2f64.powi(-32), LANES), self.constant(2f64.powi(32), LANES));
        let turns = self.b.ins().fmul(t, scale);
        let turns = self.b.ins().floor(turns);
        let whole = self.b.ins().fmul(turns, unscale);
        let rest = self.b.ins().fsub(t, whole);
        let limit = self.constant(2f64.powi(63), LANES);
        let above = self.b.ins().fcmp(FloatCC::GreaterThanOrEqual, x, limit);
        let all_ones = self.constant(f64::from(u32::MAX), LANES);
        let rest = self.lane_select(above, all_ones, rest);
        // Below -2^63 Rust saturates to i64::MIN, whose low word is 0; NaN gives 0 too.
        let minus_limit = self.constant(-(2f64.powi(63)), LANES);
        let in_range = self.b.ins().fcmp(FloatCC::GreaterThanOrEqual, x, minus_limit);
        let zero = self.constant(0.0, LANES);
        let rest = self.lane_select(in_range, rest, zero);
        let offset = self.constant(TWO_POW_52, LANES);
        let shifted = self.b.ins().fadd(rest, offset);
        self.reinterpret(WORDS, shifted)
    }
}
