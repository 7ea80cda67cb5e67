//! Streaming observations to the caller while a run goes on: live plots, early stopping.
//!
//! [`Simulator::run_observing`] runs as [`Simulator::run`] does and hands the caller a [`Frame`]
//! at every observation the simulator records anyway: the start and every step of an
//! integration, every `thin`-th sweep after the burn-in of a sampler. A frame reads the values
//! just recorded (nothing is evaluated twice) and lends the simulator for states and params.
//! The caller answers [`ControlFlow::Break`] to stop there: the simulator is left at that step
//! or sweep, with the record up to it, checked for values that are not finite as a last step is.
//!
//! ```no_run
//! use std::ops::ControlFlow;
//! let model = noether_runtime::Model::from_file("examples/heat.noe")?;
//! let mut sim = model.simulator(noether_runtime::Backend::Interp)?;
//! sim.run_observing(|frame| {
//!     println!("t = {}: total = {}", frame.time(), frame.value("total").unwrap_or(f64::NAN));
//!     if frame.step() == 100 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
//! })?;
//! assert_eq!(sim.steps_done(), 100);
//! # Ok::<(), noether_compiler::diag::Failure>(())
//! ```
//!
//! The NaN guard checks states every few dozen steps, as in [`Simulator::run`]: when a run fails
//! on a value that is not finite, frames of up to that many steps past the failing one may have
//! been streamed before the error returns.

use std::ops::ControlFlow;

use noether_compiler::diag::Failure;

use crate::simulator::Simulator;

/// The simulator just after an observation: what a streaming caller sees at each one.
pub struct Frame<'a> {
    sim: &'a Simulator,
}

impl<'a> Frame<'a> {
    pub(crate) fn new(sim: &'a Simulator) -> Frame<'a> {
        Frame { sim }
    }

    /// Steps taken (for a sampler: sweeps made, burn-in included) when the values were recorded.
    pub fn step(&self) -> u64 {
        self.sim.steps_done()
    }

    /// The simulation time of the observation (for a sampler: the sweep count).
    pub fn time(&self) -> f64 {
        self.sim.time()
    }

    /// The value an observable was just recorded with; an unknown name is an error that lists
    /// the observables.
    pub fn value(&self, name: &str) -> Result<f64, Failure> {
        let series = self.sim.observable(name)?;
        Ok(*series.last().expect("a frame follows an observation"))
    }

    /// Every observable with the value just recorded, in declaration order.
    pub fn values(&self) -> impl Iterator<Item = (&'a str, f64)> + 'a {
        let scalars = &self.sim.model().checked().scalars;
        self.sim.observables.iter().map(move |(index, series)| {
            (scalars[*index].name.as_str(), *series.last().expect("a frame follows an observation"))
        })
    }

    /// The simulator itself, to read states, fields or params at this step.
    pub fn simulator(&self) -> &'a Simulator {
        self.sim
    }
}

impl Simulator {
    /// Runs as [`Simulator::run`], calling `observer` with a [`Frame`] at each observation; it
    /// returns [`ControlFlow::Break`] to stop the run there.
    pub fn run_observing(&mut self, mut observer: impl FnMut(&Frame<'_>) -> ControlFlow<()>) -> Result<(), Failure> {
        self.drive(&mut |_, _| {}, &mut observer)
    }
}
