//! Kernel IR -> Cranelift IR, one function per kernel, for the JIT.
//!
//! Every kernel becomes
//!
//! ```text
//! extern "C" fn kernel(buffers: *const *mut f64, lo: i64, hi: i64)
//! ```
//!
//! `buffers[b]` points at the storage of buffer `b` (`BufferId(b)`), and `lo..hi` is a range of
//! rows of what the kernel's [`Partition`] divides, as [the kernel ABI](super) describes. Calls
//! on disjoint ranges of a `Rows` or `ScatterRows` kernel may run on different threads; a
//! `Single` kernel is called once, with the whole range.
//!
//! [`Partition`]: crate::ir::Partition
//!
//! # Shape of the code
//!
//! Outer domain axes are loops; values that do not depend on the innermost index are computed
//! once per row. The innermost loop is split where stencil reads cross the edge: near the edges
//! every read resolves its boundary rule, in the interior the reads that are proven in range
//! load directly (no wrap, no division). Where every interior operation allows it, the interior
//! runs two points at a time on `f64x2` vectors (see `vector`). Kernels whose rows hold
//! reductions (pair sums) run two rows at a time instead, each lane folding its own row's sum
//! (see `rows`). Lanes compute exactly what the scalar code would, so results match the
//! interpreter bit for bit. Math functions without a Cranelift
//! instruction are calls to the symbols in [`MATH_FUNCTIONS`], which an engine must provide with
//! the semantics of [`crate::ops`].

mod accept;
mod access;
mod fused;
mod interleave;
mod math;
mod reduce;
mod rows;
mod translate;
mod vector;

use cranelift_codegen::ir::{
    AbiParam, ExtFuncData, ExternalName, FuncRef, Function, InstBuilder, MemFlagsData, Signature, UserFuncName, types,
};
use cranelift_codegen::isa::{CallConv, TargetFrontendConfig};
use cranelift_frontend::FunctionBuilderContext;
use target_lexicon::PointerWidth;

use super::CodegenError;
use crate::ir::{Kernel, Program};
use crate::ops::{Binary, Unary};

/// Pointer-sized integers: the code generator targets 64-bit hosts.
pub const POINTER: types::Type = types::I64;

/// Loads of what a kernel only reads (its inputs, the buffer table): aligned, never trapping,
/// constant while the kernel runs, and in range wherever they are computed, so Cranelift may
/// merge equal ones and move them out of loops.
pub(crate) const READ_ONLY: MemFlagsData = MemFlagsData::trusted().with_readonly().with_can_move();

/// Choices that change the code but never the results.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Run interiors two points at a time where possible.
    pub vectorize: bool,
    /// The target multiplies 64-bit lanes in one instruction (x86's AVX-512DQ and VL
    /// `vpmullq`): a vectorised Philox round then multiplies its words by the round's constant
    /// without widening the constant, from the even and odd lanes of its counters' words (see
    /// `vector`).
    pub wide_products: bool,
}

/// What the translation of a kernel says about compiling it.
#[derive(Clone, Copy, Debug)]
pub struct Translated {
    /// Some innermost loop runs on vectors, whose independent chains (the lanes of several
    /// shifts, or pairs sharing a draw) are interleaved instruction by instruction. Cranelift's
    /// optimiser would re-schedule each chain to run whole before the next (it places a value
    /// where it is first used), leaving the processor one long dependency chain (a Philox
    /// draw, a logarithm) at a time: compile such a function as emitted (`opt_level` `none`).
    pub vectorized: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { vectorize: true, wide_products: false }
    }
}

/// Kernels with more uses of [`crate::math`]'s functions than this call them out of line (the
/// same algorithms, compiled into the engine) instead of emitting them inline: each inline use
/// is about a hundred instructions, and Cranelift's compile time grows faster than the
/// function's size (5,000 nested `sin`s took minutes).
pub const INLINE_MATH_LIMIT: usize = 64;

/// Whether `op` is one of [`crate::math`]'s functions, emitted inline where there are few.
pub fn is_inline_math(op: MathOp) -> bool {
    matches!(
        op,
        MathOp::Unary(
            Unary::Exp
                | Unary::Log
                | Unary::Sin
                | Unary::Cos
                | Unary::Tan
                | Unary::Asin
                | Unary::Acos
                | Unary::Atan
                | Unary::Tanh
                | Unary::Sinh
                | Unary::Cosh
        ) | MathOp::Binary(Binary::Pow | Binary::Atan2)
    )
}

/// External math functions kernels may call: symbol name, operation, number of arguments.
pub const MATH_FUNCTIONS: [(&str, MathOp); 14] = [
    ("noether_exp", MathOp::Unary(Unary::Exp)),
    ("noether_log", MathOp::Unary(Unary::Log)),
    ("noether_sin", MathOp::Unary(Unary::Sin)),
    ("noether_cos", MathOp::Unary(Unary::Cos)),
    ("noether_tan", MathOp::Unary(Unary::Tan)),
    ("noether_tanh", MathOp::Unary(Unary::Tanh)),
    ("noether_sinh", MathOp::Unary(Unary::Sinh)),
    ("noether_cosh", MathOp::Unary(Unary::Cosh)),
    ("noether_asin", MathOp::Unary(Unary::Asin)),
    ("noether_acos", MathOp::Unary(Unary::Acos)),
    ("noether_atan", MathOp::Unary(Unary::Atan)),
    ("noether_round", MathOp::Unary(Unary::Round)),
    ("noether_pow", MathOp::Binary(Binary::Pow)),
    ("noether_atan2", MathOp::Binary(Binary::Atan2)),
];

/// An operation implemented by an external function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MathOp {
    /// A one-argument function.
    Unary(Unary),
    /// A two-argument function.
    Binary(Binary),
}

impl MathOp {
    /// How many `f64` arguments the function takes.
    pub fn arity(self) -> usize {
        match self {
            MathOp::Unary(_) => 1,
            MathOp::Binary(_) => 2,
        }
    }
}

/// `fn(x: f64, out: *mut [f64; 3])`: writes [`crate::math::reduce::large`] of `x` to `out`,
/// for the rare arguments of `sin` and `cos` beyond the inline reduction. Kernels call it with
/// the `preserve_all` convention, so the registers of the loop around the call stay live (a
/// plain call would make the register allocator spill every constant of a vector loop); it is
/// a trampoline ([`reduce_trampoline`]) to [`REDUCE_IMPL_SYMBOL`].
pub const REDUCE_SYMBOL: &str = "noether_reduce_large";

/// The Rust function behind [`REDUCE_SYMBOL`], with the platform's C convention.
pub const REDUCE_IMPL_SYMBOL: &str = "noether_reduce_large_impl";

/// The signature of [`REDUCE_SYMBOL`] (`preserve_all`) or of [`REDUCE_IMPL_SYMBOL`].
pub fn reduce_signature(call_conv: CallConv) -> Signature {
    let mut sig = Signature::new(call_conv);
    sig.params.push(AbiParam::new(types::F64));
    sig.params.push(AbiParam::new(POINTER));
    sig
}

/// The body of [`REDUCE_SYMBOL`]: saves every register it touches, calls
/// [`REDUCE_IMPL_SYMBOL`] and returns.
pub fn reduce_trampoline(func: &mut Function, imports: &mut dyn Imports, target: TargetFrontendConfig) {
    func.signature = reduce_signature(CallConv::PreserveAll);
    let mut context = FunctionBuilderContext::new();
    let mut b = cranelift_frontend::FunctionBuilder::new(func, &mut context);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    b.seal_block(entry);
    let callee = imports.import(b.func, REDUCE_IMPL_SYMBOL, reduce_signature(target.default_call_conv));
    let args = b.block_params(entry).to_vec();
    b.ins().call(callee, &args);
    b.ins().return_(&[]);
    b.finalize(target);
}

/// The symbol implementing `op`, if it needs one.
pub fn math_symbol(op: MathOp) -> Option<&'static str> {
    MATH_FUNCTIONS.iter().find(|(_, o)| *o == op).map(|(name, _)| *name)
}

/// How a kernel's function refers to external math functions. A JIT declares them in its
/// module; [`emit_clif`] just names them.
pub trait Imports {
    /// A reference in `func` to the external function `symbol` of `signature`.
    fn import(&mut self, func: &mut Function, symbol: &'static str, signature: Signature) -> FuncRef;
}

/// The signature of every kernel function.
pub fn kernel_signature(call_conv: CallConv) -> Signature {
    let mut sig = Signature::new(call_conv);
    sig.params.push(AbiParam::new(POINTER));
    sig.params.push(AbiParam::new(types::I64));
    sig.params.push(AbiParam::new(types::I64));
    sig
}

/// The signature of a math function of `arity` f64 arguments.
pub fn math_signature(call_conv: CallConv, arity: usize) -> Signature {
    let mut sig = Signature::new(call_conv);
    for _ in 0..arity {
        sig.params.push(AbiParam::new(types::F64));
    }
    sig.returns.push(AbiParam::new(types::F64));
    sig
}

/// Translates `kernel` into `func`, whose signature is set to the kernel ABI.
pub fn translate_kernel(
    program: &Program,
    kernel: &Kernel,
    func: &mut Function,
    builder_context: &mut FunctionBuilderContext,
    imports: &mut dyn Imports,
    target: TargetFrontendConfig,
    options: Options,
) -> Result<Translated, CodegenError> {
    func.signature = kernel_signature(target.default_call_conv);
    translate::Translator::run(program, kernel, func, builder_context, imports, target, options)
        .map_err(|message| CodegenError { kernel: kernel.name.clone(), message })
}

/// Names external functions without linking them, for printing.
struct NamedImports;

impl Imports for NamedImports {
    fn import(&mut self, func: &mut Function, symbol: &'static str, signature: Signature) -> FuncRef {
        let signature = func.import_signature(signature);
        func.import_function(ExtFuncData {
            name: ExternalName::testcase(symbol),
            signature,
            colocated: false,
            patchable: false,
        })
    }
}

/// `noether emit --stage clif`: every kernel's Cranelift IR, before optimisation.
pub fn emit_clif(program: &Program, options: Options) -> Result<String, CodegenError> {
    let mut out = String::new();
    let mut builder_context = FunctionBuilderContext::new();
    let target = TargetFrontendConfig {
        default_call_conv: CallConv::SystemV,
        pointer_width: PointerWidth::U64,
        page_size_align_log2: 12,
    };
    for (index, kernel) in program.kernels.iter().enumerate() {
        let mut func =
            Function::with_name_signature(UserFuncName::user(0, index as u32), Signature::new(CallConv::SystemV));
        translate_kernel(program, kernel, &mut func, &mut builder_context, &mut NamedImports, target, options)?;
        out.push_str(&format!("; kernel k{index} {}\n{func}\n", kernel.name));
    }
    Ok(out)
}
