//! The `noether` command-line tool.

mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use noether::{Backend, Failure, Override};

#[derive(Parser)]
#[command(name = "noether", version, about = "Compile and run differentiable physics models (.noe scripts)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a script (syntax, names, shapes, data files, memory) without running it.
    Check(CheckArgs),
    /// Run a script's directive (`run` or `sample`) and report its losses and observables.
    Run(RunArgs),
    /// Run a sampling script's `sample` directive: the same as `run`, for scripts that sample.
    Sample(RunArgs),
    /// The gradient of a loss through the whole run, with respect to params and initial states.
    Grad(GradArgs),
    /// Fit params to minimise a loss with the script's `fit` directive.
    Fit(FitArgs),
    /// Print an intermediate stage of the compiler.
    Emit(EmitArgs),
    /// Lay scripts out in the canonical format, comments kept: print, rewrite (--write) or check.
    Fmt(FmtArgs),
    /// List the OpenCL devices `--backend opencl --device N` can use.
    Devices,
}

/// The engine, its threads, and the memory it may use.
#[derive(Args)]
struct EngineArgs {
    /// The engine that runs the model.
    #[arg(long, value_enum, default_value_t = BackendArg::Jit)]
    backend: BackendArg,
    /// Worker threads for the JIT (default: all cores).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    threads: Option<u64>,
    /// The OpenCL device, by its number in `noether devices` (default: the first computing in
    /// double precision).
    #[arg(long)]
    device: Option<usize>,
    /// What OpenCL computes in: f64 (default, the interpreter's bits) or f32 (for devices
    /// without double precision; results to a tolerance).
    #[arg(long, value_enum, default_value_t = PrecisionArg::F64)]
    precision: PrecisionArg,
    #[command(flatten)]
    memory: MemoryArgs,
}

impl From<EngineArgs> for commands::EngineChoice {
    fn from(args: EngineArgs) -> Self {
        commands::EngineChoice {
            backend: args.backend.into(),
            threads: args.threads.map(|t| t as usize),
            device: args.device,
            precision: args.precision.into(),
            memory_limit: args.memory.memory_limit,
        }
    }
}

#[derive(Args)]
struct MemoryArgs {
    /// The most memory the model may use, e.g. `8G` or `512MiB` (default: what the system has
    /// available). Runs and gradients that would need more are refused before they start.
    #[arg(long, value_name = "SIZE", value_parser = parse_bytes)]
    memory_limit: Option<u64>,
}

#[derive(Args)]
struct CheckArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    memory: MemoryArgs,
}

#[derive(Args)]
struct GradArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Params and states (initial values) to differentiate with respect to (default: all).
    #[arg(long, value_delimiter = ',')]
    wrt: Vec<String>,
    /// The loss (default: the first one in the script).
    #[arg(long)]
    loss: Option<String>,
    /// Compare with central finite differences: every scalar, a few entries of each tensor.
    #[arg(long)]
    check: bool,
    /// Print one JSON object instead of the text report.
    #[arg(long)]
    json: bool,
    /// Write tensor gradients as DIR/grad_NAME.npy.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// How many states the forward run keeps for the reverse run (default: sqrt(steps));
    /// implies reverse mode under `--mode auto`.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    checkpoints: Option<u64>,
    /// Reverse mode (through time with checkpoints), forward mode (tangents carried along the
    /// run, a run per 4 inputs), or auto: forward for at most 2 scalar inputs.
    #[arg(long, value_enum, default_value_t = ModeArg::Auto)]
    mode: ModeArg,
    #[command(flatten)]
    settings: SettingsArgs,
    #[command(flatten)]
    engine: EngineArgs,
}

/// Overrides of the script's `run` settings.
#[derive(Args)]
struct SettingsArgs {
    /// Number of steps (overrides the script's `steps`).
    #[arg(long)]
    steps: Option<u64>,
    /// Time step (overrides the script's `dt`).
    #[arg(long, allow_negative_numbers = true)]
    dt: Option<f64>,
    /// Seed of the noise or the sampler (overrides the script's `seed`).
    #[arg(long, value_parser = clap::value_parser!(u64).range(..1 << 32))]
    seed: Option<u64>,
}

impl From<SettingsArgs> for commands::RunOverrides {
    fn from(args: SettingsArgs) -> Self {
        commands::RunOverrides { steps: args.steps, dt: args.dt, seed: args.seed, sweeps: None }
    }
}

#[derive(Args)]
struct FitArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Iterations (overrides the optimizer's `iters`).
    #[arg(long)]
    iters: Option<usize>,
    /// Learning rate (overrides adam's `lr`).
    #[arg(long)]
    lr: Option<f64>,
    /// Print one JSON object instead of the iterations.
    #[arg(long)]
    json: bool,
    /// Write the fitted params as DIR/fitted.json.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    #[command(flatten)]
    plot: PlotArgs,
    #[command(flatten)]
    settings: SettingsArgs,
    #[command(flatten)]
    engine: EngineArgs,
}

/// The script and what overrides it.
#[derive(Args)]
struct ModelArgs {
    /// The .noe script.
    file: PathBuf,
    /// Override a const or scalar param: `--set N=512` (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = str::parse::<Override>)]
    overrides: Vec<Override>,
}

/// Plots of the results.
#[derive(Args)]
struct PlotArgs {
    /// Draw the results as PNG images: into the --out folder, or into <script>_plots/ in the
    /// current directory without --out.
    #[arg(long, group = "destination")]
    plot: bool,
    /// The size of each image in pixels.
    #[arg(long, value_name = "WxH", default_value = "800x600", requires = "plot")]
    plot_size: noether::plot::Size,
}

impl PlotArgs {
    fn size(&self) -> Option<noether::plot::Size> {
        self.plot.then_some(self.plot_size)
    }
}

#[derive(Args)]
#[group(skip)]
#[command(group(clap::ArgGroup::new("destination").multiple(true)))]
struct RunArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    settings: SettingsArgs,
    /// Sweeps after the burn-in (overrides the sampler's `sweeps`).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    sweeps: Option<u64>,
    /// Write final states and observable series (per step or per recorded sweep) as .npy, plus
    /// summary.json, into this folder.
    #[arg(long, value_name = "DIR", group = "destination")]
    out: Option<PathBuf>,
    /// Also write the first K elements of each state at every step: DIR/<state>_paths.npy,
    /// shaped [steps + 1, min(K, elements)] (sample paths of an ensemble); with --plot, also
    /// paths.png.
    #[arg(long, value_name = "K", requires = "destination", default_value_t = 0)]
    paths: usize,
    #[command(flatten)]
    plot: PlotArgs,
    /// Print one JSON object on stdout instead of the text report.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    engine: EngineArgs,
}

#[derive(Args)]
struct EmitArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Which stage to print.
    #[arg(long, value_enum)]
    stage: Stage,
}

#[derive(Args)]
struct FmtArgs {
    /// The .noe scripts (exactly one when printing).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Rewrite the files in place (only those that change).
    #[arg(short, long, conflicts_with = "check")]
    write: bool,
    /// Name the files that are not formatted, with their first differing line; exit 1 if any.
    #[arg(long)]
    check: bool,
}

impl FmtArgs {
    fn mode(&self) -> commands::FmtMode {
        match (self.write, self.check) {
            (true, _) => commands::FmtMode::Write,
            (_, true) => commands::FmtMode::Check,
            _ => commands::FmtMode::Print,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Stage {
    /// The syntax tree, printed back as fully parenthesised source.
    Ast,
    /// The Kernel IR.
    Ir,
    /// The Kernel IR with the adjoint procedures of the first loss.
    Grad,
    /// The Kernel IR with the forward-mode (tangent) procedures of the first loss with respect
    /// to every param.
    Tangent,
    /// The Cranelift IR the JIT compiles, before Cranelift's optimisations.
    Clif,
    /// The OpenCL C the OpenCL engine builds, with each kernel's launch.
    Opencl,
}

#[derive(Clone, Copy, ValueEnum)]
enum PrecisionArg {
    /// Double precision.
    F64,
    /// Single precision (OpenCL only).
    F32,
}

impl From<PrecisionArg> for noether::runtime::engine::Precision {
    fn from(arg: PrecisionArg) -> Self {
        match arg {
            PrecisionArg::F64 => Self::F64,
            PrecisionArg::F32 => Self::F32,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum BackendArg {
    /// Native code compiled with Cranelift (the default).
    Jit,
    /// The reference interpreter.
    Interp,
    /// OpenCL C on a device (builds with the `opencl` feature).
    Opencl,
}

#[derive(Clone, Copy, ValueEnum)]
enum ModeArg {
    /// Forward mode for at most 2 scalar inputs, reverse mode otherwise.
    Auto,
    /// Reverse through time with checkpoints.
    Reverse,
    /// Tangents carried forward through the run.
    Forward,
}

impl From<ModeArg> for noether::GradientMode {
    fn from(arg: ModeArg) -> noether::GradientMode {
        match arg {
            ModeArg::Auto => noether::GradientMode::Auto,
            ModeArg::Reverse => noether::GradientMode::Reverse,
            ModeArg::Forward => noether::GradientMode::Forward,
        }
    }
}

impl From<BackendArg> for Backend {
    fn from(arg: BackendArg) -> Backend {
        match arg {
            BackendArg::Jit => Backend::Jit,
            BackendArg::Interp => Backend::Interp,
            BackendArg::Opencl => Backend::OpenCl,
        }
    }
}

impl From<Stage> for commands::Stage {
    fn from(stage: Stage) -> Self {
        match stage {
            Stage::Ast => commands::Stage::Ast,
            Stage::Ir => commands::Stage::Ir,
            Stage::Grad => commands::Stage::Grad,
            Stage::Tangent => commands::Stage::Tangent,
            Stage::Clif => commands::Stage::Clif,
            Stage::Opencl => commands::Stage::OpenCl,
        }
    }
}

fn run_options(args: RunArgs, sampling_only: bool) -> commands::RunOptions {
    let mut settings: commands::RunOverrides = args.settings.into();
    settings.sweeps = args.sweeps;
    commands::RunOptions {
        file: args.model.file,
        overrides: args.model.overrides,
        settings,
        out: args.out,
        paths: args.paths,
        plot: args.plot.size(),
        json: args.json,
        engine: args.engine.into(),
        sampling_only,
    }
}

/// Bytes, with binary multiples: `1048576`, `512K`, `1.5G`, `8GiB`.
fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().map_err(|_| format!("`{text}` is not a size; write e.g. 512M or 8G"))?;
    let scale = match unit.trim().to_ascii_lowercase().trim_end_matches("ib").trim_end_matches('b') {
        "" => 1u64,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return Err(format!("unknown unit `{unit}`; use K, M, G or T (powers of 1024)")),
    };
    Ok((value * scale as f64) as u64)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => commands::check(&args.model.file, &args.model.overrides, args.memory.memory_limit),
        Command::Run(args) => commands::run(&run_options(args, false)),
        Command::Sample(args) => commands::run(&run_options(args, true)),
        Command::Grad(args) => commands::grad(&commands::GradOptions {
            file: args.model.file,
            overrides: args.model.overrides,
            wrt: args.wrt,
            loss: args.loss,
            check: args.check,
            json: args.json,
            out: args.out,
            checkpoints: args.checkpoints.map(|c| c as usize),
            mode: args.mode.into(),
            settings: args.settings.into(),
            engine: args.engine.into(),
        }),
        Command::Fit(args) => commands::fit(&commands::FitCommand {
            file: args.model.file,
            overrides: args.model.overrides,
            iters: args.iters,
            lr: args.lr,
            json: args.json,
            out: args.out,
            plot: args.plot.size(),
            settings: args.settings.into(),
            engine: args.engine.into(),
        }),
        Command::Devices => commands::devices(),
        Command::Emit(args) => commands::emit(&args.model.file, &args.model.overrides, args.stage.into()),
        Command::Fmt(args) => {
            if args.mode() == commands::FmtMode::Print && args.files.len() > 1 {
                let message = "printing formats one file; give --write or --check to format several";
                Cli::command().error(clap::error::ErrorKind::TooManyValues, message).exit();
            }
            commands::fmt(&args.files, args.mode())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            report(failure);
            ExitCode::FAILURE
        }
    }
}

/// Prints every diagnostic: in colour on a terminal, plain text otherwise.
fn report(failure: Failure) {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        for report in failure.into_reports() {
            eprintln!("{report:?}");
        }
    } else {
        eprint!("{}", failure.render_plain(100));
    }
}
