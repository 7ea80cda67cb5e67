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
    /// The position of the field in [`Model::fields`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Identifies a read within one definition, for its [`Access`] in the side table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReadId(pub u32);

/// A checked script, what `lower` consumes: its fields, the equations that evolve its states,
/// its named scalars and its validated directives.
#[derive(Clone, Debug)]
pub struct Model {
    /// The script's file stem, which names the compiled program.
    pub name: String,
    /// Every field, indexed by [`FieldId`]: the declared ones in source order, then the gradient
    /// fields `check` made on first use.
    pub fields: Vec<Field>,
    /// The state equations, at most one per state, in source order.
    pub equations: Vec<Equation>,
    /// The `energy`, `loss` and `observe` scalars, in source order.
    pub scalars: Vec<NamedScalar>,
    /// The `run` directive; `None` when the script has none.
    pub run: Option<Run>,
    /// The `sample` directive; `None` when the script has none.
    pub sample: Option<SampleSpec>,
    /// The `fit` directive; `None` when the script has none.
    pub fit: Option<FitSpec>,
}

impl Model {
    /// The field `id` names.
    pub fn field(&self, id: FieldId) -> &Field {
        &self.fields[id.index()]
    }

    /// The field declared as `name` (gradient fields are named `grad_E_x`).
    pub fn field_named(&self, name: &str) -> Option<FieldId> {
        self.fields.iter().position(|f| f.name == name).map(|i| FieldId(i as u32))
    }

    /// Every field's id, in order.
    pub fn field_ids(&self) -> impl Iterator<Item = FieldId> + '_ {
        (0..self.fields.len()).map(|i| FieldId(i as u32))
    }

    /// The state fields, in declaration order.
    pub fn states(&self) -> impl Iterator<Item = FieldId> + '_ {
        self.field_ids().filter(|id| matches!(self.field(*id).kind, FieldKind::State { .. }))
    }

    /// The `energy`, `loss` or `observe` named `name`.
    pub fn scalar_named(&self, name: &str) -> Option<&NamedScalar> {
        self.scalars.iter().find(|s| s.name == name)
    }
}

/// A named value of the model: its kind, its index space and how it is computed.
#[derive(Clone, Debug)]
pub struct Field {
    /// The name as declared.
    pub name: String,
    /// What sort of field it is, and so when its value is set.
    pub kind: FieldKind,
    /// Its index space: each axis's extent and boundary rule (no rules for a `let` without a
    /// declared shape; a gradient has the shape of the field it differentiates by).
    pub shape: Shape,
    /// The declaration; for a gradient field, its first use.
    pub span: Span,
    /// The initial value (params, states) or the value (lets); `None` for data and noise.
    pub def: Option<Def>,
}

/// What a field is, which fixes where its value comes from and who may read or write it.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldKind {
    /// A differentiable input, fixed while the program runs unless a `fit` adjusts it.
    Param,
    /// A value evolved by the equations or drawn by a sampler, starting from its initial value.
    State {
        /// Whether its values are spins (±1), as the spin samplers need.
        spin: bool,
    },
    /// An input loaded from a file when the program runs; never differentiated.
    Data {
        /// The file path, as written.
        path: String,
        /// Where the path was written, for load errors.
        path_span: Span,
    },
    /// A Brownian motion, read only as `dW[...]` in an SDE.
    Noise {
        /// `fractional(hurst = H)` with H other than 1/2: a fractional Brownian motion, whose
        /// increments the runtime draws for the whole run (`None`: ordinary Brownian motion).
        hurst: Option<f64>,
    },
    /// A value derived from other fields by its definition.
    Let,
    /// `grad(E, x)`: the derivative of the named scalar `E` with respect to the field `x`, a
    /// field of `x`'s shape computed wherever it is read.
    Grad {
        /// The named scalar differentiated.
        scalar: String,
        /// The field it is differentiated by.
        wrt: FieldId,
    },
}

impl FieldKind {
    /// The kind as a user names it (`param`, `state`, ..., `gradient`), for diagnostics.
    pub fn describe(&self) -> &'static str {
        match self {
            FieldKind::Param => "param",
            FieldKind::State { .. } => "state",
            FieldKind::Data { .. } => "data",
            FieldKind::Noise { .. } => "noise",
            FieldKind::Let => "let",
            FieldKind::Grad { .. } => "gradient",
        }
    }
}

/// A scalar expression over a domain: evaluate `expr` at every point of `vars[..rank]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Def {
    /// How many of [`Def::vars`] form the domain: the first `rank`; 0 for a scalar.
    pub rank: usize,
    /// Every index variable of the definition, indexed by [`VarId`]: the domain's, then those
    /// bound by reductions.
    pub vars: Vec<Var>,
    /// The value at one point of the domain.
    pub expr: Expr,
    /// How each read is performed, by [`ReadId`].
    pub accesses: Vec<ReadAccess>,
    /// Where each read is in the source, by [`ReadId`].
    pub read_spans: Vec<Span>,
}

impl Def {
    /// The extent of each domain axis, outermost first.
    pub fn domain(&self) -> Vec<usize> {
        self.vars[..self.rank].iter().map(|v| v.extent).collect()
    }
}

/// An index variable of a definition.
#[derive(Clone, Debug, PartialEq)]
pub struct Var {
    /// Its name in the source (or the axis name the shape gives it), for printing.
    pub name: String,
    /// It runs over `0..extent`; 1 for a variable the expression never uses.
    pub extent: usize,
}

/// A checked expression. Subexpressions are shared, not copied, when a function's scalar
/// argument is used more than once, so walk it with [`walk`] or [`nesting`].
pub type Expr = Arc<Node>;

/// One node of a checked expression: a number, except `Compare`, `And`, `Or` and `Not`, which are
/// booleans.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// A number known at compile time.
    Num(f64),
    /// The value of an index variable, as a number.
    Var(VarId),
    /// The current time.
    Time,
    /// The optimizer's iteration during `fit`, 0 otherwise: mini-batches re-drawn from it.
    Iteration,
    /// One element of a field.
    Read(Read),
    /// `op(a)` on a number.
    Unary(Unary, Expr),
    /// `op(a, b)` on numbers.
    Binary(Binary, Expr, Expr),
    /// `a op b` on numbers: a boolean.
    Compare(Compare, Expr, Expr),
    /// Both booleans hold (both sides are evaluated).
    And(Expr, Expr),
    /// Either boolean holds (both sides are evaluated).
    Or(Expr, Expr),
    /// The boolean does not hold.
    Not(Expr),
    /// `if c then a else b`; both sides are evaluated, so neither may fail.
    Select(Expr, Expr, Expr),
    /// A fold over fresh index variables.
    Reduce(Reduce),
    /// `normal(seed, ...)` / `uniform(seed, ...)`: a draw that is a function of its arguments.
    Random(Draw, Vec<Expr>),
    /// `dt` in an SDE, before the right side is split into drift and diffusion.
    Dt,
    /// `dW[idx]` in an SDE, before splitting.
    Dw {
        /// The noise field.
        noise: FieldId,
        /// One affine index of the definition's variables per axis of the noise.
        index: Vec<Affine>,
        /// Where the `dW` was written.
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
            Node::Num(_) | Node::Var(_) | Node::Time | Node::Iteration | Node::Read(_) | Node::Dt | Node::Dw { .. } => {
            }
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

/// A read of one field element at an affine position; how it treats the edges is in the
/// definition's `accesses`, by `id`.
#[derive(Clone, Debug, PartialEq)]
pub struct Read {
    /// Indexes the definition's `accesses` and `read_spans`.
    pub id: ReadId,
    /// The field read.
    pub field: FieldId,
    /// One affine index of the definition's variables per axis of the field.
    pub index: Vec<Affine>,
}

/// A fold (`sum`, `mean`, `max`, `min`) of `body` over the box of `vars`, skipping the points
/// where `filter` is false.
#[derive(Clone, Debug, PartialEq)]
pub struct Reduce {
    /// How the values are folded.
    pub op: ReduceOp,
    /// The variables it binds; the box is the product of their ranges.
    pub vars: Vec<VarId>,
    /// A boolean; the points where it is false are left out.
    pub filter: Option<Expr>,
    /// The number folded at each point of the box.
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
    /// What a position outside each axis means, one per axis of the field.
    pub axes: Vec<Access>,
    /// The value of a read outside an axis marked [`Access::Fill`].
    pub fill: f64,
}

/// The equation that evolves one state.
#[derive(Clone, Debug)]
pub struct Equation {
    /// The state it evolves.
    pub state: FieldId,
    /// Its right side: a rate or an SDE's drift and diffusion.
    pub kind: EquationKind,
    /// The whole equation.
    pub span: Span,
}

/// The form of an equation, with its definitions over the state's domain.
#[derive(Clone, Debug)]
pub enum EquationKind {
    /// `d/dt u = rhs`
    Ode {
        /// The rate `f` of `d/dt u = f`, over the state's domain.
        rhs: Def,
    },
    /// `d X = drift dt + sum_k diffusion_k dW_k`
    Sde {
        /// `a`, the coefficient of `dt`, over the state's domain.
        drift: Def,
        /// The `dW` terms; their coefficients share the drift's variables and read table.
        diffusion: Vec<Diffusion>,
    },
}

/// One `b * dW[idx]` term of an SDE; `coeff` shares the equation's variables.
#[derive(Clone, Debug)]
pub struct Diffusion {
    /// `W`: the noise field of the increment.
    pub noise: FieldId,
    /// Where it is read: one affine index of the equation's variables per axis of the noise.
    pub index: Vec<Affine>,
    /// `b`, the coefficient multiplying `dW`.
    pub coeff: Def,
}

/// An `energy`, `loss` or `observe`: a scalar of the current state.
#[derive(Clone, Debug)]
pub struct NamedScalar {
    /// The name as declared.
    pub name: String,
    /// Which of the three it is.
    pub kind: NamedKind,
    /// Its value: a rank-0 definition.
    pub def: Def,
    /// The declaration.
    pub span: Span,
}

/// A time-stepping method, as named in the `run` directive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Integrator {
    /// Explicit Euler: one stage, first order.
    Euler,
    /// Heun's method: two stages, second order.
    Heun,
    /// The classical fourth-order Runge–Kutta method.
    Rk4,
    /// Euler–Maruyama, for SDEs (strong order 1/2).
    EulerMaruyama,
    /// Milstein, for SDEs with diagonal noise (strong order 1).
    Milstein,
    /// Velocity Verlet: kick, drift, kick.
    Verlet,
    /// Drift, kick, drift.
    Leapfrog,
}

impl Integrator {
    /// Every integrator, for looking one up by name and listing them in diagnostics.
    pub const ALL: [Integrator; 7] = [
        Integrator::Euler,
        Integrator::Heun,
        Integrator::Rk4,
        Integrator::EulerMaruyama,
        Integrator::Milstein,
        Integrator::Verlet,
        Integrator::Leapfrog,
    ];

    /// The name written in the `run` directive.
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

    /// Whether it steps SDEs: a model with `dW` needs one, and only these take a `seed`.
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
    /// The state whose rate is the velocity.
    pub position: FieldId,
    /// The state whose rate is the acceleration.
    pub velocity: FieldId,
}

/// The `run` directive, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    /// The time-stepping method.
    pub integrator: Integrator,
    /// The time step; positive.
    pub dt: f64,
    /// How many steps to take.
    pub steps: u64,
    /// The time at the start (default 0).
    pub t0: f64,
    /// The key of the SDE noise draws (default 0); only stochastic integrators accept it.
    pub seed: u64,
    /// The whole directive.
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
    /// How many sweeps it makes and which it records.
    pub schedule: SampleSchedule,
    /// The whole directive.
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
        /// The step size, `step` in the update.
        step: f64,
    },
    /// The Langevin proposal, accepted by the Metropolis–Hastings rule.
    Mala {
        /// The step size of the Langevin proposal.
        step: f64,
        /// Whether the whole state is accepted at once or each chain on its own.
        chains: Chains,
    },
    /// Hamiltonian Monte Carlo: `leapfrog` leapfrog steps of size `step` with unit masses,
    /// accepted by the Metropolis rule on the total energy.
    Hmc {
        /// The leapfrog step size.
        step: f64,
        /// Leapfrog steps per trajectory (default 10).
        leapfrog: u64,
        /// Whether the whole state is accepted at once or each chain on its own.
        chains: Chains,
    },
}

impl Sampler {
    /// Every sampler's name, as written in the `sample` directive.
    pub const NAMES: [&'static str; 5] = ["metropolis", "gibbs", "langevin", "mala", "hmc"];

    /// The name written in the `sample` directive.
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
    /// The name written as `order = ...`.
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
        /// The term of one chain: a definition over `[c < chains]`.
        per_chain: Def,
    },
}

/// The `fit` directive, validated.
#[derive(Clone, Debug)]
pub struct FitSpec {
    /// The params fitted, in the order written.
    pub params: Vec<FieldId>,
    /// The name of the `loss` scalar minimised; look it up with [`Model::scalar_named`].
    pub loss: String,
    /// The optimizer and its settings.
    pub optimizer: Optimizer,
    /// The whole directive.
    pub span: Span,
}

/// An optimizer with its settings (defaults filled in).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    /// Adam: gradient steps scaled by running moment estimates.
    Adam {
        /// The learning rate: the size of a step.
        lr: f64,
        /// The number of iterations.
        iters: u64,
        /// Decay of the first-moment (mean) estimate (default 0.9).
        beta1: f64,
        /// Decay of the second-moment estimate (default 0.999).
        beta2: f64,
        /// Added to the second moment's root so a flat direction does not divide by zero (default 1e-8).
        eps: f64,
        /// The learning rate at the last iteration, reached by a cosine decay from `lr`; `None`
        /// keeps `lr` throughout.
        lr_end: Option<f64>,
    },
    /// L-BFGS with a backtracking line search; stops early once the gradient norm is below `tol`.
    Lbfgs {
        /// The most iterations made.
        iters: u64,
        /// Stop once the gradient norm is below this (default 1e-10).
        tol: f64,
        /// How many recent steps approximate the inverse Hessian (default 10).
        history: u64,
    },
}

impl Optimizer {
    /// The name written in the `fit` directive.
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
    /// The most nodes on a path from the root to a leaf (a leaf alone is 1).
    pub depth: usize,
    /// The most reductions on such a path.
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
        Node::Num(_) | Node::Var(_) | Node::Time | Node::Iteration | Node::Read(_) | Node::Dt | Node::Dw { .. } => {
            Vec::new()
        }
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
        Node::Iteration => "iteration".into(),
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
