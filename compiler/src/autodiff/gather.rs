//! From per-load adjoints to adjoint kernels: a gather where the read is invertible, a scatter
//! elsewhere.
//!
//! A load `A[g(I, R)]` with adjoint `P(I, R)` contributes `P` to `A_bar` at the element the read
//! resolved to. A gather kernel runs over `A`'s elements `J` and finds the points that read each
//! one: on an axis indexed `v + c`, `v = J - c` (if that is a point of `v`'s range); a periodic
//! axis as long as `v`'s range is the whole axis needs no condition at all (the substituted reads
//! wrap); a clamped or mirrored axis also receives, at its edge elements, the reads that fell
//! outside and were sent there; a Dirichlet (fill) read outside receives nothing. Variables the
//! load's index does not mention are summed over. Anything else (`A[i + j]`, `A[2 * i]`, one
//! variable on two axes, ranges that do not match) becomes a scatter kernel, which adds each
//! point's contribution where the read went, one point after another.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use crate::builtins::ReduceOp;
use crate::ir::builder::KernelBuilder;
use crate::ir::{Access, Affine, BufferId, Kernel, Load, Node, NodeId, Output, Store, VarId};
use crate::ops::{Binary, Compare};

use super::formula::{F, FNode, FreeVars, children};

/// How to rewrite an original variable in an adjoint kernel.
#[derive(Clone, Debug)]
struct Subst {
    /// Original variable -> affine index over the new kernel's variables.
    map: HashMap<VarId, Affine>,
    /// Original variables substituted without wrapping, whose reads must wrap (a periodic axis
    /// the variable covers exactly): variable -> extent.
    wrapped: HashMap<VarId, i64>,
}

/// One way a load's points reach element `J`: substitutions plus conditions `lo <= a <= hi` on
/// affine expressions of `J`.
#[derive(Clone, Debug)]
struct Piece {
    subst: Subst,
    conditions: Vec<(Affine, i64, i64)>,
}

/// Edge positions a clamped or mirrored axis may collect before we prefer a scatter.
const MAX_EDGE_POSITIONS: i64 = 8;

/// What the adjoint kernels of one kernel need to know about it and the program.
pub struct Context<'k> {
    /// The original kernel's name, for naming its adjoint kernels.
    pub name: &'k str,
    /// Extents of the original kernel's variables.
    pub kernel_vars: &'k [usize],
    /// How many of them are the domain.
    pub rank: usize,
    /// Shapes of every buffer of the program.
    pub shapes: &'k [Vec<usize>],
}

/// The adjoint kernels of one kernel's loads of `buffer`, accumulating into `bar`.
/// `accumulator` gives, for a scalar read at every point of a domain, the field its
/// contributions are added into instead (see [`super::Deferred`]).
pub fn buffer_adjoint(
    cx: &Context<'_>,
    buffer: BufferId,
    bar: BufferId,
    loads: &[(F, F)],
    free: &mut FreeVars,
    accumulator: &mut dyn FnMut(BufferId, &[usize]) -> Option<BufferId>,
) -> Vec<Kernel> {
    let shape = &cx.shapes[buffer.index()];
    if shape.is_empty() && cx.rank > 0 {
        if let Some(field) = accumulator(bar, &cx.kernel_vars[..cx.rank]) {
            return vec![scalar_contributions(cx, field, loads, free)];
        }
    }
    let mut gathered: Vec<(Vec<Piece>, &F, &F)> = Vec::new();
    let mut kernels = Vec::new();
    for (load, adjoint) in loads {
        let FNode::Load(l) = &**load else { continue };
        match pieces(cx, l, adjoint, free) {
            Some(pieces) => gathered.push((pieces, load, adjoint)),
            None => kernels.push(scatter(cx, l, bar, load, adjoint, free)),
        }
    }
    if gathered.iter().any(|(pieces, ..)| !pieces.is_empty()) {
        let mut b = KernelBuilder::new(format!("{}_gather", cx.name), shape.clone(), shape.len());
        let mut emitter = Emitter { cx, memo: HashMap::new() };
        let mut total: Option<NodeId> = None;
        for (pieces, load, adjoint) in &gathered {
            for piece in pieces {
                let term = emitter.piece(&mut b, piece, load, adjoint, free);
                total = Some(match total {
                    Some(t) => b.binary(Binary::Add, t, term),
                    None => term,
                });
            }
        }
        if let Some(total) = total {
            kernels.insert(0, b.finish(vec![Output { buffer: bar, value: total, store: Store::Add }]));
        }
    }
    kernels
}

/// The adjoint contributions of a scalar read at every point of a domain (a param), added
/// point by point into `field` by an ordinary (parallel, vectorisable) kernel over the domain.
fn scalar_contributions(cx: &Context<'_>, field: BufferId, loads: &[(F, F)], free: &mut FreeVars) -> Kernel {
    let domain: Vec<usize> = cx.kernel_vars[..cx.rank].to_vec();
    let mut b = KernelBuilder::new(format!("{}_contributions", cx.name), domain, cx.rank);
    let subst = Subst {
        map: (0..cx.rank).map(|v| (VarId(v as u32), Affine::var(VarId(v as u32)))).collect(),
        wrapped: HashMap::new(),
    };
    let mut emitter = Emitter { cx, memo: HashMap::new() };
    let mut total: Option<NodeId> = None;
    for (load, adjoint) in loads {
        // What the adjoint depends on besides the domain (reduction variables) is summed here.
        let extra: BTreeSet<VarId> =
            free.of(adjoint).iter().chain(free.of(load).iter()).filter(|v| v.index() >= cx.rank).copied().collect();
        let term = if extra.is_empty() {
            emitter.emit(&mut b, adjoint, &subst)
        } else {
            let mut inner = subst.clone();
            let fresh: Vec<VarId> = extra.iter().map(|v| b.add_var(cx.kernel_vars[v.index()])).collect();
            for (v, new) in extra.iter().zip(&fresh) {
                inner.map.insert(*v, Affine::var(*new));
            }
            b.reduce(ReduceOp::Sum, &fresh, |b| (None, emitter.emit(b, adjoint, &inner)))
        };
        total = Some(match total {
            Some(t) => b.binary(Binary::Add, t, term),
            None => term,
        });
    }
    let total = total.unwrap_or_else(|| b.constant(0.0));
    b.finish(vec![Output { buffer: field, value: total, store: Store::Add }])
}

/// Kernels `a` then `b` as one kernel over their common domain, if that computes the same:
/// neither reads what the other writes, no scatters, no buffer written twice. Loads both make
/// are then made once.
pub fn fuse(a: &Kernel, b: &Kernel, shapes: &[Vec<usize>]) -> Option<Kernel> {
    let plain = |k: &Kernel| !k.has_scatter() && !k.has_update() && k.visit == crate::ir::Visit::RowMajor;
    if a.domain() != b.domain() || !plain(a) || !plain(b) {
        return None;
    }
    let writes = |k: &Kernel| -> BTreeSet<BufferId> { k.outputs.iter().map(|o| o.buffer).collect() };
    let reads = |k: &Kernel| -> BTreeSet<BufferId> {
        k.nodes.iter().filter_map(|n| if let Node::Load(l) = n { Some(l.buffer) } else { None }).collect()
    };
    let (wa, wb) = (writes(a), writes(b));
    if !wa.is_disjoint(&wb) || !wa.is_disjoint(&reads(b)) || !wb.is_disjoint(&reads(a)) {
        return None;
    }
    let mut builder = KernelBuilder::new(format!("{}+{}", a.name, b.name), a.domain().to_vec(), a.rank);
    let mut outputs = Vec::new();
    for kernel in [a, b] {
        let formulas = super::formula::of_kernel(kernel);
        let values: Vec<F> =
            kernel.outputs.iter().map(|o| formulas[o.value.index()].clone().expect("outputs are computed")).collect();
        let emitted = emit_in_place(kernel, &values, &mut builder, shapes);
        for (output, value) in kernel.outputs.iter().zip(emitted) {
            outputs.push(Output { buffer: output.buffer, value, store: output.store.clone() });
        }
    }
    Some(builder.finish(outputs))
}

/// Emits `formulas` of `kernel` (over its variables) into `b`, a kernel over the same domain,
/// at the same points; formulas sharing nodes share them in `b`. Fusing kernels and forward
/// mode rebuild kernels this way.
pub fn emit_in_place(kernel: &Kernel, formulas: &[F], b: &mut KernelBuilder, shapes: &[Vec<usize>]) -> Vec<NodeId> {
    let identity = Subst {
        map: (0..kernel.rank).map(|v| (VarId(v as u32), Affine::var(VarId(v as u32)))).collect(),
        wrapped: HashMap::new(),
    };
    let cx = Context { name: &kernel.name, kernel_vars: &kernel.vars, rank: kernel.rank, shapes };
    let mut emitter = Emitter { cx: &cx, memo: HashMap::new() };
    formulas.iter().map(|f| emitter.emit(b, f, &identity)).collect()
}

/// The value `kernel` computes as `value` at its domain point `at` (affine indices over the
/// variables of `b`), emitted into `b`: one kernel inlined at another kernel's point. Reads
/// are composed with `at` and their accesses proven again, as in a gather.
pub fn inline(kernel: &Kernel, value: NodeId, b: &mut KernelBuilder, at: &[Affine], shapes: &[Vec<usize>]) -> NodeId {
    let formulas = super::formula::of_kernel(kernel);
    let formula = formulas[value.index()].as_ref().expect("an output's value is computed");
    let cx = Context { name: &kernel.name, kernel_vars: &kernel.vars, rank: kernel.rank, shapes };
    let subst = Subst {
        map: at.iter().enumerate().map(|(v, a)| (VarId(v as u32), a.clone())).collect(),
        wrapped: HashMap::new(),
    };
    Emitter { cx: &cx, memo: HashMap::new() }.emit(b, formula, &subst)
}

/// The pieces of a gather for `load`, or `None` when only a scatter can deliver its adjoint.
fn pieces(cx: &Context<'_>, load: &Load, adjoint: &F, free: &mut FreeVars) -> Option<Vec<Piece>> {
    let shape = &cx.shapes[load.buffer.index()];
    let mut options: Vec<Vec<Piece>> = Vec::new();
    let mut seen: BTreeSet<VarId> = BTreeSet::new();
    for (axis, (affine, &access)) in load.index.iter().zip(&load.axes).enumerate() {
        let n = shape[axis] as i64;
        let j = Affine::var(VarId(axis as u32));
        let axis_options = match affine.terms.as_slice() {
            [] => match access.resolve(affine.offset, n as usize) {
                // A read of one fixed element; a fill read reads no element at all.
                Some(x) => vec![Piece::new(Vec::new(), vec![(j, x as i64, x as i64)], Vec::new())],
                None => return Some(Vec::new()),
            },
            [(v, 1)] if seen.insert(*v) => {
                let (v, c) = (*v, affine.offset);
                let extent = cx.kernel_vars[v.index()] as i64;
                let shifted = j.add(&Affine::constant(-c));
                match access {
                    Access::Direct | Access::Fill => {
                        vec![Piece::new(vec![(v, shifted.clone())], vec![(shifted, 0, extent - 1)], Vec::new())]
                    }
                    Access::Periodic if extent == n && wraps_cleanly(cx, v, n, adjoint, load, free) => {
                        vec![Piece::new(vec![(v, shifted)], Vec::new(), vec![(v, n)])]
                    }
                    Access::Periodic if extent == n => {
                        let c = c.rem_euclid(n);
                        let mut options = vec![Piece::new(
                            vec![(v, j.add(&Affine::constant(-c)))],
                            vec![(j.clone(), c, n - 1)],
                            Vec::new(),
                        )];
                        if c > 0 {
                            options.push(Piece::new(
                                vec![(v, j.add(&Affine::constant(n - c)))],
                                vec![(j.clone(), 0, c - 1)],
                                Vec::new(),
                            ));
                        }
                        options
                    }
                    Access::Clamp | Access::Reflect => {
                        let mut options =
                            vec![Piece::new(vec![(v, shifted.clone())], vec![(shifted, 0, extent - 1)], Vec::new())];
                        let outside: Vec<i64> = (c..extent + c).filter(|x| *x < 0 || *x >= n).collect();
                        if outside.len() as i64 > MAX_EDGE_POSITIONS {
                            return None;
                        }
                        for x in outside {
                            let target = access.resolve(x, n as usize).expect("clamp and mirror stay inside") as i64;
                            options.push(Piece::new(
                                vec![(v, Affine::constant(x - c))],
                                vec![(j.clone(), target, target)],
                                Vec::new(),
                            ));
                        }
                        options
                    }
                    Access::Periodic => return None,
                }
            }
            _ => return None,
        };
        options.push(axis_options);
    }
    // Conditions that hold for every element are no conditions.
    for axis_options in &mut options {
        for option in axis_options.iter_mut() {
            option.conditions.retain(|(affine, lo, hi)| {
                let (a, z) = affine.terms.iter().fold((affine.offset, affine.offset), |(a, z), (v, c)| {
                    let top = shape[v.index()] as i64 - 1;
                    (a + (c * top).min(0), z + (c * top).max(0))
                });
                !(a >= *lo && z <= *hi)
            });
        }
    }
    // Every combination of the axes' options.
    let mut pieces = vec![Piece::new(Vec::new(), Vec::new(), Vec::new())];
    for axis_options in options {
        let mut next = Vec::with_capacity(pieces.len() * axis_options.len());
        for p in &pieces {
            for o in &axis_options {
                let mut merged = p.clone();
                merged.subst.map.extend(o.subst.map.clone());
                merged.subst.wrapped.extend(o.subst.wrapped.clone());
                merged.conditions.extend(o.conditions.clone());
                next.push(merged);
            }
        }
        pieces = next;
    }
    Some(pieces)
}

impl Piece {
    fn new(map: Vec<(VarId, Affine)>, conditions: Vec<(Affine, i64, i64)>, wrapped: Vec<(VarId, i64)>) -> Piece {
        Piece { subst: Subst { map: map.into_iter().collect(), wrapped: wrapped.into_iter().collect() }, conditions }
    }
}

/// Whether substituting `v = J - c` without wrapping stays exact once every read of `v` wraps:
/// in the load and its adjoint, `v` appears only as `v + d` on axes of `n` elements read
/// directly or periodically, on one axis per read, and never by value.
fn wraps_cleanly(cx: &Context<'_>, v: VarId, n: i64, adjoint: &F, load: &Load, free: &mut FreeVars) -> bool {
    let reads_fit = |l: &Load| {
        let axes_with_v: Vec<usize> =
            (0..l.index.len()).filter(|a| l.index[*a].terms.iter().any(|(w, _)| *w == v)).collect();
        axes_with_v.len() <= 1
            && axes_with_v.iter().all(|&a| {
                l.index[a].terms.iter().all(|(w, c)| *w != v || *c == 1)
                    && cx.shapes[l.buffer.index()][a] as i64 == n
                    && matches!(l.axes[a], Access::Direct | Access::Periodic)
            })
    };
    if !reads_fit(load) {
        return false;
    }
    if !free.of(adjoint).contains(&v) {
        return true;
    }
    let mut stack = vec![adjoint.clone()];
    let mut seen = HashSet::new();
    while let Some(f) = stack.pop() {
        if !seen.insert(Arc::as_ptr(&f) as usize) {
            continue;
        }
        match &*f {
            FNode::Index(w) if *w == v => return false,
            FNode::Load(l) if !reads_fit(l) => return false,
            // A reduction over `v` itself rebinds it.
            FNode::Reduce { vars, .. } if vars.contains(&v) => {}
            other => stack.extend(children(other).into_iter().cloned()),
        }
    }
    true
}

/// A scatter kernel over the points of `load`'s index and adjoint.
fn scatter(cx: &Context<'_>, load: &Load, bar: BufferId, formula: &F, adjoint: &F, free: &mut FreeVars) -> Kernel {
    let mut vars: BTreeSet<VarId> = free.of(adjoint).iter().copied().collect();
    vars.extend(free.of(formula).iter().copied());
    let vars: Vec<VarId> = vars.into_iter().collect();
    let extents: Vec<usize> = vars.iter().map(|v| cx.kernel_vars[v.index()]).collect();
    let mut b = KernelBuilder::new(format!("{}_scatter", cx.name), extents.clone(), extents.len());
    let subst = Subst {
        map: vars.iter().enumerate().map(|(k, v)| (*v, Affine::var(VarId(k as u32)))).collect(),
        wrapped: HashMap::new(),
    };
    let value = Emitter { cx, memo: HashMap::new() }.emit(&mut b, adjoint, &subst);
    let index: Vec<Affine> = load.index.iter().map(|a| compose(a, &subst)).collect();
    let store = Store::Scatter { index, axes: load.axes.clone() };
    b.finish(vec![Output { buffer: bar, value, store }])
}

/// `affine` with every variable replaced by its substitute.
fn compose(affine: &Affine, subst: &Subst) -> Affine {
    affine.terms.iter().fold(Affine::constant(affine.offset), |acc, (v, c)| {
        let image = subst.map.get(v).cloned().unwrap_or_else(|| Affine::var(*v));
        acc.add(&image.scale(*c))
    })
}

/// Emits formulas into a kernel being built, under substitutions.
struct Emitter<'c, 'k> {
    cx: &'c Context<'k>,
    memo: HashMap<usize, NodeId>,
}

impl Emitter<'_, '_> {
    /// One piece's contribution at the current element: zero where its conditions fail.
    fn piece(&mut self, b: &mut KernelBuilder, piece: &Piece, load: &F, adjoint: &F, free: &mut FreeVars) -> NodeId {
        self.memo.clear();
        let mut subst = piece.subst.clone();
        // Variables the piece does not solve for are summed over.
        let mut unsolved: BTreeSet<VarId> = free.of(adjoint).iter().copied().collect();
        unsolved.extend(free.of(load).iter().copied());
        unsolved.retain(|v| !subst.map.contains_key(v));
        let fresh: Vec<VarId> = unsolved.iter().map(|v| b.add_var(self.cx.kernel_vars[v.index()])).collect();
        for (v, new) in unsolved.iter().zip(&fresh) {
            subst.map.insert(*v, Affine::var(*new));
        }
        let value = if fresh.is_empty() {
            self.emit(b, adjoint, &subst)
        } else {
            b.reduce(ReduceOp::Sum, &fresh, |b| (None, self.emit(b, adjoint, &subst)))
        };
        if piece.conditions.is_empty() {
            return value;
        }
        let mut holds: Option<NodeId> = None;
        for (affine, lo, hi) in &piece.conditions {
            let x = b.affine_value(affine);
            let (lo, hi) = (b.constant(*lo as f64), b.constant(*hi as f64));
            let above = b.compare(Compare::Ge, x, lo);
            let below = b.compare(Compare::Le, x, hi);
            let both = b.push(Node::And(above, below));
            holds = Some(match holds {
                Some(h) => b.push(Node::And(h, both)),
                None => both,
            });
        }
        let zero = b.constant(0.0);
        b.push(Node::Select(holds.expect("conditions exist"), value, zero))
    }

    fn emit(&mut self, b: &mut KernelBuilder, f: &F, subst: &Subst) -> NodeId {
        let key = Arc::as_ptr(f) as usize;
        if let Some(&id) = self.memo.get(&key) {
            if b.in_scope(id) {
                return id;
            }
        }
        let id = match &**f {
            FNode::Const(c) => b.constant(*c),
            FNode::Index(v) => {
                let image = subst.map.get(v).cloned().unwrap_or_else(|| Affine::var(*v));
                b.affine_value(&image)
            }
            FNode::Load(load) => self.load(b, load, subst),
            FNode::Unary(op, a) => {
                let a = self.emit(b, a, subst);
                b.unary(*op, a)
            }
            FNode::Binary(op, x, y) => {
                let (x, y) = (self.emit(b, x, subst), self.emit(b, y, subst));
                b.binary(*op, x, y)
            }
            FNode::Compare(op, x, y) => {
                let (x, y) = (self.emit(b, x, subst), self.emit(b, y, subst));
                b.compare(*op, x, y)
            }
            FNode::And(x, y) => {
                let (x, y) = (self.emit(b, x, subst), self.emit(b, y, subst));
                b.push(Node::And(x, y))
            }
            FNode::Or(x, y) => {
                let (x, y) = (self.emit(b, x, subst), self.emit(b, y, subst));
                b.push(Node::Or(x, y))
            }
            FNode::Not(x) => {
                let x = self.emit(b, x, subst);
                b.push(Node::Not(x))
            }
            FNode::Select(c, x, y) => {
                let (c, x, y) = (self.emit(b, c, subst), self.emit(b, x, subst), self.emit(b, y, subst));
                b.push(Node::Select(c, x, y))
            }
            FNode::WordConst(w) => b.word_constant(*w),
            FNode::ToWord(x) => {
                let x = self.emit(b, x, subst);
                b.push(Node::ToWord(x))
            }
            FNode::Word(op, x, y) => {
                let (x, y) = (self.emit(b, x, subst), self.emit(b, y, subst));
                b.word(*op, x, y)
            }
            FNode::FromWord(x) => {
                let x = self.emit(b, x, subst);
                b.push(Node::FromWord(x))
            }
            FNode::Unit(hi, lo) => {
                let (hi, lo) = (self.emit(b, hi, subst), self.emit(b, lo, subst));
                b.push(Node::Unit(hi, lo))
            }
            FNode::MulAdd(x, y, z) => {
                let (x, y, z) = (self.emit(b, x, subst), self.emit(b, y, subst), self.emit(b, z, subst));
                b.mul_add(x, y, z)
            }
            FNode::Reduce { op, vars, filter, body } => {
                let fresh: Vec<VarId> = vars.iter().map(|v| b.add_var(self.cx.kernel_vars[v.index()])).collect();
                let mut inner = subst.clone();
                for (v, new) in vars.iter().zip(&fresh) {
                    inner.map.insert(*v, Affine::var(*new));
                    inner.wrapped.remove(v);
                }
                // Inside, the reduction's variables mean something else: formulas built outside
                // must not be reused for them (identical nodes still merge in the builder).
                let outside = std::mem::take(&mut self.memo);
                let id = b.reduce(*op, &fresh, |b| {
                    let filter = filter.as_ref().map(|f| self.emit(b, f, &inner));
                    (filter, self.emit(b, body, &inner))
                });
                self.memo = outside;
                id
            }
        };
        self.memo.insert(key, id);
        id
    }

    /// A read under substitution: indices composed, each axis re-proven or kept safe.
    fn load(&mut self, b: &mut KernelBuilder, load: &Load, subst: &Subst) -> NodeId {
        let shape = &self.cx.shapes[load.buffer.index()];
        let mut index = Vec::with_capacity(load.index.len());
        let mut axes = Vec::with_capacity(load.index.len());
        let mut fill = load.fill;
        for ((affine, &access), &n) in load.index.iter().zip(&load.axes).zip(shape) {
            let composed = compose(affine, subst);
            let (lo, hi) = interval(b, &composed);
            let access = if affine.terms.iter().any(|(v, _)| subst.wrapped.contains_key(v)) {
                Access::Periodic
            } else if lo >= 0 && hi < n as i64 {
                Access::Direct
            } else if access == Access::Direct {
                // Outside only where the contribution is discarded: read a harmless 0 there.
                if !axes.contains(&Access::Fill) && !load.axes.contains(&Access::Fill) {
                    fill = 0.0;
                }
                Access::Fill
            } else {
                access
            };
            index.push(composed);
            axes.push(access);
        }
        b.load(load.buffer, index, axes, fill)
    }
}

/// Bounds of an affine index over the builder's variable extents.
fn interval(b: &KernelBuilder, affine: &Affine) -> (i64, i64) {
    let (mut lo, mut hi) = (affine.offset, affine.offset);
    for &(v, c) in &affine.terms {
        let top = b.var_extent(v) as i64 - 1;
        lo += (c * top).min(0);
        hi += (c * top).max(0);
    }
    (lo, hi)
}
