//! Forward mode (tangents carried along the run) and reverse mode (back through time with
//! checkpoints) compute one gradient: they agree to 1e-12 on every engine, with the JIT on two
//! threads splitting even small kernels, for SDE ensembles, PDEs and ODEs, reductions and
//! filtered pair sums (a singularity excluded), velocity Verlet with its carried forces, and
//! Langevin sampling; over more inputs than one pass takes, in several passes. `auto` picks
//! forward mode for at most two scalar inputs; forward mode refuses too many inputs.

use noether::{Backend, GradientMode, GradientOptions, Model};

use crate::support::{on_every_engine, simulator};

on_every_engine!(
    sde_ensembles,
    pdes_and_odes,
    reductions_and_filtered_pairs,
    dynamics_with_carried_forces,
    langevin_sampling,
    examples_with_losses,
);

/// The gradient of `loss` with respect to `wrt` in `mode`.
fn gradient_in(sim: &mut noether::Simulator, loss: &str, wrt: &[&str], mode: GradientMode) -> noether::Gradient {
    let options = GradientOptions { mode, ..GradientOptions::default() };
    let gradient = sim.gradient_with(loss, wrt, options).unwrap_or_else(|f| panic!("{f:?}"));
    assert_eq!(gradient.mode, mode);
    gradient
}

/// Asserts forward and reverse mode agree on `sim` to 1e-12 (relative to each gradient's
/// largest entry), and that the gradient is not zero: an agreement of zeros proves nothing.
fn modes_agree(sim: &mut noether::Simulator, what: &str, loss: &str, wrt: &[&str]) {
    let forward = gradient_in(sim, loss, wrt, GradientMode::Forward);
    let reverse = gradient_in(sim, loss, wrt, GradientMode::Reverse);
    assert_eq!(forward.value.to_bits(), reverse.value.to_bits(), "{what}: the loss differs between the modes");
    let mut largest = 0.0_f64;
    for ((name, f), (_, r)) in forward.gradients.iter().zip(&reverse.gradients) {
        let scale = r.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
        let worst = f.iter().zip(r.iter()).fold(0.0_f64, |m, (a, b)| m.max((a - b).abs()));
        assert!(worst <= 1e-12 * scale.max(1e-300), "{what}: d{loss}/d{name} forward {f} reverse {r}");
        largest = largest.max(scale);
    }
    assert!(largest > 0.0, "{what}: every derivative is zero");
    assert!(forward.memory.stored_bytes == 0 && reverse.memory.stored_bytes > 0, "{what}: {:?}", forward.memory);
}

fn agree(text: &str, backend: Backend, loss: &str, wrt: &[&str]) {
    modes_agree(&mut simulator(text, backend), text, loss, wrt);
}

/// Multiplicative and additive noise, Euler–Maruyama and Milstein, a noise of two axes, a
/// state's initial values and a param's elements as inputs (over two passes of four).
fn sde_ensembles(backend: Backend) {
    let gbm = "const M = 37\nparam lambda = 2.0\nparam mu = 1.0\nstate X : [p < M] = 1.0\nnoise W : [p < M]\n\
               d X[p] = lambda * X[p] * dt + mu * X[p] * dW[p]\nloss L = mean(p) X[p]\n\
               run euler_maruyama(dt = 0.01, steps = 60, seed = 1)\n";
    agree(gbm, backend, "L", &["lambda", "mu"]);
    let milstein = "param a = 0.7\nparam b = 0.4\nstate X : [p < 9, c < 3] = 1.0 + 0.1 * c\nnoise W : [p < 9, c < 3]\n\
                    d X[p, c] = a * (1 - X[p, c]) * dt + b * X[p, c] * dW[p, c]\n\
                    loss L = mean(p, c) X[p, c]^2 + max(p) X[p, 0]\nrun milstein(dt = 0.02, steps = 40, seed = 4)\n";
    agree(milstein, backend, "L", &["a", "b"]);
    let ou = "param theta : [c < 3] = 1.0 + 0.5 * c\nparam sigma = 0.6\nstate X : [p < 5, c < 3] = 2.0 - p * 0.1\n\
              noise W : [p < 5, c < 3]\nd X[p, c] = theta[c] * (0.5 - X[p, c]) * dt + sigma * dW[p, c]\n\
              loss L = mean(p, c) (X[p, c] - 0.3)^2\nrun euler_maruyama(dt = 0.01, steps = 30, seed = 2)\n";
    agree(ou, backend, "L", &["theta", "sigma"]);
    agree(ou, backend, "L", &["sigma", "X"]);
}

/// Lets, upwinding branches, boundary rules, Runge–Kutta stages and time forcing.
fn pdes_and_odes(backend: Backend) {
    let heat = "param D = 0.2\nparam a = 1.3\nstate u : [i < 7] periodic = a * sin(i)\nd/dt u = D * laplacian(u)\n\
                loss L = sum(i) u[i]^2\nrun euler(dt = 0.5, steps = 9)\n";
    agree(heat, backend, "L", &["D", "a", "u"]);
    let upwind = "param nu = 0.05\nparam c = 0.7\nstate u : [i < 9] periodic = 0.5 + sin(0.7 * i)\n\
                  let ux[i] = if u[i] > 0 then u[i] - u[i - 1] else u[i + 1] - u[i]\n\
                  d/dt u = -c * u * ux + nu * laplacian(u)\nloss L = sum(i) u[i]^3\nrun heun(dt = 0.05, steps = 12)\n";
    agree(upwind, backend, "L", &["nu", "c"]);
    let forced = "param k = 1.7\nparam g = 0.3\nstate u = 1\nstate v = 0\nd/dt u = v\nd/dt v = -k * u + g * cos(t)\n\
                  loss L = u^2 + 0.5 * v^2\nrun rk4(dt = 0.1, steps = 20)\n";
    agree(forced, backend, "L", &["k", "g", "u", "v"]);
    let boundaries = "param D = 0.1\nstate a : [i < 5, j < 6] neumann = sin(i + 2 * j)\n\
                      state c : [i < 5, j < 6] dirichlet(0.5) = i * j / 10\n\
                      d/dt a = D * laplacian(a) + c[i + 1, j - 1] * 0.1\nd/dt c = D * laplacian(c) + a * 0.05\n\
                      loss L = sum(i, j) (a[i, j] * c[i, j])\nrun rk4(dt = 0.2, steps = 6)\n";
    agree(boundaries, backend, "L", &["D"]);
}

/// Sums, means and extrema in equations and losses; a pair sum whose filter excludes the
/// diagonal, where `1 / r2` is infinite; reads that scatter.
fn reductions_and_filtered_pairs(backend: Backend) {
    let reductions = "param s = 0.8\nstate x : [p < 4, k < 3] = sin(p * 1.3 + k)\n\
                      d/dt x = s * (x - mean(q) x[q, k]) - 0.1 * sum(q | q != p) x[q, k] * x[p, k]\n\
                      loss L = max(p) sum(k) x[p, k]^2 + min(p, k) x[p, k] + mean(p, k) exp(x[p, k])\n\
                      run heun(dt = 0.05, steps = 8)\n";
    agree(reductions, backend, "L", &["s"]);
    let pairs = "const n = 5\nparam eps = 0.3\nstate x : [p < n, k < 2] = sin(3 * p + k) * 2\nstate v : [p < n, k < 2] = 0\n\
                 let r2[p, q] = sum(k) (x[p, k] - x[q, k])^2\n\
                 energy E = eps * sum(p, q | p != q) 1 / r2[p, q]\n\
                 d/dt x = v\nd/dt v = -grad(E, x)\nloss L = sum(p, k) x[p, k]^2 * (k + 1)\nrun euler(dt = 0.01, steps = 5)\n";
    agree(pairs, backend, "L", &["eps"]);
    let scatter = "param q = 0.4\nstate a : [k < 8] periodic = cos(k)\nstate u : [i < 3, j < 4] = i + j * 0.5\n\
                   d/dt u = q * a[i + j] * u + a[2 * i] * 0.1\nloss L = sum(i, j) u[i, j]^2\nrun euler(dt = 0.1, steps = 5)\n";
    agree(scatter, backend, "L", &["q"]);
}

/// Velocity Verlet carries the forces from one step to the next: their tangents too.
fn dynamics_with_carried_forces(backend: Backend) {
    let text = "const N = 6\nparam k = 1.5\nparam eps = 0.3\n\
                state x : [p < N] = p * 1.1 + 0.2 * sin(3 * p)\nstate v : [p < N] = 0.1 * cos(p)\n\
                let r2[p, q] = (x[p] - x[q])^2\n\
                energy E = sum(p) 0.5 * k * x[p]^2 + eps * sum(p, q | p != q) exp(-r2[p, q])\n\
                d/dt x = v\nd/dt v = -grad(E, x)\nloss L = sum(p) x[p]^2 + E\nrun verlet(dt = 0.05, steps = 20)\n";
    agree(text, backend, "L", &["k", "eps"]);
}

/// Unadjusted Langevin sweeps (the energy differentiated twice, each sweep's noise replayed).
fn langevin_sampling(backend: Backend) {
    let text = "param mu = 0.5\nparam k = 2.0\nstate x : [c < 4, d < 2] = 0.1 * c - 0.2 * d\n\
                energy U = sum(c, d) (0.5 * k * (x[c, d] - mu)^2 + 0.1 * x[c, d]^4)\n\
                loss L = mean(c, d) x[c, d]^2\n\
                sample x ~ exp(-U) with langevin(step = 0.05, sweeps = 15, burn_in = 2, seed = 3)\n";
    agree(text, backend, "L", &["mu", "k"]);
}

/// The shipped examples with a loss and a run, shortened, with respect to their scalar params.
fn examples_with_losses(backend: Backend) {
    for (name, overrides, steps) in
        [("gbm", &[("M", 300.0)][..], 40), ("heat", &[("N", 16.0)], 20), ("fisher_kpp", &[], 4)]
    {
        let overrides: Vec<noether::Override> =
            overrides.iter().map(|(n, v)| noether::Override { name: n.to_string(), value: *v }).collect();
        let model =
            Model::from_file_with(format!("examples/{name}.noe"), &overrides).unwrap_or_else(|f| panic!("{f:?}"));
        let checked = model.checked();
        let loss = checked.scalars.iter().find(|s| s.kind == noether::compiler::model::NamedKind::Loss);
        let loss = loss.expect("a loss").name.clone();
        let params: Vec<&str> = checked
            .fields
            .iter()
            .filter(|f| f.kind == noether::compiler::model::FieldKind::Param && f.shape.rank() == 0)
            .map(|f| f.name.as_str())
            .collect();
        let options = noether::EngineOptions { threads: Some(2), min_parallel_points: Some(1), ..Default::default() };
        let mut sim = model.simulator_with(backend, options).unwrap_or_else(|f| panic!("{f:?}"));
        sim.set_steps(steps).unwrap_or_else(|f| panic!("{f:?}"));
        modes_agree(&mut sim, name, &loss, &params);
    }
}

/// `auto` differentiates forward for at most two scalar inputs and backwards for more, or when
/// checkpoints are asked for; both leave the final states of the run.
#[test]
fn auto_picks_forward_mode_for_few_inputs() {
    let text = "param a = 0.3\nparam b = 0.2\nstate u : [i < 3] = 1 + i\nd/dt u = -a * u + b\n\
                loss L = sum(i) u[i]^2\nrun euler(dt = 0.1, steps = 10)\n";
    let mut sim = simulator(text, Backend::Jit);
    sim.run().expect("runs");
    let after_run = sim.state("u").expect("state").to_owned();
    let mode = |sim: &mut noether::Simulator, wrt: &[&str], checkpoints| {
        let options = GradientOptions { checkpoints, ..GradientOptions::default() };
        let gradient = sim.gradient_with("L", wrt, options).expect("gradient");
        assert_eq!(sim.state("u").expect("state"), after_run, "a gradient leaves the run's final states");
        gradient.mode
    };
    assert_eq!(mode(&mut sim, &["a", "b"], None), GradientMode::Forward);
    assert_eq!(mode(&mut sim, &["a"], None), GradientMode::Forward);
    assert_eq!(mode(&mut sim, &["a", "b", "u"], None), GradientMode::Reverse);
    assert_eq!(mode(&mut sim, &["a"], Some(3)), GradientMode::Reverse);
}

/// Forward mode refuses more inputs than it takes, with the way out; a NaN in a forward-mode
/// run is named at its step as `run` names it.
#[test]
fn forward_mode_refusals_are_clear() {
    let forward = GradientOptions { mode: GradientMode::Forward, ..GradientOptions::default() };
    let wide = "param w : [i < 100] = 0.01 * i\nstate u : [i < 100] = 1\nd/dt u = -w * u\nloss L = sum(i) u[i]\n\
                run euler(dt = 0.1, steps = 3)\n";
    let failure = simulator(wide, Backend::Interp).gradient_with("L", &["w"], forward).expect_err("refused");
    let report = format!("{failure:?}");
    assert!(report.contains("100 inputs") && report.contains("--mode reverse"), "{report}");
    // Auto takes reverse mode for them without complaint.
    let gradient = simulator(wide, Backend::Interp).gradient("L", &["w"]).expect("reverse mode");
    assert_eq!(gradient.mode, GradientMode::Reverse);

    let blowup = "param a = 40\nstate u = 1\nd/dt u = a * u^2\nloss L = u\nrun euler(dt = 0.1, steps = 50)\n";
    let failure = simulator(blowup, Backend::Jit).gradient_with("L", &["a"], forward).expect_err("not finite");
    let report = format!("{failure:?}");
    assert!(report.contains("step"), "{report}");
}
