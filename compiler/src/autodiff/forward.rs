//! Forward mode on model expressions: `diff(expr, s)`, the derivative of a scalar expression
//! with respect to a function parameter `s`, is another model expression.
//!
//! Elaboration binds `s` to a *marker*: a node of its own, `powi.1(value)`, that every use of
//! `s` in `expr` shares. The derivative with respect to the marker treats it as the variable
//! (derivative 1) and everything else as constant, except through other markers, whose
//! derivative is their value's (the identity's rule), so nested `diff`s compose:
//! in `diff(diff(f(s), s), s)` the inner marker wraps the outer one. After differentiating,
//! [`unmark`] puts the value back in place of the marker.
//!
//! Example: `fn f(s) = s^3` and `diff(diff(f(s), s), s)` give `3 * 2 * s` (folded to `6 * s`).

use std::collections::HashMap;
use std::sync::Arc;

use crate::builtins::ReduceOp;
use crate::model::{Expr, Node, Read, Reduce};
use crate::ops::{Binary, Compare, Unary};

use super::rules::{Terms, binary_partials, unary_partial};

/// A new marker standing for `value`.
pub fn marker(value: Expr) -> Expr {
    Arc::new(Node::Unary(Unary::Powi(1), value))
}

/// What forward mode cannot differentiate.
#[derive(Clone, Debug, PartialEq)]
pub struct Unsupported(pub &'static str);

/// The derivative of `e` with respect to `marker`.
pub fn derivative(e: &Expr, marker: &Expr) -> Result<Expr, Unsupported> {
    Forward { marker, memo: HashMap::new() }.of(e)
}

/// `e` with `marker` replaced by the value it stands for.
pub fn unmark(e: &Expr, marker: &Expr) -> Expr {
    let Node::Unary(_, value) = &**marker else { unreachable!("markers are made by `marker`") };
    substitute(e, &|x| Arc::ptr_eq(x, marker).then(|| value.clone()), &mut HashMap::new())
}

/// `e` with every read `is_variable` picks replaced by one marker standing for the first of
/// them (they must all read the same value), and that marker; `None` when none is picked.
/// Differentiating by the marker then differentiates by the value those reads see.
pub fn mark_reads(e: &Expr, is_variable: &dyn Fn(&Read) -> bool) -> Option<(Expr, Expr)> {
    let picked = |x: &Expr| matches!(&**x, Node::Read(read) if is_variable(read));
    let mut first = None;
    crate::model::walk(e, &mut |node| {
        if first.is_none() && matches!(node, Node::Read(read) if is_variable(read)) {
            first = Some(Arc::new(node.clone()));
        }
    });
    let mark = marker(first?);
    let marked = substitute(e, &|x| picked(x).then(|| mark.clone()), &mut HashMap::new());
    Some((marked, mark))
}

struct Forward<'m> {
    marker: &'m Expr,
    /// Derivatives by node address; nodes live as long as the expression differentiated.
    memo: HashMap<usize, Expr>,
}

impl Forward<'_> {
    fn of(&mut self, e: &Expr) -> Result<Expr, Unsupported> {
        if Arc::ptr_eq(e, self.marker) {
            return Ok(Expr::constant(1.0));
        }
        let key = Arc::as_ptr(e) as usize;
        if let Some(known) = self.memo.get(&key) {
            return Ok(known.clone());
        }
        let zero = || Expr::constant(0.0);
        let d = match &**e {
            // A draw is piecewise constant in its arguments (they are words).
            Node::Num(_)
            | Node::Var(_)
            | Node::Time
            | Node::Iteration
            | Node::Read(_)
            | Node::Dt
            | Node::Dw { .. }
            | Node::Random(..) => zero(),
            // Conditions carry no derivative.
            Node::Compare(..) | Node::And(..) | Node::Or(..) | Node::Not(_) => zero(),
            Node::Unary(op, x) => {
                let dx = self.of(x)?;
                if is_zero(&dx) { zero() } else { unary_partial(*op, x, e, dx) }
            }
            Node::Binary(op, x, y) => {
                let (dx, dy) = (self.of(x)?, self.of(y)?);
                let by_x = if is_zero(&dx) { zero() } else { binary_partials(*op, x, y, e, dx).0 };
                let by_y = if is_zero(&dy) { zero() } else { binary_partials(*op, x, y, e, dy).1 };
                Expr::add(by_x, by_y)
            }
            Node::Select(c, x, y) => {
                let (dx, dy) = (self.of(x)?, self.of(y)?);
                Expr::select(c.clone(), dx, dy)
            }
            Node::Reduce(r) => {
                let body = self.of(&r.body)?;
                match r.op {
                    _ if is_zero(&body) => zero(),
                    ReduceOp::Sum | ReduceOp::Mean => Arc::new(Node::Reduce(Reduce {
                        op: r.op,
                        vars: r.vars.clone(),
                        filter: r.filter.clone(),
                        body,
                    })),
                    ReduceOp::Max | ReduceOp::Min => return Err(Unsupported("a `max` or `min` reduction")),
                }
            }
        };
        self.memo.insert(key, d.clone());
        Ok(d)
    }
}

/// `e` with each subexpression `pick` gives a replacement for replaced.
fn substitute(e: &Expr, pick: &dyn Fn(&Expr) -> Option<Expr>, memo: &mut HashMap<usize, Expr>) -> Expr {
    if let Some(with) = pick(e) {
        return with;
    }
    let key = Arc::as_ptr(e) as usize;
    if let Some(done) = memo.get(&key) {
        return done.clone();
    }
    let mut go = |x: &Expr| substitute(x, pick, memo);
    let node = match &**e {
        Node::Num(_) | Node::Var(_) | Node::Time | Node::Iteration | Node::Read(_) | Node::Dt | Node::Dw { .. } => {
            return e.clone();
        }
        Node::Unary(op, x) => Node::Unary(*op, go(x)),
        Node::Binary(op, x, y) => Node::Binary(*op, go(x), go(y)),
        Node::Compare(op, x, y) => Node::Compare(*op, go(x), go(y)),
        Node::And(x, y) => Node::And(go(x), go(y)),
        Node::Or(x, y) => Node::Or(go(x), go(y)),
        Node::Not(x) => Node::Not(go(x)),
        Node::Select(c, x, y) => Node::Select(go(c), go(x), go(y)),
        Node::Random(draw, args) => Node::Random(*draw, args.iter().map(&mut go).collect()),
        Node::Reduce(r) => Node::Reduce(Reduce {
            op: r.op,
            vars: r.vars.clone(),
            filter: r.filter.as_ref().map(&mut go),
            body: go(&r.body),
        }),
    };
    let rebuilt = Arc::new(node);
    memo.insert(key, rebuilt.clone());
    rebuilt
}

fn value_of(e: &Expr) -> Option<f64> {
    match **e {
        Node::Num(v) => Some(v),
        _ => None,
    }
}

fn is_zero(e: &Expr) -> bool {
    value_of(e) == Some(0.0)
}

/// Model expressions fold numbers and drop structural zeros and ones, so derivatives stay as
/// small as the ones written by hand.
impl Terms for Expr {
    fn constant(c: f64) -> Expr {
        Arc::new(Node::Num(c))
    }

    fn unary(op: Unary, x: Expr) -> Expr {
        match value_of(&x) {
            Some(v) => Expr::constant(op.eval(v)),
            None if op == Unary::Powi(1) => x,
            None => Arc::new(Node::Unary(op, x)),
        }
    }

    fn binary(op: Binary, x: Expr, y: Expr) -> Expr {
        match (value_of(&x), value_of(&y)) {
            (Some(a), Some(b)) => Expr::constant(op.eval(a, b)),
            _ => Arc::new(Node::Binary(op, x, y)),
        }
    }

    fn compare(op: Compare, x: Expr, y: Expr) -> Expr {
        Arc::new(Node::Compare(op, x, y))
    }

    fn select(c: Expr, x: Expr, y: Expr) -> Expr {
        if Arc::ptr_eq(&x, &y) || (is_zero(&x) && is_zero(&y)) {
            return x;
        }
        Arc::new(Node::Select(c, x, y))
    }

    fn neg(x: Expr) -> Expr {
        match &*x {
            Node::Unary(Unary::Neg, inner) => inner.clone(),
            _ => Expr::unary(Unary::Neg, x),
        }
    }

    fn add(x: Expr, y: Expr) -> Expr {
        match (value_of(&x), value_of(&y)) {
            (Some(0.0), _) => y,
            (_, Some(0.0)) => x,
            _ => Expr::binary(Binary::Add, x, y),
        }
    }

    fn sub(x: Expr, y: Expr) -> Expr {
        match (value_of(&x), value_of(&y)) {
            (_, Some(0.0)) => x,
            (Some(0.0), _) => Expr::neg(y),
            _ => Expr::binary(Binary::Sub, x, y),
        }
    }

    fn mul(x: Expr, y: Expr) -> Expr {
        match (value_of(&x), value_of(&y)) {
            (Some(0.0), _) | (_, Some(0.0)) => Expr::constant(0.0),
            (Some(1.0), _) => y,
            (_, Some(1.0)) => x,
            (Some(-1.0), _) => Expr::neg(y),
            (_, Some(-1.0)) => Expr::neg(x),
            _ => Expr::binary(Binary::Mul, x, y),
        }
    }

    fn div(x: Expr, y: Expr) -> Expr {
        match (value_of(&x), value_of(&y)) {
            (Some(0.0), _) => Expr::constant(0.0),
            (_, Some(1.0)) => x,
            _ => Expr::binary(Binary::Div, x, y),
        }
    }
}
