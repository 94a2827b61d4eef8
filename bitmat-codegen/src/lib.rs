//! Backends of bitmat: each lowers a verified [`bitmat_ir::Kernel`] to code for one target.
//!
//! - [`ptx`]: NVIDIA GPUs, as PTX text (assembled by the CUDA driver at load time).
//!
//! The CPU (Cranelift, LLVM) backends are added here by their own issues.

mod error;
pub mod ptx;

pub use bitmat_ir::Kernel;
pub use error::CodegenError;
