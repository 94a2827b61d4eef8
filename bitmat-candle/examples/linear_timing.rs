//! Time per batch of bitmat's layers in candle against candle's own f32 `Linear`, on the CPU,
//! same input, same weights (`BitLinear` ternary W2A8 with its fused RMSNorm + int8
//! quantization, `Int4Linear` group 128 in W4A16 and W4A8), for a few batch sizes of one
//! 4096 x 4096 layer. Medians of repeated forwards, after a warm-up that also tunes the
//! kernels for each shape.
//!
//! `cargo run --release -p bitmat-candle --example linear_timing`.

#[path = "common/timing.rs"]
mod timing;

use bitmat::formats::Int4Group;
use bitmat::nn::{BitLinearOptions, Int4Mode};
use bitmat::Device;
use bitmat_candle::{BitLinear, Int4Linear};
use candle_core::{Device as CDevice, Module, Tensor};
use std::error::Error;

const FEATURES: usize = 4096;

fn main() -> Result<(), Box<dyn Error>> {
    let device = Device::cpu();
    let w = Tensor::randn(0f32, 0.02, (FEATURES, FEATURES), &CDevice::Cpu)?;
    let float = candle_nn::Linear::new(w.clone(), None);
    let options = BitLinearOptions::default();
    let ternary = BitLinear::from_weight(&device, &w, None, &options)?;
    let int4 = |mode| Int4Linear::from_weight(&device, &w, None, Int4Group::Size(128), mode);
    let layers: [(&str, Box<dyn Module>); 4] = [
        ("candle f32 Linear", Box::new(float)),
        ("BitLinear (W2A8)", Box::new(ternary)),
        ("Int4Linear W4A16", Box::new(int4(Int4Mode::W4A16)?)),
        ("Int4Linear W4A8", Box::new(int4(Int4Mode::W4A8)?)),
    ];
    println!("{device:?}, layer {FEATURES} x {FEATURES}, f32 input [M, {FEATURES}]; median ms per forward");
    print!("{:<20}", "M");
    for (name, _) in &layers {
        print!("{name:>20}");
    }
    println!();
    for m in [1, 16, 128] {
        let x = Tensor::randn(0f32, 1.0, (m, FEATURES), &CDevice::Cpu)?;
        print!("{m:<20}");
        for (_, layer) in &layers {
            let t = timing::median_time(10, || layer.forward(&x))?;
            print!("{:>20.3}", t * 1e3);
        }
        println!();
    }
    Ok(())
}
