//! [`TrainableInt4Linear`]: an int4 linear layer in training mode.

use super::fake_quant::{FakeQuantOp, Quantizer};
use super::{check_input, fake_quant_linear, latent_linear};
use crate::load::to_f32_vec;
use crate::{Error, Int4Linear};
use bitmat::formats::{int4_group_size, quantize_int4, Int4Group};
use bitmat::nn::Int4Mode;
use bitmat::Device;
use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;

/// An int4 linear layer that trains with the straight-through estimator: latent float
/// weights and the bias are candle variables (`weight`, `bias`); `forward(x)` (`f32`
/// `[.., in]` on the CPU) quantizes the weights to int4 with `group` scales
/// (`max|w| / 7` per group, recomputed at every step) and runs bitmat's W4A16 or W4A8
/// matmul; the backward passes the gradient straight through the quantizers.
///
/// [`TrainableInt4Linear::into_inference`] packs the trained layer into an [`Int4Linear`].
#[derive(Clone, Debug)]
pub struct TrainableInt4Linear {
    weight: Tensor,
    bias: Option<Tensor>,
    group: Int4Group,
    mode: Int4Mode,
    op: FakeQuantOp,
}

impl TrainableInt4Linear {
    /// A layer `in_features -> out_features` whose variables are read from, or created in,
    /// `vb` (initialized as candle's `linear`); the matmul runs on `device` in `mode`.
    ///
    /// Errors: `in_features` not a multiple of 16 or a group that does not divide it;
    /// candle's errors creating the variables.
    pub fn new(
        device: &Device,
        vb: VarBuilder,
        in_features: usize,
        out_features: usize,
        bias: bool,
        group: Int4Group,
        mode: Int4Mode,
    ) -> Result<TrainableInt4Linear, Error> {
        if in_features % 16 != 0 {
            return Err(Error::Tensor {
                op: "TrainableInt4Linear::new",
                message: format!(
                    "in_features = {in_features} is not a multiple of 16, which int4 packing \
                     needs"
                ),
            });
        }
        int4_group_size(group, in_features)?;
        let (weight, bias) = latent_linear(&vb, in_features, out_features, bias)?;
        Ok(TrainableInt4Linear {
            weight,
            bias,
            group,
            mode,
            op: FakeQuantOp {
                quantizer: Quantizer::Int4 { group, mode },
                device: device.clone(),
            },
        })
    }

    /// The latent float weights `[out, in]`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// Packs the trained layer: int4 weights quantized from the latent ones and the bias, on
    /// `device`, in the layer's mode.
    ///
    /// Errors: non-finite weights (a diverged training).
    pub fn into_inference(self, device: &Device) -> Result<Int4Linear, Error> {
        let (out_features, in_features) = self.weight.dims2()?;
        let q = quantize_int4(
            &to_f32_vec(&self.weight)?,
            out_features,
            in_features,
            self.group,
        )?;
        let bias = self.bias.as_ref().map(to_f32_vec).transpose()?;
        let layer = bitmat::nn::Int4Linear::from_int4(device, &q, bias.as_deref(), self.mode)?;
        Ok(Int4Linear::from_layer(layer))
    }
}

impl Module for TrainableInt4Linear {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        check_input(x, self.weight.dim(1)?)?;
        fake_quant_linear(x, &self.weight, self.bias.as_ref(), &self.op)
    }
}
