//! The Noether runtime: engines that execute Kernel IR, the time loop, data input and output.
//!
//! | module | job |
//! |---|---|
//! | `engine` | the `Engine` trait, which owns a program's buffers; the backends (interpreter, JIT, OpenCL with the `opencl` feature) |
//! | `simulator` | params, the schedule (integrate or sample), the time loop, observations, the NaN guard |
//! | `sampling` | the sampling driver: sweeps of a compiled sampler, thinning, acceptance |
//! | `stream` | observations handed to the caller during a run, which may stop it |
//! | `model` | a compiled script, the embedding entry point |
//! | `memory` | what a run or a gradient will hold, against what it may use |
//! | `adjoint` | gradients through a run: reverse through time with checkpoints; the choice of mode |
//! | `tangent` | gradients through a run: forward mode, tangents carried along |
//! | `gradcheck` | a gradient against central finite differences, with a verdict |
//! | `data`, `output` | `.npy` input with diagnostics, atomic file output |
//!
//! ```no_run
//! let model = noether_runtime::Model::from_file("examples/heat.noe")?;
//! let mut sim = model.simulator(noether_runtime::Backend::Jit)?;
//! sim.set_param("D", 0.1)?;
//! sim.run()?;
//! let u = sim.state("u")?;
//! # Ok::<(), noether_compiler::diag::Failure>(())
//! ```

#![warn(missing_docs)]

pub mod adjoint;
pub mod data;
pub mod engine;
pub mod error;
pub mod fit;
pub mod fractional;
pub mod gradcheck;
pub mod memory;
pub mod model;
pub mod optim;
pub mod output;
pub mod sampling;
pub mod simulator;
pub mod stream;
pub mod tangent;

pub use adjoint::{AdjointMemory, Gradient, GradientMode, GradientOptions};
pub use engine::{Backend, Engine, EngineError, EngineOptions};
pub use error::RunError;
pub use fit::{FitOptions, FitResult};
pub use model::{CompileTimings, Model};
pub use optim::Iteration;
pub use simulator::{Schedule, Settings, Simulator};
pub use stream::Frame;
