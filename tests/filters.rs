//! A point that a filter or an untaken branch excludes contributes exactly zero to every
//! derivative, in reverse and forward mode, at first and higher order, whatever its local
//! derivative would be there: `lj'` is infinite at the excluded pair `p == q`, `sqrt'` at 0,
//! `log` is NaN below 0. Away from the guards, derivatives equal finite differences.

use noether::{Backend, Model, Simulator, Source};

use crate::support::on_every_engine;

on_every_engine!(
    lennard_jones_forces_are_minus_the_energy_gradient,
    lennard_jones_energy_is_conserved_to_fourth_order,
    gradients_through_lennard_jones_dynamics,
    guarded_singularities_have_finite_exact_gradients,
    forward_mode_ignores_untaken_branches,
);

/// 27 particles of a simple cubic lattice, displaced, in a periodic box; the pair filter
/// excludes each particle's pair with itself (`r2 = 0`) and pairs beyond the cut-off.
const LENNARD_JONES: &str = "const n = 3\nconst N = n^3\nconst a = 1.1\nconst L = n * a\nconst rc = 1.3\n\
    param eps = 1.0\n\
    state x : [p < N, k < 3] = a * (if k == 0 then p % n else if k == 1 then (p // n) % n else p // (n * n)) \
    + 0.04 * sin(7 * p + 3 * k)\n\
    state v : [p < N, k < 3] = 0\n\
    let d[p, q, k] = min_image(x[p, k] - x[q, k], L)\nlet r2[p, q] = sum(k) d[p, q, k]^2\n\
    energy E = 0.5 * eps * sum(p, q | p != q and r2[p, q] < rc^2) lennard_jones(r2[p, q])\n\
    d/dt x = v\nd/dt v = -grad(E, x)\n";

fn simulator(text: &str, backend: Backend) -> Simulator {
    let model =
        Model::from_source(Source::new("filters.noe", text), &[], "tests/cases").unwrap_or_else(|f| panic!("{f:?}"));
    model.simulator(backend).unwrap_or_else(|f| panic!("{f:?}"))
}

/// After one Euler step of `dt = 1` from rest, `v` holds the forces at the initial positions
/// (which that step does not move): they equal central differences of `E`.
fn lennard_jones_forces_are_minus_the_energy_gradient(backend: Backend) {
    let text = format!("{LENNARD_JONES}run euler(dt = 1, steps = 1)\n");
    let mut sim = simulator(&text, backend);
    sim.run().expect("runs");
    let forces = sim.field("v").expect("state").to_owned();
    assert!(forces.iter().all(|f| f.is_finite()), "forces must be finite: {forces:?}");
    let largest = forces.iter().fold(0.0_f64, |m, f| m.max(f.abs()));
    assert!(largest > 0.1, "the displaced lattice feels forces");
    let energy_with = |index: usize, delta: f64| {
        let mut sim = simulator(&text, backend);
        sim.set_initial_offset("x", index, delta).expect("state");
        sim.run().expect("runs");
        sim.scalar("E").expect("energy")
    };
    for index in (0..81).step_by(7) {
        let h = 1e-6;
        let slope = (energy_with(index, h) - energy_with(index, -h)) / (2.0 * h);
        let force = forces.as_slice().expect("contiguous")[index];
        assert!(
            (force + slope).abs() <= 1e-6 * slope.abs().max(largest),
            "x[{index}]: force {force}, -dE/dx {}",
            -slope
        );
    }
}

/// The total energy `K + E` of an RK4 run drifts like `dt^4` (or faster): halving `dt` twice
/// divides the largest drift by at least `2^3.5` each time.
fn lennard_jones_energy_is_conserved_to_fourth_order(backend: Backend) {
    let text = format!(
        "{LENNARD_JONES}observe H = 0.5 * sum(p, k) v[p, k]^2 + E\nobserve K = 0.5 * sum(p, k) v[p, k]^2\n\
         run rk4(dt = 0.02, steps = 20)\n"
    );
    let drift = |dt: f64| {
        let mut sim = simulator(&text, backend);
        sim.set_dt(dt).expect("dt");
        sim.set_steps((0.4 / dt).round() as u64).expect("steps");
        sim.run().expect("runs");
        let kinetic = sim.observable("K").expect("observe");
        assert!(kinetic.iter().fold(0.0_f64, |m, k| m.max(*k)) > 1.0, "the particles move");
        let total = sim.observable("H").expect("observe");
        total.iter().fold(0.0_f64, |m, h| m.max((h - total[0]).abs()))
    };
    let drifts: Vec<f64> = [0.02, 0.01, 0.005].into_iter().map(drift).collect();
    for pair in drifts.windows(2) {
        let order = (pair[0] / pair[1]).log2();
        assert!(order >= 3.5, "energy drifts {drifts:?}: order {order} when dt halves");
    }
}

/// A loss after a few steps of the dynamics, whose forces come from the filtered pair sum:
/// its reverse pass differentiates the force kernels' adjoints again (second order).
fn gradients_through_lennard_jones_dynamics(backend: Backend) {
    let text = format!("{LENNARD_JONES}loss S = sum(p, k) x[p, k] * sin(p + k)\nrun rk4(dt = 0.02, steps = 10)\n");
    let gradient = simulator(&text, backend).gradient("S", &["eps", "x"]).expect("gradient");
    let by = |name: &str| gradient.gradients.iter().find(|(n, _)| n == name).expect("asked for").1.clone();
    let (d_eps, d_x) = (by("eps"), by("x"));
    assert!(d_x.iter().chain(d_eps.iter()).all(|g| g.is_finite()), "gradients must be finite");
    let h = 1e-5;
    let loss_with = |eps: f64, index: Option<usize>, delta: f64| {
        let mut sim = simulator(&text, backend);
        sim.set_param("eps", eps).expect("param");
        if let Some(index) = index {
            sim.set_initial_offset("x", index, delta).expect("state");
        }
        sim.run().expect("runs");
        sim.scalar("S").expect("loss")
    };
    let slope = (loss_with(1.0 + h, None, 0.0) - loss_with(1.0 - h, None, 0.0)) / (2.0 * h);
    let got = d_eps[[]];
    assert!((got - slope).abs() <= 1e-6 * slope.abs().max(1.0), "dS/deps: {got} vs {slope}");
    for index in [0, 13, 40, 77] {
        let slope = (loss_with(1.0, Some(index), h) - loss_with(1.0, Some(index), -h)) / (2.0 * h);
        let got = d_x.as_slice().expect("contiguous")[index];
        assert!((got - slope).abs() <= 1e-6 * slope.abs().max(1.0), "dS/dx[{index}]: {got} vs {slope}");
    }
}

/// `sqrt`, `log` and negative powers behind `if`, filters, `min` and `max`, at points where the
/// guards exclude their singularities (`u = 0` exactly, `w` negative, `i == j`): the gradient is
/// finite everywhere and equals central differences at the points the guards let through.
fn guarded_singularities_have_finite_exact_gradients(backend: Backend) {
    let text = "param s = 0.5\n\
                state u : [i < 12] = max(0, sin(i))\n\
                state w : [i < 12] = cos(1.3 * i)\n\
                state z : [i < 6] = i + 0.3 * sin(i)\n\
                d/dt u = -0.1 * u\nd/dt w = -0.1 * w\nd/dt z = 0.1 * s\n\
                loss L = sum(i | u[i] > 0) (s - sqrt(s * u[i])) \
                + sum(i) (if w[i] > 0 then -log(w[i]) * s else 0) \
                + sum(i, j | i != j) s * (z[i] - z[j])^-2 \
                + mean(i | u[i] > 0) (1 - u[i]^-3) \
                + sum(i) (s * max(0.5, sqrt(u[i])) + min(u[i]^-2, 10))\n\
                run euler(dt = 0.1, steps = 3)\n";
    let gradient = simulator(text, backend).gradient("L", &["s", "u", "w", "z"]).expect("gradient");
    for (name, g) in &gradient.gradients {
        assert!(g.iter().all(|x| x.is_finite()), "d/d{name} must be finite: {g:?}");
    }
    let by = |name: &str| gradient.gradients.iter().find(|(n, _)| n == name).expect("asked for").1.clone();
    let loss_with = |state: Option<(&str, usize)>, ds: f64, delta: f64| {
        let mut sim = simulator(text, backend);
        sim.set_param("s", 0.5 + ds).expect("param");
        if let Some((name, index)) = state {
            sim.set_initial_offset(name, index, delta).expect("state");
        }
        sim.run().expect("runs");
        sim.scalar("L").expect("loss")
    };
    let h = 1e-6;
    let slope = (loss_with(None, h, 0.0) - loss_with(None, -h, 0.0)) / (2.0 * h);
    let got = by("s")[[]];
    assert!((got - slope).abs() <= 1e-6 * slope.abs().max(1.0), "dL/ds: {got} vs {slope}");
    // u[0] = u[4] = 0 and w[2] < 0 sit on the guards: a difference there would cross them.
    for (name, index) in [("u", 1), ("u", 2), ("u", 7), ("w", 0), ("w", 5), ("z", 0), ("z", 3)] {
        let slope = (loss_with(Some((name, index)), 0.0, h) - loss_with(Some((name, index)), 0.0, -h)) / (2.0 * h);
        let got = by(name).as_slice().expect("contiguous")[index];
        assert!((got - slope).abs() <= 1e-6 * slope.abs().max(1.0), "dL/d{name}[{index}]: {got} vs {slope}");
    }
    // On the guards the excluded branch contributes nothing: u[0] = 0 reaches no term.
    assert_eq!(by("u").as_slice().expect("contiguous")[0], 0.0);
}

/// `diff` through a condition whose untaken branch is singular where it is evaluated: first
/// and second derivatives are the taken branch's, exactly zero on the other side.
fn forward_mode_ignores_untaken_branches(backend: Backend) {
    let text = "fn f(s) = if s > 0 then s * sqrt(s) else 0\n\
                fn g(s) = if s > 0 then log(s) else s\n\
                fn q(c) = sum(i < 5 | i != 2) sqrt(abs(i - 2) * c)\n\
                fn df(s) = diff(f(s), s)\nfn d2f(s) = diff(diff(f(s), s), s)\n\
                fn dg(s) = diff(g(s), s)\nfn d2g(s) = diff(diff(g(s), s), s)\nfn dq(c) = diff(q(c), c)\n\
                observe f1_at_0 = df(0)\nobserve f2_at_0 = d2f(0)\nobserve f1 = df(0.3)\nobserve f2 = d2f(0.3)\n\
                observe g1_at_0 = dg(0)\nobserve g2_below = d2g(-1)\nobserve h = dq(0.5)\n\
                state y = 0\nd/dt y = 0 * y\nrun euler(dt = 1, steps = 1)\n";
    let mut sim = simulator(text, backend);
    sim.run().expect("runs");
    let mut value = |name: &str| sim.scalar(name).expect("observe");
    assert_eq!(value("f1_at_0"), 0.0);
    assert_eq!(value("f2_at_0"), 0.0);
    assert!((value("f1") - 1.5 * 0.3f64.sqrt()).abs() < 1e-15);
    assert!((value("f2") - 0.75 / 0.3f64.sqrt()).abs() < 1e-14);
    assert_eq!(value("g1_at_0"), 1.0);
    assert_eq!(value("g2_below"), 0.0);
    let h: f64 =
        [0.0f64, 1.0, 3.0, 4.0].iter().map(|&i| (i - 2.0).abs() / (2.0 * (0.5 * (i - 2.0).abs()).sqrt())).sum();
    assert!((value("h") - h).abs() < 1e-14, "{} vs {h}", value("h"));
}
