//! [`BitLinear`]: bitmat's ternary layer as a candle module.

use crate::load::{checkpoint_bias, FloatLinear};
use crate::op::LinearOp;
use crate::Error;
use bitmat::checkpoint::Checkpoint;
use bitmat::nn::BitLinearOptions;
use bitmat::Device;
use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;
use std::sync::Arc;

/// A BitNet b1.58 ternary linear layer (BitMat's `BitLinear`) as a [`candle_nn::Module`]:
/// `forward(x)` on an `f32`, `f16` or `bf16` tensor `[.., in]` on the CPU returns `[.., out]`
/// in the same dtype, computed by [`bitmat::nn::BitLinear::forward`] (optional RMSNorm, int8
/// activations, the ternary matmul, scales and bias).
///
/// The packed weights live on a bitmat [`Device`] (a host device for candle's CPU tensors).
/// Cloning shares them. The layer is frozen: no gradient flows through it (train with
/// [`crate::TrainableBitLinear`]).
#[derive(Clone, Debug)]
pub struct BitLinear {
    op: Arc<LinearOp<bitmat::nn::BitLinear>>,
}

impl BitLinear {
    /// Wraps a packed bitmat layer.
    pub fn from_layer(layer: bitmat::nn::BitLinear) -> BitLinear {
        BitLinear {
            op: Arc::new(LinearOp { layer }),
        }
    }

    /// Quantizes a float `weight [out, in]` (any float dtype) and an optional `bias [out]`
    /// to a ternary layer on `device`, with `options` (norm, `eps`, scale granularity).
    ///
    /// Errors: a weight that is not 2-D or a bias of the wrong shape ([`Error::Tensor`]);
    /// what [`bitmat::nn::BitLinear::with_options`] refuses (`in` not a multiple of 4,
    /// non-finite values, a norm weight of the wrong length).
    pub fn from_weight(
        device: &Device,
        weight: &Tensor,
        bias: Option<&Tensor>,
        options: &BitLinearOptions,
    ) -> Result<BitLinear, Error> {
        let (w, in_features, out_features) =
            FloatLinear::from_tensors("BitLinear::from_weight", weight, bias)?;
        Self::quantize(device, &w, in_features, out_features, options)
    }

    /// Reads `weight [out, in]` and, when present, `bias [out]` from `vb` (e.g. a
    /// `VarBuilder` over a Hugging Face safetensors file, at the layer's prefix) and quantizes
    /// them on load, as [`BitLinear::from_weight`].
    ///
    /// Errors: a missing or misshapen `weight` (candle's error), and as
    /// [`BitLinear::from_weight`].
    pub fn load(
        device: &Device,
        vb: VarBuilder,
        in_features: usize,
        out_features: usize,
        options: &BitLinearOptions,
    ) -> Result<BitLinear, Error> {
        let w = FloatLinear::load(&vb, in_features, out_features)?;
        Self::quantize(device, &w, in_features, out_features, options)
    }

    /// Reads ternary layer `layer` of a bitmat checkpoint (`layer.weight` packed,
    /// `layer.weight_scale`, and `layer.bias` when present, as `bitmat convert --to ternary`
    /// writes them); `options.granularity` is the checkpoint's.
    ///
    /// Errors: what [`Checkpoint::ternary`] refuses (missing tensors, not a ternary layer,
    /// invalid codes), a bias of the wrong length, and the checks of
    /// [`bitmat::nn::BitLinear::from_ternary`].
    pub fn from_checkpoint(
        device: &Device,
        checkpoint: &Checkpoint,
        layer: &str,
        options: &BitLinearOptions,
    ) -> Result<BitLinear, Error> {
        let weights = checkpoint.ternary(layer)?;
        let bias = checkpoint_bias(checkpoint, layer)?;
        let packed =
            bitmat::nn::BitLinear::from_ternary(device, &weights, bias.as_deref(), options)?;
        Ok(Self::from_layer(packed))
    }

    fn quantize(
        device: &Device,
        w: &FloatLinear,
        in_features: usize,
        out_features: usize,
        options: &BitLinearOptions,
    ) -> Result<BitLinear, Error> {
        let layer = bitmat::nn::BitLinear::with_options(
            device,
            &w.weight,
            in_features,
            out_features,
            w.bias.as_deref(),
            options,
        )?;
        Ok(Self::from_layer(layer))
    }

    /// The packed bitmat layer.
    pub fn layer(&self) -> &bitmat::nn::BitLinear {
        &self.op.layer
    }
}

impl Module for BitLinear {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.contiguous()?.apply_op1_no_bwd(&*self.op)
    }
}
