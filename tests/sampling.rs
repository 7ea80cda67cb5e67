//! Samplers answer to exact results: the 2D Ising model on a 4×4 torus (enumerated exactly) and
//! in the thermodynamic limit (Onsager–Yang), a Hopfield network's retrieval, a tiny restricted
//! Boltzmann machine's enumerated marginal, and the moments of a correlated Gaussian. Sample
//! means are compared within 4 standard errors from batch means, which absorb the chains'
//! autocorrelation; seeds are fixed, so a failure is reproducible. Then every sampler's chain is
//! the same on every engine and thread count.

use noether::runtime::engine::InstructionSet::{Baseline, Native, NoAvx512};
use noether::{Backend, EngineOptions, Model, Simulator, Source};

/// Batches a series is cut into for its standard error.
const BATCHES: usize = 20;

/// The mean of `series` and its standard error from the means of [`BATCHES`] consecutive
/// batches (each longer than the autocorrelation time, so the batch means are independent).
fn batch_mean(series: &[f64]) -> (f64, f64) {
    let size = series.len() / BATCHES;
    assert!(size >= 10, "{} values are too few for {BATCHES} batches", series.len());
    let means: Vec<f64> =
        series.chunks_exact(size).take(BATCHES).map(|b| b.iter().sum::<f64>() / size as f64).collect();
    let mean = means.iter().sum::<f64>() / BATCHES as f64;
    let variance = means.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / (BATCHES - 1) as f64;
    (mean, (variance / BATCHES as f64).sqrt())
}

/// Asserts that the series' mean is within 4 standard errors of `exact`, and prints both.
fn assert_mean(series: &[f64], exact: f64, what: &str) {
    let (mean, error) = batch_mean(series);
    println!("{what}: {mean:.6} ± {error:.6} (exact {exact:.6})");
    assert!(error > 0.0, "{what}: the series does not vary");
    assert!((mean - exact).abs() <= 4.0 * error, "{what}: {mean} ± {error}, exact {exact}");
}

fn compile(text: &str) -> Model {
    Model::from_source(Source::new("sampling.noe", text), &[], "tests/cases").unwrap_or_else(|f| panic!("{f:?}"))
}

fn sampled(model: &Model, backend: Backend, options: EngineOptions) -> Simulator {
    let mut sim = model.simulator_with(backend, options).unwrap_or_else(|f| panic!("{f:?}"));
    sim.run().unwrap_or_else(|f| panic!("{f:?}"));
    sim
}

fn observed<'a>(sim: &'a Simulator, name: &str) -> &'a [f64] {
    sim.observable(name).unwrap_or_else(|f| panic!("{f:?}"))
}

/// The periodic 2D Ising model at inverse temperature `beta`, with the energy and absolute
/// magnetisation per spin observed, sampled by `sampler` with `options`.
fn ising(l: usize, beta: f64, sampler: &str, options: &str) -> String {
    format!(
        "const L = {l}
         param beta = {beta}
         state s : [i < L, j < L] periodic spin = 1
         energy H = -sum(i, j) s[i, j] * (s[i+1, j] + s[i, j+1])
         observe e = H / (L * L)
         observe abs_m = abs(mean(i, j) s[i, j])
         sample s ~ exp(-beta * H) with {sampler}({options})"
    )
}

/// Exact values on the 4×4 torus at T = 2 (enumerating its 2^16 states).
const ISING4_ENERGY: f64 = -1.755380288777;
const ISING4_ABS_M: f64 = 0.918943267402;

fn ising4(sampler: &str, order: &str) {
    let options = format!("sweeps = 20000, burn_in = 200, order = {order}, seed = 11");
    let sim = sampled(&compile(&ising(4, 0.5, sampler, &options)), Backend::Jit, EngineOptions::default());
    assert_eq!(observed(&sim, "e").len(), 20000);
    assert_mean(observed(&sim, "e"), ISING4_ENERGY, &format!("{sampler} {order}: e"));
    assert_mean(observed(&sim, "abs_m"), ISING4_ABS_M, &format!("{sampler} {order}: |m|"));
}

#[test]
fn ising_4x4_metropolis_checkerboard_matches_enumeration() {
    ising4("metropolis", "checkerboard");
}

#[test]
fn ising_4x4_gibbs_checkerboard_matches_enumeration() {
    ising4("gibbs", "checkerboard");
}

#[test]
fn ising_4x4_metropolis_random_order_matches_enumeration() {
    ising4("metropolis", "random");
}

#[test]
fn ising_4x4_gibbs_sequential_matches_enumeration() {
    ising4("gibbs", "sequential");
}

/// Below the critical temperature a 64² torus is magnetised as the infinite lattice is
/// (finite-size corrections are exponentially small in L/ξ there, ξ ≈ 1 at T = 1.5).
#[test]
fn ising_64x64_magnetisation_matches_onsager_yang() {
    let beta: f64 = 1.0 / 1.5;
    let exact = (1.0 - (2.0 * beta).sinh().powi(-4)).powf(0.125);
    for sampler in ["metropolis", "gibbs"] {
        let options = "sweeps = 2000, burn_in = 200, order = checkerboard, seed = 5";
        let sim = sampled(&compile(&ising(64, beta, sampler, options)), Backend::Jit, EngineOptions::default());
        assert_mean(observed(&sim, "abs_m"), exact, &format!("{sampler}: |m| at T = 1.5"));
    }
}

/// At load P/N = 0.05 (below the capacity 0.138) a pattern is a stable attractor: a start
/// with 20% of its neurons flipped (overlap about 0.6) falls back into it.
#[test]
fn hopfield_retrieves_a_corrupted_pattern() {
    let model = Model::from_file("examples/hopfield.noe").unwrap_or_else(|f| panic!("{f:?}"));
    let mut sim = model.simulator(Backend::Jit).unwrap_or_else(|f| panic!("{f:?}"));
    let start = sim.scalar("overlap").unwrap_or_else(|f| panic!("{f:?}"));
    assert!((0.5..0.7).contains(&start), "the start's overlap {start} should be about 1 - 2 * 0.2");
    sim.run().unwrap_or_else(|f| panic!("{f:?}"));
    let overlap = observed(&sim, "overlap");
    let last = overlap[overlap.len() - 1];
    println!("hopfield: overlap {start} at the start, {last} after {} sweeps", overlap.len());
    assert!(last >= 0.95, "overlap {last} after retrieval");
}

/// A restricted Boltzmann machine small enough to enumerate: 4 visible and 3 hidden units.
/// `code` numbers the visible configuration, so its series is a sample of the marginal p(v).
const RBM: &str = "
    const V = 4
    const K = 3
    let W[i < V, j < K] = 0.6 * sin(1.7 * i + 2.3 * j + 0.5)
    let a[i < V] = 0.3 * cos(1.1 * i)
    let b[j < K] = -0.2 * sin(0.9 * j + 1)
    state v : [i < V] spin = 1
    state h : [j < K] spin = -1
    energy E = -sum(i, j) v[i] * W[i, j] * h[j] - sum(i) a[i] * v[i] - sum(j) b[j] * h[j]
    observe code = sum(i) (v[i] + 1) / 2 * 2^i
    sample v, h ~ exp(-E) with gibbs(sweeps = 40000, burn_in = 100, order = checkerboard, seed = 4)";

/// The exact marginal of the visible configuration numbered `code` in [`RBM`].
fn rbm_marginal() -> Vec<f64> {
    let w = |i: usize, j: usize| 0.6 * (1.7 * i as f64 + 2.3 * j as f64 + 0.5).sin();
    let a = |i: usize| 0.3 * (1.1 * i as f64).cos();
    let b = |j: usize| -0.2 * (0.9 * j as f64 + 1.0).sin();
    let spin = |bits: usize, k: usize| if bits >> k & 1 == 1 { 1.0 } else { -1.0 };
    let mut weights = [0.0; 16];
    for (v, weight) in weights.iter_mut().enumerate() {
        for h in 0..8 {
            let mut minus_e = 0.0;
            for i in 0..4 {
                minus_e += a(i) * spin(v, i);
                for j in 0..3 {
                    minus_e += spin(v, i) * w(i, j) * spin(h, j);
                }
            }
            minus_e += (0..3).map(|j| b(j) * spin(h, j)).sum::<f64>();
            *weight += f64::exp(minus_e);
        }
    }
    let total: f64 = weights.iter().sum();
    weights.iter().map(|w| w / total).collect()
}

#[test]
fn rbm_block_gibbs_samples_the_enumerated_marginal() {
    let sim = sampled(&compile(RBM), Backend::Jit, EngineOptions::default());
    let codes = observed(&sim, "code");
    for (code, exact) in rbm_marginal().into_iter().enumerate() {
        let hits: Vec<f64> = codes.iter().map(|c| f64::from(u8::from(*c == code as f64))).collect();
        assert_mean(&hits, exact, &format!("rbm: p(v = {code:04b})"));
    }
}

/// Many chains on a correlated 2D Gaussian with mean (1, -1), unit variances and correlation
/// 0.8; the observables are averages over the chains.
fn gaussian(sampler: &str) -> String {
    format!(
        "const C = 64
         const rho = 0.8
         fn quad(u, v) = (u^2 - 2 * rho * u * v + v^2) / (2 * (1 - rho^2))
         state x : [c < C, k < 2] = 0
         energy U = sum(c) quad(x[c, 0] - 1, x[c, 1] + 1)
         observe mean_x = mean(c) x[c, 0]
         observe mean_y = mean(c) x[c, 1]
         observe var_x = mean(c) (x[c, 0] - 1)^2
         observe cov_xy = mean(c) (x[c, 0] - 1) * (x[c, 1] + 1)
         observe var_y = mean(c) (x[c, 1] + 1)^2
         sample x ~ exp(-U) with {sampler}"
    )
}

fn assert_gaussian_moments(sampler: &str) -> f64 {
    let sim = sampled(&compile(&gaussian(sampler)), Backend::Jit, EngineOptions::default());
    let name = sampler.split('(').next().unwrap_or(sampler);
    for (observable, exact) in [("mean_x", 1.0), ("mean_y", -1.0), ("var_x", 1.0), ("cov_xy", 0.8), ("var_y", 1.0)] {
        assert_mean(observed(&sim, observable), exact, &format!("{name}: {observable}"));
    }
    let rate = sim.acceptance().rate().expect("an accept-reject sampler reports its acceptance");
    println!("{name}: acceptance rate {rate:.4}");
    assert_eq!(sim.acceptance().series.len(), observed(&sim, "mean_x").len());
    rate
}

#[test]
fn hmc_samples_a_correlated_gaussian() {
    let rate = assert_gaussian_moments("hmc(step = 0.3, leapfrog = 8, sweeps = 4000, burn_in = 100, seed = 3)");
    assert!((0.6..1.0).contains(&rate), "hmc acceptance {rate}");
}

#[test]
fn mala_samples_a_correlated_gaussian() {
    let rate = assert_gaussian_moments("mala(step = 0.25, sweeps = 20000, burn_in = 200, seed = 8)");
    assert!((0.5..1.0).contains(&rate), "mala acceptance {rate}");
}

/// Every sampler and order, with chains or lattices large enough that the JIT splits them.
fn every_sampler(sites: usize) -> Vec<(String, String)> {
    let side = (sites as f64).sqrt().ceil() as usize;
    let mut scripts = Vec::new();
    for (sampler, order) in
        [("metropolis", "checkerboard"), ("gibbs", "checkerboard"), ("metropolis", "random"), ("gibbs", "sequential")]
    {
        let options = format!("sweeps = 3, order = {order}, seed = 2");
        scripts.push((format!("{sampler} {order}"), ising(side, 0.4, sampler, &options)));
    }
    for sampler in ["langevin(step = 0.05", "mala(step = 0.1", "hmc(step = 0.2, leapfrog = 3"] {
        let text = gaussian(&format!("{sampler}, sweeps = 3, burn_in = 1, seed = 6)"))
            .replace("C = 64", &format!("C = {sites}"));
        scripts.push((sampler.split('(').next().unwrap_or(sampler).to_string(), text));
    }
    scripts
}

/// The final states, every observable's series and the acceptance series, as bits.
fn chain(sim: &Simulator) -> Vec<(String, Vec<u64>)> {
    let bits = |values: &mut dyn Iterator<Item = f64>| values.map(f64::to_bits).collect::<Vec<_>>();
    let mut all = Vec::new();
    for name in sim.state_names() {
        let state = sim.state(&name).unwrap_or_else(|f| panic!("{f:?}"));
        all.push((name, bits(&mut state.iter().copied())));
    }
    for name in sim.observable_names() {
        all.push((name.clone(), bits(&mut observed(sim, &name).iter().copied())));
    }
    all.push(("acceptance".into(), bits(&mut sim.acceptance().series.iter().copied())));
    all
}

fn assert_same_chain(reference: &[(String, Vec<u64>)], other: &[(String, Vec<u64>)], what: &str) {
    let names = |chain: &[(String, Vec<u64>)]| chain.iter().map(|(name, _)| name.clone()).collect::<Vec<_>>();
    assert_eq!(names(reference), names(other), "{what}: another set of series");
    for ((name, a), (_, b)) in reference.iter().zip(other) {
        assert_eq!(a.len(), b.len(), "{what}: {name} has another length");
        if let Some(at) = a.iter().zip(b).position(|(x, y)| x != y) {
            let (x, y) = (f64::from_bits(a[at]), f64::from_bits(b[at]));
            panic!("{what}: {name} differs at {at}: {x} vs {y}");
        }
    }
}

/// The interpreter and the JIT (split into rows on two threads even for small kernels) make
/// the same chain, bit for bit.
#[test]
fn every_sampler_makes_the_same_chain_on_every_engine() {
    for (name, text) in every_sampler(64) {
        let model = compile(&text);
        let reference = chain(&sampled(&model, Backend::Interp, EngineOptions::default()));
        let split = EngineOptions { threads: Some(2), min_parallel_points: Some(1), ..EngineOptions::default() };
        assert_same_chain(&reference, &chain(&sampled(&model, Backend::Jit, split)), &format!("{name}, jit"));
    }
}

/// Above the JIT's parallel threshold (2^14 points per kernel: a 256² lattice's sublattices,
/// 2^15 chains), 1, 2 and 3 threads make the interpreter's chain.
#[test]
fn every_sampler_makes_the_same_chain_on_any_thread_count() {
    for (name, text) in every_sampler(1 << 16) {
        let text = text.replace("C = 65536", "C = 32768");
        let model = compile(&text);
        let reference = chain(&sampled(&model, Backend::Interp, EngineOptions::default()));
        for threads in [1, 2, 3] {
            let options = EngineOptions { threads: Some(threads), ..EngineOptions::default() };
            let what = format!("{name}, jit on {threads} threads");
            assert_same_chain(&reference, &chain(&sampled(&model, Backend::Jit, options)), &what);
        }
    }
}

/// Accept–reject and spin moves make the sampled states a step function of the params: a
/// gradient through them is refused at the directive, not taken at the initial states.
#[test]
fn gradients_through_accept_reject_samplers_are_refused() {
    let mala = gaussian("mala(step = 0.1, sweeps = 5)") + "\nloss mean_x0 = mean(c) x[c, 0]\n";
    let ising = ising(4, 0.5, "metropolis", "sweeps = 5") + "\nloss mean_s = mean(i, j) s[i, j]\n";
    for (text, loss, wrt) in [(mala, "mean_x0", "x"), (ising, "mean_s", "beta")] {
        let mut sim = compile(&text).simulator(Backend::Interp).unwrap_or_else(|f| panic!("{f:?}"));
        let failure = sim.gradient(loss, &[wrt]).expect_err("refused");
        assert!(failure.codes().iter().any(|c| c == "noether::grad::through_sampler"), "{:?}", failure.codes());
    }
}

/// `--sweeps` is checked like the script's own count: at least `thin`, at most 2^53 in all.
#[test]
fn sweep_overrides_out_of_range_are_refused() {
    let mut sim = compile(&ising(4, 0.5, "metropolis", "sweeps = 10, thin = 5, burn_in = 3"))
        .simulator(Backend::Interp)
        .unwrap_or_else(|f| panic!("{f:?}"));
    for sweeps in [0, 4, (1 << 53) - 2, u64::MAX] {
        let failure = sim.set_sweeps(sweeps).expect_err("refused");
        assert!(failure.codes().iter().any(|c| c.ends_with("bad_setting")), "{sweeps}: {:?}", failure.codes());
    }
    sim.set_sweeps(5).unwrap_or_else(|f| panic!("{f:?}"));
    sim.set_sweeps((1 << 53) - 3).unwrap_or_else(|f| panic!("{f:?}"));
}

/// Spin rows of every length from a few sites to past the JIT's widest vector body, in two
/// dimensions and in one (where threads split the row itself, so chunks start anywhere in a
/// block of four sites sharing a draw): the JIT makes the interpreter's chain on 1, 2 and 3
/// threads.
#[test]
fn spin_rows_of_any_length_make_the_same_chain() {
    for (shape, index, energy) in [
        ("[i < 3, j < W] dirichlet(0)", "[i, j]", "-sum(i, j) s[i, j] * (s[i+1, j] + s[i, j+1])"),
        ("[j < W] dirichlet(0)", "[j]", "-sum(j) s[j] * s[j+1]"),
    ] {
        for width in [5, 9, 14, 23, 38, 61, 70, 131] {
            for sampler in ["metropolis", "gibbs"] {
                let text = format!(
                    "const W = {width}
                     param beta = 0.6
                     state s : {shape} spin = 1
                     energy H = {energy}
                     observe m = mean{index_vars} s{index}
                     sample s ~ exp(-beta * H) with {sampler}(sweeps = 3, order = checkerboard, seed = 5)",
                    index_vars = index.replace('[', "(").replace(']', ")"),
                );
                let model = compile(&text);
                let reference = chain(&sampled(&model, Backend::Interp, EngineOptions::default()));
                let runs = [(1, Native), (2, Native), (3, Native), (2, NoAvx512), (1, Baseline)];
                for (threads, instructions) in runs {
                    let options = EngineOptions {
                        threads: Some(threads),
                        min_parallel_points: Some(1),
                        instructions,
                        ..EngineOptions::default()
                    };
                    let what =
                        format!("{sampler} on {shape} with W = {width}, jit on {threads} threads, {instructions:?}");
                    assert_same_chain(&reference, &chain(&sampled(&model, Backend::Jit, options)), &what);
                }
            }
        }
    }
}
