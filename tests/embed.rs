//! The embedding walkthrough `examples/embed.rs`, compiled into this binary and run: what it
//! prints must agree with the physics (conserved heat, the Gaussian's decay, a gradient against
//! its central difference, a fit that lowers the loss, a rendered diagnostic).

#[path = "../examples/embed.rs"]
#[allow(dead_code, reason = "the example's `main` runs under `cargo run --example embed`")]
mod example;

/// The numbers on the line that starts with `label`, in order.
fn numbers(text: &str, label: &str) -> Vec<f64> {
    let line = text.lines().find(|l| l.starts_with(label)).unwrap_or_else(|| panic!("no `{label}` line in:\n{text}"));
    line[label.len()..].split_whitespace().filter_map(|w| w.parse().ok()).collect()
}

#[test]
fn embed_example_walkthrough_agrees_with_physics() {
    let mut printed = Vec::new();
    example::walkthrough(&mut printed).unwrap_or_else(|e| panic!("{e:?}"));
    let text = String::from_utf8(printed).expect("utf-8");
    println!("{text}");

    // Streamed every 25 steps, with the conserved total.
    let streamed: Vec<&str> = text.lines().filter(|l| l.starts_with("step")).collect();
    assert_eq!(streamed.len(), 5, "{text}");
    let [start, end] = numbers(&text, "total heat:")[..] else { panic!("{text}") };
    assert!((end - start).abs() <= 1e-12 * start, "heat not conserved: {start} -> {end}");
    // A Gaussian of width s0 = 4 holds 2 pi s0² of heat, less its tails past the plate's ±4 s0.
    assert!((start - 2.0 * std::f64::consts::PI * 16.0).abs() < 2e-4 * start, "initial heat {start}");
    for line in streamed {
        let total: f64 = line.rsplit(' ').next().and_then(|w| w.parse().ok()).expect("a number");
        assert!((total - start).abs() <= 1e-8 * start, "{line}");
    }

    // Peak of a spreading Gaussian, s0² / (s0² + 2 D t), within a few tenths of a percent (lattice and Euler corrections).
    let [peak, gaussian] = numbers(&text, "peak:")[..] else { panic!("{text}") };
    assert!((peak - gaussian).abs() < 0.005 * gaussian, "peak {peak} vs {gaussian}");

    // More diffusion, less sum of squares; the adjoint agrees with the central difference.
    let [gradient, difference] = numbers(&text, "dL/dD:")[..] else { panic!("{text}") };
    assert!(gradient < 0.0, "dL/dD = {gradient}");
    assert!((gradient - difference).abs() < 1e-5 * gradient.abs(), "{gradient} vs {difference}");

    let [before, after] = numbers(&text, "fit misfit with lbfgs: loss")[..] else { panic!("{text}") };
    assert!(after < 0.1 * before, "fit: {before} -> {after}");

    // The diagnostic, rendered by miette with its code and snippet, and as a plain error.
    assert!(text.contains("codes: noether::"), "{text}");
    assert!(text.contains("laplacian(v)"), "the report shows the snippet:\n{text}");
    assert!(text.lines().any(|l| l.starts_with("as Box<dyn Error>: ") && l.contains('v')), "{text}");
}
