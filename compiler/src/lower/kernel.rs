//! Lowering checked-model expressions into a kernel being built.

use std::sync::Arc;

use crate::ir::builder::KernelBuilder;
use crate::ir::{BufferId, Node, NodeId};
use crate::model::{self, Def};

use super::random;

/// A kernel over the domain and variables of `def`.
pub(super) fn for_def(name: impl Into<String>, def: &Def) -> KernelBuilder {
    KernelBuilder::new(name, def.vars.iter().map(|v| v.extent).collect(), def.rank)
}

/// How a kernel reads the clocks: the time `t` (shifted within a step by the caller) and the
/// buffer holding the fit's `iteration` (present when the model reads it).
pub(super) struct Clocks<'a> {
    pub time: &'a dyn Fn(&mut KernelBuilder) -> NodeId,
    pub iteration: Option<BufferId>,
}

/// Lowers a checked-model expression of `def`, reading fields through `buffers`.
pub(super) fn expr(
    b: &mut KernelBuilder,
    e: &model::Expr,
    def: &Def,
    buffers: &dyn Fn(model::FieldId) -> BufferId,
    clocks: &Clocks<'_>,
) -> NodeId {
    let address = Arc::as_ptr(e) as usize;
    if let Some(id) = b.memo(address) {
        return id;
    }
    let sub = |b: &mut KernelBuilder, x: &model::Expr| expr(b, x, def, buffers, clocks);
    let id = match &**e {
        model::Node::Num(v) => b.constant(*v),
        model::Node::Var(v) => b.push(Node::Index(*v)),
        model::Node::Time => (clocks.time)(b),
        model::Node::Iteration => b.load_scalar(clocks.iteration.expect("a model reading `iteration` has its buffer")),
        model::Node::Read(read) => {
            let access = &def.accesses[read.id.0 as usize];
            b.load(buffers(read.field), read.index.clone(), access.axes.clone(), access.fill)
        }
        model::Node::Unary(op, a) => {
            let a = sub(b, a);
            b.unary(*op, a)
        }
        model::Node::Binary(op, x, y) => {
            let (x, y) = (sub(b, x), sub(b, y));
            b.binary(*op, x, y)
        }
        model::Node::Compare(op, x, y) => {
            let (x, y) = (sub(b, x), sub(b, y));
            b.compare(*op, x, y)
        }
        model::Node::And(x, y) => {
            let (x, y) = (sub(b, x), sub(b, y));
            b.push(Node::And(x, y))
        }
        model::Node::Or(x, y) => {
            let (x, y) = (sub(b, x), sub(b, y));
            b.push(Node::Or(x, y))
        }
        model::Node::Not(a) => {
            let a = sub(b, a);
            b.push(Node::Not(a))
        }
        model::Node::Select(c, x, y) => {
            let (c, x, y) = (sub(b, c), sub(b, x), sub(b, y));
            b.push(Node::Select(c, x, y))
        }
        model::Node::Reduce(r) => b.reduce(r.op, &r.vars, |b| {
            let filter = r.filter.as_ref().map(|f| expr(b, f, def, buffers, clocks));
            (filter, expr(b, &r.body, def, buffers, clocks))
        }),
        model::Node::Random(draw, args) => {
            let args: Vec<NodeId> = args.iter().map(|a| sub(b, a)).collect();
            let stream = match draw {
                model::Draw::Uniform => random::UNIFORM_STREAM,
                model::Draw::Normal => random::NORMAL_STREAM,
            };
            random::draw(b, *draw, args[0], stream, &args[1..])
        }
        model::Node::Dt | model::Node::Dw { .. } => {
            unreachable!("SDE differentials are split off before lowering")
        }
    };
    b.remember(address, id);
    id
}
