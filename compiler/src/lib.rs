//! The Noether compiler: `.noe` source -> checked model -> Kernel IR.
//!
//! The entry points below run on a stack of their own ([`stack`]), so deeply nested scripts
//! compile from any thread.
#![warn(missing_docs)]
pub mod autodiff;
pub mod builtins;
pub mod check;
pub mod codegen;
pub mod diag;
pub mod ir;
pub mod lower;
pub mod math;
pub mod model;
pub mod ops;
pub mod resolve;
pub mod stack;
pub mod stdlib;
pub mod syntax;

use diag::{Failure, Internal, Sink, Source};

pub use lower::Compiled;

/// The whole pipeline of DESIGN.md: parse, resolve, check, lower, verify.
pub fn compile(source: &Source, overrides: &[resolve::Override]) -> Result<Compiled, Failure> {
    lower_checked(check_source(source, overrides)?, source)
}

/// The back half of the pipeline: lower a checked model and verify the program.
pub fn lower_checked(model: model::Model, source: &Source) -> Result<Compiled, Failure> {
    stack::run(|| lower_and_verify(model, source))
}

fn lower_and_verify(model: model::Model, source: &Source) -> Result<Compiled, Failure> {
    let mut sink = Sink::default();
    let Some(compiled) = lower::lower(model, &mut sink) else { return Err(sink.fail(source)) };
    if let Err(error) = ir::verify(&compiled.program) {
        sink.push(Internal { message: error.to_string() });
        return Err(sink.fail(source));
    }
    Ok(compiled)
}

/// Parses, resolves and checks a script: the front end in one call.
pub fn check_source(source: &Source, overrides: &[resolve::Override]) -> Result<model::Model, Failure> {
    stack::run(|| front_end(source, overrides))
}

fn front_end(source: &Source, overrides: &[resolve::Override]) -> Result<model::Model, Failure> {
    let mut sink = Sink::default();
    let module = syntax::parse_into(&source.text, &mut sink);
    let name = model_name(source);
    let model = if sink.is_empty() {
        resolve::resolve(&module, overrides, &mut sink).and_then(|r| check::check(&r, &name, &mut sink))
    } else {
        None
    };
    match model {
        Some(model) if sink.is_empty() => Ok(model),
        _ => Err(sink.fail(source)),
    }
}

/// The model's name: the script's file stem.
pub fn model_name(source: &Source) -> String {
    std::path::Path::new(&source.name)
        .file_stem()
        .map_or_else(|| "model".to_string(), |s| s.to_string_lossy().into_owned())
}
