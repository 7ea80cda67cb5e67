//! The `logos` lexer and the token stream the grammar reads.
//!
//! Statements end at a newline, so newlines are tokens; inside `(...)` and `[...]` they are
//! dropped, which lets long argument lists span lines. Blank lines and comments (`# ...`) vanish,
//! and the stream always ends with a newline so the last statement is terminated.

use std::fmt;

use logos::Logos;

use super::depth::Chains;
use crate::diag::Span;

/// A token of the grammar; keywords and operators are the text their `#[token]` spells.
#[derive(Logos, Clone, Debug, PartialEq)]
#[allow(missing_docs, reason = "each variant is the text its #[token] or #[regex] attribute spells")]
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

/// Every reserved word, for tools that must agree with the lexer (the editor grammar in
/// `editors/` is tested against it).
pub const KEYWORDS: [Token<'static>; 23] = [
    Token::Const,
    Token::Param,
    Token::Shape,
    Token::State,
    Token::Noise,
    Token::Data,
    Token::Let,
    Token::Fn,
    Token::Energy,
    Token::Loss,
    Token::Observe,
    Token::Use,
    Token::Run,
    Token::Sample,
    Token::Fit,
    Token::With,
    Token::Minimizing,
    Token::If,
    Token::Then,
    Token::Else,
    Token::And,
    Token::Or,
    Token::Not,
];

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
    Bad {
        /// Where it is.
        span: Span,
        /// What it says.
        text: String,
    },
    /// A token nested deeper than [`super::depth::MAX_DEPTH`] in brackets or chains of
    /// operators (see `Chains`). Lexing stops here: the parser would hold every open bracket
    /// and operator (and the input may be megabytes of them).
    TooDeep {
        /// The token that goes too deep.
        span: Span,
    },
}

/// A token with its byte range, as the generated parser consumes it.
pub type Spanned<'s> = (usize, Token<'s>, usize);

/// Splits `text` into tokens, applying the newline rules above. All lexing errors are returned
/// together; after the first one the token list stops growing (it is only meaningful when there
/// are none), so garbage costs no memory for tokens. Nesting too deep ends lexing.
pub fn tokenize(text: &str) -> (Vec<Spanned<'_>>, Vec<LexError>) {
    let mut tokens = Vec::new();
    let mut errors: Vec<LexError> = Vec::new();
    let mut chains = Chains::new();
    let mut lexer = Token::lexer(text);
    while let Some(result) = lexer.next() {
        let range = lexer.span();
        match result {
            Ok(_) if !errors.is_empty() => {}
            Ok(Token::Newline) => {
                let after_newline = matches!(tokens.last(), None | Some((_, Token::Newline, _)));
                if chains.brackets() == 0 && !after_newline {
                    chains.push(&Token::Newline);
                    tokens.push((range.start, Token::Newline, range.end));
                }
            }
            Ok(token) => {
                if !chains.push(&token) {
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
    use crate::syntax::depth::MAX_DEPTH;

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
    fn the_keyword_list_is_every_word_the_grammar_reserves() {
        for keyword in &KEYWORDS {
            assert!(keyword.is_keyword(), "{keyword}");
            assert_eq!(kinds(keyword.text()), vec![keyword.clone(), Token::Newline]);
        }
        // The grammar's terminals: `"const" => Token::Const,` and so on.
        let reserved: Vec<&str> = include_str!("grammar.lalrpop")
            .lines()
            .filter_map(|line| line.trim().strip_prefix('"')?.split_once("\" => Token::"))
            .map(|(word, _)| word)
            .filter(|word| word.starts_with(|c: char| c.is_ascii_alphabetic()))
            .collect();
        let listed: Vec<&str> = KEYWORDS.iter().map(Token::text).collect();
        assert_eq!(reserved, listed);
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
    fn chains_of_nesting_too_long_end_lexing() {
        let at = 12 + MAX_DEPTH;
        for (open, close) in [("(", ")"), ("[", "]"), ("-", ""), ("-", "-"), ("not ", "")] {
            let text = format!("observe m = {}x{}", open.repeat(MAX_DEPTH + 5), close.repeat(MAX_DEPTH + 5));
            let (_, errors) = tokenize(&text);
            let width = open.trim().len();
            let at = 12 + MAX_DEPTH * open.len();
            assert_eq!(errors, vec![LexError::TooDeep { span: Span::new(at, at + width) }], "{open}");
        }
        let powers = format!("observe m = {}1", "x^".repeat(MAX_DEPTH + 1));
        assert_eq!(tokenize(&powers).1, vec![LexError::TooDeep { span: Span::new(at * 2 - 11, at * 2 - 10) }]);
        let ifs = format!("observe m = {}0", "if x then 1 else ".repeat(MAX_DEPTH + 1));
        assert!(matches!(tokenize(&ifs).1.as_slice(), [LexError::TooDeep { .. }]));
    }

    #[test]
    fn long_chains_of_one_operator_end_lexing() {
        for piece in ["x + ", "x - ", "x * ", "x // ", "x and ", "x or ", "x + -", "sum(i) ", "max(a, b) * "] {
            let text = format!("observe m = {}0\n", piece.repeat(MAX_DEPTH + 1));
            assert!(matches!(tokenize(&text).1.as_slice(), [LexError::TooDeep { .. }]), "{piece}");
        }
    }

    #[test]
    fn a_looser_operator_or_a_separator_ends_a_chain() {
        // Each run is exactly at the limit; counted together, two would be past it.
        let run = |link: &str| link.repeat(MAX_DEPTH);
        let texts = [
            format!("{}x * {}x", run("x^"), run("x^")),
            format!("{}x + {}x", run("x * "), run("x * ")),
            format!("{}x < {}x", run("x + "), run("x + ")),
            format!("{}x or {}x", run("x and "), run("x and ")),
            format!("f({}x, {}x)", run("x + "), run("x + ")),
            format!("({}x) + ({}x)", run("x + "), run("x + ")),
            format!("{}x", "-".repeat(MAX_DEPTH)),
            format!("{}x + {}x", run("sum(i) "), run("sum(i) ")),
            run("f(x) + "),
        ];
        for text in &texts {
            let (_, errors) = tokenize(&format!("observe m = {text}\n"));
            assert!(errors.is_empty(), "{}", &text[..40]);
        }
    }
}
