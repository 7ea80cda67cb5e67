//! The reference interpreter: executes Kernel IR exactly as its documentation says, one node at
//! a time. Every other engine is tested against it; clarity beats speed here.

use std::sync::Arc;

use noether_compiler::builtins::ReduceOp;
use noether_compiler::ir::{
    Access, Affine, BufferId, Kernel, Load, Node, NodeId, ProcId, Program, Reduction, Region, Store, Visit,
};
use noether_compiler::lower::random::uniform_of;
use noether_compiler::ops::{Binary, to_word};

use super::EngineError;
use super::host::{Buffers, Kernels};

/// The reference engine: walks each kernel's IR point by point. Slow and obviously right.
pub(crate) struct Interpreter {
    program: Arc<Program>,
}

impl Interpreter {
    /// An interpreter of `program`.
    pub fn new(program: Arc<Program>) -> Self {
        Interpreter { program }
    }
}

impl Kernels for Interpreter {
    fn name(&self) -> &'static str {
        "interp"
    }

    fn program(&self) -> &Program {
        &self.program
    }

    fn run(&mut self, procedure: ProcId, buffers: &mut Buffers) -> Result<(), EngineError> {
        let program = &self.program;
        for &kernel in &program.procedure(procedure).kernels {
            run_kernel(program, program.kernel(kernel), buffers);
        }
        Ok(())
    }

    fn switch(&mut self, program: Arc<Program>) -> Result<(), EngineError> {
        self.program = program;
        Ok(())
    }
}

/// Runs one kernel: the prelude once, the body at every point it visits, storing the outputs.
fn run_kernel(program: &Program, kernel: &Kernel, buffers: &mut Buffers) {
    // Outputs are taken out while the kernel runs: a kernel never reads what it writes, except
    // buffers it updates in place, which its loads read from the taken storage.
    let outputs: Vec<Vec<f64>> = kernel.outputs.iter().map(|o| buffers.take(o.buffer)).collect();
    let outputs = {
        let mut frame = Frame {
            program,
            kernel,
            buffers: &*buffers,
            outputs,
            values: vec![0.0; kernel.nodes.len()],
            vars: vec![0; kernel.vars.len()],
        };
        frame.region(&kernel.prelude);
        match kernel.visit {
            Visit::RowMajor => (0..kernel.points()).for_each(|point| frame.point(point)),
            Visit::Listed(list) => buffers.data(list).iter().for_each(|&point| frame.point(point as usize)),
        }
        frame.outputs
    };
    for (output, storage) in kernel.outputs.iter().zip(outputs) {
        buffers.put(output.buffer, storage);
    }
}

struct Frame<'k> {
    program: &'k Program,
    kernel: &'k Kernel,
    buffers: &'k Buffers,
    /// The storage of each output, by output.
    outputs: Vec<Vec<f64>>,
    /// Node values; booleans are 1.0 and 0.0, words the numbers they are.
    values: Vec<f64>,
    vars: Vec<i64>,
}

impl Frame<'_> {
    /// Evaluates the body at the domain point with flat row-major position `point`, then stores.
    fn point(&mut self, point: usize) {
        let kernel = self.kernel;
        let domain = kernel.domain();
        // Row-major: the last axis varies fastest.
        let mut rest = point;
        for axis in (0..domain.len()).rev() {
            self.vars[axis] = (rest % domain[axis]) as i64;
            rest /= domain[axis];
        }
        self.region(&kernel.body);
        for (k, output) in kernel.outputs.iter().enumerate() {
            let value = self.values[output.value.index()];
            let target = match &output.store {
                Store::Assign | Store::Add => Some(point),
                Store::Scatter { index, axes } => self.position(output.buffer, index, axes),
                Store::Update { index } => Some(self.element(output.buffer, index)),
            };
            let Some(flat) = target else { continue };
            match output.store {
                Store::Add | Store::Scatter { .. } => self.outputs[k][flat] += value,
                Store::Assign | Store::Update { .. } => self.outputs[k][flat] = value,
            }
        }
    }

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
            Node::MulAdd(a, b, c) => self.get(*a).mul_add(self.get(*b), self.get(*c)),
            Node::Reduce(reduction) => self.reduce(reduction),
            Node::WordConst(w) => f64::from(*w),
            Node::ToWord(a) => f64::from(to_word(self.get(*a))),
            Node::Word(op, a, b) => f64::from(op.eval(self.word(*a), self.word(*b))),
            Node::FromWord(a) => self.get(*a),
            Node::Unit(hi, lo) => uniform_of(self.word(*hi), self.word(*lo)),
        }
    }

    fn load(&self, load: &Load) -> f64 {
        let Some(flat) = self.position(load.buffer, &load.index, &load.axes) else { return load.fill };
        match self.kernel.outputs.iter().position(|o| o.buffer == load.buffer) {
            // Only an updated buffer is both read and written: what earlier points stored.
            Some(k) => self.outputs[k][flat],
            None => self.buffers.data(load.buffer)[flat],
        }
    }

    /// The flat position an index resolves to in `buffer`, or `None` outside a fill axis.
    fn position(&self, buffer: BufferId, index: &[Affine], axes: &[Access]) -> Option<usize> {
        let shape = &self.program.buffer(buffer).shape;
        let mut offset = 0usize;
        for ((affine, access), &extent) in index.iter().zip(axes).zip(shape) {
            let position = access.resolve(affine.eval(&self.vars), extent)?;
            offset = offset * extent + position;
        }
        Some(offset)
    }

    /// The flat position of an index known to lie inside `buffer` (an update's).
    fn element(&self, buffer: BufferId, index: &[Affine]) -> usize {
        let shape = &self.program.buffer(buffer).shape;
        index.iter().zip(shape).fold(0, |offset, (affine, &extent)| offset * extent + affine.eval(&self.vars) as usize)
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
