//! Where the elements of a tile live: the "blocked" layout used for every tile.
//!
//! A program is a CTA of `threads` threads (a power of two). A tile of `numel` elements
//! (a power of two) is laid out by its row-major flat index `i`:
//! - when `numel >= threads`, thread `t` owns the `numel / threads` consecutive elements
//!   `t * per_thread + j` (`j` is the register *slot*);
//! - when `numel < threads`, every thread holds one element, `t % numel`: the tile is
//!   replicated `threads / numel` times (scalars are held by every thread).
//!
//! The layout depends only on `numel`, so `reshape` and `expand_dims` move no data.

/// The layout of one tile.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Number of elements of the tile.
    pub numel: u32,
    /// Threads of the program.
    pub threads: u32,
}

impl Layout {
    /// The layout of a tile of `numel` elements in a program of `threads` threads.
    pub fn new(numel: u32, threads: u32) -> Layout {
        Layout { numel, threads }
    }

    /// Registers (slots) per thread.
    pub fn slots(self) -> u32 {
        (self.numel / self.threads).max(1)
    }

    /// True when several threads hold a copy of each element.
    pub fn replicated(self) -> bool {
        self.numel < self.threads
    }

    /// The row-major flat index of the element in slot `j` of thread `tid` (what
    /// [`Emitter::elem_index`](super::emit::Emitter::elem_index) computes at run time).
    pub fn index(self, tid: u32, j: u32) -> u32 {
        ((tid << log2(self.slots())) | j) & (self.numel - 1)
    }
}

/// `log2(x)` for a power of two.
pub(crate) fn log2(x: u32) -> u32 {
    x.trailing_zeros()
}
