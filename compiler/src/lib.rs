//! The Noether compiler: `.noe` source -> checked model -> Kernel IR.
pub mod diag;
pub mod syntax;
pub mod builtins;
pub mod resolve;
pub mod stdlib;
