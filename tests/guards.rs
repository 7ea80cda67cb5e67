//! A run or a gradient that cannot finish stops where it must: one too large for memory before
//! it allocates, with the figures; one that produces NaN or infinity at the first bad step,
//! naming the state and the index, the same for `run` and for a gradient's forward pass.

use noether::{Backend, EngineOptions, GradientMode, GradientOptions, Simulator};

use crate::support::{model, on_every_engine};

/// Heat on a small grid: its run needs a few buffers, its gradient 16 more copies of the state.
const HEAT: &str = "const N = 16\nparam D = 0.2\nshape G = [i < N, j < N] periodic\n\
                    state u : G = exp(-((i - 8)^2 + (j - 8)^2) / 8)\nd/dt u = D * laplacian(u)\n\
                    loss L = sum(i, j) u[i, j]^2\nrun euler(dt = 0.2, steps = 49)\n";

fn limited(text: &str, memory_limit: Option<u64>) -> Simulator {
    let options = EngineOptions { memory_limit, ..EngineOptions::default() };
    model(text).simulator_with(Backend::Interp, options).unwrap_or_else(|f| panic!("{f:?}"))
}

/// The check before a gradient sizes exactly what the gradient then holds: at that many bytes
/// it runs, at one byte fewer it is refused, before allocating anything, with both figures;
/// the simulator still runs. Forward mode likewise, its buffers holding the tangents.
#[test]
fn a_gradient_too_large_for_memory_is_refused_before_it_starts() {
    let reverse = GradientOptions { mode: GradientMode::Reverse, ..GradientOptions::default() };
    let peak = limited(HEAT, None).gradient_with("L", &["D"], reverse).expect("gradient").memory.peak_bytes() as u64;
    let forward = model(HEAT).run_bytes();
    assert!(forward < peak / 4, "the run ({forward} B) fits where the gradient ({peak} B) does not");

    let gradient = limited(HEAT, Some(peak)).gradient_with("L", &["D"], reverse).expect("fits at its own figure");
    assert_eq!(gradient.memory.peak_bytes() as u64, peak);

    let tangents = limited(HEAT, None).gradient("L", &["D"]).expect("gradient");
    assert_eq!(tangents.mode, GradientMode::Forward);
    let tangent_peak = tangents.memory.peak_bytes() as u64;
    assert!(forward < tangent_peak && tangent_peak < peak, "{forward} < {tangent_peak} < {peak}");
    limited(HEAT, Some(tangent_peak)).gradient("L", &["D"]).expect("fits at its own figure");
    let failure = limited(HEAT, Some(tangent_peak - 1)).gradient("L", &["D"]).expect_err("one byte short");
    assert_eq!(failure.codes(), ["noether::grad::tangents_too_large"]);

    let mut sim = limited(HEAT, Some(peak - 1));
    let buffers = sim.buffer_count();
    let failure = sim.gradient_with("L", &["D"], reverse).expect_err("one byte short");
    assert_eq!(failure.codes(), ["noether::grad::too_large"]);
    let text = failure.render_plain(200);
    let needed = noether::runtime::error::bytes_text(peak);
    let limit = noether::runtime::error::bytes_text(peak - 1);
    assert!(
        text.contains(&format!("the gradient needs {needed} of memory, more than the memory limit of {limit}")),
        "{text}"
    );
    assert!(
        text.contains("keeps 15 copies of the states"),
        "7 checkpoints, a 7-step segment, the final states: {text}"
    );
    assert_eq!(sim.buffer_count(), buffers, "no adjoint buffer was allocated");
    sim.run().expect("the run still fits");
}

/// Fewer checkpoints after more: the storage shrinks to what the new plan keeps, and the
/// report counts what is held, the same figure the check before the gradient computes.
#[test]
fn a_gradient_reports_what_it_holds() {
    let text = HEAT.replace("steps = 49", "steps = 16");
    let mut sim = limited(&text, None);
    let state = 16 * 16 * 8;
    for (checkpoints, sets) in [(16, 16 + 1 + 1), (4, 4 + 4 + 1), (1, 1 + 16 + 1), (2, 2 + 8 + 1)] {
        let options = GradientOptions { checkpoints: Some(checkpoints), ..Default::default() };
        let memory = sim.gradient_with("L", &["D"], options).expect("gradient").memory;
        assert_eq!((memory.checkpoints, memory.stored_state_sets), (checkpoints, sets));
        assert_eq!(memory.stored_bytes, sets * state, "{checkpoints} checkpoints");
        assert_eq!(memory.peak_bytes(), memory.stored_bytes + sim.buffer_bytes());
        let exact = limited(&text, Some(memory.peak_bytes() as u64)).gradient_with("L", &["D"], options);
        assert!(exact.is_ok(), "{checkpoints} checkpoints: the check predicts {} B", memory.peak_bytes());
    }
}

/// `u[5]` becomes -inf at step 71 (log(0) at t = 70) and NaN after: the gradient's forward
/// pass stops there with the diagnostic `run` gives, though its first check comes at step 128
/// (reverse mode) or at the end (forward mode).
fn a_gradient_names_the_first_bad_step_as_run_does(backend: Backend) {
    let text = "param a = 1.0\nstate u : [i < 8] = a\nd/dt u[i] = if i == 5 then log(70 - t) else 0\n\
                loss L = sum(i) u[i]\nrun euler(dt = 1.0, steps = 200)\n";
    let run = crate::support::simulator(text, backend).run().expect_err("blows up").render_plain(80);
    assert!(run.contains("`u` became -inf at step 71, first at index [5]"), "{run}");
    for mode in [GradientMode::Forward, GradientMode::Reverse] {
        let options = GradientOptions { mode, ..GradientOptions::default() };
        let mut sim = crate::support::simulator(text, backend);
        let gradient = sim.gradient_with("L", &["a"], options).expect_err("blows up");
        assert_eq!(gradient.render_plain(80), run, "{mode:?}");
    }
}

on_every_engine!(a_gradient_names_the_first_bad_step_as_run_does);

/// A param set to NaN or infinity is refused when it is set, naming it, not at the next run;
/// through the embedding API's re-exported `ndarray` too.
#[test]
fn non_finite_params_are_refused_when_set() {
    let mut sim = limited(HEAT, None);
    for value in [f64::NAN, f64::INFINITY] {
        let failure = sim.set_param("D", value).expect_err("refused");
        assert!(failure.codes().iter().any(|c| c == "noether::run::bad_setting"), "{:?}", failure.codes());
        assert!(failure.to_string().contains("`D`"), "{failure}");
    }
    use noether::ndarray::arr0;
    let array = arr0(f64::NAN).into_dyn();
    assert!(sim.set_param_array("D", &array.view()).is_err());
    sim.run().expect("D was left as it was");
}
