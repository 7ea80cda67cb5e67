//! The reference interpreter: executes Kernel IR exactly as its documentation says, one node at
//! a time. Every other engine is tested against it; clarity beats speed here.

use std::sync::Arc;

use noether_compiler::builtins::ReduceOp;
use noether_compiler::ir::{
    Access, Affine, BufferId, Kernel, Load, Node, NodeId, ProcId, Program, Reduction, Region, Store,
};
use noether_compiler::ops::{Binary, to_word};

use crate::buffers::Buffers;
use crate::engine::{Engine, EngineError};

pub struct Interpreter {
    program: Arc<Program>,
}

impl Interpreter {
    pub fn new(program: Arc<Program>) -> Self {
        Interpreter { program }
    }
}

impl Engine for Interpreter {
    fn name(&self) -> &'static str {
        "interp"
    }

    fn run(&mut self, procedure: ProcId, buffers: &mut Buffers) -> Result<(), EngineError> {
        let program = Arc::clone(&self.program);
        for &kernel in &program.procedure(procedure).kernels {
            run_kernel(program.kernel(kernel), buffers);
        }
        Ok(())
    }
}

/// Runs one kernel: the prelude once, the body at every domain point, storing the outputs.
fn run_kernel(kernel: &Kernel, buffers: &mut Buffers) {
    // Outputs are taken out while the kernel runs: a kernel never reads what it writes.
    let mut outputs: Vec<Vec<f64>> = kernel.outputs.iter().map(|o| buffers.take(o.buffer)).collect();
    {
        let mut frame = Frame {
            kernel,
            buffers: &*buffers,
            values: vec![0.0; kernel.nodes.len()],
            vars: vec![0; kernel.vars.len()],
        };
        frame.region(&kernel.prelude);
        let domain = kernel.domain().to_vec();
        let points = kernel.points();
        for point in 0..points {
            // Row-major: the last axis varies fastest.
            let mut rest = point;
            for axis in (0..domain.len()).rev() {
                frame.vars[axis] = (rest % domain[axis]) as i64;
                rest /= domain[axis];
            }
            frame.region(&kernel.body);
            for (output, storage) in kernel.outputs.iter().zip(&mut outputs) {
                let value = frame.values[output.value.index()];
                match &output.store {
                    Store::Assign => storage[point] = value,
                    Store::Add => storage[point] += value,
                    Store::Scatter { index, axes } => {
                        if let Some(flat) = frame.position(output.buffer, index, axes) {
                            storage[flat] += value;
                        }
                    }
                }
            }
        }
    }
    for (output, storage) in kernel.outputs.iter().zip(outputs) {
        buffers.put(output.buffer, storage);
    }
}

struct Frame<'k> {
    kernel: &'k Kernel,
    buffers: &'k Buffers,
    /// Node values; booleans are 1.0 and 0.0, words the numbers they are.
    values: Vec<f64>,
    vars: Vec<i64>,
}

impl Frame<'_> {
    fn region(&mut self, region: &Region) {
        for &id in &region.items {
            let value = self.node(id);
            self.values[id.index()] = value;
        }
    }

    fn get(&self, id: NodeId) -> f64 {
        self.values[id.index()]
    }

    /// A word node's value (held exactly as a number).
    fn word(&self, id: NodeId) -> u32 {
        self.values[id.index()] as u32
    }

    fn node(&mut self, id: NodeId) -> f64 {
        let truth = |b: bool| if b { 1.0 } else { 0.0 };
        match self.kernel.node(id) {
            Node::Const(value) => *value,
            Node::Index(var) => self.vars[var.index()] as f64,
            Node::Load(load) => self.load(load),
            Node::Unary(op, a) => op.eval(self.get(*a)),
            Node::Binary(op, a, b) => op.eval(self.get(*a), self.get(*b)),
            Node::Compare(op, a, b) => truth(op.eval(self.get(*a), self.get(*b))),
            Node::And(a, b) => truth(self.get(*a) != 0.0 && self.get(*b) != 0.0),
            Node::Or(a, b) => truth(self.get(*a) != 0.0 || self.get(*b) != 0.0),
            Node::Not(a) => truth(self.get(*a) == 0.0),
            Node::Select(c, a, b) => {
                if self.get(*c) != 0.0 {
                    self.get(*a)
                } else {
                    self.get(*b)
                }
            }
            Node::Reduce(reduction) => self.reduce(reduction),
            Node::WordConst(w) => f64::from(*w),
            Node::ToWord(a) => f64::from(to_word(self.get(*a))),
            Node::Word(op, a, b) => f64::from(op.eval(self.word(*a), self.word(*b))),
            Node::FromWord(a) => self.get(*a),
        }
    }

    fn load(&self, load: &Load) -> f64 {
        match self.position(load.buffer, &load.index, &load.axes) {
            Some(flat) => self.buffers.data(load.buffer)[flat],
            None => load.fill,
        }
    }

    /// The flat position an index resolves to in `buffer`, or `None` outside a fill axis.
    fn position(&self, buffer: BufferId, index: &[Affine], axes: &[Access]) -> Option<usize> {
        let shape = self.buffers.shape(buffer);
        let mut offset = 0usize;
        for ((affine, access), &extent) in index.iter().zip(axes).zip(shape) {
            let position = access.resolve(affine.eval(&self.vars), extent)?;
            offset = offset * extent + position;
        }
        Some(offset)
    }

    fn reduce(&mut self, r: &Reduction) -> f64 {
        let extents: Vec<usize> = r.vars.iter().map(|v| self.kernel.vars[v.index()]).collect();
        let total: usize = extents.iter().product();
        let mut acc = match r.op {
            ReduceOp::Sum | ReduceOp::Mean => 0.0,
            ReduceOp::Max => f64::NEG_INFINITY,
            ReduceOp::Min => f64::INFINITY,
        };
        let mut count = 0usize;
        for point in 0..total {
            let mut rest = point;
            for (var, extent) in r.vars.iter().zip(&extents).rev() {
                self.vars[var.index()] = (rest % extent) as i64;
                rest /= extent;
            }
            self.region(&r.region);
            if let Some(filter) = r.filter {
                if self.get(filter) == 0.0 {
                    continue;
                }
            }
            let value = self.get(r.value);
            count += 1;
            acc = match r.op {
                ReduceOp::Sum | ReduceOp::Mean => acc + value,
                ReduceOp::Max => Binary::Max.eval(acc, value),
                ReduceOp::Min => Binary::Min.eval(acc, value),
            };
        }
        match r.op {
            ReduceOp::Mean if count == 0 => f64::NAN,
            ReduceOp::Mean => acc / count as f64,
            _ => acc,
        }
    }
}
