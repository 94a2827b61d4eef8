//! [`Tensor`]: one owned safetensors tensor (dtype, shape, little-endian bytes).

use super::CheckpointError;
use crate::{bf16, f16};
pub use safetensors::Dtype;
use std::borrow::Cow;

/// One tensor of a checkpoint: its dtype, shape and raw little-endian, row-major bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl Tensor {
    /// A tensor from raw little-endian bytes, checking that `data.len()` is what
    /// `dtype` and `shape` imply ([`CheckpointError::BadLength`] otherwise).
    pub fn new(dtype: Dtype, shape: Vec<usize>, data: Vec<u8>) -> Result<Tensor, CheckpointError> {
        let bad = || CheckpointError::BadLength {
            tensor: "<new>".into(),
            dtype: format!("{dtype}"),
            shape: shape.clone(),
            len: data.len(),
        };
        let elems = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or_else(bad)?;
        let bits = elems.checked_mul(dtype.bitsize()).ok_or_else(bad)?;
        if bits % 8 != 0 || bits / 8 != data.len() {
            return Err(bad());
        }
        Ok(Tensor { dtype, shape, data })
    }

    fn from_words<const N: usize>(
        dtype: Dtype,
        shape: &[usize],
        words: impl Iterator<Item = [u8; N]>,
    ) -> Result<Tensor, CheckpointError> {
        Tensor::new(dtype, shape.to_vec(), words.flatten().collect())
    }

    /// An F32 tensor; errors if `values.len()` is not the product of `shape`.
    pub fn from_f32(shape: &[usize], values: &[f32]) -> Result<Tensor, CheckpointError> {
        Self::from_words(Dtype::F32, shape, values.iter().map(|v| v.to_le_bytes()))
    }

    /// An F16 tensor; errors if `values.len()` is not the product of `shape`.
    pub fn from_f16(shape: &[usize], values: &[f16]) -> Result<Tensor, CheckpointError> {
        Self::from_words(Dtype::F16, shape, values.iter().map(|v| v.to_le_bytes()))
    }

    /// A BF16 tensor; errors if `values.len()` is not the product of `shape`.
    pub fn from_bf16(shape: &[usize], values: &[bf16]) -> Result<Tensor, CheckpointError> {
        Self::from_words(Dtype::BF16, shape, values.iter().map(|v| v.to_le_bytes()))
    }

    /// A U8 tensor; errors if `values.len()` is not the product of `shape`.
    pub fn from_u8(shape: &[usize], values: &[u8]) -> Result<Tensor, CheckpointError> {
        Tensor::new(Dtype::U8, shape.to_vec(), values.to_vec())
    }

    /// A U64 tensor; errors if `values.len()` is not the product of `shape`.
    pub fn from_u64(shape: &[usize], values: &[u64]) -> Result<Tensor, CheckpointError> {
        Self::from_words(Dtype::U64, shape, values.iter().map(|v| v.to_le_bytes()))
    }

    /// An I64 tensor; errors if `values.len()` is not the product of `shape`.
    pub fn from_i64(shape: &[usize], values: &[i64]) -> Result<Tensor, CheckpointError> {
        Self::from_words(Dtype::I64, shape, values.iter().map(|v| v.to_le_bytes()))
    }

    /// The element type.
    pub fn dtype(&self) -> Dtype {
        self.dtype
    }

    /// The shape (row-major).
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The raw little-endian bytes.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Number of elements (product of the shape).
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the dtype is F32, F16, BF16 or F64 (what [`Tensor::to_f32`] reads).
    pub fn is_float(&self) -> bool {
        matches!(
            self.dtype,
            Dtype::F32 | Dtype::F16 | Dtype::BF16 | Dtype::F64
        )
    }

    /// The values as f32, converting F16, BF16 (exactly) and F64 (rounded to nearest).
    ///
    /// `name` is used in the error: [`CheckpointError::UnsupportedDtype`] for any other dtype.
    pub fn to_f32(&self, name: &str) -> Result<Vec<f32>, CheckpointError> {
        let d = &self.data;
        Ok(match self.dtype {
            Dtype::F32 => d
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Dtype::F16 => d
                .chunks_exact(2)
                .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Dtype::BF16 => d
                .chunks_exact(2)
                .map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Dtype::F64 => d
                .chunks_exact(8)
                .map(|c| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(c);
                    f64::from_le_bytes(b) as f32
                })
                .collect(),
            other => {
                return Err(CheckpointError::UnsupportedDtype {
                    tensor: name.to_string(),
                    dtype: format!("{other}"),
                    expected: "F32, F16, BF16 or F64",
                })
            }
        })
    }

    /// The values as 64-bit words: U64 as is, I64 reinterpreted bit for bit.
    pub(crate) fn to_u64_words(&self, name: &str) -> Result<Vec<u64>, CheckpointError> {
        match self.dtype {
            Dtype::U64 | Dtype::I64 => Ok(self
                .data
                .chunks_exact(8)
                .map(|c| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(c);
                    u64::from_le_bytes(b)
                })
                .collect()),
            other => Err(CheckpointError::UnsupportedDtype {
                tensor: name.to_string(),
                dtype: format!("{other}"),
                expected: "U64 or I64 (16 packed 4-bit values per word)",
            }),
        }
    }

    /// The bytes of a U8 or I8 tensor (I8 reinterpreted bit for bit).
    pub(crate) fn to_bytes_u8(&self, name: &str) -> Result<&[u8], CheckpointError> {
        match self.dtype {
            Dtype::U8 | Dtype::I8 => Ok(&self.data),
            other => Err(CheckpointError::UnsupportedDtype {
                tensor: name.to_string(),
                dtype: format!("{other}"),
                expected: "U8 or I8 (4 packed 2-bit codes per byte)",
            }),
        }
    }
}

impl safetensors::View for &Tensor {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}
