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

/// [`best`] of `a` and of `b`, their runs alternating: a load on the machine that comes and
/// goes then disturbs both alike, where timing all of one and then all of the other would let
/// it fall on one alone.
#[allow(dead_code)] // not every benchmark compares two loops
pub fn best_alternating<A, B>(
    repeats: usize,
    mut a: impl FnMut() -> A,
    mut b: impl FnMut() -> B,
) -> ((Duration, A), (Duration, B)) {
    let (mut best_a, mut best_b) = (Duration::MAX, Duration::MAX);
    let (mut last_a, mut last_b) = (None, None);
    for _ in 0..repeats {
        let start = Instant::now();
        last_a = Some(a());
        best_a = best_a.min(start.elapsed());
        let start = Instant::now();
        last_b = Some(b());
        best_b = best_b.min(start.elapsed());
    }
    let expect = "at least one repeat";
    ((best_a, last_a.expect(expect)), (best_b, last_b.expect(expect)))
}
