//! Fractional Brownian motion (`noise W : [...] fractional(hurst = H)`) against its exact
//! variance and increment covariance, ordinary noise at H = 1/2, finite differences, and the
//! fractional Ornstein–Uhlenbeck stationary variance.

use noether::Backend;

use crate::support::simulator;

/// `dX = dW` with `W` fractional: X is B_H itself, sampled on `steps` steps of `1 / steps`.
fn motion(hurst: f64, paths: usize, steps: u64) -> String {
    format!(
        "const M = {paths}\nnoise W : [p < M] fractional(hurst = {hurst})\nstate X : [p < M] = 0\n\
         d X[p] = 0 * dt + dW[p]\nrun euler_maruyama(dt = {}, steps = {steps}, seed = 5)\n",
        1.0 / steps as f64
    )
}

/// The states after every step, path-major: `paths[p][n]` is path `p` at step `n + 1`.
fn paths(text: &str, backend: Backend) -> Vec<Vec<f64>> {
    let mut sim = simulator(text, backend);
    sim.reset().expect("resets");
    let steps = sim.settings().expect("integrates").steps;
    let mut rows = Vec::new();
    for _ in 0..steps {
        sim.step().expect("steps");
        rows.push(sim.state("X").expect("X").iter().copied().collect::<Vec<f64>>());
    }
    (0..rows[0].len()).map(|p| rows.iter().map(|row| row[p]).collect()).collect()
}

fn mean_and_error(samples: &[f64]) -> (f64, f64) {
    let n = samples.len() as f64;
    let mean = samples.iter().sum::<f64>() / n;
    let var = samples.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

fn autocovariance(hurst: f64, k: f64) -> f64 {
    0.5 * ((k + 1.0).powf(2.0 * hurst) - 2.0 * k.powf(2.0 * hurst) + (k - 1.0).abs().powf(2.0 * hurst))
}

#[test]
fn fractional_motion_has_the_variance_and_increment_covariance_of_fbm() {
    let (count, steps) = (3000, 32u64);
    let dt = 1.0 / steps as f64;
    for hurst in [0.3, 0.5, 0.7] {
        let paths = paths(&motion(hurst, count, steps), Backend::Jit);
        // Var B_H(t) = t^2H at a few times.
        for n in [1usize, 8, 32] {
            let squares: Vec<f64> = paths.iter().map(|p| p[n - 1] * p[n - 1]).collect();
            let (var, se) = mean_and_error(&squares);
            let exact = (n as f64 * dt).powf(2.0 * hurst);
            assert!((var - exact).abs() < 4.0 * se, "H = {hurst}: Var B_H({n} dt) = {var}, exact {exact} (se {se})");
        }
        // The increments' autocovariance over unit steps: each path's average over the run
        // (paths are independent, so their spread gives the standard error).
        let scale = dt.powf(2.0 * hurst);
        for lag in 0..4usize {
            let per_path: Vec<f64> = paths
                .iter()
                .map(|p| {
                    let increments: Vec<f64> =
                        (0..p.len()).map(|n| p[n] - if n == 0 { 0.0 } else { p[n - 1] }).collect();
                    let pairs = increments.len() - lag;
                    (0..pairs).map(|n| increments[n] * increments[n + lag]).sum::<f64>() / (pairs as f64 * scale)
                })
                .collect();
            let (estimate, se) = mean_and_error(&per_path);
            let exact = autocovariance(hurst, lag as f64);
            assert!(
                (estimate - exact).abs() < 4.0 * se,
                "H = {hurst}, lag {lag}: autocovariance {estimate}, exact {exact} (se {se})"
            );
        }
    }
    // Not trivially true: at lag 1 the three exponents differ by many standard errors.
    assert!(autocovariance(0.3, 1.0) < -0.2 && autocovariance(0.7, 1.0) > 0.3);
}

#[test]
fn hurst_one_half_is_the_ordinary_brownian_motion_bit_for_bit() {
    let fractional = motion(0.5, 50, 20);
    let ordinary = fractional.replace(" fractional(hurst = 0.5)", "");
    assert_ne!(fractional, ordinary);
    for backend in [Backend::Interp, Backend::Jit] {
        assert_eq!(paths(&fractional, backend), paths(&ordinary, backend), "{backend:?}");
    }
}

#[test]
fn engines_read_the_same_increments() {
    let text = motion(0.3, 41, 17);
    assert_eq!(paths(&text, Backend::Interp), paths(&text, Backend::Jit));
}

/// The fractional Ornstein–Uhlenbeck process from 0, the noise multiplied by a function of the
/// state so that the pathwise gradient has work to do.
const FOU: &str = "const M = 400\nparam theta = 1.2\nparam sigma = 0.5\n\
    noise W : [p < M] fractional(hurst = 0.7)\nstate X : [p < M] = 0.3\n\
    d X[p] = -theta * X[p] * dt + sigma * (1 + 0.2 * sin(X[p])) * dW[p]\n\
    loss L = mean(p) X[p]^2\nrun euler_maruyama(dt = 0.02, steps = 60, seed = 9)\n";

#[test]
fn gradients_through_a_fractional_sde_equal_finite_differences_with_the_same_seed() {
    for backend in [Backend::Interp, Backend::Jit] {
        let mut sim = simulator(FOU, backend);
        let gradient = sim.gradient("L", &["theta", "sigma"]).expect("gradient");
        let checks = sim.check_gradient(&gradient).expect("finite differences");
        assert_eq!(checks.len(), 2);
        for check in checks {
            assert!(check.passes(), "{backend:?}: {check:?}");
            assert!(check.autodiff.abs() > 1e-3, "{check:?}");
        }
    }
}

#[test]
fn a_step_past_the_drawn_run_is_refused() {
    let mut sim = simulator(&motion(0.7, 4, 3), Backend::Interp);
    sim.run().expect("runs");
    let failure = sim.step().expect_err("a fourth step has no increments");
    assert_eq!(failure.codes(), ["noether::run::bad_setting"]);
    sim.set_steps(4).expect("steps");
    sim.run().expect("the longer run draws again");
    assert_eq!(sim.steps_done(), 4);
}

/// `fractional_ou.noe`'s variance after its run against the exact variance of its Euler
/// recursion `X_(n+1) = a X_n + sigma dB_n` (a = 1 - theta dt) from 0 after N steps,
/// `sigma^2 dt^2H sum_(i,j < N) a^i a^j γ(|i - j|)`, and that against the continuous stationary
/// value `sigma^2 theta^-2H H Γ(2H)` (Cheridito, Kawaguchi & Maejima 2003).
#[test]
fn fractional_ou_settles_at_its_exact_stationary_variance() {
    let (paths, steps, dt) = (4000.0_f64, 1000usize, 0.01_f64);
    // H Γ(2H), from Γ(1.4) and Γ(0.6).
    for (hurst, h_gamma) in [(0.7, 0.7 * 0.887_263_817_503_075_4), (0.3, 0.3 * 1.489_192_248_812_817)] {
        let model = noether::Model::from_file_with(
            "examples/fractional_ou.noe",
            &[noether::Override { name: "H".into(), value: hurst }],
        )
        .unwrap_or_else(|f| panic!("{f:?}"));
        let mut sim = model.simulator(Backend::Jit).unwrap_or_else(|f| panic!("{f:?}"));
        sim.run().unwrap_or_else(|f| panic!("{f:?}"));
        let var = *sim.observable("var_X").expect("observed").last().expect("a series");
        let a = 1.0 - dt;
        let gamma: Vec<f64> = (0..steps).map(|k| autocovariance(hurst, k as f64)).collect();
        let powers: Vec<f64> = (0..steps).map(|i| a.powi(i as i32)).collect();
        let mut sum = 0.0;
        for i in 0..steps {
            for j in 0..steps {
                sum += powers[i] * powers[j] * gamma[i.abs_diff(j)];
            }
        }
        let euler = dt.powf(2.0 * hurst) * sum;
        let se = euler * (2.0 / paths).sqrt();
        assert!((var - euler).abs() < 4.0 * se, "H = {hurst}: variance {var}, Euler's exact {euler} (se {se})");
        assert!((euler - h_gamma).abs() < 0.01 * h_gamma, "H = {hurst}: Euler {euler} vs stationary {h_gamma}");
        // Not the ordinary OU's 1/2.
        assert!((var - 0.5).abs() > 4.0 * se, "H = {hurst}: {var}");
    }
}

/// The increments table (steps x elements numbers) counts against the memory limit: a run that
/// fits without it is refused, naming the noise, when the table would pass the limit; a longer
/// run is refused when it is set, before anything is drawn.
#[test]
fn the_increments_table_counts_against_the_memory_limit() {
    let text = motion(0.7, 1000, 200);
    let model = crate::support::model(&text);
    let table = 200 * 1000 * 8;
    let fits = noether::EngineOptions { memory_limit: Some(model.run_bytes() + 2 * table), ..Default::default() };
    let mut sim = model.simulator_with(Backend::Interp, fits).unwrap_or_else(|f| panic!("{f:?}"));
    sim.set_steps(20_000).expect("a setting");
    let failure = sim.run().expect_err("100 times the table");
    assert_eq!(failure.codes(), ["noether::run::too_large"]);
    let tight = noether::EngineOptions { memory_limit: Some(model.run_bytes() + table / 2), ..Default::default() };
    let Err(refused) = model.simulator_with(Backend::Interp, tight) else { panic!("the table does not fit") };
    assert_eq!(refused.codes(), ["noether::run::too_large"]);
    assert!(refused.render_plain(200).contains("noise W"), "{}", refused.render_plain(200));
}
