//! Samplers as procedures: what one sweep runs, and what the runtime does between them.
//!
//! A `sample` directive lowers to a [`SamplerProgram`]: a `prepare` procedure the runtime runs
//! once after the initial states (constants the updates read, and the caches a sampler keeps:
//! `log p` and its gradient at the current state), and the [`Phase`]s of one sweep. A phase runs
//! procedures, possibly several times with buffer exchanges in between (HMC's leapfrog steps),
//! or asks the runtime for a random permutation (the order of a random-order spin sweep). Every
//! draw is Philox keyed by the seed and a stream per field and purpose
//! ([`random::sampler_stream`]), counted by the site or chain and the sweep, which the runtime
//! writes into the step counter buffer before each sweep. So every engine, with any number of
//! threads, makes the same chain.
//!
//! Spin samplers are in `spins`, Langevin, MALA and HMC in `continuous`.

use crate::ir::builder::KernelBuilder;
use crate::ir::{Affine, BufferId, NodeId, ProcId};
use crate::model::{Draw, FieldId, SampleSpec, Sampler};
use crate::ops::Binary;

use super::random::Purpose;
use super::{LowerError, Lowering, random};

/// How the runtime drives a `sample` directive.
#[derive(Clone, Debug)]
pub struct SamplerProgram {
    /// Runs once before the first sweep, after the initial states.
    pub prepare: ProcId,
    /// One sweep, phase after phase.
    pub sweep: Vec<Phase>,
    /// A scalar buffer: the fraction of proposals the last sweep accepted, for samplers that
    /// accept or reject.
    pub acceptance: Option<BufferId>,
    /// For a sampler whose sweep is a differentiable function of the state and the sweep's
    /// draws (unadjusted Langevin: one procedure and one exchange), that procedure and
    /// exchange: the model's step, so a gradient differentiates through the sweeps as through
    /// time steps, replaying the same draws.
    pub step: Option<(ProcId, (BufferId, BufferId))>,
}

/// One part of a sweep, in the order the sweep runs them.
#[derive(Clone, Debug)]
pub enum Phase {
    /// Runs `procedures` in order, `repeat` times, exchanging the pairs in `swaps` after each.
    Run {
        /// What runs, in order.
        procedures: Vec<ProcId>,
        /// How many times the procedures run per sweep.
        repeat: u64,
        /// `(current, next)` buffers exchanged after each repetition.
        swaps: Vec<(BufferId, BufferId)>,
    },
    /// Fills `list` (of length `n`) with a permutation of `0..n`: a Fisher–Yates shuffle whose
    /// `k`-th draw is the uniform of Philox keyed by the seed and `stream`, at counter
    /// `(k, sweep low word, sweep high word)` (see [`shuffle`]).
    Shuffle {
        /// The buffer that receives the permutation.
        list: BufferId,
        /// The Philox stream of the shuffle's draws.
        stream: u32,
    },
}

/// The permutation [`Phase::Shuffle`] asks for: `order` (any contents of length `n`) becomes a
/// shuffle of `0..n`, the same on every engine.
pub fn shuffle(order: &mut [f64], seed: u32, stream: u32, sweep: u64) {
    for (k, slot) in order.iter_mut().enumerate() {
        *slot = k as f64;
    }
    for k in (1..order.len()).rev() {
        let words = random::philox_words([k as u32, sweep as u32, (sweep >> 32) as u32, 0], [seed, stream]);
        // A 64-bit draw scaled to 0..=k: the bias of one part in 2^64 / n is far below noise.
        let draw = (u64::from(words[0]) << 32) | u64::from(words[1]);
        let j = ((u128::from(draw) * (k as u128 + 1)) >> 64) as usize;
        order.swap(k, j);
    }
}

impl Lowering<'_, '_> {
    /// The sampler of the script's `sample` directive; `None` inside means there is none.
    pub(super) fn sampler(&mut self) -> Option<Option<SamplerProgram>> {
        let Some(spec) = self.model.sample.as_ref() else { return Some(None) };
        let program = match &spec.sampler {
            Sampler::Metropolis(order) => self.spin_sampler(spec, false, order)?,
            Sampler::Gibbs(order) => self.spin_sampler(spec, true, order)?,
            continuous => self.continuous_sampler(spec, continuous)?,
        };
        Some(Some(program))
    }

    /// How a failure to differentiate `log p` is reported.
    pub(super) fn log_density_failure(spec: &SampleSpec) -> impl Fn(String) -> LowerError + '_ {
        move |message| LowerError::Gradient { name: "log p".into(), message, span: spec.span }
    }
}

impl Lowering<'_, '_> {
    /// A sampler's draw of `kind` for `purpose` at `site` of `field` (shaped `shape`) in the
    /// current sweep, counted by the site's row-major position and the sweep.
    ///
    /// Where the site's last axis is `m i + o` for a domain index `i`, neighbouring points share
    /// one Philox draw, counted by the first one's site: the four points `i = 4j .. 4j + 3` its
    /// four words as uniforms (`word_uniform`, one word each), the two points `2j`, `2j + 1` its
    /// two Box–Muller normals (cosine, sine); so a vector loop over `i` draws once for four or
    /// two points.
    pub(super) fn sweep_draw(
        &self,
        b: &mut KernelBuilder,
        kind: Draw,
        (field, purpose): (FieldId, Purpose),
        site: &[Affine],
        shape: &[usize],
    ) -> NodeId {
        let mut stride = 1;
        let mut flat = Affine::constant(0);
        for (affine, &extent) in site.iter().zip(shape).rev() {
            flat = flat.add(&affine.scale(stride));
            stride *= extent as i64;
        }
        let (seed, sweep) = (b.load_scalar(self.seed), b.load_scalar(self.step_count));
        let [low, high] = random::count_words(b, sweep);
        let stream = random::sampler_stream(field.index(), purpose);
        let along = site.last().and_then(|last| match last.terms.as_slice() {
            [(var, m)] if *m >= 1 => Some((*var, *m)),
            _ => None,
        });
        let Some((var, m)) = along else {
            let flat = b.affine_value(&flat);
            return random::draw(b, kind, seed, stream, &[flat, low, high]);
        };
        // The block's first site: `flat` with `m i` replaced by `n m floor(i / n)`.
        let size = match kind {
            Draw::Uniform => 4,
            Draw::Normal => 2,
        };
        let rest = b.affine_value(&flat.add(&Affine::var(var).scale(-m)));
        let position = b.affine_value(&Affine::var(var));
        let (block, offset) = random::block_of(b, position, size);
        let span = b.constant((size as i64 * m) as f64);
        let start = b.binary(Binary::Mul, block, span);
        let first_site = b.binary(Binary::Add, rest, start);
        let words = random::draw_words(b, seed, stream, &[first_site, low, high]);
        let values: Vec<NodeId> = match kind {
            Draw::Uniform => words.iter().map(|&w| random::word_uniform(b, w)).collect(),
            Draw::Normal => random::normal_pair(b, words).to_vec(),
        };
        random::pick(b, offset, &values)
    }
}
