//! The Kernel IR: buffers plus kernels, the contract between the compiler and every engine.
//!
//! **Buffers** are dense row-major `f64` arrays with a fixed shape; a buffer of shape `[]` holds
//! one number (params, the time `t`, the step `dt`, scalar outputs).
//!
//! **A kernel** computes one value per point of its *domain* (a box `[0, e0) x [0, e1) ...`,
//! possibly of rank 0) and stores it into each of its outputs at that point; every output buffer
//! has the domain's shape. Its scalar code is SSA in an arena of [`Node`]s, organised in
//! [`Region`]s that say what is evaluated when:
//! - the *prelude* runs once per launch; it may not use the domain's index variables;
//! - the *body* runs once per domain point, after the prelude;
//! - a reduction's region runs once per point of the reduction's own index box.
//!
//! A node may use nodes of its own region that come before it, and nodes of enclosing regions
//! (the prelude encloses the body, which encloses reductions). Index variables are numbered per
//! kernel: `0..rank` are the domain's, the rest are bound by reductions.
//!
//! **Loads** read a buffer at an [`Affine`] index per axis; each axis says what a position
//! outside `[0, extent)` means ([`Access`]). A load outside an axis marked `Fill` yields the
//! load's `fill` value. Loads are pure: a kernel never reads a buffer it writes, so they may be
//! evaluated in any order, hoisted or repeated.
//!
//! **Outputs** assign or add the value at the domain point, or add it at a computed position
//! (a scatter, see [`Store`]); adjoint kernels accumulate this way.
//!
//! **Parallel execution** never changes a bit of a result: every engine, with any number of
//! workers, computes what one worker visiting the domain in row-major order computes
//! ([`Kernel::partition`] says how a kernel may be divided). A kernel without scatters writes
//! only its own points, so it may be split by rows of its domain's first axis. A scatter adds
//! into each element in visiting order, and splitting its domain would reorder those additions
//! (or, done naively, lose them to races). So a kernel whose one output is a scatter is split by
//! rows of the *written* buffer instead: each worker visits every point in order and adds only
//! the contributions that land in its rows. We chose this over atomics (an order that changes
//! from run to run) and over per-worker accumulators summed afterwards (an association of the
//! sum that changes with the worker count, and a copy of the target per worker): it costs each
//! worker a scan of the scatter positions, and keeps every engine bit-identical to the
//! interpreter. Any other kernel with a scatter runs on one worker.
//!
//! **In-place updates** are how samplers change a state: an output [`Store::Update`] assigns
//! the value at an affine position of a buffer the kernel may also read. Points are visited in
//! order (row-major, or the order a list buffer gives, see [`Visit`]); a point's loads see what
//! earlier points stored, and its own store comes after its own loads: a Gauss–Seidel sweep.
//! Distinct points write distinct elements. Such a kernel runs on one worker, unless no point
//! reads an element another point writes (a checkerboard colour: writes at `2 * i + 1`, reads
//! at `2 * i` and `2 * i + 2`), which [`Kernel::partition`] proves from the indices alone; then
//! the visiting order cannot matter and its rows may be divided. Loads of an updated buffer are
//! never hoisted out of the point that makes them (see [`builder::KernelBuilder::pin`]).
//!
//! **Reductions** visit their box in row-major order, evaluate the region, and fold the value
//! of every point whose filter holds: sum (from 0, in visiting order), mean (the sum divided by
//! the number of points folded; NaN for none), max/min (by [`crate::ops::Binary::Max`], from -inf /
//! +inf). Engines must visit in this order so sums agree bit for bit.
//!
//! Values are `f64`, booleans (comparisons, `and`, `or`, `not`) or 32-bit unsigned words (the
//! integer arithmetic of counter-based random numbers, see [`crate::ops::WordOp`]; a word only
//! becomes a number through `from_word`); `select` takes a boolean and evaluates both of its
//! other operands. Arithmetic follows [`crate::ops`] exactly.
//!
//! **Procedures** are named lists of kernels run in order; the runtime runs them (initialise,
//! step, observe) and owns the time loop.
//!
//! Example (`d/dt u = D * (u[i-1] - 2u[i] + u[i+1])`, explicit Euler, periodic):
//! ```text
//! kernel euler_u [i0 < 64]
//!   prelude:
//!     v0 = load D[]
//!     v1 = load dt[]
//!   body:
//!     v2 = load u[i0 - 1] (periodic)
//!     ...
//!     v9 = add v8 ...
//!   store u_next = v9
//! ```

mod arith;
pub mod builder;
mod print;
mod verify;

use std::fmt;

pub use print::print;
pub use verify::{VerifyError, verify};

use crate::builtins::ReduceOp;
use crate::ops::{Binary, Compare, Unary, WordOp};

/// A buffer of a [`Program`]: its position in [`Program::buffers`], printed `b0`, `b1`, ...
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BufferId(pub u32);

/// A kernel of a [`Program`]: its position in [`Program::kernels`], printed `k0`, `k1`, ...
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KernelId(pub u32);

/// A procedure of a [`Program`]: its position in [`Program::procedures`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProcId(pub u32);

/// A value in a kernel's node arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

/// An index variable of a kernel (or of a definition in the checked model).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VarId(pub u32);

macro_rules! index_methods {
    ($($t:ty),*) => {$(
        impl $t {
            /// The position in the list this id points into, for indexing.
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }
    )*};
}
index_methods!(BufferId, KernelId, ProcId, NodeId, VarId);

/// A whole lowered script: what lowering and autodiff produce, and what every engine runs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Program {
    /// Every array the kernels read or write, indexed by [`BufferId`].
    pub buffers: Vec<Buffer>,
    /// Every kernel, indexed by [`KernelId`]; one may belong to several procedures.
    pub kernels: Vec<Kernel>,
    /// The entry points the runtime calls, indexed by [`ProcId`].
    pub procedures: Vec<Procedure>,
}

impl Program {
    /// The buffer `id` names.
    pub fn buffer(&self, id: BufferId) -> &Buffer {
        &self.buffers[id.index()]
    }

    /// The kernel `id` names.
    pub fn kernel(&self, id: KernelId) -> &Kernel {
        &self.kernels[id.index()]
    }

    /// The procedure `id` names.
    pub fn procedure(&self, id: ProcId) -> &Procedure {
        &self.procedures[id.index()]
    }

    /// Appends a buffer of `shape` (`[]` for a scalar) and returns its id.
    pub fn add_buffer(&mut self, name: impl Into<String>, shape: Vec<usize>) -> BufferId {
        self.buffers.push(Buffer { name: name.into(), shape });
        BufferId(self.buffers.len() as u32 - 1)
    }

    /// Appends a kernel and returns its id; it runs only once a procedure lists it.
    pub fn add_kernel(&mut self, kernel: Kernel) -> KernelId {
        self.kernels.push(kernel);
        KernelId(self.kernels.len() as u32 - 1)
    }

    /// Appends a procedure that runs `kernels` in order, and returns its id.
    pub fn add_procedure(&mut self, name: impl Into<String>, kernels: Vec<KernelId>) -> ProcId {
        self.procedures.push(Procedure { name: name.into(), kernels });
        ProcId(self.procedures.len() as u32 - 1)
    }
}

/// A dense row-major array of `f64`, allocated and owned by the runtime.
#[derive(Clone, Debug, PartialEq)]
pub struct Buffer {
    /// For printed IR and error messages only (often the field's name); engines go by id.
    pub name: String,
    /// Extent of each axis; empty for a scalar.
    pub shape: Vec<usize>,
}

impl Buffer {
    /// The number of elements: the product of the extents (1 for a scalar).
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether some axis has extent 0, so the buffer holds no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A named list of kernels the runtime runs in order as one call (initialise, step, observe, ...).
#[derive(Clone, Debug, PartialEq)]
pub struct Procedure {
    /// What it does (`sweep`, `hmc_force`); printed in the IR and in verify errors.
    pub name: String,
    /// Its kernels, in the order they run; each sees what the earlier ones wrote.
    pub kernels: Vec<KernelId>,
}

/// One data-parallel loop nest: a value per point of a domain, stored into its outputs (see
/// the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct Kernel {
    /// For printed IR and error messages (e.g. `euler_u`); not required to be unique.
    pub name: String,
    /// Extents of every index variable: the domain's first, then the reductions'.
    pub vars: Vec<usize>,
    /// How many of `vars` are the domain.
    pub rank: usize,
    /// The SSA arena every [`NodeId`] of this kernel points into; each node is placed in
    /// exactly one region.
    pub nodes: Vec<Node>,
    /// Nodes evaluated once per launch, before any point; they use no domain variable.
    pub prelude: Region,
    /// Nodes evaluated once per domain point, after the prelude.
    pub body: Region,
    /// What is stored at each point, and where.
    pub outputs: Vec<Output>,
    /// The order the body visits the domain's points in.
    pub visit: Visit,
}

/// The points a kernel's body runs at, in order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Visit {
    /// Every point of the domain, row-major.
    #[default]
    RowMajor,
    /// The points whose flat row-major positions a rank-1 buffer lists (integer values), in its
    /// order; a point may come more than once. Only kernels whose outputs are all
    /// [`Store::Update`] visit lists (a random-order sweep).
    Listed(BufferId),
}

impl Kernel {
    /// The extents of the domain's axes (the first `rank` variables); empty for rank 0.
    pub fn domain(&self) -> &[usize] {
        &self.vars[..self.rank]
    }

    /// The node `id` names in this kernel's arena.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    /// The number of points in the domain.
    pub fn points(&self) -> usize {
        self.domain().iter().product()
    }

    /// The points the kernel visits: its domain's, each times the points of the reductions its
    /// body evaluates (nested reductions multiply, neighbouring ones add). Engines weigh whether
    /// dividing a kernel between workers pays by this, not by the domain alone: a pair force over
    /// `[p < 1000, k < 3]` has few points but visits three million.
    pub fn work(&self) -> usize {
        fn visits(kernel: &Kernel, region: &Region) -> usize {
            let reductions = region.items.iter().map(|id| match kernel.node(*id) {
                Node::Reduce(r) => {
                    let points = r.vars.iter().map(|v| kernel.vars[v.index()]).product::<usize>();
                    points.saturating_mul(visits(kernel, &r.region))
                }
                _ => 0,
            });
            reductions.fold(1, usize::saturating_add)
        }
        self.points().saturating_mul(visits(self, &self.body))
    }

    /// Whether an output adds at computed positions (several points may hit one element).
    pub fn has_scatter(&self) -> bool {
        self.outputs.iter().any(|o| matches!(o.store, Store::Scatter { .. }))
    }

    /// Whether an output updates a buffer in place.
    pub fn has_update(&self) -> bool {
        self.outputs.iter().any(|o| matches!(o.store, Store::Update { .. }))
    }

    /// How engines may divide this kernel's points between workers (see the module docs);
    /// `program` holds its buffers.
    pub fn partition(&self, program: &Program) -> Partition {
        match self.outputs.as_slice() {
            _ if self.rank == 0 || self.visit != Visit::RowMajor => Partition::Single,
            _ if self.has_update() && !self.updates_independent(program) => Partition::Single,
            [Output { buffer, store: Store::Scatter { index, .. }, .. }] if !index.is_empty() => {
                Partition::ScatterRows(*buffer)
            }
            _ if self.has_scatter() => Partition::Single,
            _ => Partition::Rows,
        }
    }

    /// Whether no point of this kernel loads an element of an updated buffer that another point
    /// stores: every load of such a buffer reads the point's own element (the update's index),
    /// or differs from the update's index, on some axis, by an offset that is not a multiple of
    /// the coefficient `m >= 2` both give the same variable there (`2 * i` against `2 * i + 1`;
    /// a periodic wrap keeps the residue when the axis's extent is a multiple of `m`).
    pub fn updates_independent(&self, program: &Program) -> bool {
        self.outputs.iter().all(|output| {
            let Store::Update { index: written } = &output.store else { return true };
            let shape = &program.buffer(output.buffer).shape;
            self.nodes.iter().all(|node| match node {
                Node::Load(load) if load.buffer == output.buffer => {
                    load.index == *written
                        || (0..shape.len()).any(|axis| {
                            let (read, wrote) = (&load.index[axis], &written[axis]);
                            match (read.terms.as_slice(), wrote.terms.as_slice()) {
                                ([(v, m)], [(w, n)]) if v == w && m == n && *m >= 2 => {
                                    let residue_kept = match load.axes[axis] {
                                        Access::Direct | Access::Fill => true,
                                        Access::Periodic => shape[axis] as i64 % m == 0,
                                        Access::Clamp | Access::Reflect => false,
                                    };
                                    residue_kept && (read.offset - wrote.offset).rem_euclid(*m) != 0
                                }
                                _ => false,
                            }
                        })
                }
                _ => true,
            })
        })
    }
}

/// How a kernel's work may be divided between workers without changing any result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Partition {
    /// By rows of the domain's first axis: each point writes only its own elements (and, for
    /// an in-place update, reads none that another point writes).
    Rows,
    /// By rows of the first axis of this buffer, the kernel's one output, a scatter: each worker
    /// visits every point in order and adds only the contributions landing in its rows.
    ScatterRows(BufferId),
    /// Not at all: one worker visits every point in order.
    Single,
}

/// Nodes evaluated in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Region {
    /// The nodes placed here, each after the nodes of this region it uses.
    pub items: Vec<NodeId>,
}

/// What a kernel does with `value` at every domain point.
#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    /// The buffer written.
    pub buffer: BufferId,
    /// A number of the body or the prelude: what is stored.
    pub value: NodeId,
    /// How and where it is stored.
    pub store: Store,
}

impl Output {
    /// `buffer[point] = value`.
    pub fn assign(buffer: BufferId, value: NodeId) -> Output {
        Output { buffer, value, store: Store::Assign }
    }
}

/// How an output writes its value into its buffer.
#[derive(Clone, Debug, PartialEq)]
pub enum Store {
    /// `buffer[point] = value`; the buffer has the domain's shape.
    Assign,
    /// `buffer[point] += value`; the buffer has the domain's shape.
    Add,
    /// `buffer[position] += value` at the position the index resolves to (as a load would),
    /// skipped where a `Fill` axis is outside. Several points may hit one element; they add in
    /// visiting order (see [`Partition::ScatterRows`]).
    Scatter {
        /// The position, one affine index per axis of the buffer.
        index: Vec<Affine>,
        /// The boundary rule of each axis, as for a load.
        axes: Vec<Access>,
    },
    /// `buffer[position] = value` in place, at the position the index gives (inside the buffer
    /// on every axis, no boundary rule), after the point's loads; later points see the new
    /// value (see the module docs). Each domain variable appears on exactly one axis, alone, so
    /// distinct points write distinct elements.
    Update {
        /// The position, one affine index per axis of the buffer.
        index: Vec<Affine>,
    },
}

/// One SSA value of a kernel: a number, a boolean or a 32-bit word ([`verify`] checks which
/// operands each variant takes).
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// A number known at compile time.
    Const(f64),
    /// The value of an index variable, as a number.
    Index(VarId),
    /// A number read from a buffer.
    Load(Load),
    /// `op(a)` on a number.
    Unary(Unary, NodeId),
    /// `op(a, b)` on numbers.
    Binary(Binary, NodeId, NodeId),
    /// `a op b` on numbers: a boolean.
    Compare(Compare, NodeId, NodeId),
    /// Both booleans hold (both are evaluated).
    And(NodeId, NodeId),
    /// Either boolean holds (both are evaluated).
    Or(NodeId, NodeId),
    /// The boolean does not hold.
    Not(NodeId),
    /// `if c then a else b`: `c` a boolean, `a` and `b` two numbers or two booleans (never
    /// words), both evaluated.
    Select(NodeId, NodeId, NodeId),
    /// A number folded over an index box.
    Reduce(Reduction),
    /// A 32-bit unsigned word (see [`crate::ops::WordOp`]).
    WordConst(u32),
    /// The word of an integer-valued number ([`crate::ops::to_word`]).
    ToWord(NodeId),
    /// `op(a, b)` on words.
    Word(WordOp, NodeId, NodeId),
    /// A word as the number it is, `0..2^32`.
    FromWord(NodeId),
    /// The number `(k + 1/2) 2^-52` strictly inside (0, 1) from two words `hi` and `lo`, `k`
    /// the top 52 bits of `hi lo` (`hi 2^20 + floor(lo 2^-12)`): a uniform draw
    /// ([`crate::lower::random::uniform_of`]). One node rather than its eight operations so
    /// that vector code can build it from the words' bits.
    Unit(NodeId, NodeId),
    /// `a b + c` on numbers, rounded once (IEEE fused multiply-add): the math functions'
    /// polynomials ([`crate::math::Arith::mul_add`]). Never made from a script's `a * b + c`,
    /// which rounds twice.
    MulAdd(NodeId, NodeId, NodeId),
}

impl Node {
    /// The values this node uses directly (not those inside a reduction's region).
    pub fn operands(&self) -> Vec<NodeId> {
        match self {
            Node::Const(_) | Node::Index(_) | Node::Load(_) | Node::WordConst(_) => Vec::new(),
            Node::Unary(_, a) | Node::Not(a) | Node::ToWord(a) | Node::FromWord(a) => vec![*a],
            Node::Binary(_, a, b)
            | Node::Compare(_, a, b)
            | Node::And(a, b)
            | Node::Or(a, b)
            | Node::Word(_, a, b)
            | Node::Unit(a, b) => vec![*a, *b],
            Node::Select(c, a, b) | Node::MulAdd(c, a, b) => vec![*c, *a, *b],
            Node::Reduce(r) => r.filter.iter().copied().chain([r.value]).collect(),
        }
    }

    /// Whether the node is a comparison or `and`/`or`/`not`, whose value is always a boolean
    /// (a `Select` between booleans is one too, but is not counted here).
    pub fn is_boolean(&self) -> bool {
        matches!(self, Node::Compare(..) | Node::And(..) | Node::Or(..) | Node::Not(_))
    }
}

/// A read of one element of a buffer; pure (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct Load {
    /// The buffer read.
    pub buffer: BufferId,
    /// The position, one affine index of the kernel's variables per axis of the buffer.
    pub index: Vec<Affine>,
    /// What a position outside each axis means, one per axis.
    pub axes: Vec<Access>,
    /// The value of the load when the position is outside a [`Access::Fill`] axis.
    pub fill: f64,
}

/// A fold (`sum`, `mean`, `max`, `min`) of a value over a box of fresh index variables.
#[derive(Clone, Debug, PartialEq)]
pub struct Reduction {
    /// How the values are folded, and from what.
    pub op: ReduceOp,
    /// The variables it binds, visited row-major over their extents in [`Kernel::vars`].
    pub vars: Vec<VarId>,
    /// Nodes evaluated once per point of the box.
    pub region: Region,
    /// A boolean of the region (or an enclosing one); points where it is false are skipped.
    pub filter: Option<NodeId>,
    /// The number folded at each point: of the region or an enclosing one.
    pub value: NodeId,
}

/// `sum(coeff * var) + offset` with integer coefficients: an index expression.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Affine {
    /// Sorted by variable, no zero coefficients.
    pub terms: Vec<(VarId, i64)>,
    /// The constant added.
    pub offset: i64,
}

impl Affine {
    /// The index `offset`, the same at every point.
    pub fn constant(offset: i64) -> Affine {
        Affine { terms: Vec::new(), offset }
    }

    /// The index `var` itself.
    pub fn var(var: VarId) -> Affine {
        Affine { terms: vec![(var, 1)], offset: 0 }
    }

    /// Whether it depends on no variable.
    pub fn is_constant(&self) -> bool {
        self.terms.is_empty()
    }

    /// `Some(v)` when this is `v + offset`.
    pub fn single_var(&self) -> Option<VarId> {
        match self.terms.as_slice() {
            [(v, 1)] => Some(*v),
            _ => None,
        }
    }

    /// `self + other`, kept sorted and without zero terms.
    pub fn add(&self, other: &Affine) -> Affine {
        let mut terms = self.terms.clone();
        for &(var, coeff) in &other.terms {
            match terms.iter_mut().find(|(v, _)| *v == var) {
                Some(term) => term.1 += coeff,
                None => terms.push((var, coeff)),
            }
        }
        terms.retain(|(_, c)| *c != 0);
        terms.sort_by_key(|(v, _)| *v);
        Affine { terms, offset: self.offset + other.offset }
    }

    /// `factor * self`.
    pub fn scale(&self, factor: i64) -> Affine {
        if factor == 0 {
            return Affine::constant(0);
        }
        Affine { terms: self.terms.iter().map(|(v, c)| (*v, c * factor)).collect(), offset: self.offset * factor }
    }

    /// The value at the given variable values.
    #[inline]
    pub fn eval(&self, vars: &[i64]) -> i64 {
        self.terms.iter().fold(self.offset, |acc, (v, c)| acc + c * vars[v.index()])
    }

    /// Renders with variable names: `i + 1`, `2*j - k`.
    pub fn display(&self, name: &dyn Fn(VarId) -> String) -> String {
        let mut out = String::new();
        for (var, coeff) in &self.terms {
            let magnitude = coeff.unsigned_abs();
            out.push_str(match (out.is_empty(), *coeff < 0) {
                (true, true) => "-",
                (false, true) => " - ",
                (false, false) => " + ",
                (true, false) => "",
            });
            if magnitude != 1 {
                out.push_str(&format!("{magnitude}*"));
            }
            out.push_str(&name(*var));
        }
        match (out.is_empty(), self.offset) {
            (true, o) => out = o.to_string(),
            (false, 0) => {}
            (false, o) if o < 0 => out.push_str(&format!(" - {}", -o)),
            (false, o) => out.push_str(&format!(" + {o}")),
        }
        out
    }
}

/// How one axis of a load treats a position outside `[0, extent)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// Known to be inside: no check.
    Direct,
    /// Wrap around: `-1 -> extent - 1`.
    Periodic,
    /// Mirror about the edge point: `-k -> k`, `extent - 1 + k -> extent - 1 - k`.
    Reflect,
    /// The nearest edge: `-k -> 0`.
    Clamp,
    /// Outside, the whole load yields its fill value.
    Fill,
}

impl Access {
    /// The in-range position a position `x` on an axis of `extent` reads, or `None` when the
    /// load yields its fill value.
    #[inline]
    pub fn resolve(self, x: i64, extent: usize) -> Option<usize> {
        let n = extent as i64;
        if (0..n).contains(&x) {
            return Some(x as usize);
        }
        match self {
            Access::Direct | Access::Fill => None,
            Access::Periodic => Some(x.rem_euclid(n) as usize),
            Access::Clamp => Some(x.clamp(0, n - 1) as usize),
            Access::Reflect if n == 1 => Some(0),
            Access::Reflect => {
                let period = 2 * (n - 1);
                let m = x.rem_euclid(period);
                Some(if m < n { m } else { period - m } as usize)
            }
        }
    }

    /// Its word in printed IR (`periodic`, `fill`).
    pub fn name(self) -> &'static str {
        match self {
            Access::Direct => "direct",
            Access::Periodic => "periodic",
            Access::Reflect => "reflect",
            Access::Clamp => "clamp",
            Access::Fill => "fill",
        }
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundary_positions() {
        assert_eq!(Access::Periodic.resolve(-1, 5), Some(4));
        assert_eq!(Access::Periodic.resolve(7, 5), Some(2));
        assert_eq!(Access::Clamp.resolve(-3, 5), Some(0));
        assert_eq!(Access::Reflect.resolve(-1, 5), Some(1));
        assert_eq!(Access::Reflect.resolve(5, 5), Some(3));
        assert_eq!(Access::Reflect.resolve(-2, 1), Some(0));
        assert_eq!(Access::Fill.resolve(5, 5), None);
        assert_eq!(Access::Direct.resolve(4, 5), Some(4));
    }

    #[test]
    fn partitions() {
        let scatter = |buffer: u32, index: Vec<Affine>| Output {
            buffer: BufferId(buffer),
            value: NodeId(0),
            store: Store::Scatter { axes: vec![Access::Periodic; index.len()], index },
        };
        let kernel = |rank: usize, outputs: Vec<Output>| Kernel {
            name: "k".into(),
            vars: vec![8; rank.max(1)],
            rank,
            nodes: vec![Node::Const(1.0)],
            prelude: Region::default(),
            body: Region { items: vec![NodeId(0)] },
            outputs,
            visit: Visit::RowMajor,
        };
        let mut program = Program::default();
        program.add_buffer("u", vec![8, 8]);
        program.add_buffer("a", vec![16]);
        let i_plus_j = Affine::var(VarId(0)).add(&Affine::var(VarId(1)));
        assert_eq!(kernel(2, vec![Output::assign(BufferId(0), NodeId(0))]).partition(&program), Partition::Rows);
        assert_eq!(
            kernel(2, vec![scatter(1, vec![i_plus_j.clone()])]).partition(&program),
            Partition::ScatterRows(BufferId(1))
        );
        // Into a scalar, or beside another output: one worker.
        assert_eq!(kernel(2, vec![scatter(1, Vec::new())]).partition(&program), Partition::Single);
        let mixed = vec![scatter(1, vec![i_plus_j]), Output::assign(BufferId(0), NodeId(0))];
        assert_eq!(kernel(2, mixed).partition(&program), Partition::Single);
        assert_eq!(kernel(0, vec![Output::assign(BufferId(0), NodeId(0))]).partition(&program), Partition::Single);
    }

    /// In-place updates of `a` (16 elements) at `2 * i + 1` over `i < 8`, reading `a` at `read`.
    fn update_partition(read: Affine, access: Access, extent: usize) -> Partition {
        let i = Affine::var(VarId(0));
        let written = i.scale(2).add(&Affine::constant(1));
        let load = Load { buffer: BufferId(0), index: vec![read], axes: vec![access], fill: 0.0 };
        let kernel = Kernel {
            name: "k".into(),
            vars: vec![8],
            rank: 1,
            nodes: vec![Node::Load(load)],
            prelude: Region::default(),
            body: Region { items: vec![NodeId(0)] },
            outputs: vec![Output {
                buffer: BufferId(0),
                value: NodeId(0),
                store: Store::Update { index: vec![written] },
            }],
            visit: Visit::RowMajor,
        };
        let mut program = Program::default();
        program.add_buffer("a", vec![extent]);
        kernel.partition(&program)
    }

    #[test]
    fn updates_divide_only_when_no_point_reads_what_another_writes() {
        let i = Affine::var(VarId(0));
        let odd = i.scale(2).add(&Affine::constant(1));
        // Its own element, and the even neighbours: independent.
        assert_eq!(update_partition(odd.clone(), Access::Direct, 16), Partition::Rows);
        assert_eq!(update_partition(i.scale(2).add(&Affine::constant(2)), Access::Periodic, 16), Partition::Rows);
        assert_eq!(update_partition(i.scale(2), Access::Direct, 16), Partition::Rows);
        // Another odd element, an odd periodic extent, a plain neighbour: in order, one worker.
        assert_eq!(update_partition(i.scale(2).add(&Affine::constant(3)), Access::Periodic, 16), Partition::Single);
        assert_eq!(update_partition(i.scale(2).add(&Affine::constant(2)), Access::Periodic, 17), Partition::Single);
        assert_eq!(update_partition(i.add(&Affine::constant(1)), Access::Periodic, 16), Partition::Single);
        assert_eq!(update_partition(i.scale(2).add(&Affine::constant(2)), Access::Clamp, 16), Partition::Single);
    }

    #[test]
    fn work_counts_the_points_of_reductions() {
        use crate::ir::builder::KernelBuilder;
        // A pair force's shape: [p < 100, k < 3], summing over q < 100 an inner sum over m < 3.
        let mut b = KernelBuilder::new("force", vec![100, 3], 2);
        let (q, m) = (b.add_var(100), b.add_var(3));
        let x = BufferId(0);
        let total = b.reduce(ReduceOp::Sum, &[q], |b| {
            let inner = b.reduce(ReduceOp::Sum, &[m], |b| {
                (None, b.load(x, vec![Affine::var(q), Affine::var(m)], vec![Access::Direct; 2], 0.0))
            });
            let here = b.load(x, vec![Affine::var(q), Affine::var(VarId(1))], vec![Access::Direct; 2], 0.0);
            (None, b.binary(Binary::Mul, inner, here))
        });
        let kernel = b.finish(vec![Output::assign(BufferId(1), total)]);
        // Each of the 300 points: itself, 100 points of q, each itself and 3 points of m.
        assert_eq!(kernel.work(), 300 * (1 + 100 * (1 + 3)));
    }

    #[test]
    fn affine_arithmetic_and_display() {
        let i = Affine::var(VarId(0));
        let j = Affine::var(VarId(1));
        let e = i.scale(2).add(&j.scale(-1)).add(&Affine::constant(-3));
        let names = |v: VarId| ["i", "j"][v.index()].to_string();
        assert_eq!(e.display(&names), "2*i - j - 3");
        assert_eq!(e.eval(&[5, 1]), 6);
        assert_eq!(i.add(&i.scale(-1)).display(&names), "0");
    }
}
