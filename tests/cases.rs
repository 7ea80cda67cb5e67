//! Every `tests/cases/*.noe` is a test. Its first line says what to expect:
//! `# error: CODE` (compiling and loading data must fail with that code among the diagnostics;
//! the snapshot is the rendered diagnostics) or `# emit: ir|ast` (the snapshot is the stage).
//! Snapshots show the script, then the output, as a user sees them.

use std::path::Path;

use noether::{Backend, Model};

#[test]
fn cases() {
    insta::glob!("cases/*.noe", |path| {
        let relative = path.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(path);
        let text = std::fs::read_to_string(path).expect("case file");
        let header = text.lines().next().unwrap_or_default();
        let (label, output) = if let Some(code) = header.strip_prefix("# error: ") {
            ("diagnostics", expect_error(relative, code.trim()))
        } else if let Some(stage) = header.strip_prefix("# emit: ") {
            (stage.trim(), emit(relative, stage.trim()))
        } else {
            panic!("{}: the first line must be `# error: CODE` or `# emit: STAGE`", relative.display());
        };
        insta::assert_snapshot!(format!("{text}\n----- {label} -----\n{output}"));
    });
}

fn expect_error(path: &Path, code: &str) -> String {
    let result = Model::from_file(path).and_then(|model| {
        model.check_data()?;
        model.simulator(Backend::Interp).map(|_| ())
    });
    let failure = match result {
        Ok(()) => panic!("{}: expected the error {code}, but it compiled", path.display()),
        Err(failure) => failure,
    };
    assert!(
        failure.codes().iter().any(|c| c == code),
        "{}: expected {code}, got {:?}",
        path.display(),
        failure.codes()
    );
    failure.render_plain(80)
}

fn emit(path: &Path, stage: &str) -> String {
    match stage {
        "ir" => {
            let model = Model::from_file(path).unwrap_or_else(|f| panic!("{f:?}"));
            noether::compiler::ir::print(&model.compiled().program)
        }
        "clif" => {
            let model = Model::from_file(path).unwrap_or_else(|f| panic!("{f:?}"));
            let options = noether::compiler::codegen::clif::Options::default();
            noether::compiler::codegen::clif::emit_clif(&model.compiled().program, options).expect("generates code")
        }
        "ast" => {
            let text = std::fs::read_to_string(path).expect("case file");
            let source = noether::Source::new(path.display().to_string(), text);
            let module = noether::compiler::syntax::parse(&source).unwrap_or_else(|f| panic!("{f:?}"));
            noether::compiler::syntax::print::module(&module)
        }
        other => panic!("unknown stage {other}"),
    }
}
