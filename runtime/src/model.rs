//! A compiled model, ready to make simulators: the embedding API's entry point.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use miette::Diagnostic;
use noether_compiler::Compiled;
use noether_compiler::diag::{Failure, Source};
use noether_compiler::ir::{BufferId, Program};
use noether_compiler::lower::gradient::GradientProgram;
use noether_compiler::lower::tangent::TangentProgram;
use noether_compiler::model::{FieldKind, NamedKind};
use noether_compiler::resolve::Override;

use crate::engine::{Backend, EngineOptions};
use crate::error::RunError;
use crate::simulator::Simulator;

/// A script compiled to Kernel IR. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Model {
    source: Source,
    base_dir: PathBuf,
    compiled: Arc<Compiled>,
    program: Arc<Program>,
    timings: CompileTimings,
}

/// How long the front end and the back end took.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CompileTimings {
    /// Parse, resolve and check.
    pub check: Duration,
    /// Lower to Kernel IR and verify.
    pub lower: Duration,
}

#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("cannot read `{path}`: {reason}")]
#[diagnostic(code(noether::io::read))]
struct ReadError {
    path: String,
    reason: String,
}

/// The script at `path`, named by its path, or `noether::io::read` if it cannot be read.
pub fn read_source(path: &Path) -> Result<Source, Failure> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::single(&Source::new(name.clone(), ""), ReadError { path: name.clone(), reason: e.to_string() })
    })?;
    Ok(Source::new(name, text))
}

impl Model {
    /// Compiles the script at `path`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Model, Failure> {
        Model::from_file_with(path, &[])
    }

    /// Compiles the script at `path` with `--set`-style overrides of consts and params.
    pub fn from_file_with(path: impl AsRef<Path>, overrides: &[Override]) -> Result<Model, Failure> {
        let path = path.as_ref();
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Model::from_source(read_source(path)?, overrides, base)
    }

    /// Compiles script text; data files are looked up relative to `base_dir`.
    pub fn from_source(source: Source, overrides: &[Override], base_dir: impl Into<PathBuf>) -> Result<Model, Failure> {
        let started = Instant::now();
        let checked = noether_compiler::check_source(&source, overrides)?;
        let check = started.elapsed();
        let started = Instant::now();
        let compiled = noether_compiler::lower_checked(checked, &source)?;
        let lower = started.elapsed();
        let program = Arc::new(compiled.program.clone());
        Ok(Model {
            source,
            base_dir: base_dir.into(),
            compiled: Arc::new(compiled),
            program,
            timings: CompileTimings { check, lower },
        })
    }

    /// A simulator running this model on `backend`, with data loaded and params initialised.
    pub fn simulator(&self, backend: Backend) -> Result<Simulator, Failure> {
        Simulator::new(self.clone(), backend, EngineOptions::default())
    }

    /// As [`Model::simulator`], with engine settings (threads).
    pub fn simulator_with(&self, backend: Backend, options: EngineOptions) -> Result<Simulator, Failure> {
        Simulator::new(self.clone(), backend, options)
    }

    /// Loads and validates every data file (what `noether check` does before running).
    pub fn check_data(&self) -> Result<(), Failure> {
        for field in &self.compiled.model.fields {
            if let FieldKind::Data { path, path_span } = &field.kind {
                crate::data::load(field, path, *path_span, &self.base_dir).map_err(|e| self.fail(e))?;
            }
        }
        Ok(())
    }

    /// The script text, for rendering diagnostics against it.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The model's name (the script's file stem).
    pub fn name(&self) -> &str {
        &self.compiled.model.name
    }

    /// The compiler's output: the program and the interface the runtime drives it with.
    pub fn compiled(&self) -> &Compiled {
        &self.compiled
    }

    /// The checked model: fields, equations, scalars and directives by name.
    pub fn checked(&self) -> &noether_compiler::model::Model {
        &self.compiled.model
    }

    pub(crate) fn program(&self) -> &Arc<Program> {
        &self.program
    }

    pub(crate) fn base_dir(&self) -> &Path {
        &self.base_dir
    }

    /// How long compiling took.
    pub fn timings(&self) -> CompileTimings {
        self.timings
    }

    /// The gradient program for a loss (by name; the first loss when `None`).
    pub fn gradient_program(&self, loss: Option<&str>) -> Result<GradientProgram, Failure> {
        let index = self.loss_index(loss)?;
        noether_compiler::lower::gradient::gradient_program(&self.compiled, index)
            .map_err(|e| self.fail(noether_compiler::diag::Internal { message: e.to_string() }))
    }

    /// The tangent program for a loss (by index in the scalars) with respect to `inputs`
    /// (param and state buffers), `width` directions per pass.
    pub(crate) fn tangent_program(
        &self,
        loss: usize,
        inputs: &[BufferId],
        width: usize,
    ) -> Result<TangentProgram, Failure> {
        noether_compiler::lower::tangent::tangent_program(&self.compiled, loss, inputs, width)
            .map_err(|e| self.fail(noether_compiler::diag::Internal { message: e.to_string() }))
    }

    /// The tangent program for a loss (by name; the first loss when `None`) with respect to
    /// every param, in as many directions as one pass computes: what `noether emit --stage
    /// tangent` prints.
    pub fn tangent_program_of_params(&self, loss: Option<&str>) -> Result<TangentProgram, Failure> {
        let index = self.loss_index(loss)?;
        let interface = &self.compiled.interface;
        let params: Vec<BufferId> = (self.checked().fields.iter().zip(&interface.fields))
            .filter(|(field, _)| field.kind == FieldKind::Param)
            .filter_map(|(_, buffer)| *buffer)
            .collect();
        let count: usize = params.iter().map(|b| self.compiled.program.buffer(*b).len()).sum();
        self.tangent_program(index, &params, count.clamp(1, crate::tangent::TANGENT_WIDTH))
    }

    /// The index in the scalars of a loss (by name; the first loss when `None`), or an error
    /// naming the losses there are.
    pub(crate) fn loss_index(&self, loss: Option<&str>) -> Result<usize, Failure> {
        let scalars = &self.compiled.model.scalars;
        let index = match loss {
            Some(name) => scalars.iter().position(|s| s.name == name && s.kind == NamedKind::Loss),
            None => scalars.iter().position(|s| s.kind == NamedKind::Loss),
        };
        let Some(index) = index else {
            if loss.is_none() {
                return Err(self.fail(RunError::NoLoss));
            }
            let names: Vec<&str> =
                scalars.iter().filter(|s| s.kind == NamedKind::Loss).map(|s| s.name.as_str()).collect();
            return Err(self.fail(RunError::UnknownName {
                what: "loss",
                name: loss.unwrap_or("").to_string(),
                help: if names.is_empty() {
                    "declare one, e.g. `loss L = sum(i) u[i]^2`".into()
                } else {
                    format!("losses: {}", names.join(", "))
                },
            }));
        };
        Ok(index)
    }

    /// Wraps a runtime error with this model's source, for rendering.
    pub fn fail(&self, error: impl Diagnostic + Send + Sync + 'static) -> Failure {
        Failure::single(&self.source, error)
    }

    /// How an engine's failure (a bug in Noether) is reported against this model.
    pub(crate) fn engine_failure(&self) -> impl Fn(crate::engine::EngineError) -> Failure + '_ {
        |error| self.fail(RunError::from(error))
    }
}
