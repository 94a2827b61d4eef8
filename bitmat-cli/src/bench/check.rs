//! Checking a benchmark's outputs: the last timed launch's output against the plain-Rust
//! reference ([`bitmat::reference`]) on a few rows (the first, middle and last: the
//! reference is one scalar loop, too slow for every row of a large `M`), and a peer's output
//! against bitmat's on every row.
//!
//! Integer outputs must be equal to the reference's. Float outputs of K terms summed in another order than the
//! reference's may differ by at most `2 (K + 2) u * sum_k |x_k w_k|` (`u = 2^-24`, the f32
//! unit roundoff; the standard bound for recursive summation is `(K - 1) u` times that sum, and
//! the kernel's per-group scaling adds a rounding per group), which the check computes per
//! output. An fp16 peer (cuBLAS) rounds each output to f16 after summing in f32: it may differ
//! from bitmat by half an f16 ulp (`|y| 2^-11`, `2^-25` below the normal range) plus both
//! summation errors; outputs beyond the f16 range must be infinities of the same sign.

use super::host_peer::Unpacked;
use bitmat::f16;

/// An output that differs from what it is checked against.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "{kernel} M={m} N={n} K={k}: output [{row}, {col}] is {got}, {against} says {want} \
     (accepted difference {tolerance:e}); the timing of a wrong result is not reported"
)]
pub struct Mismatch {
    /// The bench kernel.
    pub kernel: &'static str,
    /// Rows of activations.
    pub m: usize,
    /// Output features.
    pub n: usize,
    /// Input features.
    pub k: usize,
    /// The output's row.
    pub row: usize,
    /// The output's column.
    pub col: usize,
    /// What bitmat computed.
    pub got: f64,
    /// What the reference (or peer) computed.
    pub want: f64,
    /// The difference accepted there.
    pub tolerance: f64,
    /// `the reference` or the peer's name.
    pub against: String,
}

/// The rows the reference checks: the first, the middle and the last of `m`.
pub fn sample_rows(m: usize) -> Vec<usize> {
    let mut rows = vec![0, m / 2, m.saturating_sub(1)];
    rows.dedup();
    rows
}

/// The rows `rows` of the `[.., width]` matrix `data`, concatenated.
pub fn gather_rows<T: Copy>(data: &[T], width: usize, rows: &[usize]) -> Vec<T> {
    rows.iter()
        .flat_map(|&r| data[r * width..(r + 1) * width].iter().copied())
        .collect()
}

/// What a check compares: the kernel and shape, and what it is compared against.
pub struct Against<'a> {
    /// The bench kernel.
    pub kernel: &'static str,
    /// Rows of activations, output and input features.
    pub mnk: (usize, usize, usize),
    /// `the reference` or a peer's name.
    pub name: &'a str,
}

impl Against<'_> {
    fn mismatch(&self, row: usize, col: usize, got: f64, want: f64, tol: f64) -> Mismatch {
        let (m, n, k) = self.mnk;
        Mismatch {
            kernel: self.kernel,
            m,
            n,
            k,
            row,
            col,
            got,
            want,
            tolerance: tol,
            against: self.name.to_string(),
        }
    }

    /// Integer outputs of rows `rows` (`got` and `want` hold those rows only): equal.
    pub fn exact(&self, rows: &[usize], got: &[i32], want: &[i32]) -> Result<(), Mismatch> {
        let n = self.mnk.1;
        match got.iter().zip(want).position(|(g, w)| g != w) {
            Some(i) => Err(self.mismatch(
                rows[i / n],
                i % n,
                f64::from(got[i]),
                f64::from(want[i]),
                0.0,
            )),
            None => Ok(()),
        }
    }

    /// int4 `f32` outputs of rows `rows` of activations `x` (all rows): within the module's
    /// bound, computed from the unpacked weights.
    pub fn int4(
        &self,
        rows: &[usize],
        x: &[f16],
        weights: &Unpacked,
        got: &[f32],
        want: &[f32],
    ) -> Result<(), Mismatch> {
        let (_, n, k) = self.mnk;
        let u = f64::from(f32::EPSILON) / 2.0;
        for (r, &row) in rows.iter().enumerate() {
            let scale = weights.int4_abs_dot(&x[row * k..(row + 1) * k]);
            for col in 0..n {
                let (g, w) = (f64::from(got[r * n + col]), f64::from(want[r * n + col]));
                let tol = 2.0 * (k as f64 + 2.0) * u * scale[col];
                // A NaN never passes: it is not within any tolerance.
                let within = (g - w).abs() <= tol;
                if !within {
                    return Err(self.mismatch(row, col, g, w, tol));
                }
            }
        }
        Ok(())
    }
}

impl Against<'_> {
    /// `f32` outputs of rows `rows`: within `rel` of `want` relative to `max(|want|, 1)`.
    pub fn relative(
        &self,
        rows: &[usize],
        got: &[f32],
        want: &[f32],
        rel: f64,
    ) -> Result<(), Mismatch> {
        let n = self.mnk.1;
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            let (g, w) = (f64::from(g), f64::from(w));
            let tol = rel * w.abs().max(1.0);
            // A NaN never passes: it is not within any tolerance.
            let within = (g - w).abs() <= tol;
            if !within {
                return Err(self.mismatch(rows[i / n], i % n, g, w, tol));
            }
        }
        Ok(())
    }

    /// bitmat's outputs `got` of rows `rows` against an fp16 peer's `want`, with `sums[i]` the
    /// `sum_k |x_k w_k|` of output `i` (0 where both sums are exact), as the module docs say.
    pub fn fp16_peer(
        &self,
        rows: &[usize],
        got: &[f64],
        want: &[f32],
        sums: &[f64],
    ) -> Result<(), Mismatch> {
        let (_, n, k) = self.mnk;
        let u = f64::from(f32::EPSILON) / 2.0;
        let f16_max = f64::from(f16::MAX.to_f32());
        for (i, ((&g, &w), &sum)) in got.iter().zip(want).zip(sums).enumerate() {
            let w = f64::from(w);
            let tol = g.abs() * 2f64.powi(-11) + 2f64.powi(-25) + 4.0 * (k as f64 + 2.0) * u * sum;
            let ok = if w.is_infinite() {
                w.signum() == g.signum() && g.abs() + tol >= f16_max
            } else {
                (g - w).abs() <= tol
            };
            if !ok {
                return Err(self.mismatch(rows[i / n], i % n, g, w, tol));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_sampled_and_gathered() {
        assert_eq!(sample_rows(1), [0]);
        assert_eq!(sample_rows(2), [0, 1]);
        assert_eq!(sample_rows(4096), [0, 2048, 4095]);
        assert_eq!(gather_rows(&[1, 2, 3, 4, 5, 6], 2, &[0, 2]), [1, 2, 5, 6]);
    }

    #[test]
    fn a_wrong_integer_is_reported_with_its_position() {
        let a = Against {
            kernel: "ternary_w2a8",
            mnk: (4096, 3, 8),
            name: "the reference",
        };
        assert!(a
            .exact(&[0, 4095], &[1, 2, 3, 4, 5, 6], &[1, 2, 3, 4, 5, 6])
            .is_ok());
        let e = a
            .exact(&[0, 4095], &[1, 2, 3, 4, 0, 6], &[1, 2, 3, 4, 5, 6])
            .unwrap_err();
        assert_eq!((e.row, e.col, e.got, e.want), (4095, 1, 0.0, 5.0));
        assert!(
            e.to_string()
                .contains("output [4095, 1] is 0, the reference says 5"),
            "{e}"
        );
    }

    #[test]
    fn an_fp16_peer_may_round_and_overflow_but_not_differ() {
        let a = Against {
            kernel: "ternary_w2a8",
            mnk: (1, 4, 8192),
            name: "cublas_fp16",
        };
        let zero = [0.0; 4];
        // 2049 is not an f16: it rounds to 2048 (or 2050); 70000 overflows to +inf.
        let got = [2049.0, -3.0, 70000.0, 0.5];
        assert!(a
            .fp16_peer(&[0], &got, &[2048.0, -3.0, f32::INFINITY, 0.5], &zero)
            .is_ok());
        let e = a.fp16_peer(&[0], &got, &[2048.0, -3.0, f32::NEG_INFINITY, 0.5], &zero);
        assert_eq!(e.unwrap_err().col, 2);
        let e = a.fp16_peer(&[0], &got, &[2048.0, -3.0, f32::INFINITY, 0.25], &zero);
        assert_eq!(e.unwrap_err().col, 3);
        let e = a.fp16_peer(&[0], &got, &[2048.0, f32::NAN, f32::INFINITY, 0.5], &zero);
        assert_eq!(e.unwrap_err().col, 1);
        // A float sum's rounding scales with sum_k |x_k w_k|.
        let sums = [0.0, 0.0, 0.0, 1000.0];
        assert!(a
            .fp16_peer(&[0], &got, &[2048.0, -3.0, f32::INFINITY, 0.501], &sums)
            .is_ok());
    }
}
