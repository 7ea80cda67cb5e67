//! Every engine computes the same numbers: the JIT (vector and scalar code, split across
//! threads) and, with the `opencl` feature, the OpenCL engine, against the reference
//! interpreter, bit for bit, on the examples, the IR test cases and random programs. Every
//! engine runs each reduction in the same order and computes the same math functions, so there
//! is no tolerance; NaNs only have to be NaN on both sides.

use noether::runtime::engine::InstructionSet;
use noether::{Backend, EngineOptions, Failure, Model, Override, Schedule, Source};
use proptest::prelude::*;

/// Everything a run produces that an engine could get wrong.
#[derive(Debug)]
struct Outcome {
    states: Vec<(String, Vec<f64>)>,
    observables: Vec<(String, Vec<f64>)>,
    scalars: Vec<(String, f64)>,
}

fn outcome(model: &Model, backend: Backend, options: EngineOptions, steps: Option<u64>) -> Result<Outcome, Failure> {
    let mut sim = model.simulator_with(backend, options)?;
    match (sim.schedule(), steps) {
        (Some(Schedule::Integrate(_)), Some(steps)) => sim.set_steps(steps)?,
        (Some(Schedule::Sample(_)), Some(sweeps)) => sim.set_sweeps(sweeps)?,
        _ => {}
    }
    if sim.schedule().is_some() {
        sim.run()?;
    }
    let states = sim
        .state_names()
        .into_iter()
        .map(|n| (n.clone(), sim.state(&n).map(|s| s.iter().copied().collect())))
        .collect::<Vec<_>>();
    let states = states.into_iter().map(|(n, s)| s.map(|s| (n, s))).collect::<Result<_, _>>()?;
    let observables = sim
        .observable_names()
        .into_iter()
        .map(|n| sim.observable(&n).map(|s| (n.clone(), s.to_vec())))
        .collect::<Result<_, _>>()?;
    let names: Vec<String> = model.checked().scalars.iter().map(|s| s.name.clone()).collect();
    let scalars = names.into_iter().map(|n| sim.scalar(&n).map(|v| (n, v))).collect::<Result<_, _>>()?;
    Ok(Outcome { states, observables, scalars })
}

fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// Runs `model` on the interpreter and three JIT configurations (and, built with the `opencl`
/// feature, two OpenCL ones) and demands one answer.
fn assert_engines_agree(model: &Model, steps: Option<u64>, label: &str) {
    assert_agree_on(model, steps, label, |_| true);
}

/// As [`assert_engines_agree`], on the configurations whose backend `keep` accepts.
fn assert_agree_on(model: &Model, steps: Option<u64>, label: &str, keep: impl Fn(Backend) -> bool) {
    let configurations = configurations().into_iter().filter(|(_, backend, _)| keep(*backend));
    assert_configurations_agree(model, steps, label, configurations);
}

/// The engine configurations every model is checked on.
fn configurations() -> Vec<(&'static str, Backend, EngineOptions)> {
    vec![
        (
            "jit",
            Backend::Jit,
            EngineOptions { threads: Some(1), check_generated_code: true, ..EngineOptions::default() },
        ),
        (
            "jit, 2 threads, split small kernels, no AVX-512",
            Backend::Jit,
            EngineOptions {
                threads: Some(2),
                min_parallel_points: Some(1),
                instructions: InstructionSet::NoAvx512,
                check_generated_code: true,
                ..EngineOptions::default()
            },
        ),
        (
            "jit, scalar code, x86-64-v2",
            Backend::Jit,
            EngineOptions {
                threads: Some(1),
                scalar_only: true,
                instructions: InstructionSet::Baseline,
                check_generated_code: true,
                ..EngineOptions::default()
            },
        ),
        #[cfg(feature = "opencl")]
        ("opencl", Backend::OpenCl, EngineOptions::default()),
        #[cfg(feature = "opencl")]
        (
            "opencl, a point per work item (as on a GPU)",
            Backend::OpenCl,
            EngineOptions { work_items: Some(noether::runtime::engine::WorkItems::Points), ..EngineOptions::default() },
        ),
    ]
}

/// Runs `model` on the interpreter and on each of `configurations` and demands one answer.
fn assert_configurations_agree(
    model: &Model,
    steps: Option<u64>,
    label: &str,
    configurations: impl IntoIterator<Item = (&'static str, Backend, EngineOptions)>,
) {
    let reference = outcome(model, Backend::Interp, EngineOptions::default(), steps);
    for (name, backend, options) in configurations {
        let other = outcome(model, backend, options, steps);
        match (&reference, &other) {
            (Ok(a), Ok(b)) => {
                for ((name_a, a), (_, b)) in
                    a.states.iter().zip(&b.states).chain(a.observables.iter().zip(&b.observables))
                {
                    assert_eq!(a.len(), b.len());
                    if let Some(at) = a.iter().zip(b).position(|(x, y)| !same(*x, *y)) {
                        panic!(
                            "{label}: `{name_a}` differs at {at} ({name}): interp {} vs {} {}",
                            a[at], backend, b[at]
                        );
                    }
                }
                for ((n, a), (_, b)) in a.scalars.iter().zip(&b.scalars) {
                    assert!(same(*a, *b), "{label}: `{n}` differs ({name}): interp {a} vs {backend} {b}");
                }
            }
            (Err(a), Err(b)) => assert_eq!(a.render_plain(100), b.render_plain(100), "{label} ({name})"),
            (a, b) => panic!("{label} ({name}): interp {:?} but {backend} {:?}", a.as_ref().err(), b.as_ref().err()),
        }
    }
}

fn model_of(text: &str, overrides: &[(&str, f64)]) -> Model {
    let overrides: Vec<Override> = overrides.iter().map(|(n, v)| Override { name: n.to_string(), value: *v }).collect();
    Model::from_source(Source::new("parity.noe", text), &overrides, "tests/cases").unwrap_or_else(|f| panic!("{f:?}"))
}

#[test]
fn examples_agree() {
    for (name, overrides, steps) in [
        ("heat", vec![("N", 24.0)], 30),
        ("wave", vec![("N", 41.0)], 40),
        ("burgers", vec![("N", 37.0)], 60),
        ("gray_scott", vec![("N", 21.0)], 40),
        ("gbm", vec![("M", 50.0)], 30),
        ("ou", vec![("M", 50.0)], 30),
        ("fractional_ou", vec![("M", 51.0)], 30),
        ("kuramoto", vec![("N", 40.0)], 30),
        ("cbo", vec![("N", 30.0)], 30),
        ("langevin_double_well", vec![("M", 30.0)], 30),
        ("diffusion_sampling", vec![("M", 20.0)], 30),
        ("fisher_kpp", vec![("N", 32.0)], 20),
        ("heat_source", vec![("N", 16.0)], 10),
        ("lj", vec![("N", 100.0)], 5),
        ("ising", vec![("L", 16.0)], 5),
        ("hopfield", vec![("N", 40.0), ("P", 4.0)], 3),
        ("rbm", vec![], 5),
        ("hmc_gaussian", vec![("C", 8.0)], 5),
        ("score_diffusion", vec![("M", 12.0), ("H", 5.0)], 4),
    ] {
        let text = std::fs::read_to_string(format!("examples/{name}.noe")).expect("example");
        assert_engines_agree(&model_of(&text, &overrides), Some(steps), name);
    }
}

/// Reads a stride apart along the row (two loads per vector in the JIT's interior, wrapped or
/// clamped at the edges) and a checkerboard colour updated in place on vectors.
#[test]
fn strided_reads_and_vector_updates_agree() {
    let strided = "const N = 64\nstate u : [i < N] periodic = sin(0.3 * i)\n\
                   state w : [i < 32] = 0\nstate z : [i < 21] clamp = 0\n\
                   d/dt u[i] = -0.5 * u[i]\n\
                   d/dt w[i] = u[2 * i] - u[2 * i + 1] + 0.5 * u[2 * i - 1]\n\
                   d/dt z[i] = u[3 * i] * z[i + 1] + u[3 * i + 2]\n\
                   run euler(dt = 0.01, steps = 5)\n";
    assert_engines_agree(&model_of(strided, &[]), None, "strided reads");
    let text = std::fs::read_to_string("examples/ising.noe").expect("example");
    for (side, beta) in [(20.0, 0.3), (34.0, 0.6)] {
        let model = model_of(&text, &[("L", side), ("beta", beta)]);
        assert_engines_agree(&model, Some(7), &format!("ising {side}"));
    }
}

/// Rows on lanes (two particles per vector in pair sums, each folding its own sum): a
/// Lennard-Jones force with the singular pair excluded, an energy split by rows, and rows of
/// `min`, `max`, `mean` and `sum` with filters that exclude one lane and not the other (beside a
/// mean that no row changes), over
/// an odd number of rows (the last runs alone), a short axis whose filter depends on it, short
/// sums nested in short sums, sums over one box sharing a loop (one filtered, one not; one
/// reading another, which cannot), and a domain of three axes; on 2 and 3 threads whose chunks
/// start at odd rows.
#[test]
fn pair_sums_on_lanes_agree() {
    let forces = "const N = 131\nconst a = 1.1\nconst Lbox = 6 * a\n\
                  state x : [p < N, k < 3] = a * (0.1 * sin(1.7 * p + 2.3 * k) + \
                  (if k == 0 then p % 6 else if k == 1 then (p // 6) % 6 else p // 36))\n\
                  state v : [p < N, k < 3] = 0\nfn lj(r2) = 4 * (r2^-6 - r2^-3)\n\
                  let d[p, q, k] = min_image(x[p, k] - x[q, k], Lbox)\nlet r2[p, q] = sum(k) d[p, q, k]^2\n\
                  energy E = 0.5 * sum(p, q | p != q and r2[p, q] < 2.5^2) lj(r2[p, q])\n\
                  d/dt x = v\nd/dt v = -grad(E, x)\n\
                  observe kinetic = 0.5 * sum(p, k) v[p, k]^2\nobserve potential = E\n\
                  run verlet(dt = 0.0001, steps = 3)\n";
    let rows = "const N = 37\n\
                state x : [p < N, k < 3] = 3 * (0.5 + 0.45 * sin(1.7 * p + 2.3 * k + 0.1 * p * k))\n\
                state near : [p < N] = 0\nstate far : [p < N] = 0\nstate crowd : [p < N] = 0\n\
                state above : [p < N, k < 3] = 0\nstate spread : [c < 2, p < N, k < 3] = 0\n\
                state tangle : [p < N] = 0\nstate duo : [p < N] = 0\nstate dep : [p < N] = 0\n\
                let r2[p, q] = sum(k) (x[p, k] - x[q, k])^2\n\
                d/dt x[p, k] = 0.1 * sin(x[p, k] + k)\n\
                d/dt near[p] = min(q | q != p) r2[p, q] - mean(q) x[q, 0]\n\
                d/dt far[p] = max(q | q != p and r2[p, q] < 6) r2[p, q]\n\
                d/dt crowd[p] = mean(q | q != p and r2[p, q] < 4) r2[p, q]\n\
                d/dt above[p, k] = sum(q | x[q, k] > x[p, k]) (x[q, k] - x[p, k])\n\
                d/dt spread[c, p, k] = sum(q | q != p and r2[p, q] < 2 + c) (x[p, k] - x[q, k]) / r2[p, q]\n\
                d/dt tangle[p] = sum(q | q != p) sum(k) sum(l | l != k) (x[p, k] - x[q, l])^2\n\
                d/dt duo[p] = sum(q | q != p and r2[p, q] < 3) r2[p, q] - mean(q) (r2[p, q] * x[p, 1])\n\
                d/dt dep[p] = sum(q) (r2[p, q] - sum(s | s != p) r2[p, s] / N)\n\
                run euler(dt = 0.01, steps = 3)\n";
    let three_threads = EngineOptions { threads: Some(3), min_parallel_points: Some(1), ..EngineOptions::default() };
    for (text, label) in [(forces, "pair forces"), (rows, "reductions in rows")] {
        let mut all = configurations();
        all.push(("jit, 3 threads, split small kernels", Backend::Jit, three_threads));
        assert_configurations_agree(&model_of(text, &[]), None, label, all);
    }
}

/// Sums nested in sums, the innermost reading the body's index and each enclosing sum's: the
/// values of the double and triple sums, on every engine (the kernel builder once placed the
/// outer sum in the prelude, where the body's index does not exist).
#[test]
fn nested_sums_read_every_enclosing_index() {
    let text = "state x : [p < 6, k < 3] = p + 2 * k\nstate g : [p < 6] = 0\nstate h : [p < 6] = 0\n\
                d/dt x[p, k] = 0\nd/dt g[p] = sum(q) sum(k) x[q, k] * x[p, k]\n\
                d/dt h[p] = sum(q) sum(k) sum(l | l != k) x[q, l] * x[p, k]\n\
                run euler(dt = 0.5, steps = 1)\n";
    let model = model_of(text, &[]);
    let x = |p: usize, k: usize| (p + 2 * k) as f64;
    for backend in [Backend::Interp, Backend::Jit] {
        let mut sim = model.simulator_with(backend, EngineOptions::default()).expect("compiles");
        sim.run().expect("runs");
        let (g, h) = (sim.state("g").expect("g"), sim.state("h").expect("h"));
        for p in 0..6 {
            let pairs = |keep: &dyn Fn(usize, usize) -> bool| -> f64 {
                let terms = (0..6).flat_map(|q| (0..3).flat_map(move |k| (0..3).map(move |l| (q, k, l))));
                terms.filter(|&(_, k, l)| keep(k, l)).map(|(q, k, l)| x(q, l) * x(p, k)).sum()
            };
            assert_eq!(g[p], 0.5 * pairs(&|k, l| k == l), "g[{p}] on {backend}");
            assert_eq!(h[p], 0.5 * pairs(&|k, l| k != l), "h[{p}] on {backend}");
        }
    }
    assert_engines_agree(&model, None, "nested sums");
}

/// Long one-variable sums and means of named scalars add in blocks of consecutive points
/// (`lower/rows.rs`; 125 for 20,000 points, the divisor nearest the square root): each block's
/// total in order, then the total of those. The values follow exactly that association (the
/// index read as a number, a filter, a mean, a variance whose inner mean is split too, a mean
/// over two indices by rows), a length with no divisor in range adds whole, and every engine
/// and thread count agrees.
#[test]
fn long_single_variable_sums_add_in_blocks() {
    let text = "const M = 20000\nconst P = 16411\nstate x : [p < M] = 1 / (p + 3)\n\
                state y : [q < P] = (q % 5) / 5 + 0.25\nd/dt x = 0\nd/dt y = 0\n\
                observe s = sum(p | p % 3 != 1) p * x[p]\nobserve m = mean(p) x[p]\n\
                observe v = var(p) x[p]\nobserve t = sum(q) y[q]\n\
                state z : [a < 160, b < 125] = 1 / (125 * a + b + 3)\nd/dt z = 0\nobserve r = mean(a, b) z[a, b]\n\
                run euler(dt = 1, steps = 1)\n";
    let model = model_of(text, &[]);
    let x: Vec<f64> = (0..20000).map(|p| 1.0 / f64::from(p + 3)).collect();
    let blocks = |term: &dyn Fn(usize) -> f64| -> f64 {
        (0..160).map(|c| (0..125).map(|k| term(125 * c + k)).fold(0.0, |a, b| a + b)).fold(0.0, |a, b| a + b)
    };
    let s = blocks(&|p| if p % 3 != 1 { p as f64 * x[p] } else { 0.0 });
    let m = blocks(&|p| x[p]) / 20000.0;
    let v = blocks(&|p| (x[p] - m).powi(2)) / 20000.0;
    let t = (0..16411).map(|q| f64::from(q % 5) / 5.0 + 0.25).fold(0.0, |a, b| a + b);
    let mut sim = model.simulator_with(Backend::Interp, EngineOptions::default()).expect("compiles");
    sim.run().expect("runs");
    // `z` holds `x` in rows of 125: its mean over both indices adds by rows, the same blocks.
    for (name, expected) in [("s", s), ("m", m), ("v", v), ("t", t), ("r", m)] {
        let recorded = sim.observable(name).expect("observed");
        assert_eq!(recorded.last().copied(), Some(expected), "{name}");
    }
    let in_order = (0..20000).filter(|p| p % 3 != 1).map(|p| p as f64 * x[p]).fold(0.0, |a, b| a + b);
    assert_ne!(s, in_order, "the blocks should change the rounding here, or this test shows nothing");
    assert_engines_agree(&model, None, "long sums in blocks");
}

#[test]
fn ir_cases_agree() {
    for entry in std::fs::read_dir("tests/cases").expect("cases") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "noe") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("case");
        if text.starts_with("# emit: ir") {
            assert_engines_agree(&model_of(&text, &[]), None, &path.display().to_string());
        }
    }
}

#[test]
fn every_math_function_and_boundary_rule_agrees() {
    let text = "shape G = [i < 5, j < 11] periodic\n\
        state u : G = sin(i + 2 * j) - 0.3\n\
        state c : [i < 5, j < 11] clamp = cos(i * j)\n\
        state r : [i < 5, j < 11] neumann = (i - j) / 5\n\
        state f : [i < 5, j < 11] dirichlet(0.25) = i * j / 50\n\
        d/dt u = exp(-abs(u)) + log(1 + u^2) + sqrt(abs(c)) - tan(u / 4) + tanh(r) + sinh(u / 3) + cosh(u / 5) \
                 + asin(u / 2) + acos(c / 2) + atan(r) + atan2(u, c + 2) + floor(3 * u) / 7 + ceil(c) / 9 \
                 + round(2.5 * r) / 11 + sign(u - 0.1) + min(u, c) + max(r, f) + (u % 0.7) + (c // 0.3) / 10 \
                 + u^3 / 5 - c^-2 / 100 + abs(r)^0.5 + u[i + 2, j - 3] * c[i - 1, j + 4] - r[i + 3, j + 1] * f[i - 1, j - 2]\n\
        d/dt c = if u > c and not (r < 0 or f == 0) then c[i, j + 1] else -c[i, j - 1]\n\
        observe s = sum(i, j | i != j) u[i, j] * r[i, j]\n\
        observe m = mean(i, j) max(u[i, j], c[i, j])\n\
        loss L = max(i) min(j) (f[i, j] + u[i, j])\n\
        run rk4(dt = 0.01, steps = 7)\n";
    assert_engines_agree(&model_of(text, &[]), None, "math");
}

#[test]
fn a_blow_up_is_reported_identically() {
    let text = "state u : [i < 9] periodic = if i == 4 then 1 else 0\nd/dt u = 3 * laplacian(u)\nrun euler(dt = 1, steps = 300)\n";
    assert_engines_agree(&model_of(text, &[]), None, "blow-up");
}

/// A random scalar expression over the fields of [`RANDOM_MODEL`], as source text.
fn expression() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("u".to_string()),
        Just("v".to_string()),
        Just("w".to_string()),
        Just("u[i + 1, j]".to_string()),
        Just("u[i, j - 2]".to_string()),
        Just("v[i - 1, j + 1]".to_string()),
        Just("w[i + 2, j - 1]".to_string()),
        Just("a[j]".to_string()),
        Just("a[i + j]".to_string()),
        Just("p".to_string()),
        Just("i".to_string()),
        Just("j".to_string()),
        Just("t".to_string()),
        Just("normal(3, i, j)".to_string()),
        Just("uniform(5, j, t)".to_string()),
        (-3.0..3.0f64).prop_map(|x| format!("{x:.3}")),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        let function =
            prop::sample::select(vec!["sin", "cos", "tanh", "abs", "floor", "atan", "asin", "acos", "sign", "round"]);
        prop_oneof![
            (inner.clone(), inner.clone(), prop::sample::select(vec!["+", "-", "*"]))
                .prop_map(|(a, b, op)| format!("({a} {op} {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} / (1 + abs({b})))")),
            inner.clone().prop_map(|a| format!("(-{a})")),
            (function, inner.clone()).prop_map(|(f, a)| format!("{f}({a})")),
            inner.clone().prop_map(|a| format!("sqrt(abs({a}))")),
            inner.clone().prop_map(|a| format!("exp(-abs({a}))")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("min({a}, {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("max({a}, {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("atan2({a}, {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("(abs({a}) ^ {b})")),
            (inner.clone(), inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(a, b, c, d)| format!("(if {a} > {b} then {c} else {d})")),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| format!("(if i > 1 and j < 6 or not {a} < 0 then {a} else {b})")),
            inner.clone().prop_map(|a| format!("(sum(k) a[k] * {a})")),
            inner.clone().prop_map(|a| format!("(mean(q | q != j) v[i, q] * {a})")),
            inner.clone().prop_map(|a| format!("(max(k) a[k] + {a})")),
            // A sum in a sum whose body reads the point's index and both sums' indices.
            inner.clone().prop_map(|a| format!("(sum(r) (sum(s | s != r) (v[r, s] * u[i, s] * {a})) / 55)")),
            (inner.clone(), 2..4i32).prop_map(|(a, n)| format!("tanh({a})^{n}")),
            inner.clone().prop_map(|a| format!("({a} % 1.5)")),
            inner.clone().prop_map(|a| format!("({a} // 0.7)")),
            // Counters from any number: negative ones wrap, fractions truncate, NaN gives 0.
            inner.prop_map(|a| format!("(normal(11, {a} * 1000, i) + uniform(2, {a}))")),
        ]
    })
}

const RANDOM_MODEL: &str = "const NI = 5\nconst NJ = 11\nparam p = 0.7\n\
    shape G = [i < NI, j < NJ] periodic\n\
    state u : G = sin(i + 2 * j)\n\
    state v : [i < NI, j < NJ] clamp = cos(i * j)\n\
    state w : [i < NI, j < NJ] neumann = (i - j) / 5\n\
    state a : [k < NJ] periodic = sin(k) + p\n";

/// [`RANDOM_MODEL`] with generated rates and a generated let.
fn random_model(rate_u: &str, rate_v: &str, total: &str) -> Model {
    let text = format!(
        "{RANDOM_MODEL}d/dt u = {rate_u}\nd/dt v = {rate_v}\nlet e : G = {total}\nobserve o = sum(i, j) e[i, j]\n\
         loss L = mean(i, j) u[i, j] * v[i, j]\nrun heun(dt = 0.01, steps = 3)\n"
    );
    match Model::from_source(Source::new("random.noe", text.as_str()), &[], ".") {
        Ok(model) => model,
        Err(failure) => panic!("generated programs must compile:\n{text}\n{failure:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_programs_agree(rate_u in expression(), rate_v in expression(), total in expression()) {
        let model = random_model(&rate_u, &rate_v, &total);
        assert_agree_on(&model, None, "random program", |backend| backend == Backend::Jit);
    }
}

/// Random programs on OpenCL: fewer cases, since each builds two programs for the device.
#[cfg(feature = "opencl")]
mod opencl {
    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn random_programs_agree_on_opencl(rate_u in expression(), rate_v in expression(), total in expression()) {
            let model = random_model(&rate_u, &rate_v, &total);
            assert_agree_on(&model, None, "random program", |backend| backend == Backend::OpenCl);
        }
    }
}
