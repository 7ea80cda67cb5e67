//! [`Arith`] on Kernel IR nodes: a math algorithm written once over `Arith` (the polynomial
//! kernels of `sin` and `cos`, say) can be built into a kernel as plain nodes, which every
//! engine then computes with the same bits and the JIT vectorises like any other arithmetic.

use crate::math::Arith;
use crate::ops::{Binary, Compare, Unary};

use super::builder::KernelBuilder;
use super::{Node, NodeId};

impl Arith for KernelBuilder {
    type Num = NodeId;
    type Cond = NodeId;

    fn num(&mut self, c: f64) -> NodeId {
        self.constant(c)
    }
    fn add(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.binary(Binary::Add, a, b)
    }
    fn sub(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.binary(Binary::Sub, a, b)
    }
    fn mul(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.binary(Binary::Mul, a, b)
    }
    fn mul_add(&mut self, a: NodeId, b: NodeId, c: NodeId) -> NodeId {
        KernelBuilder::mul_add(self, a, b, c)
    }
    fn div(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.binary(Binary::Div, a, b)
    }
    fn floor(&mut self, a: NodeId) -> NodeId {
        self.unary(Unary::Floor, a)
    }
    fn min(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.binary(Binary::Min, a, b)
    }
    fn max(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.binary(Binary::Max, a, b)
    }
    fn abs(&mut self, a: NodeId) -> NodeId {
        self.unary(Unary::Abs, a)
    }
    fn sqrt(&mut self, a: NodeId) -> NodeId {
        self.unary(Unary::Sqrt, a)
    }
    fn neg(&mut self, a: NodeId) -> NodeId {
        self.unary(Unary::Neg, a)
    }
    fn less(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.compare(Compare::Lt, a, b)
    }
    fn equal(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.compare(Compare::Eq, a, b)
    }
    fn both(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.push(Node::And(a, b))
    }
    fn select(&mut self, c: NodeId, a: NodeId, b: NodeId) -> NodeId {
        self.push(Node::Select(c, a, b))
    }
}
