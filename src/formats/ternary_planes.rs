//! The CPU layout of ternary weights, "planes" (as bitnet.cpp's I2_S): one vector load and
//! four constant shifts give four vectors of consecutive codes, ready for a byte dot product.
//!
//! Each row of `W[out, in]` is cut into blocks of [`TERNARY_PLANES_BLOCK`] (256) columns and
//! padded with zero codes to a multiple of [`TERNARY_PLANES_ROW_MULTIPLE`] (1024) columns, so
//! that a kernel stepping by up to 1024 columns never crosses the end of a row and needs no
//! mask along K. A block is 64 bytes; bits `2i..2i+1` of its byte `j` hold the
//! value at column `64i + j` of the block as the *unsigned* code `value + 1` (0, 1 or 2), so
//! `(byte >> 2i) & 3` over the 64 bytes is the block's columns `64i..64i + 64` in order, and
//! a kernel multiplies the codes directly (`vpdpbusd` takes an unsigned operand) and corrects
//! with the activations' sum. Rows are [`ternary_planes_row_bytes`] bytes, one after another.
//! The layout is made once from the canonical packing ([`super::ternary`]), which checkpoints
//! keep; [`crate::kernels::ternary::w2a8_gemv_planes`] reads it.

use super::error::{check_len, checked_len, FormatError};
use super::ternary::{unpack_ternary, TERNARY_VALUES_PER_BYTE};

/// Columns per block of the planes layout (64 bytes of four 2-bit planes).
pub const TERNARY_PLANES_BLOCK: usize = 256;

/// Rows are padded to a multiple of this many columns (256 bytes).
pub const TERNARY_PLANES_ROW_MULTIPLE: usize = 1024;

/// Bytes of one block: one byte per column of a plane.
const BLOCK_BYTES: usize = TERNARY_PLANES_BLOCK / TERNARY_VALUES_PER_BYTE;

/// Bytes per row of the planes layout for `inp` input features: `inp` rounded up to
/// [`TERNARY_PLANES_ROW_MULTIPLE`], 4 codes per byte.
pub fn ternary_planes_row_bytes(inp: usize) -> usize {
    inp.div_ceil(TERNARY_PLANES_ROW_MULTIPLE)
        * (TERNARY_PLANES_ROW_MULTIPLE / TERNARY_VALUES_PER_BYTE)
}

/// Repacks canonical ternary weights (`out * inp / 4` bytes, [`super::ternary`]) into the
/// planes layout: `out * ternary_planes_row_bytes(inp)` bytes.
///
/// Errors: as [`unpack_ternary`] (`inp` not a multiple of 4, wrong length, code 3), or a
/// size that overflows `usize` ([`FormatError::ShapeMismatch`]).
pub fn pack_ternary_planes(packed: &[u8], out: usize, inp: usize) -> Result<Vec<u8>, FormatError> {
    let values = unpack_ternary(packed, out, inp)?;
    let row_bytes = ternary_planes_row_bytes(inp);
    let mut planes = vec![0u8; checked_len("ternary planes (out * row bytes)", out, row_bytes)?];
    if inp == 0 {
        return Ok(planes);
    }
    for (row, dst) in values
        .chunks_exact(inp)
        .zip(planes.chunks_exact_mut(row_bytes))
    {
        for (col, &v) in row.iter().enumerate() {
            let (block, at) = (col / TERNARY_PLANES_BLOCK, col % TERNARY_PLANES_BLOCK);
            let code = (v + 1) as u8;
            dst[block * BLOCK_BYTES + at % BLOCK_BYTES] |= code << (2 * (at / BLOCK_BYTES));
        }
    }
    Ok(planes)
}

/// The values `[out, inp]` (row-major, in {-1, 0, 1}) of weights in the planes layout.
///
/// Errors: wrong `planes.len()` ([`FormatError::ShapeMismatch`]), or a code 3 among the
/// first `inp` columns of a row ([`FormatError::InvalidCode`], `index` is the element index).
pub fn unpack_ternary_planes(
    planes: &[u8],
    out: usize,
    inp: usize,
) -> Result<Vec<i8>, FormatError> {
    let row_bytes = ternary_planes_row_bytes(inp);
    let len = checked_len("ternary planes (out * row bytes)", out, row_bytes)?;
    check_len("ternary planes (out * row bytes)", len, planes.len())?;
    let mut values = Vec::with_capacity(out * inp);
    for r in 0..out {
        let src = &planes[r * row_bytes..(r + 1) * row_bytes];
        for col in 0..inp {
            let (block, at) = (col / TERNARY_PLANES_BLOCK, col % TERNARY_PLANES_BLOCK);
            let code =
                (src[block * BLOCK_BYTES + at % BLOCK_BYTES] >> (2 * (at / BLOCK_BYTES))) & 3;
            if code == 3 {
                return Err(FormatError::InvalidCode {
                    format: "ternary planes",
                    index: r * inp + col,
                    value: 3,
                    expected: "an unsigned 2-bit code 0 (-1), 1 (0) or 2 (+1); code 3 is invalid",
                });
            }
            values.push(code as i8 - 1);
        }
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::pack_ternary;
    use proptest::prelude::*;

    proptest! {
        /// Canonical -> planes -> values is the identity, on ragged shapes.
        #[test]
        fn round_trip(out in 0usize..5, blocks in 0usize..600, seed in any::<u64>()) {
            let inp = blocks * 4;
            let mut s = seed | 1;
            let values: Vec<i8> = (0..out * inp)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    (s % 3) as i8 - 1
                })
                .collect();
            let packed = pack_ternary(&values, out, inp).unwrap();
            let planes = pack_ternary_planes(&packed, out, inp).unwrap();
            prop_assert_eq!(planes.len(), out * ternary_planes_row_bytes(inp));
            prop_assert_eq!(unpack_ternary_planes(&planes, out, inp).unwrap(), values);
        }
    }

    #[test]
    fn layout_of_one_block() {
        // Column 64 * i + j of a block is in bits 2i.. of byte j, as value + 1.
        let mut values = vec![0i8; 256];
        values[1] = 1;
        values[64 + 1] = -1;
        values[192 + 63] = 1;
        let packed = pack_ternary(&values, 1, 256).unwrap();
        let planes = pack_ternary_planes(&packed, 1, 256).unwrap();
        assert_eq!(planes[1], 0b01_01_00_10);
        assert_eq!(planes[63], 0b10_01_01_01);
        assert_eq!(planes[0], 0b01_01_01_01);
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(pack_ternary_planes(&[0u8; 3], 1, 16).is_err());
        assert!(pack_ternary_planes(&[0b11], 1, 4).is_err());
        assert!(unpack_ternary_planes(&[0u8; 63], 1, 4).is_err());
        assert!(unpack_ternary_planes(&[0xffu8; 64], 1, 4).is_err());
    }
}
