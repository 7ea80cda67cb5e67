//! Building one kernel's SSA nodes in regions, for lowering and for autodiff alike.
//!
//! Every node is placed in the outermost region where its operands are available (so work that
//! does not depend on a reduction's variables moves out of it, and work that does not depend on
//! the domain moves into the prelude), and identical nodes in one region are built once. Loads
//! of a *pinned* buffer (one the kernel updates in place) stay in the body, where each point
//! makes them afresh.

use std::collections::HashMap;

use super::{Access, Affine, BufferId, Kernel, Load, Node, NodeId, Output, Reduction, Region, VarId};
use crate::builtins::ReduceOp;
use crate::ops::{Binary, Compare, Unary, WordOp};

/// Region depths: the prelude is 0, the body 1, reductions deeper.
const BODY: usize = 1;

/// One kernel under construction: open regions, placement and the memo tables that let
/// identical nodes be shared. [`KernelBuilder::finish`] turns it into a [`Kernel`].
pub struct KernelBuilder {
    name: String,
    vars: Vec<usize>,
    rank: usize,
    nodes: Vec<Node>,
    /// Open regions, outermost first: (identity, items).
    regions: Vec<(usize, Vec<NodeId>)>,
    next_region: usize,
    /// For each node: its depth and the identity of the region it is in.
    placement: Vec<(usize, usize)>,
    /// The depth of the region binding each variable.
    var_depth: Vec<usize>,
    structural: HashMap<(usize, String), NodeId>,
    /// Expression nodes already built, by address (see [`KernelBuilder::memo`]).
    lowered: HashMap<usize, NodeId>,
    /// For each reduction node, the depths of the outside regions its region depends on
    /// (all of them: a reduction nested in another may need the body beside its parent).
    reach: HashMap<NodeId, Vec<usize>>,
    /// Buffers whose loads are never hoisted out of the body (see [`KernelBuilder::pin`]).
    pinned: Vec<BufferId>,
}

impl KernelBuilder {
    /// An empty kernel with these variable extents, the first `rank` of them its domain (the
    /// rest, and any from [`KernelBuilder::add_var`], for reductions).
    pub fn new(name: impl Into<String>, vars: Vec<usize>, rank: usize) -> Self {
        let mut var_depth = vec![usize::MAX; vars.len()];
        var_depth[..rank].iter_mut().for_each(|d| *d = BODY);
        KernelBuilder {
            name: name.into(),
            vars,
            rank,
            nodes: Vec::new(),
            regions: vec![(0, Vec::new()), (1, Vec::new())],
            next_region: 2,
            placement: Vec::new(),
            var_depth,
            structural: HashMap::new(),
            lowered: HashMap::new(),
            reach: HashMap::new(),
            pinned: Vec::new(),
        }
    }

    /// The kernel built, storing `outputs`, visiting its domain row-major.
    pub fn finish(mut self, outputs: Vec<Output>) -> Kernel {
        let body = self.regions.pop().map(|(_, items)| Region { items }).unwrap_or_default();
        let prelude = self.regions.pop().map(|(_, items)| Region { items }).unwrap_or_default();
        Kernel {
            name: self.name,
            vars: self.vars,
            rank: self.rank,
            nodes: self.nodes,
            prelude,
            body,
            outputs,
            visit: crate::ir::Visit::RowMajor,
        }
    }

    /// Keeps every later load of `buffer` in the body (or deeper), never in the prelude: the
    /// kernel updates `buffer` in place, so a value read at one point is stale at the next.
    pub fn pin(&mut self, buffer: BufferId) {
        self.pinned.push(buffer);
    }

    /// The shallowest depth a load may sit at, whatever its index.
    fn load_floor(&self, load: &Load) -> usize {
        if self.pinned.contains(&load.buffer) { BODY } else { 0 }
    }

    /// The node already built for the expression node at `address`, if it is still in scope.
    pub fn memo(&self, address: usize) -> Option<NodeId> {
        self.lowered.get(&address).copied().filter(|id| self.is_open(*id))
    }

    /// Records that the expression node at `address` was built as `id`, for
    /// [`KernelBuilder::memo`].
    pub fn remember(&mut self, address: usize, id: NodeId) {
        self.lowered.insert(address, id);
    }

    /// Adds a variable (for a reduction the caller builds), returning its id.
    pub fn add_var(&mut self, extent: usize) -> VarId {
        self.vars.push(extent);
        self.var_depth.push(usize::MAX);
        VarId(self.vars.len() as u32 - 1)
    }

    /// How many values `var` takes.
    pub fn var_extent(&self, var: VarId) -> usize {
        self.vars[var.index()]
    }

    /// Whether `id` may be used at the current point of the build.
    pub fn in_scope(&self, id: NodeId) -> bool {
        self.is_open(id)
    }

    fn is_open(&self, id: NodeId) -> bool {
        let (depth, region) = self.placement[id.index()];
        self.regions.get(depth).is_some_and(|(open, _)| *open == region)
    }

    fn affine_depth(&self, affine: &Affine) -> usize {
        affine.terms.iter().map(|(v, _)| self.var_depth[v.index()]).max().unwrap_or(0)
    }

    /// Adds `node` in the outermost region that can hold it, reusing an identical node there.
    pub fn push(&mut self, node: Node) -> NodeId {
        let depth = match &node {
            Node::Const(_) => 0,
            Node::Index(var) => self.var_depth[var.index()],
            Node::Load(load) => {
                load.index.iter().map(|a| self.affine_depth(a)).max().unwrap_or(0).max(self.load_floor(load))
            }
            other => other.operands().iter().map(|o| self.placement[o.index()].0).max().unwrap_or(0),
        };
        let key = (self.regions[depth].0, format!("{node:?}"));
        if let Some(&id) = self.structural.get(&key) {
            return id;
        }
        let id = self.place(node, depth);
        self.structural.insert(key, id);
        id
    }

    fn place(&mut self, node: Node, depth: usize) -> NodeId {
        let id = NodeId(self.nodes.len() as u32);
        self.nodes.push(node);
        self.placement.push((depth, self.regions[depth].0));
        self.regions[depth].1.push(id);
        id
    }

    /// The node built as `id`.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    /// A number constant, in the prelude and shared.
    pub fn constant(&mut self, value: f64) -> NodeId {
        self.push(Node::Const(value))
    }

    /// `op(a)`, folded to a constant when `a` is one.
    pub fn unary(&mut self, op: Unary, a: NodeId) -> NodeId {
        match self.nodes[a.index()] {
            Node::Const(x) => self.constant(op.eval(x)),
            _ => self.push(Node::Unary(op, a)),
        }
    }

    /// `op(a, b)`, folded to a constant when both are constants.
    pub fn binary(&mut self, op: Binary, a: NodeId, b: NodeId) -> NodeId {
        match (&self.nodes[a.index()], &self.nodes[b.index()]) {
            (Node::Const(x), Node::Const(y)) => self.constant(op.eval(*x, *y)),
            _ => self.push(Node::Binary(op, a, b)),
        }
    }

    /// `a b + c` rounded once ([`Node::MulAdd`]), folded where all three are constants.
    pub fn mul_add(&mut self, a: NodeId, b: NodeId, c: NodeId) -> NodeId {
        match (&self.nodes[a.index()], &self.nodes[b.index()], &self.nodes[c.index()]) {
            (Node::Const(x), Node::Const(y), Node::Const(z)) => self.constant(x.mul_add(*y, *z)),
            _ => self.push(Node::MulAdd(a, b, c)),
        }
    }

    /// A load of `buffer` at `index` (one per axis), placed as far out as its variables allow
    /// (no further out than the body for a pinned buffer).
    pub fn load(&mut self, buffer: BufferId, index: Vec<Affine>, axes: Vec<Access>, fill: f64) -> NodeId {
        self.push(Node::Load(Load { buffer, index, axes, fill }))
    }

    /// A load of `buffer` (of the domain's shape) at the current domain point.
    pub fn load_here(&mut self, buffer: BufferId) -> NodeId {
        let index = (0..self.rank).map(|v| Affine::var(VarId(v as u32))).collect();
        self.load(buffer, index, vec![Access::Direct; self.rank], 0.0)
    }

    /// A load of a scalar buffer.
    pub fn load_scalar(&mut self, buffer: BufferId) -> NodeId {
        self.load(buffer, Vec::new(), Vec::new(), 0.0)
    }

    /// A reduction over `vars`; `build` lowers the filter and value inside its region.
    pub fn reduce(
        &mut self,
        op: ReduceOp,
        vars: &[VarId],
        build: impl FnOnce(&mut Self) -> (Option<NodeId>, NodeId),
    ) -> NodeId {
        let depth = self.regions.len();
        let identity = self.next_region;
        self.next_region += 1;
        self.regions.push((identity, Vec::new()));
        for var in vars {
            self.var_depth[var.index()] = depth;
        }
        let (mut filter, mut value) = build(self);
        // `sum(...) if c then a else 0` is `sum(... | c) a`: a sum starts from +0 and never
        // reaches -0, so adding +0 changes no bit, and engines may then skip the point.
        if let (ReduceOp::Sum, None, Node::Select(c, a, zero)) = (op, filter, &self.nodes[value.index()]) {
            if matches!(self.nodes[zero.index()], Node::Const(z) if z == 0.0 && z.is_sign_positive()) {
                (filter, value) = (Some(*c), *a);
            }
        }
        let (_, items) = self.regions.pop().expect("the reduction's region is open");
        // The reduction goes as far out as the outside values its region uses allow.
        let mut reach: Vec<usize> = items.iter().flat_map(|&item| self.reach(item)).collect();
        reach.extend(filter.iter().chain([&value]).map(|o| self.placement[o.index()].0));
        reach.retain(|&d| d < depth);
        reach.sort_unstable();
        reach.dedup();
        let home = reach.last().copied().unwrap_or(0);
        let node = Node::Reduce(Reduction { op, vars: vars.to_vec(), region: Region { items }, filter, value });
        let id = self.place(node, home);
        self.reach.insert(id, reach);
        id
    }

    /// The depths of the regions `item` depends on directly (for a reduction, what its region
    /// depends on outside it).
    fn reach(&self, item: NodeId) -> Vec<usize> {
        match &self.nodes[item.index()] {
            Node::Index(var) => vec![self.var_depth[var.index()]],
            Node::Load(load) => load
                .index
                .iter()
                .flat_map(|a| &a.terms)
                .map(|(v, _)| self.var_depth[v.index()])
                .chain([self.load_floor(load)])
                .collect(),
            Node::Reduce(_) => self.reach[&item].clone(),
            node => node.operands().iter().map(|o| self.placement[o.index()].0).collect(),
        }
    }

    /// The boolean `a op b` (never folded).
    pub fn compare(&mut self, op: Compare, a: NodeId, b: NodeId) -> NodeId {
        self.push(Node::Compare(op, a, b))
    }

    /// The numeric value of an affine index of the kernel's variables.
    pub fn affine_value(&mut self, affine: &Affine) -> NodeId {
        let mut total: Option<NodeId> = None;
        for &(v, c) in &affine.terms {
            let index = self.push(Node::Index(v));
            let term = if c == 1 {
                index
            } else {
                let c = self.constant(c as f64);
                self.binary(Binary::Mul, c, index)
            };
            total = Some(match total {
                Some(t) => self.binary(Binary::Add, t, term),
                None => term,
            });
        }
        let offset = self.constant(affine.offset as f64);
        match total {
            Some(t) if affine.offset != 0 => self.binary(Binary::Add, t, offset),
            Some(t) => t,
            None => offset,
        }
    }

    /// A word constant (a Philox multiplier, a stream number), in the prelude and shared.
    pub fn word_constant(&mut self, w: u32) -> NodeId {
        self.push(Node::WordConst(w))
    }

    /// `op(a, b)` on words, folded when both are word constants.
    pub fn word(&mut self, op: WordOp, a: NodeId, b: NodeId) -> NodeId {
        match (&self.nodes[a.index()], &self.nodes[b.index()]) {
            (Node::WordConst(x), Node::WordConst(y)) => self.word_constant(op.eval(*x, *y)),
            _ => self.push(Node::Word(op, a, b)),
        }
    }
}
