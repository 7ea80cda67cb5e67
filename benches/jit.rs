//! `cargo bench --bench jit`: the JIT against hand-written Rust doing the same arithmetic, in the
//! same process, plus compile and start-up times, and gradients' reported memory against the
//! peak resident memory measured in a fresh process. Prints a table; asserts only that both
//! sides computed the same numbers.

mod common;

use common::best;

use std::hint::black_box;
use std::process::Command;
use std::time::Duration;

use noether::{Backend, EngineOptions, Model, Override, Simulator, Source};

fn model(text: &str, overrides: &[(&str, f64)]) -> Model {
    let overrides: Vec<Override> = overrides.iter().map(|(n, v)| Override { name: n.to_string(), value: *v }).collect();
    Model::from_source(Source::new("bench.noe", text), &overrides, ".").unwrap_or_else(|f| panic!("{f:?}"))
}

fn simulator(model: &Model, threads: usize) -> Simulator {
    model
        .simulator_with(Backend::Jit, EngineOptions { threads: Some(threads), ..EngineOptions::default() })
        .unwrap_or_else(|f| panic!("{f:?}"))
}

fn row(name: &str, ours: Duration, hand: Duration) {
    println!(
        "{name:<44} {:>10.2} ms {:>10.2} ms {:>7.2}",
        ours.as_secs_f64() * 1e3,
        hand.as_secs_f64() * 1e3,
        ours.as_secs_f64() / hand.as_secs_f64()
    );
}

const HEAT: &str = "const N = 256\nparam D = 0.2\nshape G = [i < N, j < N] periodic\n\
    state u : G = exp(-((i - N/2)^2 + (j - N/2)^2) / (2 * (N/8)^2))\n\
    d/dt u = D * laplacian(u)\nrun euler(dt = 1.0, steps = 1000)\n";

/// Explicit Euler for 2D periodic diffusion, written by hand: interior columns in a loop the
/// compiler can vectorise, the two edge columns apart. Same operations in the same order as the
/// generated code.
fn heat_by_hand(u: &mut Vec<f64>, next: &mut Vec<f64>, n: usize, d: f64, dt: f64, steps: usize) {
    for _ in 0..steps {
        for i in 0..n {
            let up = if i == 0 { n - 1 } else { i - 1 } * n;
            let down = if i == n - 1 { 0 } else { i + 1 } * n;
            let row = i * n;
            let point = |u: &[f64], j: usize, left: usize, right: usize| {
                let lap = u[up + j] + u[down + j] + u[row + left] + u[row + right] - 4.0 * u[row + j];
                u[row + j] + dt * (d * lap)
            };
            next[row] = point(u, 0, n - 1, 1);
            let (u_up, u_down, u_row) = (&u[up..up + n], &u[down..down + n], &u[row..row + n]);
            let out = &mut next[row..row + n];
            for j in 1..n - 1 {
                let lap = u_up[j] + u_down[j] + u_row[j - 1] + u_row[j + 1] - 4.0 * u_row[j];
                out[j] = u_row[j] + dt * (d * lap);
            }
            next[row + n - 1] = point(u, n - 1, n - 2, 0);
        }
        std::mem::swap(u, next);
    }
}

/// The hand loop with rows split across `threads` scoped threads each step: what perfect
/// threading of the same code gives on this machine.
fn heat_by_hand_threaded(
    u: &mut Vec<f64>,
    next: &mut Vec<f64>,
    n: usize,
    d: f64,
    dt: f64,
    steps: usize,
    threads: usize,
) {
    for _ in 0..steps {
        let source: &[f64] = u;
        std::thread::scope(|scope| {
            let mut rest: &mut [f64] = next;
            let mut start = 0;
            for t in 0..threads {
                let end = n * (t + 1) / threads;
                let (mine, later) = rest.split_at_mut((end - start) * n);
                rest = later;
                let first = start;
                scope.spawn(move || {
                    for (k, out) in mine.chunks_mut(n).enumerate() {
                        let i = first + k;
                        let up = if i == 0 { n - 1 } else { i - 1 } * n;
                        let down = if i == n - 1 { 0 } else { i + 1 } * n;
                        let row = i * n;
                        for j in 0..n {
                            let (left, right) =
                                (if j == 0 { n - 1 } else { j - 1 }, if j == n - 1 { 0 } else { j + 1 });
                            let lap = source[up + j] + source[down + j] + source[row + left] + source[row + right]
                                - 4.0 * source[row + j];
                            out[j] = source[row + j] + dt * (d * lap);
                        }
                    }
                });
                start = end;
            }
        });
        std::mem::swap(u, next);
    }
}

fn heat(n: usize, steps: u64, threads: usize, label: &str) {
    let model = model(HEAT, &[("N", n as f64)]);
    let mut sim = simulator(&model, threads);
    sim.set_steps(steps).expect("steps");
    let (ours, ()) = best(3, || sim.run().expect("runs"));
    let initial: Vec<f64> = {
        let mut fresh = simulator(&model, 1);
        fresh.reset().expect("reset");
        fresh.state("u").expect("u").iter().copied().collect()
    };
    let (hand, u) = best(3, || {
        let (mut u, mut next) = (initial.clone(), vec![0.0; n * n]);
        heat_by_hand(&mut u, &mut next, n, 0.2, 1.0, steps as usize);
        u
    });
    let jit: Vec<f64> = sim.state("u").expect("u").iter().copied().collect();
    assert!(jit.iter().zip(&u).all(|(a, b)| a.to_bits() == b.to_bits()), "the JIT and the hand loop disagree");
    row(&format!("heat {n}x{n}, {steps} steps, {label}"), ours, hand);
}

/// How much the hand-written loop itself gains from threads on this machine.
fn hand_scaling(n: usize, steps: usize, threads: usize) {
    let initial: Vec<f64> = (0..n * n).map(|k| ((k % 17) as f64).sin()).collect();
    let run = |t: usize| {
        best(3, || {
            let (mut u, mut next) = (initial.clone(), vec![0.0; n * n]);
            heat_by_hand_threaded(&mut u, &mut next, n, 0.2, 1.0, steps, t);
            u
        })
    };
    let ((one, a), (many, b)) = (run(1), run(threads));
    assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
    println!(
        "  (simple hand loop, rows split across threads: {:.2} ms on 1, {:.2} ms on {threads}: {:.2}x)",
        one.as_secs_f64() * 1e3,
        many.as_secs_f64() * 1e3,
        one.as_secs_f64() / many.as_secs_f64()
    );
}

const POINTWISE: &str = "const M = 1000000\nparam a = 0.3\nparam b = 0.1\nstate u : [p < M] = 0.5 + 0.4 * (p % 7) / 7\n\
    d/dt u = a * u * (1 - u) - b * u^3\nrun euler(dt = 0.01, steps = 100)\n";

fn pointwise(threads: usize, label: &str) {
    let model = model(POINTWISE, &[]);
    let mut sim = simulator(&model, threads);
    let (ours, ()) = best(3, || sim.run().expect("runs"));
    let initial: Vec<f64> = (0..1_000_000).map(|p| 0.5 + 0.4 * f64::from(p % 7) / 7.0).collect();
    let (hand, u) = best(3, || {
        let (mut u, mut next) = (initial.clone(), vec![0.0; initial.len()]);
        for _ in 0..100 {
            for (out, &x) in next.iter_mut().zip(&u) {
                *out = x + 0.01 * (0.3 * x * (1.0 - x) - 0.1 * (x * (x * x)));
            }
            std::mem::swap(&mut u, &mut next);
        }
        u
    });
    let jit: Vec<f64> = sim.state("u").expect("u").iter().copied().collect();
    assert!(jit.iter().zip(&u).all(|(a, b)| a.to_bits() == b.to_bits()), "pointwise results differ");
    row(&format!("pointwise 1M points, 100 steps, {label}"), ours, hand);
}

const REDUCTION: &str = "const N = 1024\nstate u : [i < N, j < N] = sin(i * 0.01) + cos(j * 0.02)\n\
    loss L = sum(i, j) u[i, j]^2\n";

fn reduction(threads: usize, label: &str) {
    let model = model(REDUCTION, &[]);
    let mut sim = simulator(&model, threads);
    let (ours, value) = best(5, || (0..20).map(|_| sim.scalar("L").expect("loss")).sum::<f64>());
    let u: Vec<f64> = sim.state("u").expect("u").iter().copied().collect();
    let (hand, expected) = best(5, || (0..20).map(|_| sum_of_squares(black_box(&u))).sum::<f64>());
    assert_eq!(value.to_bits(), expected.to_bits(), "reduction results differ");
    row(&format!("sum of squares 1024x1024, 20 times, {label}"), ours, hand);
}

/// The sum the generated code computes: each row's total in visiting order, then the total
/// of the rows (how `lower/rows.rs` splits a large sum so threads share it).
#[inline(never)]
fn sum_of_squares(u: &[f64]) -> f64 {
    let mut total = 0.0;
    for row in u.chunks(1024) {
        let mut row_total = 0.0;
        for x in row {
            row_total += x * x;
        }
        total += row_total;
    }
    total
}

/// Heat 256², 1000 steps: the gradient of a loss on the final state against the forward run,
/// and the memory its checkpoints keep against keeping every state.
fn gradient(threads: usize) {
    let text = format!("{HEAT}loss L = sum(i, j) u[i, j]^2\n");
    let model = model(&text, &[]);
    let mut sim = simulator(&model, threads);
    let (forward, ()) = best(3, || sim.run().expect("runs"));
    let (backward, gradient) = best(3, || sim.gradient("L", &["D", "u"]).expect("gradient"));
    let memory = gradient.memory;
    println!(
        "gradient of heat 256x256, 1000 steps, {threads} thread(s): {:.1} ms = {:.2} x forward ({:.1} ms); \
         states stored {:.1} MiB = {:.1}% of all states ({:.1} MiB); all buffers {:.1} MiB",
        backward.as_secs_f64() * 1e3,
        backward.as_secs_f64() / forward.as_secs_f64(),
        forward.as_secs_f64() * 1e3,
        mib(memory.stored_bytes),
        100.0 * memory.stored_bytes as f64 / memory.all_states_bytes as f64,
        mib(memory.all_states_bytes),
        mib(memory.buffer_bytes),
    );
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Gray–Scott on 256², Runge–Kutta 4 (stage temporaries, steps run again before their
/// adjoints), 200 steps.
const GRAY_SCOTT: &str = "const N = 256\nparam Du = 0.16\nparam Dv = 0.08\nparam F = 0.035\nparam k = 0.065\n\
    shape G = [i < N, j < N] periodic\n\
    state u : G = if abs(i - N/2) < 10 and abs(j - N/2) < 10 then 0.5 else 1\n\
    state v : G = if abs(i - N/2) < 10 and abs(j - N/2) < 10 then 0.25 + 0.02 * sin(i * j) else 0\n\
    d/dt u = Du * laplacian(u) - u * v^2 + F * (1 - u)\nd/dt v = Dv * laplacian(v) + u * v^2 - (F + k) * v\n\
    loss L = sum(i, j) v[i, j]^2\nrun rk4(dt = 0.5, steps = 200)\n";

/// The models whose gradient memory is measured, by name.
fn memory_model(name: &str) -> String {
    match name {
        "heat, 1000 steps" => format!("{HEAT}loss L = sum(i, j) u[i, j]^2\n"),
        "gray-scott rk4, 200 steps" => GRAY_SCOTT.to_string(),
        other => panic!("no memory model {other}"),
    }
}

/// Set in the fresh process that measures one gradient's memory: `N=<grid size> <model name>`.
const MEMORY_CHILD: &str = "NOETHER_BENCH_MEMORY_OF";

/// A figure of this process from /proc/self/status, in bytes (`VmRSS`: resident now; `VmHWM`:
/// the most ever resident).
fn resident(key: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status (Linux)");
    let line = status.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(':')).expect("the key");
    line.trim().trim_end_matches("kB").trim().parse::<usize>().expect("kB") * 1024
}

/// In the fresh process: compile, note the resident memory, take the gradient, print what the
/// gradient reports it held, the resident memory before the simulator, and the peak.
fn measure_memory(request: &str) {
    let (n, name) = request.strip_prefix("N=").and_then(|r| r.split_once(' ')).expect("N=<size> <name>");
    let model = model(&memory_model(name), &[("N", n.parse().expect("a size"))]);
    let before = resident("VmRSS");
    let mut sim = simulator(&model, 1);
    let memory = sim.gradient("L", &["u"]).expect("gradient").memory;
    println!("{} {} {} {before} {}", memory.peak_bytes(), memory.buffer_bytes, memory.stored_bytes, resident("VmHWM"));
}

/// Each model's gradient in a fresh process (so no earlier allocation hides in its peak): the
/// peak it reports against the peak resident memory above the compiled model. The same gradient
/// on an 8 x 8 grid shows what does not grow with the grid (JIT code, the compiler's memory).
fn gradient_memory() {
    let measure = |n: usize, name: &str| -> [usize; 5] {
        let exe = std::env::current_exe().expect("this benchmark");
        let output = Command::new(exe).env(MEMORY_CHILD, format!("N={n} {name}")).output().expect("runs");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let figures: Vec<usize> =
            String::from_utf8_lossy(&output.stdout).split_whitespace().map(|f| f.parse().expect("bytes")).collect();
        figures.try_into().expect("five figures")
    };
    for name in ["heat, 1000 steps", "gray-scott rk4, 200 steps"] {
        let [reported, buffers, stored, before, peak] = measure(256, name);
        let [_, _, _, small_before, small_peak] = measure(8, name);
        println!(
            "gradient memory of {name} on 256x256: reported {:.1} MiB (buffers {:.1} + stored states {:.1}); \
             peak RSS {:.1} MiB: {:.1} above the compiled model, against {:.1} for the same gradient on 8x8",
            mib(reported),
            mib(buffers),
            mib(stored),
            mib(peak),
            mib(peak - before),
            mib(small_peak - small_before)
        );
    }
}

/// Parse, check, lower and JIT-compile: everything before the first run (the engine's zeroed
/// buffers are mapped, not yet touched).
fn compile_time(n: f64) -> Duration {
    best(10, || {
        let model = model(HEAT, &[("N", n)]);
        let program = std::sync::Arc::new(model.compiled().program.clone());
        noether::runtime::engine::build(program, Backend::Jit, EngineOptions::default()).expect("compiles")
    })
    .0
}

fn whole_process(args: &[&str]) -> Duration {
    let binary = env!("CARGO_BIN_EXE_noether");
    best(10, || {
        let status = Command::new(binary).args(args).output().expect("runs");
        assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    })
    .0
}

fn main() {
    if let Ok(name) = std::env::var(MEMORY_CHILD) {
        measure_memory(&name);
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("{:<44} {:>13} {:>13} {:>7}", "benchmark", "noether", "hand Rust", "ratio");
    heat(256, 1000, 1, "1 thread");
    heat(256, 1000, cores, &format!("{cores} threads"));
    heat(1024, 200, 1, "1 thread");
    heat(1024, 200, cores, &format!("{cores} threads"));
    hand_scaling(1024, 200, cores);
    pointwise(1, "1 thread");
    pointwise(cores, &format!("{cores} threads"));
    reduction(1, "1 thread");
    println!();
    gradient(1);
    gradient(cores);
    gradient_memory();

    let path = std::env::temp_dir().join("noether_bench_heat.noe");
    std::fs::write(&path, HEAT).expect("write");
    let file = path.to_str().expect("utf-8");
    println!();
    let (small, large) = (compile_time(64.0), compile_time(4096.0));
    println!("compile heat (parse to ready-to-run), N = 64:   {:.2} ms", small.as_secs_f64() * 1e3);
    println!("compile heat (parse to ready-to-run), N = 4096: {:.2} ms", large.as_secs_f64() * 1e3);
    let small_run = whole_process(&["run", file, "--set", "N=64", "--steps", "10"]);
    println!("whole process `noether run` heat N = 64, 10 steps: {:.1} ms", small_run.as_secs_f64() * 1e3);
    let with_loss = std::env::temp_dir().join("noether_bench_heat_loss.noe");
    std::fs::write(&with_loss, format!("{HEAT}loss L = sum(i, j) u[i, j]^2\n")).expect("write");
    let with_loss = with_loss.to_str().expect("utf-8");
    let small_grad = whole_process(&["grad", with_loss, "--set", "N=64", "--steps", "10"]);
    println!(
        "whole process `noether grad` (loss and gradient) heat N = 64, 10 steps: {:.1} ms",
        small_grad.as_secs_f64() * 1e3
    );
    let full = whole_process(&["run", file, "--threads", "1"]);
    let initial: Vec<f64> = {
        let mut sim = simulator(&model(HEAT, &[]), 1);
        sim.reset().expect("reset");
        sim.state("u").expect("u").iter().copied().collect()
    };
    let (hand, _) = best(3, || {
        let (mut u, mut next) = (initial.clone(), vec![0.0; 256 * 256]);
        heat_by_hand(&mut u, &mut next, 256, 0.2, 1.0, 1000);
        u
    });
    row("whole process heat 256x256, 1000 steps", full, hand);
}
