//! The gradient program of a compiled model: its forward program plus the adjoint procedures
//! the runtime chains to differentiate a loss through the initial values and the whole run.
//!
//! - `loss_vjp`: from the loss to the final states, params and constant states;
//! - `step_vjp`: from the next states to the states the step read (and params);
//! - `carried_vjp`: from what the step carries (velocity Verlet's accelerations) to the initial
//!   states and params it was computed from;
//! - `init_vjp`: from the initial states to the params their initial values use.
//!
//! Every forward buffer keeps its id; adjoint buffers (`NAME_bar`) and kernels are appended.

use std::collections::{BTreeSet, HashMap};

use crate::autodiff::{self, AdError};
use crate::ir::{BufferId, Node, ProcId, Program};
use crate::model::FieldKind;

use super::Compiled;

/// A program extended with the adjoint procedures of one loss, and what the runtime needs to
/// run them backwards through time.
#[derive(Clone, Debug)]
pub struct GradientProgram {
    /// The model's program plus the adjoint buffers and procedures.
    pub program: Program,
    /// The loss, by index in `Model::scalars`.
    pub loss: usize,
    /// The adjoint buffer of every differentiable buffer.
    pub bars: HashMap<BufferId, BufferId>,
    /// Seeds the loss's adjoint and propagates it to the final states and the params.
    pub loss_vjp: ProcId,
    /// The adjoint of one step: final-state adjoints to starting-state adjoints; `None`
    /// without a step.
    pub step_vjp: Option<ProcId>,
    /// Runs before `init_vjp`, when the step carries something besides the states.
    pub carried_vjp: Option<ProcId>,
    /// The adjoint of the initial values: state adjoints to param adjoints.
    pub init_vjp: ProcId,
    /// Adds the params' collected contributions into their adjoints; runs last.
    pub finish: ProcId,
    /// Buffers the runtime zeroes before a gradient: every adjoint and contribution field.
    pub accumulators: Vec<BufferId>,
    /// Whether `step_vjp` reads values the step computes on the way (stage states, lets), so
    /// the step must run again from its starting state before its adjoint.
    pub step_rereads: bool,
}

/// Builds the gradient program of `compiled` for the named scalar `loss` (an index), on the
/// compiler's stack (reverse mode recurses on expressions, see [`crate::stack`]).
pub fn gradient_program(compiled: &Compiled, loss: usize) -> Result<GradientProgram, AdError> {
    crate::stack::run(|| build(compiled, loss))
}

fn build(compiled: &Compiled, loss: usize) -> Result<GradientProgram, AdError> {
    let interface = &compiled.interface;
    let model = &compiled.model;
    let mut program = compiled.program.clone();
    let mut constant: BTreeSet<BufferId> =
        BTreeSet::from([interface.time, interface.dt, interface.step_count, interface.seed]);
    constant.extend(interface.iteration);
    for (field, buffer) in model.fields.iter().zip(&interface.fields) {
        if let (FieldKind::Data { .. }, Some(buffer)) = (&field.kind, buffer) {
            constant.insert(*buffer);
        }
    }
    let differentiable = |b: BufferId| !constant.contains(&b);
    let mut adjoints = autodiff::Adjoints {
        program: &mut program,
        differentiable: &differentiable,
        bars: HashMap::new(),
        deferred: Some(autodiff::Deferred::default()),
        // The runtime runs the loss, the initial values and what they carry just before their
        // adjoints; a step's adjoint runs where the step's results have moved on.
        forward_kept: true,
    };

    let loss_buffer = interface.scalars[loss];
    let loss_vjp = adjoints.vjp(interface.eval[loss], &[loss_buffer], &[], "loss_vjp")?;

    let (step_vjp, step_rereads) = match interface.step {
        Some(step) => {
            let seeds: Vec<BufferId> = interface.swaps.iter().map(|(_, next)| *next).collect();
            // The adjoints of the evolving states are set afresh each step.
            let evolving: Vec<BufferId> = interface.swaps.iter().map(|(state, _)| *state).collect();
            adjoints.forward_kept = false;
            let vjp = adjoints.vjp(step, &seeds, &evolving, "step_vjp")?;
            adjoints.forward_kept = true;
            let program = &*adjoints.program;
            let written: BTreeSet<BufferId> = program
                .procedure(step)
                .kernels
                .iter()
                .flat_map(|k| program.kernel(*k).outputs.iter().map(|o| o.buffer))
                .filter(|b| !seeds.contains(b))
                .collect();
            let rereads = program.procedure(vjp.procedure).kernels.iter().any(|k| {
                program.kernel(*k).nodes.iter().any(|n| matches!(n, Node::Load(l) if written.contains(&l.buffer)))
            });
            (Some(vjp.procedure), rereads)
        }
        None => (None, false),
    };

    let carried_vjp = match interface.init_carried {
        Some(init_carried) => {
            let carried: Vec<BufferId> = interface.carried().collect();
            Some(adjoints.vjp(init_carried, &carried, &[], "carried_vjp")?.procedure)
        }
        None => None,
    };
    let states: Vec<BufferId> = model.states().filter_map(|s| interface.field_buffer(s)).collect();
    let init_vjp = adjoints.vjp(interface.init_states, &states, &[], "init_vjp")?;
    let autodiff::Adjoints { bars, deferred, .. } = adjoints;
    let deferred = deferred.expect("set above");
    let finish_kernels: Vec<_> = deferred.finish(&program).into_iter().map(|k| program.add_kernel(k)).collect();
    let finish = program.add_procedure("finish_gradient", finish_kernels);
    let mut accumulators: Vec<BufferId> = bars.values().copied().collect();
    accumulators.sort();
    accumulators.extend(deferred.sums.iter().map(|(field, _)| *field));
    crate::ir::verify(&program).map_err(|e| AdError { procedure: "gradient".into(), message: e.to_string() })?;
    Ok(GradientProgram {
        program,
        loss,
        bars,
        loss_vjp: loss_vjp.procedure,
        step_vjp,
        carried_vjp,
        init_vjp: init_vjp.procedure,
        finish,
        accumulators,
        step_rereads,
    })
}
