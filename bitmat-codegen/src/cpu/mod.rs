//! What every CPU backend shares: the calling convention of a compiled program ([`abi`]), the
//! scratch arena it runs with ([`arena`]), the helper table compiled code calls ([`helpers`]),
//! compiled code as serializable data with relocations ([`object`]), and loading that data into
//! executable memory to run a grid in parallel ([`loader`]).
//!
//! A CPU backend lowers the IR to machine code of this ABI and returns a [`CpuObject`]
//! (Cranelift: [`crate::cranelift`]); loading, running and the disk cache then need nothing
//! from it.

pub mod abi;
pub mod arena;
pub mod helpers;
pub mod loader;
pub mod object;

pub use loader::CpuKernel;
pub use object::{CpuObject, CpuReloc, FloatLibCall, MemoryLibCall, RelocKind, RelocTarget};
