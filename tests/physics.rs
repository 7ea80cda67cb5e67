//! Physics oracles: exact discrete solutions, conservation laws, convergence orders.

use std::f64::consts::PI;

use noether::Backend;

use crate::support::{close, failure_on, on_every_engine, simulator};

on_every_engine!(
    heat_fourier_mode_decays_by_the_amplification_factor,
    heat_conserves_the_sum_on_a_periodic_grid,
    dirichlet_reads_the_boundary_value_outside,
    neumann_mirrors_about_the_edge_so_the_centred_slope_is_zero,
    clamp_repeats_the_edge_value,
    convergence_orders_of_euler_heun_and_rk4,
    time_enters_expressions_at_each_stage,
    blow_up_names_the_state_step_and_index,
    params_can_be_set_through_the_api,
    data_fields_are_loaded_and_converted,
);

/// One Fourier mode on a periodic grid decays by the explicit scheme's amplification factor,
/// step by step.
fn heat_fourier_mode_decays_by_the_amplification_factor(backend: Backend) {
    let (n, k, l, d, dt) = (16.0, 2.0, 3.0, 0.2, 1.0);
    let mut sim = simulator(
        &format!(
            "const N = {n}\nparam D = {d}\nshape G = [i < N, j < N] periodic\n\
         state u : G = cos(2 * pi * {k} * i / N) * cos(2 * pi * {l} * j / N)\n\
         d/dt u = D * laplacian(u)\nrun euler(dt = {dt}, steps = 20)\n"
        ),
        backend,
    );
    let factor = 1.0 - 4.0 * d * dt * ((PI * k / n).sin().powi(2) + (PI * l / n).sin().powi(2));
    let initial = sim.state("u").expect("u").to_owned();
    for step in 1..=20 {
        sim.step().expect("step");
        let expected = factor.powi(step);
        let u = sim.state("u").expect("u");
        for (now, then) in u.iter().zip(initial.iter()) {
            assert!(
                (now - expected * then).abs() <= 1e-12 * expected.abs(),
                "step {step}: {now} vs {}",
                expected * then
            );
        }
    }
}

fn heat_conserves_the_sum_on_a_periodic_grid(backend: Backend) {
    let mut sim = simulator(
        "shape G = [i < 12, j < 9] periodic\nstate u : G = exp(-((i - 4)^2 + (j - 6)^2) / 5) + 0.3 * sin(i * j)\n\
         d/dt u = 0.2 * laplacian(u)\nobserve total = sum(i, j) u[i, j]\nrun heun(dt = 0.5, steps = 40)\n",
        backend,
    );
    sim.run().expect("runs");
    let total = sim.observable("total").expect("observed");
    assert_eq!(total.len(), 41);
    assert!(total.iter().all(|t| close(*t, total[0], 1e-12)), "{total:?}");
}

/// The Euler update of a 1D Laplacian, computed here from each rule's definition.
fn expected_step(u: &[f64], ghost: impl Fn(&[f64], i64) -> f64, dt: f64) -> Vec<f64> {
    let n = u.len() as i64;
    let at = |i: i64| if (0..n).contains(&i) { u[i as usize] } else { ghost(u, i) };
    (0..n).map(|i| at(i) + dt * (at(i - 1) - 2.0 * at(i) + at(i + 1))).collect()
}

fn one_step(rule: &str, backend: Backend) -> (Vec<f64>, Vec<f64>) {
    let mut sim = simulator(
        &format!("state u : [i < 6] {rule} = (i - 2)^2 / 3\nd/dt u = laplacian(u)\nrun euler(dt = 0.25, steps = 1)\n"),
        backend,
    );
    let before = sim.state("u").expect("u").iter().copied().collect();
    sim.step().expect("step");
    (before, sim.state("u").expect("u").iter().copied().collect())
}

fn dirichlet_reads_the_boundary_value_outside(backend: Backend) {
    let (before, after) = one_step("dirichlet(2)", backend);
    assert_eq!(after, expected_step(&before, |_, _| 2.0, 0.25));
    // The first cell feels the boundary value: u[-1] = 2.
    assert_eq!(after[0], before[0] + 0.25 * (2.0 - 2.0 * before[0] + before[1]));
}

fn neumann_mirrors_about_the_edge_so_the_centred_slope_is_zero(backend: Backend) {
    let (before, after) = one_step("neumann", backend);
    let mirror = |u: &[f64], i: i64| if i < 0 { u[(-i) as usize] } else { u[2 * (u.len() - 1) - i as usize] };
    assert_eq!(after, expected_step(&before, mirror, 0.25));
}

fn clamp_repeats_the_edge_value(backend: Backend) {
    let (before, after) = one_step("clamp", backend);
    let edge = |u: &[f64], i: i64| if i < 0 { u[0] } else { u[u.len() - 1] };
    assert_eq!(after, expected_step(&before, edge, 0.25));
}

/// Error at t = 1 of `y' = -y, y(0) = 1` for a method and number of steps.
fn decay_error(method: &str, steps: u64, backend: Backend) -> f64 {
    let mut sim = simulator(
        &format!("state y = 1\nd/dt y = -y\nrun {method}(dt = {}, steps = {steps})\n", 1.0 / steps as f64),
        backend,
    );
    sim.run().expect("runs");
    (sim.state("y").expect("y")[[]] - (-1.0f64).exp()).abs()
}

fn convergence_orders_of_euler_heun_and_rk4(backend: Backend) {
    for (method, order) in [("euler", 1), ("heun", 2), ("rk4", 4)] {
        let ratios: Vec<f64> = [10, 20, 40]
            .windows(2)
            .map(|w| decay_error(method, w[0], backend) / decay_error(method, w[1], backend))
            .collect();
        let expected = 2f64.powi(order);
        for ratio in ratios {
            assert!((ratio / expected - 1.0).abs() < 0.1, "{method}: ratio {ratio}, expected about {expected}");
        }
    }
}

fn time_enters_expressions_at_each_stage(backend: Backend) {
    // y' = cos(t), y(0) = 0 gives sin(t); rk4 must evaluate cos at the stage times.
    let mut sim = simulator("state y = 0\nd/dt y = cos(t)\nrun rk4(dt = 0.1, steps = 10)\n", backend);
    sim.run().expect("runs");
    let error = (sim.state("y").expect("y")[[]] - 1f64.sin()).abs();
    assert!(error < 1e-7, "error {error}");
    assert!(close(sim.time(), 1.0, 1e-12));
}

fn blow_up_names_the_state_step_and_index(backend: Backend) {
    let text = "state u : [i < 8] periodic = if i == 3 then 1 else 0\nd/dt u = 3 * laplacian(u)\nrun euler(dt = 1, steps = 2000)\n";
    let failure = failure_on(text, &[], backend).expect("fails");
    assert_eq!(failure.codes(), vec!["noether::run::non_finite"]);
    let text = failure.render_plain(100);
    assert!(text.contains("`u` became"), "{text}");
    assert!(text.contains("at step"), "{text}");
    assert!(text.contains("first at index ["), "{text}");
}

fn params_can_be_set_through_the_api(backend: Backend) {
    let text = "param D = 0.1\nstate y = 1\nd/dt y = -D * y\nloss L = y\nrun rk4(dt = 0.01, steps = 100)\n";
    let mut sim = simulator(text, backend);
    sim.set_param("D", 0.5).expect("param");
    sim.run().expect("runs");
    assert!(close(sim.scalar("L").expect("loss"), (-0.5f64).exp(), 1e-9));
    assert!(sim.set_param("E", 1.0).is_err());
}

fn data_fields_are_loaded_and_converted(backend: Backend) {
    let mut sim =
        simulator("data g : [i < 4, j < 4] = load(\"data/grid4x4_f32.npy\")\nloss L = sum(i, j) g[i, j]\n", backend);
    assert_eq!(sim.scalar("L").expect("loss"), 120.0);
}
