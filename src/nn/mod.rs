//! Layers on packed low-bit weights: [`BitLinear`] (BitNet b1.58 ternary, BitMat's layer) and
//! [`Int4Linear`] (group-quantized int4, W4A16 or W4A8).
//!
//! A layer quantizes and packs its weights once, when it is built, and keeps them on its
//! [`Device`](crate::Device) as buffers; `forward` uploads only the activations, launches the
//! prebuilt kernels of [`crate::kernels`] and downloads the result. Inputs are `f32`, `f16`
//! or `bf16` ([`Float`]) of shape `[.., in_features]` (any number of leading batch
//! dimensions); outputs have the same type and shape `[.., out_features]`.
//!
//! Bad input is an [`Error`], never a panic: [`Error::Shape`]
//! for shapes, lengths and options (its `op` names the layer and method, e.g.
//! `"BitLinear::forward"`), [`Error::Format`] for weights the formats
//! refuse and for non-finite values ([`FormatError::NonFinite`](crate::formats::FormatError)).

mod bitlinear;
mod int4linear;

pub use bitlinear::{BitLinear, BitLinearOptions, Norm};
pub use int4linear::{Int4Linear, Int4Mode};

use crate::formats::FormatError;
use crate::{bf16, f16, Error};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for crate::f16 {}
    impl Sealed for crate::bf16 {}
}

/// The floating-point types layers take and return: `f32`, [`struct@f16`] and [`bf16`].
pub trait Float: sealed::Sealed + Copy + Send + Sync + 'static {
    /// The type's name in messages (`"f32"`, `"f16"`, `"bf16"`).
    const NAME: &'static str;
    /// The value as `f32` (exact for all three types).
    fn to_f32(self) -> f32;
    /// The nearest value of this type (round to nearest even).
    fn from_f32(v: f32) -> Self;
}

impl Float for f32 {
    const NAME: &'static str = "f32";
    fn to_f32(self) -> f32 {
        self
    }
    fn from_f32(v: f32) -> Self {
        v
    }
}

impl Float for f16 {
    const NAME: &'static str = "f16";
    fn to_f32(self) -> f32 {
        f16::to_f32(self)
    }
    fn from_f32(v: f32) -> Self {
        f16::from_f32(v)
    }
}

impl Float for bf16 {
    const NAME: &'static str = "bf16";
    fn to_f32(self) -> f32 {
        bf16::to_f32(self)
    }
    fn from_f32(v: f32) -> Self {
        bf16::from_f32(v)
    }
}

/// Converts to `f32`, rejecting NaN and infinities as [`FormatError::NonFinite`].
pub(crate) fn finite_f32<T: Float>(what: &str, x: &[T]) -> Result<Vec<f32>, Error> {
    let v: Vec<f32> = x.iter().map(|&e| e.to_f32()).collect();
    match v.iter().position(|e| !e.is_finite()) {
        None => Ok(v),
        Some(index) => Err(FormatError::NonFinite {
            what: what.to_string(),
            index,
        }
        .into()),
    }
}

/// An error of `op` about shapes, lengths or options.
pub(crate) fn shape_error(op: &'static str, message: impl Into<String>) -> Error {
    Error::Shape {
        op,
        message: message.into(),
    }
}

/// Checks `shape = [.., features]` against `x.len()`; returns the number of rows (the product
/// of the leading dimensions).
pub(crate) fn rows_of(
    op: &'static str,
    shape: &[usize],
    len: usize,
    features: usize,
) -> Result<usize, Error> {
    let Some((&last, lead)) = shape.split_last() else {
        return Err(shape_error(
            op,
            format!("the shape is empty; expected [.., {features}] (at least one dimension)"),
        ));
    };
    if last != features {
        return Err(shape_error(
            op,
            format!(
                "the last dimension of shape {shape:?} is {last}, but the layer takes \
                 in_features = {features}"
            ),
        ));
    }
    let rows = lead
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| shape_error(op, format!("shape {shape:?} overflows usize")))?;
    let total = rows
        .checked_mul(features)
        .ok_or_else(|| shape_error(op, format!("shape {shape:?} overflows usize")))?;
    if total != len {
        return Err(shape_error(
            op,
            format!("x has {len} elements, but shape {shape:?} has {total}"),
        ));
    }
    Ok(rows)
}

/// The output shape of a layer `in_features -> out_features` for an input of shape `shape`.
pub(crate) fn output_shape(
    op: &'static str,
    shape: &[usize],
    in_features: usize,
    out_features: usize,
) -> Result<Vec<usize>, Error> {
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| shape_error(op, format!("shape {shape:?} overflows usize")))?;
    rows_of(op, shape, n, in_features)?;
    Ok(with_last(shape, out_features))
}

/// A layer's input, checked and converted to `f32`.
pub(crate) struct LayerInput {
    /// The activations, row-major `[rows, in_features]`.
    pub(crate) x: Vec<f32>,
    /// The product of the leading dimensions.
    pub(crate) rows: usize,
    /// `rows * out_features`.
    pub(crate) out_len: usize,
}

/// Checks `x` of shape `[.., in_features]` (finite, consistent length) for a layer
/// `in_features -> out_features`; `None` when there are no rows.
pub(crate) fn layer_input<T: Float>(
    op: &'static str,
    what: &str,
    x: &[T],
    shape: &[usize],
    in_features: usize,
    out_features: usize,
) -> Result<Option<LayerInput>, Error> {
    let rows = rows_of(op, shape, x.len(), in_features)?;
    if rows == 0 {
        return Ok(None);
    }
    let x = finite_f32(what, x)?;
    let out_len = rows.checked_mul(out_features).ok_or_else(|| {
        shape_error(
            op,
            format!("output {rows} x {out_features} overflows usize"),
        )
    })?;
    Ok(Some(LayerInput { x, rows, out_len }))
}

/// `shape` with its last dimension replaced by `features`.
pub(crate) fn with_last(shape: &[usize], features: usize) -> Vec<usize> {
    let mut out = shape.to_vec();
    if let Some(last) = out.last_mut() {
        *last = features;
    }
    out
}

/// Converts a `[T]` weight matrix to `f32`, checking its length (finiteness is checked by the
/// quantizers).
pub(crate) fn weights_f32<T: Float>(
    op: &'static str,
    w: &[T],
    out_features: usize,
    in_features: usize,
) -> Result<Vec<f32>, Error> {
    let want = out_features.checked_mul(in_features).ok_or_else(|| {
        shape_error(
            op,
            format!("out_features {out_features} x in_features {in_features} overflows usize"),
        )
    })?;
    if w.len() != want {
        return Err(shape_error(
            op,
            format!(
                "weight has {} elements, expected out_features * in_features = \
                 {out_features} * {in_features} = {want}",
                w.len()
            ),
        ));
    }
    Ok(w.iter().map(|&e| e.to_f32()).collect())
}

/// Checks an optional bias of `out_features` finite values and converts it to `f32`.
pub(crate) fn bias_f32<T: Float>(
    op: &'static str,
    bias: Option<&[T]>,
    out_features: usize,
) -> Result<Option<Vec<f32>>, Error> {
    let Some(b) = bias else { return Ok(None) };
    if b.len() != out_features {
        return Err(shape_error(
            op,
            format!(
                "bias has {} elements, expected out_features = {out_features}",
                b.len()
            ),
        ));
    }
    finite_f32("bias", b).map(Some)
}
