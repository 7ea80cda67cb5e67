//! Checks the invariants in the module docs: scoping, types, shapes, and that a `Direct` load
//! axis really stays inside its buffer. Run after every pass in tests; a failure is a compiler bug.

use std::collections::HashSet;

use super::{Access, BufferId, Kernel, Load, Node, NodeId, Program, Region, VarId};

/// A broken invariant of the IR: always a compiler bug, reported as an internal error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("kernel `{kernel}`: {message}")]
pub struct VerifyError {
    /// The name of the kernel at fault (of the procedure, for a procedure naming no kernel).
    pub kernel: String,
    /// What is wrong, naming nodes and variables as printed (`v3`, `i1`) and buffers by name.
    pub message: String,
}

/// Checks every procedure and kernel of `program`; returns the first broken invariant found.
pub fn verify(program: &Program) -> Result<(), VerifyError> {
    for procedure in &program.procedures {
        if let Some(k) = procedure.kernels.iter().find(|k| k.index() >= program.kernels.len()) {
            return Err(VerifyError { kernel: procedure.name.clone(), message: format!("unknown kernel k{}", k.0) });
        }
    }
    for kernel in &program.kernels {
        let (defined, types) = (vec![false; kernel.nodes.len()], vec![Type::Number; kernel.nodes.len()]);
        Verifier { program, kernel, defined, types, placed: HashSet::new() }
            .run()
            .map_err(|message| VerifyError { kernel: kernel.name.clone(), message })?;
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Type {
    Number,
    Boolean,
    Word,
}

struct Verifier<'p> {
    program: &'p Program,
    kernel: &'p Kernel,
    /// Nodes whose definition is in scope at the current point of the walk.
    defined: Vec<bool>,
    /// The type of each placed node, computed once from its operands' when it is placed, so
    /// verifying is linear in the kernel's size however deep its expressions are.
    types: Vec<Type>,
    placed: HashSet<NodeId>,
}

impl Verifier<'_> {
    fn run(mut self) -> Result<(), String> {
        let k = self.kernel;
        if k.rank > k.vars.len() {
            return Err("rank exceeds the number of variables".into());
        }
        let written: HashSet<BufferId> = k.outputs.iter().map(|o| o.buffer).collect();
        for output in &k.outputs {
            let shape = &self.buffer(output.buffer)?.shape;
            match &output.store {
                super::Store::Assign | super::Store::Add if shape.as_slice() != k.domain() => {
                    return Err(format!("output buffer shape {shape:?} differs from the domain {:?}", k.domain()));
                }
                super::Store::Scatter { index, axes } => {
                    let mut domain = vec![false; k.vars.len()];
                    domain[..k.rank].iter_mut().for_each(|b| *b = true);
                    let load = Load { buffer: output.buffer, index: index.clone(), axes: axes.clone(), fill: 0.0 };
                    self.load(&load, &domain)?;
                }
                super::Store::Update { index } => self.update(output.buffer, index)?,
                _ => {}
            }
        }
        let updated: HashSet<BufferId> =
            k.outputs.iter().filter(|o| matches!(o.store, super::Store::Update { .. })).map(|o| o.buffer).collect();
        if updated.len() != k.outputs.iter().filter(|o| updated.contains(&o.buffer)).count() {
            return Err("an updated buffer is written by another output too".into());
        }
        for node in &k.nodes {
            if let Node::Load(load) = node {
                if written.contains(&load.buffer) && !updated.contains(&load.buffer) {
                    return Err(format!("reads buffer `{}` that it writes", self.buffer(load.buffer)?.name));
                }
            }
        }
        for id in &k.prelude.items {
            if let Node::Load(load) = &k.nodes[id.index()] {
                if updated.contains(&load.buffer) {
                    let name = &self.buffer(load.buffer)?.name;
                    return Err(format!("loads `{name}`, which it updates, once for all points (in the prelude)"));
                }
            }
        }
        if let super::Visit::Listed(list) = k.visit {
            if self.buffer(list)?.shape.len() != 1 || written.contains(&list) {
                return Err("its point list must be a rank-1 buffer it does not write".into());
            }
            if k.rank == 0 || updated.len() != k.outputs.len() {
                return Err("a kernel visiting a list of points must update in place, and only that".into());
            }
        }
        let no_vars: Vec<bool> = vec![false; k.vars.len()];
        self.region(&k.prelude, &no_vars)?;
        let mut domain = no_vars;
        domain[..k.rank].iter_mut().for_each(|b| *b = true);
        self.region(&k.body, &domain)?;
        for output in &k.outputs {
            self.expect(output.value, Type::Number)?;
        }
        if self.placed.len() != k.nodes.len() {
            return Err("a node is not placed in any region".into());
        }
        Ok(())
    }

    fn buffer(&self, id: BufferId) -> Result<&super::Buffer, String> {
        self.program.buffers.get(id.index()).ok_or_else(|| format!("unknown buffer b{}", id.0))
    }

    /// Checks `region` with `bound` variables in scope; its definitions go out of scope after.
    fn region(&mut self, region: &Region, bound: &[bool]) -> Result<(), String> {
        for &id in &region.items {
            if !self.placed.insert(id) {
                return Err(format!("v{} is placed twice", id.0));
            }
            let node = self.kernel.nodes.get(id.index()).ok_or_else(|| format!("unknown node v{}", id.0))?;
            match node {
                Node::Reduce(r) => {
                    let mut inner = bound.to_vec();
                    for var in &r.vars {
                        let slot = inner.get_mut(var.index()).ok_or("unknown reduction variable")?;
                        if *slot {
                            return Err(format!("i{} is bound twice", var.0));
                        }
                        *slot = true;
                    }
                    self.region(&r.region, &inner)?;
                    if let Some(filter) = r.filter {
                        self.expect(filter, Type::Boolean)?;
                    }
                    self.expect(r.value, Type::Number)?;
                    for item in &r.region.items {
                        self.defined[item.index()] = false;
                    }
                }
                Node::Index(var) => self.var(*var, bound)?,
                Node::Load(load) => self.load(load, bound)?,
                other => {
                    for operand in other.operands() {
                        self.ty(operand)?;
                    }
                }
            }
            self.types[id.index()] = self.node_type(node)?;
            self.defined[id.index()] = true;
        }
        Ok(())
    }

    fn var(&self, var: VarId, bound: &[bool]) -> Result<(), String> {
        match bound.get(var.index()) {
            Some(true) => Ok(()),
            _ => Err(format!("i{} used outside its scope", var.0)),
        }
    }

    fn load(&self, load: &Load, bound: &[bool]) -> Result<(), String> {
        let buffer = self.buffer(load.buffer)?;
        if load.index.len() != buffer.shape.len() || load.axes.len() != buffer.shape.len() {
            return Err(format!("load of `{}` has the wrong number of indices", buffer.name));
        }
        for ((affine, access), &extent) in load.index.iter().zip(&load.axes).zip(&buffer.shape) {
            let (mut lo, mut hi) = (affine.offset, affine.offset);
            for &(var, coeff) in &affine.terms {
                self.var(var, bound)?;
                let top = self.kernel.vars[var.index()] as i64 - 1;
                lo += (coeff * top).min(0);
                hi += (coeff * top).max(0);
            }
            if *access == Access::Direct && (lo < 0 || hi >= extent as i64) {
                return Err(format!("direct load of `{}` may leave 0..{extent} ({lo}..={hi})", buffer.name));
            }
        }
        Ok(())
    }

    /// An in-place update's index: inside the buffer, each domain variable alone on one axis.
    fn update(&self, buffer: BufferId, index: &[super::Affine]) -> Result<(), String> {
        let k = self.kernel;
        let mut domain = vec![false; k.vars.len()];
        domain[..k.rank].iter_mut().for_each(|b| *b = true);
        let axes = vec![Access::Direct; index.len()];
        self.load(&Load { buffer, index: index.to_vec(), axes, fill: 0.0 }, &domain)?;
        let mut seen = vec![false; k.rank];
        for affine in index {
            match affine.terms.as_slice() {
                [] => {}
                [(v, c)] if *c != 0 && !std::mem::replace(&mut seen[v.index()], true) => {}
                _ => return Err("an update's index must give each domain variable one axis of its own".into()),
            }
        }
        if seen.contains(&false) {
            return Err("an update's index must use every domain variable (distinct points, distinct elements)".into());
        }
        Ok(())
    }

    fn ty(&self, id: NodeId) -> Result<Type, String> {
        if !self.defined.get(id.index()).copied().unwrap_or(false) {
            return Err(format!("v{} used before its definition or outside its region", id.0));
        }
        Ok(self.types[id.index()])
    }

    fn expect(&self, id: NodeId, want: Type) -> Result<(), String> {
        let found = self.ty(id)?;
        if found == want { Ok(()) } else { Err(format!("v{} is a {found:?}, expected a {want:?}", id.0)) }
    }

    /// The type of a node whose operands are in scope, checking operand types.
    fn node_type(&self, node: &Node) -> Result<Type, String> {
        let number = |id: &NodeId| self.expect(*id, Type::Number);
        let boolean = |id: &NodeId| self.expect(*id, Type::Boolean);
        Ok(match node {
            Node::Const(_) | Node::Index(_) | Node::Load(_) | Node::Reduce(_) => Type::Number,
            Node::Unary(_, a) => {
                number(a)?;
                Type::Number
            }
            Node::Binary(_, a, b) => {
                number(a)?;
                number(b)?;
                Type::Number
            }
            Node::Compare(_, a, b) => {
                number(a)?;
                number(b)?;
                Type::Boolean
            }
            Node::And(a, b) | Node::Or(a, b) => {
                boolean(a)?;
                boolean(b)?;
                Type::Boolean
            }
            Node::Not(a) => {
                boolean(a)?;
                Type::Boolean
            }
            Node::Select(c, a, b) => {
                boolean(c)?;
                let t = self.ty(*a)?;
                if t == Type::Word {
                    return Err("a select chooses numbers or booleans, not words".into());
                }
                self.expect(*b, t)?;
                t
            }
            Node::WordConst(_) => Type::Word,
            Node::ToWord(a) => {
                number(a)?;
                Type::Word
            }
            Node::Word(_, a, b) => {
                self.expect(*a, Type::Word)?;
                self.expect(*b, Type::Word)?;
                Type::Word
            }
            Node::FromWord(a) => {
                self.expect(*a, Type::Word)?;
                Type::Number
            }
            Node::Unit(hi, lo) => {
                self.expect(*hi, Type::Word)?;
                self.expect(*lo, Type::Word)?;
                Type::Number
            }
            Node::MulAdd(a, b, c) => {
                number(a)?;
                number(b)?;
                number(c)?;
                Type::Number
            }
        })
    }
}
