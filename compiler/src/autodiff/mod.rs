//! Autodiff: Kernel IR -> Kernel IR. Reverse mode for procedures (vector-Jacobian products).
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
pub mod gather;
pub mod reverse;

use std::collections::{BTreeSet, HashMap};

use crate::ir::builder::KernelBuilder;
use crate::ir::{Affine, BufferId, Kernel, Output, ProcId, Program, Store, VarId};
use formula::{F, FNode, FreeVars};

/// The adjoint procedure of a procedure.
#[derive(Clone, Debug)]
pub struct Vjp {
    pub procedure: ProcId,
}

/// Something the procedure does that reverse mode cannot handle (a compiler bug if it happens:
/// lowering builds procedures that satisfy the contract).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("cannot differentiate `{procedure}`: {message}")]
pub struct AdError {
    pub procedure: String,
    pub message: String,
}

/// Builds the VJP of `procedure`. `bars` maps buffers to their adjoint buffers; missing ones are
/// created for every differentiable buffer the procedure touches. The VJP first zeroes the
/// adjoints of the buffers it writes (except `seeds`), then runs the kernels' adjoints in reverse
/// order, adding into the adjoints of what they read.
pub fn vjp(
    program: &mut Program,
    procedure: ProcId,
    seeds: &[BufferId],
    differentiable: &dyn Fn(BufferId) -> bool,
    bars: &mut HashMap<BufferId, BufferId>,
    name: &str,
) -> Result<Vjp, AdError> {
    let fail = |message: String| AdError { procedure: program.procedure(procedure).name.clone(), message };
    let kernels: Vec<Kernel> =
        program.procedure(procedure).kernels.iter().map(|k| program.kernel(*k).clone()).collect();
    let mut written: BTreeSet<BufferId> = BTreeSet::new();
    let mut touched: BTreeSet<BufferId> = BTreeSet::new();
    for kernel in &kernels {
        for output in &kernel.outputs {
            if !written.insert(output.buffer) {
                return Err(fail(format!("`{}` is written twice", program.buffer(output.buffer).name)));
            }
            touched.insert(output.buffer);
        }
        for node in &kernel.nodes {
            if let crate::ir::Node::Load(load) = node {
                touched.insert(load.buffer);
            }
        }
    }
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
            adjoint_kernels.push(zero_kernel(
                &format!("{name}_zero_{}", program.buffer(buffer).name),
                &shapes[bar.index()],
                bar,
            ));
        }
    }
    for kernel in kernels.iter().rev() {
        adjoint_kernels.extend(kernel_vjp(kernel, &shapes, bars, differentiable, &format!("{name}_{}", kernel.name)));
    }
    let ids = adjoint_kernels.into_iter().map(|k| program.add_kernel(k)).collect();
    let procedure = program.add_procedure(name, ids);
    Ok(Vjp { procedure })
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
    name: &str,
) -> Vec<Kernel> {
    let formulas = formula::of_kernel(kernel);
    let identity: Vec<Affine> = (0..kernel.rank).map(|v| Affine::var(VarId(v as u32))).collect();
    let mut outputs: Vec<(F, F)> = Vec::new();
    for output in &kernel.outputs {
        let Some(&bar) = bars.get(&output.buffer) else { continue };
        let (index, axes) = match &output.store {
            Store::Assign | Store::Add => (identity.clone(), vec![crate::ir::Access::Direct; kernel.rank]),
            Store::Scatter { index, axes } => (index.clone(), axes.clone()),
        };
        let seed = std::sync::Arc::new(FNode::Load(crate::ir::Load { buffer: bar, index, axes, fill: 0.0 }));
        let value = formulas[output.value.index()].clone().expect("outputs are computed");
        outputs.push((value, seed));
    }
    let reduction_vars: BTreeSet<VarId> = (kernel.rank..kernel.vars.len()).map(|v| VarId(v as u32)).collect();
    let loads = reverse::load_adjoints(&outputs, &reduction_vars);
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
    let cx = gather::Context { name, kernel_vars: &kernel.vars, shapes };
    let mut free = FreeVars::default();
    order
        .into_iter()
        .flat_map(|buffer| gather::buffer_adjoint(&cx, buffer, bars[&buffer], &by_buffer[&buffer], &mut free))
        .collect()
}
