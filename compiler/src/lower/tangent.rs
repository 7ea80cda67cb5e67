//! The tangent program of a compiled model: its forward program, with every procedure a run
//! goes through (initial values, what the step carries, the step, the loss) rebuilt so that it
//! also carries the tangents of a few inputs (params, initial states) in `width` directions
//! (see [`crate::autodiff::tangent`]). Running it once differentiates the loss with respect to
//! `width` scalar inputs, forward through the run, storing no states along the way.
//!
//! Tangent buffers exist only for buffers the inputs reach through these procedures (found by
//! following reads to writes until nothing changes, a state's next value reaching the state).
//! Every forward buffer keeps its id; tangent buffers (`NAME_dotD`) and procedures are appended.

use std::collections::{BTreeSet, HashMap};

use crate::autodiff::AdError;
use crate::autodiff::tangent::{TangentBuffers, kernel_jvp};
use crate::ir::{BufferId, KernelId, Node, ProcId, Program};

use super::Compiled;

/// A program extended with the tangent procedures of one loss and a set of inputs.
#[derive(Clone, Debug)]
pub struct TangentProgram {
    /// The model's program plus the tangent buffers and procedures.
    pub program: Program,
    /// The loss, by index in `Model::scalars`.
    pub loss: usize,
    /// The inputs differentiated with respect to (param or state buffers), as asked.
    pub inputs: Vec<BufferId>,
    /// Directions computed at once: every buffer the inputs reach has this many tangents.
    pub width: usize,
    /// The tangent buffers of every buffer the inputs reach (the inputs included).
    pub tangents: TangentBuffers,
    /// The initial states and their tangents from the params and theirs.
    pub init_states: ProcId,
    /// What the step carries and its tangents; `None` when the step carries nothing.
    pub init_carried: Option<ProcId>,
    /// One step and its tangents; `None` without a step.
    pub step: Option<ProcId>,
    /// The loss and its tangents.
    pub loss_eval: ProcId,
    /// The tangent buffers exchanged after each step, besides the model's own swaps.
    pub swaps: Vec<(BufferId, BufferId)>,
}

impl TangentProgram {
    /// Every tangent buffer, in id order (the runtime zeroes them before each pass).
    pub fn tangent_buffers(&self) -> Vec<BufferId> {
        let mut all: Vec<BufferId> = self.tangents.values().flatten().copied().collect();
        all.sort();
        all
    }
}

/// Builds the tangent program of `compiled` for the named scalar `loss` (an index) with respect
/// to `inputs`, `width` directions at a time, on the compiler's stack.
pub fn tangent_program(
    compiled: &Compiled,
    loss: usize,
    inputs: &[BufferId],
    width: usize,
) -> Result<TangentProgram, AdError> {
    crate::stack::run(|| build(compiled, loss, inputs, width))
}

fn build(compiled: &Compiled, loss: usize, inputs: &[BufferId], width: usize) -> Result<TangentProgram, AdError> {
    let interface = &compiled.interface;
    let mut program = compiled.program.clone();
    let procedures: Vec<ProcId> = [Some(interface.init_states), interface.init_carried, interface.step]
        .into_iter()
        .flatten()
        .chain([interface.eval[loss]])
        .collect();
    let reached = reached_from(&program, inputs, &procedures, &interface.swaps);
    let mut tangents = TangentBuffers::new();
    for &buffer in &reached {
        let (name, shape) = (program.buffer(buffer).name.clone(), program.buffer(buffer).shape.clone());
        let dots = (0..width).map(|d| program.add_buffer(format!("{name}_dot{d}"), shape.clone())).collect();
        tangents.insert(buffer, dots);
    }
    let shapes: Vec<Vec<usize>> = program.buffers.iter().map(|b| b.shape.clone()).collect();
    let mut rebuilt: HashMap<KernelId, Vec<KernelId>> = HashMap::new();
    let mut with_tangents = |program: &mut Program, procedure: ProcId| -> Result<ProcId, AdError> {
        let name = format!("{}_jvp", program.procedure(procedure).name);
        let mut kernels = Vec::new();
        for kernel in program.procedure(procedure).kernels.clone() {
            if let std::collections::hash_map::Entry::Vacant(slot) = rebuilt.entry(kernel) {
                let jvp = kernel_jvp(program.kernel(kernel), &tangents, width, &shapes)
                    .map_err(|message| AdError { procedure: name.clone(), message })?;
                slot.insert(jvp.into_iter().map(|k| program.add_kernel(k)).collect());
            }
            kernels.extend(rebuilt[&kernel].iter().copied());
        }
        Ok(program.add_procedure(name, kernels))
    };
    let init_states = with_tangents(&mut program, interface.init_states)?;
    let init_carried = interface.init_carried.map(|p| with_tangents(&mut program, p)).transpose()?;
    let step = interface.step.map(|p| with_tangents(&mut program, p)).transpose()?;
    let loss_eval = with_tangents(&mut program, interface.eval[loss])?;
    let swaps = interface
        .swaps
        .iter()
        .filter_map(|(current, next)| Some((tangents.get(current)?, tangents.get(next)?)))
        .flat_map(|(current, next)| current.iter().copied().zip(next.iter().copied()))
        .collect();
    crate::ir::verify(&program).map_err(|e| AdError { procedure: "tangent".into(), message: e.to_string() })?;
    Ok(TangentProgram {
        program,
        loss,
        inputs: inputs.to_vec(),
        width,
        tangents,
        init_states,
        init_carried,
        step,
        loss_eval,
        swaps,
    })
}

/// The buffers `inputs` reach through `procedures`: the inputs, and what every kernel reading
/// a reached buffer writes, a state and its next value reaching each other, until nothing
/// changes.
fn reached_from(
    program: &Program,
    inputs: &[BufferId],
    procedures: &[ProcId],
    swaps: &[(BufferId, BufferId)],
) -> BTreeSet<BufferId> {
    let mut reached: BTreeSet<BufferId> = inputs.iter().copied().collect();
    loop {
        let before = reached.len();
        for kernel in procedures.iter().flat_map(|p| &program.procedure(*p).kernels) {
            let kernel = program.kernel(*kernel);
            let reads = kernel.nodes.iter().any(|n| matches!(n, Node::Load(l) if reached.contains(&l.buffer)));
            if reads {
                reached.extend(kernel.outputs.iter().map(|o| o.buffer));
            }
        }
        for (current, next) in swaps {
            if reached.contains(current) || reached.contains(next) {
                reached.extend([*current, *next]);
            }
        }
        if reached.len() == before {
            return reached;
        }
    }
}
