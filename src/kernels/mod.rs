//! Prebuilt kernels, written in the DSL like any user kernel (no compiler special cases).
//!
//! - [`ternary`]: BitNet b1.58 W2A8 matmul (i8 activations x 2-bit packed ternary weights).
//! - [`int4`]: W4A8, W4A16 and W4A4 (BitTensor's unsigned form) matmuls on int4 values packed
//!   16 per `u64`.
//! - [`norm`]: fused RMSNorm + per-row int8 activation quantization, and the quantization alone.
//!
//! - [`registry`]: the prebuilt kernels by name, with default constexprs (`bitmat dump`).
//! - [`tiles`]: loading and storing blocks of matrices with masked edges.
//!
//! Host-callable wrappers that upload, launch and download live in [`crate::ops`].

pub mod int4;
pub mod norm;
pub mod registry;
pub mod ternary;
pub mod tiles;
