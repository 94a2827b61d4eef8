//! The DSL front-end: what the `#[bitkernel]` macro expands a kernel body to.
//!
//! A kernel body runs as ordinary Rust at specialization time (CubeCL's approach): Rust values
//! (constexprs, literals, loop counters of Rust `for` loops) are compile-time, and every DSL
//! call on a [`Tile`] appends IR to the trace of the kernel being specialized. Comptime
//! `if`/`for`/`match` therefore unroll and prune for free, and helpers are plain Rust
//! functions.
//!
//! Names follow Triton: [`program_id`], [`arange`], [`zeros`], [`full`], [`load`], [`store`],
//! [`dot`], [`select`], [`maximum`], [`minimum`], [`atomic_add`] and the other atomics,
//! [`join`], [`cat`], [`zeros_like`], [`associative_scan`], and methods on [`Tile`] (shapes in
//! `shape`, scans and combine-function reductions in `scan`, `sort` in `sort`).

mod control;
mod ops;
mod random;
mod scan;
mod shape;
mod sort;
pub mod syntax;
mod tile;
mod trace;

pub use control::{
    while_cond, Carry, Cond, ForLoop, IfBranch, IfValue, IntoCond, WhileCond, WhileLoop,
};
pub use ops::{
    arange, atomic_add, atomic_add_unmasked, atomic_and, atomic_and_unmasked, atomic_cas,
    atomic_max, atomic_max_unmasked, atomic_min, atomic_min_unmasked, atomic_or,
    atomic_or_unmasked, atomic_xchg, atomic_xchg_unmasked, atomic_xor, atomic_xor_unmasked, binary,
    cdiv, clamp, compare, device_assert, device_print, dot, dot_acc, fma, full, load, load_masked,
    max_contiguous, maximum, minimum, multiple_of, num_programs, program_id, select, static_assert,
    store, store_masked, zeros,
};
pub use random::{rand, randint, randint4x, randn};
pub use scan::{associative_scan, associative_scan_dir};
pub use shape::{arange_range, cat, join, zeros_like};
pub use tile::{Dim, IntoOperand, IntoShape, Operand, Tile, Weak};
pub use trace::{param, trace, TraceError};

/// A pointer argument of a kernel: `Ptr<i8>` is a scalar pointer tile whose pointee is `i8`.
/// `ptr + offsets` gives a tile of pointers.
pub type Ptr<T> = <T as PointerTo>::Tile;

/// Element types a [`Ptr`] may point to (all of them); the alias always names [`Tile`].
pub trait PointerTo: crate::Element {
    /// Always [`Tile`].
    type Tile;
}

impl<T: crate::Element> PointerTo for T {
    type Tile = Tile;
}

/// What kernel code imports: the DSL functions, [`Tile`] and [`Ptr`].
pub mod prelude {
    pub use super::{
        arange, associative_scan, atomic_add, atomic_and, atomic_cas, atomic_max, atomic_min,
        atomic_or, atomic_xchg, atomic_xor, cat, cdiv, clamp, device_assert, device_print, dot,
        fma, full, join, load, max_contiguous, maximum, minimum, multiple_of, num_programs,
        program_id, rand, randint, randint4x, randn, select, static_assert, store, zeros,
        zeros_like, Ptr, Tile,
    };
}
