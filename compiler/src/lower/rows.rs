//! Large sums in named scalars split by rows, so their work divides between threads.
//!
//! A named scalar is one number: its kernel has no domain, so an engine runs it on one worker
//! however many points its sums visit (a pair energy over 1000 particles visits a million).
//! Input: a model (after [`super::inline`]). Output: the same model where every sum of a named
//! scalar over two or more variables, not inside another reduction and visiting at least
//! [`MIN_POINTS`] points, `sum(p, q, ... | f) b`, reads instead a new let over its first
//! variable, `NAME:rowsK[p] = sum(q, ... | f) b`, as `sum(p) NAME:rowsK[p]`. The let is a field
//! with a domain, so engines divide it by rows; the final sum over `p` is short.
//!
//! The split changes the association of the sum (row totals, then their total), not its
//! visiting order, and the program says which association it is: every engine and every thread
//! count still computes the same bits.
//!
//! Example: `energy E = 0.5 * sum(p, q | p != q and r2[p, q] < rc^2) lj(r2[p, q])` becomes
//! `let E:rows1[p] = sum(q | p != q and ...) lj(...)` and `energy E = 0.5 * sum(p) E:rows1[p]`.

use std::collections::HashMap;
use std::sync::Arc;

use crate::builtins::ReduceOp;
use crate::model::{
    Access, Affine, Def, Expr, Field, FieldId, FieldKind, Model, Node, Read, ReadAccess, ReadId, Reduce,
};
use crate::resolve::{Dim, Rule, Shape};

use super::inline::{compose, rebuild};

/// Points a sum visits below which it stays whole: a kernel as small runs on one worker anyway
/// (the JIT's default threshold for dividing a kernel).
const MIN_POINTS: usize = 1 << 14;

/// The model with the large sums of its named scalars split by rows (see the module docs).
pub(super) fn split_sums(mut model: Model) -> Model {
    for i in 0..model.scalars.len() {
        let mut def = model.scalars[i].def.clone();
        let mut replaced: HashMap<usize, Expr> = HashMap::new();
        for sum in outer_sums(&def) {
            let Node::Reduce(r) = &*sum else { unreachable!("outer_sums yields reductions") };
            let field = FieldId(model.fields.len() as u32);
            let scalar = &model.scalars[i];
            let rows = rows_def(&def, r);
            let extent = def.vars[r.vars[0].index()].extent;
            let dim = Dim { name: def.vars[r.vars[0].index()].name.clone(), extent, rule: Rule::None };
            model.fields.push(Field {
                name: format!("{}:rows{}", scalar.name, replaced.len() + 1),
                kind: FieldKind::Let,
                shape: Shape { dims: vec![dim], span: scalar.span },
                span: scalar.span,
                def: Some(rows),
            });
            let id = ReadId(def.accesses.len() as u32);
            def.accesses.push(ReadAccess { axes: vec![Access::Direct], fill: 0.0 });
            def.read_spans.push(scalar.span);
            let read = Arc::new(Node::Read(Read { id, field, index: vec![Affine::var(r.vars[0])] }));
            let total = Reduce { op: ReduceOp::Sum, vars: vec![r.vars[0]], filter: None, body: read };
            replaced.insert(Arc::as_ptr(&sum) as usize, Arc::new(Node::Reduce(total)));
        }
        if !replaced.is_empty() {
            def.expr = replace(&def.expr, &replaced, &mut HashMap::new());
            model.scalars[i].def = def;
        }
    }
    model
}

/// The sums of `def` worth splitting: over two or more variables, at least [`MIN_POINTS`]
/// points, outside every other reduction. Each is yielded once, however often it is shared.
fn outer_sums(def: &Def) -> Vec<Expr> {
    fn visit(def: &Def, e: &Expr, seen: &mut HashMap<usize, ()>, found: &mut Vec<Expr>) {
        if seen.insert(Arc::as_ptr(e) as usize, ()).is_some() {
            return;
        }
        if let Node::Reduce(r) = &**e {
            let points = r.vars.iter().map(|v| def.vars[v.index()].extent).fold(1usize, usize::saturating_mul);
            if r.op == ReduceOp::Sum && r.vars.len() >= 2 && points >= MIN_POINTS {
                found.push(e.clone());
            }
            return;
        }
        for child in crate::model::children(e) {
            visit(def, child, seen, found);
        }
    }
    let mut found = Vec::new();
    visit(def, &def.expr, &mut HashMap::new(), &mut found);
    found
}

/// The let `rows[p] = sum(q, ... | f) b` of the sum `r` (`sum(p, q, ... | f) b`) of `def`: the
/// same variables and reads, renumbered so that `p` is the let's domain.
fn rows_def(def: &Def, r: &Reduce) -> Def {
    let first = r.vars[0];
    // `first` becomes variable 0; the variables before it move up by one.
    let map: Vec<Affine> = (0..def.vars.len())
        .map(|v| {
            let new = match v {
                _ if v == first.index() => 0,
                _ if v < first.index() => v + 1,
                _ => v,
            };
            Affine::var(crate::model::VarId(new as u32))
        })
        .collect();
    let mut vars = def.vars.clone();
    let moved = vars.remove(first.index());
    vars.insert(0, moved);
    let inner = Reduce { op: r.op, vars: r.vars[1..].to_vec(), filter: r.filter.clone(), body: r.body.clone() };
    let expr = renamed(&Arc::new(Node::Reduce(inner)), &map, &mut HashMap::new());
    Def { rank: 1, vars, expr, accesses: def.accesses.clone(), read_spans: def.read_spans.clone() }
}

/// `e` with its variables renamed by `map` (variable `v` becomes `map[v]`, a single variable).
pub(super) fn renamed(e: &Expr, map: &[Affine], memo: &mut HashMap<usize, Expr>) -> Expr {
    let key = Arc::as_ptr(e) as usize;
    if let Some(done) = memo.get(&key) {
        return done.clone();
    }
    let var = |v: &crate::model::VarId| map[v.index()].single_var().expect("renaming maps variables to variables");
    let result = match &**e {
        Node::Var(v) => Arc::new(Node::Var(var(v))),
        Node::Read(read) => Arc::new(Node::Read(Read {
            id: read.id,
            field: read.field,
            index: read.index.iter().map(|a| compose(a, map)).collect(),
        })),
        Node::Reduce(r) => Arc::new(Node::Reduce(Reduce {
            op: r.op,
            vars: r.vars.iter().map(var).collect(),
            filter: r.filter.as_ref().map(|f| renamed(f, map, memo)),
            body: renamed(&r.body, map, memo),
        })),
        _ => rebuild(e, &mut |c| renamed(c, map, memo)),
    };
    memo.insert(key, result.clone());
    result
}

/// `e` with the nodes in `replaced` (by address) replaced.
pub(super) fn replace(e: &Expr, replaced: &HashMap<usize, Expr>, memo: &mut HashMap<usize, Expr>) -> Expr {
    let key = Arc::as_ptr(e) as usize;
    if let Some(new) = replaced.get(&key).or_else(|| memo.get(&key)) {
        return new.clone();
    }
    let result = rebuild(e, &mut |c| replace(c, replaced, memo));
    memo.insert(key, result.clone());
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Model {
        let source = crate::diag::Source::new("rows.noe", text);
        crate::check_source(&source, &[]).unwrap_or_else(|f| panic!("{f:?}"))
    }

    #[test]
    fn large_pair_sums_read_row_totals() {
        let model = check(
            "const N = 200\nstate x : [p < N] = p\nstate w : [p < 3] = p\n\
             energy E = sum(k) w[k]^2 + 0.5 * sum(p, q | p != q) (x[p] - x[q])^2\n",
        );
        let split = split_sums(model);
        let rows = split.field_named("E:rows1").expect("the pair sum is split");
        assert_eq!(split.field(rows).shape.extents(), vec![200]);
        let text = crate::model::display_def(&split, &split.scalars[0].def);
        assert!(text.contains("E:rows1[") && !text.contains("x["), "{text}");
        let rows_text = crate::model::display_def(&split, split.field(rows).def.as_ref().expect("a let"));
        assert!(rows_text.contains("x["), "{rows_text}");
    }

    #[test]
    fn small_and_single_variable_sums_stay_whole() {
        let model = check(
            "const N = 100\nstate x : [p < N] = p\n\
             energy E = sum(p) x[p]^2 + sum(p, q) x[p] * x[q]\n",
        );
        let fields = model.fields.len();
        assert_eq!(split_sums(model).fields.len(), fields, "10^4 points are below the threshold");
    }
}
