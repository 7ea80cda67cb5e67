//! Results never depend on the thread count: gradients whose adjoints scatter (reads such as
//! `a[i + j]` or `a[2 * i]`), at sizes above the JIT's parallel threshold, come out bit for bit
//! the same on the interpreter and on the JIT with 1, 2 and 3 threads, run after run; so do the
//! examples' gradients.

use noether::runtime::Gradient;
use noether::{Backend, EngineOptions, Model, Source};
use proptest::prelude::*;

/// The gradient of `loss` with respect to `wrt` on `backend` with `threads` threads (the default
/// parallel threshold: the models here are above it), after `steps` steps when given.
fn gradient(model: &Model, backend: Backend, threads: usize, steps: Option<u64>, loss: &str, wrt: &[&str]) -> Gradient {
    let options = EngineOptions { threads: Some(threads), ..EngineOptions::default() };
    let mut sim = model.simulator_with(backend, options).unwrap_or_else(|f| panic!("{f:?}"));
    if let Some(steps) = steps {
        sim.set_steps(steps).unwrap_or_else(|f| panic!("{f:?}"));
    }
    sim.gradient(loss, wrt).unwrap_or_else(|f| panic!("{f:?}"))
}

/// Panics unless `a` and `b` hold the same bits everywhere.
fn assert_identical(a: &Gradient, b: &Gradient, what: &str) {
    assert_eq!(a.value.to_bits(), b.value.to_bits(), "{what}: loss {} vs {}", a.value, b.value);
    for ((name, x), (_, y)) in a.gradients.iter().zip(&b.gradients) {
        let first = x.iter().zip(y.iter()).position(|(p, q)| p.to_bits() != q.to_bits());
        if let Some(at) = first {
            let (p, q) = (x.iter().nth(at).expect("in range"), y.iter().nth(at).expect("in range"));
            panic!("{what}: d{}/d{name} differs at flat index {at}: {p} vs {q}", a.loss);
        }
    }
}

/// The interpreter once, then the JIT with 1, 2 and 3 threads, each `repeats` times: one answer.
fn assert_thread_count_free(model: &Model, steps: Option<u64>, loss: &str, wrt: &[&str], repeats: usize, what: &str) {
    let reference = gradient(model, Backend::Interp, 1, steps, loss, wrt);
    for threads in [1, 2, 3] {
        for run in 0..repeats {
            let jit = gradient(model, Backend::Jit, threads, steps, loss, wrt);
            assert_identical(&reference, &jit, &format!("{what} (jit, {threads} threads, run {run})"));
        }
    }
}

fn model_of(text: &str) -> Model {
    Model::from_source(Source::new("threads.noe", text), &[], "tests/cases").unwrap_or_else(|f| panic!("{text}\n{f:?}"))
}

/// The model that lost updates when two threads scattered into `a` (4M points then; 64k here).
#[test]
fn scatters_above_the_parallel_threshold_are_deterministic() {
    let text = "const n = 256\nparam q = 0.4\nstate a : [k < 512] periodic = cos(k)\n\
                state u : [i < n, j < n] = 0.001 * (i + j)\n\
                d/dt u = q * a[i + j] * u + a[2 * i] * 0.1\nloss L = sum(i, j) u[i, j]^2\n\
                run euler(dt = 0.1, steps = 2)\n";
    assert_thread_count_free(&model_of(text), None, "L", &["q", "a", "u"], 4, "a[i + j] and a[2 * i]");
}

/// A read whose adjoint scatters, as source text: sums and differences of indices, strides,
/// offsets that leave the field on both sides (the fields' boundary rules decide what that
/// means), and a two-axis field read along a diagonal.
fn scattering_read() -> impl Strategy<Value = String> {
    let offset = -40..40i64;
    prop_oneof![
        offset.clone().prop_map(|c| format!("a[i + j + {c}]")),
        offset.clone().prop_map(|c| format!("a[2 * i - {c}]")),
        offset.clone().prop_map(|c| format!("a[i - 2 * j + {c}]")),
        offset.clone().prop_map(|c| format!("a[3 * j - i + {c}]")),
        offset.clone().prop_map(|c| format!("b[i + j, {}]", c.rem_euclid(6))),
        offset.prop_map(|c| format!("b[2 * j + {c}, i - j]")),
    ]
}

const SCATTER_MODEL: &str = "const NI = 96\nconst NJ = 192\nparam q = 0.3\n\
    state u : [i < NI, j < NJ] = 0.01 * sin(i + 0.5 * j)\n";

/// The boundary rule of a field: every rule resolves out-of-range positions differently.
fn rule() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["periodic", "clamp", "neumann", "dirichlet(0.5)"])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn scattered_gradients_are_identical_for_every_thread_count(
        first in scattering_read(),
        second in scattering_read(),
        third in scattering_read(),
        a_rule in rule(),
        b_rule in rule(),
    ) {
        let text = format!(
            "{SCATTER_MODEL}state a : [k < 300] {a_rule} = cos(0.1 * k)\n\
             state b : [k < 250, m < 6] {b_rule} = sin(k - m)\n\
             d/dt u = q * {first} * u + 0.1 * tanh({second}) - 0.05 * {third} * u^2\n\
             d/dt a = -0.1 * a\nd/dt b = -0.2 * b\n\
             loss L = sum(i, j) u[i, j]^2\nrun heun(dt = 0.1, steps = 2)\n"
        );
        assert_thread_count_free(&model_of(&text), None, "L", &["q", "a", "b", "u"], 2, &text);
    }
}

/// Every example with a loss, at its own size (above the parallel threshold except
/// `heat_source`, which is split regardless), over a few steps: one gradient for any thread
/// count.
#[test]
fn example_gradients_do_not_depend_on_the_thread_count() {
    for (name, wrt, steps) in [
        ("heat", &["D", "u"][..], 20),
        ("fisher_kpp", &["D", "rho", "c"][..], 6),
        ("heat_source", &["u0"][..], 25),
        ("gbm", &["lambda", "mu", "X"][..], 5),
    ] {
        let model = Model::from_file(format!("examples/{name}.noe")).unwrap_or_else(|f| panic!("{f:?}"));
        let loss = model.checked().scalars.iter().find(|s| s.kind == noether::compiler::model::NamedKind::Loss);
        let loss = loss.expect("the example has a loss").name.clone();
        let run = |threads: usize| {
            let options =
                EngineOptions { threads: Some(threads), min_parallel_points: Some(1024), ..EngineOptions::default() };
            let mut sim = model.simulator_with(Backend::Jit, options).unwrap_or_else(|f| panic!("{f:?}"));
            sim.set_steps(steps).unwrap_or_else(|f| panic!("{f:?}"));
            sim.gradient(&loss, wrt).unwrap_or_else(|f| panic!("{f:?}"))
        };
        let one = run(1);
        for threads in [2, 3] {
            assert_identical(&one, &run(threads), &format!("{name}, {threads} threads"));
        }
    }
}
