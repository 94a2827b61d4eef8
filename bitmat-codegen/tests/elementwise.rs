//! Elementwise ops on every applicable dtype: the JIT against the interpreter (and plain Rust
//! for a few), on random inputs with ragged masks.

mod common;

use bitmat_ir::{BinaryOp, CmpPred, DType, HostData, Scalar, UnaryOp};
use common::*;
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const UNARY: [UnaryOp; 8] = [
    UnaryOp::Neg,
    UnaryOp::Not,
    UnaryOp::Abs,
    UnaryOp::Exp,
    UnaryOp::Log,
    UnaryOp::Sqrt,
    UnaryOp::Rsqrt,
    UnaryOp::Round,
];

const BINARY: [BinaryOp; 12] = [
    BinaryOp::Add,
    BinaryOp::Sub,
    BinaryOp::Mul,
    BinaryOp::Div,
    BinaryOp::Rem,
    BinaryOp::And,
    BinaryOp::Or,
    BinaryOp::Xor,
    BinaryOp::Shl,
    BinaryOp::Shr,
    BinaryOp::Min,
    BinaryOp::Max,
];

const CMP: [CmpPred; 6] = [
    CmpPred::Eq,
    CmpPred::Ne,
    CmpPred::Lt,
    CmpPred::Le,
    CmpPred::Gt,
    CmpPred::Ge,
];

fn unary_applies(op: UnaryOp, d: DType) -> bool {
    match d {
        DType::Bool => op == UnaryOp::Not,
        d if d.is_int() => matches!(op, UnaryOp::Neg | UnaryOp::Not | UnaryOp::Abs),
        _ => op != UnaryOp::Not,
    }
}

fn binary_applies(op: BinaryOp, d: DType) -> bool {
    use BinaryOp as B;
    match d {
        DType::Bool => matches!(op, B::And | B::Or | B::Xor),
        d if d.is_int() => true,
        _ => matches!(
            op,
            B::Add | B::Sub | B::Mul | B::Div | B::Rem | B::Min | B::Max
        ),
    }
}

/// Replaces zero divisors (the interpreter reports them as errors).
fn nonzero(d: &mut HostData) {
    for i in 0..d.len() {
        let s = d.get(i).unwrap();
        if s.dtype().is_int() && s.bits() == 0 {
            d.set(i, Scalar::from_i64(s.dtype(), 3));
        }
    }
}

fn check_unary(op: UnaryOp, d: DType, n: u32, len: i32, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let k = ew_kernel("unary", d, d, n, |b, x, _| b.unary(op, x));
    let args = [
        Arg::Buf(random_data(d, n as usize, &mut rng)),
        Arg::Buf(random_data(d, n as usize, &mut rng)),
        Arg::Buf(random_data(d, n as usize, &mut rng)),
        i32_arg(len),
    ];
    // NaN payloads are unspecified (`bitmat_ir::kernel` docs): `round` of a NaN is some NaN.
    check_with(
        &format!("{op:?} on {d}"),
        &k,
        [1, 1, 1],
        &args,
        d.is_float(),
    );
}

fn check_binary(op: BinaryOp, d: DType, n: u32, len: i32, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let k = ew_kernel("binary", d, d, n, |b, x, y| b.binary(op, x, y));
    let mut y = random_data(d, n as usize, &mut rng);
    let mut len = len;
    if matches!(op, BinaryOp::Div | BinaryOp::Rem) {
        // Masked-off lanes read 0, which the interpreter would divide by.
        len = n as i32;
        nonzero(&mut y);
        // Exercise MIN / -1.
        if d.is_signed_int() {
            y.set(1, Scalar::from_i64(d, -1));
        }
    }
    let mut x = random_data(d, n as usize, &mut rng);
    if d.is_signed_int() {
        x.set(1, Scalar::from_bits(d, 1u64 << (d.bits() - 1)));
    }
    let args = [
        Arg::Buf(x),
        Arg::Buf(y),
        Arg::Buf(random_data(d, n as usize, &mut rng)),
        i32_arg(len),
    ];
    check(&format!("{op:?} on {d}"), &k, [1, 1, 1], &args);
}

fn check_cmp(pred: CmpPred, d: DType, n: u32, len: i32, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let k = ew_kernel("cmp", d, DType::Bool, n, |b, x, y| b.cmp(pred, x, y));
    let x = random_data(d, n as usize, &mut rng);
    let mut y = random_data(d, n as usize, &mut rng);
    // Some equal lanes.
    for i in (0..n as usize).step_by(3) {
        y.set(i, x.get(i).unwrap());
    }
    let args = [
        Arg::Buf(x),
        Arg::Buf(y),
        Arg::Buf(random_data(DType::Bool, n as usize, &mut rng)),
        i32_arg(len),
    ];
    check(&format!("{pred:?} on {d}"), &k, [1, 1, 1], &args);
}

#[test]
fn every_unary_op_on_every_dtype() {
    for d in DType::ALL {
        for op in UNARY {
            if unary_applies(op, d) {
                check_unary(op, d, 64, 50, 1);
                check_unary(op, d, 4, 3, 2);
            }
        }
    }
}

#[test]
fn every_binary_op_on_every_dtype() {
    for d in DType::ALL {
        for op in BINARY {
            if binary_applies(op, d) {
                check_binary(op, d, 64, 64, 3);
                check_binary(op, d, 32, 29, 4);
            }
        }
    }
}

#[test]
fn every_comparison_on_every_dtype() {
    for d in DType::ALL {
        for pred in CMP {
            if d == DType::Bool && !matches!(pred, CmpPred::Eq | CmpPred::Ne) {
                continue;
            }
            check_cmp(pred, d, 64, 61, 5);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn random_binary_ops(op in 0usize..12, d in 0usize..12, seed in any::<u64>(), len in 0i32..=128, logn in 0u32..8) {
        let (op, d) = (BINARY[op], DType::ALL[d]);
        let n = 1u32 << logn;
        if binary_applies(op, d) {
            check_binary(op, d, n, len.min(n as i32), seed);
        }
    }

    #[test]
    fn random_comparisons(pred in 0usize..6, d in 0usize..12, seed in any::<u64>(), len in 0i32..=64, logn in 0u32..7) {
        let (pred, d) = (CMP[pred], DType::ALL[d]);
        let n = 1u32 << logn;
        if d != DType::Bool || matches!(pred, CmpPred::Eq | CmpPred::Ne) {
            check_cmp(pred, d, n, len.min(n as i32), seed);
        }
    }

    #[test]
    fn random_unary_ops(op in 0usize..8, d in 0usize..12, seed in any::<u64>(), logn in 0u32..8) {
        let (op, d) = (UNARY[op], DType::ALL[d]);
        let n = 1u32 << logn;
        if unary_applies(op, d) {
            check_unary(op, d, n, n as i32, seed);
        }
    }
}

#[test]
fn wrapping_arithmetic_matches_plain_rust() {
    let mut rng = StdRng::seed_from_u64(9);
    let x: Vec<i8> = (0..64).map(|_| rng.gen()).collect();
    let y: Vec<i8> = (0..64).map(|_| rng.gen()).collect();
    let k = ew_kernel("mul", DType::I8, DType::I8, 64, |b, x, y| {
        b.binary(BinaryOp::Mul, x, y)
    });
    let out = run_jit(
        &k,
        [1, 1, 1],
        &[
            Arg::Buf(HostData::I8(x.clone())),
            Arg::Buf(HostData::I8(y.clone())),
            Arg::Buf(HostData::I8(vec![0; 64])),
            i32_arg(64),
        ],
    );
    let want: Vec<i8> = x.iter().zip(&y).map(|(a, b)| a.wrapping_mul(*b)).collect();
    assert_eq!(as_vec::<i8>(&out[2]), want);

    let xf: Vec<f32> = (0..64).map(|_| rng.gen_range(-10.0..10.0)).collect();
    let yf: Vec<f32> = (0..64).map(|_| rng.gen_range(-10.0..10.0)).collect();
    let k = ew_kernel("fsub", DType::F32, DType::F32, 64, |b, x, y| {
        let s = b.binary(BinaryOp::Sub, x, y);
        b.unary(UnaryOp::Sqrt, s)
    });
    let out = run_jit(
        &k,
        [1, 1, 1],
        &[
            Arg::Buf(HostData::F32(xf.clone())),
            Arg::Buf(HostData::F32(yf.clone())),
            Arg::Buf(HostData::F32(vec![0.0; 64])),
            i32_arg(64),
        ],
    );
    let got = as_vec::<f32>(&out[2]);
    for i in 0..64 {
        let w = (xf[i] - yf[i]).sqrt();
        assert!(w.to_bits() == got[i].to_bits() || (w.is_nan() && got[i].is_nan()));
    }
}

#[test]
fn casts_between_every_pair_of_dtypes() {
    for from in DType::ALL {
        for to in DType::ALL {
            let mut rng = StdRng::seed_from_u64(11);
            let k = ew_kernel("cast", from, to, 64, |b, x, _| b.cast(x, to));
            let mut x = random_data(from, 64, &mut rng);
            // Edge values: large magnitudes, NaN, infinities, halfway cases.
            let edges = [
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
            if from.is_float() {
                for (i, e) in edges.iter().enumerate() {
                    x.set(i, Scalar::from_f64(from, *e));
                }
            }
            let args = [
                Arg::Buf(x),
                Arg::Buf(random_data(from, 64, &mut rng)),
                Arg::Buf(random_data(to, 64, &mut rng)),
                i32_arg(60),
            ];
            check(&format!("cast {from} -> {to}"), &k, [1, 1, 1], &args);
        }
    }
}

#[test]
fn bitcasts_between_same_width_dtypes() {
    for from in DType::ALL {
        for to in DType::ALL {
            if from == DType::Bool || to == DType::Bool || from.bits() != to.bits() {
                continue;
            }
            let mut rng = StdRng::seed_from_u64(12);
            let k = ew_kernel("bitcast", from, to, 16, |b, x, _| b.bitcast(x, to));
            let args = [
                Arg::Buf(random_data(from, 16, &mut rng)),
                Arg::Buf(random_data(from, 16, &mut rng)),
                Arg::Buf(random_data(to, 16, &mut rng)),
                i32_arg(16),
            ];
            check(&format!("bitcast {from} -> {to}"), &k, [1, 1, 1], &args);
        }
    }
}

#[test]
fn select_on_every_dtype() {
    for d in DType::ALL {
        let mut rng = StdRng::seed_from_u64(13);
        let k = ew_kernel("select", d, d, 64, |b, x, y| {
            let pred = if d == DType::Bool {
                CmpPred::Ne
            } else {
                CmpPred::Lt
            };
            let c = b.cmp(pred, x, y);
            b.select(c, x, y)
        });
        let args = [
            Arg::Buf(random_data(d, 64, &mut rng)),
            Arg::Buf(random_data(d, 64, &mut rng)),
            Arg::Buf(random_data(d, 64, &mut rng)),
            i32_arg(57),
        ];
        check(&format!("select on {d}"), &k, [1, 1, 1], &args);
    }
}

#[test]
fn shifts_by_constants_on_every_int_dtype() {
    for d in DType::ALL.into_iter().filter(|d| d.is_int()) {
        for op in [BinaryOp::Shl, BinaryOp::Shr] {
            for amount in [0u64, 1, 3, 7, 9, 31, 63, 200] {
                let mut rng = StdRng::seed_from_u64(amount);
                let k = ew_kernel("shift_const", d, d, 64, |b, x, _| {
                    let c = b.constant(Scalar::from_bits(d, amount), vec![]);
                    let c = b.expand_dims(c, 0);
                    let c = b.broadcast(c, vec![64]);
                    b.binary(op, x, c)
                });
                let args = [
                    Arg::Buf(random_data(d, 64, &mut rng)),
                    Arg::Buf(random_data(d, 64, &mut rng)),
                    Arg::Buf(random_data(d, 64, &mut rng)),
                    i32_arg(64),
                ];
                check(&format!("{op:?} {d} by {amount}"), &k, [1, 1, 1], &args);
            }
        }
    }
}

#[test]
fn common_casts_are_vectorized() {
    let k = ew_kernel("cast_vec", DType::I32, DType::F32, 64, |b, x, _| {
        b.cast(x, DType::F32)
    });
    let ck = bitmat_codegen::CpuKernel::compile(&k).unwrap();
    assert!(ck.clif().contains("fcvt_from_sint.f32x4"), "{}", ck.clif());
    let k = ew_kernel("cast_vec", DType::F32, DType::I8, 64, |b, x, _| {
        b.cast(x, DType::I8)
    });
    let ck = bitmat_codegen::CpuKernel::compile(&k).unwrap();
    assert!(
        ck.clif().contains("fcvt_to_sint_sat.i32x4"),
        "{}",
        ck.clif()
    );
}

#[test]
fn bf16_conversions_are_bit_exact_with_half_including_nans() {
    half_conversions_are_bit_exact::<half::bf16>(DType::BF16);
}

#[test]
fn f16_conversions_are_bit_exact_with_half_including_nans() {
    half_conversions_are_bit_exact::<half::f16>(DType::F16);
}

trait Half: bitmat_ir::Element {
    fn from_bits(b: u16) -> Self;
    fn to_bits(self) -> u16;
    fn to_f32(self) -> f32;
    fn from_f32(v: f32) -> Self;
}

impl Half for half::bf16 {
    fn from_bits(b: u16) -> Self {
        half::bf16::from_bits(b)
    }
    fn to_bits(self) -> u16 {
        half::bf16::to_bits(self)
    }
    fn to_f32(self) -> f32 {
        half::bf16::to_f32(self)
    }
    fn from_f32(v: f32) -> Self {
        half::bf16::from_f32(v)
    }
}

impl Half for half::f16 {
    fn from_bits(b: u16) -> Self {
        half::f16::from_bits(b)
    }
    fn to_bits(self) -> u16 {
        half::f16::to_bits(self)
    }
    fn to_f32(self) -> f32 {
        half::f16::to_f32(self)
    }
    fn from_f32(v: f32) -> Self {
        half::f16::from_f32(v)
    }
}

/// Every bit pattern through f32 and back (`x * y`, `x + y` with random `y`), compared bit
/// for bit with `half`, NaN payloads included.
fn half_conversions_are_bit_exact<T: Half>(d: DType) {
    let n = 1usize << 16;
    let all: Vec<T> = (0..n).map(|i| T::from_bits(i as u16)).collect();
    let mut rng = StdRng::seed_from_u64(77);
    let ys: Vec<T> = (0..n).map(|_| T::from_bits(rng.gen())).collect();
    for op in [BinaryOp::Mul, BinaryOp::Add] {
        let k = ew_kernel("half", d, d, 1024, |b, x, y| b.binary(op, x, y));
        let ck = bitmat_codegen::CpuKernel::compile(&k).unwrap();
        for start in (0..n).step_by(1024) {
            let xs = &all[start..start + 1024];
            let yv = &ys[start..start + 1024];
            let out = run_compiled(
                &ck,
                [1, 1, 1],
                &[
                    Arg::Buf(T::into_host(xs.to_vec())),
                    Arg::Buf(T::into_host(yv.to_vec())),
                    Arg::Buf(HostData::zeros(d, 1024)),
                    i32_arg(1024),
                ],
            );
            let got = as_vec::<T>(&out[2]);
            for i in 0..1024 {
                let (a, b) = (xs[i].to_f32(), yv[i].to_f32());
                let want = T::from_f32(if op == BinaryOp::Mul { a * b } else { a + b });
                assert_eq!(got[i].to_bits(), want.to_bits(), "{op:?} {a} {b}");
            }
        }
    }
}

#[test]
fn float_to_int_casts_match_rust_as() {
    let vals: Vec<f32> = vec![
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
    let mut x = vals.clone();
    x.resize(n, 7.25);
    let run = |to: DType| {
        let k = ew_kernel("as", DType::F32, to, n as u32, |b, x, _| b.cast(x, to));
        run_jit(
            &k,
            [1, 1, 1],
            &[
                Arg::Buf(HostData::F32(x.clone())),
                Arg::Buf(HostData::F32(x.clone())),
                Arg::Buf(HostData::zeros(to, n)),
                i32_arg(n as i32),
            ],
        )
        .remove(2)
    };
    assert_eq!(
        as_vec::<i8>(&run(DType::I8)),
        x.iter().map(|&v| v as i8).collect::<Vec<_>>()
    );
    assert_eq!(
        as_vec::<u8>(&run(DType::U8)),
        x.iter().map(|&v| v as u8).collect::<Vec<_>>()
    );
    assert_eq!(
        as_vec::<i16>(&run(DType::I16)),
        x.iter().map(|&v| v as i16).collect::<Vec<_>>()
    );
    assert_eq!(
        as_vec::<u16>(&run(DType::U16)),
        x.iter().map(|&v| v as u16).collect::<Vec<_>>()
    );
    assert_eq!(
        as_vec::<i32>(&run(DType::I32)),
        x.iter().map(|&v| v as i32).collect::<Vec<_>>()
    );
    assert_eq!(
        as_vec::<u32>(&run(DType::U32)),
        x.iter().map(|&v| v as u32).collect::<Vec<_>>()
    );
    assert_eq!(
        as_vec::<i64>(&run(DType::I64)),
        x.iter().map(|&v| v as i64).collect::<Vec<_>>()
    );
    assert_eq!(
        as_vec::<u64>(&run(DType::U64)),
        x.iter().map(|&v| v as u64).collect::<Vec<_>>()
    );
}
