//! A gradient checked against central finite differences: the work behind `grad --check`, here
//! so that embedders and tests get the same verdict as the command line.
//!
//! For every differentiated name, its first, middle and last entries are moved by `±h` (`h =
//! 1e-5·max(|x|, 1)`) and the loss is recomputed through the whole run. A check passes when the
//! two derivatives agree to [`GRADIENT_CHECK_TOLERANCE`] relative to the larger of them, or
//! differ by no more than rounding alone moves a central difference. Two sources count: the
//! loss's own rounding (a few ulps of `L`, over `h`) and the rounding of `x ± h` itself (`ε·|x|`
//! times the steeper one-sided slope, over `h`), which is what makes a difference at a kink such
//! as `abs(x - 0.5)` at `x = 0.5` read 3e-12 where the derivative is exactly 0.

use noether_compiler::diag::Failure;
use noether_compiler::model::FieldKind;

use crate::adjoint::Gradient;
use crate::simulator::Simulator;

/// The largest relative error a check passes. Central differences with the step used here err
/// by about `h² f'''` (1e-10 relative on smooth models) plus rounding, which the error's scale
/// absorbs (see [`GradientCheck::resolution`]); an exact gradient lands near 1e-8 or below, a
/// wrong one far above.
pub const GRADIENT_CHECK_TOLERANCE: f64 = 1e-4;

/// How many ulps of the loss its recomputation through a run may move by between `x + h` and
/// `x - h` (the two runs round alike, so their errors largely cancel; a few ulps remain).
const LOSS_ULPS: f64 = 16.0;

/// One derivative compared with its central difference.
#[derive(Clone, Debug, PartialEq)]
pub struct GradientCheck {
    /// The param or state differentiated by.
    pub name: String,
    /// The flat entry checked, for tensors; `None` for a scalar.
    pub index: Option<usize>,
    /// The derivative the adjoint computed.
    pub autodiff: f64,
    /// `(L(x + h) - L(x - h)) / 2h`.
    pub finite_difference: f64,
    /// The smallest derivative the difference resolves to the tolerance: what rounding (in
    /// the loss and in `x ± h`) moves it by, divided by the tolerance. Errors are relative to
    /// at least this, so two values that agree to within rounding (both zero by a symmetry, or
    /// at a kink) pass.
    pub resolution: f64,
}

impl GradientCheck {
    /// Whether the two derivatives agree to [`GRADIENT_CHECK_TOLERANCE`].
    pub fn passes(&self) -> bool {
        self.relative_error() <= GRADIENT_CHECK_TOLERANCE
    }

    /// `|autodiff - difference|` relative to the larger of the two and the resolution.
    pub fn relative_error(&self) -> f64 {
        let scale = self.autodiff.abs().max(self.finite_difference.abs()).max(self.resolution);
        if scale == 0.0 { 0.0 } else { (self.autodiff - self.finite_difference).abs() / scale }
    }

    /// Whether both derivatives are below what the difference resolves.
    pub fn unresolved(&self) -> bool {
        self.autodiff.abs().max(self.finite_difference.abs()) < self.resolution
    }
}

impl Simulator {
    /// Central differences of `gradient.loss` for every scalar and up to three entries (first,
    /// middle, last) of every tensor in `gradient`, each recomputed through the whole run.
    /// Params and initial states are restored afterwards.
    pub fn check_gradient(&mut self, gradient: &Gradient) -> Result<Vec<GradientCheck>, Failure> {
        let mut checks = Vec::new();
        for (name, value) in &gradient.gradients {
            let checked = self.model().checked();
            let is_param = checked.field_named(name).is_some_and(|f| checked.field(f).kind == FieldKind::Param);
            // A state's entry is its initial value: what the offset moves.
            self.clear_initial_offsets();
            self.reset()?;
            let values: Vec<f64> = self.field(name)?.iter().copied().collect();
            let len = value.len();
            let mut indices = vec![0, len / 2, len.saturating_sub(1)];
            indices.dedup();
            for index in indices {
                let x = values[index];
                let h = 1e-5 * x.abs().max(1.0);
                let plus = self.loss_moved(&gradient.loss, name, is_param, index, x, h)?;
                let minus = self.loss_moved(&gradient.loss, name, is_param, index, x, -h)?;
                self.move_entry(name, is_param, index, x, 0.0)?;
                let steeper_side = (plus - gradient.value).abs().max((gradient.value - minus).abs()) / h;
                let loss_rounding = LOSS_ULPS * f64::EPSILON * plus.abs().max(minus.abs()).max(gradient.value.abs());
                let step_rounding = 2.0 * f64::EPSILON * x.abs() * steeper_side;
                checks.push(GradientCheck {
                    name: name.clone(),
                    index: (value.ndim() > 0).then_some(index),
                    autodiff: value.iter().nth(index).copied().unwrap_or(0.0),
                    finite_difference: (plus - minus) / (2.0 * h),
                    resolution: (loss_rounding + step_rounding) / h / GRADIENT_CHECK_TOLERANCE,
                });
            }
        }
        Ok(checks)
    }

    /// The loss through the run with entry `index` of `name` at `x + delta`.
    fn loss_moved(
        &mut self,
        loss: &str,
        name: &str,
        is_param: bool,
        index: usize,
        x: f64,
        delta: f64,
    ) -> Result<f64, Failure> {
        self.move_entry(name, is_param, index, x, delta)?;
        self.loss_through_run(loss)
    }

    /// Puts entry `index` of a param at `x + delta`, or offsets a state's initial value by
    /// `delta` (a zero offset restores it).
    fn move_entry(&mut self, name: &str, is_param: bool, index: usize, x: f64, delta: f64) -> Result<(), Failure> {
        if is_param {
            let mut moved = self.field(name)?.to_owned();
            if let Some(entry) = moved.iter_mut().nth(index) {
                *entry = x + delta;
            }
            self.set_param_array(name, &moved.view())
        } else {
            self.clear_initial_offsets();
            if delta == 0.0 { Ok(()) } else { self.set_initial_offset(name, index, delta) }
        }
    }
}
