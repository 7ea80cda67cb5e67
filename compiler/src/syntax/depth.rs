//! The nesting limit, checked right after parsing.
//!
//! Every later stage recurses on expressions, so how deeply they nest is what the compiler's
//! stack use grows with (see [`crate::stack`]). [`check`] measures every expression of a module
//! with a work list, never recursing, and reports each statement whose expressions nest deeper
//! than [`MAX_DEPTH`] levels, at the node where the limit is passed. The parser does not
//! recurse either, and syntax trees are dropped without recursion, so input of any depth ends
//! in this diagnostic rather than a crash.
//!
//! Example: `observe m = sin(sin(...(x)...))` with 200,000 `sin`s is refused, pointing at the
//! 100,001st `sin`; a 100,000-term sum `a + b + ...` is accepted.
//!
//! Most nesting is refused before parsing, by the lexer: `Chains` counts, token by token,
//! constructs that each nest in the one before (brackets, runs of prefix `-`/`not`, chains of
//! one operator such as `a + b + c` or `x ^ y ^ z`, `if`s, reductions `sum(i) sum(j) ...`), a
//! lower bound of the nesting. The
//! parser holds open constructs on its stack and builds a node per operator, so megabytes of
//! them would cost gigabytes before [`check`] ran.

use super::SyntaxError;
use super::ast::{Expr, ExprKind, LetForm, Module, ShapeSpec, StmtKind, TypeAnn};
use super::lexer::Token;
use crate::diag::{Sink, Span};

/// The deepest nesting of an expression the compiler accepts: operators, calls, `if`s and
/// reductions each add a level (parentheses do not).
pub const MAX_DEPTH: usize = 100_000;

/// The deepest nesting once functions are inlined, checked by `check` as it elaborates and on
/// what it produces: room for the written limit plus the bodies of the functions it calls.
pub const MAX_INLINED_DEPTH: usize = 2 * MAX_DEPTH;

/// A lower bound of the nesting at the current token, kept as the lexer goes.
pub(super) struct Chains {
    /// Per open bracket (the first entry: outside any), the operator chains at that level.
    levels: Vec<Level>,
    /// Consecutive prefix operators: `- - not x` nests each in the one before.
    prefixes: usize,
    /// What the last token was, as far as the next one cares.
    last: Last,
}

struct Level {
    chains: [usize; CHAINED],
    /// Whether the bracket opened right after a name: a call, or a reduction's head.
    call: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Last {
    /// A name: a `(` after it opens a call.
    Name,
    /// The `)` of a call: an operand after it is a reduction's body, `sum(i) x`.
    CallEnd,
    /// The end of another operand: a `-` after it is binary.
    Operand,
    Other,
}

/// Operators that chain, loosest first: `if`, `or`, `and`, `+ -`, `* / // %`, reduction heads,
/// `^`. Each link of a chain nests in the next (left-associative operators) or the one before
/// (`^`, reductions, and `if`, which extends as far right as it can); an operator ends the
/// chains of the tighter ones.
const CHAINED: usize = 7;
const REDUCTION: usize = 5;

/// Where a token stands among the chains.
#[derive(Clone, Copy)]
enum Role {
    /// Counts in this chain and ends the tighter ones.
    Link(usize),
    /// Ends the chains from this one on: a comparison or `not` ends sums and tighter, `then`
    /// and `else` all but `if`s, a separator all.
    Ends(usize),
    /// Inside an operand: names, numbers, brackets, a prefix `-`.
    Operand,
}

impl Chains {
    pub fn new() -> Self {
        Chains { levels: vec![Level { chains: [0; CHAINED], call: false }], prefixes: 0, last: Last::Other }
    }

    /// How many brackets are open.
    pub fn brackets(&self) -> usize {
        self.levels.len() - 1
    }

    /// Takes `token` into account; `false` when the nesting passes [`MAX_DEPTH`] at it.
    pub fn push(&mut self, token: &Token<'_>) -> bool {
        let unary_minus = *token == Token::Minus && !matches!(self.last, Last::Operand | Last::CallEnd | Last::Name);
        self.prefixes = if unary_minus || *token == Token::Not { self.prefixes + 1 } else { 0 };
        let starts_operand = matches!(token, Token::Ident(_) | Token::Num(_) | Token::LParen);
        let mut longest = 0;
        if self.last == Last::CallEnd && starts_operand {
            longest = self.link(Role::Link(REDUCTION));
        }
        let opens_call = self.last == Last::Name && *token == Token::LParen;
        self.last = match token {
            Token::Ident(_) => Last::Name,
            Token::Num(_) | Token::Str(_) | Token::RBracket => Last::Operand,
            Token::RParen => Last::Operand,
            _ => Last::Other,
        };
        match token {
            Token::LParen | Token::LBracket => self.levels.push(Level { chains: [0; CHAINED], call: opens_call }),
            Token::RParen | Token::RBracket if self.levels.len() > 1 => {
                let closed = self.levels.pop().expect("more than the outermost level");
                if closed.call && *token == Token::RParen {
                    self.last = Last::CallEnd;
                }
            }
            _ => {}
        }
        let role = match token {
            _ if unary_minus => Role::Operand,
            Token::If => Role::Link(0),
            Token::Or => Role::Link(1),
            Token::And => Role::Link(2),
            Token::Plus | Token::Minus => Role::Link(3),
            Token::Star | Token::Slash | Token::SlashSlash | Token::Percent => Role::Link(4),
            Token::Caret => Role::Link(6),
            Token::Then | Token::Else => Role::Ends(1),
            Token::Not | Token::EqEq | Token::NotEq | Token::Lt | Token::Le | Token::Gt | Token::Ge => Role::Ends(3),
            Token::Ident(_) | Token::Num(_) | Token::Str(_) => Role::Operand,
            Token::LParen | Token::LBracket | Token::RParen | Token::RBracket => Role::Operand,
            _ => Role::Ends(0),
        };
        longest = longest.max(self.link(role));
        self.brackets() <= MAX_DEPTH && self.prefixes <= MAX_DEPTH && longest <= MAX_DEPTH
    }

    /// Applies `role` at the current level; the length of the chain it extends.
    fn link(&mut self, role: Role) -> usize {
        let chains = &mut self.levels.last_mut().expect("the outermost level stays").chains;
        match role {
            Role::Link(chain) => {
                chains[chain] += 1;
                chains[chain + 1..].iter_mut().for_each(|n| *n = 0);
                chains[chain]
            }
            Role::Ends(from) => {
                chains[from..].iter_mut().for_each(|n| *n = 0);
                0
            }
            Role::Operand => 0,
        }
    }
}

/// Reports every statement of `module` that nests deeper than [`MAX_DEPTH`].
pub fn check(module: &Module, sink: &mut Sink) {
    for stmt in &module.stmts {
        if let Some(span) = too_deep(&roots(&stmt.kind)) {
            sink.push(SyntaxError::TooDeep { limit: MAX_DEPTH, span });
        }
    }
}

/// Where the first of `roots` passes [`MAX_DEPTH`], if one does: a one-character span at the
/// start of the first node below the limit (the whole node may span megabytes).
fn too_deep(roots: &[&Expr]) -> Option<Span> {
    let mut pending: Vec<(&Expr, usize)> = roots.iter().map(|e| (*e, 1)).collect();
    while let Some((e, depth)) = pending.pop() {
        if depth > MAX_DEPTH {
            return Some(Span::new(e.span.start, (e.span.start + 1).min(e.span.end.max(e.span.start))));
        }
        pending.extend(children(&e.kind).into_iter().map(|child| (child, depth + 1)));
    }
    None
}

/// The direct subexpressions of an expression.
pub fn children(kind: &ExprKind) -> Vec<&Expr> {
    match kind {
        ExprKind::Num(_) | ExprKind::Name(_) => Vec::new(),
        ExprKind::Neg(a) | ExprKind::Not(a) => vec![a],
        ExprKind::Binary(_, a, b) | ExprKind::Compare(_, a, b) | ExprKind::And(a, b) | ExprKind::Or(a, b) => {
            vec![a, b]
        }
        ExprKind::If(c, a, b) => vec![c, a, b],
        ExprKind::Call { args, filter, .. } => args.iter().chain(filter.as_deref()).collect(),
        ExprKind::Reduce { args, filter, body, .. } => {
            args.iter().chain(filter.as_deref()).chain([body.as_ref()]).collect()
        }
        ExprKind::Index { base, indices } => std::iter::once(base.as_ref()).chain(indices).collect(),
    }
}

/// Every expression written in a statement, outermost.
fn roots(kind: &StmtKind) -> Vec<&Expr> {
    let mut roots: Vec<&Expr> = match kind {
        StmtKind::Const { value, .. } => vec![value],
        StmtKind::Param { ty, init, .. } | StmtKind::State { ty, init, .. } => {
            ty.iter().flat_map(type_exprs).chain([init]).collect()
        }
        StmtKind::Shape { dims, modifiers, .. } => {
            dims.iter().filter_map(|d| d.extent.as_ref()).chain(modifiers.iter().flat_map(|m| &m.args)).collect()
        }
        StmtKind::Noise { ty, .. } | StmtKind::Data { ty, .. } => type_exprs(ty),
        StmtKind::Let { form, value, .. } => {
            let form = match form {
                LetForm::Plain => Vec::new(),
                LetForm::Indexed(indices) => indices.iter().filter_map(|i| i.extent.as_ref()).collect(),
                LetForm::Typed(ty) => type_exprs(ty),
            };
            form.into_iter().chain([value]).collect()
        }
        StmtKind::Fn(f) => f.indices.iter().flatten().filter_map(|i| i.extent.as_ref()).chain([&f.body]).collect(),
        StmtKind::Named { value, .. } => vec![value],
        StmtKind::Ode { rhs, .. } | StmtKind::Sde { rhs, .. } => vec![rhs],
        StmtKind::Sample { density, .. } => vec![density],
        StmtKind::Use { .. } | StmtKind::Run(_) | StmtKind::Fit { .. } | StmtKind::Error => Vec::new(),
    };
    let directive = match kind {
        StmtKind::Run(d) | StmtKind::Sample { sampler: d, .. } | StmtKind::Fit { optimizer: d, .. } => Some(d),
        _ => None,
    };
    roots.extend(directive.iter().flat_map(|d| d.args.iter().map(|a| &a.value)));
    roots
}

fn type_exprs(ty: &TypeAnn) -> Vec<&Expr> {
    let dims = match &ty.shape {
        ShapeSpec::Named(_) => &[][..],
        ShapeSpec::Literal(dims) => dims,
    };
    dims.iter().filter_map(|d| d.extent.as_ref()).chain(ty.modifiers.iter().flat_map(|m| &m.args)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Source;

    fn codes(text: &str) -> Vec<String> {
        crate::syntax::parse(&Source::new("test.noe", text)).err().map(|f| f.codes()).unwrap_or_default()
    }

    #[test]
    fn the_limit_is_exact() {
        // `observe m = -x` nests `x` one level below the root: depth 2.
        let at = |depth: usize| format!("observe m = {}x\n", "-".repeat(depth - 1));
        assert!(codes(&at(MAX_DEPTH)).is_empty());
        assert_eq!(codes(&at(MAX_DEPTH + 1)), vec!["noether::syntax::too_deep".to_string()]);
    }

    #[test]
    fn every_place_an_expression_is_written_is_measured() {
        let deep = format!("{}1", "-".repeat(MAX_DEPTH));
        let statements = [
            format!("const a = {deep}"),
            format!("param p : [i < {deep}] = 0"),
            format!("shape G = [i < 3] dirichlet({deep})"),
            format!("let r[i < {deep}] = i"),
            format!("fn f(x)[i < {deep}] = x"),
            format!("run euler(dt = {deep}, steps = 1)"),
            format!("sample s ~ {deep} with metropolis(sweeps = 1)"),
            format!("fit D minimizing L with adam(lr = {deep})"),
            format!("d/dt u = {deep}"),
        ];
        for statement in &statements {
            assert_eq!(codes(&format!("{statement}\n")).len(), 1, "{}", &statement[..20]);
        }
    }
}
