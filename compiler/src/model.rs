//! The checked model: what `check` hands to `lower`.
//!
//! Every expression here is a scalar in explicit index notation: functions are inlined,
//! point-free field arithmetic has been given its indices, every read names a field and an
//! affine index per axis, and every index variable has an extent. Each read has been classified
//! against its field's extents and boundary rule ([`Access`]), so lowering never has to ask
//! whether a read can leave the grid.
//!
//! Example: `d/dt u = D * laplacian(u)` over `[i < 4] periodic` becomes the definition
//! `vars [i < 4]`, `D[] * (u[i - 1] - 2 * u[i] + u[i + 1])` with the reads at `i - 1` and `i + 1`
//! marked periodic and the one at `i` direct.

use std::sync::Arc;

use crate::builtins::ReduceOp;
use crate::diag::Span;
use crate::ops::{Binary, Compare, Unary};
pub use crate::resolve::NamedKind;

pub use crate::ir::{Access, Affine, VarId};

pub use crate::resolve::Shape;

/// A field of the model: a param, state, data, noise or let.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldId(pub u32);

impl FieldId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Identifies a read within one definition, for its [`Access`] in the side table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReadId(pub u32);

#[derive(Clone, Debug)]
pub struct Model {
    pub name: String,
    pub fields: Vec<Field>,
    pub equations: Vec<Equation>,
    pub scalars: Vec<NamedScalar>,
    pub run: Option<Run>,
    pub sample: Option<SampleSpec>,
    pub fit: Option<FitSpec>,
}

impl Model {
    pub fn field(&self, id: FieldId) -> &Field {
        &self.fields[id.index()]
    }

    pub fn field_named(&self, name: &str) -> Option<FieldId> {
        self.fields.iter().position(|f| f.name == name).map(|i| FieldId(i as u32))
    }

    pub fn field_ids(&self) -> impl Iterator<Item = FieldId> + '_ {
        (0..self.fields.len()).map(|i| FieldId(i as u32))
    }

    pub fn states(&self) -> impl Iterator<Item = FieldId> + '_ {
        self.field_ids().filter(|id| matches!(self.field(*id).kind, FieldKind::State { .. }))
    }

    pub fn scalar_named(&self, name: &str) -> Option<&NamedScalar> {
        self.scalars.iter().find(|s| s.name == name)
    }
}

#[derive(Clone, Debug)]
pub struct Field {
    pub name: String,
    pub kind: FieldKind,
    pub shape: Shape,
    pub span: Span,
    /// The initial value (params, states) or the value (lets); `None` for data and noise.
    pub def: Option<Def>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum FieldKind {
    Param,
    State {
        spin: bool,
    },
    Data {
        path: String,
        path_span: Span,
    },
    Noise,
    Let,
    /// `grad(E, x)`: the derivative of the named scalar `E` with respect to the field `x`, a
    /// field of `x`'s shape computed wherever it is read.
    Grad {
        scalar: String,
        wrt: FieldId,
    },
}

impl FieldKind {
    pub fn describe(&self) -> &'static str {
        match self {
            FieldKind::Param => "param",
            FieldKind::State { .. } => "state",
            FieldKind::Data { .. } => "data",
            FieldKind::Noise => "noise",
            FieldKind::Let => "let",
            FieldKind::Grad { .. } => "gradient",
        }
    }
}

/// A scalar expression over a domain: evaluate `expr` at every point of `vars[..rank]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Def {
    pub rank: usize,
    pub vars: Vec<Var>,
    pub expr: Expr,
    /// How each read is performed, by [`ReadId`].
    pub accesses: Vec<ReadAccess>,
    /// Where each read is in the source, by [`ReadId`].
    pub read_spans: Vec<Span>,
}

impl Def {
    pub fn domain(&self) -> Vec<usize> {
        self.vars[..self.rank].iter().map(|v| v.extent).collect()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Var {
    pub name: String,
    pub extent: usize,
}

pub type Expr = Arc<Node>;

#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    Num(f64),
    /// The value of an index variable, as a number.
    Var(VarId),
    /// The current time.
    Time,
    Read(Read),
    Unary(Unary, Expr),
    Binary(Binary, Expr, Expr),
    Compare(Compare, Expr, Expr),
    And(Expr, Expr),
    Or(Expr, Expr),
    Not(Expr),
    /// `if c then a else b`; both sides are evaluated, so neither may fail.
    Select(Expr, Expr, Expr),
    Reduce(Reduce),
    /// `normal(seed, ...)` / `uniform(seed, ...)`: a draw that is a function of its arguments.
    Random(Draw, Vec<Expr>),
    /// `dt` in an SDE, before the right side is split into drift and diffusion.
    Dt,
    /// `dW[idx]` in an SDE, before splitting.
    Dw {
        noise: FieldId,
        index: Vec<Affine>,
        span: Span,
    },
}

/// Dropping an expression does not recurse once per level: the model outlives the compiler's
/// own stack (see [`crate::stack`]) and is dropped on whatever thread its owner runs, so
/// subexpressions this node alone owns are moved to a work list, leaving a shared placeholder,
/// and dropped from there.
impl Drop for Node {
    fn drop(&mut self) {
        let mut pending = Vec::new();
        self.take_children(&mut pending);
        while let Some(child) = pending.pop() {
            if let Some(mut node) = Arc::into_inner(child) {
                node.take_children(&mut pending);
            }
        }
    }
}

impl Node {
    /// Moves the direct subexpressions only this node holds into `out`: those whose drop would
    /// drop their subtree. Shared ones stay; dropping them only counts a reference down.
    fn take_children(&mut self, out: &mut Vec<Expr>) {
        static PLACEHOLDER: std::sync::LazyLock<Expr> = std::sync::LazyLock::new(|| Arc::new(Node::Num(0.0)));
        let mut take = |e: &mut Expr| {
            if Arc::strong_count(e) == 1 {
                out.push(std::mem::replace(e, PLACEHOLDER.clone()));
            }
        };
        match self {
            Node::Num(_) | Node::Var(_) | Node::Time | Node::Read(_) | Node::Dt | Node::Dw { .. } => {}
            Node::Unary(_, a) | Node::Not(a) => take(a),
            Node::Binary(_, a, b) | Node::Compare(_, a, b) | Node::And(a, b) | Node::Or(a, b) => {
                take(a);
                take(b);
            }
            Node::Select(c, a, b) => {
                take(c);
                take(a);
                take(b);
            }
            Node::Reduce(r) => {
                r.filter.iter_mut().for_each(&mut take);
                take(&mut r.body);
            }
            Node::Random(_, args) => out.append(args),
        }
    }
}

/// The distribution of a `Random` draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Draw {
    /// Standard normal.
    Normal,
    /// Uniform on (0, 1).
    Uniform,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Read {
    pub id: ReadId,
    pub field: FieldId,
    pub index: Vec<Affine>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Reduce {
    pub op: ReduceOp,
    pub vars: Vec<VarId>,
    pub filter: Option<Expr>,
    pub body: Expr,
}

/// The access an axis with boundary rule `rule` needs when a read may leave it.
pub fn access_for_rule(rule: crate::resolve::Rule) -> Option<Access> {
    use crate::resolve::Rule;
    match rule {
        Rule::None => None,
        Rule::Periodic => Some(Access::Periodic),
        Rule::Neumann => Some(Access::Reflect),
        Rule::Clamp => Some(Access::Clamp),
        Rule::Dirichlet(_) => Some(Access::Fill),
    }
}

/// How a whole read is performed.
#[derive(Clone, Debug, PartialEq)]
pub struct ReadAccess {
    pub axes: Vec<Access>,
    /// The value of a read outside an axis marked [`Access::Fill`].
    pub fill: f64,
}

#[derive(Clone, Debug)]
pub struct Equation {
    pub state: FieldId,
    pub kind: EquationKind,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum EquationKind {
    /// `d/dt u = rhs`
    Ode { rhs: Def },
    /// `d X = drift dt + sum_k diffusion_k dW_k`
    Sde { drift: Def, diffusion: Vec<Diffusion> },
}

/// One `b * dW[idx]` term of an SDE; `coeff` shares the equation's variables.
#[derive(Clone, Debug)]
pub struct Diffusion {
    pub noise: FieldId,
    pub index: Vec<Affine>,
    pub coeff: Def,
}

/// An `energy`, `loss` or `observe`: a scalar of the current state.
#[derive(Clone, Debug)]
pub struct NamedScalar {
    pub name: String,
    pub kind: NamedKind,
    pub def: Def,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Integrator {
    Euler,
    Heun,
    Rk4,
    EulerMaruyama,
    Milstein,
    /// Velocity Verlet: kick, drift, kick.
    Verlet,
    /// Drift, kick, drift.
    Leapfrog,
}

impl Integrator {
    pub const ALL: [Integrator; 7] = [
        Integrator::Euler,
        Integrator::Heun,
        Integrator::Rk4,
        Integrator::EulerMaruyama,
        Integrator::Milstein,
        Integrator::Verlet,
        Integrator::Leapfrog,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Integrator::Euler => "euler",
            Integrator::Heun => "heun",
            Integrator::Rk4 => "rk4",
            Integrator::EulerMaruyama => "euler_maruyama",
            Integrator::Milstein => "milstein",
            Integrator::Verlet => "verlet",
            Integrator::Leapfrog => "leapfrog",
        }
    }

    pub fn is_stochastic(self) -> bool {
        matches!(self, Integrator::EulerMaruyama | Integrator::Milstein)
    }

    /// Whether the integrator splits a second-order system into kicks and drifts (see
    /// [`SecondOrder`]).
    pub fn is_symplectic(self) -> bool {
        matches!(self, Integrator::Verlet | Integrator::Leapfrog)
    }
}

/// A second-order system as the symplectic integrators take it: `d/dt position = velocity`
/// (the velocity state itself, read at the same point) and `d/dt velocity = a`, an acceleration
/// that does not read the velocity, directly or through lets and gradients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SecondOrder {
    pub position: FieldId,
    pub velocity: FieldId,
}

/// The `run` directive, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    pub integrator: Integrator,
    pub dt: f64,
    pub steps: u64,
    pub t0: f64,
    pub seed: u64,
    pub span: Span,
    /// For `verlet` and `leapfrog`: the position and velocity states.
    pub second_order: Option<SecondOrder>,
}

/// The `sample` directive, validated: what is sampled, from which density, and how.
#[derive(Clone, Debug)]
pub struct SampleSpec {
    /// The sampled states: several only for spin samplers (block Gibbs over an RBM's layers).
    pub vars: Vec<FieldId>,
    /// `log p` up to a constant: the argument of `exp` in `sample x ~ exp(...)`, a scalar.
    pub log_density: Def,
    pub sampler: Sampler,
    pub schedule: SampleSchedule,
    pub span: Span,
}

/// How many sweeps a sampler makes and which it records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleSchedule {
    /// Sweeps after the burn-in; a sweep updates every spin (or moves every chain) once.
    pub sweeps: u64,
    /// The key of every random draw the sampler makes.
    pub seed: u64,
    /// Observables are recorded after every `thin`-th sweep.
    pub thin: u64,
    /// Sweeps made before the first recorded one.
    pub burn_in: u64,
}

/// A sampler, with its own settings.
#[derive(Clone, Debug, PartialEq)]
pub enum Sampler {
    /// Single-spin flips, each accepted with probability `min(1, exp(Δ log p))`.
    Metropolis(Order),
    /// Heat bath: each spin drawn afresh from its distribution given the others.
    Gibbs(Order),
    /// Unadjusted Langevin: `x' = x + step ∇log p(x) + sqrt(2 step) ξ`.
    Langevin { step: f64 },
    /// The Langevin proposal, accepted by the Metropolis–Hastings rule.
    Mala { step: f64, chains: Chains },
    /// Hamiltonian Monte Carlo: `leapfrog` leapfrog steps of size `step` with unit masses,
    /// accepted by the Metropolis rule on the total energy.
    Hmc { step: f64, leapfrog: u64, chains: Chains },
}

impl Sampler {
    pub const NAMES: [&'static str; 5] = ["metropolis", "gibbs", "langevin", "mala", "hmc"];

    pub fn name(&self) -> &'static str {
        match self {
            Sampler::Metropolis(_) => "metropolis",
            Sampler::Gibbs(_) => "gibbs",
            Sampler::Langevin { .. } => "langevin",
            Sampler::Mala { .. } => "mala",
            Sampler::Hmc { .. } => "hmc",
        }
    }

    /// Whether it samples spins (±1) rather than real numbers.
    pub fn is_spin(&self) -> bool {
        matches!(self, Sampler::Metropolis(_) | Sampler::Gibbs(_))
    }

    /// Whether it accepts or rejects proposals, so has an acceptance rate.
    pub fn accepts(&self) -> bool {
        matches!(self, Sampler::Mala { .. } | Sampler::Hmc { .. })
    }
}

/// The order in which single-spin updates visit the sites.
#[derive(Clone, Debug, PartialEq)]
pub enum Order {
    /// Colour classes one after another, every site of a class at once. `check` has proven that
    /// no site's `Δ log p` reads a site of its own class; one colouring per sampled field.
    Checkerboard(Vec<Colouring>),
    /// Every site in row-major order, each seeing the updates before it.
    Sequential,
    /// Every site once per sweep, in a fresh random order.
    Random,
}

impl Order {
    pub fn name(&self) -> &'static str {
        match self {
            Order::Checkerboard(_) => "checkerboard",
            Order::Sequential => "sequential",
            Order::Random => "random",
        }
    }
}

/// How the sites of one sampled spin field split into checkerboard classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colouring {
    /// One class: no site's update reads another site of this field (an RBM's layer).
    Whole,
    /// Two classes by the parity of the sum of the indices: sites read their neighbours at
    /// offsets of odd total length only.
    Parity,
}

/// How a continuous sampler accepts: all of the state at once, or each chain on its own.
#[derive(Clone, Debug, PartialEq)]
pub enum Chains {
    /// The whole state is one chain.
    One,
    /// `log p` is a sum over the state's first axis of terms that read only their own row:
    /// `per_chain` is that term, a definition over `[c < chains]`.
    Many { per_chain: Def },
}

/// The `fit` directive, validated.
#[derive(Clone, Debug)]
pub struct FitSpec {
    pub params: Vec<FieldId>,
    pub loss: String,
    pub optimizer: Optimizer,
    pub span: Span,
}

/// An optimizer with its settings (defaults filled in).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    Adam {
        lr: f64,
        iters: u64,
        beta1: f64,
        beta2: f64,
        eps: f64,
    },
    /// L-BFGS with a backtracking line search; stops early once the gradient norm is below `tol`.
    Lbfgs {
        iters: u64,
        tol: f64,
        history: u64,
    },
}

impl Optimizer {
    pub fn name(&self) -> &'static str {
        match self {
            Optimizer::Adam { .. } => "adam",
            Optimizer::Lbfgs { .. } => "lbfgs",
        }
    }
}

/// Visits `e` and each of its subexpressions once, parents first, left to right. A node shared
/// by several parents (a function's scalar argument used twice) is visited once, so the walk
/// is linear in the expression's size even when it is a tree of exponential size; it does not
/// recurse, so it is safe on any expression from any thread.
pub fn walk(e: &Expr, visit: &mut impl FnMut(&Node)) {
    let mut shared_seen: std::collections::HashSet<*const Node> = std::collections::HashSet::new();
    let mut pending = vec![e];
    while let Some(e) = pending.pop() {
        if Arc::strong_count(e) > 1 && !shared_seen.insert(Arc::as_ptr(e)) {
            continue;
        }
        visit(e);
        pending.extend(children(e).into_iter().rev());
    }
}

/// How deeply an expression nests: in all (a leaf is 1), and in reductions alone (each is a
/// loop around its body).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Nesting {
    pub depth: usize,
    pub reductions: usize,
}

/// The [`Nesting`] of `e`, measured without recursion and each shared subexpression once, so
/// it is safe and linear on any expression.
pub fn nesting(e: &Expr) -> Nesting {
    let mut known: std::collections::HashMap<*const Node, Nesting> = std::collections::HashMap::new();
    let mut pending: Vec<(&Expr, bool)> = vec![(e, false)];
    while let Some((node, children_known)) = pending.pop() {
        if known.contains_key(&Arc::as_ptr(node)) {
            continue;
        }
        let below = children(node);
        if children_known {
            let inner = below.iter().map(|c| known[&Arc::as_ptr(c)]).fold(Nesting::default(), |a, b| Nesting {
                depth: a.depth.max(b.depth),
                reductions: a.reductions.max(b.reductions),
            });
            let reduction = usize::from(matches!(**node, Node::Reduce(_)));
            known.insert(
                Arc::as_ptr(node),
                Nesting { depth: inner.depth + 1, reductions: inner.reductions + reduction },
            );
        } else {
            pending.push((node, true));
            pending.extend(below.into_iter().map(|c| (c, false)));
        }
    }
    known[&Arc::as_ptr(e)]
}

/// The direct subexpressions of a node.
pub fn children(e: &Node) -> Vec<&Expr> {
    match e {
        Node::Num(_) | Node::Var(_) | Node::Time | Node::Read(_) | Node::Dt | Node::Dw { .. } => Vec::new(),
        Node::Unary(_, a) | Node::Not(a) => vec![a],
        Node::Binary(_, a, b) | Node::Compare(_, a, b) | Node::And(a, b) | Node::Or(a, b) => vec![a, b],
        Node::Select(c, a, b) => vec![c, a, b],
        Node::Reduce(r) => r.filter.iter().chain([&r.body]).collect(),
        Node::Random(_, args) => args.iter().collect(),
    }
}

/// Renders a definition compactly, for tests and debugging: `[i < 4] (D[] * u[i + 1])`.
pub fn display_def(model: &Model, def: &Def) -> String {
    let domain: Vec<String> = def.vars[..def.rank].iter().map(|v| format!("{} < {}", v.name, v.extent)).collect();
    format!("[{}] {}", domain.join(", "), display_expr(model, def, &def.expr))
}

fn display_expr(model: &Model, def: &Def, e: &Expr) -> String {
    let show = |e: &Expr| display_expr(model, def, e);
    match &**e {
        Node::Num(v) => format!("{v}"),
        Node::Var(v) => def.vars[v.index()].name.clone(),
        Node::Time => "t".into(),
        Node::Read(read) => {
            let index: Vec<String> =
                read.index.iter().map(|a| a.display(&|v| def.vars[v.index()].name.clone())).collect();
            format!("{}[{}]", model.field(read.field).name, index.join(", "))
        }
        Node::Unary(op, a) => format!("{op}({})", show(a)),
        Node::Binary(op, a, b) => format!("{}({}, {})", op.name(), show(a), show(b)),
        Node::Compare(op, a, b) => format!("{}({}, {})", op.name(), show(a), show(b)),
        Node::And(a, b) => format!("and({}, {})", show(a), show(b)),
        Node::Or(a, b) => format!("or({}, {})", show(a), show(b)),
        Node::Not(a) => format!("not({})", show(a)),
        Node::Select(c, a, b) => format!("select({}, {}, {})", show(c), show(a), show(b)),
        Node::Reduce(r) => {
            let vars: Vec<String> = r
                .vars
                .iter()
                .map(|v| format!("{} < {}", def.vars[v.index()].name, def.vars[v.index()].extent))
                .collect();
            let filter = r.filter.as_ref().map(|f| format!(" | {}", show(f))).unwrap_or_default();
            format!("{}({}{}) {}", r.op.name(), vars.join(", "), filter, show(&r.body))
        }
        Node::Random(draw, args) => {
            let args: Vec<String> = args.iter().map(show).collect();
            format!("{}({})", if *draw == Draw::Normal { "normal" } else { "uniform" }, args.join(", "))
        }
        Node::Dt => "dt".into(),
        Node::Dw { noise, index, .. } => {
            let index: Vec<String> = index.iter().map(|a| a.display(&|v| def.vars[v.index()].name.clone())).collect();
            format!("d{}[{}]", model.field(*noise).name, index.join(", "))
        }
    }
}
