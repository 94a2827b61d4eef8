//! [`FakeQuantOp`]: the fake-quant matmul of quantization-aware training, as a candle custom op
//! with the straight-through backward.
//!
//! Forward, on `x [m, k]` and the latent float weights `w [n, k]` (both `f32`): the weights
//! are quantized as the packed layer would quantize them (ternary absmean, or int4 with group
//! scales), the activations as its kernels do (int8 absmax per row, or `f16`), and bitmat's
//! prebuilt matmul computes `y [m, n]` on the layer's device.
//!
//! Backward (BitMat's `BitMat.backward`): each quantizer is the identity, so with `Wd` the
//! dequantized weights, `dL/dx = dL/dy · Wd` and `dL/dw = (dL/dy)ᵀ · x`.

use crate::cpu::contiguous;
use crate::error::tensor_error;
use bitmat::formats::{
    quantize_activations, quantize_int4, quantize_ternary, Int4Group, ScaleGranularity,
};
use bitmat::nn::Int4Mode;
use bitmat::{f16, ops, Device};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};

/// How the latent weights and the activations are quantized in the forward.
#[derive(Copy, Clone, Debug, PartialEq)]
pub(crate) enum Quantizer {
    /// Ternary weights (absmean scale per tensor or per row), int8 activations (W2A8).
    Ternary(ScaleGranularity),
    /// Int4 weights with group scales, activations per `mode`.
    Int4 {
        /// The weight groups along K.
        group: Int4Group,
        /// W4A16 or W4A8.
        mode: Int4Mode,
    },
}

/// The fake-quant matmul `y = q(x) · q(w)ᵀ` with the straight-through backward.
#[derive(Clone, Debug)]
pub(crate) struct FakeQuantOp {
    /// The quantizers.
    pub(crate) quantizer: Quantizer,
    /// The bitmat device the matmul runs on (a host device).
    pub(crate) device: Device,
}

fn wrap(e: impl Into<bitmat::Error>) -> candle_core::Error {
    crate::Error::from(e.into()).into()
}

impl FakeQuantOp {
    /// `w [n, k]` quantized and dequantized: the weights the forward multiplies by.
    pub(crate) fn dequantized(&self, w: &[f32], n: usize, k: usize) -> Result<Vec<f32>> {
        match self.quantizer {
            Quantizer::Ternary(g) => quantize_ternary(w, n, k, g)
                .and_then(|q| q.dequantize())
                .map_err(wrap),
            Quantizer::Int4 { group, .. } => quantize_int4(w, n, k, group)
                .map(|q| q.dequantize())
                .map_err(wrap),
        }
    }

    /// The forward on host slices: `x [m, k]`, `w [n, k]` -> `y [m, n]`.
    pub(crate) fn matmul(
        &self,
        x: &[f32],
        m: usize,
        w: &[f32],
        n: usize,
        k: usize,
    ) -> Result<Vec<f32>> {
        let dev = &self.device;
        match self.quantizer {
            Quantizer::Ternary(g) => {
                let wq = quantize_ternary(w, n, k, g).map_err(wrap)?;
                let xq = quantize_activations(x, m, k).map_err(wrap)?;
                ops::ternary_linear(dev, &xq, &wq, None).map_err(wrap)
            }
            Quantizer::Int4 { group, mode } => {
                let wq = quantize_int4(w, n, k, group).map_err(wrap)?;
                match mode {
                    Int4Mode::W4A16 => {
                        let xh: Vec<f16> = x.iter().map(|&v| f16::from_f32(v)).collect();
                        ops::int4_w4a16(dev, &xh, m, &wq).map_err(wrap)
                    }
                    Int4Mode::W4A8 => {
                        let xq = quantize_activations(x, m, k).map_err(wrap)?;
                        ops::int4_w4a8(dev, &xq, &wq).map_err(wrap)
                    }
                }
            }
        }
    }
}

/// `[rows, cols]` of a 2-D operand.
fn matrix(op: &'static str, what: &str, layout: &Layout) -> Result<(usize, usize)> {
    match layout.dims() {
        &[rows, cols] => Ok((rows, cols)),
        dims => Err(tensor_error(
            op,
            format!("{what} has shape {dims:?}; expected a matrix [rows, cols]"),
        )),
    }
}

fn f32_slice<'a>(op: &'static str, what: &str, s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
    match s {
        CpuStorage::F32(v) => contiguous(op, v, l),
        other => Err(tensor_error(
            op,
            format!("{what} is {:?}; training runs in f32", other.dtype()),
        )),
    }
}

impl CustomOp2 for FakeQuantOp {
    fn name(&self) -> &'static str {
        "bitmat-fake-quant-linear"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let op = self.name();
        let (m, k) = matrix(op, "the input", xl)?;
        let (n, wk) = matrix(op, "the weight", wl)?;
        if wk != k {
            return Err(tensor_error(
                op,
                format!("the input has {k} features but the weight [{n}, {wk}] takes {wk}"),
            ));
        }
        let x = f32_slice(op, "the input", xs, xl)?;
        let w = f32_slice(op, "the weight", ws, wl)?;
        let y = if m == 0 {
            Vec::new()
        } else {
            self.matmul(x, m, w, n, k)?
        };
        Ok((CpuStorage::F32(y), Shape::from((m, n))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        grad_y: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (n, k) = w.dims2()?;
        let latent = w.flatten_all()?.to_vec1::<f32>()?;
        let wd = Tensor::from_vec(self.dequantized(&latent, n, k)?, (n, k), w.device())?;
        let grad_x = grad_y.matmul(&wd)?;
        let grad_w = grad_y.t()?.matmul(x)?;
        Ok((Some(grad_x), Some(grad_w)))
    }
}
