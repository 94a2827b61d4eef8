//! Casts between every pair of dtypes (random bit patterns plus NaN, infinities, halfway
//! cases and out-of-range magnitudes), bitcasts between every pair of one width, and
//! float-to-int casts against Rust's `as` (saturating, NaN to 0). Exact on every backend
//! (NaN payloads aside on CUDA).

use crate::data::{self, rng};
use crate::ew::{against_rust, ew_args, run_ew};
use crate::harness::{i32_arg, is_cuda, run, test, Arg, Test, Tol};
use crate::ir_kernels;
use crate::kernels::ew;
use bitmat::ir::{DType, HostData, Scalar};
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
