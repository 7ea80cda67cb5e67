//! The math functions Noether computes itself (`noether_compiler::math`: exp, log, pow, sin,
//! cos, asin, atan2, ...): within their stated ulp bounds of the platform's libm, and the same bits on
//! every engine (interpreter; JIT on one point, on lanes, split across threads, called out of
//! line; OpenCL in a build with it), over millions of arguments including zeros, subnormals,
//! infinities, NaN and the overflow and underflow thresholds.

use std::sync::Arc;

use noether::compiler::codegen::clif::{INLINE_MATH_LIMIT, MathOp};
use noether::compiler::ir::{
    Access, Affine, Buffer, BufferId, Kernel, KernelId, Load, Node, NodeId, Output, ProcId, Procedure, Program, Region,
    VarId,
};
use noether::compiler::ops::{Binary, Unary};
use noether::runtime::engine::{self, Backend, EngineOptions, InstructionSet};

/// The element of buffer `b` at the kernel's point.
fn point_load(b: u32) -> Node {
    Node::Load(Load { buffer: BufferId(b), index: vec![Affine::var(VarId(0))], axes: vec![Access::Direct], fill: 0.0 })
}

/// `y[i] = op(x0[i], ...)` as a one-kernel program, the arguments in buffers `0..arity` and
/// the result in the next, with `op` applied `uses` times in the kernel (all but one unused):
/// past `INLINE_MATH_LIMIT` uses the JIT calls the function out of line.
fn program_with(op: MathOp, n: usize, uses: usize) -> Program {
    let arity = op.arity();
    let mut nodes: Vec<Node> = (0..arity as u32).map(point_load).collect();
    let (use_of, name) = match op {
        MathOp::Unary(op) => (Node::Unary(op, NodeId(0)), op.name()),
        MathOp::Binary(op) => (Node::Binary(op, NodeId(0), NodeId(1)), op.name().to_string()),
    };
    nodes.extend((0..uses).map(|_| use_of.clone()));
    let kernel = Kernel {
        name,
        vars: vec![n],
        rank: 1,
        body: Region { items: (0..nodes.len() as u32).map(NodeId).collect() },
        nodes,
        prelude: Region::default(),
        outputs: vec![Output::assign(BufferId(arity as u32), NodeId(arity as u32))],
        visit: Default::default(),
    };
    let mut buffers: Vec<Buffer> = (0..arity).map(|b| Buffer { name: format!("x{b}"), shape: vec![n] }).collect();
    buffers.push(Buffer { name: "y".into(), shape: vec![n] });
    Program {
        buffers,
        kernels: vec![kernel],
        procedures: vec![Procedure { name: "apply".into(), kernels: vec![KernelId(0)] }],
    }
}

fn program(op: Unary, n: usize) -> Program {
    program_with(MathOp::Unary(op), n, 1)
}

/// `y[i] = from_word(to_word(x[i]))`: the word random numbers are keyed by, as a number.
fn word_program(n: usize) -> Program {
    let mut program = program(Unary::Neg, n);
    let kernel = &mut program.kernels[0];
    kernel.nodes = vec![kernel.nodes[0].clone(), Node::ToWord(NodeId(0)), Node::FromWord(NodeId(1))];
    kernel.body = Region { items: vec![NodeId(0), NodeId(1), NodeId(2)] };
    kernel.outputs = vec![Output::assign(BufferId(1), NodeId(2))];
    program
}

/// The program's results on an engine of `backend` with `options`, its arguments given as
/// one column per buffer.
fn apply(program: &Arc<Program>, backend: Backend, options: EngineOptions, columns: &[&[f64]]) -> Vec<f64> {
    let mut engine = engine::build(program.clone(), backend, options).expect("compiles");
    for (b, column) in columns.iter().enumerate() {
        engine.write(BufferId(b as u32), 0, column).expect("written");
    }
    engine.run(ProcId(0)).expect("the kernel runs");
    engine.read(BufferId(columns.len() as u32), 0..columns[0].len()).expect("read").into_owned()
}

/// The JIT on `threads` threads, with vector code unless `scalar_only`.
fn jit(threads: usize, scalar_only: bool) -> EngineOptions {
    EngineOptions { threads: Some(threads), scalar_only, ..EngineOptions::default() }
}

/// The distance between `a` and `b` in units in the last place (0 for two NaNs).
fn ulps(a: f64, b: f64) -> u64 {
    if a.is_nan() || b.is_nan() {
        return if a.is_nan() && b.is_nan() { 0 } else { u64::MAX };
    }
    let ordered = |x: f64| {
        let bits = x.to_bits() as i64;
        if bits < 0 { i64::MIN - bits } else { bits }
    };
    ordered(a).abs_diff(ordered(b))
}

/// Doubles with uniformly random bits: every exponent, sign and NaN payload equally likely.
fn random_bits(count: usize, mut state: u64) -> impl Iterator<Item = f64> {
    (0..count).map(move |_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        f64::from_bits(state)
    })
}

/// Uniformly random 64-bit words.
fn words(count: usize, seed: u64) -> impl Iterator<Item = u64> {
    random_bits(count, seed).map(f64::to_bits)
}

/// Doubles uniformly spread over `[lo, hi)`.
fn uniform(count: usize, seed: u64, lo: f64, hi: f64) -> impl Iterator<Item = f64> {
    random_bits(count, seed).map(move |b| lo + (b.to_bits() >> 11) as f64 * 2f64.powi(-53) * (hi - lo))
}

/// The double `n` representable numbers away from `x` along its bits (for finite non-zero `x`,
/// away from zero when `n > 0`).
fn step(x: f64, n: i64) -> f64 {
    f64::from_bits(x.to_bits().wrapping_add_signed(n))
}

/// Arguments every function is tried on, besides its own ranges.
fn special() -> Vec<f64> {
    let mut values = vec![
        0.0,
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        -f64::NAN,
        f64::MIN_POSITIVE,
        f64::MIN_POSITIVE * (1.0 - f64::EPSILON),
        5e-324,
        -5e-324,
        1.0,
        -1.0,
        f64::MAX,
        f64::MIN,
        f64::EPSILON,
    ];
    values.extend(values.clone().iter().map(|&x| step(x, 1)));
    values
}

/// Checks `op` of one argument on every engine against the interpreter bit for bit, and the
/// interpreter against `reference` within `bound` ulp, on `args` (plus [`special`]).
fn check(op: Unary, reference: fn(f64) -> f64, bound: u64, args: impl Iterator<Item = f64>) {
    let special = special().into_iter().map(|x| [x]).collect();
    check_on(MathOp::Unary(op), |[x]| reference(x), bound, args.map(|x| [x]).collect(), special);
}

/// [`check`] for `op` of two arguments, plus every pair of [`special`] values.
fn check2(op: Binary, reference: fn(f64, f64) -> f64, bound: u64, args: impl Iterator<Item = (f64, f64)>) {
    let special = special().into_iter().flat_map(|a| special().into_iter().map(move |b| [a, b])).collect();
    check_on(MathOp::Binary(op), |[a, b]| reference(a, b), bound, args.map(|(a, b)| [a, b]).collect(), special);
}

/// Checks `op` on every engine against the interpreter bit for bit, and the interpreter
/// against `reference` within `bound` ulp (a zero with the reference's sign), on `args` and
/// `special`; out of line on a sample of `args` and all of `special`.
fn check_on<const N: usize>(
    op: MathOp,
    reference: impl Fn([f64; N]) -> f64,
    bound: u64,
    args: Vec<[f64; N]>,
    special: Vec<[f64; N]>,
) {
    let name = match op {
        MathOp::Unary(op) => op.name(),
        MathOp::Binary(op) => op.name().to_string(),
    };
    let sample: Vec<[f64; N]> = args.iter().step_by(97).chain(&special).copied().collect();
    let args: Vec<[f64; N]> = args.into_iter().chain(special).collect();
    let columns =
        |args: &[[f64; N]]| -> Vec<Vec<f64>> { (0..N).map(|i| args.iter().map(|a| a[i]).collect()).collect() };
    let run = |args: &[[f64; N]], uses: usize, backend: Backend, options: EngineOptions| {
        let program = Arc::new(program_with(op, args.len(), uses));
        let columns = columns(args);
        let columns: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
        apply(&program, backend, options, &columns)
    };
    let expected = run(&args, 1, Backend::Interp, EngineOptions::default());

    let (mut worst, mut at, mut differ) = (0, args[0], 0);
    for (&x, &y) in args.iter().zip(&expected) {
        let want = reference(x);
        let ulp = if y == 0.0 && want == 0.0 && y.is_sign_negative() != want.is_sign_negative() {
            u64::MAX
        } else {
            ulps(y, want)
        };
        if ulp > worst {
            (worst, at) = (ulp, x);
        }
        differ += usize::from(ulp > 0);
    }
    eprintln!("{name}: {differ} of {} arguments differ from the reference, by at most {worst} ulp", args.len());
    assert!(worst <= bound, "{name} of {at:?} is {worst} ulp from the reference (bound {bound})");

    let engines = [
        ("the JIT, lanes", Backend::Jit, jit(1, false)),
        ("the JIT, one point at a time", Backend::Jit, jit(1, true)),
        ("the JIT, three threads", Backend::Jit, EngineOptions { min_parallel_points: Some(1), ..jit(3, false) }),
        ("the JIT, x86-64-v2", Backend::Jit, EngineOptions { instructions: InstructionSet::Baseline, ..jit(1, false) }),
        #[cfg(feature = "opencl")]
        ("OpenCL", Backend::OpenCl, EngineOptions::default()),
    ];
    for (label, backend, options) in engines {
        assert_same(&name, label, &args, &expected, &run(&args, 1, backend, options));
    }
    // Out of line every use is a call, so a sample of the arguments keeps this quick.
    let expected: Vec<f64> = run(&sample, 1, Backend::Interp, EngineOptions::default());
    let got = run(&sample, INLINE_MATH_LIMIT + 1, Backend::Jit, jit(1, false));
    assert_same(&name, "the JIT, out of line", &sample, &expected, &got);
}

/// Demands an engine's results `got` be the interpreter's `expected`, bit for bit.
fn assert_same<T: std::fmt::Debug>(what: &str, label: &str, args: &[T], expected: &[f64], got: &[f64]) {
    for ((x, &want), &have) in args.iter().zip(expected).zip(got) {
        let same = want.to_bits() == have.to_bits() || (want.is_nan() && have.is_nan());
        assert!(same, "{what} of {x:?} on {label}: {have:e}, interpreter: {want:e}");
    }
}

#[test]
fn exp_is_within_one_ulp_on_every_engine() {
    let thresholds: [f64; 5] =
        [709.782712893384, 709.7827128933841, -708.3964185322641, -745.1332191019411, -745.1332191019412];
    let args = uniform(1_000_000, 7, -750.0, 712.0)
        .chain(uniform(500_000, 9, -1.0, 1.0))
        .chain(random_bits(500_000, 11))
        .chain(thresholds.iter().flat_map(|&t| [step(t, -1), t, step(t, 1)]));
    check(Unary::Exp, f64::exp, 1, args);
}

#[test]
fn log_is_within_one_ulp_on_every_engine() {
    let positive = random_bits(1_000_000, 13).map(f64::abs);
    let args = positive
        .chain(uniform(500_000, 17, 0.5, 2.0))
        .chain(random_bits(200_000, 19))
        .chain(uniform(100_000, 23, 0.0, 1e-300))
        .chain(scaled_around(std::f64::consts::SQRT_2));
    check(Unary::Log, f64::ln, 1, args);
}

/// The doubles within 4 ulp of `significand` (where a reduction switches between the
/// significand and its half) scaled by powers of two from the subnormals to the largest.
fn scaled_around(significand: f64) -> impl Iterator<Item = f64> {
    let near = (-4i64..=4).map(move |d| f64::from_bits((significand.to_bits() as i64 + d) as u64));
    near.flat_map(|m| (-1076..=1023).step_by(7).map(move |k| m * 2f64.powi(k)))
}

/// Arguments for `tanh`, `sinh` and `cosh`: ordinary ones, every branch of `expm1` and of
/// the functions (ln2 / 2, 1.5 ln2, 1, 22, the logarithm of the largest double, overflow),
/// every exponent.
fn hyperbolic_arguments() -> impl Iterator<Item = f64> {
    let thresholds = [
        0.5 * std::f64::consts::LN_2,
        1.5 * std::f64::consts::LN_2,
        1.0,
        22.0,
        56.0 * std::f64::consts::LN_2,
        709.782712893384,
        710.4758600739439,
        2f64.powi(-28),
        2f64.powi(-54),
        2f64.powi(-55),
    ];
    let edges = thresholds.into_iter().flat_map(|t| [step(t, -1), t, step(t, 1), -step(t, -1), -t, -step(t, 1)]);
    uniform(1_000_000, 41, -3.0, 3.0)
        .chain(uniform(300_000, 43, -30.0, 30.0))
        .chain(uniform(200_000, 47, -720.0, 720.0))
        .chain(random_bits(300_000, 53))
        .chain(edges)
}

#[test]
fn tanh_is_within_three_ulp_on_every_engine() {
    check(Unary::Tanh, f64::tanh, 3, hyperbolic_arguments());
}

#[test]
fn sinh_is_within_three_ulp_on_every_engine() {
    check(Unary::Sinh, f64::sinh, 3, hyperbolic_arguments());
}

#[test]
fn cosh_is_within_three_ulp_on_every_engine() {
    check(Unary::Cosh, f64::cosh, 3, hyperbolic_arguments());
}

/// Arguments for `sin` and `cos`: ordinary ones, the whole medium range, every exponent, near
/// multiples of pi/2 and around the switch to the large reduction.
fn trig_arguments() -> impl Iterator<Item = f64> {
    let limit = noether::compiler::math::TRIG_MEDIUM;
    let near_multiples = (1..2000).flat_map(|k| {
        let x = f64::from(k) * std::f64::consts::FRAC_PI_2;
        [step(x, -1), x, step(x, 1), -x]
    });
    uniform(1_000_000, 29, -10.0, 10.0)
        .chain(uniform(300_000, 31, -2e6, 2e6))
        .chain(random_bits(400_000, 37))
        .chain(near_multiples)
        .chain([limit, -limit, step(limit, 1), step(limit, -1), 1e22, 2f64.powi(1023)])
}

/// Arguments for `atan`: around and between the reduction's thresholds, every exponent, the
/// tiny and huge ends.
fn atan_arguments() -> impl Iterator<Item = f64> {
    let thresholds = [0.4375, 0.6875, 1.1875, 2.4375, 2f64.powi(-27), 2f64.powi(66), 1.0];
    let edges = thresholds.into_iter().flat_map(|t| [step(t, -1), t, step(t, 1), -step(t, -1), -t, -step(t, 1)]);
    uniform(1_000_000, 59, -3.0, 3.0)
        .chain(uniform(300_000, 61, -100.0, 100.0))
        .chain(random_bits(400_000, 67))
        .chain(edges)
        .chain([0.0, -0.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN, 1e300, -1e-300, 5e-324])
}

#[test]
fn atan_is_within_one_ulp_on_every_engine() {
    check(Unary::Atan, f64::atan, 1, atan_arguments());
}

/// Arguments for `asin` and `acos`: all of `[-1, 1]`, densely near its ends, around the
/// thresholds of the ranges (1/2, 0.975) and the tiny end, every exponent, and the doubles just
/// inside and outside `[-1, 1]`.
fn asin_arguments() -> impl Iterator<Item = f64> {
    let thresholds = [0.5, f64::from_bits(0x3FEF_3333_0000_0000), 0.975, 2f64.powi(-26), 2f64.powi(-57)];
    let edges = thresholds.into_iter().flat_map(|t| [step(t, -1), t, step(t, 1), -step(t, -1), -t, -step(t, 1)]);
    let ends = (1..2000).flat_map(|k| [step(1.0, -k), step(-1.0, -k), step(1.0, k), step(-1.0, k)]);
    uniform(1_000_000, 71, -1.0, 1.0)
        .chain(uniform(300_000, 73, 0.9, 1.0))
        .chain(uniform(300_000, 79, -1.0, -0.9))
        .chain(uniform(200_000, 83, -1.0, 1.0).map(|x| x * 2f64.powi(-((x.to_bits() % 1080) as i32))))
        .chain(random_bits(300_000, 89))
        .chain(edges)
        .chain(ends)
}

#[test]
fn asin_is_within_one_ulp_on_every_engine() {
    check(Unary::Asin, f64::asin, 1, asin_arguments());
}

#[test]
fn acos_is_within_one_ulp_on_every_engine() {
    check(Unary::Acos, f64::acos, 1, asin_arguments());
}

/// Pairs for `atan2`: every quadrant (signs drawn independently), ratios around each
/// reduction threshold, both arguments spread over every exponent (near overflow, subnormal),
/// a ratio beyond either end of the range, and random bits.
fn atan2_arguments() -> impl Iterator<Item = (f64, f64)> {
    let signed = |x: f64, bits: u64| if bits & 1 == 1 { -x } else { x };
    let units = |count, seed| uniform(count, seed, -1.0, 1.0).zip(uniform(count, seed + 1, -1.0, 1.0));
    let scale = |x: f64, at: u64| x * 2f64.powi((at % 2098) as i32 - 1074);
    let thresholds = [0.4375, 0.6875, 1.1875, 2.4375, 1.0];
    let near_thresholds = uniform(200_000, 101, 0.5, 1.0).zip(words(200_000, 103)).map(move |(x, bits)| {
        let ratio = thresholds[(bits >> 8) as usize % thresholds.len()] * (1.0 + ((bits >> 20) % 64) as f64 * 1e-16);
        let ratio = if bits & 4 == 0 { ratio } else { 1.0 / ratio };
        (signed(scale(x * ratio, bits >> 40), bits), signed(scale(x, bits >> 40), bits >> 1))
    });
    let spread = units(400_000, 107).zip(words(400_000, 109)).map(move |((y, x), bits)| {
        let (ey, ex) = (bits >> 32, (bits >> 32).wrapping_add(bits % 5).wrapping_sub(2));
        (scale(y, ey), scale(x, ex))
    });
    let far =
        units(200_000, 113).zip(words(200_000, 127)).map(move |((y, x), bits)| (scale(y, bits), scale(x, bits >> 20)));
    units(1_000_000, 97)
        .chain(near_thresholds)
        .chain(spread)
        .chain(far)
        .chain(random_bits(300_000, 131).zip(random_bits(300_000, 137)))
}

#[test]
fn atan2_is_within_one_ulp_on_every_engine() {
    check2(Binary::Atan2, f64::atan2, 1, atan2_arguments());
}

/// C99's `atan2` (Annex F) where an argument is zero, infinite or NaN, written out rather than
/// taken from libm: the result has the sign of `y`; `x = -0` counts as negative.
fn atan2_special(y: f64, x: f64) -> f64 {
    use std::f64::consts::{FRAC_PI_2, FRAC_PI_4, PI};
    let three_quarters_pi = f64::from_bits(0x4002_D97C_7F33_21D2);
    let angle = if y.is_nan() || x.is_nan() {
        f64::NAN
    } else if y == 0.0 {
        if x.is_sign_positive() { 0.0 } else { PI }
    } else if x == 0.0 {
        FRAC_PI_2
    } else if y.is_infinite() && x.is_infinite() {
        if x > 0.0 { FRAC_PI_4 } else { three_quarters_pi }
    } else if y.is_infinite() {
        FRAC_PI_2
    } else if x > 0.0 {
        0.0
    } else {
        PI
    };
    angle.copysign(y)
}

#[test]
fn atan2_has_c99s_special_values_on_every_engine() {
    let special = [0.0, f64::INFINITY, f64::NAN];
    let any = [0.0, f64::INFINITY, f64::NAN, 5e-324, 1.0, 2.5, f64::MAX];
    let signed = |values: &[f64]| -> Vec<f64> { values.iter().flat_map(|&v| [v, -v]).collect() };
    let (special, any) = (signed(&special), signed(&any));
    let pairs: Vec<[f64; 2]> = special.iter().flat_map(|&s| any.iter().flat_map(move |&a| [[s, a], [a, s]])).collect();
    check_on(MathOp::Binary(Binary::Atan2), |[y, x]| atan2_special(y, x), 0, pairs, Vec::new());
}

/// Pairs for `pow`: ordinary ones; results of every exponent from bases of every exponent;
/// bases within 2^-k of 1 with huge exponents; results around the overflow threshold, the
/// smallest normal and the subnormal range; negative bases with integer (odd and even) and
/// non-integer exponents; integer powers of integers; the exponents that are special cases or
/// thresholds (1, -1, 2, 1/2, 2^31, 2^53, 2^64 and past it, the tiniest) on bases of every
/// kind; random bits.
fn pow_arguments() -> impl Iterator<Item = (f64, f64)> {
    let toward = |x: f64, z: f64| (x, z / x.abs().log2());
    let ordinary = uniform(600_000, 151, 0.0, 4.0).zip(uniform(600_000, 157, -10.0, 10.0));
    let every_result =
        random_bits(400_000, 163).zip(uniform(400_000, 167, -1080.0, 1030.0)).map(move |(x, z)| toward(x.abs(), z));
    let near_one = uniform(200_000, 173, -1.0, 1.0).zip(words(200_000, 179)).map(move |(u, bits)| {
        let x = 1.0 + u * 2f64.powi(-((bits % 53) as i32));
        toward(x, ((bits >> 8) % 2110) as f64 - 1080.0)
    });
    let thresholds = uniform(200_000, 181, 0.25, 4.0).zip(words(200_000, 187)).map(move |(x, bits)| {
        let z = [1024.0, -1022.0, -1074.0, -1075.0][(bits % 4) as usize] + ((bits >> 8) % 2001) as f64 * 1e-3 - 1.0;
        toward(x, z)
    });
    let negative = uniform(300_000, 191, -10.0, 0.0).zip(words(300_000, 193)).map(|(x, bits)| {
        let y = ((bits % 401) as f64) - 200.0;
        (x, if bits & (1 << 40) == 0 { y } else { y + 0.5 })
    });
    let integers = words(100_000, 197).map(|b| ((b % 100) as f64, ((b >> 20) % 40) as f64));
    let exponents = [
        1.0,
        -1.0,
        2.0,
        0.5,
        3.0,
        2f64.powi(31),
        2f64.powi(53),
        2f64.powi(53) + 2.0,
        2f64.powi(63),
        2f64.powi(64),
        2f64.powi(65),
        1e300,
        5e-324,
        1e-300,
        step(0.5, 1),
        step(1.0, -1),
        step(1.0, 1),
    ];
    let special_y = random_bits(200_000, 199).zip(words(200_000, 211)).map(move |(x, b)| {
        let y = exponents[(b % exponents.len() as u64) as usize];
        (x, if b & (1 << 40) == 0 { y } else { -y })
    });
    ordinary
        .chain(every_result)
        .chain(near_one)
        .chain(thresholds)
        .chain(negative)
        .chain(integers)
        .chain(special_y)
        .chain(random_bits(200_000, 223).zip(random_bits(200_000, 227)))
}

/// `pow` of the platform's libm, all NaNs taken as quiet: Noether does not tell signalling
/// NaNs apart, so `pow(NaN, 0) = pow(1, NaN) = 1` whatever the NaN's bits (glibc gives NaN for
/// a signalling one).
fn libm_pow(x: f64, y: f64) -> f64 {
    let quiet = |v: f64| if v.is_nan() { f64::NAN } else { v };
    quiet(x).powf(quiet(y))
}

#[test]
fn pow_is_within_one_ulp_on_every_engine() {
    // Bases where the reduction of log2 switches: fdlibm's sqrt(3/2) and sqrt(3).
    let limits = [f64::from_bits(0x3FF3_988F_0000_0000), f64::from_bits(0x3FFB_B67A_0000_0000)];
    let bases: Vec<f64> = limits.into_iter().flat_map(scaled_around).collect();
    let at_limits = bases.into_iter().flat_map(|x| [0.5, 3.0, -7.25].map(|y| (x, y)));
    check2(Binary::Pow, libm_pow, 1, pow_arguments().chain(at_limits));
}

/// C99's `pow` (Annex F) where an argument is zero, infinite or NaN, or the base is negative
/// and the exponent not an integer, written out rather than taken from libm.
fn pow_special(x: f64, y: f64) -> f64 {
    let integer = y.is_finite() && y.fract() == 0.0;
    let odd = integer && (y / 2.0).fract() != 0.0;
    let keep_sign = |m: f64| if odd { m.copysign(x) } else { m };
    let (zero, infinity) = (0.0, f64::INFINITY);
    if y == 0.0 || x == 1.0 {
        1.0
    } else if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if y.is_infinite() {
        if x.abs() == 1.0 {
            1.0
        } else if (x.abs() > 1.0) == (y > 0.0) {
            infinity
        } else {
            zero
        }
    } else if x == 0.0 {
        keep_sign(if y > 0.0 { zero } else { infinity })
    } else if x.is_infinite() {
        keep_sign(if y > 0.0 { infinity } else { zero })
    } else {
        assert!(x < 0.0 && !integer, "pow({x:e}, {y:e}) is not a special case");
        f64::NAN
    }
}

#[test]
fn pow_has_c99s_special_values_on_every_engine() {
    let signed = |values: &[f64]| -> Vec<f64> { values.iter().flat_map(|&v| [v, -v]).collect() };
    let special = signed(&[0.0, f64::INFINITY, f64::NAN]);
    let bases = signed(&[0.0, f64::INFINITY, f64::NAN, 1.0, 5e-324, 0.5, 2.0, f64::MAX]);
    let exponents =
        signed(&[0.0, f64::INFINITY, f64::NAN, 1.0, 2.0, 3.0, 0.5, 2.5, 5e-324, 1e300, 2f64.powi(53) + 2.0]);
    let mut pairs: Vec<[f64; 2]> = Vec::new();
    pairs.extend(special.iter().flat_map(|&x| exponents.iter().map(move |&y| [x, y])));
    pairs.extend(bases.iter().flat_map(|&x| special.iter().map(move |&y| [x, y])));
    pairs.extend(exponents.iter().map(|&y| [1.0, y]));
    pairs.extend([-0.5, -2.0, -5e-324, -f64::MAX].iter().flat_map(|&x| [0.5, -2.5, 1e-300].map(|y| [x, y])));
    check_on(MathOp::Binary(Binary::Pow), |[x, y]| pow_special(x, y), 0, pairs, Vec::new());
}

#[test]
fn tan_is_within_three_ulp_on_every_engine() {
    check(Unary::Tan, f64::tan, 3, trig_arguments());
}

#[test]
fn sin_is_within_one_ulp_on_every_engine() {
    check(Unary::Sin, f64::sin, 1, trig_arguments());
}

#[test]
fn cos_is_within_one_ulp_on_every_engine() {
    check(Unary::Cos, f64::cos, 1, trig_arguments());
}

/// The platform's libm is not a reference at the double closest to a multiple of pi/2
/// (6381956970095103 2^797, found by Kahan and McDonald): glibc's cos is 8 ulp off there. These
/// values were computed with 4000-bit arithmetic (mpmath) and rounded to the nearest double.
#[test]
fn sin_and_cos_are_correct_where_the_reduction_is_hardest() {
    let cases = [
        (6_381_956_970_095_103.0 * 2f64.powi(797), 0x3FF0_0000_0000_0000, 0xBC21_4AE7_2E6B_A22F),
        (1e22, 0xBFEB_453A_B76B_F397, 0x3FE0_BE2C_EF01_C8F4),
        (f64::MAX, 0x3F74_52FC_98B3_4E97, 0xBFEF_FFE6_2ECF_AB75),
    ];
    for (op, pick) in [(Unary::Sin, 1), (Unary::Cos, 2)] {
        let args: Vec<f64> = cases.iter().flat_map(|c| [c.0, -c.0]).collect();
        let program = Arc::new(program(op, args.len()));
        for (name, backend) in [("interpreter", Backend::Interp), ("jit", Backend::Jit)] {
            let got = apply(&program, backend, jit(1, false), &[&args]);
            for (i, case) in cases.iter().enumerate() {
                let exact = f64::from_bits(if pick == 1 { case.1 } else { case.2 });
                // sin is odd, cos even.
                let at_minus = if pick == 1 { -exact } else { exact };
                for (value, want) in [(got[2 * i], exact), (got[2 * i + 1], at_minus)] {
                    assert!(ulps(value, want) <= 1, "{op}({:e}) on the {name}: {value:e}, exactly {want:e}", case.0);
                }
            }
        }
    }
}

/// Counters and seeds become words as Rust's `x as i64 as u32` makes them (truncation toward
/// zero, two's complement, saturation at +-2^63, NaN to 0), also two lanes at a time.
#[test]
fn numbers_become_the_same_words_on_every_engine() {
    let edges = [2f64.powi(63), -(2f64.powi(63)), 2f64.powi(64), -(2f64.powi(64)) - 4096.0, 2f64.powi(52) + 1.0];
    let args: Vec<f64> = special()
        .into_iter()
        .chain(edges.iter().flat_map(|&x| [step(x, -1), x, step(x, 1)]))
        .chain(uniform(10_000, 41, -1e10, 1e10))
        .chain(uniform(10_000, 43, -5.0, 5.0))
        .chain(random_bits(10_000, 47))
        .collect();
    let program = Arc::new(word_program(args.len()));
    let expected = apply(&program, Backend::Interp, EngineOptions::default(), &[&args]);
    for (&x, &w) in args.iter().zip(&expected) {
        assert_eq!(w, f64::from(x as i64 as u32), "the interpreter's word of {x:e}");
    }
    for (label, scalar_only) in [("lanes", false), ("one point at a time", true)] {
        let got = apply(&program, Backend::Jit, jit(1, scalar_only), &[&args]);
        assert_same("to_word", label, &args, &expected, &got);
    }
}

/// `y[i] = unit(to_word(x0[i]), to_word(x1[i]))`, a uniform draw from two words, or with
/// `take_log` its logarithm (Box–Muller's radius), which vector code takes without `log`'s
/// special cases.
fn unit_program(n: usize, take_log: bool) -> Program {
    let mut program = program_with(MathOp::Binary(Binary::Add), n, 1);
    let kernel = &mut program.kernels[0];
    let mut nodes = vec![
        kernel.nodes[0].clone(),
        kernel.nodes[1].clone(),
        Node::ToWord(NodeId(0)),
        Node::ToWord(NodeId(1)),
        Node::Unit(NodeId(2), NodeId(3)),
    ];
    if take_log {
        nodes.push(Node::Unary(Unary::Log, NodeId(4)));
    }
    kernel.body = Region { items: (0..nodes.len() as u32).map(NodeId).collect() };
    kernel.outputs = vec![Output::assign(BufferId(2), NodeId(nodes.len() as u32 - 1))];
    kernel.nodes = nodes;
    program
}

/// Uniforms from pairs of words, and their logarithms, are `uniform_of`'s and `log`'s bits on
/// every engine, for the words at the ends of their range and the low bits a uniform drops.
#[test]
fn uniforms_from_words_and_their_logarithms_are_the_same_on_every_engine() {
    use noether::compiler::lower::random::uniform_of;
    use noether::compiler::math::{Scalar, log};
    let edges = [0.0, 1.0, 4095.0, 4096.0, f64::from(u32::MAX - 1), f64::from(u32::MAX)];
    let mut args: Vec<[f64; 2]> = edges.iter().flat_map(|&a| edges.iter().map(move |&b| [a, b])).collect();
    args.extend(words(20_000, 53).map(|w| [f64::from((w >> 32) as u32), f64::from(w as u32)]));
    let columns: Vec<Vec<f64>> = (0..2).map(|i| args.iter().map(|a| a[i]).collect()).collect();
    let columns: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
    for take_log in [false, true] {
        let program = Arc::new(unit_program(args.len(), take_log));
        let expected = apply(&program, Backend::Interp, EngineOptions::default(), &columns);
        for (a, &y) in args.iter().zip(&expected) {
            let u = uniform_of(a[0] as u32, a[1] as u32);
            let want = if take_log { log(&mut Scalar, u) } else { u };
            assert_eq!(y.to_bits(), want.to_bits(), "the interpreter's unit (log: {take_log}) of {a:?}");
        }
        let engines = [
            ("the JIT, lanes", Backend::Jit, jit(1, false)),
            ("the JIT, one point at a time", Backend::Jit, jit(1, true)),
            #[cfg(feature = "opencl")]
            ("OpenCL", Backend::OpenCl, EngineOptions::default()),
        ];
        for (label, backend, options) in engines {
            assert_same("unit", label, &args, &expected, &apply(&program, backend, options, &columns));
        }
    }
}

/// `y[i] = x0[i] x1[i] + x2[i]` as one fused multiply-add ([`Node::MulAdd`]).
fn mul_add_program(n: usize) -> Program {
    let mut program = program_with(MathOp::Binary(Binary::Add), n, 1);
    let kernel = &mut program.kernels[0];
    kernel.nodes = vec![point_load(0), point_load(1), point_load(2), Node::MulAdd(NodeId(0), NodeId(1), NodeId(2))];
    kernel.body = Region { items: (0..4).map(NodeId).collect() };
    kernel.outputs = vec![Output::assign(BufferId(3), NodeId(3))];
    program.buffers =
        ["x0", "x1", "x2", "y"].iter().map(|name| Buffer { name: name.to_string(), shape: vec![n] }).collect();
    program
}

/// A fused multiply-add (the math functions' polynomials) rounds once on every engine: where
/// the product alone would round (`(1 + 2^-30)(1 - 2^-30) - 1`), overflow (`2^1000 2^24 -
/// MAX`) or vanish, among random bits, signed zeros, infinities and NaN.
#[test]
fn fused_multiply_adds_round_once_on_every_engine() {
    let e = 2f64.powi(-30);
    let mut args: Vec<[f64; 3]> = vec![
        [1.0 + e, 1.0 - e, -1.0],
        [2f64.powi(1000), 2f64.powi(24), -f64::MAX],
        [f64::MIN_POSITIVE, 0.5, -0.0],
        [0.1, 10.0, -1.0],
        [-0.0, 1.0, 0.0],
    ];
    let special = special();
    for &a in &special {
        args.extend(special.iter().map(|&b| [a, b, 1.0]));
        args.extend(special.iter().map(|&c| [a, 2.0, c]));
    }
    let mut bits = random_bits(30_000, 59);
    args.extend((0..10_000).map(|_| [0; 3].map(|_| bits.next().expect("enough bits"))));
    let mut near = uniform(30_000, 61, -2.0, 2.0);
    args.extend((0..10_000).map(|_| [0; 3].map(|_| near.next().expect("enough numbers"))));
    let fused: Vec<f64> = args.iter().map(|[a, b, c]| a.mul_add(*b, *c)).collect();
    let rounded_twice = args.iter().zip(&fused).filter(|([a, b, c], y)| (a * b + c).to_bits() != y.to_bits());
    assert!(rounded_twice.count() > 1000, "the arguments must tell one rounding from two");
    let columns: Vec<Vec<f64>> = (0..3).map(|i| args.iter().map(|a| a[i]).collect()).collect();
    let columns: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
    let program = Arc::new(mul_add_program(args.len()));
    let engines = [
        ("the interpreter", Backend::Interp, EngineOptions::default()),
        ("the JIT, lanes", Backend::Jit, jit(1, false)),
        ("the JIT, one point at a time", Backend::Jit, jit(1, true)),
        ("the JIT, three threads", Backend::Jit, jit(3, false)),
        ("the JIT, x86-64-v2", Backend::Jit, EngineOptions { instructions: InstructionSet::Baseline, ..jit(1, false) }),
        #[cfg(feature = "opencl")]
        ("OpenCL", Backend::OpenCl, EngineOptions::default()),
    ];
    for (label, backend, options) in engines {
        assert_same("a b + c", label, &args, &fused, &apply(&program, backend, options, &columns));
    }
}

/// `u < exp(z)` (a Metropolis test, which the JIT decides from bounds on `exp` and computes
/// `exp` only where they leave it open) on every engine: the comparison's answer for `u`
/// on, next to, within the bounds' gap of, and far from `exp(z)`, for `z` across and beyond
/// the range where the bounds hold, and for infinities and NaN.
#[test]
fn comparisons_with_exp_are_exact_on_every_engine() {
    use noether::compiler::math::{Scalar, exp};
    use noether::compiler::ops::Compare;
    let exact = |z: f64| exp(&mut Scalar, z);
    let zs: Vec<f64> = uniform(4000, 11, -720.0, 720.0)
        .chain(uniform(4000, 12, -3.0, 3.0))
        .chain([700.0, -700.0, step(700.0, -1), step(-700.0, -1), 0.0, -0.0, 709.9, -745.5, 1e-300])
        .chain(special())
        .collect();
    let mut args: Vec<[f64; 2]> = Vec::new();
    for (&z, u) in zs.iter().zip(uniform(zs.len(), 13, 0.0, 1.0)) {
        let e = exact(z);
        args.push([u, z]);
        for k in [-600, -520, -480, -100, -1, 0, 1, 100, 480, 520, 600] {
            args.push([e * (1.0 + k as f64 * 2f64.powi(-18)), z]);
        }
        if e.is_finite() && e != 0.0 {
            args.extend([step(e, -1), step(e, 1), -e].map(|u| [u, z]));
        }
    }
    args.extend(special().into_iter().flat_map(|u| [[u, 0.5], [u, f64::NAN], [u, 800.0]]));
    let n = args.len();
    let mut program = program_with(MathOp::Unary(Unary::Exp), n, 1);
    let kernel = &mut program.kernels[0];
    kernel.nodes = vec![
        point_load(0),
        point_load(1),
        Node::Unary(Unary::Exp, NodeId(1)),
        Node::Compare(Compare::Lt, NodeId(0), NodeId(2)),
        Node::Const(1.0),
        Node::Const(0.0),
        Node::Select(NodeId(3), NodeId(4), NodeId(5)),
    ];
    kernel.body = Region { items: (0..7).map(NodeId).collect() };
    kernel.outputs = vec![Output::assign(BufferId(2), NodeId(6))];
    program.buffers = vec![
        Buffer { name: "u".into(), shape: vec![n] },
        Buffer { name: "z".into(), shape: vec![n] },
        Buffer { name: "accepted".into(), shape: vec![n] },
    ];
    let program = Arc::new(program);
    let (us, zs): (Vec<f64>, Vec<f64>) = args.iter().map(|[u, z]| (*u, *z)).unzip();
    let expected: Vec<f64> = args.iter().map(|[u, z]| f64::from(u8::from(*u < exact(*z)))).collect();
    let engines = [
        ("the interpreter", Backend::Interp, EngineOptions::default()),
        ("the JIT, lanes", Backend::Jit, jit(1, false)),
        ("the JIT, one point at a time", Backend::Jit, jit(1, true)),
        #[cfg(feature = "opencl")]
        ("OpenCL", Backend::OpenCl, EngineOptions::default()),
    ];
    for (label, backend, options) in engines {
        assert_same("u < exp(z)", label, &args, &expected, &apply(&program, backend, options, &[&us, &zs]));
    }
}
