//! `cargo bench --bench sampling`: the 2D Ising model on a 256² torus, checkerboard Metropolis,
//! Noether's JIT against a hand-written Rust checkerboard loop in the same process. The hand
//! loop draws the same Philox4x32-10 uniforms (keyed by seed, the sampler's stream, the site
//! and the sweep) and takes its acceptance ratios from a table, so both make the same chain;
//! the benchmark asserts that. The first row of each thread count compares with a loop as fast
//! as hand-written code gets without those draws (`i8` spins stored by colour, a xorshift
//! stream per column, branch-free flips: the compiler vectorises it; another chain), the
//! second with the same loop drawing a Philox4x32-10 word a site (a draw for four sites, as
//! Noether's sampler does: the fastest loop under the rule that draws are counter-based
//! Philox), the third with the loop drawing Noether's own uniforms; each prints the time per
//! sweep and the ratio.

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

/// Metropolis flips of the spins `row` (`i8`) against the neighbour sums `up + down + left +
/// right`, each drawing from its own xorshift32 stream (Marsaglia 2003) and flipping without a
/// branch where the draw is below `limit(s n)`: straight-line code over slices, which the
/// compiler vectorises.
fn flip_row(row: &mut [i8], [up, down, left, right]: [&[i8]; 4], streams: &mut [u32], (t2, t4): (u32, u32)) {
    let sites = row.iter_mut().zip(up).zip(down).zip(left).zip(right).zip(streams.iter_mut());
    for (((((s, &u), &d), &l), &r), stream) in sites {
        let sn = i32::from(*s) * i32::from(u + d + l + r);
        let mut x = *stream;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *stream = x;
        *s = if x <= limit(sn, (t2, t4)) { -*s } else { *s };
    }
}

/// The largest random word that accepts a flip with `s n = sn` (every word where the energy
/// does not rise).
fn limit(sn: i32, (t2, t4): (u32, u32)) -> u32 {
    if sn <= 0 {
        u32::MAX
    } else if sn == 2 {
        t2
    } else {
        t4
    }
}

/// [`flip_row`] with the row's random words drawn beforehand (`words`, one a site).
fn flip_row_drawn(row: &mut [i8], [up, down, left, right]: [&[i8]; 4], words: &[u32], limits: (u32, u32)) {
    let sites = row.iter_mut().zip(up).zip(down).zip(left).zip(right).zip(words);
    for (((((s, &u), &d), &l), &r), &x) in sites {
        let sn = i32::from(*s) * i32::from(u + d + l + r);
        *s = if x <= limit(sn, limits) { -*s } else { *s };
    }
}

/// Philox4x32-10 of `DRAWS` counters at once, their words as structure of arrays (the form the
/// compiler vectorises, `pmuludq` for the products): `x[w][j]` is word `w` of draw `j`.
fn philox_drawn<const DRAWS: usize>(x: &mut [[u32; DRAWS]; 4], mut key: [u32; 2]) {
    for round in 0..10 {
        if round > 0 {
            key = [key[0].wrapping_add(0x9E37_79B9), key[1].wrapping_add(0xBB67_AE85)];
        }
        for j in 0..DRAWS {
            let p0 = u64::from(0xD251_1F53_u32) * u64::from(x[0][j]);
            let p1 = u64::from(0xCD9E_8D57_u32) * u64::from(x[2][j]);
            let next =
                [(p1 >> 32) as u32 ^ x[1][j] ^ key[0], p1 as u32, (p0 >> 32) as u32 ^ x[3][j] ^ key[1], p0 as u32];
            for (word, value) in x.iter_mut().zip(next) {
                word[j] = value;
            }
        }
    }
}

/// [`ising_fast`] drawing Philox4x32-10 words instead of xorshift ones, a draw for four sites
/// as Noether's sampler takes them (another chain, so only its time is reported): the
/// fastest loop a user would write under the rule that draws are counter-based Philox.
fn ising_fast_philox(sweeps: u64) -> i64 {
    const H: usize = L / 2;
    const DRAWS: usize = H / 4;
    let threshold = |sn: i32| ((-2.0 * BETA * f64::from(sn)).exp().min(1.0) * f64::from(u32::MAX)) as u32;
    let limits = (threshold(2), threshold(4));
    let mut colours = [vec![1i8; L * H], vec![1i8; L * H]];
    let mut words = [0u32; H];
    for sweep in 0..sweeps {
        for c in 0..2 {
            let [a, b] = &mut colours;
            let (mine, other) = if c == 0 { (a, &*b) } else { (b, &*a) };
            for i in 0..L {
                let mut x = [[0u32; DRAWS]; 4];
                let [counters, sweeps_done, ..] = &mut x;
                for (j, (counter, done)) in counters.iter_mut().zip(sweeps_done.iter_mut()).enumerate() {
                    (*counter, *done) = (((c * L + i) * DRAWS + j) as u32, sweep as u32);
                }
                philox_drawn(&mut x, [SEED, 0]);
                for (k, word) in words.iter_mut().enumerate() {
                    *word = x[k % 4][k / 4];
                }
                let (up, down) = (&other[(i + L - 1) % L * H..][..H], &other[(i + 1) % L * H..][..H]);
                let beside = &other[i * H..][..H];
                let row = &mut mine[i * H..][..H];
                let p = (i + c) % 2;
                let inner = [&up[1..H - 1], &down[1..H - 1], &beside[p..p + H - 2], &beside[p + 1..p + H - 1]];
                flip_row_drawn(&mut row[1..H - 1], inner, &words[1..H - 1], limits);
                for k in [0, H - 1] {
                    let (l, r) = ((k + H - 1 + p) % H, (k + p) % H);
                    let ends = [&up[k..=k], &down[k..=k], &beside[l..=l], &beside[r..=r]];
                    flip_row_drawn(&mut row[k..=k], ends, &words[k..=k], limits);
                }
            }
        }
    }
    colours.iter().flatten().map(|&x| i64::from(x)).sum()
}

/// The same sweeps as a hand-written loop tuned for speed would make them, without Noether's
/// draws (another chain, so only its time is reported): `i8` spins stored by colour, each
/// colour's rows contiguous (a site's four neighbours are in the other colour's array at the
/// same column or one beside it), one xorshift32 stream per column, branch-free flips.
fn ising_fast(sweeps: u64) -> i64 {
    const H: usize = L / 2;
    let threshold = |sn: i32| ((-2.0 * BETA * f64::from(sn)).exp().min(1.0) * f64::from(u32::MAX)) as u32;
    let limits = (threshold(2), threshold(4));
    // `colours[c][i * H + k]`: the spin at row `i`, column `2 k + (i + c) % 2`.
    let mut colours = [vec![1i8; L * H], vec![1i8; L * H]];
    let mut streams: Vec<u32> = (0..H as u32).map(|k| (0x9E37_79B9 ^ k.wrapping_mul(0x85EB_CA6B)) | 1).collect();
    for _ in 0..sweeps {
        for c in 0..2 {
            let [a, b] = &mut colours;
            let (mine, other) = if c == 0 { (a, &*b) } else { (b, &*a) };
            for i in 0..L {
                let (up, down) = (&other[(i + L - 1) % L * H..][..H], &other[(i + 1) % L * H..][..H]);
                let beside = &other[i * H..][..H];
                let row = &mut mine[i * H..][..H];
                // Column `2 k + p`: its left and right neighbours are the other colour's
                // columns `k - 1 + p` and `k + p` (wrapping at the ends).
                let p = (i + c) % 2;
                let inner = [&up[1..H - 1], &down[1..H - 1], &beside[p..p + H - 2], &beside[p + 1..p + H - 1]];
                flip_row(&mut row[1..H - 1], inner, &mut streams[1..H - 1], limits);
                for k in [0, H - 1] {
                    let (l, r) = ((k + H - 1 + p) % H, (k + p) % H);
                    let ends = [&up[k..=k], &down[k..=k], &beside[l..=l], &beside[r..=r]];
                    flip_row(&mut row[k..=k], ends, &mut streams[k..=k], limits);
                }
            }
        }
    }
    colours.iter().flatten().map(|&x| i64::from(x)).sum()
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
        let (mut ours, mut fast, mut fast_philox) = (Duration::MAX, Duration::MAX, Duration::MAX);
        for _ in 0..5 {
            ours = ours.min(best(1, || sim.run().expect("runs")).0);
            fast = fast.min(best(1, || ising_fast(SWEEPS)).0);
            fast_philox = fast_philox.min(best(1, || ising_fast_philox(SWEEPS)).0);
        }
        let state = sim.state("s").expect("state");
        let same = state.iter().zip(&by_hand).all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "the JIT and the hand loop made different chains");
        // The hand loops run on one thread; with more, compare against a perfect split of them.
        let split = |d: Duration| d / threads as u32;
        row(format!("Ising {L}², checkerboard, vs a vectorised i8 loop, {threads} thread(s)"), ours, split(fast));
        row(format!("  same, vs the i8 loop drawing Philox words, {threads} thread(s)"), ours, split(fast_philox));
        row(format!("  same, vs a loop with Noether's Philox draws, {threads} thread(s)"), ours, split(hand));
    }
    println!("(the hand loops run on one thread; with more, their time is divided by the thread count)");
}
