//! The scratch arena a program runs with: one per worker thread, 64-byte aligned, grown on
//! demand and reused across programs and launches. How a backend places values in it is its
//! own business (Cranelift: [`crate::cranelift::arena_slots`]); the loader only provides
//! [`CpuObject::scratch_bytes`](super::CpuObject::scratch_bytes) bytes.

/// Alignment of the arena (and of the slots backends plan in it), in bytes.
pub const ALIGN: usize = 64;

/// One aligned line of scratch.
#[derive(Copy, Clone)]
#[repr(C, align(64))]
struct Line([u8; ALIGN]);

thread_local! {
    /// Each thread's scratch arena, grown on demand and reused across programs and launches.
    static SCRATCH: std::cell::RefCell<Vec<Line>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with an arena of at least `bytes` bytes (at least one line): the calling thread's
/// own, or a fresh one if that is in use.
pub(crate) fn with_arena(bytes: usize, f: impl FnOnce(*mut u8)) {
    let lines = bytes.div_ceil(ALIGN).max(1);
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut s) => {
            if s.len() < lines {
                s.resize(lines, Line([0; ALIGN]));
            }
            f(s.as_mut_ptr().cast());
        }
        Err(_) => {
            let mut s = vec![Line([0; ALIGN]); lines];
            f(s.as_mut_ptr().cast());
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arenas_are_aligned_large_enough_and_nested_calls_get_their_own() {
        with_arena(200, |outer| {
            assert_eq!(outer as usize % ALIGN, 0);
            // SAFETY: the arena holds at least 200 bytes.
            unsafe { outer.add(199).write(7) };
            with_arena(1, |inner| {
                assert_eq!(inner as usize % ALIGN, 0);
                assert_ne!(inner, outer, "a nested call must not share the busy arena");
            });
        });
    }
}
