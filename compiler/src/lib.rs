//! The Noether compiler: `.noe` source -> checked model -> Kernel IR.
pub mod builtins;
pub mod check;
pub mod diag;
pub mod model;
pub mod ops;
pub mod resolve;
pub mod stdlib;
pub mod syntax;

use diag::{Failure, Sink, Source};

/// Parses, resolves and checks a script: the front end in one call.
pub fn check_source(source: &Source, overrides: &[resolve::Override]) -> Result<model::Model, Failure> {
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
