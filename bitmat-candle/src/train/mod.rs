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
use candle_core::{DType, Result, Tensor};
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

/// Checks a trainable layer's input: `f32`, shape `[.., in_features]`.
fn check_input(x: &Tensor, in_features: usize) -> Result<()> {
    const OP: &str = "trainable layer forward";
    if x.dtype() != DType::F32 {
        return Err(tensor_error(
            OP,
            format!(
                "the input is {:?}; training runs in f32 (convert with .to_dtype(DType::F32))",
                x.dtype()
            ),
        ));
    }
    match x.dims().last() {
        Some(&last) if last == in_features => Ok(()),
        _ => Err(tensor_error(
            OP,
            format!(
                "the input has shape {:?}; the layer takes [.., {in_features}]",
                x.dims()
            ),
        )),
    }
}

/// `x [.., in] -> [.., out]` (checked by [`check_input`]) through the fake-quant matmul `op`
/// with `weight [out, in]`, plus `bias`.
fn fake_quant_linear(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    op: &FakeQuantOp,
) -> Result<Tensor> {
    let (out_features, in_features) = weight.dims2()?;
    let lead = &x.dims()[..x.rank().saturating_sub(1)];
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
