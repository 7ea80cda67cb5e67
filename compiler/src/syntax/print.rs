//! `emit --stage ast`: the syntax tree printed back as source, one statement a line, with every
//! operator application parenthesised so the parse is visible: `-sum(i) a[i] * b` prints as
//! `(-(sum(i) (a[i] * b)))`.

use std::fmt::Write;

use super::ast::*;

/// Prints a module in the canonical layout (what `noether fmt` writes).
pub fn module(module: &Module) -> String {
    let mut out = String::new();
    for stmt in &module.stmts {
        out.push_str(&stmt_text(&stmt.kind));
        out.push('\n');
    }
    out
}

fn stmt_text(kind: &StmtKind) -> String {
    match kind {
        StmtKind::Const { name, value } => format!("const {} = {}", name.name, expr(value)),
        StmtKind::Param { name, ty, init } => {
            format!("param {}{} = {}", name.name, type_ann(ty.as_ref()), expr(init))
        }
        StmtKind::Shape { name, dims, modifiers } => {
            format!("shape {} = {}{}", name.name, index_list(dims), modifier_list(modifiers))
        }
        StmtKind::State { name, ty, init } => {
            format!("state {}{} = {}", name.name, type_ann(ty.as_ref()), expr(init))
        }
        StmtKind::Noise { name, ty } => format!("noise {}{}", name.name, type_ann(Some(ty))),
        StmtKind::Data { name, ty, loader, path, .. } => {
            format!("data {}{} = {}(\"{}\")", name.name, type_ann(Some(ty)), loader.name, path)
        }
        StmtKind::Let { name, form, value } => {
            let form = match form {
                LetForm::Plain => String::new(),
                LetForm::Indexed(indices) => index_list(indices),
                LetForm::Typed(ty) => type_ann(Some(ty)),
            };
            format!("let {}{} = {}", name.name, form, expr(value))
        }
        StmtKind::Fn(f) => {
            let params: Vec<&str> = f.params.iter().map(|p| p.name.as_str()).collect();
            let indices = f.indices.as_ref().map(|i| index_list(i)).unwrap_or_default();
            format!("fn {}({}){} = {}", f.name.name, params.join(", "), indices, expr(&f.body))
        }
        StmtKind::Named { kind, name, value } => {
            format!("{} {} = {}", kind.keyword(), name.name, expr(value))
        }
        StmtKind::Use { path } => {
            let names: Vec<&str> = path.iter().map(|p| p.name.as_str()).collect();
            format!("use {}", names.join("."))
        }
        StmtKind::Ode { target: t, rhs } => format!("d/dt {} = {}", target(t), expr(rhs)),
        StmtKind::Sde { target: t, rhs } => format!("d {} = {}", target(t), expr(rhs)),
        StmtKind::Run(d) => format!("run {}", directive(d)),
        StmtKind::Sample { vars, density, sampler } => {
            let names: Vec<&str> = vars.iter().map(|v| v.name.as_str()).collect();
            format!("sample {} ~ {} with {}", names.join(", "), expr(density), directive(sampler))
        }
        StmtKind::Fit { params, loss, optimizer } => {
            let names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
            format!("fit {} minimizing {} with {}", names.join(", "), loss.name, directive(optimizer))
        }
        StmtKind::Error => "<error>".into(),
    }
}

fn type_ann(ty: Option<&TypeAnn>) -> String {
    let Some(ty) = ty else { return String::new() };
    let shape = match &ty.shape {
        ShapeSpec::Named(name) => name.name.clone(),
        ShapeSpec::Literal(dims) => index_list(dims),
    };
    format!(" : {shape}{}", modifier_list(&ty.modifiers))
}

fn index_list(dims: &[IndexDecl]) -> String {
    let items: Vec<String> = dims
        .iter()
        .map(|d| match &d.extent {
            Some(extent) => format!("{} < {}", d.name.name, expr(extent)),
            None => d.name.name.clone(),
        })
        .collect();
    format!("[{}]", items.join(", "))
}

fn modifier_list(modifiers: &[Modifier]) -> String {
    let mut out = String::new();
    for m in modifiers {
        write!(out, " {}", m.name.name).expect("writing to a String");
        let args: Vec<String> = m.args.iter().map(expr).chain(m.options.iter().map(named_arg)).collect();
        if !args.is_empty() {
            write!(out, "({})", args.join(", ")).expect("writing to a String");
        }
    }
    out
}

fn target(t: &Target) -> String {
    match &t.indices {
        Some(indices) => {
            let names: Vec<&str> = indices.iter().map(|i| i.name.as_str()).collect();
            format!("{}[{}]", t.name.name, names.join(", "))
        }
        None => t.name.name.clone(),
    }
}

fn directive(d: &Directive) -> String {
    format!("{}({})", d.name.name, named_list(&d.args))
}

fn named_list(items: &[NamedArg]) -> String {
    items.iter().map(named_arg).collect::<Vec<_>>().join(", ")
}

fn named_arg(a: &NamedArg) -> String {
    format!("{} = {}", a.key.name, expr(&a.value))
}

fn expr_list(items: &[Expr]) -> String {
    items.iter().map(expr).collect::<Vec<_>>().join(", ")
}

/// One expression, parenthesised at every operator.
pub fn expr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Num(value) => format!("{value}"),
        ExprKind::Name(name) => name.clone(),
        ExprKind::Neg(a) => format!("(-{})", expr(a)),
        ExprKind::Binary(op, a, b) => format!("({} {} {})", expr(a), op.symbol(), expr(b)),
        ExprKind::Compare(op, a, b) => format!("({} {} {})", expr(a), op.symbol(), expr(b)),
        ExprKind::And(a, b) => format!("({} and {})", expr(a), expr(b)),
        ExprKind::Or(a, b) => format!("({} or {})", expr(a), expr(b)),
        ExprKind::Not(a) => format!("(not {})", expr(a)),
        ExprKind::If(c, a, b) => format!("(if {} then {} else {})", expr(c), expr(a), expr(b)),
        ExprKind::Call { callee, args, filter } => {
            format!("{}({}{})", callee.name, expr_list(args), filter_text(filter.as_deref()))
        }
        ExprKind::Reduce { op, args, filter, body } => {
            format!("({}({}{}) {})", op.name, expr_list(args), filter_text(filter.as_deref()), expr(body))
        }
        ExprKind::Index { base, indices } => format!("{}[{}]", expr(base), expr_list(indices)),
    }
}

fn filter_text(filter: Option<&Expr>) -> String {
    filter.map(|f| format!(" | {}", expr(f))).unwrap_or_default()
}
