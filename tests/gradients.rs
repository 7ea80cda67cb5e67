//! Gradients through whole runs agree with central finite differences.

use noether::{Backend, Model, Source};

use crate::support::on_every_engine;

on_every_engine!(scalar_params_of_heat_match_finite_differences,);

fn loss_at(text: &str, backend: Backend, param: &str, value: f64, loss: &str) -> f64 {
    let model = Model::from_source(Source::new("g.noe", text), &[], ".").unwrap_or_else(|f| panic!("{f:?}"));
    let mut sim = model.simulator(backend).unwrap_or_else(|f| panic!("{f:?}"));
    sim.set_param(param, value).expect("param");
    sim.run().expect("runs");
    sim.scalar(loss).expect("loss")
}

/// Central difference of the loss in one scalar param.
fn finite_difference(text: &str, backend: Backend, param: &str, value: f64, loss: &str) -> f64 {
    let h = 1e-5 * value.abs().max(1.0);
    (loss_at(text, backend, param, value + h, loss) - loss_at(text, backend, param, value - h, loss)) / (2.0 * h)
}

fn scalar_params_of_heat_match_finite_differences(backend: Backend) {
    let text = "param D = 0.2\nparam a = 1.3\nstate u : [i < 6] periodic = a * sin(i)\nd/dt u = D * laplacian(u)\n\
                loss L = sum(i) u[i]^2\nrun euler(dt = 0.5, steps = 3)\n";
    let model = Model::from_source(Source::new("g.noe", text), &[], ".").unwrap_or_else(|f| panic!("{f:?}"));
    let mut sim = model.simulator(backend).unwrap_or_else(|f| panic!("{f:?}"));
    let gradient = sim.gradient("L", &["D", "a"]).unwrap_or_else(|f| panic!("{f:?}"));
    for (name, value) in [("D", 0.2), ("a", 1.3)] {
        let fd = finite_difference(text, backend, name, value, "L");
        let ad = gradient.get(name).expect("asked")[[]];
        assert!((ad - fd).abs() <= 1e-6 * fd.abs().max(1e-8), "{name}: ad {ad} fd {fd}");
    }
}
