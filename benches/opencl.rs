//! The OpenCL engine against the JIT, in one process: heat 2D and the GBM ensemble, time per
//! step and effective bandwidth. `cargo bench --features opencl --bench opencl [-- --device N]
//! [--peak-gbps X] [--large]`: `--peak-gbps` (the device's memory bandwidth) adds the fraction
//! of it the heat step reaches; `--large` adds heat at 4096² (for a GPU).

use std::time::{Duration, Instant};

use noether::{Backend, EngineOptions, Model, Override, Simulator, Source};

fn model(path: &str, overrides: &[(&str, f64)]) -> Model {
    let text = std::fs::read_to_string(path).expect("the example exists");
    let overrides: Vec<Override> = overrides.iter().map(|(n, v)| Override { name: n.to_string(), value: *v }).collect();
    Model::from_source(Source::new(path, text.as_str()), &overrides, ".").unwrap_or_else(|f| panic!("{f:?}"))
}

fn simulator(model: &Model, backend: Backend, device: Option<usize>) -> Simulator {
    let options = EngineOptions { device, ..EngineOptions::default() };
    model.simulator_with(backend, options).unwrap_or_else(|f| panic!("{f:?}"))
}

/// The best of three runs of `steps` steps (after one to warm up), per step.
fn per_step(sim: &mut Simulator, steps: u64) -> Duration {
    sim.set_steps(steps).expect("steps");
    sim.run().expect("runs");
    (0..3)
        .map(|_| {
            let started = Instant::now();
            sim.run().expect("runs");
            started.elapsed()
        })
        .min()
        .expect("three runs")
        / steps as u32
}

/// One workload on both engines: time per step, the ratio, and the bandwidth of `bytes` moved
/// per step.
fn compare(label: &str, model: &Model, steps: u64, bytes: f64, device: Option<usize>, peak_gbps: Option<f64>) {
    let jit = per_step(&mut simulator(model, Backend::Jit, None), steps);
    let mut device_sim = simulator(model, Backend::OpenCl, device);
    let opencl = per_step(&mut device_sim, steps);
    let gbps = bytes / opencl.as_secs_f64() / 1e9;
    let fraction = peak_gbps.map_or(String::new(), |peak| format!(", {:.0}% of peak", 100.0 * gbps / peak));
    println!(
        "{label:<28} jit {:>9.3} ms/step   opencl {:>9.3} ms/step   ratio {:>5.2}x   {gbps:>6.1} GB/s{fraction}",
        jit.as_secs_f64() * 1e3,
        opencl.as_secs_f64() * 1e3,
        opencl.as_secs_f64() / jit.as_secs_f64(),
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).map(String::as_str);
    let device = value("--device").map(|d| d.parse().expect("--device takes a number"));
    let peak_gbps = value("--peak-gbps").map(|p| p.parse().expect("--peak-gbps takes a number"));
    match noether::runtime::engine::opencl::devices() {
        Ok(devices) => {
            for d in devices {
                println!(
                    "device {}: {} ({}), {:.1} GiB",
                    d.index,
                    d.name,
                    d.platform,
                    d.memory as f64 / (1u64 << 30) as f64
                );
            }
        }
        Err(e) => {
            println!("no OpenCL device: {e}");
            return;
        }
    }
    let mut sizes = vec![(256, 200), (1024, 200)];
    if args.iter().any(|a| a == "--large") {
        sizes.push((4096, 20));
    }
    for (n, steps) in sizes {
        // A step reads u and writes u_next: 16 bytes per point at the least.
        let bytes = 16.0 * (n * n) as f64;
        let heat = model("examples/heat.noe", &[("N", n as f64)]);
        compare(&format!("heat {n}x{n}"), &heat, steps, bytes, device, peak_gbps);
    }
    // A step reads and writes X: 16 bytes per path (the noise is drawn, not stored).
    let gbm = model("examples/gbm.noe", &[("M", 100_000.0)]);
    compare("gbm 100k paths", &gbm, 50, 16.0 * 100_000.0, device, peak_gbps);
}
