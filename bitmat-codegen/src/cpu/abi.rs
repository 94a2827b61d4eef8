//! The calling convention of a compiled program instance, shared by every CPU backend.
//!
//! One program is one function
//! `extern "C" fn(args: *const u64, pid: *const u32, grid: *const u32, scratch: *mut u8)`:
//! - `args[i]` is parameter `i`: the address of element 0 of its buffer for pointers, the
//!   value's bits zero-extended for scalars;
//! - `pid[0..3]` is this program's index along x, y, z and `grid[0..3]` the grid's extents;
//! - `scratch` is a [`super::arena::ALIGN`]-byte aligned arena of
//!   [`CpuObject::scratch_bytes`](super::CpuObject::scratch_bytes) bytes that holds every tile
//!   (and scalar) of the program; it is private to the call ([`super::arena`]).
//!
//! The function starts at offset 0 of its object's code and reaches everything outside it
//! through relocations ([`super::object`]): the helpers ([`super::helpers`]) and a few float
//! libcalls.

/// The Rust type of a compiled program.
pub type ProgramFn = unsafe extern "C" fn(*const u64, *const u32, *const u32, *mut u8);

/// Number of parameters of a program function (all 64-bit integers: three pointers and the
/// arena's address).
pub const PROGRAM_PARAMS: usize = 4;
