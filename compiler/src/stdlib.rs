//! The standard library's Noether sources, embedded at build time (see `stdlib/README.md`).

/// One standard-library module.
#[derive(Clone, Copy, Debug)]
pub struct StdModule {
    /// The name after `std.` in `use std.NAME`; the prelude is always loaded.
    pub name: &'static str,
    /// The module's Noether source.
    pub text: &'static str,
}

/// Loaded before every script: stencils (`laplacian`), activations and potentials.
pub const PRELUDE: StdModule = StdModule { name: "prelude", text: include_str!("../../stdlib/prelude.noe") };

/// Every module, the prelude first.
pub const MODULES: [StdModule; 3] = [
    PRELUDE,
    StdModule { name: "fd4", text: include_str!("../../stdlib/fd4.noe") },
    StdModule { name: "nn", text: include_str!("../../stdlib/nn.noe") },
];

/// The module `use std.NAME` refers to.
pub fn find(name: &str) -> Option<StdModule> {
    MODULES.into_iter().find(|m| m.name == name && m.name != PRELUDE.name)
}

/// Names of the modules a script can `use`.
pub fn importable() -> impl Iterator<Item = &'static str> {
    MODULES.into_iter().map(|m| m.name).filter(|n| *n != PRELUDE.name)
}
