//! `noether fmt`: a script rewritten in the canonical layout, its comments kept.
//!
//! Input: any text. Output: the same token sequence laid out by the rules below, or the
//! parser's diagnostics when the text does not parse (a script is never half formatted). Only
//! whitespace changes, so the script means what it meant (the tests compare syntax trees), and
//! formatting a formatted script changes nothing.
//!
//! The layout is what `examples/*.noe` look like:
//! - one space around every binary operator (`+ - * / // % == != < <= > >= = ~ | : and or`)
//!   and none around `^` (`dx^2`, `r2^-6`, `(1 / 0.8)^(1 / 3)`); a unary minus sticks to its
//!   operand (`-u * ux`), and an equation head is written `d/dt u`;
//! - no space inside brackets or before a comma, one after it (`u[i + 1, j]`,
//!   `run euler(dt = 1.0, steps = 1000)`, `sum(p, q | p != q)`); a call or an index sticks to
//!   its name (`laplacian(u)[i, j]`, `fn lap(f)[i] = ...`); a reduction's body, a keyword and
//!   a shape literal are one space away (`sum(i) (x[i] - m)^2`, `if a then (b) else c`,
//!   `shape G = [i < N]`);
//! - numbers, names and strings are kept as written (`1e-3` stays `1e-3`);
//! - a statement starts at column 0; lines are never joined or split: a line break the author
//!   put inside brackets stays, and the continuation is indented four spaces per line that
//!   opened a bracket still open there (a line starting with closers takes the indent of the
//!   line that opened them), at most eight levels deep;
//! - a comment on its own line is indented like the line it would continue; a trailing
//!   comment keeps the column it was written at (hand alignment survives, no block rule is
//!   imposed) or sits one space after the code when that column is taken; comment text is kept
//!   as written, less trailing spaces;
//! - blank lines: at most one in a row, none at the start or the end; the file ends with one
//!   newline.
//!
//! Example: `d/dt u=D*laplacian( u )-u*v^ 2 # reaction` becomes
//! `d/dt u = D * laplacian(u) - u * v^2 # reaction`.

use logos::Logos;
use miette::Diagnostic;
use thiserror::Error;

use super::lexer::Token;
use crate::diag::{Failure, Internal, Source};

/// `fmt --check` found scripts not in the canonical layout.
#[derive(Debug, Error, Diagnostic)]
#[error("{count} of {checked} scripts are not formatted")]
#[diagnostic(
    code(noether::fmt::unformatted),
    help("`noether fmt --write FILE...` rewrites them in the canonical layout")
)]
pub struct Unformatted {
    /// How many files are not formatted.
    pub count: usize,
    /// How many files were checked.
    pub checked: usize,
}

/// The canonical layout of `source`, or the parser's diagnostics if it does not parse.
pub fn format(source: &Source) -> Result<String, Failure> {
    super::parse(source)?;
    let lines = physical_lines(&source.text).ok_or_else(|| {
        let message = "a script that parsed did not lex again for formatting".into();
        Failure::single(source, Internal { message })
    })?;
    Ok(layout(&lines))
}

/// The first line where `old` and `new` differ: its number (from 1) and both versions, for
/// `fmt --check`'s hint. `None` when the texts are equal.
pub fn first_difference<'a>(old: &'a str, new: &'a str) -> Option<(usize, &'a str, &'a str)> {
    let padded = |text: &'a str| text.split('\n').map(Some).chain(std::iter::repeat(None));
    padded(old)
        .zip(padded(new))
        .take_while(|pair| *pair != (None, None))
        .enumerate()
        .find(|(_, (a, b))| a != b)
        .map(|(k, (a, b))| (k + 1, a.unwrap_or(""), b.unwrap_or("")))
}

/// A token as written.
struct Piece<'s> {
    token: Token<'s>,
    text: &'s str,
}

/// A `#` comment and the column (in characters) it started at.
struct Comment<'s> {
    column: usize,
    text: &'s str,
}

/// One line of the source: its tokens and the comment ending it, either possibly absent.
#[derive(Default)]
struct Line<'s> {
    pieces: Vec<Piece<'s>>,
    comment: Option<Comment<'s>>,
}

/// Splits `text` into its lines of tokens and comments. Between two tokens the lexer skips only
/// blanks and a comment running to the end of the line, so each gap holds at most one comment.
/// `None` if the text does not lex.
fn physical_lines(text: &str) -> Option<Vec<Line<'_>>> {
    let mut lines = vec![Line::default()];
    let mut lexer = Token::lexer(text);
    let (mut gap_start, mut line_start) = (0, 0);
    loop {
        let next = lexer.next();
        let span = lexer.span();
        let gap_end = if next.is_some() { span.start } else { text.len() };
        let line = lines.last_mut()?;
        if let Some(hash) = text[gap_start..gap_end].find('#') {
            let at = gap_start + hash;
            let column = text[line_start..at].chars().count();
            line.comment = Some(Comment { column, text: text[at..gap_end].trim_end() });
        }
        match next {
            None => return Some(lines),
            Some(Ok(Token::Newline)) => {
                lines.push(Line::default());
                line_start = span.end;
            }
            Some(Ok(token)) => line.pieces.push(Piece { token, text: &text[span.clone()] }),
            Some(Err(())) => return None,
        }
        gap_start = span.end;
    }
}

/// How a token relates to the one before it, decided from the whole statement.
#[derive(Clone, Copy, PartialEq)]
enum Role {
    Plain,
    /// A minus with no operand before it.
    UnaryMinus,
    /// The `/` of `d/dt`.
    EquationSlash,
}

/// Writes the lines in the canonical layout.
fn layout(lines: &[Line<'_>]) -> String {
    let mut out = String::new();
    let mut open: Vec<Open> = Vec::new();
    // The statement's last token so far, and how many it has had.
    let mut previous: Option<(&Token<'_>, Role)> = None;
    let mut position = 0;
    let mut blank = false;
    for (number, line) in lines.iter().enumerate() {
        if line.pieces.is_empty() && line.comment.is_none() {
            blank = !out.is_empty();
            continue;
        }
        if std::mem::take(&mut blank) {
            out.push('\n');
        }
        let closers = line.pieces.iter().take_while(|p| matches!(p.token, Token::RParen | Token::RBracket)).count();
        let enclosing = open.len().saturating_sub(closers).checked_sub(1).map_or(0, |k| open[k].levels);
        let mut text = "    ".repeat(enclosing.min(MAX_INDENT));
        for (k, piece) in line.pieces.iter().enumerate() {
            let role = role(&piece.token, previous, position);
            if let Some((before, before_role)) = previous.filter(|_| k > 0) {
                text.push_str(space(before, before_role, &piece.token, role));
            }
            text.push_str(piece.text);
            match piece.token {
                Token::LParen | Token::LBracket => push_open(&mut open, number),
                Token::RParen | Token::RBracket => drop(open.pop()),
                _ => {}
            }
            previous = Some((&piece.token, role));
            position += 1;
        }
        if let Some(comment) = &line.comment {
            if !line.pieces.is_empty() {
                let width = text.chars().count();
                text.push_str(&" ".repeat(comment.column.saturating_sub(width).max(1)));
            }
            text.push_str(comment.text);
        }
        if open.is_empty() {
            previous = None;
            position = 0;
        }
        out.push_str(&text);
        out.push('\n');
    }
    out
}

/// The deepest continuation indent, in levels: deeper nesting stays at this indent, so a script
/// that opens a bracket on each of 100,000 lines does not become gigabytes of spaces.
const MAX_INDENT: usize = 8;

/// An open bracket: the output line that opened it, and how many of the lines that opened the
/// brackets still open, it included, are distinct (the indent it gives).
#[derive(Clone, Copy)]
struct Open {
    line: usize,
    levels: usize,
}

/// Opens a bracket on `line`.
fn push_open(open: &mut Vec<Open>, line: usize) {
    let levels = match open.last() {
        Some(last) if last.line == line => last.levels,
        Some(last) => last.levels + 1,
        None => 1,
    };
    open.push(Open { line, levels });
}

/// The role of the token at `position` in its statement.
fn role(token: &Token<'_>, previous: Option<(&Token<'_>, Role)>, position: usize) -> Role {
    match (token, previous) {
        (Token::Minus, None) => Role::UnaryMinus,
        (Token::Minus, Some((before, _))) if !ends_operand(before) => Role::UnaryMinus,
        // Only an equation has `/` as its second token: `d/dt u = ...`.
        (Token::Slash, Some((Token::Ident("d"), _))) if position == 1 => Role::EquationSlash,
        _ => Role::Plain,
    }
}

/// Whether a binary operator may follow this token.
fn ends_operand(token: &Token<'_>) -> bool {
    matches!(token, Token::Ident(_) | Token::Num(_) | Token::Str(_) | Token::RParen | Token::RBracket)
}

/// The space between two tokens on one line: none or one.
fn space(before: &Token<'_>, before_role: Role, after: &Token<'_>, after_role: Role) -> &'static str {
    let tight = match (before, after) {
        (Token::LParen | Token::LBracket, _) | (_, Token::RParen | Token::RBracket | Token::Comma) => true,
        (Token::Dot, _) | (_, Token::Dot) => true,
        (Token::Comma, _) => false,
        _ if before_role != Role::Plain || after_role == Role::EquationSlash => true,
        (Token::Caret, _) | (_, Token::Caret) => true,
        // A call, an index, or `fn f(x)[i]`; elsewhere a bracket opens a new operand.
        (_, Token::LParen) => matches!(before, Token::Ident(_)),
        (_, Token::LBracket) => matches!(before, Token::Ident(_) | Token::RParen | Token::RBracket),
        _ => false,
    };
    if tight { "" } else { " " }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(text: &str) -> String {
        format(&Source::new("test.noe", text)).unwrap_or_else(|f| panic!("{f:?}"))
    }

    #[test]
    fn spaces_binary_operators_but_not_powers_or_unary_minus() {
        assert_eq!(fmt("observe m=-a*b^ 2+c//2-( -d)%e\n"), "observe m = -a * b^2 + c // 2 - (-d) % e\n");
        assert_eq!(fmt("fn lj(r2)=4*(r2^ -6-r2^-3)"), "fn lj(r2) = 4 * (r2^-6 - r2^-3)\n");
        assert_eq!(fmt("const a=(1/0.8)^(1/3)"), "const a = (1 / 0.8)^(1 / 3)\n");
    }

    #[test]
    fn brackets_commas_calls_and_indexing() {
        assert_eq!(
            fmt("state u:[ i<N ,j<N ] periodic=exp( -u0[i+1 ,j] )\n"),
            "state u : [i < N, j < N] periodic = exp(-u0[i + 1, j])\n"
        );
        assert_eq!(fmt("fn lap (f) [i]=f [i-1]"), "fn lap(f)[i] = f[i - 1]\n");
        assert_eq!(fmt("observe g=grad(E,x)[0]+(a)[1]"), "observe g = grad(E, x)[0] + (a)[1]\n");
    }

    #[test]
    fn equations_reductions_conditionals_and_directives() {
        assert_eq!(fmt("d / dt u=-u"), "d/dt u = -u\n");
        assert_eq!(fmt("d  X[p]=-X[p]*dt+dW[p]"), "d X[p] = -X[p] * dt + dW[p]\n");
        assert_eq!(fmt("energy E=sum(p,q|p!=q)(x[p]-x[q])^2"), "energy E = sum(p, q | p != q) (x[p] - x[q])^2\n");
        assert_eq!(fmt("let y=if(a)then -1 else not(b)"), "let y = if (a) then -1 else not (b)\n");
        assert_eq!(fmt("run euler( dt=1e-3,steps=10 )"), "run euler(dt = 1e-3, steps = 10)\n");
        assert_eq!(fmt("use std . fd4"), "use std.fd4\n");
        assert_eq!(fmt("data o:G=load( \"a#b.npy\" )"), "data o : G = load(\"a#b.npy\")\n");
        assert_eq!(fmt("sample v,h~exp(-E)with gibbs()"), "sample v, h ~ exp(-E) with gibbs()\n");
    }

    #[test]
    fn comments_keep_their_place_and_trailing_ones_their_column() {
        let text = "  # head\n\n\n\nconst N = 4     # aligned\nparam verylongname=1.0 # pushed\n# tail   \n\n";
        assert_eq!(fmt(text), "# head\n\nconst N = 4     # aligned\nparam verylongname = 1.0 # pushed\n# tail\n");
        assert_eq!(fmt("const N=4#tight"), "const N = 4 #tight\n");
    }

    #[test]
    fn line_breaks_inside_brackets_stay_and_are_indented() {
        let text = "run euler(\ndt = 1, # step\n  # own line\nsteps = f(g(\n1,\n2)))\n";
        let want = "run euler(\n    dt = 1, # step\n    # own line\n    steps = f(g(\n        1,\n        2)))\n";
        assert_eq!(fmt(text), want);
        assert_eq!(fmt(&want.replace("    ", " ")), want);
        assert_eq!(fmt("observe m = max(\n  a,\n  b\n  )\n"), "observe m = max(\n    a,\n    b\n)\n");
    }

    #[test]
    fn deep_continuations_stop_indenting() {
        let text = format!("observe m = {}1{}\n", "(\n".repeat(12), ")".repeat(12));
        let widest = fmt(&text).lines().map(|l| l.len() - l.trim_start().len()).max();
        assert_eq!(widest, Some(4 * MAX_INDENT));
    }

    #[test]
    fn empty_and_comment_only_scripts() {
        assert_eq!(fmt(""), "");
        assert_eq!(fmt("\n\n  \n"), "");
        assert_eq!(fmt("# only\r\n"), "# only\n");
    }

    #[test]
    fn a_script_that_does_not_parse_is_not_formatted() {
        let failure = format(&Source::new("t.noe", "const = 1\n")).expect_err("fails");
        assert_eq!(failure.codes(), vec!["noether::syntax::parse".to_string()]);
    }

    #[test]
    fn first_difference_names_the_line() {
        assert_eq!(first_difference("a\nb\n", "a\nb\n"), None);
        assert_eq!(first_difference("a\nb\nc\n", "a\nB\nc\n"), Some((2, "b", "B")));
        assert_eq!(first_difference("a\n", "a\nb\n"), Some((2, "", "b")));
        assert_eq!(first_difference("a\n\n", "a\n"), Some((3, "", "")));
    }
}
