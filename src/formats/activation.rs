//! Int8 activations (per-row absmax) and RMSNorm.
//!
//! GPU kernels reproduce these functions bit-exactly, so the f32 operations and
//! their order are part of the contract and are spelled out in each doc comment.

use super::error::{check_finite, check_len, checked_len, FormatError};

/// Smallest activation absmax: `scale = max(amax, ACT_AMAX_FLOOR) / 127`.
pub const ACT_AMAX_FLOOR: f32 = 1e-5;

/// Int8 activations `[rows, cols]` with one scale per row; the real value is
/// `values[r * cols + c] as f32 * scales[r]`.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedActivations {
    /// Number of rows (tokens, M).
    pub rows: usize,
    /// Number of columns (features, K).
    pub cols: usize,
    /// Row-major int8 values, each in `-127..=127`.
    pub values: Vec<i8>,
    /// One scale per row.
    pub scales: Vec<f32>,
}

impl QuantizedActivations {
    /// Checks that `values.len() == rows * cols` and `scales.len() == rows`.
    pub fn validate(&self) -> Result<(), FormatError> {
        let n = checked_len("activation values (rows * cols)", self.rows, self.cols)?;
        check_len("activation values (rows * cols)", n, self.values.len())?;
        check_len("activation scales (rows)", self.rows, self.scales.len())
    }

    /// The dequantized activations `values[r][c] as f32 * scales[r]` (row-major).
    ///
    /// Errors: an inconsistent struct (see [`QuantizedActivations::validate`]).
    pub fn dequantize(&self) -> Result<Vec<f32>, FormatError> {
        self.validate()?;
        if self.cols == 0 {
            return Ok(Vec::new());
        }
        Ok(self
            .values
            .chunks_exact(self.cols)
            .zip(&self.scales)
            .flat_map(|(r, &s)| r.iter().map(move |&q| f32::from(q) * s))
            .collect())
    }
}

/// The per-row activation scale: `max(amax, 1e-5) / 127.0` in f32.
#[inline]
pub fn activation_scale(amax: f32) -> f32 {
    amax.max(ACT_AMAX_FLOOR) / 127.0
}

/// Quantizes one activation: `clamp(round_ties_even(x / scale), -127, 127)` in f32.
#[inline]
pub fn quantize_activation_value(x: f32, scale: f32) -> i8 {
    (x / scale).round_ties_even().clamp(-127.0, 127.0) as i8
}

/// Per-row absmax int8 quantization of `x[rows, cols]` (row-major f32).
///
/// Exactly, per row, all in f32: `amax = max |x|` (0 for an empty row),
/// `scale = max(amax, 1e-5) / 127.0`, `q = clamp(round_ties_even(x / scale), -127, 127)`.
///
/// Errors: wrong `x.len()`, a non-finite element ([`FormatError::NonFinite`]).
pub fn quantize_activations(
    x: &[f32],
    rows: usize,
    cols: usize,
) -> Result<QuantizedActivations, FormatError> {
    let n = checked_len("activations (rows * cols)", rows, cols)?;
    check_len("activations (rows * cols)", n, x.len())?;
    check_finite("activations", x)?;
    let mut values = Vec::with_capacity(n);
    let mut scales = Vec::with_capacity(rows);
    for r in 0..rows {
        let row = &x[r * cols..(r + 1) * cols];
        let amax = row.iter().fold(0.0f32, |m, &v| m.max(v.abs()));
        let scale = activation_scale(amax);
        scales.push(scale);
        values.extend(row.iter().map(|&v| quantize_activation_value(v, scale)));
    }
    Ok(QuantizedActivations {
        rows,
        cols,
        values,
        scales,
    })
}

/// RMSNorm of `x[rows, cols]` (row-major f32), optionally times a per-column `weight`.
///
/// Exactly, per row, all in f32:
/// ```text
/// ss  = ((x[0]*x[0] + x[1]*x[1]) + x[2]*x[2]) + ...   // sequential, starting from 0.0
/// ms  = ss / (cols as f32)
/// inv = 1.0 / sqrt(ms + eps)
/// y[c] = (x[c] * inv) * weight[c]                     // or x[c] * inv without weight
/// ```
/// (no fused multiply-add). An all-zero row with `eps == 0` gives NaN outputs.
///
/// Errors: wrong `x.len()` or `weight.len()` (must be `cols`), non-finite `x`,
/// `weight` or `eps`.
pub fn rms_norm(
    x: &[f32],
    rows: usize,
    cols: usize,
    weight: Option<&[f32]>,
    eps: f32,
) -> Result<Vec<f32>, FormatError> {
    let n = checked_len("rms_norm input (rows * cols)", rows, cols)?;
    check_len("rms_norm input (rows * cols)", n, x.len())?;
    check_finite("rms_norm input", x)?;
    if let Some(w) = weight {
        check_len("rms_norm weight (cols)", cols, w.len())?;
        check_finite("rms_norm weight", w)?;
    }
    if !eps.is_finite() {
        return Err(FormatError::NonFinite {
            what: "rms_norm eps".into(),
            index: 0,
        });
    }
    let mut y = Vec::with_capacity(n);
    for r in 0..rows {
        let row = &x[r * cols..(r + 1) * cols];
        let mut ss = 0.0f32;
        for &v in row {
            ss += v * v;
        }
        let ms = ss / cols as f32;
        let inv = 1.0f32 / (ms + eps).sqrt();
        match weight {
            Some(w) => y.extend(row.iter().zip(w).map(|(&v, &g)| v * inv * g)),
            None => y.extend(row.iter().map(|&v| v * inv)),
        }
    }
    Ok(y)
}
