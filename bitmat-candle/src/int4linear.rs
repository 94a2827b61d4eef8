//! [`Int4Linear`]: bitmat's int4 layer as a candle module.

use crate::load::{checkpoint_bias, FloatLinear};
use crate::op::LinearOp;
use crate::Error;
use bitmat::checkpoint::Checkpoint;
use bitmat::formats::{quantize_int4, Int4Group};
use bitmat::nn::Int4Mode;
use bitmat::Device;
use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;
use std::sync::Arc;

/// A linear layer on group-quantized int4 weights as a [`candle_nn::Module`]: `forward(x)` on
/// an `f32`, `f16` or `bf16` tensor `[.., in]` on the CPU returns `[.., out]` in the same
/// dtype, computed by [`bitmat::nn::Int4Linear::forward`] in its [`Int4Mode`] (W4A16 or
/// W4A8), plus the bias.
///
/// The packed weights live on a bitmat [`Device`]. Cloning shares them. The layer is frozen:
/// no gradient flows through it (train with [`crate::TrainableInt4Linear`]).
#[derive(Clone, Debug)]
pub struct Int4Linear {
    op: Arc<LinearOp<bitmat::nn::Int4Linear>>,
}

impl Int4Linear {
    /// Wraps a packed bitmat layer.
    pub fn from_layer(layer: bitmat::nn::Int4Linear) -> Int4Linear {
        Int4Linear {
            op: Arc::new(LinearOp { layer }),
        }
    }

    /// Quantizes a float `weight [out, in]` (any float dtype) with `group` scales
    /// (`scale = max|w| / 7` per group) and an optional `bias [out]` into a layer on `device`
    /// running in `mode`.
    ///
    /// Errors: a weight that is not 2-D or a bias of the wrong shape ([`Error::Tensor`]);
    /// `in` not a multiple of 16, a group that does not divide it, non-finite values.
    pub fn from_weight(
        device: &Device,
        weight: &Tensor,
        bias: Option<&Tensor>,
        group: Int4Group,
        mode: Int4Mode,
    ) -> Result<Int4Linear, Error> {
        let (w, in_features, out_features) =
            FloatLinear::from_tensors("Int4Linear::from_weight", weight, bias)?;
        Self::quantize(device, &w, in_features, out_features, group, mode)
    }

    /// Reads `weight [out, in]` and, when present, `bias [out]` from `vb` and quantizes them
    /// on load, as [`Int4Linear::from_weight`].
    ///
    /// Errors: a missing or misshapen `weight` (candle's error), and as
    /// [`Int4Linear::from_weight`].
    pub fn load(
        device: &Device,
        vb: VarBuilder,
        in_features: usize,
        out_features: usize,
        group: Int4Group,
        mode: Int4Mode,
    ) -> Result<Int4Linear, Error> {
        let w = FloatLinear::load(&vb, in_features, out_features)?;
        Self::quantize(device, &w, in_features, out_features, group, mode)
    }

    /// Reads int4 layer `layer` of a bitmat checkpoint (`layer.qweight`, `layer.scales`, and
    /// `layer.bias` when present, as `bitmat convert --to int4` writes them).
    ///
    /// Errors: what [`Checkpoint::int4`] refuses (missing tensors, not an int4 layer, wrong
    /// shapes), a bias of the wrong length.
    pub fn from_checkpoint(
        device: &Device,
        checkpoint: &Checkpoint,
        layer: &str,
        mode: Int4Mode,
    ) -> Result<Int4Linear, Error> {
        let weights = checkpoint.int4(layer)?;
        let bias = checkpoint_bias(checkpoint, layer)?;
        let packed = bitmat::nn::Int4Linear::from_int4(device, &weights, bias.as_deref(), mode)?;
        Ok(Self::from_layer(packed))
    }

    fn quantize(
        device: &Device,
        w: &FloatLinear,
        in_features: usize,
        out_features: usize,
        group: Int4Group,
        mode: Int4Mode,
    ) -> Result<Int4Linear, Error> {
        let q = quantize_int4(&w.weight, out_features, in_features, group)?;
        let layer = bitmat::nn::Int4Linear::from_int4(device, &q, w.bias.as_deref(), mode)?;
        Ok(Self::from_layer(layer))
    }

    /// The packed bitmat layer.
    pub fn layer(&self) -> &bitmat::nn::Int4Linear {
        &self.op.layer
    }
}

impl Module for Int4Linear {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.contiguous()?.apply_op1_no_bwd(&*self.op)
    }
}
