//! Per-type arithmetic of the interpreter: the traits that give the element types their IR
//! semantics (wrapping integer ops, floats computed in `f32` and rounded to the type).

use crate::element::{Element, HostData};
use crate::scalar::Scalar;
use crate::types::DType;
use float8::{F8E4M3, F8E5M2};
use half::{bf16, f16};

/// An element type as the interpreter stores it: comparable, bit-exact conversions, and
/// mutable access to buffers of this type.
pub(crate) trait HostElem: Element + PartialOrd {
    /// The raw bits, zero-extended.
    fn to_bits64(self) -> u64;
    /// The value with raw bits `bits` (higher bits ignored).
    fn from_bits64(bits: u64) -> Self;
    /// Borrows `data` mutably as `&mut [Self]`, if it holds this type.
    fn slice_mut(data: &mut HostData) -> Option<&mut [Self]>;
}

/// The integer element types, with the IR's wrapping semantics.
pub(crate) trait IntElem: HostElem + Ord {
    /// Wrapping `a + b`.
    fn add(self, o: Self) -> Self;
    /// Wrapping `a - b`.
    fn sub(self, o: Self) -> Self;
    /// Wrapping `a * b`.
    fn mul(self, o: Self) -> Self;
    /// Truncating, wrapping division; `None` for division by zero.
    fn div(self, o: Self) -> Option<Self>;
    /// Remainder with the sign of `self`, wrapping; `None` for division by zero.
    fn rem(self, o: Self) -> Option<Self>;
    /// Bitwise and.
    fn and(self, o: Self) -> Self;
    /// Bitwise or.
    fn or(self, o: Self) -> Self;
    /// Bitwise xor.
    fn xor(self, o: Self) -> Self;
    /// Shift left by `o` modulo the bit width.
    fn shl(self, o: Self) -> Self;
    /// Shift right (arithmetic when signed) by `o` modulo the bit width.
    fn shr(self, o: Self) -> Self;
    /// Wrapping negation.
    fn neg(self) -> Self;
    /// Bitwise not.
    fn not(self) -> Self;
    /// Wrapping absolute value (identity for unsigned types).
    fn abs(self) -> Self;
    /// The value sign-extended (signed types) or zero-extended / reinterpreted (unsigned) to
    /// `i64`, as Rust's `as i64`.
    fn to_i64(self) -> i64;
}

/// The floating-point element types: computed in `f32`, rounded back to the type.
pub(crate) trait FloatElem: HostElem {
    /// Exact widening to `f32`.
    fn to_f32(self) -> f32;
    /// Rounding (to nearest, ties to even) from `f32`.
    fn from_f32(v: f32) -> Self;
}

macro_rules! impl_host_elem {
    ($t:ty, $variant:ident, $to:expr, $from:expr) => {
        impl HostElem for $t {
            fn to_bits64(self) -> u64 {
                #[allow(clippy::redundant_closure_call)]
                ($to)(self)
            }
            fn from_bits64(bits: u64) -> Self {
                #[allow(clippy::redundant_closure_call)]
                ($from)(bits)
            }
            fn slice_mut(data: &mut HostData) -> Option<&mut [Self]> {
                match data {
                    HostData::$variant(v) => Some(v),
                    _ => None,
                }
            }
        }
    };
}

impl_host_elem!(bool, Bool, |x: bool| u64::from(x), |b: u64| b & 1 != 0);
impl_host_elem!(i8, I8, |x: i8| x as u8 as u64, |b: u64| b as u8 as i8);
impl_host_elem!(u8, U8, |x: u8| u64::from(x), |b: u64| b as u8);
impl_host_elem!(i16, I16, |x: i16| x as u16 as u64, |b: u64| b as u16 as i16);
impl_host_elem!(u16, U16, |x: u16| u64::from(x), |b: u64| b as u16);
impl_host_elem!(i32, I32, |x: i32| x as u32 as u64, |b: u64| b as u32 as i32);
impl_host_elem!(u32, U32, |x: u32| u64::from(x), |b: u64| b as u32);
impl_host_elem!(i64, I64, |x: i64| x as u64, |b: u64| b as i64);
impl_host_elem!(u64, U64, |x: u64| x, |b: u64| b);
impl_host_elem!(f16, F16, |x: f16| u64::from(x.to_bits()), |b: u64| {
    f16::from_bits(b as u16)
});
impl_host_elem!(bf16, BF16, |x: bf16| u64::from(x.to_bits()), |b: u64| {
    bf16::from_bits(b as u16)
});
impl_host_elem!(f32, F32, |x: f32| u64::from(x.to_bits()), |b: u64| {
    f32::from_bits(b as u32)
});

impl_host_elem!(
    F8E4M3,
    F8E4M3,
    |x: F8E4M3| u64::from(x.to_bits()),
    |b: u64| { F8E4M3::from_bits(b as u8) }
);
impl_host_elem!(
    F8E5M2,
    F8E5M2,
    |x: F8E5M2| u64::from(x.to_bits()),
    |b: u64| { F8E5M2::from_bits(b as u8) }
);

macro_rules! impl_int_elem {
    ($t:ty, $abs:expr) => {
        impl IntElem for $t {
            fn add(self, o: Self) -> Self {
                self.wrapping_add(o)
            }
            fn sub(self, o: Self) -> Self {
                self.wrapping_sub(o)
            }
            fn mul(self, o: Self) -> Self {
                self.wrapping_mul(o)
            }
            fn div(self, o: Self) -> Option<Self> {
                (o != 0).then(|| self.wrapping_div(o))
            }
            fn rem(self, o: Self) -> Option<Self> {
                (o != 0).then(|| self.wrapping_rem(o))
            }
            fn and(self, o: Self) -> Self {
                self & o
            }
            fn or(self, o: Self) -> Self {
                self | o
            }
            fn xor(self, o: Self) -> Self {
                self ^ o
            }
            fn shl(self, o: Self) -> Self {
                self.wrapping_shl(o as u32)
            }
            fn shr(self, o: Self) -> Self {
                self.wrapping_shr(o as u32)
            }
            fn neg(self) -> Self {
                self.wrapping_neg()
            }
            fn not(self) -> Self {
                !self
            }
            fn abs(self) -> Self {
                #[allow(clippy::redundant_closure_call)]
                ($abs)(self)
            }
            fn to_i64(self) -> i64 {
                self as i64
            }
        }
    };
}

impl_int_elem!(i8, |x: i8| x.wrapping_abs());
impl_int_elem!(u8, |x: u8| x);
impl_int_elem!(i16, |x: i16| x.wrapping_abs());
impl_int_elem!(u16, |x: u16| x);
impl_int_elem!(i32, |x: i32| x.wrapping_abs());
impl_int_elem!(u32, |x: u32| x);
impl_int_elem!(i64, |x: i64| x.wrapping_abs());
impl_int_elem!(u64, |x: u64| x);

impl FloatElem for f32 {
    fn to_f32(self) -> f32 {
        self
    }
    fn from_f32(v: f32) -> Self {
        v
    }
}

impl FloatElem for f16 {
    fn to_f32(self) -> f32 {
        f16::to_f32(self)
    }
    fn from_f32(v: f32) -> Self {
        f16::from_f32(v)
    }
}

impl FloatElem for bf16 {
    fn to_f32(self) -> f32 {
        bf16::to_f32(self)
    }
    fn from_f32(v: f32) -> Self {
        bf16::from_f32(v)
    }
}

/// The fp8 types convert through [`Scalar::cast`], which defines their rounding and saturation.
macro_rules! impl_fp8_float_elem {
    ($t:ty, $variant:ident) => {
        impl FloatElem for $t {
            fn to_f32(self) -> f32 {
                f32::from_bits(self.to_scalar().cast(DType::F32).bits() as u32)
            }
            fn from_f32(v: f32) -> Self {
                <$t>::from_bits(
                    Scalar::from_bits(DType::F32, u64::from(v.to_bits()))
                        .cast(DType::$variant)
                        .bits() as u8,
                )
            }
        }
    };
}

impl_fp8_float_elem!(F8E4M3, F8E4M3);
impl_fp8_float_elem!(F8E5M2, F8E5M2);

/// Runs one of three expressions on the vector inside a [`HostData`], by type family:
/// `$int` for integers (element type: [`IntElem`]), `$float` for floats ([`FloatElem`]),
/// `$bool` for booleans.
macro_rules! by_family {
    ($data:expr, $v:ident, int => $int:expr, float => $float:expr, bool => $bool:expr $(,)?) => {
        match $data {
            #[allow(unused_variables)]
            $crate::HostData::Bool($v) => $bool,
            #[allow(unused_variables)]
            $crate::HostData::I8($v) => $int,
            #[allow(unused_variables)]
            $crate::HostData::U8($v) => $int,
            #[allow(unused_variables)]
            $crate::HostData::I16($v) => $int,
            #[allow(unused_variables)]
            $crate::HostData::U16($v) => $int,
            #[allow(unused_variables)]
            $crate::HostData::I32($v) => $int,
            #[allow(unused_variables)]
            $crate::HostData::U32($v) => $int,
            #[allow(unused_variables)]
            $crate::HostData::I64($v) => $int,
            #[allow(unused_variables)]
            $crate::HostData::U64($v) => $int,
            #[allow(unused_variables)]
            $crate::HostData::F16($v) => $float,
            #[allow(unused_variables)]
            $crate::HostData::BF16($v) => $float,
            #[allow(unused_variables)]
            $crate::HostData::F32($v) => $float,
            #[allow(unused_variables)]
            $crate::HostData::F8E4M3($v) => $float,
            #[allow(unused_variables)]
            $crate::HostData::F8E5M2($v) => $float,
        }
    };
}
pub(crate) use by_family;
