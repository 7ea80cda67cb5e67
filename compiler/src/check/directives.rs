//! `run`, `sample` and `fit`: known names, known options, sensible values, typed settings.

use crate::diag::{Span, did_you_mean, suggestion_help};
use crate::model::{FitSpec, Integrator, Optimizer, Run, SampleSchedule};
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

const SCHEDULE: [Opt; 4] = [
    required("sweeps", Kind::Count, "the number of sweeps, e.g. `sweeps = 1000`"),
    optional("seed", Kind::Seed, "the random seed, 0 to 4294967295 (default 0)"),
    optional("thin", Kind::Count, "record every `thin`-th sweep (default 1)"),
    optional("burn_in", Kind::Natural, "sweeps made before the first recorded one (default 0)"),
];

const ORDER: Opt = optional(
    "order",
    Kind::Word(&["checkerboard", "sequential", "random"]),
    "the order sites are updated in: checkerboard, sequential (the default) or random",
);

const STEP: Opt = required("step", Kind::Positive, "the step size, e.g. `step = 0.1`");

const LEAPFROG: Opt = optional("leapfrog", Kind::Count, "leapfrog steps per trajectory (default 10)");

const ADAM: [Opt; 6] = [
    required("lr", Kind::Positive, "the learning rate, e.g. `lr = 0.01`"),
    optional("lr_end", Kind::Positive, "the learning rate at the last iteration, by cosine decay (default: lr)"),
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
        let values = Values(self.options(d, &format!("`{}`", integrator.name()), integrator_options(integrator))?);
        Some(Run {
            integrator,
            dt: values.number("dt", f64::NAN),
            steps: values.whole("steps", 0),
            t0: values.number("t0", 0.0),
            seed: values.whole("seed", 0),
            span: d.span,
            second_order: None,
        })
    }

    /// The sampler `d` names, with its options, and the sweeps it makes.
    pub(super) fn sampler_options(&mut self, d: &Directive) -> Option<(Requested, SampleSchedule)> {
        let spin: Vec<Opt> = SCHEDULE.into_iter().chain([ORDER]).collect();
        let langevin: Vec<Opt> = SCHEDULE.into_iter().chain([STEP]).collect();
        let hmc: Vec<Opt> = SCHEDULE.into_iter().chain([STEP, LEAPFROG]).collect();
        let known: [(&str, &[Opt]); 5] =
            [("metropolis", &spin), ("gibbs", &spin), ("langevin", &langevin), ("mala", &langevin), ("hmc", &hmc)];
        let values = Values(self.directive_options(d, "sampler", &known)?);
        let schedule = SampleSchedule {
            sweeps: values.whole("sweeps", 0),
            seed: values.whole("seed", 0),
            thin: values.whole("thin", 1),
            burn_in: values.whole("burn_in", 0),
        };
        if schedule.thin > schedule.sweeps {
            self.report(CheckError::Model {
                message: format!("`thin = {}` records no sweep of {}", schedule.thin, schedule.sweeps),
                span: d.span,
                label: "nothing would be recorded".into(),
                help: "make `thin` at most `sweeps`: every `thin`-th sweep after the burn-in is recorded".into(),
            });
            return None;
        }
        let step = values.number("step", f64::NAN);
        let requested = match d.name.name.as_str() {
            "langevin" => Requested::Langevin { step },
            "mala" => Requested::Mala { step },
            "hmc" => Requested::Hmc { step, leapfrog: values.whole("leapfrog", 10) },
            rule => {
                let order = match values.word("order") {
                    Some("checkerboard") => OrderWord::Checkerboard,
                    Some("random") => OrderWord::Random,
                    _ => OrderWord::Sequential,
                };
                Requested::Spins { gibbs: rule == "gibbs", order }
            }
        };
        Some((requested, schedule))
    }

    pub(super) fn check_fit(
        &mut self,
        params: Vec<crate::model::FieldId>,
        loss: String,
        d: &Directive,
    ) -> Option<FitSpec> {
        let values = Values(self.directive_options(d, "optimizer", &[("adam", &ADAM), ("lbfgs", &LBFGS)])?);
        let iters = values.whole("iters", 0);
        let optimizer = match d.name.name.as_str() {
            "adam" => Optimizer::Adam {
                lr: values.number("lr", f64::NAN),
                iters,
                beta1: values.number("beta1", 0.9),
                beta2: values.number("beta2", 0.999),
                eps: values.number("eps", 1e-8),
                lr_end: values.optional_number("lr_end"),
            },
            _ => Optimizer::Lbfgs { iters, tol: values.number("tol", 1e-10), history: values.whole("history", 10) },
        };
        Some(FitSpec { params, loss, optimizer, span: d.span })
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

/// A validated option value.
#[derive(Clone, Debug, PartialEq)]
enum OptionValue {
    Number(f64),
    Word(String),
}

/// A directive's validated options, by name; required ones are present.
struct Values(Vec<(String, OptionValue)>);

impl Values {
    fn number(&self, name: &str, default: f64) -> f64 {
        self.optional_number(name).unwrap_or(default)
    }

    /// A number given or not (an option without a default).
    fn optional_number(&self, name: &str) -> Option<f64> {
        self.0.iter().find_map(|(n, v)| match v {
            OptionValue::Number(v) if n == name => Some(*v),
            _ => None,
        })
    }

    /// A count, a natural number or a seed (validated whole and in range).
    fn whole(&self, name: &str, default: u64) -> u64 {
        self.number(name, default as f64) as u64
    }

    fn word(&self, name: &str) -> Option<&str> {
        self.0.iter().find_map(|(n, v)| match v {
            OptionValue::Word(w) if n == name => Some(w.as_str()),
            _ => None,
        })
    }
}

/// A sampler as its directive asks for it, before `check` proves its order or splits chains.
pub(super) enum Requested {
    Spins { gibbs: bool, order: OrderWord },
    Langevin { step: f64 },
    Mala { step: f64 },
    Hmc { step: f64, leapfrog: u64 },
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum OrderWord {
    Checkerboard,
    Sequential,
    Random,
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
