//! Gradients of a loss through a whole run: reverse mode through time with checkpoints.
//!
//! The forward run keeps the states at `c` evenly spaced checkpoints (default `c = ⌈√steps⌉`)
//! and checks them for NaN and infinity as `run` does, naming the first bad step.
//! Going backwards, each segment between checkpoints is run forward again from its checkpoint,
//! keeping its states, and then reversed step by step: the step's adjoint (compiled by
//! `noether_compiler::autodiff`) turns the adjoint of the next states into that of the states
//! before, and adds into the params' adjoints. Where the step's adjoint needs what the step
//! computes on the way (Runge–Kutta stages, lets), the step is run once more from its starting
//! state right before its adjoint. Recomputed steps start from bit-identical states as the
//! checked ones, so they are not checked again.
//!
//! So besides the gradient program's buffers (states, adjoints, temporaries) the reverse run
//! stores `c` checkpoints, one segment of `⌈steps / c⌉` states and the final states: about
//! `2√steps + 1` sets, at the price of one extra forward run. Before allocating, the gradient
//! sizes all of it and refuses, with the figures, what would not fit (see [`crate::memory`]);
//! afterwards [`AdjointMemory`] reports what was held, counted from the storage itself.
//!
//! The result is the exact gradient of the discrete computation (up to rounding), the same on
//! every engine since they run the same adjoint kernels.

use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};
use noether_compiler::diag::Failure;
use noether_compiler::ir::{BufferId, Node, Program};
use noether_compiler::lower::gradient::GradientProgram;
use noether_compiler::model::FieldKind;

use crate::engine::Stored;
use crate::error::{RunError, bytes_text};
use crate::memory::{self, Allowance};
use crate::simulator::{Loaded, Simulator, Snapshot};

/// Settings of a gradient computation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GradientOptions {
    /// How many checkpoints the forward run keeps (default: the square root of the steps);
    /// reverse mode only.
    pub checkpoints: Option<usize>,
    /// Reverse mode, forward mode, or the cheaper of the two for the inputs asked for.
    pub mode: GradientMode,
}

/// How a gradient is computed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GradientMode {
    /// Forward mode for at most [`FORWARD_MODE_INPUTS`] scalar inputs (unless checkpoints are
    /// asked for), reverse mode otherwise.
    #[default]
    Auto,
    /// Reverse through time with checkpoints: one run forward, recomputed segments and one run
    /// back, whatever the number of inputs.
    Reverse,
    /// Tangents carried forward through one run per [`crate::tangent::TANGENT_WIDTH`] inputs,
    /// storing no states (see [`crate::tangent`]).
    Forward,
}

impl GradientMode {
    /// Its name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            GradientMode::Auto => "auto",
            GradientMode::Reverse => "reverse",
            GradientMode::Forward => "forward",
        }
    }
}

/// The most scalar inputs for which `auto` differentiates in forward mode. Forward mode costs
/// at most about one run per input besides the run itself (a tangent costs no more than the
/// value it differentiates, and much less where random draws dominate, which it shares), and
/// stores nothing; reverse mode costs about three runs (forward, a recomputed segment, the
/// adjoint) and keeps `2 sqrt(steps)` copies of the states. So up to two inputs forward mode is
/// never slower, and it is much faster for ensembles whose draws dominate.
pub const FORWARD_MODE_INPUTS: usize = 2;

/// A loss and its gradient with respect to some params and initial states.
#[derive(Clone, Debug)]
pub struct Gradient {
    /// The loss differentiated.
    pub loss: String,
    /// The loss's value after the run.
    pub value: f64,
    /// `d loss / d name`, shaped like the param or state, in the order asked for.
    pub gradients: Vec<(String, ArrayD<f64>)>,
    /// What computing it held in memory.
    pub memory: AdjointMemory,
    /// How it was computed: forward or reverse mode.
    pub mode: GradientMode,
}

impl Gradient {
    /// `d loss / d name`, if `name` was asked for.
    pub fn get(&self, name: &str) -> Option<&ArrayD<f64>> {
        self.gradients.iter().find(|(n, _)| n == name).map(|(_, g)| g)
    }
}

/// What the gradient held in memory at its peak, counted from its storage, against keeping
/// every state. The storage only grows during a gradient, so the peak is what it holds at the
/// end (not counting the gradients handed back).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdjointMemory {
    /// Checkpoints the forward run kept.
    pub checkpoints: usize,
    /// Sets of states stored: the checkpoints, the recomputed segment and the final states.
    pub stored_state_sets: usize,
    /// Bytes of those stored states.
    pub stored_bytes: usize,
    /// Bytes of the gradient program's buffers: states, params, data, adjoints, temporaries.
    pub buffer_bytes: usize,
    /// Bytes of one set of the evolving states.
    pub state_bytes: usize,
    /// Bytes that keeping every step's states would take.
    pub all_states_bytes: usize,
}

impl AdjointMemory {
    /// Bytes held at the peak: the stored states and the buffers.
    pub fn peak_bytes(&self) -> usize {
        self.stored_bytes + self.buffer_bytes
    }
}

/// One set of the evolving states, kept by the engine.
type States = Vec<Stored>;

/// States kept by the reverse run, reused from one gradient to the next (a fit asks for many):
/// fresh allocations would cost page faults every time.
#[derive(Default)]
pub(crate) struct AdjointStorage {
    checkpoints: Vec<States>,
    segment: Vec<States>,
    /// The NaN guard's copy during the forward run; the final states after it.
    last: Snapshot,
}

impl AdjointStorage {
    /// Makes room for what `plan` stores, dropping what it does not need.
    fn fit(&mut self, plan: &Plan) {
        self.checkpoints.truncate(plan.checkpoints);
        self.segment.truncate(plan.segment);
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        let sets = |slots: &[States]| slots.iter().flatten().map(Stored::bytes).sum::<usize>();
        sets(&self.checkpoints) + sets(&self.segment) + self.last.bytes()
    }

    fn sets(&self) -> usize {
        self.checkpoints.len() + self.segment.len() + 1
    }
}

/// How the reverse run divides the steps: a checkpoint every `length` steps, and a segment of
/// up to `length` recomputed states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Plan {
    steps: usize,
    length: usize,
    checkpoints: usize,
    segment: usize,
}

impl Plan {
    /// `requested` checkpoints (default `⌈√steps⌉`, which stores about the fewest states,
    /// `c + ⌈steps / c⌉ + 1`); the segment is empty when there are no steps to reverse.
    fn new(steps: usize, requested: Option<usize>) -> Plan {
        let wanted = requested.unwrap_or_else(|| (steps as f64).sqrt().ceil() as usize).clamp(1, steps.max(1));
        let length = steps.div_ceil(wanted).max(1);
        Plan { steps, length, checkpoints: steps.div_ceil(length), segment: length.min(steps) }
    }

    /// Sets of states stored: checkpoints, segment, final states.
    fn stored_sets(&self) -> usize {
        self.checkpoints + self.segment + 1
    }

    /// "32 checkpoints, a 32-step segment and the final states".
    fn describe(&self) -> String {
        format!("{} checkpoints, a {}-step segment and the final states", self.checkpoints, self.segment)
    }
}

impl Simulator {
    /// The gradient of `loss` with respect to the named params and states (a state's gradient
    /// is with respect to its initial value), through the script's whole run, in the mode
    /// `GradientMode::Auto` picks. Afterwards the states are the run's final ones; the
    /// observables' series are left empty (a gradient does not compute them).
    pub fn gradient(&mut self, loss: &str, wrt: &[&str]) -> Result<Gradient, Failure> {
        self.gradient_with(loss, wrt, GradientOptions::default())
    }

    /// As [`Simulator::gradient`], with settings. Refuses, before allocating, a gradient whose
    /// buffers and stored states would need more memory than the simulator may use.
    pub fn gradient_with(&mut self, loss: &str, wrt: &[&str], options: GradientOptions) -> Result<Gradient, Failure> {
        let targets = self.gradient_targets(wrt)?;
        if let (Some(spec), 0) = (&self.model.checked().sample, self.differentiated_steps()) {
            let sampler = spec.sampler.name().to_string();
            return Err(self.model.fail(RunError::ThroughSampler { sampler, span: spec.span }));
        }
        let index = self.model.loss_index(Some(loss))?;
        let inputs: usize = targets.iter().map(|(_, buffer)| self.len(*buffer)).sum();
        match options.mode {
            GradientMode::Forward => {
                let tangent = self.tangent_program_of(index, &targets)?;
                self.forward_gradient(&tangent, &targets)
            }
            GradientMode::Auto if options.checkpoints.is_none() && inputs <= FORWARD_MODE_INPUTS => {
                let tangent = self.tangent_program_of(index, &targets)?;
                self.forward_gradient(&tangent, &targets)
            }
            GradientMode::Auto | GradientMode::Reverse => self.reverse_gradient(loss, &targets, options),
        }
    }

    /// The gradient by reverse mode through the run, with checkpoints.
    fn reverse_gradient(
        &mut self,
        loss: &str,
        targets: &[(String, BufferId)],
        options: GradientOptions,
    ) -> Result<Gradient, Failure> {
        let gradient = self.gradient_program_of(loss)?;
        // A loss of the params alone (a score network's training loss beside the run that
        // samples with it) has the same value and gradient at the start: no run to reverse.
        let steps = if self.reads_the_run(gradient.loss) { self.differentiated_steps() as usize } else { 0 };
        let plan = Plan::new(steps, options.checkpoints);
        self.check_gradient_memory(&gradient, &plan, options.checkpoints)?;
        self.load_gradient_program(&gradient)?;
        let interface = self.model.compiled().interface.clone();
        let bars = &gradient.bars;
        for &accumulator in &gradient.accumulators {
            self.engine.fill(accumulator, 0.0).map_err(self.model.engine_failure())?;
        }
        let evolving: Vec<(BufferId, BufferId)> = interface.swaps.clone();

        // Forward, keeping checkpoints, checked as `run` checks; no series is recorded.
        self.restart()?;
        let mut storage = std::mem::take(&mut self.adjoint_storage);
        storage.fit(&plan);
        let length = plan.length;
        if steps > 0 {
            self.keep_states(&evolving, &mut storage.checkpoints, 0)?;
        }
        let checkpoints = &mut storage.checkpoints;
        self.advance_guarded(steps as u64, false, &mut storage.last, &mut |sim, done| {
            let done = done as usize;
            if done % length == 0 && done < steps {
                sim.keep_states(&evolving, checkpoints, done / length)?;
            }
            Ok(std::ops::ControlFlow::Continue(()))
        })?;
        // The loss and its adjoint.
        self.run_procedure(interface.eval[gradient.loss])?;
        let value = self.engine.scalar(interface.scalars[gradient.loss]).map_err(self.model.engine_failure())?;
        self.engine.fill(bars[&interface.scalars[gradient.loss]], 1.0).map_err(self.model.engine_failure())?;
        self.run_procedure(gradient.loss_vjp)?;

        // Backwards through the steps: `bar(next)` holds the adjoint of the states after step s.
        if let Some(step_vjp) = gradient.step_vjp {
            for &(current, next) in &evolving {
                self.engine.swap(bars[&current], bars[&next]);
            }
            for segment in (0..plan.checkpoints).rev() {
                let start = segment * length;
                let end = (start + length).min(steps);
                self.set_evolving_states(&evolving, &storage.checkpoints[segment])?;
                self.set_clock(start as u64)?;
                // After a step the `next` buffers hold the states it started from: take them
                // without copying.
                for s in start..end - 1 {
                    self.advance_unchecked()?;
                    let slot = states_slot(&mut storage.segment, s - start, evolving.len());
                    self.exchange_states(evolving.iter().map(|&(_, next)| next), slot)?;
                }
                self.keep_states(&evolving, &mut storage.segment, end - 1 - start)?;
                for s in (start..end).rev() {
                    self.exchange_states(evolving.iter().map(|&(state, _)| state), &mut storage.segment[s - start])?;
                    self.set_clock(s as u64)?;
                    if gradient.step_rereads {
                        self.run_procedure(interface.step.expect("a run has a step"))?;
                    }
                    // The step's adjoint sets the evolving states' adjoints (no clearing needed).
                    self.run_procedure(step_vjp)?;
                    for &(current, next) in &evolving {
                        self.engine.swap(bars[&current], bars[&next]);
                    }
                }
            }
            for &(current, next) in &evolving {
                self.engine.swap(bars[&current], bars[&next]);
            }
        }

        // Through what the step carries into the initial states, and through the initial values
        // into the params.
        self.set_clock(0)?;
        self.initial_values()?;
        if let Some(carried_vjp) = gradient.carried_vjp {
            self.run_procedure(carried_vjp)?;
        }
        self.run_procedure(gradient.init_vjp)?;
        self.run_procedure(gradient.finish)?;

        let gradients = targets
            .iter()
            .map(|(name, buffer)| {
                let shape = IxDyn(self.shape(*buffer));
                // A buffer no procedure reads has no adjoint: its gradient is zero.
                let array = match bars.get(buffer) {
                    Some(bar) => ArrayD::from_shape_vec(shape, self.values(*bar)?.into_owned())
                        .expect("a buffer matches its shape"),
                    None => ArrayD::zeros(shape),
                };
                Ok((name.clone(), array))
            })
            .collect::<Result<_, Failure>>()?;

        // Leave the run's final states (the series are not recorded: nobody asked for them).
        self.restore(&storage.last)?;
        let state_bytes: usize = evolving.iter().map(|(s, _)| self.len(*s) * size_of::<f64>()).sum();
        let memory = AdjointMemory {
            checkpoints: plan.checkpoints,
            stored_state_sets: storage.sets(),
            stored_bytes: storage.bytes(),
            buffer_bytes: self.engine.bytes(),
            state_bytes,
            all_states_bytes: (steps + 1) * state_bytes,
        };
        self.adjoint_storage = storage;
        Ok(Gradient { loss: loss.to_string(), value, gradients, memory, mode: GradientMode::Reverse })
    }

    /// Whether named scalar `index` reads what a run changes: a state, what the step carries or
    /// writes, the time or the step count.
    pub(crate) fn reads_the_run(&self, index: usize) -> bool {
        let program = self.model.program();
        let interface = &self.model.compiled().interface;
        let changing: std::collections::BTreeSet<BufferId> =
            [Some(interface.init_states), interface.init_carried, interface.step]
                .into_iter()
                .flatten()
                .flat_map(|procedure| program.procedure(procedure).kernels.iter())
                .flat_map(|kernel| program.kernel(*kernel).outputs.iter().map(|o| o.buffer))
                .chain(interface.swaps.iter().flat_map(|(current, next)| [*current, *next]))
                .chain([interface.time, interface.step_count])
                .collect();
        program.procedure(interface.eval[index]).kernels.iter().any(|kernel| {
            program.kernel(*kernel).nodes.iter().any(|n| matches!(n, Node::Load(l) if changing.contains(&l.buffer)))
        })
    }

    /// Refuses a gradient whose buffers and stored states (by `plan`) would need more memory
    /// than the simulator may use, with the figures and what to change.
    fn check_gradient_memory(
        &self,
        gradient: &GradientProgram,
        plan: &Plan,
        requested: Option<usize>,
    ) -> Result<(), Failure> {
        let program = &gradient.program;
        let evolving: u64 =
            self.model.compiled().interface.swaps.iter().map(|(s, _)| memory::buffer_bytes(program, *s)).sum();
        let final_states = memory::states_bytes(&self.model);
        let stored_by = |plan: &Plan| {
            ((plan.checkpoints + plan.segment) as u64).saturating_mul(evolving).saturating_add(final_states)
        };
        let buffers = memory::program_bytes(program);
        let needed = buffers.saturating_add(stored_by(plan));
        let held = (self.engine.bytes() + self.adjoint_storage.bytes()) as u64;
        let allowance = Allowance::for_simulator(self.engine_options.memory_limit, held);
        if needed <= allowance.bytes {
            return Ok(());
        }
        let fewest = Plan::new(plan.steps, None);
        let with_fewest = buffers.saturating_add(stored_by(&fewest));
        let advice =
            if requested.is_some() && fewest.stored_sets() < plan.stored_sets() && with_fewest <= allowance.bytes {
                format!(
                    "with {} checkpoints (the default; `--checkpoints {}`) it would store {} sets and need {}",
                    fewest.checkpoints,
                    fewest.checkpoints,
                    fewest.stored_sets(),
                    bytes_text(with_fewest)
                )
            } else {
                "reduce the grid or ensemble size (`--set N=...`) or the number of steps (`--steps`)".into()
            };
        let checked = self.model.checked();
        Err(self.model.fail(RunError::GradientTooLarge {
            needed: bytes_text(needed),
            allowance: allowance.to_string(),
            sets: plan.stored_sets(),
            span: checked.run.as_ref().map_or_else(|| memory::largest_field(&self.model), |r| r.span),
            help: format!(
                "its buffers (states, adjoints, temporaries) take {}, and {} take {}; {advice}",
                bytes_text(buffers),
                plan.describe(),
                bytes_text(stored_by(plan))
            ),
        }))
    }

    /// The value [`Simulator::gradient`] differentiates: `loss` after the script's whole run
    /// (or Langevin sampling) from the initial states (at the initial states when nothing moves
    /// them differentiably), as finite differences of a gradient evaluate it.
    pub fn loss_through_run(&mut self, loss: &str) -> Result<f64, Failure> {
        if self.differentiated_steps() > 0 {
            self.run()?;
        } else {
            self.reset()?;
        }
        self.scalar(loss)
    }

    /// The buffers of the names to differentiate with respect to: params and states.
    fn gradient_targets(&self, wrt: &[&str]) -> Result<Vec<(String, BufferId)>, Failure> {
        let checked = self.model.checked();
        let interface = &self.model.compiled().interface;
        wrt.iter()
            .map(|name| {
                let field = checked
                    .field_named(name)
                    .filter(|f| matches!(checked.field(*f).kind, FieldKind::Param | FieldKind::State { .. }));
                match field.and_then(|f| interface.field_buffer(f)) {
                    Some(buffer) => Ok((name.to_string(), buffer)),
                    None => {
                        let names: Vec<&str> = checked
                            .fields
                            .iter()
                            .filter(|f| matches!(f.kind, FieldKind::Param | FieldKind::State { .. }))
                            .map(|f| f.name.as_str())
                            .collect();
                        Err(self.model.fail(RunError::UnknownName {
                            what: "param or state",
                            name: name.to_string(),
                            help: noether_compiler::diag::suggestion_help(
                                noether_compiler::diag::did_you_mean(name, names.iter().copied()),
                                format!(
                                    "gradients are taken with respect to params and initial states: {}",
                                    names.join(", ")
                                ),
                            ),
                        }))
                    }
                }
            })
            .collect()
    }

    /// The gradient program of `loss`: the loaded one, or a new one, not loaded yet.
    fn gradient_program_of(&self, loss: &str) -> Result<Arc<GradientProgram>, Failure> {
        let index = self.model.checked().scalars.iter().position(|s| s.name == loss);
        match &self.loaded {
            Loaded::Reverse(current) if Some(current.loss) == index => Ok(current.clone()),
            _ => Ok(Arc::new(self.model.gradient_program(Some(loss))?)),
        }
    }

    /// Switches the engine to `gradient` and allocates its buffers (kept for later calls),
    /// unless it is loaded already.
    fn load_gradient_program(&mut self, gradient: &Arc<GradientProgram>) -> Result<(), Failure> {
        if matches!(&self.loaded, Loaded::Reverse(current) if Arc::ptr_eq(current, gradient)) {
            return Ok(());
        }
        self.load_program(&gradient.program)?;
        self.loaded = Loaded::Reverse(gradient.clone());
        Ok(())
    }

    /// Switches the engine to `program`, which contains the forward program, keeping the
    /// forward buffers' contents.
    pub(crate) fn load_program(&mut self, program: &Program) -> Result<(), Failure> {
        let forward_buffers = self.model.program().buffers.len();
        self.engine.switch_program(Arc::new(program.clone()), forward_buffers).map_err(self.model.engine_failure())
    }

    /// Copies the evolving states into `slots[index]`, reusing its storage.
    fn keep_states(
        &self,
        evolving: &[(BufferId, BufferId)],
        slots: &mut Vec<States>,
        index: usize,
    ) -> Result<(), Failure> {
        let slot = states_slot(slots, index, evolving.len());
        for (kept, (state, _)) in slot.iter_mut().zip(evolving) {
            self.engine.keep(*state, kept).map_err(self.model.engine_failure())?;
        }
        Ok(())
    }

    /// Exchanges the storage of `buffers` with that of the states in `slot`, one for one.
    fn exchange_states(&mut self, buffers: impl Iterator<Item = BufferId>, slot: &mut States) -> Result<(), Failure> {
        for (buffer, stored) in buffers.zip(slot) {
            self.engine.exchange(buffer, stored).map_err(self.model.engine_failure())?;
        }
        Ok(())
    }

    fn set_evolving_states(&mut self, evolving: &[(BufferId, BufferId)], states: &States) -> Result<(), Failure> {
        for ((s, _), kept) in evolving.iter().zip(states) {
            self.engine.put_back(kept, *s).map_err(self.model.engine_failure())?;
        }
        Ok(())
    }
}

/// `slots[index]`, made to exist and to hold `count` states.
fn states_slot(slots: &mut Vec<States>, index: usize, count: usize) -> &mut States {
    if slots.len() <= index {
        slots.resize_with(index + 1, Vec::new);
    }
    let slot = &mut slots[index];
    slot.resize_with(count, Stored::default);
    slot
}
