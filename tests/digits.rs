//! The digits pipeline of `examples/digits.rs` with fewer epochs: a small MLP trained in `f32`
//! on scikit-learn's digits reaches > 90% test accuracy, and its int4 quantization (W4A16 and
//! W4A8, groups of 32, on `Device::cpu()`) stays within 3 points of it, and its ternary
//! quantization (BitLinear) within 6. Reported as skipped, with the reason, when the data file
//! is not installed (`.ci/run` installs scikit-learn and requires it: `BITMAT_REQUIRE`).

#[path = "../examples/common/digits.rs"]
mod digits;
#[path = "../examples/common/pydata.rs"]
mod pydata;
#[path = "support/requirement.rs"]
mod requirement;

use bitmat::nn::Int4Mode;
use bitmat::Device;
use digits::{accuracy, Mlp};
use std::path::Path;

fn main() {
    requirement::run(vec![requirement::trial(
        "digits_mlp_quantized_accuracy_is_close_to_f32",
        "digits",
        digits::locate(),
        |path| {
            quantized_accuracy_is_close_to_f32(&path);
            Ok(())
        },
    )])
    .exit()
}

fn quantized_accuracy_is_close_to_f32(path: &Path) {
    let data = digits::load(path).unwrap();
    assert_eq!(data.len(), 1797);
    let (train, test) = data.split(0);
    assert_eq!((train.len(), test.len()), (1437, 360));
    let mlp = Mlp::train(&train, 8, 1);
    let device = Device::cpu();
    let f32_acc = accuracy(&mlp.predict(&test.x), &test.y);
    let w4a16 = accuracy(
        &mlp.predict_quantized(&device, &test.x, Some(Int4Mode::W4A16))
            .unwrap(),
        &test.y,
    );
    let w4a8 = accuracy(
        &mlp.predict_quantized(&device, &test.x, Some(Int4Mode::W4A8))
            .unwrap(),
        &test.y,
    );
    let ternary = accuracy(
        &mlp.predict_quantized(&device, &test.x, None).unwrap(),
        &test.y,
    );
    eprintln!(
        "digits test accuracy: f32 {f32_acc:.4}, int4 W4A16 {w4a16:.4}, int4 W4A8 {w4a8:.4}, \
         ternary {ternary:.4}"
    );
    assert!(f32_acc > 0.90, "f32 accuracy {f32_acc}");
    for (mode, acc) in [("W4A16", w4a16), ("W4A8", w4a8)] {
        assert!(
            acc >= f32_acc - 0.03,
            "int4 {mode} accuracy {acc} is more than 3 points below f32 {f32_acc}"
        );
    }
    // Ternary weights (1.58 bits) with int8 activations lose more than int4 on this small
    // MLP (measured: 0.939 against f32's 0.975, 3.6 points), but stay a good classifier.
    assert!(
        ternary >= f32_acc - 0.06,
        "ternary accuracy {ternary} is more than 6 points below f32 {f32_acc}"
    );
}
