//! Helpers shared by the integration tests.

use noether::{Backend, Failure, Model, Override, Simulator, Source};

/// Compiles script text (data paths relative to `tests/cases`).
pub fn model(text: &str) -> Model {
    match Model::from_source(Source::new("test.noe", text), &[], "tests/cases") {
        Ok(model) => model,
        Err(failure) => panic!("the test script should compile:\n{failure:?}"),
    }
}

/// A simulator of `text` on the interpreter.
pub fn simulator(text: &str) -> Simulator {
    model(text).simulator(Backend::Interp).unwrap_or_else(|f| panic!("{f:?}"))
}

/// The codes of the diagnostics compiling and preparing `text` gives.
pub fn failure_codes(text: &str) -> Vec<String> {
    failure(text, &[]).map(|f| f.codes()).unwrap_or_default()
}

pub fn failure(text: &str, overrides: &[Override]) -> Option<Failure> {
    let model = match Model::from_source(Source::new("test.noe", text), overrides, "tests/cases") {
        Ok(model) => model,
        Err(failure) => return Some(failure),
    };
    model.simulator(Backend::Interp).and_then(|mut s| s.run()).err()
}

/// `|a - b| <= tol * max(1, |b|)`.
pub fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1.0)
}
