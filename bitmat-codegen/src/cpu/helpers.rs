//! The helper table: Rust functions that compiled CPU code calls for what a backend has no
//! instruction for: f16 and bf16 conversions (bit-exact with the `half` crate, as the
//! interpreter), casts from and to f16/bf16 (through [`bitmat_ir::Scalar::cast`]), `fma`, the
//! transcendental unary ops (through [`bitmat_ir::math::f32_fn`], so that results match the
//! interpreter bit for bit), `fmod`, float atomic adds, maxima and minima (compare-and-swap loops), and `device_print`. Code refers to a helper by its
//! [`HelperId`]; the loader resolves it to the address ([`super::object::RelocTarget`]).

use bitmat_ir::{DType, Scalar, UnaryOp};
use half::{bf16, f16};
use std::sync::atomic::{AtomicU16, AtomicU32, Ordering};

/// A parameter or result type of a helper, as the C calling convention passes it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AbiType {
    /// A 32-bit integer.
    I32,
    /// A 64-bit integer (or an address).
    I64,
    /// A 32-bit float.
    F32,
}

/// A helper: its symbol name, its address, and its parameter and result types.
pub struct Helper {
    /// Symbol name (for messages; compiled code refers to helpers by index).
    pub name: &'static str,
    /// The function's address.
    pub addr: *const u8,
    /// Parameter types.
    pub params: &'static [AbiType],
    /// Result types.
    pub results: &'static [AbiType],
}

/// Index of the helpers in [`helpers()`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum HelperId {
    /// `f16 bits (u32) -> f32`.
    F16ToF32,
    /// `f32 -> f16 bits (u32)`, round to nearest even.
    F32ToF16,
    /// `bf16 bits (u32) -> f32`.
    Bf16ToF32,
    /// `f32 -> bf16 bits (u32)`, round to nearest even.
    F32ToBf16,
    /// `(bits: u64, from: u32, to: u32) -> u64`: [`Scalar::cast`] on dtype indices into
    /// [`DType::ALL`].
    Cast,
    /// `f32::exp`.
    Exp,
    /// `f32::ln`.
    Log,
    /// `a % b` on `f32`.
    Fmod,
    /// `(addr, value bits: u64, dtype: u32) -> old bits`: atomic float add.
    AtomicAddFloat,
    /// `2^x` on `f32`.
    Exp2,
    /// `log2` on `f32`.
    Log2,
    /// `sin` on `f32`.
    Sin,
    /// `cos` on `f32`.
    Cos,
    /// `tanh` on `f32`.
    Tanh,
    /// `erf` on `f32`.
    Erf,
    /// `sigmoid` on `f32`.
    Sigmoid,
    /// `(a, b, c: f32) -> a * b + c` with one rounding.
    Fma,
    /// `(addr, value bits: u32, max: u32) -> old bits`: atomic `f32` maximum (`max != 0`) or
    /// minimum, a NaN operand yielding the other (`f32::max`, `f32::min`).
    AtomicMinMaxF32,
    /// `(label, label_len: u64, pid: *[u32; 3], data, dtype: u32, shape: *[u32], rank: u32)`:
    /// prints the tile at `data` (elements of [`DType::ALL`]`[dtype]` as in memory, row-major)
    /// through [`bitmat_ir::device_print`], as the interpreter does.
    DevicePrint,
}

impl HelperId {
    /// The helper that computes the transcendental unary op `op` on `f32`, if it is one.
    pub fn for_unary(op: UnaryOp) -> Option<HelperId> {
        Some(match op {
            UnaryOp::Exp => HelperId::Exp,
            UnaryOp::Log => HelperId::Log,
            UnaryOp::Exp2 => HelperId::Exp2,
            UnaryOp::Log2 => HelperId::Log2,
            UnaryOp::Sin => HelperId::Sin,
            UnaryOp::Cos => HelperId::Cos,
            UnaryOp::Tanh => HelperId::Tanh,
            UnaryOp::Erf => HelperId::Erf,
            UnaryOp::Sigmoid => HelperId::Sigmoid,
            _ => return None,
        })
    }
}

/// Number of helpers.
pub const COUNT: usize = 19;

extern "C" fn f16_to_f32(b: u32) -> f32 {
    f16::from_bits(b as u16).to_f32()
}
extern "C" fn f32_to_f16(v: f32) -> u32 {
    u32::from(f16::from_f32(v).to_bits())
}
extern "C" fn bf16_to_f32(b: u32) -> f32 {
    bf16::from_bits(b as u16).to_f32()
}
extern "C" fn f32_to_bf16(v: f32) -> u32 {
    u32::from(bf16::from_f32(v).to_bits())
}
extern "C" fn cast(bits: u64, from: u32, to: u32) -> u64 {
    let (Some(&f), Some(&t)) = (DType::ALL.get(from as usize), DType::ALL.get(to as usize)) else {
        return 0;
    };
    Scalar::from_bits(f, bits).cast(t).bits()
}
/// `op` on `v` as the interpreter computes it.
fn math(op: UnaryOp, v: f32) -> f32 {
    bitmat_ir::math::f32_fn(op).map_or(f32::NAN, |f| f(v))
}
extern "C" fn exp(v: f32) -> f32 {
    math(UnaryOp::Exp, v)
}
extern "C" fn log(v: f32) -> f32 {
    math(UnaryOp::Log, v)
}
extern "C" fn exp2(v: f32) -> f32 {
    math(UnaryOp::Exp2, v)
}
extern "C" fn log2(v: f32) -> f32 {
    math(UnaryOp::Log2, v)
}
extern "C" fn sin(v: f32) -> f32 {
    math(UnaryOp::Sin, v)
}
extern "C" fn cos(v: f32) -> f32 {
    math(UnaryOp::Cos, v)
}
extern "C" fn tanh(v: f32) -> f32 {
    math(UnaryOp::Tanh, v)
}
extern "C" fn erf(v: f32) -> f32 {
    math(UnaryOp::Erf, v)
}
extern "C" fn sigmoid(v: f32) -> f32 {
    math(UnaryOp::Sigmoid, v)
}
extern "C" fn fma(a: f32, b: f32, c: f32) -> f32 {
    a.mul_add(b, c)
}
extern "C" fn fmod(a: f32, b: f32) -> f32 {
    a % b
}

/// # Safety
/// `addr` must be valid and aligned for an element of the float type `dtype`.
unsafe extern "C" fn atomic_add_float(addr: *mut u8, value: u64, dtype: u32) -> u64 {
    match DType::ALL.get(dtype as usize) {
        Some(DType::F32) => {
            // SAFETY: the caller guarantees a valid, aligned f32 slot.
            let a = unsafe { AtomicU32::from_ptr(addr.cast()) };
            let v = f32::from_bits(value as u32);
            let old = a
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |o| {
                    Some((f32::from_bits(o) + v).to_bits())
                })
                .unwrap_or_else(|o| o);
            u64::from(old)
        }
        Some(d @ (DType::F16 | DType::BF16)) => {
            let d = *d;
            // SAFETY: the caller guarantees a valid, aligned 16-bit slot.
            let a = unsafe { AtomicU16::from_ptr(addr.cast()) };
            let widen = |b: u16| {
                if d == DType::F16 {
                    f16::from_bits(b).to_f32()
                } else {
                    bf16::from_bits(b).to_f32()
                }
            };
            let narrow = |v: f32| {
                if d == DType::F16 {
                    f16::from_f32(v).to_bits()
                } else {
                    bf16::from_f32(v).to_bits()
                }
            };
            let v = widen(value as u16);
            let old = a
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |o| {
                    Some(narrow(widen(o) + v))
                })
                .unwrap_or_else(|o| o);
            u64::from(old)
        }
        _ => 0,
    }
}

/// # Safety
/// `addr` must be valid and aligned for an `f32`.
unsafe extern "C" fn atomic_min_max_f32(addr: *mut u8, value: u32, max: u32) -> u32 {
    // SAFETY: the caller guarantees a valid, aligned f32 slot.
    let a = unsafe { AtomicU32::from_ptr(addr.cast()) };
    let v = f32::from_bits(value);
    a.fetch_update(Ordering::AcqRel, Ordering::Acquire, |o| {
        let o = f32::from_bits(o);
        Some(if max != 0 { o.max(v) } else { o.min(v) }.to_bits())
    })
    .unwrap_or_else(|o| o)
}

/// # Safety
/// `label` must point to `label_len` bytes of UTF-8, `pid` to three `u32`s, `shape` to `rank`
/// `u32`s (it may dangle when `rank` is 0), and `data` to as many elements of `dtype`, as
/// they are in memory, as the shape holds.
unsafe extern "C" fn device_print(
    label: *const u8,
    label_len: u64,
    pid: *const u32,
    data: *const u8,
    dtype: u32,
    shape: *const u32,
    rank: u32,
) {
    let Some(&d) = DType::ALL.get(dtype as usize) else {
        return;
    };
    // SAFETY: the caller guarantees the lengths of these arrays.
    let (label, pid, shape) = unsafe {
        (
            std::slice::from_raw_parts(label, label_len as usize),
            std::slice::from_raw_parts(pid, 3),
            if rank == 0 {
                &[][..]
            } else {
                std::slice::from_raw_parts(shape, rank as usize)
            },
        )
    };
    let label = String::from_utf8_lossy(label);
    let size = d.size_bytes();
    let value_at = |i: usize| {
        let mut bytes = [0u8; 8];
        // SAFETY: element `i` of the shape lies in the caller's buffer.
        unsafe { std::ptr::copy_nonoverlapping(data.add(i * size), bytes.as_mut_ptr(), size) };
        let bits = u64::from_le_bytes(bytes);
        let bits = if d == DType::Bool {
            u64::from(bits != 0)
        } else {
            bits
        };
        Some(Scalar::from_bits(d, bits))
    };
    let pid = [pid[0], pid[1], pid[2]];
    bitmat_ir::device_print::emit(&bitmat_ir::device_print::lines(
        &label, pid, shape, value_at,
    ));
}

/// One row of [`helpers()`]: `helper!("symbol", function, [params] -> [results])`.
macro_rules! helper {
    ($name:literal, $f:expr, [$($p:ident),*] -> [$($r:ident),*]) => {
        Helper {
            name: $name,
            addr: $f as *const u8,
            params: &[$(AbiType::$p),*],
            results: &[$(AbiType::$r),*],
        }
    };
}

/// Every helper, indexed by [`HelperId`].
pub fn helpers() -> [Helper; COUNT] {
    [
        helper!("bitmat_rt_f16_to_f32", f16_to_f32, [I32] -> [F32]),
        helper!("bitmat_rt_f32_to_f16", f32_to_f16, [F32] -> [I32]),
        helper!("bitmat_rt_bf16_to_f32", bf16_to_f32, [I32] -> [F32]),
        helper!("bitmat_rt_f32_to_bf16", f32_to_bf16, [F32] -> [I32]),
        helper!("bitmat_rt_cast", cast, [I64, I32, I32] -> [I64]),
        helper!("bitmat_rt_expf", exp, [F32] -> [F32]),
        helper!("bitmat_rt_logf", log, [F32] -> [F32]),
        helper!("bitmat_rt_fmodf", fmod, [F32, F32] -> [F32]),
        helper!("bitmat_rt_atomic_add_float", atomic_add_float, [I64, I64, I32] -> [I64]),
        helper!("bitmat_rt_exp2f", exp2, [F32] -> [F32]),
        helper!("bitmat_rt_log2f", log2, [F32] -> [F32]),
        helper!("bitmat_rt_sinf", sin, [F32] -> [F32]),
        helper!("bitmat_rt_cosf", cos, [F32] -> [F32]),
        helper!("bitmat_rt_tanhf", tanh, [F32] -> [F32]),
        helper!("bitmat_rt_erff", erf, [F32] -> [F32]),
        helper!("bitmat_rt_sigmoidf", sigmoid, [F32] -> [F32]),
        helper!("bitmat_rt_fmaf", fma, [F32, F32, F32] -> [F32]),
        helper!("bitmat_rt_atomic_min_max_f32", atomic_min_max_f32, [I64, I32, I32] -> [I32]),
        helper!("bitmat_rt_device_print", device_print, [I64, I64, I64, I64, I32, I64, I32] -> []),
    ]
}

/// The index of `d` in [`DType::ALL`].
pub fn dtype_index(d: DType) -> u32 {
    DType::ALL.iter().position(|&x| x == d).unwrap_or(0) as u32
}
