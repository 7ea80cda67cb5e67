//! Addresses of loads: affine indices, boundary rules, and the part computed once per row.

use std::collections::HashMap;

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value, types};

use crate::ir::{Access, Affine, Load, NodeId, VarId};

use super::translate::Translator;

/// The per-row part of a load in the innermost loop: the address of the row's first element
/// with every axis that does not involve the innermost index resolved, and those axes' verdict
/// for fill loads. Axes that involve the innermost index are resolved per point.
#[derive(Clone)]
pub(super) struct RowPlan {
    pub pointer: Value,
    pub inside: Option<Value>,
    /// The axes with the row's index.
    pub varying: Vec<Varying>,
    /// With one such axis: the address at innermost index 0, assuming that axis stays inside,
    /// and how many bytes one step of the index moves.
    pub row: Option<Value>,
    /// The constant part of that address, left to the load instruction's offset.
    pub displacement: i32,
    pub step_bytes: i64,
    /// The index the row runs along.
    pub var: VarId,
}

/// An axis of a load whose position moves along the row: `rest + coeff * index`.
#[derive(Clone, Copy)]
pub(super) struct Varying {
    /// The rest of the axis's affine index, per row.
    pub rest: Value,
    pub coeff: i64,
    pub axis: usize,
    /// Elements between neighbours on this axis.
    pub stride: i64,
}

impl Translator<'_> {
    /// Row-major strides of a buffer, in elements.
    fn strides(&self, shape: &[usize]) -> Vec<i64> {
        let mut strides = vec![1i64; shape.len()];
        for axis in (0..shape.len().saturating_sub(1)).rev() {
            strides[axis] = strides[axis + 1] * shape[axis + 1] as i64;
        }
        strides
    }

    /// The value of `affine` without the term of `skip`.
    pub fn affine_value(&mut self, affine: &Affine, skip: Option<VarId>) -> Value {
        let mut total = self.b.ins().iconst(types::I64, affine.offset);
        for &(var, coeff) in &affine.terms {
            if Some(var) == skip {
                continue;
            }
            let counter = self.counters[var.index()].expect("indices are used inside their loops");
            let value = self.b.use_var(counter);
            let scaled = if coeff == 1 { value } else { self.b.ins().imul_imm_s(value, coeff) };
            total = self.b.ins().iadd(total, scaled);
        }
        total
    }

    /// Bounds of `affine` over the current variable ranges.
    pub fn interval(&self, affine: &Affine) -> (i64, i64) {
        let (mut lo, mut hi) = (affine.offset, affine.offset);
        for &(var, coeff) in &affine.terms {
            let (a, b) = self.ranges[var.index()];
            lo += (coeff * a).min(coeff * b);
            hi += (coeff * a).max(coeff * b);
        }
        (lo, hi)
    }

    /// The in-range position a position `x` (known to lie in `lo..=hi`) on an axis of `n`
    /// points reads, and for a fill axis whether `x` is inside.
    pub fn position(&mut self, x: Value, (lo, hi): (i64, i64), n: i64, access: Access) -> (Value, Option<Value>) {
        if lo >= 0 && hi < n {
            return (x, None);
        }
        match access {
            Access::Direct => (x, None),
            Access::Periodic if lo >= -n && hi < 2 * n => {
                let below = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, x, 0);
                let above = self.b.ins().icmp_imm_s(IntCC::SignedGreaterThanOrEqual, x, n);
                let up = self.b.ins().iadd_imm_s(x, n);
                let down = self.b.ins().iadd_imm_s(x, -n);
                let t = self.b.ins().select(above, down, x);
                (self.b.ins().select(below, up, t), None)
            }
            Access::Periodic => (self.euclid(x, n), None),
            Access::Clamp => (self.clamp(x, n), None),
            Access::Reflect if n == 1 => (self.b.ins().iconst(types::I64, 0), None),
            Access::Reflect => {
                let period = 2 * (n - 1);
                let m = if lo >= -(n - 1) && hi <= period { x } else { self.euclid(x, period) };
                // Now -(n-1) <= m <= 2(n-1): mirror the two sides.
                let below = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, m, 0);
                let above = self.b.ins().icmp_imm_s(IntCC::SignedGreaterThan, m, n - 1);
                let negated = self.b.ins().ineg(m);
                let period_value = self.b.ins().iconst(types::I64, period);
                let folded = self.b.ins().isub(period_value, m);
                let t = self.b.ins().select(above, folded, m);
                (self.b.ins().select(below, negated, t), None)
            }
            Access::Fill => {
                let not_below = self.b.ins().icmp_imm_s(IntCC::SignedGreaterThanOrEqual, x, 0);
                let below_end = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, x, n);
                let inside = self.b.ins().band(not_below, below_end);
                (self.clamp(x, n), Some(inside))
            }
        }
    }

    /// `x mod n` in `0..n`.
    fn euclid(&mut self, x: Value, n: i64) -> Value {
        let divisor = self.b.ins().iconst(types::I64, n);
        let r = self.b.ins().srem(x, divisor);
        let negative = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, r, 0);
        let lifted = self.b.ins().iadd_imm_s(r, n);
        self.b.ins().select(negative, lifted, r)
    }

    fn clamp(&mut self, x: Value, n: i64) -> Value {
        let (zero, top) = (self.b.ins().iconst(types::I64, 0), self.b.ins().iconst(types::I64, n - 1));
        let low = self.b.ins().smin(x, top);
        self.b.ins().smax(low, zero)
    }

    fn and_inside(&mut self, a: Option<Value>, b: Option<Value>) -> Option<Value> {
        match (a, b) {
            (Some(a), Some(b)) => Some(self.b.ins().band(a, b)),
            (a, b) => a.or(b),
        }
    }

    /// Loads `load` as a scalar at the current point.
    pub fn load_scalar(&mut self, id: NodeId, load: &Load) -> Value {
        // A buffer the kernel updates changes between points: not read-only memory.
        let flags = if self.updates(load.buffer) { MemFlagsData::trusted() } else { super::READ_ONLY };
        if let Some((address, displacement)) = self.direct_row_address(id, load) {
            let value = self.b.ins().load(types::F64, flags, address, displacement);
            return match self.plans[&id].inside {
                Some(inside) => {
                    let fill = self.b.ins().f64const(load.fill);
                    self.b.ins().select(inside, value, fill)
                }
                None => value,
            };
        }
        let shape = self.program.buffer(load.buffer).shape.clone();
        let (mut pointer, mut inside, axes) = match self.plans.get(&id) {
            Some(plan) => (plan.pointer, plan.inside, plan.varying.clone()),
            None => {
                let strides = self.strides(&shape);
                let base = self.bases[&load.buffer];
                let varying: Vec<Varying> = (0..shape.len())
                    .map(|axis| Varying {
                        rest: self.affine_value(&load.index[axis], None),
                        coeff: 0,
                        axis,
                        stride: strides[axis],
                    })
                    .collect();
                (base, None, varying)
            }
        };
        let innermost = self.plans.get(&id).map_or(VarId(0), |p| p.var);
        for Varying { rest, coeff, axis, stride } in axes {
            let affine = &load.index[axis];
            let x = if coeff == 0 {
                rest
            } else {
                let counter = self.counters[innermost.index()].expect("the innermost loop is open");
                let v = self.b.use_var(counter);
                let scaled = if coeff == 1 { v } else { self.b.ins().imul_imm_s(v, coeff) };
                self.b.ins().iadd(rest, scaled)
            };
            let interval = self.interval(affine);
            let (position, axis_inside) = self.position(x, interval, shape[axis] as i64, load.axes[axis]);
            inside = self.and_inside(inside, axis_inside);
            let offset = self.b.ins().imul_imm_s(position, stride * 8);
            pointer = self.b.ins().iadd(pointer, offset);
        }
        let value = self.b.ins().load(types::F64, flags, pointer, 0);
        match inside {
            Some(inside) => {
                let fill = self.b.ins().f64const(load.fill);
                self.b.ins().select(inside, value, fill)
            }
            None => value,
        }
    }

    /// `buffer[position] += value` for a scatter output; outside a fill axis it adds -0.0,
    /// which changes nothing (not even the sign of a zero).
    pub fn scatter(&mut self, buffer: crate::ir::BufferId, index: &[Affine], axes: &[Access], value: Value) {
        let (pointer, inside) = self.element(buffer, index, axes);
        let value = match inside {
            Some(inside) => {
                let nothing = self.b.ins().f64const(-0.0);
                self.b.ins().select(inside, value, nothing)
            }
            None => value,
        };
        self.add_at(pointer, 0, value, types::F64);
    }

    /// The address of `buffer[index]` at the current point, each axis resolved by its access,
    /// and whether a fill axis is inside.
    pub fn element(
        &mut self,
        buffer: crate::ir::BufferId,
        index: &[Affine],
        axes: &[Access],
    ) -> (Value, Option<Value>) {
        let shape = self.program.buffer(buffer).shape.clone();
        let strides = self.strides(&shape);
        let mut pointer = self.bases[&buffer];
        let mut inside = None;
        for (axis, affine) in index.iter().enumerate() {
            let x = self.affine_value(affine, None);
            let interval = self.interval(affine);
            let (position, axis_inside) = self.position(x, interval, shape[axis] as i64, axes[axis]);
            inside = self.and_inside(inside, axis_inside);
            let offset = self.b.ins().imul_imm_s(position, strides[axis] * 8);
            pointer = self.b.ins().iadd(pointer, offset);
        }
        (pointer, inside)
    }

    /// The address of a row-planned load whose varying axis provably stays inside here.
    fn direct_row_address(&mut self, id: NodeId, load: &Load) -> Option<(Value, i32)> {
        let plan = self.plans.get(&id)?;
        let row = plan.row?;
        let displacement = plan.displacement;
        let axis = plan.varying[0].axis;
        let (step_bytes, var) = (plan.step_bytes, plan.var);
        let (lo, hi) = self.interval(&load.index[axis]);
        let extent = self.program.buffer(load.buffer).shape[axis] as i64;
        if lo < 0 || hi >= extent {
            return None;
        }
        let counter = self.counters[var.index()].expect("the row's loop is open");
        let v = self.b.use_var(counter);
        let offset =
            if step_bytes == 8 { self.b.ins().ishl_imm_u(v, 3) } else { self.b.ins().imul_imm_s(v, step_bytes) };
        Some((self.b.ins().iadd(row, offset), displacement))
    }

    /// Computes, once per row of `innermost`, the part of every load among `items` that does
    /// not change along the row. Loads of one row of one buffer share a pointer, so stencil
    /// neighbours along the row cost no extra register.
    pub fn plan_loads(&mut self, items: &[NodeId], innermost: VarId) {
        let mut rows: HashMap<String, (Value, Option<Value>)> = HashMap::new();
        for &id in items {
            let crate::ir::Node::Load(load) = self.kernel.node(id) else { continue };
            let shape = self.program.buffer(load.buffer).shape.clone();
            let strides = self.strides(&shape);
            let varying: Vec<usize> =
                (0..shape.len()).filter(|axis| load.index[*axis].terms.iter().any(|(v, _)| *v == innermost)).collect();
            // The row: every fixed axis resolved, plus the variable part of a single varying axis.
            let fixed = |axis: usize| !varying.contains(&axis);
            let key = format!(
                "{:?} {:?} {:?}",
                load.buffer,
                (0..shape.len()).filter(|a| fixed(*a)).map(|a| (&load.index[a], load.axes[a])).collect::<Vec<_>>(),
                varying
                    .iter()
                    .map(|a| load.index[*a].terms.iter().filter(|(v, _)| *v != innermost).collect::<Vec<_>>())
                    .collect::<Vec<_>>(),
            );
            let (pointer, inside) = match rows.get(&key) {
                Some(row) => *row,
                None => {
                    let mut pointer = self.bases[&load.buffer];
                    let mut inside = None;
                    for axis in (0..shape.len()).filter(|a| fixed(*a)) {
                        let affine = &load.index[axis];
                        let x = self.affine_value(affine, None);
                        let interval = self.interval(affine);
                        let (position, axis_inside) = self.position(x, interval, shape[axis] as i64, load.axes[axis]);
                        inside = self.and_inside(inside, axis_inside);
                        let offset = self.b.ins().imul_imm_s(position, strides[axis] * 8);
                        pointer = self.b.ins().iadd(pointer, offset);
                    }
                    rows.insert(key, (pointer, inside));
                    (pointer, inside)
                }
            };
            let mut plan_axes = Vec::with_capacity(varying.len());
            for &axis in &varying {
                let affine = &load.index[axis];
                let coeff = affine.terms.iter().find(|(v, _)| *v == innermost).map_or(0, |(_, c)| *c);
                let rest = self.affine_value(affine, Some(innermost));
                plan_axes.push(Varying { rest, coeff, axis, stride: strides[axis] });
            }
            let (row, displacement, step_bytes) = match varying.as_slice() {
                [axis] => {
                    let affine = &load.index[*axis];
                    let stride = strides[*axis];
                    let coeff = plan_axes[0].coeff;
                    // The variable terms go into the pointer, the constant into the displacement.
                    let terms = Affine {
                        terms: affine.terms.iter().copied().filter(|(v, _)| *v != innermost).collect(),
                        offset: 0,
                    };
                    let displacement = i32::try_from(affine.offset * stride * 8).ok();
                    match displacement {
                        Some(displacement) if terms.terms.is_empty() => {
                            (Some(pointer), displacement, stride * coeff * 8)
                        }
                        Some(displacement) => {
                            let variable = self.affine_value(&terms, None);
                            let offset = self.b.ins().imul_imm_s(variable, stride * 8);
                            (Some(self.b.ins().iadd(pointer, offset)), displacement, stride * coeff * 8)
                        }
                        None => (None, 0, 0),
                    }
                }
                _ => (None, 0, 0),
            };
            self.plans.insert(
                id,
                RowPlan { pointer, inside, varying: plan_axes, row, displacement, step_bytes, var: innermost },
            );
        }
    }
}
