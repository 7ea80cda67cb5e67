//! One math function on several independent vectors at once, operation by operation.
//!
//! A vector loop body computes a node for each of its vectors (or groups of pairs) in turn, so
//! the independent chains of arithmetic nodes are interleaved and overlap in the processor. A
//! math function is one node but tens of dependent operations (a division, polynomials): emitted
//! per vector, each chain waits for the one before it to drain. [`Interleaved`] runs
//! [`crate::math`]'s algorithm once over the vectors (a few at a time), emitting each
//! operation for every vector before the next operation, so the chains overlap there too.
//! Every vector still gets exactly [`Emit`]'s instructions: the bits do not change.

use cranelift_codegen::ir::{Value, types};

use crate::math::{Arith, Bits};

use super::MathOp;
use super::math::{Domain, Emit, library};
use super::translate::Translator;

/// How many vectors' chains one interleaved function runs at once: two already overlap each
/// other's latencies, while four keep four sets of polynomial terms live and the register
/// allocator spills them (`kuramoto.noe`'s `sin`: 0.191 s with two, 0.196 s with four).
const CHAINS: usize = 2;
/// The same for functions of [`Domain::Unit`] arguments, which skip their special cases and
/// so keep fewer values live: four chains fit (GBM's Box–Muller logarithm: 0.537 s with two,
/// 0.526 s with four).
const UNIT_CHAINS: usize = 4;

/// Values of several vectors: `width` consecutive entries of the emitter's `values`, from `.0`.
#[derive(Clone, Copy)]
pub(super) struct Many(usize);

/// [`Arith`] and [`Bits`] over `width` independent values of `ty` at once, each operation
/// emitted for every value in turn.
pub(super) struct Interleaved<'t, 'a> {
    t: &'t mut Translator<'a>,
    ty: types::Type,
    width: usize,
    values: Vec<Value>,
}

impl<'t, 'a> Interleaved<'t, 'a> {
    pub fn new(t: &'t mut Translator<'a>, ty: types::Type, width: usize) -> Self {
        Interleaved { t, ty, width, values: Vec::new() }
    }

    /// The values `of`, one per vector, as one [`Many`].
    pub fn put(&mut self, of: &[Value]) -> Many {
        debug_assert_eq!(of.len(), self.width, "one value per vector");
        let start = self.values.len();
        self.values.extend_from_slice(of);
        Many(start)
    }

    /// The vectors' values of `many`.
    pub fn get(&self, many: Many) -> Vec<Value> {
        self.values[many.0..many.0 + self.width].to_vec()
    }

    /// Emits `op` for each vector, on its values of `operands`.
    fn each(&mut self, operands: &[Many], op: impl Fn(&mut Emit, &[Value]) -> Value) -> Many {
        let results: Vec<Value> = (0..self.width)
            .map(|lane| {
                let args: Vec<Value> = operands.iter().map(|m| self.values[m.0 + lane]).collect();
                op(&mut Emit { t: self.t, ty: self.ty }, &args)
            })
            .collect();
        self.put(&results)
    }
}

impl Arith for Interleaved<'_, '_> {
    type Num = Many;
    type Cond = Many;

    fn num(&mut self, c: f64) -> Many {
        let value = Emit { t: self.t, ty: self.ty }.num(c);
        self.put(&vec![value; self.width])
    }
    fn add(&mut self, a: Many, b: Many) -> Many {
        self.each(&[a, b], |e, v| e.add(v[0], v[1]))
    }
    fn sub(&mut self, a: Many, b: Many) -> Many {
        self.each(&[a, b], |e, v| e.sub(v[0], v[1]))
    }
    fn mul(&mut self, a: Many, b: Many) -> Many {
        self.each(&[a, b], |e, v| e.mul(v[0], v[1]))
    }
    fn mul_add(&mut self, a: Many, b: Many, c: Many) -> Many {
        self.each(&[a, b, c], |e, v| e.mul_add(v[0], v[1], v[2]))
    }
    fn div(&mut self, a: Many, b: Many) -> Many {
        self.each(&[a, b], |e, v| e.div(v[0], v[1]))
    }
    fn floor(&mut self, a: Many) -> Many {
        self.each(&[a], |e, v| e.floor(v[0]))
    }
    fn min(&mut self, a: Many, b: Many) -> Many {
        self.each(&[a, b], |e, v| e.min(v[0], v[1]))
    }
    fn max(&mut self, a: Many, b: Many) -> Many {
        self.each(&[a, b], |e, v| e.max(v[0], v[1]))
    }
    fn abs(&mut self, a: Many) -> Many {
        self.each(&[a], |e, v| e.abs(v[0]))
    }
    fn sqrt(&mut self, a: Many) -> Many {
        self.each(&[a], |e, v| e.sqrt(v[0]))
    }
    fn neg(&mut self, a: Many) -> Many {
        self.each(&[a], |e, v| e.neg(v[0]))
    }
    fn less(&mut self, a: Many, b: Many) -> Many {
        self.each(&[a, b], |e, v| e.less(v[0], v[1]))
    }
    fn equal(&mut self, a: Many, b: Many) -> Many {
        self.each(&[a, b], |e, v| e.equal(v[0], v[1]))
    }
    fn both(&mut self, a: Many, b: Many) -> Many {
        self.each(&[a, b], |e, v| e.both(v[0], v[1]))
    }
    fn select(&mut self, c: Many, a: Many, b: Many) -> Many {
        self.each(&[c, a, b], |e, v| e.select(v[0], v[1], v[2]))
    }
}

impl Bits for Interleaved<'_, '_> {
    fn pow2(&mut self, n: Many) -> Many {
        self.each(&[n], |e, v| e.pow2(v[0]))
    }
    fn exponent(&mut self, a: Many) -> Many {
        self.each(&[a], |e, v| e.exponent(v[0]))
    }
    fn split_below(&mut self, a: Many, limit: f64) -> [Many; 2] {
        let carried = self.each(&[a], |e, v| e.carried_below(v[0], limit));
        [
            self.each(&[carried], |e, v| e.exponent_of_carried(v[0])),
            self.each(&[carried], |e, v| e.significand_of_carried(v[0], limit)),
        ]
    }
    fn copysign(&mut self, magnitude: Many, sign: Many) -> Many {
        self.each(&[magnitude, sign], |e, v| e.copysign(v[0], v[1]))
    }
    /// Each vector branches around its own (rare) reduction.
    fn reduce_large(&mut self, x: Many, large: Many, medium: [Many; 3]) -> [Many; 3] {
        let reduced: Vec<[Value; 3]> = (0..self.width)
            .map(|lane| {
                let values = &self.values;
                let at = |m: Many| values[m.0 + lane];
                let (x, large, medium) = (at(x), at(large), medium.map(at));
                Emit { t: self.t, ty: self.ty }.reduce_large(x, large, medium)
            })
            .collect();
        std::array::from_fn(|part| {
            let values: Vec<Value> = reduced.iter().map(|r| r[part]).collect();
            self.put(&values)
        })
    }
}

impl Translator<'_> {
    /// The library function `op` for each vector of `operands` (its arguments, one list per
    /// vector, the first in `domain`), interleaved [`CHAINS`] (or [`UNIT_CHAINS`]) vectors at a
    /// time.
    pub fn library_on_all(
        &mut self,
        op: MathOp,
        domain: Domain,
        operands: &[Vec<Value>],
        ty: types::Type,
    ) -> Vec<Value> {
        let chains = if domain == Domain::Unit { UNIT_CHAINS } else { CHAINS };
        if operands.len() > chains {
            return operands.chunks(chains).flat_map(|c| self.library_on_all(op, domain, c, ty)).collect();
        }
        let mut all = Interleaved::new(self, ty, operands.len());
        let arity = operands.first().map_or(0, Vec::len);
        let args: Vec<Many> = (0..arity)
            .map(|j| {
                let values: Vec<Value> = operands.iter().map(|o| o[j]).collect();
                all.put(&values)
            })
            .collect();
        let result = library(&mut all, op, &args, domain);
        all.get(result)
    }
}
