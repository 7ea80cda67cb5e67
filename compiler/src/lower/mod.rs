//! Lower: [`Model`] -> Kernel IR [`Program`] plus the [`Interface`] the runtime drives it with.
//!
//! First, lets cheap to recompute are substituted where they are read (`inline`), and large
//! sums in named scalars are split into row totals so that threads can share them (`rows`).
//! Every param, state and data field becomes a buffer, as does every let something still reads,
//! the time `t`, the step `dt` and each named scalar. Procedures:
//! - `init_params`: param initial values; then the runtime may override params;
//! - `init_states`: state initial values (with the lets they need), in dependency order;
//! - `step`: one step of the run's integrator (see `integrate`, `symplectic`), writing each
//!   evolving state's next value into a second buffer; the runtime swaps the pairs in
//!   [`Interface::swaps`] and advances `t` by `dt`;
//! - `init_carried` (velocity Verlet only): what the step carries from one step to the next
//!   besides the states (the accelerations), from the initial states;
//! - `observe`: every `observe` scalar at the current state;
//! - `eval:NAME`: one named scalar (losses and energies) at the current state;
//! - for a `sample` directive, `prepare_sampler` and the procedures of a sweep (see [`sample`]).
//!
//! Lets are recomputed, in dependency order, at the start of each procedure that needs them,
//! reading whatever the procedure's current state buffers are. So are gradient fields
//! (`grad(E, x)`): `E`'s kernels followed by their reverse-mode adjoint (see [`autodiff`]).

mod continuous;
mod error;
pub mod gradient;
mod inline;
mod integrate;
mod kernel;
mod network;
pub mod random;
mod repeated;
mod rows;
pub mod sample;
mod spins;
mod stochastic;
mod symplectic;
pub mod tangent;

use std::collections::{HashMap, HashSet};

pub use error::LowerError;

use crate::autodiff;
use crate::diag::Sink;
use crate::ir::builder::KernelBuilder;
use crate::ir::{BufferId, KernelId, Output, ProcId, Program};
use crate::model::{Def, EquationKind, FieldId, FieldKind, Model, Node};
use crate::syntax::ast::NamedKind;

/// A compiled model: the checked model (for names, shapes and data files), the program, and how
/// to drive it.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// The checked model the program was lowered from.
    pub model: Model,
    /// The Kernel IR: buffers, kernels and procedures.
    pub program: Program,
    /// Which buffers and procedures the runtime drives.
    pub interface: Interface,
}

/// How the runtime drives a program: the buffers that hold fields, the clock and the seed, and
/// the procedures that initialise, step, observe and evaluate.
#[derive(Clone, Debug)]
pub struct Interface {
    /// The buffer of each field (`None` for lets computed wherever they are read, see `inline`,
    /// and for noises drawn where they are read). A fractional noise's buffer holds its
    /// increments in the current step, which the runtime writes when it sets the clock (see
    /// [`fractional_noises`]).
    pub fields: Vec<Option<BufferId>>,
    /// A scalar buffer: the time `t`.
    pub time: BufferId,
    /// A scalar buffer: the step size of the run directive.
    pub dt: BufferId,
    /// The number of steps taken (the counter of noise draws); a sampler's sweep number.
    pub step_count: BufferId,
    /// The run's random seed (the key of noise draws).
    pub seed: BufferId,
    /// The fit's iteration, for a model that reads `iteration` (re-drawn mini-batches).
    pub iteration: Option<BufferId>,
    /// `(current, next)` buffers whose contents are exchanged after each step: the evolving
    /// states, and what the step carries besides them (see [`Interface::carried`]).
    pub swaps: Vec<(BufferId, BufferId)>,
    /// The buffer of each named scalar, in the order of `Model::scalars`.
    pub scalars: Vec<BufferId>,
    /// Sets every param to its initial value (runs before the states' initial values).
    pub init_params: ProcId,
    /// Sets every state to its initial value from the params and data.
    pub init_states: ProcId,
    /// The integrator's step, or the sweep of a sampler that is differentiable as a step
    /// ([`sample::SamplerProgram::step`]); `None` otherwise.
    pub step: Option<ProcId>,
    /// Computes the carried buffers from the current states; the runtime runs it after setting
    /// the initial states (and any offsets to them). `None` when the step carries nothing.
    pub init_carried: Option<ProcId>,
    /// Computes every `observe`d scalar from the current states.
    pub observe: ProcId,
    /// The procedure computing each named scalar, in the order of `Model::scalars`.
    pub eval: Vec<ProcId>,
    /// How to drive the `sample` directive; `None` without one.
    pub sampler: Option<sample::SamplerProgram>,
}

impl Interface {
    /// The buffer of a field; `None` for ordinary noises and for lets computed where they are
    /// read.
    pub fn field_buffer(&self, field: FieldId) -> Option<BufferId> {
        self.fields[field.index()]
    }

    /// What the step carries from one step to the next besides the states, such as velocity
    /// Verlet's end-of-step accelerations: swapped, stored and restored like states.
    pub fn carried(&self) -> impl Iterator<Item = BufferId> + '_ {
        self.swaps.iter().map(|(current, _)| *current).filter(|b| !self.fields.contains(&Some(*b)))
    }
}

/// The fractional noises of a compiled model: each one's field, Hurst exponent and the buffer
/// the runtime writes its increments `B_H(t_(n+1)) - B_H(t_n)` into before step `n`.
pub fn fractional_noises(compiled: &Compiled) -> impl Iterator<Item = (FieldId, f64, BufferId)> + '_ {
    compiled.model.field_ids().filter_map(|id| match compiled.model.field(id).kind {
        FieldKind::Noise { hurst: Some(hurst) } => {
            Some((id, hurst, compiled.interface.field_buffer(id).expect("fractional noises have buffers")))
        }
        _ => None,
    })
}

/// Lowers a checked model. Returns `None` only when errors were pushed into `sink`.
pub fn lower(model: Model, sink: &mut Sink) -> Option<Compiled> {
    let lowered = rows::split_sums(network::store_scalar_param_sums(inline::inline_lets(&model)));
    let stored = inline::stored(&lowered);
    let lowered = network::store_param_sums(lowered, &stored);
    let stored = inline::stored(&lowered);
    let lowered = network::store_activations(lowered, &stored);
    let stored = inline::stored(&lowered);
    let mut program = Program::default();
    let fields: Vec<Option<BufferId>> = lowered
        .field_ids()
        .map(|id| {
            let f = lowered.field(id);
            let buffered = match f.kind {
                // A fractional noise's buffer holds its increments in the current step.
                FieldKind::Noise { hurst } => hurst.is_some(),
                FieldKind::Let => stored.contains(&id),
                _ => true,
            };
            buffered.then(|| program.add_buffer(f.name.clone(), f.shape.extents()))
        })
        .collect();
    let time = program.add_buffer("t", Vec::new());
    let dt = program.add_buffer("dt", Vec::new());
    let step_count = program.add_buffer("step", Vec::new());
    let seed = program.add_buffer("seed", Vec::new());
    let iteration = reads_iteration(&lowered).then(|| program.add_buffer("iteration", Vec::new()));
    let scalars = model.scalars.iter().map(|s| program.add_buffer(s.name.clone(), Vec::new())).collect();
    let mut lowering = Lowering {
        model: &lowered,
        program,
        fields,
        time,
        dt,
        step_count,
        seed,
        iteration,
        scalars,
        sink,
        gradients_in_progress: Vec::new(),
    };
    let init_params = lowering.init_params()?;
    let init_states = lowering.init_states()?;
    let integrator = lowering.integrator()?;
    let sampler = lowering.sampler()?;
    let (step, swaps, init_carried) = match (integrator, sampler.as_ref().and_then(|s| s.step)) {
        (Some(Step { procedure, swaps, init_carried }), _) => (Some(procedure), swaps, init_carried),
        (None, Some((sweep, swap))) => (Some(sweep), vec![swap], None),
        (None, None) => (None, Vec::new(), None),
    };
    let observed: Vec<usize> =
        (0..model.scalars.len()).filter(|i| model.scalars[*i].kind == NamedKind::Observe).collect();
    let observe = lowering.scalar_procedure("observe", &observed)?;
    let eval = (0..model.scalars.len())
        .map(|i| lowering.scalar_procedure(&format!("eval:{}", model.scalars[i].name), &[i]))
        .collect::<Option<_>>()?;
    let Lowering { program, mut fields, time, dt, step_count, seed, iteration, scalars, .. } = lowering;
    // The lets `rows` adds are the lowering's own: the interface knows the model's fields.
    fields.truncate(model.fields.len());
    let interface = Interface {
        fields,
        time,
        dt,
        step_count,
        seed,
        iteration,
        swaps,
        scalars,
        init_params,
        init_states,
        step,
        init_carried,
        observe,
        eval,
        sampler,
    };
    Some(Compiled { model, program, interface })
}

/// A step procedure, the (current, next) buffer pairs it fills, and the procedure computing
/// what it carries besides the states (see [`Interface::init_carried`]).
struct Step {
    procedure: ProcId,
    swaps: Vec<(BufferId, BufferId)>,
    init_carried: Option<ProcId>,
}

/// Where a kernel reads fields and the time: the current buffers, or a stage's.
#[derive(Clone, Default)]
pub(crate) struct Reading {
    /// Fields read from another buffer than their own (stage states, stage lets).
    fields: HashMap<FieldId, BufferId>,
    /// The time read is `t + time_offset * dt`.
    time_offset: f64,
}

struct Lowering<'m, 's> {
    model: &'m Model,
    program: Program,
    fields: Vec<Option<BufferId>>,
    time: BufferId,
    dt: BufferId,
    step_count: BufferId,
    seed: BufferId,
    iteration: Option<BufferId>,
    scalars: Vec<BufferId>,
    sink: &'s mut Sink,
    /// Gradient fields being built, innermost last: one reached again depends on itself.
    gradients_in_progress: Vec<FieldId>,
}

impl Lowering<'_, '_> {
    fn buffer(&self, field: FieldId) -> BufferId {
        self.fields[field.index()].expect("lowered code reads no noise and no let without a buffer")
    }

    /// Builds a kernel over `def`'s domain; `outputs` gets the lowered value of `def`.
    fn def_kernel(
        &mut self,
        name: String,
        def: &Def,
        reading: &Reading,
        outputs: impl FnOnce(&mut KernelBuilder, crate::ir::NodeId) -> Vec<Output>,
    ) -> KernelId {
        let mut builder = kernel::for_def(name, def);
        let value = self.lower_expr(&mut builder, def, &def.expr, reading);
        let outputs = outputs(&mut builder, value);
        self.program.add_kernel(builder.finish(outputs))
    }

    /// Lowers `expr`, an expression of `def` (whose read table it uses), into `builder`.
    fn lower_expr(
        &self,
        builder: &mut KernelBuilder,
        def: &Def,
        expr: &crate::model::Expr,
        reading: &Reading,
    ) -> crate::ir::NodeId {
        let field_buffers = &self.fields;
        let buffers = |f: FieldId| {
            reading
                .fields
                .get(&f)
                .copied()
                .unwrap_or_else(|| field_buffers[f.index()].expect("read fields have buffers"))
        };
        let (time, dt, offset) = (self.time, self.dt, reading.time_offset);
        let time = move |b: &mut KernelBuilder| {
            let t = b.load_scalar(time);
            if offset == 0.0 {
                return t;
            }
            let (c, dt) = (b.constant(offset), b.load_scalar(dt));
            let shift = b.binary(crate::ops::Binary::Mul, c, dt);
            b.binary(crate::ops::Binary::Add, t, shift)
        };
        kernel::expr(builder, expr, def, &buffers, &kernel::Clocks { time: &time, iteration: self.iteration })
    }

    /// A kernel storing `def`'s value into `target`.
    fn store_kernel(&mut self, name: String, def: &Def, reading: &Reading, target: BufferId) -> KernelId {
        self.def_kernel(name, def, reading, |_, value| vec![Output::assign(target, value)])
    }

    /// Kernels computing the derived fields (lets, gradients) `defs` need, directly or through
    /// other lets, in order. With a `fresh` suffix, each goes to a buffer of its own (so a
    /// procedure writes every buffer once, as reverse mode needs), and `reading` learns where
    /// to find it; `given` is read as it is, not recomputed (what a gradient differentiates by).
    fn derived_for(
        &mut self,
        defs: &[&Def],
        reading: &mut Reading,
        fresh: Option<&str>,
        given: Option<FieldId>,
    ) -> Option<Vec<KernelId>> {
        let (mut order, mut seen) = (Vec::new(), HashSet::new());
        for def in defs {
            for field in reads(def) {
                self.visit_derived(field, given, &mut order, &mut seen);
            }
        }
        let mut kernels = Vec::new();
        for field in order {
            let model = self.model;
            let info = model.field(field);
            let target = match fresh {
                Some(suffix) => {
                    let buffer = self.program.add_buffer(format!("{}_{suffix}", info.name), info.shape.extents());
                    reading.fields.insert(field, buffer);
                    buffer
                }
                None => self.buffer(field),
            };
            match &info.def {
                Some(def) => kernels.push(self.store_kernel(format!("let_{}", info.name), def, reading, target)),
                None => kernels.extend(self.gradient_kernels(field, reading, target)?),
            }
        }
        Some(kernels)
    }

    /// Appends the derived field `field` to `order` after the derived fields it needs first.
    fn visit_derived(
        &self,
        field: FieldId,
        given: Option<FieldId>,
        order: &mut Vec<FieldId>,
        seen: &mut HashSet<FieldId>,
    ) {
        if given == Some(field) || !seen.insert(field) {
            return;
        }
        let info = self.model.field(field);
        match &info.kind {
            FieldKind::Let => {
                for inner in info.def.as_ref().map(reads).unwrap_or_default() {
                    self.visit_derived(inner, given, order, seen);
                }
            }
            // The scalar's own lets are recomputed with the gradient; only `wrt` comes first.
            FieldKind::Grad { wrt, .. } => self.visit_derived(*wrt, given, order, seen),
            _ => return,
        }
        order.push(field);
    }

    /// Kernels computing the gradient field `field`, `grad(E, x)`, into `target`.
    fn gradient_kernels(&mut self, field: FieldId, reading: &Reading, target: BufferId) -> Option<Vec<KernelId>> {
        let model = self.model;
        let info = model.field(field);
        let FieldKind::Grad { scalar, wrt } = &info.kind else { unreachable!("only gradients lack definitions") };
        if self.gradients_in_progress.contains(&field) {
            self.sink.push(LowerError::GradientCycle {
                name: info.name.clone(),
                scalar: scalar.clone(),
                span: info.span,
            });
            return None;
        }
        self.gradients_in_progress.push(field);
        let scalar = model.scalars.iter().find(|s| s.name == *scalar).expect("checked: `grad` names a scalar");
        let kernels_name = format!("{}_{}", scalar.kind.keyword(), scalar.name);
        let kernels =
            self.def_gradient((scalar.name.as_str(), &kernels_name), &scalar.def, *wrt, reading, target, &|message| {
                LowerError::Gradient { name: info.name.clone(), message, span: info.span }
            });
        self.gradients_in_progress.pop();
        kernels
    }

    /// Kernels computing the gradient of the scalar `def` with respect to the field `wrt` (as
    /// read through `reading`) into `target`: `def` (and the lets it reads) into buffers of
    /// their own, then its reverse-mode adjoint, everything else held constant. `names` are
    /// the scalar's name and its kernels' (`E`, `energy_E`); `fail` words a failure.
    pub(super) fn def_gradient(
        &mut self,
        names: (&str, &str),
        def: &Def,
        wrt: FieldId,
        reading: &Reading,
        target: BufferId,
        fail: &dyn Fn(String) -> LowerError,
    ) -> Option<Vec<KernelId>> {
        let suffix = self.program.buffer(target).name.clone();
        let mut inner = reading.clone();
        let mut kernels = self.derived_for(&[def], &mut inner, Some(&suffix), Some(wrt))?;
        let value = self.program.add_buffer(format!("{}_{suffix}", names.0), Vec::new());
        kernels.push(self.store_kernel(format!("{}_{suffix}", names.1), def, &inner, value));
        let x = inner.fields.get(&wrt).copied().unwrap_or_else(|| self.buffer(wrt));
        let written: Vec<BufferId> =
            kernels.iter().flat_map(|k| self.program.kernel(*k).outputs.iter().map(|o| o.buffer)).collect();
        let value_bar = self.program.add_buffer(format!("{}_{suffix}_bar", names.0), Vec::new());
        let differentiable = |b: BufferId| b == x || written.contains(&b);
        let mut adjoints = autodiff::Adjoints {
            program: &mut self.program,
            differentiable: &differentiable,
            bars: HashMap::from([(x, target), (value, value_bar)]),
            deferred: None,
            // The adjoint kernels run right after these, in the same procedure.
            forward_kept: true,
        };
        let adjoint = match adjoints.vjp_kernels(&kernels, &[value], &[x], &suffix) {
            Ok(adjoint) => adjoint,
            Err(error) => {
                self.sink.push(fail(error.message));
                return None;
            }
        };
        let seed = autodiff::constant_kernel(&format!("seed_{suffix}"), &[], value_bar, 1.0);
        let mut kernels = self.needed_by(&kernels, &adjoint);
        kernels.push(self.program.add_kernel(seed));
        kernels.extend(adjoint);
        Some(kernels)
    }

    /// The kernels of `forward` whose results `later` reads, directly or through each other: a
    /// gradient needs the lets its scalar reads, but seldom the scalar's value itself.
    fn needed_by(&self, forward: &[KernelId], later: &[KernelId]) -> Vec<KernelId> {
        let loads = |k: KernelId| {
            self.program.kernel(k).nodes.iter().filter_map(|n| match n {
                crate::ir::Node::Load(load) => Some(load.buffer),
                _ => None,
            })
        };
        let mut read: Vec<BufferId> = later.iter().flat_map(|k| loads(*k)).collect();
        let mut kept = Vec::new();
        for &kernel in forward.iter().rev() {
            if self.program.kernel(kernel).outputs.iter().any(|o| read.contains(&o.buffer)) {
                read.extend(loads(kernel));
                kept.push(kernel);
            }
        }
        kept.reverse();
        kept
    }

    /// Param initial values, each after the params it reads.
    fn init_params(&mut self) -> Option<ProcId> {
        let is_param = |k: &FieldKind| *k == FieldKind::Param;
        let may_read = |k: &FieldKind| matches!(k, FieldKind::Param | FieldKind::Data { .. });
        self.init_procedure("init_params", &is_param, &is_param, &may_read)
    }

    /// State initial values and the lets they need, each after what it reads.
    fn init_states(&mut self) -> Option<ProcId> {
        let is_state = |k: &FieldKind| matches!(k, FieldKind::State { .. });
        let scheduled = |k: &FieldKind| matches!(k, FieldKind::State { .. } | FieldKind::Let | FieldKind::Grad { .. });
        self.init_procedure("init_states", &is_state, &scheduled, &|_| true)
    }

    /// A procedure computing the definitions of the `root` fields and of the `scheduled` fields
    /// they read, each after the scheduled fields it reads. Reads of other fields must be
    /// `may_read`.
    fn init_procedure(
        &mut self,
        name: &str,
        root: &dyn Fn(&FieldKind) -> bool,
        scheduled: &dyn Fn(&FieldKind) -> bool,
        may_read: &dyn Fn(&FieldKind) -> bool,
    ) -> Option<ProcId> {
        let model = self.model;
        let mut order = Vec::new();
        let mut stack = Vec::new();
        let roots: Vec<FieldId> = model.field_ids().filter(|f| root(&model.field(*f).kind)).collect();
        for root in roots {
            if !self.visit_init(root, scheduled, may_read, &mut stack, &mut order) {
                return None;
            }
        }
        let mut kernels = Vec::new();
        for field in order {
            let info = model.field(field);
            let target = self.buffer(field);
            match (&info.kind, &info.def) {
                (FieldKind::Grad { .. }, _) => {
                    kernels.extend(self.gradient_kernels(field, &Reading::default(), target)?)
                }
                (kind, Some(def)) => {
                    let prefix = if *kind == FieldKind::Let { "let" } else { "init" };
                    kernels.push(self.store_kernel(
                        format!("{prefix}_{}", info.name),
                        def,
                        &Reading::default(),
                        target,
                    ));
                }
                _ => {}
            }
        }
        Some(self.program.add_procedure(name, kernels))
    }

    /// Depth-first: appends `field` to `order` after the scheduled fields its definition reads.
    fn visit_init(
        &mut self,
        field: FieldId,
        scheduled: &dyn Fn(&FieldKind) -> bool,
        may_read: &dyn Fn(&FieldKind) -> bool,
        stack: &mut Vec<FieldId>,
        order: &mut Vec<FieldId>,
    ) -> bool {
        let model = self.model;
        let info = model.field(field);
        if order.contains(&field) {
            return true;
        }
        if stack.contains(&field) {
            self.sink.push(LowerError::InitCycle { name: info.name.clone(), span: info.span });
            return false;
        }
        stack.push(field);
        for read in self.dependencies(field) {
            let kind = &model.field(read).kind;
            let ok = if scheduled(kind) {
                self.visit_init(read, scheduled, may_read, stack, order)
            } else if may_read(kind) {
                true
            } else {
                self.sink.push(LowerError::ParamInit {
                    name: info.name.clone(),
                    span: info.span,
                    reads: format!("the {} `{}`", kind.describe(), model.field(read).name),
                });
                false
            };
            if !ok {
                return false;
            }
        }
        stack.pop();
        order.push(field);
        true
    }

    /// The fields `field`'s value is computed from.
    fn dependencies(&self, field: FieldId) -> Vec<FieldId> {
        let model = self.model;
        let info = model.field(field);
        match &info.kind {
            FieldKind::Grad { scalar, wrt } => {
                let scalar = model.scalars.iter().find(|s| s.name == *scalar).expect("checked: `grad` names a scalar");
                let mut fields = reads(&scalar.def);
                fields.push(*wrt);
                fields
            }
            _ => info.def.as_ref().map(reads).unwrap_or_default(),
        }
    }

    fn integrator(&mut self) -> Option<Option<Step>> {
        let Some(run) = self.model.run.clone() else { return Some(None) };
        let equations: Vec<(FieldId, &Def)> = self
            .model
            .equations
            .iter()
            .filter_map(|eq| match &eq.kind {
                EquationKind::Ode { rhs } => Some((eq.state, rhs)),
                EquationKind::Sde { .. } => None,
            })
            .collect();
        if run.integrator.is_stochastic() {
            return Some(Some(self.stochastic_step(run.integrator)?));
        }
        if let Some(pair) = run.second_order {
            return Some(Some(self.symplectic_step(run.integrator, pair)?));
        }
        let tableau = integrate::Tableau::of(run.integrator).expect("check recognises every symplectic run");
        Some(Some(self.explicit_rk(&tableau, &equations)?))
    }

    /// A procedure computing the named scalars `chosen` (indices into `Model::scalars`) into
    /// their buffers.
    fn scalar_procedure(&mut self, name: &str, chosen: &[usize]) -> Option<ProcId> {
        let model = self.model;
        let defs: Vec<&Def> = chosen.iter().map(|i| &model.scalars[*i].def).collect();
        let mut reading = Reading::default();
        let mut kernels = self.derived_for(&defs, &mut reading, None, None)?;
        for &i in chosen {
            let scalar = &model.scalars[i];
            let target = self.scalars[i];
            kernels.push(self.store_kernel(
                format!("{}_{}", scalar.kind.keyword(), scalar.name),
                &scalar.def,
                &reading,
                target,
            ));
        }
        let kernels = repeated::copy_repeated(&mut self.program, &kernels);
        Some(self.program.add_procedure(name, kernels))
    }
}

/// The fields a definition reads, in the order of their first reads.
fn reads(def: &Def) -> Vec<FieldId> {
    let (mut fields, mut seen) = (Vec::new(), HashSet::new());
    crate::model::walk(&def.expr, &mut |node| {
        if let Node::Read(read) = node {
            if seen.insert(read.field) {
                fields.push(read.field);
            }
        }
    });
    fields
}

/// Whether any definition of `model` reads the fit's `iteration`.
fn reads_iteration(model: &Model) -> bool {
    let mut defs: Vec<&Def> = model.fields.iter().filter_map(|f| f.def.as_ref()).collect();
    for equation in &model.equations {
        match &equation.kind {
            EquationKind::Ode { rhs } => defs.push(rhs),
            EquationKind::Sde { drift, diffusion } => {
                defs.push(drift);
                defs.extend(diffusion.iter().map(|d| &d.coeff));
            }
        }
    }
    defs.extend(model.scalars.iter().map(|s| &s.def));
    let mut found = false;
    for def in defs {
        crate::model::walk(&def.expr, &mut |node| found |= matches!(node, Node::Iteration));
    }
    found
}
