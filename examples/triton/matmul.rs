//! Triton's tutorial 03, matrix multiplication, ported to the DSL: `c = a x b` in `f16` with
//! `f32` accumulation, one program per `[block_size_m, block_size_n]` block of `c`, the
//! programs in grouped order (`group_size_m` rows of blocks before the next column, for L2
//! reuse), an optional fused leaky ReLU, and autotuning over the tutorial's configurations
//! keyed by `(M, N, K)`. The kernel is in `kernels/matmul.rs`, which the parity bench
//! includes too.
//!
//! `cargo run --example matmul` runs it on the interpreter, the CPU (and CUDA when a driver
//! is present) and checks each result against plain Rust and the interpreter's.

use bitmat::prelude::*;
use bitmat::Config;

/// The kernel (`kernels/matmul.rs`, shared with the parity bench).
#[path = "kernels/matmul.rs"]
mod kernel;
pub use kernel::matmul_kernel;

/// Tutorial 03's `get_cuda_autotune_config()` for f16 inputs: `(BLOCK_SIZE_M, BLOCK_SIZE_N,
/// BLOCK_SIZE_K, num_stages, num_warps)`, all with `GROUP_SIZE_M = 8`.
pub const CUDA_CONFIGS: [(i32, i32, i32, u32, u32); 8] = [
    (128, 256, 64, 3, 8),
    (64, 256, 32, 4, 4),
    (128, 128, 32, 4, 4),
    (128, 64, 32, 4, 4),
    (64, 128, 32, 4, 4),
    (128, 32, 32, 4, 4),
    (64, 32, 32, 5, 2),
    (32, 64, 32, 5, 2),
];

/// Configurations for host devices (the CPU, the interpreter), where the GPU tiles above
/// (up to 128 x 256 outputs) are far larger than a core's registers and caches and
/// `num_warps`/`num_stages` mean nothing: small tiles, grouped as on GPUs.
pub const HOST_CONFIGS: [(i32, i32, i32); 3] = [(16, 16, 32), (32, 32, 32), (16, 32, 64)];

/// The tuner: the tutorial's configurations on GPUs, [`HOST_CONFIGS`] elsewhere, keyed by
/// `m, n, k` (`key=['M', 'N', 'K']`).
pub fn tuner(device: &Device, activation: bool) -> matmul_kernel::Autotuned {
    let configs: Vec<Config<matmul_kernel::Constexprs>> = if device.backend().is_gpu() {
        CUDA_CONFIGS
            .iter()
            .map(|&(bm, bn, bk, stages, warps)| {
                matmul_kernel::config(bm, bn, bk, 8, activation)
                    .num_stages(stages)
                    .num_warps(warps)
            })
            .collect()
    } else {
        HOST_CONFIGS
            .iter()
            .map(|&(bm, bn, bk)| matmul_kernel::config(bm, bn, bk, 8, activation))
            .collect()
    };
    matmul_kernel::autotune(configs).key(&["m", "n", "k"])
}

/// The tutorial's `matmul(a, b, activation)` of row-major `a` `[m, k]` and `b` `[k, n]`.
pub fn matmul(
    device: &Device,
    tuned: &matmul_kernel::Autotuned,
    a: &[f16],
    b: &[f16],
    (m, n, k): (usize, usize, usize),
) -> Result<Vec<f16>, Error> {
    let (ab, bb) = (device.upload(a)?, device.upload(b)?);
    let c = device.zeros::<f16>(m * n)?;
    // 1-D launch grid where each block gets its own program.
    let grid = |meta: &matmul_kernel::Constexprs| {
        (m.div_ceil(meta.block_size_m as usize) * n.div_ceil(meta.block_size_n as usize)) as u32
    };
    let (mi, ni, ki) = (m as i32, n as i32, k as i32);
    tuned.launch(device, grid, &ab, &bb, &c, mi, ni, ki, ki, 1, ni, 1, ni, 1)?;
    Ok(c.to_vec()?)
}

/// `a x b` in plain Rust (`f32` sums of the `f16` products), with the leaky ReLU when
/// `activation`, as `f32`.
fn reference(a: &[f16], b: &[f16], (m, n, k): (usize, usize, usize), activation: bool) -> Vec<f32> {
    let mut c = vec![0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = 0f32;
            for p in 0..k {
                s += a[i * k + p].to_f32() * b[p * n + j].to_f32();
            }
            c[i * n + j] = if activation && s < 0.0 { 0.01 * s } else { s };
        }
    }
    c
}

/// Checks the matmul (with and without the activation) on `device` against plain Rust and
/// against `reference` (another device's outputs for the same inputs, when given); returns
/// the outputs.
pub fn check(device: &Device, reference_out: Option<&[Vec<f16>]>) -> Result<Vec<Vec<f16>>, String> {
    // Ragged in every dimension: no block divides M, N or K.
    let (m, n, k) = (77, 45, 100);
    let a: Vec<f16> = (0..m * k)
        .map(|i| f16::from_f32(((i * 7919) % 61) as f32 / 30.0 - 1.0))
        .collect();
    let b: Vec<f16> = (0..k * n)
        .map(|i| f16::from_f32(((i * 104729) % 53) as f32 / 26.0 - 1.0))
        .collect();
    let mut outs = Vec::new();
    for activation in [false, true] {
        let tuned = tuner(device, activation);
        let c = matmul(device, &tuned, &a, &b, (m, n, k)).map_err(|e| e.to_string())?;
        let want = reference(&a, &b, (m, n, k), activation);
        for (i, (&got, &w)) in c.iter().zip(&want).enumerate() {
            // The f32 sums may differ in order; the f16 result by one rounding.
            let tol = 1e-2 + w.abs() / 512.0;
            if (got.to_f32() - w).abs() > tol {
                return Err(format!(
                    "{device}: c[{}, {}] is {got}, want {w} (activation: {activation})",
                    i / n,
                    i % n
                ));
            }
        }
        outs.push(c);
    }
    if let Some(r) = reference_out {
        let diff = r
            .iter()
            .flatten()
            .zip(outs.iter().flatten())
            .map(|(x, y)| (x.to_f32() - y.to_f32()).abs())
            .fold(0f32, f32::max);
        if diff > 0.05 {
            return Err(format!(
                "{device}: differs from the reference device by up to {diff}"
            ));
        }
    }
    println!("{device}: {m} x {n} x {k} f16 matmul (and with leaky ReLU) matches plain Rust");
    Ok(outs)
}

// Each test binary that includes several examples loads this module once per example.
#[allow(clippy::duplicate_mod)]
#[path = "../common/devices.rs"]
mod devices;

#[allow(dead_code)] // `tests/triton_examples.rs` includes this file for `check`.
fn main() -> Result<(), String> {
    devices::check_on_every_device(check)
}
