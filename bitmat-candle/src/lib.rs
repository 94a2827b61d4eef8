//! bitmat in candle: bitmat's packed low-bit layers as candle modules and custom ops, and
//! their quantization-aware training with the straight-through estimator.
//!
//! - [`BitLinear`] (ternary, BitMat's layer) and [`Int4Linear`] (int4, W4A16 or W4A8):
//!   frozen, packed layers implementing [`candle_nn::Module`], loaded from float weights
//!   (a [`candle_nn::VarBuilder`], quantized on load) or from bitmat checkpoints; their
//!   forward is a candle custom op running bitmat's prebuilt kernels.
//! - [`Linear`] and [`Quantization`]: one type to swap the linear layers of a candle model
//!   (candle's float `Linear`, ternary or int4), chosen at load time.
//! - [`TrainableBitLinear`] and [`TrainableInt4Linear`]: latent float weights as candle
//!   variables, a fake-quant forward through bitmat's kernels and the straight-through
//!   backward, as BitMat's `BitLinear.train()`; `into_inference()` packs the trained layer.
//!
//! - [`gptq`]: calibrated int4 quantization (GPTQ) from the inputs a layer sees; its weights
//!   build an [`Int4Linear`] through [`bitmat::nn::Int4Linear::from_int4`] and
//!   [`Int4Linear::from_layer`].
//!
//! Tensors are on candle's CPU device; the packed weights on a bitmat host device
//! ([`bitmat::Device::cpu`]).

mod bitlinear;
mod cpu;
mod error;
pub mod gptq;
mod int4linear;
mod linear;
mod load;
mod op;
mod train;

pub use bitlinear::BitLinear;
pub use error::Error;
pub use int4linear::Int4Linear;
pub use linear::{Linear, Quantization};
pub use train::{TrainableBitLinear, TrainableInt4Linear};

/// The README's Rust blocks, compiled and run as doctests (`cargo test --doc`).
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
