//! Int4 matmul kernels. Weights `W[n, k]` are packed 16 per `u64` along K (value i of a word
//! in bits 4i..4i+3), signed two's-complement nibbles or unsigned 0..15, with `f32` scales
//! per group of K (`scales[n, k / group]`).

use super::tiles::{load_block, store_block};
use crate::prelude::*;

/// Extracts nibble `index` (0..16) of each word of `words` as `i8`: sign-extended when
/// `signed` (-8..=7), else 0..=15.
#[bitkernel(inline)]
pub fn unpack_int4(words: Tile, index: Tile, signed: bool) -> Tile {
    let nibble = (words >> (index * 4)) & 15;
    if signed {
        ((nibble ^ 8) as i8) - 8
    } else {
        nibble as i8
    }
}

/// Loads the `[block_k, block_n]` tile of int4 values for columns `kk` and rows `rn` of `w`
/// (`[n, k / 16]` words); out-of-range entries are 0.
#[bitkernel(inline)]
pub fn load_int4_tile(w: Ptr<u64>, rn: Tile, kk: Tile, n: Tile, k: Tile, signed: bool) -> Tile {
    let mask = (rn.unsqueeze(0) < n) & (kk.unsqueeze(1) < k);
    let words = load(
        w + rn.unsqueeze(0) * (k / 16) + (kk / 16).unsqueeze(1),
        mask,
        0,
    );
    unpack_int4(words, kk.unsqueeze(1) % 16, signed)
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
    for k0 in range(0, k, block_k) {
        let kk = k0 + rk;
        let a = load_block(x, rm, kk, m, k);
        group_acc = dot(a, load_int4_tile(w, rn, kk, n, k, signed), group_acc);
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
    let rk = arange(block_k);
    let groups = k / group;
    let mut acc = zeros::<f32>([block_m, block_n]);
    for k0 in range(0, k, block_k) {
        let kk = k0 + rk;
        let a = load_block(x, rm, kk, m, k);
        let q = load_int4_tile(w, rn, kk, n, k, signed);
        let wmask = (rn.unsqueeze(0) < n) & (kk.unsqueeze(1) < k);
        let s = load(
            scales + rn.unsqueeze(0) * groups + (kk / group).unsqueeze(1),
            wmask,
            0.0,
        );
        let wq = ((q as f32) * s) as f16;
        acc = dot(a, wq, acc);
    }
    store_block(y, rm, rn, m, n, acc);
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
        let a = unpack_int4(xw, kk.unsqueeze(0) % 16, false);
        let ww = load(
            w + rn.unsqueeze(0) * k_words + (kk / 16).unsqueeze(1),
            (rn.unsqueeze(0) < n) & (kk.unsqueeze(1) < k),
            0,
        );
        acc = dot(a, unpack_int4(ww, kk.unsqueeze(1) % 16, false), acc);
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
