//! Reading candle's CPU storage: the contiguous elements of an operand, and the output shape
//! of a linear layer. Shared by the inference ops ([`crate::op`]) and the training ops
//! ([`crate::train`]).

use crate::error::tensor_error;
use candle_core::{Layout, Result, Shape};

/// The elements of a contiguous operand, as laid out by `layout`.
///
/// Errors: a strided (non-contiguous) layout; the layers call `.contiguous()` first, so this
/// only reaches users who apply the ops themselves.
pub(crate) fn contiguous<'a, T>(
    op: &'static str,
    data: &'a [T],
    layout: &Layout,
) -> Result<&'a [T]> {
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => Err(tensor_error(
            op,
            format!(
                "the input of shape {:?} is strided; call .contiguous() on it first",
                layout.dims()
            ),
        )),
    }
}

/// The shape `[.., out_features]` of a linear layer's output for an input of shape `input`
/// (`[.., in_features]`).
pub(crate) fn linear_output(
    op: &'static str,
    input: &Shape,
    in_features: usize,
    out_features: usize,
) -> Result<Shape> {
    let dims = input.dims();
    match dims.split_last() {
        Some((&last, lead)) if last == in_features => {
            let mut out = lead.to_vec();
            out.push(out_features);
            Ok(Shape::from(out))
        }
        _ => Err(tensor_error(
            op,
            format!("the input has shape {dims:?}; the layer takes [.., {in_features}]"),
        )),
    }
}
