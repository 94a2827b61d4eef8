//! Reading float weights for the layers: from candle tensors and `VarBuilder`s, and a layer's
//! bias from a bitmat checkpoint. Shared by [`crate::BitLinear`], [`crate::Int4Linear`] and the
//! trainable layers.

use crate::Error;
use bitmat::checkpoint::Checkpoint;
use candle_core::{DType, Tensor};
use candle_nn::VarBuilder;

/// The elements of `t`, as `f32`, row-major.
pub(crate) fn to_f32_vec(t: &Tensor) -> Result<Vec<f32>, Error> {
    Ok(t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?)
}

/// A linear layer's float weight `[out, in]` and optional bias `[out]` as `f32`, read from
/// `vb` (`weight`, and `bias` when the builder has it).
pub(crate) struct FloatLinear {
    /// `[out_features, in_features]` row-major.
    pub(crate) weight: Vec<f32>,
    /// `out_features` values.
    pub(crate) bias: Option<Vec<f32>>,
}

impl FloatLinear {
    /// Reads `weight` (shape checked by the builder) and, when present, `bias`.
    pub(crate) fn load(
        vb: &VarBuilder,
        in_features: usize,
        out_features: usize,
    ) -> Result<Self, Error> {
        let weight = to_f32_vec(&vb.get((out_features, in_features), "weight")?)?;
        let bias = if vb.contains_tensor("bias") {
            Some(to_f32_vec(&vb.get(out_features, "bias")?)?)
        } else {
            None
        };
        Ok(FloatLinear { weight, bias })
    }

    /// Reads a float weight tensor `[out, in]` and an optional bias tensor `[out]`.
    pub(crate) fn from_tensors(
        op: &'static str,
        weight: &Tensor,
        bias: Option<&Tensor>,
    ) -> Result<(Self, usize, usize), Error> {
        let &[out_features, in_features] = weight.dims() else {
            return Err(Error::Tensor {
                op,
                message: format!(
                    "the weight has shape {:?}; expected [out, in]",
                    weight.dims()
                ),
            });
        };
        if let Some(b) = bias {
            if b.dims() != [out_features] {
                return Err(Error::Tensor {
                    op,
                    message: format!(
                        "the bias has shape {:?}; expected [out_features] = [{out_features}]",
                        b.dims()
                    ),
                });
            }
        }
        let loaded = FloatLinear {
            weight: to_f32_vec(weight)?,
            bias: bias.map(to_f32_vec).transpose()?,
        };
        Ok((loaded, in_features, out_features))
    }
}

/// `NAME.bias` of checkpoint `ck` when it holds one (as `bitmat convert` keeps it).
pub(crate) fn checkpoint_bias(ck: &Checkpoint, layer: &str) -> Result<Option<Vec<f32>>, Error> {
    let name = format!("{layer}.bias");
    if ck.contains(&name) {
        Ok(Some(ck.tensor_f32(&name)?))
    } else {
        Ok(None)
    }
}
