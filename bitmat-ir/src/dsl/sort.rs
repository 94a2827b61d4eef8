//! `.sort(axis, descending)`: Triton's bitonic sort (`standard.py`'s `sort`), built from
//! the IR's shape ops: `log2(n) (log2(n) + 1) / 2` compare-and-swap steps, each pairing the
//! elements at distance `d` by a reshape to `[.., n / 2d, 2, d]` and two `slice`s, swapping
//! with `select`, and joining the halves again with `concat`.
//!
//! The order is total: a NaN sorts above every number (last when ascending, first when
//! descending, as numpy puts it last); `-0.0` and `0.0` compare equal, and equal elements
//! keep no particular order (the sort is not stable).

use super::ops::{compare, select};
use super::scan::{concat, numeric, slice};
use super::tile::Tile;
use super::trace::{fail, with_trace};
use crate::kernel::CmpPred;

/// `a > b` in the sort's order (a NaN is above every number and equal to a NaN).
fn greater(a: Tile, b: Tile, float: bool) -> Tile {
    let gt = compare(CmpPred::Gt, a, b);
    if !float {
        return gt;
    }
    let (a_nan, b_nan) = (compare(CmpPred::Ne, a, a), compare(CmpPred::Ne, b, b));
    gt | (a_nan & !b_nan)
}

impl Tile {
    /// The elements sorted along `axis`, which must be the last (Triton's `sort`), ascending
    /// unless `descending`.
    pub fn sort(self, axis: i32, descending: bool) -> Tile {
        let x = numeric("sort", self);
        if x.is_poison() {
            return x;
        }
        let ty = with_trace(|t| t.ty(x));
        let rank = ty.rank() as i32;
        if rank == 0 || (axis != -1 && axis != rank - 1) {
            return fail(
                "sort",
                format!("`sort` sorts along the last axis of a tile, not axis {axis} of {ty}; `.permute([..])` the axis to sort last"),
            );
        }
        let shape = ty.shape.clone();
        let n = shape[shape.len() - 1];
        let o = (ty.numel() as u32) / n;
        let float = ty.dtype().is_some_and(crate::DType::is_float);
        let stages = n.trailing_zeros();
        let mut acc = x.reshape(vec![o, n]);
        for k in 1..=stages {
            for j in (0..k).rev() {
                let d = 1u32 << j;
                let v = acc.reshape(vec![o, n / (2 * d), 2, d]);
                let (lo, hi) = (slice(v, 2, 0, 1), slice(v, 2, 1, 1));
                // Runs of 2^k alternate direction until the last stage merges them all.
                let group = super::ops::arange(n / (2 * d)).reshape(vec![1, n / (2 * d), 1, 1]);
                // Bit `k` of the first element's index (0 everywhere in the last stage).
                let down = compare(CmpPred::Ne, (group >> (k - j - 1) as i32) & 1, 0);
                let down = if descending { !down } else { down };
                // Swap where the pair is out of its run's order.
                let swap = compare(CmpPred::Ne, greater(lo, hi, float), down);
                let new_lo = select(swap, hi, lo);
                let new_hi = select(swap, lo, hi);
                acc = concat(new_lo, new_hi, 2).reshape(vec![o, n]);
            }
        }
        acc.reshape(shape)
    }
}
