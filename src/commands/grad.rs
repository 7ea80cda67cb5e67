//! `noether grad`: a loss and its gradient, optionally checked against finite differences.

use std::path::PathBuf;
use std::time::Instant;

use noether::compiler::model::{FieldKind, NamedKind};
use noether::runtime::error::bytes_text;
use noether::runtime::gradcheck::{GRADIENT_CHECK_TOLERANCE, GradientCheck};
use noether::runtime::{GradientMode, GradientOptions};
use noether::{Failure, Model, Override};
use serde_json::{Value, json};

use super::{NamedValues, number};

pub struct GradOptions {
    pub file: PathBuf,
    pub overrides: Vec<Override>,
    pub wrt: Vec<String>,
    pub loss: Option<String>,
    pub check: bool,
    pub json: bool,
    pub out: Option<PathBuf>,
    pub checkpoints: Option<usize>,
    pub mode: GradientMode,
    pub settings: super::RunOverrides,
    pub engine: super::EngineChoice,
}

pub fn grad(options: &GradOptions) -> Result<(), Failure> {
    let model = Model::from_file_with(&options.file, &options.overrides)?;
    super::prepare_out(&model, options.out.as_deref())?;
    let mut sim = options.engine.simulator(&model)?;
    options.settings.apply(&mut sim)?;
    let checked = model.checked();
    let loss = match &options.loss {
        Some(loss) => loss.clone(),
        None => checked
            .scalars
            .iter()
            .find(|s| s.kind == NamedKind::Loss)
            .map(|s| s.name.clone())
            .ok_or_else(|| model.fail(noether::RunError::NoLoss))?,
    };
    let wrt: Vec<String> = if options.wrt.is_empty() {
        checked
            .fields
            .iter()
            .filter(|f| matches!(f.kind, FieldKind::Param | FieldKind::State { .. }))
            .map(|f| f.name.clone())
            .collect()
    } else {
        options.wrt.clone()
    };
    let names: Vec<&str> = wrt.iter().map(String::as_str).collect();
    let started = Instant::now();
    let gradient =
        sim.gradient_with(&loss, &names, GradientOptions { checkpoints: options.checkpoints, mode: options.mode })?;
    let seconds = started.elapsed().as_secs_f64();

    let reported = NamedValues::write(&model, &gradient.gradients, options.out.as_deref(), "grad_")?;
    let checks = if options.check { sim.check_gradient(&gradient)? } else { Vec::new() };

    if options.json {
        let entries = reported.json();
        let check_entries: Vec<Value> = checks
            .iter()
            .map(|c| {
                json!({
                    "name": c.name, "index": c.index, "autodiff": number(c.autodiff),
                    "finite_difference": number(c.finite_difference), "relative_error": number(c.relative_error()),
                    "resolution": number(c.resolution), "passes": c.passes(),
                })
            })
            .collect();
        let memory = gradient.memory;
        let summary = json!({
            "model": model.name(),
            "backend": sim.backend(),
            "loss": { "name": loss, "value": number(gradient.value) },
            "gradient": entries,
            "check": check_entries,
            "check_tolerance": options.check.then_some(GRADIENT_CHECK_TOLERANCE),
            "mode": gradient.mode.name(),
            "memory": {
                "checkpoints": memory.checkpoints,
                "stored_state_sets": memory.stored_state_sets,
                "stored_bytes": memory.stored_bytes,
                "buffer_bytes": memory.buffer_bytes,
                "peak_bytes": memory.peak_bytes(),
                "all_states_bytes": memory.all_states_bytes,
            },
            "wall_seconds": {
                "parse_check": model.timings().check.as_secs_f64(),
                "compile": (model.timings().lower + sim.engine_build_time()).as_secs_f64(),
                "gradient": seconds,
            },
        });
        println!("{summary}");
        return verdict(&model, &loss, &checks);
    }
    let memory = gradient.memory;
    let how = match gradient.mode {
        GradientMode::Forward => "forward mode".to_string(),
        _ => format!("reverse mode, {} checkpoints", memory.checkpoints),
    };
    println!("{}: loss {loss} = {} ({} steps, {how})", model.name(), super::readable(gradient.value), sim.steps_done());
    for (name, value) in &gradient.gradients {
        if value.ndim() == 0 {
            println!("  d{loss}/d{name} = {}", super::readable(value[[]]));
        } else {
            println!("  d{loss}/d{name}: {}", reported.tensor_text(name, value));
        }
    }
    for c in &checks {
        let at = c.index.map(|i| format!("[{i}]")).unwrap_or_default();
        let note =
            if c.unresolved() { format!(" (both below the resolution {:.0e})", c.resolution) } else { String::new() };
        println!(
            "  check d{loss}/d{}{at}: autodiff {}, finite difference {}, relative error {:.1e}{note}",
            c.name,
            super::readable(c.autodiff),
            super::readable(c.finite_difference),
            c.relative_error()
        );
    }
    if !checks.is_empty() {
        let passed = checks.iter().filter(|c| c.passes()).count();
        let word = if passed == checks.len() { "pass" } else { "FAIL" };
        println!(
            "  check: {word}, {passed} of {} within a relative error of {GRADIENT_CHECK_TOLERANCE:e}",
            checks.len()
        );
    }
    let share = if memory.all_states_bytes > 0 {
        format!(", {:.1}% of keeping every step's", 100.0 * memory.stored_bytes as f64 / memory.all_states_bytes as f64)
    } else {
        String::new()
    };
    println!(
        "  memory: {} at most: buffers {}, stored states {} ({} sets{share})",
        bytes_text(memory.peak_bytes() as u64),
        bytes_text(memory.buffer_bytes as u64),
        bytes_text(memory.stored_bytes as u64),
        memory.stored_state_sets,
    );
    println!("  time: gradient {seconds:.3} s");
    verdict(&model, &loss, &checks)
}

/// A failed check is an error (exit 1), after the report.
fn verdict(model: &Model, loss: &str, checks: &[GradientCheck]) -> Result<(), Failure> {
    let failed: Vec<&GradientCheck> = checks.iter().filter(|c| !c.passes()).collect();
    let Some(worst) = failed.iter().max_by(|a, b| a.relative_error().total_cmp(&b.relative_error())) else {
        return Ok(());
    };
    let at = worst.index.map(|i| format!("[{i}]")).unwrap_or_default();
    Err(model.fail(noether::RunError::CheckFailed {
        failed: failed.len(),
        checked: checks.len(),
        tolerance: GRADIENT_CHECK_TOLERANCE,
        worst: worst.relative_error(),
        loss: loss.into(),
        name: format!("{}{at}", worst.name),
    }))
}
