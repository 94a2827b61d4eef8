//! Plain-Rust reference implementations: naive, obviously-correct loops that the
//! compiled kernels are tested against.
//!
//! Each function states the exact arithmetic (types, order, no fused multiply-add)
//! so a kernel can be compared bit-for-bit where the order matches. Outputs are
//! row-major `[m, n]`. Integer accumulation is i32 with wrapping (two's complement)
//! addition, as on the GPU; it cannot overflow for `k < 2^24`.

use crate::formats::error::{check_len, checked_len};
use crate::formats::{
    quantize_activations, rms_norm, unpack_ternary, FormatError, Int4Weights, QuantizedActivations,
    TernaryWeights,
};

fn check_dim(what: &str, left: usize, right: usize) -> Result<(), FormatError> {
    if left == right {
        Ok(())
    } else {
        Err(FormatError::DimensionMismatch {
            what: what.to_string(),
            left,
            right,
        })
    }
}

/// Integer ternary matmul: `c[i][j] = sum_k x[i][k] * Wq[j][k]` (i32, wrapping).
///
/// `x` is `[m, k]` row-major int8; `w_packed` is `Wq[n, k]` in the canonical ternary
/// packing (`n * k / 4` bytes). Returns `[m, n]`.
///
/// Errors: `k` not a multiple of 4, wrong buffer lengths, a ternary code 3.
pub fn matmul_i8_ternary(
    x: &[i8],
    m: usize,
    k: usize,
    w_packed: &[u8],
    n: usize,
) -> Result<Vec<i32>, FormatError> {
    let wq = unpack_ternary(w_packed, n, k)?;
    let xn = checked_len("activations x (m * k)", m, k)?;
    check_len("activations x (m * k)", xn, x.len())?;
    let out_len = checked_len("output (m * n)", m, n)?;
    let mut c = vec![0i32; out_len];
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0i32;
            for kk in 0..k {
                let prod = i32::from(x[i * k + kk]) * i32::from(wq[j * k + kk]);
                acc = acc.wrapping_add(prod);
            }
            c[i * n + j] = acc;
        }
    }
    Ok(c)
}

/// Ternary linear layer on int8 activations, output f32 `[x.rows, w.out_features]`.
///
/// `acc = sum_k x.values[i][k] * Wq[j][k]` (i32), then in f32, left to right:
/// `y = acc as f32 * x.scales[i] * w.scale_of_row(j) + bias[j]`
/// (without a bias nothing is added).
///
/// Errors: inconsistent operands, `x.cols != w.in_features`, `bias.len() != out_features`.
pub fn ternary_linear(
    x: &QuantizedActivations,
    w: &TernaryWeights,
    bias: Option<&[f32]>,
) -> Result<Vec<f32>, FormatError> {
    x.validate()?;
    w.validate()?;
    check_dim(
        "activation cols vs weight in_features",
        x.cols,
        w.in_features,
    )?;
    if let Some(b) = bias {
        check_len("bias (out_features)", w.out_features, b.len())?;
    }
    let (m, n) = (x.rows, w.out_features);
    let acc = matmul_i8_ternary(&x.values, m, x.cols, &w.packed, n)?;
    let mut y = Vec::with_capacity(acc.len());
    for i in 0..m {
        for j in 0..n {
            let v = acc[i * n + j] as f32 * x.scales[i] * w.scale_of_row(j);
            y.push(match bias {
                Some(b) => v + b[j],
                None => v,
            });
        }
    }
    Ok(y)
}

/// W4A8: int4 weights times int8 activations, output f32 `[x.rows, w.out_features]`.
///
/// For row `i`, output `j`, with groups `g` of `w.group_size()` along K, in order:
/// ```text
/// acc_g = sum_{k in g} x.values[i][k] * q[j][k]          // i32, wrapping
/// s     = 0.0; for g in order { s = s + (acc_g as f32) * scales[j][g] }   // f32
/// y     = s * x.scales[i]
/// ```
///
/// Errors: inconsistent operands, `x.cols != w.in_features`.
pub fn int4_w4a8(x: &QuantizedActivations, w: &Int4Weights) -> Result<Vec<f32>, FormatError> {
    x.validate()?;
    w.validate()?;
    check_dim(
        "activation cols vs weight in_features",
        x.cols,
        w.in_features,
    )?;
    let q = w.values();
    let (m, n, k) = (x.rows, w.out_features, w.in_features);
    let gs = w.group_size();
    let gpr = w.groups_per_row();
    let mut y = Vec::with_capacity(checked_len("output (m * n)", m, n)?);
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f32;
            for g in 0..gpr {
                let mut acc = 0i32;
                for kk in g * gs..(g + 1) * gs {
                    let prod = i32::from(x.values[i * k + kk]) * i32::from(q[j * k + kk]);
                    acc = acc.wrapping_add(prod);
                }
                s += acc as f32 * w.scales[j * gpr + g];
            }
            y.push(s * x.scales[i]);
        }
    }
    Ok(y)
}

/// W4A16: int4 weights times f16 activations `x[m, w.in_features]`, output f32 `[m, n]`.
///
/// `y[i][j] = sum_k f32(x[i][k]) * f16(q[j][k] as f32 * scales[j][k / group_size])`,
/// accumulated sequentially over k in f32 starting from 0.0: the weight is dequantized in
/// f32 and rounded to f16 (W4A16 kernels multiply f16 by f16 on tensor cores), then
/// multiplied by the activation and added.
///
/// Errors: inconsistent weights, `x.len() != m * in_features`.
pub fn int4_w4a16(x: &[half::f16], m: usize, w: &Int4Weights) -> Result<Vec<f32>, FormatError> {
    w.validate()?;
    let (n, k) = (w.out_features, w.in_features);
    let xn = checked_len("activations x (m * k)", m, k)?;
    check_len("activations x (m * k)", xn, x.len())?;
    let q = w.values();
    let gs = w.group_size();
    let gpr = w.groups_per_row();
    let mut y = Vec::with_capacity(checked_len("output (m * n)", m, n)?);
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f32;
            for kk in 0..k {
                // The dequantized weight is an f16, as W4A16 kernels feed f16 tensor cores.
                let wd =
                    half::f16::from_f32(f32::from(q[j * k + kk]) * w.scales[j * gpr + kk / gs])
                        .to_f32();
                s += x[i * k + kk].to_f32() * wd;
            }
            y.push(s);
        }
    }
    Ok(y)
}

/// RMSNorm followed by per-row int8 quantization:
/// [`rms_norm`]`(x, rows, cols, weight, eps)` then [`quantize_activations`].
///
/// Errors: those of both steps (a NaN produced by the norm, e.g. an all-zero row
/// with `eps == 0`, is reported as [`FormatError::NonFinite`]).
pub fn rmsnorm_quantize(
    x: &[f32],
    rows: usize,
    cols: usize,
    weight: Option<&[f32]>,
    eps: f32,
) -> Result<QuantizedActivations, FormatError> {
    let y = rms_norm(x, rows, cols, weight, eps)?;
    quantize_activations(&y, rows, cols)
}
