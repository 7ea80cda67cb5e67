//! Random numbers: Philox4x32-10 as Kernel IR word arithmetic, against the published
//! known-answer vectors, on every engine.

use std::sync::Arc;

use noether::compiler::ir::builder::KernelBuilder;
use noether::compiler::ir::{Access, Affine, BufferId, Node, Output, ProcId, Program, VarId};
use noether::compiler::lower::random::{block_of, philox, pick, uniform, word_of};
use noether::compiler::ops::{Binary, WordOp};
use noether::runtime::engine::InstructionSet::{self, Baseline, Native, NoAvx512};
use noether::runtime::engine::{self, Backend, Engine, EngineOptions};

use crate::support;

/// Random123's `kat_vectors` for philox4x32 with 10 rounds: counter, key, output.
const KNOWN_ANSWERS: [([u32; 4], [u32; 2], [u32; 4]); 3] = [
    ([0, 0, 0, 0], [0, 0], [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]),
    ([u32::MAX; 4], [u32::MAX; 2], [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]),
    (
        [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
        [0xa409_3822, 0x299f_31d0],
        [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1],
    ),
];

/// A program with one kernel over the vectors: it reads each counter and key as numbers from
/// `input` (so nothing is folded at compile time) and stores the four output words as numbers.
fn philox_program() -> Program {
    let mut program = Program::default();
    let n = KNOWN_ANSWERS.len();
    let input = program.add_buffer("input", vec![n, 6]);
    let outputs: Vec<_> = (0..4).map(|k| program.add_buffer(format!("out{k}"), vec![n])).collect();
    let mut b = KernelBuilder::new("philox", vec![n], 1);
    let mut words = Vec::new();
    for column in 0..6 {
        let value = b.load(input, vec![Affine::var(VarId(0)), Affine::constant(column)], vec![Access::Direct; 2], 0.0);
        words.push(word_of(&mut b, value));
    }
    let result = philox(&mut b, [words[0], words[1], words[2], words[3]], [words[4], words[5]]);
    let stores = result
        .iter()
        .zip(&outputs)
        .map(|(word, buffer)| {
            let number = b.push(Node::FromWord(*word));
            Output::assign(*buffer, number)
        })
        .collect();
    let kernel = program.add_kernel(b.finish(stores));
    program.add_procedure("philox", vec![kernel]);
    program
}

/// An engine of `backend` running `program`.
fn build(program: &Arc<Program>, backend: Backend) -> Box<dyn Engine> {
    engine::build(program.clone(), backend, EngineOptions::default()).expect("compiles")
}

fn draw(engine: &mut dyn Engine) -> Vec<[u32; 4]> {
    let flat: Vec<f64> = KNOWN_ANSWERS.iter().flat_map(|(c, k, _)| c.iter().chain(k).map(|w| f64::from(*w))).collect();
    engine.write(BufferId(0), 0, &flat).expect("written");
    engine.run(ProcId(0)).expect("runs");
    let n = KNOWN_ANSWERS.len();
    let outputs: Vec<Vec<f64>> =
        (0..4).map(|k| engine.read(BufferId(1 + k), 0..n).expect("read").into_owned()).collect();
    (0..n).map(|v| std::array::from_fn(|k| outputs[k][v] as u32)).collect()
}

#[test]
fn philox_matches_the_known_answer_vectors_on_every_engine() {
    let program = Arc::new(philox_program());
    noether::compiler::ir::verify(&program).expect("valid IR");
    let expected: Vec<[u32; 4]> = KNOWN_ANSWERS.iter().map(|(_, _, out)| *out).collect();
    assert_eq!(draw(build(&program, Backend::Interp).as_mut()), expected, "interpreter");
    assert_eq!(draw(build(&program, Backend::Jit).as_mut()), expected, "JIT");
}

/// The JIT configurations draws are checked on: 1, 2 and 3 threads, and without AVX-512 (where
/// a Philox round's products take another path, see `codegen::clif::vector`) or AVX.
const JIT_RUNS: [(usize, InstructionSet); 5] = [(1, Native), (2, Native), (3, Native), (2, NoAvx512), (1, Baseline)];

/// Engine options for comparing draws: `threads` threads, parallel from 16 points (so that
/// chunks start anywhere), `instructions`.
fn drawing(threads: usize, instructions: InstructionSet) -> EngineOptions {
    EngineOptions { threads: Some(threads), min_parallel_points: Some(16), instructions, ..EngineOptions::default() }
}

/// Paired draws whose words meet in both of the JIT's orders (see `codegen::clif::vector`'s
/// `WordOrder`: with AVX-512 a product's halves come in the swapped order): a product half
/// combined with straight words, a product of that, a product of two such words, and uniforms
/// of one word of each order. No lowering makes such words (Philox's only ever meet their own
/// order, and it multiplies by constants), so the kernel is built here; the JIT must reorder
/// them and match the interpreter bit for bit.
#[test]
fn joint_words_of_both_orders_meet_as_the_interpreter_computes() {
    const N: usize = 96;
    let mut program = Program::default();
    let out = program.add_buffer("out", vec![N]);
    let mut b = KernelBuilder::new("mixed_orders", vec![N], 1);
    let i = b.push(Node::Index(VarId(0)));
    let (block, offset) = block_of(&mut b, i, 2);
    let counter = b.push(Node::ToWord(block));
    let multiplier = b.word_constant(0xD251_1F53);
    // Two products scramble every bit of the counter and leave its words in the straight order.
    let once = b.word(WordOp::MulLo, multiplier, counter);
    let straight = b.word(WordOp::MulLo, multiplier, once);
    let (hi, lo) = (b.word(WordOp::MulHi, multiplier, straight), b.word(WordOp::MulLo, multiplier, straight));
    let mixed = b.word(WordOp::Xor, hi, straight);
    let again = b.word(WordOp::MulHi, multiplier, mixed);
    let halves = uniform(&mut b, hi, lo);
    let both_orders = uniform(&mut b, again, straight);
    let other_way = uniform(&mut b, straight, mixed);
    // A product of two words that are not constants (which Philox never makes).
    let (cross_hi, cross_lo) = (b.word(WordOp::MulHi, hi, again), b.word(WordOp::MulLo, hi, again));
    let cross = uniform(&mut b, cross_hi, cross_lo);
    let sum = b.binary(Binary::Add, halves, both_orders);
    let sum = b.binary(Binary::Add, sum, cross);
    let value = pick(&mut b, offset, &[sum, other_way]);
    let kernel = program.add_kernel(b.finish(vec![Output::assign(out, value)]));
    program.add_procedure("draw", vec![kernel]);
    let program = Arc::new(program);
    noether::compiler::ir::verify(&program).expect("valid IR");
    let values = |backend, threads, instructions| {
        let options = drawing(threads, instructions);
        let mut engine = engine::build(program.clone(), backend, options).expect("compiles");
        engine.run(ProcId(0)).expect("runs");
        engine.read(out, 0..N).expect("read").iter().map(|z| z.to_bits()).collect::<Vec<u64>>()
    };
    let reference = values(Backend::Interp, 1, Native);
    assert!(reference.iter().all(|&z| f64::from_bits(z) > 0.0), "uniforms were drawn");
    for (threads, instructions) in JIT_RUNS {
        let drawn = values(Backend::Jit, threads, instructions);
        let first = drawn.iter().zip(&reference).position(|(a, b)| a != b);
        assert!(first.is_none(), "{threads} threads, {instructions:?}: point {first:?} differs");
    }
}

/// Uniforms lie strictly inside (0, 1), even from the extreme words.
#[test]
fn uniforms_never_reach_zero_or_one() {
    let mut program = Program::default();
    let input = program.add_buffer("words", vec![3, 2]);
    let output = program.add_buffer("u", vec![3]);
    let mut b = KernelBuilder::new("uniform", vec![3], 1);
    let words: Vec<_> = (0..2)
        .map(|column| {
            let value =
                b.load(input, vec![Affine::var(VarId(0)), Affine::constant(column)], vec![Access::Direct; 2], 0.0);
            word_of(&mut b, value)
        })
        .collect();
    let u = uniform(&mut b, words[0], words[1]);
    let kernel = program.add_kernel(b.finish(vec![Output::assign(output, u)]));
    program.add_procedure("uniform", vec![kernel]);
    let program = Arc::new(program);
    for &backend in Backend::ALL {
        let mut engine = build(&program, backend);
        let max = f64::from(u32::MAX);
        engine.write(input, 0, &[0.0, 0.0, max, max, max, 0.0]).expect("written");
        engine.run(ProcId(0)).expect("runs");
        let u = engine.read(output, 0..3).expect("read");
        assert_eq!(u[0], 2f64.powi(-53), "{}", engine.name());
        assert_eq!(u[1], 1.0 - 2f64.powi(-53), "{}", engine.name());
        assert!(u[2] > 0.99 && u[2] < 1.0, "{}", engine.name());
    }
}

/// `Z` holds the noise's normals of the last step: with `dt = 1`, `Z + (-Z dt + dW) = dW`.
fn normals_script(shape: &str, index: &str) -> String {
    format!(
        "state Z{shape} = 0\nnoise W{shape}\nd Z{index} = -Z{index} * dt + dW{index}\n\
         run euler_maruyama(dt = 1, steps = 1, seed = 3)\n"
    )
}

/// The standard normal distribution function, `Phi`, at `points` (sorted), by Simpson's rule on
/// the density from -10 in steps of at most 1e-3 (error far below 1e-10).
fn normal_cdf(points: &[f64]) -> Vec<f64> {
    let density = |x: f64| (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let (mut at, mut total) = (-10.0_f64, 0.0);
    points
        .iter()
        .map(|&x| {
            let pieces = ((x - at) / 1e-3).ceil().max(1.0);
            let h = (x - at) / pieces;
            for k in 0..pieces as usize {
                let a = at + k as f64 * h;
                total += h / 6.0 * (density(a) + 4.0 * density(a + h / 2.0) + density(a + h));
            }
            at = x;
            total
        })
        .collect()
}

/// Ten million noise normals (both Box–Muller outputs of each draw): mean, variance, skewness
/// and kurtosis within 4 standard errors of the standard normal's; a Kolmogorov–Smirnov test
/// on a million of them; neighbours that share a draw uncorrelated, their squares too.
#[test]
fn noise_normals_have_the_moments_and_distribution_of_standard_normals() {
    let (points, steps) = (200_000, 50);
    let mut sim = support::simulator(&normals_script(" : [p < 200000]", "[p]"), Backend::Jit);
    let mut z = Vec::with_capacity(points * steps);
    for _ in 0..steps {
        sim.step().expect("steps");
        z.extend(sim.state("Z").expect("state").iter().copied());
    }
    let n = z.len() as f64;
    let moment = |k: i32| z.iter().map(|x| x.powi(k)).sum::<f64>() / n;
    let (mean, second, third, fourth) = (moment(1), moment(2), moment(3), moment(4));
    assert!(mean.abs() < 4.0 / n.sqrt(), "mean {mean}");
    assert!((second - 1.0).abs() < 4.0 * (2.0 / n).sqrt(), "variance {second}");
    assert!(third.abs() < 4.0 * (15.0 / n).sqrt(), "third moment {third}");
    assert!((fourth - 3.0).abs() < 4.0 * (96.0 / n).sqrt(), "fourth moment {fourth}");
    // Neighbours 2j, 2j + 1 are the cosine and sine of one draw: independent, so uncorrelated,
    // and so are their squares (which share the radius).
    let pairs = z.chunks_exact(2);
    let m = pairs.len() as f64;
    let product = pairs.clone().map(|p| p[0] * p[1]).sum::<f64>() / m;
    let squares = pairs.map(|p| (p[0] * p[0] - 1.0) * (p[1] * p[1] - 1.0)).sum::<f64>() / m;
    assert!(product.abs() < 4.0 / m.sqrt(), "neighbours correlate: {product}");
    assert!(squares.abs() < 4.0 * 2.0 / m.sqrt(), "neighbours' squares correlate: {squares}");
    let mut sample: Vec<f64> = z.iter().step_by(10).copied().collect();
    sample.sort_by(f64::total_cmp);
    let cdf = normal_cdf(&sample);
    let k = sample.len() as f64;
    let distance = cdf
        .iter()
        .enumerate()
        .map(|(i, &f)| (f - i as f64 / k).abs().max((f - (i + 1) as f64 / k).abs()))
        .fold(0.0, f64::max);
    // The 0.1% critical value of the Kolmogorov distribution is 1.95 / sqrt(n).
    assert!(distance < 1.95 / k.sqrt(), "Kolmogorov–Smirnov distance {distance}");
}

/// Runs `text` on the interpreter and on the JIT with 1, 2 and 3 threads (parallel from 16
/// points, so chunks start anywhere) and demands the same bits of each of `states`, drawn
/// numbers (not all zero).
fn assert_drawn_alike(text: &str, label: &str, states: &[&str]) {
    let model = support::model(text);
    let run = |backend, threads, instructions| {
        let mut sim = model.simulator_with(backend, drawing(threads, instructions)).unwrap_or_else(|f| panic!("{f:?}"));
        sim.run().expect("runs");
        let bits = |name| sim.state(name).expect("state").iter().map(|z| z.to_bits()).collect::<Vec<u64>>();
        states.iter().map(|name| bits(*name)).collect::<Vec<_>>()
    };
    let reference = run(Backend::Interp, 1, Native);
    for (name, values) in states.iter().zip(&reference) {
        assert!(values.iter().any(|&z| z != 0), "{label}: nothing drawn into {name}");
    }
    for (threads, instructions) in JIT_RUNS {
        let drawn = run(Backend::Jit, threads, instructions);
        for ((name, jit), reference) in states.iter().zip(drawn).zip(&reference) {
            let first = jit.iter().zip(reference).position(|(a, b)| a != b);
            assert!(
                first.is_none(),
                "{label}, {threads} threads, {instructions:?}: element {first:?} of {name} differs"
            );
        }
    }
}

/// Noise shapes whose rows are odd or even, long or short, a single point, and thread chunks that
/// start at odd points: the JIT's vector loops (which draw once per pair of points) and the
/// interpreter draw the same normals, bit for bit, on 1, 2 and 3 threads.
#[test]
fn paired_noise_draws_are_identical_on_every_engine_and_thread_count() {
    for (shape, index) in [
        (" : [p < 1001]", "[p]"),
        (" : [p < 37, k < 5]", "[p, k]"),
        (" : [p < 3, k < 401]", "[p, k]"),
        (" : [p < 2, q < 3, k < 7]", "[p, q, k]"),
        (" : [p < 1]", "[p]"),
    ] {
        let text = normals_script(shape, index).replace("steps = 1", "steps = 3");
        assert_drawn_alike(&text, shape, &["Z"]);
    }
}

/// Draws whose counters are built from a block of the row (`floor(j / 2)`, `floor(j / 4)`)
/// and the row's place, as a vector loop computes them in integers: negative counters (which
/// wrap to words), large ones, and forms it must leave to the numbers (a half-integer, a
/// product of two indices) give the interpreter's bits on every thread count.
#[test]
fn draws_counted_by_blocks_of_the_row_are_identical_on_every_engine() {
    let text = "state Z : [i < 3, j < 203] = uniform(5, 3 * i - 7 * floor(j * 0.5) - 2, i) \
                + normal(11, 4294967296 * 3 + floor(j * 0.5)) + uniform(13, floor(j * 0.5) - 0.5) \
                + uniform(17, i * floor(j * 0.5))\n\
                state Y : [i < 3, j < 203] = normal(9, floor(j * 0.25) * 4 + 1048576 * i, 2)\n\
                d/dt Z[i, j] = 0 * Z[i, j]\nd/dt Y[i, j] = 0 * Y[i, j]\nrun euler(dt = 1, steps = 1)\n";
    assert_drawn_alike(text, "counters by blocks", &["Z", "Y"]);
}

/// Noise beside a stencil: rows whose ends resolve a boundary rule and share draws with their
/// neighbours (the JIT's vector loop runs between block boundaries, the points left at each end
/// one at a time, drawing once per block), on rows of many lengths, with chunks of 1–3 threads
/// starting anywhere: the interpreter's bits.
#[test]
fn noise_beside_stencil_edges_is_drawn_the_same_on_every_engine() {
    for (shape, boundary, reach) in [
        ("[k < 1001]", "periodic", 1),
        ("[k < 203]", "clamp", 1),
        ("[k < 203]", "periodic", 2),
        ("[k < 5]", "periodic", 1),
        ("[p < 3, k < 203]", "periodic", 1),
        ("[p < 3, k < 202]", "clamp", 3),
        ("[p < 4, k < 9]", "neumann", 1),
        ("[p < 2, k < 6]", "periodic", 2),
    ] {
        let index = if shape.contains("p <") { "[p, k]" } else { "[k]" };
        let at = |offset: &str| index.replace('k', &format!("k {offset} {reach}"));
        let text = format!(
            "state Z : {shape} {boundary} = 0\nnoise W : {shape}\n\
             d Z{index} = (Z{} - 2 * Z{index} + Z{}) * dt + dW{index}\n\
             run euler_maruyama(dt = 0.1, steps = 3, seed = 5)\n",
            at("+"),
            at("-"),
        );
        assert_drawn_alike(&text, &format!("{shape} {boundary} reach {reach}"), &["Z"]);
    }
}
