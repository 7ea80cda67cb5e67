//! Autodiff: Kernel IR -> Kernel IR. Reverse mode for procedures (vector-Jacobian products);
//! forward mode for kernels in [`tangent`] (Jacobian-vector products, a few directions at once);
//! forward mode on model expressions (`diff`) in [`forward`].
//!
//! Input: a procedure of kernels in which every buffer is written once (single assignment), the
//! buffers whose adjoints are given (seeds), and which buffers are differentiable. Output: a new
//! procedure that, given the seeds' adjoints, adds each read buffer's adjoint into its adjoint
//! buffer (`NAME_bar`). The new kernels are ordinary Kernel IR, so they can be differentiated
//! again.
//!
//! Inside a kernel, [`reverse`] propagates the output adjoints at a point back to every load
//! (formulas built by [`formula`]); [`gather`] turns each load's adjoint into kernels over the
//! loaded buffer: gathers where the read is invertible, scatters elsewhere.
//!
//! Example: for `u_next[i] = u[i] + dt * D * (u[i-1] - 2 u[i] + u[i+1])` on a periodic grid, the
//! VJP adds `u_next_bar[J] + dt * D * (u_next_bar[J+1] - 2 u_next_bar[J] + u_next_bar[J-1])` into
//! `u_bar[J]` (one gather, reads wrapping) and `sum(i) u_next_bar[i] * dt * (...)` into `D_bar`.

pub mod formula;
pub mod forward;
pub mod gather;
pub mod reverse;
pub mod rules;
pub mod tangent;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};

use crate::ir::builder::KernelBuilder;
use crate::ir::{Affine, BufferId, Kernel, KernelId, Output, ProcId, Program, Store, VarId};
use formula::{F, FNode, FreeVars};

/// The adjoint procedure of a procedure.
#[derive(Clone, Debug)]
pub struct Vjp {
    /// The id of the adjoint procedure in the program.
    pub procedure: ProcId,
}

/// Adjoints of scalars read at every point of a domain (params) that are not summed at once:
/// each adjoint kernel adds its contributions, point by point, into a field, and one sum per
/// field at the very end adds them into the scalar's adjoint. A run's thousands of steps then
/// cost one sum, not one sum each.
#[derive(Clone, Debug, Default)]
pub struct Deferred {
    /// `(field, bar)`: sum `field` into `bar`.
    pub sums: Vec<(BufferId, BufferId)>,
    by_key: HashMap<(BufferId, Vec<usize>), BufferId>,
}

impl Deferred {
    /// The field collecting contributions to `bar` from a domain of `shape`.
    fn field(&mut self, program: &mut Program, bar: BufferId, shape: &[usize]) -> BufferId {
        if let Some(field) = self.by_key.get(&(bar, shape.to_vec())) {
            return *field;
        }
        let name = format!("{}_parts{}", program.buffer(bar).name, self.sums.len());
        let field = program.add_buffer(name, shape.to_vec());
        self.by_key.insert((bar, shape.to_vec()), field);
        self.sums.push((field, bar));
        field
    }

    /// Kernels adding every field into its scalar, then clearing the field.
    pub fn finish(&self, program: &Program) -> Vec<Kernel> {
        let mut kernels = Vec::new();
        for &(field, bar) in &self.sums {
            let shape = program.buffer(field).shape.clone();
            let mut sum = KernelBuilder::new(format!("sum_{}", program.buffer(field).name), shape.clone(), 0);
            let vars: Vec<VarId> = (0..shape.len()).map(|v| VarId(v as u32)).collect();
            let value = sum.reduce(crate::builtins::ReduceOp::Sum, &vars, |b| {
                let index = vars.iter().map(|v| Affine::var(*v)).collect();
                (None, b.load(field, index, vec![crate::ir::Access::Direct; vars.len()], 0.0))
            });
            kernels.push(sum.finish(vec![Output { buffer: bar, value, store: Store::Add }]));
            kernels.push(zero_kernel(&format!("clear_{}", program.buffer(field).name), &shape, field));
        }
        kernels
    }
}

/// Something the procedure does that reverse mode cannot handle (a compiler bug if it happens:
/// lowering builds procedures that satisfy the contract).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("cannot differentiate `{procedure}`: {message}")]
pub struct AdError {
    /// The name of the procedure being differentiated.
    pub procedure: String,
    /// What in it could not be differentiated.
    pub message: String,
}

/// Builds adjoint procedures into a program, sharing adjoint buffers between them.
pub struct Adjoints<'p> {
    /// The program the adjoint procedures and buffers are added to.
    pub program: &'p mut Program,
    /// Which buffers carry derivatives (not data, not the clock).
    pub differentiable: &'p dyn Fn(BufferId) -> bool,
    /// The adjoint buffer of each buffer that has one.
    pub bars: HashMap<BufferId, BufferId>,
    /// Where params' contributions are collected; `None` sums them in each adjoint kernel.
    pub deferred: Option<Deferred>,
    /// Whether the forward procedure's results (other than the seeds) still hold its values
    /// when the adjoint runs, so that an adjoint reads a stored value (a `tanh` layer's) instead
    /// of computing it again.
    pub forward_kept: bool,
}

impl Adjoints<'_> {
    /// Builds the VJP of `procedure` as a procedure of its own (see [`Adjoints::vjp_kernels`]).
    pub fn vjp(
        &mut self,
        procedure: ProcId,
        seeds: &[BufferId],
        overwrite: &[BufferId],
        name: &str,
    ) -> Result<Vjp, AdError> {
        let kernels = self.program.procedure(procedure).kernels.clone();
        let ids = self.vjp_kernels(&kernels, seeds, overwrite, name)?;
        Ok(Vjp { procedure: self.program.add_procedure(name, ids) })
    }

    /// The adjoint kernels of running `forward` in order, creating adjoint buffers for every
    /// differentiable buffer they touch. They first zero the adjoints of the buffers `forward`
    /// writes (except `seeds`), then run the kernels' adjoints in reverse order, adding into
    /// the adjoints of what they read, except for `overwrite`, whose adjoints they set.
    pub fn vjp_kernels(
        &mut self,
        forward: &[KernelId],
        seeds: &[BufferId],
        overwrite: &[BufferId],
        name: &str,
    ) -> Result<Vec<KernelId>, AdError> {
        let program = &mut *self.program;
        let differentiable = self.differentiable;
        let kernels: Vec<Kernel> = forward.iter().map(|k| program.kernel(*k).clone()).collect();
        let written = accumulated_writes(&kernels, program)
            .map_err(|message| AdError { procedure: name.to_string(), message })?;
        let mut touched: BTreeSet<BufferId> = written.clone();
        for kernel in &kernels {
            for node in &kernel.nodes {
                if let crate::ir::Node::Load(load) = node {
                    touched.insert(load.buffer);
                }
            }
        }
        let bars = &mut self.bars;
        for &buffer in touched.iter().filter(|b| differentiable(**b)) {
            if let std::collections::hash_map::Entry::Vacant(slot) = bars.entry(buffer) {
                let (bar_name, shape) = {
                    let b = program.buffer(buffer);
                    (format!("{}_bar", b.name), b.shape.clone())
                };
                slot.insert(program.add_buffer(bar_name, shape));
            }
        }
        let shapes: Vec<Vec<usize>> = program.buffers.iter().map(|b| b.shape.clone()).collect();
        let mut adjoint_kernels = Vec::new();
        for &buffer in written.iter().filter(|b| !seeds.contains(b)) {
            if let Some(&bar) = bars.get(&buffer) {
                let label = format!("{name}_zero_{}", program.buffer(buffer).name);
                adjoint_kernels.push(zero_kernel(&label, &shapes[bar.index()], bar));
            }
        }
        let deferred = &mut self.deferred;
        for kernel in kernels.iter().rev() {
            // Scalars the procedure only reads (params) collect their adjoints in fields.
            let mut accumulator = |bar: BufferId, domain: &[usize]| -> Option<BufferId> {
                let deferred = deferred.as_mut()?;
                let leaf = bars.iter().any(|(b, x)| *x == bar && !written.contains(b));
                leaf.then(|| deferred.field(program, bar, domain))
            };
            let label = format!("{name}_{}", kernel.name);
            let kept = |b: BufferId| self.forward_kept && !seeds.contains(&b);
            adjoint_kernels.extend(kernel_vjp(kernel, &shapes, bars, differentiable, &kept, &label, &mut accumulator));
        }
        let overwritten: Vec<BufferId> = overwrite.iter().filter_map(|b| bars.get(b).copied()).collect();
        let adjoint_kernels = first_writes_assign(adjoint_kernels, &overwritten, &shapes, name);
        let adjoint_kernels = fuse_neighbours(adjoint_kernels, &shapes);
        Ok(adjoint_kernels.into_iter().map(|k| program.add_kernel(k)).collect())
    }
}

/// The buffers `kernels` write, checking each is written the way reverse mode needs: once, or
/// assigned once and then only added into (how adjoint kernels accumulate), with no kernel
/// reading it between its first and last write. Every write then sees the same final adjoint.
fn accumulated_writes(kernels: &[Kernel], program: &Program) -> Result<BTreeSet<BufferId>, String> {
    let mut last_write: HashMap<BufferId, usize> = HashMap::new();
    for (k, kernel) in kernels.iter().enumerate() {
        for output in &kernel.outputs {
            if matches!(output.store, Store::Update { .. }) {
                return Err(format!("`{}` updates in place (a sampler's sweep)", program.buffer(output.buffer).name));
            }
            let first = !last_write.contains_key(&output.buffer);
            if first != (output.store == Store::Assign) {
                let name = &program.buffer(output.buffer).name;
                return Err(if first {
                    format!("`{name}` is added into before it is assigned")
                } else {
                    format!("`{name}` is assigned twice")
                });
            }
            last_write.insert(output.buffer, k);
        }
    }
    for (k, kernel) in kernels.iter().enumerate() {
        for node in &kernel.nodes {
            let crate::ir::Node::Load(load) = node else { continue };
            let Some(&last) = last_write.get(&load.buffer) else { continue };
            let first = kernels.iter().position(|w| w.outputs.iter().any(|o| o.buffer == load.buffer));
            if first.is_some_and(|first| first <= k && k <= last) {
                return Err(format!("`{}` is read while it is being accumulated", program.buffer(load.buffer).name));
            }
        }
    }
    Ok(last_write.into_keys().collect())
}

/// The adjoints in `overwritten` are set by this procedure, not added to: the first kernel
/// adding into each assigns instead (or, when that is a scatter or nothing writes it, a zero
/// kernel goes first). This saves clearing them before every run.
fn first_writes_assign(
    mut kernels: Vec<Kernel>,
    overwritten: &[BufferId],
    shapes: &[Vec<usize>],
    name: &str,
) -> Vec<Kernel> {
    let mut zeros = Vec::new();
    for &bar in overwritten {
        let first = kernels.iter_mut().flat_map(|k| k.outputs.iter_mut()).find(|o| o.buffer == bar);
        match first {
            Some(output) if output.store == Store::Add => output.store = Store::Assign,
            _ => zeros.push(zero_kernel(&format!("{name}_zero"), &shapes[bar.index()], bar)),
        }
    }
    zeros.extend(kernels);
    zeros
}

/// Fuses neighbouring kernels over one domain (see [`gather::fuse`]).
fn fuse_neighbours(kernels: Vec<Kernel>, shapes: &[Vec<usize>]) -> Vec<Kernel> {
    let mut fused: Vec<Kernel> = Vec::with_capacity(kernels.len());
    for kernel in kernels {
        if let Some(last) = fused.last() {
            if let Some(both) = gather::fuse(last, &kernel, shapes) {
                *fused.last_mut().expect("checked") = both;
                continue;
            }
        }
        fused.push(kernel);
    }
    fused
}

/// A kernel writing 0 to every element of `buffer`.
pub fn zero_kernel(name: &str, shape: &[usize], buffer: BufferId) -> Kernel {
    constant_kernel(name, shape, buffer, 0.0)
}

/// A kernel writing `value` to every element of `buffer`.
pub fn constant_kernel(name: &str, shape: &[usize], buffer: BufferId, value: f64) -> Kernel {
    let mut b = KernelBuilder::new(name, shape.to_vec(), shape.len());
    let c = b.constant(value);
    b.finish(vec![Output::assign(buffer, c)])
}

/// The adjoint kernels of one kernel: for each differentiable buffer it reads, kernels adding
/// that read's adjoint into the buffer's adjoint.
fn kernel_vjp(
    kernel: &Kernel,
    shapes: &[Vec<usize>],
    bars: &HashMap<BufferId, BufferId>,
    differentiable: &dyn Fn(BufferId) -> bool,
    kept: &dyn Fn(BufferId) -> bool,
    name: &str,
    accumulator: &mut dyn FnMut(BufferId, &[usize]) -> Option<BufferId>,
) -> Vec<Kernel> {
    let formulas = formula::of_kernel(kernel);
    let identity: Vec<Affine> = (0..kernel.rank).map(|v| Affine::var(VarId(v as u32))).collect();
    let mut outputs: Vec<(F, F)> = Vec::new();
    // Values the kernel stored at its point, which the adjoint reads instead of recomputing.
    let mut stored: HashMap<usize, F> = HashMap::new();
    for output in &kernel.outputs {
        if output.store == Store::Assign && kept(output.buffer) && shapes[output.buffer.index()].len() == kernel.rank {
            let value = formulas[output.value.index()].clone().expect("outputs are computed");
            if !matches!(*value, FNode::Load(_) | FNode::Const(_)) {
                let axes = vec![crate::ir::Access::Direct; kernel.rank];
                let load = crate::ir::Load { buffer: output.buffer, index: identity.clone(), axes, fill: 0.0 };
                stored.insert(std::sync::Arc::as_ptr(&value) as usize, std::sync::Arc::new(FNode::Load(load)));
            }
        }
    }
    for output in &kernel.outputs {
        let Some(&bar) = bars.get(&output.buffer) else { continue };
        let (index, axes) = match &output.store {
            Store::Assign | Store::Add => (identity.clone(), vec![crate::ir::Access::Direct; kernel.rank]),
            Store::Scatter { index, axes } => (index.clone(), axes.clone()),
            Store::Update { .. } => unreachable!("`accumulated_writes` refuses in-place updates"),
        };
        let seed = std::sync::Arc::new(FNode::Load(crate::ir::Load { buffer: bar, index, axes, fill: 0.0 }));
        let value = formulas[output.value.index()].clone().expect("outputs are computed");
        outputs.push((value, seed));
    }
    let reduction_vars: BTreeSet<VarId> = (kernel.rank..kernel.vars.len()).map(|v| VarId(v as u32)).collect();
    let mut loads = reverse::load_adjoints(&outputs, &reduction_vars);
    if !stored.is_empty() {
        let mut memo = HashMap::new();
        for (_, adjoint) in &mut loads {
            *adjoint = formula::replace_shared(adjoint, &stored, &mut memo);
        }
    }
    // Group by buffer, in order of first appearance.
    let mut order: Vec<BufferId> = Vec::new();
    let mut by_buffer: HashMap<BufferId, Vec<(F, F)>> = HashMap::new();
    for (load, adjoint) in loads {
        let FNode::Load(l) = &*load else { continue };
        if !differentiable(l.buffer) || !bars.contains_key(&l.buffer) {
            continue;
        }
        if !by_buffer.contains_key(&l.buffer) {
            order.push(l.buffer);
        }
        by_buffer.entry(l.buffer).or_default().push((load.clone(), adjoint));
    }
    let cx = gather::Context { name, kernel_vars: &kernel.vars, rank: kernel.rank, shapes };
    let mut free = FreeVars::default();
    let mut kernels = Vec::new();
    for buffer in order {
        kernels.extend(gather::buffer_adjoint(&cx, buffer, bars[&buffer], &by_buffer[&buffer], &mut free, accumulator));
    }
    kernels
}
