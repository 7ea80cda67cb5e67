//! Time steps of Itô SDEs `d X = a dt + sum_k b_k dW_k`, driven by counter-based noise.
//!
//! The Brownian increment of noise `W` at element `e` in step `n` is `sqrt(dt) Z`, where `Z` is
//! the normal draw keyed by (seed, W) at counter (flat index of `e`, `n` in two words) (see
//! [`random`]): a
//! function of where and when, so the adjoint draws it again instead of storing it.
//! - Euler–Maruyama: `X' = X + a dt + sum_k b_k dW_k` (strong order 1/2, weak order 1).
//! - Milstein, for diagonal noise (one `dW` term, its coefficient a function of `X` at the same
//!   point): adds `b (db/dX) (dW^2 - dt) / 2` (strong order 1). `db/dX` is forward-mode
//!   autodiff of the coefficient, not something the user writes.
//!
//! A fractional noise's increments are not drawn here: the runtime draws the whole run's (see
//! `noether_runtime::fractional`) and writes step `n`'s into the noise's buffer before step `n`,
//! which the update reads as `dW`.
//!
//! Deterministic equations (`d/dt u = f`) in the same model take Euler steps `u' = u + f dt`.

use crate::autodiff::forward;
use crate::ir::builder::KernelBuilder;
use crate::ir::{Access, NodeId, Output};
use crate::model::{Affine, Def, Diffusion, Equation, EquationKind, Expr, FieldId, FieldKind, Integrator, Node};
use crate::ops::{Binary, Unary};

use super::{Lowering, Reading, Step, kernel, random};
use crate::lower::LowerError;

impl Lowering<'_, '_> {
    /// The step procedure of `integrator` (Euler–Maruyama or Milstein) for every equation.
    pub(super) fn stochastic_step(&mut self, integrator: Integrator) -> Option<Step> {
        let model = self.model;
        let milstein = integrator == Integrator::Milstein;
        let mut slopes = Vec::new();
        for eq in &model.equations {
            slopes.push(match (&eq.kind, milstein) {
                (EquationKind::Sde { diffusion, .. }, true) => self.milstein_slope(eq, diffusion)?,
                _ => None,
            });
        }
        let defs: Vec<&Def> = model
            .equations
            .iter()
            .flat_map(|eq| match &eq.kind {
                EquationKind::Ode { rhs } => vec![rhs],
                EquationKind::Sde { drift, diffusion } => {
                    std::iter::once(drift).chain(diffusion.iter().map(|d| &d.coeff)).collect()
                }
            })
            .collect();
        let mut reading = Reading::default();
        let mut kernels = self.derived_for(&defs, &mut reading, None, None)?;
        let mut swaps = Vec::new();
        for (eq, slope) in model.equations.iter().zip(slopes) {
            let field = model.field(eq.state);
            let next = self.program.add_buffer(format!("{}_next", field.name), field.shape.extents());
            let name = format!("{}_{}", integrator.name(), field.name);
            let kernel = match &eq.kind {
                EquationKind::Ode { rhs } => {
                    let (state, dt) = (self.buffer(eq.state), self.dt);
                    self.def_kernel(name, rhs, &reading, |b, rate| {
                        let (x, dt) = (b.load_here(state), b.load_scalar(dt));
                        let change = b.binary(Binary::Mul, rate, dt);
                        vec![Output::assign(next, b.binary(Binary::Add, x, change))]
                    })
                }
                EquationKind::Sde { drift, diffusion } => {
                    let mut b = kernel::for_def(name, drift);
                    let value = self.sde_update(&mut b, eq.state, drift, diffusion, slope.as_ref(), &reading);
                    self.program.add_kernel(b.finish(vec![Output::assign(next, value)]))
                }
            };
            kernels.push(kernel);
            swaps.push((self.buffer(eq.state), next));
        }
        Some(Step { procedure: self.program.add_procedure("step", kernels), swaps, init_carried: None })
    }

    /// `X + a dt + sum_k b_k dW_k` (+ Milstein's correction with `slope = db/dX`).
    fn sde_update(
        &self,
        b: &mut KernelBuilder,
        state: FieldId,
        drift: &Def,
        diffusion: &[Diffusion],
        slope: Option<&Expr>,
        reading: &Reading,
    ) -> NodeId {
        let x = b.load_here(self.buffer(state));
        let dt = b.load_scalar(self.dt);
        let a = self.lower_expr(b, drift, &drift.expr, reading);
        let change = b.binary(Binary::Mul, a, dt);
        let mut value = b.binary(Binary::Add, x, change);
        let root_dt = b.unary(Unary::Sqrt, dt);
        for term in diffusion {
            let coeff = self.lower_expr(b, &term.coeff, &term.coeff.expr, reading);
            let dw = match self.fields[term.noise.index()] {
                Some(increments) => b.load(increments, term.index.clone(), vec![Access::Direct; term.index.len()], 0.0),
                None => {
                    let z = self.noise_draw(b, term.noise, &term.index);
                    b.binary(Binary::Mul, root_dt, z)
                }
            };
            let kick = b.binary(Binary::Mul, coeff, dw);
            value = b.binary(Binary::Add, value, kick);
            if let Some(slope) = slope {
                let slope = self.lower_expr(b, &term.coeff, slope, reading);
                let dw2 = b.binary(Binary::Mul, dw, dw);
                let excess = b.binary(Binary::Sub, dw2, dt);
                let half = b.constant(0.5);
                let scaled = b.binary(Binary::Mul, half, coeff);
                let scaled = b.binary(Binary::Mul, scaled, slope);
                let correction = b.binary(Binary::Mul, scaled, excess);
                value = b.binary(Binary::Add, value, correction);
            }
        }
        value
    }

    /// The standard normal `Z` of `noise[index]` in the current step. Neighbours `2j` and
    /// `2j + 1` along the noise's last axis share one Philox draw (pair `j` of their row, so the
    /// counter is `row * ceil(n / 2) + j`) and take its two Box–Muller outputs, cosine and
    /// sine: a vector loop draws once for two points.
    fn noise_draw(&self, b: &mut KernelBuilder, noise: FieldId, index: &[Affine]) -> NodeId {
        let extents = self.model.field(noise).shape.extents();
        let (pair, offset) = match index.split_last() {
            Some((last, outer)) => {
                let mut row: Option<NodeId> = None;
                for (affine, extent) in outer.iter().zip(&extents) {
                    let position = b.affine_value(affine);
                    row = Some(match row {
                        Some(r) => {
                            let e = b.constant(*extent as f64);
                            let scaled = b.binary(Binary::Mul, r, e);
                            b.binary(Binary::Add, scaled, position)
                        }
                        None => position,
                    });
                }
                let position = b.affine_value(last);
                let (within, offset) = random::block_of(b, position, 2);
                let pair = match row {
                    Some(row) => {
                        let pairs_per_row = b.constant(extents[outer.len()].div_ceil(2) as f64);
                        let rows = b.binary(Binary::Mul, row, pairs_per_row);
                        b.binary(Binary::Add, rows, within)
                    }
                    None => within,
                };
                (pair, Some(offset))
            }
            None => (b.constant(0.0), None),
        };
        let (step, seed) = (b.load_scalar(self.step_count), b.load_scalar(self.seed));
        // The step takes two counter words: runs may be longer than 2^32 steps.
        let [step, step_high] = random::count_words(b, step);
        let stream = random::NOISE_STREAMS + noise.index() as u32;
        let words = random::draw_words(b, seed, stream, &[pair, step, step_high]);
        let [cos, sin] = random::normal_pair(b, words);
        match offset {
            Some(offset) => random::pick(b, offset, &[cos, sin]),
            None => cos,
        }
    }

    /// `db/dX` for Milstein: the coefficient's derivative by the state at the equation's own
    /// point, by forward mode (`Some(None)` for additive noise, which needs no correction).
    /// Refuses what is not diagonal noise, returning `None`.
    fn milstein_slope(&mut self, eq: &Equation, diffusion: &[Diffusion]) -> Option<Option<Expr>> {
        let model = self.model;
        let name = model.field(eq.state).name.clone();
        let refuse = |problem: String, help: &str| LowerError::Milstein {
            state: name.clone(),
            problem,
            span: eq.span,
            help: help.into(),
        };
        let [term] = diffusion else {
            self.sink.push(refuse(
                format!("it has {} noise terms", diffusion.len()),
                "milstein handles one `dW` term per equation (diagonal noise); use euler_maruyama",
            ));
            return None;
        };
        let coeff = &term.coeff;
        let own_point = |index: &[Affine]| {
            index.len() == coeff.rank
                && index.iter().enumerate().all(|(v, a)| *a == Affine::var(crate::ir::VarId(v as u32)))
        };
        let mut problem = None;
        crate::model::walk(&coeff.expr, &mut |node| {
            if let Node::Read(read) = node {
                let field = model.field(read.field);
                let stochastic_state =
                    model.equations.iter().any(|e| e.state == read.field && matches!(e.kind, EquationKind::Sde { .. }));
                if matches!(field.kind, FieldKind::Let | FieldKind::Grad { .. }) {
                    problem.get_or_insert(format!("its noise coefficient reads the derived field `{}`", field.name));
                } else if stochastic_state && (read.field != eq.state || !own_point(&read.index)) {
                    problem.get_or_insert(format!("its noise coefficient reads `{}` away from the point", field.name));
                }
            }
        });
        if let Some(problem) = problem {
            self.sink.push(refuse(
                problem,
                "milstein needs the coefficient of `dW` to depend on the state at its own point only, written out \
                 (no lets); use euler_maruyama otherwise",
            ));
            return None;
        }
        let Some((marked, marker)) = forward::mark_reads(&coeff.expr, &|r| r.field == eq.state && own_point(&r.index))
        else {
            return Some(None);
        };
        match forward::derivative(&marked, &marker) {
            Ok(slope) => Some(Some(forward::unmark(&slope, &marker))),
            Err(forward::Unsupported(what)) => {
                self.sink.push(refuse(
                    format!("its noise coefficient uses {what}, which forward mode cannot differentiate"),
                    "use euler_maruyama",
                ));
                None
            }
        }
    }
}
