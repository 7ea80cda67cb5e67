//! Errors of lowering: what the checked model asks for that cannot be scheduled or run yet.

use miette::Diagnostic;
use thiserror::Error;

use crate::diag::Span;

/// What lowering refuses: each variant is a diagnostic with a stable code.
#[derive(Debug, Error, Diagnostic)]
#[allow(
    missing_docs,
    reason = "each variant is one diagnostic, explained by its message and code (see docs/diagnostics.md); its fields fill in the message"
)]
pub enum LowerError {
    #[error("{feature} is not implemented yet")]
    #[diagnostic(code(noether::lower::unsupported))]
    Unsupported {
        feature: String,
        #[label("not implemented yet")]
        span: Span,
        #[help]
        help: String,
    },

    #[error("the initial value of `{name}` depends on itself")]
    #[diagnostic(
        code(noether::lower::init_cycle),
        help("initial values may read params, data and other states, but not in a circle")
    )]
    InitCycle {
        name: String,
        #[label("part of a cycle")]
        span: Span,
    },

    #[error("the initial value of the param `{name}` reads {reads}")]
    #[diagnostic(
        code(noether::lower::param_init),
        help("a param's initial value may use consts, index names, data and other params")
    )]
    ParamInit {
        name: String,
        reads: String,
        #[label("declared here")]
        span: Span,
    },

    #[error("the gradient `{name}` depends on itself")]
    #[diagnostic(
        code(noether::lower::gradient_cycle),
        help("`{scalar}` reads this gradient, directly or through lets; a scalar cannot depend on its own gradient")
    )]
    GradientCycle {
        name: String,
        scalar: String,
        #[label("differentiated here")]
        span: Span,
    },

    #[error("cannot differentiate for `{name}`: {message}")]
    #[diagnostic(code(noether::lower::gradient), help("this is a compiler bug; please report it with the script"))]
    Gradient {
        name: String,
        message: String,
        #[label("differentiated here")]
        span: Span,
    },

    #[error("milstein cannot step `{state}`: {problem}")]
    #[diagnostic(code(noether::lower::milstein))]
    Milstein {
        state: String,
        problem: String,
        #[label("this equation")]
        span: Span,
        #[help]
        help: String,
    },
}
