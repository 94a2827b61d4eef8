//! Scalar constants and the conversion rules shared by the builder, the interpreter and the
//! backends. Casts follow Rust's `as`: integers wrap or extend, float-to-int saturates (NaN to 0),
//! int-to-float rounds to nearest.
//!
//! The 8-bit floats (`f8e4m3`, `f8e5m2`) follow PTX's `cvt.rn.satfinite`: a conversion to them
//! rounds to nearest even and saturates, so a finite value beyond the largest finite one and an
//! infinity become that largest value with their sign (448 for e4m3, 57344 for e5m2; e5m2's own
//! infinities only come from bit patterns), and a NaN becomes the fp8 NaN `S.1111.111` with
//! the source's sign. A conversion from them is exact, except that a NaN becomes the positive
//! canonical quiet NaN of the destination (`f32::NAN`, `f16::NAN`, `bf16::NAN`).

use crate::types::DType;
use float8::{F8E4M3, F8E5M2};
use half::{bf16, f16};
use std::fmt;

/// A scalar of a given [`DType`], stored as its bit pattern zero-extended to 64 bits.
///
/// Equality and hashing compare bits, so `Scalar`s can key caches (NaN equals itself).
#[derive(Copy, Clone, PartialEq, Eq, Hash)]
pub struct Scalar {
    dtype: DType,
    bits: u64,
}

fn mask(bits: u32) -> u64 {
    if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

impl Scalar {
    /// The scalar with raw bit pattern `bits` (extra high bits are dropped).
    pub fn from_bits(dtype: DType, bits: u64) -> Scalar {
        let bits = if dtype == DType::Bool {
            u64::from(bits & 1 != 0)
        } else {
            bits & mask(dtype.bits())
        };
        Scalar { dtype, bits }
    }

    /// The element type.
    pub fn dtype(self) -> DType {
        self.dtype
    }

    /// The raw bit pattern, zero-extended.
    pub fn bits(self) -> u64 {
        self.bits
    }

    /// A boolean scalar.
    pub fn from_bool(v: bool) -> Scalar {
        Scalar::from_bits(DType::Bool, u64::from(v))
    }

    /// `v` converted to `dtype` as Rust's `v as T` would (wrapping for integers).
    pub fn from_i64(dtype: DType, v: i64) -> Scalar {
        Scalar::from_bits(DType::I64, v as u64).cast(dtype)
    }

    /// `v` converted to `dtype` as Rust's `v as T` would (saturating for integers).
    pub fn from_f64(dtype: DType, v: f64) -> Scalar {
        match dtype {
            DType::F32 => Scalar::from_bits(dtype, u64::from((v as f32).to_bits())),
            // `half`'s own f64 conversions drop low bits before rounding; round to odd in f32
            // first, which rounds correctly to any narrower type.
            DType::F16 => Scalar::from_bits(
                dtype,
                u64::from(f16::from_f32(f64_to_f32_round_to_odd(v)).to_bits()),
            ),
            DType::BF16 => Scalar::from_bits(
                dtype,
                u64::from(bf16::from_f32(f64_to_f32_round_to_odd(v)).to_bits()),
            ),
            DType::F8E4M3 | DType::F8E5M2 => {
                Scalar::from_bits(dtype, u64::from(f64_to_fp8(dtype, v)))
            }
            DType::Bool => Scalar::from_bool(v != 0.0),
            DType::I8 => Scalar::from_bits(dtype, (v as i8) as u64),
            DType::U8 => Scalar::from_bits(dtype, u64::from(v as u8)),
            DType::I16 => Scalar::from_bits(dtype, (v as i16) as u64),
            DType::U16 => Scalar::from_bits(dtype, u64::from(v as u16)),
            DType::I32 => Scalar::from_bits(dtype, (v as i32) as u64),
            DType::U32 => Scalar::from_bits(dtype, u64::from(v as u32)),
            DType::I64 => Scalar::from_bits(dtype, (v as i64) as u64),
            DType::U64 => Scalar::from_bits(dtype, v as u64),
        }
    }

    /// The zero of `dtype`.
    pub fn zero(dtype: DType) -> Scalar {
        Scalar::from_bits(dtype, 0)
    }

    /// The value as a boolean (non-zero is true).
    pub fn as_bool(self) -> bool {
        if self.dtype.is_float() {
            self.as_f64() != 0.0
        } else {
            self.bits != 0
        }
    }

    /// The value as `i64`: sign-extended for signed types, zero-extended for unsigned ones,
    /// `as i64` (saturating) for floats.
    pub fn as_i64(self) -> i64 {
        match self.dtype {
            DType::I8 => self.bits as u8 as i8 as i64,
            DType::I16 => self.bits as u16 as i16 as i64,
            DType::I32 => self.bits as u32 as i32 as i64,
            DType::F16 | DType::BF16 | DType::F32 | DType::F8E4M3 | DType::F8E5M2 => {
                self.as_f64() as i64
            }
            _ => self.bits as i64,
        }
    }

    /// The value as `u64`, with the same rules as `as u64` in Rust.
    pub fn as_u64(self) -> u64 {
        if self.dtype.is_float() {
            self.as_f64() as u64
        } else {
            self.as_i64() as u64
        }
    }

    /// The value as `f64` (exact for every type but the widest integers).
    pub fn as_f64(self) -> f64 {
        match self.dtype {
            DType::F32 => f64::from(f32::from_bits(self.bits as u32)),
            DType::F16 => f16::from_bits(self.bits as u16).to_f64(),
            DType::BF16 => bf16::from_bits(self.bits as u16).to_f64(),
            DType::F8E4M3 | DType::F8E5M2 => fp8_to_f64(self.dtype, self.bits as u8),
            DType::U64 => self.bits as f64,
            _ => self.as_i64() as f64,
        }
    }

    /// The value as `f32` (`as f32` in Rust for integers, exact for narrower floats).
    pub fn as_f32(self) -> f32 {
        match self.dtype {
            DType::F32 => f32::from_bits(self.bits as u32),
            DType::F16 | DType::BF16 | DType::F8E4M3 | DType::F8E5M2 => self.as_f64() as f32,
            DType::U64 => self.bits as f32,
            _ => self.as_i64() as f32,
        }
    }

    /// Converts to `to` with the semantics of Rust's `as` (bool converts to 0/1, and any type
    /// converts to bool as "non-zero").
    pub fn cast(self, to: DType) -> Scalar {
        if to == self.dtype {
            // A value is its own type already (an fp8 infinity stays one: only a conversion
            // from another type saturates).
            return self;
        }
        if to == DType::Bool {
            return Scalar::from_bool(self.as_bool());
        }
        if self.dtype.is_fp8() && to.is_float() && !to.is_fp8() && self.as_f64().is_nan() {
            return Scalar::from_bits(to, canonical_nan(to));
        }
        if self.dtype.is_float() {
            return match to {
                DType::F32 => Scalar::from_bits(to, u64::from(self.as_f32().to_bits())),
                _ => Scalar::from_f64(to, self.as_f64()),
            };
        }
        // Integer or bool source.
        match to {
            DType::F32 => {
                let v = if self.dtype == DType::U64 {
                    self.bits as f32
                } else {
                    self.as_i64() as f32
                };
                Scalar::from_bits(to, u64::from(v.to_bits()))
            }
            DType::F16 | DType::BF16 | DType::F8E4M3 | DType::F8E5M2 => {
                let v = if self.dtype == DType::U64 {
                    i128::from(self.bits)
                } else {
                    i128::from(self.as_i64())
                };
                Scalar::from_f64(to, int_to_f64_round_to_odd(v))
            }
            _ => Scalar::from_bits(to, self.as_i64() as u64),
        }
    }
}

/// `v` rounded to nearest even in the fp8 type `dtype`, saturating (see the module doc): the
/// `float8` crate's conversion (CUDA's `__nv_cvt_double_to_fp8` with `__NV_SATFINITE`), with
/// NaN fixed to `S.1111.111` (the crate keeps a payload bit for e5m2).
fn f64_to_fp8(dtype: DType, v: f64) -> u8 {
    if v.is_nan() {
        return if v.is_sign_negative() { 0xff } else { 0x7f };
    }
    match dtype {
        DType::F8E4M3 => F8E4M3::from_f64(v).to_bits(),
        _ => F8E5M2::from_f64(v).to_bits(),
    }
}

/// The value of the fp8 bit pattern `bits` of type `dtype` (exact; NaN stays NaN).
fn fp8_to_f64(dtype: DType, bits: u8) -> f64 {
    match dtype {
        DType::F8E4M3 => F8E4M3::from_bits(bits).to_f64(),
        _ => F8E5M2::from_bits(bits).to_f64(),
    }
}

/// `v` as `f32`, rounded to odd when inexact (and finite): rounding that again to a type of at
/// most 22 significand bits (f16, bf16) gives the correctly rounded result of `v`.
fn f64_to_f32_round_to_odd(v: f64) -> f32 {
    let nearest = v as f32;
    if !nearest.is_finite() || f64::from(nearest) == v || v.is_nan() {
        return nearest;
    }
    let toward_zero = if f64::from(nearest).abs() > v.abs() {
        f32::from_bits(nearest.to_bits() - 1)
    } else {
        nearest
    };
    f32::from_bits(toward_zero.to_bits() | 1)
}

/// `v` as `f64`, rounded to odd when inexact: rounding that to a type of at most 51
/// significand bits gives the correctly rounded result, with no double rounding.
fn int_to_f64_round_to_odd(v: i128) -> f64 {
    let nearest = v as f64;
    if nearest as i128 == v {
        return nearest;
    }
    // Step towards zero when rounding went away from it, then force the last bit to 1.
    let toward_zero = if (nearest as i128).abs() > v.abs() {
        f64::from_bits(nearest.to_bits() - 1)
    } else {
        nearest
    };
    f64::from_bits(toward_zero.to_bits() | 1)
}

impl fmt::Debug for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}:{}", self.dtype)
    }
}

/// The bits of the quiet NaN that Rust's and `half`'s `NAN` constants have, for float types.
fn canonical_nan(dtype: DType) -> u64 {
    match dtype {
        DType::F16 => u64::from(f16::NAN.to_bits()),
        DType::BF16 => u64::from(bf16::NAN.to_bits()),
        DType::F8E4M3 | DType::F8E5M2 => 0x7f,
        _ => u64::from(f32::NAN.to_bits()),
    }
}

impl fmt::Display for Scalar {
    /// Integers print in decimal, booleans as `true`/`false`, floats with Rust's shortest
    /// round-trip formatting (`inf`, `-inf` included). A NaN prints as `NaN` when it is the
    /// type's canonical quiet NaN (`f32::NAN`, `f16::NAN`, `bf16::NAN`, `0x7f` for fp8) and with its bits,
    /// `NaN(0x7fc00001)`, otherwise, so that the text reader recovers every bit pattern.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dtype.is_float() && self.as_f64().is_nan() && self.bits != canonical_nan(self.dtype)
        {
            return write!(f, "NaN({:#x})", self.bits);
        }
        match self.dtype {
            DType::Bool => write!(f, "{}", self.bits != 0),
            DType::U64 => write!(f, "{}", self.bits),
            DType::F32 => write!(f, "{:?}", f32::from_bits(self.bits as u32)),
            DType::F16 => write!(f, "{:?}", f16::from_bits(self.bits as u16).to_f32()),
            DType::BF16 => write!(f, "{:?}", bf16::from_bits(self.bits as u16).to_f32()),
            DType::F8E4M3 | DType::F8E5M2 => write!(f, "{:?}", self.as_f64() as f32),
            _ => write!(f, "{}", self.as_i64()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn casts_follow_rust_as() {
        assert_eq!(
            Scalar::from_i64(DType::I8, 300).as_i64(),
            300i64 as i8 as i64
        );
        assert_eq!(Scalar::from_i64(DType::U8, -1).as_i64(), 255);
        assert_eq!(Scalar::from_f64(DType::I8, 300.0).as_i64(), 127);
        assert_eq!(Scalar::from_f64(DType::I32, f64::NAN).as_i64(), 0);
        assert_eq!(Scalar::from_f64(DType::U8, -3.5).as_i64(), 0);
        let x = Scalar::from_i64(DType::I32, -7);
        assert_eq!(x.cast(DType::F32).as_f64(), -7.0);
        assert_eq!(x.cast(DType::U16).as_i64(), (-7i32) as u16 as i64);
        assert_eq!(
            Scalar::from_f64(DType::F32, 2.75).cast(DType::I32).as_i64(),
            2
        );
        assert_eq!(
            Scalar::from_f64(DType::F32, -2.75)
                .cast(DType::I32)
                .as_i64(),
            -2
        );
        assert!(Scalar::from_i64(DType::I32, 5).cast(DType::Bool).as_bool());
        assert_eq!(Scalar::from_bool(true).cast(DType::F16).as_f64(), 1.0);
        assert_eq!(
            Scalar::from_bits(DType::U64, u64::MAX)
                .cast(DType::F32)
                .as_f32(),
            u64::MAX as f32
        );
    }

    #[test]
    fn wide_integers_round_once_to_bf16() {
        // 2^62 + 2^54 + 1 is just above the midpoint between two bf16 values: it rounds up.
        let v = (1u64 << 62) + (1u64 << 54) + 1;
        let s = Scalar::from_bits(DType::U64, v).cast(DType::BF16);
        assert_eq!(s.as_f64(), ((1u64 << 62) + (1u64 << 55)) as f64);
        let s = Scalar::from_i64(DType::I64, -(v as i64)).cast(DType::BF16);
        assert_eq!(s.as_f64(), -(((1u64 << 62) + (1u64 << 55)) as f64));
        // Exactly representable values are unchanged.
        assert_eq!(
            Scalar::from_i64(DType::I64, 1 << 40)
                .cast(DType::BF16)
                .as_f64(),
            (1u64 << 40) as f64
        );
    }

    #[test]
    fn display_round_trips_floats() {
        let s = Scalar::from_f64(DType::F32, 0.1);
        assert_eq!(s.to_string(), "0.1");
        assert_eq!(Scalar::from_i64(DType::I8, -1).to_string(), "-1");
    }
}

#[cfg(test)]
mod fp8_tests {
    use super::*;

    /// The value of fp8 bits `b` from the format's definition (`None` for NaN).
    fn decode(d: DType, b: u8) -> Option<f64> {
        let (ebits, mbits) = if d == DType::F8E4M3 { (4, 3) } else { (5, 2) };
        let bias = (1 << (ebits - 1)) - 1;
        let (e, m) = (
            i32::from(b >> mbits) & ((1 << ebits) - 1),
            i32::from(b) & ((1 << mbits) - 1),
        );
        let sign = if b & 0x80 != 0 { -1.0 } else { 1.0 };
        let top = (1 << ebits) - 1;
        if d == DType::F8E4M3 && e == top && m == 7 {
            return None;
        }
        if d == DType::F8E5M2 && e == top {
            return (m == 0).then_some(sign * f64::INFINITY);
        }
        let frac = f64::from(m) / f64::from(1 << mbits);
        Some(if e == 0 {
            sign * frac * 2f64.powi(1 - bias)
        } else {
            sign * (1.0 + frac) * 2f64.powi(e - bias)
        })
    }

    /// `v` rounded to the nearest finite fp8 value (ties to an even mantissa), saturating.
    fn encode(d: DType, v: f64) -> u8 {
        if v.is_nan() {
            return if v.is_sign_negative() { 0xff } else { 0x7f };
        }
        let mut best = 0u8;
        let mut best_err = f64::INFINITY;
        for b in 0..=255u8 {
            let Some(x) = decode(d, b).filter(|x| x.is_finite()) else {
                continue;
            };
            if (x < 0.0) != v.is_sign_negative() && x != 0.0 {
                continue;
            }
            let err = (x - v.clamp(-1e6, 1e6)).abs();
            if err < best_err
                || (err == best_err && b & 1 == 0 && (b & 0x80 != 0) == v.is_sign_negative())
            {
                best = b;
                best_err = err;
            }
        }
        best
    }

    #[test]
    fn every_fp8_pattern_converts_exactly() {
        for d in [DType::F8E4M3, DType::F8E5M2] {
            for b in 0..=255u8 {
                let s = Scalar::from_bits(d, u64::from(b));
                match decode(d, b) {
                    None => {
                        assert!(s.as_f64().is_nan());
                        assert_eq!(s.cast(DType::F32).bits(), u64::from(f32::NAN.to_bits()));
                        assert_eq!(s.cast(DType::F16).bits(), u64::from(f16::NAN.to_bits()));
                    }
                    Some(v) => {
                        assert_eq!(
                            s.cast(DType::F32).as_f64().to_bits(),
                            v.to_bits(),
                            "{d} {b:#x}"
                        );
                        assert_eq!(
                            s.cast(DType::F16).as_f64().to_bits(),
                            v.to_bits(),
                            "{d} {b:#x}"
                        );
                        // And back, bit for bit (the values are exact; e5m2's infinities
                        // saturate).
                        let back = if v.is_infinite() {
                            u64::from(b & 0x80 | 0x7b)
                        } else {
                            u64::from(b)
                        };
                        assert_eq!(s.cast(DType::F32).cast(d).bits(), back, "{d} {b:#x}");
                    }
                }
            }
        }
    }

    #[test]
    fn conversions_to_fp8_round_to_nearest_even_and_saturate() {
        let mut values = vec![
            f64::NAN,
            -f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
            448.0,
            449.0,
            464.0,
            465.0,
            480.0,
            1e9,
            -1e9,
            57344.0,
            61440.0,
            61439.0,
            65536.0,
            1.0625,
            1.1875,
            0.0009765625,
            0.00146484375,
            2f64.powi(-10),
            3.0 * 2f64.powi(-11),
            2f64.powi(-17),
            3.0 * 2f64.powi(-18),
        ];
        let mut x = 0x1234_5678u32;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            values.push(f64::from(f32::from_bits(x & 0xc7ff_ffff | 0x3000_0000)));
        }
        for d in [DType::F8E4M3, DType::F8E5M2] {
            for &v in &values {
                let got = Scalar::from_f64(DType::F32, v).cast(d).bits() as u8;
                let v32 = f64::from(v as f32);
                assert_eq!(got, encode(d, v32), "{d} from {v32}");
            }
        }
        assert_eq!(Scalar::from_f64(DType::F8E4M3, 1e9).as_f64(), 448.0);
        assert_eq!(
            Scalar::from_f64(DType::F8E4M3, f64::NEG_INFINITY).as_f64(),
            -448.0
        );
        assert_eq!(
            Scalar::from_f64(DType::F8E5M2, f64::INFINITY).as_f64(),
            57344.0
        );
    }
}
