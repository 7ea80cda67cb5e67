//! The `sample` directive: what is sampled, the target density, and a sampler proven to fit.
//!
//! `sample s ~ exp(-beta * H) with metropolis(...)` samples the states named (several only for
//! spin samplers: an RBM's two layers) from the density `exp(...)`; its argument, `log p` up to
//! a constant, is kept as a scalar definition ([`SampleSpec::log_density`]). Spin samplers need
//! `spin` states and a `log p` linear in each spin ([`spins`]); `order = checkerboard` needs a
//! colouring in which no site's update reads a site of its own colour. Continuous samplers need
//! one real-valued state; when `log p` is a sum over the state's first axis of terms that read
//! only their own row, each row is a chain that accepts on its own ([`chains`]).
//!
//! Example: `sample x ~ exp(-U) with hmc(step = 0.2, sweeps = 1000)` with
//! `energy U = sum(c) 0.5 * (x[c, 0]^2 + x[c, 1]^2)` gives `log p = -U` and one chain per `c`.

use super::directives::{OrderWord, Requested};
use super::error::CheckError;
use super::{Checker, Reported, chains, spins};
use crate::model::{Chains, Def, Field, FieldId, FieldKind, Node, Order, SampleSpec, Sampler};
use crate::resolve::Sample;

impl<'r> Checker<'r, '_> {
    /// Checks the `sample` directive `s` (`equations` are the model's, checked).
    pub(super) fn check_sample(&mut self, s: &'r Sample, equations: &[crate::model::Equation]) -> Option<SampleSpec> {
        let span = s.sampler.span;
        if let Some(run) = &self.resolved.run {
            self.report(CheckError::Model {
                message: "a script either runs or samples, not both".into(),
                span,
                label: "a second directive".into(),
                help: format!("keep `run {}(...)` or this `sample`; a script has one of them", run.name.name),
            });
        }
        let vars: Vec<FieldId> = s.vars.iter().filter_map(|(id, _)| self.field_of(*id)).collect();
        for ((_, var_span), &var) in s.vars.iter().zip(&vars) {
            if equations.iter().any(|e| e.state == var) {
                let name = self.fields[var.index()].name.clone();
                self.report(CheckError::Model {
                    message: format!("`{name}` is sampled, so it cannot also have an equation"),
                    span: *var_span,
                    label: "sampled here".into(),
                    help: format!(
                        "a sampled state changes only by the sampler's moves: remove the equation of `{name}`"
                    ),
                });
            }
        }
        for equation in equations.iter().filter(|e| !vars.contains(&e.state)) {
            let name = self.fields[equation.state.index()].name.clone();
            self.report(CheckError::Model {
                message: format!("a sampling script never integrates, so the equation of `{name}` would not run"),
                span: equation.span,
                label: "never integrated".into(),
                help: format!("make `{name}` a `let` of what it depends on, or integrate it with a `run` directive"),
            });
        }
        let density = self.top_def(&s.density, &[], "the sampled density").ok()?;
        let log_density = self.log_density(density, s.density.expr.span)?;
        let (requested, schedule) = self.sampler_options(&s.sampler)?;
        let spin_states = matches!(requested, Requested::Spins { .. });
        for ((_, var_span), &var) in s.vars.iter().zip(&vars) {
            let field = &self.fields[var.index()];
            if field.kind != (FieldKind::State { spin: spin_states }) {
                let (name, help) = if spin_states {
                    ("spins", format!("declare it `state {} : ... spin = 1`, with values +1 and -1", field.name))
                } else {
                    ("real numbers", "use `metropolis` or `gibbs` for spin states".to_string())
                };
                self.report(CheckError::Model {
                    message: format!(
                        "`{}` samples {name}, but `{}` is not a {} state",
                        s.sampler.name.name,
                        field.name,
                        if spin_states { "spin" } else { "real-valued" }
                    ),
                    span: *var_span,
                    label: "this state".into(),
                    help,
                });
                return None;
            }
        }
        if vars.len() != s.vars.len() {
            return None;
        }
        let sampler = match requested {
            Requested::Spins { gibbs, order } => {
                let couplings = spins::couplings(&self.fields, &log_density, &vars).map_err(|e| self.report(e)).ok()?;
                let order = match order {
                    OrderWord::Sequential => Order::Sequential,
                    OrderWord::Random => Order::Random,
                    OrderWord::Checkerboard => {
                        let colourings = vars
                            .iter()
                            .map(|v| spins::colouring(&self.fields, &log_density, &couplings, *v))
                            .collect::<Result<Vec<_>, _>>()
                            .map_err(|e| self.report(e))
                            .ok()?;
                        Order::Checkerboard(colourings)
                    }
                };
                if gibbs { Sampler::Gibbs(order) } else { Sampler::Metropolis(order) }
            }
            continuous => {
                if let [(_, _), (_, second), ..] = s.vars.as_slice() {
                    self.report(CheckError::Model {
                        message: format!("`{}` samples one state", s.sampler.name.name),
                        span: *second,
                        label: "a second state".into(),
                        help: "sample one real-valued state; put several quantities on its axes".into(),
                    });
                    return None;
                }
                let chains = || match chains::per_chain(&self.fields, &log_density, vars[0]) {
                    Some(per_chain) => Chains::Many { per_chain },
                    None => Chains::One,
                };
                match continuous {
                    Requested::Langevin { step } => Sampler::Langevin { step },
                    Requested::Mala { step } => Sampler::Mala { step, chains: chains() },
                    Requested::Hmc { step, leapfrog } => Sampler::Hmc { step, leapfrog, chains: chains() },
                    Requested::Spins { .. } => unreachable!("matched above"),
                }
            }
        };
        Some(SampleSpec { vars, log_density, sampler, schedule, span })
    }

    /// The argument of the density `exp(...)`: `log p` up to a constant.
    fn log_density(&mut self, density: Def, span: crate::diag::Span) -> Option<Def> {
        match &*density.expr {
            Node::Unary(crate::ops::Unary::Exp, argument) => Some(Def { expr: argument.clone(), ..density }),
            _ => {
                let Reported = self.report(CheckError::Model {
                    message: "a sampled density must be written `exp(...)`".into(),
                    span,
                    label: "not of the form exp(...)".into(),
                    help: "write the target as `exp(-beta * H)` with `H` an energy (any exponent works: it is log p)"
                        .into(),
                });
                None
            }
        }
    }
}

/// Whether `field`'s value depends on one of the sampled `states`: it is one, a let reading one
/// (through any lets), or a gradient (which may read any state). A read of such a field hides
/// the states from the proofs above, which see only direct reads.
pub(super) fn derived_from(fields: &[Field], field: FieldId, states: &[FieldId]) -> bool {
    fn visit(fields: &[Field], field: FieldId, states: &[FieldId], seen: &mut Vec<FieldId>) -> bool {
        if states.contains(&field) {
            return true;
        }
        if seen.contains(&field) {
            return false;
        }
        seen.push(field);
        match (&fields[field.index()].kind, &fields[field.index()].def) {
            (FieldKind::Grad { .. }, _) => true,
            (FieldKind::Let, Some(def)) => {
                let mut found = false;
                crate::model::walk(&def.expr, &mut |node| {
                    if let Node::Read(r) = node {
                        found |= visit(fields, r.field, states, seen);
                    }
                });
                found
            }
            _ => false,
        }
    }
    visit(fields, field, states, &mut Vec::new())
}
