//! `cargo bench --bench sampling`: the 2D Ising model on a 256² torus, checkerboard Metropolis,
//! Noether's JIT against a hand-written Rust checkerboard loop in the same process. The hand
//! loop draws the same Philox4x32-10 uniforms (keyed by seed, the sampler's stream, the site
//! and the sweep) and takes its acceptance ratios from a table, so both make the same chain;
//! the benchmark asserts that. The first row of each thread count compares with a loop as fast
//! as hand-written code gets without those draws (`i8` spins and xorshift: another chain), the
//! second with the Philox loop; both print the time per sweep and the ratio.

mod common;

use std::time::Duration;

use common::best;

use noether::compiler::lower::random::{Purpose, philox_words, sampler_stream, word_uniform_of};
use noether::compiler::math::{Scalar, exp};
use noether::{Backend, EngineOptions, Model, Override, Source};

const L: usize = 256;
const BETA: f64 = 0.44;
const SEED: u32 = 7;
const SWEEPS: u64 = 200;

fn script() -> String {
    format!(
        "const L = {L}\nparam beta = {BETA}\nstate s : [i < L, j < L] periodic spin = 1\n\
         energy H = -sum(i, j) s[i, j] * (s[i+1, j] + s[i, j+1])\n\
         sample s ~ exp(-beta * H) with metropolis(sweeps = {SWEEPS}, order = checkerboard, seed = {SEED})\n"
    )
}

/// One checkerboard sweep's visits: colour 0 (even `i + j`), then colour 1, each site with its
/// four periodic neighbours (flat indices).
fn checkerboard(mut visit: impl FnMut(usize, [usize; 4])) {
    for colour in 0..2 {
        for i in 0..L {
            let (up, down) = ((i + L - 1) % L * L, (i + 1) % L * L);
            for j in (((i + colour) % 2)..L).step_by(2) {
                let (left, right) = (i * L + (j + L - 1) % L, i * L + (j + 1) % L);
                visit(i * L + j, [up + j, down + j, left, right]);
            }
        }
    }
}

/// `sweeps` checkerboard Metropolis sweeps of an all-up lattice; a flip of `s` with neighbour
/// sum `n` is accepted when `u < exp(-2 beta s n)`.
fn ising_by_hand(sweeps: u64, stream: u32) -> Vec<f64> {
    let mut s = vec![1.0f64; L * L];
    // The acceptance ratio for s * n = -4, -2, 0, 2, 4.
    let ratios: Vec<f64> = (0..5).map(|k: i32| exp(&mut Scalar, -2.0 * BETA * f64::from(2 * k - 4))).collect();
    for sweep in 0..sweeps {
        let (low, high) = (sweep as u32, (sweep >> 32) as u32);
        checkerboard(|site, [a, b, c, d]| {
            let (spin, n) = (s[site], s[a] + s[b] + s[c] + s[d]);
            // Sites `j`, `j + 2`, `j + 4`, `j + 6` of a colour share the draw counted by the
            // first of them (column `8 (j / 8) + j % 2`), each taking one word as its uniform.
            let (row, column) = (site / L, site % L);
            let first = row * L + 8 * (column / 8) + column % 2;
            let words = philox_words([first as u32, low, high, 0], [SEED, stream]);
            let u = word_uniform_of(words[(column / 2) % 4]);
            if u < ratios[((spin * n + 4.0) / 2.0) as usize] {
                s[site] = -spin;
            }
        });
    }
    s
}

/// The same sweeps as a hand-written loop would make them without Noether's draws: `i8` spins
/// and a xorshift generator (Marsaglia 2003), one 64-bit word per attempt compared with integer
/// thresholds. Another chain, so only its time is reported: the floor a fast loop reaches.
fn ising_fast(sweeps: u64) -> i64 {
    let mut s = vec![1i8; L * L];
    let thresholds: Vec<u64> =
        (0..5).map(|k: i32| ((-2.0 * BETA * f64::from(2 * k - 4)).exp().min(1.0) * u64::MAX as f64) as u64).collect();
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    for _ in 0..sweeps {
        checkerboard(|site, [a, b, c, d]| {
            let n = s[a] + s[b] + s[c] + s[d];
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            if state < thresholds[((s[site] * n + 4) / 2) as usize] {
                s[site] = -s[site];
            }
        });
    }
    s.iter().map(|&x| i64::from(x)).sum()
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let model = Model::from_source(Source::new("ising.noe", script()), &[] as &[Override], ".").expect("compiles");
    let field = model.checked().field_named("s").expect("the spins").index();
    let stream = sampler_stream(field, Purpose::Accept);
    let (hand, by_hand) = best(3, || ising_by_hand(SWEEPS, stream));
    let per_sweep = |d: Duration| d.as_secs_f64() * 1e6 / SWEEPS as f64;
    println!("{:<60} {:>12} {:>12} {:>7}", "benchmark (time per sweep)", "noether", "hand Rust", "ratio");
    let row = |name: String, ours: Duration, theirs: Duration| {
        let (ours, theirs) = (per_sweep(ours), per_sweep(theirs));
        println!("{name:<60} {ours:>9.1} µs {theirs:>9.1} µs {:>7.2}", ours / theirs);
    };
    for threads in [1, cores] {
        let options = EngineOptions { threads: Some(threads), ..EngineOptions::default() };
        let mut sim = model.simulator_with(Backend::Jit, options).expect("builds");
        // Noether and the fastest loop alternate, so that a change in the machine's load moves
        // both; each keeps its best time.
        let (mut ours, mut fast) = (Duration::MAX, Duration::MAX);
        for _ in 0..5 {
            ours = ours.min(best(1, || sim.run().expect("runs")).0);
            fast = fast.min(best(1, || ising_fast(SWEEPS)).0);
        }
        let state = sim.state("s").expect("state");
        let same = state.iter().zip(&by_hand).all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "the JIT and the hand loop made different chains");
        // The hand loops run on one thread; with more, compare against a perfect split of them.
        let split = |d: Duration| d / threads as u32;
        row(format!("Ising {L}², checkerboard, vs i8 spins + xorshift, {threads} thread(s)"), ours, split(fast));
        row(format!("  same, vs a loop with Noether's Philox draws, {threads} thread(s)"), ours, split(hand));
    }
    println!("(the hand loops run on one thread; with more, their time is divided by the thread count)");
}
