//! Ternary (BitNet b1.58) W2A8 matmul kernels on the canonical packing: 2-bit codes
//! (0 -> 0, 1 -> +1, 2 -> -1), 4 per byte along K, lowest bits first, rows of N contiguous.

use super::tiles::{accumulate_block, load_block, split_part, store_block};
use crate::prelude::*;

/// Decodes the 2-bit ternary code at position `index` (0..4) of each byte of `packed`
/// into an `i8` in {-1, 0, +1}.
#[bitkernel(inline)]
pub fn unpack_ternary(packed: Tile, index: Tile) -> Tile {
    let code = (packed >> (index * 2)) & 3;
    ((code & 1) as i8) - ((code >> 1) as i8)
}

/// Loads the `[block_k, block_n]` tile of ternary weights for rows `rn` of `w` (`[n, k / 4]`
/// bytes) and the `block_k` columns from byte `kb0` (`4 * kb0` is the first column), decoded
/// to `i8`; out-of-range entries are 0. Each byte is read once, as `[block_k / 4, block_n]`
/// bytes contiguous along K, and broadcast over its four codes, which are decoded in the
/// registers that loaded it.
#[bitkernel(inline)]
pub fn load_ternary_tile(w: Ptr<u8>, rn: Tile, kb0: Tile, n: Tile, k: Tile, block_k: i32) -> Tile {
    let kb = kb0 + arange(block_k / 4);
    // `k >= 0`: a shift, whose divisibility the contiguity analysis follows.
    let row_bytes = k >> 2;
    let mask = (rn.unsqueeze(0) < n) & (kb.unsqueeze(1) < row_bytes);
    let packed = load(w + rn.unsqueeze(0) * row_bytes + kb.unsqueeze(1), mask, 0);
    let code_index = arange(4).reshape([1, 4, 1]);
    let block_n = rn.shape()[0] as i32;
    unpack_ternary(packed.unsqueeze(1), code_index).reshape([block_k, block_n])
}

/// The exact `i32` product of the `[block_m, k]` rows `rm` of `a` (`i8 [m, k]`) and the
/// `[k, block_n]` columns `rn` of the packed ternary `W^T` over the packed bytes `kb_start..
/// kb_end` of each row (columns `4 * kb_start..4 * kb_end`, in steps of `block_k` columns),
/// accumulated onto `acc`.
#[bitkernel(inline)]
#[allow(clippy::too_many_arguments)]
pub fn ternary_product(
    acc: Tile,
    a: Ptr<i8>,
    w: Ptr<u8>,
    rm: Tile,
    rn: Tile,
    m: Tile,
    n: Tile,
    k: Tile,
    kb_start: Tile,
    kb_end: Tile,
    block_k: i32,
) -> Tile {
    let mut acc = acc;
    let rk = arange(block_k);
    // Steps in bytes of packed weights: column `4 * kb0` starts each.
    for kb0 in range(kb_start, kb_end, block_k / 4) {
        let kk = kb0 * 4 + rk;
        let x = load_block(a, rm, kk, m, k);
        acc = dot(x, load_ternary_tile(w, rn, kb0, n, k, block_k), acc);
    }
    acc
}

/// `c[m, n] = a[m, k] x W[n, k]^T` in exact `i32`: `a` is `i8`, `W` packed ternary.
/// Grid: `(ceil(m / block_m), ceil(n / block_n))`. K must be a multiple of 4.
#[bitkernel]
pub fn w2a8_matmul(
    a: Ptr<i8>,
    w: Ptr<u8>,
    c: Ptr<i32>,
    m: i32,
    n: i32,
    k: i32,
    #[constexpr] block_m: i32,
    #[constexpr] block_n: i32,
    #[constexpr] block_k: i32,
) {
    let rm = program_id(0) * block_m + arange(block_m);
    let rn = program_id(1) * block_n + arange(block_n);
    let acc = zeros::<i32>([block_m, block_n]);
    // `k >= 0`: a shift, whose divisibility the contiguity analysis follows.
    let (start, end) = (zeros::<i32>([]), k >> 2);
    let acc = ternary_product(acc, a, w, rm, rn, m, n, k, start, end, block_k);
    store_block(c, rm, rn, m, n, acc);
}

/// [`w2a8_matmul`] with K split into `split_k` parts, for few rows: program `(i, j, s)` adds
/// the product over part `s` of K to `c` with `atomic_add`, so that `split_k` times more
/// programs share the weights. `c` must be zero before the launch (the tuner's
/// `reset_to_zero` does it); the sums are exact `i32` in any order, so the result is the same
/// bits as [`w2a8_matmul`]'s. `split_k = 1` stores, as [`w2a8_matmul`] does. Grid:
/// `(ceil(m / block_m), ceil(n / block_n), split_k)`.
#[bitkernel]
#[allow(clippy::too_many_arguments)]
pub fn w2a8_matmul_split_k(
    a: Ptr<i8>,
    w: Ptr<u8>,
    c: Ptr<i32>,
    m: i32,
    n: i32,
    k: i32,
    #[constexpr] block_m: i32,
    #[constexpr] block_n: i32,
    #[constexpr] block_k: i32,
    #[constexpr] split_k: i32,
) {
    let rm = program_id(0) * block_m + arange(block_m);
    let rn = program_id(1) * block_n + arange(block_n);
    let row_bytes = k >> 2;
    let part = split_part(row_bytes, block_k / 4, split_k);
    let kb_start = program_id(2) * part;
    let kb_end = minimum(kb_start + part, row_bytes);
    let acc = zeros::<i32>([block_m, block_n]);
    let acc = ternary_product(acc, a, w, rm, rn, m, n, k, kb_start, kb_end, block_k);
    accumulate_block(c, rm, rn, m, n, acc, split_k > 1);
}

/// The ternary linear layer: `y[m, n] = (acc as f32) * scale_x[m] * scale_w[n * w_scale_stride]
/// (+ bias[n])` with `acc` the exact `i32` product of [`w2a8_matmul`]. `w_scale_stride` is 1
/// for per-row weight scales and 0 for one per-tensor scale. Grid as [`w2a8_matmul`].
#[bitkernel]
pub fn w2a8_linear(
    a: Ptr<i8>,
    scale_x: Ptr<f32>,
    w: Ptr<u8>,
    scale_w: Ptr<f32>,
    bias: Ptr<f32>,
    y: Ptr<f32>,
    m: i32,
    n: i32,
    k: i32,
    w_scale_stride: i32,
    #[constexpr] has_bias: bool,
    #[constexpr] block_m: i32,
    #[constexpr] block_n: i32,
    #[constexpr] block_k: i32,
) {
    let rm = program_id(0) * block_m + arange(block_m);
    let rn = program_id(1) * block_n + arange(block_n);
    let acc = zeros::<i32>([block_m, block_n]);
    // `k >= 0`: a shift, whose divisibility the contiguity analysis follows.
    let (start, end) = (zeros::<i32>([]), k >> 2);
    let acc = ternary_product(acc, a, w, rm, rn, m, n, k, start, end, block_k);
    let sx = load(scale_x + rm, rm < m, 0.0);
    let sw = load(scale_w + rn * w_scale_stride, rn < n, 0.0);
    let mut out = (acc as f32) * sx.unsqueeze(1) * sw.unsqueeze(0);
    if has_bias {
        out = out + load(bias + rn, rn < n, 0.0).unsqueeze(0);
    }
    store_block(y, rm, rn, m, n, out);
}

/// Matrix-vector shape of [`w2a8_matmul`] for few rows: `c[m, n] = a[m, k] x W[n, k]^T` in
/// exact `i32`, one program per `block_n` outputs of one row. The packed weights are read
/// contiguously along K (`[block_n, block_k / 4]` bytes per step) and decoded with constant
/// shifts, so every op is a contiguous vector op; the products accumulate elementwise and are
/// reduced once at the end. Grid: `(ceil(n / block_n), m)`.
#[bitkernel]
pub fn w2a8_gemv(
    a: Ptr<i8>,
    w: Ptr<u8>,
    c: Ptr<i32>,
    m: i32,
    n: i32,
    k: i32,
    #[constexpr] block_n: i32,
    #[constexpr] block_k: i32,
) {
    static_assert(
        block_k % 16 == 0,
        "w2a8_gemv: block_k must be a multiple of 16",
    );
    let row = program_id(1);
    let rn = program_id(0) * block_n + arange(block_n);
    let rb = arange(block_k / 4);
    // `k >= 0`: a shift, whose divisibility the contiguity analysis follows.
    let row_bytes = k >> 2;
    let mut acc = zeros::<i32>([block_n, block_k / 4]);
    for k0 in range(0, k, block_k) {
        let b = k0 / 4 + rb;
        let bytes = load_block(w, rn, b, n, row_bytes);
        for i in 0..4 {
            let code = (bytes >> (2 * i)) & 3;
            let weight = ((code & 1) as i32) - ((code >> 1) as i32);
            let kk = b * 4 + i;
            let x = load(a + row * k + kk, kk < k, 0) as i32;
            acc += weight * x.unsqueeze(0);
        }
    }
    store(c + row * n + rn, acc.sum(1), (rn < n) & (row < m));
}

/// Matrix-vector shape of [`w2a8_matmul`] for CPUs: `c[m, n] = a[m, k] x W[n, k]^T` in exact
/// `i32`, one program per `block_n` outputs of one row. Each step reads `[block_n, block_k /
/// 4]` packed bytes contiguously along K, decodes them in K order (the four codes of a byte
/// side by side) and multiplies them by the activations' column with one `dot`, which a CPU
/// backend lowers to row-times-vector products (`vpdpbusd` with AVX-512 VNNI). `block_k` is a
/// multiple of 4. Grid: `(ceil(n / block_n), m)`.
#[bitkernel]
pub fn w2a8_gemv_rows(
    a: Ptr<i8>,
    w: Ptr<u8>,
    c: Ptr<i32>,
    m: i32,
    n: i32,
    k: i32,
    #[constexpr] block_n: i32,
    #[constexpr] block_k: i32,
) {
    static_assert(
        block_k % 4 == 0,
        "w2a8_gemv_rows: block_k must be a multiple of 4",
    );
    let row = program_id(1);
    let rn = program_id(0) * block_n + arange(block_n);
    let rb = arange(block_k / 4);
    let shifts = (arange(4) * 2).unsqueeze(0).unsqueeze(0);
    let mut acc = zeros::<i32>([block_n, 1]);
    for k0 in range(0, k, block_k) {
        let bytes = load_block(w, rn, k0 / 4 + rb, n, k / 4);
        let code = (bytes.unsqueeze(2) >> shifts) & 3;
        let weight = (((code & 1) as i8) - ((code >> 1) as i8)).reshape([block_n, block_k]);
        let kk = k0 + arange(block_k);
        let x = load(a + row * k + kk, kk < k, 0);
        acc = dot(weight, x.unsqueeze(1), acc);
    }
    store(
        c + row * n + rn,
        acc.reshape([block_n]),
        (rn < n) & (row < m),
    );
}

/// The exact `i32` products `[block_n]` of row `row` of `a[m, k]` (int8) with rows `rn` of
/// the ternary weights in the CPU planes layout ([`crate::formats::ternary_planes`]), `block_k`
/// columns a step, for [`w2a8_gemv_planes`] and [`w2a8_linear_planes`]: each step reads
/// `[block_n, block_k / 4]` bytes contiguously along K; four constant shifts of them give the
/// unsigned codes `w + 1` in K order, whose `dot` with the activations' column a CPU backend
/// lowers to row-times-vector byte products (`vpdpbusd`); the activations' sum corrects the
/// `+ 1` once at the end. Rows are padded to 1024 columns, so the weights are masked by row
/// only.
#[bitkernel(inline)]
pub fn ternary_planes_product(
    a: Ptr<i8>,
    w: Ptr<u8>,
    row: Tile,
    rn: Tile,
    n: Tile,
    k: Tile,
    block_k: i32,
) -> Tile {
    let block_n = rn.shape()[0] as i32;
    let rb = arange(block_k / 4);
    // K rounded up to 1024 columns, 256 bytes.
    let row_bytes = ((k + 1023) >> 10) << 8;
    let shifts = (arange(4) * 2).reshape([1, 1, 4, 1]);
    let row_mask = (rn < n).unsqueeze(1);
    let mut acc = zeros::<i32>([block_n, 1]);
    let mut x_sum = zeros::<i32>([1, 1]);
    for k0 in range(0, k, block_k) {
        let offsets = rn.unsqueeze(1) * row_bytes + (k0 / 4 + rb).unsqueeze(0);
        let bytes = load(w + offsets, row_mask, 0);
        let planes = bytes.reshape([block_n, block_k / 256, 1, 64]);
        let codes = ((planes >> shifts) & 3).reshape([block_n, block_k]);
        let kk = k0 + arange(block_k);
        let x = load(a + row * k + kk, kk < k, 0).unsqueeze(1);
        acc = dot(codes as i8, x, acc);
        x_sum = dot(zeros::<i8>([1, block_k]) + 1, x, x_sum);
    }
    (acc - x_sum).reshape([block_n])
}

/// Matrix-vector shape of [`w2a8_matmul`] on weights in the CPU planes layout
/// ([`crate::formats::ternary_planes`]): `c[m, n] = a[m, k] x W[n, k]^T` in exact `i32`, one
/// program per `block_n` outputs of one row, each [`ternary_planes_product`]. `block_k` is
/// 256, 512 or 1024. Grid: `(ceil(n / block_n), m)`.
#[bitkernel]
pub fn w2a8_gemv_planes(
    a: Ptr<i8>,
    w: Ptr<u8>,
    c: Ptr<i32>,
    m: i32,
    n: i32,
    k: i32,
    #[constexpr] block_n: i32,
    #[constexpr] block_k: i32,
) {
    static_assert(
        block_k % 256 == 0 && 1024 % block_k == 0,
        "w2a8_gemv_planes: block_k must be 256, 512 or 1024",
    );
    let row = program_id(1);
    let rn = program_id(0) * block_n + arange(block_n);
    let acc = ternary_planes_product(a, w, row, rn, n, k, block_k);
    store(c + row * n + rn, acc, (rn < n) & (row < m));
}

/// The ternary linear layer of [`w2a8_linear`] on weights in the CPU planes layout, as
/// [`w2a8_gemv_planes`] computes the exact `i32` product:
/// `y[m, n] = (acc as f32) * scale_x[m] * scale_w[n * w_scale_stride] (+ bias[n])`.
/// `block_k` is 256, 512 or 1024. Grid: `(ceil(n / block_n), m)`.
#[bitkernel]
#[allow(clippy::too_many_arguments)]
pub fn w2a8_linear_planes(
    a: Ptr<i8>,
    scale_x: Ptr<f32>,
    w: Ptr<u8>,
    scale_w: Ptr<f32>,
    bias: Ptr<f32>,
    y: Ptr<f32>,
    m: i32,
    n: i32,
    k: i32,
    w_scale_stride: i32,
    #[constexpr] has_bias: bool,
    #[constexpr] block_n: i32,
    #[constexpr] block_k: i32,
) {
    static_assert(
        block_k % 256 == 0 && 1024 % block_k == 0,
        "w2a8_linear_planes: block_k must be 256, 512 or 1024",
    );
    let row = program_id(1);
    let rn = program_id(0) * block_n + arange(block_n);
    let acc = ternary_planes_product(a, w, row, rn, n, k, block_k);
    let sx = load(scale_x + row, row < m, 0.0);
    let sw = load(scale_w + rn * w_scale_stride, rn < n, 0.0);
    let mut out = (acc as f32) * sx * sw;
    if has_bias {
        out = out + load(bias + rn, rn < n, 0.0);
    }
    store(y + row * n + rn, out, (rn < n) & (row < m));
}
