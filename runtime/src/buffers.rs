//! The storage of a program's buffers: one dense row-major `f64` vector each.

use ndarray::{ArrayViewD, IxDyn};
use noether_compiler::ir::{BufferId, Program};

/// Every buffer of a program, indexed by [`BufferId`]: what engines read and write.
#[derive(Clone, Debug)]
pub struct Buffers {
    data: Vec<Vec<f64>>,
    shapes: Vec<Vec<usize>>,
}

impl Buffers {
    /// Zero-filled storage for every buffer of `program`.
    pub fn for_program(program: &Program) -> Self {
        Buffers {
            data: program.buffers.iter().map(|b| vec![0.0; b.len()]).collect(),
            shapes: program.buffers.iter().map(|b| b.shape.clone()).collect(),
        }
    }

    /// Adds zeroed storage for the buffers `program` has beyond these (a program that extends
    /// the one these buffers were made for).
    pub fn extend_to(&mut self, program: &Program) {
        for buffer in &program.buffers[self.data.len()..] {
            self.data.push(vec![0.0; buffer.len()]);
            self.shapes.push(buffer.shape.clone());
        }
    }

    /// Drops the storage of buffers beyond the first `count`.
    pub fn truncate(&mut self, count: usize) {
        self.data.truncate(count);
        self.shapes.truncate(count);
    }

    /// Sets every element of a buffer.
    pub fn fill(&mut self, id: BufferId, value: f64) {
        self.data[id.index()].fill(value);
    }

    /// How many buffers there are.
    pub fn count(&self) -> usize {
        self.data.len()
    }

    /// A buffer's extents (empty for a scalar).
    pub fn shape(&self, id: BufferId) -> &[usize] {
        &self.shapes[id.index()]
    }

    /// A buffer's values, row-major.
    pub fn data(&self, id: BufferId) -> &[f64] {
        &self.data[id.index()]
    }

    /// A buffer's values, to write.
    pub fn data_mut(&mut self, id: BufferId) -> &mut [f64] {
        &mut self.data[id.index()]
    }

    /// The value of a one-element buffer.
    pub fn scalar(&self, id: BufferId) -> f64 {
        self.data[id.index()][0]
    }

    /// Sets a one-element buffer.
    pub fn set_scalar(&mut self, id: BufferId, value: f64) {
        self.data[id.index()][0] = value;
    }

    /// A buffer as an ndarray view of its shape.
    pub fn view(&self, id: BufferId) -> ArrayViewD<'_, f64> {
        ArrayViewD::from_shape(IxDyn(&self.shapes[id.index()]), &self.data[id.index()])
            .expect("a buffer's storage matches its shape")
    }

    /// Exchanges the contents of two buffers of one shape (a state and its next value).
    pub fn swap(&mut self, a: BufferId, b: BufferId) {
        self.data.swap(a.index(), b.index());
    }

    /// Exchanges a buffer's storage with `storage` (of the same length): moving a whole state in
    /// or out without copying it.
    pub fn exchange(&mut self, id: BufferId, storage: &mut Vec<f64>) {
        assert_eq!(storage.len(), self.data[id.index()].len(), "exchanged storage keeps the buffer's length");
        std::mem::swap(&mut self.data[id.index()], storage);
    }

    /// Moves a buffer's storage out, leaving it empty until [`Buffers::put`] returns it.
    pub fn take(&mut self, id: BufferId) -> Vec<f64> {
        std::mem::take(&mut self.data[id.index()])
    }

    /// Gives back storage moved out by [`Buffers::take`].
    pub fn put(&mut self, id: BufferId, storage: Vec<f64>) {
        self.data[id.index()] = storage;
    }

    /// Total bytes held (allocated).
    pub fn bytes(&self) -> usize {
        self.data.iter().map(|d| d.capacity() * size_of::<f64>()).sum()
    }
}

/// An owned n-dimensional array, as results are handed out.
pub type Array = ndarray::ArrayD<f64>;

/// A 1-D array of `values`.
pub fn array_1d(values: &[f64]) -> Array {
    ndarray::Array1::from(values.to_vec()).into_dyn()
}
