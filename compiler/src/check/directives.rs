//! `run`, `sample` and `fit`: known names, known options, sensible values.

use crate::diag::{Span, did_you_mean, suggestion_help};
use crate::model::{FitSpec, Integrator, OptionValue, Run, SampleSpec};
use crate::resolve::{ArgValue, Directive};

use super::Checker;
use super::error::CheckError;

#[derive(Clone, Copy)]
enum Kind {
    /// A number > 0.
    Positive,
    /// Any finite number.
    Number,
    /// An integer >= 1.
    Count,
    /// An integer >= 0.
    Natural,
    /// An integer in 0..2^32: the key word of counter-based random numbers.
    Seed,
    /// One of these words.
    Word(&'static [&'static str]),
}

struct Opt {
    name: &'static str,
    kind: Kind,
    required: bool,
    help: &'static str,
}

const fn required(name: &'static str, kind: Kind, help: &'static str) -> Opt {
    Opt { name, kind, required: true, help }
}

const fn optional(name: &'static str, kind: Kind, help: &'static str) -> Opt {
    Opt { name, kind, required: false, help }
}

const STEP_OPTIONS: [Opt; 3] = [
    required("dt", Kind::Positive, "the time step, e.g. `dt = 0.01`"),
    required("steps", Kind::Count, "the number of steps, e.g. `steps = 1000`"),
    optional("t0", Kind::Number, "the start time (default 0)"),
];

const SDE_OPTIONS: [Opt; 4] = [
    required("dt", Kind::Positive, "the time step, e.g. `dt = 0.01`"),
    required("steps", Kind::Count, "the number of steps, e.g. `steps = 1000`"),
    optional("t0", Kind::Number, "the start time (default 0)"),
    optional("seed", Kind::Seed, "the random seed, 0 to 4294967295 (default 0)"),
];

fn integrator_options(integrator: Integrator) -> &'static [Opt] {
    if integrator.is_stochastic() { &SDE_OPTIONS } else { &STEP_OPTIONS }
}

const METROPOLIS: [Opt; 4] = [
    required("sweeps", Kind::Count, "the number of sweeps over all sites, e.g. `sweeps = 1000`"),
    optional("order", Kind::Word(&["checkerboard", "random", "sequential"]), "the update order"),
    optional("seed", Kind::Seed, "the random seed, 0 to 4294967295 (default 0)"),
    optional("burn_in", Kind::Natural, "sweeps discarded before observing (default 0)"),
];

const ADAM: [Opt; 5] = [
    required("lr", Kind::Positive, "the learning rate, e.g. `lr = 0.01`"),
    required("iters", Kind::Count, "the number of iterations"),
    optional("beta1", Kind::Positive, "first-moment decay (default 0.9)"),
    optional("beta2", Kind::Positive, "second-moment decay (default 0.999)"),
    optional("eps", Kind::Positive, "denominator floor (default 1e-8)"),
];

const LBFGS: [Opt; 3] = [
    required("iters", Kind::Count, "the number of iterations"),
    optional("tol", Kind::Positive, "stop when the gradient norm falls below this"),
    optional("history", Kind::Count, "the number of stored updates (default 10)"),
];

impl Checker<'_, '_> {
    pub(super) fn check_run(&mut self, d: &Directive, stochastic_model: bool) -> Option<Run> {
        let names: Vec<&str> = Integrator::ALL.iter().map(|i| i.name()).collect();
        let integrator = match Integrator::ALL.iter().find(|i| i.name() == d.name.name) {
            Some(i) => *i,
            None => {
                self.report(CheckError::UnknownDirective {
                    what: "integrator",
                    name: d.name.name.clone(),
                    span: d.name.span,
                    help: suggestion_help(
                        did_you_mean(&d.name.name, names.iter().copied()),
                        format!("integrators: {}", names.join(", ")),
                    ),
                });
                return None;
            }
        };
        if stochastic_model && !integrator.is_stochastic() {
            self.report(CheckError::Model {
                message: format!("`{}` cannot integrate an SDE", integrator.name()),
                span: d.name.span,
                label: "deterministic integrator".into(),
                help: "use `euler_maruyama` or `milstein` for models with `d X = ... dW` equations".into(),
            });
            return None;
        }
        let values = self.options(d, &format!("`{}`", integrator.name()), integrator_options(integrator))?;
        let number = |name: &str, default: f64| match values.iter().find(|(n, _)| n == name) {
            Some((_, OptionValue::Number(v))) => *v,
            _ => default,
        };
        Some(Run {
            integrator,
            dt: number("dt", f64::NAN),
            steps: number("steps", 0.0) as u64,
            t0: number("t0", 0.0),
            seed: number("seed", 0.0) as u64,
            span: d.span,
            second_order: None,
        })
    }

    pub(super) fn check_sample(&mut self, var: crate::model::FieldId, d: &Directive, span: Span) -> Option<SampleSpec> {
        let options = self.directive_options(d, "sampler", &[("metropolis", &METROPOLIS)])?;
        Some(SampleSpec { var, sampler: d.name.name.clone(), options, span })
    }

    pub(super) fn check_fit(
        &mut self,
        params: Vec<crate::model::FieldId>,
        loss: String,
        d: &Directive,
    ) -> Option<FitSpec> {
        let options = self.directive_options(d, "optimizer", &[("adam", &ADAM), ("lbfgs", &LBFGS)])?;
        Some(FitSpec { params, loss, optimizer: d.name.name.clone(), options, span: d.span })
    }

    /// The options of `d`, which must name one of `known` (a `what`, like "sampler").
    fn directive_options(
        &mut self,
        d: &Directive,
        what: &'static str,
        known: &[(&str, &[Opt])],
    ) -> Option<Vec<(String, OptionValue)>> {
        let names: Vec<&str> = known.iter().map(|(n, _)| *n).collect();
        let Some((_, schema)) = known.iter().find(|(n, _)| *n == d.name.name) else {
            self.report(CheckError::UnknownDirective {
                what,
                name: d.name.name.clone(),
                span: d.name.span,
                help: suggestion_help(
                    did_you_mean(&d.name.name, names.iter().copied()),
                    format!("{what}s: {}", names.join(", ")),
                ),
            });
            return None;
        };
        self.options(d, &format!("`{}`", d.name.name), schema)
    }

    /// Validates `d`'s arguments against `schema`, reporting every problem.
    fn options(&mut self, d: &Directive, what: &str, schema: &[Opt]) -> Option<Vec<(String, OptionValue)>> {
        let mut values: Vec<(String, OptionValue)> = Vec::new();
        let mut ok = true;
        for arg in &d.args {
            let Some(opt) = schema.iter().find(|o| o.name == arg.key.name) else {
                let names: Vec<&str> = schema.iter().map(|o| o.name).collect();
                self.report(CheckError::UnknownOption {
                    what: what.into(),
                    name: arg.key.name.clone(),
                    span: arg.key.span,
                    help: suggestion_help(
                        did_you_mean(&arg.key.name, names.iter().copied()),
                        format!("{what} takes: {}", names.join(", ")),
                    ),
                });
                ok = false;
                continue;
            };
            if values.iter().any(|(n, _)| n == opt.name) {
                self.bad_option(opt, arg.span, "given twice".into());
                ok = false;
                continue;
            }
            match validate(opt.kind, &arg.value) {
                Ok(value) => values.push((opt.name.into(), value)),
                Err(problem) => {
                    self.bad_option(opt, arg.span, problem);
                    ok = false;
                }
            }
        }
        for opt in schema.iter().filter(|o| o.required) {
            if !d.args.iter().any(|a| a.key.name == opt.name) {
                self.report(CheckError::MissingOption {
                    what: what.into(),
                    name: opt.name,
                    span: d.span,
                    help: format!("add {}", opt.help),
                });
                ok = false;
            }
        }
        ok.then_some(values)
    }

    fn bad_option(&mut self, opt: &Opt, span: Span, problem: String) {
        self.report(CheckError::BadOption { name: opt.name.into(), problem, span, help: opt.help.into() });
    }
}

fn validate(kind: Kind, value: &ArgValue) -> Result<OptionValue, String> {
    let number = match (kind, value) {
        (Kind::Word(words), ArgValue::Word(w)) if words.contains(&w.as_str()) => {
            return Ok(OptionValue::Word(w.clone()));
        }
        (Kind::Word(words), _) => return Err(format!("expected one of {}", words.join(", "))),
        (_, ArgValue::Word(w)) => return Err(format!("expected a number, found the word `{w}`")),
        (_, ArgValue::Number(v)) => *v,
    };
    let integer = number.fract() == 0.0 && number.abs() < 2f64.powi(53);
    let fine = match kind {
        Kind::Positive => number > 0.0 && number.is_finite(),
        Kind::Number => number.is_finite(),
        Kind::Count => integer && number >= 1.0,
        Kind::Natural => integer && number >= 0.0,
        Kind::Seed => integer && (0.0..4_294_967_296.0).contains(&number),
        Kind::Word(_) => unreachable!("handled above"),
    };
    if fine {
        Ok(OptionValue::Number(number))
    } else {
        Err(match kind {
            Kind::Positive => format!("{number} is not a positive number"),
            Kind::Count => format!("{number} is not a whole number of at least 1"),
            Kind::Natural => format!("{number} is not a whole number of at least 0"),
            Kind::Seed => format!("{number} is not a whole number from 0 to 4294967295"),
            _ => format!("{number} is not a finite number"),
        })
    }
}
