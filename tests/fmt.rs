//! `noether fmt` and the editor grammar: the examples are formatted, formatting is idempotent
//! and keeps both the syntax tree and the comments, and the CLI checks, rewrites and refuses
//! as documented.

use std::path::{Path, PathBuf};

use noether::Source;
use noether::compiler::syntax::format::format;
use noether::compiler::syntax::{lexer, parse, print};
use proptest::prelude::*;

use crate::support::{files_with_extension, noether, text};

fn scripts(dir: &str) -> Vec<PathBuf> {
    files_with_extension(Path::new(dir), "noe")
}

/// The syntax tree as `emit --stage ast` prints it: spans and layout left out.
fn tree(name: &str, text: &str) -> Option<String> {
    let source = Source::new(name, text);
    noether::compiler::stack::run(|| parse(&source).ok().map(|module| print::module(&module)))
}

fn formatted(name: &str, text: &str) -> String {
    format(&Source::new(name, text)).unwrap_or_else(|f| panic!("{name}:\n{f:?}"))
}

#[test]
fn every_example_is_formatted() {
    let paths = scripts("examples");
    let mut args = vec!["fmt", "--check"];
    args.extend(paths.iter().map(|p| p.to_str().expect("utf-8")));
    let output = noether(&args);
    assert!(output.status.success(), "{}{}", text(&output.stdout), text(&output.stderr));
    assert!(output.stdout.is_empty());
}

/// Every example, prelude and standard-library module, and every case that parses.
#[test]
fn fmt_is_idempotent_and_keeps_the_syntax_tree() {
    let mut formatted_count = 0;
    for path in [scripts("examples"), scripts("stdlib"), scripts("tests/cases")].concat() {
        let name = path.display().to_string();
        let original = std::fs::read_to_string(&path).expect("readable");
        let Some(before) = tree(&name, &original) else { continue };
        let once = formatted(&name, &original);
        assert_eq!(formatted(&name, &once), once, "{name}: fmt of fmt differs");
        assert_eq!(tree(&name, &once).as_deref(), Some(before.as_str()), "{name}: the syntax tree changed");
        formatted_count += 1;
    }
    assert!(formatted_count > 40, "only {formatted_count} scripts parsed");
}

#[test]
fn comments_survive_in_place() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("c.noe");
    let script = "# head\nconst N=4   # trailing, aligned\n\n\n  # before the run\nrun euler(dt=1, # in an expression\n   # on its own line\n steps=N)   \n";
    std::fs::write(&path, script).expect("written");
    let output = noether(&["fmt", path.to_str().expect("utf-8")]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        "# head\nconst N = 4 # trailing, aligned\n\n# before the run\nrun euler(dt = 1, # in an expression\n    # on its own line\n    steps = N)\n"
    );
}

#[test]
fn check_names_a_file_that_is_not_formatted_and_exits_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("bad.noe");
    let good = dir.path().join("good.noe");
    std::fs::write(&bad, "const N = 4\nparam D=0.2\n").expect("written");
    std::fs::write(&good, "const N = 4\n").expect("written");
    let output = noether(&["fmt", "--check", bad.to_str().expect("utf-8"), good.to_str().expect("utf-8")]);
    assert_eq!(output.status.code(), Some(1));
    let report = text(&output.stdout);
    assert_eq!(
        report,
        format!("{}: not formatted; first difference at line 2:\n-param D=0.2\n+param D = 0.2\n", bad.display())
    );
    assert!(text(&output.stderr).contains("noether::fmt::unformatted"), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("1 of 2 scripts are not formatted"), "{}", text(&output.stderr));
    assert_eq!(std::fs::read_to_string(&bad).expect("readable"), "const N = 4\nparam D=0.2\n");
}

#[cfg(unix)]
fn inode(path: &Path) -> u64 {
    std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(path).expect("metadata"))
}

#[test]
fn write_rewrites_only_the_files_that_change() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("bad.noe");
    let good = dir.path().join("good.noe");
    std::fs::write(&bad, "d/dt u=-u # decay\n").expect("written");
    std::fs::write(&good, "const N = 4\n").expect("written");
    #[cfg(unix)]
    let good_inode = inode(&good);
    let output = noether(&["fmt", "-w", bad.to_str().expect("utf-8"), good.to_str().expect("utf-8")]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(output.stdout.is_empty());
    assert_eq!(std::fs::read_to_string(&bad).expect("readable"), "d/dt u = -u # decay\n");
    assert_eq!(std::fs::read_to_string(&good).expect("readable"), "const N = 4\n");
    #[cfg(unix)]
    assert_eq!(inode(&good), good_inode, "an unchanged file is not rewritten");
    let leftovers = std::fs::read_dir(dir.path()).expect("dir").count();
    assert_eq!(leftovers, 2, "no temporary files are left");
}

#[test]
fn a_syntax_error_gives_the_diagnostic_and_leaves_the_file_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("broken.noe");
    let script = "const  N = 4\nparam D = 1 +* 2\n";
    std::fs::write(&path, script).expect("written");
    for mode in ["--write", "--check"] {
        let output = noether(&["fmt", mode, path.to_str().expect("utf-8")]);
        assert_eq!(output.status.code(), Some(1), "{mode}");
        let diagnostic = text(&output.stderr);
        assert!(diagnostic.contains("noether::syntax::parse"), "{diagnostic}");
        assert!(diagnostic.contains("broken.noe:2:"), "the span is shown: {diagnostic}");
        assert_eq!(std::fs::read_to_string(&path).expect("readable"), script);
    }
    let output = noether(&["fmt", dir.path().join("missing.noe").to_str().expect("utf-8")]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("noether::io::read"), "{}", text(&output.stderr));
}

#[test]
fn printing_takes_one_file() {
    let output = noether(&["fmt", "examples/heat.noe", "examples/lj.noe"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("--write or --check"), "{}", text(&output.stderr));
    let output = noether(&["fmt", "examples/heat.noe"]);
    assert!(output.status.success());
    assert_eq!(text(&output.stdout), std::fs::read_to_string("examples/heat.noe").expect("readable"));
}

/// `text` with the blanks between its tokens chosen by `blanks` (0 to 2 spaces, at least one
/// between two words); gaps holding a comment or a line break are kept as written.
fn respaced(text: &str, blanks: &[u8]) -> String {
    let (tokens, errors) = lexer::tokenize(text);
    assert!(errors.is_empty());
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.';
    let mut out = String::new();
    let mut end = 0;
    for (k, (start, _, stop)) in tokens.into_iter().enumerate() {
        let gap = &text[end..start];
        if gap.contains(['#', '\n']) || out.is_empty() {
            out.push_str(gap);
        } else {
            let joined = out.ends_with(word) && text[start..].starts_with(word);
            let count = usize::from(blanks[k % blanks.len()] % 3).max(usize::from(joined));
            out.push_str(&" ".repeat(count));
        }
        out.push_str(&text[start..stop]);
        end = stop;
    }
    out.push_str(&text[end..]);
    out
}

/// Trailing comments keep their author's column, which respacing moves.
fn without_comment_columns(text: &str) -> String {
    text.lines()
        .map(|line| line.split_once(" #").map_or(line.to_string(), |(code, c)| format!("{}#{c}", code.trim_end())))
        .collect::<Vec<_>>()
        .join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_spacing_of_an_example_formats_to_the_example(
        example in prop::sample::select(scripts("examples")),
        blanks in prop::collection::vec(any::<u8>(), 1..64),
    ) {
        let original = std::fs::read_to_string(&example).expect("readable");
        let name = example.display().to_string();
        let messy = respaced(&original, &blanks);
        let tidy = formatted(&name, &messy);
        prop_assert_eq!(without_comment_columns(&tidy), without_comment_columns(&original));
        prop_assert_eq!(formatted(&name, &tidy), tidy);
    }
}

#[test]
fn the_editor_grammar_is_json_and_knows_every_keyword_and_builtin() {
    let grammar: serde_json::Value =
        serde_json::from_str(include_str!("../editors/vscode/syntaxes/noether.tmLanguage.json")).expect("valid JSON");
    assert_eq!(grammar["scopeName"], "source.noether");
    let mut patterns = Vec::new();
    collect_matches(&grammar, &mut patterns);
    let words: std::collections::HashSet<&str> =
        patterns.iter().flat_map(|p| p.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))).collect();
    let keywords = lexer::KEYWORDS.iter().map(|k| k.text());
    let builtins = noether::compiler::builtins::Builtin::all().map(|b| b.name());
    let reductions = ["sum", "mean", "max", "min", "var"].into_iter();
    let integrators = noether::compiler::model::Integrator::ALL.into_iter().map(|i| i.name());
    let samplers = noether::compiler::model::Sampler::NAMES.into_iter();
    for name in keywords.chain(builtins).chain(reductions).chain(integrators).chain(samplers) {
        assert!(words.contains(name), "`{name}` is missing from the grammar");
    }
    for file in ["package.json", "language-configuration.json"] {
        let text = std::fs::read_to_string(Path::new("editors/vscode").join(file)).expect("readable");
        serde_json::from_str::<serde_json::Value>(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}

/// Every `match` regex in a TextMate grammar.
fn collect_matches<'g>(value: &'g serde_json::Value, out: &mut Vec<&'g str>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                match (key.as_str(), item.as_str()) {
                    ("match", Some(regex)) => out.push(regex),
                    _ => collect_matches(item, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|item| collect_matches(item, out)),
        _ => {}
    }
}
