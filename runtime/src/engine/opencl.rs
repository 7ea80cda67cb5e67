//! The OpenCL engine: every kernel written as OpenCL C ([`noether_compiler::codegen::opencl`]),
//! built once per model and device, run over buffers that stay on the device.
//!
//! Between procedures nothing crosses to the host but what the simulator asks for: the clock's
//! four scalars are written, observables and path prefixes read, and the NaN guard reads one
//! flag per state (a kernel clears it where an element is not finite). Swaps exchange buffer
//! handles; the adjoint's checkpoints are device buffers ([`Stored`]). The in-order queue runs
//! kernels in the order of their procedure, as the interpreter does.
//!
//! Enqueueing a kernel is the one `unsafe` operation: the device runs code we wrote, which
//! reads and writes only the buffers passed to it, in range (the writer resolves every index by
//! its boundary rule; `Direct` loads are proven in range by the IR verifier), and each buffer
//! argument is a device buffer of exactly the program's shape.

#![allow(unsafe_code)]

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use noether_compiler::codegen::opencl::{self, CHECK_FINITE, Entry, Precision, SET_ELEMENT, WorkItems};
use noether_compiler::ir::{BufferId, ProcId, Program};
use ocl::enums::{DeviceInfo, DeviceInfoResult};

use super::{DeviceDescription, Engine, EngineError, Stored, StoredValues};

/// The number type a device computes in: `f64`, or `f32` for `--precision f32`. The host side
/// of the engine (reads, writes) stays in `f64`.
pub trait Real: ocl::OclPrm {
    /// The precision of the OpenCL C the engine writes.
    const PRECISION: Precision;
    /// `value` rounded to this type.
    fn from_f64(value: f64) -> Self;
    /// Values rounded to this type (copied even when it is `f64`).
    fn from_f64s(values: &[f64]) -> Vec<Self>;
    /// Values widened to `f64` (moved when this is `f64`).
    fn to_f64s(values: Vec<Self>) -> Vec<f64>;
    /// A device buffer of this type as a stored copy.
    fn into_stored(buffer: ocl::Buffer<Self>) -> Stored;
    /// The device buffer of this type in `stored`, if that is what it holds.
    fn stored(stored: &Stored) -> Option<&ocl::Buffer<Self>>;
    /// The same, to exchange.
    fn stored_mut(stored: &mut Stored) -> Option<&mut ocl::Buffer<Self>>;
}

impl Real for f64 {
    const PRECISION: Precision = Precision::F64;
    fn from_f64(value: f64) -> f64 {
        value
    }
    fn from_f64s(values: &[f64]) -> Vec<f64> {
        values.to_vec()
    }
    fn to_f64s(values: Vec<f64>) -> Vec<f64> {
        values
    }
    fn into_stored(buffer: ocl::Buffer<f64>) -> Stored {
        Stored(StoredValues::Device(buffer))
    }
    fn stored(stored: &Stored) -> Option<&ocl::Buffer<f64>> {
        if let StoredValues::Device(buffer) = &stored.0 { Some(buffer) } else { None }
    }
    fn stored_mut(stored: &mut Stored) -> Option<&mut ocl::Buffer<f64>> {
        if let StoredValues::Device(buffer) = &mut stored.0 { Some(buffer) } else { None }
    }
}

impl Real for f32 {
    const PRECISION: Precision = Precision::F32;
    fn from_f64(value: f64) -> f32 {
        value as f32
    }
    fn from_f64s(values: &[f64]) -> Vec<f32> {
        values.iter().map(|v| *v as f32).collect()
    }
    fn to_f64s(values: Vec<f32>) -> Vec<f64> {
        values.into_iter().map(f64::from).collect()
    }
    fn into_stored(buffer: ocl::Buffer<f32>) -> Stored {
        Stored(StoredValues::DeviceSingle(buffer))
    }
    fn stored(stored: &Stored) -> Option<&ocl::Buffer<f32>> {
        if let StoredValues::DeviceSingle(buffer) = &stored.0 { Some(buffer) } else { None }
    }
    fn stored_mut(stored: &mut Stored) -> Option<&mut ocl::Buffer<f32>> {
        if let StoredValues::DeviceSingle(buffer) = &mut stored.0 { Some(buffer) } else { None }
    }
}

/// Why no OpenCL engine could be made: what the user has to install or choose.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{problem}")]
pub struct SetupError {
    /// What is missing.
    pub problem: String,
    /// What to do about it.
    pub help: String,
}

/// Every device of every platform, in `--device` order.
pub fn devices() -> Result<Vec<DeviceDescription>, SetupError> {
    Ok(all_devices()?
        .into_iter()
        .enumerate()
        .map(|(index, (platform, device))| DeviceDescription {
            index,
            platform: platform.name().unwrap_or_else(|_| "unnamed platform".into()),
            name: device.name().unwrap_or_else(|_| "unnamed device".into()),
            fp64: has_fp64(&device),
            memory: match device.info(DeviceInfo::GlobalMemSize) {
                Ok(DeviceInfoResult::GlobalMemSize(bytes)) => bytes,
                _ => 0,
            },
        })
        .collect())
}

fn all_devices() -> Result<Vec<(ocl::Platform, ocl::Device)>, SetupError> {
    // The ICD loader and drivers initialise on first use, and not safely from several threads
    // at once (a concurrent first query can find no device): one discovery at a time.
    static DISCOVERY: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = DISCOVERY.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let no_platform = |detail: String| SetupError {
        problem: format!("no OpenCL platform is installed{detail}"),
        help: "install an OpenCL driver for your device, or POCL for the CPU \
               (Debian/Ubuntu: `apt-get install pocl-opencl-icd ocl-icd-opencl-dev`)"
            .into(),
    };
    let platforms = ocl::core::get_platform_ids().map_err(|e| no_platform(format!(" ({})", first_line(&e))))?;
    if platforms.is_empty() {
        return Err(no_platform(String::new()));
    }
    let mut found = Vec::new();
    let mut failures = Vec::new();
    for id in platforms {
        let platform = ocl::Platform::new(id);
        // A platform without devices is not an error: another may have some.
        match ocl::Device::list_all(platform) {
            Ok(devices) => found.extend(devices.into_iter().map(|device| (platform, device))),
            Err(e) => failures.push(first_line(&e)),
        }
    }
    if found.is_empty() {
        let detail = if failures.is_empty() { String::new() } else { format!(" ({})", failures.join("; ")) };
        return Err(SetupError {
            problem: format!("the installed OpenCL platforms offer no device{detail}"),
            help: "check the driver with `clinfo`, or install POCL for the CPU (`pocl-opencl-icd`)".into(),
        });
    }
    Ok(found)
}

fn has_fp64(device: &ocl::Device) -> bool {
    match device.info(DeviceInfo::Extensions) {
        Ok(DeviceInfoResult::Extensions(extensions)) => extensions.split_whitespace().any(|e| e == "cl_khr_fp64"),
        _ => false,
    }
}

fn first_line(error: &dyn std::fmt::Display) -> String {
    error.to_string().lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string()
}

/// The OpenCL engine: a context and in-order queue on one device, the program built for it,
/// and every buffer of the program in device memory.
pub struct OpenCl<T: Real> {
    device_name: String,
    queue: ocl::Queue,
    program: Arc<Program>,
    /// `None` only while [`OpenCl::new`] builds it.
    built: Option<Built>,
    buffers: Vec<ocl::Buffer<T>>,
    /// The NaN guard's flag.
    finite: ocl::Buffer<i32>,
    /// A point per work item on a GPU, a row on a CPU.
    layout: WorkItems,
    /// For each one-element buffer no kernel writes (`dt`, the seed, a scalar param): the bits
    /// the host last wrote there, so writing the same again (every step's clock) is skipped.
    known: Vec<Option<u64>>,
    /// Which buffers those are.
    rememberable: Vec<bool>,
}

/// A program's kernels, built for the device.
struct Built {
    entries: Vec<Entry>,
    kernels: Vec<ocl::Kernel>,
    check_finite: ocl::Kernel,
    set_element: ocl::Kernel,
}

impl<T: Real> OpenCl<T> {
    /// Builds `program` for device `device` (default: the first that computes in double
    /// precision, or the first at all for `f32`) and allocates its buffers there, zeroed.
    /// `work_items` chooses how rank-2+ kernels divide their points (default: a row per work
    /// item on CPU devices, a point on others).
    pub fn new(
        program: Arc<Program>,
        device: Option<usize>,
        work_items: Option<WorkItems>,
    ) -> Result<OpenCl<T>, NewError> {
        let (platform, device) = choose(device, T::PRECISION)?;
        let device_name = device.name().unwrap_or_else(|_| "unnamed device".into());
        let internal = |e: ocl::Error| NewError::Engine(failure(&device_name, "setting up the device", &e));
        let context = ocl::Context::builder().platform(platform).devices(device).build().map_err(internal)?;
        let queue = ocl::Queue::new(&context, device, None).map_err(internal)?;
        let finite = ocl::Buffer::builder().queue(queue.clone()).len(1).fill_val(1).build().map_err(internal)?;
        let layout = work_items.unwrap_or(match device.info(DeviceInfo::Type) {
            Ok(DeviceInfoResult::Type(kind)) if kind.contains(ocl::flags::DeviceType::CPU) => WorkItems::Rows,
            _ => WorkItems::Points,
        });
        let mut engine = OpenCl {
            device_name,
            queue,
            program: program.clone(),
            built: None,
            buffers: Vec::new(),
            finite,
            layout,
            known: Vec::new(),
            rememberable: Vec::new(),
        };
        engine.load(program, 0).map_err(NewError::Engine)?;
        Ok(engine)
    }

    /// Builds `program`, keeps the first `keep` buffers and gives the others zeroed storage.
    fn load(&mut self, program: Arc<Program>, keep: usize) -> Result<(), EngineError> {
        self.buffers.truncate(keep);
        for buffer in &program.buffers[self.buffers.len()..] {
            let storage = self.allocate(buffer.len())?;
            self.buffers.push(storage);
        }
        self.built = Some(self.build(&program)?);
        self.known = vec![None; program.buffers.len()];
        let written: std::collections::HashSet<BufferId> =
            program.kernels.iter().flat_map(|k| &k.outputs).map(|output| output.buffer).collect();
        self.rememberable = (0..program.buffers.len())
            .map(|b| program.buffers[b].len() == 1 && !written.contains(&BufferId(b as u32)))
            .collect();
        self.program = program;
        Ok(())
    }

    /// Writes `program` as OpenCL C, builds it for the device and makes its kernels.
    fn build(&self, program: &Program) -> Result<Built, EngineError> {
        let source = opencl::write(program, self.layout, T::PRECISION)
            .map_err(|e| self.error(&format!("in kernel `{}`", e.kernel), &e.message))?;
        let built = ocl::Program::builder()
            .src(source.text.as_str())
            .devices(self.queue.device())
            .build(&self.queue.context())
            .map_err(|e| self.build_error(program, &source.text, &e))?;
        // Arguments are set again at every launch (swaps exchange buffers); these declare them.
        let mut kernels = Vec::with_capacity(source.kernels.len());
        for entry in &source.kernels {
            let mut builder = ocl::Kernel::builder();
            builder.program(&built).name(entry.function.as_str()).queue(self.queue.clone());
            builder.global_work_size(entry.work_items.max(1));
            for buffer in &entry.buffers {
                builder.arg(&self.buffers[buffer.index()]);
            }
            kernels.push(builder.build().map_err(|e| self.fail(&format!("creating kernel {}", entry.function), &e))?);
        }
        let mut check_finite = ocl::Kernel::builder();
        check_finite.arg(None::<&ocl::Buffer<T>>).arg(&self.finite);
        let mut set_element = ocl::Kernel::builder();
        set_element.arg(None::<&ocl::Buffer<T>>).arg(0u64).arg(T::from_f64(0.0));
        let [check_finite, set_element] =
            [(CHECK_FINITE, check_finite), (SET_ELEMENT, set_element)].map(|(name, mut b)| {
                b.program(&built).name(name).queue(self.queue.clone()).global_work_size(1);
                b.build().map_err(|e| self.fail(&format!("creating kernel {name}"), &e))
            });
        Ok(Built { entries: source.kernels, kernels, check_finite: check_finite?, set_element: set_element? })
    }

    fn built(&self) -> &Built {
        self.built.as_ref().expect("built when made")
    }

    fn allocate(&self, len: usize) -> Result<ocl::Buffer<T>, EngineError> {
        // OpenCL has no empty buffers; an empty one is never read.
        ocl::Buffer::builder()
            .queue(self.queue.clone())
            .len(len.max(1))
            .fill_val(T::from_f64(0.0))
            .build()
            .map_err(|e| self.fail("allocating a buffer", &e))
    }

    /// The name of the device it runs on.
    pub fn device_name(&self) -> &str {
        &self.device_name
    }

    fn error(&self, during: &str, message: &str) -> EngineError {
        EngineError {
            engine: "opencl",
            during: during.to_string(),
            message: format!("{message} (device: {})", self.device_name),
        }
    }

    fn fail(&self, during: &str, e: &ocl::Error) -> EngineError {
        failure(&self.device_name, during, e)
    }

    /// A build failure, naming the kernel whose source the first error points into.
    fn build_error(&self, program: &Program, text: &str, e: &ocl::Error) -> EngineError {
        let log = e.to_string();
        let line = log.lines().find_map(error_line);
        let kernel = line.and_then(|line| {
            let before: usize = text.lines().take(line).filter(|l| l.starts_with("__kernel void k")).count();
            before.checked_sub(1).map(|k| program.kernels[k].name.clone())
        });
        let during = match kernel {
            Some(name) => format!("building kernel `{name}`"),
            None => "building the program".into(),
        };
        self.error(&during, &log.lines().filter(|l| l.contains("error")).take(5).collect::<Vec<_>>().join("; "))
    }

    fn buffer(&self, id: BufferId) -> &ocl::Buffer<T> {
        &self.buffers[id.index()]
    }

    /// The device buffer in `stored`, made the length of buffer `id` if it is not already.
    fn device_copy<'s>(&self, id: BufferId, stored: &'s mut Stored) -> Result<&'s ocl::Buffer<T>, EngineError> {
        let len = self.program.buffer(id).len().max(1);
        if T::stored(stored).is_none_or(|kept| kept.len() != len) {
            *stored = T::into_stored(self.allocate(len)?);
        }
        Ok(T::stored(stored).expect("allocated above"))
    }
}

/// The line number (1-based) of a compiler message `<file>:LINE:COL: error: ...`.
fn error_line(message: &str) -> Option<usize> {
    let (_, rest) = message.split_once(':')?;
    let (line, rest) = rest.split_once(':')?;
    rest.contains("error").then(|| line.trim().parse().ok()).flatten()
}

fn failure(device: &str, during: &str, e: &ocl::Error) -> EngineError {
    EngineError {
        engine: "opencl",
        during: during.to_string(),
        message: format!("{} (device: {device})", first_line(e)),
    }
}

/// Why [`OpenCl::new`] failed: nothing to run on, or a bug.
#[derive(Debug, thiserror::Error)]
pub enum NewError {
    /// No platform, no device, no double precision: the user's installation.
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// Building or allocating failed: a bug in Noether or the driver.
    #[error(transparent)]
    Engine(EngineError),
}

/// The device numbered `index`, or the first that computes in `precision`.
fn choose(index: Option<usize>, precision: Precision) -> Result<(ocl::Platform, ocl::Device), SetupError> {
    let usable = |device: &ocl::Device| precision == Precision::F32 || has_fp64(device);
    let devices = all_devices()?;
    let listed = || {
        devices
            .iter()
            .enumerate()
            .map(|(i, (_, d))| format!("{i}: {}", d.name().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match index {
        Some(i) => {
            let Some(&(platform, device)) = devices.get(i) else {
                return Err(SetupError {
                    problem: format!("there is no OpenCL device {i}"),
                    help: format!("the devices are {}; `noether devices` describes them", listed()),
                });
            };
            if !usable(&device) {
                return Err(SetupError {
                    problem: format!("OpenCL device {i} ({}) does not compute in double precision", device.name().unwrap_or_default()),
                    help: "Noether computes in f64, which needs `cl_khr_fp64`: pick another device with `--device` (`noether devices` lists them), or compute in single precision with `--precision f32`".into(),
                });
            }
            Ok((platform, device))
        }
        None => devices.iter().copied().find(|(_, d)| usable(d)).ok_or_else(|| SetupError {
            problem: "no OpenCL device computes in double precision".into(),
            help: format!(
                "Noether computes in f64, which needs `cl_khr_fp64`; the devices are {}. Compute in single precision with `--precision f32`, or install POCL (`pocl-opencl-icd`), which runs on the CPU in f64",
                listed()
            ),
        }),
    }
}

impl<T: Real> Engine for OpenCl<T> {
    fn name(&self) -> &'static str {
        "opencl"
    }

    fn run(&mut self, procedure: ProcId) -> Result<(), EngineError> {
        let program = Arc::clone(&self.program);
        for &kernel in &program.procedure(procedure).kernels {
            let (entry, compiled) = (&self.built().entries[kernel.index()], &self.built().kernels[kernel.index()]);
            let during = || format!("in kernel `{}`", program.kernel(kernel).name);
            for (position, buffer) in entry.buffers.iter().enumerate() {
                compiled.set_arg(position, self.buffer(*buffer)).map_err(|e| self.fail(&during(), &e))?;
            }
            // SAFETY: see the module documentation.
            unsafe { compiled.enq() }.map_err(|e| self.fail(&during(), &e))?;
        }
        Ok(())
    }

    fn read(&self, id: BufferId, range: Range<usize>) -> Result<Cow<'_, [f64]>, EngineError> {
        let mut values = vec![T::from_f64(0.0); range.len()];
        if !values.is_empty() {
            self.buffer(id)
                .read(&mut values)
                .offset(range.start)
                .enq()
                .map_err(|e| self.fail(&format!("reading buffer `{}`", self.program.buffer(id).name), &e))?;
        }
        Ok(Cow::Owned(T::to_f64s(values)))
    }

    fn write(&mut self, id: BufferId, start: usize, values: &[f64]) -> Result<(), EngineError> {
        let during = || format!("writing buffer `{}`", self.program.buffer(id).name);
        if start + values.len() > self.program.buffer(id).len() {
            return Err(self.error(&during(), "the elements written lie outside the buffer"));
        }
        let remembered = self.rememberable[id.index()].then(|| values.first().map(|v| v.to_bits())).flatten();
        if remembered.is_some() && self.known[id.index()] == remembered {
            return Ok(());
        }
        self.known[id.index()] = remembered;
        if let [value] = values {
            // One element (the clock, a scalar param): a kernel, so the host does not wait for
            // the queue to drain.
            let set = &self.built().set_element;
            set.set_arg(0, self.buffer(id)).map_err(|e| self.fail(&during(), &e))?;
            set.set_arg(1, start as u64).map_err(|e| self.fail(&during(), &e))?;
            set.set_arg(2, T::from_f64(*value)).map_err(|e| self.fail(&during(), &e))?;
            // SAFETY: writes element `start` of the buffer, which lies inside it (checked above).
            return unsafe { set.enq() }.map_err(|e| self.fail(&during(), &e));
        }
        if values.is_empty() {
            return Ok(());
        }
        let values = T::from_f64s(values);
        self.buffer(id).write(&values[..]).offset(start).enq().map_err(|e| self.fail(&during(), &e))
    }

    fn fill(&mut self, id: BufferId, value: f64) -> Result<(), EngineError> {
        self.known[id.index()] = None;
        self.buffer(id)
            .cmd()
            .fill(T::from_f64(value), None)
            .enq()
            .map_err(|e| self.fail(&format!("filling buffer `{}`", self.program.buffer(id).name), &e))
    }

    fn swap(&mut self, a: BufferId, b: BufferId) {
        self.buffers.swap(a.index(), b.index());
        self.known.swap(a.index(), b.index());
    }

    fn all_finite(&self, ids: &[BufferId]) -> Result<bool, EngineError> {
        let during = "checking states for NaN";
        self.finite.cmd().fill(1, None).enq().map_err(|e| self.fail(during, &e))?;
        for &id in ids {
            let len = self.program.buffer(id).len();
            if len == 0 {
                continue;
            }
            let check = &self.built().check_finite;
            check.set_arg(0, self.buffer(id)).map_err(|e| self.fail(during, &e))?;
            // SAFETY: the check reads `len` elements of a buffer that long and writes one int.
            unsafe { check.cmd().global_work_size(len).enq() }.map_err(|e| self.fail(during, &e))?;
        }
        let mut flag = [1i32];
        self.finite.read(&mut flag[..]).enq().map_err(|e| self.fail(during, &e))?;
        Ok(flag[0] == 1)
    }

    fn keep(&self, id: BufferId, stored: &mut Stored) -> Result<(), EngineError> {
        let kept = self.device_copy(id, stored)?;
        self.buffer(id).copy(kept, None, None).enq().map_err(|e| self.fail("keeping a state", &e))
    }

    fn put_back(&mut self, stored: &Stored, id: BufferId) -> Result<(), EngineError> {
        self.known[id.index()] = None;
        match (T::stored(stored), &stored.0) {
            (Some(kept), _) => {
                kept.copy(self.buffer(id), None, None).enq().map_err(|e| self.fail("restoring a state", &e))
            }
            (None, StoredValues::Host(values)) => self.write(id, 0, values),
            (None, _) => Err(self.error("restoring a state", "nothing was kept on this device")),
        }
    }

    fn exchange(&mut self, id: BufferId, stored: &mut Stored) -> Result<(), EngineError> {
        self.known[id.index()] = None;
        self.device_copy(id, stored)?;
        let kept = T::stored_mut(stored).expect("made by device_copy");
        std::mem::swap(kept, &mut self.buffers[id.index()]);
        Ok(())
    }

    fn switch_program(&mut self, program: Arc<Program>, keep: usize) -> Result<(), EngineError> {
        self.load(program, keep)
    }

    fn bytes(&self) -> usize {
        self.buffers.iter().map(|b| b.len() * size_of::<T>()).sum()
    }

    fn buffer_count(&self) -> usize {
        self.buffers.len()
    }
}
