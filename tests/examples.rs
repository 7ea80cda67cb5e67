//! The shipped examples compile to the IR in their snapshots and run to physically sensible
//! results (on reduced sizes, to keep the suite fast).

use noether::{Backend, Model, Override};

fn run(name: &str, overrides: &[(&str, f64)], steps: u64) -> noether::Simulator {
    let overrides: Vec<Override> = overrides.iter().map(|(n, v)| Override { name: n.to_string(), value: *v }).collect();
    let model = Model::from_file_with(format!("examples/{name}.noe"), &overrides).unwrap_or_else(|f| panic!("{f:?}"));
    let mut sim = model.simulator(Backend::Jit).unwrap_or_else(|f| panic!("{f:?}"));
    sim.set_steps(steps).unwrap_or_else(|f| panic!("{f:?}"));
    sim.run().unwrap_or_else(|f| panic!("{name}: {f:?}"));
    sim
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
