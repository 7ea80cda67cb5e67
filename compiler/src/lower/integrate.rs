//! Time steps of explicit Runge–Kutta methods as kernels.
//!
//! For stages `i = 0..s`: the stage state is `Y_i = S + dt * sum_j a[i][j] k_j` (`Y_0 = S`) and
//! `k_i = f(t + c[i] dt, Y_i)`; the step gives `S_next = S + dt * sum_i b[i] k_i`. Each stage
//! recomputes the lets from `Y_i`, then runs one kernel per evolving state that computes `k_i`
//! and, at the same point, the next stage state (or `S_next` in the last stage). So Euler is
//! one fused kernel per state, `S_next = S + dt * f(S)`, and `k_i` is stored only when a
//! later kernel reads it.

use crate::ir::{BufferId, NodeId, Output};
use crate::model::{Def, FieldId, Integrator};
use crate::ops::Binary;

use super::{Lowering, Reading, Step};
use crate::ir::builder::KernelBuilder;

/// The Butcher tableau of an explicit method.
pub(super) struct Tableau {
    name: &'static str,
    c: Vec<f64>,
    /// Row `i` has `i` entries.
    a: Vec<Vec<f64>>,
    b: Vec<f64>,
}

impl Tableau {
    /// The tableau of `integrator`, if it is an explicit Runge–Kutta method.
    pub fn of(integrator: Integrator) -> Option<Tableau> {
        let name = integrator.name();
        Some(match integrator {
            Integrator::Euler => Tableau { name, c: vec![0.0], a: vec![vec![]], b: vec![1.0] },
            Integrator::Heun => Tableau { name, c: vec![0.0, 1.0], a: vec![vec![], vec![1.0]], b: vec![0.5, 0.5] },
            Integrator::Rk4 => Tableau {
                name,
                c: vec![0.0, 0.5, 0.5, 1.0],
                a: vec![vec![], vec![0.5], vec![0.0, 0.5], vec![0.0, 0.0, 1.0]],
                b: vec![1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0],
            },
            Integrator::EulerMaruyama | Integrator::Milstein | Integrator::Verlet | Integrator::Leapfrog => {
                return None;
            }
        })
    }

    fn stages(&self) -> usize {
        self.b.len()
    }

    /// Whether `k_i` is read by a kernel of a later stage.
    fn stored(&self, i: usize) -> bool {
        let last = self.stages() - 1;
        i < last && (self.b[i] != 0.0 || self.a.iter().skip(i + 2).any(|row| row.get(i).is_some_and(|x| *x != 0.0)))
    }
}

impl Lowering<'_, '_> {
    /// The step procedure of `tableau` for `equations`; `None` when errors were reported.
    pub(super) fn explicit_rk(&mut self, tableau: &Tableau, equations: &[(FieldId, &Def)]) -> Option<Step> {
        let stages = tableau.stages();
        let model = self.model;
        let mut add = |suffix: &str, state: FieldId| {
            let field = model.field(state);
            self.program.add_buffer(format!("{}_{suffix}", field.name), field.shape.extents())
        };
        let states: Vec<FieldId> = equations.iter().map(|(s, _)| *s).collect();
        let next: Vec<BufferId> = states.iter().map(|s| add("next", *s)).collect();
        let stage_states: Vec<Vec<BufferId>> =
            (1..stages).map(|i| states.iter().map(|s| add(&format!("stage{i}"), *s)).collect()).collect();
        let rates: Vec<Option<Vec<BufferId>>> = (0..stages)
            .map(|i| tableau.stored(i).then(|| states.iter().map(|s| add(&format!("k{}", i + 1), *s)).collect()))
            .collect();

        let defs: Vec<&Def> = equations.iter().map(|(_, d)| *d).collect();
        let dt = self.dt;
        let mut kernels = Vec::new();
        for i in 0..stages {
            let mut reading = Reading { time_offset: tableau.c[i], ..Reading::default() };
            if i > 0 {
                reading.fields = states.iter().copied().zip(stage_states[i - 1].iter().copied()).collect();
            }
            let suffix = format!("stage{i}");
            kernels.extend(self.derived_for(&defs, &mut reading, (i > 0).then_some(suffix.as_str()), None)?);
            for (n, (state, def)) in equations.iter().enumerate() {
                let state_buffer = self.buffer(*state);
                let earlier: Vec<Option<BufferId>> = (0..i).map(|j| rates[j].as_ref().map(|r| r[n])).collect();
                let name = format!("{}_stage{}_{}", tableau.name, i + 1, model.field(*state).name);
                let kernel = self.def_kernel(name, def, &reading, |b, k| {
                    let mut outputs = Vec::new();
                    if let Some(rates) = &rates[i] {
                        outputs.push(Output::assign(rates[n], k));
                    }
                    let (weights, target) =
                        if i + 1 < stages { (&tableau.a[i + 1], stage_states[i][n]) } else { (&tableau.b, next[n]) };
                    let value = advance(b, state_buffer, dt, weights, &earlier, k);
                    outputs.push(Output::assign(target, value));
                    outputs
                });
                kernels.push(kernel);
            }
        }
        let swaps = states.iter().map(|s| self.buffer(*s)).zip(next).collect();
        Some(Step { procedure: self.program.add_procedure("step", kernels), swaps, init_carried: None })
    }
}

/// `S + dt * sum_j weights[j] k_j` at the current point, with `k_j` loaded from `earlier[j]`
/// for earlier stages and `current` for the last weight.
fn advance(
    b: &mut KernelBuilder,
    state: BufferId,
    dt: BufferId,
    weights: &[f64],
    earlier: &[Option<BufferId>],
    current: NodeId,
) -> NodeId {
    let mut sum: Option<NodeId> = None;
    for (j, &w) in weights.iter().enumerate() {
        if w == 0.0 {
            continue;
        }
        let k = match earlier.get(j) {
            Some(Some(buffer)) => b.load_here(*buffer),
            Some(None) => unreachable!("a weighted rate of an earlier stage is stored"),
            None => current,
        };
        let term = if w == 1.0 {
            k
        } else {
            let w = b.constant(w);
            b.binary(Binary::Mul, w, k)
        };
        sum = Some(match sum {
            Some(s) => b.binary(Binary::Add, s, term),
            None => term,
        });
    }
    let s = b.load_here(state);
    let Some(sum) = sum else { return s };
    let dt = b.load_scalar(dt);
    let step = b.binary(Binary::Mul, dt, sum);
    b.binary(Binary::Add, s, step)
}
