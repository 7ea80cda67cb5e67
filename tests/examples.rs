//! The shipped examples compile to the IR in their snapshots and run to physically sensible
//! results (on reduced sizes, to keep the suite fast).

use std::f64::consts::PI;

use noether::runtime::FitOptions;
use noether::{Backend, Model, Override, Source};

/// Runs the example `name` with `overrides`, after `configure` (the steps or sweeps) on the JIT.
fn run_with(
    name: &str,
    overrides: &[(&str, f64)],
    configure: impl FnOnce(&mut noether::Simulator) -> Result<(), noether::Failure>,
) -> noether::Simulator {
    let overrides: Vec<Override> = overrides.iter().map(|(n, v)| Override { name: n.to_string(), value: *v }).collect();
    let model = Model::from_file_with(format!("examples/{name}.noe"), &overrides).unwrap_or_else(|f| panic!("{f:?}"));
    let mut sim = model.simulator(Backend::Jit).unwrap_or_else(|f| panic!("{f:?}"));
    configure(&mut sim).unwrap_or_else(|f| panic!("{f:?}"));
    sim.run().unwrap_or_else(|f| panic!("{name}: {f:?}"));
    sim
}

fn run(name: &str, overrides: &[(&str, f64)], steps: u64) -> noether::Simulator {
    run_with(name, overrides, |sim| sim.set_steps(steps))
}

#[test]
fn example_ir_snapshots() {
    for name in ["heat", "wave", "burgers", "gray_scott"] {
        let model = Model::from_file(format!("examples/{name}.noe")).unwrap_or_else(|f| panic!("{f:?}"));
        insta::assert_snapshot!(format!("example_ir_{name}"), noether::compiler::ir::print(&model.compiled().program));
    }
}

#[test]
fn heat_conserves_total_heat() {
    let sim = run("heat", &[("N", 32.0)], 50);
    let total = sim.observable("total").expect("observed");
    assert_eq!(total.len(), 51);
    for value in total {
        assert!((value - total[0]).abs() <= 1e-12 * total[0].abs(), "{value} vs {}", total[0]);
    }
}

#[test]
fn wave_energy_is_nearly_conserved_by_rk4() {
    let sim = run("wave", &[("N", 50.0)], 100);
    let energy = sim.observable("E").expect("observed");
    let drift = (energy[energy.len() - 1] - energy[0]).abs() / energy[0];
    assert!(drift < 1e-3, "relative energy drift {drift}");
    assert!(drift > 0.0, "rk4 is not exactly conservative; a zero drift means nothing moved");
}

#[test]
fn burgers_front_decays_and_mean_stays() {
    let sim = run("burgers", &[("N", 64.0)], 300);
    let peak = sim.observable("peak").expect("observed");
    let mean = sim.observable("mean_u").expect("observed");
    assert!(peak[peak.len() - 1] < peak[0]);
    assert!((mean[mean.len() - 1] - mean[0]).abs() < 0.05);
}

#[test]
fn gray_scott_stays_bounded() {
    let sim = run("gray_scott", &[("N", 32.0)], 200);
    let u = sim.state("u").expect("state");
    assert!(u.iter().all(|x| x.is_finite() && *x >= -1e-9 && *x <= 1.0 + 1e-9));
    let mean_v = sim.observable("mean_v").expect("observed");
    assert!(mean_v.iter().all(|v| *v > 0.0 && *v < 1.0));
}

/// The example's script at a reduced size, with a data file made by the script itself run at
/// `truth` (a zero placeholder lets it load until then): the inverse problem's own observation.
fn own_observation(
    name: &str,
    data: &str,
    state: &str,
    size: &[(&str, f64)],
    truth: &[(&str, f64)],
    steps: u64,
) -> (tempfile::TempDir, Model) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let text = std::fs::read_to_string(format!("examples/{name}.noe")).expect("the example exists");
    let load = |values: &[(&str, f64)]| {
        let overrides: Vec<Override> =
            values.iter().map(|(n, v)| Override { name: n.to_string(), value: *v }).collect();
        Model::from_source(Source::new(format!("{name}.noe"), text.as_str()), &overrides, dir.path())
            .unwrap_or_else(|f| panic!("{f:?}"))
    };
    let n = size[0].1 as usize;
    ndarray_npy::write_npy(dir.path().join(data), &ndarray::Array2::<f64>::zeros((n, n))).expect("written");
    let at_truth: Vec<(&str, f64)> = size.iter().chain(truth).copied().collect();
    let mut sim = load(&at_truth).simulator(Backend::Jit).unwrap_or_else(|f| panic!("{f:?}"));
    sim.set_steps(steps).unwrap_or_else(|f| panic!("{f:?}"));
    sim.run().unwrap_or_else(|f| panic!("{f:?}"));
    let observed = sim.state(state).expect("a state").to_owned();
    ndarray_npy::write_npy(dir.path().join(data), &observed).expect("written");
    let model = load(size);
    (dir, model)
}

#[test]
fn fisher_kpp_fit_recovers_the_growth_params() {
    let (diffusivity, growth) = (0.7, 0.2);
    let (_dir, model) = own_observation(
        "fisher_kpp",
        "fisher_kpp_obs.npy",
        "c",
        &[("N", 32.0)],
        &[("D", diffusivity), ("rho", growth)],
        150,
    );
    let mut sim = model.simulator(Backend::Jit).unwrap_or_else(|f| panic!("{f:?}"));
    sim.set_steps(150).unwrap_or_else(|f| panic!("{f:?}"));
    let fitted = sim.fit(FitOptions::default(), &mut |_| {}).unwrap_or_else(|f| panic!("{f:?}"));
    let value = |name: &str| fitted.params.iter().find(|(n, _)| n == name).expect("fitted").1[[]];
    assert!(fitted.history[0].loss > 1.0, "the fit starts far off: {}", fitted.history[0].loss);
    for (name, truth) in [("D", diffusivity), ("rho", growth)] {
        let error = (value(name) - truth).abs() / truth;
        assert!(error < 0.01, "{name} = {} against {truth}", value(name));
    }
}

/// The shipped observation is the script's own output at the values its header names.
#[test]
fn fisher_kpp_observation_comes_from_its_stated_params() {
    let mut sim = run("fisher_kpp", &[("D", 0.7), ("rho", 0.2)], 500);
    assert!(sim.scalar("misfit").expect("a loss") < 1e-20);
}

/// The two hot spots `heat_source_obs.npy` was made from (the example's header).
fn hot_spots(i: f64, j: f64) -> f64 {
    (-((i - 14.0).powi(2) + (j - 18.0).powi(2)) / 8.0).exp()
        + 0.6 * (-((i - 30.0).powi(2) + (j - 32.0).powi(2)) / 12.0).exp()
}

#[test]
fn heat_source_observation_comes_from_the_stated_hot_spots() {
    let model = Model::from_file("examples/heat_source.noe").unwrap_or_else(|f| panic!("{f:?}"));
    let mut sim = model.simulator(Backend::Jit).unwrap_or_else(|f| panic!("{f:?}"));
    let truth = ndarray::Array2::from_shape_fn((48, 48), |(i, j)| hot_spots(i as f64, j as f64)).into_dyn();
    sim.set_param_array("u0", &truth.view()).unwrap_or_else(|f| panic!("{f:?}"));
    sim.run().unwrap_or_else(|f| panic!("{f:?}"));
    let (u, obs) = (sim.state("u").expect("a state"), sim.field("obs").expect("data"));
    let worst = u.iter().zip(obs.iter()).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(worst < 1e-14, "{worst}");
}

/// Fitting the initial temperature finds both hot spots where they were, at roughly their
/// strength: what survives of them after the heat has spread.
#[test]
fn heat_source_fit_finds_both_hot_spots() {
    let model = Model::from_file("examples/heat_source.noe").unwrap_or_else(|f| panic!("{f:?}"));
    let mut sim = model.simulator(Backend::Jit).unwrap_or_else(|f| panic!("{f:?}"));
    let fitted = sim.fit(FitOptions::default(), &mut |_| {}).unwrap_or_else(|f| panic!("{f:?}"));
    let u0 = &fitted.params[0].1;
    let peak_in = |rows: std::ops::Range<usize>| {
        let (mut best, mut at) = (f64::MIN, (0, 0));
        for i in rows {
            for j in 0..48 {
                if u0[[i, j]] > best {
                    (best, at) = (u0[[i, j]], (i, j));
                }
            }
        }
        (at, best)
    };
    let ((first, a), (second, b)) = (peak_in(0..24), peak_in(24..48));
    assert_eq!((first, second), ((14, 18), (30, 32)), "peaks {a} and {b}");
    assert!((a - 1.0).abs() < 0.3 && (b - 0.6).abs() < 0.2, "peak heights {a} and {b}");
    let (mut error, mut size) = (0.0, 0.0);
    for ((i, j), value) in u0.indexed_iter().map(|(ix, v)| ((ix[0], ix[1]), *v)) {
        let truth = hot_spots(i as f64, j as f64);
        error += (value - truth).powi(2);
        size += truth.powi(2);
    }
    let relative = (error / size).sqrt();
    assert!(relative < 0.2, "relative L2 error of the fitted initial state {relative}");
    assert!(fitted.final_loss < 1e-3 * fitted.history[0].loss);
}

#[test]
fn ou_ensemble_relaxes_to_its_exact_moments() {
    let sim = run("ou", &[("M", 20_000.0)], 400);
    let (mean, var) = (sim.observable("mean_X").expect("observed"), sim.observable("var_X").expect("observed"));
    let t = 2.0_f64;
    let (exact_mean, exact_var) = (2.0 * (-1.5 * t).exp(), 0.36 / 3.0 * (1.0 - (-3.0 * t).exp()));
    let last = mean.len() - 1;
    assert!((mean[last] - exact_mean).abs() < 4.0 * (var[last] / 20_000.0).sqrt(), "{} vs {exact_mean}", mean[last]);
    // A Gaussian's variance has standard error var * sqrt(2 / M).
    assert!(
        (var[last] - exact_var).abs() < 4.0 * exact_var * (2.0 / 20_000.0_f64).sqrt(),
        "{} vs {exact_var}",
        var[last]
    );
    assert_eq!(var[0], 0.0, "every path starts at x0");
}

#[test]
fn kuramoto_synchronises_above_the_critical_coupling_only() {
    let order = |coupling: f64| {
        run("kuramoto", &[("N", 1000.0), ("K", coupling)], 1500).observable("r").expect("observed").to_vec()
    };
    let strong = order(2.5);
    assert!(strong[0] < 0.1, "random phases start incoherent: {}", strong[0]);
    assert!(strong[strong.len() - 1] > 0.9, "K = 2.5 synchronises: {}", strong[strong.len() - 1]);
    let weak = order(0.3);
    let late = &weak[weak.len() / 2..];
    assert!(
        late.iter().all(|r| *r < 0.12),
        "K = 0.3 stays incoherent: max {}",
        late.iter().fold(0.0_f64, |m, r| m.max(*r))
    );
}

#[test]
fn cbo_finds_the_rastrigin_global_minimum_from_a_spread_start() {
    for seed in [1_u64, 2, 3] {
        let overrides: Vec<Override> = vec![Override { name: "N".into(), value: 300.0 }];
        let model = Model::from_file_with("examples/cbo.noe", &overrides).unwrap_or_else(|f| panic!("{f:?}"));
        let mut sim = model.simulator(Backend::Jit).unwrap_or_else(|f| panic!("{f:?}"));
        sim.set_seed(seed).unwrap_or_else(|f| panic!("{f:?}"));
        sim.run().unwrap_or_else(|f| panic!("{f:?}"));
        let m = (sim.observable("m0").expect("observed").to_vec(), sim.observable("m1").expect("observed").to_vec());
        let start = (m.0[0], m.1[0]);
        assert!(start.0.hypot(start.1) > 0.5, "the start is not already at the minimum: {start:?}");
        let end = (m.0[m.0.len() - 1], m.1[m.1.len() - 1]);
        assert!(end.0.hypot(end.1) < 0.02, "seed {seed}: consensus at {end:?}, the global minimum is (0, 0)");
    }
}

/// The design's Lennard-Jones lattice is an equilibrium: velocity Verlet keeps it at rest, and
/// the observed total energy is the lattice's potential energy at every step.
#[test]
fn lj_lattice_stays_at_rest_with_its_energy() {
    let sim = run("lj", &[], 5);
    let (kinetic, potential, total) = (
        sim.observable("kinetic").expect("observed"),
        sim.observable("potential").expect("observed"),
        sim.observable("total").expect("observed"),
    );
    assert_eq!(total.len(), 6);
    assert!(kinetic.iter().all(|k| *k < 1e-20), "{kinetic:?}");
    for (u, h) in potential.iter().zip(total) {
        assert!((u - potential[0]).abs() < 1e-9 && (h - u).abs() < 1e-9, "{u} {h}");
    }
}

/// The Boltzmann distribution exp(-beta U) of one particle, by quadrature: E[x^2].
fn boltzmann_second_moment(beta: f64) -> f64 {
    let (mut weight, mut moment) = (0.0, 0.0);
    for i in 0..=80_000 {
        let x = -4.0 + i as f64 * 1e-4;
        let w = (-beta * (x * x - 1.0).powi(2)).exp();
        weight += w;
        moment += x * x * w;
    }
    moment / weight
}

#[test]
fn langevin_relaxes_from_one_well_to_the_boltzmann_distribution() {
    let m = 4000.0;
    let sim = run("langevin_double_well", &[("M", m)], 8000);
    let (right, x2) = (sim.observable("right").expect("observed"), sim.observable("x2").expect("observed"));
    assert_eq!(right[0], 0.0, "everyone starts in the left well");
    let last = right.len() - 1;
    assert!((right[last] - 0.5).abs() < 4.0 * 0.5 / m.sqrt(), "half cross the barrier: {}", right[last]);
    let exact = boltzmann_second_moment(2.0);
    // sd(x^2) under the Boltzmann distribution is below 0.6.
    assert!((x2[last] - exact).abs() < 4.0 * 0.6 / m.sqrt(), "E[x^2] {} vs {exact}", x2[last]);
}

#[test]
fn diffusion_sampling_reproduces_the_mixture() {
    let m = 1500;
    let sim = run("diffusion_sampling", &[("M", m as f64)], 2000);
    let x = sim.state("x").expect("state");
    let means = [(-2.0, 0.0), (2.0, 1.5), (1.0, -2.0)];
    let mut counts = [0usize; 3];
    for p in 0..m {
        let (a, b) = (x[[p, 0]], x[[p, 1]]);
        let nearest = (0..3).min_by(|&i, &j| {
            let d = |c: usize| (a - means[c].0).powi(2) + (b - means[c].1).powi(2);
            d(i).total_cmp(&d(j))
        });
        let c = nearest.expect("three components");
        // Samples sit within a few standard deviations (0.2 to 0.25) of their component.
        assert!((a - means[c].0).hypot(b - means[c].1) < 1.5, "sample ({a}, {b}) is far from every component");
        counts[c] += 1;
    }
    for (c, count) in counts.iter().enumerate() {
        let w = (c + 1) as f64 / 6.0;
        let fraction = *count as f64 / m as f64;
        let standard_error = (w * (1.0 - w) / m as f64).sqrt();
        assert!((fraction - w).abs() < 4.0 * standard_error, "component {c}: {fraction} of samples, weight {w}");
    }
}

fn sampled(name: &str, overrides: &[(&str, f64)], sweeps: u64) -> noether::Simulator {
    run_with(name, overrides, |sim| sim.set_sweeps(sweeps))
}

/// Near the critical point, from the all-up start: the spins stay ±1, the energy per spin stays
/// between the ground state's -2 and 0, and the lattice stays mostly magnetised over a short run.
#[test]
fn ising_example_samples_spins_near_criticality() {
    let sim = sampled("ising", &[("L", 32.0)], 100);
    assert!(sim.state("s").expect("state").iter().all(|s| *s == 1.0 || *s == -1.0));
    let (m, e) = (sim.observable("m").expect("observed"), sim.observable("e").expect("observed"));
    assert_eq!(m.len(), 100);
    assert!(e.iter().all(|e| (-2.0..-1.0).contains(e)), "energy per spin out of range");
    assert!(m[m.len() - 1] > 0.3, "magnetisation {}", m[m.len() - 1]);
}

/// The RBM's units stay ±1 and the sampler visits both signs of the layers' means.
#[test]
fn rbm_example_samples_both_layers() {
    let sim = sampled("rbm", &[], 400);
    for state in ["v", "h"] {
        assert!(sim.state(state).expect("state").iter().all(|s| *s == 1.0 || *s == -1.0));
    }
    let mean_v = sim.observable("mean_v").expect("observed");
    assert_eq!(mean_v.len(), 400);
    assert!(mean_v.iter().any(|m| *m > 0.0) && mean_v.iter().any(|m| *m < 0.0));
}

/// A short HMC run already estimates the Gaussian's mean and correlation roughly, with most
/// trajectories accepted.
#[test]
fn hmc_gaussian_example_estimates_the_moments() {
    let sim = sampled("hmc_gaussian", &[], 300);
    let mean = |name: &str| {
        let series = sim.observable(name).expect("observed");
        series.iter().sum::<f64>() / series.len() as f64
    };
    assert!((mean("mean_x") - 1.0).abs() < 0.05 && (mean("mean_y") + 1.0).abs() < 0.05);
    assert!((mean("cov_xy") - 0.8).abs() < 0.08, "{}", mean("cov_xy"));
    let rate = sim.acceptance().rate().expect("hmc accepts or rejects");
    assert!(rate > 0.8, "acceptance {rate}");
}

/// The shipped paths are `ou.noe`'s own, at the values `ou_inference.noe`'s header names.
#[test]
fn ou_paths_come_from_the_stated_params() {
    let sim = run_with("ou", &[("M", 25.0), ("mu", 0.8)], |sim| {
        sim.record_paths(25);
        sim.set_dt(0.05)
    });
    let shipped: ndarray::Array2<f64> = ndarray_npy::read_npy("examples/ou_paths.npy").expect("examples/ou_paths.npy");
    let made = sim.paths("X").expect("recorded paths");
    assert_eq!(made.dim(), (401, 25));
    assert!(made.iter().zip(&shipped).all(|(a, b)| a.to_bits() == b.to_bits()), "the paths differ");
}

/// The maximum of the Euler–Maruyama likelihood is a least-squares line through the increments
/// `dX = a + b X + noise`: `theta = -b / h`, `mu = a / (theta h)`, `sigma^2` = the residuals'
/// mean square over `h`. `fit` must land on it, and it must lie within three standard errors
/// (from the regression's covariance) of the truth the paths were drawn with.
#[test]
fn ou_inference_finds_the_maximum_likelihood_and_the_truth() {
    let model = Model::from_file("examples/ou_inference.noe").unwrap_or_else(|f| panic!("{f:?}"));
    let mut sim = model.simulator(Backend::Jit).unwrap_or_else(|f| panic!("{f:?}"));
    let fitted = sim.fit(FitOptions::default(), &mut |_| {}).unwrap_or_else(|f| panic!("{f:?}"));
    let value = |name: &str| fitted.params.iter().find(|(n, _)| n == name).expect("fitted").1[[]];

    let paths: ndarray::Array2<f64> = ndarray_npy::read_npy("examples/ou_paths.npy").expect("paths");
    let h = 0.05;
    let pairs: Vec<(f64, f64)> = paths
        .columns()
        .into_iter()
        .flat_map(|path| path.windows(2).into_iter().map(|w| (w[0], w[1] - w[0])).collect::<Vec<_>>())
        .collect();
    let n = pairs.len() as f64;
    assert_eq!(pairs.len(), 10_000);
    let (mean_x, mean_dx) = (pairs.iter().map(|p| p.0).sum::<f64>() / n, pairs.iter().map(|p| p.1).sum::<f64>() / n);
    let sxx: f64 = pairs.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    let sxy: f64 = pairs.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_dx)).sum();
    let b = sxy / sxx;
    let a = mean_dx - b * mean_x;
    let mean_square = pairs.iter().map(|(x, dx)| (dx - a - b * x).powi(2)).sum::<f64>() / n;
    let (theta, mu, sigma) = (-b / h, a / (-b), (mean_square / h).sqrt());
    for (name, best) in [("theta", theta), ("mu", mu), ("sigma", sigma)] {
        assert!(
            (value(name) - best).abs() <= 1e-6 * best.abs(),
            "{name}: fitted {} vs the maximum {best}",
            value(name)
        );
    }
    // Standard errors: (a, b) have covariance s^2 (X^T X)^-1 with s^2 = sigma^2 h.
    let s2 = sigma * sigma * h;
    let (var_b, var_a, cov_ab) = (s2 / sxx, s2 * (1.0 / n + mean_x * mean_x / sxx), -s2 * mean_x / sxx);
    let theta_error = var_b.sqrt() / h;
    // mu = -a / b: its gradient by (a, b) is (-1 / b, a / b^2).
    let (da, db) = (-1.0 / b, a / (b * b));
    let mu_error = (da * da * var_a + 2.0 * da * db * cov_ab + db * db * var_b).sqrt();
    let sigma_error = sigma / (2.0 * n).sqrt();
    for (name, estimate, error, truth) in
        [("theta", theta, theta_error, 1.5), ("mu", mu, mu_error, 0.8), ("sigma", sigma, sigma_error, 0.6)]
    {
        assert!((estimate - truth).abs() < 3.0 * error, "{name} = {estimate} ± {error}, truth {truth}");
    }
    assert!(fitted.history[0].loss > fitted.final_loss + 1000.0, "the fit starts far off");
}

/// Vicsek's transition: aligned at low noise, disordered (order ~ 1/sqrt(N)) at high noise.
#[test]
fn vicsek_order_falls_as_the_noise_grows() {
    let late_order = |eta: f64| {
        let order = run("vicsek", &[("eta", eta)], 300).observable("order").expect("observed").to_vec();
        let late = &order[200..];
        late.iter().sum::<f64>() / late.len() as f64
    };
    let (quiet, middle, loud) = (late_order(0.3), late_order(1.0), late_order(2.5));
    assert!(quiet > 0.9, "eta = 0.3 aligns: {quiet}");
    assert!(middle < quiet - 0.1 && middle > loud + 0.1, "eta = 1 lies between: {quiet} > {middle} > {loud}");
    assert!(loud < 0.15, "eta = 2.5 is disordered: {loud}");
}

/// Fits `name` for `iters` iterations of its optimizer on the JIT.
fn fitted(name: &str, iters: usize) -> noether::runtime::FitResult {
    let model = Model::from_file(format!("examples/{name}.noe")).unwrap_or_else(|f| panic!("{f:?}"));
    let mut sim = model.simulator(Backend::Jit).unwrap_or_else(|f| panic!("{f:?}"));
    sim.fit(FitOptions { iters: Some(iters), lr: None }, &mut |_| {}).unwrap_or_else(|f| panic!("{f:?}"))
}

/// The fitted one-hidden-layer network `std.nn`'s `mlp2`/`mlp3` computes, written out here.
fn network(result: &noether::runtime::FitResult, inputs: &[f64]) -> f64 {
    let param = |name: &str| &result.params.iter().find(|(n, _)| n == name).expect("fitted").1;
    let (w1, b1, w2, b2) = (param("W1"), param("b1"), param("W2"), param("b2")[[]]);
    let hidden = |h: usize| inputs.iter().enumerate().map(|(c, z)| w1[[h, c]] * z).sum::<f64>() + b1[[h]];
    b2 + (0..b1.len()).map(|h| w2[[h]] * hidden(h).tanh()).sum::<f64>()
}

/// The relative L2 distance of the fitted network from `exact` on `grid`, checked against the
/// script's own `err`.
fn pinn_error(
    result: &noether::runtime::FitResult,
    grid: &[(f64, f64)],
    features: impl Fn(f64, f64) -> Vec<f64>,
    exact: impl Fn(f64, f64) -> f64,
) -> f64 {
    let (mut error, mut size) = (0.0, 0.0);
    for &(x, t) in grid {
        error += (network(result, &features(x, t)) - exact(x, t)).powi(2);
        size += exact(x, t).powi(2);
    }
    let relative = (error / size).sqrt();
    let reported = result.observed.iter().find(|(n, _)| n == "err").expect("observed").1;
    assert!((reported - relative).abs() < 1e-9 * relative, "err = {reported}, here {relative}");
    relative
}

/// The heat PINN's network is within 1e-2 (relative L2) of exp(-D pi^2 t) sin(pi x).
#[test]
fn heat_pinn_matches_the_exact_solution() {
    let result = fitted("heat_pinn", 500);
    let grid: Vec<(f64, f64)> =
        (0..41).flat_map(|i| (0..21).map(move |j| (i as f64 / 40.0, j as f64 / 20.0))).collect();
    let exact = |x: f64, t: f64| (-0.1 * PI * PI * t).exp() * (PI * x).sin();
    let relative = pinn_error(&result, &grid, |x, t| vec![x, t], exact);
    assert!(relative < 1e-2, "relative L2 error {relative}");
}

/// The Burgers PINN is within 5e-2 of the Cole–Hopf solution its header derives (nu = 0.05).
#[test]
fn burgers_pinn_matches_the_cole_hopf_solution() {
    let result = fitted("burgers_pinn", 300);
    let grid: Vec<(f64, f64)> =
        (0..81).flat_map(|i| (0..21).map(move |j| (-1.0 + i as f64 / 40.0, j as f64 / 20.0))).collect();
    let nu = 0.05;
    let exact = |x: f64, t: f64| {
        let decay = (-nu * PI * PI * t).exp();
        2.0 * nu * PI * decay * (PI * x).sin() / (1.5 + decay * (PI * x).cos())
    };
    let relative = pinn_error(&result, &grid, |x, t| vec![(PI * x).cos(), (PI * x).sin(), t], exact);
    assert!(relative < 5e-2, "relative L2 error {relative}");
}

#[test]
fn inverse_heat_pinn_recovers_the_diffusivity() {
    let result = fitted("heat_pinn_inverse", 1000);
    let d = result.params.iter().find(|(n, _)| n == "D").expect("fitted").1[[]];
    assert!((d - 0.1).abs() < 0.002, "D = {d}, truth 0.1 (the guess was 0.05)");
}

/// The score model trained by `score_diffusion.noe` samples the distribution its header derives
/// (the data's mixture shrunk by a(smin) and blurred by sigma(smin)): the reverse SDE's mean and
/// covariance within 4 standard errors, every mode's weight within 0.05, for both samplers.
#[test]
fn score_diffusion_samples_its_data_after_training() {
    let samples = 2000;
    let model =
        Model::from_file_with("examples/score_diffusion.noe", &[Override { name: "M".into(), value: samples as f64 }])
            .unwrap_or_else(|f| panic!("{f:?}"));
    let mut sim = model.simulator(Backend::Jit).unwrap_or_else(|f| panic!("{f:?}"));
    let fitted = sim.fit(FitOptions::default(), &mut |_| {}).unwrap_or_else(|f| panic!("{f:?}"));
    assert!(fitted.final_loss < 0.3, "loss {}", fitted.final_loss);
    assert_eq!(sim.steps_done(), 400, "the fit ends with a run at the fitted weights");
    let (weights, centres, variances) =
        ([1.0 / 6.0, 1.0 / 3.0, 0.5], [[-2.0, 0.0], [2.0, 1.5], [1.0, -2.0]], [0.04, 0.06, 0.08]);
    let (a, blur) = ((-0.005_f64).exp(), 1.0 - (-0.01_f64).exp());
    // The exact mean and covariance of the blurred mixture.
    let mean: Vec<f64> = (0..2).map(|k| (0..3).map(|c| weights[c] * a * centres[c][k]).sum()).collect();
    let second = |j: usize, k: usize| -> f64 {
        (0..3)
            .map(|c| {
                let within = if j == k { a * a * variances[c] + blur } else { 0.0 };
                weights[c] * (within + a * a * centres[c][j] * centres[c][k])
            })
            .sum()
    };
    let nearest = |x: &[f64]| {
        (0..3)
            .min_by(|&c, &d| {
                let dist = |c: usize| (x[0] - centres[c][0]).powi(2) + (x[1] - centres[c][1]).powi(2);
                dist(c).total_cmp(&dist(d))
            })
            .expect("three modes")
    };
    for state in ["x", "z"] {
        let values: Vec<f64> = sim.state(state).expect("a state").iter().copied().collect();
        let points: Vec<&[f64]> = values.chunks(2).collect();
        let n = points.len() as f64;
        for (c, weight) in weights.iter().enumerate() {
            let share = points.iter().filter(|x| nearest(x) == c).count() as f64 / n;
            assert!((share - weight).abs() < 0.05, "{state}: mode {c} weight {share}, exact {weight}");
        }
        if state == "z" {
            continue; // the probability-flow ODE: the weights only (see the example's header)
        }
        let sample_mean: Vec<f64> = (0..2).map(|k| points.iter().map(|x| x[k]).sum::<f64>() / n).collect();
        for k in 0..2 {
            let var = points.iter().map(|x| (x[k] - sample_mean[k]).powi(2)).sum::<f64>() / n;
            let se = (var / n).sqrt();
            assert!(
                (sample_mean[k] - mean[k]).abs() < 4.0 * se,
                "mean {k}: {} vs {} (se {se})",
                sample_mean[k],
                mean[k]
            );
        }
        for (j, k) in [(0, 0), (0, 1), (1, 1)] {
            let products: Vec<f64> = points.iter().map(|x| (x[j] - sample_mean[j]) * (x[k] - sample_mean[k])).collect();
            let cov = products.iter().sum::<f64>() / n;
            let se = (products.iter().map(|p| (p - cov).powi(2)).sum::<f64>() / n / n).sqrt();
            let exact = second(j, k) - mean[j] * mean[k];
            assert!((cov - exact).abs() < 4.0 * se, "covariance ({j}, {k}): {cov} vs {exact} (se {se})");
        }
    }
}
