//! Scans and reductions with a combine function, built from the IR's shape ops as Triton's
//! `standard.py` builds `sort` (no new IR op, so every backend runs them as it runs
//! `slice`, `concat`, `select` and elementwise ops):
//! - [`associative_scan`] (and `cumsum`/`cumprod`): Hillis–Steele, `log2(n)` steps
//!   `x[i] = combine(x[i - d], x[i])` for `i >= d`; the shift by `d` is a reshape and a
//!   recursive even/odd interleave of `slice`s and `concat`s (`log2` ops, no memory);
//! - [`Tile::reduce`]: a tree of `combine(x[2j], x[2j + 1])` (adjacent pairs, so the
//!   function needs to be associative, not commutative);
//! - [`Tile::argmax`]/[`Tile::argmin`]: the first index of the maximum (minimum); a NaN
//!   counts as the extreme (the first NaN's index wins, as numpy and torch).
//!
//! The combine function is applied in one fixed order on every backend, so results agree bit
//! for bit; a float `cumsum` adds in the tree's order, not left to right (as on Triton's GPU
//! scan), so it differs from a sequential sum by rounding.

use super::ops::{compare, resolve_axis, select};
use super::tile::Tile;
use super::trace::with_trace;
use crate::kernel::CmpPred;
use crate::types::DType;

/// `x` (not poisoned) seen as `[outer, n, inner]` around `axis`: the view and the three extents.
fn view(x: Tile, axis: usize) -> ([u32; 3], Vec<u32>) {
    let shape = x.shape();
    let outer = shape[..axis].iter().product();
    let inner = shape[axis + 1..].iter().product();
    ([outer, shape[axis], inner], shape)
}

pub(super) fn slice(x: Tile, axis: u32, start: u32, extent: u32) -> Tile {
    with_trace(|t| Tile::from_id(t.builder.slice(x.id(), axis, start, extent)))
}

pub(super) fn concat(a: Tile, b: Tile, axis: u32) -> Tile {
    with_trace(|t| Tile::from_id(t.builder.concat(a.id(), b.id(), axis)))
}

/// The even and odd elements along axis 1 of `x: [o, m, w]` (`m >= 2`), each `[o, m / 2, w]`.
fn even_odd(x: Tile, [o, m, w]: [u32; 3]) -> (Tile, Tile) {
    let pairs = x.reshape(vec![o, m / 2, 2, w]);
    let half = |k| slice(pairs, 2, k, 1).reshape(vec![o, m / 2, w]);
    (half(0), half(1))
}

/// `[o, m / 2, w]` tiles `a` and `b` interleaved along axis 1: `a` at even indices.
fn interleave(a: Tile, b: Tile, [o, m, w]: [u32; 3]) -> Tile {
    let (a, b) = (
        a.reshape(vec![o, m / 2, 1, w]),
        b.reshape(vec![o, m / 2, 1, w]),
    );
    concat(a, b, 2).reshape(vec![o, m, w])
}

/// `x: [o, m, w]` moved one step along axis 1: to higher indices (`up`, element 0 left
/// unspecified) or to lower ones (the last element unspecified).
fn shift1(x: Tile, [o, m, w]: [u32; 3], up: bool) -> Tile {
    if m == 1 {
        return x;
    }
    let (e, od) = even_odd(x, [o, m, w]);
    let half = [o, m / 2, w];
    if up {
        // s[2j] = x[2j - 1] = od[j - 1], s[2j + 1] = e[j].
        interleave(shift1(od, half, true), e, [o, m, w])
    } else {
        // s[2j] = od[j], s[2j + 1] = x[2j + 2] = e[j + 1].
        interleave(od, shift1(e, half, false), [o, m, w])
    }
}

/// `x: [o, n, w]` moved `d` steps along axis 1 (the `d` elements shifted in unspecified).
fn shift(x: Tile, [o, n, w]: [u32; 3], d: u32, up: bool) -> Tile {
    let v = [o, n / d, d * w];
    shift1(x.reshape(v.to_vec()), v, up).reshape(vec![o, n, w])
}

/// The inclusive scan of `x` along `axis` with the associative `combine` (Triton's
/// `associative_scan(x, axis, combine_fn)`): element `i` is `x[0] (+) x[1] (+) .. (+) x[i]`,
/// `combine(earlier, later)`; with `reverse`, `x[n - 1] (+) .. (+) x[i]`. `combine` takes and
/// returns tiles of `x`'s type and shape.
pub fn associative_scan_dir(
    x: Tile,
    axis: i32,
    reverse: bool,
    combine: impl Fn(Tile, Tile) -> Tile,
) -> Tile {
    if x.is_poison() {
        return x;
    }
    let ty = with_trace(|t| t.ty(x));
    let axis = match resolve_axis("associative_scan", axis, ty.rank(), false) {
        Ok(a) => a as usize,
        Err(m) => return super::trace::fail("associative_scan", m),
    };
    let (v, shape) = view(x, axis);
    let n = v[1];
    let pos = super::ops::arange(n).reshape(vec![1, n, 1]);
    let mut acc = x.reshape(v.to_vec());
    let mut d = 1;
    while d < n {
        let sh = shift(acc, v, d, !reverse);
        let valid = if reverse {
            compare(CmpPred::Lt, pos, (n - d) as i32)
        } else {
            compare(CmpPred::Ge, pos, d as i32)
        };
        let next = combine(sh, acc);
        if next.is_poison() {
            return next;
        }
        let nt = with_trace(|t| t.ty(next));
        if nt.shape != v.to_vec() || nt.elem != ty.elem {
            return super::trace::fail(
                "associative_scan",
                format!("the combine function must return a tile of its operands' type, {ty} viewed as [{}, {n}, {}], not {nt}", v[0], v[2]),
            );
        }
        acc = select(valid, next, acc);
        d *= 2;
    }
    acc.reshape(shape)
}

/// [`associative_scan_dir`] forwards: Triton's `associative_scan(x, axis, combine_fn)`.
pub fn associative_scan(x: Tile, axis: i32, combine: impl Fn(Tile, Tile) -> Tile) -> Tile {
    associative_scan_dir(x, axis, false, combine)
}

/// Checks that `x` is a number tile for `name`; returns it, or a poisoned tile.
pub(super) fn numeric(name: &str, x: Tile) -> Tile {
    with_trace(|t| {
        if x.is_poison() {
            return x;
        }
        match t.value_dtype(name, x) {
            Some(DType::Bool) => t.fail(
                name,
                format!(
                    "`{name}` is not defined on {}; cast to an integer type first",
                    t.ty(x)
                ),
            ),
            Some(_) => x,
            None => Tile::POISON,
        }
    })
}

impl Tile {
    /// Running sums along `axis` (Triton's `cumsum`; integers wrap). Floats add in the
    /// scan's tree order.
    pub fn cumsum(self, axis: i32) -> Tile {
        let x = numeric("cumsum", self);
        associative_scan_dir(x, axis, false, |a, b| a + b)
    }

    /// Running sums from the end along `axis` (Triton's `cumsum(.., reverse=True)`).
    pub fn cumsum_reverse(self, axis: i32) -> Tile {
        let x = numeric("cumsum", self);
        associative_scan_dir(x, axis, true, |a, b| a + b)
    }

    /// Running products along `axis` (Triton's `cumprod`; integers wrap).
    pub fn cumprod(self, axis: i32) -> Tile {
        let x = numeric("cumprod", self);
        associative_scan_dir(x, axis, false, |a, b| a * b)
    }

    /// Running products from the end along `axis` (Triton's `cumprod(.., reverse=True)`).
    pub fn cumprod_reverse(self, axis: i32) -> Tile {
        let x = numeric("cumprod", self);
        associative_scan_dir(x, axis, true, |a, b| a * b)
    }

    /// The reduction of `self` along `axis` (removed) with the associative `combine`
    /// (Triton's `reduce(x, axis, combine_fn)`), as a tree of adjacent pairs
    /// `combine(x[2j], x[2j + 1])`.
    pub fn reduce(self, axis: i32, combine: impl Fn(Tile, Tile) -> Tile) -> Tile {
        if self.is_poison() {
            return self;
        }
        let ty = with_trace(|t| t.ty(self));
        let axis = match resolve_axis("reduce", axis, ty.rank(), false) {
            Ok(a) => a as usize,
            Err(m) => return super::trace::fail("reduce", m),
        };
        let ([o, mut n, w], mut shape) = view(self, axis);
        let mut acc = self.reshape(vec![o, n, w]);
        while n > 1 {
            let (e, od) = even_odd(acc, [o, n, w]);
            acc = combine(e, od);
            if acc.is_poison() {
                return acc;
            }
            n /= 2;
            let got = with_trace(|t| t.ty(acc));
            if got.shape != [o, n, w] || got.elem != ty.elem {
                return super::trace::fail(
                    "reduce",
                    format!("the combine function must return a tile of its operands' type and shape ({} elements of [{o}, {n}, {w}]), not {got}", ty.elem),
                );
            }
        }
        shape.remove(axis);
        acc.reshape(shape)
    }

    /// The index (`i32`) of the first maximum along `axis`, which is removed (Triton's
    /// `argmax` with `tie_break_left`); a NaN counts as the maximum, so the first NaN's index
    /// is returned where there is one.
    pub fn argmax(self, axis: i32) -> Tile {
        arg_extreme("argmax", self, axis, true)
    }

    /// The index (`i32`) of the first minimum along `axis`, which is removed; a NaN counts as
    /// the minimum (the first NaN's index).
    pub fn argmin(self, axis: i32) -> Tile {
        arg_extreme("argmin", self, axis, false)
    }
}

fn arg_extreme(name: &str, x: Tile, axis: i32, max: bool) -> Tile {
    let x = numeric(name, x);
    if x.is_poison() {
        return x;
    }
    let ty = with_trace(|t| t.ty(x));
    let a = match resolve_axis(name, axis, ty.rank(), false) {
        Ok(a) => a as usize,
        Err(m) => return super::trace::fail(name, m),
    };
    let n = ty.shape[a];
    let mut at = vec![1; ty.rank()];
    at[a] = n;
    let idx = super::ops::arange(n).reshape(at);
    let best = if max {
        x.max(a as i32)
    } else {
        x.min(a as i32)
    };
    let hit = compare(CmpPred::Eq, x, best.unsqueeze(a as i32));
    let first = select(hit, idx, n as i32).min(a as i32);
    if !ty.dtype().is_some_and(DType::is_float) {
        return first;
    }
    let nan = compare(CmpPred::Ne, x, x);
    let first_nan = select(nan, idx, n as i32).min(a as i32);
    select(compare(CmpPred::Lt, first_nan, n as i32), first_nan, first)
}
