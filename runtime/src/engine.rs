//! The engine interface: anything that can run a program's procedures over [`Buffers`].

use std::fmt;
use std::str::FromStr;

use noether_compiler::ir::ProcId;

use crate::buffers::Buffers;

/// Runs procedures of one compiled program. The interpreter is the reference implementation.
pub trait Engine {
    /// The engine's name, for reports and its own errors.
    fn name(&self) -> &'static str;
    /// Runs one procedure of the program over `buffers`, in place.
    fn run(&mut self, procedure: ProcId, buffers: &mut Buffers) -> Result<(), EngineError>;
}

/// A failure inside an engine: always a bug in Noether, never the user's.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("engine `{engine}` failed in kernel `{kernel}`: {message}")]
pub struct EngineError {
    /// The engine's name.
    pub engine: &'static str,
    /// The kernel it was running.
    pub kernel: String,
    /// What went wrong.
    pub message: String,
}

/// Which engine runs a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Backend {
    /// Native code compiled with Cranelift, multithreaded.
    #[default]
    Jit,
    /// The reference interpreter.
    Interp,
}

impl Backend {
    /// Every backend, for tests and benchmarks that compare them.
    pub const ALL: [Backend; 2] = [Backend::Jit, Backend::Interp];

    /// The name the CLI's `--engine` takes and reports print.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Jit => "jit",
            Backend::Interp => "interp",
        }
    }
}

/// Settings of a simulator: its engine, and the memory it may use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineOptions {
    /// Threads for the JIT (default: all cores). The interpreter always uses one.
    pub threads: Option<usize>,
    /// The JIT runs kernels visiting fewer points on one thread (default 16384), counting the
    /// points of the reductions each point evaluates (see `Kernel::work`).
    pub min_parallel_points: Option<usize>,
    /// Whether the JIT may use vector instructions (default yes; results are the same).
    pub scalar_only: bool,
    /// The most bytes the simulator may hold (default: what the system has available). A model
    /// whose run, or a gradient whose buffers and stored states, would need more is refused
    /// before allocating; see [`crate::memory`].
    pub memory_limit: Option<u64>,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Backend::ALL.into_iter().find(|b| b.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Backend::ALL.iter().map(|b| b.name()).collect();
            format!("unknown backend `{s}`; available: {}", names.join(", "))
        })
    }
}
