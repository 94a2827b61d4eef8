//! Backends of bitmat: each lowers a verified [`bitmat_ir::Kernel`] to code for one target.
//!
//! [`cranelift`] is the CPU backend: a vectorized Cranelift JIT whose programs run in parallel
//! on rayon's pool. The LLVM and GPU (PTX) backends are added by their own issues.

pub mod cranelift;

pub use bitmat_ir::Kernel;
pub use cranelift::{CodegenError, CpuKernel};
