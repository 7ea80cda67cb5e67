//! The storage of the CPU engines: one dense row-major `f64` vector per buffer, in host memory,
//! and the [`Engine`] storage methods over it, written once for both kernel runners.
//!
//! [`Host`] owns the [`Buffers`] and a [`Kernels`] runner (the interpreter or the JIT) that runs
//! procedures over them. Reads lend slices of the vectors; stored copies are host vectors, and
//! [`Engine::exchange`] swaps a vector in and out of a buffer, so the adjoint's segment moves
//! whole states without copying them.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use noether_compiler::ir::{BufferId, ProcId, Program};

use super::{Engine, EngineError, Stored, StoredValues};

/// What runs a program's kernels over host buffers: the part of a CPU engine that differs.
pub(crate) trait Kernels {
    /// The engine's name.
    fn name(&self) -> &'static str;
    /// The program whose kernels these are.
    fn program(&self) -> &Program;
    /// Runs one procedure over `buffers`, which have the program's shapes.
    fn run(&mut self, procedure: ProcId, buffers: &mut Buffers) -> Result<(), EngineError>;
    /// Runs the kernels of `program` from now on (the JIT compiles them).
    fn switch(&mut self, program: Arc<Program>) -> Result<(), EngineError>;
}

/// Every buffer of a program, indexed by [`BufferId`]: what host kernels read and write.
#[derive(Debug)]
pub(crate) struct Buffers {
    data: Vec<Vec<f64>>,
}

impl Buffers {
    /// A buffer's values, row-major.
    pub fn data(&self, id: BufferId) -> &[f64] {
        &self.data[id.index()]
    }

    /// A buffer's values, to write.
    pub fn data_mut(&mut self, id: BufferId) -> &mut [f64] {
        &mut self.data[id.index()]
    }

    /// Moves a buffer's storage out, leaving it empty until [`Buffers::put`] returns it.
    pub fn take(&mut self, id: BufferId) -> Vec<f64> {
        std::mem::take(&mut self.data[id.index()])
    }

    /// Gives back storage moved out by [`Buffers::take`].
    pub fn put(&mut self, id: BufferId, storage: Vec<f64>) {
        self.data[id.index()] = storage;
    }
}

/// A CPU engine: host buffers and the kernels that run over them.
pub(crate) struct Host<K> {
    buffers: Buffers,
    kernels: K,
}

impl<K: Kernels> Host<K> {
    /// `kernels` over zero-filled buffers of their program.
    pub fn new(kernels: K) -> Self {
        let mut buffers = Buffers { data: Vec::new() };
        zeroed_beyond(&mut buffers, kernels.program());
        Host { buffers, kernels }
    }

    /// Buffer `id`'s vector, or an error saying what was being done with it.
    fn vector(&self, id: BufferId, doing: &str) -> Result<&Vec<f64>, EngineError> {
        self.buffers.data.get(id.index()).ok_or_else(|| self.error(id, doing, "there is no such buffer".into()))
    }

    /// Buffer `id`'s vector, to change.
    fn vector_mut(&mut self, id: BufferId, doing: &str) -> Result<&mut Vec<f64>, EngineError> {
        if id.index() >= self.buffers.data.len() {
            return Err(self.error(id, doing, "there is no such buffer".into()));
        }
        Ok(&mut self.buffers.data[id.index()])
    }

    fn error(&self, id: BufferId, doing: &str, message: String) -> EngineError {
        let buffer = self.kernels.program().buffers.get(id.index());
        let name = buffer.map_or_else(|| format!("#{}", id.index()), |b| b.name.clone());
        EngineError { engine: self.kernels.name(), during: format!("{doing} buffer `{name}`"), message }
    }

    /// The error for elements `range` outside a buffer of `len` elements.
    fn outside(&self, id: BufferId, doing: &str, range: &Range<usize>, len: usize) -> EngineError {
        self.error(id, doing, format!("elements {}..{} are not all among its {len}", range.start, range.end))
    }
}

impl<K: Kernels> Engine for Host<K> {
    fn name(&self) -> &'static str {
        self.kernels.name()
    }

    fn run(&mut self, procedure: ProcId) -> Result<(), EngineError> {
        self.kernels.run(procedure, &mut self.buffers)
    }

    fn read(&self, id: BufferId, range: Range<usize>) -> Result<Cow<'_, [f64]>, EngineError> {
        let values = self.vector(id, "reading")?;
        match values.get(range.clone()) {
            Some(slice) => Ok(Cow::Borrowed(slice)),
            None => Err(self.outside(id, "reading", &range, values.len())),
        }
    }

    fn write(&mut self, id: BufferId, start: usize, values: &[f64]) -> Result<(), EngineError> {
        let range = start..start.saturating_add(values.len());
        let target = self.vector_mut(id, "writing")?;
        let len = target.len();
        match target.get_mut(range.clone()) {
            Some(slice) => {
                slice.copy_from_slice(values);
                Ok(())
            }
            None => Err(self.outside(id, "writing", &range, len)),
        }
    }

    fn fill(&mut self, id: BufferId, value: f64) -> Result<(), EngineError> {
        self.vector_mut(id, "filling")?.fill(value);
        Ok(())
    }

    fn swap(&mut self, a: BufferId, b: BufferId) {
        self.buffers.data.swap(a.index(), b.index());
    }

    fn all_finite(&self, ids: &[BufferId]) -> Result<bool, EngineError> {
        for &id in ids {
            if !all_finite(self.vector(id, "checking")?) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn keep(&self, id: BufferId, stored: &mut Stored) -> Result<(), EngineError> {
        let values = self.vector(id, "keeping")?;
        let kept = stored.0.host();
        kept.clear();
        kept.extend_from_slice(values);
        Ok(())
    }

    fn put_back(&mut self, stored: &Stored, id: BufferId) -> Result<(), EngineError> {
        let len = self.vector(id, "restoring")?.len();
        match &stored.0 {
            StoredValues::Host(kept) if kept.len() == len => {
                self.vector_mut(id, "restoring")?.copy_from_slice(kept);
                Ok(())
            }
            _ => Err(self.error(id, "restoring", format!("the copy does not hold its {len} elements"))),
        }
    }

    fn exchange(&mut self, id: BufferId, stored: &mut Stored) -> Result<(), EngineError> {
        let values = self.vector_mut(id, "exchanging")?;
        let kept = stored.0.host();
        kept.resize(values.len(), 0.0);
        std::mem::swap(values, kept);
        Ok(())
    }

    fn switch_program(&mut self, program: Arc<Program>, keep: usize) -> Result<(), EngineError> {
        self.kernels.switch(program)?;
        self.buffers.data.truncate(keep);
        zeroed_beyond(&mut self.buffers, self.kernels.program());
        Ok(())
    }

    fn bytes(&self) -> usize {
        self.buffers.data.iter().map(|d| d.capacity() * size_of::<f64>()).sum()
    }

    fn buffer_count(&self) -> usize {
        self.buffers.data.len()
    }
}

/// Adds zeroed storage for the buffers `program` has beyond those in `buffers`.
fn zeroed_beyond(buffers: &mut Buffers, program: &Program) {
    let held = buffers.data.len();
    buffers.data.extend(program.buffers[held..].iter().map(|b| vec![0.0; b.len()]));
}

impl StoredValues {
    /// The host vector kept, an empty one first where nothing was kept yet.
    fn host(&mut self) -> &mut Vec<f64> {
        if let StoredValues::Empty = self {
            *self = StoredValues::Host(Vec::new());
        }
        let StoredValues::Host(values) = self else { unreachable!("a host vector was just made") };
        values
    }
}

/// Whether every value is finite: `v - v` is 0 for finite `v` and NaN otherwise, and NaN
/// survives addition. Eight independent differences per add keep the loop fast.
#[allow(clippy::eq_op, reason = "v - v is the finiteness test")]
fn all_finite(data: &[f64]) -> bool {
    let mut chunks = data.chunks_exact(8);
    let mut total = 0.0;
    for c in &mut chunks {
        let d = |i: usize| c[i] - c[i];
        total += ((d(0) + d(1)) + (d(2) + d(3))) + ((d(4) + d(5)) + (d(6) + d(7)));
    }
    total += chunks.remainder().iter().map(|v| v - v).sum::<f64>();
    !total.is_nan()
}
