//! Plain-Rust references of the parity kernels, in `f64`, each with the difference a
//! correct kernel may show (its rounding bound), and [`compare`], which turns the first
//! output outside its bound into a [`ParityMismatch`].
//!
//! Bounds (`u = 2^-24`, the `f32` unit roundoff):
//! - vector add: exact (one correctly rounded `f32` add);
//! - softmax: `exp` on GPUs is approximate (`ex2.approx`, within `2^-19` relative for the
//!   arguments here, `|x - max| <= 16`), the row sum of `n` positive terms adds `2 (n - 1) u`
//!   and the division one rounding; the bound is twice the sum, relative to the output;
//! - cumsum: each output is a sum of the row's first terms added in a tree of at most
//!   `log2(n) + 1` levels (Hillis–Steele in bitmat, Triton's scan in its own order), within
//!   `(log2(n) + 1) u sum |x_j|`; the bound is twice that;
//! - layer norm: the mean and variance are sums of `n` terms (`n u` relative to the row's
//!   largest `|x|`), the square root may be approximate (`2^-21`), and the `f16` output adds
//!   half an ulp (`2^-11` relative, `2^-25` below the normal range); twice the propagated sum;
//! - fp16 matmul: `f16` products are exact in `f32`, the sum of `K` of them in another order
//!   is within `4 (K + 2) u sum_k |a_k b_k|` (as `bench::check` bounds cuBLAS), then the `f16`
//!   rounding;
//! - BitMat's ternary kernel: exact (integer sums below `2^24` are exact in `f32`, and the
//!   `f16` rounding of an exact value is unique).

use bitmat::checkpoint::import::{bitmat_ternary, BitMatLayout};
use bitmat::f16;

const U: f64 = f32::EPSILON as f64 / 2.0;
/// Half an `f16` ulp, relative.
const F16_HALF_ULP: f64 = 1.0 / 2048.0;
/// Half the smallest `f16` subnormal step, absolute.
const F16_TINY: f64 = 1.0 / (1u64 << 25) as f64;

/// An output of a parity kernel outside its bound: the bench reports no time for it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "{kernel} {shape}: {output}[{index}] is {got}, the plain-Rust reference says {want} \
     (accepted difference {tolerance:e}); the timing of a wrong result is not reported"
)]
pub struct ParityMismatch {
    /// The parity kernel.
    pub kernel: String,
    /// Its shape, as the table prints it.
    pub shape: String,
    /// Which output (`y`, `mean`, `rstd`, `c`).
    pub output: &'static str,
    /// The flat index of the output checked.
    pub index: usize,
    /// What the kernel computed.
    pub got: f64,
    /// What the reference computed.
    pub want: f64,
    /// The difference accepted there.
    pub tolerance: f64,
}

/// Expected values of one output, each with its accepted difference.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Expected {
    /// The reference's values.
    pub want: Vec<f64>,
    /// The accepted difference of each.
    pub tolerance: Vec<f64>,
}

impl Expected {
    fn push(&mut self, want: f64, tolerance: f64) {
        self.want.push(want);
        self.tolerance.push(tolerance);
    }
}

/// What a comparison names in its error: the kernel, its shape and the output.
#[derive(Copy, Clone, Debug)]
pub struct Subject<'a> {
    /// The parity kernel.
    pub kernel: &'a str,
    /// Its shape.
    pub shape: &'a str,
    /// The output's name.
    pub output: &'static str,
}

/// `got` (the kernel's output at the reference's positions, in order) against `expected`:
/// the first value outside its bound (a NaN never is within one) is the error.
pub fn compare(subject: Subject, got: &[f64], expected: &Expected) -> Result<(), ParityMismatch> {
    let bad = |index: usize, got: f64, want: f64, tolerance: f64| ParityMismatch {
        kernel: subject.kernel.to_string(),
        shape: subject.shape.to_string(),
        output: subject.output,
        index,
        got,
        want,
        tolerance,
    };
    if got.len() != expected.want.len() {
        return Err(bad(
            got.len().min(expected.want.len()),
            f64::NAN,
            f64::NAN,
            0.0,
        ));
    }
    for (i, (&g, (&w, &t))) in got
        .iter()
        .zip(expected.want.iter().zip(&expected.tolerance))
        .enumerate()
    {
        let within = if w.is_infinite() {
            g == w
        } else {
            (g - w).abs() <= t
        };
        if !within {
            return Err(bad(i, g, w, t));
        }
    }
    Ok(())
}

/// Tutorial 01: `x + y`, exact.
pub fn vector_add(x: &[f32], y: &[f32]) -> Expected {
    let mut e = Expected::default();
    for (&a, &b) in x.iter().zip(y) {
        e.push(f64::from(a + b), 0.0);
    }
    e
}

/// The inclusive scan of each of the rows of `cols` values of `x`.
pub fn cumsum(x: &[f32], cols: usize) -> Expected {
    let levels = f64::from(cols.next_power_of_two().trailing_zeros() + 1);
    let mut e = Expected::default();
    for row in x.chunks(cols) {
        let (mut sum, mut magnitude) = (0.0, 0.0);
        for &v in row {
            sum += f64::from(v);
            magnitude += f64::from(v).abs();
            e.push(sum, 2.0 * levels * U * magnitude);
        }
    }
    e
}

/// Tutorial 02: the softmax of each of the `rows` rows of `cols` values of `x`.
pub fn softmax(x: &[f32], cols: usize) -> Expected {
    const EXP: f64 = 1.0 / (1u64 << 19) as f64;
    let rel = 2.0 * (2.0 * EXP + 2.0 * cols as f64 * U + U);
    let mut e = Expected::default();
    for row in x.chunks(cols) {
        let max = row
            .iter()
            .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
        let exps: Vec<f64> = row.iter().map(|&v| (f64::from(v) - max).exp()).collect();
        let sum: f64 = exps.iter().sum();
        for v in exps {
            let want = v / sum;
            e.push(want, rel * want + f64::from(f32::MIN_POSITIVE));
        }
    }
    e
}

/// What tutorial 05's forward pass writes: `y` (`f16`), each row's mean and `rstd`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LayerNorm {
    /// `(x - mean) * rstd * w + b`, `[rows, cols]`.
    pub y: Expected,
    /// The mean of each row.
    pub mean: Expected,
    /// `1 / sqrt(var + eps)` of each row.
    pub rstd: Expected,
}

/// Tutorial 05, forward: the layer norm of the rows of `cols` values of `x` with weight `w`
/// and bias `b` (`cols` each).
pub fn layer_norm(x: &[f16], w: &[f16], b: &[f16], cols: usize, eps: f32) -> LayerNorm {
    const SQRT: f64 = 1.0 / (1u64 << 21) as f64;
    let n = cols as f64;
    let mut out = LayerNorm::default();
    for row in x.chunks(cols) {
        let xs: Vec<f64> = row.iter().map(|v| f64::from(v.to_f32())).collect();
        let max_abs = xs.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        let rstd = 1.0 / (var + f64::from(eps)).sqrt();
        // The mean's error, and the relative error of rstd: the variance's sum, the mean's
        // error (which moves the variance by its square only: the deviations sum to 0), the
        // square root and the division.
        let mean_err = (n + 2.0) * U * max_abs;
        let rstd_rel = (n + 2.0) * U + (mean_err * rstd).powi(2) + SQRT + 2.0 * U;
        out.mean.push(mean, 2.0 * mean_err);
        out.rstd.push(rstd, 2.0 * rstd_rel * rstd);
        for ((&v, w), b) in xs.iter().zip(w).zip(b) {
            let (w, b) = (f64::from(w.to_f32()), f64::from(b.to_f32()));
            let x_hat = (v - mean) * rstd;
            let want = x_hat * w + b;
            let err = w.abs() * (mean_err * rstd + x_hat.abs() * (rstd_rel + 2.0 * U))
                + 2.0 * U * ((x_hat * w).abs() + b.abs());
            // The kernel's f16 rounding of a value within `err` of `want`, seen from the
            // reference's own rounding of `want`; doubled.
            let tol = 2.0 * (2.0 * F16_HALF_ULP * (want.abs() + err) + 2.0 * F16_TINY + err);
            out.y.push(f64::from(f16::from_f64(want).to_f32()), tol);
        }
    }
    out
}

/// Tutorial 03: rows `rows` of `c = a x b` (`a` `[m, k]`, `b` `[k, n]`), rounded to `f16`.
pub fn matmul_f16(a: &[f16], b: &[f16], n: usize, k: usize, rows: &[usize]) -> Expected {
    let b64: Vec<f64> = b.iter().map(|v| f64::from(v.to_f32())).collect();
    let mut e = Expected::default();
    for &r in rows {
        let arow: Vec<f64> = a[r * k..(r + 1) * k]
            .iter()
            .map(|v| f64::from(v.to_f32()))
            .collect();
        for col in 0..n {
            let (mut sum, mut abs) = (0.0, 0.0);
            for (kk, &x) in arow.iter().enumerate() {
                let p = x * b64[kk * n + col];
                sum += p;
                abs += p.abs();
            }
            let err = 4.0 * (k as f64 + 2.0) * U * abs;
            let want = f64::from(f16::from_f64(sum).to_f32());
            // The f16 rounding of a value within `err` of `sum`, seen from the rounded `want`.
            e.push(
                want,
                2.0 * F16_HALF_ULP * (sum.abs() + err) + 2.0 * F16_TINY + err,
            );
        }
    }
    e
}

/// BitMat's ternary kernel: rows `rows` of `c = a x W` (`a` `i8` `[m, k]`, `W` ternary in
/// BitMat's `[k / 4, n]` packing), exact, rounded to `f16`. The weights go through bitmat's
/// importer of that layout ([`bitmat_ternary`]) and the canonical reference
/// ([`bitmat::reference::matmul_i8_ternary`]).
pub fn ternary_bitmat(
    a: &[i8],
    packed_kn: &[i8],
    n: usize,
    k: usize,
    rows: &[usize],
) -> Result<Expected, bitmat::Error> {
    let bytes: Vec<u8> = packed_kn.iter().map(|&b| b as u8).collect();
    let w = bitmat_ternary(&bytes, BitMatLayout::KernelKN, n, k, 1.0)?;
    let sampled: Vec<i8> = rows
        .iter()
        .flat_map(|&r| a[r * k..(r + 1) * k].iter().copied())
        .collect();
    let c = bitmat::reference::matmul_i8_ternary(&sampled, rows.len(), k, &w.packed, n)?;
    let mut e = Expected::default();
    for v in c {
        e.push(f64::from(f16::from_f32(v as f32).to_f32()), 0.0);
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject() -> Subject<'static> {
        Subject {
            kernel: "k",
            shape: "2x2",
            output: "y",
        }
    }

    #[test]
    fn compare_names_the_first_value_outside_its_bound() {
        let e = Expected {
            want: vec![1.0, 2.0, f64::INFINITY],
            tolerance: vec![0.0, 0.5, 0.0],
        };
        assert!(compare(subject(), &[1.0, 2.4, f64::INFINITY], &e).is_ok());
        let err = compare(subject(), &[1.0, 2.6, f64::INFINITY], &e).unwrap_err();
        assert_eq!((err.index, err.got, err.want), (1, 2.6, 2.0));
        assert!(err.to_string().contains("k 2x2: y[1] is 2.6"), "{err}");
        assert!(compare(subject(), &[1.0, f64::NAN, f64::INFINITY], &e).is_err());
        assert!(compare(subject(), &[1.0, 2.0, f64::NEG_INFINITY], &e).is_err());
        assert!(compare(subject(), &[1.0, 2.0], &e).is_err());
    }

    #[test]
    fn softmax_rows_sum_to_one() {
        let x = [0.5f32, -1.0, 2.0, 0.0, 0.0, 0.0];
        let e = softmax(&x, 3);
        for row in e.want.chunks(3) {
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
        assert!((e.want[3] - 1.0 / 3.0).abs() < 1e-12);
    }
}
