//! Kernels a procedure computes twice: the second becomes a copy of the first's results.
//!
//! Named scalars are lowered one by one, each with the lets and row totals it reads, so a
//! procedure computing several of them may compute one sum several times: with `observe
//! potential = E` and `observe total = kinetic + potential`, the observation procedure sums the
//! pair energy once for `potential` and again for `total` (a million pairs each, for 1000
//! particles). A kernel identical to an earlier one of the same procedure, up to the buffers it
//! assigns, computes the same values when nothing between them writes what the earlier one
//! reads or assigns; it is replaced by a kernel copying those values, which costs one pass over
//! its outputs instead of its whole work. The results are the same bits.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{DefaultHasher, Hasher};

use crate::ir::builder::KernelBuilder;
use crate::ir::{Access, Affine, Kernel, KernelId, Load, Node, Output, Program, Reduction, Store, VarId};

/// `kernels` (of `program`, run in this order) with every kernel that repeats an earlier one
/// replaced by a copy of the earlier one's results (see the module docs).
///
/// Each kernel's work is renumbered and fingerprinted once, so a later kernel is compared only
/// with earlier ones of the same fingerprint, nearest first: an observation procedure of 64k
/// scalars stays linear.
pub(super) fn copy_repeated(program: &mut Program, kernels: &[KernelId]) -> Vec<KernelId> {
    let mut result = kernels.to_vec();
    let mut seen: HashMap<u64, Vec<(usize, Kernel)>> = HashMap::new();
    for later in 0..kernels.len() {
        let kernel = program.kernel(kernels[later]);
        let Some(work) = work_of(kernel) else { continue };
        let candidates = seen.entry(fingerprint(&work)).or_default();
        let repeated = candidates.iter().rev().find(|(earlier, first_work)| {
            let first = program.kernel(kernels[*earlier]);
            same_work(first_work, &work)
                && kernels[earlier + 1..later].iter().all(|k| !overwrites(program.kernel(*k), first))
        });
        let repeated = repeated.map(|(earlier, _)| *earlier);
        candidates.push((later, work));
        if let Some(earlier) = repeated {
            let copy = copy_kernel(program, program.kernel(kernels[earlier]), kernel);
            result[later] = program.add_kernel(copy);
        }
    }
    result
}

/// What [`same_work`] compares: a kernel that assigns every output, with its reduction
/// variables renumbered; `None` for a kernel that accumulates or scatters.
fn work_of(kernel: &Kernel) -> Option<Kernel> {
    kernel.outputs.iter().all(|o| o.store == Store::Assign).then(|| renumbered(kernel))
}

/// A hash of the values `work` (from [`work_of`]) computes, blind to the buffers it assigns:
/// kernels with the same work have the same fingerprint.
fn fingerprint(work: &Kernel) -> u64 {
    struct Hashing(DefaultHasher);
    impl std::fmt::Write for Hashing {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0.write(s.as_bytes());
            Ok(())
        }
    }
    let values: Vec<_> = work.outputs.iter().map(|o| o.value).collect();
    let mut hashing = Hashing(DefaultHasher::new());
    let described =
        write!(hashing, "{:?}", (work.rank, &work.vars, &work.nodes, &work.prelude, &work.body, &work.visit, values));
    described.expect("formatting into a hasher cannot fail");
    hashing.0.finish()
}

/// Whether the kernels whose [`work_of`] is `a` and `b` compute the same values at the same
/// points and assign them, output for output, into different buffers: the same nodes, up to
/// the numbering of reduction variables (each scalar's definition numbers its own).
fn same_work(a: &Kernel, b: &Kernel) -> bool {
    if a.rank != b.rank || a.outputs.len() != b.outputs.len() {
        return false;
    }
    if a.outputs.iter().any(|o| b.outputs.iter().any(|p| p.buffer == o.buffer)) {
        return false;
    }
    a.vars == b.vars
        && a.nodes == b.nodes
        && a.prelude == b.prelude
        && a.body == b.body
        && a.visit == b.visit
        && a.outputs.iter().zip(&b.outputs).all(|(x, y)| x.value == y.value)
}

/// `kernel` with its reduction variables numbered in the order the reductions bind them.
fn renumbered(kernel: &Kernel) -> Kernel {
    let mut new_id: Vec<Option<VarId>> = vec![None; kernel.vars.len()];
    let mut vars: Vec<usize> = kernel.vars[..kernel.rank].to_vec();
    for (v, slot) in new_id.iter_mut().enumerate().take(kernel.rank) {
        *slot = Some(VarId(v as u32));
    }
    for node in &kernel.nodes {
        if let Node::Reduce(r) = node {
            for v in &r.vars {
                new_id[v.index()] = Some(VarId(vars.len() as u32));
                vars.push(kernel.vars[v.index()]);
            }
        }
    }
    let rename = |v: VarId| new_id[v.index()].unwrap_or(v);
    let affine = |a: &Affine| {
        let mut terms: Vec<(VarId, i64)> = a.terms.iter().map(|(v, c)| (rename(*v), *c)).collect();
        terms.sort_by_key(|(v, _)| *v);
        Affine { terms, offset: a.offset }
    };
    let nodes = kernel
        .nodes
        .iter()
        .map(|node| match node {
            Node::Index(v) => Node::Index(rename(*v)),
            Node::Load(load) => Node::Load(Load { index: load.index.iter().map(affine).collect(), ..load.clone() }),
            Node::Reduce(r) => {
                Node::Reduce(Reduction { vars: r.vars.iter().map(|v| rename(*v)).collect(), ..r.clone() })
            }
            other => other.clone(),
        })
        .collect();
    Kernel { vars, nodes, ..kernel.clone() }
}

/// Whether `kernel` writes a buffer `first` reads or assigns.
fn overwrites(kernel: &Kernel, first: &Kernel) -> bool {
    kernel.outputs.iter().any(|o| {
        first.outputs.iter().any(|f| f.buffer == o.buffer)
            || first.nodes.iter().any(|n| matches!(n, Node::Load(l) if l.buffer == o.buffer))
    })
}

/// A kernel assigning `repeat`'s outputs the values `first` assigned.
fn copy_kernel(program: &Program, first: &Kernel, repeat: &Kernel) -> Kernel {
    let domain = repeat.domain().to_vec();
    let mut b = KernelBuilder::new(format!("{}_copy", repeat.name), domain.clone(), repeat.rank);
    let index: Vec<Affine> = (0..repeat.rank).map(|v| Affine::var(VarId(v as u32))).collect();
    let outputs = first
        .outputs
        .iter()
        .zip(&repeat.outputs)
        .map(|(from, to)| {
            debug_assert_eq!(program.buffer(from.buffer).shape, domain);
            let value = b.load(from.buffer, index.clone(), vec![Access::Direct; index.len()], 0.0);
            Output::assign(to.buffer, value)
        })
        .collect();
    b.finish(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtins::ReduceOp;
    use crate::ir::BufferId;

    /// `out[i] = sum(j) a[i, j]`.
    fn row_sum(program: &mut Program, out: BufferId, a: BufferId) -> KernelId {
        let mut b = KernelBuilder::new("rows", vec![4], 1);
        let j = b.add_var(5);
        let value = b.reduce(ReduceOp::Sum, &[j], |b| {
            (None, b.load(a, vec![Affine::var(VarId(0)), Affine::var(j)], vec![Access::Direct; 2], 0.0))
        });
        let kernel = b.finish(vec![Output::assign(out, value)]);
        program.add_kernel(kernel)
    }

    #[test]
    fn a_repeated_sum_becomes_a_copy_unless_its_input_changed() {
        let mut program = Program::default();
        let a = program.add_buffer("a", vec![4, 5]);
        let (x, y, z) =
            (program.add_buffer("x", vec![4]), program.add_buffer("y", vec![4]), program.add_buffer("z", vec![4]));
        let first = row_sum(&mut program, x, a);
        let second = row_sum(&mut program, y, a);
        let kernels = copy_repeated(&mut program, &[first, second]);
        assert_eq!(kernels[0], first);
        let copy = program.kernel(kernels[1]);
        assert_eq!(copy.outputs.iter().map(|o| o.buffer).collect::<Vec<_>>(), [y]);
        assert!(copy.nodes.iter().all(|n| !matches!(n, Node::Reduce(_))), "{copy:?}");
        assert!(copy.nodes.iter().any(|n| matches!(n, Node::Load(l) if l.buffer == x)));

        // A kernel between them writes `a`: the sum must run again.
        let mut writes_a = KernelBuilder::new("clear", vec![4, 5], 2);
        let zero = writes_a.constant(0.0);
        let clear = program.add_kernel(writes_a.finish(vec![Output::assign(a, zero)]));
        let third = row_sum(&mut program, z, a);
        let kernels = copy_repeated(&mut program, &[first, clear, third]);
        assert_eq!(kernels, [first, clear, third]);
    }
}
