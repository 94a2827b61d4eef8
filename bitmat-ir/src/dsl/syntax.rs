//! Targets of the `#[bitkernel]` syntax rewrites that Rust's operator traits cannot express:
//! comparisons (which must return tiles) and `as` casts (which must accept tiles).
//!
//! On Rust values both behave exactly as the original syntax; on tiles they record IR.

use super::ops::{cast_to, compare};
use super::tile::Tile;
use crate::element::Element;
use crate::kernel::CmpPred;

/// `a == b` / `a != b` as rewritten by the macro: a `bool` for Rust values, a `bool` tile
/// when a tile is involved.
pub trait CompareEq<Rhs: ?Sized> {
    /// `bool` or [`Tile`].
    type Output;
    /// Compares with `Eq` or `Ne`.
    fn compare_eq(&self, pred: CmpPred, rhs: &Rhs) -> Self::Output;
}

/// `<`, `<=`, `>`, `>=` as rewritten by the macro.
pub trait CompareOrd<Rhs: ?Sized> {
    /// `bool` or [`Tile`].
    type Output;
    /// Compares with `Lt`, `Le`, `Gt` or `Ge`.
    fn compare_ord(&self, pred: CmpPred, rhs: &Rhs) -> Self::Output;
}

impl<A: PartialEq<B> + ?Sized, B: ?Sized> CompareEq<B> for A {
    type Output = bool;
    fn compare_eq(&self, pred: CmpPred, rhs: &B) -> bool {
        match pred {
            CmpPred::Ne => self != rhs,
            _ => self == rhs,
        }
    }
}

impl<A: PartialOrd<B> + ?Sized, B: ?Sized> CompareOrd<B> for A {
    type Output = bool;
    fn compare_ord(&self, pred: CmpPred, rhs: &B) -> bool {
        match pred {
            CmpPred::Lt => self < rhs,
            CmpPred::Le => self <= rhs,
            CmpPred::Gt => self > rhs,
            _ => self >= rhs,
        }
    }
}

macro_rules! tile_compare {
    ($($t:ty),*) => {
        $(
            impl CompareEq<Tile> for $t {
                type Output = Tile;
                fn compare_eq(&self, pred: CmpPred, rhs: &Tile) -> Tile {
                    compare(pred, *self, *rhs)
                }
            }
            impl CompareOrd<Tile> for $t {
                type Output = Tile;
                fn compare_ord(&self, pred: CmpPred, rhs: &Tile) -> Tile {
                    compare(pred, *self, *rhs)
                }
            }
            impl CompareEq<$t> for Tile {
                type Output = Tile;
                fn compare_eq(&self, pred: CmpPred, rhs: &$t) -> Tile {
                    compare(pred, *self, *rhs)
                }
            }
            impl CompareOrd<$t> for Tile {
                type Output = Tile;
                fn compare_ord(&self, pred: CmpPred, rhs: &$t) -> Tile {
                    compare(pred, *self, *rhs)
                }
            }
        )*
    };
}
impl CompareEq<Tile> for Tile {
    type Output = Tile;
    fn compare_eq(&self, pred: CmpPred, rhs: &Tile) -> Tile {
        compare(pred, *self, *rhs)
    }
}

impl CompareOrd<Tile> for Tile {
    type Output = Tile;
    fn compare_ord(&self, pred: CmpPred, rhs: &Tile) -> Tile {
        compare(pred, *self, *rhs)
    }
}

tile_compare!(i8, u8, i16, u16, i32, u32, i64, u64, isize, usize, f32, f64, bool);

/// `a == b`.
pub fn eq<A: CompareEq<B> + ?Sized, B: ?Sized>(a: &A, b: &B) -> A::Output {
    a.compare_eq(CmpPred::Eq, b)
}
/// `a != b`.
pub fn ne<A: CompareEq<B> + ?Sized, B: ?Sized>(a: &A, b: &B) -> A::Output {
    a.compare_eq(CmpPred::Ne, b)
}
/// `a < b`.
pub fn lt<A: CompareOrd<B> + ?Sized, B: ?Sized>(a: &A, b: &B) -> A::Output {
    a.compare_ord(CmpPred::Lt, b)
}
/// `a <= b`.
pub fn le<A: CompareOrd<B> + ?Sized, B: ?Sized>(a: &A, b: &B) -> A::Output {
    a.compare_ord(CmpPred::Le, b)
}
/// `a > b`.
pub fn gt<A: CompareOrd<B> + ?Sized, B: ?Sized>(a: &A, b: &B) -> A::Output {
    a.compare_ord(CmpPred::Gt, b)
}
/// `a >= b`.
pub fn ge<A: CompareOrd<B> + ?Sized, B: ?Sized>(a: &A, b: &B) -> A::Output {
    a.compare_ord(CmpPred::Ge, b)
}

/// `x as T` as rewritten by the macro: Rust's `as` on Rust values, a cast op on tiles.
pub trait CastTo<T> {
    /// `T` for Rust values, [`Tile`] for tiles.
    type Output;
    /// Converts.
    fn cast_to(self) -> Self::Output;
}

impl<T: Element> CastTo<T> for Tile {
    type Output = Tile;
    fn cast_to(self) -> Tile {
        cast_to(self, T::DTYPE)
    }
}

macro_rules! prim_cast {
    ($from:ty => $($to:ty),*) => {$(
        impl CastTo<$to> for $from {
            type Output = $to;
            #[allow(clippy::unnecessary_cast, clippy::cast_lossless)]
            fn cast_to(self) -> $to {
                self as $to
            }
        }
    )*};
}

macro_rules! prim_casts {
    ($($from:ty),*) => {$(
        prim_cast!($from => i8, u8, i16, u16, i32, u32, i64, u64, i128, u128, isize, usize, f32, f64);
    )*};
}
prim_casts!(i8, u8, i16, u16, i32, u32, i64, u64, i128, u128, isize, usize, f32, f64);
prim_cast!(bool => i8, u8, i16, u16, i32, u32, i64, u64, i128, u128, isize, usize);
prim_cast!(char => u8, u16, u32, u64, i32, i64, usize);

/// `x as T`.
pub fn cast<T, X: CastTo<T>>(x: X) -> X::Output {
    x.cast_to()
}
