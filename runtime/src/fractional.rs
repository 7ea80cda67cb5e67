//! Fractional Brownian motion: the increments of `B_H` over a run's steps, drawn before the run
//! by Davies–Harte circulant embedding.
//!
//! Fractional Gaussian noise (the increments of `B_H` over unit steps) is stationary with
//! autocovariance `γ(k) = (|k+1|^2H - 2|k|^2H + |k-1|^2H) / 2`; over steps of `dt` it is
//! `dt^H` times that. Its increments are correlated across the whole run (for H > 1/2 the
//! correlation decays as `k^(2H-2)`, too slowly to truncate), so a step's increment cannot be
//! drawn on its own as an ordinary noise's is. Davies–Harte is exact (the samples have exactly
//! the covariance above, not an approximation of it) and costs O(N log N) per path for N steps,
//! against O(N^2) for Hosking's recursion or a Cholesky factor's product (and O(N^3) to factor):
//! embed the N x N Toeplitz covariance in a 2N-circulant, whose eigenvalues `λ_k` are one FFT
//! of its first row and are nonnegative for every H in (0, 1) (Craigmile 2003; checked here),
//! then the FFT of `sqrt(λ_k / 2N) (Z_k + i Z'_k)` has real and imaginary parts that are two
//! independent fGn paths.
//!
//! The normals are counter-keyed Philox draws like every other noise in Noether: elements
//! `2j` and `2j+1` of a noise share pair `j`, whose normals `Z_k`, `Z'_k` are the two
//! Box–Muller outputs of counter (j, k) under key (seed, the noise's stream). So the increments
//! are a function of the seed, the run's length and the noise alone: every engine reads the
//! same table, a gradient's reverse pass reads it again, and the pathwise gradient flows
//! through the noise map, which the parameters do not enter. The FFT is rustfft's scalar
//! planner (no CPU-dependent SIMD paths) and the math is Noether's own, so a table is the same
//! on every machine.

use noether_compiler::diag::Failure;
use noether_compiler::ir::BufferId;
use noether_compiler::lower::random::{NOISE_STREAMS, normal_pair_of, philox_words};
use noether_compiler::math::{self, Scalar};
use rayon::prelude::*;
use rustfft::FftPlannerScalar;
use rustfft::num_complex::Complex64;

use crate::error::{RunError, bytes_text};
use crate::memory::Allowance;
use crate::simulator::{Schedule, Simulator};

/// A fractional noise of a simulator: where its increments go and the table drawn last.
#[derive(Debug)]
pub(crate) struct FractionalNoise {
    name: String,
    hurst: f64,
    buffer: BufferId,
    stream: u32,
    table: Option<Increments>,
}

/// The fractional noises of the simulator's model, none drawn yet.
pub(crate) fn noises(model: &crate::model::Model) -> Vec<FractionalNoise> {
    noether_compiler::lower::fractional_noises(model.compiled())
        .map(|(field, hurst, buffer)| FractionalNoise {
            name: model.checked().field(field).name.clone(),
            hurst,
            buffer,
            stream: NOISE_STREAMS + field.index() as u32,
            table: None,
        })
        .collect()
}

impl Simulator {
    /// Writes step `step`'s increments into every fractional noise's buffer, drawing the tables
    /// first where the settings changed (nothing after the last step, which no step reads).
    pub(crate) fn write_fractional_increments(&mut self, step: u64) -> Result<(), Failure> {
        let Some(Schedule::Integrate(settings)) = self.schedule else { return Ok(()) };
        for index in 0..self.fractional.len() {
            let noise = &self.fractional[index];
            let key = IncrementsKey {
                hurst: noise.hurst,
                steps: settings.steps as usize,
                count: self.model.program().buffer(noise.buffer).len(),
                dt: settings.dt,
                key: [settings.seed as u32, noise.stream],
            };
            if noise.table.as_ref().is_none_or(|t| t.key != key) {
                self.fractional[index].table = None;
                self.check_table_memory(&key, index)?;
                self.fractional[index].table = Some(Increments::draw(key));
            }
            let noise = &self.fractional[index];
            if step < settings.steps {
                let values = noise.table.as_ref().expect("drawn above").step(step as usize);
                self.engine.write(noise.buffer, 0, values).map_err(self.model.engine_failure())?;
            }
        }
        Ok(())
    }

    /// Refuses a step past the run's last when fractional noise drives it: its increments are
    /// drawn for the run's steps together.
    pub(crate) fn check_fractional_horizon(&self) -> Result<(), Failure> {
        let (Some(noise), Some(Schedule::Integrate(settings))) = (self.fractional.first(), self.schedule) else {
            return Ok(());
        };
        if self.steps_done < settings.steps {
            return Ok(());
        }
        Err(self.model.fail(RunError::BadSetting {
            setting: "steps",
            problem: format!(
                "the fractional noise `{}` was drawn for the run's {} steps; step {} is past them",
                noise.name,
                settings.steps,
                self.steps_done + 1
            ),
            help: "set the steps before running (`--steps`, `set_steps`): fractional increments are correlated \
                   over the whole run, so they are drawn for all of it"
                .into(),
        }))
    }

    fn check_table_memory(&self, key: &IncrementsKey, index: usize) -> Result<(), Failure> {
        let held = self.engine.bytes() as u64;
        let tables: u64 = self.fractional.iter().filter_map(|n| n.table.as_ref()).map(|t| t.key.bytes()).sum();
        let allowance = Allowance::for_simulator(self.engine_options.memory_limit, held.saturating_add(tables));
        let needed = held.saturating_add(tables).saturating_add(key.bytes());
        if needed <= allowance.bytes {
            return Ok(());
        }
        let field = self.model.checked().field_named(&self.fractional[index].name).expect("a field");
        Err(self.model.fail(RunError::TooLarge {
            needed: bytes_text(needed),
            allowance: allowance.to_string(),
            span: self.model.checked().field(field).span,
        }))
    }
}

/// The increments of one fractional noise over a run, step-major: `values[n * count + e]` is
/// element `e`'s increment `B_H(t_(n+1)) - B_H(t_n)` in step `n`.
#[derive(Clone, Debug, PartialEq)]
pub struct Increments {
    /// What the table was drawn for.
    pub key: IncrementsKey,
    /// The increments, step-major.
    pub values: Vec<f64>,
}

/// What determines a fractional noise's increments.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IncrementsKey {
    /// The Hurst exponent, strictly between 0 and 1.
    pub hurst: f64,
    /// Steps in the run.
    pub steps: usize,
    /// Elements of the noise (independent motions).
    pub count: usize,
    /// The time step.
    pub dt: f64,
    /// The run's seed and the noise's stream: the Philox key.
    pub key: [u32; 2],
}

impl IncrementsKey {
    /// Bytes the table holds.
    pub fn bytes(&self) -> u64 {
        (self.steps as u64).saturating_mul(self.count as u64).saturating_mul(size_of::<f64>() as u64)
    }
}

impl Increments {
    /// Draws the table (in parallel over pairs of elements; the result does not depend on the
    /// thread count).
    pub fn draw(key: IncrementsKey) -> Increments {
        let IncrementsKey { hurst, steps, count, dt, .. } = key;
        let root_eigenvalues = circulant_roots(hurst, steps);
        let scale = math::exp(&mut Scalar, hurst * math::log(&mut Scalar, dt));
        let fft = FftPlannerScalar::new().plan_fft_forward(2 * steps);
        let pairs: Vec<Vec<Complex64>> = (0..count.div_ceil(2))
            .into_par_iter()
            .map(|pair| {
                let mut path: Vec<Complex64> = root_eigenvalues
                    .iter()
                    .enumerate()
                    .map(|(k, root)| {
                        let (z, z_prime) = normal_pair(key.key, pair as u32, k as u32);
                        Complex64::new(root * z, root * z_prime)
                    })
                    .collect();
                fft.process(&mut path);
                path.truncate(steps);
                path
            })
            .collect();
        let mut values = vec![0.0; steps * count];
        for (pair, path) in pairs.iter().enumerate() {
            for (n, x) in path.iter().enumerate() {
                values[n * count + 2 * pair] = scale * x.re;
                if 2 * pair + 1 < count {
                    values[n * count + 2 * pair + 1] = scale * x.im;
                }
            }
        }
        Increments { key, values }
    }

    /// The increments of step `n`, one per element.
    pub fn step(&self, n: usize) -> &[f64] {
        &self.values[n * self.key.count..(n + 1) * self.key.count]
    }
}

/// `γ(k)`, the autocovariance of unit-step fractional Gaussian noise at lag `k`.
pub fn autocovariance(hurst: f64, k: usize) -> f64 {
    // Noether's own `exp` and `log`, not the platform's `pow`: the same bits everywhere.
    let power = |x: f64| if x == 0.0 { 0.0 } else { math::exp(&mut Scalar, 2.0 * hurst * math::log(&mut Scalar, x)) };
    let k = k as f64;
    0.5 * (power(k + 1.0) - 2.0 * power(k) + power((k - 1.0).abs()))
}

/// `sqrt(λ_k / 2N)` for the 2N-circulant embedding of N steps' covariance.
fn circulant_roots(hurst: f64, steps: usize) -> Vec<f64> {
    let size = 2 * steps;
    let mut row: Vec<Complex64> =
        (0..size).map(|j| Complex64::new(autocovariance(hurst, if j <= steps { j } else { size - j }), 0.0)).collect();
    FftPlannerScalar::new().plan_fft_forward(size).process(&mut row);
    let largest = row.iter().map(|l| l.re).fold(0.0, f64::max);
    row.iter()
        .map(|l| {
            // Rounding leaves eigenvalues that are 0 in exact arithmetic a little off it.
            assert!(l.re >= -1e-9 * largest, "fGn's circulant embedding has a negative eigenvalue {}", l.re);
            (l.re.max(0.0) / size as f64).sqrt()
        })
        .collect()
}

/// Two independent standard normals from counter (`pair`, `k`) under `key`: both outputs of
/// the Box–Muller transform, as the IR's noise draws compute them.
fn normal_pair(key: [u32; 2], pair: u32, k: u32) -> (f64, f64) {
    let [cos, sin] = normal_pair_of(philox_words([pair, k, 0, 0], key));
    (cos, sin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(hurst: f64, steps: usize, count: usize) -> IncrementsKey {
        IncrementsKey { hurst, steps, count, dt: 0.01, key: [7, 2] }
    }

    #[test]
    fn autocovariance_is_white_at_one_half_and_sums_to_the_variance_of_the_motion() {
        assert!((autocovariance(0.5, 0) - 1.0).abs() < 1e-15);
        assert!(autocovariance(0.5, 3).abs() < 1e-15);
        // Var B_H(n) = n^2H = sum over i, j < n of γ(|i - j|).
        for hurst in [0.2, 0.7] {
            let n = 5usize;
            let sum: f64 = (0..n).flat_map(|i| (0..n).map(move |j| autocovariance(hurst, i.abs_diff(j)))).sum();
            assert!((sum - (n as f64).powf(2.0 * hurst)).abs() < 1e-12, "H = {hurst}: {sum}");
        }
    }

    #[test]
    fn the_table_is_the_same_however_many_threads_draw_it() {
        let key = key(0.3, 33, 7);
        let one =
            rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("pool").install(|| Increments::draw(key));
        let three =
            rayon::ThreadPoolBuilder::new().num_threads(3).build().expect("pool").install(|| Increments::draw(key));
        assert_eq!(one, three);
        assert!(one.values.iter().all(|v| v.is_finite()));
        assert_ne!(one.step(0), one.step(1));
    }
}
