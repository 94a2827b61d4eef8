//! Int4 and ternary inference on real handwritten digits: scikit-learn's digits data set
//! (1797 8x8 images), a 64 -> 128 -> 10 MLP trained here in plain Rust `f32`, then both layers
//! quantized to int4 (`Int4Linear`, groups of 32, W4A16 and W4A8) and to ternary (`BitLinear`),
//! with the test accuracy of each side by side.
//!
//! `pip install --no-deps scikit-learn` (only its data file is read; or set `BITMAT_DIGITS` to
//! `digits.csv.gz`), then `cargo run --release --example digits`.

#[path = "common/digits.rs"]
mod digits;
#[path = "common/pydata.rs"]
mod pydata;

use bitmat::nn::Int4Mode;
use bitmat::Device;
use digits::{accuracy, Mlp};
use std::error::Error;
use std::time::Instant;

const EPOCHS: usize = 30;

fn main() -> Result<(), Box<dyn Error>> {
    let path = digits::locate()?;
    let data = digits::load(&path)?;
    let (train, test) = data.split(0);
    println!(
        "{}: {} images, {} to train, {} to test",
        path.display(),
        data.len(),
        train.len(),
        test.len()
    );
    let start = Instant::now();
    let mlp = Mlp::train(&train, EPOCHS, 1);
    println!(
        "trained 64 -> {} -> {} for {EPOCHS} epochs in {:.1?}",
        digits::HIDDEN,
        digits::CLASSES,
        start.elapsed()
    );
    let device = Device::cpu();
    let results = [
        ("f32", mlp.predict(&test.x)),
        (
            "int4 W4A16",
            mlp.predict_quantized(&device, &test.x, Some(Int4Mode::W4A16))?,
        ),
        (
            "int4 W4A8",
            mlp.predict_quantized(&device, &test.x, Some(Int4Mode::W4A8))?,
        ),
        ("ternary", mlp.predict_quantized(&device, &test.x, None)?),
    ];
    println!("test accuracy:");
    for (name, predicted) in &results {
        println!("  {name:<11} {:6.2}%", 100.0 * accuracy(predicted, &test.y));
    }
    println!("(int4: groups of 32; ternary: one absmean scale per tensor, not trained for it)");
    Ok(())
}
