//! Shape-changing ops that move elements without computing: broadcast, expand_dims, reshape,
//! permute, concat and slice (the last three gather by the maps of [`crate::lanes`]).

use super::value::{host_vec, malformed, numel, TileData, TileValue};
use super::InterpErrorKind;
use crate::lanes;

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

/// `x` with its axes in the order `perm`.
pub(crate) fn permute(x: &TileValue, perm: &[u32]) -> Result<TileValue, InterpErrorKind> {
    let mut sorted = perm.to_vec();
    sorted.sort_unstable();
    if sorted.iter().enumerate().any(|(i, &p)| p as usize != i) || perm.len() != x.shape.len() {
        return Err(malformed(format!(
            "{perm:?} is not a permutation of the axes of {:?}",
            x.shape
        )));
    }
    let shape = perm.iter().map(|&p| x.shape[p as usize]).collect();
    x.gather(&lanes::permute_sources(&x.shape, perm), shape)
}

/// `a` then `b` (one shape and type) along `axis`.
pub(crate) fn concat(
    a: &TileValue,
    b: &TileValue,
    axis: u32,
) -> Result<TileValue, InterpErrorKind> {
    let axis = axis as usize;
    if a.shape != b.shape || axis >= a.shape.len() {
        return Err(malformed(format!(
            "cannot concatenate {:?} and {:?} along axis {axis}",
            a.shape, b.shape
        )));
    }
    let data = match (&a.data, &b.data) {
        (TileData::Val(x), TileData::Val(y)) if x.dtype() == y.dtype() => {
            TileData::Val(crate::with_host_data!(x, xs => {
                let ys = super::value::slice_of(y)?;
                host_vec(xs.iter().chain(ys).copied().collect())
            }))
        }
        (TileData::Ptr(x), TileData::Ptr(y)) => TileData::Ptr(x.iter().chain(y).copied().collect()),
        _ => return Err(malformed("concat of tiles of different element types")),
    };
    let both = TileValue {
        shape: vec![2 * numel(&a.shape)? as u32],
        data,
    };
    let mut shape = a.shape.clone();
    shape[axis] *= 2;
    both.gather(&lanes::concat_sources(&a.shape, axis), shape)
}

/// The block of `x` along `axis` from `start`, of the extent `shape` has there.
pub(crate) fn slice(
    x: &TileValue,
    axis: u32,
    start: u32,
    shape: &[u32],
) -> Result<TileValue, InterpErrorKind> {
    let axis = axis as usize;
    let extent = shape.get(axis).copied().unwrap_or(0);
    if axis >= x.shape.len() || start + extent > x.shape[axis] {
        return Err(malformed(format!(
            "slice of {:?} from {start} to {shape:?} along axis {axis}",
            x.shape
        )));
    }
    x.gather(
        &lanes::slice_sources(&x.shape, axis, start, extent),
        shape.to_vec(),
    )
}
