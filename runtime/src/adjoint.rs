//! Gradients of a loss through a whole run: reverse mode through time with checkpoints.
//!
//! The forward run keeps the states at `c` evenly spaced checkpoints (default `c = ⌈√steps⌉`).
//! Going backwards, each segment between checkpoints is run forward again from its checkpoint,
//! keeping its states, and then reversed step by step: the step's adjoint (compiled by
//! `noether_compiler::autodiff`) turns the adjoint of the next states into that of the states
//! before, and adds into the params' adjoints. So at most `c + ⌈steps / c⌉` sets of states are
//! stored (about `2√steps`), at the price of one extra forward run. Where the step's adjoint
//! needs what the step computes on the way (Runge–Kutta stages, lets), the step is run once more
//! from its starting state right before its adjoint.
//!
//! The result is the exact gradient of the discrete computation (up to rounding), the same on
//! every engine since they run the same adjoint kernels.

use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};
use noether_compiler::diag::Failure;
use noether_compiler::ir::BufferId;
use noether_compiler::model::FieldKind;

use crate::error::RunError;
use crate::simulator::{Simulator, build_engine};

/// Settings of a gradient computation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GradientOptions {
    /// How many checkpoints the forward run keeps (default: the square root of the steps).
    pub checkpoints: Option<usize>,
}

/// A loss and its gradient with respect to some params and initial states.
#[derive(Clone, Debug)]
pub struct Gradient {
    pub loss: String,
    pub value: f64,
    /// `d loss / d name`, shaped like the param or state, in the order asked for.
    pub gradients: Vec<(String, ArrayD<f64>)>,
    pub memory: AdjointMemory,
}

impl Gradient {
    pub fn get(&self, name: &str) -> Option<&ArrayD<f64>> {
        self.gradients.iter().find(|(n, _)| n == name).map(|(_, g)| g)
    }
}

/// What reversing the run kept in memory, against keeping every state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdjointMemory {
    pub checkpoints: usize,
    /// The most sets of states held at once (checkpoints plus one segment).
    pub peak_state_sets: usize,
    /// Bytes of one set of the evolving states.
    pub state_bytes: usize,
    /// Bytes of all forward and adjoint buffers.
    pub buffer_bytes: usize,
    /// Bytes that keeping every step's states would take.
    pub all_states_bytes: usize,
}

impl AdjointMemory {
    /// Bytes of stored states at the peak.
    pub fn peak_stored_bytes(&self) -> usize {
        self.peak_state_sets * self.state_bytes
    }
}

type States = Vec<Vec<f64>>;

/// States kept by the reverse run, reused from one gradient to the next.
#[derive(Default)]
pub(crate) struct AdjointStorage {
    checkpoints: Vec<States>,
    segment: Vec<States>,
    last: Vec<States>,
}

impl Simulator {
    /// The gradient of `loss` with respect to the named params and states (a state's gradient
    /// is with respect to its initial value), through the script's whole run.
    pub fn gradient(&mut self, loss: &str, wrt: &[&str]) -> Result<Gradient, Failure> {
        self.gradient_with(loss, wrt, GradientOptions::default())
    }

    pub fn gradient_with(&mut self, loss: &str, wrt: &[&str], options: GradientOptions) -> Result<Gradient, Failure> {
        let targets = self.gradient_targets(wrt)?;
        self.use_gradient_program(loss)?;
        let gradient = self.gradient.clone().expect("the gradient program is loaded");
        let interface = self.model.compiled().interface.clone();
        let bars = &gradient.bars;
        for &accumulator in &gradient.accumulators {
            self.buffers.fill(accumulator, 0.0);
        }
        let evolving: Vec<(BufferId, BufferId)> = interface.swaps.clone();
        let steps = self.settings.map_or(0, |s| s.steps) as usize;

        // Forward, keeping checkpoints. Storage is reused from earlier calls (a fit calls this
        // many times): fresh allocations would cost page faults every time.
        self.reset()?;
        let segments =
            options.checkpoints.unwrap_or_else(|| (steps as f64).sqrt().ceil() as usize).clamp(1, steps.max(1));
        let length = steps.div_ceil(segments).max(1);
        let mut storage = std::mem::take(&mut self.adjoint_storage);
        let mut kept = 0;
        for s in 0..steps {
            if s % length == 0 {
                self.keep_states(&evolving, &mut storage.checkpoints, kept);
                kept += 1;
            }
            self.advance_unchecked()?;
            self.observe()?;
        }
        self.check_states()?;
        self.keep_states(&evolving, &mut storage.last, 0);
        // The loss and its adjoint.
        self.run_procedure(interface.eval[gradient.loss])?;
        let value = self.buffers.scalar(interface.scalars[gradient.loss]);
        self.buffers.fill(bars[&interface.scalars[gradient.loss]], 1.0);
        self.run_procedure(gradient.loss_vjp)?;

        // Backwards through the steps: `bar(next)` holds the adjoint of the states after step s.
        let mut peak = kept;
        if let Some(step_vjp) = gradient.step_vjp {
            for &(current, next) in &evolving {
                self.buffers.swap(bars[&current], bars[&next]);
            }
            for segment in (0..kept).rev() {
                let start = segment * length;
                let end = (start + length).min(steps);
                self.set_evolving_states(&evolving, &storage.checkpoints[segment]);
                self.set_clock(start as u64);
                // After a step the `next` buffers hold the states it started from: take them
                // without copying.
                for s in start..end - 1 {
                    self.advance_unchecked()?;
                    self.reserve_states(&evolving, &mut storage.segment, s - start);
                    for (k, &(_, next)) in evolving.iter().enumerate() {
                        self.buffers.exchange(next, &mut storage.segment[s - start][k]);
                    }
                }
                self.keep_states(&evolving, &mut storage.segment, end - 1 - start);
                peak = peak.max(segment + end - start);
                for s in (start..end).rev() {
                    for (k, &(state, _)) in evolving.iter().enumerate() {
                        self.buffers.exchange(state, &mut storage.segment[s - start][k]);
                    }
                    self.set_clock(s as u64);
                    if gradient.step_rereads {
                        self.run_procedure(interface.step.expect("a run has a step"))?;
                    }
                    // The step's adjoint sets the evolving states' adjoints (no clearing needed).
                    self.run_procedure(step_vjp)?;
                    for &(current, next) in &evolving {
                        self.buffers.swap(bars[&current], bars[&next]);
                    }
                }
            }
            for &(current, next) in &evolving {
                self.buffers.swap(bars[&current], bars[&next]);
            }
        }

        // Through the initial values into the params.
        self.set_clock(0);
        self.run_procedure(interface.init_states)?;
        self.run_procedure(gradient.init_vjp)?;
        self.run_procedure(gradient.finish)?;

        let gradients = targets
            .iter()
            .map(|(name, buffer)| {
                let shape = self.buffers.shape(*buffer).to_vec();
                // A buffer no procedure reads has no adjoint: its gradient is zero.
                let values = match bars.get(buffer) {
                    Some(bar) => self.buffers.data(*bar).to_vec(),
                    None => vec![0.0; self.buffers.data(*buffer).len()],
                };
                let array = ArrayD::from_shape_vec(IxDyn(&shape), values).expect("a buffer matches its shape");
                (name.clone(), array)
            })
            .collect();

        // Leave the simulator as a run leaves it.
        self.set_evolving_states(&evolving, &storage.last[0]);
        self.set_clock(steps as u64);
        let state_bytes: usize = evolving.iter().map(|(s, _)| self.buffers.data(*s).len() * 8).sum();
        self.adjoint_storage = storage;
        let memory = AdjointMemory {
            checkpoints: kept,
            peak_state_sets: peak,
            state_bytes,
            buffer_bytes: self.buffers.bytes(),
            all_states_bytes: (steps + 1) * state_bytes,
        };
        Ok(Gradient { loss: loss.to_string(), value, gradients, memory })
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

    /// Switches the engine to the gradient program of `loss` (kept for later calls).
    fn use_gradient_program(&mut self, loss: &str) -> Result<(), Failure> {
        let index = self.model.checked().scalars.iter().position(|s| s.name == loss);
        if let (Some(current), Some(index)) = (&self.gradient, index) {
            if current.loss == index {
                return Ok(());
            }
        }
        let program = self.model.gradient_program(Some(loss))?;
        let shared = Arc::new(program.program.clone());
        self.engine = build_engine(&self.model, &shared, self.backend, self.engine_options)?;
        self.buffers.truncate(self.model.program().buffers.len());
        self.buffers.extend_to(&program.program);
        self.gradient = Some(Arc::new(program));
        Ok(())
    }

    /// Makes `slots[index]` hold vectors as long as the evolving states (for exchanges).
    fn reserve_states(&self, evolving: &[(BufferId, BufferId)], slots: &mut Vec<States>, index: usize) {
        if slots.len() <= index {
            slots.resize_with(index + 1, Vec::new);
        }
        let slot = &mut slots[index];
        slot.resize_with(evolving.len(), Vec::new);
        for (kept, (state, _)) in slot.iter_mut().zip(evolving) {
            kept.resize(self.buffers.data(*state).len(), 0.0);
        }
    }

    /// Copies the evolving states into `slots[index]`, reusing its storage.
    fn keep_states(&self, evolving: &[(BufferId, BufferId)], slots: &mut Vec<States>, index: usize) {
        if slots.len() <= index {
            slots.resize_with(index + 1, Vec::new);
        }
        let slot = &mut slots[index];
        slot.resize_with(evolving.len(), Vec::new);
        for (kept, (state, _)) in slot.iter_mut().zip(evolving) {
            kept.clear();
            kept.extend_from_slice(self.buffers.data(*state));
        }
    }

    fn set_evolving_states(&mut self, evolving: &[(BufferId, BufferId)], states: &States) {
        for ((s, _), values) in evolving.iter().zip(states) {
            self.buffers.data_mut(*s).copy_from_slice(values);
        }
    }
}
