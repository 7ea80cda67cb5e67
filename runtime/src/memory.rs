//! What a simulator will hold in memory, what it may use, and the refusal when the one exceeds
//! the other, before anything is allocated.
//!
//! A run holds its program's buffers and one copy of the states (the NaN guard's). A gradient
//! holds the gradient program's buffers (the forward ones, the adjoints, the temporaries of its
//! procedures) and the copies of states the reverse run keeps: its checkpoints, the recomputed
//! segment, and the final states. What the simulator may hold is the memory the system has
//! available (`MemAvailable` on Linux; no limit elsewhere) plus what the simulator holds
//! already, capped by [`crate::EngineOptions::memory_limit`]. The limit is how a user confines a
//! run below the machine's memory, and how tests provoke a refusal without exhausting it.
//!
//! For example, heat on a 256 × 256 grid over 1000 steps needs 1.5 MiB to run, and for its
//! gradient 2.5 MiB of buffers plus 65 copies of the 0.5 MiB state (32 checkpoints, a 32-step
//! segment, the final states): 35 MiB, which `noether grad --memory-limit 16M` refuses with both
//! figures.

use noether_compiler::diag::{Failure, Span};
use noether_compiler::ir::{BufferId, Program};

use crate::error::{RunError, bytes_text};
use crate::model::Model;

/// Bytes of one `f64` element.
const ELEMENT: u64 = size_of::<f64>() as u64;

/// Bytes of the buffer `id` of `program` (saturating: a size that overflows is too large anyway).
pub(crate) fn buffer_bytes(program: &Program, id: BufferId) -> u64 {
    program.buffers[id.index()].shape.iter().try_fold(ELEMENT, |acc, &e| acc.checked_mul(e as u64)).unwrap_or(u64::MAX)
}

/// Bytes of every buffer of `program`.
pub(crate) fn program_bytes(program: &Program) -> u64 {
    (0..program.buffers.len()).map(|b| buffer_bytes(program, BufferId(b as u32))).fold(0, u64::saturating_add)
}

/// Bytes of one copy of the model's states and what the step carries besides them (what the
/// NaN guard and the final-state copy hold).
pub(crate) fn states_bytes(model: &Model) -> u64 {
    let interface = &model.compiled().interface;
    let states = model.checked().states().filter_map(|s| interface.field_buffer(s));
    states.chain(interface.carried()).map(|b| buffer_bytes(model.program(), b)).fold(0, u64::saturating_add)
}

/// The most bytes a simulator may hold, and whether a user's limit or the machine set it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Allowance {
    /// The allowance in bytes.
    pub bytes: u64,
    limited: bool,
}

impl Allowance {
    /// What a simulator that already holds `held` bytes may hold in all.
    pub fn for_simulator(limit: Option<u64>, held: u64) -> Allowance {
        let machine = system_available().saturating_add(held);
        match limit {
            Some(limit) if limit <= machine => Allowance { bytes: limit, limited: true },
            _ => Allowance { bytes: machine, limited: false },
        }
    }
}

impl std::fmt::Display for Allowance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.limited {
            write!(f, "the memory limit of {}", bytes_text(self.bytes))
        } else {
            write!(f, "the {} available", bytes_text(self.bytes))
        }
    }
}

impl Model {
    /// Bytes a run of this model holds: its buffers and the NaN guard's copy of the states.
    pub fn run_bytes(&self) -> u64 {
        program_bytes(self.program()).saturating_add(states_bytes(self))
    }

    /// Refuses a model whose run would need more memory than it may use (see the module
    /// documentation), with both figures: what `noether check` and a new simulator check.
    pub fn check_memory(&self, limit: Option<u64>) -> Result<(), Failure> {
        let needed = self.run_bytes();
        let allowance = Allowance::for_simulator(limit, 0);
        if needed <= allowance.bytes {
            return Ok(());
        }
        Err(self.fail(RunError::TooLarge {
            needed: bytes_text(needed),
            allowance: allowance.to_string(),
            span: largest_field(self),
        }))
    }
}

/// The span of the field with the largest buffer, which a refusal points at.
pub(crate) fn largest_field(model: &Model) -> Span {
    let interface = &model.compiled().interface;
    let fields = model.checked().fields.iter().zip(&interface.fields);
    // Reversed, so that of equally large fields the first declared is chosen.
    fields
        .rev()
        .filter_map(|(field, buffer)| buffer.map(|b| (buffer_bytes(model.program(), b), field.span)))
        .max_by_key(|(bytes, _)| *bytes)
        .map(|(_, span)| span)
        .unwrap_or_default()
}

/// Memory the system has available: `MemAvailable` on Linux, else no limit.
fn system_available() -> u64 {
    let Ok(info) = std::fs::read_to_string("/proc/meminfo") else { return u64::MAX };
    info.lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(u64::MAX, |kb| kb.saturating_mul(1024))
}
