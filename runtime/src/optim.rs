//! Optimizers for `fit`: Adam and L-BFGS over the flattened values of the fitted params.
//!
//! Both minimise a function they can only evaluate with its gradient (`value_and_gradient`),
//! which for `fit` is one forward run plus one reverse run of the model.

/// A function and its gradient at a point.
pub trait Objective {
    /// The value at `x` and its gradient there; `Err` stops the optimizer with that message.
    fn value_and_gradient(&mut self, x: &[f64]) -> Result<(f64, Vec<f64>), String>;

    /// Called by a stochastic optimizer (Adam) before iteration `iteration` (from 1): a loss
    /// over mini-batches draws the next batch from it.
    fn begin_iteration(&mut self, _iteration: usize) -> Result<(), String> {
        Ok(())
    }
}

/// One line of the optimisation log.
#[derive(Clone, Debug, PartialEq)]
pub struct Iteration {
    /// Counted from 0.
    pub iteration: usize,
    /// The loss at this iteration's point.
    pub loss: f64,
    /// The Euclidean norm of the loss's gradient there.
    pub gradient_norm: f64,
}

/// Adam: gradient steps scaled by running moment estimates; robust on noisy losses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Adam {
    /// Learning rate: the size of a step.
    pub lr: f64,
    /// Iterations to make.
    pub iters: usize,
    /// Decay of the first-moment (mean) estimate.
    pub beta1: f64,
    /// Decay of the second-moment estimate.
    pub beta2: f64,
    /// Added to the second moment's root, so a flat direction does not divide by zero.
    pub eps: f64,
    /// The learning rate at the last iteration, reached by a cosine decay from `lr` (small
    /// final steps average out a noisy loss's gradient noise); `None` keeps `lr`.
    pub lr_end: Option<f64>,
}

impl Adam {
    /// Adam with the usual betas (0.9, 0.999) and eps (1e-8).
    pub fn new(lr: f64, iters: usize) -> Adam {
        Adam { lr, iters, beta1: 0.9, beta2: 0.999, eps: 1e-8, lr_end: None }
    }

    /// The learning rate of iteration `t` (from 1): `lr`, or the cosine decay from `lr` at the
    /// first iteration to `lr_end` at the last.
    pub fn rate(&self, t: usize) -> f64 {
        match self.lr_end {
            Some(end) if self.iters > 1 => {
                let progress = (t - 1) as f64 / (self.iters - 1) as f64;
                end + (self.lr - end) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }
            _ => self.lr,
        }
    }

    /// Minimises from `x`, calling `log` after every evaluation; returns the last point.
    pub fn minimize(
        &self,
        objective: &mut dyn Objective,
        mut x: Vec<f64>,
        log: &mut dyn FnMut(&Iteration),
    ) -> Result<Vec<f64>, String> {
        let (mut m, mut v) = (vec![0.0; x.len()], vec![0.0; x.len()]);
        for t in 1..=self.iters {
            objective.begin_iteration(t)?;
            let (loss, g) = objective.value_and_gradient(&x)?;
            log(&Iteration { iteration: t, loss, gradient_norm: norm(&g) });
            let (c1, c2) = (1.0 - self.beta1.powi(t as i32), 1.0 - self.beta2.powi(t as i32));
            let lr = self.rate(t);
            for k in 0..x.len() {
                m[k] = self.beta1 * m[k] + (1.0 - self.beta1) * g[k];
                v[k] = self.beta2 * v[k] + (1.0 - self.beta2) * g[k] * g[k];
                x[k] -= lr * (m[k] / c1) / ((v[k] / c2).sqrt() + self.eps);
            }
        }
        Ok(x)
    }
}

/// L-BFGS: quasi-Newton steps from recent gradients; fast on smooth deterministic losses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lbfgs {
    /// Iterations at most.
    pub iters: usize,
    /// Stop once the gradient norm is below this.
    pub tol: f64,
    /// How many recent steps approximate the inverse Hessian.
    pub history: usize,
}

impl Lbfgs {
    /// L-BFGS with a tolerance of 1e-10 and 10 remembered steps.
    pub fn new(iters: usize) -> Lbfgs {
        Lbfgs { iters, tol: 1e-10, history: 10 }
    }

    /// Minimises from `x` with the two-loop recursion and a backtracking (Armijo) line search;
    /// stops early at a gradient below `tol` or when no step lowers the loss.
    pub fn minimize(
        &self,
        objective: &mut dyn Objective,
        mut x: Vec<f64>,
        log: &mut dyn FnMut(&Iteration),
    ) -> Result<Vec<f64>, String> {
        let (mut loss, mut g) = objective.value_and_gradient(&x)?;
        let mut memory: std::collections::VecDeque<(Vec<f64>, Vec<f64>, f64)> = std::collections::VecDeque::new();
        for iteration in 1..=self.iters {
            log(&Iteration { iteration, loss, gradient_norm: norm(&g) });
            if norm(&g) <= self.tol {
                break;
            }
            let direction = two_loop(&g, &memory);
            let slope = dot(&g, &direction);
            let direction = if slope < 0.0 { direction } else { g.iter().map(|v| -v).collect() };
            let slope = dot(&g, &direction);
            // First step: scale to a unit move; later ones trust the curvature estimate.
            let mut step = if memory.is_empty() { 1.0 / norm(&g).max(1e-300) } else { 1.0 };
            let mut accepted = None;
            for _ in 0..40 {
                let trial: Vec<f64> = x.iter().zip(&direction).map(|(a, d)| a + step * d).collect();
                let (trial_loss, trial_g) = objective.value_and_gradient(&trial)?;
                if trial_loss.is_finite() && trial_loss <= loss + 1e-4 * step * slope {
                    accepted = Some((trial, trial_loss, trial_g));
                    break;
                }
                step *= 0.5;
            }
            // No step that lowers the loss: converged to rounding (or stuck), not worth more iterations.
            let Some((next, next_loss, next_g)) = accepted.filter(|(_, next_loss, _)| *next_loss < loss) else { break };
            let s: Vec<f64> = next.iter().zip(&x).map(|(a, b)| a - b).collect();
            let y: Vec<f64> = next_g.iter().zip(&g).map(|(a, b)| a - b).collect();
            let sy = dot(&s, &y);
            if sy > 1e-12 * norm(&s) * norm(&y) {
                memory.push_back((s, y, 1.0 / sy));
                if memory.len() > self.history {
                    memory.pop_front();
                }
            }
            (x, loss, g) = (next, next_loss, next_g);
        }
        Ok(x)
    }
}

/// The L-BFGS search direction `-H g` from the stored steps.
fn two_loop(g: &[f64], memory: &std::collections::VecDeque<(Vec<f64>, Vec<f64>, f64)>) -> Vec<f64> {
    let mut q = g.to_vec();
    let mut alphas = Vec::with_capacity(memory.len());
    for (s, y, rho) in memory.iter().rev() {
        let alpha = rho * dot(s, &q);
        q.iter_mut().zip(y).for_each(|(q, y)| *q -= alpha * y);
        alphas.push(alpha);
    }
    if let Some((s, y, _)) = memory.back() {
        let gamma = dot(s, y) / dot(y, y);
        q.iter_mut().for_each(|q| *q *= gamma);
    }
    for ((s, y, rho), alpha) in memory.iter().zip(alphas.iter().rev()) {
        let beta = rho * dot(y, &q);
        q.iter_mut().zip(s).for_each(|(q, s)| *q += (alpha - beta) * s);
    }
    q.iter().map(|v| -v).collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The Euclidean norm.
pub fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Rosenbrock function, minimum at (1, 1).
    struct Rosenbrock;

    impl Objective for Rosenbrock {
        fn value_and_gradient(&mut self, x: &[f64]) -> Result<(f64, Vec<f64>), String> {
            let (a, b) = (x[0], x[1]);
            let value = (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2);
            Ok((value, vec![-2.0 * (1.0 - a) - 400.0 * a * (b - a * a), 200.0 * (b - a * a)]))
        }
    }

    #[test]
    fn lbfgs_finds_the_rosenbrock_minimum() {
        let x = Lbfgs::new(200).minimize(&mut Rosenbrock, vec![-1.2, 1.0], &mut |_| {}).expect("runs");
        assert!((x[0] - 1.0).abs() < 1e-6 && (x[1] - 1.0).abs() < 1e-6, "{x:?}");
    }

    #[test]
    fn adam_descends_a_quadratic() {
        struct Bowl;
        impl Objective for Bowl {
            fn value_and_gradient(&mut self, x: &[f64]) -> Result<(f64, Vec<f64>), String> {
                Ok((x[0].powi(2) + 10.0 * x[1].powi(2), vec![2.0 * x[0], 20.0 * x[1]]))
            }
        }
        let x = Adam::new(0.05, 2000).minimize(&mut Bowl, vec![3.0, -2.0], &mut |_| {}).expect("runs");
        assert!(x[0].abs() < 1e-3 && x[1].abs() < 1e-3, "{x:?}");
    }

    #[test]
    fn adam_decays_its_rate_along_a_cosine_to_lr_end() {
        let adam = Adam { lr_end: Some(0.001), ..Adam::new(0.1, 101) };
        assert_eq!(adam.rate(1), 0.1);
        assert!((adam.rate(51) - 0.0505).abs() < 1e-15, "halfway: the mean of the two");
        assert!((adam.rate(101) - 0.001).abs() < 1e-15);
        assert!((1..101).all(|t| adam.rate(t + 1) < adam.rate(t)));
        assert_eq!(Adam::new(0.1, 101).rate(77), 0.1, "no lr_end: constant");
    }

    /// On a noisy gradient a constant rate leaves the iterate jittering at its scale; the decayed
    /// rate settles it.
    #[test]
    fn a_decayed_rate_settles_a_noisy_descent() {
        struct Noisy(u64);
        impl Objective for Noisy {
            fn value_and_gradient(&mut self, x: &[f64]) -> Result<(f64, Vec<f64>), String> {
                // A deterministic, zero-mean disturbance of the gradient of x^2.
                self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let noise = (self.0 >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
                Ok((x[0] * x[0], vec![2.0 * x[0] + 4.0 * noise]))
            }
        }
        let constant = Adam::new(0.05, 3000).minimize(&mut Noisy(1), vec![2.0], &mut |_| {}).expect("runs");
        let decayed = Adam { lr_end: Some(1e-4), ..Adam::new(0.05, 3000) }
            .minimize(&mut Noisy(1), vec![2.0], &mut |_| {})
            .expect("runs");
        assert!(decayed[0].abs() < 0.2 * constant[0].abs().max(1e-3), "decayed {decayed:?}, constant {constant:?}");
    }
}
