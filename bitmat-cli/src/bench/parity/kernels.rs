//! The parity suite's kernels, written in the DSL the way their Triton sources are written:
//! Triton's tutorials 01 (vector add), 02 (fused softmax), 03 (matrix multiplication) and 05
//! (layer norm, forward), a row scan (`tl.cumsum`, which no tutorial times), and the ternary
//! kernel of the BitMat package
//! (`bitmat/triton_kernels/bitmat_kernel.py`, `_ternary_mm_kernel`), line for line where the
//! DSL allows. `benches/parity/triton_twins.py` holds the same kernels in Triton. Tutorials
//! 01 to 03 are the examples' kernels (`examples/triton/kernels/`), included from there; the
//! layer norm here is the tutorial's `f16` one (the example's is `f32`).
//!
//! Where the DSL differs from Triton the port says so next to the line: every `load` names
//! its fill value (Triton leaves masked lanes undefined), `tl.cdiv` is written out (or
//! `cdiv`), pointer increments in the K loop become offsets from the loop's induction
//! variable, and casts are explicit (`as f32`, where Triton converts on `store`).
//!
//! The launch settings are the tutorials' (block sizes and warps computed from the shape),
//! and the two matmuls are autotuned over the configurations their Triton sources list
//! ([`MATMUL_CONFIGS`], [`TERNARY_CONFIGS`]), `num_stages` included.

use bitmat::prelude::*;

/// Tutorial 01's kernel, as `examples/triton/vector_add.rs` runs it.
#[path = "../../../../examples/triton/kernels/vector_add.rs"]
mod vector_add;
pub use vector_add::add_kernel;

/// Tutorial 02's kernel, as `examples/triton/fused_softmax.rs` runs it.
#[path = "../../../../examples/triton/kernels/fused_softmax.rs"]
mod fused_softmax;
pub use fused_softmax::softmax_kernel;

/// Tutorial 03's kernel, as `examples/triton/matmul.rs` runs it (launched here with its
/// `leaky_relu_activation` off, as the tutorial benchmarks it).
#[path = "../../../../examples/triton/kernels/matmul.rs"]
mod matmul;
pub use matmul::matmul_kernel;

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

/// A row scan: `y[row, :] = cumsum(x[row, :])` on `f32`, one program per row, the row's
/// columns in one block (read as tutorial 02 reads a softmax row; Triton's twin calls
/// `tl.cumsum`).
#[bitkernel]
pub fn cumsum_kernel(x_ptr: Ptr<f32>, y_ptr: Ptr<f32>, n_cols: i32, #[constexpr] block_size: i32) {
    let row_start = program_id(0) * n_cols;
    let cols = arange(block_size);
    let mask = cols < n_cols;
    let x = load(x_ptr + row_start + cols, mask, 0.0);
    store(y_ptr + row_start + cols, x.cumsum(0), mask);
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
