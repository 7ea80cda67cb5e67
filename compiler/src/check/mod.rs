//! Check: [`Resolved`] -> [`Model`].
//!
//! Input: resolved items (names bound, consts folded). Output: a model whose every definition is a
//! scalar expression in explicit index notation over a domain with known extents, with every read
//! classified against its field's extents and boundary rule (see [`crate::model`]). Along the way:
//! kinds (numbers vs conditions, scalars vs fields), function overloads and arities, index-extent
//! inference for `let` fields and reductions, out-of-range reads, the SDE form, the second-order
//! form the symplectic integrators need, the options of `run`, `sample` and `fit`, and what a
//! sampler needs of its density (linear spin energies, checkerboard colourings, independent
//! chains). Every definition nests at most [`MAX_INLINED_DEPTH`] levels with its functions
//! inlined, and its reductions at most [`MAX_NESTED_REDUCTIONS`]: the later stages rely on it. A
//! function's scalar argument is elaborated once and shared by its uses, so expressions are
//! DAGs, and every walk here visits a shared node once.
//!
//! Example: `let r2[p, q] = sum(k) d[p, q, k]^2` with `d : [3, 3, 2]` gives the let field `r2` of
//! shape `[3, 3]` (p and q learnt from the read of `d`, and k too).

mod bindings;
mod calls;
mod chains;
mod directives;
mod elab;
mod error;
mod index;
mod ranges;
mod sample;
mod sde;
mod second_order;
mod spins;

use std::collections::{HashMap, HashSet};

pub use error::CheckError;

use crate::diag::{Sink, Span};
use crate::model::{
    Def, Diffusion, Equation, EquationKind, Expr, Field, FieldId, FieldKind, Integrator, Model, NamedScalar, Node, Run,
    Var, VarId,
};
use crate::resolve::{Body, Dim, EquationKind as Form, ItemId, ItemKind, LetShape, LocalId, Resolved, Rule, Shape};
use crate::syntax::depth::MAX_INLINED_DEPTH;
use elab::{Binding, Elab, Env, Implicit, Value};

/// Marks a failure whose diagnostic has already been reported.
#[derive(Clone, Copy, Debug)]
pub struct Reported;

/// The deepest nesting of reductions in one expression. Each is a loop around its body, and
/// the engines' code grows faster than linearly with the depth of a loop nest; no computation
/// that finishes nests more than a few.
pub const MAX_NESTED_REDUCTIONS: usize = 1000;

/// Checks `resolved`, pushing errors into `sink`. Returns `None` only when errors were pushed.
pub fn check(resolved: &Resolved, name: &str, sink: &mut Sink) -> Option<Model> {
    let mut checker = Checker::new(resolved, sink);
    checker.declare_fields();
    let ids: Vec<FieldId> = (0..checker.fields.len()).map(|i| FieldId(i as u32)).collect();
    for id in &ids {
        if checker.fields[id.index()].kind == FieldKind::Let {
            let _ = checker.field_extents(*id, checker.fields[id.index()].span);
        }
    }
    for id in &ids {
        checker.check_init(*id);
    }
    let equations = checker.check_equations();
    let scalars = checker.check_scalars();
    let stochastic = equations.iter().any(|e| matches!(e.kind, EquationKind::Sde { .. }));
    let run = resolved.run.as_ref().and_then(|d| checker.check_run(d, stochastic));
    let sample = resolved.sample.as_ref().and_then(|s| checker.check_sample(s, &equations));
    checker.check_fractional(run.as_ref(), resolved.sample.is_some());
    let fit = resolved.fit.as_ref().and_then(|f| {
        let params = f.params.iter().filter_map(|(id, _)| checker.field_of(*id)).collect();
        checker.check_fit(params, resolved.item(f.loss.0).name.clone(), &f.optimizer)
    });
    if checker.failed {
        return None;
    }
    let mut model = Model { name: name.into(), fields: checker.fields, equations, scalars, run, sample, fit };
    if let Some(run) = model.run.as_ref().filter(|r| r.integrator.is_symplectic()) {
        match second_order::recognise(&model, run) {
            Ok(pair) => model.run.as_mut().expect("checked above").second_order = Some(pair),
            Err(error) => {
                sink.push(error);
                return None;
            }
        }
    }
    Some(model)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum LetProgress {
    Running,
    Done,
    Failed,
}

pub(crate) struct Checker<'r, 's> {
    resolved: &'r Resolved,
    sink: &'s mut Sink,
    failed: bool,
    /// Keys of reported errors, so probing an expression twice reports it once.
    reported: HashSet<String>,
    fields: Vec<Field>,
    field_items: Vec<ItemId>,
    fields_by_item: HashMap<ItemId, FieldId>,
    lets: HashMap<FieldId, LetProgress>,
    /// Named scalars being inlined, to catch cycles.
    inlining: Vec<ItemId>,
    /// How deeply elaboration is nested now, across elaborators (see [`MAX_INLINED_DEPTH`]).
    depth: usize,
    /// Where the first `fractional(hurst = H)` noise (H other than 1/2) was written.
    fractional: Option<Span>,
    /// The field `grad(scalar, wrt)` of each pair used, made on first use.
    gradients: HashMap<(String, FieldId), FieldId>,
}

impl<'r, 's> Checker<'r, 's> {
    fn new(resolved: &'r Resolved, sink: &'s mut Sink) -> Self {
        Checker {
            resolved,
            sink,
            failed: false,
            reported: HashSet::new(),
            fields: Vec::new(),
            field_items: Vec::new(),
            fields_by_item: HashMap::new(),
            lets: HashMap::new(),
            inlining: Vec::new(),
            depth: 0,
            fractional: None,
            gradients: HashMap::new(),
        }
    }

    /// Reports `error` unless the same error was already reported.
    pub(crate) fn report(&mut self, error: CheckError) -> Reported {
        self.failed = true;
        use miette::Diagnostic;
        let at = error.labels().and_then(|mut l| l.next()).map(|l| (l.offset(), l.len()));
        if self.reported.insert(format!("{error}|{at:?}")) {
            self.sink.push(error);
        }
        Reported
    }

    /// The field `grad(scalar, wrt)`, made on first use.
    /// `span` is where it is first used.
    fn gradient_field(&mut self, scalar: &str, wrt: FieldId, span: Span) -> FieldId {
        let key = (scalar.to_string(), wrt);
        if let Some(existing) = self.gradients.get(&key) {
            return *existing;
        }
        let of = &self.fields[wrt.index()];
        let name = format!("grad_{}_{}", scalar, of.name);
        let kind = FieldKind::Grad { scalar: scalar.to_string(), wrt };
        self.fields.push(Field { name, kind, shape: of.shape.clone(), span, def: None });
        let id = FieldId(self.fields.len() as u32 - 1);
        self.gradients.insert(key, id);
        id
    }

    /// Fractional noise drives `run` with Euler–Maruyama only: Milstein's correction is Itô
    /// calculus, and a sampler draws its own noise.
    fn check_fractional(&mut self, run: Option<&Run>, samples: bool) {
        let Some(span) = self.fractional else { return };
        let problem = match run {
            Some(r) if r.integrator == Integrator::Milstein => "`milstein` (its correction is Itô calculus)",
            _ if samples => "a `sample` directive (a sampler draws its own noise)",
            _ => return,
        };
        self.report(CheckError::Unsupported {
            feature: format!("fractional noise with {problem}"),
            span,
            help: "fractional noise drives `run` with `euler_maruyama`".into(),
        });
    }

    fn field_of(&self, item: ItemId) -> Option<FieldId> {
        self.fields_by_item.get(&item).copied()
    }

    fn declare_fields(&mut self) {
        for (index, item) in self.resolved.items.iter().enumerate() {
            let (kind, shape) = match &item.kind {
                ItemKind::Param { shape, .. } => (FieldKind::Param, shape.clone()),
                ItemKind::State { shape, spin, .. } => (FieldKind::State { spin: *spin }, shape.clone()),
                ItemKind::Noise { shape, fractional } => {
                    // H = 1/2 is the ordinary Brownian motion, drawn as one.
                    let hurst = fractional.filter(|(h, _)| *h != 0.5).map(|(h, span)| {
                        self.fractional.get_or_insert(span);
                        h
                    });
                    (FieldKind::Noise { hurst }, shape.clone())
                }
                ItemKind::Data { shape, path, path_span } => {
                    (FieldKind::Data { path: path.clone(), path_span: *path_span }, shape.clone())
                }
                ItemKind::Let { form: LetShape::Declared(shape), .. } => (FieldKind::Let, shape.clone()),
                ItemKind::Let { .. } => (FieldKind::Let, Shape::scalar(item.span)),
                _ => continue,
            };
            let id = FieldId(self.fields.len() as u32);
            self.fields.push(Field { name: item.name.clone(), kind, shape, span: item.span, def: None });
            self.field_items.push(ItemId(index as u32));
            self.fields_by_item.insert(ItemId(index as u32), id);
        }
    }

    /// The extents of a field; a `let` is checked on first use to learn them.
    fn field_extents(&mut self, field: FieldId, use_span: Span) -> Result<Vec<usize>, Reported> {
        if self.fields[field.index()].kind != FieldKind::Let {
            return Ok(self.fields[field.index()].shape.extents());
        }
        match self.lets.get(&field) {
            Some(LetProgress::Done) => return Ok(self.fields[field.index()].shape.extents()),
            Some(LetProgress::Failed) => return Err(Reported),
            Some(LetProgress::Running) => {
                let name = self.fields[field.index()].name.clone();
                return Err(self.report(CheckError::Cycle { name, span: use_span }));
            }
            None => {}
        }
        self.lets.insert(field, LetProgress::Running);
        let result = self.check_let(field);
        self.lets.insert(field, if result.is_ok() { LetProgress::Done } else { LetProgress::Failed });
        result.map(|_| self.fields[field.index()].shape.extents())
    }

    fn check_let(&mut self, field: FieldId) -> Result<(), Reported> {
        let item = self.resolved.item(self.field_items[field.index()]);
        let ItemKind::Let { form, value } = &item.kind else { return Err(Reported) };
        let what = format!("the let field `{}`", item.name);
        let def = match form {
            LetShape::Declared(shape) => {
                let domain = domain_of(shape, value);
                self.top_def(value, &domain, &what)?
            }
            LetShape::Indexed { rank } => {
                let domain: Vec<DomainVar> = value.locals[..*rank]
                    .iter()
                    .map(|l| DomainVar { name: l.name.clone(), extent: l.extent, span: l.span })
                    .collect();
                self.top_def(value, &domain, &what)?
            }
            LetShape::Inferred => self.inferred_def(value, item.span, &what)?,
        };
        let shape = match form {
            LetShape::Declared(shape) => shape.clone(),
            _ => Shape {
                dims: def.vars[..def.rank]
                    .iter()
                    .map(|v| Dim { name: v.name.clone(), extent: v.extent, rule: Rule::None })
                    .collect(),
                span: item.span,
            },
        };
        let field = &mut self.fields[field.index()];
        field.shape = shape;
        field.def = Some(def);
        Ok(())
    }

    /// A `let x = expr` without indices: a scalar, or a field of the expression's shape.
    fn inferred_def(&mut self, body: &'r Body, span: Span, what: &str) -> Result<Def, Reported> {
        let probe = {
            let mut elab = Elab::new(self);
            match elab.elab(&body.expr, &Env::new(&body.locals))? {
                Value::Scalar(..) => None,
                Value::Field(field) => Some((field.extents, field.expr, field.env)),
            }
        };
        let Some((extents, expr, env)) = probe else { return self.top_def(body, &[], what) };
        let mut elab = Elab::new(self);
        let vars: Vec<VarId> =
            extents.iter().enumerate().map(|(k, e)| elab.new_var(&axis_name(k), Some(*e), span)).collect();
        let indices = vars.iter().map(|v| crate::model::Affine::var(*v)).collect();
        let env = env.with_implicit(Some(std::sync::Arc::new(Implicit { indices, point_free: true, site: None })));
        let value = elab.elab(expr, &env)?;
        let expr = elab.expect(value, elab::Kind::Num, span, what)?;
        elab.not_too_deep(&expr, body.expr.span)?;
        elab.finish(vars.len(), expr)
    }

    /// Elaborates a definition over `domain`, whose variables are the body's first locals.
    fn top_def(&mut self, body: &'r Body, domain: &[DomainVar], what: &str) -> Result<Def, Reported> {
        let (expr, elab) = self.top_expr(body, domain, what)?;
        elab.finish(domain.len(), expr)
    }

    fn top_expr<'c>(
        &'c mut self,
        body: &'r Body,
        domain: &[DomainVar],
        what: &str,
    ) -> Result<(Expr, Elab<'c, 'r, 's>), Reported> {
        let mut elab = Elab::new(self);
        let mut env = Env::new(&body.locals);
        let mut indices = Vec::with_capacity(domain.len());
        for (k, var) in domain.iter().enumerate() {
            let id = elab.new_var(&var.name, var.extent, var.span);
            indices.push(crate::model::Affine::var(id));
            env = env.bind(LocalId(k as u32), Binding::Index(crate::model::Affine::var(id)));
        }
        if !domain.is_empty() {
            env.implicit = Some(std::sync::Arc::new(Implicit { indices, point_free: true, site: None }));
        }
        let expr = elab.scalar(&body.expr, &env, what)?;
        elab.not_too_deep(&expr, body.expr.span)?;
        Ok((expr, elab))
    }

    fn check_init(&mut self, id: FieldId) {
        let item = self.resolved.item(self.field_items[id.index()]);
        let (body, shape) = match &item.kind {
            ItemKind::Param { init, shape } | ItemKind::State { init, shape, .. } => (init, shape),
            _ => return,
        };
        let what = format!("the initial value of `{}`", item.name);
        let domain = domain_of(shape, body);
        if let Ok(def) = self.top_def(body, &domain, &what) {
            self.fields[id.index()].def = Some(def);
        }
    }

    fn check_equations(&mut self) -> Vec<Equation> {
        let mut seen: HashMap<FieldId, Span> = HashMap::new();
        let mut equations = Vec::new();
        for eq in &self.resolved.equations {
            let Some(state) = self.field_of(eq.state) else { continue };
            if let Some(first) = seen.insert(state, eq.target_span) {
                let name = self.fields[state.index()].name.clone();
                self.report(CheckError::DuplicateEquation { state: name, span: eq.target_span, first });
                continue;
            }
            let shape = self.fields[state.index()].shape.clone();
            let domain = domain_of(&shape, &eq.rhs);
            let name = self.fields[state.index()].name.clone();
            let kind = match eq.kind {
                Form::Ode => match self.top_def(&eq.rhs, &domain, &format!("the rate of `{name}`")) {
                    Ok(rhs) => EquationKind::Ode { rhs },
                    Err(Reported) => continue,
                },
                Form::Sde => match self.sde(&eq.rhs, &domain, eq.span, &name) {
                    Ok(kind) => kind,
                    Err(Reported) => continue,
                },
            };
            equations.push(Equation { state, kind, span: eq.span });
        }
        equations
    }

    fn sde(&mut self, body: &'r Body, domain: &[DomainVar], span: Span, name: &str) -> Result<EquationKind, Reported> {
        let (rhs, mut elab) = self.top_expr(body, domain, &format!("the increment of `{name}`"))?;
        ranges::noise_reads(&mut elab, &rhs)?;
        let terms = match sde::split(&rhs) {
            Ok(terms) => terms,
            Err(sde::NotLinear(problem)) => {
                return Err(elab.report(CheckError::SdeForm {
                    span,
                    problem,
                    help: "write it as `d X = a * dt + b * dW[...]`, with a and b free of dt and dW".into(),
                }));
            }
        };
        // One definition per term, sharing the variables and the read table.
        let drift_expr = terms.dt.unwrap_or_else(|| std::sync::Arc::new(Node::Num(0.0)));
        let drift = elab.finish_shared(domain.len(), drift_expr)?;
        let mut diffusion = Vec::with_capacity(terms.dw.len());
        for (noise, index, coeff) in terms.dw {
            let coeff = elab.finish_shared(domain.len(), coeff)?;
            diffusion.push(Diffusion { noise, index, coeff });
        }
        Ok(EquationKind::Sde { drift, diffusion })
    }

    fn check_scalars(&mut self) -> Vec<NamedScalar> {
        let mut scalars = Vec::new();
        for item in &self.resolved.items {
            let ItemKind::Named { kind, value } = &item.kind else { continue };
            let what = format!("the {} `{}`", kind.keyword(), item.name);
            if let Ok(def) = self.top_def(value, &[], &what) {
                scalars.push(NamedScalar { name: item.name.clone(), kind: *kind, def, span: item.span });
            }
        }
        scalars
    }
}

/// An index variable of a definition's domain, before it is created.
struct DomainVar {
    name: String,
    extent: Option<usize>,
    span: Span,
}

/// The domain of a body whose first locals are `shape`'s index names.
fn domain_of(shape: &Shape, body: &Body) -> Vec<DomainVar> {
    shape
        .dims
        .iter()
        .zip(&body.locals)
        .map(|(dim, local)| DomainVar { name: local.name.clone(), extent: Some(dim.extent), span: local.span })
        .collect()
}

fn axis_name(k: usize) -> String {
    ["i", "j", "k", "l"].get(k).map_or_else(|| format!("i{k}"), |s| s.to_string())
}

/// `[64, 64]`
pub(crate) fn shape_text(extents: &[usize]) -> String {
    let items: Vec<String> = extents.iter().map(usize::to_string).collect();
    format!("[{}]", items.join(", "))
}

impl Elab<'_, '_, '_> {
    /// Refuses an elaborated expression nested deeper than the later stages' stack holds, or
    /// with reductions nested deeper than [`MAX_NESTED_REDUCTIONS`]. Each elaboration step is
    /// bounded, but a scalar argument is elaborated once and placed where the body uses it, so
    /// nested calls of a deep function can nest deeper still.
    fn not_too_deep(&mut self, expr: &Expr, written: Span) -> Result<(), Reported> {
        let nesting = crate::model::nesting(expr);
        let span = Span::new(written.start, (written.start + 1).min(written.end));
        if nesting.depth > MAX_INLINED_DEPTH {
            let what = "its calls nest too deeply once inlined".into();
            return Err(self.report(CheckError::TooDeep { limit: MAX_INLINED_DEPTH, span, what }));
        }
        if nesting.reductions > MAX_NESTED_REDUCTIONS {
            return Err(self.report(CheckError::ReductionsTooDeep { limit: MAX_NESTED_REDUCTIONS, span }));
        }
        Ok(())
    }

    /// Completes a definition: every variable it uses has an extent, every read an access.
    fn finish(mut self, rank: usize, expr: Expr) -> Result<Def, Reported> {
        self.finish_shared(rank, expr)
    }

    /// As [`Self::finish`], leaving the elaborator usable for more definitions over the same
    /// variables.
    fn finish_shared(&mut self, rank: usize, expr: Expr) -> Result<Def, Reported> {
        let used = used_vars(&expr, rank);
        let mut failed = false;
        for (index, var) in self.vars.iter().enumerate() {
            if var.extent.is_none() && used.contains(&VarId(index as u32)) {
                let (name, span) = (var.name.clone(), var.span);
                self.ck.report(CheckError::CannotInfer {
                    name: name.clone(),
                    span,
                    help: format!("`{name}` is not used to read a field; write its extent, like `{name} < 3`"),
                });
                failed = true;
            }
        }
        if failed {
            return Err(Reported);
        }
        let accesses = ranges::classify(self, &expr)?;
        let vars = self.vars.iter().map(|v| Var { name: v.name.clone(), extent: v.extent.unwrap_or(1) }).collect();
        let read_spans = self.reads.iter().map(|r| r.span).collect();
        Ok(Def { rank, vars, expr, accesses, read_spans })
    }
}

/// The variables `expr` uses, plus the domain's.
fn used_vars(expr: &Expr, rank: usize) -> HashSet<VarId> {
    let mut used: HashSet<VarId> = (0..rank as u32).map(VarId).collect();
    crate::model::walk(expr, &mut |node| match node {
        Node::Var(v) => {
            used.insert(*v);
        }
        Node::Read(read) => used.extend(read.index.iter().flat_map(|a| a.terms.iter().map(|(v, _)| *v))),
        Node::Dw { index, .. } => used.extend(index.iter().flat_map(|a| a.terms.iter().map(|(v, _)| *v))),
        Node::Reduce(reduce) => used.extend(reduce.vars.iter().copied()),
        _ => {}
    });
    used
}

#[cfg(test)]
mod tests;
