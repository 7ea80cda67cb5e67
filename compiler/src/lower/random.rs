//! Counter-based random numbers as Kernel IR word arithmetic: Philox4x32-10 (Salmon et al.,
//! "Parallel random numbers: as easy as 1, 2, 3", SC11), uniforms and normals built on it.
//!
//! A draw is a pure function of its key (seed, stream) and counter (say step and index), so
//! every engine computes the same bits, any point can be drawn independently (parallel
//! kernels), and a reverse pass draws the forward pass's noise again instead of storing it.

use crate::ir::NodeId;
use crate::ir::builder::KernelBuilder;
use crate::math;
use crate::model::Draw;
use crate::ops::{Binary, Unary, WordOp};

/// The second key word tells apart the streams one seed drives: `uniform(...)` and
/// `normal(...)` calls, and each noise field (stream `NOISE_STREAMS + its field index`).
pub const UNIFORM_STREAM: u32 = 0;
/// The stream of `normal(...)` calls.
pub const NORMAL_STREAM: u32 = 1;
/// The first noise field's stream; the others follow by field index.
pub const NOISE_STREAMS: u32 = 2;
/// Samplers' streams: `SAMPLER_STREAMS + 4 * (the sampled field's index) + the purpose`.
pub const SAMPLER_STREAMS: u32 = 1 << 31;

/// What a sampler draws a number for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Accepting a flip or a proposal.
    Accept = 0,
    /// The order of a random-order sweep.
    Order = 1,
    /// A Langevin proposal's noise.
    Propose = 2,
    /// Hamiltonian Monte Carlo's momenta.
    Momentum = 3,
}

/// The stream of a sampler's draws for `purpose` on the field with index `field`.
pub fn sampler_stream(field: usize, purpose: Purpose) -> u32 {
    SAMPLER_STREAMS + 4 * field as u32 + purpose as u32
}

const MULTIPLIERS: [u32; 2] = [0xD251_1F53, 0xCD9E_8D57];
/// Added to the key between rounds (the golden ratio and sqrt(3) - 1, as 32-bit fractions).
const WEYL: [u32; 2] = [0x9E37_79B9, 0xBB67_AE85];
const ROUNDS: usize = 10;

/// Philox4x32-10 of `counter` under `key`: four independent, uniformly distributed words.
pub fn philox(b: &mut KernelBuilder, counter: [NodeId; 4], key: [NodeId; 2]) -> [NodeId; 4] {
    let multipliers = MULTIPLIERS.map(|m| b.word_constant(m));
    let weyl = WEYL.map(|w| b.word_constant(w));
    let mut x = counter;
    let mut key = key;
    for round in 0..ROUNDS {
        if round > 0 {
            key = [b.word(WordOp::Add, key[0], weyl[0]), b.word(WordOp::Add, key[1], weyl[1])];
        }
        let (hi0, lo0) = (b.word(WordOp::MulHi, multipliers[0], x[0]), b.word(WordOp::MulLo, multipliers[0], x[0]));
        let (hi1, lo1) = (b.word(WordOp::MulHi, multipliers[1], x[2]), b.word(WordOp::MulLo, multipliers[1], x[2]));
        // `other ^ k` first: it does not wait for the product, so the chain through `hi` is
        // one operation shorter per round.
        let mix = |b: &mut KernelBuilder, hi: NodeId, other: NodeId, k: NodeId| {
            let m = b.word(WordOp::Xor, other, k);
            b.word(WordOp::Xor, hi, m)
        };
        x = [mix(b, hi1, x[1], key[0]), lo1, mix(b, hi0, x[3], key[1]), lo0];
    }
    x
}

/// A uniform number strictly inside (0, 1) from two words: their top 52 bits `k` as
/// `(k + 1/2) 2^-52` (so from 2^-53 to 1 - 2^-53), one [`crate::ir::Node::Unit`], which every
/// engine computes exactly ([`uniform_of`]).
pub fn uniform(b: &mut KernelBuilder, hi: NodeId, lo: NodeId) -> NodeId {
    b.push(crate::ir::Node::Unit(hi, lo))
}

/// A standard normal number from four words: the first of [`normal_pair`]'s two.
pub fn normal(b: &mut KernelBuilder, words: [NodeId; 4]) -> NodeId {
    normal_pair(b, words)[0]
}

/// Two independent standard normals from four words, both outputs of the Box–Muller transform
/// of two uniforms: `r cos(2 pi u2)` and `r sin(2 pi u2)` with `r = sqrt(-2 ln u1)` (exact in
/// distribution; the smallest `u1`, 2^-53, puts the tails at 8.6 standard deviations). The
/// angle is reduced in turns ([`math::sin_cos_turns`]), as plain nodes.
pub fn normal_pair(b: &mut KernelBuilder, words: [NodeId; 4]) -> [NodeId; 2] {
    let (u1, u2) = (uniform(b, words[0], words[1]), uniform(b, words[2], words[3]));
    let log = b.unary(Unary::Log, u1);
    let minus_two = b.constant(-2.0);
    let radius = b.binary(Binary::Mul, minus_two, log);
    let radius = b.unary(Unary::Sqrt, radius);
    let (sin, cos) = math::sin_cos_turns(b, u2);
    [b.binary(Binary::Mul, radius, cos), b.binary(Binary::Mul, radius, sin)]
}

/// What [`uniform`] computes from two words, in plain Rust.
pub fn uniform_of(hi: u32, lo: u32) -> f64 {
    let k = f64::from(hi) * 2f64.powi(20) + (f64::from(lo) * 2f64.powi(-12)).floor();
    (k + 0.5) * 2f64.powi(-52)
}

/// What [`normal_pair`] computes from `words`, in plain Rust (the runtime's own draws).
pub fn normal_pair_of(words: [u32; 4]) -> [f64; 2] {
    let (u1, u2) = (uniform_of(words[0], words[1]), uniform_of(words[2], words[3]));
    math::on_scalar(|s| {
        let radius = (-2.0 * math::log(s, u1)).sqrt();
        let (sin, cos) = math::sin_cos_turns(s, u2);
        [radius * cos, radius * sin]
    })
}

/// `floor(position / size)`, the block of `size` (2 or 4) neighbouring points that share a
/// draw, and `position`'s offset in it, `position - size floor(position / size)`: in the forms
/// the JIT recognises (`codegen::clif` computes a block's draw once for its points, and the
/// offsets of an aligned block as lane constants).
pub fn block_of(b: &mut KernelBuilder, position: NodeId, size: usize) -> (NodeId, NodeId) {
    let fraction = b.constant(1.0 / size as f64);
    let scaled = b.binary(Binary::Mul, position, fraction);
    let block = b.unary(Unary::Floor, scaled);
    let size = b.constant(size as f64);
    let start = b.binary(Binary::Mul, block, size);
    (block, b.binary(Binary::Sub, position, start))
}

/// `values[offset]`, for an `offset` from [`block_of`]: a chain of selects.
pub fn pick(b: &mut KernelBuilder, offset: NodeId, values: &[NodeId]) -> NodeId {
    let (last, rest) = values.split_last().expect("a block has values");
    rest.iter().enumerate().rev().fold(*last, |later, (k, &value)| {
        let k = b.constant(k as f64);
        let here = b.compare(crate::ops::Compare::Eq, offset, k);
        b.push(crate::ir::Node::Select(here, value, later))
    })
}

/// A uniform number strictly inside (0, 1) from one word `w`: `(w + 1/2) 2^-32`, exactly (from
/// 2^-33 to 1 - 2^-33). Coarser than [`uniform`], and a quarter of a draw: enough for an
/// acceptance test, where it moves a probability by at most 2^-33.
pub fn word_uniform(b: &mut KernelBuilder, w: NodeId) -> NodeId {
    let w = b.push(crate::ir::Node::FromWord(w));
    let half = b.constant(0.5);
    let centred = b.binary(Binary::Add, w, half);
    let scale = b.constant(2f64.powi(-32));
    b.binary(Binary::Mul, centred, scale)
}

/// What [`word_uniform`] computes from `w`, in plain Rust.
pub fn word_uniform_of(w: u32) -> f64 {
    (f64::from(w) + 0.5) * 2f64.powi(-32)
}

/// A count that may pass 2^32 (a step, a sweep) as two counter numbers, low and high words.
pub fn count_words(b: &mut KernelBuilder, count: NodeId) -> [NodeId; 2] {
    let scale = b.constant(2f64.powi(-32));
    let high = b.binary(Binary::Mul, count, scale);
    [count, b.unary(Unary::Floor, high)]
}

/// Philox4x32-10 of `counter` under `key` in plain Rust: what [`philox`] computes in the IR,
/// for the runtime's own draws (the order of a random-order sweep).
pub fn philox_words(mut x: [u32; 4], mut key: [u32; 2]) -> [u32; 4] {
    for round in 0..ROUNDS {
        if round > 0 {
            key = [key[0].wrapping_add(WEYL[0]), key[1].wrapping_add(WEYL[1])];
        }
        let p0 = u64::from(MULTIPLIERS[0]) * u64::from(x[0]);
        let p1 = u64::from(MULTIPLIERS[1]) * u64::from(x[2]);
        x = [(p1 >> 32) as u32 ^ x[1] ^ key[0], p1 as u32, (p0 >> 32) as u32 ^ x[3] ^ key[1], p0 as u32];
    }
    x
}

/// A word from a number node (an index, a step, a seed).
pub fn word_of(b: &mut KernelBuilder, number: NodeId) -> NodeId {
    match b.node(number) {
        crate::ir::Node::Const(c) => b.word_constant(crate::ops::to_word(*c)),
        _ => b.push(crate::ir::Node::ToWord(number)),
    }
}

/// A draw of `kind` keyed by (`seed`, `stream`) at `counter` (at most four numbers, the rest 0,
/// so `normal(s, a)` and `normal(s, a, 0)` draw the same).
pub fn draw(b: &mut KernelBuilder, kind: Draw, seed: NodeId, stream: u32, counter: &[NodeId]) -> NodeId {
    let out = draw_words(b, seed, stream, counter);
    match kind {
        Draw::Normal => normal(b, out),
        Draw::Uniform => uniform(b, out[0], out[1]),
    }
}

/// The four Philox words keyed by (`seed`, `stream`) at `counter` (at most four numbers, the
/// rest 0).
pub fn draw_words(b: &mut KernelBuilder, seed: NodeId, stream: u32, counter: &[NodeId]) -> [NodeId; 4] {
    assert!(counter.len() <= 4, "a Philox counter has four words");
    let zero = b.word_constant(0);
    let mut words = [zero; 4];
    for (slot, &number) in words.iter_mut().zip(counter) {
        *slot = word_of(b, number);
    }
    let key = [word_of(b, seed), b.word_constant(stream)];
    philox(b, words, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(k + 1/2) 2^-52` for the top 52 bits `k` of `hi lo`: the ends of (0, 1), and words
    /// whose low 12 bits are dropped.
    #[test]
    fn uniforms_are_the_centred_top_52_bits() {
        assert_eq!(uniform_of(0, 0), 2f64.powi(-53));
        assert_eq!(uniform_of(u32::MAX, u32::MAX), 1.0 - 2f64.powi(-53));
        let (hi, lo) = (0x8000_0001u32, 0x0000_1FFFu32);
        let k = (((u64::from(hi) << 32) | u64::from(lo)) >> 12) as f64;
        assert_eq!(uniform_of(hi, lo), (k + 0.5) * 2f64.powi(-52));
    }
}
