//! Two points at a time: the interior of the innermost loop on `f64x2` lanes.
//!
//! Only used where every innermost-loop operation has a lane-wise form that computes exactly
//! what the scalar code computes: arithmetic, comparisons and selects (masks), math calls (one
//! per lane), and loads that read two neighbouring elements of the buffer's last axis. Values
//! that do not change along the row are splatted.

use std::collections::HashMap;

use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value, types};

use crate::ir::{Load, Node, NodeId, Store, VarId};

use super::translate::{Translator, float_cc};

const LANES: types::Type = types::F64X2;
const MASKS: types::Type = types::I64X2;

impl Translator<'_> {
    /// Whether the innermost loop body can run on lanes where the innermost index lies in `range`.
    pub fn vectorizable(&mut self, range: (i64, i64)) -> bool {
        let innermost = VarId(self.kernel.rank as u32 - 1);
        let saved = self.ranges[innermost.index()];
        self.ranges[innermost.index()] = range;
        // A scatter may hit one element from both lanes, and an update is seen by later points:
        // they run point by point.
        let stores_fit = self.kernel.outputs.iter().all(|o| matches!(o.store, Store::Assign | Store::Add));
        let ok = stores_fit
            && self.kernel.body.items.iter().filter(|id| self.inner[id.index()]).all(|&id| {
                match self.kernel.node(id) {
                    // Reductions and word arithmetic (random numbers) run point by point.
                    node if node.involves_words() => false,
                    Node::Reduce(_) => false,
                    Node::Load(load) => self.contiguous(id, load),
                    _ => true,
                }
            });
        self.ranges[innermost.index()] = saved;
        ok
    }

    /// A load reading neighbouring elements as the innermost index steps, inside the buffer.
    fn contiguous(&self, id: NodeId, load: &Load) -> bool {
        let Some(plan) = self.plans.get(&id) else { return false };
        let last = load.index.len().saturating_sub(1);
        match plan.varying.as_slice() {
            [axis]
                if axis.coeff == 1
                    && axis.stride == 1
                    && axis.axis == last
                    && plan.inside.is_none()
                    && plan.row.is_some() =>
            {
                let (lo, hi) = self.interval(&load.index[last]);
                let extent = self.program.buffer(load.buffer).shape[last] as i64;
                lo >= 0 && hi < extent
            }
            _ => false,
        }
    }

    /// The body at points `v + shift` and `v + shift + 1`, storing both.
    pub fn vector_point(&mut self, shift: i64) {
        let mut lanes: HashMap<NodeId, Value> = HashMap::new();
        let items: Vec<NodeId> = self.kernel.body.items.iter().copied().filter(|id| self.inner[id.index()]).collect();
        for id in items {
            let value = self.lane_node(id, shift, &lanes);
            lanes.insert(id, value);
        }
        for output in &self.kernel.outputs {
            let value = self.lane(output.value, &lanes);
            let address = self.output_address(output.buffer);
            let offset = 8 * shift as i32;
            match output.store {
                Store::Add => self.add_at(address, offset, value, LANES),
                Store::Assign => {
                    self.b.ins().store(MemFlagsData::new().with_notrap(), value, address, offset);
                }
                Store::Scatter { .. } | Store::Update { .. } => {
                    unreachable!("kernels with scatters or updates are not vectorised")
                }
            }
        }
    }

    /// Picks lanes of `a` where the mask `c` is set, else of `b` (floats or masks).
    pub fn lane_select(&mut self, c: Value, a: Value, b: Value) -> Value {
        let ty = self.b.func.dfg.value_type(a);
        let c = if ty == LANES {
            let little = MemFlagsData::new().with_endianness(cranelift_codegen::ir::Endianness::Little);
            self.b.ins().bitcast(LANES, little, c)
        } else {
            c
        };
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
            let splat = if self.kernel.node(id).is_boolean() {
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
                let v = self.b.ins().scalar_to_vector(LANES, first);
                self.b.ins().insertlane(v, second, 1)
            }
            Node::Load(_) => {
                let plan = &self.plans[&id];
                let (row, displacement) = (plan.row.expect("contiguous loads have a row pointer"), plan.displacement);
                let bytes = self.point_bytes.expect("a point is open");
                let address = self.b.ins().iadd(row, bytes);
                let displacement = displacement + 8 * shift as i32;
                self.b.ins().load(
                    LANES,
                    MemFlagsData::new().with_notrap().with_readonly().with_can_move(),
                    address,
                    displacement,
                )
            }
            Node::Unary(op, a) => {
                let a = self.lane(*a, lanes);
                self.unary(*op, a, LANES)
            }
            Node::Binary(op, a, b) => {
                let (a, b) = (self.lane(*a, lanes), self.lane(*b, lanes));
                self.binary(*op, a, b, LANES)
            }
            Node::Compare(op, a, b) => {
                let (a, b) = (self.lane(*a, lanes), self.lane(*b, lanes));
                self.b.ins().fcmp(float_cc(*op), a, b)
            }
            Node::And(a, b) => {
                let (a, b) = (self.lane(*a, lanes), self.lane(*b, lanes));
                self.b.ins().band(a, b)
            }
            Node::Or(a, b) => {
                let (a, b) = (self.lane(*a, lanes), self.lane(*b, lanes));
                self.b.ins().bor(a, b)
            }
            Node::Not(a) => {
                let a = self.lane(*a, lanes);
                self.b.ins().bnot(a)
            }
            Node::Select(c, a, b) => {
                let (c, a, b) = (self.lane(*c, lanes), self.lane(*a, lanes), self.lane(*b, lanes));
                self.lane_select(c, a, b)
            }
            Node::Reduce(_) | Node::WordConst(_) | Node::ToWord(_) | Node::Word(..) | Node::FromWord(_) => {
                unreachable!("kernels with reductions or words in the innermost loop are not vectorised")
            }
        }
    }
}
