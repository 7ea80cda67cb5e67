//! Streaming observations (`Simulator::run_observing`): the frames carry exactly what the run
//! records, for integration and sampling, and a break stops the run at that step.

use std::ops::ControlFlow;

use noether::{Backend, Frame};

use crate::support::{on_every_engine, simulator};

const DECAY: &str = "
    param k = 0.5
    state x : [i < 3] = i + 1
    d/dt x[i] = -k * x[i]
    observe total = sum(i) x[i]
    observe first = x[0]
    run euler(dt = 0.1, steps = 150)";

/// 8×8 Ising: 5 burn-in sweeps, then 12 sweeps of which every 3rd is recorded.
const ISING: &str = "
    param beta = 0.4
    state s : [i < 8, j < 8] periodic spin = 1
    energy H = -sum(i, j) s[i, j] * (s[i+1, j] + s[i, j+1])
    observe e = H / 64
    observe m = mean(i, j) s[i, j]
    sample s ~ exp(-beta * H) with metropolis(sweeps = 12, thin = 3, burn_in = 5, seed = 2)";

/// What a caller keeps of each frame: step, time and every observable's value.
fn keep(frame: &Frame<'_>) -> (u64, f64, Vec<(String, f64)>) {
    (frame.step(), frame.time(), frame.values().map(|(n, v)| (n.to_string(), v)).collect())
}

fn streams_what_integration_records(backend: Backend) {
    let mut sim = simulator(DECAY, backend);
    let mut frames = Vec::new();
    sim.run_observing(|frame| {
        assert_eq!(frame.value("total").expect("observed"), frame.simulator().state("x").expect("state").sum());
        frames.push(keep(frame));
        ControlFlow::Continue(())
    })
    .expect("runs");
    // The start and every step, more than one NaN-guard interval (64 steps).
    assert_eq!(frames.len(), 151);
    let steps: Vec<u64> = frames.iter().map(|f| f.0).collect();
    assert_eq!(steps, (0..=150).collect::<Vec<u64>>());
    let times: Vec<f64> = frames.iter().map(|f| f.1).collect();
    assert_eq!(times, sim.times());
    for (column, name) in ["total", "first"].into_iter().enumerate() {
        let streamed: Vec<f64> = frames.iter().map(|f| f.2[column].1).collect();
        assert!(frames.iter().all(|f| f.2[column].0 == name));
        assert_eq!(streamed, sim.observable(name).expect("observed"));
    }
}

fn early_stop_leaves_the_simulator_at_that_step(backend: Backend) {
    let mut sim = simulator(DECAY, backend);
    let mut seen = 0;
    sim.run_observing(|frame| {
        seen += 1;
        if frame.step() == 70 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    })
    .expect("runs");
    assert_eq!(seen, 71);
    assert_eq!(sim.steps_done(), 70);
    assert!((sim.time() - 7.0).abs() < 1e-12, "time {}", sim.time());
    assert_eq!(sim.observable("total").expect("observed").len(), 71);
    // x[0] = (1 - k dt)^70 exactly as Euler steps it, not a later step's value.
    let expected = 0.95f64.powi(70);
    assert!((sim.state("x").expect("state")[0] - expected).abs() < 1e-12);
    // Breaking at the start leaves the initial state.
    sim.run_observing(|_| ControlFlow::Break(())).expect("runs");
    assert_eq!((sim.steps_done(), sim.times().len()), (0, 1));
}

fn streams_what_sampling_records(backend: Backend) {
    let mut sim = simulator(ISING, backend);
    let mut frames = Vec::new();
    sim.run_observing(|frame| {
        frames.push(keep(frame));
        ControlFlow::Continue(())
    })
    .expect("samples");
    let steps: Vec<u64> = frames.iter().map(|f| f.0).collect();
    assert_eq!(steps, [8, 11, 14, 17], "sweeps made when recorded: burn-in 5, then every 3rd");
    assert_eq!(frames.iter().map(|f| f.1).collect::<Vec<f64>>(), sim.times());
    for (column, name) in ["e", "m"].into_iter().enumerate() {
        let streamed: Vec<f64> = frames.iter().map(|f| f.2[column].1).collect();
        assert_eq!(streamed, sim.observable(name).expect("observed"));
    }

    // A break stops the chain at that sweep; the same seed draws the same chain up to it.
    let full_m = sim.observable("m").expect("observed").to_vec();
    sim.run_observing(|frame| if frame.step() == 11 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) })
        .expect("samples");
    assert_eq!(sim.steps_done(), 11);
    assert_eq!(sim.observable("m").expect("observed"), &full_m[..2]);
    let m = sim.state("s").expect("state").mean().expect("not empty");
    assert_eq!(m, full_m[1]);
}

/// An unknown observable is a diagnostic that lists the known ones, not a panic.
#[test]
fn frame_value_of_unknown_observable_lists_the_known() {
    let mut sim = simulator(DECAY, Backend::Interp);
    let mut failure = None;
    sim.run_observing(|frame| {
        failure = frame.value("totl").err();
        ControlFlow::Break(())
    })
    .expect("runs");
    let failure = failure.expect("unknown name");
    assert_eq!(failure.codes(), ["noether::api::unknown_name"]);
    assert!(failure.render_plain(80).contains("total"), "{}", failure.render_plain(80));
}

on_every_engine!(
    streams_what_integration_records,
    early_stop_leaves_the_simulator_at_that_step,
    streams_what_sampling_records
);
