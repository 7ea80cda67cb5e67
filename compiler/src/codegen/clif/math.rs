//! The math functions of [`crate::math`] emitted inline as Cranelift instructions, on one
//! point (`f64`) or on two lanes (`f64x2`): the same operations, in the same order, as the
//! interpreter runs, so the bits agree and vector loops need no call per lane.

use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{BlockArg, ConstantData, InstBuilder, StackSlotData, StackSlotKind, Value, types};
use cranelift_codegen::isa::CallConv;

use crate::math::{self, Arith, Bits, EXPONENT_BITS_BASE, POW2_BIAS, SIGN_BIT, SIGNIFICAND_MASK, split_constants};
use crate::ops::{Binary, Unary};

use super::translate::Translator;
use super::{MathOp, REDUCE_SYMBOL, reduce_signature};

/// What the code generator knows of a library function's argument beyond its type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Domain {
    /// Any number.
    Any,
    /// A [`crate::ir::Node::Unit`]: a normal number strictly inside (0, 1), where `log` needs
    /// none of its special cases (Box–Muller's radius).
    Unit,
}

/// `op` of `args` by [`crate::math`]'s algorithm, on any emitter: `op` is one of the functions
/// [`super::is_inline_math`] names, its first argument in `domain`.
pub(super) fn library<A: Bits>(a: &mut A, op: MathOp, args: &[A::Num], domain: Domain) -> A::Num {
    match (op, args) {
        (MathOp::Unary(Unary::Log), &[x]) if domain == Domain::Unit => math::log_of_normal(a, x),
        (MathOp::Unary(Unary::Exp), &[x]) => math::exp(a, x),
        (MathOp::Unary(Unary::Log), &[x]) => math::log(a, x),
        (MathOp::Unary(Unary::Sin), &[x]) => math::sin(a, x),
        (MathOp::Unary(Unary::Cos), &[x]) => math::cos(a, x),
        (MathOp::Unary(Unary::Tan), &[x]) => math::tan(a, x),
        (MathOp::Unary(Unary::Asin), &[x]) => math::asin(a, x),
        (MathOp::Unary(Unary::Acos), &[x]) => math::acos(a, x),
        (MathOp::Unary(Unary::Atan), &[x]) => math::atan(a, x),
        (MathOp::Unary(Unary::Tanh), &[x]) => math::tanh(a, x),
        (MathOp::Unary(Unary::Sinh), &[x]) => math::sinh(a, x),
        (MathOp::Unary(Unary::Cosh), &[x]) => math::cosh(a, x),
        (MathOp::Binary(Binary::Pow), &[x, y]) => math::pow(a, x, y),
        (MathOp::Binary(Binary::Atan2), &[y, x]) => math::atan2(a, y, x),
        _ => unreachable!("{op:?} with {} arguments is not a library function", args.len()),
    }
}

/// [`Arith`] over the values of `ty` (`F64` or `F64X2`) in the translator's current block.
pub(super) struct Emit<'t, 'a> {
    pub t: &'t mut Translator<'a>,
    pub ty: types::Type,
}

impl Emit<'_, '_> {
    /// The integer type of the same width as `ty`.
    fn bits_type(&self) -> types::Type {
        if self.ty == types::F64 { types::I64 } else { types::I64X2 }
    }

    /// [`Bits::split_below`]'s first step: `a`'s bits plus `bits(1) - bits(limit/2)`.
    pub(super) fn carried_below(&mut self, a: Value, limit: f64) -> Value {
        let bits = self.t.reinterpret(self.bits_type(), a);
        let offset = self.bits(split_constants(limit).0);
        self.t.b.ins().iadd(bits, offset)
    }

    /// The exponent field of `carried` minus 1023, as a number (`k` of [`Bits::split_below`]).
    pub(super) fn exponent_of_carried(&mut self, carried: Value) -> Value {
        let field = self.t.b.ins().ushr_imm_u(carried, 52);
        let base = self.bits(EXPONENT_BITS_BASE);
        let biased = self.t.b.ins().bor(field, base);
        let biased = self.t.reinterpret(self.ty, biased);
        let bias = self.num(POW2_BIAS);
        self.t.b.ins().fsub(biased, bias)
    }

    /// The significand field of `carried` with `bits(limit/2)` added back (`m` of
    /// [`Bits::split_below`]).
    pub(super) fn significand_of_carried(&mut self, carried: Value, limit: f64) -> Value {
        let mask = self.bits(SIGNIFICAND_MASK);
        let fraction = self.t.b.ins().band(carried, mask);
        let start = self.bits(split_constants(limit).1);
        let m = self.t.b.ins().iadd(fraction, start);
        self.t.reinterpret(self.ty, m)
    }

    /// The integer `bits` in every lane (a constant-pool vector: one load where it is used).
    fn bits(&mut self, bits: u64) -> Value {
        if self.ty == types::F64 {
            return self.t.b.ins().iconst(types::I64, bits as i64);
        }
        let bytes: Vec<u8> = [bits, bits].iter().flat_map(|b| b.to_le_bytes()).collect();
        let handle = self.t.b.func.dfg.constants.insert(ConstantData::from(bytes));
        self.t.b.ins().vconst(types::I64X2, handle)
    }
}

impl Arith for Emit<'_, '_> {
    type Num = Value;
    type Cond = Value;

    fn num(&mut self, c: f64) -> Value {
        self.t.constant(c, self.ty)
    }
    fn add(&mut self, a: Value, b: Value) -> Value {
        self.t.b.ins().fadd(a, b)
    }
    fn sub(&mut self, a: Value, b: Value) -> Value {
        self.t.b.ins().fsub(a, b)
    }
    fn mul(&mut self, a: Value, b: Value) -> Value {
        self.t.b.ins().fmul(a, b)
    }
    fn mul_add(&mut self, a: Value, b: Value, c: Value) -> Value {
        self.t.b.ins().fma(a, b, c)
    }
    fn div(&mut self, a: Value, b: Value) -> Value {
        self.t.b.ins().fdiv(a, b)
    }
    fn floor(&mut self, a: Value) -> Value {
        self.t.b.ins().floor(a)
    }
    fn min(&mut self, a: Value, b: Value) -> Value {
        self.t.b.ins().fmin(a, b)
    }
    fn max(&mut self, a: Value, b: Value) -> Value {
        self.t.b.ins().fmax(a, b)
    }
    fn abs(&mut self, a: Value) -> Value {
        self.t.b.ins().fabs(a)
    }
    fn sqrt(&mut self, a: Value) -> Value {
        self.t.b.ins().sqrt(a)
    }
    fn neg(&mut self, a: Value) -> Value {
        self.t.b.ins().fneg(a)
    }
    fn less(&mut self, a: Value, b: Value) -> Value {
        self.t.b.ins().fcmp(FloatCC::LessThan, a, b)
    }
    fn equal(&mut self, a: Value, b: Value) -> Value {
        self.t.b.ins().fcmp(FloatCC::Equal, a, b)
    }
    fn both(&mut self, a: Value, b: Value) -> Value {
        self.t.b.ins().band(a, b)
    }
    fn select(&mut self, c: Value, a: Value, b: Value) -> Value {
        if self.ty == types::F64 { self.t.b.ins().select(c, a, b) } else { self.t.lane_select(c, a, b) }
    }
}

impl Bits for Emit<'_, '_> {
    fn pow2(&mut self, n: Value) -> Value {
        let bias = self.num(POW2_BIAS);
        let biased = self.t.b.ins().fadd(n, bias);
        let bits = self.t.reinterpret(self.bits_type(), biased);
        let shifted = self.t.b.ins().ishl_imm_u(bits, 52);
        self.t.reinterpret(self.ty, shifted)
    }
    fn exponent(&mut self, a: Value) -> Value {
        let bits = self.t.reinterpret(self.bits_type(), a);
        let field = self.t.b.ins().ushr_imm_u(bits, 52);
        let mask = self.bits(0x7FF);
        let field = self.t.b.ins().band(field, mask);
        let base = self.bits(EXPONENT_BITS_BASE);
        let biased = self.t.b.ins().bor(field, base);
        let biased = self.t.reinterpret(self.ty, biased);
        let bias = self.num(POW2_BIAS);
        self.t.b.ins().fsub(biased, bias)
    }
    fn split_below(&mut self, a: Value, limit: f64) -> [Value; 2] {
        let carried = self.carried_below(a, limit);
        [self.exponent_of_carried(carried), self.significand_of_carried(carried, limit)]
    }
    /// By masks (Cranelift's `fcopysign` has no vector form on x86).
    fn copysign(&mut self, magnitude: Value, sign: Value) -> Value {
        let (magnitude, sign) =
            (self.t.reinterpret(self.bits_type(), magnitude), self.t.reinterpret(self.bits_type(), sign));
        let (magnitude_mask, sign_mask) = (self.bits(!SIGN_BIT), self.bits(SIGN_BIT));
        let magnitude = self.t.b.ins().band(magnitude, magnitude_mask);
        let sign = self.t.b.ins().band(sign, sign_mask);
        let bits = self.t.b.ins().bor(magnitude, sign);
        self.t.reinterpret(self.ty, bits)
    }
    /// Branches to a call of [`REDUCE_SYMBOL`] (per lane) only when some lane needs it.
    fn reduce_large(&mut self, x: Value, large: Value, medium: [Value; 3]) -> [Value; 3] {
        let vector = self.ty != types::F64;
        let any = if vector { self.t.b.ins().vany_true(large) } else { large };
        let (slow, join) = (self.t.b.create_block(), self.t.b.create_block());
        for _ in 0..3 {
            self.t.b.append_block_param(join, self.ty);
        }
        let medium_args = medium.map(BlockArg::Value);
        self.t.b.ins().brif(any, slow, &[], join, &medium_args);
        self.t.b.switch_to_block(slow);
        self.t.b.seal_block(slow);
        let slot = self.t.b.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, 24, 3));
        let reduce = self.t.import(REDUCE_SYMBOL, |_| reduce_signature(CallConv::PreserveAll));
        let lanes: Vec<[Value; 3]> = (0..if vector { 2 } else { 1 })
            .map(|lane| {
                let lane_x = if vector { self.t.b.ins().extractlane(x, lane) } else { x };
                let out = self.t.b.ins().stack_addr(types::I64, slot, 0);
                self.t.b.ins().call(reduce, &[lane_x, out]);
                [0, 8, 16].map(|offset| self.t.b.ins().stack_load(types::I64, types::F64, slot, offset))
            })
            .collect();
        let reduced = if vector {
            std::array::from_fn(|i| {
                let v = self.t.f64_pair(lanes[0][i], lanes[1][i]);
                self.t.lane_select(large, v, medium[i])
            })
        } else {
            lanes[0]
        };
        self.t.b.ins().jump(join, &reduced.map(BlockArg::Value));
        self.t.b.switch_to_block(join);
        self.t.b.seal_block(join);
        let params = self.t.b.block_params(join);
        [params[0], params[1], params[2]]
    }
}
