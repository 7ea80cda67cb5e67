//! Which figures a finished run, sampling run or fit gets, and their file names in a folder.
//!
//! After a run or a sampling run ([`simulation`]), each state gets one figure:
//! - an *ensemble* gets `<state>_hist.png`, a histogram of its final values (one group per
//!   component when a path has up to ten). A state is an ensemble when its first axis counts
//!   paths or chains: an SDE state whose first axis has no boundary rule (paths are not
//!   neighbours: no stencil reads across them), or a state sampled in many chains;
//! - any other 2D state gets `<state>.png`, a heat map titled "`<model> <state> at t = …`";
//! - a 1D state gets `<state>.png`, a line plot against its index;
//! - a scalar or a state of more than two dimensions gets no figure but a note saying why.
//!
//! Then `observables.png` (one panel per observable against time, or against the sweep when
//! sampling), `acceptance.png` when the sampler recorded acceptance rates, and `paths.png`
//! when paths were recorded (the recorded elements of each ensemble state against time).
//! After a fit ([`fit`]): `loss.png`, the loss per iteration (on a log scale when positive).

use std::path::{Path, PathBuf};

use ndarray::{ArrayViewD, Ix2};
use noether_compiler::model::{Chains, EquationKind, FieldId, Sampler};
use noether_compiler::resolve::Rule;
use noether_runtime::error::{index_text, unflatten};
use noether_runtime::{FitResult, Schedule, Simulator};

use super::chart::Group;
use super::{Labels, Line, Panel, Scale, Size, heatmap, histogram, panels};
use crate::Failure;

/// The figures written and what was not drawn, and why.
#[derive(Clone, Debug, Default)]
pub struct Plotted {
    /// Every PNG written, in the order drawn.
    pub files: Vec<PathBuf>,
    /// One sentence per state or series left undrawn, saying why.
    pub notes: Vec<String>,
}

/// Components of an ensemble's path drawn as groups of their own at most.
const GROUPS_MAX: usize = 10;

/// Draws the figures of the run `sim` has finished into `dir` (which must exist).
pub fn simulation(sim: &Simulator, dir: &Path, size: Size) -> Result<Plotted, Failure> {
    let model = sim.model();
    let fail = |e| model.fail(e);
    let sampling = matches!(sim.schedule(), Some(Schedule::Sample(_)));
    let (clock, when) = if sampling {
        ("sweep", format!("after {} sweeps", sim.times().last().copied().unwrap_or(0.0)))
    } else {
        ("t", format!("at t = {}", sim.time()))
    };
    let mut plotted = Plotted::default();
    for id in model.checked().states() {
        match plot_state(sim, id, dir, size, &when)? {
            Ok(path) => plotted.files.push(path),
            Err(note) => plotted.notes.push(note),
        }
    }
    let series: Vec<(String, &[f64])> =
        sim.observable_names().into_iter().map(|n| sim.observable(&n).map(|s| (n, s))).collect::<Result<_, _>>()?;
    if !series.is_empty() {
        let path = dir.join("observables.png");
        let list: Vec<Panel<'_>> = series
            .iter()
            .map(|(name, s)| Panel {
                labels: Labels { title: name.clone(), x: clock.into(), y: String::new() },
                lines: vec![Line { label: name, x: sim.times(), y: s }],
                scale: Scale::Linear,
            })
            .collect();
        panels(&path, &format!("{} observables", model.name()), &list, size).map_err(fail)?;
        plotted.files.push(path);
    }
    let acceptance = &sim.acceptance().series;
    if !acceptance.is_empty() {
        let path = dir.join("acceptance.png");
        let panel = Panel {
            labels: Labels { title: String::new(), x: clock.into(), y: "fraction accepted".into() },
            lines: vec![Line { label: "acceptance", x: &sim.times()[..acceptance.len()], y: acceptance }],
            scale: Scale::Linear,
        };
        panels(&path, &format!("{} acceptance rate per recorded sweep", model.name()), &[panel], size).map_err(fail)?;
        plotted.files.push(path);
    }
    if sim.recorded_paths() > 0 {
        plot_paths(sim, dir, size, clock, &mut plotted)?;
    }
    Ok(plotted)
}

/// The figure of state `id` (its path), or a note saying why it gets none.
fn plot_state(
    sim: &Simulator,
    id: FieldId,
    dir: &Path,
    size: Size,
    when: &str,
) -> Result<Result<PathBuf, String>, Failure> {
    let model = sim.model();
    let field = model.checked().field(id);
    let name = &field.name;
    let value = sim.state(name)?;
    let title = format!("{} {name} {when}", model.name());
    let axis = |k: usize| field.shape.dims.get(k).map_or(String::new(), |d| d.name.clone());
    let drawn = if let Some(members) = ensemble(sim, id) {
        let path = dir.join(format!("{name}_hist.png"));
        let columns = components(name, &value.view());
        let groups: Vec<Group<'_>> = columns.iter().map(|(l, v)| Group { label: l, values: v }).collect();
        let title = format!("{title}: final values of {} {members}", value.shape()[0]);
        let labels = Labels { title, x: name.clone(), y: "count".into() };
        histogram(&path, &labels, &groups, size).map(|()| path)
    } else if value.ndim() == 2 {
        let path = dir.join(format!("{name}.png"));
        let field2 = value.view().into_dimensionality::<Ix2>().expect("two dimensions");
        heatmap(&path, &field2, &Labels { title, x: axis(0), y: axis(1) }, size).map(|_| path)
    } else if value.ndim() == 1 {
        let path = dir.join(format!("{name}.png"));
        let index: Vec<f64> = (0..value.len()).map(|k| k as f64).collect();
        let y: Vec<f64> = value.iter().copied().collect();
        let panel = Panel {
            labels: Labels { title: String::new(), x: axis(0), y: name.clone() },
            lines: vec![Line { label: name, x: &index, y: &y }],
            scale: Scale::Linear,
        };
        panels(&path, &title, &[panel], size).map(|()| path)
    } else if value.ndim() == 0 {
        return Ok(Err(format!("{name} is a scalar: no figure (its value is in the report)")));
    } else {
        return Ok(Err(format!(
            "{name} has {} dimensions {:?}: no figure (heat maps show two; write it with --out and slice it)",
            value.ndim(),
            value.shape()
        )));
    };
    drawn.map(Ok).map_err(|e| model.fail(e))
}

/// The final values of an ensemble: one group per component of a path when a path has up to
/// [`GROUPS_MAX`] of them (`x[:, 0]`, `x[:, 1]`), else one group of every value.
fn components(name: &str, value: &ArrayViewD<'_, f64>) -> Vec<(String, Vec<f64>)> {
    let flat: Vec<f64> = value.iter().copied().collect();
    let width = flat.len() / value.shape()[0].max(1);
    if width <= 1 || width > GROUPS_MAX {
        return vec![(name.to_string(), flat)];
    }
    (0..width)
        .map(|c| {
            let tail = index_text(&unflatten(c, &value.shape()[1..]));
            let label = format!("{name}[:, {}]", &tail[1..tail.len() - 1]);
            (label, flat.iter().skip(c).step_by(width).copied().collect())
        })
        .collect()
}

/// `paths.png`: one panel per ensemble state, its recorded elements against time.
fn plot_paths(sim: &Simulator, dir: &Path, size: Size, clock: &str, plotted: &mut Plotted) -> Result<(), Failure> {
    let model = sim.model();
    let checked = model.checked();
    let ensembles: Vec<FieldId> = checked.states().filter(|id| ensemble(sim, *id).is_some()).collect();
    if ensembles.is_empty() {
        plotted.notes.push("no ensemble state (an SDE over paths, or chains): no paths.png".into());
        return Ok(());
    }
    let mut recorded = Vec::new();
    for id in &ensembles {
        let field = checked.field(*id);
        let paths = sim.paths(&field.name)?;
        let labels: Vec<String> = (0..paths.ncols())
            .map(|k| format!("{}{}", field.name, index_text(&unflatten(k, &field.shape.extents()))))
            .collect();
        let columns: Vec<Vec<f64>> = paths.columns().into_iter().map(|c| c.to_vec()).collect();
        recorded.push((field.name.clone(), labels, columns));
    }
    let times = sim.times();
    let list: Vec<Panel<'_>> = recorded
        .iter()
        .map(|(name, labels, columns)| Panel {
            labels: Labels {
                title: format!("{name}: paths of its first {} elements", columns.len()),
                x: clock.into(),
                y: name.clone(),
            },
            lines: labels.iter().zip(columns).map(|(l, c)| Line { label: l, x: &times[..c.len()], y: c }).collect(),
            scale: Scale::Linear,
        })
        .collect();
    let path = dir.join("paths.png");
    panels(&path, &format!("{} sample paths", model.name()), &list, size).map_err(|e| model.fail(e))?;
    plotted.files.push(path);
    Ok(())
}

/// What the first axis of state `id` counts, `"paths"` or `"chains"`, when it is an ensemble
/// rather than points of space.
fn ensemble(sim: &Simulator, id: FieldId) -> Option<&'static str> {
    let checked = sim.model().checked();
    let first = checked.field(id).shape.dims.first()?;
    let sde = checked.equations.iter().any(|e| e.state == id && matches!(e.kind, EquationKind::Sde { .. }));
    let chains = checked.sample.as_ref().is_some_and(|s| {
        s.vars.contains(&id)
            && matches!(
                s.sampler,
                Sampler::Mala { chains: Chains::Many { .. }, .. } | Sampler::Hmc { chains: Chains::Many { .. }, .. }
            )
    });
    if sde && first.rule == Rule::None {
        Some("paths")
    } else if chains {
        Some("chains")
    } else {
        None
    }
}

/// Draws `loss.png`: the loss of each iteration of `result`, on a log scale when every loss is
/// positive (a negative log-likelihood need not be: then linear).
pub fn fit(model: &crate::Model, result: &FitResult, dir: &Path, size: Size) -> Result<Plotted, Failure> {
    let iterations: Vec<f64> = result.history.iter().map(|it| it.iteration as f64).collect();
    let losses: Vec<f64> = result.history.iter().map(|it| it.loss).collect();
    let panel = Panel {
        labels: Labels { title: String::new(), x: "iteration".into(), y: result.loss.clone() },
        lines: vec![Line { label: &result.loss, x: &iterations, y: &losses }],
        scale: if losses.iter().all(|l| *l > 0.0) { Scale::Log } else { Scale::Linear },
    };
    let title = format!("{}: {} per iteration of {}", model.name(), result.loss, result.optimizer);
    let path = dir.join("loss.png");
    panels(&path, &title, &[panel], size).map_err(|e| model.fail(e))?;
    Ok(Plotted { files: vec![path], notes: Vec::new() })
}
