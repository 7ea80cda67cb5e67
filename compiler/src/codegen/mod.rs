//! Code generation: Kernel IR -> what an engine runs, one writer per target.
//!
//! | module | target |
//! |---|---|
//! | [`clif`] | Cranelift IR, compiled to native code by the JIT |
//! | [`opencl`] | OpenCL C source, built for a device by the OpenCL engine |
//!
//! # The kernel ABI
//!
//! Both targets run a kernel over the same storage, the program's buffers: buffer `b`
//! (`BufferId(b)`) is `len` contiguous `f64`s in row-major order, `len` the product of its shape;
//! the caller guarantees the lengths. They divide a kernel's work the same way, by its
//! [`Partition`]: for `Partition::Rows` (and `Single`) a piece of work computes the domain points
//! whose first index lies in a range of rows; for `Partition::ScatterRows` it visits every domain
//! point in order and adds only the contributions whose position on the target's first axis
//! lies in its rows. Pieces on disjoint rows write disjoint elements and may run at once; a
//! `Single` kernel is one piece. A rank-0 kernel has one row; a kernel visiting a list of points
//! ([`Visit::Listed`]) visits the list's positions. So every engine computes, for any division,
//! what the interpreter computes visiting the domain in order, bit for bit where the operations
//! are exactly specified.
//!
//! The targets differ in how the buffers and the rows reach a kernel: a Cranelift kernel takes a
//! table of every buffer's address and a range `lo..hi` of rows ([`clif`]); an OpenCL kernel
//! takes the buffers it uses as arguments and one work item per row ([`opencl`]).
//!
//! [`Partition`]: crate::ir::Partition
//! [`Visit::Listed`]: crate::ir::Visit::Listed

pub mod clif;
pub mod opencl;

/// A kernel that could not be translated: a compiler bug, named by kernel.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("cannot generate code for kernel `{kernel}`: {message}")]
pub struct CodegenError {
    /// The kernel's name.
    pub kernel: String,
    /// What went wrong.
    pub message: String,
}
