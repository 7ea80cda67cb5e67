//! Errors of the check stage: shapes, indices, kinds, functions, equations, directives.

use miette::Diagnostic;
use thiserror::Error;

use crate::diag::Span;

/// What the check stage refuses: each variant is a diagnostic with a stable code.
#[derive(Debug, Error, Diagnostic)]
#[allow(
    missing_docs,
    reason = "each variant is one diagnostic, explained by its message and code (see docs/diagnostics.md); its fields fill in the message"
)]
pub enum CheckError {
    #[error("shape mismatch: {message}")]
    #[diagnostic(code(noether::check::shape_mismatch))]
    ShapeMismatch {
        message: String,
        #[label("{label}")]
        span: Span,
        label: String,
        #[help]
        help: String,
    },

    #[error("out-of-range read `{read}`: {detail}")]
    #[diagnostic(code(noether::check::out_of_range))]
    OutOfRange {
        read: String,
        detail: String,
        #[label("reads outside `{field}` ({extents})")]
        span: Span,
        field: String,
        extents: String,
        #[help]
        help: String,
    },

    #[error("`{name}` takes {expected}, but is given {found}")]
    #[diagnostic(code(noether::check::arity))]
    Arity {
        name: String,
        expected: String,
        found: String,
        #[label("given {found}")]
        span: Span,
        #[help]
        help: String,
    },

    #[error("no definition of `{name}` fits these arguments")]
    #[diagnostic(code(noether::check::no_overload))]
    NoOverload {
        name: String,
        #[label("{found}")]
        span: Span,
        found: String,
        #[help]
        help: String,
    },

    #[error("{name} has {rank} {axes}, but {count} {indices} given")]
    #[diagnostic(code(noether::check::index_count))]
    IndexCount {
        name: String,
        rank: usize,
        axes: &'static str,
        count: usize,
        indices: &'static str,
        #[label("expected {rank}")]
        span: Span,
        #[help]
        help: String,
    },

    #[error("{what} is a scalar and takes no indices")]
    #[diagnostic(code(noether::check::not_indexable), help("drop the brackets"))]
    NotIndexable {
        what: String,
        #[label("a scalar")]
        span: Span,
    },

    #[error("expected {expected}, found {found}")]
    #[diagnostic(code(noether::check::type_mismatch))]
    TypeMismatch {
        expected: &'static str,
        found: &'static str,
        #[label("{found}")]
        span: Span,
        #[help]
        help: String,
    },

    #[error("{what} must be a scalar, but this is a field of shape {shape}")]
    #[diagnostic(code(noether::check::not_scalar))]
    NotScalar {
        what: String,
        shape: String,
        #[label("a field of shape {shape}")]
        span: Span,
        #[help]
        help: String,
    },

    #[error("cannot tell how far the index `{name}` runs")]
    #[diagnostic(code(noether::check::cannot_infer))]
    CannotInfer {
        name: String,
        #[label("extent unknown")]
        span: Span,
        #[help]
        help: String,
    },

    #[error("an index must be an integer affine expression of index names")]
    #[diagnostic(code(noether::check::not_affine))]
    NotAffine {
        #[label("{found}")]
        span: Span,
        found: String,
        #[help]
        help: String,
    },

    #[error("`{name}` depends on itself")]
    #[diagnostic(
        code(noether::check::cycle),
        help("a let or named scalar cannot use its own value; compute it from states, params and data")
    )]
    Cycle {
        name: String,
        #[label("used while it is being defined")]
        span: Span,
    },

    #[error("{feature} is not supported yet")]
    #[diagnostic(code(noether::check::unsupported))]
    Unsupported {
        feature: String,
        #[label("not supported yet")]
        span: Span,
        #[help]
        help: String,
    },

    #[error("`{state}` has more than one equation")]
    #[diagnostic(code(noether::check::duplicate_equation), help("combine the right sides into one equation"))]
    DuplicateEquation {
        state: String,
        #[label("second equation")]
        span: Span,
        #[label("first equation")]
        first: Span,
    },

    #[error("the right side of an SDE must be linear in `dt` and `dW`")]
    #[diagnostic(code(noether::check::sde_form))]
    SdeForm {
        #[label("{problem}")]
        span: Span,
        problem: String,
        #[help]
        help: String,
    },

    #[error("`{integrator}` needs a second-order system: {problem}")]
    #[diagnostic(code(noether::check::second_order))]
    SecondOrder {
        integrator: &'static str,
        problem: String,
        #[label("{label}")]
        span: Span,
        label: String,
        #[help]
        help: String,
    },

    #[error("the noise `{name}` can only be used as `d{name}` on the right side of an SDE")]
    #[diagnostic(code(noether::check::noise_use), help("write `d X = a * dt + b * d{name}[p]`"))]
    NoiseUse {
        name: String,
        #[label("a Brownian motion has no value here")]
        span: Span,
    },

    #[error("unknown {what} `{name}`")]
    #[diagnostic(code(noether::check::unknown_directive))]
    UnknownDirective {
        what: &'static str,
        name: String,
        #[label("not a known {what}")]
        span: Span,
        #[help]
        help: String,
    },

    #[error("unknown {what} option `{name}`")]
    #[diagnostic(code(noether::check::unknown_option))]
    UnknownOption {
        what: String,
        name: String,
        #[label("not an option of {what}")]
        span: Span,
        #[help]
        help: String,
    },

    #[error("{what} needs the option `{name}`")]
    #[diagnostic(code(noether::check::missing_option))]
    MissingOption {
        what: String,
        name: &'static str,
        #[label("`{name}` missing")]
        span: Span,
        #[help]
        help: String,
    },

    #[error("bad value for `{name}`: {problem}")]
    #[diagnostic(code(noether::check::bad_option))]
    BadOption {
        name: String,
        problem: String,
        #[label("{problem}")]
        span: Span,
        #[help]
        help: String,
    },

    #[error("a spin sampler needs log p linear in each spin: {problem}")]
    #[diagnostic(code(noether::check::spin_energy))]
    SpinEnergy {
        problem: String,
        #[label("{label}")]
        span: Span,
        label: String,
        #[help]
        help: String,
    },

    #[error("checkerboard order cannot update `{field}`: {problem}")]
    #[diagnostic(
        code(noether::check::checkerboard),
        help(
            "checkerboard updates a colour's sites all at once, so no site's update may read its own colour; use `order = sequential` or `order = random`"
        )
    )]
    Checkerboard {
        field: String,
        problem: String,
        #[label("reads a site of its own colour")]
        span: Span,
    },

    #[error("with its functions inlined, this expression nests deeper than {limit} levels")]
    #[diagnostic(
        code(noether::check::too_deep),
        help(
            "functions are inlined, so nested calls nest their bodies; compute an inner part once as a `let` field \
             and read it, instead of calling through it"
        )
    )]
    TooDeep {
        limit: usize,
        #[label("{what}")]
        span: Span,
        what: String,
    },

    #[error("reductions nest deeper than {limit} levels in this expression")]
    #[diagnostic(
        code(noether::check::reductions_too_deep),
        help(
            "each reduction is a loop around its body; reduce over several indices at once (`sum(i, j) ...`) \
             or compute an inner reduction once as a `let` field"
        )
    )]
    ReductionsTooDeep {
        limit: usize,
        #[label("in here")]
        span: Span,
    },

    #[error("{message}")]
    #[diagnostic(code(noether::check::model))]
    Model {
        message: String,
        #[label("{label}")]
        span: Span,
        label: String,
        #[help]
        help: String,
    },
}
