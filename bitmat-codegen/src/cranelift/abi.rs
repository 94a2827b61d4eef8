//! The calling convention of a compiled program instance.
//!
//! One program is one function
//! `extern "C" fn(args: *const u64, pid: *const u32, grid: *const u32, scratch: *mut u8)`:
//! - `args[i]` is parameter `i`: the address of element 0 of its buffer for pointers, the
//!   value's bits zero-extended for scalars;
//! - `pid[0..3]` is this program's index along x, y, z and `grid[0..3]` the grid's extents;
//! - `scratch` is a 64-byte aligned arena of [`crate::cranelift::scratch::Layout::size`] bytes
//!   that holds every tile (and scalar) of the program; it is private to the call.

use cranelift_codegen::ir::{types, AbiParam, Signature};
use cranelift_codegen::isa::CallConv;

/// The Rust type of a compiled program.
pub type ProgramFn = unsafe extern "C" fn(*const u64, *const u32, *const u32, *mut u8);

/// The Cranelift signature of a program for the calling convention `call_conv`.
pub fn program_signature(call_conv: CallConv) -> Signature {
    let mut sig = Signature::new(call_conv);
    for _ in 0..4 {
        sig.params.push(AbiParam::new(types::I64));
    }
    sig
}
