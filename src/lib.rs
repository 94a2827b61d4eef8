//! bitmat: a kernel DSL and compiler for low-bit matrix multiplication.

pub mod formats;
pub mod reference;
