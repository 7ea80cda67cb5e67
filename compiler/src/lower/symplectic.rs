//! Time steps of the symplectic splitting methods for `d/dt x = v`, `d/dt v = a(x, t)` (see
//! [`SecondOrder`]): second order, time-reversible, one acceleration per step.
//!
//! - `verlet`, velocity Verlet (kick, drift, kick):
//!   `v' = v + dt/2 a(x, t)`, `x_next = x + dt v'`, `v_next = v' + dt/2 a(x_next, t + dt)`.
//!   The end-of-step acceleration is the next step's start-of-step one, so the step carries it in
//!   a buffer of its own (`v_rate`, swapped with `v_rate_next` like a state) instead of computing
//!   it twice; `init_carried` computes it from the initial states. Kernels: one for the first
//!   kick and the drift, the lets and gradients at `x_next`, one for the acceleration and the
//!   second kick.
//! - `leapfrog` (drift, kick, drift):
//!   `x' = x + dt/2 v`, `v_next = v + dt a(x', t + dt/2)`, `x_next = x' + dt/2 v_next`.
//!   Nothing is carried. Kernels: the first drift, the lets and gradients at `x'`, one for the
//!   kick and the second drift.
//!
//! Both keep `x` and `v` at the same times, so observables such as the kinetic energy are those
//! of the current step.

use crate::ir::builder::KernelBuilder;
use crate::ir::{BufferId, NodeId, Output};
use crate::model::{EquationKind, FieldId, Integrator, SecondOrder};
use crate::ops::Binary;

use super::{Lowering, Reading, Step};

impl Lowering<'_, '_> {
    /// The step of `integrator` (`verlet` or `leapfrog`) for the system `pair`; `None` when
    /// errors were reported.
    pub(super) fn symplectic_step(&mut self, integrator: Integrator, pair: SecondOrder) -> Option<Step> {
        let (x, v) = (self.buffer(pair.position), self.buffer(pair.velocity));
        let extents = self.model.field(pair.position).shape.extents();
        let name = |field: FieldId| self.model.field(field).name.clone();
        let (x_name, v_name) = (name(pair.position), name(pair.velocity));
        let x_next = self.program.add_buffer(format!("{x_name}_next"), extents.clone());
        let v_next = self.program.add_buffer(format!("{v_name}_next"), extents.clone());
        let mut swaps = vec![(x, x_next), (v, v_next)];
        let mut kernels = Vec::new();
        let init_carried = match integrator {
            Integrator::Verlet => {
                let rate = self.program.add_buffer(format!("{v_name}_rate"), extents.clone());
                let rate_next = self.program.add_buffer(format!("{v_name}_rate_next"), extents.clone());
                let v_half = self.program.add_buffer(format!("{v_name}_half"), extents.clone());
                let mut b = KernelBuilder::new(format!("verlet_kick_drift_{x_name}"), extents.clone(), extents.len());
                let kicked = self.advance(&mut b, v, rate, 0.5);
                let drifted = self.advance_by(&mut b, x, kicked, 1.0);
                kernels.push(
                    self.program
                        .add_kernel(b.finish(vec![Output::assign(v_half, kicked), Output::assign(x_next, drifted)])),
                );
                let reading = Reading { fields: [(pair.position, x_next)].into(), time_offset: 1.0 };
                kernels.extend(self.acceleration(
                    pair,
                    reading,
                    Some("end"),
                    format!("verlet_kick_{v_name}"),
                    |l, b, a| {
                        let kicked = l.advance_by(b, v_half, a, 0.5);
                        vec![Output::assign(rate_next, a), Output::assign(v_next, kicked)]
                    },
                )?);
                swaps.push((rate, rate_next));
                let initial =
                    self.acceleration(pair, Reading::default(), None, format!("init_{v_name}_rate"), |_, _, a| {
                        vec![Output::assign(rate, a)]
                    })?;
                Some(self.program.add_procedure("init_carried", initial))
            }
            Integrator::Leapfrog => {
                let x_half = self.program.add_buffer(format!("{x_name}_half"), extents.clone());
                let mut b = KernelBuilder::new(format!("leapfrog_drift_{x_name}"), extents.clone(), extents.len());
                let drifted = self.advance(&mut b, x, v, 0.5);
                kernels.push(self.program.add_kernel(b.finish(vec![Output::assign(x_half, drifted)])));
                let reading = Reading { fields: [(pair.position, x_half)].into(), time_offset: 0.5 };
                let kick = format!("leapfrog_kick_drift_{v_name}");
                kernels.extend(self.acceleration(pair, reading, Some("half"), kick, |l, b, a| {
                    let kicked = l.advance_by(b, v, a, 1.0);
                    let drifted = l.advance_by(b, x_half, kicked, 0.5);
                    vec![Output::assign(v_next, kicked), Output::assign(x_next, drifted)]
                })?);
                None
            }
            other => unreachable!("`{}` is not a splitting method", other.name()),
        };
        Some(Step { procedure: self.program.add_procedure("step", kernels), swaps, init_carried })
    }

    /// Kernels computing the acceleration of `pair` as `reading` reads the fields (with the lets
    /// and gradients it needs, into buffers with the `fresh` suffix when given), ending in the
    /// kernel `name` over the velocity's points whose outputs `outputs` makes from the
    /// acceleration there.
    fn acceleration(
        &mut self,
        pair: SecondOrder,
        mut reading: Reading,
        fresh: Option<&str>,
        name: String,
        outputs: impl FnOnce(&Self, &mut KernelBuilder, NodeId) -> Vec<Output>,
    ) -> Option<Vec<crate::ir::KernelId>> {
        let model = self.model;
        let def = model
            .equations
            .iter()
            .find_map(|eq| match &eq.kind {
                EquationKind::Ode { rhs } if eq.state == pair.velocity => Some(rhs),
                _ => None,
            })
            .expect("check found the velocity's equation");
        let mut kernels = self.derived_for(&[def], &mut reading, fresh, None)?;
        let mut b = super::kernel::for_def(name, def);
        let a = self.lower_expr(&mut b, def, &def.expr, &reading);
        let outputs = outputs(self, &mut b, a);
        kernels.push(self.program.add_kernel(b.finish(outputs)));
        Some(kernels)
    }

    /// `s + (weight * dt) * rate`, both loaded at the current point.
    fn advance(&self, b: &mut KernelBuilder, s: BufferId, rate: BufferId, weight: f64) -> NodeId {
        let rate = b.load_here(rate);
        self.advance_by(b, s, rate, weight)
    }

    /// `s + (weight * dt) * rate` with `s` loaded at the current point.
    fn advance_by(&self, b: &mut KernelBuilder, s: BufferId, rate: NodeId, weight: f64) -> NodeId {
        let s = b.load_here(s);
        let dt = b.load_scalar(self.dt);
        let step = if weight == 1.0 {
            dt
        } else {
            let w = b.constant(weight);
            b.binary(Binary::Mul, w, dt)
        };
        let change = b.binary(Binary::Mul, step, rate);
        b.binary(Binary::Add, s, change)
    }
}
