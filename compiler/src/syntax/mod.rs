//! Syntax: source text -> [`ast::Module`].
//!
//! Input: any text. Output: a module whose statements each carry a span, or every lexing and
//! parse error found (the parser recovers at the next newline, so one run reports them all),
//! including expressions nested deeper than the compiler accepts ([`depth`]).
//! Example: `const N = 64` becomes `StmtKind::Const { name: N, value: Num(64) }`.

pub mod ast;
pub mod depth;
pub mod format;
pub mod lexer;
pub mod print;

use lalrpop_util::{ErrorRecovery, ParseError, lalrpop_mod};
use miette::Diagnostic;
use thiserror::Error;

use crate::diag::{Failure, Sink, Source, Span};
use ast::{BinOp, Expr, ExprKind, Module};
use lexer::{LexError, Token};

lalrpop_mod!(
    #[allow(clippy::all, clippy::pedantic, clippy::unwrap_used, unused_qualifications)]
    grammar,
    "/syntax/grammar.rs"
);

/// An error raised by a grammar action (a malformed equation head, a missing keyword).
#[derive(Clone, Debug, PartialEq)]
pub struct GrammarError {
    /// Where the malformed construct is.
    pub span: Span,
    /// What is wrong, shown as the error.
    pub message: String,
    /// How to fix it.
    pub help: String,
}

/// A lexing or parsing failure, reported with a span into the script.
#[derive(Debug, Error, Diagnostic)]
pub enum SyntaxError {
    /// Characters that start no token.
    #[error("unexpected character{} `{text}`", if text.chars().count() > 1 { "s" } else { "" })]
    #[diagnostic(
        code(noether::syntax::lex),
        help("Noether scripts use names, numbers, operators (+ - * / // % ^ == != < <= > >=) and `#` comments")
    )]
    Lex {
        /// The characters, as written.
        text: String,
        /// Where they are.
        #[label("not part of any token")]
        span: Span,
    },

    /// A token the grammar does not allow here.
    #[error("unexpected {found}")]
    #[diagnostic(code(noether::syntax::parse))]
    Unexpected {
        /// What was found, described for the user (e.g. "end of file").
        found: String,
        /// Where the unexpected token is.
        #[label("{expected}")]
        span: Span,
        /// What the grammar would have accepted, shown as the label.
        expected: String,
        /// A hint for common mistakes, if one applies.
        #[help]
        help: Option<String>,
    },

    /// An expression nested deeper than the parser accepts.
    #[error("this expression nests deeper than {limit} levels")]
    #[diagnostic(
        code(noether::syntax::too_deep),
        help(
            "the compiler accepts expressions and brackets nested up to {limit} levels (operators, calls, `if`s and \
             reductions each add one); split this one with `let` (e.g. a long sum into partial sums `let s1 = ...`)"
        )
    )]
    TooDeep {
        /// The maximum nesting depth accepted.
        limit: usize,
        /// Where the first level past the limit starts.
        #[label("level {} starts here", limit + 1)]
        span: Span,
    },

    /// An error raised by a grammar action; see [`GrammarError`].
    #[error("{message}")]
    #[diagnostic(code(noether::syntax::parse))]
    Malformed {
        /// What is wrong.
        message: String,
        /// Where the malformed construct is.
        #[label("here")]
        span: Span,
        /// How to fix it.
        #[help]
        help: String,
    },
}

/// Parses a whole script.
pub fn parse(source: &Source) -> Result<Module, Failure> {
    let mut sink = Sink::default();
    let module = parse_into(&source.text, &mut sink);
    sink.finish(source, module)
}

/// Parses `text`, pushing every error into `sink`. The module holds the statements that parsed.
pub fn parse_into(text: &str, sink: &mut Sink) -> Module {
    let (tokens, lex_errors) = lexer::tokenize(text);
    if !lex_errors.is_empty() {
        for error in lex_errors {
            match error {
                LexError::Bad { span, text } => sink.push(SyntaxError::Lex { text, span }),
                LexError::TooDeep { span } => sink.push(SyntaxError::TooDeep { limit: depth::MAX_DEPTH, span }),
            }
        }
        return Module::default();
    }
    let mut recovered = Vec::new();
    let result = grammar::ModuleParser::new().parse(&mut recovered, tokens.into_iter().map(Ok::<_, GrammarError>));
    for ErrorRecovery { error, .. } in recovered {
        sink.push_with(|| convert(error, text));
    }
    match result {
        Ok(module) => {
            depth::check(&module, sink);
            module
        }
        Err(error) => {
            sink.push_with(|| convert(error, text));
            Module::default()
        }
    }
}

/// Parses one expression (used by `--set` values and tests).
pub fn parse_expr(text: &str) -> Result<Expr, SyntaxError> {
    let (tokens, lex_errors) = lexer::tokenize(text);
    match lex_errors.into_iter().next() {
        Some(LexError::Bad { span, text }) => return Err(SyntaxError::Lex { text, span }),
        Some(LexError::TooDeep { span }) => return Err(SyntaxError::TooDeep { limit: depth::MAX_DEPTH, span }),
        None => {}
    }
    // The trailing newline the lexer adds is not part of an expression.
    let tokens = tokens.into_iter().filter(|(_, t, _)| *t != Token::Newline);
    let mut recovered = Vec::new();
    let result = grammar::ExprParser::new().parse(&mut recovered, tokens.map(Ok::<_, GrammarError>));
    if let Some(ErrorRecovery { error, .. }) = recovered.into_iter().next() {
        return Err(convert(error, text));
    }
    result.map_err(|error| convert(error, text))
}

fn convert(error: ParseError<usize, Token<'_>, GrammarError>, text: &str) -> SyntaxError {
    match error {
        ParseError::InvalidToken { location } => SyntaxError::Lex {
            text: text[location..].chars().next().map(String::from).unwrap_or_default(),
            span: Span::new(location, location + 1),
        },
        ParseError::UnrecognizedEof { location, expected } => SyntaxError::Unexpected {
            found: "end of file".into(),
            span: Span::new(location, location),
            expected: describe_expected(&expected),
            help: None,
        },
        ParseError::UnrecognizedToken { token: (start, token, end), expected } => {
            let help = hint_for(&token, &expected);
            SyntaxError::Unexpected {
                found: token.to_string(),
                span: Span::new(start, end.max(start + 1).min(text.len().max(start))),
                expected: describe_expected(&expected),
                help,
            }
        }
        ParseError::ExtraToken { token: (start, token, end) } => SyntaxError::Unexpected {
            found: token.to_string(),
            span: Span::new(start, end),
            expected: "expected end of input".into(),
            help: None,
        },
        ParseError::User { error } => {
            SyntaxError::Malformed { message: error.message, span: error.span, help: error.help }
        }
    }
}

/// "expected one of ..." in the words a user would type.
fn describe_expected(expected: &[String]) -> String {
    let mut words: Vec<String> = expected.iter().map(|e| terminal_name(e)).collect();
    words.dedup();
    let statement_keywords = ["const", "param", "shape", "state", "let", "fn"];
    if statement_keywords.iter().all(|k| words.iter().any(|w| w.trim_matches('`') == *k)) {
        return "expected a statement (const, param, shape, state, noise, data, let, fn, energy, \
                loss, observe, use, d/dt, run, sample, fit)"
            .into();
    }
    match words.as_slice() {
        [] => "unexpected here".into(),
        [one] => format!("expected {one}"),
        many if many.len() > 8 => format!("expected one of {}, ...", many[..8].join(", ")),
        many => format!("expected one of {}", many.join(", ")),
    }
}

fn terminal_name(terminal: &str) -> String {
    match terminal {
        "IDENT" => "a name".into(),
        "NUM" => "a number".into(),
        "STR" => "a string".into(),
        "NL" => "end of line".into(),
        quoted => format!("`{}`", quoted.trim_matches('"')),
    }
}

/// Targeted advice for the parse errors people actually make.
fn hint_for(found: &Token<'_>, expected: &[String]) -> Option<String> {
    let expects = |t: &str| expected.iter().any(|e| e == t);
    match found {
        Token::Newline if expects("\")\"") || expects("\"]\"") => {
            Some("a bracket is still open here; close it before the end of the line".into())
        }
        Token::Newline => Some("the statement ends too early: something is missing at the end of the line".into()),
        Token::Assign | Token::Colon if expects("\"]\"") => Some("is a `]` missing before this?".into()),
        Token::Assign | Token::Colon if expects("\")\"") => Some("is a `)` missing before this?".into()),
        Token::Minus if expects("IDENT") && expects("\"(\"") && !expects("\"-\"") => {
            Some("a reduction body cannot start with `-`: write `-sum(i) x[i]` or `sum(i) (-x[i])`".into())
        }
        Token::Assign if expects("\"==\"") => Some("comparison is written `==`".into()),
        keyword if expects("IDENT") && keyword.is_keyword() => {
            Some(format!("`{}` is a keyword and cannot be used as a name; pick another name", keyword.text()))
        }
        _ => None,
    }
}

/// Builds an expression node spanning `l..r`.
pub(crate) fn node(l: usize, r: usize, kind: ExprKind) -> Expr {
    Expr { kind, span: Span::new(l, r) }
}

pub(crate) fn binary(l: usize, r: usize, op: BinOp, a: Expr, b: Expr) -> Expr {
    node(l, r, ExprKind::Binary(op, Box::new(a), Box::new(b)))
}

pub(crate) fn equation_error<'s>(span: Span) -> ErrorRecovery<usize, Token<'s>, GrammarError> {
    ErrorRecovery {
        error: ParseError::User {
            error: GrammarError {
                span,
                message: "an equation starts with `d/dt` or `d`".into(),
                help: "write `d/dt u = ...` for an ODE/PDE or `d X = a * dt + b * dW` for an SDE".into(),
            },
        },
        dropped_tokens: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ast::StmtKind;

    fn parse_ok(text: &str) -> Module {
        match parse(&Source::new("test.noe", text)) {
            Ok(module) => module,
            Err(failure) => panic!("{failure:?}"),
        }
    }

    fn codes(text: &str) -> Vec<String> {
        parse(&Source::new("test.noe", text)).err().map(|f| f.codes()).unwrap_or_default()
    }

    #[test]
    fn parses_every_statement_kind() {
        let module = parse_ok(
            "const N = 4\nparam D = 0.2\nshape G = [i < N, j < N] periodic\n\
             state u : G = 1\nnoise W : [p < N]\ndata obs : G = load(\"obs.npy\")\n\
             let r[i] = i\nfn f(x) = x\nfn lap(f)[i] = f[i+1]\nenergy E = 1\nloss L = 2\n\
             observe m = 3\nuse std.fd4\nd/dt u = 0\nd u = 0\nrun euler(dt = 1, steps = 2)\n\
             sample u ~ exp(-E) with metropolis(sweeps = 1)\nfit D minimizing L with adam(lr = 1)\n",
        );
        assert_eq!(module.stmts.len(), 18);
        assert!(module.stmts.iter().all(|s| !matches!(s.kind, StmtKind::Error)));
    }

    #[test]
    fn reduction_body_is_a_product() {
        let e = parse_expr("sum(i) a[i] * b[i] + c").expect("parses");
        let ExprKind::Binary(BinOp::Add, lhs, _) = &e.kind else { panic!("{e:?}") };
        assert!(matches!(lhs.kind, ExprKind::Reduce { .. }));
    }

    #[test]
    fn max_of_two_minus_one_is_a_call() {
        let e = parse_expr("max(a, b) - 1").expect("parses");
        assert!(matches!(e.kind, ExprKind::Binary(BinOp::Sub, _, _)));
    }

    #[test]
    fn power_is_right_associative_and_binds_tighter_than_minus() {
        let e = parse_expr("-x^2^3").expect("parses");
        let ExprKind::Neg(inner) = &e.kind else { panic!() };
        let ExprKind::Binary(BinOp::Pow, _, rhs) = &inner.kind else { panic!() };
        assert!(matches!(rhs.kind, ExprKind::Binary(BinOp::Pow, _, _)));
    }

    #[test]
    fn reports_every_bad_statement() {
        assert_eq!(codes("const = 1\nconst b = 2\nparam = 3\n").len(), 2);
    }

    #[test]
    fn lex_errors_have_their_own_code() {
        assert_eq!(codes("const a = 1 $ 2"), vec!["noether::syntax::lex".to_string()]);
    }
}
