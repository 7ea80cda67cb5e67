//! Gradients of a loss through a whole run by forward mode: tangents carried along the run.
//!
//! The tangent program (compiled by `noether_compiler::lower::tangent`) computes, beside every
//! value the inputs reach, its derivative in up to [`TANGENT_WIDTH`] directions, each the
//! derivative with respect to one scalar input (an element of a param or of an initial state).
//! One pass seeds those directions (a 1 in the input's tangent), runs the initial values, the
//! steps and the loss, and reads the loss's tangents: that many entries of the gradient. The
//! inputs are covered in passes of [`TANGENT_WIDTH`].
//!
//! A pass stores no states (no checkpoints, no recomputed segments) and makes each random draw
//! once for the value and all its tangents, where reverse mode draws it three times (forward,
//! recomputed, backwards): for an ensemble of SDE paths and a few params a gradient costs
//! little more than the run. It costs a pass per [`TANGENT_WIDTH`] inputs, so reverse mode wins
//! for many inputs; `GradientMode::Auto` picks (see [`crate::adjoint::FORWARD_MODE_INPUTS`]).
//! Both compute the exact derivative of the same discrete computation with the same rules, so
//! they agree to rounding.
//!
//! The states are checked for NaN and infinity at the end of each pass; when one is not
//! finite, a plain run finds and names the first bad step, as `run` does.

use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};
use noether_compiler::diag::{Failure, Internal};
use noether_compiler::ir::BufferId;
use noether_compiler::lower::tangent::TangentProgram;

use crate::adjoint::{AdjointMemory, Gradient, GradientMode};
use crate::error::{RunError, bytes_text};
use crate::memory::{self, Allowance};
use crate::simulator::{Loaded, Simulator};

/// Directions one pass computes: a pass's kernels compute this many tangents beside each value.
pub const TANGENT_WIDTH: usize = 4;

/// The most scalar inputs forward mode differentiates with respect to (16 passes); beyond,
/// reverse mode is the tool.
pub const FORWARD_MODE_MAX_INPUTS: usize = 64;

impl Simulator {
    /// The tangent program of the loss at `loss` (an index in the scalars) with respect to the
    /// targets: the loaded one, or a new one, not loaded yet.
    pub(crate) fn tangent_program_of(
        &self,
        loss: usize,
        targets: &[(String, BufferId)],
    ) -> Result<Arc<TangentProgram>, Failure> {
        let inputs: Vec<BufferId> = targets.iter().map(|(_, buffer)| *buffer).collect();
        let count: usize = inputs.iter().map(|b| self.len(*b)).sum();
        if count > FORWARD_MODE_MAX_INPUTS {
            return Err(self.model.fail(RunError::ForwardTooManyInputs {
                inputs: count,
                runs: count.div_ceil(TANGENT_WIDTH),
                width: TANGENT_WIDTH,
                limit: FORWARD_MODE_MAX_INPUTS,
            }));
        }
        let width = count.clamp(1, TANGENT_WIDTH);
        match &self.loaded {
            Loaded::Tangent(current) if current.loss == loss && current.inputs == inputs && current.width == width => {
                Ok(current.clone())
            }
            _ => Ok(Arc::new(self.model.tangent_program(loss, &inputs, width)?)),
        }
    }

    /// The gradient of `tangent`'s loss with respect to the targets (its inputs), by forward
    /// mode through the script's whole run.
    pub(crate) fn forward_gradient(
        &mut self,
        tangent: &Arc<TangentProgram>,
        targets: &[(String, BufferId)],
    ) -> Result<Gradient, Failure> {
        self.check_tangent_memory(tangent)?;
        if !matches!(&self.loaded, Loaded::Tangent(current) if Arc::ptr_eq(current, tangent)) {
            self.load_program(&tangent.program)?;
            self.loaded = Loaded::Tangent(tangent.clone());
        }
        let steps = if self.reads_the_run(tangent.loss) { self.differentiated_steps() } else { 0 };
        let elements: Vec<(BufferId, usize)> =
            targets.iter().flat_map(|(_, buffer)| (0..self.len(*buffer)).map(move |k| (*buffer, k))).collect();
        let mut passes: Vec<&[(BufferId, usize)]> = elements.chunks(tangent.width).collect();
        if passes.is_empty() {
            passes.push(&[]);
        }
        let mut value = f64::NAN;
        let mut derivatives = Vec::with_capacity(elements.len());
        for seeds in passes {
            let (loss, slopes) = self.tangent_pass(tangent, seeds, steps)?;
            value = loss;
            derivatives.extend(slopes);
        }
        let mut taken = derivatives.into_iter();
        let gradients = targets
            .iter()
            .map(|(name, buffer)| {
                let shape = IxDyn(self.shape(*buffer));
                let values: Vec<f64> = taken.by_ref().take(self.len(*buffer)).collect();
                (name.clone(), ArrayD::from_shape_vec(shape, values).expect("a buffer matches its shape"))
            })
            .collect();
        self.forget_observations();
        let interface = &self.model.compiled().interface;
        let state_bytes: usize = interface.swaps.iter().map(|(s, _)| self.len(*s) * size_of::<f64>()).sum();
        let memory = AdjointMemory {
            checkpoints: 0,
            stored_state_sets: 0,
            stored_bytes: 0,
            buffer_bytes: self.engine.bytes(),
            state_bytes,
            all_states_bytes: (steps as usize + 1) * state_bytes,
        };
        let loss = self.model.checked().scalars[tangent.loss].name.clone();
        Ok(Gradient { loss, value, gradients, memory, mode: GradientMode::Forward })
    }

    /// One pass: the run from the initial states with direction `d` seeded at input element
    /// `seeds[d]`; the loss and its derivative along each seeded direction.
    fn tangent_pass(
        &mut self,
        tangent: &TangentProgram,
        seeds: &[(BufferId, usize)],
        steps: u64,
    ) -> Result<(f64, Vec<f64>), Failure> {
        self.set_clock(0)?;
        for buffer in tangent.tangent_buffers() {
            self.engine.fill(buffer, 0.0).map_err(self.model.engine_failure())?;
        }
        let states: Vec<BufferId> = self.state_buffers().collect();
        let (state_seeds, param_seeds): (Vec<_>, Vec<_>) =
            seeds.iter().enumerate().partition(|(_, (input, _))| states.contains(input));
        // A param's tangent is read by the initial values; a state's is what they assign it.
        self.add_seeds(tangent, &param_seeds)?;
        self.run_procedure(tangent.init_states)?;
        self.add_initial_offsets()?;
        self.add_seeds(tangent, &state_seeds)?;
        if let Some(init_carried) = tangent.init_carried {
            self.run_procedure(init_carried)?;
        }
        self.carried_stale = false;
        self.check_states()?;
        if let Some(step) = tangent.step {
            for _ in 0..steps {
                self.advance_by(step, &tangent.swaps)?;
            }
        }
        if !self.states_finite()? {
            // A plain run names the first step whose states are not finite.
            self.run()?;
            return Err(self.model.fail(Internal {
                message: "the forward-mode run produced values that are not finite where a plain run did not".into(),
            }));
        }
        self.run_procedure(tangent.loss_eval)?;
        let failure = self.model.engine_failure();
        let loss = self.model.compiled().interface.scalars[tangent.loss];
        let value = self.engine.scalar(loss).map_err(&failure)?;
        let slopes = (0..seeds.len())
            .map(|d| match tangent.tangents.get(&loss) {
                Some(dots) => self.engine.scalar(dots[d]).map_err(&failure),
                // A loss the inputs do not reach does not move with them.
                None => Ok(0.0),
            })
            .collect::<Result<_, _>>()?;
        Ok((value, slopes))
    }

    /// Adds 1 to the tangent of direction `d` at each input element seeded there.
    fn add_seeds(&mut self, tangent: &TangentProgram, seeds: &[(usize, &(BufferId, usize))]) -> Result<(), Failure> {
        for &(direction, &(input, element)) in seeds {
            let dot = tangent.tangents[&input][direction];
            let failure = self.model.engine_failure();
            let value = self.engine.read(dot, element..element + 1).map_err(&failure)?[0] + 1.0;
            self.engine.write(dot, element, &[value]).map_err(&failure)?;
        }
        Ok(())
    }

    /// Refuses a tangent program whose buffers would need more memory than the simulator may
    /// use.
    fn check_tangent_memory(&self, tangent: &TangentProgram) -> Result<(), Failure> {
        let needed = memory::program_bytes(&tangent.program);
        let held = (self.engine.bytes() + self.adjoint_storage.bytes()) as u64;
        let allowance = Allowance::for_simulator(self.engine_options.memory_limit, held);
        if needed <= allowance.bytes {
            return Ok(());
        }
        Err(self.model.fail(RunError::TangentsTooLarge {
            needed: bytes_text(needed),
            allowance: allowance.to_string(),
            directions: tangent.width,
            span: memory::largest_field(&self.model),
        }))
    }
}
