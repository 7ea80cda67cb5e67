//! Embedding Noether in a Rust program: load, override, run, stream, read, differentiate, fit,
//! and handle a diagnostic. `cargo run --example embed` prints what each step finds; the test
//! suite runs this same walkthrough (`tests/embed.rs`) and checks the numbers against physics.
//!
//! The only dependency is `noether`: it re-exports the `ndarray` and `miette` it speaks in.

use std::error::Error;
use std::io::Write;
use std::ops::ControlFlow;
use std::path::Path;

use noether::{Backend, FitOptions, Model, Override, Source, miette};

fn main() -> Result<(), Box<dyn Error>> {
    walkthrough(&mut std::io::stdout())
}

/// The whole walkthrough, printing to `out`.
pub fn walkthrough(out: &mut dyn Write) -> Result<(), Box<dyn Error>> {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");

    // Load a model, overriding a const as `noether run --set N=32` would: a 32×32 plate.
    let model = Model::from_file_with(examples.join("heat.noe"), &[Override::new("N", 32.0)])?;
    // The interpreter starts at once; `Backend::Jit` compiles first and pays off on big grids.
    let mut sim = model.simulator(Backend::Interp)?;
    sim.set_param("D", 0.1)?;
    sim.set_steps(100)?;

    // Run, streaming the observable `total` as it is recorded: a live plot would draw here.
    // Returning `ControlFlow::Break` stops the run at that step (here: when printing fails).
    let mut printed = Ok(());
    sim.run_observing(|frame| {
        if frame.step() % 25 == 0 {
            let total = frame.value("total").unwrap_or(f64::NAN);
            printed = writeln!(out, "step {:>3}  t = {:>5.1}  total = {total:.9}", frame.step(), frame.time());
        }
        if printed.is_ok() { ControlFlow::Continue(()) } else { ControlFlow::Break(()) }
    })?;
    printed?;

    // Read the final state as an ndarray (lent by the engine) and compute from it. Diffusion conserves heat,
    // and the Gaussian's variance grows by 2 D t per direction: its peak falls by s0² / (s0² + 2 D t).
    let u = sim.state("u")?;
    let heat = u.sum();
    let peak = u.iter().copied().fold(f64::MIN, f64::max);
    let recorded = sim.observable("total")?;
    writeln!(out, "total heat: start {:.12} end {heat:.12}", recorded[0])?;
    let (s0, d, t) = (32.0_f64 / 8.0, 0.1, sim.time());
    writeln!(out, "peak: {peak:.6} continuum Gaussian {:.6}", s0 * s0 / (s0 * s0 + 2.0 * d * t))?;

    // The gradient of the loss `L = sum u²` after the run with respect to the param D, through
    // all 100 steps, against a central difference of two more runs.
    let gradient = sim.gradient("L", &["D"])?;
    let d_l_d_d = gradient.get("D").and_then(|g| g.first().copied()).unwrap_or(f64::NAN);
    let h = 1e-5;
    sim.set_param("D", d + h)?;
    let above = sim.loss_through_run("L")?;
    sim.set_param("D", d - h)?;
    let below = sim.loss_through_run("L")?;
    sim.set_param("D", d)?;
    writeln!(out, "dL/dD: {d_l_d_d:.9} central difference {:.9}", (above - below) / (2.0 * h))?;

    // Fit: recover a plate's initial temperature from a later measurement (the script's `fit`
    // directive, L-BFGS), for 10 iterations instead of the script's 100.
    let model = Model::from_file(examples.join("heat_source.noe"))?;
    let mut sim = model.simulator(Backend::Jit)?;
    let fit = sim.fit(FitOptions { iters: Some(10), ..FitOptions::default() }, &mut |_| {})?;
    let first = fit.history.first().map_or(f64::NAN, |it| it.loss);
    writeln!(out, "fit {} with {}: loss {first:.6} -> {:.6}", fit.loss, fit.optimizer, fit.final_loss)?;

    // A script with a mistake: the error is a `noether::Failure`, a miette diagnostic with a
    // stable code and the source snippet.
    let broken = "param D = 0.1\nstate u : [i < 8] periodic = 0\nd/dt u = D * laplacian(v)\n\
                  run euler(dt = 0.1, steps = 10)\n";
    if let Err(failure) = Model::from_source(Source::new("broken.noe", broken), &[], ".") {
        writeln!(out, "codes: {}", failure.codes().join(", "))?;
        let report = miette::Report::from(failure);
        writeln!(out, "{report:?}")?;
    }
    // ... and converts into `Box<dyn Error>` with `?`, like any error.
    if let Err(error) = compile(broken) {
        writeln!(out, "as Box<dyn Error>: {error}")?;
    }
    Ok(())
}

/// Compiles script text, in a function that reports any error as `Box<dyn Error>`.
fn compile(text: &str) -> Result<Model, Box<dyn Error>> {
    Ok(Model::from_source(Source::new("broken.noe", text), &[], ".")?)
}
