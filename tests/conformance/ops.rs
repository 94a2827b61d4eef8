//! Elementwise ops: every unary, binary and comparison op on every dtype it is defined on,
//! `select`, shifts by constants, on random bit patterns with ragged masks (several sizes and
//! lengths per op, seeded), plus plain-Rust checks of wrapping arithmetic and of f16/bf16
//! arithmetic on every bit pattern.
//!
//! Where PTX deviates (see `bitmat-codegen/src/ptx/lower/elementwise.rs`): `exp` and `log`
//! use `ex2.approx`/`lg2.approx` ([`unary_tol`] derives their bounds), float `rem` is exact
//! only while `|a / b| < 2^24` ([`binary_tol`]); every other op is exact.

use crate::data::{self, rng};
use crate::ew::{against_rust, ew_args, random_ew_args, run_ew};
use crate::harness::{i32_arg, is_cuda, run, test, Arg, Test, Tol};
use crate::ir_kernels::{self, binary_ops, cmp_preds, unary_ops};
use crate::kernels::ew;
use bitmat::ir::{BinaryOp, CmpPred, DType, HostData, Scalar, UnaryOp};
use bitmat::Device;
use rand::Rng;

/// The tests of this module.
pub fn tests() -> Vec<Test> {
    let mut t = Vec::new();
    for d in DType::ALL {
        t.push(test(format!("ops::unary_{d}"), move |dev| {
            for op in unary_ops(d) {
                for (i, (n, len)) in sizes(11).into_iter().enumerate() {
                    check_unary(dev, op, d, n, len, i as u64)?;
                }
            }
            Ok(())
        }));
        t.push(test(format!("ops::binary_{d}"), move |dev| {
            for op in binary_ops(d) {
                for (i, (n, len)) in sizes(12).into_iter().enumerate() {
                    check_binary(dev, op, d, n, len, 100 + i as u64)?;
                }
            }
            Ok(())
        }));
        t.push(test(format!("ops::compare_{d}"), move |dev| {
            for pred in cmp_preds(d) {
                for (i, (n, len)) in sizes(13).into_iter().enumerate() {
                    check_cmp(dev, pred, d, n, len, 200 + i as u64)?;
                }
            }
            Ok(())
        }));
        t.push(test(format!("ops::select_{d}"), move |dev| {
            check_select(dev, d)
        }));
        t.push(test(format!("ops::all_ops_ragged_grid_{d}"), move |dev| {
            all_ops_on_a_grid(dev, d)
        }));
        if d.is_int() {
            t.push(test(format!("ops::shift_by_constants_{d}"), move |dev| {
                shifts_by_constants(dev, d)
            }));
        }
    }
    t.push(test(
        "ops::wrapping_arithmetic_matches_rust",
        wrapping_arithmetic,
    ));
    t.push(test("ops::f16_arithmetic_is_bit_exact_with_half", |dev| {
        half_arithmetic::<bitmat::f16>(dev, DType::F16)
    }));
    t.push(test("ops::bf16_arithmetic_is_bit_exact_with_half", |dev| {
        half_arithmetic::<bitmat::bf16>(dev, DType::BF16)
    }));
    t
}

/// `(lanes, valid length)` pairs: a full and a ragged tile, a tiny one, and four seeded
/// random ones (1 to 128 lanes, any valid length).
fn sizes(seed: u64) -> Vec<(u32, i32)> {
    let mut r = rng(seed);
    let mut v = vec![(64, 64), (64, 50), (4, 3)];
    for _ in 0..4 {
        let n = 1u32 << r.gen_range(0..8);
        v.push((n, r.gen_range(0..=n as i32)));
    }
    v
}

/// The smallest positive normal value of a float dtype: below it results are subnormal and
/// a relative bound means nothing, so bounds add it as an absolute floor.
fn min_normal(d: DType) -> f64 {
    match d {
        DType::F16 => 2f64.powi(-14),
        _ => 2f64.powi(-126),
    }
}

/// The relative size of half an ulp of a float dtype (its unit roundoff) when a result
/// computed in f32 is rounded to it.
fn roundoff(d: DType) -> f64 {
    match d {
        DType::F16 => 2f64.powi(-11),
        DType::BF16 => 2f64.powi(-8),
        _ => 2f64.powi(-24),
    }
}

/// The largest finite value of a float dtype.
fn max_finite(d: DType) -> f64 {
    match d {
        DType::F16 => 65504.0,
        DType::BF16 => bitmat::bf16::MAX.to_f64(),
        _ => f64::from(f32::MAX),
    }
}

/// The tolerance of unary `op` on `dev` for inputs `x` and reference results `want`.
///
/// On CUDA, `exp(x)` is `ex2.approx(x * log2(e))`: rounding the product changes the exponent
/// by up to `|x log2 e| 2^-24`, a relative error of `|x| 2^-24` in the result; `ex2.approx`
/// adds at most 2 ulp (`2^-22`), and the interpreter's own `exp` 1 ulp. `log(x)` is
/// `lg2.approx(x) * ln 2`: `lg2.approx` is within `2^-22` absolute, the product and the
/// interpreter's `ln` add 1 ulp each. Both bounds are doubled, results rounded to f16/bf16 may
/// then differ by one more ulp of theirs, and results in the subnormal range (or within a
/// factor 2 of overflow, where one side may round to infinity) are left to an absolute floor.
/// Every other unary op is exact.
/// The new transcendental ops (`exp2` .. `sigmoid`) get the bounds `bitmat-codegen`'s
/// `ptx/lower/math.rs` and `elementwise.rs` document, plus the interpreter's own error
/// (`bitmat_ir::math`), doubled in the same way; `sin`/`cos` are not checked beyond
/// `|x| = 2^16`, where the GPU claims no accuracy.
fn unary_tol(dev: &Device, op: UnaryOp, d: DType, x: &HostData, want: &HostData) -> Tol {
    if !is_cuda(dev) || !d.is_float() || !op.is_transcendental() {
        // NaN payloads are unspecified: `round` of a signalling NaN is some NaN.
        return if d.is_float() {
            Tol::AnyNan
        } else {
            Tol::exact(dev)
        };
    }
    let bounds = (0..x.len())
        .map(|i| {
            let (xi, w) = (
                x.get(i).unwrap().as_f64(),
                want.get(i).unwrap().as_f64().abs(),
            );
            if w >= max_finite(d) / 2.0 {
                return f64::INFINITY;
            }
            let (rel, abs) = match op {
                UnaryOp::Exp | UnaryOp::Sigmoid => (
                    2.0 * (xi.abs() * 2f64.powi(-24) + 3.0 * 2f64.powi(-23)),
                    0.0,
                ),
                UnaryOp::Exp2 => (2.0 * 3.0 * 2f64.powi(-23), 0.0),
                UnaryOp::Log | UnaryOp::Log2 => (2.0 * 2.0 * 2f64.powi(-24), 2.0 * 2f64.powi(-22)),
                UnaryOp::Sin | UnaryOp::Cos if xi.abs() > 65536.0 => return f64::INFINITY,
                UnaryOp::Sin | UnaryOp::Cos => (2.0 * 2f64.powi(-23), 2.0 * 2f64.powi(-22)),
                _ => (2.0 * (2f64.powi(-21) + 2f64.powi(-23)), 0.0),
            };
            (rel + 2.0 * roundoff(d)) * w + abs + min_normal(d)
        })
        .collect();
    Tol::Bound(bounds)
}

/// The tolerance of binary `op` on `dev` for operands `x`, `y`: exact, except float `rem` on
/// CUDA, which is `a - trunc(a / b) * b` and exact only while `|a / b| < 2^24` (beyond, the
/// quotient's rounding decides; those elements are not checked).
fn binary_tol(dev: &Device, op: BinaryOp, d: DType, x: &HostData, y: &HostData) -> Tol {
    if !(is_cuda(dev) && d.is_float() && op == BinaryOp::Rem) {
        return Tol::exact(dev);
    }
    let bounds = (0..x.len())
        .map(|i| {
            let q = (x.get(i).unwrap().as_f64() / y.get(i).unwrap().as_f64()).abs();
            if q.is_finite() && q >= 2f64.powi(24) {
                f64::INFINITY
            } else {
                0.0
            }
        })
        .collect();
    Tol::Bound(bounds)
}

fn check_unary(
    dev: &Device,
    op: UnaryOp,
    d: DType,
    n: u32,
    len: i32,
    seed: u64,
) -> Result<(), String> {
    let mut r = rng(seed);
    let k = ew("unary", d, d, n, |b, x, _| b.unary(op, x));
    let x = data::bits(d, n as usize, &mut r);
    let args = ew_args(
        x.clone(),
        data::bits(d, n as usize, &mut r),
        data::bits(d, n as usize, &mut r),
        len,
    );
    let out = run_ew(dev, &format!("{op:?} on {d}[{n}], {len} valid"), &k, &args)?;
    out.check(0, &Tol::Bits)?;
    out.check(2, &unary_tol(dev, op, d, &x, &out.want[2]))
}

fn check_binary(
    dev: &Device,
    op: BinaryOp,
    d: DType,
    n: u32,
    len: i32,
    seed: u64,
) -> Result<(), String> {
    let mut r = rng(seed);
    let k = ew("binary", d, d, n, |b, x, y| b.binary(op, x, y));
    let mut y = data::bits(d, n as usize, &mut r);
    let mut len = len;
    if matches!(op, BinaryOp::Div | BinaryOp::Rem) {
        // Masked-off lanes read 0, which the interpreter would divide by.
        len = n as i32;
        data::nonzero(&mut y);
        if d.is_signed_int() && n > 1 {
            y.set(1, Scalar::from_i64(d, -1));
        }
    }
    let mut x = data::bits(d, n as usize, &mut r);
    if d.is_signed_int() && n > 1 {
        // MIN, against -1 for div and rem.
        x.set(1, Scalar::from_bits(d, 1u64 << (d.bits() - 1)));
    }
    let tol = binary_tol(dev, op, d, &x, &y);
    let args = ew_args(x, y, data::bits(d, n as usize, &mut r), len);
    let out = run_ew(dev, &format!("{op:?} on {d}[{n}], {len} valid"), &k, &args)?;
    out.check(2, &tol)
}

fn check_cmp(
    dev: &Device,
    pred: CmpPred,
    d: DType,
    n: u32,
    len: i32,
    seed: u64,
) -> Result<(), String> {
    let mut r = rng(seed);
    let k = ew("cmp", d, DType::Bool, n, |b, x, y| b.cmp(pred, x, y));
    let x = data::bits(d, n as usize, &mut r);
    let mut y = data::bits(d, n as usize, &mut r);
    // Some equal lanes.
    for i in (0..n as usize).step_by(3) {
        y.set(i, x.get(i).unwrap());
    }
    let args = ew_args(x, y, data::bits(DType::Bool, n as usize, &mut r), len);
    run_ew(
        dev,
        &format!("{pred:?} on {d}[{n}], {len} valid"),
        &k,
        &args,
    )?
    .check_all(&Tol::exact(dev))
}

fn check_select(dev: &Device, d: DType) -> Result<(), String> {
    let k = ew("select", d, d, 64, |b, x, y| {
        let pred = if d == DType::Bool {
            CmpPred::Ne
        } else {
            CmpPred::Lt
        };
        // fp8 values are compared as the f32 values they are (they have no comparisons).
        let c = if d.is_fp8() {
            let (xf, yf) = (b.cast(x, DType::F32), b.cast(y, DType::F32));
            b.cmp(pred, xf, yf)
        } else {
            b.cmp(pred, x, y)
        };
        b.select(c, x, y)
    });
    let mut r = rng(13);
    let args = random_ew_args(d, 64, 57, &mut r);
    run_ew(dev, &format!("select on {d}[64], 57 valid"), &k, &args)?.check_all(&Tol::exact(dev))
}

/// `ir_kernels::elementwise`: every op on `d` in one kernel, 4 programs of 256 lanes over
/// 1000 elements (the last program ragged), in programs of 4 warps on a GPU.
fn all_ops_on_a_grid(dev: &Device, d: DType) -> Result<(), String> {
    let k = ir_kernels::elementwise(d);
    let n = 1000usize;
    let len = ir_kernels::elementwise_results(d) * n + 1024;
    let mut r = rng(14);
    let (mut x, mut y) = (data::small(d, len, &mut r), data::small(d, len, &mut r));
    // Division by zero is an error in the interpreter.
    data::nonzero(&mut x);
    data::nonzero(&mut y);
    let out = run(
        dev,
        &format!("elementwise_{d} over {n} elements"),
        &k,
        [4, 1, 1],
        4,
        &[
            Arg::Buf(x.clone()),
            Arg::Buf(y),
            Arg::Buf(data::small(d, len, &mut r)),
            i32_arg(n as i32),
        ],
    )?;
    out.check(0, &Tol::Bits)?;
    out.check(1, &Tol::Bits)?;
    // The unary results come first, `n` elements each: exp and log within their bounds.
    let mut tol = vec![0.0; len];
    for (j, op) in unary_ops(d).into_iter().enumerate() {
        let (mut xj, mut wj) = (HostData::zeros(d, n), HostData::zeros(d, n));
        for i in 0..n {
            xj.set(i, x.get(i).unwrap());
            wj.set(i, out.want[2].get(j * n + i).unwrap());
        }
        if let Tol::Bound(b) = unary_tol(dev, op, d, &xj, &wj) {
            tol[j * n..(j + 1) * n].copy_from_slice(&b);
        }
    }
    out.check(2, &Tol::Bound(tol))
}

fn shifts_by_constants(dev: &Device, d: DType) -> Result<(), String> {
    for op in [BinaryOp::Shl, BinaryOp::Shr] {
        for amount in [0u64, 1, 3, 7, 9, 31, 63, 200] {
            let mut r = rng(amount);
            let k = ew("shift_const", d, d, 64, |b, x, _| {
                let c = b.constant(Scalar::from_bits(d, amount), vec![]);
                let c = b.expand_dims(c, 0);
                let c = b.broadcast(c, vec![64]);
                b.binary(op, x, c)
            });
            let args = random_ew_args(d, 64, 64, &mut r);
            run_ew(dev, &format!("{op:?} {d}[64] by {amount}"), &k, &args)?
                .check_all(&Tol::exact(dev))?;
        }
    }
    Ok(())
}

/// i8 multiplication wraps like Rust's `wrapping_mul`; f32 `sqrt(x - y)` is Rust's.
fn wrapping_arithmetic(dev: &Device) -> Result<(), String> {
    let mut r = rng(9);
    let x: Vec<i8> = (0..64).map(|_| r.gen()).collect();
    let y: Vec<i8> = (0..64).map(|_| r.gen()).collect();
    let k = ew("mul", DType::I8, DType::I8, 64, |b, x, y| {
        b.binary(BinaryOp::Mul, x, y)
    });
    let want: Vec<i8> = x.iter().zip(&y).map(|(a, b)| a.wrapping_mul(*b)).collect();
    against_rust(
        dev,
        "i8 mul[64]",
        &k,
        [HostData::I8(x), HostData::I8(y)],
        HostData::I8(want),
        &Tol::Bits,
    )?;

    let xf: Vec<f32> = (0..64).map(|_| r.gen_range(-10.0..10.0)).collect();
    let yf: Vec<f32> = (0..64).map(|_| r.gen_range(-10.0..10.0)).collect();
    let k = ew("fsub_sqrt", DType::F32, DType::F32, 64, |b, x, y| {
        let s = b.binary(BinaryOp::Sub, x, y);
        b.unary(UnaryOp::Sqrt, s)
    });
    let want: Vec<f32> = xf.iter().zip(&yf).map(|(a, b)| (a - b).sqrt()).collect();
    against_rust(
        dev,
        "f32 sqrt(x - y)[64]",
        &k,
        [HostData::F32(xf), HostData::F32(yf)],
        HostData::F32(want),
        &Tol::AnyNan,
    )
}

/// Every f16/bf16 bit pattern `x` against random `y`: `x * y` and `x + y` equal `half`'s
/// rounding of the f32 result bit for bit (NaN payloads included, except on CUDA where any
/// NaN stands for any NaN).
fn half_arithmetic<T: bitmat::Element + Into<f32> + HalfBits>(
    dev: &Device,
    d: DType,
) -> Result<(), String> {
    let n = 1usize << 16;
    let all: Vec<T> = (0..n).map(|i| T::from_bits(i as u16)).collect();
    let mut r = rng(77);
    let ys: Vec<T> = (0..n).map(|_| T::from_bits(r.gen())).collect();
    let block = 1024;
    for op in [BinaryOp::Mul, BinaryOp::Add] {
        let k = ew("half", d, d, block as u32, |b, x, y| b.binary(op, x, y));
        // The interpreter is slow: on it, every 16th block of patterns.
        let stride = if dev.backend() == bitmat::Backend::INTERPRETER {
            16 * block
        } else {
            block
        };
        for start in (0..n).step_by(stride) {
            let xs = &all[start..start + block];
            let yv = &ys[start..start + block];
            let got = crate::harness::run_device(
                dev,
                &k,
                [1, 1, 1],
                4,
                &ew_args(
                    T::into_host(xs.to_vec()),
                    T::into_host(yv.to_vec()),
                    HostData::zeros(d, block),
                    block as i32,
                ),
            )?
            .remove(2);
            let want: Vec<T> = xs
                .iter()
                .zip(yv)
                .map(|(&a, &b)| {
                    let (a, b): (f32, f32) = (a.into(), b.into());
                    T::from_f32(if op == BinaryOp::Mul { a * b } else { a + b })
                })
                .collect();
            let what = format!(
                "{d} {op:?} of patterns {start}..{} against `half`",
                start + block
            );
            crate::harness::compare(&what, &got, &T::into_host(want), &Tol::exact(dev))?;
        }
    }
    Ok(())
}

/// f16 and bf16 from bits and from f32.
trait HalfBits {
    fn from_bits(b: u16) -> Self;
    fn from_f32(v: f32) -> Self;
}

impl HalfBits for bitmat::f16 {
    fn from_bits(b: u16) -> Self {
        bitmat::f16::from_bits(b)
    }
    fn from_f32(v: f32) -> Self {
        bitmat::f16::from_f32(v)
    }
}

impl HalfBits for bitmat::bf16 {
    fn from_bits(b: u16) -> Self {
        bitmat::bf16::from_bits(b)
    }
    fn from_f32(v: f32) -> Self {
        bitmat::bf16::from_f32(v)
    }
}
