//! The CPU bench's peer: plain Rust over weights unpacked once, before timing (ternary codes
//! to `i8`, int4 to its dequantized `f32` values rounded through `f16` as
//! [`bitmat::reference::int4_w4a16`] does), with the output columns of each row spread over
//! rayon's threads as bitmat's CPU kernels spread their programs. It is what a careful user
//! writes without a kernel compiler: no packed-weight decoding in the timed loop, every core
//! busy, no SIMD intrinsics (the compiler may vectorize the inner loop).

use bitmat::f16;
use bitmat::formats::{unpack_ternary, FormatError, Int4Weights};
use rayon::prelude::*;

/// The name of this peer in reports.
pub const NAME: &str = "rust_unpacked";

/// The weights of one shape, unpacked.
pub struct Unpacked {
    /// Output features.
    pub n: usize,
    /// Input features.
    pub k: usize,
    /// Ternary weights `[n, k]`, -1, 0 or 1.
    pub ternary: Vec<i8>,
    /// int4 weights `[n, k]`, dequantized (and rounded to `f16`) as `f32`.
    pub int4: Vec<f32>,
}

impl Unpacked {
    /// Unpacks packed ternary weights and int4 weights of `[n, k]`.
    pub fn new(ternary: &[u8], int4: &Int4Weights) -> Result<Unpacked, FormatError> {
        let (n, k) = (int4.out_features, int4.in_features);
        let int4 = int4
            .dequantize()
            .into_iter()
            .map(|w| f16::from_f32(w).to_f32())
            .collect();
        Ok(Unpacked {
            n,
            k,
            ternary: unpack_ternary(ternary, n, k)?,
            int4,
        })
    }

    /// `c[m, n] = x[m, k] * ternary^T`, exact `i32` (wrapping like the kernel).
    pub fn ternary_matmul(&self, x: &[i8], m: usize) -> Vec<i32> {
        let (n, k) = (self.n, self.k);
        let mut c = vec![0i32; m * n];
        for (i, row) in c.chunks_mut(n).enumerate() {
            let xi = &x[i * k..(i + 1) * k];
            row.par_iter_mut().enumerate().for_each(|(j, out)| {
                let w = &self.ternary[j * k..(j + 1) * k];
                *out = xi.iter().zip(w).fold(0i32, |a, (&x, &w)| {
                    a.wrapping_add(i32::from(x) * i32::from(w))
                });
            });
        }
        c
    }

    /// `y[m, n] = x[m, k] * int4^T` in `f32`.
    pub fn int4_matmul(&self, x: &[f16], m: usize) -> Vec<f32> {
        let (n, k) = (self.n, self.k);
        let mut y = vec![0f32; m * n];
        for (i, row) in y.chunks_mut(n).enumerate() {
            let xi: Vec<f32> = x[i * k..(i + 1) * k].iter().map(|v| v.to_f32()).collect();
            row.par_iter_mut().enumerate().for_each(|(j, out)| {
                let w = &self.int4[j * k..(j + 1) * k];
                *out = xi.iter().zip(w).map(|(x, w)| x * w).sum();
            });
        }
        y
    }

    /// `sum_k |x[i, k] * int4[j, k]|` for each `j`: the scale of the rounding error of any
    /// `f32` summation order of row `i`'s outputs.
    pub fn int4_abs_dot(&self, xi: &[f16]) -> Vec<f64> {
        let k = self.k;
        (0..self.n)
            .into_par_iter()
            .map(|j| {
                let w = &self.int4[j * k..(j + 1) * k];
                xi.iter()
                    .zip(w)
                    .map(|(x, w)| f64::from((x.to_f32() * w).abs()))
                    .sum()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitmat::formats::{pack_ternary, Int4Group};
    use bitmat::reference;

    #[test]
    fn the_peer_computes_what_the_reference_does() {
        let (m, n, k) = (3, 5, 32);
        let wq: Vec<i8> = (0..n * k).map(|i| (i % 3) as i8 - 1).collect();
        let packed = pack_ternary(&wq, n, k).unwrap();
        let int4 = Int4Weights {
            out_features: n,
            in_features: k,
            group: Int4Group::Size(16),
            packed: (0..n * k / 16)
                .map(|i| 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(i as u64 + 1))
                .collect(),
            scales: (0..n * 2).map(|i| 0.01 * (1 + i % 5) as f32).collect(),
        };
        let peer = Unpacked::new(&packed, &int4).unwrap();
        let x: Vec<i8> = (0..m * k).map(|i| (i * 37 % 255) as i8).collect();
        assert_eq!(
            peer.ternary_matmul(&x, m),
            reference::matmul_i8_ternary(&x, m, k, &packed, n).unwrap()
        );
        let xh: Vec<f16> = (0..m * k)
            .map(|i| f16::from_f32((i % 9) as f32 / 4.0 - 1.0))
            .collect();
        let want = reference::int4_w4a16(&xh, m, &int4).unwrap();
        let got = peer.int4_matmul(&xh, m);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let bound = peer.int4_abs_dot(&xh[(i / n) * k..(i / n + 1) * k])[i % n];
            assert!(f64::from((g - w).abs()) <= 1e-6 * bound, "{i}: {g} vs {w}");
        }
    }
}
