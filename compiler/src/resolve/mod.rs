//! Resolve: [`ast::Module`] -> [`Resolved`].
//!
//! Input: a parsed script (plus `--set` overrides). Output: every declaration as an [`Item`] with
//! its expressions resolved ([`RExpr`]: names replaced by item, local, builtin or time), consts
//! folded to numbers, shapes given extents and boundary rules, and the standard library loaded
//! (the prelude always, other modules by `use std.NAME`). User names shadow library names; a
//! library body only sees the library.
//!
//! Example: `const N = 4` / `state u : [i < N] = i` gives `Const { value: 4 }` and
//! `State { shape: [i < 4], init: Local(0) }`.

mod consts;
mod error;
mod exprs;
mod tree;

use std::collections::{HashMap, HashSet};

pub use consts::MAX_EXTENT;
pub use error::ResolveError;
pub use exprs::children;
pub use tree::*;

use crate::diag::{Sink, Span, did_you_mean, suggestion_help};
use crate::stdlib::{self, StdModule};
use crate::syntax::ast::{self, Modifier, ShapeSpec, StmtKind, TypeAnn};
use error::plural;
use exprs::BodyCx;

/// A `--set NAME=VALUE` override of a `const` or a `param`'s default.
#[derive(Clone, Debug, PartialEq)]
pub struct Override {
    /// The const or param to set.
    pub name: String,
    /// Its value instead of the script's.
    pub value: f64,
}

impl Override {
    /// Sets `name` to `value`, as `--set name=value` does.
    pub fn new(name: impl Into<String>, value: f64) -> Override {
        Override { name: name.into(), value }
    }
}

/// `NAME=VALUE`, as `--set` takes it; the value must be a finite number.
impl std::str::FromStr for Override {
    type Err = String;

    fn from_str(text: &str) -> Result<Override, String> {
        let (name, value) = text.split_once('=').ok_or("expected NAME=VALUE, e.g. N=512")?;
        let number: f64 = value.trim().parse().map_err(|_| format!("`{value}` is not a number"))?;
        if !number.is_finite() {
            return Err(format!("`{value}` is not a finite number"));
        }
        Ok(Override::new(name.trim(), number))
    }
}

/// Resolves `module`, pushing errors into `sink`. Returns `None` only when errors were pushed.
pub fn resolve(module: &ast::Module, overrides: &[Override], sink: &mut Sink) -> Option<Resolved> {
    let before = sink.len();
    let std_modules = load_stdlib(module, sink);
    let mut resolver = Resolver::new(overrides, sink);
    for (std_module, parsed) in &std_modules {
        resolver.declare_module(parsed, Origin::Std(std_module.name));
    }
    resolver.declare_module(module, Origin::User);
    resolver.check_overrides();
    let resolved = resolver.finish(module);
    (sink.len() == before).then_some(resolved)
}

/// Parses the prelude and every `use std.NAME` module.
fn load_stdlib(module: &ast::Module, sink: &mut Sink) -> Vec<(StdModule, ast::Module)> {
    let mut wanted = vec![stdlib::PRELUDE];
    for stmt in &module.stmts {
        let StmtKind::Use { path } = &stmt.kind else { continue };
        let names: Vec<&str> = path.iter().map(|p| p.name.as_str()).collect();
        let found = match names.as_slice() {
            ["std", name] => stdlib::find(name),
            _ => None,
        };
        match found {
            Some(m) if !wanted.iter().any(|w| w.name == m.name) => wanted.push(m),
            Some(_) => {}
            None => {
                let span = path[0].span.to(path[path.len() - 1].span);
                let modules: Vec<String> = stdlib::importable().map(|m| format!("std.{m}")).collect();
                sink.push(ResolveError::UnknownModule {
                    path: names.join("."),
                    span,
                    help: format!("available modules: {}", modules.join(", ")),
                });
            }
        }
    }
    wanted
        .into_iter()
        .map(|m| {
            let mut std_sink = Sink::default();
            let parsed = crate::syntax::parse_into(m.text, &mut std_sink);
            assert!(std_sink.is_empty(), "stdlib module {} must parse", m.name);
            (m, parsed)
        })
        .collect()
}

/// A declaration seen in the first pass, before its body is resolved.
struct Pending<'a> {
    name: String,
    span: Span,
    origin: Origin,
    decl: Decl<'a>,
}

enum Decl<'a> {
    Stmt(&'a StmtKind),
    Fns(Vec<&'a ast::FnDecl>),
}

impl Decl<'_> {
    /// What the declaration is, in words ("a state").
    fn describe(&self) -> &'static str {
        match self {
            Decl::Fns(_) => "a function",
            Decl::Stmt(kind) => match kind {
                StmtKind::Const { .. } => "a const",
                StmtKind::Param { .. } => "a param",
                StmtKind::Shape { .. } => "a shape",
                StmtKind::State { .. } => "a state",
                StmtKind::Noise { .. } => "a noise",
                StmtKind::Data { .. } => "a data field",
                StmtKind::Let { .. } => "a let field",
                StmtKind::Named { kind, .. } => match kind {
                    NamedKind::Energy => "an energy",
                    NamedKind::Loss => "a loss",
                    NamedKind::Observe => "an observable",
                },
                _ => "a statement",
            },
        }
    }
}

struct Resolver<'a, 's> {
    sink: &'s mut Sink,
    overrides: &'a [Override],
    pending: Vec<Pending<'a>>,
    user: HashMap<String, ItemId>,
    library: HashMap<String, ItemId>,
    const_values: HashMap<ItemId, Option<f64>>,
    consts_in_progress: HashSet<ItemId>,
    shapes: HashMap<ItemId, Option<Shape>>,
}

impl<'a, 's> Resolver<'a, 's> {
    fn new(overrides: &'a [Override], sink: &'s mut Sink) -> Self {
        Resolver {
            sink,
            overrides,
            pending: Vec::new(),
            user: HashMap::new(),
            library: HashMap::new(),
            const_values: HashMap::new(),
            consts_in_progress: HashSet::new(),
            shapes: HashMap::new(),
        }
    }

    // ---- pass 1: declarations ----

    fn declare_module(&mut self, module: &'a ast::Module, origin: Origin) {
        for stmt in &module.stmts {
            let name = match &stmt.kind {
                StmtKind::Const { name, .. }
                | StmtKind::Param { name, .. }
                | StmtKind::Shape { name, .. }
                | StmtKind::State { name, .. }
                | StmtKind::Noise { name, .. }
                | StmtKind::Data { name, .. }
                | StmtKind::Let { name, .. }
                | StmtKind::Named { name, .. } => name,
                StmtKind::Fn(f) => {
                    self.declare_fn(f, &origin);
                    continue;
                }
                _ => continue,
            };
            self.declare(name, origin, Decl::Stmt(&stmt.kind));
        }
    }

    fn declare(&mut self, name: &ast::Ident, origin: Origin, decl: Decl<'a>) {
        let table = if origin == Origin::User { &mut self.user } else { &mut self.library };
        if let Some(first) = table.get(&name.name) {
            let first = self.pending[first.index()].span;
            self.sink.push(ResolveError::Duplicate { name: name.name.clone(), span: name.span, first });
            return;
        }
        let id = ItemId(self.pending.len() as u32);
        table.insert(name.name.clone(), id);
        self.pending.push(Pending { name: name.name.clone(), span: name.span, origin, decl });
    }

    /// Functions with one name but different numbers of output indices are overloads.
    fn declare_fn(&mut self, f: &'a ast::FnDecl, origin: &Origin) {
        let table = if *origin == Origin::User { &self.user } else { &self.library };
        let rank = |f: &ast::FnDecl| f.indices.as_ref().map_or(0, Vec::len);
        if let Some(&id) = table.get(&f.name.name) {
            let existing = &mut self.pending[id.index()];
            if let Decl::Fns(defs) = &mut existing.decl {
                match defs.iter().find(|d| rank(d) == rank(f)) {
                    Some(same) => self.sink.push(ResolveError::Duplicate {
                        name: f.name.name.clone(),
                        span: f.name.span,
                        first: same.name.span,
                    }),
                    None => defs.push(f),
                }
                return;
            }
        }
        self.declare(&f.name, *origin, Decl::Fns(vec![f]));
    }

    /// Looks `name` up as seen from code of `origin`.
    fn lookup(&self, name: &str, origin: &Origin) -> Option<ItemId> {
        if *origin == Origin::User {
            if let Some(id) = self.user.get(name) {
                return Some(*id);
            }
        }
        self.library.get(name).copied()
    }

    /// Every item name visible from `origin`, for "did you mean"; none once the sink is full,
    /// as its suggestion would not be shown (so many unknown names cost linear time, not
    /// quadratic).
    fn visible_names(&self, origin: &Origin) -> Vec<&str> {
        if self.sink.is_full() {
            return Vec::new();
        }
        let mut names: Vec<&str> = self.library.keys().map(String::as_str).collect();
        if *origin == Origin::User {
            names.extend(self.user.keys().map(String::as_str));
        }
        names
    }

    fn check_overrides(&mut self) {
        for o in self.overrides {
            let Some(&id) = self.user.get(&o.name) else {
                let names: Vec<&str> = self.user.keys().map(String::as_str).collect();
                self.sink.push(ResolveError::UnknownOverride {
                    name: o.name.clone(),
                    help: suggestion_help(
                        did_you_mean(&o.name, names),
                        "`--set` takes a const or scalar param declared in the script",
                    ),
                });
                continue;
            };
            let pending = &self.pending[id.index()];
            let ok = match pending.decl {
                Decl::Stmt(StmtKind::Const { .. }) => true,
                Decl::Stmt(StmtKind::Param { ty, .. }) => ty.is_none(),
                _ => false,
            };
            if !ok {
                self.sink.push(ResolveError::BadOverride {
                    name: o.name.clone(),
                    kind: pending.decl.describe().into(),
                    span: pending.span,
                });
            }
        }
    }

    fn override_value(&self, id: ItemId) -> Option<f64> {
        let pending = &self.pending[id.index()];
        if pending.origin != Origin::User {
            return None;
        }
        self.overrides.iter().rev().find(|o| o.name == pending.name).map(|o| o.value)
    }

    // ---- pass 2: items ----

    fn finish(mut self, module: &'a ast::Module) -> Resolved {
        let items: Vec<Item> = (0..self.pending.len()).map(|i| self.item(ItemId(i as u32))).collect();
        self.reject_recursion(&items);
        let mut resolved = Resolved { items, equations: Vec::new(), run: None, sample: None, fit: None };
        let mut firsts: HashMap<&'static str, Span> = HashMap::new();
        for stmt in &module.stmts {
            match &stmt.kind {
                StmtKind::Ode { target, rhs } => {
                    if let Some(eq) = self.equation(&resolved.items, target, rhs, EquationKind::Ode, stmt.span) {
                        resolved.equations.push(eq);
                    }
                }
                StmtKind::Sde { target, rhs } => {
                    if let Some(eq) = self.equation(&resolved.items, target, rhs, EquationKind::Sde, stmt.span) {
                        resolved.equations.push(eq);
                    }
                }
                StmtKind::Run(d) if self.first_directive(&mut firsts, "run", stmt.span) => {
                    resolved.run = Some(self.directive(d));
                }
                StmtKind::Sample { vars, density, sampler }
                    if self.first_directive(&mut firsts, "sample", stmt.span) =>
                {
                    resolved.sample = self.sample(vars, density, sampler);
                }
                StmtKind::Fit { params, loss, optimizer } if self.first_directive(&mut firsts, "fit", stmt.span) => {
                    resolved.fit = self.fit(params, loss, optimizer);
                }
                _ => {}
            }
        }
        resolved
    }

    /// Functions are inlined, so one may not call itself, directly or through others.
    fn reject_recursion(&mut self, items: &[Item]) {
        let calls = |id: ItemId| -> Vec<ItemId> {
            let mut callees = Vec::new();
            if let ItemKind::Fn { overloads } = &items[id.index()].kind {
                for def in overloads {
                    collect_calls(&def.body.expr, &mut callees);
                }
            }
            callees
        };
        let mut state = vec![0u8; items.len()]; // 0 unvisited, 1 on the path, 2 done
        for start in 0..items.len() {
            if !matches!(items[start].kind, ItemKind::Fn { .. }) || state[start] != 0 {
                continue;
            }
            // Depth-first search with an explicit stack of (function, its callees, next callee).
            let mut stack = vec![(ItemId(start as u32), calls(ItemId(start as u32)), 0usize)];
            state[start] = 1;
            while let Some((id, callees, next)) = stack.last_mut() {
                let Some(&callee) = callees.get(*next) else {
                    state[id.index()] = 2;
                    stack.pop();
                    continue;
                };
                *next += 1;
                match state[callee.index()] {
                    1 => {
                        let item = &items[callee.index()];
                        if item.origin == Origin::User {
                            self.sink.push(ResolveError::Recursive { name: item.name.clone(), span: item.span });
                        }
                        return;
                    }
                    0 => {
                        state[callee.index()] = 1;
                        let inner = calls(callee);
                        stack.push((callee, inner, 0));
                    }
                    _ => {}
                }
            }
        }
    }

    fn first_directive(
        &mut self,
        firsts: &mut HashMap<&'static str, Span>,
        directive: &'static str,
        span: Span,
    ) -> bool {
        match firsts.get(directive) {
            Some(first) => {
                self.sink.push(ResolveError::DuplicateDirective { directive, span, first: *first });
                false
            }
            None => {
                firsts.insert(directive, span);
                true
            }
        }
    }

    fn item(&mut self, id: ItemId) -> Item {
        let origin = self.pending[id.index()].origin;
        let kind = match &self.pending[id.index()].decl {
            Decl::Fns(defs) => {
                let defs = defs.clone();
                ItemKind::Fn { overloads: defs.iter().map(|f| self.fn_def(f, &origin)).collect() }
            }
            Decl::Stmt(stmt) => {
                let stmt = *stmt;
                self.item_kind(id, stmt, &origin)
            }
        };
        let pending = &self.pending[id.index()];
        Item { name: pending.name.clone(), span: pending.span, origin, kind }
    }

    fn item_kind(&mut self, id: ItemId, stmt: &'a StmtKind, origin: &Origin) -> ItemKind {
        let span = self.pending[id.index()].span;
        match stmt {
            StmtKind::Const { .. } => ItemKind::Const { value: self.const_value(id, span).unwrap_or(f64::NAN) },
            StmtKind::Shape { .. } => ItemKind::Shape(self.shape_item(id).unwrap_or(Shape::scalar(span))),
            StmtKind::Param { ty, init, .. } => {
                let shape = self.shape_of(ty.as_ref(), origin, span);
                let init = match self.override_value(id) {
                    Some(value) => Body { locals: Vec::new(), expr: RExpr { kind: RKind::Num(value), span } },
                    None => self.shaped_body(&shape, init, origin),
                };
                ItemKind::Param { shape, init }
            }
            StmtKind::State { ty, init, .. } => {
                let shape = self.shape_of(ty.as_ref(), origin, span);
                let spin = ty.as_ref().is_some_and(|t| t.modifiers.iter().any(|m| m.name.name == "spin"));
                let init = self.shaped_body(&shape, init, origin);
                ItemKind::State { shape, init, spin }
            }
            StmtKind::Noise { ty, .. } => {
                let shape = self.shape_without_rule(ty, origin, span);
                let (fractional, others): (Vec<&Modifier>, Vec<&Modifier>) =
                    ty.modifiers.iter().partition(|m| m.name.name == "fractional");
                if let Some(m) = others.first() {
                    self.sink.push(ResolveError::BadModifier {
                        message: "a noise takes no boundary rule or value domain".into(),
                        span: m.span,
                        help: "remove it; the one modifier a noise takes is `fractional(hurst = H)`".into(),
                    });
                }
                let fractional = fractional.first().map(|m| (self.hurst(m), m.span));
                ItemKind::Noise { shape, fractional }
            }
            StmtKind::Data { ty, loader, path, path_span, .. } => {
                if loader.name != "load" {
                    self.sink.push(ResolveError::UnknownLoader { name: loader.name.clone(), span: loader.span });
                }
                let shape = self.shape_of(Some(ty), origin, span);
                ItemKind::Data { shape, path: path.clone(), path_span: *path_span }
            }
            StmtKind::Let { form, value, .. } => {
                let (form, value) = match form {
                    ast::LetForm::Plain => (LetShape::Inferred, self.body(&[], value, origin, false)),
                    ast::LetForm::Indexed(indices) => {
                        let locals = self.index_locals(indices, origin);
                        (LetShape::Indexed { rank: locals.len() }, self.body_with(locals, value, origin, false))
                    }
                    ast::LetForm::Typed(ty) => {
                        let shape = self.shape_of(Some(ty), origin, span);
                        let value = self.shaped_body(&shape, value, origin);
                        (LetShape::Declared(shape), value)
                    }
                };
                ItemKind::Let { form, value }
            }
            StmtKind::Named { kind, value, .. } => {
                ItemKind::Named { kind: *kind, value: self.body(&[], value, origin, false) }
            }
            _ => unreachable!("only declarations are pending"),
        }
    }

    fn fn_def(&mut self, f: &ast::FnDecl, origin: &Origin) -> FnDef {
        let mut locals: Vec<Local> =
            f.params.iter().map(|p| Local { name: p.name.clone(), span: p.span, extent: None }).collect();
        let params = locals.len();
        let indices = f.indices.as_deref().unwrap_or_default();
        locals.extend(self.index_locals(indices, origin));
        let body = self.body_with(locals, &f.body, origin, false);
        let mut param_ranks = vec![None; params];
        exprs::indexed_ranks(&body.expr, &mut param_ranks);
        FnDef { span: f.name.span, params, param_ranks, rank: indices.len(), body }
    }

    /// The equation of a state, whose shape is its item's (already resolved and reported on).
    fn equation(
        &mut self,
        items: &[Item],
        target: &ast::Target,
        rhs: &ast::Expr,
        kind: EquationKind,
        span: Span,
    ) -> Option<Equation> {
        let Some(state) = self.lookup(&target.name.name, &Origin::User) else {
            let names: Vec<&str> = self
                .user
                .iter()
                .filter(|_| !self.sink.is_full())
                .filter(|(_, id)| matches!(self.pending[id.index()].decl, Decl::Stmt(StmtKind::State { .. })))
                .map(|(n, _)| n.as_str())
                .collect();
            self.sink.push(ResolveError::UnknownName {
                name: target.name.name.clone(),
                span: target.name.span,
                help: suggestion_help(
                    did_you_mean(&target.name.name, names),
                    "declare it with `state NAME : SHAPE = initial value`",
                ),
            });
            return None;
        };
        let shape = match &items[state.index()].kind {
            ItemKind::State { shape, .. } => shape.clone(),
            _ => {
                let other = &self.pending[state.index()].decl;
                self.sink.push(ResolveError::WrongKind {
                    name: target.name.name.clone(),
                    found: other.describe().into(),
                    expected: "a state".into(),
                    span: target.name.span,
                    help: "only states evolve in time; declare it with `state`".into(),
                });
                return None;
            }
        };
        let locals: Vec<Local> = match &target.indices {
            None => shape
                .dims
                .iter()
                .map(|d| Local { name: d.name.clone(), span: target.name.span, extent: Some(d.extent) })
                .collect(),
            Some(indices) => {
                if indices.len() != shape.rank() {
                    let rank = shape.rank();
                    self.sink.push(ResolveError::IndexCount {
                        state: target.name.name.clone(),
                        rank,
                        axes: plural(rank, "axis", "axes"),
                        count: indices.len(),
                        indices: plural(indices.len(), "index", "indices"),
                        span: target.span,
                        names: plural(rank, "name", "names"),
                        help: format!("write `{}` or leave the indices out", example_target(&target.name.name, &shape)),
                    });
                    return None;
                }
                indices
                    .iter()
                    .zip(&shape.dims)
                    .map(|(i, d)| Local { name: i.name.clone(), span: i.span, extent: Some(d.extent) })
                    .collect()
            }
        };
        let rhs = self.body_with(locals, rhs, &Origin::User, kind == EquationKind::Sde);
        Some(Equation { state, kind, target_span: target.span, span, rhs })
    }

    fn directive(&mut self, d: &ast::Directive) -> Directive {
        let args = d
            .args
            .iter()
            .map(|arg| {
                let value = match &arg.value.kind {
                    ast::ExprKind::Name(word) if self.lookup(word, &Origin::User).is_none() && word != "pi" => {
                        ArgValue::Word(word.clone())
                    }
                    _ => ArgValue::Number(self.eval_const(&arg.value, &Origin::User).unwrap_or(f64::NAN)),
                };
                Arg { key: arg.key.clone(), value, span: arg.key.span.to(arg.value.span) }
            })
            .collect();
        Directive { name: d.name.clone(), args, span: d.span }
    }

    fn sample(&mut self, vars: &[ast::Ident], density: &ast::Expr, sampler: &ast::Directive) -> Option<Sample> {
        let mut ids = Vec::with_capacity(vars.len());
        for var in vars {
            let id = self.expect_user_item(var, "a state", |k| matches!(k, StmtKind::State { .. }));
            ids.push((id, var.span));
        }
        let density = self.body(&[], density, &Origin::User, false);
        let sampler = self.directive(sampler);
        let vars = ids.into_iter().map(|(id, span)| id.map(|id| (id, span))).collect::<Option<_>>()?;
        Some(Sample { vars, density, sampler })
    }

    fn fit(&mut self, params: &[ast::Ident], loss: &ast::Ident, optimizer: &ast::Directive) -> Option<Fit> {
        let params: Vec<(ItemId, Span)> = params
            .iter()
            .filter_map(|p| {
                self.expect_user_item(p, "a param", |k| matches!(k, StmtKind::Param { .. })).map(|id| (id, p.span))
            })
            .collect();
        let loss_id =
            self.expect_user_item(loss, "a loss", |k| matches!(k, StmtKind::Named { kind: NamedKind::Loss, .. }))?;
        Some(Fit { params, loss: (loss_id, loss.span), optimizer: self.directive(optimizer) })
    }

    /// The user item `name`, which must satisfy `is_expected`.
    fn expect_user_item(
        &mut self,
        name: &ast::Ident,
        expected: &str,
        is_expected: impl Fn(&StmtKind) -> bool,
    ) -> Option<ItemId> {
        let Some(id) = self.lookup(&name.name, &Origin::User) else {
            let names = self.visible_names(&Origin::User);
            let help =
                suggestion_help(did_you_mean(&name.name, names), format!("declare {expected} named `{}`", name.name));
            self.sink.push(ResolveError::UnknownName { name: name.name.clone(), span: name.span, help });
            return None;
        };
        let decl = &self.pending[id.index()].decl;
        if matches!(decl, Decl::Stmt(kind) if is_expected(kind)) {
            return Some(id);
        }
        let found = decl.describe();
        self.sink.push(ResolveError::WrongKind {
            name: name.name.clone(),
            found: found.into(),
            expected: expected.into(),
            span: name.span,
            help: format!("name {expected} here"),
        });
        None
    }

    // ---- bodies ----

    fn body(&mut self, locals: &[Local], e: &ast::Expr, origin: &Origin, sde: bool) -> Body {
        self.body_with(locals.to_vec(), e, origin, sde)
    }

    fn body_with(&mut self, locals: Vec<Local>, e: &ast::Expr, origin: &Origin, sde: bool) -> Body {
        let mut cx = BodyCx::new(locals, *origin, sde);
        let expr = self.expr(e, &mut cx);
        Body { locals: cx.into_locals(), expr }
    }

    /// A body whose locals are the shape's index names.
    fn shaped_body(&mut self, shape: &Shape, e: &ast::Expr, origin: &Origin) -> Body {
        let locals = shape
            .dims
            .iter()
            .map(|d| Local { name: d.name.clone(), span: shape.span, extent: Some(d.extent) })
            .collect();
        self.body_with(locals, e, origin, false)
    }

    fn index_locals(&mut self, indices: &[ast::IndexDecl], origin: &Origin) -> Vec<Local> {
        indices
            .iter()
            .map(|decl| Local {
                name: decl.name.name.clone(),
                span: decl.name.span,
                extent: decl.extent.as_ref().and_then(|e| self.eval_extent(e, origin, "an index extent")),
            })
            .collect()
    }

    // ---- shapes ----

    /// The shape of a declaration's `: SHAPE modifiers` annotation (a scalar when absent).
    fn shape_of(&mut self, ty: Option<&'a TypeAnn>, origin: &Origin, span: Span) -> Shape {
        let Some(ty) = ty else { return Shape::scalar(span) };
        let mut shape = self.shape_without_rule(ty, origin, span);
        if let Some(rule) = self.rule_of(&ty.modifiers) {
            for dim in &mut shape.dims {
                dim.rule = rule;
            }
        }
        shape
    }

    /// The shape of a type annotation, its modifiers left to the caller.
    fn shape_without_rule(&mut self, ty: &'a TypeAnn, origin: &Origin, span: Span) -> Shape {
        let mut shape = match &ty.shape {
            ShapeSpec::Literal(dims) => self.literal_shape(dims, origin, ty.span),
            ShapeSpec::Named(name) => match self.lookup(&name.name, origin) {
                Some(id) if matches!(self.pending[id.index()].decl, Decl::Stmt(StmtKind::Shape { .. })) => {
                    self.shape_item(id).unwrap_or(Shape::scalar(span))
                }
                Some(id) => {
                    let found = self.pending[id.index()].decl.describe();
                    self.sink.push(ResolveError::WrongKind {
                        name: name.name.clone(),
                        found: found.into(),
                        expected: "a shape".into(),
                        span: name.span,
                        help: "write a shape like `[i < N]` or declare one with `shape G = [i < N]`".into(),
                    });
                    Shape::scalar(span)
                }
                None => {
                    let names = self.visible_names(origin);
                    self.sink.push(ResolveError::UnknownName {
                        name: name.name.clone(),
                        span: name.span,
                        help: suggestion_help(
                            did_you_mean(&name.name, names),
                            "declare it with `shape NAME = [i < N]`",
                        ),
                    });
                    Shape::scalar(span)
                }
            },
        };
        shape.span = ty.span;
        shape
    }

    /// The shape declared by `shape G = ...`, computed once.
    fn shape_item(&mut self, id: ItemId) -> Option<Shape> {
        if let Some(shape) = self.shapes.get(&id) {
            return shape.clone();
        }
        self.shapes.insert(id, None);
        let Decl::Stmt(StmtKind::Shape { dims, modifiers, .. }) = self.pending[id.index()].decl else {
            return None;
        };
        let origin = self.pending[id.index()].origin;
        let span = self.pending[id.index()].span;
        let mut shape = self.literal_shape(dims, &origin, span);
        if let Some(rule) = self.rule_of(modifiers) {
            for dim in &mut shape.dims {
                dim.rule = rule;
            }
        }
        self.shapes.insert(id, Some(shape.clone()));
        Some(shape)
    }

    fn literal_shape(&mut self, dims: &[ast::IndexDecl], origin: &Origin, span: Span) -> Shape {
        let dims = dims
            .iter()
            .map(|d| Dim {
                name: d.name.name.clone(),
                extent: d.extent.as_ref().and_then(|e| self.eval_extent(e, origin, "an extent")).unwrap_or(1),
                rule: Rule::None,
            })
            .collect();
        Shape { dims, span }
    }

    /// The boundary rule among `modifiers`, validating all of them.
    fn rule_of(&mut self, modifiers: &[Modifier]) -> Option<Rule> {
        let mut rule: Option<(Rule, Span)> = None;
        for m in modifiers {
            let this = match m.name.name.as_str() {
                "periodic" => Rule::Periodic,
                "neumann" => Rule::Neumann,
                "clamp" => Rule::Clamp,
                "dirichlet" => match m.args.as_slice() {
                    [value] => Rule::Dirichlet(self.eval_const(value, &Origin::User).unwrap_or(f64::NAN)),
                    _ => {
                        self.sink.push(ResolveError::BadModifier {
                            message: "`dirichlet` takes the boundary value".into(),
                            span: m.span,
                            help: "write `dirichlet(0)`".into(),
                        });
                        continue;
                    }
                },
                "spin" => continue,
                other => {
                    let known = ["periodic", "neumann", "clamp", "dirichlet", "spin"];
                    let help = if other == "fractional" {
                        "only a noise is fractional: `noise W : [p < M] fractional(hurst = 0.7)`".into()
                    } else {
                        suggestion_help(
                            did_you_mean(other, known),
                            "boundary rules: periodic, dirichlet(v), neumann, clamp; value domain: spin",
                        )
                    };
                    self.sink.push(ResolveError::UnknownModifier { name: other.into(), span: m.name.span, help });
                    continue;
                }
            };
            if !m.args.is_empty() && !matches!(this, Rule::Dirichlet(_)) {
                self.sink.push(ResolveError::BadModifier {
                    message: format!("`{}` takes no arguments", m.name.name),
                    span: m.span,
                    help: format!("write `{}`", m.name.name),
                });
            }
            if let Some((_, first)) = rule {
                self.sink.push(ResolveError::SecondRule { span: m.span, first });
            } else {
                rule = Some((this, m.span));
            }
        }
        rule.map(|(r, _)| r)
    }

    /// The Hurst exponent of `fractional(hurst = H)`, a const strictly between 0 and 1.
    fn hurst(&mut self, m: &Modifier) -> f64 {
        let value = match (m.args.as_slice(), m.options.as_slice()) {
            ([], [option]) if option.key.name == "hurst" => self.eval_const(&option.value, &Origin::User),
            _ => None,
        };
        match value {
            Some(h) if h > 0.0 && h < 1.0 => h,
            _ => {
                self.sink.push(ResolveError::BadModifier {
                    message: "`fractional` takes the Hurst exponent, a number strictly between 0 and 1".into(),
                    span: m.span,
                    help: "write `fractional(hurst = 0.7)`".into(),
                });
                f64::NAN
            }
        }
    }
}

fn collect_calls(e: &RExpr, out: &mut Vec<ItemId>) {
    if let RKind::Call { callee: Callee::Fn(id), .. } = e.kind {
        if !out.contains(&id) {
            out.push(id);
        }
    }
    for child in children(e) {
        collect_calls(child, out);
    }
}

fn example_target(name: &str, shape: &Shape) -> String {
    let names: Vec<&str> = shape.dims.iter().map(|d| d.name.as_str()).collect();
    if names.is_empty() { name.to_string() } else { format!("{name}[{}]", names.join(", ")) }
}

#[cfg(test)]
mod tests;
