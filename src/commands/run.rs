//! `noether run`: run the script, report, and write results.

use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use noether::compiler::model::NamedKind;
use noether::{Failure, Model, Override, Simulator};
use serde_json::{Map, Value, json};

use super::number;

pub struct RunOptions {
    pub file: PathBuf,
    pub overrides: Vec<Override>,
    pub settings: super::RunOverrides,
    pub out: Option<PathBuf>,
    /// How many sample paths of each state to write (the first elements).
    pub paths: usize,
    pub json: bool,
    pub engine: super::EngineChoice,
}

/// Runs long enough to be worth a progress bar.
const PROGRESS_MIN_STEPS: u64 = 200;

pub fn run(options: &RunOptions) -> Result<(), Failure> {
    let model = Model::from_file_with(&options.file, &options.overrides)?;
    let mut sim = options.engine.simulator(&model)?;
    options.settings.apply(&mut sim)?;
    sim.record_paths(options.paths);
    let settings = sim.settings().ok_or_else(|| model.fail(noether::RunError::NoRun))?;

    let started = Instant::now();
    let bar = (!options.json && settings.steps >= PROGRESS_MIN_STEPS).then(|| progress_bar(settings.steps));
    let result = sim.run_with(&mut |done, _| {
        if let Some(bar) = &bar {
            bar.set_position(done);
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    result?;
    let run_seconds = started.elapsed().as_secs_f64();

    let losses = sim.scalars_of(NamedKind::Loss)?;
    let energies = sim.scalars_of(NamedKind::Energy)?;
    let observables: Vec<(String, f64)> = sim
        .observable_names()
        .into_iter()
        .map(|name| {
            let last = sim.observable(&name).map(|s| s.last().copied().unwrap_or(f64::NAN));
            last.map(|v| (name, v))
        })
        .collect::<Result<_, _>>()?;
    let written = match &options.out {
        Some(dir) => write_outputs(&sim, dir)?,
        None => Vec::new(),
    };

    let timings = model.timings();
    let summary = json!({
        "model": model.name(),
        "backend": sim.backend(),
        "integrator": model.checked().run.as_ref().map(|r| r.integrator.name()),
        "steps": sim.steps_done(),
        "dt": settings.dt,
        "final_time": sim.time(),
        "losses": object(&losses),
        "energies": object(&energies),
        "observables": object(&observables),
        "outputs": written.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "wall_seconds": {
            "parse_check": timings.check.as_secs_f64(),
            "compile": (timings.lower + sim.engine_build_time()).as_secs_f64(),
            "run": run_seconds,
        },
    });
    if let Some(dir) = &options.out {
        let path = dir.join("summary.json");
        let text = serde_json::to_string_pretty(&summary).expect("a JSON value serialises");
        noether::runtime::output::write_text(&path, &format!("{text}\n")).map_err(|e| model.fail(e))?;
    }
    if options.json {
        println!("{summary}");
    } else {
        print_report(&model, &sim, &losses, &energies, &observables, &written, run_seconds);
    }
    Ok(())
}

fn progress_bar(steps: u64) -> ProgressBar {
    let bar = ProgressBar::new(steps);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} steps, {elapsed} elapsed, ~{eta} left") {
        bar.set_style(style);
    }
    bar
}

fn object(pairs: &[(String, f64)]) -> Value {
    Value::Object(pairs.iter().map(|(k, v)| (k.clone(), number(*v))).collect::<Map<_, _>>())
}

/// Writes each state's final value and each observable's series (plus their times).
fn write_outputs(sim: &Simulator, dir: &Path) -> Result<Vec<PathBuf>, Failure> {
    let model = sim.model();
    let fail = |e| model.fail(e);
    let mut written = Vec::new();
    for name in sim.state_names() {
        let path = dir.join(format!("{name}.npy"));
        noether::runtime::output::write_npy(&path, &sim.state(&name)?).map_err(fail)?;
        written.push(path);
    }
    if sim.recorded_paths() > 0 {
        for name in sim.state_names() {
            let path = dir.join(format!("{name}_paths.npy"));
            noether::runtime::output::write_npy(&path, &sim.paths(&name)?.into_dyn().view()).map_err(fail)?;
            written.push(path);
        }
    }
    let mut names = sim.observable_names();
    for name in &names {
        let series = sim.observable(name)?.to_vec();
        let path = dir.join(format!("{name}.npy"));
        noether::runtime::output::write_npy(&path, &ndarray_1d(&series).view()).map_err(fail)?;
        written.push(path);
    }
    names.extend(sim.state_names());
    if !names.iter().any(|n| n == "time") && !sim.times().is_empty() {
        let path = dir.join("time.npy");
        noether::runtime::output::write_npy(&path, &ndarray_1d(sim.times()).view()).map_err(fail)?;
        written.push(path);
    }
    Ok(written)
}

fn ndarray_1d(values: &[f64]) -> noether::runtime::buffers::Array {
    noether::runtime::buffers::array_1d(values)
}

/// A number as people read it: plain in everyday ranges, scientific beyond.
fn readable(value: f64) -> String {
    let magnitude = value.abs();
    if value == 0.0 || !value.is_finite() || (1e-4..1e9).contains(&magnitude) {
        format!("{value}")
    } else {
        format!("{value:e}")
    }
}

fn print_report(
    model: &Model,
    sim: &Simulator,
    losses: &[(String, f64)],
    energies: &[(String, f64)],
    observables: &[(String, f64)],
    written: &[PathBuf],
    run_seconds: f64,
) {
    let settings = sim.settings().expect("a run has settings");
    let integrator = model.checked().run.as_ref().map_or("?", |r| r.integrator.name());
    println!(
        "{}: {integrator}, {} steps of dt = {} (t = {} to {}), backend {}",
        model.name(),
        sim.steps_done(),
        settings.dt,
        settings.t0,
        sim.time(),
        sim.backend()
    );
    for (kind, values) in [("loss", losses), ("energy", energies), ("observe", observables)] {
        for (name, value) in values {
            let note = if kind == "observe" { " (final)" } else { "" };
            println!("  {kind} {name} = {}{note}", readable(*value));
        }
    }
    if !written.is_empty() {
        let names: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
        println!("  wrote {}", names.join(", "));
    }
    let timings = model.timings();
    println!(
        "  time: check {:.1} ms, compile {:.1} ms, run {:.3} s",
        timings.check.as_secs_f64() * 1e3,
        (timings.lower + sim.engine_build_time()).as_secs_f64() * 1e3,
        run_seconds
    );
}
