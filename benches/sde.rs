//! `cargo bench --bench sde`: geometric Brownian motion ensembles, Noether's JIT against the
//! fastest loop a user would write by hand (xoshiro256++ and ziggurat normals, eight paths
//! interleaved so their updates overlap, the paths divided between as many threads as Noether
//! has; the gradient by forward-mode tangents in the same loop), and against a like-for-like
//! loop drawing Noether's own Philox4x32-10 normals, in the same process. Noether's gradient is
//! timed in its default mode (forward, for these two params) and in reverse mode. Asserts that
//! the like-for-like loop reproduces the JIT's paths bit for bit and that the fast loop's mean
//! is the same process's (within its statistical error).

mod common;

use common::{best, best_alternating};

use noether::compiler::lower::random::{NOISE_STREAMS, normal_pair_of};
use noether::{Backend, EngineOptions, GradientMode, GradientOptions, Model, Override, Source};
use rand_distr::{Distribution, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::SeedableRng;

const GBM: &str = "const M = 100000\nparam lambda = 2.0\nparam mu = 1.0\nstate X : [p < M] = 1.0\nnoise W : [p < M]\n\
                   d X[p] = lambda * X[p] * dt + mu * X[p] * dW[p]\nloss L = mean(p) X[p]\n\
                   run euler_maruyama(dt = 0.001, steps = 1000, seed = 1)\n";

/// Philox4x32-10 (Salmon et al. 2011), written directly.
fn philox(mut x: [u32; 4], mut key: [u32; 2]) -> [u32; 4] {
    for round in 0..10 {
        if round > 0 {
            key = [key[0].wrapping_add(0x9E37_79B9), key[1].wrapping_add(0xBB67_AE85)];
        }
        let p0 = u64::from(0xD251_1F53_u32) * u64::from(x[0]);
        let p1 = u64::from(0xCD9E_8D57_u32) * u64::from(x[2]);
        x = [(p1 >> 32) as u32 ^ x[1] ^ key[0], p1 as u32, (p0 >> 32) as u32 ^ x[3] ^ key[1], p0 as u32];
    }
    x
}

/// Euler–Maruyama GBM paths in pairs, each pair's states in registers: paths `2j` and `2j + 1`
/// take the cosine and sine normal of one Philox draw, as Noether's noise does.
fn gbm_by_hand(paths: usize, steps: u32, lambda: f64, mu: f64, dt: f64, seed: u32, stream: u32) -> Vec<f64> {
    let root_dt = dt.sqrt();
    (0..paths.div_ceil(2))
        .flat_map(|pair| {
            let mut x = [1.0, 1.0];
            for step in 0..steps {
                let z = normal_pair_of(philox([pair as u32, step, 0, 0], [seed, stream]));
                for k in 0..2 {
                    x[k] = (x[k] + lambda * x[k] * dt) + (mu * x[k]) * (root_dt * z[k]);
                }
            }
            x
        })
        .take(paths)
        .collect()
}

/// Paths advanced together by the fast loop: independent updates the CPU overlaps.
const INTERLEAVED: usize = 8;

/// The fastest GBM loop: one xoshiro256++ stream per block of paths, ziggurat normals, the
/// block's states in registers, the blocks divided between `threads` threads. With `tangents`,
/// also carries dX/dlambda and dX/dmu and returns the mean of each (the pathwise gradient of
/// `mean(X)`); else their slots are 0.
fn gbm_fast(threads: usize, paths: usize, steps: u32, lambda: f64, mu: f64, dt: f64, tangents: bool) -> [f64; 3] {
    let blocks = paths / INTERLEAVED;
    let share = blocks.div_ceil(threads);
    let totals: Vec<[f64; 3]> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let range = (t * share).min(blocks)..((t + 1) * share).min(blocks);
                scope.spawn(move || gbm_blocks(range, steps, lambda, mu, dt, tangents))
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("a worker finishes")).collect()
    });
    let sum = totals.iter().fold([0.0; 3], |acc, t| [acc[0] + t[0], acc[1] + t[1], acc[2] + t[2]]);
    sum.map(|t| t / paths as f64)
}

/// The blocks `blocks` of [`gbm_fast`]: the sums of their final states and tangents.
fn gbm_blocks(blocks: std::ops::Range<usize>, steps: u32, lambda: f64, mu: f64, dt: f64, tangents: bool) -> [f64; 3] {
    let root_dt = dt.sqrt();
    let mut totals = [0.0; 3];
    for block in blocks {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(block as u64);
        let (mut x, mut dl, mut dm) = ([1.0f64; INTERLEAVED], [0.0f64; INTERLEAVED], [0.0f64; INTERLEAVED]);
        for _ in 0..steps {
            let z: [f64; INTERLEAVED] = std::array::from_fn(|_| StandardNormal.sample(&mut rng));
            for k in 0..INTERLEAVED {
                let noise = root_dt * z[k];
                let growth = 1.0 + lambda * dt + mu * noise;
                if tangents {
                    dl[k] = dl[k] * growth + x[k] * dt;
                    dm[k] = dm[k] * growth + x[k] * noise;
                }
                x[k] *= growth;
            }
        }
        totals[0] += x.iter().sum::<f64>();
        totals[1] += dl.iter().sum::<f64>();
        totals[2] += dm.iter().sum::<f64>();
    }
    totals
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let model = Model::from_source(Source::new("gbm.noe", GBM), &[] as &[Override], ".").expect("compiles");
    let stream = NOISE_STREAMS + model.checked().field_named("W").expect("a noise").index() as u32;
    let (like_for_like, by_hand) = best(3, || gbm_by_hand(100_000, 1000, 2.0, 1.0, 0.001, 1, stream));
    println!("{:<48} {:>12} {:>12} {:>7}", "benchmark", "noether", "hand Rust", "ratio");
    for threads in [1, cores] {
        let mut sim = model
            .simulator_with(Backend::Jit, EngineOptions { threads: Some(threads), ..EngineOptions::default() })
            .expect("builds");
        let ((forward, ()), (fast, [fast_mean, ..])) = best_alternating(
            5,
            || sim.run().expect("runs"),
            || gbm_fast(threads, 100_000, 1000, 2.0, 1.0, 0.001, false),
        );
        // E X_N = (1 + lambda dt)^N; the sample mean of 1e5 paths is within a few per cent.
        let exact = (1.0f64 + 2.0 * 0.001).powi(1000);
        assert!((fast_mean / exact - 1.0).abs() < 0.05, "the fast loop's mean {fast_mean} is not GBM's {exact}");
        let ours = sim.state("X").expect("state").to_owned();
        let same = ours.iter().zip(&by_hand).all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "the JIT and the hand loop drew different paths");
        let row = |what: &str, ours: std::time::Duration, hand: f64| {
            println!(
                "{:<48} {:>9.1} ms {:>9.1} ms {:>7.2}",
                format!("{what}, {threads} thread(s)"),
                ours.as_secs_f64() * 1e3,
                hand * 1e3,
                ours.as_secs_f64() / hand
            );
        };
        row("GBM 100k x 1000 vs xoshiro+ziggurat", forward, fast.as_secs_f64());
        row("  same, vs a loop with Noether's Philox normals", forward, like_for_like.as_secs_f64() / threads as f64);
        let ((backward, gradient), (fast_gradient, [_, fast_dl, fast_dm])) = best_alternating(
            3,
            || sim.gradient("L", &["lambda", "mu"]).expect("gradient"),
            || gbm_fast(threads, 100_000, 1000, 2.0, 1.0, 0.001, true),
        );
        let fast_gradient = fast_gradient.as_secs_f64();
        row("GBM pathwise gradient vs forward-mode by hand", backward, fast_gradient);
        let reverse = GradientOptions { mode: GradientMode::Reverse, ..GradientOptions::default() };
        let (reversed, _) = best(1, || sim.gradient_with("L", &["lambda", "mu"], reverse).expect("gradient"));
        row("  same, reverse mode (checkpoints)", reversed, fast_gradient);
        println!(
            "  gradient = {:.2} x forward; dL/dlambda {:.3} (hand {:.3}), dL/dmu {:.3} (hand {:.3})",
            backward.as_secs_f64() / forward.as_secs_f64(),
            gradient.get("lambda").expect("dL/dlambda").sum(),
            fast_dl,
            gradient.get("mu").expect("dL/dmu").sum(),
            fast_dm
        );
    }
    println!("(the fast hand loops run on as many threads as Noether; the Philox loop on one, its time divided)");
}
