//! Fused RMSNorm + per-row int8 activation quantization (BitLinear's input path).

use crate::prelude::*;

/// Columns `c0 + offs` of the row starting at `row`, times `factor` and, when `has_weight`,
/// the matching entries of `weight`: the values the quantizer sees. Masked columns are 0.
#[bitkernel(inline)]
#[allow(clippy::too_many_arguments)]
fn scaled_columns(
    row: Ptr<f32>,
    weight: Ptr<f32>,
    c0: Tile,
    offs: Tile,
    cols: Tile,
    factor: Tile,
    has_weight: bool,
) -> Tile {
    let mask = c0 + offs < cols;
    let v = load(row + c0 + offs, mask, 0.0) * factor;
    if has_weight {
        v * load(weight + c0 + offs, mask, 0.0)
    } else {
        v
    }
}

/// Quantizes one row of `cols` values `row[c] * factor (* weight[c])` to int8 in `out_row`:
/// `scale = max(max|y|, 1e-5) / 127`, `q = clamp(round(y / scale), -127, 127)` (ties to even).
/// Returns the scale.
#[bitkernel(inline)]
fn quantize_row(
    row: Ptr<f32>,
    weight: Ptr<f32>,
    out_row: Ptr<i8>,
    cols: Tile,
    factor: Tile,
    has_weight: bool,
    block: i32,
) -> Tile {
    let offs = arange(block);
    let mut amax = zeros::<f32>([block]);
    for c0 in range(0, cols, block) {
        let y = scaled_columns(row, weight, c0, offs, cols, factor, has_weight);
        amax = maximum(amax, y.abs());
    }
    let scale = maximum(amax.max(0), 1e-5) / 127.0;
    for c0 in range(0, cols, block) {
        let y = scaled_columns(row, weight, c0, offs, cols, factor, has_weight);
        let q = minimum(maximum((y / scale).round(), -127.0), 127.0);
        store(out_row + c0 + offs, q as i8, c0 + offs < cols);
    }
    scale
}

/// One program per row of `x[rows, cols]`: `y = x * (1 / sqrt(mean(x^2) + eps)) * weight`
/// (no weight when `has_weight` is false), then `scale = max(max|y|, 1e-5) / 127` and
/// `q = clamp(round(y / scale), -127, 127)` with ties to even. Writes `q` to `out` and the
/// row's scale to `scales[row]`. Grid: `rows`.
#[bitkernel]
pub fn rmsnorm_quantize(
    x: Ptr<f32>,
    weight: Ptr<f32>,
    out: Ptr<i8>,
    scales: Ptr<f32>,
    cols: i32,
    eps: f32,
    #[constexpr] has_weight: bool,
    #[constexpr] block: i32,
) {
    let row = program_id(0);
    let offs = arange(block);
    let mut squares = zeros::<f32>([block]);
    for c0 in range(0, cols, block) {
        let v = load(x + row * cols + c0 + offs, c0 + offs < cols, 0.0);
        squares = squares + v * v;
    }
    let rstd = 1.0 / (squares.sum(0) / (cols as f32) + eps).sqrt();
    let start = row * cols;
    let scale = quantize_row(
        x + start,
        weight,
        out + start,
        cols,
        rstd,
        has_weight,
        block,
    );
    store(scales + row, scale);
}

/// Per-row int8 quantization without a norm (BitLinear with the norm off), one program per
/// row of `x[rows, cols]`: `scale = max(max|x|, 1e-5) / 127`,
/// `q = clamp(round(x / scale), -127, 127)` with ties to even. Writes `q` to `out` and the
/// row's scale to `scales[row]`. Grid: `rows`.
#[bitkernel]
pub fn quantize_int8(
    x: Ptr<f32>,
    out: Ptr<i8>,
    scales: Ptr<f32>,
    cols: i32,
    #[constexpr] block: i32,
) {
    let row = program_id(0);
    let start = row * cols;
    // `x * 1.0` is exact: the quantized values are those of `x` itself.
    let scale = quantize_row(x + start, x, out + start, cols, full([], 1.0), false, block);
    store(scales + row, scale);
}
