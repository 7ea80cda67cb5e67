//! What the benchmarks share.

use std::time::{Duration, Instant};

/// The best of `repeats` timings of `f` (the least disturbed by the machine), and its last value.
pub fn best<T>(repeats: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..repeats {
        let start = Instant::now();
        let value = f();
        best = best.min(start.elapsed());
        last = Some(value);
    }
    (best, last.expect("at least one repeat"))
}
