//! The Noether compiler: `.noe` source -> checked model -> Kernel IR.
pub mod diag;
pub mod syntax;
