//! The CLI's commands.

mod fit;
mod fmt;
mod grad;
mod run;

use std::path::Path;

use noether::compiler::diag::Failure;
use noether::compiler::model::{Chains, Colouring, FieldKind, NamedKind, Order, SampleSpec, Sampler};
use noether::runtime::error::bytes_text;
use noether::{Backend, EngineOptions, Model, Override, Simulator};

pub use fit::{FitCommand, fit};
pub use fmt::{FmtMode, fmt};
pub use grad::{GradOptions, grad};
pub use run::{RunOptions, run};

/// Command-line overrides of the script's `run` or `sample` settings.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunOverrides {
    pub steps: Option<u64>,
    pub dt: Option<f64>,
    pub seed: Option<u64>,
    pub sweeps: Option<u64>,
}

impl RunOverrides {
    fn apply(&self, sim: &mut Simulator) -> Result<(), Failure> {
        if let Some(sweeps) = self.sweeps {
            sim.set_sweeps(sweeps)?;
        }
        if let Some(steps) = self.steps {
            sim.set_steps(steps)?;
        }
        if let Some(dt) = self.dt {
            sim.set_dt(dt)?;
        }
        if let Some(seed) = self.seed {
            sim.set_seed(seed)?;
        }
        Ok(())
    }
}

/// The engine that runs a model, its threads, and the memory it may use.
#[derive(Clone, Copy, Debug)]
pub struct EngineChoice {
    pub backend: Backend,
    pub threads: Option<usize>,
    pub device: Option<usize>,
    pub precision: noether::runtime::engine::Precision,
    pub memory_limit: Option<u64>,
}

impl EngineChoice {
    fn simulator(&self, model: &Model) -> Result<Simulator, Failure> {
        let options = EngineOptions {
            threads: self.threads,
            device: self.device,
            precision: self.precision,
            memory_limit: self.memory_limit,
            ..EngineOptions::default()
        };
        model.simulator_with(self.backend, options)
    }
}

/// `noether devices`: every OpenCL device, its number for `--device`, whether it computes in
/// double precision, and its memory.
pub fn devices() -> Result<(), Failure> {
    let devices = noether::runtime::engine::devices()
        .map_err(|e| Failure::single(&noether::Source::new("noether devices", ""), e))?;
    for d in devices {
        let gib = d.memory as f64 / f64::from(1u32 << 30);
        let fp64 = if d.fp64 { "yes" } else { "no (cannot run Noether)" };
        println!("{}: {} ({}), fp64 {fp64}, {gib:.1} GiB", d.index, d.name, d.platform);
    }
    Ok(())
}

/// `noether check`: compile, load data and size the run (refusing what `run` would refuse),
/// then summarise the model.
pub fn check(file: &Path, overrides: &[Override], memory_limit: Option<u64>) -> Result<(), Failure> {
    let model = Model::from_file_with(file, overrides)?;
    model.check_data()?;
    model.check_memory(memory_limit)?;
    println!("{}", describe(&model));
    Ok(())
}

/// A compiler stage `emit` prints.
#[derive(Clone, Copy)]
pub enum Stage {
    Ast,
    Ir,
    Grad,
    Tangent,
    Clif,
    OpenCl,
}

/// `noether emit`: the syntax tree, the Kernel IR, the Cranelift IR or the OpenCL C.
pub fn emit(file: &Path, overrides: &[Override], stage: Stage) -> Result<(), Failure> {
    if let Stage::Ast = stage {
        let source = noether::runtime::model::read_source(file)?;
        // Printing recurses on expressions: on the compiler's stack, like the compiler.
        let printed = noether::compiler::stack::run(|| {
            noether::compiler::syntax::parse(&source).map(|module| noether::compiler::syntax::print::module(&module))
        })?;
        return print_text(&printed, &source);
    }
    let model = Model::from_file_with(file, overrides)?;
    let program = &model.compiled().program;
    let text = match stage {
        Stage::Clif => {
            let options = noether::compiler::codegen::clif::Options::default();
            noether::compiler::codegen::clif::emit_clif(program, options)
                .map_err(|e| codegen_failure(&model, "jit", e))?
        }
        Stage::OpenCl => {
            noether::compiler::codegen::opencl::emit_opencl(program, noether::runtime::engine::Precision::F64)
                .map_err(|e| codegen_failure(&model, "opencl", e))?
        }
        Stage::Grad => noether::compiler::ir::print(&model.gradient_program(None)?.program),
        Stage::Tangent => noether::compiler::ir::print(&model.tangent_program_of_params(None)?.program),
        _ => noether::compiler::ir::print(program),
    };
    print_text(&text, model.source())
}

/// Writes `text` (made from `source`) to standard output. A reader that stops early
/// (`noether emit ... | head`) closes the pipe: the rest is not wanted, which is not an error;
/// any other failure to write is (`noether::io::write`).
pub fn print_text(text: &str, source: &noether::Source) -> Result<(), Failure> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Failure::single(
            source,
            noether::RunError::Write { path: "standard output".into(), reason: e.to_string() },
        )),
        _ => Ok(()),
    }
}

/// A kernel the code generator of `engine` could not translate: a bug in Noether, reported as
/// the engine would report it.
fn codegen_failure(model: &Model, engine: &'static str, e: noether::compiler::codegen::CodegenError) -> Failure {
    model.fail(noether::RunError::Engine(noether::runtime::EngineError::in_kernel(engine, &e.kernel, e.message)))
}

/// One paragraph saying what the model contains; a let without a buffer of its own is marked
/// as computed where it is read, so its shape is not taken for memory.
fn describe(model: &Model) -> String {
    let checked = model.checked();
    let stored = &model.compiled().interface.fields;
    let list = |keep: &dyn Fn(&FieldKind) -> bool| {
        let items: Vec<String> = checked
            .fields
            .iter()
            .zip(stored)
            .filter(|(f, _)| keep(&f.kind))
            .map(|(f, buffer)| {
                let extents = f.shape.extents();
                let item = if extents.is_empty() { f.name.clone() } else { format!("{} {:?}", f.name, extents) };
                match (&f.kind, buffer) {
                    (FieldKind::Let, None) => format!("{item} (computed where read)"),
                    _ => item,
                }
            })
            .collect();
        items.join(", ")
    };
    let scalars = |kind: NamedKind| {
        checked.scalars.iter().filter(|s| s.kind == kind).map(|s| s.name.clone()).collect::<Vec<_>>().join(", ")
    };
    let mut lines = vec![format!("ok: {}", model.name())];
    let mut add = |label: &str, text: String| {
        if !text.is_empty() {
            lines.push(format!("  {label:<12} {text}"));
        }
    };
    add("states", list(&|k| matches!(k, FieldKind::State { .. })));
    add("params", list(&|k| *k == FieldKind::Param));
    add("data", list(&|k| matches!(k, FieldKind::Data { .. })));
    add("noises", list(&|k| matches!(k, FieldKind::Noise { .. })));
    add("lets", list(&|k| *k == FieldKind::Let));
    add("losses", scalars(NamedKind::Loss));
    add("energies", scalars(NamedKind::Energy));
    add("observables", scalars(NamedKind::Observe));
    if let Some(run) = &checked.run {
        add("run", format!("{}(dt = {}, steps = {})", run.integrator.name(), run.dt, run.steps));
    }
    if let Some(sample) = &checked.sample {
        add("sample", describe_sampler(checked, sample));
    }
    if let Some(fit) = &checked.fit {
        let params: Vec<&str> = fit.params.iter().map(|p| checked.field(*p).name.as_str()).collect();
        add("fit", format!("{} minimizing {} with {}", params.join(", "), fit.loss, fit.optimizer.name()));
    }
    let program = &model.compiled().program;
    add("compiled", format!("{} kernels, {} buffers", program.kernels.len(), program.buffers.len()));
    add("memory", format!("{} to run", bytes_text(model.run_bytes())));
    lines.join("\n")
}

/// `s with metropolis (checkerboard: s by parity), 1000 sweeps` and the like.
fn describe_sampler(checked: &noether::compiler::model::Model, sample: &SampleSpec) -> String {
    let names: Vec<&str> = sample.vars.iter().map(|v| checked.field(*v).name.as_str()).collect();
    let how = match &sample.sampler {
        Sampler::Metropolis(order) | Sampler::Gibbs(order) => match order {
            Order::Checkerboard(colourings) => {
                let classes: Vec<String> = names
                    .iter()
                    .zip(colourings)
                    .map(|(name, c)| match c {
                        Colouring::Whole => format!("{name} whole"),
                        Colouring::Parity => format!("{name} by parity"),
                    })
                    .collect();
                format!(" (checkerboard: {})", classes.join(", "))
            }
            other => format!(" ({})", other.name()),
        },
        Sampler::Mala { chains, .. } | Sampler::Hmc { chains, .. } => match chains {
            Chains::Many { per_chain } => format!(" ({} chains)", per_chain.vars[0].extent),
            Chains::One => " (one chain)".into(),
        },
        Sampler::Langevin { .. } => String::new(),
    };
    let s = sample.schedule;
    format!(
        "{} with {}{how}, {} sweeps (burn-in {}, thin {}, seed {})",
        names.join(", "),
        sample.sampler.name(),
        s.sweeps,
        s.burn_in,
        s.thin,
        s.seed
    )
}

/// JSON numbers for finite values, strings ("NaN", "inf") otherwise: JSON has no NaN.
/// Makes `--out DIR` ready before the work starts, so a bad place fails at once.
fn prepare_out(model: &Model, out: Option<&Path>) -> Result<(), Failure> {
    match out {
        Some(dir) => noether::runtime::output::prepare_dir(dir).map_err(|e| model.fail(e)),
        None => Ok(()),
    }
}

/// Where `--plot` puts its images: beside the other results with `--out`, else in
/// `<script stem>_plots/` in the current directory.
fn plot_dir(file: &Path, out: Option<&Path>) -> std::path::PathBuf {
    match out {
        Some(dir) => dir.to_path_buf(),
        None => {
            let stem = file.file_stem().map_or_else(|| "noether".into(), |s| s.to_string_lossy());
            std::path::PathBuf::from(format!("{stem}_plots"))
        }
    }
}

/// Prints what `--plot` did not draw: on stderr when stdout carries JSON.
fn print_notes(notes: &[String], json: bool) {
    for note in notes {
        if json {
            eprintln!("note: {note}");
        } else {
            println!("  note: {note}");
        }
    }
}

/// A number as people read it: plain in everyday ranges, scientific beyond.
fn readable(value: f64) -> String {
    let magnitude = value.abs();
    if value == 0.0 || !value.is_finite() || (1e-4..1e9).contains(&magnitude) {
        format!("{value}")
    } else {
        format!("{value:e}")
    }
}

fn number(value: f64) -> serde_json::Value {
    serde_json::Number::from_f64(value)
        .map_or_else(|| serde_json::Value::String(format!("{value}")), serde_json::Value::Number)
}

/// The Euclidean norm of a tensor, as printed for tensors too large to print.
fn norm(value: &ndarray::ArrayD<f64>) -> f64 {
    value.iter().map(|v| v * v).sum::<f64>().sqrt()
}

/// Scalars and tensors by name, as `grad` and `fit` report them: with `out`, each tensor is
/// written to `DIR/<prefix><name>.npy`; in JSON a scalar is a number and a tensor
/// `{norm, shape, file}`.
struct NamedValues<'v> {
    values: &'v [(String, ndarray::ArrayD<f64>)],
    files: Vec<(String, std::path::PathBuf)>,
}

impl<'v> NamedValues<'v> {
    fn write(
        model: &Model,
        values: &'v [(String, ndarray::ArrayD<f64>)],
        out: Option<&Path>,
        prefix: &str,
    ) -> Result<Self, Failure> {
        let mut files = Vec::new();
        for (name, value) in values.iter().filter(|(_, v)| v.ndim() > 0) {
            if let Some(dir) = out {
                let path = dir.join(format!("{prefix}{name}.npy"));
                noether::runtime::output::write_npy(&path, &value.view()).map_err(|e| model.fail(e))?;
                files.push((name.clone(), path));
            }
        }
        Ok(NamedValues { values, files })
    }

    fn file(&self, name: &str) -> Option<&Path> {
        self.files.iter().find(|(n, _)| n == name).map(|(_, p)| p.as_path())
    }

    fn json(&self) -> serde_json::Map<String, serde_json::Value> {
        self.values
            .iter()
            .map(|(name, value)| {
                let entry = if value.ndim() == 0 {
                    number(value[[]])
                } else {
                    let file = self.file(name).map(|p| p.display().to_string());
                    serde_json::json!({ "norm": number(norm(value)), "shape": value.shape(), "file": file })
                };
                (name.clone(), entry)
            })
            .collect()
    }

    /// How a tensor is reported in text: its shape, norm and file.
    fn tensor_text(&self, name: &str, value: &ndarray::ArrayD<f64>) -> String {
        let file = self.file(name).map(|p| format!(" (wrote {})", p.display())).unwrap_or_default();
        format!("shape {:?}, norm {}{file}", value.shape(), readable(norm(value)))
    }
}
