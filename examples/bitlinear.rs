//! BitMat's `BitLinear` in bitmat: `cargo run --example bitlinear`.

use bitmat::nn::BitLinear;
use bitmat::{f16, Device};

fn main() -> Result<(), bitmat::Error> {
    let device = Device::cpu();
    let (in_features, out_features) = (64, 32);
    let weight: Vec<f32> = (0..out_features * in_features)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 500.0)
        .collect(); // [out, in], quantized to ternary and packed once, here
    let bias = vec![0.1f32; out_features];
    let layer = BitLinear::new(
        &device,
        &weight,
        in_features,
        out_features,
        Some(&bias),
        1e-5,
    )?;
    let x: Vec<f16> = (0..2 * 3 * in_features)
        .map(|i| f16::from_f32((i as f32 * 0.1).sin()))
        .collect();
    let y = layer.forward(&x, &[2, 3, in_features])?; // RMSNorm -> int8 -> ternary matmul
    println!(
        "y: {:?} = {:?}...",
        layer.output_shape(&[2, 3, in_features])?,
        &y[..4]
    );
    Ok(())
}
