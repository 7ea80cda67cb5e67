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

use super::SyntaxError;
use super::ast::{Expr, ExprKind, LetForm, Module, ShapeSpec, StmtKind, TypeAnn};
use crate::diag::{Sink, Span};

/// The deepest nesting of an expression the compiler accepts: operators, calls, `if`s and
/// reductions each add a level (parentheses do not).
pub const MAX_DEPTH: usize = 100_000;

/// The deepest nesting once functions are inlined, checked by `check` as it elaborates and on
/// what it produces: room for the written limit plus the bodies of the functions it calls.
pub const MAX_INLINED_DEPTH: usize = 2 * MAX_DEPTH;

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
