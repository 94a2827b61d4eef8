//! [`Linear`]: one layer type to swap the linear layers of a candle model, chosen at load time
//! by a [`Quantization`].

use crate::load::checkpoint_bias;
use crate::{BitLinear, Error, Int4Linear};
use bitmat::checkpoint::{Checkpoint, LayerFormat};
use bitmat::formats::Int4Group;
use bitmat::nn::{BitLinearOptions, Int4Mode};
use bitmat::Device;
use candle_core::{Device as CDevice, Module, Tensor};
use candle_nn::VarBuilder;

/// How [`Linear::load`] builds a layer from float weights.
#[derive(Clone, Debug, PartialEq)]
pub enum Quantization {
    /// candle's float [`candle_nn::Linear`], unquantized.
    Float,
    /// A ternary [`BitLinear`] with these options (for a pretrained model quantized after
    /// training, turn its norm off: `BitLinearOptions::default().without_norm()`).
    Ternary(BitLinearOptions),
    /// An [`Int4Linear`] with `group` scales, run in `mode`.
    Int4 {
        /// The weight groups along K.
        group: Int4Group,
        /// W4A16 or W4A8.
        mode: Int4Mode,
    },
}

/// A linear layer of a candle model: candle's own, or one of bitmat's packed layers.
///
/// A model written against `Linear` (instead of `candle_nn::Linear`) runs unquantized, ternary
/// or int4 depending on the [`Quantization`] it is loaded with.
#[derive(Clone, Debug)]
pub enum Linear {
    /// candle's float layer.
    Float(candle_nn::Linear),
    /// A ternary layer.
    Ternary(BitLinear),
    /// An int4 layer.
    Int4(Int4Linear),
}

impl Linear {
    /// Loads `weight [out, in]` and, when present, `bias [out]` from `vb`, as `quantization`
    /// says (the packed layers' weights go to `device`).
    ///
    /// Errors: a missing or misshapen tensor (candle's error), and what the packed layers
    /// refuse ([`BitLinear::load`], [`Int4Linear::load`]).
    pub fn load(
        device: &Device,
        vb: VarBuilder,
        in_features: usize,
        out_features: usize,
        quantization: &Quantization,
    ) -> Result<Linear, Error> {
        Ok(match quantization {
            Quantization::Float => {
                let weight = vb.get((out_features, in_features), "weight")?;
                let bias = if vb.contains_tensor("bias") {
                    Some(vb.get(out_features, "bias")?)
                } else {
                    None
                };
                Linear::Float(candle_nn::Linear::new(weight, bias))
            }
            Quantization::Ternary(options) => Linear::Ternary(BitLinear::load(
                device,
                vb,
                in_features,
                out_features,
                options,
            )?),
            Quantization::Int4 { group, mode } => Linear::Int4(Int4Linear::load(
                device,
                vb,
                in_features,
                out_features,
                *group,
                *mode,
            )?),
        })
    }
}

impl Linear {
    /// Reads layer `layer` of a bitmat checkpoint as it is stored there: a layer that
    /// `bitmat convert` quantized becomes a [`BitLinear`] (with `options`) or an
    /// [`Int4Linear`] (run in `mode`), one it kept (`layer.weight` `[out, in]` in a float
    /// dtype, and `layer.bias` when present) candle's float layer on the CPU. A model loaded
    /// this way runs whatever a conversion made of it.
    ///
    /// Errors: neither `layer.weight` nor quantized tensors of `layer`, a kept weight that is
    /// not 2-D or a bias of the wrong length ([`Error::Tensor`]); what
    /// [`BitLinear::from_checkpoint`] and [`Int4Linear::from_checkpoint`] refuse.
    pub fn from_checkpoint(
        device: &Device,
        checkpoint: &Checkpoint,
        layer: &str,
        options: &BitLinearOptions,
        mode: Int4Mode,
    ) -> Result<Linear, Error> {
        const OP: &str = "Linear::from_checkpoint";
        let weight = format!("{layer}.weight");
        // A kept layer has a float `.weight`; a ternary one stores its 2-bit codes there.
        let kept = checkpoint.contains(&weight) && checkpoint.tensor(&weight)?.is_float();
        if !kept {
            return Ok(match checkpoint.layer_format(layer)? {
                LayerFormat::Ternary => Linear::Ternary(BitLinear::from_checkpoint(
                    device, checkpoint, layer, options,
                )?),
                LayerFormat::Int4 => Linear::Int4(Int4Linear::from_checkpoint(
                    device, checkpoint, layer, mode,
                )?),
            });
        }
        let &[out_features, in_features] = checkpoint.tensor(&weight)?.shape() else {
            return Err(Error::Tensor {
                op: OP,
                message: format!(
                    "{weight} has shape {:?}; a linear layer's weight is [out, in]",
                    checkpoint.tensor(&weight)?.shape()
                ),
            });
        };
        let w = Tensor::from_vec(
            checkpoint.tensor_f32(&weight)?,
            (out_features, in_features),
            &CDevice::Cpu,
        )?;
        let bias = match checkpoint_bias(checkpoint, layer)? {
            Some(b) if b.len() != out_features => {
                return Err(Error::Tensor {
                    op: OP,
                    message: format!(
                        "{layer}.bias has {} values; the layer has {out_features} outputs",
                        b.len()
                    ),
                })
            }
            Some(b) => Some(Tensor::from_vec(b, out_features, &CDevice::Cpu)?),
            None => None,
        };
        Ok(Linear::Float(candle_nn::Linear::new(w, bias)))
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Linear::Float(l) => l.forward(x),
            Linear::Ternary(l) => l.forward(x),
            Linear::Int4(l) => l.forward(x),
        }
    }
}
