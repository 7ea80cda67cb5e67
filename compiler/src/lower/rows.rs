//! Large sums in named scalars split by rows, so their work divides between threads.
//!
//! A named scalar is one number: its kernel has no domain, so an engine runs it on one worker
//! however many points its sums visit (a pair energy over 1000 particles visits a million).
//! Input: a model (after [`super::inline`]). Output: the same model where every sum of a named
//! scalar over two or more variables (or mean without a filter), reading no variable of a
//! reduction around it and visiting at least [`MIN_POINTS`] points, `sum(p, q, ... | f) b`,
//! reads instead a new let over its first variable, `NAME:rowsK[p] = sum(q, ... | f) b`, as
//! `sum(p) NAME:rowsK[p]` (a mean divides that by its point count). The let is a field with a
//! domain, so engines divide it by rows; the final sum over `p` is short.
//!
//! A sum (or a mean without a filter) over one variable of at least [`MIN_POINTS`] points,
//! `sum(p | f) b` with `p < M`, is split the same way into blocks of `B` consecutive points, `B`
//! the divisor of `M` nearest `sqrt(M)` (from 64 to `M / 4`; without one it stays whole):
//! `NAME:blocksK[c] = sum(p | f) b` with `p` renamed `B c + p` and running below `B`, read as
//! `sum(c) NAME:blocksK[c]` (a mean divides that by `M`). A long sum's one chain of additions,
//! each waiting for the last, becomes short chains that engines run side by side and divide
//! between threads: an ensemble's `mean(p) X[p]` over 10^5 paths each step.
//!
//! The split changes the association of the sum (row or block totals, then their total), not its
//! visiting order, and the program says which association it is: every engine and every thread
//! count still computes the same bits.
//!
//! Example: `energy E = 0.5 * sum(p, q | p != q and r2[p, q] < rc^2) lj(r2[p, q])` becomes
//! `let E:rows1[p] = sum(q | p != q and ...) lj(...)` and `energy E = 0.5 * sum(p) E:rows1[p]`.

use std::collections::HashMap;
use std::sync::Arc;

use crate::builtins::ReduceOp;
use crate::model::{
    Access, Affine, Def, Expr, Field, FieldId, FieldKind, Model, Node, Read, ReadAccess, ReadId, Reduce, Var, VarId,
};
use crate::ops::Binary;
use crate::resolve::{Dim, Rule, Shape};

use super::inline::{compose, rebuild, value_of};

/// Points a sum visits below which it stays whole: a kernel as small runs on one worker anyway
/// (the JIT's default threshold for dividing a kernel).
const MIN_POINTS: usize = 1 << 14;

/// How a sum is split: by its first variable (rows), or into blocks of consecutive points.
enum Split {
    Rows,
    Blocks(usize),
}

/// The model with the large sums of its named scalars split by rows (see the module docs).
pub(super) fn split_sums(mut model: Model) -> Model {
    for i in 0..model.scalars.len() {
        let mut def = model.scalars[i].def.clone();
        let mut replaced: HashMap<usize, Expr> = HashMap::new();
        for (sum, split) in outer_sums(&def) {
            let Node::Reduce(r) = &*sum else { unreachable!("outer_sums yields reductions") };
            // What this sum contains reads the parts of the sums inside it split before it.
            let memo = &mut HashMap::new();
            let r = &Reduce {
                op: r.op,
                vars: r.vars.clone(),
                filter: r.filter.as_ref().map(|f| replace(f, &replaced, memo)),
                body: replace(&r.body, &replaced, memo),
            };
            let field = FieldId(model.fields.len() as u32);
            let scalar = &model.scalars[i];
            let first = r.vars[0];
            let (kind, part, extent) = match split {
                Split::Rows => ("rows", rows_def(&def, r), def.vars[first.index()].extent),
                Split::Blocks(size) => ("blocks", blocks_def(&def, r, size), def.vars[first.index()].extent / size),
            };
            let dim = Dim { name: def.vars[first.index()].name.clone(), extent, rule: Rule::None };
            model.fields.push(Field {
                name: format!("{}:{kind}{}", scalar.name, replaced.len() + 1),
                kind: FieldKind::Let,
                shape: Shape { dims: vec![dim], span: scalar.span },
                span: scalar.span,
                def: Some(part),
            });
            let id = ReadId(def.accesses.len() as u32);
            def.accesses.push(ReadAccess { axes: vec![Access::Direct], fill: 0.0 });
            def.read_spans.push(scalar.span);
            let read = Arc::new(Node::Read(Read { id, field, index: vec![Affine::var(first)] }));
            let whole: usize = r.vars.iter().map(|v| def.vars[v.index()].extent).product();
            // `first` now counts the parts.
            def.vars[first.index()].extent = extent;
            let total =
                Arc::new(Node::Reduce(Reduce { op: ReduceOp::Sum, vars: vec![first], filter: None, body: read }));
            let value = match r.op {
                ReduceOp::Mean => Arc::new(Node::Binary(Binary::Div, total, Arc::new(Node::Num(whole as f64)))),
                _ => total,
            };
            replaced.insert(Arc::as_ptr(&sum) as usize, value);
        }
        if !replaced.is_empty() {
            def.expr = replace(&def.expr, &replaced, &mut HashMap::new());
            model.scalars[i].def = def;
        }
    }
    model
}

/// The sums of `def` worth splitting and how: at least [`MIN_POINTS`] points, and reading no
/// variable of a reduction around them (a variance's mean, inside the sum of squares, is split
/// too); over two or more variables by rows, over one in blocks; a mean too, when no filter
/// makes its count vary. Inner sums come before the sums around them; each is yielded once,
/// however often it is shared.
fn outer_sums(def: &Def) -> Vec<(Expr, Split)> {
    fn visit(def: &Def, e: &Expr, bound: &[VarId], seen: &mut HashMap<usize, ()>, found: &mut Vec<(Expr, Split)>) {
        if seen.insert(Arc::as_ptr(e) as usize, ()).is_some() {
            return;
        }
        let Node::Reduce(r) = &**e else {
            for child in crate::model::children(e) {
                visit(def, child, bound, seen, found);
            }
            return;
        };
        let inside: Vec<VarId> = bound.iter().chain(&r.vars).copied().collect();
        for child in crate::model::children(e) {
            visit(def, child, &inside, seen, found);
        }
        let points = r.vars.iter().map(|v| def.vars[v.index()].extent).fold(1usize, usize::saturating_mul);
        let summed = r.op == ReduceOp::Sum || (r.op == ReduceOp::Mean && r.filter.is_none());
        let split = match r.vars.len() {
            _ if points < MIN_POINTS || reads_any(e, bound) => None,
            1 if summed => block_size(points).map(Split::Blocks),
            2.. if summed => Some(Split::Rows),
            _ => None,
        };
        if let Some(split) = split {
            found.push((e.clone(), split));
        }
    }
    let mut found = Vec::new();
    visit(def, &def.expr, &[], &mut HashMap::new(), &mut found);
    found
}

/// Whether `e` reads any of `vars` (as a number or in an index).
fn reads_any(e: &Expr, vars: &[VarId]) -> bool {
    let mut reads = false;
    crate::model::walk(e, &mut |node| match node {
        Node::Var(v) => reads |= vars.contains(v),
        Node::Read(read) => reads |= read.index.iter().any(|a| a.terms.iter().any(|(v, _)| vars.contains(v))),
        Node::Dw { index, .. } => reads |= index.iter().any(|a| a.terms.iter().any(|(v, _)| vars.contains(v))),
        _ => {}
    });
    reads
}

/// The divisor of `points` nearest its square root, from 64 to `points / 4`.
fn block_size(points: usize) -> Option<usize> {
    let root = (points as f64).sqrt();
    (64..=points / 4).filter(|b| points % b == 0).min_by(|a, b| {
        let distance = |d: &usize| (*d as f64 - root).abs();
        distance(a).total_cmp(&distance(b))
    })
}

/// The let `blocks[c] = sum(p | f) b` of the one-variable `r` (`sum(p | f) b` or a mean) of
/// `def`, `p` renamed `size c + p` and running below `size`: variable 0 is the block `c`, the
/// others move up by one.
fn blocks_def(def: &Def, r: &Reduce, size: usize) -> Def {
    let point = r.vars[0];
    let moved = |v: usize| VarId(v as u32 + 1);
    let map: Vec<Affine> = (0..def.vars.len())
        .map(|v| match v {
            _ if v == point.index() => Affine { terms: vec![(VarId(0), size as i64), (moved(v), 1)], offset: 0 },
            _ => Affine::var(moved(v)),
        })
        .collect();
    let mut vars = def.vars.clone();
    let block = Var { name: format!("{}:block", vars[point.index()].name), extent: vars[point.index()].extent / size };
    vars[point.index()].extent = size;
    vars.insert(0, block);
    let memo = &mut HashMap::new();
    let filter = r.filter.as_ref().map(|f| renamed(f, &map, memo));
    let inner =
        Reduce { op: ReduceOp::Sum, vars: vec![moved(point.index())], filter, body: renamed(&r.body, &map, memo) };
    Def {
        rank: 1,
        vars,
        expr: Arc::new(Node::Reduce(inner)),
        accesses: def.accesses.clone(),
        read_spans: def.read_spans.clone(),
    }
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
            Affine::var(VarId(new as u32))
        })
        .collect();
    let mut vars = def.vars.clone();
    let moved = vars.remove(first.index());
    vars.insert(0, moved);
    let inner =
        Reduce { op: ReduceOp::Sum, vars: r.vars[1..].to_vec(), filter: r.filter.clone(), body: r.body.clone() };
    let expr = renamed(&Arc::new(Node::Reduce(inner)), &map, &mut HashMap::new());
    Def { rank: 1, vars, expr, accesses: def.accesses.clone(), read_spans: def.read_spans.clone() }
}

/// `e` with its variables renamed by `map`: variable `v` becomes `map[v]`, a single variable
/// wherever a reduction binds it, an affine index of others where it is only read.
pub(super) fn renamed(e: &Expr, map: &[Affine], memo: &mut HashMap<usize, Expr>) -> Expr {
    let key = Arc::as_ptr(e) as usize;
    if let Some(done) = memo.get(&key) {
        return done.clone();
    }
    let var = |v: &VarId| map[v.index()].single_var().expect("renaming maps variables to variables");
    let result = match &**e {
        Node::Var(v) => match map[v.index()].single_var() {
            Some(single) => Arc::new(Node::Var(single)),
            None => value_of(&map[v.index()]),
        },
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
    fn long_single_variable_sums_read_block_totals() {
        let model = check(
            "const M = 20000\nstate x : [p < M] = p\nstate y : [q < 16411] = q\nstate w : [k < 200] = k\n\
             observe v = var(p) x[p]\nobserve t = sum(q) y[q]\nobserve u = sum(k) sum(p) w[k] * x[p] * p\n",
        );
        let split = split_sums(model);
        let extents = |name: &str| split.field_named(name).map(|f| split.field(f).shape.extents());
        // The variance's mean and its sum of squares, 160 blocks of 125 each.
        assert_eq!(extents("v:blocks1"), Some(vec![160]));
        assert_eq!(extents("v:blocks2"), Some(vec![160]));
        // 16411 is prime: no block size divides it.
        assert_eq!(extents("t:blocks1"), None);
        // The inner sum reads `k`, which its enclosing sum binds; the outer one is short.
        assert_eq!(extents("u:blocks1"), None);
        assert_eq!(block_size(100_000), Some(250));
        assert_eq!(block_size(1 << 14), Some(128));
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
