//! `cargo bench --bench md`: Lennard-Jones molecular dynamics, 1000 particles in a periodic box
//! at density 0.8, all pairs with a cut-off of 2.5, velocity Verlet with `dt = 0.005`: Noether's
//! JIT (the design's `lj.noe`, forces by autodiff of the pair energy) against hand-written Rust
//! with analytic forces, in the same process, per step. Two hand-written loops: over all ordered
//! pairs (each particle gathers its force: the structure Noether's force kernel has, divisible
//! between threads by particle), and over unordered pairs with Newton's third law (half the
//! pairs, one thread). The particles start displaced from the lattice, so all three move; the
//! bench asserts they agree.

mod common;

use common::best;

use std::collections::BTreeSet;
use std::time::Duration;

use noether::{Backend, EngineOptions, Model, Override, Simulator, Source};

const N: usize = 1000;
const STEPS: usize = 20;
const DT: f64 = 0.005;
const CUT2: f64 = 2.5 * 2.5;

/// The design's `lj.noe`, started a little off the lattice; `observe` lines are added where the
/// cost of energy observations is measured.
fn script(observed: bool) -> String {
    let observe = if observed {
        "observe kinetic = 0.5 * sum(p, k) v[p, k]^2\nobserve potential = E\nobserve total = kinetic + potential\n"
    } else {
        ""
    };
    format!(
        "const N = 1000\nconst a = (1 / 0.8)^(1/3)\nconst Lbox = 10 * a\nconst rc = 2.5\n\
         state x : [p < N, k < 3] = a * (if k == 0 then p % 10 else if k == 1 then (p // 10) % 10 else p // 100) \
         + 0.02 * sin(7 * p + 3 * k)\n\
         state v : [p < N, k < 3] = 0\nfn lj(r2) = 4 * (r2^-6 - r2^-3)\n\
         let d[p, q, k] = min_image(x[p, k] - x[q, k], Lbox)\nlet r2[p, q] = sum(k) d[p, q, k]^2\n\
         energy E = 0.5 * sum(p, q | p != q and r2[p, q] < rc^2) lj(r2[p, q])\n\
         d/dt x = v\nd/dt v = -grad(E, x)\n{observe}run verlet(dt = {DT}, steps = {STEPS})\n"
    )
}

/// The side of the box.
fn side() -> f64 {
    10.0 * (1.0_f64 / 0.8).powf(1.0 / 3.0)
}

/// The script's initial positions, particle by particle.
fn initial_positions() -> Vec<f64> {
    let a = (1.0_f64 / 0.8).powf(1.0 / 3.0);
    (0..3 * N)
        .map(|i| {
            let (p, k) = (i / 3, i % 3);
            let site = [p % 10, (p / 10) % 10, p / 100][k] as f64;
            a * site + 0.02 * (7.0 * p as f64 + 3.0 * k as f64).sin()
        })
        .collect()
}

/// `d` folded into `[-L/2, L/2)`, as the prelude's `min_image` (multiplying by `1 / side`, which
/// the compiler hoists out of the pair loops); `floor` by truncation (exact at these
/// magnitudes), since `f64::floor` is a library call on the baseline x86-64 target.
#[inline(always)]
fn min_image(d: f64, side: f64) -> f64 {
    let y = d * (1.0 / side) + 0.5;
    let t = y as i64 as f64;
    d - side * if t > y { t - 1.0 } else { t }
}

/// The separation of `p` from `q` and the force's factor `c` (the force on `p` is `c d`), when
/// they are within the cut-off.
#[inline(always)]
fn pair(x: &[f64], p: usize, q: usize, side: f64) -> Option<([f64; 3], f64)> {
    let d: [f64; 3] = std::array::from_fn(|k| min_image(x[3 * p + k] - x[3 * q + k], side));
    let r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
    (r2 < CUT2).then(|| {
        let inv = 1.0 / r2;
        let inv6 = inv * inv * inv;
        (d, 24.0 * inv * inv6 * (2.0 * inv6 - 1.0))
    })
}

/// The force on particle `p` from every other one within the cut-off.
#[inline(always)]
fn force_on(x: &[f64], p: usize, side: f64) -> [f64; 3] {
    let mut f = [0.0; 3];
    for q in (0..N).filter(|&q| q != p) {
        if let Some((d, c)) = pair(x, p, q, side) {
            for k in 0..3 {
                f[k] += c * d[k];
            }
        }
    }
    f
}

/// Forces over all ordered pairs, particles split between `threads` threads.
fn forces_all_pairs(x: &[f64], f: &mut [f64], threads: usize) {
    let side = side();
    let chunk = N.div_ceil(threads);
    std::thread::scope(|scope| {
        for (c, part) in f.chunks_mut(3 * chunk).enumerate() {
            let mut work = move || {
                for (i, out) in part.chunks_mut(3).enumerate() {
                    out.copy_from_slice(&force_on(x, c * chunk + i, side));
                }
            };
            if c + 1 == threads { work() } else { drop(scope.spawn(work)) }
        }
    });
}

/// Forces over unordered pairs, each pair's force added to both particles.
fn forces_half_pairs(x: &[f64], f: &mut [f64]) {
    let side = side();
    f.fill(0.0);
    for p in 0..N {
        for q in p + 1..N {
            if let Some((d, c)) = pair(x, p, q, side) {
                for k in 0..3 {
                    f[3 * p + k] += c * d[k];
                    f[3 * q + k] -= c * d[k];
                }
            }
        }
    }
}

/// A velocity Verlet trajectory by hand, the end-of-step force kept for the next step.
struct ByHand<'f> {
    x: Vec<f64>,
    v: Vec<f64>,
    f: Vec<f64>,
    forces: &'f dyn Fn(&[f64], &mut [f64]),
}

impl<'f> ByHand<'f> {
    fn new(forces: &'f dyn Fn(&[f64], &mut [f64])) -> Self {
        let x = initial_positions();
        let mut f = vec![0.0; 3 * N];
        forces(&x, &mut f);
        ByHand { x, v: vec![0.0; 3 * N], f, forces }
    }

    fn steps(&mut self, steps: usize) {
        for _ in 0..steps {
            for i in 0..3 * N {
                self.v[i] += 0.5 * DT * self.f[i];
                self.x[i] += DT * self.v[i];
            }
            (self.forces)(&self.x, &mut self.f);
            for i in 0..3 * N {
                self.v[i] += 0.5 * DT * self.f[i];
            }
        }
    }
}

/// The time per step of velocity Verlet with `forces` (best of three stretches of `STEPS` steps
/// along one trajectory), and the positions after the first `STEPS` steps.
fn by_hand(forces: &dyn Fn(&[f64], &mut [f64])) -> (Duration, Vec<f64>) {
    let mut run = ByHand::new(forces);
    run.steps(STEPS);
    let positions = run.x.clone();
    let (time, ()) = best(3, || run.steps(STEPS));
    (time / STEPS as u32, positions)
}

fn simulator(model: &Model, threads: usize) -> Simulator {
    model
        .simulator_with(Backend::Jit, EngineOptions { threads: Some(threads), ..EngineOptions::default() })
        .unwrap_or_else(|f| panic!("{f:?}"))
}

/// The time per step of `sim` (as [`by_hand`] times it), and the positions after `STEPS` steps.
fn noether_per_step(sim: &mut Simulator) -> (Duration, Vec<f64>) {
    sim.run().expect("runs");
    let positions = sim.state("x").expect("state").iter().copied().collect();
    let (time, ()) = best(3, || {
        for _ in 0..STEPS {
            sim.step().expect("steps");
        }
    });
    (time / STEPS as u32, positions)
}

fn row(name: &str, ours: Duration, hand: Duration) {
    println!(
        "{name:<58} {:>8.2} ms {:>8.2} ms {:>7.2}",
        ours.as_secs_f64() * 1e3,
        hand.as_secs_f64() * 1e3,
        ours.as_secs_f64() / hand.as_secs_f64()
    );
}

/// Panics unless two position sets agree to 1e-9 (the force formulas differ in rounding only).
fn assert_close(ours: &[f64], hand: &[f64], what: &str) {
    let worst = ours.iter().zip(hand).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(worst < 1e-9, "{what}: positions differ by {worst}");
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let compile = |observed: bool| {
        Model::from_source(Source::new("lj.noe", script(observed)), &[] as &[Override], ".").expect("compiles")
    };
    let (model, observed) = (compile(false), compile(true));
    let (half, by_half) = by_hand(&forces_half_pairs);
    println!(
        "{:<58} {:>11} {:>11} {:>7}",
        "Lennard-Jones, 1000 particles, velocity Verlet, per step", "noether", "hand Rust", "ratio"
    );
    let thread_counts: BTreeSet<usize> = [1, 2.min(cores), cores].into();
    for threads in thread_counts {
        let (all, by_all) = by_hand(&|x, f| forces_all_pairs(x, f, threads));
        let (ours, x) = noether_per_step(&mut simulator(&model, threads));
        assert_close(&x, &by_all, "all pairs");
        assert_close(&x, &by_half, "half pairs");
        row(&format!("  {threads} thread(s), against all ordered pairs ({threads} thread(s))"), ours, all);
        row(&format!("  {threads} thread(s), against unordered pairs (1 thread)"), ours, half);
        let (with_energies, _) = noether_per_step(&mut simulator(&observed, threads));
        row(&format!("  {threads} thread(s), observing kinetic, potential, total"), with_energies, all);
    }
}
