//! `noether fit`: the script's `fit` directive.

use std::path::PathBuf;
use std::time::Instant;

use noether::runtime::FitOptions;
use noether::{Failure, Model, Override};
use serde_json::json;

use super::{NamedValues, number};

pub struct FitCommand {
    pub file: PathBuf,
    pub overrides: Vec<Override>,
    pub iters: Option<usize>,
    pub lr: Option<f64>,
    pub json: bool,
    pub out: Option<PathBuf>,
    /// Draw the loss per iteration as an image of this size (`--plot`).
    pub plot: Option<noether::plot::Size>,
    pub settings: super::RunOverrides,
    pub engine: super::EngineChoice,
}

pub fn fit(options: &FitCommand) -> Result<(), Failure> {
    let model = Model::from_file_with(&options.file, &options.overrides)?;
    super::prepare_out(&model, options.out.as_deref())?;
    let plot_dir = options.plot.map(|_| super::plot_dir(&options.file, options.out.as_deref()));
    super::prepare_out(&model, plot_dir.as_deref())?;
    let mut sim = options.engine.simulator(&model)?;
    options.settings.apply(&mut sim)?;
    let started = Instant::now();
    let quiet = options.json;
    let result = sim.fit(FitOptions { iters: options.iters, lr: options.lr }, &mut |it| {
        if !quiet {
            println!("iter {:>4}: loss = {:<20.12e} |gradient| = {:.3e}", it.iteration, it.loss, it.gradient_norm);
        }
    })?;
    let seconds = started.elapsed().as_secs_f64();
    // Tensor params go to `<name>.npy` beside `fitted.json`, like `grad`'s gradients.
    let plotted = match (options.plot, &plot_dir) {
        (Some(size), Some(dir)) => noether::plot::fit(&model, &result, dir, size)?,
        _ => noether::plot::Plotted::default(),
    };
    let reported = NamedValues::write(&model, &result.params, options.out.as_deref(), "")?;
    let params = reported.json();
    let summary = json!({
        "model": model.name(),
        "loss": result.loss,
        "optimizer": result.optimizer,
        "iterations": result.history.len(),
        "final_loss": number(result.final_loss),
        "observed": result.observed.iter().map(|(n, v)| (n.clone(), number(*v))).collect::<serde_json::Map<_, _>>(),
        "params": params,
        "plots": plotted.files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "wall_seconds": seconds,
    });
    if let Some(dir) = &options.out {
        let text = serde_json::to_string_pretty(&summary).expect("a JSON value serialises");
        noether::runtime::output::write_text(&dir.join("fitted.json"), &format!("{text}\n"))
            .map_err(|e| model.fail(e))?;
    }
    if options.json {
        println!("{summary}");
    } else {
        println!(
            "fitted ({} iterations of {}, {seconds:.2} s): {} = {}",
            result.history.len(),
            result.optimizer,
            result.loss,
            super::readable(result.final_loss)
        );
        for (name, value) in &result.params {
            if value.ndim() == 0 {
                println!("  {name} = {}", super::readable(value[[]]));
            } else {
                println!("  {name}: {}", reported.tensor_text(name, value));
            }
        }
        for (name, value) in &result.observed {
            println!("  observe {name} = {} (at the fitted params)", super::readable(*value));
        }
        if !plotted.files.is_empty() {
            let names: Vec<String> = plotted.files.iter().map(|p| p.display().to_string()).collect();
            println!("  wrote {}", names.join(", "));
        }
    }
    Ok(())
}
