//! `bitmat selftest`: every prebuilt kernel on random data against the plain-Rust references.

use bitmat::formats::{
    quantize_activations, quantize_int4, quantize_ternary, Int4Group, ScaleGranularity,
};
use bitmat::{f16, ops, reference, Device, Error};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The outcome of one check.
#[derive(Clone, Debug)]
pub struct CheckResult {
    /// Kernel and shape, e.g. `w2a8_matmul m=17 n=100 k=260`.
    pub name: String,
    /// Largest absolute difference from the reference.
    pub max_error: f64,
    /// The largest difference accepted.
    pub tolerance: f64,
}

impl CheckResult {
    /// Whether the kernel matched its reference.
    pub fn passed(&self) -> bool {
        self.max_error <= self.tolerance
    }
}

fn gaussian(rng: &mut StdRng, len: usize) -> Vec<f32> {
    // Sum of uniforms: close enough to a normal distribution for test data, no extra crate.
    (0..len)
        .map(|_| (0..4).map(|_| rng.gen_range(-1.0f32..1.0)).sum::<f32>() * 0.866)
        .collect()
}

/// The largest of `errors`, 0 if empty; a NaN error (a NaN output) counts as infinite, so it
/// fails every check (`f64::max` alone would skip it).
fn worst(errors: impl Iterator<Item = f64>) -> f64 {
    errors.fold(
        0.0,
        |m, e| if e.is_nan() { f64::INFINITY } else { m.max(e) },
    )
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f64 {
    if a.len() != b.len() {
        return f64::INFINITY;
    }
    worst(a.iter().zip(b).map(|(x, y)| f64::from((x - y).abs())))
}

/// Relative tolerance for `f32` outputs of magnitude `scale` that may be summed in another
/// order than the reference's.
fn float_tolerance(reference: &[f32]) -> f64 {
    let peak = reference
        .iter()
        .map(|v| f64::from(v.abs()))
        .fold(1.0, f64::max);
    peak * 1e-5
}

/// Runs every prebuilt kernel on `device` with random inputs from `seed`; one result per
/// kernel and shape. Errors only when a kernel cannot run at all.
pub fn run(device: &Device, seed: u64) -> Result<Vec<CheckResult>, Error> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut results = Vec::new();

    for &(m, n, k) in &[(1, 64, 260), (17, 100, 36)] {
        let x: Vec<i8> = (0..m * k).map(|_| rng.gen_range(-127..=127)).collect();
        let wq: Vec<i8> = (0..n * k).map(|_| rng.gen_range(-1..=1)).collect();
        let packed = bitmat::formats::pack_ternary(&wq, n, k)?;
        let got = ops::ternary_matmul(device, &x, m, k, &packed, n)?;
        let want = reference::matmul_i8_ternary(&x, m, k, &packed, n)?;
        // In i64: a wildly wrong i32 output must not overflow the subtraction.
        let err = worst(
            got.iter()
                .zip(&want)
                .map(|(&a, &b)| (i64::from(a) - i64::from(b)).abs() as f64),
        );
        results.push(CheckResult {
            name: format!("w2a8_matmul m={m} n={n} k={k}"),
            max_error: if got.len() == want.len() {
                err
            } else {
                f64::INFINITY
            },
            tolerance: 0.0,
        });
    }

    for &(m, n, k, per_row) in &[(3, 5, 260, true), (17, 64, 36, false)] {
        let xf = gaussian(&mut rng, m * k);
        let x = quantize_activations(&xf, m, k)?;
        let g = if per_row {
            ScaleGranularity::PerRow
        } else {
            ScaleGranularity::PerTensor
        };
        let w = quantize_ternary(&gaussian(&mut rng, n * k), n, k, g)?;
        let bias = gaussian(&mut rng, n);
        let got = ops::ternary_linear(device, &x, &w, Some(&bias))?;
        let want = reference::ternary_linear(&x, &w, Some(&bias))?;
        results.push(CheckResult {
            name: format!(
                "w2a8_linear m={m} n={n} k={k} {}",
                if per_row { "per-row" } else { "per-tensor" }
            ),
            max_error: max_abs_diff(&got, &want),
            tolerance: float_tolerance(&want),
        });
    }

    for &(m, n, k, group) in &[
        (1, 100, 288, Int4Group::Size(32)),
        (17, 5, 272, Int4Group::PerRow),
    ] {
        let x = quantize_activations(&gaussian(&mut rng, m * k), m, k)?;
        let w = quantize_int4(&gaussian(&mut rng, n * k), n, k, group)?;
        let got = ops::int4_w4a8(device, &x, &w)?;
        let want = reference::int4_w4a8(&x, &w)?;
        results.push(CheckResult {
            name: format!("w4a8_matmul m={m} n={n} k={k} group={}", w.group_size()),
            max_error: max_abs_diff(&got, &want),
            tolerance: float_tolerance(&want),
        });

        let xh: Vec<f16> = gaussian(&mut rng, m * k)
            .into_iter()
            .map(f16::from_f32)
            .collect();
        let got = ops::int4_w4a16(device, &xh, m, &w)?;
        let want = reference::int4_w4a16(&xh, m, &w)?;
        results.push(CheckResult {
            name: format!("w4a16_matmul m={m} n={n} k={k} group={}", w.group_size()),
            max_error: max_abs_diff(&got, &want),
            tolerance: float_tolerance(&want),
        });
    }

    for &(rows, cols) in &[(3, 300), (1, 64)] {
        let x = gaussian(&mut rng, rows * cols);
        let weight: Vec<f32> = (0..cols).map(|_| rng.gen_range(0.5..1.5)).collect();
        let got = ops::rmsnorm_quantize(device, &x, rows, cols, Some(&weight), 1e-5)?;
        let want = reference::rmsnorm_quantize(&x, rows, cols, Some(&weight), 1e-5)?;
        // Sums may be ordered differently than the reference's: a quantized value may sit on
        // the other side of a rounding boundary (off by one), and scales differ by a few ulps.
        let q_err = if got.values.len() == want.values.len() {
            worst(
                got.values
                    .iter()
                    .zip(&want.values)
                    .map(|(a, b)| f64::from((i32::from(*a) - i32::from(*b)).abs())),
            )
        } else {
            f64::INFINITY
        };
        results.push(CheckResult {
            name: format!("rmsnorm_quantize values rows={rows} cols={cols}"),
            max_error: q_err,
            tolerance: 1.0,
        });
        let s_err = if got.scales.len() == want.scales.len() {
            worst(
                got.scales
                    .iter()
                    .zip(&want.scales)
                    .map(|(a, b)| f64::from((a - b).abs() / b.abs())),
            )
        } else {
            f64::INFINITY
        };
        results.push(CheckResult {
            name: format!("rmsnorm_quantize scales (relative) rows={rows} cols={cols}"),
            max_error: s_err,
            tolerance: 1e-5,
        });
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_errors_fail_checks() {
        assert_eq!(worst([0.5, 2.0, 1.0].into_iter()), 2.0);
        assert_eq!(worst(std::iter::empty()), 0.0);
        assert_eq!(worst([0.5, f64::NAN, 1.0].into_iter()), f64::INFINITY);
        assert_eq!(max_abs_diff(&[1.0, f32::NAN], &[1.0, 2.0]), f64::INFINITY);
        assert_eq!(max_abs_diff(&[1.0], &[1.0, 2.0]), f64::INFINITY);
    }
}
