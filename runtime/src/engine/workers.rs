//! The JIT's worker threads: a call's chunks split between the calling thread (chunk 0) and one
//! worker per other chunk.
//!
//! Why not a rayon pool: a kernel call is short (a 256² stencil step takes about 40 µs) and a
//! simulation makes thousands of them back to back. Rayon puts idle workers to sleep, and a
//! caller outside the pool sleeps on a lock until its jobs are done: two wake-ups per call,
//! measured at 18 µs on a 2-core virtual machine, as long as the work being split. Here a worker
//! waits for the next call by spinning for about a tenth of a millisecond before it sleeps, and
//! the caller spins until its chunks are done, so a call made soon after the previous one costs
//! well under a microsecond to hand out (OpenMP runtimes wait the same way by default). Waiting
//! loops yield the processor between rounds, so that more threads than cores still progress.

#![allow(unsafe_code)]

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

/// Rounds a waiting thread spins before it sleeps (a worker) or between yields (the caller).
const SPIN_ROUNDS: u32 = 128;
/// Spin-loop hints per round: about a microsecond.
const HINTS_PER_ROUND: u32 = 64;

/// Threads that run calls' chunks; dropping it stops and joins them.
pub(crate) struct Workers {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

/// What the caller and the workers share.
struct Shared {
    /// The current call, written by the caller while no worker is running a chunk.
    call: Mutex<Call>,
    /// The number of the latest call: workers wake up when it changes.
    latest: AtomicU64,
    /// Chunks of the current call that workers have not finished.
    remaining: AtomicUsize,
    /// Whether a worker's chunk panicked (its payload is in `call`).
    panicked: AtomicBool,
    /// Workers sleeping on `wake`.
    sleepers: AtomicUsize,
    wake: Condvar,
    stop: AtomicBool,
}

/// One call: its number, its chunk count, and what runs a chunk.
struct Call {
    number: u64,
    chunks: usize,
    /// Valid while the call runs: `run` waits for every chunk before it returns.
    work: Option<WorkPointer>,
    panic: Option<Box<dyn Any + Send>>,
}

/// The caller's closure, its lifetime erased (see [`Workers::run`]).
#[derive(Clone, Copy)]
struct WorkPointer(*const (dyn Fn(usize) + Sync));

// SAFETY: the closure is `Sync`; the pointer is dereferenced only while `run` keeps it alive.
unsafe impl Send for WorkPointer {}

impl Workers {
    /// Starts `threads - 1` workers: with the caller, `threads` chunks run at once.
    pub fn new(threads: usize) -> std::io::Result<Workers> {
        let shared = Arc::new(Shared {
            call: Mutex::new(Call { number: 0, chunks: 0, work: None, panic: None }),
            latest: AtomicU64::new(0),
            remaining: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            sleepers: AtomicUsize::new(0),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let mut workers = Workers { shared, threads: Vec::new() };
        for index in 1..threads.max(1) {
            let shared = Arc::clone(&workers.shared);
            let thread = std::thread::Builder::new()
                .name(format!("noether-worker-{index}"))
                .spawn(move || work(&shared, index))?;
            workers.threads.push(thread);
        }
        Ok(workers)
    }

    /// How many chunks can run at once: the workers and the caller.
    pub fn count(&self) -> usize {
        self.threads.len() + 1
    }

    /// Runs `work(c)` for every chunk `c` below `chunks` (at most [`Self::count`]), chunk 0 on
    /// the calling thread, and returns when all are done. A panic in any chunk is resumed here
    /// once every chunk has finished.
    pub fn run(&self, chunks: usize, work: &(dyn Fn(usize) + Sync)) {
        assert!(chunks <= self.count(), "more chunks than threads");
        let shared = &*self.shared;
        // SAFETY: only the lifetime is erased. Workers dereference the pointer while running a
        // chunk of this call, and this function does not return (nor unwind) before
        // `remaining` says that every worker's chunk has finished.
        let erased: *const (dyn Fn(usize) + Sync + 'static) = unsafe { std::mem::transmute(work) };
        {
            let mut call = shared.lock();
            call.number += 1;
            call.chunks = chunks;
            call.work = Some(WorkPointer(erased));
            shared.remaining.store(chunks.saturating_sub(1), Ordering::SeqCst);
            shared.latest.store(call.number, Ordering::SeqCst);
        }
        if shared.sleepers.load(Ordering::SeqCst) > 0 {
            let _call = shared.lock();
            shared.wake.notify_all();
        }
        let mine = catch_unwind(AssertUnwindSafe(|| work(0)));
        let mut rounds = 0;
        while shared.remaining.load(Ordering::Acquire) != 0 {
            pause(&mut rounds);
        }
        let theirs = {
            let mut call = shared.lock();
            call.work = None;
            shared.panicked.swap(false, Ordering::AcqRel).then(|| call.panic.take()).flatten()
        };
        if let Err(payload) = mine {
            resume_unwind(payload);
        }
        if let Some(payload) = theirs {
            resume_unwind(payload);
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        {
            let _call = self.shared.lock();
            self.shared.wake.notify_all();
        }
        for thread in self.threads.drain(..) {
            // A worker catches its chunks' panics, so joining only fails if it was killed.
            let _ = thread.join();
        }
    }
}

impl Shared {
    /// The call, whether or not a panicking chunk poisoned the lock (no chunk holds it).
    fn lock(&self) -> MutexGuard<'_, Call> {
        self.call.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A worker's loop: wait for a call newer than the last one seen, run chunk `index` if the call
/// has one, report it done.
fn work(shared: &Shared, index: usize) {
    let mut seen = 0;
    loop {
        if !wait_for_call(shared, seen) {
            return;
        }
        let (number, chunks, work) = {
            let call = shared.lock();
            (call.number, call.chunks, call.work)
        };
        seen = number;
        let Some(WorkPointer(work)) = work.filter(|_| index < chunks) else { continue };
        // SAFETY: the caller is inside `run` for this call until `remaining` reaches 0, which
        // cannot happen before this chunk is counted off below.
        let result = catch_unwind(AssertUnwindSafe(|| unsafe { (*work)(index) }));
        if let Err(payload) = result {
            shared.lock().panic.get_or_insert(payload);
            shared.panicked.store(true, Ordering::Release);
        }
        shared.remaining.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Waits until a call after `seen` is published (true) or the workers stop (false): spinning
/// first, then sleeping on `wake`.
fn wait_for_call(shared: &Shared, seen: u64) -> bool {
    let ready = || shared.latest.load(Ordering::SeqCst) != seen || shared.stop.load(Ordering::SeqCst);
    let mut rounds = 0;
    while rounds < SPIN_ROUNDS {
        if ready() {
            return !shared.stop.load(Ordering::SeqCst);
        }
        pause(&mut rounds);
    }
    let mut call = shared.lock();
    // Counted before checking, and the caller publishes before reading the count: either it
    // sees this sleeper and notifies (under the lock, so after the wait begins), or the check
    // below sees its call.
    shared.sleepers.fetch_add(1, Ordering::SeqCst);
    while !ready() {
        call = shared.wake.wait(call).unwrap_or_else(PoisonError::into_inner);
    }
    shared.sleepers.fetch_sub(1, Ordering::SeqCst);
    !shared.stop.load(Ordering::SeqCst)
}

/// One round of waiting: spin-loop hints, and every round after the first `SPIN_ROUNDS` a yield
/// to whatever else wants the processor.
fn pause(rounds: &mut u32) {
    for _ in 0..HINTS_PER_ROUND {
        std::hint::spin_loop();
    }
    *rounds += 1;
    if *rounds >= SPIN_ROUNDS {
        std::thread::yield_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every chunk runs exactly once per call, across many calls back to back and after the
    /// workers have gone to sleep, with fewer chunks than threads too.
    #[test]
    fn every_chunk_runs_once_per_call() {
        for threads in [1, 2, 3] {
            let workers = Workers::new(threads).expect("threads start");
            for call in 0..2000 {
                let chunks = 1 + call % workers.count();
                let counts: Vec<AtomicUsize> = (0..threads).map(|_| AtomicUsize::new(0)).collect();
                workers.run(chunks, &|c| {
                    counts[c].fetch_add(1, Ordering::Relaxed);
                });
                let counts: Vec<usize> = counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
                let expected: Vec<usize> = (0..threads).map(|c| usize::from(c < chunks)).collect();
                assert_eq!(counts, expected, "call {call}, {threads} threads");
                if call % 500 == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            }
        }
    }

    /// A panicking chunk (a worker's or the caller's) reaches the caller after the others
    /// finish, and the workers keep serving calls.
    #[test]
    fn a_chunk_panic_reaches_the_caller() {
        let workers = Workers::new(3).expect("threads start");
        for bad in 0..3 {
            let finished = AtomicUsize::new(0);
            let result = catch_unwind(AssertUnwindSafe(|| {
                workers.run(3, &|c| {
                    assert_ne!(c, bad, "chunk {c} fails");
                    finished.fetch_add(1, Ordering::Relaxed);
                })
            }));
            assert!(result.is_err(), "chunk {bad}'s panic was lost");
            assert_eq!(finished.load(Ordering::Relaxed), 2);
        }
        let total = AtomicUsize::new(0);
        workers.run(3, &|c| {
            total.fetch_add(c + 1, Ordering::Relaxed);
        });
        assert_eq!(total.load(Ordering::Relaxed), 6);
    }
}
