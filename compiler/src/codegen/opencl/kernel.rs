//! One IR kernel as one OpenCL C `__kernel`: regions become nested blocks, nodes statements.

use std::collections::BTreeSet;
use std::fmt::Write;

use super::{Precision, WorkItems};
use crate::builtins::ReduceOp;
use crate::ir::{
    Access, Affine, BufferId, Kernel, Load, Node, NodeId, Partition, Program, Reduction, Region, Store, Visit,
};
use crate::ops::{Binary, Unary, WordOp};

/// What a node's C variable holds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Type {
    Number,
    Boolean,
    Word,
}

impl Type {
    fn c(self) -> &'static str {
        match self {
            Type::Number => "real",
            Type::Boolean => "int",
            Type::Word => "uint",
        }
    }
}

/// The source of `kernel` as `__kernel void {function}(...)`, the buffers it takes and how
/// many work items to launch.
pub(super) fn write(
    program: &Program,
    kernel: &Kernel,
    function: &str,
    layout: WorkItems,
    precision: Precision,
) -> Result<(String, Vec<BufferId>, usize), String> {
    let buffers = used_buffers(kernel);
    let mut writer = Writer {
        program,
        kernel,
        precision,
        types: vec![Type::Number; kernel.nodes.len()],
        code: String::new(),
        depth: 1,
    };
    // Every buffer is its own argument, distinct from the others (an updated buffer is one
    // argument, read and written), so none aliases another: `restrict` lets the device
    // compiler vectorise a row's loop.
    let parameters: Vec<String> = buffers.iter().map(|b| format!("__global real *restrict b{}", b.index())).collect();
    let mut code = format!("/* kernel `{}` */\n__kernel void {function}({}) {{\n", kernel.name, parameters.join(", "));
    writer.region(&kernel.prelude)?;
    let extents = kernel.domain();
    let points = kernel.points();
    let work_items = match (kernel.partition(program), layout) {
        (Partition::Rows, WorkItems::Rows) if extents.len() >= 2 => {
            let (last, length) = (extents.len() - 1, extents[extents.len() - 1]);
            writer.line("long row = get_global_id(0);");
            writer.unflatten("row", &extents[..last]);
            writer.open(&format!("for (long i{last} = 0; i{last} < {length}L; i{last}++) {{"));
            writer.line(&format!("long point = row * {length}L + i{last};"));
            writer.point(Indices::Set, None)?;
            writer.close();
            points / length
        }
        (Partition::Rows, _) => {
            writer.line("long point = get_global_id(0);");
            writer.point(Indices::FromPoint, None)?;
            points
        }
        (Partition::ScatterRows(target), _) => {
            writer.line("long row = get_global_id(0);");
            writer.open(&format!("for (long point = 0; point < {points}L; point++) {{"));
            writer.point(Indices::FromPoint, Some("row"))?;
            writer.close();
            program.buffer(target).shape[0]
        }
        (Partition::Single, _) => {
            match kernel.visit {
                Visit::RowMajor => {
                    writer.open(&format!("for (long point = 0; point < {points}L; point++) {{"));
                    writer.point(Indices::FromPoint, None)?;
                    writer.close();
                }
                Visit::Listed(list) => {
                    let count = program.buffer(list).len();
                    writer.open(&format!("for (long listed = 0; listed < {count}L; listed++) {{"));
                    writer.line(&format!("long point = (long)b{}[listed];", list.index()));
                    writer.point(Indices::FromPoint, None)?;
                    writer.close();
                }
            }
            1
        }
    };
    code.push_str(&writer.code);
    code.push_str("}\n\n");
    Ok((code, buffers, work_items))
}

/// Whether the domain's index variables are to be computed from `point`, or are set already.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Indices {
    FromPoint,
    Set,
}

/// Every buffer the kernel reads or writes, in increasing order.
fn used_buffers(kernel: &Kernel) -> Vec<BufferId> {
    let mut used: BTreeSet<BufferId> = kernel.outputs.iter().map(|o| o.buffer).collect();
    used.extend(kernel.nodes.iter().filter_map(|n| match n {
        Node::Load(load) => Some(load.buffer),
        _ => None,
    }));
    if let Visit::Listed(list) = kernel.visit {
        used.insert(list);
    }
    used.into_iter().collect()
}

struct Writer<'p> {
    program: &'p Program,
    kernel: &'p Kernel,
    precision: Precision,
    types: Vec<Type>,
    code: String,
    depth: usize,
}

impl Writer<'_> {
    fn line(&mut self, text: &str) {
        writeln!(self.code, "{:indent$}{text}", "", indent = 4 * self.depth).expect("writing to a String");
    }

    fn open(&mut self, text: &str) {
        self.line(text);
        self.depth += 1;
    }

    fn close(&mut self) {
        self.depth -= 1;
        self.line("}");
    }

    /// Declares `i0, i1, ...` as the row-major position of the flat index `flat` in `extents`.
    fn unflatten(&mut self, flat: &str, extents: &[usize]) {
        match extents.len() {
            0 => {}
            1 => self.line(&format!("long i0 = {flat};")),
            _ => {
                self.line(&format!("long rest = {flat};"));
                for axis in (0..extents.len()).rev() {
                    self.line(&format!("long i{axis} = rest % {}L;", extents[axis]));
                    if axis > 0 {
                        self.line(&format!("rest /= {}L;", extents[axis]));
                    }
                }
            }
        }
    }

    /// The body at the domain point `point` (a C variable), then its stores; with `row`, a
    /// scatter adds only into that row of its target.
    fn point(&mut self, indices: Indices, row: Option<&str>) -> Result<(), String> {
        self.open("{");
        if indices == Indices::FromPoint {
            let domain = self.kernel.domain().to_vec();
            self.unflatten("point", &domain);
        }
        self.region(&self.kernel.body)?;
        for output in &self.kernel.outputs {
            let target = format!("b{}", output.buffer.index());
            let value = format!("v{}", output.value.index());
            match &output.store {
                Store::Assign => self.line(&format!("{target}[point] = {value};")),
                Store::Add => self.line(&format!("{target}[point] += {value};")),
                Store::Scatter { index, axes } => {
                    let (inside, positions) = self.positions(output.buffer, index, axes, "s");
                    let mut conditions: Vec<String> = inside.into_iter().collect();
                    if let Some(row) = row {
                        conditions.push(format!("{} == {row}", positions[0]));
                    }
                    let flat = self.flat(output.buffer, &positions);
                    let store = format!("{target}[{flat}] += {value};");
                    if conditions.is_empty() {
                        self.line(&store);
                    } else {
                        self.line(&format!("if ({}) {store}", conditions.join(" && ")));
                    }
                }
                Store::Update { index } => {
                    let positions: Vec<String> = index.iter().map(affine).collect();
                    let flat = self.flat(output.buffer, &positions);
                    self.line(&format!("{target}[{flat}] = {value};"));
                }
            }
        }
        self.close();
        Ok(())
    }

    fn region(&mut self, region: &Region) -> Result<(), String> {
        for &id in &region.items {
            self.node(id)?;
        }
        Ok(())
    }

    fn define(&mut self, id: NodeId, ty: Type, expression: &str) {
        self.types[id.index()] = ty;
        self.line(&format!("{} v{} = {expression};", ty.c(), id.index()));
    }

    fn node(&mut self, id: NodeId) -> Result<(), String> {
        let v = |n: &NodeId| format!("v{}", n.index());
        let (ty, expression) = match self.kernel.node(id) {
            Node::Const(value) => (Type::Number, self.precision.literal(*value)),
            Node::Index(var) => (Type::Number, format!("(real)i{}", var.index())),
            Node::Load(load) => (Type::Number, self.load(id, load)),
            Node::Unary(op, a) => (Type::Number, unary(*op, &v(a))),
            Node::Binary(op, a, b) => (Type::Number, binary(*op, &v(a), &v(b))),
            Node::Compare(op, a, b) => (Type::Boolean, format!("{} {} {}", v(a), op.symbol(), v(b))),
            Node::And(a, b) => (Type::Boolean, format!("{} && {}", v(a), v(b))),
            Node::Or(a, b) => (Type::Boolean, format!("{} || {}", v(a), v(b))),
            Node::Not(a) => (Type::Boolean, format!("!{}", v(a))),
            Node::Select(c, a, b) => (self.types[a.index()], format!("{} ? {} : {}", v(c), v(a), v(b))),
            Node::MulAdd(a, b, c) => (Type::Number, format!("fma({}, {}, {})", v(a), v(b), v(c))),
            Node::Reduce(reduction) => (Type::Number, self.reduce(id, reduction)?),
            Node::WordConst(word) => (Type::Word, format!("{word}U")),
            Node::ToWord(a) => (Type::Word, format!("noether_to_word({})", v(a))),
            Node::Word(op, a, b) => (Type::Word, word(*op, &v(a), &v(b))),
            Node::FromWord(a) => (Type::Number, format!("(real){}", v(a))),
            Node::Unit(hi, lo) => (Type::Number, format!("noether_unit({}, {})", v(hi), v(lo))),
        };
        self.define(id, ty, &expression);
        Ok(())
    }

    /// The value of `load` (node `id`), with its positions computed first.
    fn load(&mut self, id: NodeId, load: &Load) -> String {
        let prefix = format!("p{}_", id.index());
        let (inside, positions) = self.positions(load.buffer, &load.index, &load.axes, &prefix);
        let read = format!("b{}[{}]", load.buffer.index(), self.flat(load.buffer, &positions));
        match inside {
            Some(inside) => format!("({inside}) ? {read} : {}", self.precision.literal(load.fill)),
            None => read,
        }
    }

    /// Declares each axis's position of an index (named `{prefix}{axis}`) resolved by its
    /// boundary rule, and returns the condition under which every `Fill` axis is inside (`None`
    /// where none can be outside) and the positions.
    fn positions(
        &mut self,
        buffer: BufferId,
        index: &[Affine],
        axes: &[Access],
        prefix: &str,
    ) -> (Option<String>, Vec<String>) {
        let shape = self.program.buffer(buffer).shape.clone();
        let mut inside = Vec::new();
        let mut positions = Vec::new();
        for (axis, ((affine_index, access), &extent)) in index.iter().zip(axes).zip(&shape).enumerate() {
            let name = format!("{prefix}{axis}");
            let raw = affine(affine_index);
            let resolved = match access {
                Access::Direct => raw,
                Access::Fill => {
                    inside.push(format!("{name} >= 0 && {name} < {extent}L"));
                    raw
                }
                Access::Periodic => format!("noether_periodic({raw}, {extent}L)"),
                Access::Clamp => format!("noether_clamp({raw}, {extent}L)"),
                Access::Reflect => format!("noether_reflect({raw}, {extent}L)"),
            };
            self.line(&format!("long {name} = {resolved};"));
            positions.push(name);
        }
        ((!inside.is_empty()).then(|| inside.join(" && ")), positions)
    }

    /// The flat row-major position of `positions` in `buffer`.
    fn flat(&self, buffer: BufferId, positions: &[String]) -> String {
        let shape = &self.program.buffer(buffer).shape;
        let mut flat = String::from("0");
        for (axis, position) in positions.iter().enumerate() {
            flat = if axis == 0 { position.clone() } else { format!("({flat}) * {}L + {position}", shape[axis]) };
        }
        flat
    }

    /// Declares `v{id}` and computes the reduction into it in a loop nest; returns its final
    /// expression.
    fn reduce(&mut self, id: NodeId, r: &Reduction) -> Result<String, String> {
        let n = id.index();
        let initial = match r.op {
            ReduceOp::Sum | ReduceOp::Mean => "0",
            ReduceOp::Max => "(-INFINITY)",
            ReduceOp::Min => "INFINITY",
        };
        self.line(&format!("real acc{n} = {initial};"));
        self.line(&format!("long count{n} = 0;"));
        for var in &r.vars {
            let extent = self.kernel.vars[var.index()];
            let i = var.index();
            self.open(&format!("for (long i{i} = 0; i{i} < {extent}L; i{i}++) {{"));
        }
        self.region(&r.region)?;
        let value = format!("v{}", r.value.index());
        let fold = match r.op {
            ReduceOp::Sum | ReduceOp::Mean => format!("acc{n} = acc{n} + {value};"),
            ReduceOp::Max => format!("acc{n} = noether_max(acc{n}, {value});"),
            ReduceOp::Min => format!("acc{n} = noether_min(acc{n}, {value});"),
        };
        match r.filter {
            Some(filter) => self.line(&format!("if (v{}) {{ {fold} count{n}++; }}", filter.index())),
            None => self.line(&format!("{fold} count{n}++;")),
        }
        for _ in &r.vars {
            self.close();
        }
        Ok(match r.op {
            ReduceOp::Mean => format!("count{n} == 0 ? NAN : acc{n} / (real)count{n}"),
            _ => format!("acc{n}"),
        })
    }
}

/// An affine index as a C `long` expression.
fn affine(a: &Affine) -> String {
    let mut text = String::new();
    for (var, coefficient) in &a.terms {
        let term = match coefficient {
            1 => format!("i{}", var.index()),
            c => format!("{c}L * i{}", var.index()),
        };
        if !text.is_empty() {
            text.push_str(" + ");
        }
        text.push_str(&term);
    }
    if text.is_empty() {
        return format!("{}L", a.offset);
    }
    if a.offset != 0 {
        write!(text, " + ({}L)", a.offset).expect("writing to a String");
    }
    format!("({text})")
}

fn unary(op: Unary, a: &str) -> String {
    let call = |f: &str| format!("{f}({a})");
    match op {
        Unary::Neg => format!("-{a}"),
        Unary::Exp => call("noether_exp"),
        Unary::Log => call("noether_log"),
        Unary::Sin => call("noether_sin"),
        Unary::Cos => call("noether_cos"),
        Unary::Sqrt => call("sqrt"),
        Unary::Tan => call("noether_tan"),
        Unary::Tanh => call("noether_tanh"),
        Unary::Sinh => call("noether_sinh"),
        Unary::Cosh => call("noether_cosh"),
        Unary::Asin => call("noether_asin"),
        Unary::Acos => call("noether_acos"),
        Unary::Atan => call("noether_atan"),
        Unary::Abs => call("fabs"),
        Unary::Floor => call("floor"),
        Unary::Ceil => call("ceil"),
        Unary::Round => call("round"),
        Unary::Sign => call("noether_sign"),
        Unary::Powi(n) => format!("noether_powi({a}, {n})"),
    }
}

fn binary(op: Binary, a: &str, b: &str) -> String {
    match op {
        Binary::Add => format!("{a} + {b}"),
        Binary::Sub => format!("{a} - {b}"),
        Binary::Mul => format!("{a} * {b}"),
        Binary::Div => format!("{a} / {b}"),
        Binary::FloorDiv => format!("floor({a} / {b})"),
        Binary::Mod => format!("{a} - {b} * floor({a} / {b})"),
        Binary::Pow => format!("noether_pow({a}, {b})"),
        Binary::Min => format!("noether_min({a}, {b})"),
        Binary::Max => format!("noether_max({a}, {b})"),
        Binary::Atan2 => format!("noether_atan2({a}, {b})"),
    }
}

fn word(op: WordOp, a: &str, b: &str) -> String {
    match op {
        WordOp::Add => format!("{a} + {b}"),
        WordOp::Xor => format!("{a} ^ {b}"),
        WordOp::MulLo => format!("{a} * {b}"),
        WordOp::MulHi => format!("mul_hi({a}, {b})"),
    }
}
