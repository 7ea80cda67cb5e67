//! The OpenCL engine (on POCL in CI) beyond the parity and physics tests every engine runs:
//! gradients through long runs, the device's own math, devices that cannot be used.

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
        let options = noether::GradientOptions { checkpoints: Some(32) };
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
