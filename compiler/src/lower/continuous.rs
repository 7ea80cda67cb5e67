//! Langevin, MALA and HMC: proposals driven by the compiled gradient of `log p`, accepted per
//! chain.
//!
//! `g = ∇log p` is reverse-mode autodiff of `log p` with respect to the state, read at whatever
//! buffer holds the point in question (the state, a proposal, a trajectory), the way
//! `grad(E, x)` fields are lowered. Unit masses and a scalar step throughout:
//! - `langevin` (unadjusted): `x' = x + τ g(x) + sqrt(2τ) ξ`, always taken;
//! - `mala`: the same proposal, accepted with probability
//!   `min(1, p(x') q(x | x') / (p(x) q(x' | x)))`, `q(b | a) ∝ exp(-|b - a - τ g(a)|² / 4τ)`;
//! - `hmc`: momenta `ξ`, `leapfrog` kick-drift-kick steps of size `ε`, accepted with probability
//!   `min(1, exp(log p(x') - |p'|²/2 - log p(x) + |ξ|²/2))`.
//!
//! When `log p` splits into one term per row of the state's first axis ([`Chains::Many`]), each
//! row is a chain: its acceptance uses its own term and its own sums over the rest of its row,
//! and it takes or keeps its proposal on its own. `log p` and `g` at the current state are kept
//! between sweeps (exchanged with the proposal's where a chain accepts), so a MALA sweep costs
//! one gradient, an HMC sweep `leapfrog`. `acceptance` holds the fraction of chains that
//! accepted in the last sweep. The normal draws are keyed by the element and the sweep, the
//! uniforms by the chain and the sweep.

use std::collections::HashMap;

use crate::builtins::ReduceOp;
use crate::ir::builder::KernelBuilder;
use crate::ir::{Access, Affine, BufferId, KernelId, NodeId, Output, ProcId, VarId};
use crate::model::{Chains, Def, Draw, FieldId, SampleSpec, Sampler};
use crate::ops::{Binary, Compare, Unary};

use super::random::{self, Purpose};
use super::sample::{Phase, SamplerProgram};
use super::{Lowering, Reading};

/// The sampled state and how it divides into chains.
struct Layout {
    field: FieldId,
    x: BufferId,
    shape: Vec<usize>,
    /// The number of chains along the first axis; `None` for one chain.
    chains: Option<usize>,
    /// `log p` of one chain (over `[c < chains]`), or of the whole state.
    log_p: Def,
}

impl Layout {
    fn chain_shape(&self) -> Vec<usize> {
        self.chains.map(|c| vec![c]).unwrap_or_default()
    }

    /// A kernel over the state's points.
    fn state_kernel(&self, name: &str) -> KernelBuilder {
        KernelBuilder::new(name, self.shape.clone(), self.shape.len())
    }

    /// A kernel over the chains (one point for one chain).
    fn chain_kernel(&self, name: &str) -> KernelBuilder {
        let shape = self.chain_shape();
        let rank = shape.len();
        KernelBuilder::new(name, shape, rank)
    }

    /// In a state kernel: a per-chain buffer's value for this point's chain.
    fn of_chain(&self, b: &mut KernelBuilder, buffer: BufferId) -> NodeId {
        match self.chains {
            Some(_) => b.load(buffer, vec![Affine::var(VarId(0))], vec![Access::Direct], 0.0),
            None => b.load_scalar(buffer),
        }
    }

    /// In a chain kernel: the sum over this chain's elements of `term`, given each element's
    /// index into the state.
    fn chain_sum(&self, b: &mut KernelBuilder, term: impl Fn(&mut KernelBuilder, &[Affine]) -> NodeId) -> NodeId {
        let owned = usize::from(self.chains.is_some());
        let rest: Vec<VarId> = self.shape[owned..].iter().map(|e| b.add_var(*e)).collect();
        let mut index: Vec<Affine> = (0..owned).map(|v| Affine::var(VarId(v as u32))).collect();
        index.extend(rest.iter().map(|v| Affine::var(*v)));
        if rest.is_empty() {
            return term(b, &index);
        }
        b.reduce(ReduceOp::Sum, &rest, |b| (None, term(b, &index)))
    }

    /// A load of a state- or chain-shaped buffer at `index`.
    fn at(&self, b: &mut KernelBuilder, buffer: BufferId, index: &[Affine]) -> NodeId {
        b.load(buffer, index.to_vec(), vec![Access::Direct; index.len()], 0.0)
    }
}

/// The buffers every accepting sampler keeps: `log p` and its gradient at the state, the
/// proposal's, and the per-chain verdicts.
struct Kept {
    log_p: BufferId,
    grad: BufferId,
    proposal_log_p: BufferId,
    proposal_grad: BufferId,
    accepted: BufferId,
    acceptance: BufferId,
}

impl Lowering<'_, '_> {
    pub(super) fn continuous_sampler(&mut self, spec: &SampleSpec, sampler: &Sampler) -> Option<SamplerProgram> {
        let field = spec.vars[0];
        let info = self.model.field(field);
        let shape = info.shape.extents();
        let (chains, log_p) = match sampler {
            Sampler::Mala { chains: Chains::Many { per_chain }, .. }
            | Sampler::Hmc { chains: Chains::Many { per_chain }, .. } => (Some(shape[0]), per_chain.clone()),
            _ => (None, spec.log_density.clone()),
        };
        let layout = Layout { field, x: self.buffer(field), shape, chains, log_p };
        match *sampler {
            Sampler::Langevin { step } => self.langevin(spec, &layout, step),
            Sampler::Mala { step, .. } => self.mala(spec, &layout, step),
            Sampler::Hmc { step, leapfrog, .. } => self.hmc(spec, &layout, step, leapfrog),
            Sampler::Metropolis(_) | Sampler::Gibbs(_) => unreachable!("spin samplers are lowered in `spins`"),
        }
    }

    fn langevin(&mut self, spec: &SampleSpec, layout: &Layout, step: f64) -> Option<SamplerProgram> {
        let name = &self.model.field(layout.field).name;
        let grad = self.program.add_buffer(format!("dlogp_d{name}"), layout.shape.clone());
        let next = self.program.add_buffer(format!("{name}_next"), layout.shape.clone());
        let mut kernels = self.gradient_at(spec, layout, layout.x, grad)?;
        let mut b = layout.state_kernel(&format!("langevin_{name}"));
        let moved = self.langevin_move(&mut b, layout, layout.x, grad, step);
        kernels.push(self.program.add_kernel(b.finish(vec![Output::assign(next, moved)])));
        let sweep = self.program.add_procedure("sweep", kernels);
        let prepare = self.program.add_procedure("prepare_sampler", Vec::new());
        let phase = Phase::Run { procedures: vec![sweep], repeat: 1, swaps: vec![(layout.x, next)] };
        Some(SamplerProgram { prepare, sweep: vec![phase], acceptance: None, step: Some((sweep, (layout.x, next))) })
    }

    fn mala(&mut self, spec: &SampleSpec, layout: &Layout, step: f64) -> Option<SamplerProgram> {
        let name = self.model.field(layout.field).name.clone();
        let (kept, prepare) = self.kept(spec, layout)?;
        let proposal = self.program.add_buffer(format!("{name}_proposal"), layout.shape.clone());
        let mut b = layout.state_kernel(&format!("mala_propose_{name}"));
        let moved = self.langevin_move(&mut b, layout, layout.x, kept.grad, step);
        let mut kernels = vec![self.program.add_kernel(b.finish(vec![Output::assign(proposal, moved)]))];
        kernels.extend(self.log_p_at(layout, proposal, kept.proposal_log_p)?);
        kernels.extend(self.gradient_at(spec, layout, proposal, kept.proposal_grad)?);
        // log of the proposal densities' ratio: (|x' - x - τ g|² - |x - x' - τ g'|²) / 4τ.
        let (x, grad, proposal_grad) = (layout.x, kept.grad, kept.proposal_grad);
        let accept = self.accept_kernel(layout, &kept, &format!("mala_accept_{name}"), |b, layout| {
            let tau = b.constant(step);
            let correction = layout.chain_sum(b, |b, index| {
                let (x, to, g, g_to) = (
                    layout.at(b, x, index),
                    layout.at(b, proposal, index),
                    layout.at(b, grad, index),
                    layout.at(b, proposal_grad, index),
                );
                let forward = residual(b, to, x, tau, g);
                let backward = residual(b, x, to, tau, g_to);
                let (f2, b2) = (b.binary(Binary::Mul, forward, forward), b.binary(Binary::Mul, backward, backward));
                b.binary(Binary::Sub, f2, b2)
            });
            let four_tau = b.constant(4.0 * step);
            b.binary(Binary::Div, correction, four_tau)
        });
        kernels.push(accept);
        let (choose, swaps) = self.choose(layout, &kept, proposal);
        kernels.extend(choose);
        let sweep = self.program.add_procedure("sweep", kernels);
        let phase = Phase::Run { procedures: vec![sweep], repeat: 1, swaps };
        Some(SamplerProgram { prepare, sweep: vec![phase], acceptance: Some(kept.acceptance), step: None })
    }

    fn hmc(&mut self, spec: &SampleSpec, layout: &Layout, step: f64, leapfrog: u64) -> Option<SamplerProgram> {
        let name = self.model.field(layout.field).name.clone();
        let (kept, prepare) = self.kept(spec, layout)?;
        let shape = layout.shape.clone();
        let mut add = |label: &str, shape: Vec<usize>| self.program.add_buffer(format!("{name}_{label}"), shape);
        let (start_momentum, momentum, momentum_next) =
            (add("start_momentum", shape.clone()), add("momentum", shape.clone()), add("momentum_next", shape.clone()));
        let (trajectory, trajectory_next) = (add("trajectory", shape.clone()), add("trajectory_next", shape));
        let start_kinetic = add("start_kinetic", layout.chain_shape());

        // Start: momenta, a half kick and a drift; the starting kinetic energy per chain.
        let mut b = layout.state_kernel(&format!("hmc_momentum_{name}"));
        let xi = self.element_normal(&mut b, layout, Purpose::Momentum);
        let draw = self.program.add_kernel(b.finish(vec![Output::assign(start_momentum, xi)]));
        let mut b = layout.state_kernel(&format!("hmc_start_{name}"));
        let p0 = b.load_here(start_momentum);
        let p = kick(&mut b, p0, kept.grad, 0.5 * step);
        let x = b.load_here(layout.x);
        let moved = drift(&mut b, x, p, step);
        let start =
            self.program.add_kernel(b.finish(vec![Output::assign(momentum, p), Output::assign(trajectory, moved)]));
        let mut b = layout.chain_kernel(&format!("hmc_start_kinetic_{name}"));
        let kinetic = layout.chain_sum(&mut b, |b, index| {
            let p = layout.at(b, start_momentum, index);
            half_square(b, p)
        });
        let start_kinetic_kernel = self.program.add_kernel(b.finish(vec![Output::assign(start_kinetic, kinetic)]));
        let start = self.program.add_procedure("hmc_start", vec![draw, start, start_kinetic_kernel]);

        // The force at the trajectory's point, then a full kick and a drift.
        let force_kernels = self.gradient_at(spec, layout, trajectory, kept.proposal_grad)?;
        let force = self.program.add_procedure("hmc_force", force_kernels);
        let mut b = layout.state_kernel(&format!("hmc_leapfrog_{name}"));
        let p = b.load_here(momentum);
        let p = kick(&mut b, p, kept.proposal_grad, step);
        let x = b.load_here(trajectory);
        let moved = drift(&mut b, x, p, step);
        let leap = self
            .program
            .add_kernel(b.finish(vec![Output::assign(momentum_next, p), Output::assign(trajectory_next, moved)]));
        let leap = self.program.add_procedure("hmc_leapfrog", vec![leap]);

        // Finish: the last half kick, log p at the end point, accept per chain.
        let mut b = layout.state_kernel(&format!("hmc_last_kick_{name}"));
        let p = b.load_here(momentum);
        let p = kick(&mut b, p, kept.proposal_grad, 0.5 * step);
        let mut finish = vec![self.program.add_kernel(b.finish(vec![Output::assign(momentum_next, p)]))];
        finish.extend(self.log_p_at(layout, trajectory, kept.proposal_log_p)?);
        finish.push(self.accept_kernel(layout, &kept, &format!("hmc_accept_{name}"), |b, layout| {
            let end = layout.chain_sum(b, |b, index| {
                let p = layout.at(b, momentum_next, index);
                half_square(b, p)
            });
            let begin = layout.of_chain(b, start_kinetic);
            b.binary(Binary::Sub, begin, end)
        }));
        let (choose, swaps) = self.choose(layout, &kept, trajectory);
        finish.extend(choose);
        let finish = self.program.add_procedure("hmc_finish", finish);

        let mut sweep = vec![Phase::Run { procedures: vec![start], repeat: 1, swaps: Vec::new() }];
        if leapfrog > 1 {
            let swaps = vec![(momentum, momentum_next), (trajectory, trajectory_next)];
            sweep.push(Phase::Run { procedures: vec![force, leap], repeat: leapfrog - 1, swaps });
        }
        sweep.push(Phase::Run { procedures: vec![force, finish], repeat: 1, swaps });
        Some(SamplerProgram { prepare, sweep, acceptance: Some(kept.acceptance), step: None })
    }

    /// The kept buffers, and the procedure computing `log p` and its gradient at the state.
    fn kept(&mut self, spec: &SampleSpec, layout: &Layout) -> Option<(Kept, ProcId)> {
        let name = self.model.field(layout.field).name.clone();
        let (shape, chains) = (layout.shape.clone(), layout.chain_shape());
        let mut add = |label: String, shape: Vec<usize>| self.program.add_buffer(label, shape);
        let kept = Kept {
            log_p: add("log_p".into(), chains.clone()),
            grad: add(format!("dlogp_d{name}"), shape.clone()),
            proposal_log_p: add("log_p_proposal".into(), chains.clone()),
            proposal_grad: add(format!("dlogp_d{name}_proposal"), shape),
            accepted: add("accepted".into(), chains),
            acceptance: add("acceptance".into(), Vec::new()),
        };
        let mut kernels = self.log_p_at(layout, layout.x, kept.log_p)?;
        kernels.extend(self.gradient_at(spec, layout, layout.x, kept.grad)?);
        Some((kept, self.program.add_procedure("prepare_sampler", kernels)))
    }

    /// How kernels read the state when it stands at `at` instead.
    fn reading_at(layout: &Layout, at: BufferId) -> Reading {
        let fields = if at == layout.x { HashMap::new() } else { HashMap::from([(layout.field, at)]) };
        Reading { fields, time_offset: 0.0 }
    }

    /// Kernels computing `log p` (per chain) with the state at `at`, into `target`.
    fn log_p_at(&mut self, layout: &Layout, at: BufferId, target: BufferId) -> Option<Vec<KernelId>> {
        let mut reading = Self::reading_at(layout, at);
        let suffix = self.program.buffer(target).name.clone();
        let mut kernels = self.derived_for(&[&layout.log_p], &mut reading, Some(&suffix), None)?;
        kernels.push(self.store_kernel(format!("log_p_{suffix}"), &layout.log_p, &reading, target));
        Some(kernels)
    }

    /// Kernels computing `∇log p` with the state at `at`, into `target`.
    fn gradient_at(
        &mut self,
        spec: &SampleSpec,
        layout: &Layout,
        at: BufferId,
        target: BufferId,
    ) -> Option<Vec<KernelId>> {
        let reading = Self::reading_at(layout, at);
        let fail = Self::log_density_failure(spec);
        self.def_gradient(("log_p", "log_p"), &spec.log_density, layout.field, &reading, target, &fail)
    }

    /// In a state kernel: `x + τ g + sqrt(2τ) ξ` at the point, `x` and `g` read from buffers.
    fn langevin_move(&self, b: &mut KernelBuilder, layout: &Layout, x: BufferId, grad: BufferId, tau: f64) -> NodeId {
        let x = b.load_here(x);
        let drifted = kick(b, x, grad, tau);
        let xi = self.element_normal(b, layout, Purpose::Propose);
        let scale = b.constant((2.0 * tau).sqrt());
        let noise = b.binary(Binary::Mul, scale, xi);
        b.binary(Binary::Add, drifted, noise)
    }

    /// In a state kernel: the standard normal of this element in this sweep, for `purpose`.
    fn element_normal(&self, b: &mut KernelBuilder, layout: &Layout, purpose: Purpose) -> NodeId {
        let site: Vec<Affine> = (0..layout.shape.len()).map(|axis| Affine::var(VarId(axis as u32))).collect();
        self.sweep_draw(b, Draw::Normal, (layout.field, purpose), &site, &layout.shape)
    }

    /// A chain kernel deciding acceptance: `log α = log p(x') - log p(x) + extra`, accepted
    /// where the chain's uniform `u` has `log u < log α` (never where `log α` is NaN).
    fn accept_kernel(
        &mut self,
        layout: &Layout,
        kept: &Kept,
        name: &str,
        extra: impl FnOnce(&mut KernelBuilder, &Layout) -> NodeId,
    ) -> KernelId {
        let mut b = layout.chain_kernel(name);
        let here: Vec<Affine> = (0..layout.chain_shape().len()).map(|v| Affine::var(VarId(v as u32))).collect();
        let (after, before) = (layout.at(&mut b, kept.proposal_log_p, &here), layout.at(&mut b, kept.log_p, &here));
        let difference = b.binary(Binary::Sub, after, before);
        let extra = extra(&mut b, layout);
        let log_alpha = b.binary(Binary::Add, difference, extra);
        let chain = match here.first() {
            Some(c) => b.affine_value(c),
            None => b.constant(0.0),
        };
        let (seed, sweep) = (b.load_scalar(self.seed), b.load_scalar(self.step_count));
        let [low, high] = random::count_words(&mut b, sweep);
        let stream = random::sampler_stream(layout.field.index(), Purpose::Accept);
        let u = random::draw(&mut b, Draw::Uniform, seed, stream, &[chain, low, high]);
        let log_u = b.unary(Unary::Log, u);
        let accepts = b.compare(Compare::Lt, log_u, log_alpha);
        let (one, zero) = (b.constant(1.0), b.constant(0.0));
        let verdict = b.push(crate::ir::Node::Select(accepts, one, zero));
        self.program.add_kernel(b.finish(vec![Output::assign(kept.accepted, verdict)]))
    }

    /// Kernels taking each accepting chain's proposal (state at `proposal`, its gradient and
    /// `log p`) into the next buffers and counting the acceptances, and the exchanges after.
    fn choose(
        &mut self,
        layout: &Layout,
        kept: &Kept,
        proposal: BufferId,
    ) -> (Vec<KernelId>, Vec<(BufferId, BufferId)>) {
        let name = self.model.field(layout.field).name.clone();
        let shape = layout.shape.clone();
        let next = self.program.add_buffer(format!("{name}_next"), shape.clone());
        let grad_next = self.program.add_buffer(format!("dlogp_d{name}_next"), shape);
        let log_p_next = self.program.add_buffer("log_p_next", layout.chain_shape());
        let mut b = layout.state_kernel(&format!("take_{name}"));
        let accepted = layout.of_chain(&mut b, kept.accepted);
        let half = b.constant(0.5);
        let takes = b.compare(Compare::Gt, accepted, half);
        let pick = |b: &mut KernelBuilder, new: BufferId, old: BufferId| {
            let (new, old) = (b.load_here(new), b.load_here(old));
            b.push(crate::ir::Node::Select(takes, new, old))
        };
        let (x, g) = (pick(&mut b, proposal, layout.x), pick(&mut b, kept.proposal_grad, kept.grad));
        let state = self.program.add_kernel(b.finish(vec![Output::assign(next, x), Output::assign(grad_next, g)]));
        let mut b = layout.chain_kernel("take_log_p");
        let accepted = b.load_here(kept.accepted);
        let half = b.constant(0.5);
        let takes = b.compare(Compare::Gt, accepted, half);
        let (new, old) = (b.load_here(kept.proposal_log_p), b.load_here(kept.log_p));
        let log_p = b.push(crate::ir::Node::Select(takes, new, old));
        let chains = self.program.add_kernel(b.finish(vec![Output::assign(log_p_next, log_p)]));
        let mut b = KernelBuilder::new("acceptance", Vec::new(), 0);
        let vars: Vec<VarId> = layout.chain_shape().iter().map(|e| b.add_var(*e)).collect();
        let fraction = if vars.is_empty() {
            b.load_scalar(kept.accepted)
        } else {
            b.reduce(ReduceOp::Mean, &vars, |b| {
                (None, b.load(kept.accepted, vec![Affine::var(vars[0])], vec![Access::Direct], 0.0))
            })
        };
        let acceptance = self.program.add_kernel(b.finish(vec![Output::assign(kept.acceptance, fraction)]));
        let swaps = vec![(layout.x, next), (kept.grad, grad_next), (kept.log_p, log_p_next)];
        (vec![state, chains, acceptance], swaps)
    }
}

/// `to - from - τ g`: how far a Langevin step from `from` (with gradient `g`) misses `to`.
fn residual(b: &mut KernelBuilder, to: NodeId, from: NodeId, tau: NodeId, g: NodeId) -> NodeId {
    let gap = b.binary(Binary::Sub, to, from);
    let pull = b.binary(Binary::Mul, tau, g);
    b.binary(Binary::Sub, gap, pull)
}

/// `value + h g` at the point, `g` loaded from `grad`: a kick (or a Langevin drift).
fn kick(b: &mut KernelBuilder, value: NodeId, grad: BufferId, h: f64) -> NodeId {
    let g = b.load_here(grad);
    let h = b.constant(h);
    let change = b.binary(Binary::Mul, h, g);
    b.binary(Binary::Add, value, change)
}

/// `x + ε p`.
fn drift(b: &mut KernelBuilder, x: NodeId, p: NodeId, step: f64) -> NodeId {
    let step = b.constant(step);
    let change = b.binary(Binary::Mul, step, p);
    b.binary(Binary::Add, x, change)
}

/// `p² / 2`.
fn half_square(b: &mut KernelBuilder, p: NodeId) -> NodeId {
    let square = b.binary(Binary::Mul, p, p);
    let half = b.constant(0.5);
    b.binary(Binary::Mul, half, square)
}
