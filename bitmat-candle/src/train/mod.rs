//! Quantization-aware training with the straight-through estimator: [`TrainableBitLinear`]
//! and [`TrainableInt4Linear`] keep latent float weights as candle variables, run a
//! fake-quant forward through bitmat's kernels ([`fake_quant`]) and pass gradients straight
//! through the quantizers, as BitMat's `BitLinear.train()` does.

mod bitlinear;
mod fake_quant;
mod int4linear;

pub use bitlinear::TrainableBitLinear;
pub use int4linear::TrainableInt4Linear;

use crate::error::tensor_error;
use candle_core::{Result, Tensor};
use candle_nn::{Init, VarBuilder};
use fake_quant::FakeQuantOp;

/// A trainable layer's latent weight `[out, in]` and optional bias `[out]` from `vb`
/// (created in its `VarMap` when missing, initialized as candle's `linear` initializes them).
fn latent_linear(
    vb: &VarBuilder,
    in_features: usize,
    out_features: usize,
    bias: bool,
) -> Result<(Tensor, Option<Tensor>)> {
    let weight = vb.get_with_hints(
        (out_features, in_features),
        "weight",
        candle_nn::init::DEFAULT_KAIMING_NORMAL,
    )?;
    let bias = if bias {
        let bound = 1.0 / (in_features as f64).sqrt();
        Some(vb.get_with_hints(
            out_features,
            "bias",
            Init::Uniform {
                lo: -bound,
                up: bound,
            },
        )?)
    } else {
        None
    };
    Ok((weight, bias))
}

/// `x [.., in] -> [.., out]` through the fake-quant matmul `op` with `weight [out, in]`,
/// plus `bias`.
fn fake_quant_linear(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    op: &FakeQuantOp,
) -> Result<Tensor> {
    let (out_features, in_features) = weight.dims2()?;
    let dims = x.dims();
    let Some((&last, lead)) = dims.split_last() else {
        return Err(tensor_error(
            "fake_quant_linear",
            format!("the input is a scalar; the layer takes [.., {in_features}]"),
        ));
    };
    if last != in_features {
        return Err(tensor_error(
            "fake_quant_linear",
            format!("the input has shape {dims:?}; the layer takes [.., {in_features}]"),
        ));
    }
    let rows: usize = lead.iter().product();
    let x2 = x.reshape((rows, in_features))?.contiguous()?;
    let y = x2.apply_op2(&weight.contiguous()?, op.clone())?;
    let mut out_dims = lead.to_vec();
    out_dims.push(out_features);
    let y = y.reshape(out_dims)?;
    match bias {
        Some(b) => y.broadcast_add(b),
        None => Ok(y),
    }
}
