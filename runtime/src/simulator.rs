//! Running a model: parameters, the time loop, observations, and the NaN guard, over the
//! buffers its [`Engine`] owns (read, written and copied only through the engine).
//!
//! A script's directive gives the simulator its [`Schedule`]: integrating in time (the time
//! loop here, over the compiled step) or sampling (sweeps of the compiled sampler, driven by
//! [`crate::sampling`]). Both record the observables the same way; the adjoint through time
//! ([`crate::adjoint`]) applies to integration only.

use std::borrow::Cow;
use std::ops::ControlFlow;
use std::sync::Arc;

use ndarray::{ArrayD, ArrayViewD, CowArray, IxDyn};
use noether_compiler::diag::{Failure, did_you_mean, suggestion_help};
use noether_compiler::ir::{BufferId, ProcId, Program};
use noether_compiler::lower::gradient::GradientProgram;
use noether_compiler::lower::tangent::TangentProgram;
use noether_compiler::model::{FieldId, FieldKind, NamedKind, SampleSchedule};

use crate::engine::{self, Backend, Engine, EngineOptions, Stored};
use crate::error::{RunError, index_text, unflatten};
use crate::model::Model;
use crate::stream::Frame;

/// What `run` does: integrate in time, or sample; from the script's directive.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Schedule {
    /// Integrate in time with a `run` directive's settings.
    Integrate(Settings),
    /// Sample with a `sample` directive's sweeps.
    Sample(SampleSchedule),
}

/// The run settings: from the script's `run` directive, overridable before running.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// The time step.
    pub dt: f64,
    /// Steps `run` takes.
    pub steps: u64,
    /// The time at the start.
    pub t0: f64,
    /// The key of the run's noise: the same seed draws the same paths on every engine.
    pub seed: u64,
}

/// One model on one engine, which holds its buffers.
pub struct Simulator {
    pub(crate) model: Model,
    pub(crate) engine_options: EngineOptions,
    pub(crate) engine: Box<dyn Engine>,
    pub(crate) schedule: Option<Schedule>,
    pub(crate) time: f64,
    pub(crate) steps_done: u64,
    /// Indices into `Model::scalars` of the observables, and each one's series.
    pub(crate) observables: Vec<(usize, Vec<f64>)>,
    times: Vec<f64>,
    /// How many elements of each state [`Simulator::paths`] records at every observation.
    path_count: usize,
    /// For each state buffer, its first `path_count` elements at every observation, flat.
    paths: Vec<(BufferId, Vec<f64>)>,
    /// How long building the engine took (JIT compilation).
    engine_build: std::time::Duration,
    /// For samplers that accept or reject: the fraction accepted in each recorded sweep, and
    /// the sum and count over every sweep after the burn-in.
    pub(crate) acceptance: crate::sampling::Acceptance,
    /// The program the engine runs: the forward program, or a gradient or tangent program
    /// that contains it buffer for buffer, once a gradient was asked for.
    pub(crate) loaded: Loaded,
    /// Amounts added to single elements of initial states after they are computed.
    initial_offsets: Vec<(BufferId, usize, f64)>,
    /// A param changed since what the step carries (velocity Verlet's force) was computed: the
    /// next [`Simulator::step`] recomputes it first. Runs and gradients restart, which does.
    pub(crate) carried_stale: bool,
    pub(crate) adjoint_storage: crate::adjoint::AdjointStorage,
    /// The model's fractional noises and the increments drawn for the current settings.
    pub(crate) fractional: Vec<crate::fractional::FractionalNoise>,
}

impl Simulator {
    pub(crate) fn new(model: Model, backend: Backend, options: EngineOptions) -> Result<Simulator, Failure> {
        model.check_memory(options.memory_limit)?;
        let program = model.program().clone();
        let started = std::time::Instant::now();
        let mut engine = engine::build(program, backend, options).map_err(|e| model.fail(e))?;
        let engine_build = started.elapsed();
        let checked = model.checked();
        let interface = &model.compiled().interface;
        for (index, field) in checked.fields.iter().enumerate() {
            if let FieldKind::Data { path, path_span } = &field.kind {
                let values = crate::data::load(field, path, *path_span, model.base_dir()).map_err(|e| model.fail(e))?;
                let buffer = interface.fields[index].expect("data fields have buffers");
                engine.write(buffer, 0, &values).map_err(model.engine_failure())?;
            }
        }
        let schedule = match (&checked.run, &checked.sample) {
            (Some(r), _) => Some(Schedule::Integrate(Settings { dt: r.dt, steps: r.steps, t0: r.t0, seed: r.seed })),
            (None, Some(s)) => Some(Schedule::Sample(s.schedule)),
            (None, None) => None,
        };
        let observables = checked
            .scalars
            .iter()
            .enumerate()
            .filter(|(_, s)| s.kind == NamedKind::Observe)
            .map(|(i, _)| (i, Vec::new()))
            .collect();
        let mut simulator = Simulator {
            time: 0.0,
            fractional: crate::fractional::noises(&model),
            model,
            engine_options: options,
            engine,
            loaded: Loaded::Forward,
            initial_offsets: Vec::new(),
            carried_stale: false,
            adjoint_storage: Default::default(),
            schedule,
            steps_done: 0,
            observables,
            times: Vec::new(),
            path_count: 0,
            paths: Vec::new(),
            engine_build,
            acceptance: Default::default(),
        };
        simulator.run_procedure(simulator.model.compiled().interface.init_params)?;
        simulator.reset()?;
        Ok(simulator)
    }

    /// The model this simulator runs.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The engine's name (`jit` or `interp`).
    pub fn backend(&self) -> &'static str {
        self.engine.name()
    }

    /// How long preparing the engine took (for the JIT: compiling every kernel).
    pub fn engine_build_time(&self) -> std::time::Duration {
        self.engine_build
    }

    /// The integration settings (`None` for a sampling script or one without a directive).
    pub fn settings(&self) -> Option<Settings> {
        match self.schedule {
            Some(Schedule::Integrate(settings)) => Some(settings),
            _ => None,
        }
    }

    /// What `run` does (`None` for a script without a directive).
    pub fn schedule(&self) -> Option<Schedule> {
        self.schedule
    }

    /// Overrides the number of steps `run` takes.
    pub fn set_steps(&mut self, steps: u64) -> Result<(), Failure> {
        if steps == 0 {
            return Err(self.model.fail(RunError::BadSetting {
                setting: "steps",
                problem: "0 steps".into(),
                help: "run at least one step".into(),
            }));
        }
        self.settings_mut()?.steps = steps;
        Ok(())
    }

    /// Overrides the time step.
    pub fn set_dt(&mut self, dt: f64) -> Result<(), Failure> {
        if !(dt > 0.0 && dt.is_finite()) {
            return Err(self.model.fail(RunError::BadSetting {
                setting: "dt",
                problem: format!("{dt} is not a positive number"),
                help: "give a positive time step".into(),
            }));
        }
        self.settings_mut()?.dt = dt;
        Ok(())
    }

    /// Sets the seed of the run's noise or the sampler's draws (from the next step on; `run`
    /// starts over), a 32-bit key. Draws written in the script, `normal(seed, ...)`, keep their
    /// own seeds.
    pub fn set_seed(&mut self, seed: u64) -> Result<(), Failure> {
        if seed > u64::from(u32::MAX) {
            return Err(self.model.fail(RunError::BadSetting {
                setting: "seed",
                problem: format!("{seed} does not fit in 32 bits"),
                help: "give a seed from 0 to 4294967295".into(),
            }));
        }
        match &mut self.schedule {
            Some(Schedule::Integrate(settings)) => settings.seed = seed,
            Some(Schedule::Sample(schedule)) => schedule.seed = seed,
            None => return Err(Failure::single(self.model.source(), RunError::NoRun)),
        }
        Ok(())
    }

    /// Overrides the number of sweeps a sampling script makes after its burn-in.
    pub fn set_sweeps(&mut self, sweeps: u64) -> Result<(), Failure> {
        let Some(Schedule::Sample(schedule)) = &mut self.schedule else {
            return Err(self.model.fail(RunError::BadSetting {
                setting: "sweeps",
                problem: "the script does not sample".into(),
                help: "sweeps belong to a `sample` directive; a `run` takes `--steps`".into(),
            }));
        };
        let problem = if sweeps == 0 {
            Some("0 sweeps".into())
        } else if sweeps < schedule.thin {
            Some(format!("{sweeps} sweeps record none with `thin = {}`", schedule.thin))
        } else if sweeps > MAX_SWEEPS.saturating_sub(schedule.burn_in) {
            Some(format!("{sweeps} sweeps after a burn-in of {} is too many", schedule.burn_in))
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(self.model.fail(RunError::BadSetting {
                setting: "sweeps",
                problem,
                help: format!("make at least `thin` = {} and at most 2^53 sweeps in all", schedule.thin),
            }));
        }
        schedule.sweeps = sweeps;
        Ok(())
    }

    /// The integration settings, to change (refused for a script that samples).
    fn settings_mut(&mut self) -> Result<&mut Settings, Failure> {
        match &mut self.schedule {
            Some(Schedule::Integrate(settings)) => Ok(settings),
            Some(Schedule::Sample(_)) => Err(self.model.fail(RunError::BadSetting {
                setting: "integration",
                problem: "the script samples; it takes no time steps".into(),
                help: "a `sample` directive takes `--sweeps` and `--seed`".into(),
            })),
            None => Err(Failure::single(self.model.source(), RunError::NoRun)),
        }
    }

    /// Sets a scalar param. States keep their values until the next [`Simulator::reset`] or
    /// [`Simulator::run`], which recompute initial values from the params; what a step carries
    /// to the next (velocity Verlet's force) is recomputed before the next [`Simulator::step`],
    /// so that step uses the new value throughout.
    pub fn set_param(&mut self, name: &str, value: f64) -> Result<(), Failure> {
        let buffer = self.param_buffer(name)?;
        let shape = self.shape(buffer);
        if !shape.is_empty() {
            return Err(self.model.fail(RunError::ValueShape {
                name: name.into(),
                expected: index_text(shape),
                found: "[]".into(),
            }));
        }
        self.finite_param(name, std::slice::from_ref(&value))?;
        self.engine.set_scalar(buffer, value).map_err(self.model.engine_failure())?;
        self.carried_stale = true;
        Ok(())
    }

    /// Sets a tensor param (or a scalar one, with a 0-dimensional array), as
    /// [`Simulator::set_param`].
    pub fn set_param_array(&mut self, name: &str, value: &ArrayViewD<'_, f64>) -> Result<(), Failure> {
        let buffer = self.param_buffer(name)?;
        let shape = self.shape(buffer);
        if value.shape() != shape {
            return Err(self.model.fail(RunError::ValueShape {
                name: name.into(),
                expected: index_text(shape),
                found: index_text(value.shape()),
            }));
        }
        let values: Vec<f64> = value.iter().copied().collect();
        self.finite_param(name, &values)?;
        self.engine.write(buffer, 0, &values).map_err(self.model.engine_failure())?;
        self.carried_stale = true;
        Ok(())
    }

    /// Refuses a param value that is NaN or infinite when it is set, not at the next run.
    fn finite_param(&self, name: &str, values: &[f64]) -> Result<(), Failure> {
        let Some(bad) = values.iter().position(|v| !v.is_finite()) else { return Ok(()) };
        Err(self.model.fail(RunError::BadSetting {
            setting: "param",
            problem: format!("`{name}` set to {} (element {bad})", values[bad]),
            help: "params take finite values".into(),
        }))
    }

    fn param_buffer(&self, name: &str) -> Result<BufferId, Failure> {
        self.field_buffer(name, "param", |k| *k == FieldKind::Param)
    }

    /// Adds `delta` to element `index` (flat, row-major) of a state's initial value, from the
    /// next [`Simulator::reset`] or run on: what finite-difference checks of gradients with
    /// respect to initial states perturb. Offsets add up until cleared.
    pub fn set_initial_offset(&mut self, state: &str, index: usize, delta: f64) -> Result<(), Failure> {
        let buffer = self.field_buffer(state, "state", |k| matches!(k, FieldKind::State { .. }))?;
        let len = self.len(buffer);
        if index >= len {
            return Err(self.model.fail(RunError::ValueShape {
                name: state.into(),
                expected: format!("an index below {len}"),
                found: index.to_string(),
            }));
        }
        self.initial_offsets.push((buffer, index, delta));
        Ok(())
    }

    /// Forgets every [`Simulator::set_initial_offset`].
    pub fn clear_initial_offsets(&mut self) {
        self.initial_offsets.clear();
    }

    /// The current value of any field (state, param, data or let) by name: borrowed from a CPU
    /// engine's buffer, copied back from a device.
    pub fn field(&self, name: &str) -> Result<CowArray<'_, f64, IxDyn>, Failure> {
        let buffer = self.field_buffer(name, "field", |k| !matches!(k, FieldKind::Noise { .. }))?;
        self.array(buffer)
    }

    /// The current value of a state, as [`Simulator::field`].
    pub fn state(&self, name: &str) -> Result<CowArray<'_, f64, IxDyn>, Failure> {
        let buffer = self.field_buffer(name, "state", |k| matches!(k, FieldKind::State { .. }))?;
        self.array(buffer)
    }

    /// A buffer's values shaped as the program declares it.
    pub(crate) fn array(&self, id: BufferId) -> Result<CowArray<'_, f64, IxDyn>, Failure> {
        let shape = IxDyn(self.shape(id));
        let array = match self.values(id)? {
            Cow::Borrowed(values) => ArrayViewD::from_shape(shape, values).map(CowArray::from),
            Cow::Owned(values) => ArrayD::from_shape_vec(shape, values).map(CowArray::from),
        };
        Ok(array.expect("a buffer's values match its shape"))
    }

    /// Every value of buffer `id`, row-major.
    pub(crate) fn values(&self, id: BufferId) -> Result<Cow<'_, [f64]>, Failure> {
        self.engine.read(id, 0..self.len(id)).map_err(self.model.engine_failure())
    }

    /// A buffer's extents (empty for a scalar), as the program the engine runs declares them.
    pub(crate) fn shape(&self, id: BufferId) -> &[usize] {
        &self.program().buffer(id).shape
    }

    /// How many elements a buffer has.
    pub(crate) fn len(&self, id: BufferId) -> usize {
        self.program().buffer(id).len()
    }

    fn field_buffer(
        &self,
        name: &str,
        what: &'static str,
        keep: impl Fn(&FieldKind) -> bool,
    ) -> Result<BufferId, Failure> {
        let checked = self.model.checked();
        let found = checked.field_named(name).filter(|f| keep(&checked.field(*f).kind));
        match found.and_then(|f| self.model.compiled().interface.field_buffer(f)) {
            Some(buffer) => Ok(buffer),
            None => {
                let names = checked.fields.iter().filter(|f| keep(&f.kind)).map(|f| f.name.as_str());
                Err(self.model.fail(unknown(what, name, names)))
            }
        }
    }

    /// The names of all states, in declaration order.
    pub fn state_names(&self) -> Vec<String> {
        let checked = self.model.checked();
        checked.states().map(|f| checked.field(f).name.clone()).collect()
    }

    /// Current simulation time.
    pub fn time(&self) -> f64 {
        self.time
    }

    /// Steps taken since the start (sweeps made, for a sampler).
    pub fn steps_done(&self) -> u64 {
        self.steps_done
    }

    /// The times at which observables were recorded: the start, then after every step.
    pub fn times(&self) -> &[f64] {
        &self.times
    }

    /// The recorded series of an observable.
    pub fn observable(&self, name: &str) -> Result<&[f64], Failure> {
        let scalars = &self.model.checked().scalars;
        match self.observables.iter().find(|(i, _)| scalars[*i].name == name) {
            Some((_, series)) => Ok(series),
            None => {
                let names = self.observables.iter().map(|(i, _)| scalars[*i].name.as_str());
                Err(self.model.fail(unknown("observable", name, names)))
            }
        }
    }

    /// The names of the observables, in declaration order.
    pub fn observable_names(&self) -> Vec<String> {
        self.observables.iter().map(|(i, _)| self.model.checked().scalars[*i].name.clone()).collect()
    }

    /// Evaluates a named scalar (loss, energy or observable) at the current state.
    pub fn scalar(&mut self, name: &str) -> Result<f64, Failure> {
        let scalars = &self.model.checked().scalars;
        let Some(index) = scalars.iter().position(|s| s.name == name) else {
            let names = scalars.iter().map(|s| s.name.as_str());
            return Err(self.model.fail(unknown("loss, energy or observable", name, names)));
        };
        let interface = &self.model.compiled().interface;
        let (procedure, buffer) = (interface.eval[index], interface.scalars[index]);
        self.run_procedure(procedure)?;
        self.engine.scalar(buffer).map_err(self.model.engine_failure())
    }

    /// The names and current values of all scalars of one kind.
    pub fn scalars_of(&mut self, kind: NamedKind) -> Result<Vec<(String, f64)>, Failure> {
        let names: Vec<String> =
            self.model.checked().scalars.iter().filter(|s| s.kind == kind).map(|s| s.name.clone()).collect();
        names.into_iter().map(|n| Ok((n.clone(), self.scalar(&n)?))).collect()
    }

    /// Sets every state to its initial value (from the current params) at the start time, and
    /// (when integrating) records the observables there.
    pub fn reset(&mut self) -> Result<(), Failure> {
        self.restart()?;
        match self.schedule {
            Some(Schedule::Integrate(_)) => self.observe(),
            // Nothing to record a series over; a fit would evaluate them at every iteration.
            Some(Schedule::Sample(_)) | None => Ok(()),
        }
    }

    /// Sets every state to its initial value and forgets what was recorded.
    pub(crate) fn restart(&mut self) -> Result<(), Failure> {
        self.set_clock(0)?;
        self.initial_values()?;
        self.check_states()?;
        self.check_spins()?;
        self.forget_observations();
        Ok(())
    }

    /// Forgets the observations, paths and acceptance recorded.
    pub(crate) fn forget_observations(&mut self) {
        self.times.clear();
        for (_, path) in &mut self.paths {
            path.clear();
        }
        for (_, series) in &mut self.observables {
            series.clear();
        }
        self.acceptance = Default::default();
    }

    /// The initial states (from the current params, plus any offsets) and what the step carries
    /// besides them (see [`noether_compiler::lower::Interface::init_carried`]), at the current
    /// clock.
    pub(crate) fn initial_values(&mut self) -> Result<(), Failure> {
        self.run_procedure(self.model.compiled().interface.init_states)?;
        self.add_initial_offsets()?;
        self.carried_values()
    }

    /// Adds the offsets set by [`Simulator::set_initial_offset`] to the initial states.
    pub(crate) fn add_initial_offsets(&mut self) -> Result<(), Failure> {
        for &(buffer, index, delta) in &self.initial_offsets {
            let value = self.engine.read(buffer, index..index + 1).map_err(self.model.engine_failure())?[0] + delta;
            self.engine.write(buffer, index, &[value]).map_err(self.model.engine_failure())?;
        }
        Ok(())
    }

    /// What the step carries besides the states, from the current states and params.
    fn carried_values(&mut self) -> Result<(), Failure> {
        self.carried_stale = false;
        match self.model.compiled().interface.init_carried {
            Some(procedure) => self.run_procedure(procedure),
            None => Ok(()),
        }
    }

    /// Resets, then takes the configured number of steps, or makes the configured sweeps.
    pub fn run(&mut self) -> Result<(), Failure> {
        self.run_with(&mut |_, _| {})
    }

    /// As [`Simulator::run`], calling `progress(done, total)` after each step or sweep.
    pub fn run_with(&mut self, progress: &mut dyn FnMut(u64, u64)) -> Result<(), Failure> {
        self.drive(progress, &mut |_| ControlFlow::Continue(()))
    }

    /// Runs as [`Simulator::run`], calling `progress` after each step or sweep and `observer`
    /// after each observation (see [`Frame`]), stopping after the observation it breaks at.
    pub(crate) fn drive(
        &mut self,
        progress: &mut dyn FnMut(u64, u64),
        observer: &mut dyn FnMut(&Frame<'_>) -> ControlFlow<()>,
    ) -> Result<(), Failure> {
        let settings = match self.schedule {
            Some(Schedule::Integrate(settings)) => settings,
            Some(Schedule::Sample(schedule)) => return self.sample_with(schedule, progress, observer),
            None => return Err(Failure::single(self.model.source(), RunError::NoRun)),
        };
        self.reset()?;
        if observer(&Frame::new(self)).is_break() {
            return Ok(());
        }
        let mut guard = Snapshot::default();
        self.advance_guarded(settings.steps, true, &mut guard, &mut |sim, done| {
            progress(done, settings.steps);
            Ok(observer(&Frame::new(sim)))
        })
    }

    /// Takes `steps` steps (with observations when `observing`), calling `after(self, done)`
    /// once after each, and stops at the first state value that is not finite, naming its step,
    /// state and index as [`Simulator::step`] does, or after the step where `after` breaks.
    /// States are checked every GUARD_INTERVAL steps and after the last against `guard`, a copy
    /// kept from the last check; when a check fails, the steps since the copy are repeated one
    /// by one, each checked. On success `guard` holds the final states.
    pub(crate) fn advance_guarded(
        &mut self,
        steps: u64,
        observing: bool,
        guard: &mut Snapshot,
        after: &mut dyn FnMut(&mut Simulator, u64) -> StepFlow,
    ) -> Result<(), Failure> {
        self.snapshot_into(guard)?;
        let start = self.steps_done;
        for done in 1..=steps {
            self.advance_unchecked()?;
            if observing {
                self.observe()?;
            }
            let flow = after(self, done)?;
            if done % GUARD_INTERVAL == 0 || done == steps || flow.is_break() {
                if self.states_finite()? {
                    self.snapshot_into(guard)?;
                } else {
                    self.restore(guard)?;
                    while self.steps_done < start + done {
                        self.step()?;
                    }
                }
            }
            if flow.is_break() {
                break;
            }
        }
        Ok(())
    }

    /// Takes one step of the script's integrator and checks the states.
    pub fn step(&mut self) -> Result<(), Failure> {
        if self.carried_stale {
            self.carried_values()?;
        }
        self.advance()?;
        self.check_states()
    }

    /// One step, unchecked: the step procedure, the swaps, the time, the observables.
    fn advance(&mut self) -> Result<(), Failure> {
        self.advance_unchecked()?;
        self.observe()
    }

    /// The step procedure, the swaps and the time, without checks or observations.
    pub(crate) fn advance_unchecked(&mut self) -> Result<(), Failure> {
        let Some(step) = self.model.compiled().interface.step else {
            return Err(Failure::single(self.model.source(), RunError::NoRun));
        };
        self.advance_by(step, &[])
    }

    /// One step by `step` (the model's step, or one that computes more besides), the model's
    /// swaps and `more_swaps`, and the time, without checks or observations.
    pub(crate) fn advance_by(&mut self, step: ProcId, more_swaps: &[(BufferId, BufferId)]) -> Result<(), Failure> {
        self.check_fractional_horizon()?;
        self.set_clock(self.steps_done)?;
        self.run_procedure(step)?;
        for &(current, next) in self.model.compiled().interface.swaps.iter().chain(more_swaps) {
            self.engine.swap(current, next);
        }
        self.set_clock(self.steps_done + 1)
    }

    /// How many steps a gradient differentiates through: the run's steps, or every sweep
    /// (burn-in included) of a sampler whose sweep is the model's step (unadjusted Langevin);
    /// 0 for other samplers, whose gradients are taken at the initial states.
    pub(crate) fn differentiated_steps(&self) -> u64 {
        match self.schedule {
            Some(Schedule::Integrate(settings)) => settings.steps,
            Some(Schedule::Sample(s)) if self.model.compiled().interface.step.is_some() => s.burn_in + s.sweeps,
            _ => 0,
        }
    }

    /// Sets the step count, the time and the time step buffers to the start of step `step`.
    /// Sets the value `iteration` reads in the model (the fit's iteration; 0 otherwise); a
    /// model that does not read it ignores it.
    pub(crate) fn set_iteration(&mut self, iteration: f64) -> Result<(), Failure> {
        match self.model.compiled().interface.iteration {
            Some(buffer) => self.engine.set_scalar(buffer, iteration).map_err(self.model.engine_failure()),
            None => Ok(()),
        }
    }

    /// A sampler's clock counts sweeps: sweep `n` starts at time `n`.
    pub(crate) fn set_clock(&mut self, step: u64) -> Result<(), Failure> {
        let (t0, dt, seed) = match self.schedule {
            Some(Schedule::Integrate(s)) => (s.t0, s.dt, s.seed),
            Some(Schedule::Sample(s)) => (0.0, 1.0, s.seed),
            None => (0.0, 0.0, 0),
        };
        self.steps_done = step;
        self.time = t0 + step as f64 * dt;
        let interface = &self.model.compiled().interface;
        let clock = [
            (interface.time, self.time),
            (interface.dt, dt),
            (interface.step_count, step as f64),
            (interface.seed, seed as f64),
        ];
        for (buffer, value) in clock {
            self.engine.set_scalar(buffer, value).map_err(self.model.engine_failure())?;
        }
        self.write_fractional_increments(step)
    }

    /// Copies the states (and what the step carries besides them), the step count and the
    /// length of the observation record into `snapshot`, reusing its storage.
    pub(crate) fn snapshot_into(&self, snapshot: &mut Snapshot) -> Result<(), Failure> {
        let interface = &self.model.compiled().interface;
        let buffers: Vec<BufferId> = self.state_buffers().chain(interface.carried()).collect();
        snapshot.states.resize_with(buffers.len(), || (BufferId(0), Stored::default()));
        for ((id, kept), &buffer) in snapshot.states.iter_mut().zip(&buffers) {
            *id = buffer;
            self.engine.keep(buffer, kept).map_err(self.model.engine_failure())?;
        }
        snapshot.steps_done = self.steps_done;
        snapshot.observed = self.times.len();
        Ok(())
    }

    /// Goes back to `snapshot`: the states, the clock and the observation record.
    pub(crate) fn restore(&mut self, snapshot: &Snapshot) -> Result<(), Failure> {
        for (buffer, kept) in &snapshot.states {
            self.engine.put_back(kept, *buffer).map_err(self.model.engine_failure())?;
        }
        self.set_clock(snapshot.steps_done)?;
        self.times.truncate(snapshot.observed);
        let program = self.model.program();
        for (buffer, path) in &mut self.paths {
            let width = self.path_count.min(program.buffer(*buffer).len());
            path.truncate(snapshot.observed * width);
        }
        for (_, series) in &mut self.observables {
            series.truncate(snapshot.observed);
        }
        Ok(())
    }

    /// The buffers of the states, in declaration order.
    pub(crate) fn state_buffers(&self) -> impl Iterator<Item = BufferId> + '_ {
        let interface = &self.model.compiled().interface;
        self.model.checked().states().filter_map(|s| interface.field_buffer(s))
    }

    pub(crate) fn states_finite(&self) -> Result<bool, Failure> {
        let states: Vec<BufferId> = self.state_buffers().collect();
        self.engine.all_finite(&states).map_err(self.model.engine_failure())
    }

    pub(crate) fn run_procedure(&mut self, procedure: ProcId) -> Result<(), Failure> {
        self.engine.run(procedure).map_err(self.model.engine_failure())
    }

    pub(crate) fn observe(&mut self) -> Result<(), Failure> {
        let interface = &self.model.compiled().interface;
        let observe = interface.observe;
        self.run_procedure(observe)?;
        let interface = &self.model.compiled().interface;
        let failure = self.model.engine_failure();
        for (index, series) in &mut self.observables {
            series.push(self.engine.scalar(interface.scalars[*index]).map_err(&failure)?);
        }
        self.times.push(self.time);
        let program = self.model.program();
        for (buffer, path) in &mut self.paths {
            let recorded = 0..self.path_count.min(program.buffer(*buffer).len());
            path.extend_from_slice(&self.engine.read(*buffer, recorded).map_err(&failure)?);
        }
        Ok(())
    }

    /// Records the first `count` elements (row-major) of every state at each observation from
    /// the next run on: a few sample paths of an ensemble. `0` stops recording.
    pub fn record_paths(&mut self, count: usize) {
        self.path_count = count;
        self.paths = if count == 0 { Vec::new() } else { self.state_buffers().map(|b| (b, Vec::new())).collect() };
    }

    /// How many elements of each state are recorded as paths.
    pub fn recorded_paths(&self) -> usize {
        self.path_count
    }

    /// The recorded paths of `state`: one row per observation time, one column per element.
    pub fn paths(&self, state: &str) -> Result<ndarray::Array2<f64>, Failure> {
        let buffer = self.field_buffer(state, "state", |k| matches!(k, FieldKind::State { .. }))?;
        let width = self.path_count.min(self.len(buffer));
        let path = self.paths.iter().find(|(b, _)| *b == buffer).map(|(_, p)| p.clone()).unwrap_or_default();
        let rows = path.len().checked_div(width).unwrap_or(0);
        Ok(ndarray::Array2::from_shape_vec((rows, width), path).expect("rows of equal width"))
    }

    /// Refuses a spin state holding anything but +1 and -1, naming the first such element.
    fn check_spins(&self) -> Result<(), Failure> {
        let checked = self.model.checked();
        for state in checked.states().filter(|s| checked.field(*s).kind == FieldKind::State { spin: true }) {
            let buffer = self.model.compiled().interface.field_buffer(state).expect("states have buffers");
            let data = self.values(buffer)?;
            if let Some(bad) = data.iter().position(|v| v.abs() != 1.0) {
                let field = checked.field(state);
                return Err(self.model.fail(RunError::NotSpin {
                    state: field.name.clone(),
                    value: data[bad],
                    index: index_text(&unflatten(bad, self.shape(buffer))),
                    span: field.span,
                }));
            }
        }
        Ok(())
    }

    /// Stops the run at the first state value that is not finite.
    pub(crate) fn check_states(&self) -> Result<(), Failure> {
        if self.states_finite()? {
            return Ok(());
        }
        let checked = self.model.checked();
        for state in checked.states() {
            let buffer = self.model.compiled().interface.field_buffer(state).expect("states have buffers");
            let data = self.values(buffer)?;
            let Some(bad) = data.iter().position(|v| !v.is_finite()) else { continue };
            let field = checked.field(state);
            let span = equation_span(checked, state).unwrap_or(field.span);
            let step = self.steps_done;
            return Err(self.model.fail(RunError::NonFinite {
                state: field.name.clone(),
                value: data[bad],
                step,
                index: index_text(&unflatten(bad, self.shape(buffer))),
                span,
                help: if step == 0 {
                    "the initial value is not finite; check the state's initial expression".into()
                } else {
                    "the integration is probably unstable: reduce dt (e.g. `--dt`), or look for a division by zero or a log of a negative number".into()
                },
            }));
        }
        Ok(())
    }

    /// How many buffers the engine holds (the gradient program's, once a gradient was taken).
    pub fn buffer_count(&self) -> usize {
        self.engine.buffer_count()
    }

    /// Bytes of the buffers the engine holds.
    pub fn buffer_bytes(&self) -> usize {
        self.engine.bytes()
    }

    /// The program the engine runs (the forward program, or the gradient program that
    /// contains it).
    pub fn program(&self) -> &Program {
        match &self.loaded {
            Loaded::Forward => self.model.program(),
            Loaded::Reverse(gradient) => &gradient.program,
            Loaded::Tangent(tangent) => &tangent.program,
        }
    }
}

/// The program an engine holds (each one contains the forward program, buffer for buffer).
pub(crate) enum Loaded {
    /// The model's program.
    Forward,
    /// A reverse-mode gradient program ([`crate::adjoint`]).
    Reverse(Arc<GradientProgram>),
    /// A forward-mode tangent program ([`crate::tangent`]).
    Tangent(Arc<TangentProgram>),
}

/// Steps between checks for NaN and infinity in `run`: each check copies the states (about a
/// tenth of a cheap step), and a failed check replays at most this many steps.
const GUARD_INTERVAL: u64 = 64;

/// The most sweeps a sampling run makes, burn-in included: sweep numbers stay exact in the
/// `f64` clock, as the script's own counts do.
const MAX_SWEEPS: u64 = 1 << 53;

/// What the caller of `advance_guarded` answers after each step: go on, stop there, or fail.
pub(crate) type StepFlow = Result<ControlFlow<()>, Failure>;

/// What the NaN guard goes back to when a check fails.
#[derive(Default)]
pub(crate) struct Snapshot {
    states: Vec<(BufferId, Stored)>,
    steps_done: u64,
    observed: usize,
}

impl Snapshot {
    /// Bytes of the states held.
    pub fn bytes(&self) -> usize {
        self.states.iter().map(|(_, s)| s.bytes()).sum()
    }
}

fn equation_span(model: &noether_compiler::model::Model, state: FieldId) -> Option<noether_compiler::diag::Span> {
    model.equations.iter().find(|e| e.state == state).map(|e| e.span)
}

fn unknown<'a>(what: &'static str, name: &str, names: impl Iterator<Item = &'a str> + Clone) -> RunError {
    let listed: Vec<&str> = names.clone().collect();
    RunError::UnknownName {
        what,
        name: name.into(),
        help: suggestion_help(did_you_mean(name, names), format!("available: {}", listed.join(", "))),
    }
}
