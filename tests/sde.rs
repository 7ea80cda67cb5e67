//! Stochastic differential equations against exact moments, convergence orders and exact
//! derivatives; the engines draw the same noise.

use noether::Backend;

use crate::support::simulator;

/// Ornstein–Uhlenbeck `dX = -theta X dt + sigma dW` from `x0`, with the exact moments at `T`.
fn ou(paths: usize, steps: u64, dt: f64) -> String {
    format!(
        "const M = {paths}\nparam theta = 1.5\nparam sigma = 0.6\nstate X : [p < M] = 2.0\nnoise W : [p < M]\n\
         d X[p] = -theta * X[p] * dt + sigma * dW[p]\n\
         observe m = mean(p) X[p]\nobserve v = mean(p) (X[p] - mean(q) X[q])^2\n\
         observe q4 = mean(p) (X[p] - mean(q) X[q])^4\n\
         run euler_maruyama(dt = {dt}, steps = {steps}, seed = 11)\n"
    )
}

#[test]
fn ornstein_uhlenbeck_moments_match_the_exact_ones() {
    let (paths, steps, dt) = (40_000, 400, 0.0025);
    let mut sim = simulator(&ou(paths, steps, dt), Backend::Jit);
    sim.run().expect("runs");
    let (theta, sigma, x0, t) = (1.5_f64, 0.6_f64, 2.0_f64, steps as f64 * dt);
    let mean = x0 * (-theta * t).exp();
    let var = sigma * sigma / (2.0 * theta) * (1.0 - (-2.0 * theta * t).exp());
    let (m, v, q4) = (sim.scalar("m").expect("m"), sim.scalar("v").expect("v"), sim.scalar("q4").expect("q4"));
    let n = paths as f64;
    let (se_mean, se_var) = ((v / n).sqrt(), ((q4 - v * v) / n).sqrt());
    assert!((m - mean).abs() < 4.0 * se_mean, "mean {m} vs {mean} (standard error {se_mean})");
    assert!((v - var).abs() < 4.0 * se_var, "variance {v} vs {var} (standard error {se_var})");
    // Not trivially true: the spread is really there, and a sign error in the drift would
    // move the mean by many standard errors.
    assert!(v > 0.5 * var && (x0 - m).abs() > 100.0 * se_mean);
}

/// GBM `dX = lambda X dt + mu X dW` with `B` accumulating the same Brownian path, so the
/// exact solution `exp((lambda - mu^2 / 2) t + mu W(t))` is known path by path.
fn gbm_with_path(integrator: &str, paths: usize, steps: u64, lambda: f64, mu: f64) -> String {
    format!(
        "const M = {paths}\nparam lambda = {lambda}\nparam mu = {mu}\nstate X : [p < M] = 1.0\nstate B : [p < M] = 0\n\
         noise W : [p < M]\nd X[p] = lambda * X[p] * dt + mu * X[p] * dW[p]\nd B[p] = dW[p]\n\
         loss strong = mean(p) abs(X[p] - exp((lambda - mu^2 / 2) * t + mu * B[p]))\nloss weak = mean(p) X[p]\n\
         run {integrator}(dt = {}, steps = {steps}, seed = 5)\n",
        1.0 / steps as f64
    )
}

/// The least-squares slope of `log error` against `log dt`.
fn order(dts: &[f64], errors: &[f64]) -> f64 {
    let xs: Vec<f64> = dts.iter().map(|d| d.ln()).collect();
    let ys: Vec<f64> = errors.iter().map(|e| e.ln()).collect();
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let cov: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let var: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    cov / var
}

#[test]
fn gbm_strong_orders_of_euler_maruyama_and_milstein() {
    let steps = [32_u64, 64, 128, 256, 512];
    let dts: Vec<f64> = steps.iter().map(|s| 1.0 / *s as f64).collect();
    for (integrator, expected) in [("euler_maruyama", 0.5), ("milstein", 1.0)] {
        let errors: Vec<f64> = steps
            .iter()
            .map(|&s| {
                let mut sim = simulator(&gbm_with_path(integrator, 4000, s, 2.0, 1.0), Backend::Jit);
                sim.run().expect("runs");
                sim.scalar("strong").expect("loss")
            })
            .collect();
        let measured = order(&dts, &errors);
        assert!((measured - expected).abs() < 0.1, "{integrator}: strong order {measured}, errors {errors:?}");
    }
}

#[test]
fn gbm_weak_order_of_euler_maruyama_is_one() {
    // E[X_T] is exp(lambda T) exactly and (1 + lambda dt)^N for the scheme, whatever mu is: a
    // small mu keeps the sampling error far below the bias being measured.
    let steps = [8_u64, 16, 32, 64];
    let dts: Vec<f64> = steps.iter().map(|s| 1.0 / *s as f64).collect();
    let errors: Vec<f64> = steps
        .iter()
        .map(|&s| {
            let mut sim = simulator(&gbm_with_path("euler_maruyama", 100_000, s, 1.0, 0.1), Backend::Jit);
            sim.run().expect("runs");
            (sim.scalar("weak").expect("loss") - 1.0_f64.exp()).abs()
        })
        .collect();
    let measured = order(&dts, &errors);
    assert!((measured - 1.0).abs() < 0.1, "weak order {measured}, errors {errors:?}");
}

const GBM: &str = "const M = 20000\nparam lambda = 2.0\nparam mu = 1.0\nstate X : [p < M] = 1.0\nnoise W : [p < M]\n\
                   d X[p] = lambda * X[p] * dt + mu * X[p] * dW[p]\nloss L = mean(p) X[p]\n\
                   observe second = mean(p) X[p]^2\nrun euler_maruyama(dt = 0.002, steps = 500, seed = 3)\n";

#[test]
fn gbm_pathwise_gradient_matches_finite_differences_and_the_exact_derivative() {
    let mut sim = simulator(GBM, Backend::Jit);
    let gradient = sim.gradient("L", &["lambda", "mu"]).expect("gradient");
    let ad = gradient.get("lambda").expect("asked for")[[]];
    // Same seed, same paths: the finite difference differentiates the same function.
    let loss_at = |lambda: f64| {
        let mut sim = simulator(GBM, Backend::Jit);
        sim.set_param("lambda", lambda).expect("param");
        sim.run().expect("runs");
        sim.scalar("L").expect("loss")
    };
    let h = 1e-5;
    let fd = (loss_at(2.0 + h) - loss_at(2.0 - h)) / (2.0 * h);
    assert!((ad - fd).abs() < 1e-7 * fd.abs(), "pathwise {ad} vs finite difference {fd}");

    // Per path, dX_T/dlambda is close to T X_T, so the estimator's spread is about T sd(X_T).
    sim.run().expect("runs");
    let (mean, second) = (sim.scalar("L").expect("loss"), sim.scalar("second").expect("observed"));
    let standard_error = ((second - mean * mean) / 20_000.0).sqrt();
    let exact = 2.0_f64.exp();
    assert!((ad - exact).abs() < 4.0 * standard_error, "{ad} vs T e^(lambda T) = {exact} (se {standard_error})");
    // The volatility's pathwise derivative of the mean is zero in expectation.
    let d_mu = gradient.get("mu").expect("asked for")[[]];
    assert!(d_mu.abs() < 4.0 * standard_error * 2.0, "d/dmu {d_mu}");
}

/// Both engines draw the same noise: the same paths bit for bit, and the same gradients.
#[test]
fn engines_draw_identical_noise_and_gradients() {
    let text = "const M = 37\nparam k = 0.7\nstate X : [p < M] = normal(9, p)\nstate Y : [p < M, c < 2] = uniform(9, p, c)\n\
                noise W : [p < M]\nd X[p] = -k * X[p] * dt + 0.3 * sin(X[p]) * dW[p]\n\
                d Y[p, c] = -Y[p, c] * dt + 0.2 * dW[p]\nloss L = mean(p) X[p]^2 + sum(p, c) Y[p, c]\n\
                run milstein(dt = 0.05, steps = 30, seed = 4)\n";
    let run = |backend| {
        let mut sim = simulator(text, backend);
        sim.run().expect("runs");
        let states: Vec<u64> = ["X", "Y"]
            .iter()
            .flat_map(|s| sim.state(s).expect("state").iter().map(|v| v.to_bits()).collect::<Vec<_>>())
            .collect();
        let gradient = sim.gradient("L", &["k", "X"]).expect("gradient");
        let grads: Vec<u64> = gradient.gradients.iter().flat_map(|(_, g)| g.iter().map(|v| v.to_bits())).collect();
        (states, grads)
    };
    assert_eq!(run(Backend::Interp), run(Backend::Jit));
}

/// `var` is the population variance, computed stably around the mean (a large offset does not
/// wash it out), with filters, and differentiable.
#[test]
fn var_reduction_is_the_centred_second_moment() {
    let text = "state X : [p < 4, k < 2] = 1e8 + p + 10 * k\nd/dt X = 0\nobserve v = var(p) X[p, 0]\n\
                observe w = var(p, k | p > 1) X[p, k]\nloss L = var(p, k) X[p, k]\nrun euler(dt = 1, steps = 1)\n";
    for backend in [Backend::Interp, Backend::Jit] {
        let mut sim = simulator(text, backend);
        sim.run().expect("runs");
        // 0, 1, 2, 3: variance 1.25; {2, 3, 12, 13}: mean 7.5, variance 25.25.
        assert_eq!(sim.scalar("v").expect("v"), 1.25);
        assert_eq!(sim.scalar("w").expect("w"), 25.25);
        let gradient = sim.gradient("L", &["X"]).expect("gradient");
        // d var / d x_i = 2 (x_i - mean) / n, mean 1e8 + 6.5 over n = 8.
        let g = gradient.get("X").expect("asked for");
        for p in 0..4 {
            for k in 0..2 {
                let expected = 2.0 * (p as f64 + 10.0 * k as f64 - 6.5) / 8.0;
                assert!((g[[p, k]] - expected).abs() < 1e-9, "{p}, {k}: {} vs {expected}", g[[p, k]]);
            }
        }
    }
}

/// Several noises drive one equation independently; one noise drives several components alike.
#[test]
fn several_noises_add_and_a_shared_noise_moves_components_together() {
    let text = "const M = 20000\nstate X : [p < M] = 0\nstate Y : [p < M, k < 3] = 0\nnoise A : [p < M]\nnoise B : [p < M]\n\
                d X[p] = dA[p] + 2 * dB[p]\nd Y[p, k] = (k + 1) * dA[p]\n\
                observe vx = var(p) X[p]\nobserve spread = mean(p) abs(Y[p, 2] - 3 * Y[p, 0])\n\
                observe c = mean(p) X[p] * Y[p, 0]\nrun euler_maruyama(dt = 0.01, steps = 100, seed = 6)\n";
    let mut sim = simulator(text, Backend::Jit);
    sim.run().expect("runs");
    // Var[A + 2B] = (1 + 4) t at t = 1; Cov[A + 2B, A] = t. A Gaussian's variance has standard
    // error var * sqrt(2 / M); the covariance's is below sqrt(5 / M).
    let (vx, c) = (sim.scalar("vx").expect("vx"), sim.scalar("c").expect("c"));
    assert!((vx - 5.0).abs() < 4.0 * 5.0 * (2.0 / 20_000.0_f64).sqrt(), "variance {vx}, expected 5");
    assert!((c - 1.0).abs() < 4.0 * (5.0 / 20_000.0_f64).sqrt(), "covariance {c}, expected 1");
    assert!(sim.scalar("spread").expect("spread") < 1e-12, "components of one noise move together");
}

#[test]
fn milstein_pathwise_gradient_matches_finite_differences() {
    let text = GBM.replace("const M = 20000", "const M = 500").replace("euler_maruyama(", "milstein(");
    let gradient = simulator(&text, Backend::Interp).gradient("L", &["lambda", "mu"]).expect("gradient");
    for (name, value) in [("lambda", 2.0), ("mu", 1.0)] {
        let ad = gradient.get(name).expect("asked for")[[]];
        let loss_at = |v: f64| {
            let mut sim = simulator(&text, Backend::Jit);
            sim.set_param(name, v).expect("param");
            sim.run().expect("runs");
            sim.scalar("L").expect("loss")
        };
        let h = 1e-6;
        let fd = (loss_at(value + h) - loss_at(value - h)) / (2.0 * h);
        assert!((ad - fd).abs() < 1e-7 * fd.abs().max(1.0), "d/d{name}: pathwise {ad} vs finite difference {fd}");
    }
}
