//! Errors raised while loading data and running a model.

use miette::Diagnostic;
use noether_compiler::diag::Span;
use thiserror::Error;

/// Everything that can go wrong loading data, running, differentiating or writing results: each
/// variant is a diagnostic with a stable code; its fields fill in its message.
#[derive(Debug, Error, Diagnostic)]
#[allow(missing_docs, reason = "the fields are the placeholders of each variant's message")]
pub enum RunError {
    /// A state stopped being finite during integration.
    #[error("`{state}` became {value} at step {step}, first at index {index}")]
    #[diagnostic(code(noether::run::non_finite))]
    NonFinite {
        state: String,
        value: f64,
        step: u64,
        index: String,
        #[label("this equation produced it")]
        span: Span,
        #[help]
        help: String,
    },

    /// A loss, energy or observable evaluated to NaN or infinity.
    #[error("the {what} `{name}` is {value}")]
    #[diagnostic(code(noether::run::non_finite), help("a state it reads is not finite, or it divides by zero"))]
    NonFiniteScalar {
        what: &'static str,
        name: String,
        value: f64,
        #[label("evaluates to {value}")]
        span: Span,
    },

    /// A data field's `.npy` file could not be read.
    #[error("cannot read data file `{path}`: {reason}")]
    #[diagnostic(code(noether::data::missing))]
    DataMissing {
        path: String,
        reason: String,
        #[label("for the data field `{name}`")]
        span: Span,
        name: String,
        #[help]
        help: String,
    },

    #[error("`{path}` is not a usable .npy file: {reason}")]
    #[diagnostic(
        code(noether::data::format),
        help("write it with numpy: `np.save(\"{path}\", array.astype(np.float64))`")
    )]
    /// A data file is not a little-endian `f64` `.npy` array.
    DataFormat {
        path: String,
        reason: String,
        #[label("loaded here")]
        span: Span,
    },

    /// A data file's shape differs from its field's.
    #[error("`{path}` has shape {found}, but `{name}` is declared with shape {expected}")]
    #[diagnostic(code(noether::data::shape))]
    DataShape {
        path: String,
        name: String,
        expected: String,
        found: String,
        #[label("expects {expected}")]
        span: Span,
        #[help]
        help: String,
    },

    #[error("`{path}` holds {value} at index {index}")]
    #[diagnostic(
        code(noether::data::non_finite),
        help("data must be finite numbers; mask missing values before saving")
    )]
    /// A data file holds NaN or infinity.
    DataNonFinite {
        path: String,
        value: f64,
        index: String,
        #[label("loaded here")]
        span: Span,
    },

    /// An API call named a field, param, loss or observable the model lacks.
    #[error("there is no {what} named `{name}`")]
    #[diagnostic(code(noether::api::unknown_name))]
    UnknownName {
        what: &'static str,
        name: String,
        #[help]
        help: String,
    },

    /// A value set from Rust has the wrong shape (or an index is out of range).
    #[error("`{name}` has shape {expected}, but a value of shape {found} was given")]
    #[diagnostic(code(noether::api::shape))]
    ValueShape { name: String, expected: String, found: String },

    #[error("the model has no `run` or `sample` directive")]
    #[diagnostic(
        code(noether::run::no_run),
        help(
            "add a line like `run euler(dt = 0.01, steps = 100)` or `sample s ~ exp(-H) with metropolis(sweeps = 100)`"
        )
    )]
    /// Running a script that has nothing to run.
    NoRun,

    #[error("the spin state `{state}` holds {value} at index {index}")]
    #[diagnostic(
        code(noether::run::not_spin),
        help(
            "a spin is +1 or -1: write its initial value to give only those, e.g. `if uniform(1, i) < 0.5 then -1 else 1`"
        )
    )]
    /// A spin state's initial value is not all +1 and -1.
    NotSpin {
        state: String,
        value: f64,
        index: String,
        #[label("declared a spin here")]
        span: Span,
    },

    #[error("`{state}` became {value} by sweep {sweep}, first at index {index}")]
    #[diagnostic(
        code(noether::run::non_finite),
        help("the sampler's step is probably too large for this density: reduce `step`")
    )]
    /// A sampled state stopped being finite.
    NonFiniteSample {
        state: String,
        value: f64,
        sweep: u64,
        index: String,
        #[label("this sampler produced it")]
        span: Span,
    },

    #[error("the model has no `sample` directive")]
    #[diagnostic(
        code(noether::run::no_sample),
        help(
            "`noether sample` runs sampling scripts (`sample s ~ exp(-H) with metropolis(sweeps = 100)`); use `noether run` for this one"
        )
    )]
    /// `noether sample` on a script that integrates.
    NoSample,

    #[error("a gradient cannot be taken through `{sampler}` sampling")]
    #[diagnostic(
        code(noether::grad::through_sampler),
        help(
            "its moves are accepted or rejected, or are discrete spin flips, so the sampled states are not a differentiable function of the params; only `langevin` (unadjusted) sampling is differentiated through"
        )
    )]
    /// A gradient asked through a sampler whose moves are not differentiable.
    ThroughSampler {
        sampler: String,
        #[label("sampled here")]
        span: Span,
    },

    #[error("`lbfgs` needs the same loss at every iteration, and this model reads `iteration`")]
    #[diagnostic(
        code(noether::fit::redrawn_under_lbfgs),
        help(
            "train on re-drawn mini-batches with `adam(...)`, or draw the points once (leave `iteration` out of the draws)"
        )
    )]
    /// A deterministic optimizer asked to fit a loss whose points change every iteration.
    RedrawnUnderLbfgs {
        #[label("L-BFGS chosen here")]
        span: Span,
    },

    #[error(
        "the gradient check failed: {failed} of {checked} derivatives differ from central differences by more than a relative {tolerance:e} (worst {worst:.1e}, d{loss}/d{name})"
    )]
    #[diagnostic(
        code(noether::grad::check_failed),
        help(
            "a derivative through a branch or a cut-off that the differences straddle can differ honestly: move the point (--set) or check a smaller step; otherwise this is a wrong gradient, please report it with the script"
        )
    )]
    /// `grad --check`: some derivatives miss their central differences.
    CheckFailed { failed: usize, checked: usize, tolerance: f64, worst: f64, loss: String, name: String },

    /// A gradient of a script without a loss.
    #[error("the model has no loss to differentiate")]
    #[diagnostic(code(noether::run::no_loss), help("declare one, e.g. `loss L = sum(i) u[i]^2`"))]
    NoLoss,

    #[error("the model has no `fit` directive")]
    #[diagnostic(
        code(noether::run::no_fit),
        help("add a line like `fit D minimizing L with adam(lr = 0.01, iters = 100)` to the script")
    )]
    /// `fit` on a script without a `fit` directive.
    NoFit,

    /// A run setting or param value that cannot be used (zero steps, a NaN param).
    #[error("bad {setting}: {problem}")]
    #[diagnostic(code(noether::run::bad_setting))]
    BadSetting {
        setting: &'static str,
        problem: String,
        #[help]
        help: String,
    },

    #[error("the model needs {needed} of memory to run, more than {allowance}")]
    #[diagnostic(
        code(noether::run::too_large),
        help("reduce the grid or ensemble size (for example with `--set N=...`)")
    )]
    /// The model would hold more memory than it may.
    TooLarge {
        needed: String,
        /// What the simulator may hold: "the 2.0 GiB available" or "the memory limit of 1.0 GiB".
        allowance: String,
        #[label("the largest field")]
        span: Span,
    },

    /// The gradient's stored states would exceed the memory allowed.
    #[error("the gradient needs {needed} of memory, more than {allowance}")]
    #[diagnostic(code(noether::grad::too_large))]
    GradientTooLarge {
        needed: String,
        allowance: String,
        /// Copies of the states stored: checkpoints, a segment, the final states.
        sets: usize,
        #[label("reversing this run keeps {sets} copies of the states")]
        span: Span,
        #[help]
        help: String,
    },

    /// Forward mode's tangents would exceed the memory allowed.
    #[error("forward mode needs {needed} of memory, more than {allowance}")]
    #[diagnostic(
        code(noether::grad::tangents_too_large),
        help(
            "every buffer the inputs reach holds {directions} tangents; differentiate with respect to fewer inputs, or use `--mode reverse`"
        )
    )]
    TangentsTooLarge {
        needed: String,
        allowance: String,
        directions: usize,
        #[label("the largest field")]
        span: Span,
    },

    /// Forward mode asked for more inputs than it differentiates sensibly.
    #[error("forward mode would run the model {runs} times for {inputs} inputs")]
    #[diagnostic(
        code(noether::grad::forward_too_many_inputs),
        help(
            "forward mode runs once per {width} scalar inputs and takes at most {limit}; use `--mode reverse` (one run forward, one back, for any number of inputs) or fewer `--wrt` names"
        )
    )]
    ForwardTooManyInputs { inputs: usize, runs: usize, width: usize, limit: usize },

    /// An output file could not be written.
    #[error("cannot write `{path}`: {reason}")]
    #[diagnostic(code(noether::io::write))]
    Write { path: String, reason: String },

    /// The OpenCL engine cannot run here: not built in, no platform or device, no double
    /// precision.
    #[error("cannot use OpenCL: {problem}")]
    #[diagnostic(code(noether::opencl::unavailable))]
    OpenClUnavailable {
        problem: String,
        #[help]
        help: String,
    },

    /// A failure inside an engine: a bug in Noether.
    #[error("internal engine error: {0}")]
    #[diagnostic(code(noether::internal), help("this is a bug in Noether; please report it with the script"))]
    Engine(#[from] crate::engine::EngineError),
}

/// `[3, 4]` for an index.
pub fn index_text(index: &[usize]) -> String {
    let items: Vec<String> = index.iter().map(usize::to_string).collect();
    format!("[{}]", items.join(", "))
}

/// Human-readable bytes.
pub fn bytes_text(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// The position of flat index `flat` in an array of `shape` (row-major).
pub fn unflatten(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (slot, extent) in index.iter_mut().zip(shape).rev() {
        *slot = flat % extent;
        flat /= extent;
    }
    index
}
