//! The reference in `docs/` cannot drift from the compiler: every fenced code block in
//! `docs/*.md` is checked according to its info string (the table in `docs/README.md`), a block
//! with any other info string fails, and the reference is held to the source: every diagnostic
//! code the crates define, every builtin, prelude and stdlib function, and every CLI command and
//! flag is documented, and nothing documented is missing from the source.
//!
//! Scripts compile through the library (`Model::from_source`, data relative to `docs/`); shell
//! lines run the real binary, each block in a fresh directory holding a copy of `examples/` and
//! `model.noe`, the last script above the block in its page. A failure names the page and the
//! line of the block's opening fence.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use noether::{Backend, Failure, FitOptions, Model, Source};

use crate::support::{files_with_extension, noether, noether_in, text};

/// What every `noe fragment` block is checked inside: the fragment follows these lines.
const FRAGMENT_PRELUDE: &str = "\
const N = 8
param D = 0.1
shape G = [i < N, j < N] periodic
state u : G = sin(2 * pi * i / N)
";

/// Codes documented without a block that causes them: internal errors that report a bug in
/// Noether, OpenCL's absence (which depends on the build and the machine), an API complaint only an embedding program can cause (a wrong array shape), the
/// nesting limits, whose scripts are 100,000 levels deep (`tests/big_input.rs` causes them), and
/// lowering's `unsupported`, which the checks before it pre-empt for every script known.
const UNTRIGGERABLE: [&str; 8] = [
    "noether::internal",
    "noether::opencl::unavailable",
    "noether::lower::gradient",
    "noether::lower::unsupported",
    "noether::api::shape",
    "noether::syntax::too_deep",
    "noether::check::too_deep",
    "noether::check::reductions_too_deep",
];

/// One fenced block: where it starts, its info string and its text.
struct Block {
    page: PathBuf,
    line: usize,
    info: String,
    text: String,
}

impl Block {
    fn at(&self) -> String {
        format!("{}:{}", self.page.display(), self.line)
    }
}

/// How far an error script is driven: compiling, loading data and preparing a simulator always;
/// then running its directive (when it has one), differentiating its first loss, or fitting.
#[derive(Clone, Copy, PartialEq)]
enum Action {
    Check,
    Run,
    Grad,
    Fit,
}

/// What a block's info string asks for.
enum Expect {
    /// `noe [run|grad|fit]`: a complete script that compiles (and runs, differentiates or fits).
    Script { action: Action },
    /// `noe fragment [run|grad|fit]`: statements that compile after [`FRAGMENT_PRELUDE`].
    Fragment { action: Action },
    /// `noe error=CODE [grad|fit]`: a script that fails with CODE and no other code.
    Error { code: String, action: Action },
    /// `sh`: every `noether` line names a real command and real flags.
    Shell,
    /// `sh run`: every `noether` line succeeds.
    ShellRun,
    /// `sh error=CODE`: the `noether` line fails with exit code 1 and CODE.
    ShellError { code: String },
    /// `rust excerpt=PATH`: lines copied from PATH (compiled code or a doc-test there), so the
    /// page shows code the build checks.
    Excerpt { path: String },
    /// `text`: output, not checked.
    Text,
}

fn expectation(info: &str) -> Result<Expect, String> {
    let unknown = || format!("unknown info string `{info}`: see the table in docs/README.md");
    let mut words = info.split_whitespace();
    let language = words.next().unwrap_or("");
    let rest: Vec<&str> = words.collect();
    let code = rest.iter().find_map(|w| w.strip_prefix("error=")).map(String::from);
    let has = |word: &str| rest.contains(&word);
    let only = |allowed: &[&str]| rest.iter().all(|w| allowed.contains(w) || w.starts_with("error="));
    match language {
        "noe" if !only(&["run", "fragment", "grad", "fit"]) => Err(unknown()),
        "noe" => {
            let action = if has("grad") {
                Action::Grad
            } else if has("fit") {
                Action::Fit
            } else if has("run") || code.is_some() {
                Action::Run
            } else {
                Action::Check
            };
            Ok(match code {
                Some(code) => Expect::Error { code, action },
                None if has("fragment") => Expect::Fragment { action },
                None => Expect::Script { action },
            })
        }
        "sh" => match (rest.as_slice(), code) {
            ([], _) => Ok(Expect::Shell),
            (["run"], _) => Ok(Expect::ShellRun),
            ([_], Some(code)) => Ok(Expect::ShellError { code }),
            _ => Err(unknown()),
        },
        "rust" => match rest.as_slice() {
            [word] => {
                word.strip_prefix("excerpt=").map(|path| Expect::Excerpt { path: path.into() }).ok_or_else(unknown)
            }
            _ => Err(unknown()),
        },
        "text" if rest.is_empty() => Ok(Expect::Text),
        _ => Err(unknown()),
    }
}

fn docs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs")
}

fn pages() -> Vec<PathBuf> {
    files_with_extension(&docs_dir(), "md")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The fenced blocks of a page, in order. An unclosed fence is a block to the end.
fn blocks(page: &Path) -> Vec<Block> {
    let relative = page.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(page).to_path_buf();
    let mut found = Vec::new();
    let mut open: Option<Block> = None;
    for (number, line) in read(page).lines().enumerate() {
        match (&mut open, line.trim_start().strip_prefix("```")) {
            (None, Some(info)) => {
                open = Some(Block {
                    page: relative.clone(),
                    line: number + 1,
                    info: info.trim().into(),
                    text: String::new(),
                })
            }
            (Some(_), Some(rest)) if rest.trim().is_empty() => found.extend(open.take()),
            (Some(block), _) => {
                block.text.push_str(line);
                block.text.push('\n');
            }
            (None, None) => {}
        }
    }
    found.extend(open);
    found
}

/// `text`'s lines appear together, in order, in the file at `path` (relative to the repository),
/// compared without indentation and without a doc comment's `//! ` or `/// `.
fn excerpt(text: &str, path: &str) -> Result<(), String> {
    let strip = |line: &str| {
        let line = line.trim();
        let line = line.strip_prefix("//!").or_else(|| line.strip_prefix("///")).unwrap_or(line);
        line.trim().to_string()
    };
    let file: Vec<String> = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).lines().map(strip).collect();
    let wanted: Vec<String> = text.lines().map(strip).collect();
    if !wanted.is_empty() && file.windows(wanted.len()).any(|w| w == wanted.as_slice()) {
        Ok(())
    } else {
        Err(format!("these lines are not in {path} (in this order, together)"))
    }
}

/// Compiles `text` and drives it as far as `action`.
fn drive(text: &str, action: Action) -> Result<(), Failure> {
    let model = Model::from_source(Source::new("model.noe", text), &[], docs_dir())?;
    model.check_data()?;
    let mut sim = model.simulator(Backend::Interp)?;
    match action {
        Action::Check => Ok(()),
        Action::Run if sim.schedule().is_some() => sim.run(),
        Action::Run => Ok(()),
        Action::Grad => {
            let scalars = &model.checked().scalars;
            let loss = scalars.iter().find(|s| s.kind == noether::compiler::model::NamedKind::Loss);
            sim.gradient(loss.map_or("", |s| s.name.as_str()), &[]).map(|_| ())
        }
        Action::Fit => sim.fit(FitOptions::default(), &mut |_| {}).map(|_| ()),
    }
}

fn expect_code(codes: &[String], code: &str) -> Result<(), String> {
    let cut_short = code == "noether::too_many_errors";
    let others: Vec<&String> = codes.iter().filter(|c| *c != code && *c != "noether::too_many_errors").collect();
    if codes.iter().any(|c| c == code) && (others.is_empty() || cut_short) {
        Ok(())
    } else {
        Err(format!("expected {code} alone, got {codes:?}"))
    }
}

/// The binary's `--help` text for each subcommand (and "" for the top level), asked once.
#[derive(Default)]
struct Help(HashMap<String, String>);

impl Help {
    fn of(&mut self, command: &str) -> &str {
        self.0.entry(command.into()).or_insert_with(|| {
            let args: Vec<&str> = if command.is_empty() { vec!["--help"] } else { vec![command, "--help"] };
            text(&noether(&args).stdout)
        })
    }

    /// The subcommands the top-level help lists.
    fn commands(&mut self) -> Vec<String> {
        let text = self.of("");
        let section = text.split("Commands:").nth(1).unwrap_or("").split("Options:").next().unwrap_or("");
        section.lines().filter_map(|l| l.split_whitespace().next()).filter(|w| *w != "help").map(String::from).collect()
    }
}

/// The flags a line names: `--flag`, `--flag=VALUE`, `[--flag`, `-w`.
fn flags(words: &[&str]) -> Vec<String> {
    words
        .iter()
        .map(|w| w.trim_start_matches('['))
        .filter(|w| w.starts_with('-') && w.len() > 1 && !w[1..].starts_with(|c: char| c.is_ascii_digit()))
        .map(|w| w.split(['=', ']']).next().unwrap_or(w).to_string())
        .collect()
}

/// The `noether` lines of a shell block, split into words; other lines (but comments and blank
/// lines) are an error, so a block holds nothing unchecked.
fn command_lines(block: &Block) -> Result<Vec<Vec<String>>, String> {
    let mut lines = Vec::new();
    for line in block.text.lines() {
        let line = line.split(" #").next().unwrap_or(line).trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<String> = line.split_whitespace().map(String::from).collect();
        if words[0] != "noether" {
            return Err(format!("`{line}`: a sh block holds only `noether` lines and comments"));
        }
        lines.push(words[1..].to_vec());
    }
    if lines.is_empty() {
        return Err("a sh block without a `noether` line".into());
    }
    Ok(lines)
}

/// Every line names a subcommand the binary has and flags that subcommand takes.
fn check_names(lines: &[Vec<String>], help: &mut Help) -> Result<(), String> {
    let commands = help.commands();
    for words in lines {
        let command = words.first().map(String::as_str).unwrap_or("");
        if !commands.iter().any(|c| c == command) {
            return Err(format!("`noether {command}`: no such command (the binary has {commands:?})"));
        }
        let text = help.of(command).to_string();
        let words: Vec<&str> = words[1..].iter().map(String::as_str).collect();
        for flag in flags(&words) {
            let listed = text.split(|c: char| c.is_whitespace() || c == ',').any(|w| w == flag);
            if !listed {
                return Err(format!("`noether {command}` has no flag {flag}"));
            }
        }
    }
    Ok(())
}

/// A fresh directory with a copy of `examples/` and `model.noe`, for a shell block to run in
/// (a copy, so a command that writes files, like `fmt --write`, cannot change the repository).
fn workplace(script: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let examples = dir.path().join("examples");
    std::fs::create_dir(&examples).expect("creates examples/");
    for entry in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")).expect("examples/") {
        let path = entry.expect("entry").path();
        if path.is_file() {
            std::fs::copy(&path, examples.join(path.file_name().expect("a name"))).expect("copies an example");
        }
    }
    std::fs::write(dir.path().join("model.noe"), script).expect("writes model.noe");
    dir
}

fn run_lines(lines: &[Vec<String>], script: &str, code: Option<&str>) -> Result<(), String> {
    let dir = workplace(script);
    for words in lines {
        let args: Vec<&str> = words.iter().map(String::as_str).collect();
        let output = noether_in(dir.path(), &args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let shown = format!("`noether {}`", args.join(" "));
        match code {
            None if !output.status.success() => return Err(format!("{shown} failed:\n{stderr}")),
            Some(code) if output.status.code() != Some(1) || !stderr.contains(code) => {
                return Err(format!("{shown} should fail with {code}, exit {:?}:\n{stderr}", output.status.code()));
            }
            _ => {}
        }
    }
    Ok(())
}

fn check_block(block: &Block, script: &mut String, help: &mut Help) -> Result<(), String> {
    match expectation(&block.info)? {
        Expect::Script { action } => {
            *script = block.text.clone();
            drive(script, action).map_err(|f| format!("{f:?}"))
        }
        Expect::Fragment { action } => {
            *script = format!("{FRAGMENT_PRELUDE}{}", block.text);
            drive(script, action).map_err(|f| format!("{f:?}"))
        }
        Expect::Error { code, action } => {
            *script = block.text.clone();
            match drive(&block.text, action) {
                Ok(()) => Err(format!("expected {code}, but it succeeded")),
                Err(failure) => expect_code(&failure.codes(), &code),
            }
        }
        Expect::Shell => check_names(&command_lines(block)?, help),
        Expect::ShellRun => {
            let lines = command_lines(block)?;
            check_names(&lines, help)?;
            run_lines(&lines, script, None)
        }
        Expect::ShellError { code } => {
            let lines = command_lines(block)?;
            check_names(&lines, help)?;
            run_lines(&lines, script, Some(&code))
        }
        Expect::Excerpt { path } => excerpt(&block.text, &path),
        Expect::Text => Ok(()),
    }
}

#[test]
fn every_block_in_docs_holds() {
    let mut help = Help::default();
    let mut failures = Vec::new();
    let mut count = 0;
    for page in pages() {
        let mut script = String::new();
        for block in blocks(&page) {
            count += 1;
            if let Err(problem) = check_block(&block, &mut script, &mut help) {
                failures.push(format!("{}: ```{}\n{problem}", block.at(), block.info));
            }
        }
    }
    assert!(count > 0, "docs/ has no code blocks");
    let index = read(&docs_dir().join("README.md"));
    assert!(index.contains(&format!("```noe\n{FRAGMENT_PRELUDE}```")), "docs/README.md must show the fragment prelude");
    assert!(failures.is_empty(), "{} of {count} blocks in docs/ fail:\n\n{}", failures.len(), failures.join("\n\n"));
}

/// Every `code(noether::...)` a diagnostic derives, by the file that defines it.
fn source_codes() -> BTreeMap<String, PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut codes = BTreeMap::new();
    let mut pending = vec![root.join("compiler/src"), root.join("runtime/src"), root.join("src")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("source dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = read(&path);
                for piece in text.split("code(").skip(1) {
                    let code: String =
                        piece.trim_start().chars().take_while(|c| c.is_alphanumeric() || "_:".contains(*c)).collect();
                    if code.starts_with("noether::") && piece.trim_start()[code.len()..].starts_with(')') {
                        codes.entry(code).or_insert_with(|| path.clone());
                    }
                }
            }
        }
    }
    codes
}

/// The codes `docs/diagnostics.md` documents (its `### \`noether::...\`` headings), each with
/// the text of its section.
fn documented_codes() -> BTreeMap<String, String> {
    let text = read(&docs_dir().join("diagnostics.md"));
    let mut sections = BTreeMap::new();
    for section in text.split("\n### `").skip(1) {
        let code = section.split('`').next().unwrap_or("").to_string();
        let body = section.split("\n## ").next().unwrap_or(section).to_string();
        sections.insert(code, body);
    }
    sections
}

/// Whether a section holds a block whose info string says it fails with `code`.
fn causes(section: &str, code: &str) -> bool {
    let word = format!("error={code}");
    section.lines().any(|l| l.trim_start().starts_with("```") && l.split_whitespace().any(|w| w == word))
}

#[test]
fn every_diagnostic_code_is_documented_with_a_trigger() {
    let source = source_codes();
    let documented = documented_codes();
    assert!(source.len() > 50, "found only {} codes in the source: is the scan broken?", source.len());
    let missing: Vec<String> = source
        .iter()
        .filter(|(c, _)| !documented.contains_key(*c))
        .map(|(c, p)| format!("{c} ({})", p.display()))
        .collect();
    let stale: Vec<&String> = documented.keys().filter(|c| !source.contains_key(*c)).collect();
    assert!(missing.is_empty(), "codes missing from docs/diagnostics.md: {missing:?}");
    assert!(stale.is_empty(), "docs/diagnostics.md documents codes the source no longer has: {stale:?}");
    let untriggered: Vec<&String> = documented
        .iter()
        .filter(|(code, body)| !UNTRIGGERABLE.contains(&code.as_str()) && !causes(body, code))
        .map(|(code, _)| code)
        .collect();
    assert!(untriggered.is_empty(), "codes in docs/diagnostics.md without a block that causes them: {untriggered:?}");
}

/// The words of a page written as code: `` `name` `` and the like.
fn code_words(page: &str) -> BTreeSet<String> {
    read(&docs_dir().join(page))
        .split('`')
        .skip(1)
        .step_by(2)
        .flat_map(|code| code.split(|c: char| !(c.is_alphanumeric() || c == '_')).map(String::from).collect::<Vec<_>>())
        .collect()
}

#[test]
fn every_builtin_and_library_function_is_documented() {
    let words = code_words("builtins.md");
    let mut names: Vec<String> = noether::compiler::builtins::Builtin::all().map(|b| b.name().to_string()).collect();
    names.extend(["sum", "mean", "var", "max", "min"].map(String::from));
    for module in noether::compiler::stdlib::MODULES {
        for line in module.text.lines() {
            if let Some(rest) = line.strip_prefix("fn ") {
                names.push(rest.split('(').next().unwrap_or("").trim().to_string());
            }
        }
        if module.name != noether::compiler::stdlib::PRELUDE.name {
            names.push(module.name.to_string());
        }
    }
    let missing: Vec<&String> = names.iter().filter(|n| !words.contains(*n)).collect();
    assert!(missing.is_empty(), "docs/builtins.md does not document {missing:?}");
}

#[test]
fn every_command_and_flag_is_documented() {
    let mut help = Help::default();
    let page = read(&docs_dir().join("cli.md"));
    let commands = help.commands();
    assert!(commands.len() >= 5, "the binary lists only {commands:?}");
    let mut missing = Vec::new();
    for command in &commands {
        if !page.contains(&format!("## `noether {command}")) {
            missing.push(format!("a `## `noether {command}`` section"));
        }
        let text = help.of(command).to_string();
        let words: Vec<&str> = text.split(|c: char| c.is_whitespace() || c == ',').collect();
        for flag in flags(&words) {
            if flag != "--help"
                && flag != "-h"
                && !page.contains(&format!("`{flag}"))
                && !page.contains(&format!(" {flag}"))
            {
                missing.push(format!("{command} {flag}"));
            }
        }
    }
    assert!(missing.is_empty(), "docs/cli.md does not document {missing:?}");
}
