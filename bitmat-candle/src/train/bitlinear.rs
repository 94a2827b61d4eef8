//! [`TrainableBitLinear`]: BitMat's `BitLinear` in training mode.

use super::fake_quant::{FakeQuantOp, Quantizer};
use super::{check_input, fake_quant_linear, latent_linear};
use crate::load::to_f32_vec;
use crate::{BitLinear, Error};
use bitmat::formats::ScaleGranularity;
use bitmat::nn::{BitLinearOptions, Norm};
use bitmat::Device;
use candle_core::{Module, Tensor, D};
use candle_nn::{Init, VarBuilder};

/// A ternary linear layer that trains (BitMat's `BitLinear.train()`): the latent float
/// weights, the bias and the RMSNorm gain are candle variables of the `VarBuilder`'s
/// `VarMap` (`weight`, `bias`, `norm.weight`), so any candle optimizer updates them.
///
/// `forward(x)` (`f32` `[.., in]` on the CPU): RMSNorm with the gain, in candle ops, then the
/// fake-quant matmul through bitmat's kernels (absmean ternary weights, int8 activations,
/// the exact ternary product and its scales), then the bias. The backward passes the
/// gradient straight through both quantizers: to the input through the dequantized ternary
/// weights, to the latent weights from the output gradient and the input.
///
/// [`TrainableBitLinear::into_inference`] packs the trained layer into a [`BitLinear`] that
/// computes the same forward.
#[derive(Clone, Debug)]
pub struct TrainableBitLinear {
    weight: Tensor,
    bias: Option<Tensor>,
    /// The RMSNorm gain `[in]`, when the layer normalizes its input.
    norm: Option<Tensor>,
    eps: f32,
    granularity: ScaleGranularity,
    op: FakeQuantOp,
}

impl TrainableBitLinear {
    /// A layer `in_features -> out_features` whose variables are read from, or created in,
    /// `vb` (weights initialized as candle's `linear`, the gain to ones); the matmul runs on
    /// `device`. `options.norm` is [`Norm::Rms`] with no weight (a trained gain `norm.weight`)
    /// or [`Norm::None`].
    ///
    /// Errors: [`Norm::Rms`] with a given weight (pass it through `vb` as `norm.weight`), an
    /// `eps` that is not finite and `> 0`, `in_features` not a multiple of 4
    /// ([`Error::Tensor`]); candle's errors creating the variables.
    pub fn new(
        device: &Device,
        vb: VarBuilder,
        in_features: usize,
        out_features: usize,
        bias: bool,
        options: &BitLinearOptions,
    ) -> Result<TrainableBitLinear, Error> {
        const OP: &str = "TrainableBitLinear::new";
        let bad = |message: String| Error::Tensor { op: OP, message };
        if in_features % 4 != 0 {
            return Err(bad(format!(
                "in_features = {in_features} is not a multiple of 4, which ternary packing needs"
            )));
        }
        if !options.eps.is_finite() || options.eps <= 0.0 {
            return Err(bad(format!("eps = {} must be finite and > 0", options.eps)));
        }
        let norm = match &options.norm {
            Norm::None => None,
            Norm::Rms { weight: None } => {
                Some(vb.get_with_hints(in_features, "norm.weight", Init::Const(1.0))?)
            }
            Norm::Rms { weight: Some(_) } => {
                return Err(bad(
                    "a trainable layer's norm gain is a variable: pass it through the \
                     VarBuilder as `norm.weight` and use Norm::Rms { weight: None }"
                        .into(),
                ))
            }
        };
        let (weight, bias) = latent_linear(&vb, in_features, out_features, bias)?;
        Ok(TrainableBitLinear {
            weight,
            bias,
            norm,
            eps: options.eps,
            granularity: options.granularity,
            op: FakeQuantOp {
                quantizer: Quantizer::Ternary(options.granularity),
                device: device.clone(),
            },
        })
    }

    /// The latent float weights `[out, in]`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// Packs the trained layer: ternary weights quantized from the latent ones, the bias and
    /// the norm's gain, on `device`.
    ///
    /// Errors: what [`bitmat::nn::BitLinear::with_options`] refuses (non-finite weights after
    /// a diverged training, for one).
    pub fn into_inference(self, device: &Device) -> Result<BitLinear, Error> {
        let (out_features, in_features) = self.weight.dims2()?;
        let norm = match &self.norm {
            None => Norm::None,
            Some(g) => Norm::Rms {
                weight: Some(to_f32_vec(g)?),
            },
        };
        let options = BitLinearOptions::default()
            .eps(self.eps)
            .norm(norm)
            .granularity(self.granularity);
        let layer = bitmat::nn::BitLinear::with_options(
            device,
            &to_f32_vec(&self.weight)?,
            in_features,
            out_features,
            self.bias.as_ref().map(to_f32_vec).transpose()?.as_deref(),
            &options,
        )?;
        Ok(BitLinear::from_layer(layer))
    }
}

impl Module for TrainableBitLinear {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        check_input(x, self.weight.dim(1)?)?;
        let x = match &self.norm {
            None => x.clone(),
            Some(gain) => {
                let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
                x.broadcast_div(&(ms + f64::from(self.eps))?.sqrt()?)?
                    .broadcast_mul(gain)?
            }
        };
        fake_quant_linear(&x, &self.weight, self.bias.as_ref(), &self.op)
    }
}
