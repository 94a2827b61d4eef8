//! The tile IR of bitmat.
//!
//! A [`Kernel`] is block-level SSA over tiles (power-of-two shaped arrays) with structured
//! control flow. It is built by the DSL front-end ([`dsl`], which the `#[bitkernel]` macro
//! targets) through a [`KernelBuilder`], checked by [`verify`], printed by [`print`](mod@print)
//! and read back by [`parse`], and run on the host by the reference [`interp`]reter that every
//! backend is tested against.

pub mod builder;
pub mod device_print;
pub mod dsl;
pub mod element;
pub mod interp;
pub mod kernel;
pub mod lanes;
pub mod math;
pub mod parse;
pub mod passes;
pub mod print;
#[cfg(feature = "random")]
pub mod random;
pub mod scalar;
pub mod types;
pub mod verify;

pub use builder::{BuilderError, KernelBuilder};
pub use element::{Element, HostData};
pub use kernel::{
    AtomicOp, BinaryOp, Block, CmpPred, Hint, Kernel, Op, OpKind, Param, ParamKind, ReduceOp,
    UnaryOp, ValueId,
};
pub use parse::{parse_kernel, ParseError};
pub use scalar::Scalar;
pub use types::{DType, ElemType, TileType};

/// A blake3 digest (hex) of this crate's `src/` tree and `Cargo.toml` at build time: part of
/// bitmat's compiler version, so that code cached on disk is never reused by another build.
pub const SRC_DIGEST: &str = env!("BITMAT_SRC_DIGEST");
