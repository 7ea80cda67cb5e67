//! Room for deep expressions: the compiler's entry points run on a stack of their own.
//!
//! Every stage after parsing recurses on expressions, about 2.5 KB of stack per level of
//! nesting in all (measured on `sin(sin(...))`, long sums and chains of `fn`s, unoptimised),
//! and generated scripts nest deeply: an 8,000-term sum is 8,000 levels. The entry points
//! (`check_source`, `lower_checked`, `gradient_program`) therefore do their work through
//! [`run`], on a thread with [`STACK_BYTES`] of stack, whatever the caller's (2 MB for a thread
//! it spawned). Nesting is bounded before any stage recurses (see [`crate::syntax::depth`] and
//! the same limit during elaboration), so that stack holds the deepest input the compiler
//! accepts with room to spare. It is reserved address space: only what deep input uses is
//! touched. Trees that outlive the work (the checked model, a parsed module) are dropped
//! without recursion, so they are safe on any thread.
//!
//! Example: `stack::run(|| check_source(&source, &[]))` checks a 100,000-term sum from a thread
//! with a 2 MB stack.

/// The stack the compiler's work runs on.
pub const STACK_BYTES: usize = 1 << 30;

/// Runs `work` on a thread with [`STACK_BYTES`] of stack and returns its result; a panic in it
/// resumes in the caller. Where no such thread can be started (address space exhausted), the
/// work runs on the caller's thread.
pub fn run<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    let mut slot = Some(work);
    let outcome = std::thread::scope(|scope| {
        let thread = std::thread::Builder::new().name("noether-compiler".into()).stack_size(STACK_BYTES);
        let handle = thread.spawn_scoped(scope, || slot.take().map(|work| work()));
        handle.ok().map(|handle| handle.join())
    });
    match outcome {
        Some(Ok(Some(value))) => value,
        Some(Err(panic)) => std::panic::resume_unwind(panic),
        _ => slot.take().map(|work| work()).expect("work that did not run is still in its slot"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Recurses `depth` times with a frame of about 1 KB.
    fn deep(depth: usize) -> usize {
        let frame = std::hint::black_box([depth as u8; 1024]);
        if depth == 0 { 0 } else { deep(depth - 1) + usize::from(frame[0] > 0) }
    }

    #[test]
    fn runs_recursion_too_deep_for_a_spawned_thread() {
        let depth = 100_000;
        let done = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || run(|| deep(depth)))
            .expect("a thread starts")
            .join()
            .expect("no overflow");
        assert_eq!(done, (1..=depth).filter(|d| *d as u8 > 0).count());
    }

    #[test]
    fn panics_resume_in_the_caller() {
        let caught = std::panic::catch_unwind(|| run(|| panic!("inside")));
        assert!(caught.is_err());
    }
}
