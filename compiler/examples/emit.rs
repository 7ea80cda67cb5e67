fn main() {
    let path = std::env::args().nth(1).expect("path");
    let text = std::fs::read_to_string(&path).expect("read");
    let source = noether_compiler::diag::Source::new(path, text);
    match noether_compiler::compile(&source, &[noether_compiler::resolve::Override { name: "N".into(), value: 4.0 }]) {
        Ok(c) => print!("{}", noether_compiler::ir::print(&c.program)),
        Err(f) => eprint!("{}", f.render_plain(80)),
    }
}
