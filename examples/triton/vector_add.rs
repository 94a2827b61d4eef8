//! Triton's tutorial 01, vector addition, ported to the DSL: each program adds one block of
//! `block_size` elements, the last one masked to `n_elements`. The kernel is in
//! `kernels/vector_add.rs`, which the parity bench includes too.
//!
//! `cargo run --example vector_add` runs it on the interpreter, the CPU (and CUDA when a
//! driver is present) and checks each result against plain Rust and the interpreter's.

use bitmat::prelude::*;

/// The kernel, `output = x + y` (`kernels/vector_add.rs`, shared with the parity bench).
#[path = "kernels/vector_add.rs"]
mod kernel;
pub use kernel::add_kernel;

/// The tutorial's `add(x, y)`: allocates the output and launches a 1-D grid of
/// `cdiv(n_elements, 1024)` programs.
pub fn add(device: &Device, x: &[f32], y: &[f32]) -> Result<Vec<f32>, Error> {
    let (xb, yb) = (device.upload(x)?, device.upload(y)?);
    let output = device.zeros::<f32>(x.len())?;
    let n_elements = i32::try_from(x.len()).expect("fits i32");
    let block_size = 1024;
    let grid = x.len().div_ceil(block_size as usize) as u32;
    add_kernel::launch(device, grid, &xb, &yb, &output, n_elements, block_size)?;
    Ok(output.to_vec()?)
}

/// Checks the addition on `device` against plain Rust and against `reference` (another
/// device's output for the same inputs, when given); returns the output.
pub fn check(device: &Device, reference: Option<&[f32]>) -> Result<Vec<f32>, String> {
    // The tutorial's size: 98432, not a multiple of the block.
    let size: usize = 98432;
    let x: Vec<f32> = (0..size)
        .map(|i| ((i * 7919) % 1013) as f32 / 97.0 - 5.0)
        .collect();
    let y: Vec<f32> = (0..size)
        .map(|i| ((i * 104729) % 997) as f32 / 89.0)
        .collect();
    let output = add(device, &x, &y).map_err(|e| e.to_string())?;
    for (i, ((&o, &a), &b)) in output.iter().zip(&x).zip(&y).enumerate() {
        if o.to_bits() != (a + b).to_bits() {
            return Err(format!("{device}: element {i} is {o}, want {}", a + b));
        }
    }
    if reference.is_some_and(|r| r != output.as_slice()) {
        return Err(format!("{device}: differs from the reference device"));
    }
    println!("{device}: the maximum difference from plain Rust is 0 over {size} elements");
    Ok(output)
}

// Each test binary that includes several examples loads this module once per example.
#[allow(clippy::duplicate_mod)]
#[path = "../common/devices.rs"]
mod devices;

#[allow(dead_code)] // `tests/triton_examples.rs` includes this file for `check`.
fn main() -> Result<(), String> {
    devices::check_on_every_device(check)
}
