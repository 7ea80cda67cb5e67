//! `noether fmt`: scripts in the canonical layout ([`noether::compiler::syntax::format`]),
//! printed, rewritten in place, or checked.

use std::path::PathBuf;

use noether::compiler::syntax::format::{Unformatted, first_difference, format};
use noether::runtime::model::read_source;
use noether::runtime::output::write_text;
use noether::{Failure, Source};

/// What `fmt` does with each formatted script.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum FmtMode {
    /// Print it on stdout.
    Print,
    /// Rewrite the file, atomically, when it changed.
    Write,
    /// Name the file, with its first differing line, when it would change; fail if any would.
    Check,
}

/// Formats each file in order; the first that cannot be read or parsed stops the command with
/// its diagnostic, leaving it untouched.
pub fn fmt(files: &[PathBuf], mode: FmtMode) -> Result<(), Failure> {
    let mut unformatted = 0;
    for file in files {
        let source = read_source(file)?;
        let formatted = format(&source)?;
        match mode {
            FmtMode::Print => super::print_text(&formatted, &source)?,
            FmtMode::Write if formatted != *source.text => {
                write_text(file, &formatted).map_err(|e| Failure::single(&source, e))?;
            }
            FmtMode::Write => {}
            FmtMode::Check => {
                if let Some((line, old, new)) = first_difference(&source.text, &formatted) {
                    unformatted += 1;
                    println!("{}: not formatted; first difference at line {line}:\n-{old}\n+{new}", source.name);
                }
            }
        }
    }
    if unformatted > 0 {
        return Err(Failure::single(&Source::new("", ""), Unformatted { count: unformatted, checked: files.len() }));
    }
    Ok(())
}
