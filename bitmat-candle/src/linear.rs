//! [`Linear`]: one layer type to swap the linear layers of a candle model, chosen at load time
//! by a [`Quantization`].

use crate::{BitLinear, Error, Int4Linear};
use bitmat::formats::Int4Group;
use bitmat::nn::{BitLinearOptions, Int4Mode};
use bitmat::Device;
use candle_core::{Module, Tensor};
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

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Linear::Float(l) => l.forward(x),
            Linear::Ternary(l) => l.forward(x),
            Linear::Int4(l) => l.forward(x),
        }
    }
}
