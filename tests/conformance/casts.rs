//! Casts between every pair of dtypes (random bit patterns plus NaN, infinities, halfway
//! cases and out-of-range magnitudes), bitcasts between every pair of one width, and
//! float-to-int casts against Rust's `as` (saturating, NaN to 0). Exact on every backend
//! (NaN payloads aside on CUDA).

use crate::data::{self, rng};
use crate::ew::{against_rust, ew_args, run_ew};
use crate::harness::{i32_arg, is_cuda, run, test, Arg, Test, Tol};
use crate::ir_kernels;
use crate::kernels::ew;
use bitmat::ir::{BinaryOp, DType, HostData, KernelBuilder, Scalar, ValueId};
use bitmat::Device;

/// The tests of this module.
pub fn tests() -> Vec<Test> {
    let mut t = Vec::new();
    for from in DType::ALL {
        t.push(test(format!("casts::from_{from}"), move |dev| {
            for to in DType::ALL {
                cast_pair(dev, from, to)?;
            }
            Ok(())
        }));
    }
    t.push(test("casts::float_to_int_matches_rust_as", float_to_int_as));
    t.push(test(
        "casts::small_integers_to_floats",
        small_integers_to_floats,
    ));
    t
}

/// Edge values of float inputs: NaN, infinities, signed zero, halves (ties to even), large
/// magnitudes beyond every integer type and f16's range.
const EDGES: [f64; 12] = [
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    -0.0,
    0.5,
    2.5,
    -2.5,
    1e10,
    -1e10,
    255.5,
    65504.0,
    3e38,
];

/// `from -> to` in a one-program kernel over 64 lanes (60 valid), then `ir_kernels::cast`
/// (with the bitcast for same-width types) over 4 programs of 256 lanes, 1000 valid.
fn cast_pair(dev: &Device, from: DType, to: DType) -> Result<(), String> {
    let mut r = rng(11);
    let k = ew("cast", from, to, 64, |b, x, _| b.cast(x, to));
    let mut x = data::bits(from, 64, &mut r);
    if from.is_float() {
        for (i, e) in EDGES.iter().enumerate() {
            x.set(i, Scalar::from_f64(from, *e));
        }
    }
    let args = ew_args(
        x,
        data::bits(from, 64, &mut r),
        data::bits(to, 64, &mut r),
        60,
    );
    run_ew(dev, &format!("cast {from}[64] -> {to}"), &k, &args)?.check_all(&Tol::exact(dev))?;
    if from == to {
        return Ok(());
    }
    let k = ir_kernels::cast(from, to);
    let args = [
        Arg::Buf(data::bits(from, 1024, &mut r)),
        Arg::Buf(data::bits(to, 1024, &mut r)),
        Arg::Buf(data::bits(to, 1024, &mut r)),
        i32_arg(1000),
    ];
    let what = format!("cast and bitcast {from}[1000] -> {to} on a grid of 4");
    let out = run(dev, &what, &k, [4, 1, 1], 4, &args)?;
    let half = |d: DType| matches!(d, DType::F16 | DType::BF16);
    if !(is_cuda(dev) && half(from)) {
        return out.check_all(&Tol::exact(dev));
    }
    out.check(0, &Tol::exact(dev))?;
    out.check(1, &Tol::exact(dev))?;
    // PTX keeps f16/bf16 values in f32 registers and not NaN payloads (see
    // `bitmat_codegen::ptx`): where the input is a NaN as `from`, or the result a NaN as `to`,
    // the bitcast may give any NaN's bits. Every other element is compared bit for bit.
    let nan_as = |d: DType, bits: u64| d.is_float() && Scalar::from_bits(d, bits).as_f64().is_nan();
    let (got, want) = (&out.got[2], &out.want[2]);
    for i in 0..want.len() {
        let (g, w) = (
            got.get(i).expect("in range"),
            want.get(i).expect("in range"),
        );
        let (g, w) = (g.bits(), w.bits());
        let payload_only = [from, to].iter().any(|&d| nan_as(d, g) && nan_as(d, w));
        if g != w && !payload_only {
            return Err(format!(
                "{what} (buffer `out2`, the bitcast): first mismatch at element {i}: got bits {g:#06x}, reference {w:#06x}"
            ));
        }
    }
    Ok(())
}

fn float_to_int_as(dev: &Device) -> Result<(), String> {
    let mut x: Vec<f32> = vec![
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        -0.0,
        0.49,
        -0.51,
        127.5,
        128.0,
        -128.9,
        -129.0,
        255.9,
        300.0,
        -1.0,
        65535.5,
        70000.0,
        2.5e9,
        -2.5e9,
        1e20,
        -1e20,
        3.99,
        -3.99,
        1.0,
        2.0,
        5.5,
    ];
    let n = 32usize;
    x.resize(n, 7.25);
    let check = |to: DType, want: HostData| {
        let k = ew("as", DType::F32, to, n as u32, |b, x, _| b.cast(x, to));
        let xs = HostData::F32(x.clone());
        against_rust(
            dev,
            &format!("f32[{n}] as {to}"),
            &k,
            [xs.clone(), xs],
            want,
            &Tol::Bits,
        )
    };
    // Every integer type against Rust's `as` (`check_as!(I8: i8)` checks `f32 as i8`).
    macro_rules! check_as {
        ($($d:ident: $t:ty),*) => {
            $(check(DType::$d, HostData::$d(x.iter().map(|&v| v as $t).collect()))?;)*
        };
    }
    check_as!(I8: i8, U8: u8, I16: i16, U16: u16, I32: i32, U32: u32, I64: i64, U64: u64);
    Ok(())
}

/// Integers whose range the compiler knows (masked, shifted, sign-extended nibbles, offsets,
/// values cut from 64-bit words, through reshapes) cast to `f32`, `f16` and `bf16`: the PTX
/// backend converts those made by bitwise ops or an added constant with magic-number
/// arithmetic instead of `cvt`. Random bits in, exact against the interpreter and plain Rust.
fn small_integers_to_floats(dev: &Device) -> Result<(), String> {
    const N: u32 = 256;
    let mut r = rng(29);
    // Each case: its name, input type, what the kernel computes from `x` (an integer tile of
    // the input type; the result an integer tile), and the same in Rust on one `i64` lane.
    type Build = fn(&mut KernelBuilder, ValueId) -> ValueId;
    type Case = (&'static str, DType, Build, fn(i64) -> i64);
    let cases: [Case; 6] = [
        (
            "x & 0x7fffff",
            DType::I32,
            |b, x| by_constant(b, BinaryOp::And, x, 0x7f_ffff),
            |x| x & 0x7f_ffff,
        ),
        (
            "(((x >> 7) & 0xfff) ^ 0x800) - 0x800",
            DType::I32,
            |b, x| {
                let s = by_constant(b, BinaryOp::Shr, x, 7);
                let a = by_constant(b, BinaryOp::And, s, 0xfff);
                let f = by_constant(b, BinaryOp::Xor, a, 0x800);
                by_constant(b, BinaryOp::Sub, f, 0x800)
            },
            |x| (((x >> 7) & 0xfff) ^ 0x800) - 0x800,
        ),
        (
            "x >> 10",
            DType::I32,
            |b, x| by_constant(b, BinaryOp::Shr, x, 10),
            |x| x >> 10,
        ),
        (
            "((x & 0xffff) | 0x30000) + 5, through a reshape",
            DType::U32,
            |b, x| {
                let a = by_constant(b, BinaryOp::And, x, 0xffff);
                let a = by_constant(b, BinaryOp::Or, a, 0x3_0000);
                let a = b.reshape(a, vec![8, N / 8]);
                by_constant(b, BinaryOp::Add, a, 5)
            },
            |x| ((x & 0xffff) | 0x3_0000) + 5,
        ),
        (
            "((w >> 3) & 0x3ffff) as i32 - 77",
            DType::U64,
            |b, x| {
                let s = by_constant(b, BinaryOp::Shr, x, 3);
                let a = by_constant(b, BinaryOp::And, s, 0x3_ffff);
                let a = b.cast(a, DType::I32);
                by_constant(b, BinaryOp::Sub, a, 77)
            },
            |x| (((x as u64) >> 3) & 0x3_ffff) as i64 - 77,
        ),
        (
            "x as i8 as i32 * 3",
            DType::I32,
            |b, x| {
                let n = b.cast(x, DType::I8);
                let w = b.cast(n, DType::I32);
                by_constant(b, BinaryOp::Mul, w, 3)
            },
            |x| i64::from(x as i8) * 3,
        ),
    ];
    for (name, from, build, rust) in cases {
        for to in [DType::F32, DType::F16, DType::BF16] {
            let k = ew("small_int_to_float", from, to, N, |b, x, _| {
                let v = build(b, x);
                let v = b.reshape(v, vec![N]);
                b.cast(v, to)
            });
            let x = data::bits(from, N as usize, &mut r);
            let want: Vec<f64> = (0..N as usize)
                .map(|i| rust(x.get(i).expect("in range").as_i64()) as f64)
                .collect();
            let mut want_data = HostData::zeros(to, want.len());
            for (i, &w) in want.iter().enumerate() {
                want_data.set(i, Scalar::from_f64(to, w));
            }
            let what = format!("({name}) as {to}");
            let args = ew_args(
                x.clone(),
                x.clone(),
                HostData::zeros(to, N as usize),
                N as i32,
            );
            run_ew(dev, &what, &k, &args)?.check_all(&Tol::exact(dev))?;
            against_rust(dev, &what, &k, [x.clone(), x], want_data, &Tol::exact(dev))?;
        }
    }
    Ok(())
}

/// `x op c`, `c` a constant tile of `x`'s type and shape.
fn by_constant(b: &mut KernelBuilder, op: BinaryOp, x: ValueId, c: i64) -> ValueId {
    let ty = b.ty(x).clone();
    let d = ty.dtype().expect("an integer tile");
    let k = b.constant(Scalar::from_i64(d, c), ty.shape);
    b.binary(op, x, k)
}
