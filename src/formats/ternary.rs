//! BitNet b1.58 ternary weights: absmean quantization and the canonical 2-bit packing.
//!
//! # Canonical packing
//!
//! A weight matrix `W[out, in]` (row-major) with values in {-1, 0, +1} is stored
//! as 2-bit codes, 4 per byte, along `in`:
//!
//! | value | code |
//! |-------|------|
//! |  0    | `0b00` |
//! | +1    | `0b01` |
//! | -1    | `0b10` |
//! | —     | `0b11` (invalid) |
//!
//! The value at column `4j + i` of a row is in bits `2i..2i+1` of byte `j` of that
//! row (lowest bits first); each row occupies `in / 4` contiguous bytes and rows
//! follow each other, so `packed.len() == out * in / 4`. `in` must be a multiple of 4.
//!
//! Example: the row `[1, -1, 0, 1]` packs to `0b01_00_10_01 = 0x49`.

use super::error::{check_finite, check_len, checked_len, FormatError};

/// Values per packed byte.
pub const TERNARY_VALUES_PER_BYTE: usize = 4;

/// Smallest ternary scale: `scale = max(mean(|W|), TERNARY_SCALE_FLOOR)`.
pub const TERNARY_SCALE_FLOOR: f32 = 1e-5;

/// Which elements share one ternary scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScaleGranularity {
    /// One scale for the whole matrix (`scales.len() == 1`).
    PerTensor,
    /// One scale per output row (`scales.len() == out_features`).
    PerRow,
}

/// Quantized ternary weights `W[out_features, in_features]` in the canonical packing.
///
/// The real weight is `value * scale_of_row(row)`.
#[derive(Debug, Clone, PartialEq)]
pub struct TernaryWeights {
    /// Number of output features (rows of W).
    pub out_features: usize,
    /// Number of input features (columns of W, the reduction dimension K); a multiple of 4.
    pub in_features: usize,
    /// Canonical packing, `out_features * in_features / 4` bytes (see the module docs).
    pub packed: Vec<u8>,
    /// One scale (per tensor) or `out_features` scales (per row).
    pub scales: Vec<f32>,
    /// Whether `scales` is per tensor or per row.
    pub granularity: ScaleGranularity,
}

/// Encodes one ternary value as its 2-bit code, or `None` if it is not in {-1, 0, 1}.
fn encode(v: i8) -> Option<u8> {
    match v {
        0 => Some(0b00),
        1 => Some(0b01),
        -1 => Some(0b10),
        _ => None,
    }
}

/// Decodes a 2-bit code, or `None` for the invalid code 3.
fn decode(code: u8) -> Option<i8> {
    match code {
        0b00 => Some(0),
        0b01 => Some(1),
        0b10 => Some(-1),
        _ => None,
    }
}

fn check_k(inp: usize) -> Result<(), FormatError> {
    if inp % TERNARY_VALUES_PER_BYTE == 0 {
        Ok(())
    } else {
        Err(FormatError::KNotDivisible {
            format: "ternary",
            k: inp,
            multiple: TERNARY_VALUES_PER_BYTE,
        })
    }
}

/// Packs ternary `values[out, inp]` (row-major, each in {-1, 0, 1}) into the canonical
/// 2-bit layout, returning `out * inp / 4` bytes.
///
/// Errors: `inp` not a multiple of 4 ([`FormatError::KNotDivisible`]), wrong
/// `values.len()` ([`FormatError::ShapeMismatch`]), a value outside {-1, 0, 1}
/// ([`FormatError::InvalidCode`]).
pub fn pack_ternary(values: &[i8], out: usize, inp: usize) -> Result<Vec<u8>, FormatError> {
    check_k(inp)?;
    let n = checked_len("ternary values (out * in)", out, inp)?;
    check_len("ternary values (out * in)", n, values.len())?;
    let mut packed = vec![0u8; n / TERNARY_VALUES_PER_BYTE];
    for (j, chunk) in values.chunks_exact(TERNARY_VALUES_PER_BYTE).enumerate() {
        let mut byte = 0u8;
        for (i, &v) in chunk.iter().enumerate() {
            let code = encode(v).ok_or(FormatError::InvalidCode {
                format: "ternary",
                index: j * TERNARY_VALUES_PER_BYTE + i,
                value: i64::from(v),
                expected: "a value in {-1, 0, 1}",
            })?;
            byte |= code << (2 * i);
        }
        packed[j] = byte;
    }
    Ok(packed)
}

/// Unpacks the canonical 2-bit layout into `out * inp` values in {-1, 0, 1} (row-major).
///
/// Errors: `inp` not a multiple of 4, wrong `packed.len()` (must be `out * inp / 4`),
/// or the invalid code 3 ([`FormatError::InvalidCode`], `index` is the element index).
pub fn unpack_ternary(packed: &[u8], out: usize, inp: usize) -> Result<Vec<i8>, FormatError> {
    check_k(inp)?;
    let n = checked_len("ternary packed (out * in / 4)", out, inp)?;
    check_len(
        "ternary packed (out * in / 4)",
        n / TERNARY_VALUES_PER_BYTE,
        packed.len(),
    )?;
    let mut values = Vec::with_capacity(n);
    for (j, &byte) in packed.iter().enumerate() {
        for i in 0..TERNARY_VALUES_PER_BYTE {
            let code = (byte >> (2 * i)) & 0b11;
            let v = decode(code).ok_or(FormatError::InvalidCode {
                format: "ternary",
                index: j * TERNARY_VALUES_PER_BYTE + i,
                value: i64::from(code),
                expected: "a 2-bit code 0 (0), 1 (+1) or 2 (-1); code 3 is invalid",
            })?;
            values.push(v);
        }
    }
    Ok(values)
}

/// Checks that no 2-bit code of `packed` is the invalid code 3 (a byte scan, much cheaper
/// than a matmul over the same bytes); the error names the first offending element.
pub fn check_ternary_codes(packed: &[u8]) -> Result<(), FormatError> {
    // A code is 3 exactly when both of its bits are set.
    let Some(j) = packed.iter().position(|&b| b & (b >> 1) & 0x55 != 0) else {
        return Ok(());
    };
    let byte = packed[j];
    let i = (0..TERNARY_VALUES_PER_BYTE)
        .find(|i| (byte >> (2 * i)) & 0b11 == 0b11)
        .unwrap_or(0);
    Err(FormatError::InvalidCode {
        format: "ternary",
        index: j * TERNARY_VALUES_PER_BYTE + i,
        value: 3,
        expected: "a 2-bit code 0 (0), 1 (+1) or 2 (-1); code 3 is invalid",
    })
}

/// The absmean scale of a slice: `max((sum_f64(|w|) / len) as f32, 1e-5)`.
///
/// The sum of `|w|` is taken sequentially in f64, divided by the element count in
/// f64, then cast to f32 before the floor is applied. An empty slice has mean 0.
fn absmean_scale(w: &[f32]) -> f32 {
    let sum: f64 = w.iter().map(|&v| f64::from(v.abs())).sum();
    let mean = if w.is_empty() {
        0.0
    } else {
        sum / w.len() as f64
    };
    (mean as f32).max(TERNARY_SCALE_FLOOR)
}

/// Quantizes one weight to ternary: `clamp(round_ties_even(w / scale), -1, 1)`, in f32.
#[inline]
pub fn quantize_ternary_value(w: f32, scale: f32) -> i8 {
    (w / scale).round_ties_even().clamp(-1.0, 1.0) as i8
}

/// BitNet b1.58 absmean quantization of `w[out, inp]` (row-major f32).
///
/// Exactly:
/// - `scale = max((sum_f64(|W|) / count) as f32, 1e-5)` over the whole tensor
///   ([`ScaleGranularity::PerTensor`]) or over each output row
///   ([`ScaleGranularity::PerRow`]); the sum is sequential in f64 in row-major order.
/// - `Wq = clamp(round_ties_even(W / scale), -1, 1)` with `W / scale` computed in f32.
/// - `Wq` is packed canonically (see the module docs).
///
/// Errors: `inp` not a multiple of 4, a zero dimension ([`FormatError::Empty`]),
/// wrong `w.len()`, or a non-finite weight ([`FormatError::NonFinite`]).
pub fn quantize_ternary(
    w: &[f32],
    out: usize,
    inp: usize,
    g: ScaleGranularity,
) -> Result<TernaryWeights, FormatError> {
    check_k(inp)?;
    if out == 0 || inp == 0 {
        return Err(FormatError::Empty {
            what: "ternary weights".into(),
            out,
            inp,
        });
    }
    let n = checked_len("ternary weights (out * in)", out, inp)?;
    check_len("ternary weights (out * in)", n, w.len())?;
    check_finite("ternary weights", w)?;
    let scales: Vec<f32> = match g {
        ScaleGranularity::PerTensor => vec![absmean_scale(w)],
        ScaleGranularity::PerRow => w.chunks_exact(inp).map(absmean_scale).collect(),
    };
    let values: Vec<i8> = w
        .chunks_exact(inp)
        .enumerate()
        .flat_map(|(row, r)| {
            let s = match g {
                ScaleGranularity::PerTensor => scales[0],
                ScaleGranularity::PerRow => scales[row],
            };
            r.iter().map(move |&v| quantize_ternary_value(v, s))
        })
        .collect();
    let packed = pack_ternary(&values, out, inp)?;
    Ok(TernaryWeights {
        out_features: out,
        in_features: inp,
        packed,
        scales,
        granularity: g,
    })
}

impl TernaryWeights {
    /// Checks that `in_features` is a multiple of 4 and that `packed` and `scales`
    /// have the lengths the shape and granularity imply.
    pub fn validate(&self) -> Result<(), FormatError> {
        check_k(self.in_features)?;
        let n = checked_len(
            "ternary weights (out * in)",
            self.out_features,
            self.in_features,
        )?;
        check_len(
            "ternary packed (out * in / 4)",
            n / TERNARY_VALUES_PER_BYTE,
            self.packed.len(),
        )?;
        let want_scales = match self.granularity {
            ScaleGranularity::PerTensor => 1,
            ScaleGranularity::PerRow => self.out_features,
        };
        check_len("ternary scales", want_scales, self.scales.len())
    }

    /// The ternary values `Wq[out, in]` (row-major), each in {-1, 0, 1}.
    ///
    /// Errors: an inconsistent struct (see [`TernaryWeights::validate`]) or a code 3.
    pub fn values(&self) -> Result<Vec<i8>, FormatError> {
        self.validate()?;
        unpack_ternary(&self.packed, self.out_features, self.in_features)
    }

    /// The dequantized weights `Wq[r][c] as f32 * scale_of_row(r)` (row-major).
    ///
    /// Errors: as [`TernaryWeights::values`].
    pub fn dequantize(&self) -> Result<Vec<f32>, FormatError> {
        let values = self.values()?;
        if self.in_features == 0 {
            return Ok(Vec::new());
        }
        Ok(values
            .chunks_exact(self.in_features)
            .enumerate()
            .flat_map(|(row, r)| {
                let s = self.scale_of_row(row);
                r.iter().map(move |&v| f32::from(v) * s)
            })
            .collect())
    }

    /// The scale applying to output row `row`: `scales[0]` per tensor, `scales[row]` per row.
    ///
    /// Returns NaN (rather than panicking) if `row` or `scales` is out of range.
    pub fn scale_of_row(&self, row: usize) -> f32 {
        let idx = match self.granularity {
            ScaleGranularity::PerTensor => 0,
            ScaleGranularity::PerRow => row,
        };
        if row >= self.out_features {
            return f32::NAN;
        }
        self.scales.get(idx).copied().unwrap_or(f32::NAN)
    }
}
