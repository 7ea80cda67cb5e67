//! Molecular dynamics with `verlet` (kick, drift, kick) and `leapfrog` (drift, kick, drift) on
//! Lennard-Jones systems: the forces the integrator applies are minus the energy's central
//! differences; the energy error of both splittings is second order; the design's lattice has
//! the energy a double loop gives; every engine and thread count gives the same bits; gradients
//! through a run meet finite differences.

use noether::{Backend, EngineOptions, Model, Simulator, Source};

use crate::support::on_every_engine;

on_every_engine!(
    forces_are_minus_central_differences_of_the_energy,
    energy_error_is_second_order_in_dt,
    lattice_energy_equals_a_double_loop,
    gradients_through_a_verlet_run_meet_finite_differences,
    a_param_set_between_steps_changes_the_carried_force,
);

/// 64 particles of a simple cubic lattice at density 0.8, displaced and moving a little, in a
/// periodic box of 4 lattice spacings with the cut-off at 2. The closest shells sit at
/// `sqrt(3) a = 1.87` and `2 a = 2.15`: small oscillations keep every pair on its side of the
/// cut-off, so the truncated potential is smooth along the trajectories tested.
fn small_lattice(integrator: &str, dt: f64, steps: u64) -> String {
    format!(
        "const n = 4\nconst N = n^3\nconst a = (1 / 0.8)^(1/3)\nconst L = n * a\nconst rc = 2.0\n\
         param eps = 1.0\n\
         state x : [p < N, k < 3] = a * (if k == 0 then p % n else if k == 1 then (p // n) % n else p // (n * n)) \
         + 0.02 * sin(7 * p + 3 * k)\n\
         state v : [p < N, k < 3] = 0.05 * cos(5 * p + 2 * k)\n\
         let d[p, q, k] = min_image(x[p, k] - x[q, k], L)\nlet r2[p, q] = sum(k) d[p, q, k]^2\n\
         energy E = 0.5 * eps * sum(p, q | p != q and r2[p, q] < rc^2) lennard_jones(r2[p, q])\n\
         d/dt x = v\nd/dt v = -grad(E, x)\n\
         observe H = 0.5 * sum(p, k) v[p, k]^2 + E\n\
         loss S = sum(p, k) (x[p, k] * sin(p + k) + v[p, k] * cos(p - k))\n\
         run {integrator}(dt = {dt}, steps = {steps})\n"
    )
}

fn simulator(text: &str, backend: Backend, threads: usize) -> Simulator {
    let model = Model::from_source(Source::new("md.noe", text), &[], ".").unwrap_or_else(|f| panic!("{f:?}"));
    let options = EngineOptions { threads: Some(threads), ..EngineOptions::default() };
    model.simulator_with(backend, options).unwrap_or_else(|f| panic!("{f:?}"))
}

/// One velocity Verlet step of `dt = 1` from rest moves `x` by exactly half the acceleration
/// at the start (the carried one, from `init_carried`); it equals minus the central
/// differences of `E`.
fn forces_are_minus_central_differences_of_the_energy(backend: Backend) {
    let text = small_lattice("verlet", 1.0, 1).replace("0.05 * cos(5 * p + 2 * k)", "0");
    let mut sim = simulator(&text, backend, 2);
    let x0 = sim.state("x").expect("state").to_owned();
    sim.run().expect("runs");
    let x1 = sim.state("x").expect("state").to_owned();
    let forces: Vec<f64> = x1.iter().zip(&x0).map(|(b, a)| 2.0 * (b - a)).collect();
    let largest = forces.iter().fold(0.0_f64, |m, f| m.max(f.abs()));
    assert!(largest > 0.5, "the displaced lattice feels forces: {largest}");
    let energy_with = |index: usize, delta: f64| {
        let mut sim = simulator(&text, backend, 2);
        sim.set_initial_offset("x", index, delta).expect("state");
        sim.reset().expect("resets");
        sim.scalar("E").expect("energy")
    };
    for index in (0..192).step_by(11) {
        let h = 1e-6;
        let slope = (energy_with(index, h) - energy_with(index, -h)) / (2.0 * h);
        assert!(
            (forces[index] + slope).abs() <= 1e-6 * largest,
            "x[{index}]: force {}, -dE/dx {}",
            forces[index],
            -slope
        );
    }
}

/// The largest `|H(t) - H(0)|` over `t <= 0.25`, with every pair's side of the cut-off checked
/// at every step (the premise of a smooth energy).
fn energy_error(integrator: &str, dt: f64, backend: Backend) -> f64 {
    let steps = (0.25 / dt).round() as u64;
    let mut sim = simulator(&small_lattice(integrator, dt, steps), backend, 2);
    sim.record_paths(192);
    sim.run().expect("runs");
    let paths = sim.paths("x").expect("recorded");
    let (n, box_side, cut) = (64, 4.0 * (1.0_f64 / 0.8).powf(1.0 / 3.0), 4.0);
    let inside = |row: usize| -> Vec<bool> {
        let x = |p: usize, k: usize| paths[[row, 3 * p + k]];
        let mut inside = Vec::with_capacity(n * n);
        for p in 0..n {
            for q in 0..n {
                let r2: f64 = (0..3)
                    .map(|k| {
                        let d = x(p, k) - x(q, k);
                        (d - box_side * (d / box_side + 0.5).floor()).powi(2)
                    })
                    .sum();
                inside.push(r2 < cut);
            }
        }
        inside
    };
    let start = inside(0);
    for row in 1..paths.nrows() {
        assert!(inside(row) == start, "{integrator}, dt = {dt}: a pair crossed the cut-off at step {row}");
    }
    let total = sim.observable("H").expect("observed");
    total.iter().fold(0.0_f64, |m, h| m.max((h - total[0]).abs()))
}

/// Halving `dt` divides the largest energy error by 4 (within 20%): second order, for both
/// splittings.
fn energy_error_is_second_order_in_dt(backend: Backend) {
    for integrator in ["verlet", "leapfrog"] {
        let (coarse, fine) = (energy_error(integrator, 0.004, backend), energy_error(integrator, 0.002, backend));
        assert!(coarse > 1e-9, "{integrator}: the energy error is visible: {coarse}");
        let ratio = coarse / fine;
        assert!((ratio - 4.0).abs() <= 0.8, "{integrator}: errors {coarse} and {fine}, ratio {ratio}");
    }
}

/// `examples/lj.noe` at step 0: 1000 particles on a simple cubic lattice at density 0.8, cut-off
/// 2.5, against the double sum over ordered pairs written out here, with the minimum image in a
/// box of 10 lattice spacings.
fn lattice_energy_equals_a_double_loop(backend: Backend) {
    let model = Model::from_file("examples/lj.noe").unwrap_or_else(|f| panic!("{f:?}"));
    let mut sim = model.simulator(backend).unwrap_or_else(|f| panic!("{f:?}"));
    let energy = sim.scalar("E").expect("energy");
    let a = (1.0_f64 / 0.8).powf(1.0 / 3.0);
    let side = 10.0 * a;
    let site = |p: usize| [(p % 10) as f64 * a, ((p / 10) % 10) as f64 * a, (p / 100) as f64 * a];
    let mut sum = 0.0;
    for p in 0..1000 {
        for q in 0..1000 {
            let (xp, xq) = (site(p), site(q));
            let r2: f64 = (0..3)
                .map(|k| {
                    let d = xp[k] - xq[k];
                    (d - side * (d / side + 0.5).floor()).powi(2)
                })
                .sum();
            if p != q && r2 < 2.5 * 2.5 {
                sum += 4.0 * (r2.powi(-6) - r2.powi(-3));
            }
        }
    }
    let expected = 0.5 * sum;
    assert!((energy - expected).abs() <= 1e-12 * expected.abs(), "{energy} vs {expected}");
    assert!((expected / 1000.0 + 5.26).abs() < 0.01, "about -5.26 per particle: {}", expected / 1000.0);
}

/// The gradient of a loss after ten steps with respect to the potential's strength and the
/// initial positions and velocities: reverse mode through the step's forces (the energy
/// differentiated twice) and through the carried initial acceleration.
fn gradients_through_a_verlet_run_meet_finite_differences(backend: Backend) {
    for integrator in ["verlet", "leapfrog"] {
        let text = small_lattice(integrator, 0.01, 10);
        let gradient = simulator(&text, backend, 2).gradient("S", &["eps", "x", "v"]).expect("gradient");
        let by = |name: &str| gradient.get(name).expect("asked for").clone();
        let h = 1e-5;
        let loss_with = |eps: f64, offset: Option<(&str, usize)>, delta: f64| {
            let mut sim = simulator(&text, backend, 2);
            sim.set_param("eps", eps).expect("param");
            if let Some((state, index)) = offset {
                sim.set_initial_offset(state, index, delta).expect("state");
            }
            sim.run().expect("runs");
            sim.scalar("S").expect("loss")
        };
        let slope = (loss_with(1.0 + h, None, 0.0) - loss_with(1.0 - h, None, 0.0)) / (2.0 * h);
        let got = by("eps")[[]];
        assert!((got - slope).abs() <= 1e-6 * slope.abs().max(1.0), "{integrator}: dS/deps {got} vs {slope}");
        for (state, index) in [("x", 0), ("x", 77), ("x", 190), ("v", 5), ("v", 100)] {
            let at = Some((state, index));
            let slope = (loss_with(1.0, at, h) - loss_with(1.0, at, -h)) / (2.0 * h);
            let got = by(state).as_slice().expect("contiguous")[index];
            assert!(
                (got - slope).abs() <= 1e-6 * slope.abs().max(1.0),
                "{integrator}: dS/d{state}[{index}] {got} vs {slope}"
            );
        }
    }
}

/// 216 particles (the forces and the energy's 46,656 pairs above the JIT's parallel threshold,
/// so the energy is summed by rows): the interpreter and the JIT with 1, 2 and 3 threads take
/// the same steps, observe the same energies and give the same gradients, bit for bit.
#[test]
fn engines_and_thread_counts_agree_bit_for_bit() {
    for integrator in ["verlet", "leapfrog"] {
        let text = small_lattice(integrator, 0.005, 3)
            .replace("const n = 4", "const n = 6")
            .replace("const rc = 2.0", "const rc = 2.5");
        let run = |backend: Backend, threads: usize| {
            let mut sim = simulator(&text, backend, threads);
            sim.run().expect("runs");
            let states = [sim.state("x").expect("state").to_owned(), sim.state("v").expect("state").to_owned()];
            let energies = sim.observable("H").expect("observed").to_vec();
            let gradient = sim.gradient("S", &["eps", "x", "v"]).expect("gradient");
            let mut bits: Vec<u64> = states.iter().flat_map(|s| s.iter().map(|v| v.to_bits())).collect();
            bits.extend(energies.iter().map(|v| v.to_bits()));
            bits.extend(gradient.gradients.iter().flat_map(|(_, g)| g.iter().map(|v| v.to_bits())));
            bits
        };
        let reference = run(Backend::Interp, 1);
        for threads in [1, 2, 3] {
            let jit = run(Backend::Jit, threads);
            let first = reference.iter().zip(&jit).position(|(a, b)| a != b);
            assert!(first.is_none(), "{integrator}, {threads} threads: differs at {first:?}");
        }
    }
}

/// Switching the potential off between steps leaves the velocities alone in the next step: the
/// force velocity Verlet carries from the last step is recomputed with the new param.
fn a_param_set_between_steps_changes_the_carried_force(backend: Backend) {
    let mut sim = simulator(&small_lattice("verlet", 0.01, 3), backend, 2);
    sim.reset().expect("resets");
    sim.step().expect("steps");
    sim.set_param("eps", 0.0).expect("param");
    let before = sim.state("v").expect("state").to_owned();
    sim.step().expect("steps");
    assert_eq!(sim.state("v").expect("state"), before, "the old force kicked the velocities");
}

/// Observing `potential = E` and `total = kinetic + potential` sums the pair energy once per
/// observation, not once per observable: the repeated row sums become copies, and the observed
/// values are those of separate evaluations.
#[test]
fn energy_observables_share_one_pair_sum() {
    let text = std::fs::read_to_string("examples/lj.noe").expect("the example").replace("N = 1000", "N = 200");
    let model = Model::from_source(Source::new("lj.noe", text), &[], ".").unwrap_or_else(|f| panic!("{f:?}"));
    let program = model.compiled().program.clone();
    let observe = program.procedure(model.compiled().interface.observe);
    let pair_sums = observe
        .kernels
        .iter()
        .filter(|k| program.kernel(**k).nodes.iter().any(|n| matches!(n, noether::compiler::ir::Node::Reduce(_))))
        .filter(|k| program.kernel(**k).work() >= 200 * 200)
        .count();
    assert_eq!(pair_sums, 1, "{}", noether::compiler::ir::print(&program));
    let mut sim = model.simulator(Backend::Jit).expect("builds");
    sim.set_steps(3).expect("steps");
    sim.run().expect("runs");
    let mut scalar = |name: &str| sim.scalar(name).expect("a scalar");
    let (potential, total, kinetic) = (scalar("potential"), scalar("total"), scalar("kinetic"));
    assert_eq!(sim.observable("potential").expect("observed").last(), Some(&potential));
    assert_eq!(sim.observable("total").expect("observed").last(), Some(&total));
    assert_eq!(total, kinetic + potential);
}
