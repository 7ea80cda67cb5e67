//! The OpenCL engine (on POCL in CI) beyond the parity and physics tests every engine runs:
//! gradients through long runs, the device's own math, devices that cannot be used.

use noether::runtime::engine::Precision;
use noether::{Backend, EngineOptions};

use crate::support::{model, simulator};

/// A gradient through 1000 steps with checkpoints (32 of them, a 32-step segment recomputed
/// from each) equals the JIT's bit for bit: the same adjoint kernels, the same order.
#[test]
fn a_gradient_through_1000_steps_with_checkpoints_equals_the_jits() {
    let text = "param D = 0.2\nparam k = 0.3\nshape G = [i < 40] periodic\n\
                state u : G = exp(-((i - 20) / 6)^2)\n\
                d/dt u = D * laplacian(u) - k * u * u\n\
                loss L = sum(i) u[i] * u[i] * sin(i)\n\
                run heun(dt = 0.05, steps = 1000)\n";
    let gradient = |backend| {
        let mut sim = simulator(text, backend);
        let options = noether::GradientOptions { checkpoints: Some(32), ..Default::default() };
        sim.gradient_with("L", &["D", "k", "u"], options).unwrap_or_else(|f| panic!("{f:?}"))
    };
    let (jit, opencl) = (gradient(Backend::Jit), gradient(Backend::OpenCl));
    assert_eq!(jit.value.to_bits(), opencl.value.to_bits());
    for ((name, a), (_, b)) in jit.gradients.iter().zip(&opencl.gradients) {
        for (x, y) in a.iter().zip(b) {
            assert_eq!(x.to_bits(), y.to_bits(), "d L / d {name}: jit {x} vs opencl {y}");
        }
    }
    assert_eq!(jit.memory.stored_state_sets, opencl.memory.stored_state_sets);
}

/// `sin` and `cos` of arguments beyond the inline reduction go through the ported Payne–Hanek
/// reduction on the device: the same bits as the interpreter, up to the largest double.
#[test]
fn sin_and_cos_of_huge_arguments_are_the_interpreters_bits() {
    let text = "state x : [i < 512] = 20 + exp(1.385 * i)\nstate s : [i < 512] = sin(x) + cos(-x)\n\
                d/dt x = 0\nd/dt s = 0\nrun euler(dt = 1, steps = 1)\n";
    let values = |backend| {
        let mut sim = simulator(text, backend);
        sim.reset().expect("initial values");
        let x: Vec<f64> = sim.state("x").expect("x").iter().copied().collect();
        let s: Vec<f64> = sim.state("s").expect("s").iter().copied().collect();
        (x, s)
    };
    let ((x, reference), (_, device)) = (values(Backend::Interp), values(Backend::OpenCl));
    assert!(x.iter().any(|v| *v > 1e300), "the arguments reach the top of the range");
    for ((x, a), b) in x.iter().zip(&reference).zip(&device) {
        assert_eq!(a.to_bits(), b.to_bits(), "sin + cos at {x:e}: interp {a} vs opencl {b}");
    }
}

/// A device number that does not exist is a diagnostic listing the devices, not a panic.
#[test]
fn a_missing_device_is_a_diagnostic() {
    let options = EngineOptions { device: Some(999), ..EngineOptions::default() };
    let failure = model("state y = 1\nd/dt y = -y\nrun euler(dt = 0.1, steps = 1)\n")
        .simulator_with(Backend::OpenCl, options)
        .err()
        .expect("refused");
    let text = failure.render_plain(100);
    assert!(text.contains("no OpenCL device 999"), "{text}");
    assert!(text.contains("noether devices"), "{text}");
}

/// `noether devices` lists POCL's CPU device with double precision.
#[test]
fn devices_are_listed_with_their_double_precision_support() {
    let out = crate::support::noether(&["devices"]);
    let text = crate::support::text(&out.stdout);
    assert!(out.status.success(), "{text}{}", crate::support::text(&out.stderr));
    assert!(text.contains("fp64 yes"), "{text}");
}

/// In single precision the device rounds every value to 24 bits and uses its own `exp`: heat
/// stays within the documented 1e-5 (relative to the largest value) of the interpreter's f64
/// run, and the total heat it conserves within 1e-5 relative.
#[test]
fn single_precision_agrees_with_double_to_its_tolerance() {
    let text = std::fs::read_to_string("examples/heat.noe").expect("example");
    let model = model(&text.replace("const N = 256", "const N = 32"));
    let run = |backend, precision| {
        let options = EngineOptions { precision, ..EngineOptions::default() };
        let mut sim = model.simulator_with(backend, options).unwrap_or_else(|f| panic!("{f:?}"));
        sim.set_steps(200).expect("steps");
        sim.run().expect("runs");
        let u: Vec<f64> = sim.state("u").expect("u").iter().copied().collect();
        (u, sim.observable("total").expect("total").to_vec())
    };
    let (reference, total) = run(Backend::Interp, Precision::F64);
    let (single, single_total) = run(Backend::OpenCl, Precision::F32);
    let scale = reference.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let worst = reference.iter().zip(&single).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max) / scale;
    assert!(worst < 1e-5, "largest difference {worst:e} of the largest value");
    assert!(worst > 0.0, "single precision rounds differently from double");
    for (a, b) in total.iter().zip(&single_total) {
        assert!((a - b).abs() <= 1e-5 * a.abs(), "total {a} vs {b}");
    }
}

/// A gradient in single precision matches the double one to the documented 1e-4.
#[test]
fn single_precision_gradients_agree_to_their_tolerance() {
    let text = "param D = 0.2\nshape G = [i < 24] periodic\nstate u : G = exp(-((i - 12) / 4)^2)\n\
                d/dt u = D * laplacian(u)\nloss L = sum(i) u[i]^2 * cos(i / 3)\nrun rk4(dt = 0.2, steps = 100)\n";
    let gradient = |backend, precision| {
        let options = EngineOptions { precision, ..EngineOptions::default() };
        let mut sim = model(text).simulator_with(backend, options).unwrap_or_else(|f| panic!("{f:?}"));
        sim.gradient("L", &["D", "u"]).unwrap_or_else(|f| panic!("{f:?}"))
    };
    let (double, single) = (gradient(Backend::Jit, Precision::F64), gradient(Backend::OpenCl, Precision::F32));
    for ((name, a), (_, b)) in double.gradients.iter().zip(&single.gradients) {
        let scale = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= 1e-4 * scale, "d L / d {name}: f64 {x} vs f32 {y}");
        }
    }
}

/// A machine without an OpenCL platform (here: an ICD loader pointed at an empty vendor
/// directory) gets a diagnostic saying what to install, not a panic.
#[test]
fn no_platform_is_a_diagnostic_saying_what_to_install() {
    let vendors = tempfile::tempdir().expect("temp dir");
    for args in [&["devices"][..], &["run", "examples/heat.noe", "--set", "N=8", "--backend", "opencl"][..]] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_noether"))
            .args(args)
            .env("OCL_ICD_VENDORS", vendors.path())
            .output()
            .expect("the binary runs");
        let stderr = crate::support::text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("noether::opencl::unavailable"), "{stderr}");
        assert!(stderr.contains("no OpenCL platform"), "{stderr}");
        assert!(stderr.contains("pocl-opencl-icd"), "{stderr}");
    }
}
