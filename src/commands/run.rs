//! `noether run` and `noether sample`: run the script's directive, report, and write results.

use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use noether::compiler::model::{NamedKind, Sampler};
use noether::runtime::Schedule;
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
    /// Draw the results as images of this size (`--plot`).
    pub plot: Option<noether::plot::Size>,
    pub json: bool,
    pub engine: super::EngineChoice,
    /// `noether sample`: refuse a script that does not sample.
    pub sampling_only: bool,
}

/// Runs long enough to be worth a progress bar.
const PROGRESS_MIN_STEPS: u64 = 200;

/// `noether run` and `noether sample`: whichever directive the script has.
pub fn run(options: &RunOptions) -> Result<(), Failure> {
    let model = Model::from_file_with(&options.file, &options.overrides)?;
    super::prepare_out(&model, options.out.as_deref())?;
    let plot_dir = options.plot.map(|_| super::plot_dir(&options.file, options.out.as_deref()));
    super::prepare_out(&model, plot_dir.as_deref())?;
    let mut sim = options.engine.simulator(&model)?;
    options.settings.apply(&mut sim)?;
    sim.record_paths(options.paths);
    let schedule = sim.schedule().ok_or_else(|| model.fail(noether::RunError::NoRun))?;
    if options.sampling_only && !matches!(schedule, Schedule::Sample(_)) {
        return Err(model.fail(noether::RunError::NoSample));
    }
    let (total, unit) = match schedule {
        Schedule::Integrate(settings) => (settings.steps, "steps"),
        Schedule::Sample(s) => (s.burn_in + s.sweeps, "sweeps"),
    };

    let started = Instant::now();
    let bar = (!options.json && total >= PROGRESS_MIN_STEPS).then(|| progress_bar(total, unit));
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
    let series: Vec<(String, Vec<f64>)> = sim
        .observable_names()
        .into_iter()
        .map(|name| sim.observable(&name).map(|s| (name.clone(), s.to_vec())))
        .collect::<Result<_, _>>()?;
    let last = |f: &dyn Fn(&[f64]) -> f64| -> Vec<(String, f64)> {
        series.iter().map(|(name, s)| (name.clone(), f(s))).collect()
    };
    let observables = last(&|s| s.last().copied().unwrap_or(f64::NAN));
    let means = last(&|s| s.iter().sum::<f64>() / s.len() as f64);
    let mut written = match &options.out {
        Some(dir) => write_outputs(&sim, dir)?,
        None => Vec::new(),
    };
    let mut notes = Vec::new();
    if let (Some(size), Some(dir)) = (options.plot, &plot_dir) {
        let plotted = noether::plot::simulation(&sim, dir, size)?;
        written.extend(plotted.files);
        notes = plotted.notes;
    }
    let summary_path = options.out.as_ref().map(|dir| dir.join("summary.json"));
    written.extend(summary_path.clone());

    let timings = model.timings();
    let mut summary = json!({
        "model": model.name(),
        "backend": sim.backend(),
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
    let details = match schedule {
        Schedule::Integrate(settings) => json!({
            "integrator": model.checked().run.as_ref().map(|r| r.integrator.name()),
            "steps": sim.steps_done(),
            "dt": settings.dt,
            "final_time": sim.time(),
        }),
        Schedule::Sample(s) => {
            let spec = model.checked().sample.as_ref().expect("a sampling script has a sample directive");
            json!({
                "sampler": spec.sampler.name(),
                "order": order_name(&spec.sampler),
                "sweeps": s.sweeps,
                "burn_in": s.burn_in,
                "thin": s.thin,
                "seed": s.seed,
                "recorded": sim.times().len(),
                "observable_means": object(&means),
                "acceptance_rate": sim.acceptance().rate().map(number),
            })
        }
    };
    if let (Value::Object(summary), Value::Object(details)) = (&mut summary, details) {
        summary.extend(details);
    }
    if let Some(path) = &summary_path {
        let text = serde_json::to_string_pretty(&summary).expect("a JSON value serialises");
        noether::runtime::output::write_text(path, &format!("{text}\n")).map_err(|e| model.fail(e))?;
    }
    if options.json {
        println!("{summary}");
    } else {
        let report = Report { losses: &losses, energies: &energies, observables: &observables, means: &means };
        print_report(&model, &sim, &report, &written, run_seconds);
    }
    super::print_notes(&notes, options.json);
    Ok(())
}

/// The update order of a spin sampler, if it has one.
fn order_name(sampler: &Sampler) -> Option<&'static str> {
    match sampler {
        Sampler::Metropolis(order) | Sampler::Gibbs(order) => Some(order.name()),
        _ => None,
    }
}

fn progress_bar(total: u64, unit: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    let template = format!("{{bar:40}} {{pos}}/{{len}} {unit}, {{elapsed}} elapsed, ~{{eta}} left");
    if let Ok(style) = ProgressStyle::with_template(&template) {
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
        noether::runtime::output::write_npy(&path, &sim.state(&name)?.view()).map_err(fail)?;
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
    let acceptance = &sim.acceptance().series;
    if !acceptance.is_empty() && !names.iter().any(|n| n == "acceptance") {
        let path = dir.join("acceptance.npy");
        noether::runtime::output::write_npy(&path, &ndarray_1d(acceptance).view()).map_err(fail)?;
        written.push(path);
    }
    names.extend(sim.state_names());
    // When observations were made: times when integrating, sweep counts when sampling.
    let clock = match sim.schedule() {
        Some(Schedule::Sample(_)) => "sweep",
        _ => "time",
    };
    if !names.iter().any(|n| n == clock) && !sim.times().is_empty() {
        let path = dir.join(format!("{clock}.npy"));
        noether::runtime::output::write_npy(&path, &ndarray_1d(sim.times()).view()).map_err(fail)?;
        written.push(path);
    }
    Ok(written)
}

fn ndarray_1d(values: &[f64]) -> ndarray::ArrayD<f64> {
    ndarray::Array1::from(values.to_vec()).into_dyn()
}

/// The named values a run reports.
struct Report<'a> {
    losses: &'a [(String, f64)],
    energies: &'a [(String, f64)],
    /// Final values of the observables.
    observables: &'a [(String, f64)],
    /// Their means over the recorded series (the sample means, when sampling).
    means: &'a [(String, f64)],
}

fn print_report(model: &Model, sim: &Simulator, report: &Report<'_>, written: &[PathBuf], run_seconds: f64) {
    let named = || {
        for (kind, values) in [("loss", report.losses), ("energy", report.energies)] {
            for (name, value) in values {
                println!("  {kind} {name} = {}", super::readable(*value));
            }
        }
    };
    match (sim.schedule(), &model.checked().sample) {
        (Some(Schedule::Sample(s)), Some(spec)) => {
            let order = order_name(&spec.sampler).map(|o| format!(" ({o})")).unwrap_or_default();
            println!(
                "{}: {}{order}, {} sweeps after a burn-in of {}, recording every {}, seed {}, backend {}",
                model.name(),
                spec.sampler.name(),
                s.sweeps,
                s.burn_in,
                s.thin,
                s.seed,
                sim.backend()
            );
            for ((name, mean), (_, last)) in report.means.iter().zip(report.observables) {
                println!(
                    "  observe {name}: mean {} over {} recorded sweeps (final {})",
                    super::readable(*mean),
                    sim.times().len(),
                    super::readable(*last)
                );
            }
            if let Some(rate) = sim.acceptance().rate() {
                println!("  acceptance rate {rate:.4}");
            }
            named();
        }
        _ => {
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
            named();
            for (name, value) in report.observables {
                println!("  observe {name} = {} (final)", super::readable(*value));
            }
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
