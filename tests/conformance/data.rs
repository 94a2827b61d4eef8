//! Seeded random inputs: raw bit patterns (NaN, infinities, MIN/MAX, subnormals and every
//! other encoding) mixed with small "nice" values, or small finite values only.

// `bitmat_ir` rather than `bitmat::ir` (the same crate): bitmat-codegen's tests include
// this file too.
use bitmat_ir::{DType, HostData, Scalar};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A generator seeded by `seed` (every device of a test sees the same inputs).
pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// `n` elements of `dtype`: 70% raw random bits, 30% small values in `[-10, 10)` in steps of
/// 0.5 (so that floats also meet exact halves, equal values and small integers).
pub fn bits(dtype: DType, n: usize, rng: &mut StdRng) -> HostData {
    let mut d = HostData::zeros(dtype, n);
    for i in 0..n {
        let s = if dtype == DType::Bool {
            Scalar::from_bool(rng.gen())
        } else if rng.gen_bool(0.3) {
            Scalar::from_f64(dtype, f64::from(rng.gen_range(-20i32..20)) / 2.0)
        } else {
            Scalar::from_bits(dtype, rng.gen())
        };
        d.set(i, s);
    }
    d
}

/// Like [`bits`], but floats are finite: raw bit patterns (subnormals and the largest
/// values included) redrawn while they encode a NaN or an infinity.
pub fn finite_bits(dtype: DType, n: usize, rng: &mut StdRng) -> HostData {
    let mut d = bits(dtype, n, rng);
    for i in 0..n {
        while !d.get(i).unwrap().as_f64().is_finite() {
            d.set(i, Scalar::from_bits(dtype, rng.gen()));
        }
    }
    d
}

/// `n` small values of `dtype`: floats in `[-4, 4)`, integers in `[-100, 100)` (wrapped into
/// unsigned types), random booleans.
pub fn small(dtype: DType, n: usize, rng: &mut StdRng) -> HostData {
    let mut d = HostData::zeros(dtype, n);
    for i in 0..n {
        let s = if dtype.is_float() {
            Scalar::from_f64(dtype, rng.gen_range(-4.0..4.0))
        } else if dtype == DType::Bool {
            Scalar::from_bool(rng.gen())
        } else {
            Scalar::from_i64(dtype, rng.gen_range(-100..100))
        };
        d.set(i, s);
    }
    d
}

/// Replaces integer zeros by 3 (the interpreter reports a division by zero as an error).
pub fn nonzero(d: &mut HostData) {
    for i in 0..d.len() {
        let s = d.get(i).unwrap();
        if s.dtype().is_int() && s.bits() == 0 {
            d.set(i, Scalar::from_i64(s.dtype(), 3));
        }
    }
}

/// The magnitudes `|x|` of a buffer's elements, as `f64`.
pub fn magnitudes(d: &HostData) -> Vec<f64> {
    (0..d.len())
        .map(|i| d.get(i).unwrap().as_f64().abs())
        .collect()
}

/// `n` copies of `v`.
pub fn filled(v: Scalar, n: usize) -> HostData {
    let mut d = HostData::zeros(v.dtype(), n);
    for i in 0..n {
        d.set(i, v);
    }
    d
}

/// A buffer's elements as `f64`.
pub fn values(d: &HostData) -> Vec<f64> {
    (0..d.len()).map(|i| d.get(i).unwrap().as_f64()).collect()
}
