use super::*;
use crate::diag::{Sink, Source};
use crate::stdlib;

fn run(text: &str, overrides: &[Override]) -> (Option<Resolved>, Vec<String>) {
    let source = Source::new("test.noe", text);
    let mut sink = Sink::default();
    let module = crate::syntax::parse_into(&source.text, &mut sink);
    assert!(sink.is_empty(), "test scripts must parse");
    let resolved = resolve(&module, overrides, &mut sink);
    let codes = sink.finish(&source, ()).err().map(|f| f.codes()).unwrap_or_default();
    (resolved, codes)
}

fn item<'r>(resolved: &'r Resolved, name: &str) -> &'r Item {
    resolved.items.iter().find(|i| i.name == name && i.origin == Origin::User).expect("declared")
}

#[test]
fn every_stdlib_module_resolves_cleanly() {
    for module in stdlib::importable() {
        let (resolved, codes) = run(&format!("use std.{module}\n"), &[]);
        assert!(codes.is_empty(), "std.{module}: {codes:?}");
        assert!(resolved.is_some());
    }
}

#[test]
fn consts_fold_in_any_order_with_real_division() {
    let (resolved, codes) = run("const b = a / 3\nconst a = 2 * N\nconst N = 3 // 2\n", &[]);
    assert!(codes.is_empty(), "{codes:?}");
    let resolved = resolved.expect("resolves");
    let ItemKind::Const { value } = item(&resolved, "b").kind else { panic!() };
    assert!((value - 2.0 / 3.0).abs() < 1e-15);
}

#[test]
fn overrides_replace_consts_and_params() {
    let overrides = [Override { name: "N".into(), value: 8.0 }, Override { name: "D".into(), value: 0.5 }];
    let (resolved, codes) = run("const N = 4\nparam D = 0.1\nstate u : [i < N] = D\n", &overrides);
    assert!(codes.is_empty(), "{codes:?}");
    let resolved = resolved.expect("resolves");
    let ItemKind::State { shape, .. } = &item(&resolved, "u").kind else { panic!() };
    assert_eq!(shape.extents(), vec![8]);
    let ItemKind::Param { init, .. } = &item(&resolved, "D").kind else { panic!() };
    assert!(matches!(init.expr.kind, RKind::Num(v) if v == 0.5));
}

#[test]
fn reports_unknown_duplicate_cycle_and_bad_override() {
    let (_, codes) = run(
        "const a = b\nconst b = a\nconst c = 1\nconst c = 2\nloss L = zz\n",
        &[Override { name: "nope".into(), value: 1.0 }],
    );
    assert!(codes.contains(&"noether::resolve::const_cycle".to_string()), "{codes:?}");
    assert!(codes.contains(&"noether::resolve::duplicate".to_string()));
    assert!(codes.contains(&"noether::resolve::unknown_name".to_string()));
    assert!(codes.contains(&"noether::resolve::unknown_override".to_string()));
}

#[test]
fn user_functions_shadow_the_prelude_and_overloads_are_grouped() {
    let (resolved, codes) = run("fn relu(x) = x\nfn f(u)[i] = u[i]\nfn f(u)[i, j] = u[i, j]\n", &[]);
    assert!(codes.is_empty(), "{codes:?}");
    let resolved = resolved.expect("resolves");
    let ItemKind::Fn { overloads } = &item(&resolved, "f").kind else { panic!() };
    assert_eq!(overloads.iter().map(|o| o.rank).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(overloads[1].param_ranks, vec![Some(2)]);
}

#[test]
fn sde_differentials_resolve_only_in_sdes() {
    let text = "state X : [p < 2] = 1\nnoise W : [p < 2]\nd X = X * dt + dW[p]\n";
    let (resolved, codes) = run(text, &[]);
    assert!(codes.is_empty(), "{codes:?}");
    let eq = &resolved.expect("resolves").equations[0];
    assert_eq!(eq.kind, EquationKind::Sde);
    let (_, codes) = run("state X = 1\nd/dt X = dt\n", &[]);
    assert_eq!(codes, vec!["noether::resolve::unknown_name".to_string()]);
}

#[test]
fn rules_and_modifiers() {
    let (resolved, codes) =
        run("shape G = [i < 3] periodic\nstate s : G dirichlet(2) spin = 1\nstate v : G = 0\n", &[]);
    assert!(codes.is_empty(), "{codes:?}");
    let resolved = resolved.expect("resolves");
    let ItemKind::State { shape, spin, .. } = &item(&resolved, "s").kind else { panic!() };
    assert_eq!(shape.dims[0].rule, Rule::Dirichlet(2.0));
    assert!(*spin);
    let ItemKind::State { shape, .. } = &item(&resolved, "v").kind else { panic!() };
    assert_eq!(shape.dims[0].rule, Rule::Periodic);
    let (_, codes) = run("state s : [i < 3] periodc = 1\n", &[]);
    assert_eq!(codes, vec!["noether::resolve::unknown_modifier".to_string()]);
}

#[test]
fn overrides_parse_as_set_takes_them() {
    assert_eq!(" N = 512".parse::<Override>(), Ok(Override::new("N", 512.0)));
    assert_eq!("D=-0.5".parse::<Override>(), Ok(Override::new("D", -0.5)));
    for bad in ["N", "N=x", "D=nan", "D=inf"] {
        assert!(bad.parse::<Override>().is_err(), "{bad}");
    }
}
