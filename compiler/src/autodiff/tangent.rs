//! Forward mode on kernels (Jacobian-vector products): each kernel computes, beside its values,
//! their tangents in a few directions at once.
//!
//! Every differentiable buffer `B` that the differentiated inputs reach has one tangent buffer
//! per direction (`B_dot0`, `B_dot1`, ...), shaped like `B`. A kernel's tangent kernel stores
//! its own outputs and, for each output and direction, `sum over loads L of d value / d L *
//! L_dot` at the same point (the loads' tangents are loads of the tangent buffers at the same
//! indices). One kernel computes both, so a random draw is made once for the value and all its
//! tangents (draws are constants of the computation: their tangent is zero), and a run costs
//! one pass however long it is, with no stored states: what makes forward mode cheap for few
//! inputs (see `lower::tangent`).
//!
//! The operations' derivatives are [`super::rules`], shared with reverse mode, so both modes
//! compute the same derivative, including the choices at kinks; `min`/`max` and `select` pass
//! on the tangent of the operand they take, so an untaken branch (a NaN where a filter
//! excludes a singularity) never reaches a tangent; reductions differentiate their body over
//! the points their filter keeps; a `max`/`min` reduction takes the mean tangent of the points
//! that attain it (reverse mode shares the adjoint equally between them).
//!
//! Example: for `x_next[i] = x[i] + mu * x[i] * dt + sigma * x[i] * dW[i]` with inputs `mu` and
//! `sigma`, direction 0 (`mu`) stores `x_next_dot0[i] = x_dot0[i] + (mu_dot0 * x[i] + mu *
//! x_dot0[i]) * dt + (sigma_dot0 * x[i] + sigma * x_dot0[i]) * dW[i]` beside `x_next[i]`.

use std::collections::HashMap;
use std::sync::Arc;

use crate::builtins::ReduceOp;
use crate::ir::builder::KernelBuilder;
use crate::ir::{BufferId, Kernel, Load, Output, Store, Visit};
use crate::ops::{Binary, Compare};

use super::formula::{self as f, F, FNode};
use super::gather::emit_in_place;
use super::rules::{binary_partials, takes_first, unary_partial};

/// The tangent buffers of each buffer the inputs reach, one per direction.
pub type TangentBuffers = HashMap<BufferId, Vec<BufferId>>;

/// The tangent of formula `value` in direction `direction`: loads of buffers in `tangents`
/// have the tangent buffer's value at the same position, every other load is constant.
pub fn tangent(value: &F, tangents: &TangentBuffers, direction: usize, memo: &mut HashMap<usize, F>) -> F {
    let key = Arc::as_ptr(value) as usize;
    if let Some(known) = memo.get(&key) {
        return known.clone();
    }
    let mut dot = |x: &F| tangent(x, tangents, direction, memo);
    let result = match &**value {
        FNode::Load(load) => match tangents.get(&load.buffer) {
            Some(dots) => Arc::new(FNode::Load(Load { buffer: dots[direction], fill: 0.0, ..load.clone() })),
            None => f::zero(),
        },
        // Numbers that do not move with the inputs, and conditions and words (random draws).
        FNode::Const(_)
        | FNode::Index(_)
        | FNode::Compare(..)
        | FNode::And(..)
        | FNode::Or(..)
        | FNode::Not(_)
        | FNode::WordConst(_)
        | FNode::ToWord(_)
        | FNode::Word(..)
        | FNode::FromWord(_)
        | FNode::Unit(..) => f::zero(),
        FNode::Unary(op, x) => {
            let dx = dot(x);
            if f::is_zero(&dx) { dx } else { unary_partial(*op, x, value, dx) }
        }
        FNode::Binary(op @ (Binary::Min | Binary::Max), x, y) => {
            let (dx, dy) = (dot(x), dot(y));
            f::select(takes_first(*op, x.clone(), y.clone()), dx, dy)
        }
        FNode::Binary(op, x, y) => {
            let (dx, dy) = (dot(x), dot(y));
            let along_x = if f::is_zero(&dx) { dx } else { binary_partials(*op, x, y, value, dx).0 };
            let along_y = if f::is_zero(&dy) { dy } else { binary_partials(*op, x, y, value, dy).1 };
            f::add(along_x, along_y)
        }
        FNode::Select(c, x, y) => {
            let (dx, dy) = (dot(x), dot(y));
            f::select(c.clone(), dx, dy)
        }
        FNode::MulAdd(x, y, z) => {
            let (dx, dy, dz) = (dot(x), dot(y), dot(z));
            let along_xy = f::add(f::mul(dx, y.clone()), f::mul(x.clone(), dy));
            f::add(along_xy, dz)
        }
        FNode::Reduce { op, vars, filter, body } => {
            let db = dot(body);
            if f::is_zero(&db) {
                db
            } else {
                match op {
                    ReduceOp::Sum | ReduceOp::Mean => {
                        Arc::new(FNode::Reduce { op: *op, vars: vars.clone(), filter: filter.clone(), body: db })
                    }
                    ReduceOp::Max | ReduceOp::Min => {
                        let attains = f::compare(Compare::Eq, body.clone(), value.clone());
                        let chosen = match filter {
                            Some(kept) => f::and(kept.clone(), attains),
                            None => attains,
                        };
                        Arc::new(FNode::Reduce {
                            op: ReduceOp::Mean,
                            vars: vars.clone(),
                            filter: Some(chosen),
                            body: db,
                        })
                    }
                }
            }
        }
    };
    memo.insert(key, result.clone());
    result
}

/// The kernels computing what `kernel` computes plus the tangents of its outputs that
/// `tangents` has buffers for, in `width` directions. A kernel none of whose outputs has a
/// tangent is returned as it is. A kernel with a scatter stays as it is, followed by one
/// scatter kernel per tangent (a kernel of one scatter divides between workers). In-place
/// updates (a sampler's sweep) have no tangent: the error says so.
pub fn kernel_jvp(
    kernel: &Kernel,
    tangents: &TangentBuffers,
    width: usize,
    shapes: &[Vec<usize>],
) -> Result<Vec<Kernel>, String> {
    if kernel.has_update() || kernel.visit != Visit::RowMajor {
        return Err(format!("`{}` updates its states in place (a sampler's sweep)", kernel.name));
    }
    let formulas = f::of_kernel(kernel);
    let value_of = |output: &Output| formulas[output.value.index()].clone().expect("outputs are computed");
    let mut tangent_outputs: Vec<(BufferId, F, Store)> = Vec::new();
    for direction in 0..width {
        let mut memo = HashMap::new();
        for output in &kernel.outputs {
            let Some(dots) = tangents.get(&output.buffer) else { continue };
            let dot = tangent(&value_of(output), tangents, direction, &mut memo);
            // An assigned tangent is stored even when zero: the buffer may hold another step's.
            if !f::is_zero(&dot) || output.store == Store::Assign {
                tangent_outputs.push((dots[direction], dot, output.store.clone()));
            }
        }
    }
    if tangent_outputs.is_empty() {
        return Ok(vec![kernel.clone()]);
    }
    let build = |name: String, stored: &[(BufferId, F, Store)]| {
        let mut b = KernelBuilder::new(name, kernel.domain().to_vec(), kernel.rank);
        let values: Vec<F> = stored.iter().map(|(_, value, _)| value.clone()).collect();
        let emitted = emit_in_place(kernel, &values, &mut b, shapes);
        let outputs = stored
            .iter()
            .zip(emitted)
            .map(|((buffer, _, store), value)| Output { buffer: *buffer, value, store: store.clone() })
            .collect();
        b.finish(outputs)
    };
    if kernel.has_scatter() {
        let mut kernels = vec![kernel.clone()];
        for (k, stored) in tangent_outputs.chunks(1).enumerate() {
            kernels.push(build(format!("{}_dot{k}", kernel.name), stored));
        }
        return Ok(kernels);
    }
    let mut stored: Vec<(BufferId, F, Store)> =
        kernel.outputs.iter().map(|o| (o.buffer, value_of(o), o.store.clone())).collect();
    stored.extend(tangent_outputs);
    Ok(vec![build(format!("{}_jvp", kernel.name), &stored)])
}
