//! Sums over tensor params in stored lets, stored as lets of their own.
//!
//! A let that combines sums over a network's weights, such as a Burgers residual
//! `u_t + u u_x - nu u_xx` where `u`, `u_t`, `u_x` and `u_xx` are each a sum over hidden units,
//! makes reverse mode recompute every sum at every point for every weight: the adjoint of
//! `u u_x` by a weight needs the values of `u` and `u_x` there. Stored, each sum's value and
//! adjoint at a point are computed once, and a weight's adjoint gathers over the points alone.
//!
//! Input: a model after [`super::inline`] (and the lets it stores). Output: the same model where
//! each stored let with a domain reads its outermost sums over tensor params (see
//! [`super::inline::sums_over_params`]) from new lets over its own domain, `NAME:sumK` (a let
//! that is one such sum and nothing else stays whole), and each named scalar reads the param
//! sums inside its reductions from lets over those reductions' variables. The sums are the
//! same expressions, so every engine computes the same bits as before.
//!
//! Example: `let r[i, j] = diff(u(x, t), t) + u(x, t) * diff(u(x, t), x)` with `u` a network
//! becomes `r[i, j] = r:sum1[i, j] + r:sum2[i, j] * r:sum3[i, j]`, each `r:sumK` one sum over
//! the hidden units. Then [`store_activations`] stores each such sum's unit activations,
//! `r:sum1:act1[i, j, h] = tanh(...)`, which the sum reads.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::ir::Affine;
use crate::model::{Access, Def, Expr, Field, FieldId, FieldKind, Model, Node, Read, ReadAccess, ReadId, VarId};

use super::inline::sums_over_params;
use super::rows::{renamed, replace};
use crate::resolve::{Dim, Rule, Shape};

/// The model with the param sums of its `stored` lets stored apart (see the module docs).
pub(super) fn store_param_sums(mut model: Model, stored: &HashSet<FieldId>) -> Model {
    let mut lets: Vec<FieldId> = stored.iter().copied().collect();
    lets.sort();
    for field in lets {
        let info = model.field(field);
        let Some(def) = info.def.clone() else { continue };
        let sums = outer_param_sums(&model, &def.expr);
        if def.rank == 0 || sums.is_empty() || (sums.len() == 1 && Arc::ptr_eq(&sums[0], &def.expr)) {
            continue;
        }
        let (name, shape, span) = (info.name.clone(), info.shape.clone(), info.span);
        let mut def = def;
        let mut replaced: HashMap<usize, Expr> = HashMap::new();
        for sum in sums {
            let new = FieldId(model.fields.len() as u32);
            let sum_def = Def { expr: sum.clone(), ..def.clone() };
            model.fields.push(Field {
                name: format!("{name}:sum{}", replaced.len() + 1),
                kind: FieldKind::Let,
                shape: shape.clone(),
                span,
                def: Some(sum_def),
            });
            let id = ReadId(def.accesses.len() as u32);
            def.accesses.push(ReadAccess { axes: vec![Access::Direct; def.rank], fill: 0.0 });
            def.read_spans.push(span);
            let index = (0..def.rank).map(|v| Affine::var(VarId(v as u32))).collect();
            replaced.insert(Arc::as_ptr(&sum) as usize, Arc::new(Node::Read(Read { id, field: new, index })));
        }
        def.expr = replace(&def.expr, &replaced, &mut HashMap::new());
        model.fields[field.index()].def = Some(def);
    }
    model
}

/// The most elements a let of activations may have (8 MiB of doubles): beyond it the
/// activations are recomputed where they are needed, as before.
const MAX_ACTIVATIONS: usize = 1 << 20;

/// The model where each stored let that is one sum over a network's hidden units (such as the
/// `NAME:sumK` lets above) reads its units' activations (`tanh(W1[h] x + b1[h])`: a costly
/// function of the weights at each unit) from a let over its domain and the units, `NAME:actK`.
/// Reverse mode otherwise computes every activation again in the gather of every weight that
/// feeds it (each `tanh` once per weight, per point); stored, it is computed once and read. The
/// sums of one network at the same points (its value and derivatives) share one such let.
pub(super) fn store_activations(mut model: Model, stored: &HashSet<FieldId>) -> Model {
    // Each activation let by what it computes (its definition as printed) and its extents.
    let mut made: HashMap<(String, Vec<usize>), FieldId> = HashMap::new();
    let mut lets: Vec<FieldId> = stored.iter().copied().collect();
    lets.sort();
    for field in lets {
        let info = model.field(field);
        let Some(mut def) = info.def.clone() else { continue };
        let Node::Reduce(reduce) = &*def.expr else { continue };
        if reduce.filter.is_some() || !sums_over_params(&model, &def.expr) {
            continue;
        }
        let units: Vec<VarId> = reduce.vars.clone();
        let activations = costly_unit_functions(&model, &reduce.body, &units);
        let elements: usize = def.domain().iter().chain(units.iter().map(|v| &def.vars[v.index()].extent)).product();
        if activations.is_empty() || elements > MAX_ACTIVATIONS {
            continue;
        }
        let (name, span) = (info.name.clone(), info.span);
        let domain: Vec<VarId> = (0..def.rank as u32).map(VarId).chain(units.iter().copied()).collect();
        let dims: Vec<Dim> = domain
            .iter()
            .map(|v| Dim {
                name: def.vars[v.index()].name.clone(),
                extent: def.vars[v.index()].extent,
                rule: Rule::None,
            })
            .collect();
        let mut replaced: HashMap<usize, Expr> = HashMap::new();
        for activation in activations {
            let activation_def = domain_def(&def, &domain, &activation);
            let key = (described(&model, &activation_def), activation_def.domain());
            let new = *made.entry(key).or_insert_with(|| {
                model.fields.push(Field {
                    name: format!("{name}:act{}", replaced.len() + 1),
                    kind: FieldKind::Let,
                    shape: Shape { dims: dims.clone(), span },
                    span,
                    def: Some(activation_def),
                });
                FieldId(model.fields.len() as u32 - 1)
            });
            let id = ReadId(def.accesses.len() as u32);
            def.accesses.push(ReadAccess { axes: vec![Access::Direct; domain.len()], fill: 0.0 });
            def.read_spans.push(span);
            let index = domain.iter().map(|v| Affine::var(*v)).collect();
            replaced.insert(Arc::as_ptr(&activation) as usize, Arc::new(Node::Read(Read { id, field: new, index })));
        }
        def.expr = replace(&def.expr, &replaced, &mut HashMap::new());
        model.fields[field.index()].def = Some(def);
    }
    model
}

/// A definition as printed, with how each of its reads treats the edges (which printing omits):
/// two definitions with the same description compute the same values.
fn described(model: &Model, def: &Def) -> String {
    let mut text = crate::model::display_def(model, def);
    crate::model::walk(&def.expr, &mut |node| {
        if let Node::Read(read) = node {
            text.push_str(&format!(" {:?}", def.accesses[read.id.0 as usize]));
        }
    });
    text
}

/// The outermost transcendental functions in `body` whose argument reads a tensor param at an
/// index of `units`: a unit's activation, a function of the weights and the point alone.
fn costly_unit_functions(model: &Model, body: &Expr, units: &[VarId]) -> Vec<Expr> {
    fn visit(model: &Model, e: &Expr, units: &[VarId], seen: &mut HashSet<usize>, found: &mut Vec<Expr>) {
        if !seen.insert(Arc::as_ptr(e) as usize) {
            return;
        }
        if let Node::Unary(op, argument) = &**e
            && op.is_transcendental()
            && reads_weights_of(model, argument, units)
        {
            found.push(e.clone());
            return;
        }
        if let Node::Reduce(_) = &**e {
            return; // a deeper layer's sum: its units are not these
        }
        for child in crate::model::children(e) {
            visit(model, child, units, seen, found);
        }
    }
    let mut found = Vec::new();
    visit(model, body, units, &mut HashSet::new(), &mut found);
    found
}

/// Whether `e` reads a tensor param at an index that uses one of `units`.
fn reads_weights_of(model: &Model, e: &Expr, units: &[VarId]) -> bool {
    let mut found = false;
    crate::model::walk(e, &mut |node| {
        if let Node::Read(read) = node {
            found |= model.field(read.field).kind == FieldKind::Param
                && read.index.iter().any(|a| a.terms.iter().any(|(v, _)| units.contains(v)));
        }
    });
    found
}

/// The model with the param sums inside its named scalars' reductions stored as lets over
/// those reductions' variables: `loss L = mean(i, j) residual(x_i, t_j)^2` with a network in
/// `residual` computes the network's sums once per `(i, j)`, as a let written by hand would (a
/// let substituted into a reduction is what [`store_param_sums`] cannot reach). A reduction
/// with a filter is left alone: its let would evaluate the network at the points it excludes.
pub(super) fn store_scalar_param_sums(mut model: Model) -> Model {
    for i in 0..model.scalars.len() {
        let mut def = model.scalars[i].def.clone();
        let mut replaced: HashMap<usize, Expr> = HashMap::new();
        for reduction in outer_reductions(&def.expr) {
            let Node::Reduce(r) = &*reduction else { unreachable!("outer_reductions yields reductions") };
            if r.filter.is_some() {
                continue;
            }
            for sum in outer_param_sums(&model, &r.body) {
                let field = FieldId(model.fields.len() as u32);
                let scalar = &model.scalars[i];
                let dims = r.vars.iter().map(|v| {
                    let var = &def.vars[v.index()];
                    Dim { name: var.name.clone(), extent: var.extent, rule: Rule::None }
                });
                model.fields.push(Field {
                    name: format!("{}:sum{}", scalar.name, replaced.len() + 1),
                    kind: FieldKind::Let,
                    shape: Shape { dims: dims.collect(), span: scalar.span },
                    span: scalar.span,
                    def: Some(domain_def(&def, &r.vars, &sum)),
                });
                let id = ReadId(def.accesses.len() as u32);
                def.accesses.push(ReadAccess { axes: vec![Access::Direct; r.vars.len()], fill: 0.0 });
                def.read_spans.push(scalar.span);
                let index = r.vars.iter().map(|v| Affine::var(*v)).collect();
                replaced.insert(Arc::as_ptr(&sum) as usize, Arc::new(Node::Read(Read { id, field, index })));
            }
        }
        if !replaced.is_empty() {
            def.expr = replace(&def.expr, &replaced, &mut HashMap::new());
            model.scalars[i].def = def;
        }
    }
    model
}

/// The reductions of `e` outside every other reduction, each once.
fn outer_reductions(e: &Expr) -> Vec<Expr> {
    fn visit(e: &Expr, seen: &mut HashSet<usize>, found: &mut Vec<Expr>) {
        if !seen.insert(Arc::as_ptr(e) as usize) {
            return;
        }
        if let Node::Reduce(_) = &**e {
            found.push(e.clone());
            return;
        }
        for child in crate::model::children(e) {
            visit(child, seen, found);
        }
    }
    let mut found = Vec::new();
    visit(e, &mut HashSet::new(), &mut found);
    found
}

/// The definition of `e` (an expression of `def`) over the domain of `domain`, variables of
/// `def`: they become variables `0..`, the others follow in their order.
fn domain_def(def: &Def, domain: &[VarId], e: &Expr) -> Def {
    let order: Vec<VarId> =
        domain.iter().copied().chain((0..def.vars.len() as u32).map(VarId).filter(|v| !domain.contains(v))).collect();
    let mut map = vec![Affine::constant(0); def.vars.len()];
    for (new, old) in order.iter().enumerate() {
        map[old.index()] = Affine::var(VarId(new as u32));
    }
    let vars = order.iter().map(|v| def.vars[v.index()].clone()).collect();
    let expr = renamed(e, &map, &mut HashMap::new());
    Def { rank: domain.len(), vars, expr, accesses: def.accesses.clone(), read_spans: def.read_spans.clone() }
}

/// The reductions of `e` over tensor params outside every other reduction, each once.
fn outer_param_sums(model: &Model, e: &Expr) -> Vec<Expr> {
    fn visit(model: &Model, e: &Expr, seen: &mut HashSet<usize>, found: &mut Vec<Expr>) {
        if !seen.insert(Arc::as_ptr(e) as usize) {
            return;
        }
        if let Node::Reduce(_) = &**e {
            if sums_over_params(model, e) {
                found.push(e.clone());
            }
            return;
        }
        for child in crate::model::children(e) {
            visit(model, child, seen, found);
        }
    }
    let mut found = Vec::new();
    visit(model, e, &mut HashSet::new(), &mut found);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Model {
        let source = crate::diag::Source::new("network.noe", text);
        crate::check_source(&source, &[]).unwrap_or_else(|f| panic!("{f:?}"))
    }

    /// A network's residual reads its value and derivatives from lets of their own; a let that
    /// is one sum stays whole.
    #[test]
    fn a_residual_reads_each_network_sum_from_its_own_let() {
        let model = check(
            "param W : [h < 8] = h\nfn u(x) = sum(h) W[h] * tanh(W[h] * x)\nfn ux(x) = diff(u(x), x)\n\
             let r[i < 16] = u(i / 16) * ux(i / 16) - i\nlet v[i < 16] = u(i / 16)\n\
             loss L = mean(i) r[i]^2 + mean(i) v[i]^2\n",
        );
        let inlined = super::super::inline::inline_lets(&model);
        let stored = super::super::inline::stored(&inlined);
        let split = store_param_sums(inlined, &stored);
        let r = split.field_named("r").expect("declared");
        let text = crate::model::display_def(&split, split.field(r).def.as_ref().expect("a let"));
        assert!(text.contains("r:sum1[") && text.contains("r:sum2[") && !text.contains("W["), "{text}");
        let sum = split.field_named("r:sum1").expect("split");
        assert_eq!(split.field(sum).shape.extents(), vec![16]);
        assert!(split.field_named("v:sum1").is_none(), "v is one sum");
    }

    /// Each sum over hidden units reads its units' `tanh` from a let over its points and the
    /// units, once per sum; a sum whose activations do not read the weights at the unit keeps
    /// them inline.
    #[test]
    fn a_network_sum_reads_its_activations_from_a_let_over_points_and_units() {
        let model = check(
            "param W : [h < 8] = h\nparam c = 1\nfn u(x) = sum(h) W[h] * tanh(W[h] * x)\nfn ux(x) = diff(u(x), x)\n\
             let r[i < 16] = u(i / 16) * ux(i / 16) - i\nlet q[i < 16] = sum(h < 8) W[h] * tanh(c * i)\n\
             loss L = mean(i) r[i]^2 + mean(i) q[i]^2\n",
        );
        let inlined = super::super::inline::inline_lets(&model);
        let stored = super::super::inline::stored(&inlined);
        let split = store_param_sums(inlined, &stored);
        let stored = super::super::inline::stored(&split);
        let split = store_activations(split, &stored);
        for sum in ["r:sum1", "r:sum2"] {
            let field = split.field_named(sum).expect("split");
            let text = crate::model::display_def(&split, split.field(field).def.as_ref().expect("a let"));
            assert!(text.contains("r:sum1:act1[") && !text.contains("tanh"), "{sum}: {text}");
        }
        let act = split.field_named("r:sum1:act1").expect("activations");
        assert_eq!(split.field(act).shape.extents(), vec![16, 8]);
        assert!(split.field_named("r:sum2:act1").is_none(), "u and u_x share their activations");
        assert!(split.field_named("q:act1").is_none(), "tanh(c * i) reads no weight at the unit");
        // Past MAX_ACTIVATIONS elements the activations stay inline.
        let large =
            check("param W : [h < 8] = h\nlet v[i < 200000] = sum(h) W[h] * tanh(W[h] * i)\nloss L = mean(i) v[i]^2\n");
        let inlined = super::super::inline::inline_lets(&large);
        let stored = super::super::inline::stored(&inlined);
        let split = store_activations(inlined, &stored);
        assert!(split.field_named("v").is_some() && split.field_named("v:act1").is_none());
    }

    /// Written inside the loss's own mean, the network's sums still get lets over the mean's
    /// variables; a filtered reduction keeps them inline.
    #[test]
    fn a_loss_reads_network_sums_from_lets_over_its_points() {
        let model = check(
            "param W : [h < 8] = h\nfn u(x, t) = sum(h) W[h] * tanh(W[h] * x + t)\n\
             loss L = mean(i < 16, j < 4) (u(i / 16, j) - i)^2 + sum(i < 16 | i > 2) u(i, 0)\n",
        );
        let split = store_scalar_param_sums(super::super::inline::inline_lets(&model));
        let sum = split.field_named("L:sum1").expect("split");
        assert_eq!(split.field(sum).shape.extents(), vec![16, 4]);
        assert!(split.field_named("L:sum2").is_none(), "the filtered sum is left alone");
        let text = crate::model::display_def(&split, &split.scalars[0].def);
        assert!(text.contains("L:sum1[i, j]"), "{text}");
    }
}
