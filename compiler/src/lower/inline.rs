//! Lets computed where they are read: a let is substituted into a definition that reads it
//! when recomputing it there costs less than storing it and loading it back.
//!
//! Input: a checked model. Output: the same model whose `let` definitions, `d/dt` right sides
//! and named scalars read some lets no longer: each such read became the let's definition, its
//! index variables replaced by the read's indices and its reductions given fresh variables.
//! Initial values and SDE terms are left alone (they run once, or share variables between
//! terms). [`stored`] then says which lets something still reads: only those get buffers.
//!
//! **The rule**, per let `L` and definition `D` reading it (every read of `L` in `D` in range,
//! and `L` not the `x` of a `grad(E, x)`): with `e` the elements of `L`, `w` the work of one
//! element (operations, a division or math function counting more, reductions their points
//! times their body) and `r` the times `D` evaluates reads of `L` (per distinct read, the points
//! of the region the code builder places it in, times how often that region runs), recompute
//! when `r * w <= e * w + TRAFFIC * (e + r)`: storing costs the work once plus writing every
//! element and loading every read. A let read once per element is always recomputed. Two bounds
//! keep the code from growing: a let is substituted only while its definition (with what was
//! substituted into it) has at most [`MAX_NODES`] nodes, and only where the result nests no
//! deeper than check allows ([`MAX_INLINED_DEPTH`], [`MAX_NESTED_REDUCTIONS`]). A let whose
//! reductions read a tensor param (a network's hidden sum) is not substituted into a reduction:
//! the forward cost favours it, but reverse mode would then recompute the inner sum at every
//! outer point for every param element (a PINN's loss gradient 17x slower); [`super::network`]
//! then stores each of its sums apart. Every walk here
//! visits a shared subexpression once per region, so the pass is linear in the model.
//!
//! Example: in `lj.noe`, `d[p, q, k]` is read once per element by `r2` (`sum(k) d[p, q, k]^2`)
//! and `r2[p, q]` once per element by `E`: both are recomputed, so `E` reads `x` directly and
//! neither N x N field exists. A let of mean-field sums read at every point
//! (`m[k] = sum(p) w[p] * x[p, k]` inside `sum(k)` over `p`) is stored.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use crate::check::MAX_NESTED_REDUCTIONS;
use crate::model::{
    Access, Affine, Def, EquationKind, Expr, FieldId, FieldKind, Model, Nesting, Node, Read, ReadId, Var, VarId,
};
use crate::ops::{Binary, Unary};
use crate::syntax::depth::MAX_INLINED_DEPTH;

/// Operations worth of writing one element to memory and loading it back once.
const TRAFFIC: f64 = 4.0;

/// The largest let definition (in distinct nodes) substituted where it is read.
const MAX_NODES: usize = 256;

/// What deciding whether to substitute a let needs to know about its definition.
struct Let {
    def: Def,
    /// Elements of the let.
    elements: f64,
    /// Operations per element (see [`work`]).
    work: f64,
    /// Distinct nodes of the definition.
    nodes: usize,
    nesting: Nesting,
    /// Whether a reduction of the definition reads a tensor param (see [`sums_over_params`]).
    sums_over_params: bool,
}

impl Let {
    fn new(def: Def, model: &Model) -> Let {
        let elements = def.domain().iter().map(|e| *e as f64).product();
        let work = work(&def, &def.expr, &mut HashSet::new());
        let mut nodes = 0;
        crate::model::walk(&def.expr, &mut |_| nodes += 1);
        let nesting = crate::model::nesting(&def.expr);
        let sums_over_params = sums_over_params(model, &def.expr);
        Let { def, elements, work, nodes, nesting, sums_over_params }
    }
}

/// The model with cheap let reads replaced by the lets' definitions (see the module docs).
pub(super) fn inline_lets(model: &Model) -> Model {
    let pinned: HashSet<FieldId> = differentiated(model).collect();
    let mut lets: HashMap<FieldId, Let> = HashMap::new();
    for field in let_order(model) {
        let def = model.field(field).def.as_ref().expect("lets have definitions");
        let inlined = inline_into(def, &lets, &pinned);
        lets.insert(field, Let::new(inlined, model));
    }
    let mut out = model.clone();
    for (field, known) in &lets {
        out.fields[field.index()].def = Some(known.def.clone());
    }
    for equation in &mut out.equations {
        if let EquationKind::Ode { rhs } = &mut equation.kind {
            *rhs = inline_into(rhs, &lets, &pinned);
        }
    }
    for scalar in &mut out.scalars {
        scalar.def = inline_into(&scalar.def, &lets, &pinned);
    }
    out
}

/// The lets some definition still reads, directly or through stored lets, or that a gradient
/// differentiates by: the lets that need buffers.
pub(super) fn stored(model: &Model) -> HashSet<FieldId> {
    let mut roots: Vec<&Def> = Vec::new();
    for field in &model.fields {
        if let (FieldKind::Param | FieldKind::State { .. }, Some(def)) = (&field.kind, &field.def) {
            roots.push(def);
        }
    }
    for equation in &model.equations {
        match &equation.kind {
            EquationKind::Ode { rhs } => roots.push(rhs),
            EquationKind::Sde { drift, diffusion } => {
                roots.push(drift);
                roots.extend(diffusion.iter().map(|d| &d.coeff));
            }
        }
    }
    roots.extend(model.scalars.iter().map(|s| &s.def));
    let mut stored = HashSet::new();
    let mut pending: Vec<FieldId> = differentiated(model).collect();
    for def in roots {
        pending.extend(reads(def));
    }
    while let Some(field) = pending.pop() {
        let info = model.field(field);
        if info.kind != FieldKind::Let || !stored.insert(field) {
            continue;
        }
        pending.extend(info.def.as_ref().map(reads).unwrap_or_default());
    }
    stored
}

/// The fields some `grad(E, x)` differentiates by (its `x`): they keep their buffers.
fn differentiated(model: &Model) -> impl Iterator<Item = FieldId> + '_ {
    model.fields.iter().filter_map(|f| match f.kind {
        FieldKind::Grad { wrt, .. } => Some(wrt),
        _ => None,
    })
}

/// The fields a definition reads.
fn reads(def: &Def) -> Vec<FieldId> {
    let mut fields = Vec::new();
    crate::model::walk(&def.expr, &mut |node| {
        if let Node::Read(read) = node {
            fields.push(read.field);
        }
    });
    fields
}

/// Every let after the lets it reads.
fn let_order(model: &Model) -> Vec<FieldId> {
    fn visit(model: &Model, field: FieldId, seen: &mut HashSet<FieldId>, order: &mut Vec<FieldId>) {
        let info = model.field(field);
        if info.kind != FieldKind::Let || !seen.insert(field) {
            return;
        }
        for inner in info.def.as_ref().map(reads).unwrap_or_default() {
            visit(model, inner, seen, order);
        }
        order.push(field);
    }
    let (mut seen, mut order) = (HashSet::new(), Vec::new());
    for field in model.field_ids() {
        visit(model, field, &mut seen, &mut order);
    }
    order
}

/// `def` with the reads of `lets` that [`recompute`] chooses replaced by their definitions.
fn inline_into(def: &Def, lets: &HashMap<FieldId, Let>, pinned: &HashSet<FieldId>) -> Def {
    let census = Census::of(def);
    let host = crate::model::nesting(&def.expr);
    let chosen: HashSet<FieldId> = census
        .reads
        .iter()
        .filter(|(field, reads)| {
            let Some(known) = lets.get(field) else { return false };
            !pinned.contains(field)
                && (!known.sums_over_params || host.reductions == 0)
                && !census.irregular.contains(field)
                && known.nodes <= MAX_NODES
                && host.depth + known.nesting.depth <= MAX_INLINED_DEPTH
                && host.reductions + known.nesting.reductions <= MAX_NESTED_REDUCTIONS
                && recompute(known.elements, **reads, known.work)
        })
        .map(|(field, _)| *field)
        .collect();
    if chosen.is_empty() {
        return def.clone();
    }
    let mut rewriter = Rewriter {
        lets,
        chosen: &chosen,
        vars: def.vars.clone(),
        accesses: def.accesses.clone(),
        read_spans: def.read_spans.clone(),
        host: HashMap::new(),
        inlined: HashMap::new(),
    };
    let expr = rewriter.host(&def.expr);
    Def { rank: def.rank, vars: rewriter.vars, expr, accesses: rewriter.accesses, read_spans: rewriter.read_spans }
}

/// Whether a reduction in `expr` reads a param with more than one element (the weights of a
/// network's layer, summed over its units). Substituted into a reduction, such a let makes
/// reverse mode recompute the whole inner sum at every outer point for every param element
/// (outer x inner x params); stored, each point's adjoint is computed once and every param
/// element gathers over the outer points alone.
pub(super) fn sums_over_params(model: &Model, expr: &Expr) -> bool {
    let mut found = false;
    crate::model::walk(expr, &mut |node| {
        if let Node::Reduce(reduce) = node {
            crate::model::walk(&reduce.body, &mut |inner| {
                if let Node::Read(read) = inner {
                    found |= model.field(read.field).kind == FieldKind::Param && !read.index.is_empty();
                }
            });
        }
    });
    found
}

/// Whether a let of `elements` elements, each costing `work`, read `reads` times, is cheaper
/// recomputed at every read than stored once and loaded.
fn recompute(elements: f64, reads: f64, work: f64) -> bool {
    reads * work <= elements * work + TRAFFIC * (elements + reads)
}

/// Operations to evaluate `e` once (shared subexpressions counted once, a reduction its points
/// times its body).
fn work(def: &Def, e: &Expr, seen: &mut HashSet<usize>) -> f64 {
    if !seen.insert(Arc::as_ptr(e) as usize) {
        return 0.0;
    }
    let own = match &**e {
        Node::Num(_) | Node::Var(_) | Node::Time | Node::Iteration | Node::Dt | Node::Dw { .. } => 0.0,
        Node::Read(_) | Node::Compare(..) | Node::And(..) | Node::Or(..) | Node::Not(_) | Node::Select(..) => 1.0,
        Node::Unary(op, _) => match op {
            Unary::Neg | Unary::Abs | Unary::Floor | Unary::Ceil | Unary::Sign => 1.0,
            Unary::Sqrt => 4.0,
            Unary::Powi(n) => f64::from(32 - n.unsigned_abs().leading_zeros()) + if *n < 0 { 4.0 } else { 0.0 },
            _ => 20.0,
        },
        Node::Binary(op, ..) => match op {
            Binary::Add | Binary::Sub | Binary::Mul | Binary::Min | Binary::Max => 1.0,
            Binary::Div => 4.0,
            Binary::FloorDiv | Binary::Mod => 6.0,
            Binary::Pow | Binary::Atan2 => 40.0,
        },
        Node::Random(..) => 64.0,
        Node::Reduce(r) => {
            let points: f64 = r.vars.iter().map(|v| def.vars[v.index()].extent as f64).product();
            let mut inner = HashSet::new();
            let body = r.filter.iter().chain([&r.body]).map(|x| work(def, x, &mut inner)).sum::<f64>();
            return points * (1.0 + body);
        }
    };
    own + crate::model::children(e).into_iter().map(|c| work(def, c, seen)).sum::<f64>()
}

/// How often a definition evaluates reads of each field.
struct Census {
    /// Evaluations per field, summed over distinct reads.
    reads: HashMap<FieldId, f64>,
    /// Fields read somewhere outside their extents (through a boundary rule or a guard).
    irregular: HashSet<FieldId>,
}

/// What a census walk has seen.
struct Walk {
    /// Distinct reads by field, index, and the region they are placed in.
    sites: HashSet<(FieldId, Vec<Affine>, usize, usize)>,
    /// Nodes visited, by address, depth of the region stack, and innermost region.
    visited: HashSet<(usize, usize, usize)>,
    /// Free variables by node address (see [`free_vars`]).
    free: HashMap<usize, BTreeSet<VarId>>,
}

/// A region reads are placed in: the prelude, the body, or a reduction's.
struct Frame {
    vars: Vec<VarId>,
    /// Points per evaluation.
    size: f64,
    /// Variables of enclosing regions the region depends on (a reduction runs in the innermost
    /// region binding one of them, as the kernel builder hoists it).
    free: BTreeSet<VarId>,
    /// The reduction's address (0 for the prelude and body).
    address: usize,
}

impl Census {
    fn of(def: &Def) -> Census {
        let mut census = Census { reads: HashMap::new(), irregular: HashSet::new() };
        let domain: Vec<VarId> = (0..def.rank).map(|v| VarId(v as u32)).collect();
        let size = def.domain().iter().map(|e| *e as f64).product();
        let mut stack = vec![
            Frame { vars: Vec::new(), size: 1.0, free: BTreeSet::new(), address: 0 },
            Frame { vars: domain, size, free: BTreeSet::new(), address: 0 },
        ];
        let mut walk = Walk { sites: HashSet::new(), visited: HashSet::new(), free: HashMap::new() };
        census.visit(def, &def.expr, &mut stack, &mut walk);
        census
    }

    fn visit(&mut self, def: &Def, e: &Expr, stack: &mut Vec<Frame>, walk: &mut Walk) {
        // A shared subexpression is placed once per region it is reached in.
        let region = stack.last().map_or(0, |f| f.address);
        if !walk.visited.insert((Arc::as_ptr(e) as usize, stack.len(), region)) {
            return;
        }
        match &**e {
            Node::Read(read) => {
                if def.accesses[read.id.0 as usize].axes.iter().any(|a| *a != Access::Direct) {
                    self.irregular.insert(read.field);
                }
                let vars: BTreeSet<VarId> = read.index.iter().flat_map(|a| a.terms.iter().map(|(v, _)| *v)).collect();
                let frame = innermost_binding(stack, stack.len(), &vars);
                if walk.sites.insert((read.field, read.index.clone(), frame, stack[frame].address)) {
                    *self.reads.entry(read.field).or_insert(0.0) += evaluations(stack, frame);
                }
            }
            Node::Reduce(r) => {
                let vars = free_vars(e, &mut walk.free);
                stack.push(Frame {
                    vars: r.vars.clone(),
                    size: r.vars.iter().map(|v| def.vars[v.index()].extent as f64).product(),
                    free: vars,
                    address: Arc::as_ptr(e) as usize,
                });
                for child in r.filter.iter().chain([&r.body]) {
                    self.visit(def, child, stack, walk);
                }
                stack.pop();
            }
            _ => {
                for child in crate::model::children(e) {
                    self.visit(def, child, stack, walk);
                }
            }
        }
    }
}

/// The innermost frame below `limit` binding one of `vars` (the prelude when none does).
fn innermost_binding(stack: &[Frame], limit: usize, vars: &BTreeSet<VarId>) -> usize {
    (1..limit).rev().find(|&i| stack[i].vars.iter().any(|v| vars.contains(v))).unwrap_or(0)
}

/// How often the code placed in `stack[frame]` runs per evaluation of the definition.
fn evaluations(stack: &[Frame], frame: usize) -> f64 {
    match frame {
        0 => 1.0,
        1 => stack[1].size,
        _ => stack[frame].size * evaluations(stack, innermost_binding(stack, frame, &stack[frame].free)),
    }
}

/// The variables `e` depends on that it does not bind itself.
fn free_vars(e: &Expr, memo: &mut HashMap<usize, BTreeSet<VarId>>) -> BTreeSet<VarId> {
    let key = Arc::as_ptr(e) as usize;
    if let Some(vars) = memo.get(&key) {
        return vars.clone();
    }
    let mut vars = BTreeSet::new();
    match &**e {
        Node::Var(v) => {
            vars.insert(*v);
        }
        Node::Read(read) => vars.extend(read.index.iter().flat_map(|a| a.terms.iter().map(|(v, _)| *v))),
        other => {
            for child in crate::model::children(other) {
                vars.extend(free_vars(child, memo));
            }
        }
    }
    if let Node::Reduce(r) = &**e {
        for v in &r.vars {
            vars.remove(v);
        }
    }
    memo.insert(key, vars.clone());
    vars
}

/// Rebuilds a definition with chosen let reads substituted, extending its variables and read
/// table.
struct Rewriter<'a> {
    lets: &'a HashMap<FieldId, Let>,
    chosen: &'a HashSet<FieldId>,
    vars: Vec<Var>,
    accesses: Vec<crate::model::ReadAccess>,
    read_spans: Vec<crate::diag::Span>,
    /// Rewritten host nodes by address: shared subexpressions stay shared.
    host: HashMap<usize, Expr>,
    /// Substituted reads by let and index: equal reads share one expression.
    inlined: HashMap<(FieldId, Vec<Affine>), Expr>,
}

impl Rewriter<'_> {
    fn host(&mut self, e: &Expr) -> Expr {
        let key = Arc::as_ptr(e) as usize;
        if let Some(done) = self.host.get(&key) {
            return done.clone();
        }
        let rewritten = match &**e {
            Node::Read(read) if self.chosen.contains(&read.field) => {
                let key = (read.field, read.index.clone());
                match self.inlined.get(&key) {
                    Some(done) => done.clone(),
                    None => {
                        let value = self.substitute(read);
                        self.inlined.insert(key, value.clone());
                        value
                    }
                }
            }
            _ => rebuild(e, &mut |child| self.host(child)),
        };
        self.host.insert(key, rewritten.clone());
        rewritten
    }

    /// The let `read` names, evaluated at the read's indices.
    fn substitute(&mut self, read: &Read) -> Expr {
        let def = &self.lets[&read.field].def;
        let map: Vec<Affine> = (0..def.vars.len())
            .map(|v| match read.index.get(v).filter(|_| v < def.rank) {
                Some(index) => index.clone(),
                None => {
                    self.vars.push(def.vars[v].clone());
                    Affine::var(VarId(self.vars.len() as u32 - 1))
                }
            })
            .collect();
        let mut memo = HashMap::new();
        self.renamed(def, &def.expr, &map, &mut memo)
    }

    /// `e`, an expression of the let `def`, over the host's variables by `map`.
    fn renamed(&mut self, def: &Def, e: &Expr, map: &[Affine], memo: &mut HashMap<usize, Expr>) -> Expr {
        let key = Arc::as_ptr(e) as usize;
        if let Some(done) = memo.get(&key) {
            return done.clone();
        }
        let renamed = match &**e {
            Node::Var(v) => value_of(&map[v.index()]),
            Node::Read(read) => {
                let id = ReadId(self.accesses.len() as u32);
                self.accesses.push(def.accesses[read.id.0 as usize].clone());
                self.read_spans.push(def.read_spans[read.id.0 as usize]);
                let index = read.index.iter().map(|a| compose(a, map)).collect();
                Arc::new(Node::Read(Read { id, field: read.field, index }))
            }
            Node::Reduce(r) => {
                let vars = r.vars.iter().map(|v| map[v.index()].single_var().expect("reduction variables are fresh"));
                let vars = vars.collect();
                let filter = r.filter.as_ref().map(|f| self.renamed(def, f, map, memo));
                let body = self.renamed(def, &r.body, map, memo);
                Arc::new(Node::Reduce(crate::model::Reduce { op: r.op, vars, filter, body }))
            }
            _ => rebuild(e, &mut |child| self.renamed(def, child, map, memo)),
        };
        memo.insert(key, renamed.clone());
        renamed
    }
}

/// `e` with its children replaced by `child(c)`; `e` itself when none changes.
pub(super) fn rebuild(e: &Expr, child: &mut dyn FnMut(&Expr) -> Expr) -> Expr {
    let mut changed = false;
    let mut go = |c: &Expr| {
        let new = child(c);
        changed |= !Arc::ptr_eq(&new, c);
        new
    };
    let node = match &**e {
        Node::Num(_) | Node::Var(_) | Node::Time | Node::Iteration | Node::Read(_) | Node::Dt | Node::Dw { .. } => {
            return e.clone();
        }
        Node::Unary(op, a) => Node::Unary(*op, go(a)),
        Node::Binary(op, a, b) => Node::Binary(*op, go(a), go(b)),
        Node::Compare(op, a, b) => Node::Compare(*op, go(a), go(b)),
        Node::And(a, b) => Node::And(go(a), go(b)),
        Node::Or(a, b) => Node::Or(go(a), go(b)),
        Node::Not(a) => Node::Not(go(a)),
        Node::Select(c, a, b) => Node::Select(go(c), go(a), go(b)),
        Node::Reduce(r) => Node::Reduce(crate::model::Reduce {
            op: r.op,
            vars: r.vars.clone(),
            filter: r.filter.as_ref().map(&mut go),
            body: go(&r.body),
        }),
        Node::Random(draw, args) => Node::Random(*draw, args.iter().map(&mut go).collect()),
    };
    if changed { Arc::new(node) } else { e.clone() }
}

/// `a` with every variable `v` replaced by `map[v]`.
pub(super) fn compose(a: &Affine, map: &[Affine]) -> Affine {
    a.terms.iter().fold(Affine::constant(a.offset), |acc, (v, c)| acc.add(&map[v.index()].scale(*c)))
}

/// The number an affine index of the host's variables has.
pub(super) fn value_of(a: &Affine) -> Expr {
    let mut total: Option<Expr> = None;
    for &(v, c) in &a.terms {
        let var = Arc::new(Node::Var(v));
        let term = if c == 1 { var } else { Arc::new(Node::Binary(Binary::Mul, Arc::new(Node::Num(c as f64)), var)) };
        total = Some(match total {
            Some(t) => Arc::new(Node::Binary(Binary::Add, t, term)),
            None => term,
        });
    }
    match total {
        Some(t) if a.offset == 0 => t,
        Some(t) => Arc::new(Node::Binary(Binary::Add, t, Arc::new(Node::Num(a.offset as f64)))),
        None => Arc::new(Node::Num(a.offset as f64)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Model {
        let source = crate::diag::Source::new("inline.noe", text);
        crate::check_source(&source, &[]).unwrap_or_else(|f| panic!("{f:?}"))
    }

    #[test]
    fn pair_lets_read_once_per_element_are_recomputed() {
        let model = check(
            "const N = 50\nstate x : [p < N, k < 3] = p + k\nlet d[p, q, k] = x[p, k] - x[q, k]\n\
             let r2[p, q] = sum(k) d[p, q, k]^2\nenergy E = sum(p, q | p != q) r2[p, q]^-3\n",
        );
        let inlined = inline_lets(&model);
        let text = crate::model::display_def(&inlined, &inlined.scalars[0].def);
        assert!(!text.contains("r2[") && !text.contains("d["), "{text}");
        assert!(stored(&inlined).is_empty());
    }

    #[test]
    fn mean_field_lets_read_at_every_point_are_stored() {
        let model = check(
            "const N = 500\nstate x : [p < N, k < 2] = p + k\nstate w : [p < N] = p\n\
             let m : [k < 2] = (sum(p) w[p] * x[p, k]) / (sum(p) w[p])\n\
             let spread : [p < N] = sqrt(sum(k) (x[p, k] - m[k])^2)\nd/dt w = -spread\n",
        );
        let inlined = inline_lets(&model);
        let m = inlined.field_named("m").expect("declared");
        assert_eq!(stored(&inlined), HashSet::from([m]), "spread is recomputed, m is not");
        let EquationKind::Ode { rhs } = &inlined.equations[0].kind else { unreachable!("an ODE") };
        let text = crate::model::display_def(&inlined, rhs);
        assert!(!text.contains("spread") && text.contains("m["), "{text}");
    }

    #[test]
    fn lets_summing_over_tensor_params_stay_stored_inside_reductions() {
        // A network's output at collocation points: recomputed inside the loss's mean, its
        // reverse mode would redo the hidden sum at every point for every weight.
        let net = "param W : [h < 8] = h\nfn u(x) = sum(h) W[h] * tanh(W[h] * x)\n\
                   let r[i < 16] = u(i / 16) - i\n";
        let model = check(&format!("{net}loss L = mean(i) r[i]^2\n"));
        let inlined = inline_lets(&model);
        let r = inlined.field_named("r").expect("declared");
        assert_eq!(stored(&inlined), HashSet::from([r]));
        // Read outside any reduction, the same let is still substituted.
        let model = check(&format!("{net}loss L = r[3]^2\n"));
        assert!(stored(&inline_lets(&model)).is_empty());
    }
}
