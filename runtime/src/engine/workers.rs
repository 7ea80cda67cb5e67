//! The JIT's worker threads: a call's chunks shared out between the calling thread and the
//! workers, each thread taking the next chunk nobody has taken until none are left, so that a
//! thread the machine slows down (another process on its core, more threads than cores) takes
//! fewer instead of holding up the call.
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
    /// The current call's number (high 32 bits, see [`stamp`]) and the next chunk to take.
    next: AtomicU64,
    /// Chunks of the current call that have not finished.
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
    chunks: u32,
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
            next: AtomicU64::new(0),
            remaining: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            sleepers: AtomicUsize::new(0),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let mut workers = Workers { shared, threads: Vec::new() };
        for index in 1..threads.max(1) {
            let shared = Arc::clone(&workers.shared);
            let thread =
                std::thread::Builder::new().name(format!("noether-worker-{index}")).spawn(move || work(&shared))?;
            workers.threads.push(thread);
        }
        Ok(workers)
    }

    /// How many chunks can run at once: the workers and the caller.
    pub fn count(&self) -> usize {
        self.threads.len() + 1
    }

    /// Runs `work(c)` once for every chunk `c` below `chunks`, on the calling thread and the
    /// workers, and returns when all are done. A panic in any chunk is resumed here once every
    /// chunk has finished.
    pub fn run(&self, chunks: usize, work: &(dyn Fn(usize) + Sync)) {
        let chunks = u32::try_from(chunks).expect("fewer than 2^32 chunks");
        let shared = &*self.shared;
        // SAFETY: only the lifetime is erased. Workers dereference the pointer while running a
        // chunk of this call, and this function does not return (nor unwind) before
        // `remaining` says that every worker's chunk has finished.
        let erased: *const (dyn Fn(usize) + Sync + 'static) = unsafe { std::mem::transmute(work) };
        let number = {
            let mut call = shared.lock();
            call.number += 1;
            call.chunks = chunks;
            call.work = Some(WorkPointer(erased));
            shared.remaining.store(chunks as usize, Ordering::SeqCst);
            shared.next.store(stamp(call.number), Ordering::SeqCst);
            shared.latest.store(call.number, Ordering::SeqCst);
            call.number
        };
        if shared.sleepers.load(Ordering::SeqCst) > 0 {
            let _call = shared.lock();
            shared.wake.notify_all();
        }
        let mine = take_chunks(shared, number, chunks, work);
        let mut rounds = 0;
        while shared.remaining.load(Ordering::Acquire) != 0 {
            pause(&mut rounds);
        }
        let theirs = {
            let mut call = shared.lock();
            call.work = None;
            shared.panicked.swap(false, Ordering::AcqRel).then(|| call.panic.take()).flatten()
        };
        if let Some(payload) = mine {
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

/// A worker's loop: wait for a call newer than the last one seen, take its chunks while any
/// are left, keep the first panic for the caller.
fn work(shared: &Shared) {
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
        let Some(WorkPointer(work)) = work else { continue };
        // SAFETY: `take_chunks` runs a chunk only once it has taken it from this call (it checks
        // the number), and the caller stays inside `run` for the call until `remaining` says
        // every taken chunk is done; a worker that comes late finds none left and never
        // dereferences `work`.
        if let Some(payload) = take_chunks(shared, number, chunks, |chunk| unsafe { (*work)(chunk) }) {
            shared.lock().panic.get_or_insert(payload);
            shared.panicked.store(true, Ordering::Release);
        }
    }
}

/// Call `number` as it sits in the high half of [`Shared::next`]: numbers wrap after 2^32
/// calls, long after any thread could still hold an old call's number.
fn stamp(number: u64) -> u64 {
    (number & u64::from(u32::MAX)) << 32
}

/// Runs the chunks of call `number` that no thread has taken yet, one at a time, counting each
/// off as it finishes, until none are left or a newer call has begun; returns the first panic
/// among them.
fn take_chunks(shared: &Shared, number: u64, chunks: u32, work: impl Fn(usize)) -> Option<Box<dyn Any + Send>> {
    let mut first_panic = None;
    let mut next = shared.next.load(Ordering::Acquire);
    loop {
        let chunk = next as u32;
        if next & !u64::from(u32::MAX) != stamp(number) || chunk >= chunks {
            return first_panic;
        }
        match shared.next.compare_exchange_weak(next, next + 1, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| work(chunk as usize))) {
                    first_panic.get_or_insert(payload);
                }
                shared.remaining.fetch_sub(1, Ordering::AcqRel);
                next = shared.next.load(Ordering::Acquire);
            }
            Err(now) => next = now,
        }
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
    /// workers have gone to sleep, with fewer chunks than threads and several times more.
    #[test]
    fn every_chunk_runs_once_per_call() {
        for threads in [1, 2, 3] {
            let workers = Workers::new(threads).expect("threads start");
            let most = 4 * threads + 1;
            for call in 0..2000 {
                let chunks = 1 + call % most;
                let counts: Vec<AtomicUsize> = (0..most).map(|_| AtomicUsize::new(0)).collect();
                workers.run(chunks, &|c| {
                    counts[c].fetch_add(1, Ordering::Relaxed);
                });
                let counts: Vec<usize> = counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
                let expected: Vec<usize> = (0..most).map(|c| usize::from(c < chunks)).collect();
                assert_eq!(counts, expected, "call {call}, {threads} threads");
                if call % 500 == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            }
        }
    }

    /// A panicking chunk (whichever thread takes it) reaches the caller after the others
    /// finish, and the workers keep serving calls.
    #[test]
    fn a_chunk_panic_reaches_the_caller() {
        let workers = Workers::new(3).expect("threads start");
        for chunks in [3, 10] {
            for bad in 0..chunks {
                let finished = AtomicUsize::new(0);
                let result = catch_unwind(AssertUnwindSafe(|| {
                    workers.run(chunks, &|c| {
                        assert_ne!(c, bad, "chunk {c} fails");
                        finished.fetch_add(1, Ordering::Relaxed);
                    })
                }));
                assert!(result.is_err(), "chunk {bad}'s panic was lost");
                assert_eq!(finished.load(Ordering::Relaxed), chunks - 1);
            }
        }
        let total = AtomicUsize::new(0);
        workers.run(3, &|c| {
            total.fetch_add(c + 1, Ordering::Relaxed);
        });
        assert_eq!(total.load(Ordering::Relaxed), 6);
    }
}
