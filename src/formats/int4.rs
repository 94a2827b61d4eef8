//! Int4 weights: group-wise symmetric quantization and 16-values-per-u64 packing.
//!
//! # Packing
//!
//! A matrix `[rows, cols]` (row-major) of 4-bit values is stored as `u64` words,
//! 16 values per word along `cols` (the reduction dimension K): value `i` of a word
//! (column `16j + i` for word `j` of a row) is in bits `4i..4i+3`, lowest bits first.
//! Each row occupies `cols / 16` contiguous words, rows follow each other, so
//! `packed.len() == rows * cols / 16`; `cols` must be a multiple of 16.
//!
//! - Signed form ([`pack_int4`]): values in `-8..=7`, each nibble is the value's
//!   4-bit two's complement (`-1` → `0xF`, `-8` → `0x8`).
//! - Unsigned form ([`pack_uint4`], BitTensor's): values `0..=15`, nibble = value.
//!
//! Example: the row `[1, 2, ..., 7, -8, -7, ..., -1, 0]` packs (signed) to
//! `0x0FED_CBA9_8765_4321`; the unsigned row `[0, 1, ..., 15]` to `0xFEDC_BA98_7654_3210`.

use super::error::{check_finite, check_len, checked_len, FormatError};

/// Values per packed `u64` word.
pub const INT4_VALUES_PER_WORD: usize = 16;

/// Smallest int4 absmax: `scale = max(amax, INT4_AMAX_FLOOR) / 7`.
pub const INT4_AMAX_FLOOR: f32 = 1e-8;

/// How many consecutive weights along K share one int4 scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Int4Group {
    /// Groups of this many weights along K (typically 32, 64 or 128); must be a
    /// nonzero multiple of 16 that divides `in_features`.
    Size(usize),
    /// One group per output row (group size = `in_features`).
    PerRow,
}

/// Group-quantized signed int4 weights `W[out_features, in_features]`.
///
/// The real weight is `q[r][c] as f32 * scales[r * groups_per_row + c / group_size]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Int4Weights {
    /// Number of output features (rows of W).
    pub out_features: usize,
    /// Number of input features (columns of W, the reduction dimension K); a multiple of 16.
    pub in_features: usize,
    /// Group size along K.
    pub group: Int4Group,
    /// Signed int4 packing (see the module docs), `out_features * in_features / 16` words.
    pub packed: Vec<u64>,
    /// Scales, row-major `[out_features][groups_per_row]`.
    pub scales: Vec<f32>,
}

fn check_k(format: &'static str, cols: usize) -> Result<(), FormatError> {
    if cols % INT4_VALUES_PER_WORD == 0 {
        Ok(())
    } else {
        Err(FormatError::KNotDivisible {
            format,
            k: cols,
            multiple: INT4_VALUES_PER_WORD,
        })
    }
}

/// Resolves a group to its size for `k` input features, checking that it is a
/// nonzero multiple of 16 dividing `k` (PerRow resolves to `k`).
pub fn int4_group_size(group: Int4Group, k: usize) -> Result<usize, FormatError> {
    let size = match group {
        Int4Group::Size(s) => s,
        Int4Group::PerRow => k,
    };
    if size == 0 || size % INT4_VALUES_PER_WORD != 0 || k % size != 0 {
        return Err(FormatError::InvalidGroup { group: size, k });
    }
    Ok(size)
}

fn pack_nibbles(
    format: &'static str,
    len: usize,
    rows: usize,
    cols: usize,
    nibble: impl Fn(usize) -> Result<u64, FormatError>,
) -> Result<Vec<u64>, FormatError> {
    check_k(format, cols)?;
    let what = format!("{format} values (rows * cols)");
    let n = checked_len(&what, rows, cols)?;
    check_len(&what, n, len)?;
    let mut packed = vec![0u64; n / INT4_VALUES_PER_WORD];
    for (w, word) in packed.iter_mut().enumerate() {
        for i in 0..INT4_VALUES_PER_WORD {
            *word |= nibble(w * INT4_VALUES_PER_WORD + i)? << (4 * i);
        }
    }
    Ok(packed)
}

fn unpack_nibbles<T>(
    format: &'static str,
    packed: &[u64],
    rows: usize,
    cols: usize,
    from_nibble: impl Fn(u8) -> T,
) -> Result<Vec<T>, FormatError> {
    check_k(format, cols)?;
    let what = format!("{format} packed (rows * cols / 16)");
    let n = checked_len(&what, rows, cols)?;
    check_len(&what, n / INT4_VALUES_PER_WORD, packed.len())?;
    Ok(packed
        .iter()
        .flat_map(|&word| (0..INT4_VALUES_PER_WORD).map(move |i| ((word >> (4 * i)) & 0xF) as u8))
        .map(from_nibble)
        .collect())
}

/// Packs signed int4 `values[rows, cols]` (each in `-8..=7`) as 4-bit two's complement,
/// 16 per `u64` (see the module docs). Returns `rows * cols / 16` words.
///
/// Errors: `cols` not a multiple of 16, wrong `values.len()`, a value out of range.
pub fn pack_int4(values: &[i8], rows: usize, cols: usize) -> Result<Vec<u64>, FormatError> {
    pack_nibbles("int4", values.len(), rows, cols, |idx| {
        let v = values[idx];
        if (-8..=7).contains(&v) {
            Ok(u64::from(v as u8 & 0xF))
        } else {
            Err(FormatError::InvalidCode {
                format: "int4",
                index: idx,
                value: i64::from(v),
                expected: "a value in -8..=7",
            })
        }
    })
}

/// Unpacks signed int4 words into `rows * cols` values in `-8..=7` (row-major).
///
/// Errors: `cols` not a multiple of 16, wrong `packed.len()` (must be `rows * cols / 16`).
pub fn unpack_int4(packed: &[u64], rows: usize, cols: usize) -> Result<Vec<i8>, FormatError> {
    unpack_nibbles("int4", packed, rows, cols, |n| ((n << 4) as i8) >> 4)
}

/// Packs unsigned 4-bit `values[rows, cols]` (each in `0..=15`), 16 per `u64`
/// (BitTensor's form; see the module docs). Returns `rows * cols / 16` words.
///
/// Errors: `cols` not a multiple of 16, wrong `values.len()`, a value above 15.
pub fn pack_uint4(values: &[u8], rows: usize, cols: usize) -> Result<Vec<u64>, FormatError> {
    pack_nibbles("uint4", values.len(), rows, cols, |idx| {
        let v = values[idx];
        if v <= 15 {
            Ok(u64::from(v))
        } else {
            Err(FormatError::InvalidCode {
                format: "uint4",
                index: idx,
                value: i64::from(v),
                expected: "a value in 0..=15",
            })
        }
    })
}

/// Unpacks unsigned 4-bit words into `rows * cols` values in `0..=15` (row-major).
///
/// Errors: `cols` not a multiple of 16, wrong `packed.len()` (must be `rows * cols / 16`).
pub fn unpack_uint4(packed: &[u64], rows: usize, cols: usize) -> Result<Vec<u8>, FormatError> {
    unpack_nibbles("uint4", packed, rows, cols, |n| n)
}

/// Quantizes one weight to int4: `clamp(round_ties_even(w / scale), -8, 7)`, in f32.
#[inline]
pub fn quantize_int4_value(w: f32, scale: f32) -> i8 {
    (w / scale).round_ties_even().clamp(-8.0, 7.0) as i8
}

/// Symmetric group-wise int4 quantization of `w[out, inp]` (row-major f32).
///
/// Exactly, per group of `group_size` consecutive weights along K in each row
/// (all in f32): `amax = max |w|`, `scale = max(amax, 1e-8) / 7`,
/// `q = clamp(round_ties_even(w / scale), -8, 7)`.
///
/// Errors: `inp` not a multiple of 16, a zero dimension, an invalid group
/// ([`FormatError::InvalidGroup`]), wrong `w.len()`, a non-finite weight.
pub fn quantize_int4(
    w: &[f32],
    out: usize,
    inp: usize,
    group: Int4Group,
) -> Result<Int4Weights, FormatError> {
    check_k("int4", inp)?;
    if out == 0 || inp == 0 {
        return Err(FormatError::Empty {
            what: "int4 weights".into(),
            out,
            inp,
        });
    }
    let gs = int4_group_size(group, inp)?;
    let n = checked_len("int4 weights (out * in)", out, inp)?;
    check_len("int4 weights (out * in)", n, w.len())?;
    check_finite("int4 weights", w)?;
    let mut scales = Vec::with_capacity(n / gs);
    let mut values = Vec::with_capacity(n);
    // Rows are contiguous and gs divides inp, so groups are consecutive chunks.
    for chunk in w.chunks_exact(gs) {
        let amax = chunk.iter().fold(0.0f32, |m, &v| m.max(v.abs()));
        let scale = amax.max(INT4_AMAX_FLOOR) / 7.0;
        scales.push(scale);
        values.extend(chunk.iter().map(|&v| quantize_int4_value(v, scale)));
    }
    let packed = pack_int4(&values, out, inp)?;
    Ok(Int4Weights {
        out_features: out,
        in_features: inp,
        group,
        packed,
        scales,
    })
}

impl Int4Weights {
    /// The group size along K: the `Size` value, or `in_features` for `PerRow`.
    pub fn group_size(&self) -> usize {
        match self.group {
            Int4Group::Size(s) => s,
            Int4Group::PerRow => self.in_features,
        }
    }

    /// Scales per row: `in_features / group_size()` (0 if the group size is 0).
    pub fn groups_per_row(&self) -> usize {
        self.in_features.checked_div(self.group_size()).unwrap_or(0)
    }

    /// Checks the shape, the group, and the lengths of `packed` and `scales`.
    pub fn validate(&self) -> Result<(), FormatError> {
        check_k("int4", self.in_features)?;
        int4_group_size(self.group, self.in_features)?;
        let n = checked_len(
            "int4 weights (out * in)",
            self.out_features,
            self.in_features,
        )?;
        check_len(
            "int4 packed (out * in / 16)",
            n / INT4_VALUES_PER_WORD,
            self.packed.len(),
        )?;
        let want = checked_len(
            "int4 scales (out * groups)",
            self.out_features,
            self.groups_per_row(),
        )?;
        check_len("int4 scales (out * groups)", want, self.scales.len())
    }

    /// The scale of weight `(row, col)`: `scales[row * groups_per_row + col / group_size]`,
    /// or NaN if out of range.
    pub fn scale_at(&self, row: usize, col: usize) -> f32 {
        let gs = self.group_size();
        if gs == 0 || row >= self.out_features || col >= self.in_features {
            return f32::NAN;
        }
        self.scales
            .get(row * self.groups_per_row() + col / gs)
            .copied()
            .unwrap_or(f32::NAN)
    }

    /// The quantized values `q[out, in]` (row-major), each in `-8..=7`.
    ///
    /// Returns an empty vector if the struct is inconsistent (see [`Int4Weights::validate`]).
    pub fn values(&self) -> Vec<i8> {
        if self.validate().is_err() {
            return Vec::new();
        }
        unpack_int4(&self.packed, self.out_features, self.in_features).unwrap_or_default()
    }

    /// The dequantized weights `q as f32 * scale` (row-major, f32).
    ///
    /// Returns an empty vector if the struct is inconsistent (see [`Int4Weights::validate`]).
    pub fn dequantize(&self) -> Vec<f32> {
        let values = self.values();
        let gs = self.group_size();
        if values.is_empty() || gs == 0 {
            return Vec::new();
        }
        values
            .chunks_exact(gs)
            .zip(&self.scales)
            .flat_map(|(chunk, &s)| chunk.iter().map(move |&q| f32::from(q) * s))
            .collect()
    }
}
