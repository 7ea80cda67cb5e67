//! Calls: built-in math (applied pointwise to fields) and inlined `fn`s with overloads.

use std::sync::Arc;

use crate::autodiff::forward;
use crate::builtins::Builtin;
use crate::model::Affine;
use crate::model::{Draw, FieldId, FieldKind, Node};
use crate::ops::{BuiltinOp, builtin_op};
use crate::resolve::{Callee, FnDef, ItemId, ItemKind, LocalId, Origin, RExpr, RKind};

use super::elab::{Binding, Elab, Env, FieldVal, Implicit, Kind, R, Value, binary, unary};
use super::error::CheckError;
use super::{Reported, shape_text};

impl<'r> Elab<'_, 'r, '_> {
    pub fn call(&mut self, callee: Callee, args: &'r [RExpr], e: &'r RExpr, env: &Env<'r>) -> R<Value<'r>> {
        match callee {
            Callee::Builtin(builtin) => self.builtin(builtin, args, e, env),
            Callee::Fn(item) => self.fn_call(item, args, e, env),
        }
    }

    fn builtin(&mut self, builtin: Builtin, args: &'r [RExpr], e: &'r RExpr, env: &Env<'r>) -> R<Value<'r>> {
        let span = env.span(e);
        if !builtin.arity().accepts(args.len()) {
            return Err(self.report(CheckError::Arity {
                name: builtin.name().into(),
                expected: builtin.arity().describe(),
                found: count_given(args.len()),
                span,
                help: format!("call it as `{}`", builtin_example(builtin)),
            }));
        }
        match builtin {
            Builtin::Grad => return self.gradient_field(args, e, env),
            Builtin::Diff => return self.derivative(args, e, env),
            _ => {}
        }
        let operands: Vec<&'r RExpr> = args.iter().collect();
        let Some(op) = builtin_op(builtin) else {
            let draw = if builtin == Builtin::Normal { Draw::Normal } else { Draw::Uniform };
            if args.len() > 5 {
                return Err(self.report(CheckError::Arity {
                    name: builtin.name().into(),
                    expected: "a seed and at most 4 more".into(),
                    found: count_given(args.len()),
                    span,
                    help: format!(
                        "a draw is keyed by its seed and counted by up to four numbers, e.g. `{}`",
                        builtin_example(builtin)
                    ),
                }));
            }
            return self.operator_with(e, env, &operands, &vec![Kind::Num; operands.len()], Kind::Num, |xs| {
                Arc::new(Node::Random(draw, xs.to_vec()))
            });
        };
        self.operator_with(e, env, &operands, &vec![Kind::Num; operands.len()], Kind::Num, |xs| match op {
            BuiltinOp::Unary(u) => unary(u, xs[0].clone()),
            BuiltinOp::Binary(b) => binary(b, xs[0].clone(), xs[1].clone()),
        })
    }

    /// `grad(E, x)`: a field of `x`'s shape, the derivative of the named scalar `E`.
    fn gradient_field(&mut self, args: &'r [RExpr], e: &'r RExpr, env: &Env<'r>) -> R<Value<'r>> {
        let resolved = self.ck.resolved;
        let scalar = match &args[0].kind {
            RKind::Item(id) if matches!(resolved.item(*id).kind, ItemKind::Named { .. }) => {
                resolved.item(*id).name.clone()
            }
            _ => {
                return Err(self.report(CheckError::Model {
                    message: "`grad` differentiates a named scalar".into(),
                    span: env.span(&args[0]),
                    label: "not an energy, loss or observable".into(),
                    help: "declare the scalar, e.g. `energy E = sum(i) x[i]^2`, and write `grad(E, x)`".into(),
                }));
            }
        };
        let field = match &args[1].kind {
            RKind::Item(id) => self.ck.field_of(*id),
            _ => None,
        };
        let variable = |f: &FieldId| {
            matches!(self.ck.fields[f.index()].kind, FieldKind::State { .. } | FieldKind::Param | FieldKind::Let)
        };
        let Some(wrt) = field.filter(variable) else {
            let help = match field {
                Some(f) => format!(
                    "`{}` is a {} field, which has no derivative; differentiate by a state, param or let",
                    self.ck.fields[f.index()].name,
                    self.ck.fields[f.index()].kind.describe()
                ),
                None => "name the field, e.g. `grad(E, x)`".into(),
            };
            return Err(self.report(CheckError::Model {
                message: "`grad` differentiates with respect to a state, param or let field".into(),
                span: env.span(&args[1]),
                label: "not a state, param or let".into(),
                help,
            }));
        };
        let field = self.ck.gradient_field(&scalar, wrt, env.span(e));
        self.field(field, false, e, env)
    }

    /// `diff(expr, s)`: the derivative of `expr` by the function parameter `s`, in forward
    /// mode (see [`crate::autodiff::forward`]).
    fn derivative(&mut self, args: &'r [RExpr], e: &'r RExpr, env: &Env<'r>) -> R<Value<'r>> {
        let by_parameter = |message: &str| CheckError::Model {
            message: message.into(),
            span: env.span(&args[1]),
            label: "not a function parameter".into(),
            help: "inside `fn f(s) = ...`, write `diff(expr, s)`; to differentiate a named scalar by a field, \
                   use `grad(E, x)`"
                .into(),
        };
        let RKind::Local(local) = args[1].kind else {
            return Err(self.report(by_parameter("`diff` differentiates by a scalar function parameter")));
        };
        let point = match env.binding(local).clone() {
            Binding::Arg(arg, arg_env) => {
                self.scalar(arg, &arg_env.with_implicit(env.implicit.clone()), "the variable of `diff`")?
            }
            Binding::Scalar(_, _, value, kind) => {
                self.expect(Value::Scalar(value, kind), Kind::Num, env.span(&args[1]), "the variable of `diff`")?
            }
            Binding::Value(value) => value,
            Binding::Index(_) => {
                return Err(self.report(by_parameter("`diff` differentiates by a function parameter, not an index")));
            }
            Binding::Unset => return Err(Reported),
        };
        let marker = forward::marker(point);
        let inner = env.bind(local, Binding::Value(marker.clone()));
        let expr = self.scalar(&args[0], &inner, "the expression `diff` differentiates")?;
        // The derivative is taken by recursion on the expression: bound its depth first.
        self.not_too_deep(&expr, env.span(&args[0]))?;
        match forward::derivative(&expr, &marker) {
            Ok(derivative) => Ok(Value::Scalar(forward::unmark(&derivative, &marker), Kind::Num)),
            Err(forward::Unsupported(what)) => Err(self.report(CheckError::Unsupported {
                feature: format!("`diff` of {what}"),
                span: env.span(e),
                help: "a max or min has a kink where it switches; write the derivative out by hand".into(),
            })),
        }
    }

    fn fn_call(&mut self, item: ItemId, args: &'r [RExpr], e: &'r RExpr, env: &Env<'r>) -> R<Value<'r>> {
        let span = env.span(e);
        let resolved = self.ck.resolved;
        let fn_item = resolved.item(item);
        let ItemKind::Fn { overloads } = &fn_item.kind else { return Err(Reported) };
        let name = fn_item.name.as_str();

        let by_arity: Vec<&'r FnDef> = overloads.iter().filter(|d| d.params == args.len()).collect();
        if by_arity.is_empty() {
            let mut counts: Vec<usize> = overloads.iter().map(|d| d.params).collect();
            counts.dedup();
            let expected = counts.iter().map(|c| count_args(*c)).collect::<Vec<_>>().join(" or ");
            return Err(self.report(CheckError::Arity {
                name: name.into(),
                expected,
                found: count_given(args.len()),
                span,
                help: format!("its definition: {}", signatures(name, overloads)),
            }));
        }

        // Every argument, elaborated once: its shape picks the definition that reads it with
        // that many axes, and a scalar's value is what the parameter stands for.
        let mut arg_values = Vec::with_capacity(args.len());
        for arg in args {
            arg_values.push(self.elab(arg, &env.with_implicit(None))?);
        }
        let arg_extents: Vec<Option<Vec<usize>>> = arg_values
            .iter()
            .map(|value| match value {
                Value::Scalar(..) => None,
                Value::Field(field) => Some(field.extents.clone()),
            })
            .collect();
        let fits = |d: &&FnDef| {
            d.param_ranks.iter().zip(&arg_extents).all(|(rank, arg)| match (rank, arg) {
                (Some(rank), Some(arg)) => arg.len() == *rank,
                (Some(_), None) => false,
                (None, _) => true,
            })
        };
        let candidates: Vec<&'r FnDef> = by_arity.into_iter().filter(fits).collect();
        let wanted = env.implicit.as_ref().map(|i| i.indices.len());
        let Some(def) = pick(&candidates, wanted) else {
            let found = arg_extents
                .iter()
                .map(|a| a.as_ref().map_or("a scalar".to_string(), |x| format!("a field of shape {}", shape_text(x))))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(self.report(CheckError::NoOverload {
                name: name.into(),
                span,
                found: format!("given {found}"),
                help: format!("definitions: {}", signatures(name, overloads)),
            }));
        };

        let mut callee_env = Env::new(&def.body.locals);
        callee_env.site = if fn_item.origin == Origin::User { None } else { Some(span) };
        for (k, (arg, value)) in args.iter().zip(arg_values).enumerate() {
            let binding = match value {
                Value::Scalar(expr, kind) => Binding::Scalar(arg, env.clone(), expr, kind),
                Value::Field(_) => Binding::Arg(arg, env.clone()),
            };
            callee_env = callee_env.bind(LocalId(k as u32), binding);
        }

        if def.rank == 0 {
            // A scalar function of fields is applied point by point.
            let broadcast: Vec<&Vec<usize>> = def
                .param_ranks
                .iter()
                .zip(&arg_extents)
                .filter_map(|(rank, arg)| if rank.is_none() { arg.as_ref() } else { None })
                .collect();
            if env.implicit.is_none() && !broadcast.is_empty() {
                if let Some(other) = broadcast.iter().find(|x| **x != broadcast[0]) {
                    return Err(self.report(CheckError::ShapeMismatch {
                        message: format!(
                            "`{name}` is applied to fields of shapes {} and {}",
                            shape_text(broadcast[0]),
                            shape_text(other)
                        ),
                        span,
                        label: "arguments of different shapes".into(),
                        help: "index the arguments explicitly".into(),
                    }));
                }
                let extents = broadcast[0].clone();
                return Ok(Value::Field(FieldVal { extents, kind: Kind::Num, expr: e, env: env.clone() }));
            }
            callee_env.implicit = env.implicit.clone();
            return self.result_of(def, &callee_env, name, span);
        }

        let Some(implicit) = env.implicit.clone() else {
            let extents = self.fn_extents(def, &callee_env, name)?;
            return Ok(Value::Field(FieldVal { extents, kind: Kind::Num, expr: e, env: env.clone() }));
        };
        if implicit.indices.len() != def.rank {
            let what = format!("`{name}(...)`");
            let extents = self.fn_extents(def, &callee_env, name)?;
            return Err(self.fit(&what, &extents, &implicit, span).err().unwrap_or(Reported));
        }
        if implicit.point_free {
            let extents = self.fn_extents(def, &callee_env, name)?;
            self.fit(&format!("`{name}(...)`"), &extents, &implicit, span)?;
        }
        for (k, index) in implicit.indices.iter().enumerate() {
            callee_env = callee_env.bind(LocalId((def.params + k) as u32), Binding::Index(index.clone()));
        }
        callee_env.implicit =
            Some(Arc::new(Implicit { indices: implicit.indices.clone(), point_free: false, site: None }));
        self.result_of(def, &callee_env, name, span)
    }

    /// The body of `def` elaborated in `env`; it must be a scalar.
    fn result_of(&mut self, def: &'r FnDef, env: &Env<'r>, name: &str, span: crate::diag::Span) -> R<Value<'r>> {
        match self.elab(&def.body.expr, env)? {
            Value::Field(field) => Err(self.report(CheckError::NotScalar {
                what: format!("the result of `{name}`"),
                shape: shape_text(&field.extents),
                span,
                help: format!("declare output indices: `fn {name}(...)[i] = ...`"),
            })),
            scalar => Ok(scalar),
        }
    }

    /// The output extents of a field function applied to these arguments, learnt by
    /// elaborating its body in a scratch elaborator over fresh index variables.
    fn fn_extents(&mut self, def: &'r FnDef, callee_env: &Env<'r>, name: &str) -> R<Vec<usize>> {
        let mut probe = Elab { ck: &mut *self.ck, vars: self.vars.clone(), reads: Vec::new() };
        let mut env = callee_env.clone();
        let mut vars = Vec::with_capacity(def.rank);
        for k in 0..def.rank {
            let local = &def.body.locals[def.params + k];
            let var = probe.new_var(&local.name, local.extent, env.site.unwrap_or(local.span));
            env = env.bind(LocalId((def.params + k) as u32), Binding::Index(Affine::var(var)));
            vars.push(var);
        }
        let indices = vars.iter().map(|v| Affine::var(*v)).collect();
        env.implicit = Some(Arc::new(Implicit { indices, point_free: false, site: None }));
        probe.elab(&def.body.expr, &env)?;
        let mut extents = Vec::with_capacity(vars.len());
        for var in vars {
            let info = &probe.vars[var.index()];
            match info.extent {
                Some(extent) => extents.push(extent),
                None => {
                    let (var_name, var_span) = (info.name.clone(), info.span);
                    return Err(probe.report(CheckError::CannotInfer {
                        name: var_name.clone(),
                        span: var_span,
                        help: format!(
                            "`{var_name}` of `{name}` is not used to read a field; give its extent: `fn {name}(...)[..., {var_name} < 3]`"
                        ),
                    }));
                }
            }
        }
        Ok(extents)
    }
}

/// The definition to use: the only candidate, else the one with the wanted number of output
/// indices, else a scalar function (applied pointwise).
fn pick<'d>(candidates: &[&'d FnDef], wanted: Option<usize>) -> Option<&'d FnDef> {
    if let [only] = candidates {
        return Some(only);
    }
    if let Some(rank) = wanted {
        if let Some(def) = candidates.iter().find(|d| d.rank == rank) {
            return Some(def);
        }
    }
    candidates.iter().find(|d| d.rank == 0).copied()
}

fn count_args(n: usize) -> String {
    if n == 1 { "1 argument".into() } else { format!("{n} arguments") }
}

fn count_given(n: usize) -> String {
    count_args(n)
}

/// `laplacian(f)[i]`, `laplacian(f)[i, j]` ...
fn signatures(name: &str, overloads: &[FnDef]) -> String {
    overloads
        .iter()
        .map(|d| {
            let params: Vec<&str> = d.body.locals[..d.params].iter().map(|l| l.name.as_str()).collect();
            let indices: Vec<&str> =
                d.body.locals[d.params..d.params + d.rank].iter().map(|l| l.name.as_str()).collect();
            if indices.is_empty() {
                format!("{name}({})", params.join(", "))
            } else {
                format!("{name}({})[{}]", params.join(", "), indices.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn builtin_example(builtin: Builtin) -> String {
    match builtin.arity() {
        crate::builtins::Arity::Exactly(1) => format!("{}(x)", builtin.name()),
        crate::builtins::Arity::Exactly(2) => format!("{}(a, b)", builtin.name()),
        _ => format!("{}(seed, i)", builtin.name()),
    }
}
