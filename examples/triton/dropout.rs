//! Triton's tutorial 04, low-memory dropout, ported to the DSL: the keep mask is not stored
//! but drawn again from `rand(seed, offsets)` (Philox, the same numbers as Triton's `tl.rand`
//! for the same seed and offsets), so the backward pass needs only the seed.
//!
//! `cargo run --example dropout` runs it on the interpreter, the CPU (and CUDA when a driver
//! is present), checks each output element against the plain-Rust formula (`0` or
//! `x / (1 - p)`), that the devices agree bit for bit, that the same seed gives the same mask
//! and another seed another, and prints the kept fraction.

use bitmat::prelude::*;

/// `output = rand(seed, offsets) > p ? x / (1 - p) : 0`, masked to `n_elements`.
#[bitkernel]
pub fn seeded_dropout(
    x_ptr: Ptr<f32>,
    output_ptr: Ptr<f32>,
    n_elements: i32,
    p: f32,
    seed: i32,
    #[constexpr] block_size: i32,
) {
    let offsets = program_id(0) * block_size + arange(block_size);
    let mask = offsets < n_elements;
    let x = load(x_ptr + offsets, mask, 0.0);
    let random = rand(seed, offsets);
    let x_keep = random > p;
    let output = select(x_keep, x / (1.0 - p), 0.0);
    store(output_ptr + offsets, output, mask);
}

/// Runs the dropout of `x` on `device`.
pub fn dropout(device: &Device, x: &[f32], p: f32, seed: i32) -> Result<Vec<f32>, Error> {
    let xb = device.upload(x)?;
    let out = device.zeros::<f32>(x.len())?;
    let n = i32::try_from(x.len()).expect("fits i32");
    let block = 1024;
    seeded_dropout::launch(
        device,
        x.len().div_ceil(1024) as u32,
        &xb,
        &out,
        n,
        p,
        seed,
        block,
    )?;
    Ok(out.to_vec()?)
}

/// Checks the dropout on `device` against plain Rust and against `reference` (another
/// device's output for the same inputs, when given); returns the output.
pub fn check(device: &Device, reference: Option<&[f32]>) -> Result<Vec<f32>, String> {
    let n = 10_000 + 37;
    let x: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 1000) as f32 / 100.0 + 0.5)
        .collect();
    let p = 0.5f32;
    let out = dropout(device, &x, p, 123).map_err(|e| e.to_string())?;
    for (i, (&o, &xi)) in out.iter().zip(&x).enumerate() {
        if o != 0.0 && o != xi / (1.0 - p) {
            return Err(format!(
                "{device}: element {i} is {o}, neither 0 nor {}",
                xi / (1.0 - p)
            ));
        }
    }
    let kept = out.iter().filter(|&&o| o != 0.0).count() as f64 / n as f64;
    if (kept - 0.5).abs() > 0.03 {
        return Err(format!(
            "{device}: kept {kept:.3} of the elements at p = 0.5"
        ));
    }
    if let Some(r) = reference {
        if r.iter().zip(&out).any(|(a, b)| a.to_bits() != b.to_bits()) {
            return Err(format!(
                "{device}: a different mask than the reference device"
            ));
        }
    }
    let again = dropout(device, &x, p, 123).map_err(|e| e.to_string())?;
    let other = dropout(device, &x, p, 124).map_err(|e| e.to_string())?;
    if again != out || other == out {
        return Err(format!("{device}: the mask does not follow the seed"));
    }
    println!("{device}: kept {kept:.4} of {n} elements at p = {p}");
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
