//! Spin samplers: Metropolis and heat-bath (Gibbs) single-spin updates, as kernels that update
//! a spin field in place.
//!
//! **The flip's change comes from the gradient.** `check` has proven `log p` affine in each spin
//! ([`crate::check`]'s spin analysis), so flipping `s_k` changes it by `Δ = -2 s_k g_k` with
//! `g = ∂log p/∂s` (and the heat bath draws `s_k = +1` with probability `1 / (1 + exp(-2 g_k))`).
//! `g` is reverse-mode autodiff of `log p` (the same transform as `grad(E, x)`), which for such
//! an energy is one gather kernel over the field's sites; the update kernels inline that
//! kernel's value at the site they update ([`autodiff::gather::inline`]), so a site's update
//! reads only the few neighbours its derivative needs. The gradient's seed and the lets it
//! reads (couplings from params and data) are computed once, in `prepare`.
//!
//! **Orders.** A kernel visits sites and updates each in place ([`crate::ir::Store::Update`]):
//! - `checkerboard`: the classes `check` proved: a whole field (an RBM's layer) in one kernel;
//!   or, by parity, each colour as sublattice kernels with sites `2 v + x` on every axis (`x` in
//!   `{0, 1}`, the colour the parity of the `x`s), so every kernel's points are independent and
//!   the kernel's rows may run on several threads (the IR proves it from the indices alone);
//! - `sequential`: one kernel over the field, row-major, each site seeing the updates before it;
//!   inherently serial, and as fast as one thread goes: no per-site call, no list;
//! - `random`: the same kernel visiting a list of sites that the runtime fills with a fresh
//!   permutation every sweep ([`super::sample::Phase::Shuffle`]). A permutation visits each site
//!   once per sweep, so a site's draw can be keyed by the site and the sweep, as in the other
//!   orders: the draws do not depend on the order, only on where and when.

use crate::autodiff::gather;
use crate::ir::builder::KernelBuilder;
use crate::ir::{Access, Affine, Kernel, KernelId, Node, NodeId, Output, Store, VarId, Visit};
use crate::model::{Colouring, Draw, FieldId, Order, SampleSpec};
use crate::ops::{Binary, Compare, Unary};

use super::random::{self, Purpose};
use super::sample::{Phase, SamplerProgram};
use super::{LowerError, Lowering, Reading};

/// Where `∂log p/∂s` at a site is computed: a kernel over the field's sites and the value it
/// assigns.
#[derive(Clone, Copy)]
struct Derivative {
    kernel: KernelId,
    value: NodeId,
}

/// The sites one update kernel visits: its domain, and the site of each domain point.
struct Sites {
    name: String,
    domain: Vec<usize>,
    site: Vec<Affine>,
    visit: Visit,
}

impl Lowering<'_, '_> {
    pub(super) fn spin_sampler(&mut self, spec: &SampleSpec, gibbs: bool, order: &Order) -> Option<SamplerProgram> {
        let model = self.model;
        let rule = if gibbs { "gibbs" } else { "metropolis" };
        let mut prepare = Vec::new();
        let mut sweep = Vec::new();
        let mut phases = Vec::new();
        for (n, &field) in spec.vars.iter().enumerate() {
            let info = model.field(field);
            let extents = info.shape.extents();
            let (derivative, constants) = self.per_site_derivative(spec, field)?;
            prepare.extend(constants);
            let identity = || extents.iter().enumerate().map(|(v, _)| Affine::var(VarId(v as u32))).collect();
            let whole = |visit| Sites {
                name: format!("{rule}_{}", info.name),
                domain: extents.clone(),
                site: identity(),
                visit,
            };
            let classes = match order {
                Order::Checkerboard(colourings) if colourings[n] == Colouring::Parity => {
                    sublattices(&extents, &format!("{rule}_{}", info.name))
                }
                Order::Checkerboard(_) | Order::Sequential => vec![whole(Visit::RowMajor)],
                Order::Random => {
                    let list = self.program.add_buffer(format!("{}_order", info.name), vec![extents.iter().product()]);
                    phases.push(Phase::Shuffle { list, stream: random::sampler_stream(field.index(), Purpose::Order) });
                    vec![whole(Visit::Listed(list))]
                }
            };
            for sites in classes {
                let kernel = self.flip_kernel(field, derivative, sites, gibbs);
                sweep.push(self.program.add_kernel(kernel));
            }
        }
        let sweep = self.program.add_procedure("sweep", sweep);
        phases.push(Phase::Run { procedures: vec![sweep], repeat: 1, swaps: Vec::new() });
        let prepare = self.program.add_procedure("prepare_sampler", prepare);
        Some(SamplerProgram { prepare, sweep: phases, acceptance: None, step: None })
    }

    /// The kernel computing `∂log p/∂field` at every site (to be inlined, never run) and its
    /// output's value there, and the kernels computing what it reads besides the spins (run
    /// once). The kernel may also add into the adjoints of lets; those outputs are not used.
    fn per_site_derivative(&mut self, spec: &SampleSpec, field: FieldId) -> Option<(Derivative, Vec<KernelId>)> {
        let info = self.model.field(field);
        let target = self.program.add_buffer(format!("dlogp_d{}", info.name), info.shape.extents());
        let fail = Self::log_density_failure(spec);
        let kernels =
            self.def_gradient(("log_p", "log_p"), &spec.log_density, field, &Reading::default(), target, &fail)?;
        let (writers, constants): (Vec<KernelId>, Vec<KernelId>) =
            kernels.into_iter().partition(|k| self.program.kernel(*k).outputs.iter().any(|o| o.buffer == target));
        let per_site = |k: &Kernel| {
            let assigned = k.outputs.iter().find(|o| o.buffer == target && o.store == Store::Assign);
            assigned.filter(|_| !k.has_scatter() && k.domain() == info.shape.extents()).map(|o| o.value)
        };
        match writers.as_slice() {
            [k] if per_site(self.program.kernel(*k)).is_some() => {
                let value = per_site(self.program.kernel(*k)).expect("checked");
                Some((Derivative { kernel: *k, value }, constants))
            }
            _ => {
                self.sink.push(LowerError::Unsupported {
                    feature: format!("this energy's derivative by `{}` as one value per site", info.name),
                    span: spec.span,
                    help: "spin samplers read each spin at a site plus an offset; write the energy that way".into(),
                });
                None
            }
        }
    }

    /// A kernel updating the spins `sites` visits, in place: Metropolis or heat bath.
    fn flip_kernel(&self, field: FieldId, derivative: Derivative, sites: Sites, gibbs: bool) -> Kernel {
        let buffer = self.buffer(field);
        let rank = sites.domain.len();
        let mut b = KernelBuilder::new(sites.name, sites.domain, rank);
        b.pin(buffer);
        let shapes: Vec<Vec<usize>> = self.program.buffers.iter().map(|b| b.shape.clone()).collect();
        let per_site = self.program.kernel(derivative.kernel);
        let slope = gather::inline(per_site, derivative.value, &mut b, &sites.site, &shapes);
        let spin = b.load(buffer, sites.site.clone(), vec![Access::Direct; sites.site.len()], 0.0);
        let u = self.sweep_draw(&mut b, Draw::Uniform, (field, Purpose::Accept), &sites.site, &shapes[buffer.index()]);
        let one = b.constant(1.0);
        let new = if gibbs {
            // P(s = +1 | the rest) = exp(g) / (exp(g) + exp(-g)).
            let minus_two = b.constant(-2.0);
            let exponent = b.binary(Binary::Mul, minus_two, slope);
            let odds = b.unary(Unary::Exp, exponent);
            let denominator = b.binary(Binary::Add, one, odds);
            let up = b.binary(Binary::Div, one, denominator);
            let draw_up = b.compare(Compare::Lt, u, up);
            let minus_one = b.constant(-1.0);
            b.push(Node::Select(draw_up, one, minus_one))
        } else {
            // Flipping s changes log p by -2 s g; accept with probability min(1, exp of that).
            let minus_two = b.constant(-2.0);
            let twice = b.binary(Binary::Mul, minus_two, spin);
            let change = b.binary(Binary::Mul, twice, slope);
            let ratio = b.unary(Unary::Exp, change);
            let accept = b.compare(Compare::Lt, u, ratio);
            let flipped = b.unary(Unary::Neg, spin);
            b.push(Node::Select(accept, flipped, spin))
        };
        let mut kernel = b.finish(vec![Output { buffer, value: new, store: Store::Update { index: sites.site } }]);
        kernel.visit = sites.visit;
        kernel
    }
}

/// The two checkerboard colours of a field of `extents` as sublattices: for every `x` in
/// `{0, 1}^rank`, the sites `2 v + x`; colour 0 (even sum of `x`) first, then colour 1.
fn sublattices(extents: &[usize], name: &str) -> Vec<Sites> {
    let rank = extents.len();
    let mut all = Vec::new();
    for colour in 0..2 {
        for mask in (0..1u32 << rank).filter(|m| m.count_ones() % 2 == colour) {
            let offsets: Vec<usize> = (0..rank).map(|a| ((mask >> a) & 1) as usize).collect();
            let domain: Vec<usize> = extents.iter().zip(&offsets).map(|(n, x)| (n - x).div_ceil(2)).collect();
            if domain.contains(&0) {
                continue;
            }
            let site = offsets
                .iter()
                .enumerate()
                .map(|(a, x)| Affine::var(VarId(a as u32)).scale(2).add(&Affine::constant(*x as i64)))
                .collect();
            let label: String = offsets.iter().map(usize::to_string).collect();
            all.push(Sites { name: format!("{name}_colour{colour}_{label}"), domain, site, visit: Visit::RowMajor });
        }
    }
    all
}
