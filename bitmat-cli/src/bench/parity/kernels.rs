//! The parity suite's kernels, written in the DSL the way their Triton sources are written:
//! Triton's tutorials 01 (vector add), 02 (fused softmax), 03 (matrix multiplication) and 05
//! (layer norm, forward), and the ternary kernel of the BitMat package
//! (`bitmat/triton_kernels/bitmat_kernel.py`, `_ternary_mm_kernel`), line for line where the
//! DSL allows. `benches/parity/triton_twins.py` holds the same kernels in Triton.
//!
//! Where the DSL differs from Triton the port says so next to the line: every `load` names
//! its fill value (Triton leaves masked lanes undefined), `tl.cdiv` is written out, pointer
//! increments in the K loop become offsets from the loop's induction variable, and casts are
//! explicit (`as f32`, where Triton converts on `store`).
//!
//! The launch settings are the tutorials' (block sizes and warps computed from the shape),
//! and the two matmuls are autotuned over the configurations their Triton sources list
//! ([`MATMUL_CONFIGS`], [`TERNARY_CONFIGS`]), `num_stages` included.

use bitmat::prelude::*;

/// Tutorial 01: `output = x + y` over `n_elements`, one block of `block_size` per program.
#[bitkernel]
pub fn add_kernel(
    x_ptr: Ptr<f32>,
    y_ptr: Ptr<f32>,
    output_ptr: Ptr<f32>,
    n_elements: i32,
    #[constexpr] block_size: i32,
) {
    let pid = program_id(0);
    let block_start = pid * block_size;
    let offsets = block_start + arange(block_size);
    let mask = offsets < n_elements;
    let x = load(x_ptr + offsets, mask, 0.0);
    let y = load(y_ptr + offsets, mask, 0.0);
    let output = x + y;
    store(output_ptr + offsets, output, mask);
}

/// Tutorial 02: the softmax of each row of `n_cols` (at most `block_size`) values, persistent
/// programs looping over rows `program_id(0), program_id(0) + num_programs(0), ..`.
#[bitkernel]
pub fn softmax_kernel(
    output_ptr: Ptr<f32>,
    input_ptr: Ptr<f32>,
    input_row_stride: i32,
    output_row_stride: i32,
    n_rows: i32,
    n_cols: i32,
    #[constexpr] block_size: i32,
) {
    let row_start = program_id(0);
    let row_step = num_programs(0);
    // Triton: `tl.range(row_start, n_rows, row_step, num_stages=num_stages)`; here
    // `num_stages` is a launch option.
    for row_idx in range(row_start, n_rows, row_step) {
        let row_start_ptr = input_ptr + row_idx * input_row_stride;
        let col_offsets = arange(block_size);
        let input_ptrs = row_start_ptr + col_offsets;
        let mask = col_offsets < n_cols;
        let row = load(input_ptrs, mask, f32::NEG_INFINITY);
        let row_minus_max = row - row.max(0);
        let numerator = row_minus_max.exp();
        let denominator = numerator.sum(0);
        let softmax_output = numerator / denominator;
        let output_row_start_ptr = output_ptr + row_idx * output_row_stride;
        let output_ptrs = output_row_start_ptr + col_offsets;
        store(output_ptrs, softmax_output, mask);
    }
}

/// Tutorial 05, forward: `y = (x - mean) * rstd * w + b` per row of `n` `f16` values, with
/// the row's mean and `rstd = 1 / sqrt(var + eps)` stored, in `f32`.
#[bitkernel]
#[allow(clippy::too_many_arguments)]
pub fn layer_norm_fwd_fused(
    x_ptr: Ptr<f16>,
    y_ptr: Ptr<f16>,
    w_ptr: Ptr<f16>,
    b_ptr: Ptr<f16>,
    mean_ptr: Ptr<f32>,
    rstd_ptr: Ptr<f32>,
    stride: i32,
    n: i32,
    eps: f32,
    #[constexpr] block_size: i32,
) {
    // Map the program id to the row of X and Y it should compute.
    let row = program_id(0);
    let y_row = y_ptr + row * stride;
    let x_row = x_ptr + row * stride;
    // Compute the mean.
    let mut mean_acc = zeros::<f32>([block_size]);
    for off in range(0, n, block_size) {
        let cols = off + arange(block_size);
        let a = load(x_row + cols, cols < n, 0.0) as f32;
        mean_acc = mean_acc + a;
    }
    let mean = mean_acc.sum(0) / (n as f32);
    // Compute the variance.
    let mut var_acc = zeros::<f32>([block_size]);
    for off in range(0, n, block_size) {
        let cols = off + arange(block_size);
        let x = load(x_row + cols, cols < n, 0.0) as f32;
        let x = select(cols < n, x - mean, 0.0);
        var_acc = var_acc + x * x;
    }
    let var = var_acc.sum(0) / (n as f32);
    let rstd = 1.0 / (var + eps).sqrt();
    // Write the mean and rstd.
    store(mean_ptr + row, mean);
    store(rstd_ptr + row, rstd);
    // Normalize and apply the linear transformation.
    for off in range(0, n, block_size) {
        let cols = off + arange(block_size);
        let mask = cols < n;
        let w = load(w_ptr + cols, mask, 0.0) as f32;
        let b = load(b_ptr + cols, mask, 0.0) as f32;
        let x = load(x_row + cols, mask, 0.0) as f32;
        let x_hat = (x - mean) * rstd;
        let y = x_hat * w + b;
        // Write the output (Triton converts to the pointee type on `store`).
        store(y_row + cols, y as f16, mask);
    }
}

/// Tutorial 03: `c = a x b` (`a` `[M, K]`, `b` `[K, N]`, `f16`), `f32` accumulation, `f16`
/// output; one program per `[block_size_m, block_size_n]` block of `c` in grouped order
/// (`group_size_m` rows of blocks before the next column). Grid: `cdiv(M, block_size_m) *
/// cdiv(N, block_size_n)` programs.
#[bitkernel]
#[allow(clippy::too_many_arguments)]
pub fn matmul_kernel(
    a_ptr: Ptr<f16>,
    b_ptr: Ptr<f16>,
    c_ptr: Ptr<f16>,
    m: i32,
    n: i32,
    k: i32,
    stride_am: i32,
    stride_ak: i32,
    stride_bk: i32,
    stride_bn: i32,
    stride_cm: i32,
    stride_cn: i32,
    #[constexpr] block_size_m: i32,
    #[constexpr] block_size_n: i32,
    #[constexpr] block_size_k: i32,
    #[constexpr] group_size_m: i32,
) {
    // Map the program id to the block of C it should compute, in grouped order.
    let pid = program_id(0);
    let num_pid_m = (m + block_size_m - 1) / block_size_m;
    let num_pid_n = (n + block_size_n - 1) / block_size_n;
    let num_pid_in_group = group_size_m * num_pid_n;
    let group_id = pid / num_pid_in_group;
    let first_pid_m = group_id * group_size_m;
    let group_size_m = minimum(num_pid_m - first_pid_m, group_size_m);
    let pid_m = first_pid_m + ((pid % num_pid_in_group) % group_size_m);
    let pid_n = (pid % num_pid_in_group) / group_size_m;
    // Offsets of the first blocks of A and B (rows wrapped, as the tutorial does, so that
    // only K needs a mask).
    let offs_am = (pid_m * block_size_m + arange(block_size_m)) % m;
    let offs_bn = (pid_n * block_size_n + arange(block_size_n)) % n;
    let offs_k = arange(block_size_k);
    let a_ptrs = a_ptr + (offs_am.unsqueeze(1) * stride_am + offs_k.unsqueeze(0) * stride_ak);
    let b_ptrs = b_ptr + (offs_k.unsqueeze(1) * stride_bk + offs_bn.unsqueeze(0) * stride_bn);
    // Accumulate a block of C in f32.
    let mut accumulator = zeros::<f32>([block_size_m, block_size_n]);
    // Triton: `for k in range(0, tl.cdiv(K, BLOCK_SIZE_K))` advancing both pointer blocks;
    // here the offset of step `kb` is added to them.
    for kb in range(0, (k + block_size_k - 1) / block_size_k, 1) {
        let a = load(
            a_ptrs + kb * block_size_k * stride_ak,
            offs_k.unsqueeze(0) < k - kb * block_size_k,
            0.0,
        );
        let b = load(
            b_ptrs + kb * block_size_k * stride_bk,
            offs_k.unsqueeze(1) < k - kb * block_size_k,
            0.0,
        );
        accumulator = dot(a, b, accumulator);
    }
    let c = accumulator as f16;
    // Write back the block of C.
    let offs_cm = pid_m * block_size_m + arange(block_size_m);
    let offs_cn = pid_n * block_size_n + arange(block_size_n);
    let c_ptrs = c_ptr + stride_cm * offs_cm.unsqueeze(1) + stride_cn * offs_cn.unsqueeze(0);
    let c_mask = (offs_cm.unsqueeze(1) < m) & (offs_cn.unsqueeze(0) < n);
    store(c_ptrs, c, c_mask);
}

/// BitMat's `_ternary_mm_kernel`: `c = a x W` with `a` `i8` `[M, K]` and `W` `[K, N]` ternary,
/// packed `n_bits` (4) codes per `i8` along K (`b` is `[K / n_bits, N]`, code 1 -> +1, 2 -> -1),
/// the `i8` dot's `i32` sums accumulated in `f32`, `f16` output. Grid as [`matmul_kernel`].
/// K must be a multiple of `block_size_k` (BitMat does not mask the weight loads).
#[bitkernel]
#[allow(clippy::too_many_arguments)]
pub fn ternary_mm_kernel(
    a_ptr: Ptr<i8>,
    b_ptr: Ptr<i8>,
    c_ptr: Ptr<f16>,
    m: i32,
    n: i32,
    k: i32,
    n_bits: i32,
    stride_am: i32,
    stride_ak: i32,
    stride_bk: i32,
    stride_bn: i32,
    stride_cm: i32,
    stride_cn: i32,
    #[constexpr] block_size_m: i32,
    #[constexpr] block_size_n: i32,
    #[constexpr] block_size_k: i32,
    #[constexpr] group_size_m: i32,
) {
    let pid = program_id(0);
    let num_pid_m = (m + block_size_m - 1) / block_size_m;
    let num_pid_n = (n + block_size_n - 1) / block_size_n;
    let num_pid_k = (k + block_size_k - 1) / block_size_k;
    let num_pid_in_group = group_size_m * num_pid_n;
    let group_id = pid / num_pid_in_group;
    let first_pid_m = group_id * group_size_m;
    let group_size_m = minimum(num_pid_m - first_pid_m, group_size_m);
    // BitMat's grouping, as written there (`pid % group_size_m`, not the tutorial's
    // `(pid % num_pid_in_group) % group_size_m`).
    let pid_m = first_pid_m + (pid % group_size_m);
    let pid_n = (pid % num_pid_in_group) / group_size_m;
    // Create pointers.
    let offs_am = (pid_m * block_size_m + arange(block_size_m)) % m;
    let offs_bn = (pid_n * block_size_n + arange(block_size_n)) % n;
    let offs_k = arange(block_size_k);
    let a_ptrs = a_ptr + (offs_am.unsqueeze(1) * stride_am + offs_k.unsqueeze(0) * stride_ak);
    let a_mask = offs_am.unsqueeze(1) < m;
    let b_ptrs =
        b_ptr + ((offs_k.unsqueeze(1) / n_bits) * stride_bk + offs_bn.unsqueeze(0) * stride_bn);
    // The shifter extracts each 2-bit code of a packed byte.
    let shifter = (offs_k % n_bits).unsqueeze(1) * 2;
    let mut accumulator = zeros::<f32>([block_size_m, block_size_n]);
    for kb in range(0, num_pid_k, 1) {
        // BitMat advances `a_ptrs` by BLOCK_SIZE_K elements (it assumes `stride_ak == 1`).
        let a = load(a_ptrs + kb * block_size_k, a_mask, 0);
        let b = load(b_ptrs + kb * (block_size_k / n_bits) * stride_bk);
        // Extract the 2 bits of each element, then map 2 back to -1.
        let b = (b >> shifter) & 3;
        let b = select(b == 2, -1, b);
        // `tl.dot` of i8 operands accumulates in i32 (Triton ignores BitMat's `out_dtype`).
        accumulator = accumulator + (dot(a, b) as f32);
    }
    let c_ptrs = c_ptr + stride_cm * offs_am.unsqueeze(1) + stride_cn * offs_bn.unsqueeze(0);
    let c_mask = (offs_am.unsqueeze(1) < m) & (offs_bn.unsqueeze(0) < n);
    store(c_ptrs, accumulator as f16, c_mask);
}

/// One configuration of a tiled matmul: the constexprs and launch options of a
/// `triton.Config`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct TileConfig {
    /// `BLOCK_SIZE_M`.
    pub block_m: i32,
    /// `BLOCK_SIZE_N`.
    pub block_n: i32,
    /// `BLOCK_SIZE_K`.
    pub block_k: i32,
    /// `GROUP_SIZE_M`.
    pub group_m: i32,
    /// `num_stages`.
    pub num_stages: u32,
    /// `num_warps`.
    pub num_warps: u32,
}

const fn tile(
    block_m: i32,
    block_n: i32,
    block_k: i32,
    num_stages: u32,
    num_warps: u32,
) -> TileConfig {
    TileConfig {
        block_m,
        block_n,
        block_k,
        group_m: 8,
        num_stages,
        num_warps,
    }
}

/// Tutorial 03's `get_cuda_autotune_config()`, in its order: the eight fp16 configurations
/// and the eight it lists as good for fp8 inputs.
pub const MATMUL_CONFIGS: [TileConfig; 16] = [
    tile(128, 256, 64, 3, 8),
    tile(64, 256, 32, 4, 4),
    tile(128, 128, 32, 4, 4),
    tile(128, 64, 32, 4, 4),
    tile(64, 128, 32, 4, 4),
    tile(128, 32, 32, 4, 4),
    tile(64, 32, 32, 5, 2),
    tile(32, 64, 32, 5, 2),
    tile(128, 256, 128, 3, 8),
    tile(256, 128, 128, 3, 8),
    tile(256, 64, 128, 4, 4),
    tile(64, 256, 128, 4, 4),
    tile(128, 128, 128, 4, 4),
    tile(128, 64, 64, 4, 4),
    tile(64, 128, 64, 4, 4),
    tile(128, 32, 64, 4, 4),
];

/// The configurations of BitMat's `_ternary_mm_kernel` autotuner, in its order.
pub const TERNARY_CONFIGS: [TileConfig; 7] = [
    tile(16, 16, 32, 1, 4),
    tile(32, 32, 32, 1, 4),
    tile(32, 32, 32, 4, 4),
    tile(128, 128, 32, 4, 4),
    tile(64, 128, 32, 4, 4),
    tile(128, 32, 32, 4, 4),
    tile(64, 64, 32, 4, 4),
];

/// The configurations of both matmuls on host devices (the CPU, the interpreter), where the
/// GPU tiles above (up to 256x256 outputs) are far larger than a core's registers and caches
/// and `num_warps`/`num_stages` mean nothing: small tiles, grouped as on GPUs.
pub const HOST_CONFIGS: [TileConfig; 3] = [
    tile(16, 16, 32, 1, 1),
    tile(32, 32, 32, 1, 1),
    tile(16, 32, 64, 1, 1),
];

/// The programs of a grouped matmul grid: `cdiv(m, block_m) * cdiv(n, block_n)`.
pub fn matmul_programs(m: usize, n: usize, block_m: i32, block_n: i32) -> u32 {
    let blocks = |len: usize, b: i32| len.div_ceil(b as usize);
    (blocks(m, block_m) * blocks(n, block_n)) as u32
}

/// The largest `block_k` of `configs`.
pub const fn max_block_k(configs: &[TileConfig]) -> i32 {
    let mut i = 0;
    let mut max = 0;
    while i < configs.len() {
        if configs[i].block_k > max {
            max = configs[i].block_k;
        }
        i += 1;
    }
    max
}
