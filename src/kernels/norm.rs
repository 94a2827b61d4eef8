//! Fused RMSNorm + per-row int8 activation quantization (BitLinear's input path).

use crate::prelude::*;

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
    let mut amax = zeros::<f32>([block]);
    for c0 in range(0, cols, block) {
        let mask = c0 + offs < cols;
        let v = load(x + row * cols + c0 + offs, mask, 0.0);
        let g = if has_weight {
            load(weight + c0 + offs, mask, 0.0)
        } else {
            full([block], 1.0)
        };
        amax = maximum(amax, (v * rstd * g).abs());
    }
    let scale = maximum(amax.max(0), 1e-5) / 127.0;
    for c0 in range(0, cols, block) {
        let mask = c0 + offs < cols;
        let v = load(x + row * cols + c0 + offs, mask, 0.0);
        let g = if has_weight {
            load(weight + c0 + offs, mask, 0.0)
        } else {
            full([block], 1.0)
        };
        let q = minimum(maximum((v * rstd * g / scale).round(), -127.0), 127.0);
        store(out + row * cols + c0 + offs, q as i8, mask);
    }
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
    let offs = arange(block);
    let mut amax = zeros::<f32>([block]);
    for c0 in range(0, cols, block) {
        let v = load(x + row * cols + c0 + offs, c0 + offs < cols, 0.0);
        amax = maximum(amax, v.abs());
    }
    let scale = maximum(amax.max(0), 1e-5) / 127.0;
    for c0 in range(0, cols, block) {
        let mask = c0 + offs < cols;
        let v = load(x + row * cols + c0 + offs, mask, 0.0);
        let q = minimum(maximum((v / scale).round(), -127.0), 127.0);
        store(out + row * cols + c0 + offs, q as i8, mask);
    }
    store(scales + row, scale);
}
