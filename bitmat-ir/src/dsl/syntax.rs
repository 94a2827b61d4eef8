//! Targets of the `#[bitkernel]` syntax rewrites that Rust's operator traits cannot express:
//! comparisons (which must return tiles), `as` casts (which must accept tiles), and the check
//! that an `if` whose branches jump out is decided at specialization ([`comptime_jump`]) and
//! the same for a `while` ([`comptime_while`]), and
//! float literals left of an operator that adopt the right operand's type ([`FloatLit`]), and
//! unsuffixed literals beside a comparison ([`IntLit`], [`FloatLit`]), whose result type is
//! then known without the literal's (`(x > 0).trans()`, `(v < 0.5).sum(0)`).
//!
//! On Rust values both behave exactly as the original syntax; on tiles they record IR.

use super::ops::{cast_to, compare};
use super::tile::{IntoOperand, Operand, Tile, Weak};
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

tile_compare!(i8, u8, i16, u16, i32, u32, i64, u64, isize, usize, f32, f64, bool, IntLit, FloatLit);

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

/// The condition of an `if` one of whose branches has a `return`, `break` or `continue`:
/// only a Rust `bool` (an `if` decided at specialization) may jump out of its branches.
#[diagnostic::on_unimplemented(
    message = "`return`, `break` or `continue` inside an `if` on a runtime value (`{Self}`)",
    label = "a runtime condition: both branches become IR, and a jump would leave the branch open",
    note = "do not jump out of a runtime `if`: assign `let mut` variables in both branches, mask the stores to skip (`store(p, v, mask)`), or pick values with `select(cond, a, b)`; jumps are allowed in an `if` on a Rust `bool`"
)]
pub trait ComptimeJump {}

impl ComptimeJump for bool {}

/// Requires `cond` to be a Rust `bool` ([`ComptimeJump`]); called by code generated by
/// `#[bitkernel]` for an `if` whose branches jump out.
pub fn comptime_jump<C: ComptimeJump + ?Sized>(_cond: &C) {}

/// What may decide a `while` whose body jumps out (`break`, `continue`, `return`) or assigns
/// through a field or an index: only a Rust `bool` (a loop run at specialization).
#[diagnostic::on_unimplemented(
    message = "a `while` on a runtime value (`{Self}`) whose body jumps out or assigns through a field or an index",
    label = "a runtime condition: the body becomes one IR loop body, which runs to its end and carries only plain variables",
    note = "for a runtime `while`, put the exit into the condition (`while (i < n) & (found == 0) {{ .. }}` with `found` a scalar tile assigned in the body), skip work with an `if` on a runtime value or masks, and assign `let mut` variables instead of fields or elements; jumps are allowed in a `while` on a Rust `bool`"
)]
pub trait ComptimeWhile {}

impl ComptimeWhile for bool {}

/// Requires `cond` to be a Rust `bool` ([`ComptimeWhile`]); called by code generated by
/// `#[bitkernel]` for a `while` whose body jumps out or assigns through a field or an index.
pub fn comptime_while<C: ComptimeWhile + ?Sized>(_cond: &C) {}

/// An unsuffixed float literal on the left of `+ - * / %` (what `#[bitkernel]` makes of the
/// `1.0` in `1.0 - x`): it takes the type of the right operand (`f32`, `f64` or a tile), so
/// that `(1.0 - x).sqrt()` needs no suffix. It keeps the literal parsed both ways, so an `f32`
/// result is exactly what `1.0f32 - x` gives.
#[derive(Copy, Clone, Debug)]
pub struct FloatLit {
    wide: f64,
    narrow: f32,
}

impl FloatLit {
    /// The literal, as `f64` and as `f32` (both parsed from its text).
    pub fn new(wide: f64, narrow: f32) -> FloatLit {
        FloatLit { wide, narrow }
    }
}

macro_rules! float_lit_operator {
    ($($trait:ident $method:ident),*) => {$(
        impl std::ops::$trait<Tile> for FloatLit {
            type Output = Tile;
            fn $method(self, rhs: Tile) -> Tile {
                std::ops::$trait::$method(self.wide, rhs)
            }
        }
        impl std::ops::$trait<f64> for FloatLit {
            type Output = f64;
            fn $method(self, rhs: f64) -> f64 {
                std::ops::$trait::$method(self.wide, rhs)
            }
        }
        impl std::ops::$trait<f32> for FloatLit {
            type Output = f32;
            fn $method(self, rhs: f32) -> f32 {
                std::ops::$trait::$method(self.narrow, rhs)
            }
        }
    )*};
}

float_lit_operator!(Add add, Sub sub, Mul mul, Div div, Rem rem);

/// An unsuffixed integer literal beside a comparison operator (what `#[bitkernel]` makes of
/// the `3` in `x > 3` or `0 <= i`): beside a tile it is a weak scalar that takes the tile's
/// element type (as the literal did before); beside a Rust number the comparison is exact,
/// as Rust's would be (as a float beside a float, as Triton promotes). The literal's type no
/// longer has to be inferred, so a method may follow the comparison.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct IntLit(pub i128);

// Hidden from "the following types implement" lists: users write plain literals.
#[diagnostic::do_not_recommend]
impl IntoOperand for IntLit {
    fn into_operand(self) -> Operand {
        Operand::Weak(Weak::Int(self.0))
    }
}

#[diagnostic::do_not_recommend]
impl IntoOperand for FloatLit {
    fn into_operand(self) -> Operand {
        Operand::Weak(Weak::Float(self.wide))
    }
}

macro_rules! int_lit_ord {
    ($($t:ty),*) => {$(
        impl PartialEq<IntLit> for $t {
            fn eq(&self, lit: &IntLit) -> bool {
                *self as i128 == lit.0
            }
        }
        impl PartialOrd<IntLit> for $t {
            fn partial_cmp(&self, lit: &IntLit) -> Option<std::cmp::Ordering> {
                (*self as i128).partial_cmp(&lit.0)
            }
        }
        impl PartialEq<$t> for IntLit {
            fn eq(&self, x: &$t) -> bool {
                self.0 == *x as i128
            }
        }
        impl PartialOrd<$t> for IntLit {
            fn partial_cmp(&self, x: &$t) -> Option<std::cmp::Ordering> {
                self.0.partial_cmp(&(*x as i128))
            }
        }
    )*};
}
int_lit_ord!(i8, u8, i16, u16, i32, u32, i64, u64, i128, isize, usize);

macro_rules! float_lit_ord {
    ($($t:ty, $field:ident);*) => {$(
        impl PartialEq<IntLit> for $t {
            fn eq(&self, lit: &IntLit) -> bool {
                f64::from(*self) == lit.0 as f64
            }
        }
        impl PartialOrd<IntLit> for $t {
            fn partial_cmp(&self, lit: &IntLit) -> Option<std::cmp::Ordering> {
                f64::from(*self).partial_cmp(&(lit.0 as f64))
            }
        }
        impl PartialEq<$t> for IntLit {
            fn eq(&self, x: &$t) -> bool {
                self.0 as f64 == f64::from(*x)
            }
        }
        impl PartialOrd<$t> for IntLit {
            fn partial_cmp(&self, x: &$t) -> Option<std::cmp::Ordering> {
                (self.0 as f64).partial_cmp(&f64::from(*x))
            }
        }
        impl PartialEq<FloatLit> for $t {
            fn eq(&self, lit: &FloatLit) -> bool {
                *self == lit.$field
            }
        }
        impl PartialOrd<FloatLit> for $t {
            fn partial_cmp(&self, lit: &FloatLit) -> Option<std::cmp::Ordering> {
                self.partial_cmp(&lit.$field)
            }
        }
        impl PartialEq<$t> for FloatLit {
            fn eq(&self, x: &$t) -> bool {
                self.$field == *x
            }
        }
        impl PartialOrd<$t> for FloatLit {
            fn partial_cmp(&self, x: &$t) -> Option<std::cmp::Ordering> {
                self.$field.partial_cmp(x)
            }
        }
    )*};
}
float_lit_ord!(f32, narrow; f64, wide);
