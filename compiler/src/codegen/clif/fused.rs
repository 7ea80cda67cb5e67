//! Short rows, their reductions fused: a kernel whose innermost axis has at most
//! [`MAX_FUSED`] points (`[p < N, k < 3]`) evaluates a row's points together, and each reduction
//! in its body runs one loop for all of them, computing what does not depend on the innermost
//! index once per visited point. In a pair force `F[p, k] = sum(q | cut-off) c(r2[p, q]) d[p, q, k]`
//! the distance and the cut-off test are computed once per pair instead of once per component.
//!
//! Every point keeps its own accumulator, folded in the reduction's visiting order, so the
//! results are the bits the point-by-point loop gives. Used where the body's reductions have
//! filters that do not depend on the innermost index (the points share the branch past the
//! body), the kernel has no scatter and no in-place update (a point must see what the points
//! before it stored), and the innermost axis is not the one threads divide.

use std::collections::HashMap;

use cranelift_codegen::ir::{InstBuilder, Value, types};
use cranelift_frontend::Variable;

use crate::ir::{Node, NodeId, Reduction, VarId};

use super::access::RowPlan;
use super::reduce::Accumulator;
use super::translate::Translator;

/// The longest innermost axis whose points are evaluated together.
pub const MAX_FUSED: usize = 4;

/// What one point of the row has computed: its values and its load plans.
struct Point {
    values: Vec<Option<Value>>,
    plans: HashMap<NodeId, RowPlan>,
}

impl<'a> Translator<'a> {
    /// Whether the row's points may be evaluated together (see the module docs).
    pub fn fusable(&self) -> bool {
        let rank = self.kernel.rank;
        let extent = self.kernel.vars[rank - 1];
        let mut reductions = self.kernel.body.items.iter().filter_map(|id| match self.kernel.node(*id) {
            Node::Reduce(r) if self.inner[id.index()] => Some(r),
            _ => None,
        });
        let mut any = false;
        let filters_shared = reductions.all(|r| {
            any = true;
            r.filter.is_none_or(|f| !self.inner[f.index()])
        });
        rank >= 2
            && (2..=MAX_FUSED).contains(&extent)
            && !self.kernel.has_scatter()
            && !self.kernel.has_update()
            && any
            && filters_shared
    }

    /// The row's points, each body item for every point in turn, reductions fused.
    pub fn fused_row(&mut self) {
        let v = VarId(self.kernel.rank as u32 - 1);
        let extent = self.kernel.vars[v.index()];
        let counter = self.counter(v);
        let kernel = self.kernel;
        let mut points: Vec<Point> =
            (0..extent).map(|_| Point { values: self.values.clone(), plans: self.plans.clone() }).collect();
        for &id in &kernel.body.items {
            if !self.inner[id.index()] {
                continue;
            }
            match kernel.node(id) {
                Node::Reduce(r) => self.fused_reduce(id, r, counter, &mut points),
                _ => {
                    for k in 0..extent {
                        self.at_point(k, counter, &mut points, &mut |t| {
                            let value = t.node(id);
                            t.values[id.index()] = Some(value);
                        });
                    }
                }
            }
        }
        for k in 0..extent {
            self.at_point(k, counter, &mut points, &mut |t| t.store_outputs());
        }
        self.ranges[v.index()] = (0, extent as i64 - 1);
    }

    /// Runs `emit` at point `k` of the row, with that point's values and plans.
    fn at_point(&mut self, k: usize, counter: Variable, points: &mut [Point], emit: &mut dyn FnMut(&mut Self)) {
        let v = self.kernel.rank - 1;
        std::mem::swap(&mut self.values, &mut points[k].values);
        std::mem::swap(&mut self.plans, &mut points[k].plans);
        let index = self.b.ins().iconst(types::I64, k as i64);
        self.b.def_var(counter, index);
        self.ranges[v] = (k as i64, k as i64);
        self.start_point(counter);
        emit(self);
        std::mem::swap(&mut self.values, &mut points[k].values);
        std::mem::swap(&mut self.plans, &mut points[k].plans);
    }

    /// The reduction `r` (node `id`) at every point of the row in one loop: the region's items
    /// that do not depend on the innermost index once, the others per point, one accumulator
    /// per point.
    fn fused_reduce(&mut self, id: NodeId, r: &'a Reduction, counter: Variable, points: &mut [Point]) {
        let accumulators: Vec<Accumulator> = points.iter().map(|_| self.accumulator(r.op)).collect();
        let open = self.open_reduction(r, &mut |t, var| {
            let loads: Vec<NodeId> = r.region.items.clone();
            for point in 0..points.len() {
                t.at_point(point, counter, points, &mut |t| t.plan_loads(&loads, var));
            }
        });
        for &item in &r.region.items {
            for point in points.iter_mut() {
                point.values[item.index()] = None;
            }
        }
        // What no point's index changes, the filter first: the points share its branch.
        let inner = self.inner.clone();
        let skip = self.filter_branch(r);
        self.region(&r.region, &|id| !inner[id.index()]);
        for &item in r.region.items.iter().filter(|id| !inner[id.index()]) {
            for point in points.iter_mut() {
                point.values[item.index()] = self.values[item.index()];
            }
        }
        for (k, &acc) in accumulators.iter().enumerate() {
            self.at_point(k, counter, points, &mut |t| {
                t.region(&r.region, &|id| inner[id.index()]);
                let value = t.values[r.value.index()].expect("the value is computed");
                t.fold(acc, value);
            });
        }
        self.close_reduction(skip, open);
        for (point, &acc) in points.iter_mut().zip(&accumulators) {
            point.values[id.index()] = Some(self.total(acc));
        }
    }
}
