//! Backends of bitmat: each lowers a verified [`bitmat_ir::Kernel`] to code for one target.
//!
//! - [`cranelift`]: the default CPU backend, vectorized code compiled by Cranelift to a
//!   serializable [`CpuObject`].
//! - [`cpu`]: what CPU backends share: the program ABI, scratch arena, helper table, objects
//!   and the loader that maps them into executable memory as a [`CpuKernel`], whose programs
//!   run in parallel on rayon's pool.
//! - [`ptx`]: NVIDIA GPUs, as PTX text (assembled by the CUDA driver at load time).
//!
//! The LLVM CPU backend is added by its own issue.

pub mod cpu;
pub mod cranelift;
mod error;
#[cfg(feature = "llvm")]
pub mod llvm;
pub mod ptx;

pub use bitmat_ir::Kernel;
pub use cpu::{CpuKernel, CpuObject};
pub use error::CodegenError;

/// A blake3 digest (hex) of this crate's `src/` tree and `Cargo.toml` at build time: part of
/// bitmat's compiler version, so that code cached on disk is never reused by another build.
pub const SRC_DIGEST: &str = env!("BITMAT_SRC_DIGEST");

/// `kernel` with every fp8 `dot` widened to an f16 one ([`bitmat_ir::passes::fp8_dot`]): the
/// CPU backends' `dot` lowerings, and the PTX one on targets without fp8 `mma`, take f16
/// operands, and the result is the interpreter's.
pub(crate) fn widen_fp8_dots(
    kernel: &bitmat_ir::Kernel,
) -> std::borrow::Cow<'_, bitmat_ir::Kernel> {
    if bitmat_ir::passes::fp8_dot::has_fp8_dot(kernel) {
        let mut k = kernel.clone();
        bitmat_ir::passes::fp8_dot::run(&mut k);
        std::borrow::Cow::Owned(k)
    } else {
        std::borrow::Cow::Borrowed(kernel)
    }
}
