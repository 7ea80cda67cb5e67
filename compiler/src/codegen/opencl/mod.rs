//! Kernel IR -> OpenCL C, one `__kernel` per IR kernel, for the OpenCL engine.
//!
//! Kernel `k` of a program becomes `__kernel void k{k}(__global real *restrict b{i}, ...)` (`real` is
//! `double`, or `float` in [`Precision::F32`]), taking the
//! buffers it uses (loads, outputs, a visiting list) in increasing [`BufferId`] order, as
//! [`Entry::buffers`] lists them; [`Entry::work_items`] says how many work items to launch, by
//! the kernel's [`Partition`] (see [the kernel ABI](super)):
//! - `Rows`: one work item per domain point (its flat row-major position is the global id), or
//!   per row of the domain ([`WorkItems`]);
//! - `ScatterRows(target)`: one per row of the target; each visits every point in order and adds
//!   only what lands in its row;
//! - `Single`: one, visiting every point (or the listed ones) in order.
//!
//! The code says exactly what the IR says, so the device computes the interpreter's bits:
//! `#pragma OPENCL FP_CONTRACT OFF` (no fused multiply-adds), no fast-math options, every
//! operation of [`crate::ops`] spelled out with its edge cases (`min`/`max` on NaN and signed
//! zeros, `to_word`'s saturation, `powi`'s multiplication order), and `exp`, `log`, `sin`, `cos`,
//! `tanh`, `sinh`, `cosh`
//! printed from [`crate::math`]'s algorithms. OpenCL's own functions are used for
//! `tan`, `asin`, `acos`, `atan`, `atan2` and `pow`, which Noether does
//! not define bit for bit yet: there a device agrees with the interpreter to a few ulps.
//!
//! [`Partition`]: crate::ir::Partition
//!
//! Reductions run in a work item's own loop, in visiting order, so sums agree bit for bit too.

mod kernel;
mod math;

use std::fmt::Write;

use super::CodegenError;
use crate::ir::{BufferId, Program};

/// A program as OpenCL C: the source of every kernel, and how to call each.
#[derive(Clone, Debug, PartialEq)]
pub struct Source {
    /// The whole OpenCL C program.
    pub text: String,
    /// How to launch each kernel, by [`crate::ir::KernelId`].
    pub kernels: Vec<Entry>,
}

/// How to launch one kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The `__kernel` function's name (`k0`, `k1`, ...).
    pub function: String,
    /// The buffers it takes, in argument order.
    pub buffers: Vec<BufferId>,
    /// How many work items to launch (the global size; any local size).
    pub work_items: usize,
}

/// A kernel in the source of every program, `(values, finite)`: with one work item per element
/// of `values`, sets the `int` at `finite` to 0 if some element is NaN or infinite.
pub const CHECK_FINITE: &str = "noether_check_finite";

/// A kernel in the source of every program, `(buffer, index: ulong, value: real)`: with one
/// work item, sets element `index` of `buffer` to `value`.
pub const SET_ELEMENT: &str = "noether_set_element";

/// How a `Rows` kernel's points are divided between work items.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkItems {
    /// One point each: for GPUs, where neighbouring work items read neighbouring elements.
    Points,
    /// One row each (every axis but the last), looping over it, on domains of rank 2 and more;
    /// a point each on rank 1: for CPU devices, which run a work item's loop over a row as
    /// vector code (heat 1024² on POCL: 4.8 ms a step with a point per work item, 1.3 ms with a
    /// row), but vectorise long rank-1 bodies (Philox, `log`, `cos`) better across work items
    /// than along a loop.
    Rows,
}

/// The floating-point type a program computes in on the device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    /// `double` (needs `cl_khr_fp64`): the interpreter's bits.
    #[default]
    F64,
    /// `float`, for devices without double precision or slow at it: every value (buffers
    /// included) is rounded to 24 bits, and `exp`, `log`, `sin`, `cos`, `tanh`, `sinh`, `cosh` are the device's (within
    /// 4 ulp by the OpenCL specification), so results agree with the f64 engines only to a
    /// tolerance (see the README).
    F32,
}

impl Precision {
    /// The OpenCL C type of a number.
    pub fn c_type(self) -> &'static str {
        match self {
            Precision::F64 => "double",
            Precision::F32 => "float",
        }
    }

    /// Its name on the command line (`f64`, `f32`).
    pub fn name(self) -> &'static str {
        match self {
            Precision::F64 => "f64",
            Precision::F32 => "f32",
        }
    }

    /// `value` as a literal of this precision that reads back as the same bits (rounded to
    /// `float` first in single precision).
    pub(crate) fn literal(self, value: f64) -> String {
        match self {
            Precision::F64 => literal(value),
            Precision::F32 => match value as f32 {
                single if !single.is_finite() => literal(f64::from(single)),
                single if single.is_sign_negative() => format!("({single:?}f)"),
                single => format!("{single:?}f"),
            },
        }
    }
}

/// Writes `program` as OpenCL C computing in `precision`.
pub fn write(program: &Program, layout: WorkItems, precision: Precision) -> Result<Source, CodegenError> {
    let mut text = String::from("/* Generated by Noether from Kernel IR; see noether_compiler::codegen::opencl. */\n");
    if precision == Precision::F64 {
        text.push_str("#pragma OPENCL EXTENSION cl_khr_fp64 : enable\n");
    }
    writeln!(text, "typedef {} real;", precision.c_type()).expect("writing to a String");
    text.push_str(include_str!("prelude.cl"));
    text.push_str(&math::functions(precision));
    let mut kernels = Vec::with_capacity(program.kernels.len());
    for (index, kernel) in program.kernels.iter().enumerate() {
        let function = format!("k{index}");
        let (code, buffers, work_items) = kernel::write(program, kernel, &function, layout, precision)
            .map_err(|message| CodegenError { kernel: kernel.name.clone(), message })?;
        text.push_str(&code);
        kernels.push(Entry { function, buffers, work_items });
    }
    Ok(Source { text, kernels })
}

/// `noether emit --stage opencl [--precision f32]`: the program's OpenCL C for a GPU (a point
/// per work item), each kernel's launch in a comment.
pub fn emit_opencl(program: &Program, precision: Precision) -> Result<String, CodegenError> {
    let source = write(program, WorkItems::Points, precision)?;
    let mut out = source.text;
    out.push_str("/* Launches:\n");
    for (entry, kernel) in source.kernels.iter().zip(&program.kernels) {
        let buffers: Vec<String> = entry.buffers.iter().map(|b| program.buffer(*b).name.clone()).collect();
        writeln!(
            out,
            "   {} ({}): {} work items; buffers {}",
            entry.function,
            kernel.name,
            entry.work_items,
            buffers.join(", ")
        )
        .expect("writing to a String");
    }
    out.push_str("*/\n");
    Ok(out)
}

/// A double as an OpenCL C literal that reads back as the same bits.
pub(crate) fn literal(value: f64) -> String {
    if value.is_nan() {
        "NAN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "INFINITY".into() } else { "(-INFINITY)".into() }
    } else if value.is_sign_negative() {
        format!("({value:?})")
    } else {
        format!("{value:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_read_back_exactly() {
        for value in [0.1, -0.0, 1e-310, f64::MAX, 1.0 / 3.0, 2.0, -7.5e100] {
            let text = literal(value);
            let parsed: f64 = text.trim_matches(|c| c == '(' || c == ')').parse().expect("a number");
            assert_eq!(parsed.to_bits(), value.to_bits(), "{text}");
        }
        assert_eq!(literal(f64::NEG_INFINITY), "(-INFINITY)");
        assert_eq!(literal(f64::NAN), "NAN");
    }
}
