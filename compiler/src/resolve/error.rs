//! Errors of the resolve stage: names, declarations, constants.

use miette::Diagnostic;
use thiserror::Error;

use crate::diag::Span;

/// What the resolve stage refuses: each variant is a diagnostic with a stable code.
#[derive(Debug, Error, Diagnostic)]
#[allow(
    missing_docs,
    reason = "each variant is one diagnostic, explained by its message and code (see docs/diagnostics.md); its fields fill in the message"
)]
pub enum ResolveError {
    #[error("unknown name `{name}`")]
    #[diagnostic(code(noether::resolve::unknown_name))]
    UnknownName {
        name: String,
        #[label("not declared")]
        span: Span,
        #[help]
        help: String,
    },

    #[error("`{name}` is declared twice")]
    #[diagnostic(code(noether::resolve::duplicate), help("rename one of them"))]
    Duplicate {
        name: String,
        #[label("second declaration")]
        span: Span,
        #[label("first declared here")]
        first: Span,
    },

    #[error("`{name}` is {found}, but {expected} is needed here")]
    #[diagnostic(code(noether::resolve::wrong_kind))]
    WrongKind {
        name: String,
        found: String,
        expected: String,
        #[label("{found}")]
        span: Span,
        #[help]
        help: String,
    },

    #[error("`{name}` is not a constant")]
    #[diagnostic(
        code(noether::resolve::not_const),
        help("this value must be known when the model is compiled: use numbers and `const`s")
    )]
    NotConst {
        name: String,
        #[label("{what}")]
        span: Span,
        what: String,
    },

    #[error("the constant `{name}` depends on itself")]
    #[diagnostic(code(noether::resolve::const_cycle), help("break the cycle by writing one value as a number"))]
    ConstCycle {
        name: String,
        #[label("used in its own definition")]
        span: Span,
    },

    #[error("{what} must be {expected}, found {value}")]
    #[diagnostic(code(noether::resolve::bad_extent))]
    BadExtent {
        what: String,
        expected: String,
        value: String,
        #[label("{value}")]
        span: Span,
        #[help]
        help: Option<String>,
    },

    #[error("unknown module `{path}`")]
    #[diagnostic(code(noether::resolve::unknown_module))]
    UnknownModule {
        path: String,
        #[label("no such module")]
        span: Span,
        #[help]
        help: String,
    },

    #[error("unknown modifier `{name}`")]
    #[diagnostic(code(noether::resolve::unknown_modifier))]
    UnknownModifier {
        name: String,
        #[label("not a boundary rule or value domain")]
        span: Span,
        #[help]
        help: String,
    },

    #[error("{message}")]
    #[diagnostic(code(noether::resolve::bad_modifier))]
    BadModifier {
        message: String,
        #[label("here")]
        span: Span,
        #[help]
        help: String,
    },

    /// A shape with two boundary rules: both are labelled.
    #[error("a shape has one boundary rule")]
    #[diagnostic(code(noether::resolve::bad_modifier), help("remove one of the two rules"))]
    SecondRule {
        #[label("a second rule")]
        span: Span,
        #[label("the first")]
        first: Span,
    },

    #[error("a reduction head lists index names")]
    #[diagnostic(
        code(noether::resolve::bad_reduction),
        help("write `sum(i, j) u[i, j]`, give extents with `sum(k < 3) ...`, filter with `sum(p, q | p != q) ...`")
    )]
    BadReductionVar {
        #[label("expected an index name like `i` or `i < N`")]
        span: Span,
    },

    #[error("`{name}` needs an expression after its index list")]
    #[diagnostic(code(noether::resolve::bad_reduction))]
    MissingReductionBody {
        name: String,
        #[label("nothing to reduce")]
        span: Span,
        #[help]
        help: String,
    },

    #[error("`{name}(...)` does not take a `|` filter")]
    #[diagnostic(
        code(noether::resolve::bad_reduction),
        help("filters belong to reductions: `sum(p, q | p != q) f[p, q]`")
    )]
    FilterOnCall {
        name: String,
        #[label("filter on a function call")]
        span: Span,
    },

    #[error("`{state}` has {rank} {axes}, but the equation names {count} {indices}")]
    #[diagnostic(code(noether::resolve::index_count))]
    IndexCount {
        state: String,
        rank: usize,
        axes: &'static str,
        count: usize,
        indices: &'static str,
        #[label("expected {rank} index {names}")]
        span: Span,
        names: &'static str,
        #[help]
        help: String,
    },

    #[error("there is more than one `{directive}` directive")]
    #[diagnostic(code(noether::resolve::duplicate), help("a model has at most one `{directive}`"))]
    DuplicateDirective {
        directive: &'static str,
        #[label("second `{directive}`")]
        span: Span,
        #[label("first here")]
        first: Span,
    },

    #[error("`--set {name}=...`: there is no const or param `{name}`")]
    #[diagnostic(code(noether::resolve::unknown_override))]
    UnknownOverride {
        name: String,
        #[help]
        help: String,
    },

    #[error("`--set {name}=...`: `{name}` is {kind}; only consts and scalar params can be set")]
    #[diagnostic(code(noether::resolve::unknown_override))]
    BadOverride {
        name: String,
        kind: String,
        #[label("declared here")]
        span: Span,
    },

    #[error("data is read with `load(\"file.npy\")`, not `{name}(...)`")]
    #[diagnostic(code(noether::resolve::unknown_name), help("write `data obs : G = load(\"obs.npy\")`"))]
    UnknownLoader {
        name: String,
        #[label("unknown loader")]
        span: Span,
    },

    #[error("the function `{name}` calls itself")]
    #[diagnostic(
        code(noether::resolve::recursive),
        help("functions are inlined, so they cannot recurse; write the repetition out or use a reduction")
    )]
    Recursive {
        name: String,
        #[label("recursive through its own body")]
        span: Span,
    },

    #[error("a value is folded to a number that is not finite ({value})")]
    #[diagnostic(code(noether::resolve::not_finite), help("check for a division by zero or an overflow"))]
    NotFinite {
        value: f64,
        #[label("evaluates to {value}")]
        span: Span,
    },
}

/// "axis"/"axes" and friends.
pub fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}
