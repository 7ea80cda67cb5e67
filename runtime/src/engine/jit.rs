//! The CPU JIT engine: every kernel compiled once with Cranelift, the outermost domain axis
//! split across threads.
//!
//! Calling generated code is the one place the runtime needs `unsafe`. What makes it sound:
//! the code generator only emits loads that are in range for buffers of the program's shapes
//! (the IR verifier checks `Direct` loads; boundary rules resolve every other position into
//! range), the buffer table passed here holds one pointer per buffer of exactly those shapes,
//! and concurrent calls cover disjoint row ranges of what the kernel's [`Partition`] divides
//! (domain rows, or the rows of a scatter's target), so they write disjoint elements of the
//! outputs and never write what any kernel reads.

#![allow(unsafe_code)]

use std::sync::Arc;

use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::ir::{FuncRef, Function, Signature, UserFuncName};
use cranelift_codegen::isa::TargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{FuncId, Linkage, Module, ModuleReloc, default_libcall_names};
use noether_compiler::codegen::clif::{self as codegen, Imports, MATH_FUNCTIONS, MathOp, Options};
use noether_compiler::ir::{Kernel, Partition, ProcId, Program, Visit};
use noether_compiler::ops::{Binary, Unary};

use super::host::{Buffers, Kernels};
use super::workers::Workers;
use super::{EngineError, EngineOptions, InstructionSet};

/// `extern "C" fn(buffers, lo, hi)`, see [`noether_compiler::codegen`].
type KernelFn = unsafe extern "C" fn(*const *mut f64, i64, i64);

/// The Cranelift engine's kernels: every kernel compiled to native code, run across worker
/// threads that are kept when the program changes.
pub(crate) struct Jit {
    workers: Option<Workers>,
    /// Kernels visiting fewer points (see `Kernel::work`) run on the calling thread: waking
    /// workers would cost more.
    min_parallel_points: usize,
    codegen: Codegen,
    code: Code,
}

/// How the JIT generates code (fewer instructions, and checks, only for comparisons and tests).
#[derive(Clone, Copy)]
struct Codegen {
    /// Compile eligible kernels to SIMD code (off: scalar code only).
    vectors: bool,
    /// Which of the processor's extensions.
    set: InstructionSet,
    /// Run Cranelift's verifier on every function.
    verify: bool,
}

/// One program's kernels as machine code.
struct Code {
    program: Arc<Program>,
    kernels: Vec<KernelFn>,
    /// The points each kernel visits (`Kernel::work`), by kernel.
    work: Vec<usize>,
    /// Owns the machine code the pointers in `kernels` point into.
    _module: JITModule,
}

struct ModuleImports<'m> {
    module: &'m mut JITModule,
}

impl Imports for ModuleImports<'_> {
    fn import(&mut self, func: &mut Function, symbol: &'static str, signature: Signature) -> FuncRef {
        let id = self
            .module
            .declare_function(symbol, Linkage::Import, &signature)
            .expect("math symbols are declared with one signature each");
        self.module.declare_func_in_func(id, func)
    }
}

/// Chunks a parallel call is cut into per thread. Threads take the next chunk left (see
/// `workers`), so one that the machine slows down (a busy core, more threads than cores) takes
/// fewer: with three threads on two cores GBM's run went 0.49 -> 0.41 s against one chunk per
/// thread, unchanged with two.
const CHUNKS_PER_THREAD: usize = 4;

impl Jit {
    /// Starts the worker threads `options` ask for (default: one per core) and compiles every
    /// kernel of `program`.
    pub fn new(program: Arc<Program>, options: &EngineOptions) -> Result<Jit, EngineError> {
        let threads =
            options.threads.map_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()), |t| t.max(1));
        let workers = (threads > 1)
            .then(|| Workers::new(threads))
            .transpose()
            .map_err(|e| failed("starting threads", e.to_string()))?;
        let codegen =
            Codegen { vectors: !options.scalar_only, set: options.instructions, verify: options.check_generated_code };
        let code = compile(program, codegen)?;
        let min_parallel_points = options.min_parallel_points.unwrap_or(1 << 14);
        Ok(Jit { workers, min_parallel_points, codegen, code })
    }

    fn call(&self, kernel: usize, spec: &Kernel, table: &Table) {
        let program = &self.code.program;
        let f = self.code.kernels[kernel];
        let domain_rows = match spec.visit {
            Visit::Listed(list) => program.buffer(list).shape[0],
            Visit::RowMajor => spec.domain().first().copied().unwrap_or(1),
        };
        let (rows, divisible) = match spec.partition(program) {
            Partition::Rows => (domain_rows, true),
            Partition::ScatterRows(target) => (program.buffer(target).shape[0], true),
            Partition::Single => (domain_rows, false),
        };
        let parallel = self
            .workers
            .as_ref()
            .filter(|_| divisible && rows >= 2 && self.code.work[kernel] >= self.min_parallel_points);
        match parallel {
            None => {
                // SAFETY: see the module documentation.
                unsafe { f(table.0, 0, rows as i64) }
            }
            Some(workers) => {
                let chunks = (CHUNKS_PER_THREAD * workers.count()).min(rows);
                workers.run(chunks, &|c| {
                    let (lo, hi) = ((rows * c / chunks) as i64, (rows * (c + 1) / chunks) as i64);
                    // SAFETY: see the module documentation; chunks are disjoint.
                    unsafe { f(table.0, lo, hi) }
                });
            }
        }
    }
}

/// Compiles every kernel of `program`, to vector code where `codegen` allows.
fn compile(program: Arc<Program>, codegen: Codegen) -> Result<Code, EngineError> {
    let isa = target_isa("speed", codegen)?;
    let as_emitted = target_isa("none", codegen)?;
    let mut builder = JITBuilder::with_isa(isa, default_libcall_names());
    for (name, op) in MATH_FUNCTIONS {
        builder.symbol(name, math_function(op));
    }
    builder.symbol(codegen::REDUCE_IMPL_SYMBOL, reduce_large as extern "C" fn(f64, *mut f64) as *const u8);
    let mut module = JITModule::new(builder);
    let mut ctx = module.make_context();
    define_reduce_trampoline(&mut module, &mut ctx).map_err(|e| failed("setting up Cranelift", e))?;
    let program_ref: &Program = &program;
    let mut builder_context = cranelift_frontend::FunctionBuilderContext::new();
    let mut ids: Vec<FuncId> = Vec::with_capacity(program.kernels.len());
    for (index, kernel) in program.kernels.iter().enumerate() {
        let name = format!("k{index}_{}", kernel.name);
        let id = module
            .declare_function(
                &name,
                Linkage::Local,
                &codegen::kernel_signature(module.target_config().default_call_conv),
            )
            .map_err(|e| EngineError::in_kernel("jit", &kernel.name, e.to_string()))?;
        let mut attempt = codegen.vectors;
        loop {
            // A failure here is a compiler bug; even a panic becomes an error naming the kernel.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let target = Target { as_emitted: &*as_emitted, vectorize: attempt };
                compile_kernel(&mut module, &mut ctx, &mut builder_context, program_ref, kernel, id, target)
            }))
            .unwrap_or_else(|panic| Err(panic_message(panic.as_ref())));
            module.clear_context(&mut ctx);
            match result {
                Ok(()) => break,
                // A host without some vector instruction: fall back to scalar code.
                Err(_) if attempt => attempt = false,
                Err(message) => return Err(EngineError::in_kernel("jit", &kernel.name, message)),
            }
        }
        ids.push(id);
    }
    module.finalize_definitions().map_err(|e| failed("linking kernels", e.to_string()))?;
    let kernels = ids
        .iter()
        .map(|id| {
            let code = module.get_finalized_function(*id);
            // SAFETY: the function was defined with `codegen::kernel_signature`, which is this
            // type's C ABI.
            unsafe { std::mem::transmute::<*const u8, KernelFn>(code) }
        })
        .collect();
    let work = program.kernels.iter().map(|k| k.work()).collect();
    Ok(Code { program, kernels, work, _module: module })
}

/// Cranelift for this machine, with `opt_level` set to `opt_level`, its x86 extensions limited
/// to `codegen.set`, its verifier run where `codegen.verify` asks.
fn target_isa(opt_level: &str, codegen: Codegen) -> Result<Arc<dyn TargetIsa>, EngineError> {
    let setup = |message: String| failed("setting up Cranelift", message);
    let mut flags = settings::builder();
    let verify = if codegen.verify { "true" } else { "false" };
    let settings = [
        ("opt_level", opt_level),
        ("use_colocated_libcalls", "false"),
        ("is_pic", "false"),
        ("enable_verifier", verify),
    ];
    for (name, value) in settings {
        flags.set(name, value).map_err(|e| setup(e.to_string()))?;
    }
    let mut isa = cranelift_native::builder().map_err(|e| setup(format!("this machine is not supported: {e}")))?;
    let avx512 =
        ["has_avx512f", "has_avx512dq", "has_avx512vl", "has_avx512bitalg", "has_avx512vbmi", "has_avx512vnni"];
    let beyond_v2 = ["has_avx", "has_avx2", "has_fma", "has_avx_vnni", "has_bmi1", "has_bmi2", "has_lzcnt"];
    let unused: &[&str] = match codegen.set {
        _ if !cfg!(target_arch = "x86_64") => &[],
        InstructionSet::Native => &[],
        InstructionSet::NoAvx512 => &avx512,
        InstructionSet::Baseline => &[&avx512[..], &beyond_v2[..]].concat(),
    };
    for name in unused {
        isa.set(name, "false").map_err(|e| setup(e.to_string()))?;
    }
    isa.finish(settings::Flags::new(flags)).map_err(|e| setup(e.to_string()))
}

/// Whether Cranelift multiplies 64-bit vector lanes in one instruction for `isa` (`vpmullq`).
fn multiplies_wide_lanes(isa: &dyn TargetIsa) -> bool {
    let flags = isa.isa_flags();
    let has = |name: &str| flags.iter().any(|flag| flag.name == name && flag.as_bool() == Some(true));
    has("has_avx512dq") && has("has_avx512vl")
}

/// How to compile one kernel: whether to try vector code, and the unoptimising Cranelift that
/// compiles vector code as emitted (see [`codegen::Translated::vectorized`]).
#[derive(Clone, Copy)]
struct Target<'i> {
    as_emitted: &'i dyn TargetIsa,
    vectorize: bool,
}

/// Generates and defines one kernel's function.
fn compile_kernel(
    module: &mut JITModule,
    ctx: &mut cranelift_codegen::Context,
    builder_context: &mut cranelift_frontend::FunctionBuilderContext,
    program: &Program,
    kernel: &Kernel,
    id: FuncId,
    target: Target,
) -> Result<(), String> {
    let call_conv = module.target_config().default_call_conv;
    ctx.func = Function::with_name_signature(UserFuncName::user(0, id.as_u32()), Signature::new(call_conv));
    let frontend = module.target_config();
    let translated = codegen::translate_kernel(
        program,
        kernel,
        &mut ctx.func,
        builder_context,
        &mut ModuleImports { module },
        frontend,
        Options { vectorize: target.vectorize, wide_products: multiplies_wide_lanes(target.as_emitted) },
    )
    .map_err(|e| e.message)?;
    if !translated.vectorized {
        return module.define_function(id, ctx).map_err(|e| format!("{e:?}"));
    }
    ctx.compile(target.as_emitted, &mut ControlPlane::default()).map_err(|e| format!("{e:?}"))?;
    let compiled = ctx.compiled_code().expect("the function was just compiled");
    let alignment = u64::from(compiled.buffer.alignment).max(target.as_emitted.function_alignment().minimum.into());
    let relocs: Vec<ModuleReloc> =
        compiled.buffer.relocs().iter().map(|reloc| ModuleReloc::from_mach_reloc(reloc, &ctx.func, id)).collect();
    module.define_function_bytes(id, alignment, compiled.code_buffer(), &relocs).map_err(|e| format!("{e:?}"))
}

/// Defines [`codegen::REDUCE_SYMBOL`], which kernels calling `sin` or `cos` import.
fn define_reduce_trampoline(module: &mut JITModule, ctx: &mut cranelift_codegen::Context) -> Result<(), String> {
    let signature = codegen::reduce_signature(cranelift_codegen::isa::CallConv::PreserveAll);
    let id = module.declare_function(codegen::REDUCE_SYMBOL, Linkage::Local, &signature).map_err(|e| e.to_string())?;
    let target = module.target_config();
    ctx.func = Function::with_name_signature(UserFuncName::user(1, 0), signature);
    codegen::reduce_trampoline(&mut ctx.func, &mut ModuleImports { module }, target);
    let result = module.define_function(id, ctx).map_err(|e| format!("{e:?}"));
    module.clear_context(ctx);
    result
}

/// A failure of the JIT outside any one kernel.
fn failed(during: &str, message: String) -> EngineError {
    EngineError { engine: "jit", during: during.into(), message }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned());
    format!("code generation panicked: {}", text.unwrap_or_else(|| "no message".into()))
}

/// The buffer table handed to kernels.
struct Table(*const *mut f64);

// SAFETY: the table is only read, and the buffers it points to are accessed as the module
// documentation describes.
unsafe impl Send for Table {}
unsafe impl Sync for Table {}

impl Kernels for Jit {
    fn name(&self) -> &'static str {
        "jit"
    }

    fn program(&self) -> &Program {
        &self.code.program
    }

    fn run(&mut self, procedure: ProcId, buffers: &mut Buffers) -> Result<(), EngineError> {
        let program = Arc::clone(&self.code.program);
        for (index, buffer) in program.buffers.iter().enumerate() {
            let id = noether_compiler::ir::BufferId(index as u32);
            if buffers.data(id).len() != buffer.len() {
                let message =
                    format!("buffer `{}` has {} elements, not {}", buffer.name, buffers.data(id).len(), buffer.len());
                return Err(failed(&format!("running procedure `{}`", program.procedure(procedure).name), message));
            }
        }
        let pointers: Vec<*mut f64> = (0..program.buffers.len())
            .map(|i| buffers.data_mut(noether_compiler::ir::BufferId(i as u32)).as_mut_ptr())
            .collect();
        let table = Table(pointers.as_ptr());
        for &kernel in &program.procedure(procedure).kernels {
            self.call(kernel.index(), program.kernel(kernel), &table);
        }
        Ok(())
    }

    fn switch(&mut self, program: Arc<Program>) -> Result<(), EngineError> {
        self.code = compile(program, self.codegen)?;
        Ok(())
    }
}

macro_rules! unary_functions {
    ($($name:ident => $op:expr),* $(,)?) => {
        $(extern "C" fn $name(x: f64) -> f64 { $op.eval(x) })*
    };
}

unary_functions! {
    math_exp => Unary::Exp, math_log => Unary::Log, math_sin => Unary::Sin, math_cos => Unary::Cos,
    math_tan => Unary::Tan, math_tanh => Unary::Tanh, math_sinh => Unary::Sinh, math_cosh => Unary::Cosh,
    math_asin => Unary::Asin, math_acos => Unary::Acos, math_atan => Unary::Atan, math_round => Unary::Round,
}

/// [`codegen::REDUCE_SYMBOL`]: the large-argument reduction of `sin` and `cos`, out of line.
extern "C" fn reduce_large(x: f64, out: *mut f64) {
    let reduced = noether_compiler::math::reduce::large(x);
    // SAFETY: JIT code passes a stack slot of three doubles (`codegen::math`).
    unsafe { std::ptr::copy_nonoverlapping(reduced.as_ptr(), out, 3) };
}

extern "C" fn math_pow(a: f64, b: f64) -> f64 {
    Binary::Pow.eval(a, b)
}

extern "C" fn math_atan2(a: f64, b: f64) -> f64 {
    Binary::Atan2.eval(a, b)
}

/// The implementation of an external math function: the same code the interpreter runs.
fn math_function(op: MathOp) -> *const u8 {
    let unary = |f: extern "C" fn(f64) -> f64| f as *const u8;
    match op {
        MathOp::Unary(Unary::Exp) => unary(math_exp),
        MathOp::Unary(Unary::Log) => unary(math_log),
        MathOp::Unary(Unary::Sin) => unary(math_sin),
        MathOp::Unary(Unary::Cos) => unary(math_cos),
        MathOp::Unary(Unary::Tan) => unary(math_tan),
        MathOp::Unary(Unary::Tanh) => unary(math_tanh),
        MathOp::Unary(Unary::Sinh) => unary(math_sinh),
        MathOp::Unary(Unary::Cosh) => unary(math_cosh),
        MathOp::Unary(Unary::Asin) => unary(math_asin),
        MathOp::Unary(Unary::Acos) => unary(math_acos),
        MathOp::Unary(Unary::Atan) => unary(math_atan),
        MathOp::Unary(Unary::Round) => unary(math_round),
        MathOp::Binary(Binary::Pow) => math_pow as extern "C" fn(f64, f64) -> f64 as *const u8,
        MathOp::Binary(Binary::Atan2) => math_atan2 as extern "C" fn(f64, f64) -> f64 as *const u8,
        other => unreachable!("{other:?} is generated inline"),
    }
}

#[cfg(test)]
mod tests {
    use noether_compiler::ir::{Buffer, BufferId, Kernel, NodeId, Output, Program, Region};

    use super::*;

    #[test]
    fn a_kernel_that_cannot_be_compiled_is_an_error_naming_it() {
        // Output to a buffer that does not exist: the verifier would reject it; the JIT must
        // not crash on it either.
        let kernel = Kernel {
            name: "broken".into(),
            vars: vec![4],
            rank: 1,
            nodes: Vec::new(),
            prelude: Region::default(),
            body: Region::default(),
            outputs: vec![Output::assign(BufferId(7), NodeId(0))],
            visit: Default::default(),
        };
        let program = Program {
            buffers: vec![Buffer { name: "u".into(), shape: vec![4] }],
            kernels: vec![kernel],
            procedures: Vec::new(),
        };
        let error = Jit::new(Arc::new(program), &EngineOptions::default()).err().expect("fails");
        assert_eq!(error.during, "in kernel `broken`");
    }
}
