//! The engine interface: anything that can run a program's procedures over buffers it owns.
//!
//! An engine keeps every buffer of its program where its kernels read them (host memory for the
//! interpreter and the JIT, device memory for an accelerator), so the simulator, the adjoint and
//! the sampling driver never hold a buffer's storage themselves: between procedures they read,
//! write, swap and check buffers through the [`Engine`] methods, and keep copies of states as
//! [`Stored`] values the engine fills. A host engine lends what is read and exchanges stored
//! states without copying; a device engine copies only what is asked for.
//!
//! Buffers are dense row-major `f64` arrays of the shapes the program declares; the program
//! (not the engine) is where callers learn a buffer's shape and length.
//!
//! | module | job |
//! |---|---|
//! | `host` | the buffers of the CPU engines and the storage methods both share |
//! | `interp` | the reference interpreter |
//! | `jit` | the Cranelift JIT: compiling kernels, calling them across threads |
//! | `opencl` | the OpenCL engine (cargo feature `opencl`): device buffers, kernels built from OpenCL C |

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::str::FromStr;
use std::sync::Arc;

use noether_compiler::ir::{BufferId, ProcId, Program};

pub use noether_compiler::codegen::opencl::{Precision, WorkItems};

use crate::error::RunError;

mod host;
mod interp;
mod jit;
#[cfg(feature = "opencl")]
pub mod opencl;
mod workers;

/// Runs procedures of one compiled program over the buffers it owns. The interpreter is the
/// reference implementation.
pub trait Engine {
    /// The engine's name, for reports and its own errors.
    fn name(&self) -> &'static str;

    /// Runs one procedure of the program over the engine's buffers.
    fn run(&mut self, procedure: ProcId) -> Result<(), EngineError>;

    /// Elements `range` (row-major) of buffer `id`: host engines lend them, a device engine
    /// copies them back.
    fn read(&self, id: BufferId, range: Range<usize>) -> Result<Cow<'_, [f64]>, EngineError>;

    /// Sets elements `start .. start + values.len()` of buffer `id`.
    fn write(&mut self, id: BufferId, start: usize, values: &[f64]) -> Result<(), EngineError>;

    /// Sets every element of a buffer.
    fn fill(&mut self, id: BufferId, value: f64) -> Result<(), EngineError>;

    /// Exchanges the contents of two buffers of one shape (a state and its next value) without
    /// copying.
    fn swap(&mut self, a: BufferId, b: BufferId);

    /// Whether every element of these buffers is finite (the NaN guard; a device reduces on the
    /// device).
    fn all_finite(&self, ids: &[BufferId]) -> Result<bool, EngineError>;

    /// Copies buffer `id` into `stored`, reusing its storage where it fits.
    fn keep(&self, id: BufferId, stored: &mut Stored) -> Result<(), EngineError>;

    /// Copies `stored` (kept from a buffer of this length) into buffer `id`.
    fn put_back(&mut self, stored: &Stored, id: BufferId) -> Result<(), EngineError>;

    /// Exchanges buffer `id`'s storage with `stored` without copying (an empty `stored` is first
    /// given storage of the buffer's length): how the adjoint moves whole states in and out of
    /// the segment it recomputes.
    fn exchange(&mut self, id: BufferId, stored: &mut Stored) -> Result<(), EngineError>;

    /// Runs `program` from now on: a program whose first `keep` buffers are this one's (the
    /// gradient program extends the forward one, buffer for buffer). Keeps those buffers'
    /// values, gives every other buffer of `program` zeroed storage, drops buffers beyond. The
    /// JIT recompiles.
    fn switch_program(&mut self, program: Arc<Program>, keep: usize) -> Result<(), EngineError>;

    /// Bytes of buffer storage held.
    fn bytes(&self) -> usize;

    /// How many buffers are held.
    fn buffer_count(&self) -> usize;

    /// The value of a one-element buffer.
    fn scalar(&self, id: BufferId) -> Result<f64, EngineError> {
        Ok(self.read(id, 0..1)?[0])
    }

    /// Sets a one-element buffer.
    fn set_scalar(&mut self, id: BufferId, value: f64) -> Result<(), EngineError> {
        self.write(id, 0, &[value])
    }
}

/// An engine of `backend` running `program`, its buffers zeroed. Fails with
/// [`RunError::OpenClUnavailable`] where OpenCL cannot run (not built in, no platform, no
/// device, no double precision), with [`RunError::Engine`] on a bug.
pub fn build(program: Arc<Program>, backend: Backend, options: EngineOptions) -> Result<Box<dyn Engine>, RunError> {
    if options.precision != Precision::F64 && backend != Backend::OpenCl {
        return Err(RunError::BadSetting {
            setting: "precision",
            problem: format!("the {backend} engine computes in f64 only"),
            help: "single precision is for OpenCL devices: add `--backend opencl`".into(),
        });
    }
    Ok(match backend {
        Backend::Interp => Box::new(host::Host::new(interp::Interpreter::new(program))),
        Backend::Jit => Box::new(host::Host::new(jit::Jit::new(program, &options)?)),
        Backend::OpenCl => build_opencl(program, options)?,
    })
}

/// A device an OpenCL platform offers, as `noether devices` lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceDescription {
    /// Its number for `--device`: its position in the list of every platform's devices.
    pub index: usize,
    /// The platform's name (`Portable Computing Language`, `NVIDIA CUDA`).
    pub platform: String,
    /// The device's name.
    pub name: String,
    /// Whether it computes in double precision (`cl_khr_fp64`), which Noether needs.
    pub fp64: bool,
    /// Its global memory, in bytes.
    pub memory: u64,
}

/// Every OpenCL device of every platform, in `--device` order; an error saying what to install
/// where there are none (or the build has no OpenCL engine).
pub fn devices() -> Result<Vec<DeviceDescription>, RunError> {
    #[cfg(feature = "opencl")]
    return opencl::devices().map_err(|e| RunError::OpenClUnavailable { problem: e.problem, help: e.help });
    #[cfg(not(feature = "opencl"))]
    Err(opencl_missing())
}

#[cfg(feature = "opencl")]
fn build_opencl(program: Arc<Program>, options: EngineOptions) -> Result<Box<dyn Engine>, RunError> {
    fn boxed<T: opencl::Real>(
        engine: Result<opencl::OpenCl<T>, opencl::NewError>,
    ) -> Result<Box<dyn Engine>, RunError> {
        match engine {
            Ok(engine) => Ok(Box::new(engine)),
            Err(opencl::NewError::Setup(e)) => Err(RunError::OpenClUnavailable { problem: e.problem, help: e.help }),
            Err(opencl::NewError::Engine(e)) => Err(RunError::Engine(e)),
        }
    }
    match options.precision {
        Precision::F64 => boxed(opencl::OpenCl::<f64>::new(program, options.device, options.work_items)),
        Precision::F32 => boxed(opencl::OpenCl::<f32>::new(program, options.device, options.work_items)),
    }
}

#[cfg(not(feature = "opencl"))]
fn build_opencl(_: Arc<Program>, _: EngineOptions) -> Result<Box<dyn Engine>, RunError> {
    Err(opencl_missing())
}

/// What a build without the `opencl` feature says when asked for OpenCL.
#[cfg(not(feature = "opencl"))]
fn opencl_missing() -> RunError {
    RunError::OpenClUnavailable {
        problem: "this build of Noether has no OpenCL engine".into(),
        help: "build it with the `opencl` feature: `cargo build --release --features opencl` \
               (it needs an OpenCL driver and the ICD loader, e.g. `apt-get install ocl-icd-opencl-dev pocl-opencl-icd`)"
            .into(),
    }
}

/// A copy of a buffer, kept where the engine keeps its buffers: what the NaN guard and the
/// adjoint's checkpoints hold. Only the engine that filled it reads it back.
#[derive(Default, Debug)]
pub struct Stored(pub(crate) StoredValues);

/// Where a [`Stored`] copy lives.
#[derive(Default, Debug)]
pub(crate) enum StoredValues {
    /// Nothing kept yet.
    #[default]
    Empty,
    /// In host memory.
    Host(Vec<f64>),
    /// In an OpenCL device's memory.
    #[cfg(feature = "opencl")]
    Device(ocl::Buffer<f64>),
    /// In an OpenCL device's memory, in single precision (`--precision f32`).
    #[cfg(feature = "opencl")]
    DeviceSingle(ocl::Buffer<f32>),
}

impl Stored {
    /// Bytes held (allocated).
    pub fn bytes(&self) -> usize {
        match &self.0 {
            StoredValues::Empty => 0,
            StoredValues::Host(values) => values.capacity() * size_of::<f64>(),
            #[cfg(feature = "opencl")]
            StoredValues::Device(values) => values.len() * size_of::<f64>(),
            #[cfg(feature = "opencl")]
            StoredValues::DeviceSingle(values) => values.len() * size_of::<f32>(),
        }
    }
}

/// A failure inside an engine: always a bug in Noether, never the user's.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("engine `{engine}` failed {during}: {message}")]
pub struct EngineError {
    /// The engine's name.
    pub engine: &'static str,
    /// What it was doing: "in kernel `step`", "reading buffer `u`".
    pub during: String,
    /// What went wrong.
    pub message: String,
}

impl EngineError {
    /// A failure of `engine` while compiling or running the kernel named `kernel`.
    pub fn in_kernel(engine: &'static str, kernel: &str, message: String) -> EngineError {
        EngineError { engine, during: format!("in kernel `{kernel}`"), message }
    }
}

/// Which engine runs a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Backend {
    /// Native code compiled with Cranelift, multithreaded.
    #[default]
    Jit,
    /// The reference interpreter.
    Interp,
    /// OpenCL C kernels on a device (cargo feature `opencl`).
    OpenCl,
}

impl Backend {
    /// Every backend this build can run (OpenCL with the `opencl` feature), for tests and
    /// benchmarks that compare them.
    pub const ALL: &[Backend] = &[
        Backend::Jit,
        Backend::Interp,
        #[cfg(feature = "opencl")]
        Backend::OpenCl,
    ];

    /// The name the CLI's `--engine` takes and reports print.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Jit => "jit",
            Backend::Interp => "interp",
            Backend::OpenCl => "opencl",
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
    /// Which of the processor's instructions the JIT uses (default: all it has; results are
    /// the same bits with any): fewer for tests of the code other processors run.
    pub instructions: InstructionSet,
    /// Whether the JIT runs Cranelift's verifier on every function it generates (default no:
    /// it took a sixth of the start-up of a model of four large vector kernels, and the tests
    /// turn it on, so that code generation that breaks Cranelift's rules fails there).
    pub check_generated_code: bool,
    /// The most bytes the simulator may hold (default: what the system has available). A model
    /// whose run, or a gradient whose buffers and stored states, would need more is refused
    /// before allocating; see [`crate::memory`].
    pub memory_limit: Option<u64>,
    /// The OpenCL device, by its number in `noether devices` (default: the first computing in
    /// double precision).
    pub device: Option<usize>,
    /// What OpenCL computes in (default `f64`, the interpreter's bits); the CPU engines refuse
    /// anything but `f64`.
    pub precision: Precision,
    /// How OpenCL kernels divide their points between work items (default: a row each on CPU
    /// devices, a point each on GPUs); results are the same either way.
    pub work_items: Option<WorkItems>,
}

/// Which of an x86 processor's instructions the JIT may use (others ignore this).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InstructionSet {
    /// Every extension the processor has.
    #[default]
    Native,
    /// No AVX-512 (most x86 processors have AVX2 and FMA, not AVX-512): Philox's products by a
    /// constant take `pmuludq` of both operands widened instead of one `vpmullq`.
    NoAvx512,
    /// x86-64-v2 (up to SSE4.2; no AVX, AVX2, FMA, BMI or AVX-512): the kernels' fused
    /// multiply-adds are calls to the C library's `fma`.
    Baseline,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Backend::ALL.iter().copied().find(|b| b.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Backend::ALL.iter().map(|b| b.name()).collect();
            format!("unknown backend `{s}`; available: {}", names.join(", "))
        })
    }
}
