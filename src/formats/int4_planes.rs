//! The CPU layout of int4 weights, "planes": one 64-byte load and two constant shifts give two
//! vectors of 64 consecutive codes each, ready for a byte dot product (`vpdpbusd`), with the
//! scales stored where the kernel reads them.
//!
//! Each row of `W[out, in]` is cut into blocks of [`INT4_PLANES_BLOCK`] (128) columns and
//! padded with zero values to a multiple of [`INT4_PLANES_ROW_MULTIPLE`] (512) columns, so that
//! a kernel stepping by up to 512 columns never crosses the end of a row and needs no mask along
//! K. A block is 64 bytes: byte `j` holds column `j` of the block in its low nibble and column
//! `64 + j` in its high nibble, each as the *unsigned* code `q + 8` (0..=15), so `byte & 15`
//! over 64 bytes is columns `0..64` in order and `byte >> 4` columns `64..128`. Rows are
//! [`int4_planes_row_bytes`] bytes, one after another.
//!
//! Scales: one `f32` per [`Int4Planes::scale_cols`] columns (the largest of 128, 64 and 32 that
//! divides the group, the group's scale repeated when the group is longer), stored
//! sub-block-major, `scales[s * out + r]` for sub-block `s` of row `r`, so that a kernel reading
//! one sub-block of consecutive rows reads consecutive scales; the padding's scales are 0.
//! The layout is made once from [`super::int4::Int4Weights`], which checkpoints keep;
//! [`crate::kernels::int4::w4a8_gemv_planes`] and [`crate::kernels::int4::w4a16_gemv_planes`]
//! read it.

use super::error::{checked_len, FormatError};
use super::int4::Int4Weights;

/// Columns per block of the int4 planes layout (64 bytes of two nibble planes).
pub const INT4_PLANES_BLOCK: usize = 128;

/// Rows are padded to a multiple of this many columns (256 bytes).
pub const INT4_PLANES_ROW_MULTIPLE: usize = 512;

/// Bytes of one block: one byte per column of a nibble plane.
const BLOCK_BYTES: usize = INT4_PLANES_BLOCK / 2;

/// Bytes per row of the int4 planes layout for `inp` input features: `inp` rounded up to
/// [`INT4_PLANES_ROW_MULTIPLE`], 2 codes per byte.
pub fn int4_planes_row_bytes(inp: usize) -> usize {
    inp.div_ceil(INT4_PLANES_ROW_MULTIPLE) * (INT4_PLANES_ROW_MULTIPLE / 2)
}

/// The columns per scale of the planes layout for a group of `group_size` columns: the largest
/// of 128, 64 and 32 that divides it, or `None` (groups of 16, or 16 times an odd number, which
/// the layout does not hold; the canonical kernels serve them).
pub fn int4_planes_scale_cols(group_size: usize) -> Option<usize> {
    [128, 64, 32]
        .into_iter()
        .find(|&c| group_size > 0 && group_size % c == 0)
}

/// Int4 weights in the CPU planes layout (the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct Int4Planes {
    /// Number of output features (rows of W).
    pub out_features: usize,
    /// Number of input features (columns of W).
    pub in_features: usize,
    /// Columns per scale: 32, 64 or 128.
    pub scale_cols: usize,
    /// The codes, `out_features * int4_planes_row_bytes(in_features)` bytes.
    pub codes: Vec<u8>,
    /// The scales, `[padded columns / scale_cols, out_features]` (sub-block-major).
    pub scales: Vec<f32>,
}

impl Int4Planes {
    /// The quantized values `q[out, in]` (row-major), each in `-8..=7`.
    pub fn values(&self) -> Vec<i8> {
        let row_bytes = int4_planes_row_bytes(self.in_features);
        let mut values = Vec::with_capacity(self.out_features * self.in_features);
        for row in self.codes.chunks_exact(row_bytes.max(1)) {
            for col in 0..self.in_features {
                let (byte, shift) = byte_of(col);
                values.push(((row[byte] >> shift) & 15) as i8 - 8);
            }
        }
        values
    }

    /// The scale of weight `(row, col)`, or NaN if out of range.
    pub fn scale_at(&self, row: usize, col: usize) -> f32 {
        if row >= self.out_features || col >= self.in_features {
            return f32::NAN;
        }
        let s = col / self.scale_cols;
        self.scales
            .get(s * self.out_features + row)
            .copied()
            .unwrap_or(f32::NAN)
    }
}

/// The byte (within its row) and the shift of column `col` of the planes layout.
fn byte_of(col: usize) -> (usize, u32) {
    let (block, at) = (col / INT4_PLANES_BLOCK, col % INT4_PLANES_BLOCK);
    let shift = if at < BLOCK_BYTES { 0 } else { 4 };
    (block * BLOCK_BYTES + at % BLOCK_BYTES, shift)
}

/// Repacks int4 weights into the CPU planes layout.
///
/// Errors: inconsistent `w` ([`Int4Weights::validate`]), a group the layout does not hold
/// (not a multiple of 32: [`FormatError::UnsupportedGroup`]; see [`int4_planes_scale_cols`]), or a
/// size that overflows `usize`.
pub fn pack_int4_planes(w: &Int4Weights) -> Result<Int4Planes, FormatError> {
    w.validate()?;
    let (out, inp, group) = (w.out_features, w.in_features, w.group_size());
    let scale_cols = int4_planes_scale_cols(group).ok_or(FormatError::UnsupportedGroup {
        group,
        layout: "int4 planes",
    })?;
    let row_bytes = int4_planes_row_bytes(inp);
    let row_cols = row_bytes * 2;
    let mut codes = vec![0x88u8; checked_len("int4 planes (out * row bytes)", out, row_bytes)?];
    let subs = row_cols / scale_cols;
    let mut scales = vec![0.0f32; checked_len("int4 planes scales", subs, out)?];
    let values = w.values();
    for r in 0..out {
        let dst = &mut codes[r * row_bytes..(r + 1) * row_bytes];
        for (col, &q) in values[r * inp..(r + 1) * inp].iter().enumerate() {
            let (byte, shift) = byte_of(col);
            let code = (q + 8) as u8;
            dst[byte] = (dst[byte] & !(15 << shift)) | (code << shift);
        }
        for s in 0..inp / scale_cols {
            scales[s * out + r] = w.scale_at(r, s * scale_cols);
        }
    }
    Ok(Int4Planes {
        out_features: out,
        in_features: inp,
        scale_cols,
        codes,
        scales,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::{quantize_int4, Int4Group};
    use proptest::prelude::*;

    proptest! {
        /// Int4 weights -> planes -> values and scales is the identity, on ragged shapes.
        #[test]
        fn round_trip(out in 1usize..5, groups in 1usize..12, group_log in 0usize..3, per_row in any::<bool>(), seed in any::<u64>()) {
            let gs = 32 << group_log;
            let inp = gs * groups;
            let mut s = seed | 1;
            let w: Vec<f32> = (0..out * inp)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    (s % 1000) as f32 / 500.0 - 1.0
                })
                .collect();
            let group = if per_row { Int4Group::PerRow } else { Int4Group::Size(gs) };
            let q = quantize_int4(&w, out, inp, group).unwrap();
            let p = pack_int4_planes(&q).unwrap();
            prop_assert_eq!(p.codes.len(), out * int4_planes_row_bytes(inp));
            prop_assert_eq!(p.scales.len(), out * int4_planes_row_bytes(inp) * 2 / p.scale_cols);
            prop_assert_eq!(p.values(), q.values());
            for r in 0..out {
                for c in 0..inp {
                    prop_assert_eq!(p.scale_at(r, c), q.scale_at(r, c));
                }
            }
        }
    }

    #[test]
    fn layout_of_one_block() {
        // Column j of a block is the low nibble of byte j, column 64 + j its high nibble,
        // as q + 8; the padding holds code 8 (zero).
        let mut values = vec![0i8; 128];
        values[1] = 7;
        values[64 + 1] = -8;
        values[127] = -1;
        let w = Int4Weights {
            out_features: 1,
            in_features: 128,
            group: Int4Group::Size(64),
            packed: crate::formats::pack_int4(&values, 1, 128).unwrap(),
            scales: vec![0.5, 0.25],
        };
        let p = pack_int4_planes(&w).unwrap();
        assert_eq!(p.codes[1], 0x0f);
        assert_eq!(p.codes[63], 0x78);
        assert_eq!(p.codes[0], 0x88);
        assert_eq!(p.codes[64], 0x88);
        assert_eq!(p.scale_cols, 64);
        assert_eq!(&p.scales[..3], &[0.5, 0.25, 0.0]);
    }

    #[test]
    fn groups_the_layout_does_not_hold_are_an_error() {
        let q = quantize_int4(&[0.5; 48], 1, 48, Int4Group::Size(16)).unwrap();
        assert!(matches!(
            pack_int4_planes(&q),
            Err(FormatError::UnsupportedGroup { group: 16, .. })
        ));
        assert_eq!(int4_planes_scale_cols(96), Some(32));
        assert_eq!(int4_planes_scale_cols(384), Some(128));
        assert_eq!(int4_planes_scale_cols(48), None);
    }
}
