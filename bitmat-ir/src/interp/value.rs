//! Tile values of the interpreter: typed element vectors (or pointer vectors) with a shape,
//! and the shape helpers shared by the op evaluators.

use super::num::HostElem;
use super::InterpErrorKind;
use crate::element::{Element, HostData};
use crate::scalar::Scalar;
use crate::types::{ElemType, TileType};

/// Runs `$body` with the type alias `$t` bound to the Rust type of the [`DType`] `$dtype`.
macro_rules! with_dtype {
    ($dtype:expr, $t:ident => $body:expr) => {
        match $dtype {
            $crate::types::DType::Bool => {
                type $t = bool;
                $body
            }
            $crate::types::DType::I8 => {
                type $t = i8;
                $body
            }
            $crate::types::DType::U8 => {
                type $t = u8;
                $body
            }
            $crate::types::DType::I16 => {
                type $t = i16;
                $body
            }
            $crate::types::DType::U16 => {
                type $t = u16;
                $body
            }
            $crate::types::DType::I32 => {
                type $t = i32;
                $body
            }
            $crate::types::DType::U32 => {
                type $t = u32;
                $body
            }
            $crate::types::DType::I64 => {
                type $t = i64;
                $body
            }
            $crate::types::DType::U64 => {
                type $t = u64;
                $body
            }
            $crate::types::DType::F16 => {
                type $t = half::f16;
                $body
            }
            $crate::types::DType::BF16 => {
                type $t = half::bf16;
                $body
            }
            $crate::types::DType::F32 => {
                type $t = f32;
                $body
            }
            $crate::types::DType::F8E4M3 => {
                type $t = float8::F8E4M3;
                $body
            }
            $crate::types::DType::F8E5M2 => {
                type $t = float8::F8E5M2;
                $body
            }
        }
    };
}
pub(crate) use with_dtype;

/// One element of a pointer tile: which kernel parameter it points into, and an element offset.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct PtrElem {
    /// Index into [`crate::Kernel::params`] of the pointer parameter it derives from.
    pub param: u32,
    /// Offset in elements from the start of the buffer (may be out of bounds until accessed).
    pub offset: i64,
}

/// The elements of a tile.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum TileData {
    /// Plain values, row-major.
    Val(HostData),
    /// Pointers, row-major.
    Ptr(Vec<PtrElem>),
}

/// A runtime tile value (rank 0 for scalars).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TileValue {
    /// Extents, outermost first.
    pub shape: Vec<u32>,
    /// Row-major elements.
    pub data: TileData,
}

/// A `Malformed` error kind with the given message.
pub(crate) fn malformed(msg: impl Into<String>) -> InterpErrorKind {
    InterpErrorKind::Malformed(msg.into())
}

/// Number of elements of `shape`, or an error if it overflows `usize`.
pub(crate) fn numel(shape: &[u32]) -> Result<usize, InterpErrorKind> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d as usize))
        .ok_or_else(|| malformed(format!("tile shape {shape:?} is too large")))
}

/// The multi-index of row-major element `flat` in `shape`.
pub(crate) fn lane_of(mut flat: usize, shape: &[u32]) -> Vec<u32> {
    let mut lane = vec![0u32; shape.len()];
    for (slot, &d) in lane.iter_mut().zip(shape).rev() {
        let d = (d as usize).max(1);
        *slot = (flat % d) as u32;
        flat /= d;
    }
    lane
}

/// The value of a vector of elements of a Rust element type.
pub(crate) fn host_vec<T: Element>(v: Vec<T>) -> HostData {
    T::into_host(v)
}

/// Borrows `data` as `&[T]`, or reports that it holds another type.
pub(crate) fn slice_of<T: Element>(data: &HostData) -> Result<&[T], InterpErrorKind> {
    T::host_slice(data).ok_or_else(|| {
        malformed(format!(
            "expected a tile of {}, found {}",
            T::DTYPE,
            data.dtype()
        ))
    })
}

impl TileValue {
    /// A value tile.
    pub fn val(shape: Vec<u32>, data: HostData) -> TileValue {
        TileValue {
            shape,
            data: TileData::Val(data),
        }
    }

    /// A rank-0 tile holding `s`.
    pub fn scalar(s: Scalar) -> TileValue {
        TileValue::splat(s, Vec::new(), 1)
    }

    /// A tile of `shape` (with `n` elements) filled with `s`.
    pub fn splat(s: Scalar, shape: Vec<u32>, n: usize) -> TileValue {
        let data =
            with_dtype!(s.dtype(), T => host_vec(vec![<T as HostElem>::from_bits64(s.bits()); n]));
        TileValue::val(shape, data)
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.data {
            TileData::Val(d) => d.len(),
            TileData::Ptr(p) => p.len(),
        }
    }

    /// The element type.
    pub fn elem_desc(&self) -> String {
        match &self.data {
            TileData::Val(d) => d.dtype().to_string(),
            TileData::Ptr(_) => "ptr".to_string(),
        }
    }

    /// The value elements, or an error for pointer tiles.
    pub fn values(&self) -> Result<&HostData, InterpErrorKind> {
        match &self.data {
            TileData::Val(d) => Ok(d),
            TileData::Ptr(_) => Err(malformed("expected a value tile, found a pointer tile")),
        }
    }

    /// The pointer elements, or an error for value tiles.
    pub fn ptrs(&self) -> Result<&[PtrElem], InterpErrorKind> {
        match &self.data {
            TileData::Ptr(p) => Ok(p),
            TileData::Val(_) => Err(malformed("expected a pointer tile, found a value tile")),
        }
    }

    /// The single element of a rank-0 tile.
    pub fn as_scalar(&self) -> Result<Scalar, InterpErrorKind> {
        if !self.shape.is_empty() {
            return Err(malformed(format!(
                "expected a scalar, found a tile of shape {:?}",
                self.shape
            )));
        }
        self.values()?
            .get(0)
            .ok_or_else(|| malformed("scalar value without an element"))
    }

    /// True when this value has the element type and shape of `ty` (pointer tiles match any
    /// pointer type: their pointee is checked when memory is accessed).
    pub fn matches(&self, ty: &TileType) -> bool {
        let elem_ok = match (&self.data, ty.elem) {
            (TileData::Val(d), ElemType::Val(t)) => d.dtype() == t,
            (TileData::Ptr(_), ElemType::Ptr(_)) => true,
            _ => false,
        };
        elem_ok && self.shape == ty.shape && numel(&ty.shape).ok() == Some(self.len())
    }

    /// Checks that `self` and `other` have the same shape.
    pub fn same_shape(&self, other: &TileValue, what: &str) -> Result<(), InterpErrorKind> {
        if self.shape == other.shape && self.len() == other.len() {
            Ok(())
        } else {
            Err(malformed(format!(
                "{what}: shapes {:?} and {:?} differ",
                self.shape, other.shape
            )))
        }
    }

    /// The tile whose element `i` is element `idx[i]` of `self`, with shape `shape`.
    pub fn gather(&self, idx: &[usize], shape: Vec<u32>) -> Result<TileValue, InterpErrorKind> {
        if idx.iter().any(|&i| i >= self.len()) {
            return Err(malformed("element index outside the source tile"));
        }
        let data = match &self.data {
            TileData::Val(d) => TileData::Val(crate::with_host_data!(d, v => {
                host_vec(idx.iter().map(|&i| v[i]).collect())
            })),
            TileData::Ptr(p) => TileData::Ptr(idx.iter().map(|&i| p[i]).collect()),
        };
        Ok(TileValue { shape, data })
    }
}
