//! The text form of a program (`noether emit --stage ir`), stable for snapshot tests.

use std::fmt::Write;

use super::{Kernel, Load, Node, NodeId, Program, Region, VarId};

/// The whole program as text: its buffers, then each kernel, then the procedures.
pub fn print(program: &Program) -> String {
    let mut out = String::new();
    for (i, buffer) in program.buffers.iter().enumerate() {
        let shape: Vec<String> = buffer.shape.iter().map(usize::to_string).collect();
        writeln!(out, "buffer b{i} {} [{}]", buffer.name, shape.join(", ")).expect("write to String");
    }
    for (i, kernel) in program.kernels.iter().enumerate() {
        out.push('\n');
        print_kernel(&mut out, program, i, kernel);
    }
    out.push('\n');
    for procedure in &program.procedures {
        let kernels: String = procedure.kernels.iter().map(|k| format!(" k{}", k.0)).collect();
        writeln!(out, "procedure {}:{kernels}", procedure.name).expect("write to String");
    }
    out
}

fn var_name(v: VarId) -> String {
    format!("i{}", v.0)
}

fn print_kernel(out: &mut String, program: &Program, index: usize, kernel: &Kernel) {
    let domain: Vec<String> = kernel.domain().iter().enumerate().map(|(v, e)| format!("i{v} < {e}")).collect();
    let visit = match kernel.visit {
        super::Visit::RowMajor => String::new(),
        super::Visit::Listed(list) => format!(" in the order of {}", program.buffer(list).name),
    };
    writeln!(out, "kernel k{index} {} [{}]{visit}", kernel.name, domain.join(", ")).expect("write to String");
    if !kernel.prelude.items.is_empty() {
        out.push_str("  prelude:\n");
        print_region(out, program, kernel, &kernel.prelude, 2);
    }
    out.push_str("  body:\n");
    print_region(out, program, kernel, &kernel.body, 2);
    for output in &kernel.outputs {
        let name = &program.buffer(output.buffer).name;
        let line = match &output.store {
            super::Store::Assign => format!("  store {name} = v{}", output.value.0),
            super::Store::Add => format!("  store {name} += v{}", output.value.0),
            super::Store::Scatter { index, axes } => {
                let load = Load { buffer: output.buffer, index: index.clone(), axes: axes.clone(), fill: 0.0 };
                let target = load_text(program, &load).trim_start_matches("load ").replace(" fill 0.0", "");
                format!("  scatter {target} += v{}", output.value.0)
            }
            super::Store::Update { index } => {
                let index: Vec<String> = index.iter().map(|a| a.display(&var_name)).collect();
                format!("  update {name}[{}] = v{}", index.join(", "), output.value.0)
            }
        };
        writeln!(out, "{line}").expect("write to String");
    }
}

fn print_region(out: &mut String, program: &Program, kernel: &Kernel, region: &Region, depth: usize) {
    let pad = "  ".repeat(depth);
    for &id in &region.items {
        let text = match kernel.node(id) {
            Node::Reduce(r) => {
                let vars: Vec<String> =
                    r.vars.iter().map(|v| format!("{} < {}", var_name(*v), kernel.vars[v.index()])).collect();
                let filter = r.filter.map(|f| format!(" where v{}", f.0)).unwrap_or_default();
                writeln!(out, "{pad}v{} = {} [{}]{filter} of v{} {{", id.0, r.op.name(), vars.join(", "), r.value.0)
                    .expect("write to String");
                print_region(out, program, kernel, &r.region, depth + 1);
                writeln!(out, "{pad}}}").expect("write to String");
                continue;
            }
            node => node_text(program, node),
        };
        writeln!(out, "{pad}v{} = {text}", id.0).expect("write to String");
    }
}

fn v(id: NodeId) -> String {
    format!("v{}", id.0)
}

fn node_text(program: &Program, node: &Node) -> String {
    match node {
        Node::Const(value) => format!("const {value:?}"),
        Node::Index(var) => format!("index {}", var_name(*var)),
        Node::Load(load) => load_text(program, load),
        Node::Unary(op, a) => format!("{op} {}", v(*a)),
        Node::Binary(op, a, b) => format!("{} {} {}", op.name(), v(*a), v(*b)),
        Node::Compare(op, a, b) => format!("{} {} {}", op.name(), v(*a), v(*b)),
        Node::And(a, b) => format!("and {} {}", v(*a), v(*b)),
        Node::Or(a, b) => format!("or {} {}", v(*a), v(*b)),
        Node::Not(a) => format!("not {}", v(*a)),
        Node::Select(c, a, b) => format!("select {} {} {}", v(*c), v(*a), v(*b)),
        Node::Reduce(_) => unreachable!("printed as a block"),
        Node::WordConst(w) => format!("word {w:#010x}"),
        Node::ToWord(a) => format!("to_word {}", v(*a)),
        Node::Word(op, a, b) => format!("{} {} {}", op.name(), v(*a), v(*b)),
        Node::FromWord(a) => format!("from_word {}", v(*a)),
        Node::Unit(hi, lo) => format!("unit {} {}", v(*hi), v(*lo)),
        Node::MulAdd(a, b, c) => format!("muladd {} {} {}", v(*a), v(*b), v(*c)),
    }
}

fn load_text(program: &Program, load: &Load) -> String {
    let index: Vec<String> = load.index.iter().map(|a| a.display(&var_name)).collect();
    let mut text = format!("load {}[{}]", program.buffer(load.buffer).name, index.join(", "));
    if load.axes.iter().any(|a| *a != super::Access::Direct) {
        let axes: Vec<&str> = load.axes.iter().map(|a| a.name()).collect();
        write!(text, " ({})", axes.join(", ")).expect("write to String");
    }
    if load.axes.contains(&super::Access::Fill) {
        write!(text, " fill {:?}", load.fill).expect("write to String");
    }
    text
}
