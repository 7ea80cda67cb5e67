//! Second-order systems for the symplectic integrators (`verlet`, `leapfrog`).
//!
//! Input: a checked model whose `run` names a symplectic integrator. Output: its position and
//! velocity states ([`SecondOrder`]), or a diagnostic at the equation that breaks the form:
//! - exactly two equations, both `d/dt` (an SDE is refused earlier, with the integrator);
//! - `d/dt x = v`: the position's rate is the velocity state itself, read at the same point, and
//!   the two states have one shape;
//! - `d/dt v = a`: the acceleration may read the positions, params, data, states without an
//!   equation, lets, gradients such as `-grad(E, x)`, and the time `t`, but not the velocity,
//!   directly or through lets and gradients (a kick would then change its own force). A mass is
//!   part of `a`: `d/dt v = -grad(E, x) / m` with `m` a const, a param or a non-evolving field
//!   (`d/dt v[p, k] = -grad(E, x)[p, k] / m[p]`).
//!
//! Example: `d/dt x = v` and `d/dt v = -grad(E, x)` give position `x` and velocity `v`; with
//! `d/dt v = -grad(E, x) - 0.1 * v` the second equation is refused: it reads `v`.

use crate::model::{Def, Equation, EquationKind, FieldId, FieldKind, Model, Node, Run, SecondOrder};

use super::error::CheckError;

/// The position and velocity of `model`'s equations for `run`'s integrator.
pub(super) fn recognise(model: &Model, run: &Run) -> Result<SecondOrder, CheckError> {
    let integrator = run.integrator.name();
    let problem = |problem: String, span, label: String, help: String| CheckError::SecondOrder {
        integrator,
        problem,
        span,
        label,
        help,
    };
    let rates: Vec<(&Equation, &Def)> = model
        .equations
        .iter()
        .filter_map(|eq| match &eq.kind {
            EquationKind::Ode { rhs } => Some((eq, rhs)),
            EquationKind::Sde { .. } => None,
        })
        .collect();
    let name = |field: FieldId| model.field(field).name.as_str();
    let form = "a position `x` and a velocity `v` with `d/dt x = v` and `d/dt v = ...`, the acceleration";
    if rates.len() != 2 {
        let (span, label) = match rates.get(2) {
            Some((third, _)) => (third.span, format!("a third evolving state, `{}`", name(third.state))),
            None => (run.span, format!("{} `d/dt` equation{}", rates.len(), if rates.len() == 1 { "" } else { "s" })),
        };
        return Err(problem(
            format!("it takes exactly two equations, found {}", rates.len()),
            span,
            label,
            format!("write {form}; `rk4` integrates other systems"),
        ));
    }
    let plain = [0, 1].into_iter().find(|&i| is_plain_read(rates[i].1, rates[1 - i].0.state));
    let Some(p) = plain else {
        let (first, second) = (rates[0].0, rates[1].0);
        return Err(problem(
            "neither equation is `d/dt x = v`".into(),
            first.span,
            format!("the rate of `{}` is not the state `{}` itself", name(first.state), name(second.state)),
            format!(
                "make the position's rate exactly the velocity state, `d/dt {} = {}`, and write \
                 forces and masses into `d/dt {} = F / m`; `rk4` integrates other systems",
                name(first.state),
                name(second.state),
                name(second.state)
            ),
        ));
    };
    let ((position_eq, _), (velocity_eq, acceleration)) = (rates[p], rates[1 - p]);
    let (position, velocity) = (position_eq.state, velocity_eq.state);
    let (x_shape, v_shape) = (model.field(position).shape.extents(), model.field(velocity).shape.extents());
    if x_shape != v_shape {
        return Err(problem(
            format!("`{}` and `{}` have different shapes", name(position), name(velocity)),
            position_eq.span,
            format!("`{}` is {x_shape:?}, `{}` is {v_shape:?}", name(position), name(velocity)),
            "the positions and velocities must have one shape, one velocity per coordinate".into(),
        ));
    }
    if let Some(path) = reaches(model, acceleration, velocity, &mut Vec::new()) {
        let through = match path.as_slice() {
            [] => String::new(),
            fields => {
                let names: Vec<String> = fields.iter().map(|f| describe(model, *f)).collect();
                format!(" through {}", names.join(" and "))
            }
        };
        return Err(problem(
            format!("the acceleration depends on the velocity `{}`", name(velocity)),
            velocity_eq.span,
            format!("reads `{}`{through}", name(velocity)),
            format!(
                "a kick must not change its own force: write forces of the positions, params, data \
                 and `t` alone; a velocity-dependent force (friction, a magnetic field) needs `rk4` \
                 or `heun`, which integrate `d/dt {} = ...` as it is",
                name(velocity)
            ),
        ));
    }
    Ok(SecondOrder { position, velocity })
}

/// A derived field as the script writes it: `` `w` `` or `` `grad(E, x)` ``.
fn describe(model: &Model, field: FieldId) -> String {
    match &model.field(field).kind {
        FieldKind::Grad { scalar, wrt } => format!("`grad({scalar}, {})`", model.field(*wrt).name),
        _ => format!("`{}`", model.field(field).name),
    }
}

/// Whether `def` is the field `state` read at the definition's own point.
fn is_plain_read(def: &Def, state: FieldId) -> bool {
    match &*def.expr {
        Node::Read(read) => {
            read.field == state
                && read.index.len() == def.rank
                && read.index.iter().enumerate().all(|(axis, a)| a.single_var().map(|v| v.index()) == Some(axis))
                && read.index.iter().all(|a| a.offset == 0)
        }
        _ => false,
    }
}

/// The lets and gradients through which `def` reads `target` (empty when it reads it directly),
/// or `None` when it does not. `visiting` holds the derived fields on the current path.
fn reaches(model: &Model, def: &Def, target: FieldId, visiting: &mut Vec<FieldId>) -> Option<Vec<FieldId>> {
    let mut fields = Vec::new();
    crate::model::walk(&def.expr, &mut |node| {
        if let Node::Read(read) = node {
            if !fields.contains(&read.field) {
                fields.push(read.field);
            }
        }
    });
    if fields.contains(&target) {
        return Some(Vec::new());
    }
    for field in fields {
        if visiting.contains(&field) {
            continue;
        }
        let info = model.field(field);
        let inner = match &info.kind {
            FieldKind::Let => info.def.as_ref(),
            FieldKind::Grad { scalar, .. } => model.scalar_named(scalar).map(|s| &s.def),
            _ => None,
        };
        let Some(inner) = inner else { continue };
        visiting.push(field);
        let found = reaches(model, inner, target, visiting);
        visiting.pop();
        if let Some(mut path) = found {
            path.insert(0, field);
            return Some(path);
        }
    }
    None
}
