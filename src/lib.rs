//! Noether: a language and compiler for differentiable physics programs.
//!
//! This crate is the facade: the `noether` command-line tool and the embedding API, which is the
//! runtime's ([`Model`], [`Simulator`], [`Backend`]). It re-exports the crates the API speaks in
//! ([`ndarray`], [`miette`]), so an embedding program needs no other dependency.
//!
//! The walkthrough below is `examples/embed.rs` in short (`cargo run --example embed` runs the
//! whole of it): load a model with a const overridden as `--set N=32` does, set a param, run
//! while streaming an observable, read a state as an ndarray, take a gradient, fit, and
//! handle a diagnostic.
//!
//! ```
//! use std::ops::ControlFlow;
//! use noether::{Backend, FitOptions, Model, Override, Source};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let model = Model::from_file_with("examples/heat.noe", &[Override::new("N", 32.0)])?;
//! let mut sim = model.simulator(Backend::Interp)?;
//! sim.set_param("D", 0.1)?;
//! sim.set_steps(50)?;
//!
//! // Each observation as it is recorded: a live plot would draw here; `Break` stops the run.
//! sim.run_observing(|frame| {
//!     if frame.step() % 10 == 0 {
//!         println!("t = {}: total = {}", frame.time(), frame.value("total").unwrap_or(f64::NAN));
//!     }
//!     ControlFlow::Continue(())
//! })?;
//!
//! let u = sim.state("u")?; // an ndarray lent by the engine, 32×32
//! let recorded = sim.observable("total")?; // the series streamed above
//! assert!((u.sum() - recorded[0]).abs() < 1e-9 * recorded[0]); // diffusion conserves heat
//!
//! let gradient = sim.gradient("L", &["D"])?; // d L / d D through all 50 steps
//! assert!(gradient.get("D").is_some_and(|g| g.sum() < 0.0)); // faster diffusion, smaller L
//!
//! let fitting = Model::from_file("examples/heat_source.noe")?;
//! let fit = fitting.simulator(Backend::Jit)?.fit(FitOptions { iters: Some(3), ..FitOptions::default() }, &mut |_| {})?;
//! assert!(fit.final_loss < fit.history[0].loss);
//!
//! // Errors are `Failure`s: miette diagnostics with a code, a snippet and help.
//! let broken = Source::new("broken.noe", "state u : [i < 4] = 0\nd/dt u = v\nrun euler(dt = 1, steps = 1)");
//! let failure = Model::from_source(broken, &[], ".").expect_err("`v` is undefined");
//! assert!(failure.codes()[0].starts_with("noether::"));
//! eprintln!("{:?}", noether::miette::Report::from(failure)); // rendered as the CLI shows it
//! # Ok(())
//! # }
//! ```
//!
//! `?` converts a [`Failure`] into `Box<dyn std::error::Error>` (as above) or
//! [`miette::Report`].

#![warn(missing_docs)]

/// The diagnostics crate [`Failure`] converts into, at the version Noether uses.
pub use miette;
/// The array crate states are read and params written with, at the version Noether uses.
pub use ndarray;
pub use noether_compiler as compiler;
pub use noether_compiler::diag::{Failure, Source};
pub use noether_compiler::resolve::Override;
pub use noether_runtime as runtime;
pub use noether_runtime::{
    Backend, CompileTimings, EngineOptions, FitOptions, FitResult, Frame, Gradient, GradientMode, GradientOptions,
    Model, RunError, Schedule, Settings, Simulator,
};

pub mod plot;
