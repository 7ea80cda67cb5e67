//! Deep and big input: every stage either handles it or refuses it with a diagnostic; nothing
//! overflows a stack or takes time or memory out of proportion.
//!
//! A corpus of generated scripts (nested calls, long sums, `if` chains, chains of functions and
//! lets, nesting past the limit, garbage) is replayed through the real binary, so a stack
//! overflow fails one test instead of killing the test binary; the embedding API is driven
//! from a thread with a 2 MB stack, as a user's spawned thread has. Big scripts are sized so
//! that anything quadratic (or exponential) in them would not finish: no test measures time.

use std::process::{Command, Output};

use noether::compiler::check::MAX_NESTED_REDUCTIONS;
use noether::compiler::syntax::depth::{MAX_DEPTH, MAX_INLINED_DEPTH};
use noether::{Backend, Model, Source};

const HEAD: &str = "const N = 4\nstate u : [i < N] = 0.5\nd/dt u = -u\n";
const RUN: &str = "run euler(dt = 0.1, steps = 2)\n";

/// `f(f(...f(x)...))`, `depth` calls.
fn nested(f: &str, depth: usize, x: &str) -> String {
    format!("{}{x}{}", format!("{f}(").repeat(depth), ")".repeat(depth))
}

/// `x + x + ... + x`, `terms` terms: a left-leaning tree `terms` deep.
fn sum_of(terms: usize, x: &str) -> String {
    vec![x; terms].join(" + ")
}

/// `sum(a0 < 1) sum(a1 < 1) ... u[0]`, `depth` reductions each inside the one before.
fn nested_reductions(depth: usize) -> String {
    let heads: String = (0..depth).map(|k| format!("sum(a{k} < 1) ")).collect();
    format!("{heads}u[0]")
}

/// A script whose loss is `expr` (written with `u[i]`), or which observes it (with `u[0]`).
fn loss(expr: &str) -> String {
    format!("{HEAD}loss L = sum(i) ({expr})\n{RUN}")
}

fn observe(expr: &str) -> String {
    format!("{HEAD}observe m = {expr}\n{RUN}")
}

/// `fn f0(x) = x`, `fn f1(x) = f0(x) + 1`, ...: each calls the one before.
fn chain_of_functions(count: usize) -> String {
    let fns: String = (1..count).map(|k| format!("fn f{k}(x) = f{}(x) + 1\n", k - 1)).collect();
    format!("fn f0(x) = x\n{fns}{}", loss(&format!("f{}(u[i])", count - 1)))
}

fn noether(args: &[&str], script: &str) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("deep.noe");
    std::fs::write(&path, script).expect("script written");
    let path = path.to_str().expect("utf-8 path");
    let args: Vec<&str> = args.iter().map(|a| if *a == "FILE" { path } else { a }).collect();
    Command::new(env!("CARGO_BIN_EXE_noether")).args(&args).output().expect("the binary runs")
}

/// Runs `args` on `script`: it must exit normally (no signal), with success or with a report
/// whose first diagnostic has the code `error`.
fn answers(name: &str, args: &[&str], script: &str, error: Option<&str>) {
    let output = noether(args, script);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: String = stderr.chars().take(2000).collect();
    match (output.status.code(), error) {
        (Some(0), None) => {}
        (Some(1), Some(code)) => assert!(stderr.starts_with(code), "{name} {args:?}: expected {code}, got\n{tail}"),
        (status, _) => panic!("{name} {args:?}: exit status {status:?} (None: killed by a signal)\n{tail}"),
    }
}

#[test]
fn the_issue_s_deep_scripts_check_run_and_differentiate() {
    let corpus = [
        ("5,000 nested calls", loss(&nested("sin", 5_000, "u[i]"))),
        ("a parameter used twice, 60 calls deep", format!("fn sq(x) = x * x\n{}", loss(&nested("sq", 60, "u[i]")))),
        ("a sum of 8,000 terms", loss(&sum_of(8_000, "u[i]"))),
        ("20,000 nested user calls", format!("fn f(x) = 0.5 * x + 0.25\n{}", loss(&nested("f", 20_000, "u[i]")))),
        ("a chain of 5,000 functions", chain_of_functions(5_000)),
    ];
    for (name, script) in &corpus {
        for args in [&["check", "FILE"][..], &["run", "FILE"], &["grad", "FILE"]] {
            answers(name, args, script, None);
        }
    }
}

#[test]
fn deep_scripts_check_or_are_refused_where_the_limit_is_passed() {
    let ifs: String = (0..20_000).map(|k| format!("if u[0] > {k} then {k} else ")).collect();
    let lets: String = (1..20_000).map(|k| format!("let a{k} = a{} + 1\n", k - 1)).collect();
    let deep_fn = format!("fn f1(x) = {}\n", nested("sin", 1_000, "x"));
    let corpus = [
        ("a sum at the limit", loss(&sum_of(MAX_DEPTH - 2, "u[i]")), None),
        ("a sum past the limit", loss(&sum_of(MAX_DEPTH, "u[i]")), Some("noether::syntax::too_deep")),
        ("calls past the limit", observe(&nested("sin", 3 * MAX_DEPTH, "1")), Some("noether::syntax::too_deep")),
        ("brackets past the limit", observe(&nested("", 3 * MAX_DEPTH, "1")), Some("noether::syntax::too_deep")),
        (
            "minus signs past the limit",
            observe(&format!("{}1", "-".repeat(3 * MAX_DEPTH))),
            Some("noether::syntax::too_deep"),
        ),
        ("a sum of 10 MB", observe(&sum_of(10 << 20 >> 2, "1")), Some("noether::syntax::too_deep")),
        (
            "powers past the limit",
            observe(&format!("{}1", "2^".repeat(3 * MAX_DEPTH))),
            Some("noether::syntax::too_deep"),
        ),
        ("powers at half the limit", observe(&format!("{}1", "u[0]^".repeat(MAX_DEPTH / 2))), None),
        ("20,000 chained ifs", observe(&format!("{ifs}0")), None),
        ("20,000 reductions side by side", observe(&vec!["(sum(i) u[i])"; 20_000].join(" + ")), None),
        ("reductions nested at their limit", observe(&nested_reductions(MAX_NESTED_REDUCTIONS)), None),
        (
            "reductions nested past their limit",
            observe(&nested_reductions(MAX_NESTED_REDUCTIONS + 1)),
            Some("noether::check::reductions_too_deep"),
        ),
        ("20,000 chained lets", format!("let a0 = u\n{lets}{}", loss("a19999[i]")), None),
        (
            "functions nested past the inlined limit",
            format!("{deep_fn}{}", loss(&nested("f1", MAX_INLINED_DEPTH / 1_000 + 1, "u[i]"))),
            Some("noether::check::too_deep"),
        ),
        (
            "a chain of functions past the inlined limit",
            chain_of_functions(MAX_INLINED_DEPTH / 2 + 10),
            Some("noether::check::too_deep"),
        ),
    ];
    for (name, script, error) in &corpus {
        answers(name, &["check", "FILE"], script, *error);
    }
    answers("a sum of 8,000 terms", &["emit", "FILE", "--stage", "ast"], &loss(&sum_of(8_000, "u[i]")), None);
}

/// Runs `work` on a thread with the 2 MB stack Rust gives spawned threads.
fn on_a_small_stack(work: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new().stack_size(2 << 20).spawn(work).expect("a thread starts").join().expect("no panic");
}

/// The embedding API from a small stack: compiling, running and differentiating a deep model,
/// and dropping it there.
#[test]
fn the_embedding_api_handles_deep_models_from_a_small_stack() {
    let script = format!("fn f(x) = 0.5 * x + 0.25\n{}", loss(&nested("f", 20_000, "u[i]")));
    on_a_small_stack(move || {
        let model = Model::from_source(Source::new("deep.noe", script), &[], ".").unwrap_or_else(|f| panic!("{f:?}"));
        for backend in [Backend::Interp, Backend::Jit] {
            let mut sim = model.simulator(backend).unwrap_or_else(|f| panic!("{f:?}"));
            sim.run().unwrap_or_else(|f| panic!("{f:?}"));
            let gradient = sim.gradient("L", &["u"]).unwrap_or_else(|f| panic!("{f:?}"));
            assert!(gradient.get("u").is_some_and(|g| g.iter().all(|x| x.is_finite())));
        }
    });
}

/// The checked model and a parsed module as deep as the compiler accepts, dropped on a small
/// stack: dropping them does not recurse.
#[test]
fn deep_trees_drop_on_a_small_stack() {
    let script = loss(&sum_of(MAX_DEPTH - 2, "u[i]"));
    on_a_small_stack(move || {
        let source = Source::new("deep.noe", script);
        let model = noether::compiler::check_source(&source, &[]).unwrap_or_else(|f| panic!("{f:?}"));
        drop(model);
        let module = noether::compiler::stack::run(|| noether::compiler::syntax::parse(&source));
        drop(module.unwrap_or_else(|f| panic!("{f:?}")));
    });
}

/// Pseudo-random bytes from a fixed seed (an LCG is enough to make garbage).
fn garbage(len: usize, alphabet: &[u8]) -> String {
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            char::from(alphabet[(state >> 33) as usize % alphabet.len()])
        })
        .collect()
}

#[test]
fn ten_megabytes_of_garbage_end_in_fifty_diagnostics_and_a_count() {
    let printable: Vec<u8> = (b' '..=b'~').chain([b'\n'; 2]).collect();
    let tokens = b"const param state = ( ) [ ] + * u i < N sum 1 2.5 , : if then else \n".to_vec();
    for (name, script) in [("bytes", garbage(10 << 20, &printable)), ("tokens", garbage(10 << 20, &tokens))] {
        let output = noether(&["check", "FILE"], &script);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{name}: {}", &stderr[..stderr.len().min(2000)]);
        let reports = stderr.lines().filter(|l| l.starts_with("noether::")).count();
        assert!(reports <= noether::compiler::diag::MAX_ERRORS + 1, "{name}: {reports} reports");
        if reports > noether::compiler::diag::MAX_ERRORS {
            assert!(stderr.contains("stopped after 50 errors;"), "{name}");
        }
    }
}

#[test]
fn a_script_of_64k_statements_compiles() {
    let observes: String = (0..1 << 16).map(|k| format!("observe m{k} = u[{}] * {k} + sin(u[1])\n", k % 4)).collect();
    let source = Source::new("big.noe", format!("{HEAD}{observes}{RUN}"));
    let compiled = noether::compiler::compile(&source, &[]).unwrap_or_else(|f| panic!("{f:?}"));
    assert_eq!(compiled.model.scalars.len(), 1 << 16);
}

#[test]
fn unknown_names_in_64k_statements_are_counted_past_fifty() {
    let observes: String = (0..1 << 16).map(|k| format!("observe m{k} = v{k} + u[0]\n")).collect();
    let source = Source::new("big.noe", format!("{HEAD}{observes}"));
    let failure = noether::compiler::check_source(&source, &[]).expect_err("unknown names");
    let shown = noether::compiler::diag::MAX_ERRORS;
    assert_eq!(failure.errors().len(), shown + 1);
    let more = (1 << 16) - shown;
    assert!(failure.render_plain(80).contains(&format!("stopped after {shown} errors; {more} more not shown")));
}

#[test]
fn an_sde_whose_dt_is_used_twice_at_60_levels_splits() {
    let script = format!(
        "const M = 4\nstate X : [p < M] = 1\nnoise W : [p < M]\nfn g(x) = x + x\nd X[p] = {} + dW[p]\n\
         run euler_maruyama(dt = 0.01, steps = 2, seed = 1)\n",
        nested("g", 60, "X[p] * dt")
    );
    noether::compiler::check_source(&Source::new("sde.noe", script), &[]).unwrap_or_else(|f| panic!("{f:?}"));
}

#[test]
fn an_sde_with_20_000_terms_splits() {
    let terms: Vec<String> = (0..20_000).map(|k| format!("{} * X[p] * dt", k % 7)).collect();
    let script = format!(
        "const M = 4\nstate X : [p < M] = 1\nnoise W : [p < M]\nd X[p] = {} + dW[p]\n\
         run euler_maruyama(dt = 0.01, steps = 2, seed = 1)\n",
        terms.join(" + ")
    );
    noether::compiler::check_source(&Source::new("sde.noe", script), &[]).unwrap_or_else(|f| panic!("{f:?}"));
}
