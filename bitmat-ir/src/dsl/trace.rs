//! The trace in progress: a thread-local [`KernelBuilder`] that DSL calls append to while a
//! kernel's body runs as ordinary Rust (this is how constexprs become compile-time values).
//!
//! A user error (bad shapes, bad types) is recorded as the trace's first error and the op
//! returns a *poisoned* tile; later ops on poisoned tiles are skipped silently, so the user sees
//! the root cause only.

use super::tile::Tile;
use crate::builder::KernelBuilder;
use crate::kernel::{Kernel, ParamKind};
use std::cell::RefCell;

/// An error found while specializing a kernel: names the kernel, the DSL operation and what
/// was wrong (with shapes and types).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("kernel `{kernel}`: `{op}`: {message}")]
pub struct TraceError {
    /// The kernel being specialized.
    pub kernel: String,
    /// The DSL operation that failed (`dot`, `add`, `load`, ...).
    pub op: String,
    /// What was wrong and what is accepted.
    pub message: String,
}

pub(crate) struct Trace {
    pub(crate) builder: KernelBuilder,
    error: Option<TraceError>,
}

thread_local! {
    static TRACES: RefCell<Vec<Trace>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on the innermost active trace.
///
/// # Panics
/// When called outside a kernel being specialized: DSL functions only make sense inside a
/// `#[bitkernel]` body or a helper called from one.
pub(crate) fn with_trace<R>(f: impl FnOnce(&mut Trace) -> R) -> R {
    TRACES.with(|t| {
        let mut stack = t.borrow_mut();
        let trace = stack.last_mut().expect(
            "a bitmat DSL function was called outside a #[bitkernel] kernel being specialized",
        );
        f(trace)
    })
}

impl Trace {
    /// Records `message` as the trace's error unless one is already recorded.
    pub(crate) fn fail(&mut self, op: &str, message: impl Into<String>) -> Tile {
        if self.error.is_none() {
            self.error = Some(TraceError {
                kernel: self.builder.name().to_string(),
                op: op.to_string(),
                message: message.into(),
            });
        }
        Tile::POISON
    }

    /// True once an error has been recorded.
    pub(crate) fn failed(&self) -> bool {
        self.error.is_some()
    }
}

/// Records an error on the current trace and returns a poisoned tile.
pub(crate) fn fail(op: &str, message: impl Into<String>) -> Tile {
    with_trace(|t| t.fail(op, message))
}

/// Specializes a kernel: runs `body` (which declares parameters with [`param`] and calls DSL
/// functions) while recording, and returns the kernel or the first error found.
///
/// Traces nest (a kernel may be specialized while another one is), each on its own builder.
pub fn trace(name: &str, body: impl FnOnce()) -> Result<Kernel, TraceError> {
    TRACES.with(|t| {
        t.borrow_mut().push(Trace {
            builder: KernelBuilder::new(name),
            error: None,
        })
    });
    // Pop the trace even if `body` panics, so the thread can specialize again.
    struct PopOnDrop;
    impl Drop for PopOnDrop {
        fn drop(&mut self) {
            TRACES.with(|t| t.borrow_mut().pop());
        }
    }
    let guard = PopOnDrop;
    body();
    let trace = TRACES.with(|t| t.borrow_mut().pop()).expect("pushed above");
    std::mem::forget(guard);
    if let Some(e) = trace.error {
        return Err(e);
    }
    trace.builder.finish().map_err(|e| TraceError {
        kernel: name.to_string(),
        op: "kernel".into(),
        message: e.to_string(),
    })
}

/// Declares the next runtime parameter of the kernel being traced (generated code calls this
/// once per non-constexpr argument, in order).
pub fn param(name: &str, kind: ParamKind) -> Tile {
    with_trace(|t| Tile::from_id(t.builder.param(name, kind)))
}
