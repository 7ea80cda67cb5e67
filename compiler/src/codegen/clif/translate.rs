//! The translator: loops over the domain, regions, and one method per IR node.

use std::collections::HashMap;

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{
    Block, ConstantData, Endianness, FuncRef, Function, InstBuilder, MemFlagsData, Signature, Value, types,
};
use cranelift_codegen::isa::{CallConv, TargetFrontendConfig};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};

use crate::ir::{BufferId, Kernel, Node, NodeId, Partition, Program, Region, Store, VarId, Visit};
use crate::ops::{Binary, Compare, Unary, WordOp};

use super::accept::deferred_exponentials;
use super::access::RowPlan;
use super::math::{Domain, Emit, library};
use super::rows::RowLanes;
use super::{INLINE_MATH_LIMIT, Imports, MathOp, Options, Translated, is_inline_math, math_signature, math_symbol};

pub(super) struct Translator<'a> {
    pub program: &'a Program,
    pub kernel: &'a Kernel,
    pub b: FunctionBuilder<'a>,
    imports: &'a mut dyn Imports,
    call_conv: CallConv,
    pub options: Options,
    table: Value,
    pub bases: HashMap<BufferId, Value>,
    /// Loop counter of each index variable, once its loop is open.
    pub counters: Vec<Option<Variable>>,
    /// Known inclusive range of each index variable where code is being emitted.
    pub ranges: Vec<(i64, i64)>,
    /// Scalar value of each node emitted so far at the current point of the code.
    pub values: Vec<Option<Value>>,
    /// Whether a body node depends on the innermost domain index.
    pub inner: Vec<bool>,
    /// For loads in the innermost loop: what is computed once per row.
    pub plans: HashMap<NodeId, RowPlan>,
    /// Per row: the address of the row's first element in each output.
    out_rows: HashMap<BufferId, Value>,
    /// Per point: the innermost index times 8 (a byte offset along a row).
    pub point_bytes: Option<Value>,
    /// Row values in both lanes, for the vector loop.
    pub splats: HashMap<NodeId, Value>,
    /// The lanes' 64-bit word products in the vector loop being emitted, by operands: a
    /// Philox round's high and low halves share one multiply.
    pub products: HashMap<(Value, Value), Value>,
    /// The low and high words of four counters' products (two pairs of pairs), by operands.
    pub joint_products: HashMap<(Value, Value), [Value; 2]>,
    /// The word constants of the vector loop (splatted row values), by value.
    pub word_constants: HashMap<Value, u32>,
    /// How vectors of joint words order their counters, where not straight (see `vector`).
    pub word_orders: HashMap<Value, super::vector::WordOrder>,
    /// The vector loop's strided row addresses at the current point, by row and step.
    pub addresses: HashMap<(Value, i64), Value>,
    /// The vector loop's loads of two neighbouring elements, by row and offset.
    pub wide_loads: HashMap<(super::vector::WideRow, i32), Value>,
    /// Whether some innermost loop runs on vectors.
    pub vectorized: bool,
    /// How many neighbouring points share a draw in the vector loops being emitted (2 or 4):
    /// set with the loops' paired nodes, read by `vector_points`.
    pub block: i64,
    /// For a kernel split by scatter rows: the rows of the target this call adds into.
    owned_rows: Option<(Value, Value)>,
    math: HashMap<&'static str, FuncRef>,
    /// The last 32x32 -> 64-bit word product, by operands and the block it was made in: Philox
    /// asks for both halves of each product, and one `imul.i64` serves both.
    product: Option<((Value, Value), Block, Value)>,
    /// Whether `exp`, `log`, `sin` and `cos` are emitted inline (see [`INLINE_MATH_LIMIT`]).
    pub(super) inline_math: bool,
    /// The axis whose rows run two at a time on lanes, where the kernel allows it (see `rows`).
    row_lanes: Option<RowLanes>,
    /// The `exp` nodes computed only inside the comparison that reads them (see `accept`),
    /// with that comparison.
    pub deferred: HashMap<NodeId, NodeId>,
}

impl<'a> Translator<'a> {
    pub fn run(
        program: &'a Program,
        kernel: &'a Kernel,
        func: &'a mut Function,
        builder_context: &'a mut FunctionBuilderContext,
        imports: &'a mut dyn Imports,
        target: TargetFrontendConfig,
        options: Options,
    ) -> Result<Translated, String> {
        let call_conv = target.default_call_conv;
        let mut b = FunctionBuilder::new(func, builder_context);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        b.seal_block(entry);
        let params = b.block_params(entry).to_vec();
        let mut t = Translator {
            program,
            kernel,
            b,
            imports,
            call_conv,
            options,
            table: params[0],
            bases: HashMap::new(),
            counters: vec![None; kernel.vars.len()],
            ranges: kernel.vars.iter().map(|&e| (0, e as i64 - 1)).collect(),
            values: vec![None; kernel.nodes.len()],
            inner: vec![false; kernel.nodes.len()],
            plans: HashMap::new(),
            out_rows: HashMap::new(),
            point_bytes: None,
            splats: HashMap::new(),
            products: HashMap::new(),
            joint_products: HashMap::new(),
            word_constants: HashMap::new(),
            word_orders: HashMap::new(),
            addresses: HashMap::new(),
            wide_loads: HashMap::new(),
            vectorized: false,
            block: 2,
            owned_rows: None,
            math: HashMap::new(),
            product: None,
            inline_math: inline_math_fits(kernel),
            row_lanes: None,
            deferred: deferred_exponentials(kernel),
        };
        t.load_bases();
        t.region(&kernel.prelude, &|_| true);
        if kernel.rank == 0 {
            t.region(&kernel.body, &|_| true);
            t.out_rows = t.bases.clone();
            t.point_bytes = Some(t.b.ins().iconst(types::I64, 0));
            t.store_outputs();
        } else if let Visit::Listed(list) = kernel.visit {
            t.listed(list, params[1], params[2]);
        } else if let Partition::ScatterRows(_) = kernel.partition(program) {
            // `lo..hi` are rows of the scatter's target: visit the whole domain.
            t.mark_inner();
            t.owned_rows = Some((params[1], params[2]));
            let (from, to) = (t.b.ins().iconst(types::I64, 0), t.b.ins().iconst(types::I64, kernel.vars[0] as i64));
            t.axis(0, from, to);
        } else {
            t.mark_inner();
            // The body computes an exponential where its comparison is: both per point or per row.
            let inner = t.inner.clone();
            t.deferred.retain(|e, compare| inner[e.index()] == inner[compare.index()]);
            t.row_lanes = t.row_lanes();
            t.axis(0, params[1], params[2]);
        }
        t.b.ins().return_(&[]);
        let vectorized = t.vectorized;
        t.b.finalize(target);
        Ok(Translated { vectorized })
    }

    /// Loads the storage pointer of every buffer the kernel touches, once.
    fn load_bases(&mut self) {
        let mut buffers: Vec<BufferId> = self.kernel.outputs.iter().map(|o| o.buffer).collect();
        if let Visit::Listed(list) = self.kernel.visit {
            buffers.push(list);
        }
        for node in &self.kernel.nodes {
            if let Node::Load(load) = node {
                buffers.push(load.buffer);
            }
        }
        buffers.sort();
        buffers.dedup();
        let flags = super::READ_ONLY;
        for buffer in buffers {
            let offset = i32::try_from(buffer.index() * 8).expect("buffer tables are small");
            let base = self.b.ins().load(super::POINTER, flags, self.table, offset);
            self.bases.insert(buffer, base);
        }
    }

    /// The points at positions `from..to` of the list `list`: each entry is unflattened into
    /// the domain's indices, and the whole body runs for it (an in-place sweep in random order).
    fn listed(&mut self, list: BufferId, from: Value, to: Value) {
        let position = self.b.declare_var(types::I64);
        let blocks = self.begin_loop(position, from, to, 1);
        let prelude: Vec<NodeId> = self.kernel.prelude.items.clone();
        for (id, value) in self.values.iter_mut().enumerate() {
            if !prelude.contains(&NodeId(id as u32)) {
                *value = None;
            }
        }
        let t = self.b.use_var(position);
        let offset = self.b.ins().ishl_imm_u(t, 3);
        let address = self.b.ins().iadd(self.bases[&list], offset);
        let entry = self.b.ins().load(types::F64, MemFlagsData::trusted().with_readonly(), address, 0);
        let mut flat = self.b.ins().fcvt_to_sint(types::I64, entry);
        for axis in (0..self.kernel.rank).rev() {
            let extent = self.kernel.vars[axis] as i64;
            let quotient = self.b.ins().udiv_imm_u(flat, extent);
            let whole = self.b.ins().imul_imm_s(quotient, extent);
            let index = self.b.ins().isub(flat, whole);
            let counter = self.counter(VarId(axis as u32));
            self.b.def_var(counter, index);
            flat = quotient;
        }
        self.region(&self.kernel.body, &|_| true);
        self.store_outputs();
        self.end_loop(position, 1, blocks);
    }

    /// Whether the kernel updates `buffer` in place (so its loads are made afresh per point).
    pub fn updates(&self, buffer: BufferId) -> bool {
        self.kernel.outputs.iter().any(|o| o.buffer == buffer && matches!(o.store, Store::Update { .. }))
    }

    /// Marks the body nodes that depend on the innermost domain index.
    fn mark_inner(&mut self) {
        let innermost = VarId(self.kernel.rank as u32 - 1);
        self.mark_region(&self.kernel.body, innermost);
    }

    fn mark_region(&mut self, region: &'a Region, innermost: VarId) -> bool {
        let mut any = false;
        for &id in &region.items {
            let inner = match self.kernel.node(id) {
                Node::Index(var) => *var == innermost,
                Node::Load(load) => {
                    self.updates(load.buffer) || load.index.iter().any(|a| a.terms.iter().any(|(v, _)| *v == innermost))
                }
                Node::Reduce(r) => {
                    let region_inner = self.mark_region(&r.region, innermost);
                    region_inner || r.filter.iter().chain([&r.value]).any(|o| self.inner[o.index()])
                }
                other => other.operands().iter().any(|o| self.inner[o.index()]),
            };
            self.inner[id.index()] = inner;
            any |= inner;
        }
        any
    }

    /// Loops over domain axis `axis` from `from` to `to`, then the axes inside it.
    fn axis(&mut self, axis: usize, from: Value, to: Value) {
        let from = match self.row_lanes {
            Some(rows) if rows.axis.index() == axis => self.rows_on_lanes(rows, from, to),
            _ => from,
        };
        let last = self.kernel.rank - 1;
        if axis == last {
            self.row();
            self.innermost(from, to);
            return;
        }
        let counter = self.counter(VarId(axis as u32));
        let blocks = self.begin_loop(counter, from, to, 1);
        let extent = self.kernel.vars[axis + 1] as i64;
        let (start, end) = (self.b.ins().iconst(types::I64, 0), self.b.ins().iconst(types::I64, extent));
        self.axis(axis + 1, start, end);
        self.end_loop(counter, 1, blocks);
    }

    /// Per row: body values that do not depend on the innermost index, load plans, and where
    /// the row starts in each output.
    fn row(&mut self) {
        let inner = self.inner.clone();
        let rank = self.kernel.rank;
        self.region(&self.kernel.body, &|id| !inner[id.index()]);
        let loads: Vec<NodeId> = self.kernel.body.items.iter().copied().filter(|id| inner[id.index()]).collect();
        self.plan_loads(&loads, VarId(rank as u32 - 1));
        let mut offset = self.b.ins().iconst(types::I64, 0);
        let mut stride = self.kernel.vars[rank - 1] as i64;
        for axis in (0..rank - 1).rev() {
            let counter = self.counters[axis].expect("outer loops are open");
            let index = self.b.use_var(counter);
            let scaled = self.b.ins().imul_imm_s(index, stride * 8);
            offset = self.b.ins().iadd(offset, scaled);
            stride *= self.kernel.vars[axis] as i64;
        }
        for output in &self.kernel.outputs {
            let row = self.b.ins().iadd(self.bases[&output.buffer], offset);
            self.out_rows.insert(output.buffer, row);
        }
    }

    /// The innermost axis: edge segments resolve boundary rules, the interior reads directly.
    /// Where blocks of points share a draw, the interior's vector loop starts and ends on block
    /// boundaries and an edge within one block draws once (Ising's rows: two draws for their
    /// ends instead of six).
    fn innermost(&mut self, from: Value, to: Value) {
        let v = VarId(self.kernel.rank as u32 - 1);
        let extent = self.kernel.vars[v.index()] as i64;
        let (head, tail) = self.edge_widths(v, extent);
        if head + tail == 0 && self.fusable() {
            self.fused_row();
            return;
        }
        if head + tail == 0 || head + tail >= extent {
            let vectorize = head + tail == 0 && self.options.vectorize && self.vectorizable((0, extent - 1));
            self.segment(from, to, (0, extent - 1), vectorize);
            return;
        }
        // Clamp the static split points into [from, to) (the range may be a thread's chunk).
        let split = |t: &mut Self, at: i64| {
            let at = t.b.ins().iconst(types::I64, at);
            let at = t.b.ins().smax(at, from);
            t.b.ins().smin(at, to)
        };
        let vectorize = self.options.vectorize && self.vectorizable((head, extent - tail - 1));
        let (interior, shared) = self.block_aligned_interior((head, extent - tail), vectorize);
        let (a, z) = (split(self, interior.0), split(self, interior.1));
        let edge_draws = |points: i64| shared.as_ref().filter(|s| points <= s.size).map(|s| s.nodes.as_slice());
        self.edge(from, a, extent, edge_draws(interior.0));
        self.segment(a, z, (interior.0, interior.1 - 1), vectorize);
        self.edge(z, to, extent, edge_draws(extent - interior.1));
    }

    /// Where the vector loop of the interior `head..end` runs: with draws shared by aligned
    /// blocks of points, from the first block boundary to the last (the points between run
    /// with the edges), and the shared nodes and the block size, so that each edge, where it
    /// fits in one block, computes the block's draw once instead of at every point.
    fn block_aligned_interior(&self, (head, end): (i64, i64), vectorize: bool) -> ((i64, i64), Option<BlockShared>) {
        if !vectorize {
            return ((head, end), None);
        }
        let (nodes, size) = self.paired_nodes();
        let (first, last) = ((head + size - 1) / size * size, end / size * size);
        if !nodes.contains(&true) || first >= last {
            return ((head, end), None);
        }
        ((first, last), Some(BlockShared { nodes, size }))
    }

    /// An edge segment `from..to` of the innermost axis (of `extent` points): one point at a
    /// time, every read resolving its boundary rule; the `shared` nodes computed once, before
    /// the loop, where its points lie in one block.
    fn edge(&mut self, from: Value, to: Value, extent: i64, shared: Option<&[bool]>) {
        let v = VarId(self.kernel.rank as u32 - 1);
        let saved = self.ranges[v.index()];
        self.ranges[v.index()] = (0, extent - 1);
        let counter = self.counter(v);
        self.scalar_loop(counter, from, to, shared);
        self.ranges[v.index()] = saved;
    }

    /// How many points at each end of the innermost axis have reads that leave their field.
    fn edge_widths(&self, v: VarId, extent: i64) -> (i64, i64) {
        let (mut head, mut tail) = (0, 0);
        for &id in &self.kernel.body.items {
            let Node::Load(load) = self.kernel.node(id) else { continue };
            let shape = &self.program.buffer(load.buffer).shape;
            for (affine, &n) in load.index.iter().zip(shape) {
                // `c * v + o` leaves the axis below for `v < -o / c`, above for `v > (n - 1 - o) / c`.
                if let [(var, c)] = affine.terms.as_slice() {
                    if *var == v && *c >= 1 {
                        let o = affine.offset;
                        head = head.max((-o).div_euclid(*c) + i64::from((-o).rem_euclid(*c) != 0));
                        tail = tail.max(extent - 1 - (n as i64 - 1 - o).div_euclid(*c));
                    }
                }
            }
        }
        (head.max(0), tail.max(0))
    }

    /// Emits the innermost loop over `from..to`, where the index lies in `range`.
    fn segment(&mut self, from: Value, to: Value, range: (i64, i64), vectorize: bool) {
        let v = VarId(self.kernel.rank as u32 - 1);
        let saved = self.ranges[v.index()];
        self.ranges[v.index()] = range;
        let counter = self.counter(v);
        if vectorize {
            self.vectorized = true;
            self.prepare_splats();
            let (paired, block) = self.paired_nodes();
            self.block = block;
            let pairing = paired.contains(&true);
            let mut from = if pairing {
                // Blocks start at multiples of their size: the points before the first run alone.
                let up = self.b.ins().iadd_imm_s(from, block - 1);
                let aligned = self.b.ins().band_imm_s(up, -block);
                let aligned = self.b.ins().smin(aligned, to);
                self.scalar_loop(counter, from, aligned, Some(&paired));
                aligned
            } else {
                from
            };
            for shifts in vector_bodies(pairing) {
                let step = 2 * shifts.len() as i64;
                let blocks = self.begin_loop(counter, from, to, step);
                self.start_point(counter);
                self.vector_points(shifts, &paired);
                self.end_loop(counter, step, blocks);
                // The next loop starts where this one stopped.
                from = self.b.use_var(counter);
            }
            self.scalar_loop(counter, from, to, None);
        } else {
            self.scalar_loop(counter, from, to, None);
        }
        self.ranges[v.index()] = saved;
    }

    /// The points `from..to` one at a time. The `shared` nodes (a block's draw, see
    /// `paired_nodes`) are computed once, at `from`, if there are points: the caller knows they
    /// lie in one block.
    fn scalar_loop(&mut self, counter: Variable, from: Value, to: Value, shared: Option<&[bool]>) {
        let inner = self.inner.clone();
        for (value, is_inner) in self.values.iter_mut().zip(&inner) {
            if *is_inner {
                *value = None;
            }
        }
        let Some(shared) = shared else { return self.point_loop(counter, from, to) };
        let (points, after) = (self.b.create_block(), self.b.create_block());
        self.b.def_var(counter, from);
        let any = self.b.ins().icmp(IntCC::SignedLessThan, from, to);
        self.b.ins().brif(any, points, &[], after, &[]);
        self.b.switch_to_block(points);
        self.b.seal_block(points);
        // The shared nodes and what they are computed from at `from` (its block index), which
        // every point then computes again for itself.
        let mut needed: Vec<bool> =
            shared.iter().enumerate().map(|(i, &s)| s && !self.deferred.contains_key(&NodeId(i as u32))).collect();
        for &id in self.kernel.body.items.iter().rev() {
            if needed[id.index()] {
                for operand in self.kernel.node(id).operands() {
                    needed[operand.index()] |= inner[operand.index()];
                }
            }
        }
        self.region(&self.kernel.body, &|id| needed[id.index()]);
        for (i, value) in self.values.iter_mut().enumerate() {
            if inner[i] && !shared[i] {
                *value = None;
            }
        }
        self.point_loop(counter, from, to);
        self.b.ins().jump(after, &[]);
        self.b.switch_to_block(after);
        self.b.seal_block(after);
    }

    /// The loop of [`Self::scalar_loop`], whose values not yet computed are computed per point.
    fn point_loop(&mut self, counter: Variable, from: Value, to: Value) {
        let inner = self.inner.clone();
        let blocks = self.begin_loop(counter, from, to, 1);
        self.start_point(counter);
        let skip = self.owned_rows.map(|rows| self.skip_unless_owned(rows));
        self.region(&self.kernel.body, &|id| inner[id.index()]);
        self.store_outputs();
        if let Some(skip) = skip {
            self.b.ins().jump(skip, &[]);
            self.b.switch_to_block(skip);
            self.b.seal_block(skip);
        }
        self.end_loop(counter, 1, blocks);
    }

    /// Branches past the point (to the returned block) unless the scatter lands in `lo..hi`.
    fn skip_unless_owned(&mut self, (lo, hi): (Value, Value)) -> Block {
        let Store::Scatter { index, axes } = &self.kernel.outputs[0].store else {
            unreachable!("kernels split by scatter rows have one scatter output")
        };
        let extent = self.program.buffer(self.kernel.outputs[0].buffer).shape[0] as i64;
        let x = self.affine_value(&index[0], None);
        let interval = self.interval(&index[0]);
        let (row, _) = self.position(x, interval, extent, axes[0]);
        let from_lo = self.b.ins().icmp(IntCC::SignedGreaterThanOrEqual, row, lo);
        let below_hi = self.b.ins().icmp(IntCC::SignedLessThan, row, hi);
        let owned = self.b.ins().band(from_lo, below_hi);
        let (compute, skip) = (self.b.create_block(), self.b.create_block());
        self.b.ins().brif(owned, compute, &[], skip, &[]);
        self.b.switch_to_block(compute);
        self.b.seal_block(compute);
        skip
    }

    /// Sets up per-point values shared by loads and stores.
    pub fn start_point(&mut self, counter: Variable) {
        let v = self.b.use_var(counter);
        self.point_bytes = Some(self.b.ins().ishl_imm_u(v, 3));
    }

    pub(super) fn store_outputs(&mut self) {
        for output in &self.kernel.outputs {
            let value = self.values[output.value.index()].expect("outputs are computed");
            match &output.store {
                Store::Assign => {
                    let address = self.output_address(output.buffer);
                    self.b.ins().store(MemFlagsData::trusted(), value, address, 0);
                }
                Store::Add => {
                    let address = self.output_address(output.buffer);
                    self.add_at(address, 0, value, types::F64);
                }
                Store::Scatter { index, axes } => self.scatter(output.buffer, index, axes, value),
                Store::Update { index } => {
                    let axes = vec![crate::ir::Access::Direct; index.len()];
                    let (address, _) = self.element(output.buffer, index, &axes);
                    self.b.ins().store(MemFlagsData::trusted(), value, address, 0);
                }
            }
        }
    }

    /// `*(address + offset) += value`, in the order the interpreter adds.
    pub fn add_at(&mut self, address: Value, offset: i32, value: Value, ty: types::Type) {
        let flags = if ty == types::F64 { MemFlagsData::trusted() } else { MemFlagsData::new().with_notrap() };
        let old = self.b.ins().load(ty, flags, address, offset);
        let sum = self.b.ins().fadd(old, value);
        self.b.ins().store(flags, sum, address, offset);
    }

    /// Where the current point of an output lies.
    pub fn output_address(&mut self, buffer: BufferId) -> Value {
        let bytes = self.point_bytes.expect("a point is open");
        self.b.ins().iadd(self.out_rows[&buffer], bytes)
    }

    pub fn counter(&mut self, var: VarId) -> Variable {
        match self.counters[var.index()] {
            Some(counter) => counter,
            None => {
                let counter = self.b.declare_var(types::I64);
                self.counters[var.index()] = Some(counter);
                counter
            }
        }
    }

    /// Opens `for counter in (from..to).step_by(step)`; the current block becomes the body. With a
    /// step of 2 the body runs while `counter + 2 <= to`. The test sits at the bottom (after a
    /// guard), so an iteration costs one branch.
    pub fn begin_loop(&mut self, counter: Variable, from: Value, to: Value, step: i64) -> LoopBlocks {
        let (body, exit) = (self.b.create_block(), self.b.create_block());
        // The body runs while `counter < limit`, i.e. while `counter + step <= to`.
        let limit = if step == 1 { to } else { self.b.ins().iadd_imm_s(to, 1 - step) };
        self.b.def_var(counter, from);
        let more = self.b.ins().icmp(IntCC::SignedLessThan, from, limit);
        self.b.ins().brif(more, body, &[], exit, &[]);
        self.b.switch_to_block(body);
        LoopBlocks { body, exit, limit }
    }

    pub fn end_loop(&mut self, counter: Variable, step: i64, blocks: LoopBlocks) {
        let i = self.b.use_var(counter);
        let next = self.b.ins().iadd_imm_s(i, step);
        self.b.def_var(counter, next);
        let more = self.b.ins().icmp(IntCC::SignedLessThan, next, blocks.limit);
        self.b.ins().brif(more, blocks.body, &[], blocks.exit, &[]);
        self.b.seal_block(blocks.body);
        self.b.switch_to_block(blocks.exit);
        self.b.seal_block(blocks.exit);
    }

    /// Emits the items of `region` that `keep` selects, in order.
    pub fn region(&mut self, region: &'a Region, keep: &dyn Fn(NodeId) -> bool) {
        for &id in &region.items {
            if keep(id) && self.values[id.index()].is_none() && !self.deferred.contains_key(&id) {
                let value = self.node(id);
                self.values[id.index()] = Some(value);
            }
        }
    }

    fn get(&self, id: NodeId) -> Value {
        self.values[id.index()].expect("operands are emitted before their uses")
    }

    pub(super) fn node(&mut self, id: NodeId) -> Value {
        let node = self.kernel.node(id);
        match node {
            Node::Const(c) => self.b.ins().f64const(*c),
            Node::Index(var) => {
                let counter = self.counters[var.index()].expect("an index is used inside its loop");
                let i = self.b.use_var(counter);
                self.b.ins().fcvt_from_sint(types::F64, i)
            }
            Node::Load(load) => self.load_scalar(id, load),
            Node::Unary(op, a) => {
                let a = self.get(*a);
                self.unary(*op, a, types::F64)
            }
            Node::Binary(op, a, b) => {
                let (a, b) = (self.get(*a), self.get(*b));
                self.binary(*op, a, b, types::F64)
            }
            Node::Compare(Compare::Lt, a, e) if self.deferred.contains_key(e) => {
                let Node::Unary(Unary::Exp, z) = self.kernel.node(*e) else { unreachable!("deferred nodes are exp") };
                let (a, z) = (self.get(*a), self.get(*z));
                self.less_than_exp(&[a], &[z], types::F64)[0]
            }
            Node::Compare(op, a, b) => {
                let (a, b) = (self.get(*a), self.get(*b));
                self.b.ins().fcmp(float_cc(*op), a, b)
            }
            Node::And(a, b) => {
                let (a, b) = (self.get(*a), self.get(*b));
                self.b.ins().band(a, b)
            }
            Node::Or(a, b) => {
                let (a, b) = (self.get(*a), self.get(*b));
                self.b.ins().bor(a, b)
            }
            Node::Not(a) => {
                let a = self.get(*a);
                self.b.ins().bxor_imm_u(a, 1)
            }
            Node::Select(c, a, b) => {
                let (c, a, b) = (self.get(*c), self.get(*a), self.get(*b));
                self.b.ins().select(c, a, b)
            }
            Node::MulAdd(a, b, c) => {
                let (a, b, c) = (self.get(*a), self.get(*b), self.get(*c));
                self.b.ins().fma(a, b, c)
            }
            Node::Reduce(r) => self.reduce(r),
            Node::WordConst(w) => self.b.ins().iconst(types::I32, i64::from(*w)),
            Node::ToWord(a) => {
                // Saturating like Rust's `as i64` (NaN gives 0), then the low 32 bits.
                let a = self.get(*a);
                let wide = self.b.ins().fcvt_to_sint_sat(types::I64, a);
                self.b.ins().ireduce(types::I32, wide)
            }
            Node::Word(op, a, b) => {
                let (a, b) = (self.get(*a), self.get(*b));
                match op {
                    WordOp::Add => self.b.ins().iadd(a, b),
                    WordOp::Xor => self.b.ins().bxor(a, b),
                    WordOp::MulLo => {
                        let product = self.wide_product(a, b);
                        self.b.ins().ireduce(types::I32, product)
                    }
                    WordOp::MulHi => {
                        let product = self.wide_product(a, b);
                        let high = self.b.ins().ushr_imm_u(product, 32);
                        self.b.ins().ireduce(types::I32, high)
                    }
                }
            }
            Node::FromWord(a) => {
                let a = self.get(*a);
                let wide = self.b.ins().uextend(types::I64, a);
                self.b.ins().fcvt_from_sint(types::F64, wide)
            }
            Node::Unit(hi, lo) => {
                let (hi, lo) = (self.get(*hi), self.get(*lo));
                let (hi, lo) = (self.b.ins().uextend(types::I64, hi), self.b.ins().uextend(types::I64, lo));
                self.unit_of_words(hi, lo, types::I64)
            }
        }
    }

    /// [`Node::Unit`] of words `hi` and `lo` in the low halves of 64-bit integers (`ty` `i64`
    /// or `i64x2`, high halves 0), from bits: `k` below the exponent of 1.0 is the number
    /// `1 + k 2^-52`, and taking `1 - 2^-53` away leaves `(k + 1/2) 2^-52`, exactly.
    pub fn unit_of_words(&mut self, hi: Value, lo: Value, ty: types::Type) -> Value {
        let high = self.b.ins().ishl_imm_u(hi, 20);
        let low = self.b.ins().ushr_imm_u(lo, 12);
        let k = self.b.ins().bor(high, low);
        self.unit_of_top_bits(k, ty)
    }

    /// [`Node::Unit`] of the 52-bit integer `k` (the top bits of its words) in `ty` (`i64` or
    /// `i64x2`): see [`Self::unit_of_words`].
    pub fn unit_of_top_bits(&mut self, k: Value, ty: types::Type) -> Value {
        let float = if ty == types::I64 { types::F64 } else { types::F64X2 };
        let little = MemFlagsData::new().with_endianness(Endianness::Little);
        let one = self.constant(1.0, float);
        let one = self.b.ins().bitcast(ty, little, one);
        let bits = self.b.ins().bor(k, one);
        let number = self.b.ins().bitcast(float, little, bits);
        let below_one = self.constant(1.0 - 2f64.powi(-53), float);
        self.b.ins().fsub(number, below_one)
    }

    /// The 64-bit product of the words `a` and `b`, reusing the previous one when it has the same
    /// operands and was made in the current block (so it dominates this use). The high and low
    /// halves are then one multiplication instead of two, the same bits as `umulhi` and `imul`.
    fn wide_product(&mut self, a: Value, b: Value) -> Value {
        let block = self.b.current_block().expect("code is emitted into a block");
        if let Some((operands, made_in, product)) = self.product {
            if made_in == block && (operands == (a, b) || operands == (b, a)) {
                return product;
            }
        }
        let (wide_a, wide_b) = (self.b.ins().uextend(types::I64, a), self.b.ins().uextend(types::I64, b));
        let product = self.b.ins().imul(wide_a, wide_b);
        self.product = Some(((a, b), block, product));
        product
    }

    /// `op a` on scalars or lanes (`ty` is F64 or F64X2).
    pub fn unary(&mut self, op: Unary, a: Value, ty: types::Type) -> Value {
        let ins = self.b.ins();
        match op {
            Unary::Neg => ins.fneg(a),
            Unary::Abs => ins.fabs(a),
            Unary::Sqrt => ins.sqrt(a),
            Unary::Floor => ins.floor(a),
            Unary::Ceil => ins.ceil(a),
            Unary::Powi(n) => self.powi(a, n, ty),
            Unary::Sign => self.sign(a, ty),
            op if self.inline_math && is_inline_math(MathOp::Unary(op)) => {
                library(&mut Emit { t: self, ty }, MathOp::Unary(op), &[a], Domain::Any)
            }
            other => self.call_math(MathOp::Unary(other), &[a], ty),
        }
    }

    /// `a op b` on scalars or lanes.
    pub fn binary(&mut self, op: Binary, a: Value, b: Value, ty: types::Type) -> Value {
        match op {
            Binary::Add => self.b.ins().fadd(a, b),
            Binary::Sub => self.b.ins().fsub(a, b),
            Binary::Mul => self.b.ins().fmul(a, b),
            Binary::Div => self.b.ins().fdiv(a, b),
            Binary::Min => self.b.ins().fmin(a, b),
            Binary::Max => self.b.ins().fmax(a, b),
            Binary::FloorDiv => {
                let q = self.b.ins().fdiv(a, b);
                self.b.ins().floor(q)
            }
            Binary::Mod => {
                let q = self.b.ins().fdiv(a, b);
                let q = self.b.ins().floor(q);
                let m = self.b.ins().fmul(b, q);
                self.b.ins().fsub(a, m)
            }
            Binary::Pow | Binary::Atan2 if self.inline_math => {
                library(&mut Emit { t: self, ty }, MathOp::Binary(op), &[a, b], Domain::Any)
            }
            Binary::Pow | Binary::Atan2 => self.call_math(MathOp::Binary(op), &[a, b], ty),
        }
    }

    /// The same multiplications, in the same order, as [`crate::ops::powi`].
    fn powi(&mut self, x: Value, n: i32, ty: types::Type) -> Value {
        let mut result: Option<Value> = None;
        let mut base = x;
        let mut bits = n.unsigned_abs();
        while bits > 0 {
            if bits & 1 == 1 {
                result = Some(match result {
                    Some(r) => self.b.ins().fmul(r, base),
                    None => base,
                });
            }
            bits >>= 1;
            if bits > 0 {
                base = self.b.ins().fmul(base, base);
            }
        }
        let result = result.unwrap_or_else(|| self.one(ty));
        if n < 0 {
            let one = self.one(ty);
            self.b.ins().fdiv(one, result)
        } else {
            result
        }
    }

    /// 1.0 as a scalar or in every lane.
    pub fn one(&mut self, ty: types::Type) -> Value {
        self.constant(1.0, ty)
    }

    /// `c`, or `c` in every lane (a constant-pool vector: one load where it is used).
    pub fn constant(&mut self, c: f64, ty: types::Type) -> Value {
        if ty == types::F64 {
            return self.b.ins().f64const(c);
        }
        let bytes: Vec<u8> = (0..ty.lane_count()).flat_map(|_| c.to_le_bytes()).collect();
        let handle = self.b.func.dfg.constants.insert(ConstantData::from(bytes));
        self.b.ins().vconst(ty, handle)
    }

    /// -1, 0 or 1; NaN and signed zeros pass through, as in [`crate::builtins::sign`].
    fn sign(&mut self, x: Value, ty: types::Type) -> Value {
        let zero = self.constant(0.0, ty);
        let (one, minus_one) = (self.constant(1.0, ty), self.constant(-1.0, ty));
        let positive = self.b.ins().fcmp(FloatCC::GreaterThan, x, zero);
        let negative = self.b.ins().fcmp(FloatCC::LessThan, x, zero);
        if ty == types::F64 {
            let t = self.b.ins().select(negative, minus_one, x);
            self.b.ins().select(positive, one, t)
        } else {
            let t = self.lane_select(negative, minus_one, x);
            self.lane_select(positive, one, t)
        }
    }

    /// The external function `symbol`, imported into this kernel once.
    pub fn import(&mut self, symbol: &'static str, signature: impl FnOnce(CallConv) -> Signature) -> FuncRef {
        if let Some(&f) = self.math.get(symbol) {
            return f;
        }
        let f = self.imports.import(self.b.func, symbol, signature(self.call_conv));
        self.math.insert(symbol, f);
        f
    }

    /// Calls the external implementation of `op`; on vectors, once per lane.
    fn call_math(&mut self, op: MathOp, args: &[Value], ty: types::Type) -> Value {
        let symbol = math_symbol(op).expect("every non-native operation has a symbol");
        let func = self.import(symbol, |call_conv| math_signature(call_conv, op.arity()));
        if ty == types::F64 {
            let call = self.b.ins().call(func, args);
            return self.b.inst_results(call)[0];
        }
        let mut lanes = Vec::with_capacity(2);
        for lane in 0..2u8 {
            let lane_args: Vec<Value> = args.iter().map(|a| self.b.ins().extractlane(*a, lane)).collect();
            let call = self.b.ins().call(func, &lane_args);
            lanes.push(self.b.inst_results(call)[0]);
        }
        self.f64_pair(lanes[0], lanes[1])
    }

    /// `[first, second]` as `f64x2`: a splat and a lane insert, two instructions
    /// (`scalar_to_vector` would zero a register and move into it first).
    pub(super) fn f64_pair(&mut self, first: Value, second: Value) -> Value {
        let v = self.b.ins().splat(types::F64X2, first);
        self.b.ins().insertlane(v, second, 1)
    }
}

/// The nodes that the points of an aligned block share (their draw, see `paired_nodes`), and
/// the block's size.
struct BlockShared {
    nodes: Vec<bool>,
    size: i64,
}

/// The vector loops' bodies, as the shifts of their vectors of two points from the loop's
/// index, widest first: each loop runs while its body fits, the next takes what is left, and
/// the scalar loop the last point (or none). Where blocks of points share a draw, eight
/// vectors per iteration (four Philox draws for pairs, two for blocks of four, each pair of
/// them on joint words), so that their long chains (Philox, Box–Muller) overlap: GBM's loop is
/// latency-bound, 15% faster than with four vectors and no faster with sixteen (spills); the
/// narrower bodies (eight, four, two points) keep most of a checkerboard colour's short rows
/// (126 points: 112 + 8 + 4 + 2) off the slower ones.
fn vector_bodies(pairing: bool) -> &'static [&'static [i64]] {
    if pairing { &[&[0, 2, 4, 6, 8, 10, 12, 14], &[0, 2, 4, 6], &[0, 2], &[0]] } else { &[&[0, 2], &[0]] }
}

/// Whether `kernel` uses few enough inline math functions to emit them all inline.
fn inline_math_fits(kernel: &Kernel) -> bool {
    let uses = kernel
        .nodes
        .iter()
        .filter(|n| match n {
            Node::Unary(op, _) => is_inline_math(MathOp::Unary(*op)),
            Node::Binary(op, _, _) => is_inline_math(MathOp::Binary(*op)),
            _ => false,
        })
        .count();
    uses <= INLINE_MATH_LIMIT
}

/// The blocks of an open loop and its bound.
#[derive(Clone, Copy)]
pub(super) struct LoopBlocks {
    body: Block,
    exit: Block,
    limit: Value,
}

pub(super) fn float_cc(op: Compare) -> FloatCC {
    match op {
        Compare::Lt => FloatCC::LessThan,
        Compare::Le => FloatCC::LessThanOrEqual,
        Compare::Gt => FloatCC::GreaterThan,
        Compare::Ge => FloatCC::GreaterThanOrEqual,
        Compare::Eq => FloatCC::Equal,
        Compare::Ne => FloatCC::NotEqual,
    }
}
