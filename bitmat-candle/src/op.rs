//! [`LinearOp`]: a packed bitmat layer as a candle custom op (forward only).
//!
//! The op runs [`bitmat::nn::BitLinear::forward`] or [`bitmat::nn::Int4Linear::forward`] on
//! the input tensor's elements (CPU storage, `f32`, `f16` or `bf16`, shape `[.., in]`) and
//! returns a tensor of the same dtype, shape `[.., out]`. On the CPU the layer's device is a
//! host device ([`bitmat::Device::cpu`]), and the activations are handed to bitmat's kernels
//! as host buffers.

use crate::cpu::{contiguous, linear_output};
use crate::error::tensor_error;
use bitmat::nn::Float;
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape};

/// What [`LinearOp`] needs of a packed bitmat layer.
pub(crate) trait PackedLayer: std::fmt::Debug + Send + Sync {
    /// The op's name in candle's messages.
    const NAME: &'static str;
    /// K.
    fn in_features(&self) -> usize;
    /// N.
    fn out_features(&self) -> usize;
    /// The layer's `forward` on `x` of shape `shape`.
    fn forward<T: Float>(
        &self,
        x: &[T],
        shape: &[usize],
    ) -> std::result::Result<Vec<T>, bitmat::Error>;
}

impl PackedLayer for bitmat::nn::BitLinear {
    const NAME: &'static str = "bitmat-bitlinear";
    fn in_features(&self) -> usize {
        self.in_features()
    }
    fn out_features(&self) -> usize {
        self.out_features()
    }
    fn forward<T: Float>(
        &self,
        x: &[T],
        shape: &[usize],
    ) -> std::result::Result<Vec<T>, bitmat::Error> {
        self.forward(x, shape)
    }
}

impl PackedLayer for bitmat::nn::Int4Linear {
    const NAME: &'static str = "bitmat-int4linear";
    fn in_features(&self) -> usize {
        self.in_features()
    }
    fn out_features(&self) -> usize {
        self.out_features()
    }
    fn forward<T: Float>(
        &self,
        x: &[T],
        shape: &[usize],
    ) -> std::result::Result<Vec<T>, bitmat::Error> {
        self.forward(x, shape)
    }
}

/// A packed layer as a candle [`CustomOp1`]: `x [.., in] -> y [.., out]`, same dtype.
#[derive(Debug)]
pub(crate) struct LinearOp<L> {
    /// The packed layer.
    pub(crate) layer: L,
}

impl<L: PackedLayer> LinearOp<L> {
    fn run<T: Float>(&self, x: &[T], layout: &Layout) -> Result<Vec<T>> {
        let x = contiguous(L::NAME, x, layout)?;
        self.layer
            .forward(x, layout.dims())
            .map_err(|e| crate::Error::from(e).into())
    }
}

impl<L: PackedLayer> CustomOp1 for LinearOp<L> {
    fn name(&self) -> &'static str {
        L::NAME
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let shape = linear_output(
            L::NAME,
            layout.shape(),
            self.layer.in_features(),
            self.layer.out_features(),
        )?;
        let y = match storage {
            CpuStorage::F32(x) => CpuStorage::F32(self.run(x, layout)?),
            CpuStorage::F16(x) => CpuStorage::F16(self.run(x, layout)?),
            CpuStorage::BF16(x) => CpuStorage::BF16(self.run(x, layout)?),
            other => {
                return Err(tensor_error(
                    L::NAME,
                    format!(
                        "the input is {:?}; the layer takes f32, f16 or bf16",
                        other.dtype()
                    ),
                ))
            }
        };
        Ok((y, shape))
    }
}
