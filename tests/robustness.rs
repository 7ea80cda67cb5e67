//! Whatever text `check` is given, it answers with a model or with diagnostics that point into
//! the text; it never panics.

use noether::compiler::diag::Source;
use proptest::prelude::*;

const VOCABULARY: &[&str] = &[
    "const",
    "param",
    "shape",
    "state",
    "noise",
    "data",
    "let",
    "fn",
    "energy",
    "loss",
    "observe",
    "use",
    "run",
    "sample",
    "fit",
    "with",
    "minimizing",
    "if",
    "then",
    "else",
    "and",
    "or",
    "not",
    "d",
    "dt",
    "dW",
    "d/dt",
    "u",
    "v",
    "i",
    "j",
    "k",
    "N",
    "D",
    "G",
    "W",
    "x",
    "p",
    "q",
    "t",
    "pi",
    "std",
    "fd4",
    "sum",
    "mean",
    "max",
    "min",
    "exp",
    "laplacian",
    "gradient",
    "grad",
    "load",
    "periodic",
    "dirichlet",
    "neumann",
    "clamp",
    "spin",
    "euler",
    "rk4",
    "heun",
    "metropolis",
    "adam",
    "0",
    "1",
    "2",
    "0.5",
    "1e3",
    "64",
    "-1",
    "\"obs.npy\"",
    "(",
    ")",
    "[",
    "]",
    ",",
    ":",
    ".",
    "=",
    "~",
    "|",
    "+",
    "-",
    "*",
    "/",
    "//",
    "%",
    "^",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "\n",
    "\n",
    "\n",
    "#",
    "$",
    "@",
];

fn assert_answers(text: &str) {
    let source = Source::new("fuzz.noe", text);
    if let Err(failure) = noether::compiler::compile(&source, &[]) {
        for error in failure.errors() {
            let code = error.code().map(|c| c.to_string()).unwrap_or_default();
            assert!(!code.starts_with("noether::internal"), "internal error on {text:?}: {error}");
            let labels: Vec<_> = error.labels().map(|l| l.collect()).unwrap_or_default();
            assert!(!labels.is_empty(), "diagnostic without a span on {text:?}: {code} {error}");
            for label in labels {
                assert!(label.offset() + label.len() <= text.len(), "span outside the text on {text:?}");
            }
        }
    }
}

fn example_texts() -> Vec<String> {
    ["heat", "wave", "burgers", "gray_scott"]
        .iter()
        .map(|n| std::fs::read_to_string(format!("examples/{n}.noe")).expect("example"))
        .chain(
            ["emit_reductions", "emit_stencils_and_rules", "emit_rk4"]
                .iter()
                .map(|n| std::fs::read_to_string(format!("tests/cases/{n}.noe")).expect("case")),
        )
        .collect()
}

/// Applies one edit at a position chosen by `at` (a fraction of the text).
fn mutate(text: &str, kind: u8, at: f64, token: &str) -> String {
    let boundaries: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
    let pick = |f: f64| boundaries[((f * (boundaries.len() - 1) as f64) as usize).min(boundaries.len() - 1)];
    let p = pick(at);
    match kind % 5 {
        0 => format!("{}{}", &text[..p], &text[pick((at + 0.02).min(1.0))..]),
        1 => format!("{} {token} {}", &text[..p], &text[p..]),
        2 => {
            let lines: Vec<&str> = text.lines().collect();
            let n = ((at * lines.len() as f64) as usize).min(lines.len().saturating_sub(1));
            let mut out: Vec<&str> = lines.clone();
            if let Some(line) = lines.get(n) {
                out.insert(n, line);
            }
            out.join("\n")
        }
        3 => text.replacen(char::is_numeric, token, 1 + (at * 3.0) as usize),
        _ => {
            let lines: Vec<&str> = text.lines().collect();
            let n = ((at * lines.len() as f64) as usize).min(lines.len().saturating_sub(1));
            lines.iter().enumerate().filter(|(i, _)| *i != n).map(|(_, l)| *l).collect::<Vec<_>>().join("\n")
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn token_soup_never_panics(tokens in prop::collection::vec(prop::sample::select(VOCABULARY), 0..40)) {
        assert_answers(&tokens.join(" "));
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,80}") {
        assert_answers(&text);
    }

    #[test]
    fn mutated_examples_never_panic(
        which in 0usize..7,
        edits in prop::collection::vec((any::<u8>(), 0.0f64..1.0, prop::sample::select(VOCABULARY)), 1..4),
    ) {
        let mut text = example_texts()[which].clone();
        for (kind, at, token) in edits {
            text = mutate(&text, kind, at, token);
        }
        assert_answers(&text);
    }
}
