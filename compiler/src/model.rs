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
    /// The position in `Model::fields`.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Identifies a read within one definition, for its [`Access`] in the side table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReadId(pub u32);

/// A whole checked script: its fields, equations, named scalars and directives.
#[derive(Clone, Debug)]
pub struct Model {
    /// The model's name (the script's file stem), for reports and titles.
    pub name: String,
    /// Every field, by [`FieldId`]: params, states, data, noise, lets and gradients.
    pub fields: Vec<Field>,
    /// The equations, one per evolved state.
    pub equations: Vec<Equation>,
    /// Energies, losses and observables, in source order.
    pub scalars: Vec<NamedScalar>,
    /// The `run` directive, if the script has one.
    pub run: Option<Run>,
    /// The `sample` directive, if the script has one.
    pub sample: Option<SampleSpec>,
    /// The `fit` directive, if the script has one.
    pub fit: Option<FitSpec>,
}

impl Model {
    /// The field `id`.
    pub fn field(&self, id: FieldId) -> &Field {
        &self.fields[id.index()]
    }

    /// The field called `name`, if any.
    pub fn field_named(&self, name: &str) -> Option<FieldId> {
        self.fields.iter().position(|f| f.name == name).map(|i| FieldId(i as u32))
    }

    /// Every field's id, in order.
    pub fn field_ids(&self) -> impl Iterator<Item = FieldId> + '_ {
        (0..self.fields.len()).map(|i| FieldId(i as u32))
    }

    /// The states, in order.
    pub fn states(&self) -> impl Iterator<Item = FieldId> + '_ {
        self.field_ids().filter(|id| matches!(self.field(*id).kind, FieldKind::State { .. }))
    }

    /// The energy, loss or observable called `name`, if any.
    pub fn scalar_named(&self, name: &str) -> Option<&NamedScalar> {
        self.scalars.iter().find(|s| s.name == name)
    }
}

/// A named array of the model: what kind it is, its shape and its definition.
#[derive(Clone, Debug)]
pub struct Field {
    /// The name in the script.
    pub name: String,
    /// What kind of field it is.
    pub kind: FieldKind,
    /// Its extents and boundary rules.
    pub shape: Shape,
    /// Its declaration in the source.
    pub span: Span,
    /// The initial value (params, states) or the value (lets); `None` for data and noise.
    pub def: Option<Def>,
}

/// What a field is, with what each kind needs.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldKind {
    /// `param`: an input the gradient can be taken with respect to.
    Param,
    /// `state`: evolved by an equation or sampled.
    State {
        /// Declared `spin`: its values are -1 and 1.
        spin: bool,
    },
    /// `data`: an array loaded from a `.npy` file.
    Data {
        /// The file, as written in `load(...)`, relative to the script's directory.
        path: String,
        /// Where the path is in the source.
        path_span: Span,
    },
    /// `noise`: the Brownian increments of an SDE, drawn per step.
    Noise,
    /// `let`: a named expression, stored or recomputed where read.
    Let,
    /// `grad(E, x)`: the derivative of the named scalar `E` with respect to the field `x`, a
    /// field of `x`'s shape computed wherever it is read.
    Grad {
        /// The name of the scalar `E`.
        scalar: String,
        /// The field `x`.
        wrt: FieldId,
    },
}

impl FieldKind {
    /// The keyword that declares this kind, for messages (`gradient` for `grad`).
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
    /// How many of `vars` are the domain (the rest belong to reductions).
    pub rank: usize,
    /// Every index variable the expression uses, by [`VarId`].
    pub vars: Vec<Var>,
    /// The value at a point of the domain.
    pub expr: Expr,
    /// How each read is performed, by [`ReadId`].
    pub accesses: Vec<ReadAccess>,
    /// Where each read is in the source, by [`ReadId`].
    pub read_spans: Vec<Span>,
}

impl Def {
    /// The extents of the domain.
    pub fn domain(&self) -> Vec<usize> {
        self.vars[..self.rank].iter().map(|v| v.extent).collect()
    }
}

/// A named index variable with its extent.
#[derive(Clone, Debug, PartialEq)]
pub struct Var {
    /// The name in the script.
    pub name: String,
    /// It runs over `0..extent`.
    pub extent: usize,
}

/// A shared, immutable expression tree.
pub type Expr = Arc<Node>;

/// A node of a scalar expression in index notation.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// A constant.
    Num(f64),
    /// The value of an index variable, as a number.
    Var(VarId),
    /// The current time.
    Time,
    /// A read of a field at an affine index.
    Read(Read),
    /// A one-argument operation.
    Unary(Unary, Expr),
    /// A two-argument operation.
    Binary(Binary, Expr, Expr),
    /// A comparison: a condition.
    Compare(Compare, Expr, Expr),
    /// Both conditions.
    And(Expr, Expr),
    /// Either condition.
    Or(Expr, Expr),
    /// The opposite condition.
    Not(Expr),
    /// `if c then a else b`; both sides are evaluated, so neither may fail.
    Select(Expr, Expr, Expr),
    /// A reduction over index variables of its own.
    Reduce(Reduce),
    /// `normal(seed, ...)` / `uniform(seed, ...)`: a draw that is a function of its arguments.
    Random(Draw, Vec<Expr>),
    /// `dt` in an SDE, before the right side is split into drift and diffusion.
    Dt,
    /// `dW[idx]` in an SDE, before splitting.
    Dw {
        /// The noise field.
        noise: FieldId,
        /// Its index, one affine index per axis.
        index: Vec<Affine>,
        /// Where the `dW` is in the source.
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

/// A read of a field at a position.
#[derive(Clone, Debug, PartialEq)]
pub struct Read {
    /// Which read it is, for its [`ReadAccess`] and source span in the definition.
    pub id: ReadId,
    /// The field read.
    pub field: FieldId,
    /// The position, one affine index per axis.
    pub index: Vec<Affine>,
}

/// A reduction: `op` of `body` over `vars`, skipping points where `filter` is false.
#[derive(Clone, Debug, PartialEq)]
pub struct Reduce {
    /// How values combine.
    pub op: ReduceOp,
    /// The variables reduced over.
    pub vars: Vec<VarId>,
    /// A condition; points where it is false are skipped.
    pub filter: Option<Expr>,
    /// The value at each point.
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
    /// How each axis treats a position outside it.
    pub axes: Vec<Access>,
    /// The value of a read outside an axis marked [`Access::Fill`].
    pub fill: f64,
}

/// An equation evolving one state.
#[derive(Clone, Debug)]
pub struct Equation {
    /// The state it evolves.
    pub state: FieldId,
    /// Its right side.
    pub kind: EquationKind,
    /// The equation in the source.
    pub span: Span,
}

/// The right side of an equation.
#[derive(Clone, Debug)]
pub enum EquationKind {
    /// `d/dt u = rhs`
    Ode {
        /// The time derivative.
        rhs: Def,
    },
    /// `d X = drift dt + sum_k diffusion_k dW_k`
    Sde {
        /// The coefficient of `dt`.
        drift: Def,
        /// The `dW` terms.
        diffusion: Vec<Diffusion>,
    },
}

/// One `b * dW[idx]` term of an SDE; `coeff` shares the equation's variables.
#[derive(Clone, Debug)]
pub struct Diffusion {
    /// The noise field.
    pub noise: FieldId,
    /// Which of its elements, one affine index per axis.
    pub index: Vec<Affine>,
    /// The coefficient `b`.
    pub coeff: Def,
}

/// An `energy`, `loss` or `observe`: a scalar of the current state.
#[derive(Clone, Debug)]
pub struct NamedScalar {
    /// The name in the script.
    pub name: String,
    /// Energy, loss or observable.
    pub kind: NamedKind,
    /// Its value, a definition over no domain.
    pub def: Def,
    /// Its declaration in the source.
    pub span: Span,
}

/// A time integrator `run` can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Integrator {
    /// Forward Euler.
    Euler,
    /// Heun's method (the explicit trapezoidal rule), second order.
    Heun,
    /// The classical fourth-order Runge-Kutta method.
    Rk4,
    /// Euler-Maruyama for SDEs.
    EulerMaruyama,
    /// Milstein's method for SDEs with diagonal noise.
    Milstein,
    /// Velocity Verlet: kick, drift, kick.
    Verlet,
    /// Drift, kick, drift.
    Leapfrog,
}

impl Integrator {
    /// Every integrator.
    pub const ALL: [Integrator; 7] = [
        Integrator::Euler,
        Integrator::Heun,
        Integrator::Rk4,
        Integrator::EulerMaruyama,
        Integrator::Milstein,
        Integrator::Verlet,
        Integrator::Leapfrog,
    ];

    /// The name scripts use.
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

    /// Whether it integrates SDEs (draws noise each step).
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
    /// The position state.
    pub position: FieldId,
    /// The velocity state.
    pub velocity: FieldId,
}

/// The `run` directive, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    /// The integrator.
    pub integrator: Integrator,
    /// The time step.
    pub dt: f64,
    /// The number of steps.
    pub steps: u64,
    /// The time at the start.
    pub t0: f64,
    /// The key of every random draw the run makes (noise, `normal`, `uniform`).
    pub seed: u64,
    /// The directive in the source.
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
    /// The sampler and its settings.
    pub sampler: Sampler,
    /// Sweeps, thinning, burn-in and seed.
    pub schedule: SampleSchedule,
    /// The directive in the source.
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
    Langevin {
        /// The step size.
        step: f64,
    },
    /// The Langevin proposal, accepted by the Metropolis–Hastings rule.
    Mala {
        /// The step size.
        step: f64,
        /// One chain, or one per row of the state.
        chains: Chains,
    },
    /// Hamiltonian Monte Carlo: `leapfrog` leapfrog steps of size `step` with unit masses,
    /// accepted by the Metropolis rule on the total energy.
    Hmc {
        /// The leapfrog step size.
        step: f64,
        /// Leapfrog steps per proposal.
        leapfrog: u64,
        /// One chain, or one per row of the state.
        chains: Chains,
    },
}

impl Sampler {
    /// Every sampler's name, as scripts write it.
    pub const NAMES: [&'static str; 5] = ["metropolis", "gibbs", "langevin", "mala", "hmc"];

    /// The name scripts use.
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
    /// The name scripts use.
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
    Many {
        /// The term of one chain.
        per_chain: Def,
    },
}

/// The `fit` directive, validated.
#[derive(Clone, Debug)]
pub struct FitSpec {
    /// The params it adjusts.
    pub params: Vec<FieldId>,
    /// The name of the loss it minimises.
    pub loss: String,
    /// The optimizer and its settings.
    pub optimizer: Optimizer,
    /// The directive in the source.
    pub span: Span,
}

/// An optimizer with its settings (defaults filled in).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    /// Adam (Kingma and Ba) with bias correction.
    Adam {
        /// The learning rate (step size).
        lr: f64,
        /// The number of iterations.
        iters: u64,
        /// The decay of the gradient's running mean.
        beta1: f64,
        /// The decay of the squared gradient's running mean.
        beta2: f64,
        /// Added to the root of the second moment, against division by zero.
        eps: f64,
    },
    /// L-BFGS with a backtracking line search; stops early once the gradient norm is below `tol`.
    Lbfgs {
        /// The most iterations.
        iters: u64,
        /// The gradient norm below which it stops.
        tol: f64,
        /// How many past steps approximate the inverse Hessian.
        history: u64,
    },
}

impl Optimizer {
    /// The name scripts use.
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
    /// The longest path from the root to a leaf, in nodes.
    pub depth: usize,
    /// The most reductions on one such path.
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
