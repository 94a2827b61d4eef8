//! Backends of bitmat: each lowers a verified [`bitmat_ir::Kernel`] to code for one target.
//!
//! The CPU (Cranelift, LLVM) and GPU (PTX) backends are added here by their own issues; until
//! then the runtime runs kernels on the reference interpreter of `bitmat-ir`.

pub use bitmat_ir::Kernel;
