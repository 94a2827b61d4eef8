//! Triton's tutorial 02, fused softmax, ported to the DSL: one pass over each row (read once,
//! max, exp, sum, normalize, written once) by persistent programs that loop over the rows
//! `program_id(0), program_id(0) + num_programs(0), ..`. The kernel is in
//! `kernels/fused_softmax.rs`, which the parity bench includes too.
//!
//! `cargo run --example fused_softmax` runs it on the interpreter, the CPU (and CUDA when a
//! driver is present) and checks each result against plain Rust and the interpreter's.

use bitmat::prelude::*;
use bitmat::LaunchOptions;

/// The kernel (`kernels/fused_softmax.rs`, shared with the parity bench).
#[path = "kernels/fused_softmax.rs"]
mod kernel;
pub use kernel::softmax_kernel;

/// The tutorial's `softmax(x)` of a row-major `[n_rows, n_cols]` matrix: `block_size` is the
/// next power of two of `n_cols`, 8 warps per program as in the tutorial, and as many
/// programs as rows up to a cap (the tutorial computes it from the GPU's occupancy; one
/// program per streaming multiprocessor of an H100/H200, 132, or 8 on the CPU serve the same
/// end here).
pub fn softmax(
    device: &Device,
    x: &[f32],
    n_rows: usize,
    n_cols: usize,
) -> Result<Vec<f32>, Error> {
    let block_size = n_cols.next_power_of_two() as i32;
    let num_warps = 8;
    let cap = if device.backend().is_gpu() { 132 } else { 8 };
    let num_programs = n_rows.clamp(1, cap) as u32;
    let input = device.upload(x)?;
    let output = device.zeros::<f32>(x.len())?;
    let (rows, cols) = (n_rows as i32, n_cols as i32);
    let options = LaunchOptions {
        num_warps,
        ..LaunchOptions::default()
    };
    softmax_kernel::with(options).launch(
        device,
        num_programs,
        &output,
        &input,
        cols,
        cols,
        rows,
        cols,
        block_size,
    )?;
    Ok(output.to_vec()?)
}

/// The softmax of each row in plain Rust (`f64` sums).
fn softmax_rows(x: &[f32], n_cols: usize) -> Vec<f32> {
    x.chunks(n_cols)
        .flat_map(|row| {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let e: Vec<f64> = row.iter().map(|&v| f64::from(v - max).exp()).collect();
            let sum: f64 = e.iter().sum();
            e.into_iter().map(move |v| (v / sum) as f32)
        })
        .collect()
}

/// Checks the softmax on `device` against plain Rust and against `reference` (another
/// device's output for the same inputs, when given); returns the output.
pub fn check(device: &Device, reference: Option<&[f32]>) -> Result<Vec<f32>, String> {
    // The tutorial benchmarks 1823 x 781; fewer rows keep the interpreter quick. 781
    // columns are a ragged block of 1024.
    let (n_rows, n_cols) = (67, 781);
    let x: Vec<f32> = (0..n_rows * n_cols)
        .map(|i| ((i * 7919) % 2003) as f32 / 200.0 - 5.0)
        .collect();
    let out = softmax(device, &x, n_rows, n_cols).map_err(|e| e.to_string())?;
    let want = softmax_rows(&x, n_cols);
    let mut worst = 0f32;
    for (i, (&o, &w)) in out.iter().zip(&want).enumerate() {
        let err = (o - w).abs();
        if err > 1e-6 + 1e-5 * w.abs() {
            return Err(format!("{device}: element {i} is {o}, want {w}"));
        }
        worst = worst.max(err);
    }
    for (r, row) in out.chunks(n_cols).enumerate() {
        let sum: f32 = row.iter().sum();
        if (sum - 1.0).abs() > 1e-4 {
            return Err(format!("{device}: row {r} sums to {sum}"));
        }
    }
    if let Some(r) = reference {
        // The CPU backends compute exp as the interpreter does; GPUs use their own.
        let exact = !device.backend().is_gpu();
        let tol = if exact { 0.0 } else { 1e-6 };
        if r.iter().zip(&out).any(|(a, b)| (a - b).abs() > tol) {
            return Err(format!("{device}: differs from the reference device"));
        }
    }
    println!("{device}: {n_rows} x {n_cols}, the maximum difference from plain Rust is {worst:e}");
    Ok(out)
}

// Each test binary that includes several examples loads this module once per example.
#[allow(clippy::duplicate_mod)]
#[path = "../common/devices.rs"]
mod devices;

#[allow(dead_code)] // `tests/triton_examples.rs` includes this file for `check`.
fn main() -> Result<(), String> {
    devices::check_on_every_device(check)
}
