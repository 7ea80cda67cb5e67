use crate::diag::Source;
use crate::model::{Access, EquationKind, Model, display_def};

fn checked(text: &str) -> Model {
    match crate::check_source(&Source::new("test.noe", text), &[]) {
        Ok(model) => model,
        Err(failure) => panic!("{failure:?}"),
    }
}

fn codes(text: &str) -> Vec<String> {
    match crate::check_source(&Source::new("test.noe", text), &[]) {
        Ok(_) => Vec::new(),
        Err(failure) => failure.codes(),
    }
}

fn rate(model: &Model, index: usize) -> String {
    match &model.equations[index].kind {
        EquationKind::Ode { rhs } => display_def(model, rhs),
        EquationKind::Sde { .. } => panic!("not an ODE"),
    }
}

#[test]
fn point_free_and_indexed_equations_mean_the_same() {
    let base = "param D = 0.2\nstate u : [i < 8, j < 8] periodic = 0\n";
    let a = checked(&format!("{base}d/dt u = D * laplacian(u)\n"));
    let b = checked(&format!("{base}d/dt u[i, j] = D * laplacian(u)[i, j]\n"));
    assert_eq!(rate(&a, 0), rate(&b, 0));
    assert_eq!(
        rate(&a, 0),
        "[i < 8, j < 8] mul(D[], sub(add(add(add(u[i - 1, j], u[i + 1, j]), u[i, j - 1]), u[i, j + 1]), mul(4, u[i, j])))"
    );
}

#[test]
fn periodic_reads_outside_are_marked_and_inside_are_direct() {
    let model = checked("state u : [i < 8] periodic = 0\nd/dt u = u[i + 1] - u\n");
    let EquationKind::Ode { rhs } = &model.equations[0].kind else { panic!() };
    let axes: Vec<Access> = rhs.accesses.iter().map(|a| a.axes[0]).collect();
    assert_eq!(axes, vec![Access::Periodic, Access::Direct]);
}

#[test]
fn let_extents_are_inferred_from_reads() {
    let model = checked(
        "state x : [p < 5, k < 3] = p + k\nlet d[p, q, k] = x[p, k] - x[q, k]\nlet r2[p, q] = sum(k) d[p, q, k]^2\n",
    );
    let r2 = model.field(model.field_named("r2").expect("r2")).clone();
    assert_eq!(r2.shape.extents(), vec![5, 5]);
    let d = model.field(model.field_named("d").expect("d")).clone();
    assert_eq!(d.shape.extents(), vec![5, 5, 3]);
}

#[test]
fn guarded_reads_without_rule_are_accepted() {
    let model =
        checked("state u : [i < 8] = 0\nd/dt u = if i == 0 or i == 7 then 0 else u[i - 1] - 2 * u + u[i + 1]\n");
    let EquationKind::Ode { rhs } = &model.equations[0].kind else { panic!() };
    assert!(rhs.accesses.iter().any(|a| a.axes[0] == Access::Fill && a.fill.is_nan()));
}

#[test]
fn unguarded_read_without_rule_is_out_of_range() {
    assert_eq!(codes("state u : [i < 8] = 0\nd/dt u = laplacian(u)\n"), vec!["noether::check::out_of_range"]);
    assert_eq!(
        codes("state u : [i < 8] = 0\nd/dt u = if i > 0 then u[i + 1] else 0\n"),
        vec!["noether::check::out_of_range"]
    );
}

#[test]
fn shape_errors() {
    assert_eq!(
        codes("state u : [i < 8] = 0\nstate v : [i < 4] = 0\nd/dt u = v\n"),
        vec!["noether::check::shape_mismatch"]
    );
    assert_eq!(codes("state u : [i < 8] = 0\nloss L = u\n"), vec!["noether::check::not_scalar"]);
    assert_eq!(codes("state u : [i < 8] = 0\nloss L = sum(i) u[i, i]\n"), vec!["noether::check::index_count"]);
    assert_eq!(codes("param D = 1\nloss L = D[0]\n"), vec!["noether::check::not_indexable"]);
}

#[test]
fn arity_and_overloads() {
    assert_eq!(codes("state u : [i < 8] periodic = 0\nd/dt u = laplacian(u, u)\n"), vec!["noether::check::arity"]);
    assert_eq!(codes("state u = 0\nd/dt u = exp(u, 1)\n"), vec!["noether::check::arity"]);
    let model = checked("state u : [i < 4, j < 4] periodic = 0\nlet g = gradient(u)\n");
    let g = model.field(model.field_named("g").expect("g")).clone();
    assert_eq!(g.shape.extents(), vec![4, 4, 2]);
}

#[test]
fn sde_is_split_into_drift_and_diffusion() {
    let model = checked(
        "param lambda = 2\nstate X : [p < 4] = 1\nnoise W : [p < 4]\nd X[p] = lambda * X[p] * dt + 0.5 * X[p] * dW[p]\n",
    );
    let EquationKind::Sde { drift, diffusion } = &model.equations[0].kind else { panic!() };
    assert_eq!(display_def(&model, drift), "[p < 4] mul(lambda[], X[p])");
    assert_eq!(diffusion.len(), 1);
    assert_eq!(codes("state X = 1\nnoise W : [p < 1]\nd X = X * dt * dW[0]\n"), vec!["noether::check::sde_form"]);
    assert_eq!(codes("state X = 1\nnoise W : [p < 1]\nd X = X + dW[0]\n"), vec!["noether::check::sde_form"]);
}

#[test]
fn directives_are_validated() {
    assert_eq!(
        codes("state y = 1\nd/dt y = -y\nrun euler(dt = 0.1, stps = 3)\n"),
        vec!["noether::check::unknown_option", "noether::check::missing_option"]
    );
    assert_eq!(
        codes("state y = 1\nd/dt y = -y\nrun eulr(dt = 0.1, steps = 3)\n"),
        vec!["noether::check::unknown_directive"]
    );
    assert_eq!(codes("state y = 1\nd/dt y = -y\nrun rk4(dt = -1, steps = 3)\n"), vec!["noether::check::bad_option"]);
}

#[test]
fn let_cycles_and_kinds() {
    assert_eq!(codes("let a = b + 1\nlet b = a\n"), vec!["noether::check::cycle"]);
    assert_eq!(codes("state u = 0\nd/dt u = u > 0\n"), vec!["noether::check::type_mismatch"]);
    assert_eq!(codes("state u = 0\nd/dt u = if u then 1 else 0\n"), vec!["noether::check::type_mismatch"]);
}

#[test]
fn nested_calls_elaborate_each_argument_once() {
    // Each call used to elaborate its argument to learn its shape and again where the body
    // used it: twice per level, 2^60 elaborations here.
    let calls = format!("{}u[0]{}", "f(".repeat(60), ")".repeat(60));
    let model = checked(&format!("fn f(x) = x + 1\nstate u : [i < 4] = 0\nobserve m = {calls}\n"));
    let def = &model.scalars[0].def;
    assert_eq!(display_def(&model, def).matches("add(").count(), 60);
}

#[test]
fn a_scalar_argument_still_shifts_an_index() {
    let model = checked("fn at(f, k)[i] = f[i + k]\nstate u : [i < 8] periodic = 0\nd/dt u = at(u, 1 + 1)\n");
    assert_eq!(rate(&model, 0), "[i < 8] u[i + 2]");
}

#[test]
fn a_parameter_used_twice_is_shared_not_copied() {
    // `sq(sq(...))` is a tree of 2^60 leaves written out, a DAG of 60 nodes shared; every
    // walk of the checked model must see the DAG.
    let calls = format!("{}u[i]{}", "sq(".repeat(60), ")".repeat(60));
    let model = checked(&format!("fn sq(x) = x * x\nstate u : [i < 4] = 1\nloss L = sum(i) {calls}\n"));
    assert_eq!(crate::model::nesting(&model.scalars[0].def.expr).depth, 62);
}
