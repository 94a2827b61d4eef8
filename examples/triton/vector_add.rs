//! Triton's tutorial 01, vector addition, ported to the DSL: each program adds one block of
//! `block_size` elements, the last one masked to `n_elements`. (The parity bench's
//! `add_kernel` is the same kernel.)
//!
//! `cargo run --example vector_add` runs it on the interpreter, the CPU (and CUDA when a
//! driver is present) and checks each result against plain Rust and the interpreter's.

use bitmat::prelude::*;

/// `output = x + y` over `n_elements`, one block of `block_size` per program.
#[bitkernel]
pub fn add_kernel(
    x_ptr: Ptr<f32>,
    y_ptr: Ptr<f32>,
    output_ptr: Ptr<f32>,
    n_elements: i32,
    #[constexpr] block_size: i32,
) {
    // There are multiple 'programs' processing different data. We identify which program
    // we are here.
    let pid = program_id(0);
    // This program will process inputs that are offset from the initial data. For
    // instance, if you had a vector of length 256 and block_size of 64, the programs would
    // each access the elements [0:64, 64:128, 128:192, 192:256].
    let block_start = pid * block_size;
    let offsets = block_start + arange(block_size);
    // Create a mask to guard memory operations against out-of-bounds accesses.
    let mask = offsets < n_elements;
    // Load x and y from memory, masking out any extra elements in case the input is not a
    // multiple of the block size (the DSL names the value of masked-off lanes).
    let x = load(x_ptr + offsets, mask, 0.0);
    let y = load(y_ptr + offsets, mask, 0.0);
    let output = x + y;
    // Write x + y back to memory.
    store(output_ptr + offsets, output, mask);
}

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

#[allow(dead_code)] // `tests/triton_examples.rs` includes this file for `check`.
fn main() -> Result<(), String> {
    let reference = check(&Device::interpreter(), None)?;
    check(&Device::cpu(), Some(&reference))?;
    match Device::cuda(0) {
        Ok(gpu) => {
            check(&gpu, Some(&reference))?;
        }
        Err(e) => println!("no CUDA device ({e}): skipped"),
    }
    Ok(())
}
