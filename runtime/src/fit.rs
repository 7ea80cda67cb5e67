//! `fit`: choosing params that minimise a loss, with the script's optimizer.

use ndarray::{ArrayD, IxDyn};
use noether_compiler::diag::Failure;
use noether_compiler::model::{NamedKind, Optimizer};

use crate::error::RunError;
use crate::optim::{Adam, Iteration, Lbfgs, Objective};
use crate::simulator::Simulator;

/// Overrides of the script's `fit` options.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FitOptions {
    /// Iterations instead of the script's `iters`.
    pub iters: Option<usize>,
    /// Adam's learning rate instead of the script's `lr`.
    pub lr: Option<f64>,
}

/// The fitted params and how the loss went.
#[derive(Clone, Debug)]
pub struct FitResult {
    /// The loss minimised.
    pub loss: String,
    /// The optimizer's name (`adam`, `lbfgs`).
    pub optimizer: String,
    /// Each fitted param's final value, shaped as declared.
    pub params: Vec<(String, ArrayD<f64>)>,
    /// The loss and gradient norm at every iteration.
    pub history: Vec<Iteration>,
    /// The loss at the fitted params.
    pub final_loss: f64,
    /// Every observable at the fitted params (at the end of a fresh run where the script
    /// integrates or samples): a PINN's error against its exact solution, say.
    pub observed: Vec<(String, f64)>,
}

/// The model as a function of the fitted params, flattened.
struct ModelObjective<'s> {
    sim: &'s mut Simulator,
    loss: String,
    params: Vec<(String, Vec<usize>)>,
    failure: Option<Failure>,
}

impl ModelObjective<'_> {
    fn set(&mut self, x: &[f64]) -> Result<(), Failure> {
        let mut offset = 0;
        for (name, shape) in &self.params {
            let len: usize = shape.iter().product();
            let value = ArrayD::from_shape_vec(IxDyn(shape), x[offset..offset + len].to_vec()).expect("sizes match");
            self.sim.set_param_array(name, &value.view())?;
            offset += len;
        }
        Ok(())
    }
}

impl Objective for ModelObjective<'_> {
    fn value_and_gradient(&mut self, x: &[f64]) -> Result<(f64, Vec<f64>), String> {
        let result = self.set(x).and_then(|()| {
            let names: Vec<&str> = self.params.iter().map(|(n, _)| n.as_str()).collect();
            self.sim.gradient(&self.loss, &names)
        });
        match result {
            Ok(gradient) => {
                let flat = gradient.gradients.iter().flat_map(|(_, g)| g.iter().copied()).collect();
                Ok((gradient.value, flat))
            }
            Err(failure) => {
                let message = failure.to_string();
                self.failure = Some(failure);
                Err(message)
            }
        }
    }

    fn begin_iteration(&mut self, iteration: usize) -> Result<(), String> {
        self.sim.set_iteration(iteration as f64).map_err(|failure| {
            let message = failure.to_string();
            self.failure = Some(failure);
            message
        })
    }
}

impl Simulator {
    /// Runs the script's `fit` directive; the simulator keeps the fitted params.
    pub fn fit(&mut self, options: FitOptions, log: &mut dyn FnMut(&Iteration)) -> Result<FitResult, Failure> {
        let Some(spec) = self.model.checked().fit.clone() else {
            return Err(self.model.fail(RunError::NoFit));
        };
        let checked = self.model.checked();
        let params: Vec<(String, Vec<usize>)> =
            spec.params.iter().map(|p| (checked.field(*p).name.clone(), checked.field(*p).shape.extents())).collect();
        let mut start = Vec::new();
        for (name, _) in &params {
            start.extend(self.field(name)?.iter().copied());
        }
        let mut history = Vec::new();
        let mut record = |it: &Iteration| {
            history.push(it.clone());
            log(it);
        };
        let redraws = self.model.compiled().interface.iteration.is_some();
        if redraws && matches!(spec.optimizer, Optimizer::Lbfgs { .. }) {
            return Err(self.model.fail(RunError::RedrawnUnderLbfgs { span: spec.span }));
        }
        let mut objective =
            ModelObjective { sim: self, loss: spec.loss.clone(), params: params.clone(), failure: None };
        let result = match spec.optimizer {
            Optimizer::Adam { lr, iters, beta1, beta2, eps, lr_end } => {
                let iters = options.iters.unwrap_or(iters as usize);
                let adam = Adam { lr: options.lr.unwrap_or(lr), iters, beta1, beta2, eps, lr_end };
                adam.minimize(&mut objective, start, &mut record)
            }
            Optimizer::Lbfgs { iters, tol, history } => {
                let iters = options.iters.unwrap_or(iters as usize);
                Lbfgs { iters, tol, history: history as usize }.minimize(&mut objective, start, &mut record)
            }
        };
        let x = match result {
            Ok(x) => x,
            Err(message) => {
                return Err(objective
                    .failure
                    .take()
                    .unwrap_or_else(|| objective.sim.model.fail(noether_compiler::diag::Internal { message })));
            }
        };
        objective.set(&x)?;
        // The fitted loss and observables are reported on iteration 0's points.
        objective.sim.set_iteration(0.0)?;
        let final_loss = {
            let refs: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
            objective.sim.gradient(&spec.loss, &refs)?.value
        };
        let fitted = params
            .iter()
            .map(|(name, _)| Ok((name.clone(), objective.sim.field(name)?.to_owned())))
            .collect::<Result<_, Failure>>()?;
        let observed = objective.sim.observed_now()?;
        Ok(FitResult {
            loss: spec.loss,
            optimizer: spec.optimizer.name().into(),
            params: fitted,
            history,
            final_loss,
            observed,
        })
    }

    /// The observables at the current params: after a fresh run where the script has one.
    fn observed_now(&mut self) -> Result<Vec<(String, f64)>, Failure> {
        if !self.model.checked().scalars.iter().any(|s| s.kind == NamedKind::Observe) {
            return Ok(Vec::new());
        }
        if self.schedule().is_some() {
            self.reset()?;
            self.run()?;
        }
        self.scalars_of(NamedKind::Observe)
    }
}
