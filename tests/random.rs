//! Random numbers: Philox4x32-10 as Kernel IR word arithmetic, against the published
//! known-answer vectors, on every engine.

use std::sync::Arc;

use noether::compiler::ir::builder::KernelBuilder;
use noether::compiler::ir::{Access, Affine, BufferId, Node, Output, ProcId, Program, VarId};
use noether::compiler::lower::random::{philox, uniform, word_of};
use noether::runtime::engine::{self, Backend, Engine, EngineOptions};

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
