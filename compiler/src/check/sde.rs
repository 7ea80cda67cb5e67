//! Splitting an SDE's right side `a * dt + b * dW[p] + ...` into drift and diffusion terms.
//!
//! The right side must be linear in the differentials: every term is a differential-free
//! coefficient times `dt` or one `dW[...]`. Coefficients are kept as expressions.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::model::{Affine, Expr, FieldId, Node};
use crate::ops::{Binary, Unary};

/// The linear decomposition of an SDE right side.
pub(super) struct Terms {
    pub dt: Option<Expr>,
    pub dw: Vec<(FieldId, Vec<Affine>, Expr)>,
}

/// Why a right side is not of the form `a dt + b dW`.
pub(super) struct NotLinear(pub String);

pub(super) fn split(rhs: &Expr) -> Result<Terms, NotLinear> {
    let parts = Splitter { with_differentials: with_differentials(rhs), split: HashMap::new() }.terms(rhs)?;
    match parts.rest {
        Some(rest) if !matches!(*rest, Node::Num(v) if v == 0.0) => {
            Err(NotLinear("this has a term without `dt` or `dW`".into()))
        }
        _ => Ok(Terms { dt: parts.dt, dw: parts.dw }),
    }
}

#[derive(Clone)]
struct Parts {
    dt: Option<Expr>,
    dw: Vec<(FieldId, Vec<Affine>, Expr)>,
    rest: Option<Expr>,
}

/// The nodes of `e` that contain `dt` or a `dW`, found in one pass over it (asking at every
/// level of the split made a long right side quadratic).
fn with_differentials(e: &Expr) -> HashSet<*const Node> {
    let mut found = HashSet::new();
    let mut visited = HashSet::new();
    let mut pending = vec![(e, false)];
    while let Some((node, children_done)) = pending.pop() {
        if children_done {
            let below = crate::model::children(node).into_iter().any(|c| found.contains(&Arc::as_ptr(c)));
            if below || matches!(**node, Node::Dt | Node::Dw { .. }) {
                found.insert(Arc::as_ptr(node));
            }
        } else if visited.insert(Arc::as_ptr(node)) {
            pending.push((node, true));
            pending.extend(crate::model::children(node).into_iter().map(|c| (c, false)));
        }
    }
    found
}

struct Splitter {
    with_differentials: HashSet<*const Node>,
    /// Shared nodes already split (a function's argument holding `dt`, used twice).
    split: HashMap<*const Node, Parts>,
}

impl Splitter {
    fn has_differential(&self, e: &Expr) -> bool {
        self.with_differentials.contains(&Arc::as_ptr(e))
    }

    fn terms(&mut self, e: &Expr) -> Result<Parts, NotLinear> {
        if let Some(parts) = self.split.get(&Arc::as_ptr(e)) {
            return Ok(parts.clone());
        }
        let parts = self.split_node(e)?;
        if Arc::strong_count(e) > 1 {
            self.split.insert(Arc::as_ptr(e), parts.clone());
        }
        Ok(parts)
    }

    fn split_node(&mut self, e: &Expr) -> Result<Parts, NotLinear> {
        if !self.has_differential(e) {
            return Ok(Parts { dt: None, dw: Vec::new(), rest: Some(e.clone()) });
        }
        match &**e {
            Node::Dt => Ok(Parts { dt: Some(one()), dw: Vec::new(), rest: None }),
            Node::Dw { noise, index, .. } => {
                Ok(Parts { dt: None, dw: vec![(*noise, index.clone(), one())], rest: None })
            }
            Node::Binary(Binary::Add, a, b) => Ok(merge(self.terms(a)?, self.terms(b)?)),
            Node::Binary(Binary::Sub, a, b) => {
                Ok(merge(self.terms(a)?, scale(self.terms(b)?, &Arc::new(Node::Num(-1.0)))))
            }
            Node::Unary(Unary::Neg, a) => Ok(scale(self.terms(a)?, &Arc::new(Node::Num(-1.0)))),
            Node::Binary(Binary::Mul, a, b) => match (self.has_differential(a), self.has_differential(b)) {
                (false, _) => Ok(scale(self.terms(b)?, a)),
                (_, false) => Ok(scale(self.terms(a)?, b)),
                _ => Err(NotLinear("a product of two differentials".into())),
            },
            Node::Binary(Binary::Div, a, b) if !self.has_differential(b) => {
                let reciprocal = Arc::new(Node::Binary(Binary::Div, one(), b.clone()));
                Ok(scale(self.terms(a)?, &reciprocal))
            }
            Node::Binary(Binary::Div, ..) => Err(NotLinear("a division by a differential".into())),
            _ => Err(NotLinear("`dt` or `dW` inside a nonlinear operation".into())),
        }
    }
}

fn one() -> Expr {
    Arc::new(Node::Num(1.0))
}

fn add(a: Option<Expr>, b: Option<Expr>) -> Option<Expr> {
    match (a, b) {
        (Some(a), Some(b)) => Some(Arc::new(Node::Binary(Binary::Add, a, b))),
        (a, b) => a.or(b),
    }
}

fn merge(a: Parts, b: Parts) -> Parts {
    let mut dw = a.dw;
    for (noise, index, coeff) in b.dw {
        match dw.iter_mut().find(|(n, i, _)| *n == noise && *i == index) {
            Some(term) => term.2 = Arc::new(Node::Binary(Binary::Add, term.2.clone(), coeff)),
            None => dw.push((noise, index, coeff)),
        }
    }
    Parts { dt: add(a.dt, b.dt), dw, rest: add(a.rest, b.rest) }
}

fn scale(parts: Parts, factor: &Expr) -> Parts {
    let times = |e: Expr| match *e {
        Node::Num(1.0) => factor.clone(),
        _ => Arc::new(Node::Binary(Binary::Mul, factor.clone(), e)),
    };
    Parts {
        dt: parts.dt.map(times),
        dw: parts.dw.into_iter().map(|(n, i, c)| (n, i, times(c))).collect(),
        rest: parts.rest.map(times),
    }
}
