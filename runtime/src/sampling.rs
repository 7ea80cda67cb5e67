//! The sampling driver: the sweeps of a `sample` directive, beside the time loop.
//!
//! The compiler describes a sampler as procedures and phases
//! ([`noether_compiler::lower::sample`]); one sweep is [`sweep`], a function of nothing but the
//! engine (which holds the buffers) and that description. Around it, `Simulator::sample_with` restarts
//! from the initial states, runs the sampler's `prepare` once, makes `burn_in + sweeps` sweeps
//! (sweep `n` draws with counter `n`, so a chain is a function of the seed alone), records the
//! observables after every `thin`-th sweep past the burn-in (the times are sweep counts), keeps
//! the acceptance rate of samplers that accept or reject, and stops when a state is not finite
//! (checked every `GUARD_INTERVAL` sweeps and after the last, so up to that many sweeps may be
//! recorded first), naming the sweep of the check.

use std::ops::ControlFlow;

use noether_compiler::diag::Failure;
use noether_compiler::ir::{BufferId, Program};
use noether_compiler::lower::sample::{Phase, SamplerProgram, shuffle};
use noether_compiler::model::SampleSchedule;

use crate::engine::{Engine, EngineError};
use crate::error::{RunError, index_text, unflatten};
use crate::simulator::Simulator;
use crate::stream::Frame;

/// Sweeps between checks for values that are not finite (a check reads every state).
const GUARD_INTERVAL: u64 = 64;

/// The acceptance of a sampler that accepts or rejects.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Acceptance {
    /// The fraction of chains accepting in each recorded sweep.
    pub series: Vec<f64>,
    sum: f64,
    sweeps: u64,
}

impl Acceptance {
    /// The fraction of proposals accepted over every sweep after the burn-in.
    pub fn rate(&self) -> Option<f64> {
        (self.sweeps > 0).then(|| self.sum / self.sweeps as f64)
    }
}

/// One sweep of `sampler`, a sampler of `program` (the step counter buffer already holds the
/// sweep's number `sweep`). A shuffle is drawn into `order`, kept from sweep to sweep so that it
/// allocates nothing, and written to its list buffer.
pub fn sweep(
    engine: &mut dyn Engine,
    program: &Program,
    sampler: &SamplerProgram,
    seed: u32,
    sweep: u64,
    order: &mut Vec<f64>,
) -> Result<(), EngineError> {
    for phase in &sampler.sweep {
        match phase {
            Phase::Run { procedures, repeat, swaps } => {
                for _ in 0..*repeat {
                    for &procedure in procedures {
                        engine.run(procedure)?;
                    }
                    for &(a, b) in swaps {
                        engine.swap(a, b);
                    }
                }
            }
            Phase::Shuffle { list, stream } => {
                order.resize(program.buffer(*list).len(), 0.0);
                shuffle(order, seed, *stream, sweep);
                engine.write(*list, 0, order)?;
            }
        }
    }
    Ok(())
}

impl Simulator {
    /// Restarts from the initial states and makes the sweeps of `schedule`, calling
    /// `progress(done, total)` after each and `observer` after each recorded one, stopping
    /// after the sweep where `observer` breaks (its states checked as the last sweep's are).
    pub(crate) fn sample_with(
        &mut self,
        schedule: SampleSchedule,
        progress: &mut dyn FnMut(u64, u64),
        observer: &mut dyn FnMut(&Frame<'_>) -> ControlFlow<()>,
    ) -> Result<(), Failure> {
        let interface = &self.model.compiled().interface;
        let sampler = interface.sampler.clone().expect("a sampling script has a sampler program");
        self.restart()?;
        self.run_procedure(sampler.prepare)?;
        let total = schedule.burn_in + schedule.sweeps;
        let mut order = Vec::new();
        for n in 0..total {
            self.set_clock(n)?;
            sweep(&mut *self.engine, self.model.program(), &sampler, schedule.seed as u32, n, &mut order)
                .map_err(self.model.engine_failure())?;
            self.set_clock(n + 1)?;
            let done = n + 1;
            if done % GUARD_INTERVAL == 0 || done == total {
                self.check_sampled(n)?;
            }
            if n >= schedule.burn_in {
                let accepted = match sampler.acceptance {
                    Some(buffer) => Some(self.engine.scalar(buffer).map_err(self.model.engine_failure())?),
                    None => None,
                };
                if let Some(fraction) = accepted {
                    self.acceptance.sum += fraction;
                    self.acceptance.sweeps += 1;
                }
                if (done - schedule.burn_in) % schedule.thin == 0 {
                    self.observe()?;
                    self.acceptance.series.extend(accepted);
                    if observer(&Frame::new(self)).is_break() {
                        progress(done, total);
                        return self.check_sampled(n);
                    }
                }
            }
            progress(done, total);
        }
        Ok(())
    }

    /// The acceptance of the last sampling run (empty for samplers that always take their move).
    pub fn acceptance(&self) -> &Acceptance {
        &self.acceptance
    }

    /// Stops at the first sampled value that is not finite, as of sweep `n` (counted from 0).
    fn check_sampled(&self, n: u64) -> Result<(), Failure> {
        if self.states_finite()? {
            return Ok(());
        }
        let checked = self.model.checked();
        let spec = checked.sample.as_ref().expect("a sampling script has a sample directive");
        for &state in &spec.vars {
            let buffer: BufferId = self.model.compiled().interface.field_buffer(state).expect("states have buffers");
            let data = self.values(buffer)?;
            let Some(bad) = data.iter().position(|v| !v.is_finite()) else { continue };
            return Err(self.model.fail(RunError::NonFiniteSample {
                state: checked.field(state).name.clone(),
                value: data[bad],
                sweep: n + 1,
                index: index_text(&unflatten(bad, self.shape(buffer))),
                span: spec.span,
            }));
        }
        Ok(())
    }
}
