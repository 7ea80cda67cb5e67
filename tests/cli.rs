//! The real `noether` binary on real files.

use std::path::Path;
use std::process::Output;

use ndarray::ArrayD;
use ndarray_npy::ReadNpyExt;

use crate::support::{noether, text};

fn stdout(output: &Output) -> String {
    text(&output.stdout)
}

fn stderr(output: &Output) -> String {
    text(&output.stderr)
}

fn read_npy(path: &Path) -> ArrayD<f64> {
    ArrayD::<f64>::read_npy(std::fs::File::open(path).expect("file exists")).expect("valid npy")
}

#[test]
fn run_writes_npy_files_and_a_json_summary() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("results");
    let output = noether(&[
        "run",
        "examples/heat.noe",
        "--set",
        "N=16",
        "--steps",
        "10",
        "--out",
        out.to_str().expect("utf-8 path"),
        "--json",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_str(stdout(&output).trim()).expect("one JSON object");
    assert_eq!(summary["model"], "heat");
    assert_eq!(summary["backend"], "jit");
    assert_eq!(summary["steps"], 10);
    assert_eq!(summary["final_time"], 10.0);
    for key in ["parse_check", "compile", "run"] {
        assert!(summary["wall_seconds"][key].as_f64().is_some_and(|s| s >= 0.0), "{key}");
    }

    let u = read_npy(&out.join("u.npy"));
    assert_eq!(u.shape(), &[16, 16]);
    let loss = summary["losses"]["L"].as_f64().expect("loss L");
    let from_file: f64 = u.iter().map(|x| x * x).sum();
    assert!((loss - from_file).abs() <= 1e-12 * loss, "{loss} vs {from_file}");

    let total = read_npy(&out.join("total.npy"));
    assert_eq!(total.shape(), &[11]);
    assert_eq!(summary["observables"]["total"].as_f64(), total.iter().last().copied());
    let time = read_npy(&out.join("time.npy"));
    assert_eq!(time.iter().copied().collect::<Vec<_>>(), (0..=10).map(f64::from).collect::<Vec<_>>());

    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).expect("summary.json")).expect("json");
    assert_eq!(written["losses"], summary["losses"]);
    let outputs: Vec<&str> =
        summary["outputs"].as_array().expect("outputs").iter().filter_map(|p| p.as_str()).collect();
    assert!(outputs.iter().any(|p| p.ends_with("summary.json")), "{outputs:?}");
    assert!(outputs.iter().all(|p| Path::new(p).is_file()), "{outputs:?}");
    let leftovers: Vec<String> = std::fs::read_dir(&out)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".npy") && n != "summary.json")
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn text_report_names_the_results() {
    let output = noether(&["run", "examples/wave.noe", "--set", "N=40", "--steps", "20"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.starts_with("wave: rk4, 20 steps"), "{text}");
    assert!(text.contains("observe E = "), "{text}");
}

#[test]
fn every_example_checks() {
    for entry in std::fs::read_dir("examples").expect("examples") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "noe") {
            let output = noether(&["check", path.to_str().expect("utf-8")]);
            assert!(output.status.success(), "{}: {}", path.display(), stderr(&output));
            assert!(stdout(&output).starts_with("ok: "));
        }
    }
}

/// `check` tells a let that gets no buffer (recomputed where read) from one that is stored, so
/// a user does not take the pair fields' N² shapes for memory.
#[test]
fn check_marks_lets_computed_where_read() {
    let output = noether(&["check", "examples/lj.noe"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("r2 [1000, 1000] (computed where read)"), "{text}");
    let output = noether(&["check", "examples/hopfield.noe"]);
    let text = stdout(&output);
    assert!(text.contains("xi [20, 400],"), "xi is stored: {text}");
}

#[test]
fn a_broken_script_exits_1_with_a_diagnostic() {
    let output = noether(&["check", "tests/cases/unknown_name.noe"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(text.contains("noether::resolve::unknown_name"), "{text}");
    assert!(text.contains("did you mean `D`?"), "{text}");
    assert!(stdout(&output).is_empty());
}

#[test]
fn a_blow_up_exits_1_and_names_the_state() {
    let output = noether(&["run", "examples/heat.noe", "--set", "N=16", "--set", "D=2", "--steps", "500"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(text.contains("noether::run::non_finite") && text.contains("`u` became"), "{text}");
}

#[test]
fn unknown_overrides_and_bad_settings_are_diagnosed() {
    let output = noether(&["run", "examples/heat.noe", "--set", "NN=3"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("did you mean `N`?"));
    for dt in [&["--dt=-1"][..], &["--dt", "-1"]] {
        let output = noether(&[&["run", "examples/heat.noe", "--set", "N=8"][..], dt].concat());
        assert_eq!(output.status.code(), Some(1));
        assert!(stderr(&output).contains("noether::run::bad_setting"), "{dt:?}: {}", stderr(&output));
    }
    let output = noether(&["run", "no/such/file.noe"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("cannot read"));
}

#[test]
fn a_model_too_large_for_memory_is_refused_before_allocating() {
    let output = noether(&["run", "examples/heat.noe", "--set", "N=1000000"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(text.contains("noether::run::too_large"), "{text}");
    assert!(text.contains("TiB"), "{text}");
}

#[test]
fn both_backends_and_thread_counts_run_from_the_command_line() {
    let mut results = Vec::new();
    for args in [["--backend", "interp"], ["--backend", "jit"], ["--threads", "1"], ["--threads", "2"]] {
        let mut all = vec!["run", "examples/heat.noe", "--set", "N=20", "--steps", "7", "--json"];
        all.extend(args);
        let output = noether(&all);
        assert!(output.status.success(), "{}", stderr(&output));
        let summary: serde_json::Value = serde_json::from_str(stdout(&output).trim()).expect("json");
        results.push(summary["losses"]["L"].as_f64().expect("loss"));
    }
    assert!(results.iter().all(|r| r.to_bits() == results[0].to_bits()), "{results:?}");
}

#[test]
fn emit_prints_the_ast_and_the_ir() {
    let output = noether(&["emit", "examples/heat.noe", "--stage", "ast"]);
    assert!(output.status.success());
    assert!(stdout(&output).contains("d/dt u[i, j] = (D * laplacian(u)[i, j])"), "{}", stdout(&output));
    let output = noether(&["emit", "examples/heat.noe", "--stage", "ir"]);
    assert!(output.status.success());
    assert!(stdout(&output).contains("procedure step: "));
    let output = noether(&["emit", "examples/heat.noe", "--stage", "clif"]);
    assert!(output.status.success());
    assert!(stdout(&output).contains("load.f64x2"), "{}", stdout(&output));
    let output = noether(&["emit", "examples/heat.noe", "--stage", "opencl"]);
    assert!(output.status.success());
    let source = stdout(&output);
    assert!(source.contains("#pragma OPENCL FP_CONTRACT OFF"), "{source}");
    assert!(source.contains("__kernel void k2("), "{source}");
    assert!(source.contains("65536 work items"), "{source}");
}

/// Single precision is OpenCL's; the CPU engines say so instead of computing in f64 silently.
#[test]
fn single_precision_on_a_cpu_engine_is_refused() {
    let output = noether(&["run", "examples/heat.noe", "--set", "N=8", "--precision", "f32"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("computes in f64 only"), "{}", stderr(&output));
}

/// Without the `opencl` feature, asking for OpenCL says how to build it in.
#[cfg(not(feature = "opencl"))]
#[test]
fn opencl_in_a_build_without_it_says_how_to_enable_it() {
    for args in [&["run", "examples/heat.noe", "--set", "N=8", "--backend", "opencl"][..], &["devices"][..]] {
        let output = noether(args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(stderr(&output).contains("noether::opencl::unavailable"), "{}", stderr(&output));
        assert!(stderr(&output).contains("--features opencl"), "{}", stderr(&output));
    }
}

#[test]
fn output_directory_that_cannot_be_created_is_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "not a directory").expect("write");
    let target = blocker.join("out");
    let output = noether(&[
        "run",
        "examples/heat.noe",
        "--set",
        "N=8",
        "--steps",
        "1",
        "--out",
        target.to_str().expect("utf-8"),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("noether::io::write"), "{}", stderr(&output));
    let output = noether(&["fit", "examples/heat_source.noe", "--out", target.to_str().expect("utf-8")]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("noether::io::write"), "{}", stderr(&output));
    assert!(!stdout(&output).contains("iter"), "refused before fitting: {}", stdout(&output));
    let output = noether(&["run", "examples/heat.noe", "--set", "N=8", "--out", blocker.to_str().expect("utf-8")]);
    assert!(stderr(&output).contains("is a file, not a directory"), "{}", stderr(&output));
}

#[test]
fn grad_writes_tensor_gradients_and_checks_against_finite_differences() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().to_str().expect("utf-8 path");
    let output = noether(&["grad", "examples/heat.noe", "--set", "N=48", "--check", "--json", "--out", out]);
    assert!(output.status.success(), "{}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_str(stdout(&output).trim()).expect("one JSON object");
    assert_eq!(summary["loss"]["name"], "L");
    assert!(summary["gradient"]["D"].as_f64().is_some_and(|g| g < 0.0), "wider spread, smaller L: {summary}");
    let grad_u = read_npy(&dir.path().join("grad_u.npy"));
    assert_eq!(grad_u.shape(), &[48, 48]);
    let norm = grad_u.iter().map(|g| g * g).sum::<f64>().sqrt();
    assert_eq!(summary["gradient"]["u"]["norm"].as_f64(), Some(norm));
    let checks = summary["check"].as_array().expect("checks");
    assert!(checks.len() >= 2, "{summary}");
    for check in checks {
        assert!(check["relative_error"].as_f64().is_some_and(|e| e < 1e-6), "{check}");
    }
    let memory = &summary["memory"];
    let kept = memory["stored_bytes"].as_f64().expect("bytes");
    assert!(kept < 0.1 * memory["all_states_bytes"].as_f64().expect("bytes"), "{memory}");
    assert_eq!(memory["stored_state_sets"], 32 + 32 + 1, "{memory}");
    assert_eq!(memory["stored_bytes"], 65 * 48 * 48 * 8, "{memory}");
}

/// `--mode` picks how the gradient is computed; both modes give the same numbers, and the
/// report says which ran: `auto` takes forward mode for GBM's two params, reverse for more.
#[test]
fn grad_mode_is_chosen_and_reported() {
    let grad = |extra: &[&str]| {
        let args = [&["grad", "examples/gbm.noe", "--set", "M=2000", "--steps", "50", "--json"][..], extra].concat();
        let output = noether(&args);
        assert!(output.status.success(), "{}", stderr(&output));
        serde_json::from_str::<serde_json::Value>(stdout(&output).trim()).expect("one JSON object")
    };
    let forward = grad(&["--wrt", "lambda,mu", "--mode", "forward"]);
    let reverse = grad(&["--wrt", "lambda,mu", "--mode", "reverse"]);
    assert_eq!((&forward["mode"], &reverse["mode"]), (&"forward".into(), &"reverse".into()));
    assert_eq!(forward["memory"]["stored_bytes"], 0, "{forward}");
    for name in ["lambda", "mu"] {
        let number = |summary: &serde_json::Value| summary["gradient"][name].as_f64().expect("a number");
        let (f, r) = (number(&forward), number(&reverse));
        assert!((f - r).abs() <= 1e-12 * r.abs(), "d/d{name}: forward {f}, reverse {r}");
    }
    assert_eq!(grad(&["--wrt", "lambda,mu"])["mode"], "forward");
    assert_eq!(grad(&["--wrt", "lambda,mu,X"])["mode"], "reverse");
    let text = noether(&["grad", "examples/gbm.noe", "--set", "M=2000", "--steps", "50", "--wrt", "mu"]);
    assert!(stdout(&text).contains("(50 steps, forward mode)"), "{}", stdout(&text));
}

/// A reader that stops early (`noether emit ... | head`) is no error: the command exits 0
/// without a panic.
#[test]
fn emit_into_a_closed_pipe_exits_quietly() {
    use std::io::Read;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_noether"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["emit", "examples/lj.noe", "--stage", "clif"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut first = [0u8; 64];
    child.stdout.take().expect("piped").read_exact(&mut first).expect("some output");
    let output = child.wait_with_output().expect("it finishes");
    assert!(output.status.success(), "{:?}: {}", output.status, stderr(&output));
    assert!(stderr(&output).is_empty(), "{}", stderr(&output));
}

#[test]
fn grad_check_needs_no_run_directive() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("static.noe");
    std::fs::write(&script, "param a = 1.5\nstate u : [i < 8] = a * i\nloss L = sum(i) sin(u[i])\n").expect("write");
    let output = noether(&["grad", script.to_str().expect("utf-8 path"), "--check", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_str(stdout(&output).trim()).expect("one JSON object");
    let checks = summary["check"].as_array().expect("checks");
    assert_eq!(checks.len(), 4, "a, and three entries of u: {summary}");
    for check in checks {
        assert!(check["relative_error"].as_f64().is_some_and(|e| e < 1e-6), "{check}");
    }
}

/// A check the differences cannot pass (a step in the loss at the point: autodiff says 0, the
/// differences 1 / 2h) reports every figure, then says FAIL and exits 1 with a diagnostic.
#[test]
fn a_failed_grad_check_says_so_and_exits_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("step.noe");
    std::fs::write(
        &script,
        "param a = 0.5
state u : [i < 2] = a * i
loss L = (if a > 0.5 then 1 else 0) + sum(i) u[i]
",
    )
    .expect("write");
    let output = noether(&["grad", script.to_str().expect("utf-8 path"), "--check"]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert!(stdout(&output).contains("check: FAIL, 2 of 3 within"), "{}", stdout(&output));
    assert!(stderr(&output).contains("noether::grad::check_failed"), "{}", stderr(&output));
    assert!(stderr(&output).contains("dL/da"), "{}", stderr(&output));
    let output = noether(&["grad", script.to_str().expect("utf-8 path"), "--check", "--json"]);
    assert_eq!(output.status.code(), Some(1));
    let summary: serde_json::Value = serde_json::from_str(stdout(&output).trim()).expect("one JSON object");
    assert_eq!(summary["check"][0]["passes"], false, "{summary}");
}

/// Tiny and huge values print in scientific notation, not as `0.0000…1`.
#[test]
fn grad_prints_tiny_values_in_scientific_notation() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("tiny.noe");
    std::fs::write(&script, "param a = 1e-20\nstate u : [i < 2] = a * i\nloss L = sum(i) u[i]^2\n").expect("write");
    let output = noether(&["grad", script.to_str().expect("utf-8 path")]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("loss L = 1e-40") && text.contains("dL/da = 2e-20"), "{text}");
}

#[test]
fn grad_refuses_a_gradient_beyond_the_memory_limit_where_run_fits() {
    let limited = |command: &str, limit: &str| {
        noether(&[command, "examples/heat.noe", "--set", "N=64", "--steps", "100", "--memory-limit", limit])
    };
    let run = limited("run", "512K");
    assert!(run.status.success(), "{}", stderr(&run));
    let grad = limited("grad", "512K");
    assert_eq!(grad.status.code(), Some(1));
    let text = stderr(&grad);
    assert!(text.contains("noether::grad::too_large"), "{text}");
    // 160.1 KiB of buffers; 10 checkpoints, a 10-step segment and the final states: 21 copies
    // of 32 KiB.
    assert!(text.contains("the gradient needs 832.1 KiB"), "{text}");
    assert!(text.contains("more than the memory limit of 512.0 KiB"), "{text}");
    assert!(text.contains("keeps 21 copies of the states"), "{text}");
    assert!(limited("grad", "1M").status.success());
    assert_eq!(limited("grad", "2x").status.code(), Some(2), "a size needs a known unit");
}

#[test]
fn check_refuses_what_run_refuses_as_too_large() {
    for args in [&["--set", "N=1000000"][..], &["--set", "N=64", "--memory-limit", "64K"]] {
        let check = noether(&[&["check", "examples/heat.noe"][..], args].concat());
        let run = noether(&[&["run", "examples/heat.noe"][..], args].concat());
        assert_eq!((check.status.code(), run.status.code()), (Some(1), Some(1)));
        assert!(stderr(&check).contains("noether::run::too_large"), "{}", stderr(&check));
        assert_eq!(stderr(&check), stderr(&run));
    }
}

#[test]
fn grad_of_an_unknown_name_is_a_diagnostic() {
    let output = noether(&["grad", "examples/heat.noe", "--set", "N=16", "--wrt", "Dx"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("did you mean `D`?"), "{}", stderr(&output));
}

#[test]
fn fit_writes_fitted_params_and_lowers_the_loss() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().to_str().expect("utf-8 path");
    let output = noether(&["fit", "examples/heat_source.noe", "--iters", "8", "--out", out]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let losses: Vec<f64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("iter ")?.split("loss = ").nth(1)?.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(losses.len(), 8, "{text}");
    let fitted: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("fitted.json")).expect("fitted.json"))
            .expect("json");
    assert_eq!(fitted["optimizer"], "lbfgs");
    assert!(fitted["final_loss"].as_f64().is_some_and(|l| l < 0.1 * losses[0]), "{fitted}");
    let u0 = read_npy(&dir.path().join("u0.npy"));
    assert_eq!(u0.shape(), &[48, 48]);
    assert_eq!(fitted["params"]["u0"]["shape"], serde_json::json!([48, 48]));

    let output = noether(&["fit", "examples/heat.noe", "--set", "N=16"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("no `fit` directive"), "{}", stderr(&output));
}

#[test]
fn sde_runs_write_sample_paths_and_follow_the_seed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = |seed: &str, name: &str| {
        let out = dir.path().join(name);
        let args =
            ["run", "examples/gbm.noe", "--set", "M=500", "--steps", "40", "--seed", seed, "--paths", "3", "--out"];
        let output = noether(&[&args[..], &[out.to_str().expect("utf-8 path"), "--json"]].concat());
        assert!(output.status.success(), "{}", stderr(&output));
        (read_npy(&out.join("X.npy")), read_npy(&out.join("X_paths.npy")))
    };
    let (x, paths) = run("7", "a");
    assert_eq!(paths.shape(), &[41, 3]);
    for k in 0..3 {
        assert_eq!(paths[[0, k]], 1.0, "paths start at the initial value");
        assert_eq!(paths[[40, k]], x[[k]], "and end at the final state");
    }
    let (again, _) = run("7", "b");
    assert_eq!(x, again, "the same seed draws the same paths");
    let (other, _) = run("8", "c");
    assert!(x.iter().zip(other.iter()).all(|(a, b)| a != b), "another seed draws other paths");
}

/// `noether run` executes a `sample` directive: each observable's series per sweep, the sweep
/// counts, the final spins and a summary naming the sampler.
#[test]
fn run_samples_a_sampling_script_and_writes_series_per_sweep() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("ising");
    let args = ["run", "examples/ising.noe", "--set", "L=8", "--sweeps", "30", "--seed", "3", "--out"];
    let output = noether(&[&args[..], &[out.to_str().expect("utf-8 path"), "--json"]].concat());
    assert!(output.status.success(), "{}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_str(stdout(&output).trim()).expect("one JSON object");
    assert_eq!(summary["sampler"], "metropolis");
    assert_eq!(summary["order"], "checkerboard");
    assert_eq!((summary["sweeps"].as_u64(), summary["seed"].as_u64()), (Some(30), Some(3)));
    let s = read_npy(&out.join("s.npy"));
    assert_eq!(s.shape(), &[8, 8]);
    assert!(s.iter().all(|v| *v == 1.0 || *v == -1.0));
    let m = read_npy(&out.join("m.npy"));
    assert_eq!(m.shape(), &[30]);
    assert_eq!(m.iter().last().copied(), Some(s.mean().expect("spins")));
    let sweeps = read_npy(&out.join("sweep.npy"));
    assert_eq!(sweeps.iter().copied().collect::<Vec<_>>(), (1..=30).map(f64::from).collect::<Vec<_>>());
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).expect("summary.json")).expect("json");
    let mean = m.iter().sum::<f64>() / 30.0;
    assert!((written["observable_means"]["m"].as_f64().expect("a mean") - mean).abs() < 1e-12);
}

/// `noether sample` reports and writes the acceptance of a sampler that accepts or rejects,
/// and refuses a script that integrates.
#[test]
fn sample_writes_acceptance_rates() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("hmc");
    let args = ["sample", "examples/hmc_gaussian.noe", "--sweeps", "50", "--out"];
    let output = noether(&[&args[..], &[out.to_str().expect("utf-8 path")]].concat());
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("acceptance rate 0."), "{}", stdout(&output));
    let acceptance = read_npy(&out.join("acceptance.npy"));
    assert_eq!(acceptance.shape(), &[50]);
    assert!(acceptance.iter().all(|a| (0.0..=1.0).contains(a)));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).expect("summary.json")).expect("json");
    let rate = summary["acceptance_rate"].as_f64().expect("a rate");
    assert!((rate - acceptance.iter().sum::<f64>() / 50.0).abs() < 1e-12);
    assert_eq!(read_npy(&out.join("x.npy")).shape(), &[64, 2]);

    let refused = noether(&["sample", "examples/heat.noe", "--set", "N=8"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("noether run"), "{}", stderr(&refused));
}

/// Every stage of `emit` reports a script it cannot read as a read error, not a write error.
#[test]
fn emit_of_a_missing_script_is_a_read_error() {
    for stage in ["ast", "ir", "clif", "opencl"] {
        let output = noether(&["emit", "nowhere.noe", "--stage", stage]);
        assert_eq!(output.status.code(), Some(1), "{stage}");
        assert!(stderr(&output).contains("noether::io::read"), "{stage}: {}", stderr(&output));
    }
}

/// `emit --stage grad` of a script without a loss says so, as `grad` does.
#[test]
fn emit_grad_without_a_loss_says_there_is_none() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("lossless.noe");
    std::fs::write(&script, "state u : [i < 4] = i\nd/dt u = -u\nrun euler(dt = 0.1, steps = 2)\n").expect("write");
    let output = noether(&["emit", script.to_str().expect("utf-8 path"), "--stage", "grad"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("noether::run::no_loss"), "{}", stderr(&output));
}
