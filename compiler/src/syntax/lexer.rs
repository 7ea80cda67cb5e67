//! The `logos` lexer and the token stream the grammar reads.
//!
//! Statements end at a newline, so newlines are tokens; inside `(...)` and `[...]` they are
//! dropped, which lets long argument lists span lines. Blank lines and comments (`# ...`) vanish,
//! and the stream always ends with a newline so the last statement is terminated.

use std::fmt;

use logos::Logos;

use super::depth::MAX_DEPTH;
use crate::diag::Span;

#[derive(Logos, Clone, Debug, PartialEq)]
#[logos(skip r"[ \t\r\f]+")]
#[logos(skip(r"#[^\n]*", allow_greedy = true))]
pub enum Token<'s> {
    #[token("const")]
    Const,
    #[token("param")]
    Param,
    #[token("shape")]
    Shape,
    #[token("state")]
    State,
    #[token("noise")]
    Noise,
    #[token("data")]
    Data,
    #[token("let")]
    Let,
    #[token("fn")]
    Fn,
    #[token("energy")]
    Energy,
    #[token("loss")]
    Loss,
    #[token("observe")]
    Observe,
    #[token("use")]
    Use,
    #[token("run")]
    Run,
    #[token("sample")]
    Sample,
    #[token("fit")]
    Fit,
    #[token("with")]
    With,
    #[token("minimizing")]
    Minimizing,
    #[token("if")]
    If,
    #[token("then")]
    Then,
    #[token("else")]
    Else,
    #[token("and")]
    And,
    #[token("or")]
    Or,
    #[token("not")]
    Not,

    #[regex(r"[A-Za-z_][A-Za-z0-9_]*", |lex| lex.slice())]
    Ident(&'s str),
    #[regex(r"[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?", parse_number)]
    #[regex(r"\.[0-9]+([eE][+-]?[0-9]+)?", parse_number)]
    Num(f64),
    #[regex(r#""[^"\n]*""#, |lex| { let s = lex.slice(); &s[1..s.len() - 1] })]
    Str(&'s str),

    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token(",")]
    Comma,
    #[token(":")]
    Colon,
    #[token(".")]
    Dot,
    #[token("=")]
    Assign,
    #[token("~")]
    Tilde,
    #[token("|")]
    Bar,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    #[token("//")]
    SlashSlash,
    #[token("%")]
    Percent,
    #[token("^")]
    Caret,
    #[token("==")]
    EqEq,
    #[token("!=")]
    NotEq,
    #[token("<")]
    Lt,
    #[token("<=")]
    Le,
    #[token(">")]
    Gt,
    #[token(">=")]
    Ge,
    #[token("\n")]
    Newline,
}

fn parse_number<'s>(lex: &mut logos::Lexer<'s, Token<'s>>) -> Option<f64> {
    lex.slice().parse().ok()
}

impl fmt::Display for Token<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Ident(name) => write!(f, "name `{name}`"),
            Token::Num(value) => write!(f, "number `{value}`"),
            Token::Str(text) => write!(f, "string \"{text}\""),
            Token::Newline => f.write_str("end of line"),
            other => write!(f, "`{}`", other.text()),
        }
    }
}

impl Token<'_> {
    /// Whether this is a reserved word (which cannot name anything).
    pub fn is_keyword(&self) -> bool {
        let text = self.text();
        text.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
    }

    /// The source text of a fixed token (keywords and punctuation).
    pub fn text(&self) -> &'static str {
        match self {
            Token::Const => "const",
            Token::Param => "param",
            Token::Shape => "shape",
            Token::State => "state",
            Token::Noise => "noise",
            Token::Data => "data",
            Token::Let => "let",
            Token::Fn => "fn",
            Token::Energy => "energy",
            Token::Loss => "loss",
            Token::Observe => "observe",
            Token::Use => "use",
            Token::Run => "run",
            Token::Sample => "sample",
            Token::Fit => "fit",
            Token::With => "with",
            Token::Minimizing => "minimizing",
            Token::If => "if",
            Token::Then => "then",
            Token::Else => "else",
            Token::And => "and",
            Token::Or => "or",
            Token::Not => "not",
            Token::LParen => "(",
            Token::RParen => ")",
            Token::LBracket => "[",
            Token::RBracket => "]",
            Token::Comma => ",",
            Token::Colon => ":",
            Token::Dot => ".",
            Token::Assign => "=",
            Token::Tilde => "~",
            Token::Bar => "|",
            Token::Plus => "+",
            Token::Minus => "-",
            Token::Star => "*",
            Token::Slash => "/",
            Token::SlashSlash => "//",
            Token::Percent => "%",
            Token::Caret => "^",
            Token::EqEq => "==",
            Token::NotEq => "!=",
            Token::Lt => "<",
            Token::Le => "<=",
            Token::Gt => ">",
            Token::Ge => ">=",
            Token::Newline => "\\n",
            Token::Ident(_) | Token::Num(_) | Token::Str(_) => "",
        }
    }
}

/// What stops a text from being a token stream.
#[derive(Clone, Debug, PartialEq)]
pub enum LexError {
    /// A character sequence that is not a token.
    Bad { span: Span, text: String },
    /// A bracket opened inside more than [`MAX_DEPTH`] others, or a run of more than
    /// [`MAX_DEPTH`] prefix operators (`- - - x`, each nested in the one before). Lexing stops
    /// here: the parser would hold every open bracket and operator (and the input may be
    /// megabytes of them).
    TooDeep { span: Span },
}

/// A token with its byte range, as the generated parser consumes it.
pub type Spanned<'s> = (usize, Token<'s>, usize);

/// Splits `text` into tokens, applying the newline rules above. All lexing errors are returned
/// together; after the first one the token list stops growing (it is only meaningful when there
/// are none), so garbage costs no memory for tokens. Brackets nested deeper than [`MAX_DEPTH`]
/// end lexing.
pub fn tokenize(text: &str) -> (Vec<Spanned<'_>>, Vec<LexError>) {
    let mut tokens = Vec::new();
    let mut errors: Vec<LexError> = Vec::new();
    let mut depth = 0usize;
    let mut prefix_run = 0usize;
    let mut lexer = Token::lexer(text);
    while let Some(result) = lexer.next() {
        let range = lexer.span();
        match result {
            Ok(_) if !errors.is_empty() => {}
            Ok(Token::Newline) => {
                let after_newline = matches!(tokens.last(), None | Some((_, Token::Newline, _)));
                if depth == 0 && !after_newline {
                    tokens.push((range.start, Token::Newline, range.end));
                }
            }
            Ok(token) => {
                match token {
                    Token::LParen | Token::LBracket => depth += 1,
                    Token::RParen | Token::RBracket => depth = depth.saturating_sub(1),
                    _ => {}
                }
                prefix_run = if matches!(token, Token::Minus | Token::Not) { prefix_run + 1 } else { 0 };
                if depth > MAX_DEPTH || prefix_run > MAX_DEPTH {
                    errors.push(LexError::TooDeep { span: Span::new(range.start, range.end) });
                    break;
                }
                tokens.push((range.start, token, range.end));
            }
            Err(()) => match errors.last_mut() {
                // Adjacent bad characters form one error.
                Some(LexError::Bad { span, text }) if span.end == range.start => {
                    span.end = range.end;
                    text.push_str(lexer.slice());
                }
                _ => errors
                    .push(LexError::Bad { span: Span::new(range.start, range.end), text: lexer.slice().to_string() }),
            },
        }
    }
    if !matches!(tokens.last(), None | Some((_, Token::Newline, _))) {
        tokens.push((text.len(), Token::Newline, text.len()));
    }
    (tokens, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<Token<'_>> {
        let (tokens, errors) = tokenize(text);
        assert!(errors.is_empty(), "{errors:?}");
        tokens.into_iter().map(|(_, t, _)| t).collect()
    }

    #[test]
    fn keywords_names_numbers() {
        assert_eq!(
            kinds("const N = 2.5e3 # comment"),
            vec![Token::Const, Token::Ident("N"), Token::Assign, Token::Num(2500.0), Token::Newline]
        );
    }

    #[test]
    fn floor_division_is_one_token() {
        assert_eq!(kinds("p // 10"), vec![Token::Ident("p"), Token::SlashSlash, Token::Num(10.0), Token::Newline]);
    }

    #[test]
    fn newlines_inside_brackets_are_dropped_and_blank_lines_collapse() {
        let tokens = kinds("\n\nrun euler(dt = 1,\n steps = 2)\n\n\nconst a = 1\n");
        let newlines = tokens.iter().filter(|t| **t == Token::Newline).count();
        assert_eq!(newlines, 2);
        assert_ne!(tokens[0], Token::Newline);
    }

    #[test]
    fn bad_characters_are_grouped() {
        let (_, errors) = tokenize("const a = 1 $$ 2 @");
        assert_eq!(
            errors,
            vec![
                LexError::Bad { span: Span::new(12, 14), text: "$$".into() },
                LexError::Bad { span: Span::new(17, 18), text: "@".into() }
            ]
        );
    }

    #[test]
    fn brackets_or_prefix_operators_too_deep_end_lexing() {
        let at = 12 + MAX_DEPTH;
        for (open, close) in [("(", ")"), ("[", "]"), ("-", ""), ("-", "-")] {
            let text = format!("observe m = {}x{}", open.repeat(MAX_DEPTH + 5), close.repeat(MAX_DEPTH + 5));
            let (_, errors) = tokenize(&text);
            assert_eq!(errors, vec![LexError::TooDeep { span: Span::new(at, at + 1) }], "{open}");
        }
        let (_, errors) = tokenize(&format!("observe m = {}x", "-".repeat(MAX_DEPTH)));
        assert!(errors.is_empty());
    }
}
