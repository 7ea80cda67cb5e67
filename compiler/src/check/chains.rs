//! Chains: when `log p` of a continuous sampler's state is a sum over the state's first axis of
//! terms that each read only their own row, every row is an independent chain, and each can
//! accept or reject its own proposal.
//!
//! The split looks through constant factors and signs (`-beta * sum(c) ...`), sums and
//! differences of such sums, and drops terms that do not read the state at all (constants of
//! `log p`, which no acceptance depends on). A sum `sum(c, k) body` qualifies when `c` runs over
//! the whole first axis and every read of the state in `body` (and nothing else reading it, such
//! as a let) has `c` itself as its first index. Anything else leaves one chain.
//!
//! Example: `log p = -sum(c) 0.5 * (x[c, 0]^2 + x[c, 1]^2)` gives the per-chain definition
//! `[c < C] -(0.5 * (x[c, 0]^2 + x[c, 1]^2))`.

use std::collections::HashMap;
use std::sync::Arc;

use crate::builtins::ReduceOp;
use crate::model::{Affine, Def, Expr, Field, FieldId, Node, Read, Reduce, Var, VarId};
use crate::ops::{Binary, Unary};

/// The per-chain term of `log_density` (a definition over the chain index), if it splits.
pub(super) fn per_chain(fields: &[Field], log_density: &Def, state: FieldId) -> Option<Def> {
    let chains = *fields[state.index()].shape.extents().first()?;
    let splitter = Splitter { fields, def: log_density, state, chains };
    let Term::Chain(chain, expr) = splitter.split(&log_density.expr)? else { return None };
    // The chain variable becomes the domain's variable 0; the others keep their order.
    let mut order: Vec<VarId> = vec![chain];
    order.extend((0..log_density.vars.len() as u32).map(VarId).filter(|v| *v != chain));
    let renumber: HashMap<VarId, VarId> =
        order.iter().enumerate().map(|(new, old)| (*old, VarId(new as u32))).collect();
    let vars: Vec<Var> = order.iter().map(|v| log_density.vars[v.index()].clone()).collect();
    let expr = rename(&expr, &renumber, &mut HashMap::new());
    Some(Def { rank: 1, vars, expr, ..log_density.clone() })
}

/// A part of `log p`: a constant (reads no state), or a sum over one chain variable's values of
/// the expression given, which uses that variable freely.
enum Term {
    Constant,
    Chain(VarId, Expr),
}

struct Splitter<'a> {
    fields: &'a [Field],
    def: &'a Def,
    state: FieldId,
    chains: usize,
}

impl Splitter<'_> {
    fn split(&self, e: &Expr) -> Option<Term> {
        if !self.reads_state(e) {
            return Some(Term::Constant);
        }
        let chain = |var: VarId, expr: Expr| Some(Term::Chain(var, expr));
        match &**e {
            Node::Reduce(r) if r.op == ReduceOp::Sum => {
                let var = r.vars.iter().copied().find(|v| self.is_chain_variable(*v, r))?;
                let rest: Vec<VarId> = r.vars.iter().copied().filter(|v| *v != var).collect();
                let body = match (rest.is_empty(), &r.filter) {
                    (true, None) => r.body.clone(),
                    (true, Some(filter)) => node(Node::Select(filter.clone(), r.body.clone(), node(Node::Num(0.0)))),
                    (false, _) => node(Node::Reduce(Reduce { vars: rest, ..r.clone() })),
                };
                chain(var, body)
            }
            Node::Unary(Unary::Neg, a) => match self.split(a)? {
                Term::Chain(var, a) => chain(var, node(Node::Unary(Unary::Neg, a))),
                Term::Constant => Some(Term::Constant),
            },
            Node::Binary(op @ (Binary::Mul | Binary::Div), a, b) if !self.reads_state(b) => match self.split(a)? {
                Term::Chain(var, a) => chain(var, node(Node::Binary(*op, a, b.clone()))),
                Term::Constant => Some(Term::Constant),
            },
            Node::Binary(Binary::Mul, a, b) if !self.reads_state(a) => match self.split(b)? {
                Term::Chain(var, b) => chain(var, node(Node::Binary(Binary::Mul, a.clone(), b))),
                Term::Constant => Some(Term::Constant),
            },
            Node::Binary(op @ (Binary::Add | Binary::Sub), a, b) => match (self.split(a)?, self.split(b)?) {
                (Term::Chain(var, a), Term::Chain(other, b)) => {
                    let b = rename(&b, &HashMap::from([(other, var)]), &mut HashMap::new());
                    chain(var, node(Node::Binary(*op, a, b)))
                }
                (Term::Chain(var, a), Term::Constant) => chain(var, a),
                (Term::Constant, Term::Chain(var, b)) if *op == Binary::Add => chain(var, b),
                (Term::Constant, Term::Chain(var, b)) => chain(var, node(Node::Unary(Unary::Neg, b))),
                (Term::Constant, Term::Constant) => Some(Term::Constant),
            },
            _ => None,
        }
    }

    /// Whether `var` of the sum `r` runs over every chain and is the first index of every read
    /// of the state in the sum's body, which reads it no other way.
    fn is_chain_variable(&self, var: VarId, r: &Reduce) -> bool {
        if self.def.vars[var.index()].extent != self.chains || r.filter.as_ref().is_some_and(|f| self.reads_state(f)) {
            return false;
        }
        let mut fits = true;
        crate::model::walk(&r.body, &mut |n| {
            if let Node::Read(read) = n {
                if read.field == self.state {
                    fits &= read.index.first() == Some(&Affine::var(var));
                } else {
                    fits &= !super::sample::derived_from(self.fields, read.field, &[self.state]);
                }
            }
        });
        fits
    }

    fn reads_state(&self, e: &Expr) -> bool {
        let mut found = false;
        crate::model::walk(e, &mut |n| {
            if let Node::Read(read) = n {
                found |= super::sample::derived_from(self.fields, read.field, &[self.state]);
            }
        });
        found
    }
}

fn node(n: Node) -> Expr {
    Arc::new(n)
}

/// `e` with its variables renamed by `map` (others kept), sharing rebuilt nodes as `e` does.
fn rename(e: &Expr, map: &HashMap<VarId, VarId>, memo: &mut HashMap<usize, Expr>) -> Expr {
    let key = Arc::as_ptr(e) as usize;
    if let Some(done) = memo.get(&key) {
        return done.clone();
    }
    let var = |v: &VarId| *map.get(v).unwrap_or(v);
    let affine = |a: &Affine| {
        a.terms.iter().fold(Affine::constant(a.offset), |acc, (v, c)| acc.add(&Affine::var(var(v)).scale(*c)))
    };
    let mut sub = |x: &Expr| rename(x, map, memo);
    let renamed = match &**e {
        Node::Num(_) | Node::Time | Node::Iteration | Node::Dt => e.clone(),
        Node::Var(v) => node(Node::Var(var(v))),
        Node::Read(read) => node(Node::Read(Read { index: read.index.iter().map(affine).collect(), ..read.clone() })),
        Node::Unary(op, a) => node(Node::Unary(*op, sub(a))),
        Node::Binary(op, a, b) => node(Node::Binary(*op, sub(a), sub(b))),
        Node::Compare(op, a, b) => node(Node::Compare(*op, sub(a), sub(b))),
        Node::And(a, b) => node(Node::And(sub(a), sub(b))),
        Node::Or(a, b) => node(Node::Or(sub(a), sub(b))),
        Node::Not(a) => node(Node::Not(sub(a))),
        Node::Select(c, a, b) => node(Node::Select(sub(c), sub(a), sub(b))),
        Node::Reduce(r) => node(Node::Reduce(Reduce {
            op: r.op,
            vars: r.vars.iter().map(var).collect(),
            filter: r.filter.as_ref().map(&mut sub),
            body: sub(&r.body),
        })),
        Node::Random(draw, args) => node(Node::Random(*draw, args.iter().map(sub).collect())),
        Node::Dw { noise, index, span } => {
            node(Node::Dw { noise: *noise, index: index.iter().map(affine).collect(), span: *span })
        }
    };
    memo.insert(key, renamed.clone());
    renamed
}
