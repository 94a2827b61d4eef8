//! Triton's tutorial 03 kernel, matrix multiplication: `c = a x b` in `f16` with `f32`
//! accumulation, one program per `[block_size_m, block_size_n]` block of `c`, the programs
//! in grouped order (`group_size_m` rows of blocks before the next column, for L2 reuse), and
//! an optional fused leaky ReLU. The one copy of it: `examples/triton/matmul.rs` and the
//! parity bench (`bitmat-cli`'s `bench::parity::kernels`, without the activation) include
//! this file.

use bitmat::prelude::*;

/// `c = a x b` (`a` `[M, K]`, `b` `[K, N]`), strided; grid: `cdiv(M, block_size_m) *
/// cdiv(N, block_size_n)` programs.
#[bitkernel]
#[allow(clippy::too_many_arguments)]
pub fn matmul_kernel(
    // Pointers to matrices.
    a_ptr: Ptr<f16>,
    b_ptr: Ptr<f16>,
    c_ptr: Ptr<f16>,
    // Matrix dimensions.
    m: i32,
    n: i32,
    k: i32,
    // The stride variables represent how much to increase the pointer by when moving by 1
    // element in a particular dimension.
    stride_am: i32,
    stride_ak: i32,
    stride_bk: i32,
    stride_bn: i32,
    stride_cm: i32,
    stride_cn: i32,
    // Meta-parameters.
    #[constexpr] block_size_m: i32,
    #[constexpr] block_size_n: i32,
    #[constexpr] block_size_k: i32,
    #[constexpr] group_size_m: i32,
    #[constexpr] leaky_relu_activation: bool,
) {
    // Map program ids `pid` to the block of C it should compute. This is done in a grouped
    // ordering to promote L2 data reuse.
    let pid = program_id(0);
    let num_pid_m = cdiv(m, block_size_m);
    let num_pid_n = cdiv(n, block_size_n);
    let num_pid_in_group = group_size_m * num_pid_n;
    let group_id = pid / num_pid_in_group;
    let first_pid_m = group_id * group_size_m;
    let group_size_m = minimum(num_pid_m - first_pid_m, group_size_m);
    let pid_m = first_pid_m + ((pid % num_pid_in_group) % group_size_m);
    let pid_n = (pid % num_pid_in_group) / group_size_m;

    // Create pointers for the first blocks of A and B. We will advance this pointer as we
    // move in the K direction and accumulate. The rows and columns wrap (`% m`, `% n`), as
    // in the tutorial, so that only K needs a mask.
    let offs_am = (pid_m * block_size_m + arange(block_size_m)) % m;
    let offs_bn = (pid_n * block_size_n + arange(block_size_n)) % n;
    let offs_k = arange(block_size_k);
    let a_ptrs = a_ptr + (offs_am.unsqueeze(1) * stride_am + offs_k.unsqueeze(0) * stride_ak);
    let b_ptrs = b_ptr + (offs_k.unsqueeze(1) * stride_bk + offs_bn.unsqueeze(0) * stride_bn);

    // Iterate to compute a block of the C matrix. We accumulate into a
    // `[block_size_m, block_size_n]` block of f32 values for higher accuracy.
    let mut accumulator = zeros::<f32>([block_size_m, block_size_n]);
    // Triton advances `a_ptrs` and `b_ptrs` by a block of K each step; here the offset of
    // step `kb` is added to them.
    for kb in range(0, cdiv(k, block_size_k), 1) {
        // Load the next block of A and B, generate a mask by checking the K dimension. If it
        // is out of bounds, set it to 0.
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
        // We accumulate along the K dimension.
        accumulator = dot(a, b, accumulator);
    }
    // You can fuse arbitrary activation functions here while the accumulator is still in
    // f32.
    if leaky_relu_activation {
        accumulator = leaky_relu(accumulator);
    }
    let c = accumulator as f16;

    // Write back the block of the output matrix C with masks.
    let offs_cm = pid_m * block_size_m + arange(block_size_m);
    let offs_cn = pid_n * block_size_n + arange(block_size_n);
    let c_ptrs = c_ptr + stride_cm * offs_cm.unsqueeze(1) + stride_cn * offs_cn.unsqueeze(0);
    let c_mask = (offs_cm.unsqueeze(1) < m) & (offs_cn.unsqueeze(0) < n);
    store(c_ptrs, c, c_mask);
}

/// The tutorial's `leaky_relu`, fused into the kernel by the `leaky_relu_activation` flag.
#[bitkernel(inline)]
fn leaky_relu(x: Tile) -> Tile {
    select(x >= 0.0, x, 0.01 * x)
}
