//! Int4 matmul kernels. Weights `W[n, k]` are packed 16 per `u64` along K (value i of a word
//! in bits 4i..4i+3), signed two's-complement nibbles or unsigned 0..15, with `f32` scales
//! per group of K (`scales[n, k / group]`).

use super::tiles::{accumulate_block, load_block, split_part, store_block};
use crate::prelude::*;

/// Nibble `index` (0..16) of each word of `words` (`u64`) as `i32`: sign-extended when
/// `signed` (-8..=7), else 0..=15.
#[bitkernel(inline)]
pub fn unpack_int4(words: Tile, index: Tile, signed: bool) -> Tile {
    if signed {
        // The nibble moved to the top bits and shifted back arithmetically: sign-extended in
        // two shifts.
        (((words << (60 - index * 4)) as i64) >> 60) as i32
    } else {
        ((words >> (index * 4)) & 15) as i32
    }
}

/// Loads the `[block_k, block_n]` tile of int4 values (as `i32`) for rows `rn` of `w` (`[n, k
/// / 16]` words) and the `block_k` columns from word `kw0` (`16 * kw0` is the first column);
/// out-of-range entries are 0. Each word is read once, as `[block_k / 16, block_n]` words
/// contiguous along K, and broadcast over its 16 nibbles, which are decoded in the registers
/// that loaded it.
#[bitkernel(inline)]
#[allow(clippy::too_many_arguments)]
pub fn load_int4_tile(
    w: Ptr<u64>,
    rn: Tile,
    kw0: Tile,
    n: Tile,
    k: Tile,
    block_k: i32,
    signed: bool,
) -> Tile {
    let kw = kw0 + arange(block_k / 16);
    // `k >= 0`: a shift, whose divisibility the contiguity analysis follows.
    let row_words = k >> 4;
    let mask = (rn.unsqueeze(0) < n) & (kw.unsqueeze(1) < row_words);
    let words = load(w + rn.unsqueeze(0) * row_words + kw.unsqueeze(1), mask, 0);
    let nibble_index = arange(16).reshape([1, 16, 1]);
    let block_n = rn.shape()[0] as i32;
    unpack_int4(words.unsqueeze(1), nibble_index, signed).reshape([block_k, block_n])
}

/// The `[block_k, block_n]` tile of the scales of the weights that [`load_int4_tile`] loads
/// (`scales[n, k / group]`): one scale read per word, broadcast over its 16 values.
#[bitkernel(inline)]
pub fn load_int4_scales(
    scales: Ptr<f32>,
    rn: Tile,
    kw0: Tile,
    n: Tile,
    k: Tile,
    group: Tile,
    block_k: i32,
) -> Tile {
    let kw = kw0 + arange(block_k / 16);
    let mask = (rn.unsqueeze(0) < n) & (kw.unsqueeze(1) < (k >> 4));
    let per_word = load(
        scales + rn.unsqueeze(0) * (k / group) + (kw * 16 / group).unsqueeze(1),
        mask,
        0.0,
    );
    let block_n = rn.shape()[0] as i32;
    per_word
        .unsqueeze(1)
        .broadcast_to([block_k / 16, 16, block_n])
        .reshape([block_k, block_n])
}

/// W4A8: `y[m, n] = scale_x[m] * sum_g (sum_{k in g} x[m, k] * q[n, k]) as f32 * scales[n, g]`.
/// The sum over a group is exact in `i32`; `group` is a multiple of `block_k`, or `k` itself
/// (one scale per row). Grid: `(ceil(m / block_m), ceil(n / block_n))`.
#[bitkernel]
pub fn w4a8_matmul(
    x: Ptr<i8>,
    scale_x: Ptr<f32>,
    w: Ptr<u64>,
    scales: Ptr<f32>,
    y: Ptr<f32>,
    m: i32,
    n: i32,
    k: i32,
    group: i32,
    #[constexpr] signed: bool,
    #[constexpr] block_m: i32,
    #[constexpr] block_n: i32,
    #[constexpr] block_k: i32,
) {
    let rm = program_id(0) * block_m + arange(block_m);
    let rn = program_id(1) * block_n + arange(block_n);
    let rk = arange(block_k);
    let groups = k / group;
    let mut acc = zeros::<f32>([block_m, block_n]);
    let mut group_acc = zeros::<i32>([block_m, block_n]);
    // Steps in words of packed weights: column `16 * kw0` starts each.
    for kw0 in range(0, k >> 4, block_k / 16) {
        let k0 = kw0 * 16;
        let kk = k0 + rk;
        let a = load_block(x, rm, kk, m, k);
        let q = load_int4_tile(w, rn, kw0, n, k, block_k, signed) as i8;
        group_acc = dot(a, q, group_acc);
        let next = k0 + block_k;
        if ((next % group) == 0) | (next >= k) {
            let s = load(scales + rn * groups + k0 / group, rn < n, 0.0);
            acc = acc + (group_acc as f32) * s.unsqueeze(0);
            group_acc = zeros::<i32>([block_m, block_n]);
        }
    }
    let sx = load(scale_x + rm, rm < m, 0.0);
    store_block(y, rm, rn, m, n, acc * sx.unsqueeze(1));
}

/// The `f32` sum over the packed words `kw_start..kw_end` of each row (columns `16 *
/// kw_start..16 * kw_end`, in steps of `block_k` columns) of `x[m, k] * f16(q[n, k] *
/// scales[n, k / group])` for rows `rm` of `x` and `rn` of the weights, accumulated onto `acc`.
#[bitkernel(inline)]
#[allow(clippy::too_many_arguments)]
pub fn w4a16_product(
    acc: Tile,
    x: Ptr<f16>,
    w: Ptr<u64>,
    scales: Ptr<f32>,
    rm: Tile,
    rn: Tile,
    m: Tile,
    n: Tile,
    k: Tile,
    group: Tile,
    kw_start: Tile,
    kw_end: Tile,
    block_k: i32,
    signed: bool,
) -> Tile {
    let mut acc = acc;
    let rk = arange(block_k);
    // Steps in words of packed weights: column `16 * kw0` starts each.
    for kw0 in range(kw_start, kw_end, block_k / 16) {
        let kk = kw0 * 16 + rk;
        let a = load_block(x, rm, kk, m, k);
        let q = load_int4_tile(w, rn, kw0, n, k, block_k, signed);
        let s = load_int4_scales(scales, rn, kw0, n, k, group, block_k);
        let wq = ((q as f32) * s) as f16;
        acc = dot(a, wq, acc);
    }
    acc
}

/// W4A16: `y[m, n] = sum_k x[m, k] * f16(q[n, k] * scales[n, k / group])` with `f16`
/// activations, the weight dequantized to `f16` and an `f32` accumulator.
/// Grid: `(ceil(m / block_m), ceil(n / block_n))`.
#[bitkernel]
pub fn w4a16_matmul(
    x: Ptr<f16>,
    w: Ptr<u64>,
    scales: Ptr<f32>,
    y: Ptr<f32>,
    m: i32,
    n: i32,
    k: i32,
    group: i32,
    #[constexpr] signed: bool,
    #[constexpr] block_m: i32,
    #[constexpr] block_n: i32,
    #[constexpr] block_k: i32,
) {
    let rm = program_id(0) * block_m + arange(block_m);
    let rn = program_id(1) * block_n + arange(block_n);
    let acc = zeros::<f32>([block_m, block_n]);
    // `k >= 0`: a shift, whose divisibility the contiguity analysis follows.
    let (start, end) = (zeros::<i32>([]), k >> 4);
    let acc = w4a16_product(
        acc, x, w, scales, rm, rn, m, n, k, group, start, end, block_k, signed,
    );
    store_block(y, rm, rn, m, n, acc);
}

/// [`w4a16_matmul`] with K split into `split_k` parts, for few rows: program `(i, j, s)` adds
/// its part's `f32` sum to `y` with `atomic_add`, so that `split_k` times more programs share
/// the weights. `y` must be zero before the launch (the tuner's `reset_to_zero` does it). The
/// parts land in any order, so with `split_k > 1` the last bits of a result may differ from run
/// to run (by the rounding of adding `split_k` partial sums); `split_k = 1` stores, as
/// [`w4a16_matmul`] does. Grid: `(ceil(m / block_m), ceil(n / block_n), split_k)`.
#[bitkernel]
#[allow(clippy::too_many_arguments)]
pub fn w4a16_matmul_split_k(
    x: Ptr<f16>,
    w: Ptr<u64>,
    scales: Ptr<f32>,
    y: Ptr<f32>,
    m: i32,
    n: i32,
    k: i32,
    group: i32,
    #[constexpr] signed: bool,
    #[constexpr] block_m: i32,
    #[constexpr] block_n: i32,
    #[constexpr] block_k: i32,
    #[constexpr] split_k: i32,
) {
    let rm = program_id(0) * block_m + arange(block_m);
    let rn = program_id(1) * block_n + arange(block_n);
    let row_words = k >> 4;
    let part = split_part(row_words, block_k / 16, split_k);
    let start = program_id(2) * part;
    let end = minimum(start + part, row_words);
    let acc = zeros::<f32>([block_m, block_n]);
    let acc = w4a16_product(
        acc, x, w, scales, rm, rn, m, n, k, group, start, end, block_k, signed,
    );
    accumulate_block(y, rm, rn, m, n, acc, split_k > 1);
}

/// Matrix-vector shape of [`w4a16_matmul`] for few rows: the same `y` (each weight dequantized
/// to `f16` as `f16(q * scale)`, exact `f16 x f16` products summed in `f32`), one program per
/// `block_n` outputs of one row. The packed words are read contiguously along K (`[block_n,
/// block_k / 16]` words per step) and decoded with constant shifts, one scale per word, so
/// every weight access is a contiguous vector load; the products accumulate elementwise and
/// are reduced once at the end. Grid: `(ceil(n / block_n), m)`.
#[bitkernel]
#[allow(clippy::too_many_arguments)]
pub fn w4a16_gemv(
    x: Ptr<f16>,
    w: Ptr<u64>,
    scales: Ptr<f32>,
    y: Ptr<f32>,
    m: i32,
    n: i32,
    k: i32,
    group: i32,
    #[constexpr] signed: bool,
    #[constexpr] block_n: i32,
    #[constexpr] block_k: i32,
) {
    static_assert(
        block_k % 16 == 0,
        "w4a16_gemv: block_k must be a multiple of 16",
    );
    let row = program_id(1);
    let rn = program_id(0) * block_n + arange(block_n);
    let rw = arange(block_k / 16);
    // `k >= 0`: a shift, whose divisibility the contiguity analysis follows.
    let row_words = k >> 4;
    let groups = k / group;
    let mut acc = zeros::<f32>([block_n, block_k / 16]);
    for k0 in range(0, k, block_k) {
        let word = k0 / 16 + rw;
        let words = load_block(w, rn, word, n, row_words);
        let in_range = (rn.unsqueeze(1) < n) & (word.unsqueeze(0) < row_words);
        let scale = load(
            scales + rn.unsqueeze(1) * groups + (word * 16 / group).unsqueeze(0),
            in_range,
            0.0,
        );
        for i in 0..16 {
            let q = unpack_int4(words, full([], i), signed);
            let kk = word * 16 + i;
            let xv = load(x + row * k + kk, kk < k, 0.0) as f32;
            acc += ((q as f32 * scale) as f16 as f32) * xv.unsqueeze(0);
        }
    }
    store(y + row * n + rn, acc.sum(1), (rn < n) & (row < m));
}

/// W4A4 (BitTensor's `packed_matmul`): `c[m, n] = sum_k x[m, k] * w[n, k] (+ bias[n])` in exact
/// `i32`, with both operands unsigned 4-bit values `0..=15` packed 16 per `u64` along K.
/// Rows of `x` and `w` are `k_words = ceil(k / 16)` words long; nibbles past `k` in the last
/// word of a row are ignored. Grid: `(ceil(m / block_m), ceil(n / block_n))`.
#[bitkernel]
pub fn w4a4_matmul(
    x: Ptr<u64>,
    w: Ptr<u64>,
    bias: Ptr<i32>,
    c: Ptr<i32>,
    m: i32,
    n: i32,
    k: i32,
    k_words: i32,
    #[constexpr] has_bias: bool,
    #[constexpr] block_m: i32,
    #[constexpr] block_n: i32,
    #[constexpr] block_k: i32,
) {
    let rm = program_id(0) * block_m + arange(block_m);
    let rn = program_id(1) * block_n + arange(block_n);
    let rk = arange(block_k);
    let mut acc = zeros::<i32>([block_m, block_n]);
    for k0 in range(0, k, block_k) {
        let kk = k0 + rk;
        let xw = load(
            x + rm.unsqueeze(1) * k_words + (kk / 16).unsqueeze(0),
            (rm.unsqueeze(1) < m) & (kk.unsqueeze(0) < k),
            0,
        );
        let a = unpack_int4(xw, kk.unsqueeze(0) % 16, false) as i8;
        let ww = load(
            w + rn.unsqueeze(0) * k_words + (kk / 16).unsqueeze(1),
            (rn.unsqueeze(0) < n) & (kk.unsqueeze(1) < k),
            0,
        );
        acc = dot(a, unpack_int4(ww, kk.unsqueeze(1) % 16, false) as i8, acc);
    }
    if has_bias {
        acc = acc + load(bias + rn, rn < n, 0).unsqueeze(0);
    }
    store_block(c, rm, rn, m, n, acc);
}

/// Saturates `values[len]` (`i32`) to `0..=15` and packs them 16 per `u64` word, flat and
/// row-major: value `16 * j + i` goes to bits `4i..4i+3` of `words[j]`; the nibbles past `len`
/// in the last word are 0 (BitTensor's packed output). One program per `block` words.
#[bitkernel]
pub fn pack_uint4_saturating(
    values: Ptr<i32>,
    words: Ptr<u64>,
    len: i32,
    num_words: i32,
    #[constexpr] block: i32,
) {
    let rw = program_id(0) * block + arange(block);
    let lane = arange(16);
    let idx = rw.unsqueeze(1) * 16 + lane.unsqueeze(0);
    let v = load(values + idx, idx < len, 0);
    let nibble = minimum(maximum(v, 0), 15) as u64;
    let shifted = nibble << (lane.unsqueeze(0) * 4);
    store(words + rw, shifted.sum(1), rw < num_words);
}

/// The `[block_n, cols]` unsigned codes (`q + 8`, `u8`) of the int4 planes layout
/// ([`crate::formats::int4_planes`]) for rows `rn` (`row_bytes` bytes each) from column `c0`
/// (a multiple of `cols`), with `cols` 16, 32, 64 or 128: one contiguous load per row of a
/// nibble plane's bytes (`cols` up to 64; `high` picks the plane) or of a whole block (128,
/// both planes in column order). Rows past `n` read as 0.
#[bitkernel(inline)]
pub fn load_int4_planes(
    w: Ptr<u8>,
    rn: Tile,
    n: Tile,
    row_bytes: Tile,
    c0: Tile,
    cols: i32,
    high: bool,
) -> Tile {
    let block_n = rn.shape()[0] as i32;
    let row_mask = (rn < n).unsqueeze(1);
    if cols == 128 {
        let offsets = rn.unsqueeze(1) * row_bytes + (c0 / 2 + arange(64)).unsqueeze(0);
        let bytes = load(w + offsets, row_mask, 0);
        let shifts = (arange(2) * 4).reshape([1, 2, 1]);
        ((bytes.unsqueeze(1) >> shifts) & 15).reshape([block_n, 128])
    } else {
        // Column c0 of plane `high` (c0 - 64 in the high plane) is byte (c0 / 128) * 64 +
        // c0 % 64 of the row.
        let first = (c0 >> 7) * 64 + (c0 & 63);
        let offsets = rn.unsqueeze(1) * row_bytes + (first + arange(cols)).unsqueeze(0);
        let bytes = load(w + offsets, row_mask, 0);
        if high {
            bytes >> 4
        } else {
            bytes & 15
        }
    }
}

/// The codes of the sub-block of `cols` columns from `c0` of the int4 planes layout, for the
/// `s`-th sub-block (0-based) of a 128-column block: sub-blocks of 32 and 64 columns are
/// planes' halves or planes (the layout's docs).
#[bitkernel(inline)]
pub fn load_int4_planes_sub(
    w: Ptr<u8>,
    rn: Tile,
    n: Tile,
    row_bytes: Tile,
    block0: Tile,
    s: i32,
    cols: i32,
) -> Tile {
    let per_plane = 64 / cols;
    let c0 = block0 + s * cols;
    if cols == 128 {
        load_int4_planes(w, rn, n, row_bytes, c0, cols, false)
    } else {
        load_int4_planes(w, rn, n, row_bytes, c0, cols, s >= per_plane)
    }
}

/// `acc` (`[block_n, 1]` on int8 activations, `[block_n, 16]` lanes on `f16` ones) plus the
/// `f32` products of row `row` of the activations `x[m, k]` (`f16` when `f16_x`, else int8)
/// with rows `rn` of the int4 weights in the CPU planes layout
/// ([`crate::formats::int4_planes`]) and their scales (`scales[s, n]` per sub-block `s` of
/// `scale_cols` columns), `block_k` columns a step: the loop of [`w4a8_gemv_planes`] and
/// [`w4a16_gemv_planes`], whose docs say how each computes a sub-block's products.
#[bitkernel(inline)]
#[allow(clippy::too_many_arguments)]
pub fn int4_planes_product(
    acc: Tile,
    x: Tile,
    w: Ptr<u8>,
    scales: Ptr<f32>,
    row: Tile,
    rn: Tile,
    n: Tile,
    k: Tile,
    scale_cols: i32,
    block_k: i32,
    f16_x: bool,
) -> Tile {
    let mut acc = acc;
    let block_n = rn.shape()[0] as i32;
    // K rounded up to 512 columns, 256 bytes.
    let row_bytes = ((k + 511) >> 9) << 8;
    for k0 in range(0, k, block_k) {
        for b in 0..block_k / 128 {
            let block0 = k0 + b * 128;
            for s in 0..128 / scale_cols {
                let sub = (block0 + s * scale_cols) / scale_cols;
                let sw = load(scales + sub * n + rn, rn < n, 0.0).unsqueeze(1);
                if f16_x {
                    // 16 columns at a time: one vector of f32 per row, added to its lanes.
                    for j in 0..scale_cols / 16 {
                        let col = s * scale_cols + j * 16;
                        let codes =
                            load_int4_planes(w, rn, n, row_bytes, block0 + col, 16, col >= 64);
                        let q = ((codes as i8) - 8) as f32;
                        let kk = block0 + col + arange(16);
                        let xs = load(x + row * k + kk, kk < k, 0.0) as f32;
                        acc += ((q * sw) as f16 as f32) * xs.unsqueeze(0);
                    }
                } else {
                    let codes = load_int4_planes_sub(w, rn, n, row_bytes, block0, s, scale_cols);
                    let q = (codes as i8) - 8;
                    let kk = block0 + s * scale_cols + arange(scale_cols);
                    let xs = load(x + row * k + kk, kk < k, 0).unsqueeze(1);
                    let part = dot(q, xs, zeros::<i32>([block_n, 1]));
                    acc += (part as f32) * sw;
                }
            }
        }
    }
    acc
}

/// W4A8 matrix-vector product on int4 weights in the CPU planes layout
/// ([`crate::formats::int4_planes`]): `y[m, n] = scale_x[m] * sum_s (sum_{k in s} x[m, k] *
/// q[n, k]) as f32 * scales[s, n]` over the sub-blocks `s` of `scale_cols` columns, the sums
/// within a sub-block exact in `i32` (a weight group spans whole sub-blocks, so this is
/// [`w4a8_matmul`] up to the rounding of the group's partial sums). Each sub-block is one
/// contiguous load per row, a mask or shift to the codes and an `i8` `dot` with the
/// activations' column, which a CPU backend lowers to row-times-vector byte products
/// (`vpdpbusd`); its scales are `block_n` consecutive floats. `block_k` is 128, 256 or 512
/// (rows are padded to 512 columns: no mask along K), `scale_cols` 32, 64 or 128. Grid:
/// `(ceil(n / block_n), m)`.
#[bitkernel]
#[allow(clippy::too_many_arguments)]
pub fn w4a8_gemv_planes(
    x: Ptr<i8>,
    scale_x: Ptr<f32>,
    w: Ptr<u8>,
    scales: Ptr<f32>,
    y: Ptr<f32>,
    m: i32,
    n: i32,
    k: i32,
    #[constexpr] scale_cols: i32,
    #[constexpr] block_n: i32,
    #[constexpr] block_k: i32,
) {
    static_assert(
        (scale_cols == 32 || scale_cols == 64 || scale_cols == 128)
            && block_k % 128 == 0
            && 512 % block_k == 0,
        "w4a8_gemv_planes: scale_cols must be 32, 64 or 128 and block_k 128, 256 or 512",
    );
    let row = program_id(1);
    let rn = program_id(0) * block_n + arange(block_n);
    let acc = zeros::<f32>([block_n, 1]);
    let acc = int4_planes_product(acc, x, w, scales, row, rn, n, k, scale_cols, block_k, false);
    let sx = load(scale_x + row, row < m, 0.0);
    store(
        y + row * n + rn,
        acc.reshape([block_n]) * sx,
        (rn < n) & (row < m),
    );
}

/// W4A16 matrix-vector product on int4 weights in the CPU planes layout
/// ([`crate::formats::int4_planes`]): the `y` of [`w4a16_matmul`] (each weight dequantized to
/// `f16` as `f16(q * scale)`, exact `f16 x f16` products summed in `f32`): 16 columns at a time
/// (one vector of `f32` per row, a 16-byte load of one nibble plane), their products added to
/// 16 lanes per row, which are reduced once at the end. Constexprs and grid as
/// [`w4a8_gemv_planes`].
#[bitkernel]
#[allow(clippy::too_many_arguments)]
pub fn w4a16_gemv_planes(
    x: Ptr<f16>,
    w: Ptr<u8>,
    scales: Ptr<f32>,
    y: Ptr<f32>,
    m: i32,
    n: i32,
    k: i32,
    #[constexpr] scale_cols: i32,
    #[constexpr] block_n: i32,
    #[constexpr] block_k: i32,
) {
    static_assert(
        (scale_cols == 32 || scale_cols == 64 || scale_cols == 128)
            && block_k % 128 == 0
            && 512 % block_k == 0,
        "w4a16_gemv_planes: scale_cols must be 32, 64 or 128 and block_k 128, 256 or 512",
    );
    let row = program_id(1);
    let rn = program_id(0) * block_n + arange(block_n);
    // 16 lanes per row, the products of each 16 columns added to them.
    let acc = zeros::<f32>([block_n, 16]);
    let acc = int4_planes_product(acc, x, w, scales, row, rn, n, k, scale_cols, block_k, true);
    store(y + row * n + rn, acc.sum(1), (rn < n) & (row < m));
}
