//! Shape-changing ops that move elements without computing: broadcast, expand_dims, reshape.

use super::value::{malformed, numel, TileValue};
use super::InterpErrorKind;

/// `x` with its extents of 1 repeated to `shape` (same rank).
pub(crate) fn broadcast(x: &TileValue, shape: &[u32]) -> Result<TileValue, InterpErrorKind> {
    let src = &x.shape;
    let compatible =
        src.len() == shape.len() && src.iter().zip(shape).all(|(&s, &d)| s == d || s == 1);
    if !compatible {
        return Err(malformed(format!(
            "cannot broadcast shape {src:?} to {shape:?}"
        )));
    }
    if src == shape {
        return Ok(x.clone());
    }
    // Row-major strides of the source, 0 along broadcast axes.
    let mut strides = vec![0usize; src.len()];
    let mut acc = 1usize;
    for (i, &s) in src.iter().enumerate().rev() {
        strides[i] = if s == 1 { 0 } else { acc };
        acc = acc.saturating_mul(s as usize);
    }
    let n = numel(shape)?;
    let mut idx = Vec::with_capacity(n);
    let mut lane = vec![0u32; shape.len()];
    for _ in 0..n {
        idx.push(
            lane.iter()
                .zip(&strides)
                .map(|(&l, &s)| l as usize * s)
                .sum(),
        );
        // Advance the multi-index, innermost axis fastest.
        for (l, &d) in lane.iter_mut().zip(shape).rev() {
            *l += 1;
            if *l < d {
                break;
            }
            *l = 0;
        }
    }
    x.gather(&idx, shape.to_vec())
}

/// `x` with an axis of extent 1 inserted at `axis` (`0..=rank`).
pub(crate) fn expand_dims(x: &TileValue, axis: u32) -> Result<TileValue, InterpErrorKind> {
    let axis = axis as usize;
    if axis > x.shape.len() {
        return Err(malformed(format!(
            "expand_dims axis {axis} outside 0..={}",
            x.shape.len()
        )));
    }
    let mut out = x.clone();
    out.shape.insert(axis, 1);
    Ok(out)
}

/// The elements of `x`, in row-major order, with shape `shape`.
pub(crate) fn reshape(x: &TileValue, shape: &[u32]) -> Result<TileValue, InterpErrorKind> {
    if numel(shape)? != x.len() {
        return Err(malformed(format!(
            "cannot reshape {:?} to {shape:?}",
            x.shape
        )));
    }
    let mut out = x.clone();
    out.shape = shape.to_vec();
    Ok(out)
}
