//! `cargo bench --bench sde`: geometric Brownian motion ensembles, Noether's JIT against a
//! hand-written Rust loop drawing the same Philox4x32-10 normals, in the same process; and the
//! pathwise gradient against the forward run. Asserts only that both sides computed the same.

mod common;

use common::best;

use std::f64::consts::PI;

use noether::compiler::lower::random::NOISE_STREAMS;
use noether::compiler::math::{Scalar, log};
use noether::{Backend, EngineOptions, Model, Override, Source};

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

/// Box–Muller on two 52-bit uniforms, the same arithmetic as Noether's `normal` (whose `log`
/// is Noether's own, not the platform's).
fn normal(w: [u32; 4]) -> f64 {
    let uniform = |hi: u32, lo: u32| {
        let k = f64::from(hi) * 2f64.powi(20) + (f64::from(lo) * 2f64.powi(-12)).floor();
        (k + 0.5) * 2f64.powi(-52)
    };
    let (u1, u2) = (uniform(w[0], w[1]), uniform(w[2], w[3]));
    (-2.0 * log(&mut Scalar, u1)).sqrt() * (2.0 * PI * u2).cos()
}

/// Euler–Maruyama GBM path by path, each path's state in a register.
fn gbm_by_hand(paths: usize, steps: u32, lambda: f64, mu: f64, dt: f64, seed: u32, stream: u32) -> Vec<f64> {
    let root_dt = dt.sqrt();
    (0..paths)
        .map(|p| {
            let mut x = 1.0;
            for step in 0..steps {
                let z = normal(philox([p as u32, step, 0, 0], [seed, stream]));
                x = (x + lambda * x * dt) + (mu * x) * (root_dt * z);
            }
            x
        })
        .collect()
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let model = Model::from_source(Source::new("gbm.noe", GBM), &[] as &[Override], ".").expect("compiles");
    let stream = NOISE_STREAMS + model.checked().field_named("W").expect("a noise").index() as u32;
    let (hand, by_hand) = best(3, || gbm_by_hand(100_000, 1000, 2.0, 1.0, 0.001, 1, stream));
    println!("{:<48} {:>12} {:>12} {:>7}", "benchmark", "noether", "hand Rust", "ratio");
    for threads in [1, cores] {
        let mut sim = model
            .simulator_with(Backend::Jit, EngineOptions { threads: Some(threads), ..EngineOptions::default() })
            .expect("builds");
        let (forward, ()) = best(3, || sim.run().expect("runs"));
        let ours = sim.state("X").expect("state").to_owned();
        let same = ours.iter().zip(&by_hand).all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "the JIT and the hand loop drew different paths");
        let hand_share = hand.as_secs_f64() * if threads == 1 { 1.0 } else { 1.0 / threads as f64 };
        println!(
            "{:<48} {:>9.1} ms {:>9.1} ms {:>7.2}",
            format!("GBM 100k paths x 1000 steps, {threads} thread(s)"),
            forward.as_secs_f64() * 1e3,
            hand_share * 1e3,
            forward.as_secs_f64() / hand_share
        );
        let (backward, _) = best(2, || sim.gradient("L", &["lambda", "mu"]).expect("gradient"));
        println!(
            "  pathwise gradient (forward + reverse): {:.1} ms = {:.2} x forward",
            backward.as_secs_f64() * 1e3,
            backward.as_secs_f64() / forward.as_secs_f64()
        );
    }
    println!("(the hand loop runs on one thread; with more, its time is divided by the thread count)");
}
