//! Triton's tutorial 07, extern functions (libdevice), ported to the DSL: the tutorial
//! calls `libdevice.asin(x)` elementwise; the DSL's float methods (`.sin()`, `.erf()`,
//! `.tanh()`, ..) are its libdevice, lowered to the CUDA math library's algorithms on GPUs
//! and to the interpreter's own functions on the CPU. One kernel applies the function that
//! its constexpr `function` names, as the tutorial's kernel does for `asin`.
//!
//! `cargo run --example libdevice_math` runs every function on the interpreter, the CPU (and
//! CUDA when a driver is present) and checks each result against Rust's `f32` functions (the
//! `libm` crate's `erff` for `erf`) and the interpreter's.

use bitmat::prelude::*;

/// The functions [`math_kernel`] applies, by its `function` constexpr.
pub const FUNCTIONS: [&str; 11] = [
    "sin", "cos", "tanh", "erf", "exp", "exp2", "log", "log2", "sqrt", "rsqrt", "sigmoid",
];

/// `y = f(x)` over `n_elements` for `f = FUNCTIONS[function]`, one block per program.
#[bitkernel]
pub fn math_kernel(
    x_ptr: Ptr<f32>,
    y_ptr: Ptr<f32>,
    n_elements: i32,
    #[constexpr] function: i32,
    #[constexpr] block_size: i32,
) {
    let pid = program_id(0);
    let block_start = pid * block_size;
    let offsets = block_start + arange(block_size);
    let mask = offsets < n_elements;
    let x = load(x_ptr + offsets, mask, 1.0);
    // Chosen when the kernel is specialized: each `function` is its own compiled kernel.
    let y = match FUNCTIONS[function as usize] {
        "sin" => x.sin(),
        "cos" => x.cos(),
        "tanh" => x.tanh(),
        "erf" => x.erf(),
        "exp" => x.exp(),
        "exp2" => x.exp2(),
        "log" => x.log(),
        "log2" => x.log2(),
        "sqrt" => x.sqrt(),
        "rsqrt" => x.rsqrt(),
        _ => x.sigmoid(),
    };
    store(y_ptr + offsets, y, mask);
}

/// `FUNCTIONS[function]` of each element of `x` on `device`.
pub fn apply(device: &Device, function: usize, x: &[f32]) -> Result<Vec<f32>, Error> {
    let xb = device.upload(x)?;
    let y = device.zeros::<f32>(x.len())?;
    let n_elements = i32::try_from(x.len()).expect("fits i32");
    let block_size = 1024;
    let grid = x.len().div_ceil(block_size as usize) as u32;
    math_kernel::launch(
        device,
        grid,
        &xb,
        &y,
        n_elements,
        function as i32,
        block_size,
    )?;
    Ok(y.to_vec()?)
}

/// `FUNCTIONS[function]` of `x` in plain Rust.
fn reference(function: usize, x: f32) -> f32 {
    match FUNCTIONS[function] {
        "sin" => x.sin(),
        "cos" => x.cos(),
        "tanh" => x.tanh(),
        "erf" => libm::erff(x),
        "exp" => x.exp(),
        "exp2" => x.exp2(),
        "log" => x.ln(),
        "log2" => x.log2(),
        "sqrt" => x.sqrt(),
        "rsqrt" => 1.0 / x.sqrt(),
        _ => 1.0 / (1.0 + (-x).exp()),
    }
}

/// Checks every function on `device` against plain Rust (within a few ulp) and against
/// `reference_out` (another device's outputs for the same inputs, when given); returns the
/// outputs.
pub fn check(device: &Device, reference_out: Option<&[Vec<f32>]>) -> Result<Vec<Vec<f32>>, String> {
    // Positive inputs (for log, sqrt) across a few periods of sin and cos, ragged length.
    let n = 5000 + 13;
    let x: Vec<f32> = (0..n)
        .map(|i| 0.01 + ((i * 7919) % 10007) as f32 / 1250.0)
        .collect();
    // Relative error allowed, in ulp: the CPU's bounds are 1 to 3 ulp; on a GPU `exp`, `tanh`
    // and `sigmoid` go through `ex2.approx` of a rounded product, within 8 ulp on these
    // inputs (`ptx/lower/math.rs` documents each bound).
    let ulps = if device.backend().is_gpu() { 8.0 } else { 4.0 };
    let mut outs = Vec::new();
    for (f, name) in FUNCTIONS.iter().enumerate() {
        let y = apply(device, f, &x).map_err(|e| e.to_string())?;
        for (i, (&got, &xi)) in y.iter().zip(&x).enumerate() {
            let want = reference(f, xi);
            if (got - want).abs() > 2e-6 + ulps * f32::EPSILON * want.abs() {
                return Err(format!(
                    "{device}: {name}({xi}) at {i} is {got}, want {want}"
                ));
            }
        }
        if let Some(r) = reference_out {
            // The CPU computes as the interpreter does, bit for bit; GPUs use their own
            // algorithms, within the bound above.
            if !device.backend().is_gpu() && r[f] != y {
                return Err(format!(
                    "{device}: {name} differs from the reference device"
                ));
            }
        }
        outs.push(y);
    }
    println!(
        "{device}: {} functions match Rust's over {n} elements",
        FUNCTIONS.len()
    );
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
