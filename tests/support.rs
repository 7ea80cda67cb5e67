//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use noether::{Backend, EngineOptions, Failure, Model, Override, Simulator, Source};

/// Runs the real `noether` binary with `args` in `dir`.
pub fn noether_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_noether")).current_dir(dir).args(args).output().expect("the binary runs")
}

/// Runs the real `noether` binary with `args` in the repository root.
pub fn noether(args: &[&str]) -> Output {
    noether_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

/// A process's output as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The files in `dir` whose names end in `.extension`, sorted.
pub fn files_with_extension(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a readable entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == extension))
        .collect();
    found.sort();
    found
}

/// Compiles script text (data paths relative to `tests/cases`).
pub fn model(text: &str) -> Model {
    match Model::from_source(Source::new("test.noe", text), &[], "tests/cases") {
        Ok(model) => model,
        Err(failure) => panic!("the test script should compile:\n{failure:?}"),
    }
}

/// A simulator of `text` on `backend`. The JIT splits even small kernels across two threads,
/// so tests exercise the parallel path.
pub fn simulator(text: &str, backend: Backend) -> Simulator {
    let options = EngineOptions { threads: Some(2), min_parallel_points: Some(1), ..EngineOptions::default() };
    model(text).simulator_with(backend, options).unwrap_or_else(|f| panic!("{f:?}"))
}

/// Turns `fn NAME(backend: Backend)` test bodies into one test per engine (OpenCL's with the
/// `opencl` feature).
macro_rules! on_every_engine {
    ($($name:ident),* $(,)?) => {
        mod interp {
            $(#[test]
            fn $name() {
                super::$name(noether::Backend::Interp)
            })*
        }
        mod jit {
            $(#[test]
            fn $name() {
                super::$name(noether::Backend::Jit)
            })*
        }
        #[cfg(feature = "opencl")]
        mod opencl {
            $(#[test]
            fn $name() {
                super::$name(noether::Backend::OpenCl)
            })*
        }
    };
}
pub(crate) use on_every_engine;

/// The failure compiling, preparing or running `text` on `backend` gives, if any.
pub fn failure_on(text: &str, overrides: &[Override], backend: Backend) -> Option<Failure> {
    let model = match Model::from_source(Source::new("test.noe", text), overrides, "tests/cases") {
        Ok(model) => model,
        Err(failure) => return Some(failure),
    };
    model.simulator(backend).and_then(|mut s| s.run()).err()
}

/// `|a - b| <= tol * max(1, |b|)`.
pub fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1.0)
}
