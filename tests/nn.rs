//! `std.nn` (its networks, initialisers and activations against the formulas written here) and
//! mini-batches keyed by `iteration`.

use noether::runtime::FitOptions;
use noether::{Backend, Model, Source};

const H: usize = 4;

/// A deterministic weight for element `k` of a param: spread over [-1, 1].
fn weight(k: usize, salt: f64) -> f64 {
    ((k as f64 + 1.0) * 0.7548776662466927 + salt).sin()
}

/// `W2[o, h] * tanh(...)` summed, for inputs `z` and first-layer weights as the script has them.
fn hidden(w1: &[f64], b1: &[f64], inputs: &[f64], h: usize) -> f64 {
    let width = inputs.len();
    (inputs.iter().enumerate().map(|(c, z)| w1[h * width + c] * z).sum::<f64>() + b1[h]).tanh()
}

#[test]
fn networks_initialisers_and_activations_match_their_formulas() {
    let text = "use std.nn\nparam W1 : [h < 4, c < 2] = 0\nparam b1 : [h < 4] = 0\nparam W2 : [h < 4] = 0\n\
                param V2 : [o < 3, h < 4] = 0\nparam c2 : [o < 3] = 0\nparam U2 : [g < 3, h < 4] = 0\n\
                param d2 : [g < 3] = 0\nparam U3 : [g < 3] = 0\nparam b2 = 0.25\n\
                observe one = mlp1(W1, b1, W2, b2, 0.3)\nobserve two = mlp2(W1, b1, W2, b2, 0.3, -0.7)\n\
                observe out = mlp2_out(W1, b1, V2, c2, 2, 0.3, -0.7)\n\
                observe deep = deep2(W1, b1, U2, d2, U3, b2, 0.3, -0.7)\n\
                observe inits = glorot(1.5, 2, 6) + he(-0.5, 8)\nobserve acts = silu(0.4) + gelu(-1.3)\n";
    let model = Model::from_source(Source::new("nn.noe", text), &[], ".").unwrap_or_else(|f| panic!("{f:?}"));
    let mut sim = model.simulator(Backend::Jit).unwrap_or_else(|f| panic!("{f:?}"));
    let mut set = |name: &str, shape: &[usize], salt: f64| {
        let values: Vec<f64> = (0..shape.iter().product()).map(|k| weight(k, salt)).collect();
        let array = ndarray::ArrayD::from_shape_vec(shape.to_vec(), values.clone()).expect("shape");
        sim.set_param_array(name, &array.view()).unwrap_or_else(|f| panic!("{f:?}"));
        values
    };
    let (w1, b1, w2) = (set("W1", &[H, 2], 0.1), set("b1", &[H], 0.2), set("W2", &[H], 0.3));
    let (v2, c2) = (set("V2", &[3, H], 0.4), set("c2", &[3], 0.5));
    let (u2, d2, u3) = (set("U2", &[3, H], 0.6), set("d2", &[3], 0.7), set("U3", &[3], 0.8));
    let b2 = 0.25;
    // mlp1 reads the first input column only: W1[h, 0] at row stride 2.
    let one = b2 + (0..H).map(|h| w2[h] * (w1[2 * h] * 0.3 + b1[h]).tanh()).sum::<f64>();
    let two = b2 + (0..H).map(|h| w2[h] * hidden(&w1, &b1, &[0.3, -0.7], h)).sum::<f64>();
    let out = c2[2] + (0..H).map(|h| v2[2 * H + h] * hidden(&w1, &b1, &[0.3, -0.7], h)).sum::<f64>();
    let deep = b2
        + (0..3)
            .map(|g| {
                let inner = d2[g] + (0..H).map(|h| u2[g * H + h] * hidden(&w1, &b1, &[0.3, -0.7], h)).sum::<f64>();
                u3[g] * inner.tanh()
            })
            .sum::<f64>();
    let inits = 1.5 * (2.0_f64 / 8.0).sqrt() - 0.5 * (2.0_f64 / 8.0).sqrt();
    let gelu = 0.5 * -1.3 * (1.0 + (0.7978845608028654_f64 * (-1.3 + 0.044715 * -1.3_f64.powi(3))).tanh());
    let acts = 0.4 / (1.0 + (-0.4_f64).exp()) + gelu;
    for (name, expected) in [("one", one), ("two", two), ("out", out), ("deep", deep), ("inits", inits), ("acts", acts)]
    {
        let got = sim.scalar(name).unwrap_or_else(|f| panic!("{f:?}"));
        assert!((got - expected).abs() <= 1e-14 * expected.abs().max(1.0), "{name}: {got} vs {expected}");
    }
}

/// `iteration` keys mini-batches: Adam's iteration k trains on exactly the points the same
/// script draws with `k` written in place of `iteration`, on every engine; the fitted loss is
/// reported on iteration 0's points.
#[test]
fn minibatches_are_drawn_from_the_iteration() {
    let script = |key: &str| {
        format!(
            "param a = 0\nlet x[p < 32] = uniform(1, p, {key})\nloss L = mean(p) (a - x[p])^2\n\
             fit a minimizing L with adam(lr = 1e-300, iters = 6)\n"
        )
    };
    let simulator = |text: &str, backend: Backend| {
        let model = Model::from_source(Source::new("batches.noe", text), &[], ".").unwrap_or_else(|f| panic!("{f:?}"));
        model.simulator(backend).unwrap_or_else(|f| panic!("{f:?}"))
    };
    // With a step of 1e-300, `a - x` is `-x` to the bit: each loss is its batch's mean square.
    let fixed = |k: usize| simulator(&script(&k.to_string()), Backend::Interp).scalar("L").expect("a loss");
    for backend in [Backend::Interp, Backend::Jit] {
        let mut sim = simulator(&script("iteration"), backend);
        let result = sim.fit(FitOptions::default(), &mut |_| {}).unwrap_or_else(|f| panic!("{f:?}"));
        for (k, it) in result.history.iter().enumerate() {
            assert_eq!(it.loss.to_bits(), fixed(k + 1).to_bits(), "{backend:?}: iteration {}", k + 1);
        }
        assert_ne!(result.history[0].loss, result.history[1].loss, "a new batch each iteration");
        assert_eq!(result.final_loss.to_bits(), fixed(0).to_bits(), "{backend:?}: reported on iteration 0");
    }
}

/// A two-layer network in stored lets: the loss's adjoint reads each layer's stored `tanh`
/// instead of computing it again for every weight it gathers (one `tanh` per weight and point
/// made these kernels most of a training step), with the gradient still that of the finite
/// differences.
#[test]
fn a_stored_layer_is_read_back_not_recomputed_by_the_adjoint() {
    let text = "param W1 : [h < 5, c < 2] = 0.4 * normal(1, h, c)\nparam W2 : [g < 4, h < 5] = 0.4 * normal(2, g, h)\n\
                param w3 : [g < 4] = normal(3, g)\n\
                let u1[b < 16, h < 5] = tanh(W1[h, 0] * b / 16 + W1[h, 1])\n\
                let u2[b < 16, g < 4] = tanh(sum(h) W2[g, h] * u1[b, h])\n\
                loss L = mean(b) (sum(g) w3[g] * u2[b, g] - sin(b / 4))^2\n";
    let model = Model::from_source(Source::new("layers.noe", text), &[], ".").unwrap_or_else(|f| panic!("{f:?}"));
    let gradient = model.gradient_program(Some("L")).unwrap_or_else(|f| panic!("{f:?}"));
    let program = &gradient.program;
    let tanh_in_adjoint = program.procedure(gradient.loss_vjp).kernels.iter().any(|k| {
        program
            .kernel(*k)
            .nodes
            .iter()
            .any(|n| matches!(n, noether::compiler::ir::Node::Unary(noether::compiler::ops::Unary::Tanh, _)))
    });
    assert!(!tanh_in_adjoint, "{}", noether::compiler::ir::print(program));
    for backend in [Backend::Interp, Backend::Jit] {
        let mut sim = model.simulator(backend).unwrap_or_else(|f| panic!("{f:?}"));
        let gradient = sim.gradient("L", &["W1", "W2", "w3"]).unwrap_or_else(|f| panic!("{f:?}"));
        for check in sim.check_gradient(&gradient).unwrap_or_else(|f| panic!("{f:?}")) {
            assert!(check.passes(), "{backend:?}: {check:?}");
        }
    }
}
