//! Shape operations with Triton's meaning: [`Tile::trans`], [`Tile::permute`], [`join`],
//! [`Tile::split`], [`cat`], [`zeros_like`] and [`arange_range`] (`arange(start, end)`).
//! `trans`/`permute` record the IR's `permute`; `join`, `split` and `cat` are `concat` and
//! `slice` along an axis, with `expand_dims`/`reshape` around them.

use super::tile::{check_shape, IntoOperand, IntoShape, Tile};
use super::trace::{with_trace, Trace};

impl Tile {
    /// The transpose of a 2-D tile (Triton's `trans` without arguments): `x.trans()` is
    /// `x.permute([1, 0])`.
    pub fn trans(self) -> Tile {
        with_trace(|t| {
            if self.is_poison() {
                return Tile::POISON;
            }
            let ty = t.ty(self);
            if ty.rank() != 2 {
                return t.fail(
                    "trans",
                    format!("`trans` transposes a 2-D tile, not {ty}; reorder the axes of other ranks with `.permute([..])`"),
                );
            }
            Tile::from_id(t.builder.permute(self.id(), vec![1, 0]))
        })
    }

    /// The axes reordered (Triton's `permute`): result axis `i` is axis `dims[i]` of `self`;
    /// `dims` is a permutation of `0..rank`.
    pub fn permute(self, dims: impl IntoShape) -> Tile {
        with_trace(|t| {
            if self.is_poison() {
                return Tile::POISON;
            }
            let ty = t.ty(self);
            let dims = match dims.into_shape() {
                Ok(d) => d,
                Err(m) => return t.fail("permute", m),
            };
            let mut sorted = dims.clone();
            sorted.sort_unstable();
            if sorted.iter().enumerate().any(|(i, &d)| d as usize != i) || dims.len() != ty.rank() {
                return t.fail(
                    "permute",
                    format!(
                        "{dims:?} is not a permutation of the axes of {ty}: list each of 0..{} once, e.g. `.permute([1, 0])`",
                        ty.rank()
                    ),
                );
            }
            if sorted == dims {
                return self;
            }
            Tile::from_id(t.builder.permute(self.id(), dims))
        })
    }

    /// The two halves of a tile whose last axis has extent 2 (Triton's `split`, the inverse of
    /// [`join`]): `let (a, b) = x.split();` gives the elements at index 0 and 1 of that axis,
    /// each of the shape without it.
    pub fn split(self) -> (Tile, Tile) {
        with_trace(|t| {
            if self.is_poison() {
                return (Tile::POISON, Tile::POISON);
            }
            let ty = t.ty(self);
            if ty.shape.last() != Some(&2) {
                t.fail(
                    "split",
                    format!("`split` takes a tile whose last axis has extent 2, not {ty}; `reshape` it to `[.., 2]` first"),
                );
                return (Tile::POISON, Tile::POISON);
            }
            let axis = ty.rank() as u32 - 1;
            let rest = ty.shape[..ty.rank() - 1].to_vec();
            let half = |t: &mut Trace, start| {
                let s = t.builder.slice(self.id(), axis, start, 1);
                Tile::from_id(t.builder.reshape(s, rest.clone()))
            };
            (half(t, 0), half(t, 1))
        })
    }
}

/// `a` and `b` stacked along a new last axis of extent 2 (Triton's `join`): element
/// `[.., 0]` of the result is from `a`, `[.., 1]` from `b`. The operands broadcast to one shape
/// and must have one element type (a Rust constant takes the other operand's).
pub fn join(a: impl IntoOperand, b: impl IntoOperand) -> Tile {
    with_trace(|t| {
        let Some((x, y)) = t.unify("join", a.into_operand(), b.into_operand()) else {
            return Tile::POISON;
        };
        let (tx, ty) = (t.ty(x), t.ty(y));
        if tx.elem != ty.elem {
            return t.fail(
                "join",
                format!(
                    "operands have different element types: {tx} and {ty}; convert one with `as`"
                ),
            );
        }
        let rank = tx.rank() as u32;
        let (ex, ey) = (
            t.builder.expand_dims(x.id(), rank),
            t.builder.expand_dims(y.id(), rank),
        );
        Tile::from_id(t.builder.concat(ex, ey, rank))
    })
}

/// `a` followed by `b` along axis 0 (Triton's `cat`): tiles of one type and shape `[n, ..]`
/// give `[2 n, ..]`. Triton may reorder the elements (it asks for `can_reorder=True`); here
/// the order is always `a`'s rows, then `b`'s.
pub fn cat(a: Tile, b: Tile) -> Tile {
    with_trace(|t| {
        if a.is_poison() || b.is_poison() {
            return Tile::POISON;
        }
        let (ta, tb) = (t.ty(a), t.ty(b));
        if ta != tb || ta.rank() == 0 {
            return t.fail(
                "cat",
                format!("`cat` concatenates two tiles of one type and shape (rank 1 or more) along axis 0, not {ta} and {tb}; `broadcast_to` or convert one first"),
            );
        }
        Tile::from_id(t.builder.concat(a.id(), b.id(), 0))
    })
}

/// A tile of zeros of the shape and element type of `x` (Triton's `zeros_like`).
pub fn zeros_like(x: Tile) -> Tile {
    with_trace(|t| {
        if x.is_poison() {
            return Tile::POISON;
        }
        let ty = t.ty(x);
        let Some(d) = t.value_dtype("zeros_like", x) else {
            return Tile::POISON;
        };
        Tile::from_id(t.builder.constant(crate::Scalar::zero(d), ty.shape))
    })
}

/// `[start, start + 1, .., end - 1]` as an `i32` tile (Triton's `arange(start, end)`, what
/// `arange(start, end)` in a kernel calls): compile-time integers whose difference is a power
/// of two, both within `i32`.
pub fn arange_range(start: impl TryInto<i64> + Copy, end: impl TryInto<i64> + Copy) -> Tile {
    with_trace(|t| {
        let (Some(s), Some(e)) = (start.try_into().ok(), end.try_into().ok()) else {
            return t.fail("arange", "`arange(start, end)` takes compile-time integers");
        };
        let fits = i32::try_from(s).is_ok() && i32::try_from(e).is_ok();
        let n = u32::try_from(e - s).ok().filter(|&n| n > 0 && fits);
        let Some(n) = n.filter(|&n| check_shape(&[n]).is_ok()) else {
            return t.fail(
                "arange",
                format!("`arange({s}, {e})` needs `end - start` to be a power of two (a tile extent) and both within `i32`"),
            );
        };
        let r = t.builder.arange(n);
        if s == 0 {
            return Tile::from_id(r);
        }
        let c = t
            .builder
            .constant(crate::Scalar::from_i64(crate::DType::I32, s), vec![n]);
        Tile::from_id(t.builder.binary(crate::BinaryOp::Add, r, c))
    })
}
