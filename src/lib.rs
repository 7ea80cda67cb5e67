//! Noether: a language and compiler for differentiable physics programs.
//!
//! This crate is the facade: the `noether` command-line tool and the embedding API, which is the
//! runtime's ([`Model`], [`Simulator`], [`Backend`]).
//!
//! ```no_run
//! let model = noether::Model::from_file("examples/heat.noe")?;
//! let mut sim = model.simulator(noether::Backend::Jit)?;
//! sim.set_param("D", 0.1)?;
//! sim.run()?;
//! println!("{}", sim.state("u")?.sum());
//! # Ok::<(), noether::Failure>(())
//! ```

/// The diagnostics crate [`Failure`] converts into, at the version Noether uses.
pub use miette;
/// The array crate states are read and params written with, at the version Noether uses.
pub use ndarray;
pub use noether_compiler as compiler;
pub use noether_compiler::diag::{Failure, Source};
pub use noether_compiler::resolve::Override;
pub use noether_runtime as runtime;
pub use noether_runtime::{
    Backend, CompileTimings, EngineOptions, FitOptions, FitResult, Gradient, GradientOptions, Model, RunError,
    Schedule, Settings, Simulator,
};

pub mod plot;
