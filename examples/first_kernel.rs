//! A first bitmat kernel: `y = relu(x) * scale` over a vector, block by block.
//!
//! Run with `cargo run --example first_kernel`.

use bitmat::prelude::*;

#[bitkernel]
fn scaled_relu(x: Ptr<f32>, y: Ptr<f32>, n: i32, scale: f32, #[constexpr] block: i32) {
    let offs = program_id(0) * block + arange(block); // this program's indices
    let mask = offs < n; // the last block is ragged
    let v = load(x + offs, mask, 0.0);
    store(y + offs, maximum(v, 0.0) * scale, mask);
}

fn main() -> Result<(), bitmat::Error> {
    let device = Device::cpu();
    let x: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) / 100.0).collect();
    let xb = device.upload(&x)?;
    let yb = device.zeros::<f32>(x.len())?;
    let block = 256;
    let grid = x.len().div_ceil(block) as u32;
    scaled_relu::launch(&device, grid, &xb, &yb, x.len() as i32, 2.0, block as i32)?;

    let y = yb.to_vec()?;
    let expected: Vec<f32> = x.iter().map(|v| v.max(0.0) * 2.0).collect();
    assert_eq!(y, expected);
    println!("scaled_relu on {device}: y[995..] = {:?}", &y[995..]);
    println!(
        "\nIR of the kernel for block = 256:\n{}",
        scaled_relu::ir(256)?
    );
    Ok(())
}
