//! Backends of bitmat: each lowers a verified [`bitmat_ir::Kernel`] to code for one target.
//!
//! - [`cranelift`]: the CPU backend, a vectorized Cranelift JIT whose programs run in
//!   parallel on rayon's pool.
//! - [`ptx`]: NVIDIA GPUs, as PTX text (assembled by the CUDA driver at load time).
//!
//! The LLVM CPU backend is added by its own issue.

pub mod cranelift;
mod error;
pub mod ptx;

pub use bitmat_ir::Kernel;
pub use cranelift::CpuKernel;
pub use error::CodegenError;
