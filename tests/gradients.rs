//! Gradients through whole runs agree with central finite differences, on every engine; the
//! engines agree with each other.

use noether::{Backend, Model, Override, Simulator, Source};
use proptest::prelude::*;

use crate::support::on_every_engine;

on_every_engine!(
    heat_params_and_initial_state,
    heun_with_lets_and_upwinding,
    rk4_coupled_states_with_time_forcing,
    boundary_rules_in_2d,
    reductions_in_equations_and_losses,
    tensor_params,
    non_invertible_reads_scatter,
    pair_sums,
    checkpoint_counts_do_not_change_the_gradient,
    forces_are_minus_the_energy_gradient,
    gradients_with_respect_to_params_and_lets,
    gradients_through_force_dynamics,
    diff_gives_exact_derivatives,
    diff_satisfies_the_heat_and_wave_equations,
    gradients_through_diff,
    network_residuals_in_stored_lets,
    example_gradients,
    gradients_through_langevin_sampling,
);

fn simulator(text: &str, backend: Backend) -> Simulator {
    let model =
        Model::from_source(Source::new("grad.noe", text), &[], "tests/cases").unwrap_or_else(|f| panic!("{f:?}"));
    model.simulator(backend).unwrap_or_else(|f| panic!("{f:?}"))
}

/// What to perturb: a scalar param, an element of a tensor param, an element of a state's
/// initial value.
#[derive(Clone, Copy, Debug)]
enum Probe<'a> {
    Param(&'a str),
    ParamAt(&'a str, usize),
    StateAt(&'a str, usize),
}

fn loss_with(make: &dyn Fn() -> Simulator, loss: &str, probe: Probe<'_>, delta: f64) -> f64 {
    let mut sim = make();
    match probe {
        Probe::Param(name) => {
            let value = sim.field(name).expect("param")[[]];
            sim.set_param(name, value + delta).expect("param");
        }
        Probe::ParamAt(name, index) => {
            let mut value = sim.field(name).expect("param").to_owned();
            value.as_slice_mut().expect("contiguous")[index] += delta;
            sim.set_param_array(name, &value.view()).expect("param");
        }
        Probe::StateAt(name, index) => sim.set_initial_offset(name, index, delta).expect("state"),
    }
    sim.run().expect("runs");
    sim.scalar(loss).expect("loss")
}

/// Checks the gradient of `loss` in the script `text` at every probe against a central difference.
fn check(text: &str, backend: Backend, loss: &str, probes: &[Probe<'_>], tolerance: f64) {
    check_simulator(&|| simulator(text, backend), text, loss, probes, tolerance);
}

/// Checks the gradient of `loss` at every probe against a central difference, on simulators
/// made by `make` (`what` names them in failures).
fn check_simulator(make: &dyn Fn() -> Simulator, what: &str, loss: &str, probes: &[Probe<'_>], tolerance: f64) {
    let mut names: Vec<&str> = probes
        .iter()
        .map(|p| match p {
            Probe::Param(n) | Probe::ParamAt(n, _) | Probe::StateAt(n, _) => *n,
        })
        .collect();
    names.dedup();
    let gradient = make().gradient(loss, &names).unwrap_or_else(|f| panic!("{f:?}"));
    for &probe in probes {
        let (name, index) = match probe {
            Probe::Param(n) => (n, 0),
            Probe::ParamAt(n, i) | Probe::StateAt(n, i) => (n, i),
        };
        let ad = gradient.get(name).expect("asked for").as_slice().expect("contiguous")[index];
        let h = 1e-6;
        let fd = (loss_with(make, loss, probe, h) - loss_with(make, loss, probe, -h)) / (2.0 * h);
        let scale = fd.abs().max(ad.abs()).max(1e-3);
        assert!((ad - fd).abs() <= tolerance * scale, "{probe:?}: autodiff {ad}, finite difference {fd}\n{what}");
    }
}

fn heat_params_and_initial_state(backend: Backend) {
    let text = "param D = 0.2\nparam a = 1.3\nstate u : [i < 7] periodic = a * sin(i)\nd/dt u = D * laplacian(u)\n\
                loss L = sum(i) u[i]^2\nrun euler(dt = 0.5, steps = 9)\n";
    check(
        text,
        backend,
        "L",
        &[Probe::Param("D"), Probe::Param("a"), Probe::StateAt("u", 0), Probe::StateAt("u", 4)],
        1e-6,
    );
}

fn heun_with_lets_and_upwinding(backend: Backend) {
    let text = "param nu = 0.05\nparam c = 0.7\nstate u : [i < 9] periodic = 0.5 + sin(0.7 * i)\n\
                let ux[i] = if u[i] > 0 then u[i] - u[i - 1] else u[i + 1] - u[i]\n\
                d/dt u = -c * u * ux + nu * laplacian(u)\nloss L = sum(i) u[i]^3\nrun heun(dt = 0.05, steps = 12)\n";
    check(text, backend, "L", &[Probe::Param("nu"), Probe::Param("c"), Probe::StateAt("u", 3)], 1e-6);
}

fn rk4_coupled_states_with_time_forcing(backend: Backend) {
    let text = "param k = 1.7\nparam g = 0.3\nstate u = 1\nstate v = 0\nd/dt u = v\nd/dt v = -k * u + g * cos(t)\n\
                loss L = u^2 + 0.5 * v^2\nrun rk4(dt = 0.1, steps = 20)\n";
    check(
        text,
        backend,
        "L",
        &[Probe::Param("k"), Probe::Param("g"), Probe::StateAt("u", 0), Probe::StateAt("v", 0)],
        1e-6,
    );
}

fn boundary_rules_in_2d(backend: Backend) {
    let text = "param D = 0.1\nstate a : [i < 5, j < 6] neumann = sin(i + 2 * j)\n\
                state b : [i < 5, j < 6] clamp = cos(i - j)\nstate c : [i < 5, j < 6] dirichlet(0.5) = i * j / 10\n\
                state e : [i < 5, j < 6] = i - j\n\
                d/dt a = D * laplacian(a) + b[i, j + 2] * 0.1\nd/dt b = D * laplacian(b) - c[i + 1, j - 1] * 0.1\n\
                d/dt c = D * laplacian(c) + a * 0.05\n\
                d/dt e = if i > 0 and j < 5 then e[i - 1, j + 1] * 0.2 else -e * 0.1\n\
                loss L = sum(i, j) (a[i, j] * b[i, j] + c[i, j]^2 + e[i, j]^2)\nrun rk4(dt = 0.2, steps = 6)\n";
    let probes = [
        Probe::Param("D"),
        Probe::StateAt("a", 0),
        Probe::StateAt("a", 29),
        Probe::StateAt("b", 5),
        Probe::StateAt("b", 24),
        Probe::StateAt("c", 7),
        Probe::StateAt("e", 11),
    ];
    check(text, backend, "L", &probes, 1e-6);
}

fn reductions_in_equations_and_losses(backend: Backend) {
    let text = "param s = 0.8\nstate x : [p < 4, k < 3] = sin(p * 1.3 + k)\n\
                d/dt x = s * (x - mean(q) x[q, k]) - 0.1 * sum(q | q != p) x[q, k] * x[p, k]\n\
                loss L = max(p) sum(k) x[p, k]^2 + min(p, k) x[p, k] + mean(p, k) exp(x[p, k])\n\
                run heun(dt = 0.05, steps = 8)\n";
    check(
        text,
        backend,
        "L",
        &[Probe::Param("s"), Probe::StateAt("x", 0), Probe::StateAt("x", 7), Probe::StateAt("x", 11)],
        1e-6,
    );
}

fn tensor_params(backend: Backend) {
    let text = "param w : [i < 5] = 0.1 * i\nparam u0 : [i < 5] = sin(i)\nstate u : [i < 5] clamp = u0\n\
                d/dt u = -w * u + 0.1 * laplacian(u)\nloss L = sum(i) (u[i] - 0.3)^2\nrun euler(dt = 0.1, steps = 10)\n";
    check(
        text,
        backend,
        "L",
        &[Probe::ParamAt("w", 0), Probe::ParamAt("w", 4), Probe::ParamAt("u0", 2), Probe::StateAt("u", 2)],
        1e-6,
    );
    // The initial state is the param, so their gradients are one and the same.
    let mut sim = simulator(text, backend);
    let gradient = sim.gradient("L", &["u0", "u"]).expect("gradient");
    assert_eq!(gradient.get("u0"), gradient.get("u"));
}

fn non_invertible_reads_scatter(backend: Backend) {
    let text = "param q = 0.4\nstate a : [k < 8] periodic = cos(k)\nstate u : [i < 3, j < 4] = i + j * 0.5\n\
                d/dt u = q * a[i + j] * u + a[2 * i] * 0.1\nloss L = sum(i, j) u[i, j]^2\nrun euler(dt = 0.1, steps = 5)\n";
    check(
        text,
        backend,
        "L",
        &[Probe::Param("q"), Probe::StateAt("a", 0), Probe::StateAt("a", 4), Probe::StateAt("u", 5)],
        1e-6,
    );
}

fn pair_sums(backend: Backend) {
    let text = "const n = 4\nstate x : [p < n, k < 2] = sin(3 * p + k) * 2\n\
                let d[p, q, k] = x[p, k] - x[q, k]\nlet r2[p, q] = sum(k) d[p, q, k]^2\n\
                d/dt x = 0 * x\nloss E = 0.5 * sum(p, q | p != q) 1 / (1 + r2[p, q])\nrun euler(dt = 0.1, steps = 1)\n";
    check(text, backend, "E", &[Probe::StateAt("x", 0), Probe::StateAt("x", 3), Probe::StateAt("x", 6)], 1e-6);
}

fn checkpoint_counts_do_not_change_the_gradient(backend: Backend) {
    let text = "param D = 0.2\nstate u : [i < 6] periodic = sin(i)\nd/dt u = D * laplacian(u) - 0.1 * u^2\n\
                loss L = sum(i) u[i]^2\nrun heun(dt = 0.3, steps = 17)\n";
    let mut results = Vec::new();
    for checkpoints in [1, 2, 4, 17] {
        let mut sim = simulator(text, backend);
        let options = noether::runtime::GradientOptions { checkpoints: Some(checkpoints), ..Default::default() };
        let gradient = sim.gradient_with("L", &["D", "u"], options).expect("gradient");
        assert!(gradient.memory.checkpoints <= checkpoints);
        results.push(gradient.gradients);
    }
    assert!(results.windows(2).all(|w| w[0] == w[1]), "{results:?}");
}

/// Particles on a line: a harmonic trap and a soft pair repulsion through a let.
const PARTICLES: &str = "const N = 5\nparam k = 1.5\nparam eps = 0.3\n\
                         state x : [p < N] = p * 1.1 + 0.2 * sin(3 * p)\nstate v : [p < N] = 0\n\
                         let r2[p, q] = (x[p] - x[q])^2\n\
                         energy E = sum(p) 0.5 * k * x[p]^2 + eps * sum(p, q | p != q) exp(-r2[p, q])\n\
                         d/dt x = v\n";

/// After one Euler step of `dt = 1` from rest, `v` holds the force `-grad(E, x)` at the
/// initial positions, which a step leaves unchanged; `E` is then a function of them alone.
fn forces_are_minus_the_energy_gradient(backend: Backend) {
    let text = format!("{PARTICLES}d/dt v = -grad(E, x)\nrun euler(dt = 1, steps = 1)\n");
    let mut sim = simulator(&text, backend);
    sim.run().expect("runs");
    let force = sim.field("v").expect("state").to_owned();
    for (p, force) in force.iter().enumerate() {
        let h = 1e-6;
        let energy = |delta| loss_with(&|| simulator(&text, backend), "E", Probe::StateAt("x", p), delta);
        let slope = (energy(h) - energy(-h)) / (2.0 * h);
        assert!((force + slope).abs() <= 1e-7 * slope.abs().max(1.0), "particle {p}: force {force}, dE/dx {slope}");
    }
}

/// `grad(E, k)` of a scalar param is a scalar; `grad(E, r2)` treats the let `r2` as the
/// variable, so it is `eps * (-exp(-r2))` off the diagonal; a gradient of a gradient's norm is
/// a Hessian-vector product, checked against differences of the gradient it differentiates.
fn gradients_with_respect_to_params_and_lets(backend: Backend) {
    let text = format!(
        "{PARTICLES}d/dt v = 0 * v\nlet f[p] = grad(E, x)\nenergy H = 0.5 * sum(p) f[p]^2\n\
         let g[p] = grad(H, x)\nobserve dEdk = grad(E, k)\nobserve pair = sum(p, q) grad(E, r2)[p, q] * (p + 2 * q)\n\
         observe probe = g[2]\nrun euler(dt = 1, steps = 1)\n"
    );
    let mut sim = simulator(&text, backend);
    sim.run().expect("runs");
    let x = sim.field("x").expect("state").to_owned();
    let half_sq: f64 = x.iter().map(|x| 0.5 * x * x).sum();
    assert!((sim.scalar("dEdk").expect("observe") - half_sq).abs() < 1e-12 * half_sq);
    let mut pair = 0.0;
    for p in 0..5 {
        for q in (0..5).filter(|q| *q != p) {
            pair += -0.3 * (-(x[p] - x[q]).powi(2)).exp() * (p + 2 * q) as f64;
        }
    }
    let got = sim.scalar("pair").expect("observe");
    assert!((got - pair).abs() < 1e-12 * pair.abs(), "grad(E, r2): {got} vs {pair}");
    // H = |f|^2 / 2, so grad(H, x) = Hessian(E) f; its entry 2 by differences of H.
    let h = 1e-6;
    let energy = |delta| loss_with(&|| simulator(&text, backend), "H", Probe::StateAt("x", 2), delta);
    let slope = (energy(h) - energy(-h)) / (2.0 * h);
    let got = sim.scalar("probe").expect("observe");
    assert!((got - slope).abs() <= 1e-7 * slope.abs().max(1.0), "grad(H, x)[2]: {got} vs {slope}");
}

/// A loss through molecular dynamics whose forces are gradients, and through a second
/// gradient (third derivatives of `E`), against finite differences.
fn gradients_through_force_dynamics(backend: Backend) {
    let text = format!(
        "{PARTICLES}let f[p] = grad(E, x)\nenergy H = sum(p) f[p]^2\nd/dt v = -grad(E, x) - 0.01 * grad(H, x)\n\
         loss L = sum(p) x[p]^2 * (1 + 0.1 * p) + E\nrun rk4(dt = 0.05, steps = 12)\n"
    );
    let probes = [Probe::Param("k"), Probe::Param("eps"), Probe::StateAt("x", 1), Probe::StateAt("v", 3)];
    check(&text, backend, "L", &probes, 1e-6);
}

/// First, second and third derivatives by nested `diff` against their closed forms.
fn diff_gives_exact_derivatives(backend: Backend) {
    let text = "fn f(s) = sin(s) * s^3\nfn df(s) = diff(f(s), s)\nfn d2f(s) = diff(df(s), s)\n\
                fn d3(s) = diff(diff(diff(s^4 + exp(2 * s), s), s), s)\nfn g(a, b) = a^2 * b + atan2(a, b)\n\
                state z : [i < 5] = 0.4 * i - 0.7\nd/dt z = 0 * z\nobserve a = df(z[1])\nobserve b = d2f(z[3])\n\
                observe c = d3(z[4])\nobserve ga = diff(g(z[1], z[2]), z)\nrun euler(dt = 1, steps = 1)\n";
    let ga = "fn g(a, b) = a^2 * b + atan2(a, b)\nfn dga(a, b) = diff(g(a, b), a)\n\
              state z : [i < 5] = 0.4 * i - 0.7\nd/dt z = 0 * z\nobserve ga = dga(z[1], z[2])\nrun euler(dt = 1, steps = 1)\n";
    let Some(failure) = crate::support::failure_on(text, &[], backend) else { panic!("`diff(.., z)` by a field") };
    assert!(format!("{failure:?}").contains("function parameter"), "{failure:?}");
    let text = text.replace("observe ga = diff(g(z[1], z[2]), z)\n", "");
    let mut sim = simulator(&text, backend);
    sim.run().expect("runs");
    let (s1, s3, s4) = (-0.3f64, 0.5f64, 0.9f64);
    let expected = [
        ("a", s1.cos() * s1.powi(3) + 3.0 * s1 * s1 * s1.sin()),
        ("b", -s3.sin() * s3.powi(3) + 6.0 * s3 * s3 * s3.cos() + 6.0 * s3 * s3.sin()),
        ("c", 24.0 * s4 + 8.0 * (2.0 * s4).exp()),
    ];
    for (name, value) in expected {
        let got = sim.scalar(name).expect("observe");
        assert!((got - value).abs() <= 1e-13 * value.abs().max(1.0), "{name}: {got} vs {value}");
    }
    let mut sim = simulator(ga, backend);
    sim.run().expect("runs");
    let (a, b) = (-0.3f64, 0.1f64);
    let value = 2.0 * a * b + b / (a * a + b * b);
    let got = sim.scalar("ga").expect("observe");
    assert!((got - value).abs() <= 1e-13 * value.abs(), "ga: {got} vs {value}");
}

/// Closed-form solutions make physics-informed residuals vanish: `exp(-D t) sin(x)` solves
/// the heat equation, `sin(x - c t)` the wave equation.
fn diff_satisfies_the_heat_and_wave_equations(backend: Backend) {
    let text = "param D = 0.3\nparam c = 1.7\nfn u(x, t) = exp(-D * t) * sin(x)\nfn w(x, t) = sin(x - c * t)\n\
                fn heat_residual(x, t) = diff(u(x, t), t) - D * diff(diff(u(x, t), x), x)\n\
                fn wave_residual(x, t) = diff(diff(w(x, t), t), t) - c^2 * diff(diff(w(x, t), x), x)\n\
                fn ut(x, t) = diff(u(x, t), t)\n\
                observe heat = sum(i < 9, j < 4) heat_residual(0.7 * i, 0.2 * j)^2\n\
                observe wave = sum(i < 9, j < 4) wave_residual(0.7 * i, 0.2 * j)^2\n\
                observe slope = ut(1.1, 0.4)\nstate s = 0\nd/dt s = 0 * s\nrun euler(dt = 1, steps = 1)\n";
    let mut sim = simulator(text, backend);
    sim.run().expect("runs");
    assert!(sim.scalar("heat").expect("observe") < 1e-28);
    assert!(sim.scalar("wave").expect("observe") < 1e-26);
    // Not vanishing for a trivial reason: u_t itself is -D u.
    let slope = -0.3 * (-0.3f64 * 0.4).exp() * 1.1f64.sin();
    assert!((sim.scalar("slope").expect("observe") - slope).abs() < 1e-15);
}

/// Reverse mode through forward mode: a physics-informed loss fitting a diffusivity to a
/// decaying mode, by the param, against finite differences.
fn gradients_through_diff(backend: Backend) {
    let text = "param D = 0.2\nparam k = 1.3\nfn u(x, t) = exp(-0.5 * k^2 * t) * sin(k * x)\n\
                fn residual(x, t) = diff(u(x, t), t) - D * diff(diff(u(x, t), x), x)\n\
                state s = 1\nd/dt s = -D * s\n\
                loss L = s + sum(i < 7, j < 3) residual(0.5 * i, 0.3 * j)^2\nrun heun(dt = 0.1, steps = 3)\n";
    check(text, backend, "L", &[Probe::Param("D"), Probe::Param("k"), Probe::StateAt("s", 0)], 1e-6);
}

/// A PINN-shaped loss: a `std.nn` network's Burgers residual (nested `diff`, a product of
/// derivatives) at collocation points in a let, which stays stored because its sums read
/// tensor params, against finite differences by weights, biases and the PDE's param.
fn network_residuals_in_stored_lets(backend: Backend) {
    let text = "use std.nn\nparam W1 : [h < 5, c < 2] = glorot(normal(1, h, c), 2, 5)\n\
                param b1 : [h < 5] = 0.1 * normal(2, h)\nparam W2 : [h < 5] = he(normal(3, h), 5)\n\
                param b2 = 0.1\nparam D = 0.3\nfn u(x, t) = mlp2(W1, b1, W2, b2, x, t)\n\
                fn residual(x, t) = diff(u(x, t), t) + u(x, t) * diff(u(x, t), x) - D * diff(diff(u(x, t), x), x)\n\
                let r[i < 6, j < 4] = residual(i / 6, j / 4)\nstate s = 1\nd/dt s = -s\n\
                loss L = mean(i, j) r[i, j]^2 + s\nrun euler(dt = 0.1, steps = 2)\n";
    let probes = [
        Probe::ParamAt("W1", 0),
        Probe::ParamAt("W1", 7),
        Probe::ParamAt("b1", 3),
        Probe::ParamAt("W2", 2),
        Probe::Param("b2"),
        Probe::Param("D"),
    ];
    check(text, backend, "L", &probes, 1e-6);
}

#[test]
fn engines_agree_on_gradients() {
    let models = [
        (
            &["D", "u"][..],
            "param D = 0.15\nstate u : [i < 11, j < 9] periodic = exp(-((i - 5)^2 + (j - 4)^2) / 8)\n\
         d/dt u = D * laplacian(u) + 0.2 * u * (1 - u)\nloss L = sum(i, j) u[i, j]^3\nrun rk4(dt = 0.3, steps = 7)\n"
                .to_string(),
        ),
        // Scatters (a[i + j], a[2 * i]), guarded reads, clamped reads and a max reduction.
        (
            &["q", "a", "u"][..],
            "param q = 0.4\nstate a : [k < 8] periodic = cos(k)\nstate u : [i < 3, j < 5] clamp = i + j * 0.5\n\
         d/dt u = q * a[i + j] * u + a[2 * i] * 0.1 + (if j > 0 then u[i, j - 1] else 0) + u[i + 2, j] * 0.01\n\
         loss L = max(i) sum(j) u[i, j]^2\nrun heun(dt = 0.1, steps = 5)\n"
                .to_string(),
        ),
        (
            &["k", "eps", "x", "v"][..],
            format!("{PARTICLES}d/dt v = -grad(E, x)\nloss L = sum(p) x[p] * v[p]\nrun heun(dt = 0.1, steps = 6)\n"),
        ),
    ];
    for (names, text) in models {
        let gradient = |backend| simulator(&text, backend).gradient("L", names).expect("gradient");
        let (a, b) = (gradient(Backend::Interp), gradient(Backend::Jit));
        assert_eq!(a.value.to_bits(), b.value.to_bits());
        for ((name, x), (_, y)) in a.gradients.iter().zip(&b.gradients) {
            assert!(x.iter().zip(y.iter()).all(|(p, q)| p.to_bits() == q.to_bits()), "{name}");
        }
    }
}

/// A random smooth expression over `u` (periodic 2D), `a` (1D), the param `p` and indices.
fn smooth_expression() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("u".to_string()),
        Just("u[i + 1, j]".to_string()),
        Just("u[i, j - 1]".to_string()),
        Just("a[j]".to_string()),
        Just("p".to_string()),
        Just("(0.1 * i)".to_string()),
        (-2.0..2.0f64).prop_map(|x| format!("{x:.2}")),
    ];
    leaf.prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone(), prop::sample::select(vec!["+", "-", "*"]))
                .prop_map(|(a, b, op)| format!("({a} {op} {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} / (2 + {b}^2))")),
            (prop::sample::select(vec!["sin", "cos", "tanh", "atan"]), inner.clone())
                .prop_map(|(f, a)| format!("{f}({a})")),
            inner.clone().prop_map(|a| format!("exp(-{a}^2)")),
            inner.clone().prop_map(|a| format!("sum(k) a[k] * {a}")),
            inner.prop_map(|a| format!("({a})^3")),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_programs_have_exact_gradients(rate in smooth_expression(), extra in smooth_expression()) {
        let text = format!(
            "param p = 0.6\nstate u : [i < 3, j < 5] periodic = sin(i + 2 * j)\nstate a : [k < 5] = cos(k)\n\
             d/dt u = 0.2 * tanh({rate})\nd/dt a = -0.1 * a\n\
             loss L = sum(i, j) (u[i, j] * ({extra}) - 0.1)^2\nrun heun(dt = 0.1, steps = 4)\n"
        );
        let model = Model::from_source(Source::new("random.noe", text.as_str()), &[], ".");
        prop_assume!(model.is_ok());
        check(&text, Backend::Jit, "L", &[Probe::Param("p"), Probe::StateAt("u", 2), Probe::StateAt("a", 1)], 1e-5);
    }
}

/// An example's name, its overrides, how many steps, and what to probe.
type Example<'a> = (&'a str, &'a [(&'a str, f64)], u64, &'a [Probe<'a>]);

/// The shipped examples with a loss, on shortened runs: every param and a few initial values
/// against central differences.
fn example_gradients(backend: Backend) {
    let examples: [Example<'_>; 3] = [
        ("heat", &[("N", 24.0)], 30, &[Probe::Param("D"), Probe::StateAt("u", 300), Probe::StateAt("u", 5)]),
        (
            "fisher_kpp",
            &[],
            6,
            &[
                Probe::Param("D"),
                Probe::Param("rho"),
                Probe::StateAt("c", 38 * 128 + 68),
                Probe::StateAt("c", 40 * 128 + 75),
            ],
        ),
        ("heat_source", &[], 25, &[Probe::ParamAt("u0", 14 * 48 + 18), Probe::ParamAt("u0", 31 * 48 + 30)]),
    ];
    for (name, overrides, steps, probes) in examples {
        let overrides: Vec<Override> =
            overrides.iter().map(|(n, v)| Override { name: n.to_string(), value: *v }).collect();
        let model =
            Model::from_file_with(format!("examples/{name}.noe"), &overrides).unwrap_or_else(|f| panic!("{f:?}"));
        let loss = model.checked().scalars.iter().find(|s| s.kind == noether::compiler::model::NamedKind::Loss);
        let loss = loss.expect("the example has a loss").name.clone();
        let make = || {
            let mut sim = model.simulator(backend).unwrap_or_else(|f| panic!("{f:?}"));
            sim.set_steps(steps).unwrap_or_else(|f| panic!("{f:?}"));
            sim
        };
        check_simulator(&make, name, &loss, probes, 1e-6);
    }
}

#[test]
fn example_gradients_agree_across_engines() {
    for (name, wrt) in [("fisher_kpp", &["D", "rho", "c"][..]), ("heat_source", &["u0"][..])] {
        let model = Model::from_file(format!("examples/{name}.noe")).unwrap_or_else(|f| panic!("{f:?}"));
        let gradient = |backend| {
            let mut sim = model.simulator(backend).unwrap_or_else(|f| panic!("{f:?}"));
            sim.set_steps(8).unwrap_or_else(|f| panic!("{f:?}"));
            sim.gradient("misfit", wrt).unwrap_or_else(|f| panic!("{f:?}"))
        };
        let (a, b) = (gradient(Backend::Interp), gradient(Backend::Jit));
        assert!((a.value - b.value).abs() <= 1e-12 * a.value.abs(), "{name}: {} vs {}", a.value, b.value);
        for ((param, x), (_, y)) in a.gradients.iter().zip(&b.gradients) {
            let scale = x.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
            let worst = x.iter().zip(y.iter()).fold(0.0_f64, |m, (p, q)| m.max((p - q).abs()));
            assert!(worst <= 1e-12 * scale, "{name}: d/d{param} differs by {worst} (scale {scale})");
        }
    }
}

/// AD kernels come out simplified. The heat step is self-adjoint, so a hand-written adjoint
/// is the step's own stencil applied to `u_bar`; the generated kernel's `u_bar` must take at
/// most twice the nodes of the forward step's `u_next` (counted alike: every node the stored
/// value depends on, prelude included).
#[test]
fn heat_adjoint_kernel_is_within_twice_a_hand_written_one() {
    use noether::compiler::ir::{Kernel, NodeId, Program};
    fn nodes_behind(kernel: &Kernel, value: NodeId) -> usize {
        let mut seen = std::collections::HashSet::new();
        let mut stack = vec![value];
        while let Some(id) = stack.pop() {
            if seen.insert(id) {
                stack.extend(kernel.node(id).operands());
            }
        }
        seen.len()
    }
    fn store_size(program: &Program, kernels: &[noether::compiler::ir::KernelId], buffer: &str) -> usize {
        let found = kernels.iter().map(|k| program.kernel(*k)).find_map(|kernel| {
            let output = kernel.outputs.iter().find(|o| program.buffer(o.buffer).name == buffer)?;
            Some(nodes_behind(kernel, output.value))
        });
        found.unwrap_or_else(|| panic!("no kernel stores {buffer}"))
    }
    let model = Model::from_file("examples/heat.noe").unwrap_or_else(|f| panic!("{f:?}"));
    let gradient = model.gradient_program(Some("L")).unwrap_or_else(|f| panic!("{f:?}"));
    let program = &gradient.program;
    let step = program.procedures.iter().find(|p| p.name == "step").expect("a step");
    let step_vjp = program.procedure(gradient.step_vjp.expect("a step adjoint"));
    let hand = store_size(program, &step.kernels, "u_next");
    let generated = store_size(program, &step_vjp.kernels, "u_bar");
    assert!(generated <= 2 * hand, "u_bar takes {generated} nodes against {hand} by hand");
}

/// Unadjusted Langevin sweeps are differentiable in the state, the params and the energy (the
/// energy differentiated twice), with each sweep's noise replayed: the gradient through the
/// sampling, burn-in included, meets central differences of the same chain.
fn gradients_through_langevin_sampling(backend: Backend) {
    let text = "param mu = 0.5\nparam k = 2.0\nstate x : [c < 4, d < 2] = 0.1 * c - 0.2 * d\n\
                energy U = sum(c, d) (0.5 * k * (x[c, d] - mu)^2 + 0.1 * x[c, d]^4)\n\
                loss L = mean(c, d) x[c, d]^2\n\
                sample x ~ exp(-U) with langevin(step = 0.05, sweeps = 15, burn_in = 2, seed = 3)\n";
    check(text, backend, "L", &[Probe::Param("mu"), Probe::Param("k"), Probe::StateAt("x", 3)], 1e-6);
}

/// `grad --check`'s verdict from the library: at a kink (`abs(a - 0.5)` at 0.5) the exact
/// derivative 0 passes although the rounding of `a ± h` moves the difference to about 1e-12; a
/// state's entries are checked at their initial values and left there; a step in the loss at
/// the point fails.
#[test]
fn gradient_checks_resolve_kinks_and_catch_steps() {
    let verdicts = |text: &str, wrt: &[&str]| {
        let mut sim = simulator(text, Backend::Interp);
        let gradient = sim.gradient("L", wrt).unwrap_or_else(|f| panic!("{f:?}"));
        let checks = sim.check_gradient(&gradient).unwrap_or_else(|f| panic!("{f:?}"));
        let again = sim.loss_through_run("L").unwrap_or_else(|f| panic!("{f:?}"));
        assert_eq!(again, gradient.value, "inputs restored");
        checks
    };
    let kink = verdicts("param a = 0.5\nloss L = abs(a - 0.5)\n", &["a"]);
    assert!(kink[0].passes() && kink[0].autodiff == 0.0, "{kink:?}");
    let run = verdicts(
        "param a = 0.5
state u : [i < 3] = 100 + a * i
d/dt u = -a * u
loss L = sum(i) u[i]^2
run euler(dt = 0.01, steps = 5)
",
        &["a", "u"],
    );
    assert_eq!(run.len(), 4, "{run:?}");
    assert!(run.iter().all(|c| c.passes() && c.relative_error() < 1e-7), "{run:?}");
    let step = verdicts("param a = 0.5\nloss L = (if a > 0.5 then 1 else 0) + a\n", &["a"]);
    assert!(!step[0].passes(), "{step:?}");
}

/// A loss of the params alone beside a run (a network's training loss in a script that then
/// samples with it) is differentiated without integrating: the same value and gradient, none
/// of the run's states kept.
#[test]
fn a_loss_of_the_params_alone_takes_no_run() {
    let text = "param a = 0.7\nparam b = -0.3\nstate u : [i < 64] = a * i\nd/dt u = -u * b\n\
                loss L = sin(a) * b^2 + a\nrun rk4(dt = 0.01, steps = 5000)\n";
    let mut sim = crate::support::simulator(text, Backend::Jit);
    let gradient = sim.gradient("L", &["a", "b"]).unwrap_or_else(|f| panic!("{f:?}"));
    let (a, b) = (0.7_f64, -0.3_f64);
    assert_eq!(gradient.value, a.sin() * b * b + a);
    assert!((gradient.get("a").expect("a")[[]] - (a.cos() * b * b + 1.0)).abs() < 1e-15);
    assert!((gradient.get("b").expect("b")[[]] - 2.0 * a.sin() * b).abs() < 1e-15);
    assert_eq!(gradient.memory.all_states_bytes, gradient.memory.state_bytes, "no step was taken");
    // A loss reading the states still runs through them.
    let through = text.replace("loss L = sin(a) * b^2 + a", "loss L = sum(i) u[i] + a");
    let gradient = crate::support::simulator(&through, Backend::Jit).gradient("L", &["b"]).expect("gradient");
    assert_eq!(gradient.memory.all_states_bytes, 5001 * gradient.memory.state_bytes);
}
