//! Host-callable prebuilt ops: each checks shapes, uploads its inputs to `device`, launches the
//! prebuilt DSL kernel of [`crate::kernels`] and downloads the result.
//!
//! The formats ([`crate::formats`]) and plain-Rust references ([`crate::reference`]) define
//! what each op computes.
//!
//! # BitTensor
//!
//! BitTensor's whole flow maps onto these functions:
//!
//! | BitTensor | bitmat |
//! | --- | --- |
//! | `pack_weights(w)` (`uint8 [out, in]`, values `0..=15`) | [`crate::formats::pack_uint4`] (pad `in` with zeros to a multiple of 16 first; BitTensor pads the same way) |
//! | `packed_matmul(x, w_packed, bias)` | [`packed_matmul_w4a4`] (exact `i32`) or [`packed_matmul_w4a4_packed`] (BitTensor's saturated, packed output) |
//! | `unpack_tensor(packed, rows, cols)` | [`unpack_uint4_flat`] (any shape), or [`crate::formats::unpack_uint4`] when `cols` is a multiple of 16 |

use crate::formats::{Int4Weights, QuantizedActivations, ScaleGranularity, TernaryWeights};
use crate::kernels::{int4, norm};
use crate::{f16, Buffer, Device, Error};

pub(crate) fn to_i32(op: &'static str, what: &str, v: usize) -> Result<i32, Error> {
    i32::try_from(v).map_err(|_| Error::Shape {
        op,
        message: format!("{what} = {v} exceeds i32::MAX, the largest extent kernels index"),
    })
}

pub(crate) fn to_u32(op: &'static str, v: usize) -> Result<u32, Error> {
    u32::try_from(v).map_err(|_| Error::Shape {
        op,
        message: format!("{v} programs exceed the grid limit"),
    })
}

fn check_len(op: &'static str, what: &str, expected: usize, got: usize) -> Result<(), Error> {
    if expected == got {
        Ok(())
    } else {
        Err(Error::Shape {
            op,
            message: format!("{what} has {got} elements, expected {expected}"),
        })
    }
}

fn check_k(op: &'static str, k: usize, multiple: usize, format: &str) -> Result<(), Error> {
    if k % multiple == 0 {
        Ok(())
    } else {
        Err(Error::Shape {
            op,
            message: format!("K = {k} is not a multiple of {multiple}, which {format} needs"),
        })
    }
}

/// `x[m, k] (i8) x W[n, k]^T` with `W` packed ternary (`[n, k / 4]` bytes), exact `i32`.
pub fn ternary_matmul(
    device: &Device,
    x: &[i8],
    m: usize,
    k: usize,
    w_packed: &[u8],
    n: usize,
) -> Result<Vec<i32>, Error> {
    const OP: &str = "ternary_matmul";
    check_k(OP, k, 4, "ternary packing (4 codes per byte)")?;
    check_len(OP, "x", m * k, x.len())?;
    check_len(OP, "packed weights", n * k / 4, w_packed.len())?;
    crate::formats::check_ternary_codes(w_packed)?;
    let (a, w, c) = (
        device.upload(x)?,
        device.upload(w_packed)?,
        device.zeros::<i32>(m * n)?,
    );
    let (m32, n32, k32) = (
        to_i32(OP, "m", m)?,
        to_i32(OP, "n", n)?,
        to_i32(OP, "k", k)?,
    );
    crate::tuned::TernaryMatmul {
        x: &a,
        w: &w,
        c: &c,
        m: m32,
        n: n32,
        k: k32,
    }
    .launch(device)?;
    c.to_vec().map_err(Error::from)
}

/// The ternary linear layer on quantized activations:
/// `y = (x.values x Wq^T) * x.scales[m] * w.scale_of_row(n) (+ bias[n])`, `f32 [m, n]`. On
/// the LLVM CPU backend the weights are repacked into the CPU planes layout for the call
/// ([`crate::tuned::ternary_uses_planes`]).
pub fn ternary_linear(
    device: &Device,
    x: &QuantizedActivations,
    w: &TernaryWeights,
    bias: Option<&[f32]>,
) -> Result<Vec<f32>, Error> {
    const OP: &str = "ternary_linear";
    x.validate()?;
    w.validate()?;
    crate::formats::check_ternary_codes(&w.packed)?;
    let (m, k, n) = (x.rows, x.cols, w.out_features);
    if k != w.in_features {
        return Err(Error::Shape {
            op: OP,
            message: format!(
                "activations have {k} features but the weights take {}",
                w.in_features
            ),
        });
    }
    if let Some(b) = bias {
        check_len(OP, "bias", n, b.len())?;
    }
    let stride = match w.granularity {
        ScaleGranularity::PerTensor => 0,
        ScaleGranularity::PerRow => 1,
    };
    let bias_buf = device.upload(bias.unwrap_or(&[0.0]))?;
    let y = device.zeros::<f32>(m * n)?;
    let (xv, sx, sw) = (
        device.upload(&x.values)?,
        device.upload(&x.scales)?,
        device.upload(&w.scales)?,
    );
    let (m, n, k) = (
        to_i32(OP, "m", m)?,
        to_i32(OP, "n", n)?,
        to_i32(OP, "k", k)?,
    );
    let planes = crate::tuned::ternary_uses_planes(device.backend());
    let w_buf = if planes {
        device.upload(&crate::formats::pack_ternary_planes(
            &w.packed,
            w.out_features,
            w.in_features,
        )?)?
    } else {
        device.upload(&w.packed)?
    };
    let op = crate::tuned::TernaryLinear {
        x: &xv,
        scale_x: &sx,
        w: &w_buf,
        scale_w: &sw,
        bias: &bias_buf,
        has_bias: bias.is_some(),
        y: &y,
        m,
        n,
        k,
        w_scale_stride: stride,
    };
    if planes {
        crate::tuned::TernaryPlanesLinear(op).launch(device)?;
    } else {
        op.launch(device)?;
    }
    y.to_vec().map_err(Error::from)
}

fn int4_shapes(op: &'static str, w: &Int4Weights, k: usize) -> Result<(), Error> {
    w.validate()?;
    if k != w.in_features {
        return Err(Error::Shape {
            op,
            message: format!(
                "activations have {k} features but the weights take {}",
                w.in_features
            ),
        });
    }
    Ok(())
}

/// W4A8: int8 activations (per-row scales) times signed int4 weights with per-group scales,
/// `f32 [m, n]`. On the LLVM CPU backend, groups of a multiple of 32 run on the CPU planes
/// layout ([`crate::tuned::int4_uses_planes`]), repacked for the call.
pub fn int4_w4a8(
    device: &Device,
    x: &QuantizedActivations,
    w: &Int4Weights,
) -> Result<Vec<f32>, Error> {
    const OP: &str = "int4_w4a8";
    x.validate()?;
    int4_shapes(OP, w, x.cols)?;
    let (m, k, n, group) = (x.rows, x.cols, w.out_features, w.group_size());
    let y = device.zeros::<f32>(m * n)?;
    let (values, scales) = (device.upload(&x.values)?, device.upload(&x.scales)?);
    let activations = crate::tuned::Int4Activations::I8 {
        values: &values,
        scales: &scales,
    };
    if crate::tuned::int4_uses_planes(device.backend(), group) {
        launch_int4_planes(OP, device, activations, m, w, &y)?;
        return y.to_vec().map_err(Error::from);
    }
    crate::tuned::Int4Matmul {
        x: activations,
        w: &device.upload(&w.packed)?,
        scales: &device.upload(&w.scales)?,
        y: &y,
        m: to_i32(OP, "m", m)?,
        n: to_i32(OP, "n", n)?,
        k: to_i32(OP, "k", k)?,
        group: to_i32(OP, "group", group)?,
    }
    .launch(device)?;
    y.to_vec().map_err(Error::from)
}

/// W4A16: `f16` activations `x[m, k]` times signed int4 weights dequantized to `f16`,
/// accumulated in `f32`, `f32 [m, n]`. On the LLVM CPU backend, as [`int4_w4a8`], on the
/// CPU planes layout.
pub fn int4_w4a16(
    device: &Device,
    x: &[f16],
    m: usize,
    w: &Int4Weights,
) -> Result<Vec<f32>, Error> {
    const OP: &str = "int4_w4a16";
    let k = w.in_features;
    int4_shapes(OP, w, k)?;
    check_len(OP, "x", m * k, x.len())?;
    let (n, group) = (w.out_features, w.group_size());
    let y = device.zeros::<f32>(m * n)?;
    let x = device.upload(x)?;
    if crate::tuned::int4_uses_planes(device.backend(), group) {
        launch_int4_planes(OP, device, crate::tuned::Int4Activations::F16(&x), m, w, &y)?;
        return y.to_vec().map_err(Error::from);
    }
    crate::tuned::Int4Matmul {
        x: crate::tuned::Int4Activations::F16(&x),
        w: &device.upload(&w.packed)?,
        scales: &device.upload(&w.scales)?,
        y: &y,
        m: to_i32(OP, "m", m)?,
        n: to_i32(OP, "n", n)?,
        k: to_i32(OP, "k", k)?,
        group: to_i32(OP, "group", group)?,
    }
    .launch(device)?;
    y.to_vec().map_err(Error::from)
}

/// Repacks `w` into the CPU planes layout ([`crate::formats::int4_planes`]) and runs the
/// planes-layout kernel of `activations` (`m` rows) into `y`.
fn launch_int4_planes(
    op: &'static str,
    device: &Device,
    activations: crate::tuned::Int4Activations<'_>,
    m: usize,
    w: &Int4Weights,
    y: &Buffer<f32>,
) -> Result<(), Error> {
    let planes = crate::formats::pack_int4_planes(w)?;
    crate::tuned::Int4PlanesGemv {
        x: activations,
        w: &device.upload(&planes.codes)?,
        scales: &device.upload(&planes.scales)?,
        y,
        m: to_i32(op, "m", m)?,
        n: to_i32(op, "n", w.out_features)?,
        k: to_i32(op, "k", w.in_features)?,
        scale_cols: to_i32(op, "scale columns", planes.scale_cols)?,
    }
    .launch(device)
}

/// Fused RMSNorm (optional `weight[cols]`) + per-row int8 quantization of `x[rows, cols]`.
/// Non-finite inputs are rejected.
pub fn rmsnorm_quantize(
    device: &Device,
    x: &[f32],
    rows: usize,
    cols: usize,
    weight: Option<&[f32]>,
    eps: f32,
) -> Result<QuantizedActivations, Error> {
    const OP: &str = "rmsnorm_quantize";
    check_len(OP, "x", rows * cols, x.len())?;
    if let Some(w) = weight {
        check_len(OP, "weight", cols, w.len())?;
    }
    for (what, values) in [
        ("rmsnorm input x", x),
        ("rmsnorm weight", weight.unwrap_or(&[])),
    ] {
        if let Some(index) = values.iter().position(|v| !v.is_finite()) {
            return Err(crate::formats::FormatError::NonFinite {
                what: what.into(),
                index,
            }
            .into());
        }
    }
    if !eps.is_finite() || eps <= 0.0 {
        return Err(Error::Shape {
            op: OP,
            message: format!(
                "eps = {eps} must be finite and > 0 (e.g. 1e-5): a zero row would divide by zero"
            ),
        });
    }
    let block = cols.clamp(1, 256).next_power_of_two() as i32;
    to_i32(OP, "rows * cols", rows * cols)?;
    let out = device.zeros::<i8>(rows * cols)?;
    let scales = device.zeros::<f32>(rows)?;
    // SAFETY: `x` and `out` hold `rows * cols` elements (whose offsets fit the kernel's `i32`
    // indexing), `scales` one per row, and the weight `cols` when the kernel reads it.
    unsafe {
        norm::rmsnorm_quantize::launch_unchecked(
            device,
            to_u32(OP, rows)?,
            &device.upload(x)?,
            &device.upload(weight.unwrap_or(&[1.0]))?,
            &out,
            &scales,
            to_i32(OP, "cols", cols)?,
            eps,
            weight.is_some(),
            block,
        )
    }?;
    Ok(QuantizedActivations {
        rows,
        cols,
        values: out.to_vec()?,
        scales: scales.to_vec()?,
    })
}

/// `ceil(k / 16)`: the `u64` words of one packed row of `k` unsigned 4-bit values.
fn uint4_words(k: usize) -> usize {
    k.div_ceil(crate::formats::INT4_VALUES_PER_WORD)
}

/// Checks the operands of the W4A4 ops and launches [`int4::w4a4_matmul`]; the `i32` result
/// stays on the device.
#[allow(clippy::too_many_arguments)] // the operands of the two public W4A4 ops, passed through
fn launch_w4a4(
    op: &'static str,
    device: &Device,
    x_packed: &[u64],
    m: usize,
    w_packed: &[u64],
    n: usize,
    k: usize,
    bias: Option<&[i32]>,
) -> Result<Buffer<i32>, Error> {
    if k == 0 {
        return Err(Error::Shape {
            op,
            message: "K = 0: there is nothing to reduce over (in_features must be at least 1)"
                .into(),
        });
    }
    let words = uint4_words(k);
    let len = |what: &str, rows: usize| {
        rows.checked_mul(words).ok_or_else(|| Error::Shape {
            op,
            message: format!("{what}: {rows} rows x {words} words overflows usize"),
        })
    };
    check_len(
        op,
        &format!("packed activations (m * ceil(k / 16) = {m} * {words})"),
        len("packed activations", m)?,
        x_packed.len(),
    )?;
    check_len(
        op,
        &format!("packed weights (n * ceil(k / 16) = {n} * {words})"),
        len("packed weights", n)?,
        w_packed.len(),
    )?;
    if let Some(b) = bias {
        check_len(op, "bias (n)", n, b.len())?;
    }
    let out_len = m.checked_mul(n).ok_or_else(|| Error::Shape {
        op,
        message: format!("output {m} x {n} overflows usize"),
    })?;
    let c = device.zeros::<i32>(out_len)?;
    if out_len == 0 {
        return Ok(c);
    }
    crate::tuned::W4A4Matmul {
        x: &device.upload(x_packed)?,
        w: &device.upload(w_packed)?,
        bias: &device.upload(bias.unwrap_or(&[0]))?,
        has_bias: bias.is_some(),
        c: &c,
        m: to_i32(op, "m", m)?,
        n: to_i32(op, "n", n)?,
        k: to_i32(op, "k", k)?,
        k_words: to_i32(op, "ceil(k / 16)", words)?,
    }
    .launch(device)?;
    Ok(c)
}

/// W4A4, BitTensor's `packed_matmul` with an exact result:
/// `c[m, n] = sum_k x[m, k] * w[n, k] + bias[n]` in `i32` (wrapping, as on a GPU; it cannot
/// overflow for `k < 2^23`).
///
/// Both operands are unsigned 4-bit values `0..=15` packed 16 per `u64` along K
/// ([`crate::formats::pack_uint4`]): `x_packed` is `[m, ceil(k / 16)]` words, `w_packed`
/// `[n, ceil(k / 16)]` words. When `k` is not a multiple of 16 each row ends in a partly
/// used word, whose extra nibbles are ignored (BitTensor zero-pads them). `bias` is `n`
/// values.
///
/// Errors ([`Error::Shape`]): `k == 0`, a buffer length that disagrees with `m`, `n`, `k`,
/// or an extent beyond `i32::MAX`.
pub fn packed_matmul_w4a4(
    device: &Device,
    x_packed: &[u64],
    m: usize,
    w_packed: &[u64],
    n: usize,
    k: usize,
    bias: Option<&[i32]>,
) -> Result<Vec<i32>, Error> {
    const OP: &str = "packed_matmul_w4a4";
    let c = launch_w4a4(OP, device, x_packed, m, w_packed, n, k, bias)?;
    c.to_vec().map_err(Error::from)
}

/// W4A4 with BitTensor's packed output: the exact result of [`packed_matmul_w4a4`],
/// saturated to `0..=15` (`min(max(c, 0), 15)`, as BitTensor's `packed_gemm` clamps) and
/// packed 16 per `u64` flat in row-major order: element `i * n + j` is nibble
/// `(i * n + j) % 16` of word `(i * n + j) / 16`, `ceil(m * n / 16)` words, the unused
/// nibbles of the last word 0. When `n` is a multiple of 16 this is exactly
/// [`crate::formats::pack_uint4`]`(values, m, n)`. Read it back with [`unpack_uint4_flat`].
///
/// Saturation loses information whenever a dot product exceeds 15 (almost always for
/// `k > 1`); prefer the exact [`packed_matmul_w4a4`] unless you need BitTensor's output.
///
/// Errors: those of [`packed_matmul_w4a4`].
pub fn packed_matmul_w4a4_packed(
    device: &Device,
    x_packed: &[u64],
    m: usize,
    w_packed: &[u64],
    n: usize,
    k: usize,
    bias: Option<&[i32]>,
) -> Result<Vec<u64>, Error> {
    const OP: &str = "packed_matmul_w4a4_packed";
    let c = launch_w4a4(OP, device, x_packed, m, w_packed, n, k, bias)?;
    let len = c.len();
    let num_words = uint4_words(len);
    let words = device.zeros::<u64>(num_words)?;
    if num_words > 0 {
        const BLOCK: usize = 16;
        int4::pack_uint4_saturating::launch(
            device,
            to_u32(OP, num_words.div_ceil(BLOCK))?,
            &c,
            &words,
            to_i32(OP, "m * n", len)?,
            to_i32(OP, "ceil(m * n / 16)", num_words)?,
            BLOCK as i32,
        )?;
    }
    words.to_vec().map_err(Error::from)
}

/// Unpacks `rows * cols` unsigned 4-bit values packed flat, 16 per `u64` in row-major order
/// (the layout of [`packed_matmul_w4a4_packed`]): BitTensor's `unpack_tensor(packed, rows,
/// cols)`. `packed` must hold `ceil(rows * cols / 16)` words; unused nibbles of the last word
/// are ignored.
///
/// Errors ([`Error::Shape`]): a wrong `packed.len()`, or `rows * cols` overflowing `usize`.
pub fn unpack_uint4_flat(packed: &[u64], rows: usize, cols: usize) -> Result<Vec<u8>, Error> {
    const OP: &str = "unpack_uint4_flat";
    let len = rows.checked_mul(cols).ok_or_else(|| Error::Shape {
        op: OP,
        message: format!("{rows} x {cols} overflows usize"),
    })?;
    check_len(
        OP,
        &format!("packed (ceil(rows * cols / 16) words for {rows} x {cols})"),
        uint4_words(len),
        packed.len(),
    )?;
    let mut values = crate::formats::unpack_uint4(
        packed,
        1,
        packed.len() * crate::formats::INT4_VALUES_PER_WORD,
    )?;
    values.truncate(len);
    Ok(values)
}
