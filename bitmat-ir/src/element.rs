//! Rust types that can be tile elements, and host-side typed storage.

use crate::scalar::Scalar;
use crate::types::DType;
use float8::{F8E4M3, F8E5M2};
use half::{bf16, f16};

/// A Rust type that is an element type of the IR (`i8`, `f16`, `bool`, ...).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a bitmat element type",
    label = "not an element type",
    note = "element types (of `Ptr<T>`, `Buffer<T>`, scalar arguments and casts) are bool, i8, u8, i16, u16, i32, u32, i64, u64, f16, bf16, f32, f8e4m3 and f8e5m2"
)]
pub trait Element: Copy + Send + Sync + PartialEq + std::fmt::Debug + Default + 'static {
    /// The IR element type of `Self`.
    const DTYPE: DType;
    /// Converts the value to a [`Scalar`].
    fn to_scalar(self) -> Scalar;
    /// Converts a scalar (cast with `as` semantics when its type differs) to `Self`.
    fn from_scalar(s: Scalar) -> Self;
    /// Wraps a vector of `Self` as typed host data.
    fn into_host(v: Vec<Self>) -> HostData;
    /// Borrows host data as a slice of `Self`, if it holds this type.
    fn host_slice(data: &HostData) -> Option<&[Self]>;
}

/// A typed vector on the host: the storage of interpreter buffers.
#[derive(Clone, Debug, PartialEq)]
pub enum HostData {
    /// `bool` elements.
    Bool(Vec<bool>),
    /// `i8` elements.
    I8(Vec<i8>),
    /// `u8` elements.
    U8(Vec<u8>),
    /// `i16` elements.
    I16(Vec<i16>),
    /// `u16` elements.
    U16(Vec<u16>),
    /// `i32` elements.
    I32(Vec<i32>),
    /// `u32` elements.
    U32(Vec<u32>),
    /// `i64` elements.
    I64(Vec<i64>),
    /// `u64` elements.
    U64(Vec<u64>),
    /// `f16` elements.
    F16(Vec<f16>),
    /// `bf16` elements.
    BF16(Vec<bf16>),
    /// `f32` elements.
    F32(Vec<f32>),
    /// `f8e4m3` elements.
    F8E4M3(Vec<F8E4M3>),
    /// `f8e5m2` elements.
    F8E5M2(Vec<F8E5M2>),
}

/// Runs `$body` with `$v` bound to the vector inside a [`HostData`], whatever its type.
#[macro_export]
macro_rules! with_host_data {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            $crate::HostData::Bool($v) => $body,
            $crate::HostData::I8($v) => $body,
            $crate::HostData::U8($v) => $body,
            $crate::HostData::I16($v) => $body,
            $crate::HostData::U16($v) => $body,
            $crate::HostData::I32($v) => $body,
            $crate::HostData::U32($v) => $body,
            $crate::HostData::I64($v) => $body,
            $crate::HostData::U64($v) => $body,
            $crate::HostData::F16($v) => $body,
            $crate::HostData::BF16($v) => $body,
            $crate::HostData::F32($v) => $body,
            $crate::HostData::F8E4M3($v) => $body,
            $crate::HostData::F8E5M2($v) => $body,
        }
    };
}

impl HostData {
    /// `len` zeros of type `dtype`.
    pub fn zeros(dtype: DType, len: usize) -> HostData {
        match dtype {
            DType::Bool => HostData::Bool(vec![false; len]),
            DType::I8 => HostData::I8(vec![0; len]),
            DType::U8 => HostData::U8(vec![0; len]),
            DType::I16 => HostData::I16(vec![0; len]),
            DType::U16 => HostData::U16(vec![0; len]),
            DType::I32 => HostData::I32(vec![0; len]),
            DType::U32 => HostData::U32(vec![0; len]),
            DType::I64 => HostData::I64(vec![0; len]),
            DType::U64 => HostData::U64(vec![0; len]),
            DType::F16 => HostData::F16(vec![f16::ZERO; len]),
            DType::BF16 => HostData::BF16(vec![bf16::ZERO; len]),
            DType::F32 => HostData::F32(vec![0.0; len]),
            DType::F8E4M3 => HostData::F8E4M3(vec![F8E4M3::from_bits(0); len]),
            DType::F8E5M2 => HostData::F8E5M2(vec![F8E5M2::from_bits(0); len]),
        }
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        match self {
            HostData::Bool(_) => DType::Bool,
            HostData::I8(_) => DType::I8,
            HostData::U8(_) => DType::U8,
            HostData::I16(_) => DType::I16,
            HostData::U16(_) => DType::U16,
            HostData::I32(_) => DType::I32,
            HostData::U32(_) => DType::U32,
            HostData::I64(_) => DType::I64,
            HostData::U64(_) => DType::U64,
            HostData::F16(_) => DType::F16,
            HostData::BF16(_) => DType::BF16,
            HostData::F32(_) => DType::F32,
            HostData::F8E4M3(_) => DType::F8E4M3,
            HostData::F8E5M2(_) => DType::F8E5M2,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        with_host_data!(self, v => v.len())
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `i` as a scalar, or `None` when `i` is out of bounds.
    pub fn get(&self, i: usize) -> Option<Scalar> {
        with_host_data!(self, v => v.get(i).map(|x| x.to_scalar()))
    }

    /// Writes `value` (cast to this buffer's type) at `i`; returns false when out of bounds.
    pub fn set(&mut self, i: usize, value: Scalar) -> bool {
        with_host_data!(self, v => match v.get_mut(i) {
            Some(slot) => {
                *slot = Element::from_scalar(value);
                true
            }
            None => false,
        })
    }
}

macro_rules! impl_element {
    ($t:ty, $variant:ident, $to:expr, $from:expr) => {
        impl Element for $t {
            const DTYPE: DType = DType::$variant;
            fn to_scalar(self) -> Scalar {
                #[allow(clippy::redundant_closure_call)]
                Scalar::from_bits(DType::$variant, ($to)(self))
            }
            fn from_scalar(s: Scalar) -> Self {
                let s = s.cast(DType::$variant);
                #[allow(clippy::redundant_closure_call)]
                ($from)(s.bits())
            }
            fn into_host(v: Vec<Self>) -> HostData {
                HostData::$variant(v)
            }
            fn host_slice(data: &HostData) -> Option<&[Self]> {
                match data {
                    HostData::$variant(v) => Some(v),
                    _ => None,
                }
            }
        }
    };
}

impl_element!(bool, Bool, |x: bool| u64::from(x), |b: u64| b != 0);
impl_element!(i8, I8, |x: i8| x as u8 as u64, |b: u64| b as u8 as i8);
impl_element!(u8, U8, |x: u8| u64::from(x), |b: u64| b as u8);
impl_element!(i16, I16, |x: i16| x as u16 as u64, |b: u64| b as u16 as i16);
impl_element!(u16, U16, |x: u16| u64::from(x), |b: u64| b as u16);
impl_element!(i32, I32, |x: i32| x as u32 as u64, |b: u64| b as u32 as i32);
impl_element!(u32, U32, |x: u32| u64::from(x), |b: u64| b as u32);
impl_element!(i64, I64, |x: i64| x as u64, |b: u64| b as i64);
impl_element!(u64, U64, |x: u64| x, |b: u64| b);
impl_element!(f16, F16, |x: f16| u64::from(x.to_bits()), |b: u64| {
    f16::from_bits(b as u16)
});
impl_element!(bf16, BF16, |x: bf16| u64::from(x.to_bits()), |b: u64| {
    bf16::from_bits(b as u16)
});
impl_element!(f32, F32, |x: f32| u64::from(x.to_bits()), |b: u64| {
    f32::from_bits(b as u32)
});
impl_element!(
    F8E4M3,
    F8E4M3,
    |x: F8E4M3| u64::from(x.to_bits()),
    |b: u64| { F8E4M3::from_bits(b as u8) }
);
impl_element!(
    F8E5M2,
    F8E5M2,
    |x: F8E5M2| u64::from(x.to_bits()),
    |b: u64| { F8E5M2::from_bits(b as u8) }
);
