//! Tests of the reference interpreter against plain Rust computations.

// `InterpError` is large (the agreed API); helpers here return it unboxed.
#![allow(clippy::result_large_err)]

use bitmat_ir::interp::{run, ArgValue, InterpError, InterpErrorKind};
use bitmat_ir::{
    BinaryOp, CmpPred, DType, Element, HostData, Kernel, KernelBuilder, ParamKind, ReduceOp,
    Scalar, UnaryOp, ValueId,
};
use half::{bf16, f16};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};

// ---------------------------------------------------------------------------------------------
// Helpers

/// Runs `kernel` with `args` over `bufs`.
fn launch(
    kernel: &Kernel,
    grid: [u32; 3],
    args: &[ArgValue],
    bufs: &mut [HostData],
) -> Result<(), InterpError> {
    let mut refs: Vec<&mut HostData> = bufs.iter_mut().collect();
    run(kernel, grid, args, &mut refs)
}

fn buf(i: usize) -> ArgValue {
    ArgValue::Buffer(i)
}

fn i32_arg(v: i32) -> ArgValue {
    ArgValue::Scalar(Scalar::from_i64(DType::I32, i64::from(v)))
}

/// Broadcasts the scalar `v` to `shape`.
fn splat(b: &mut KernelBuilder, v: ValueId, shape: &[u32]) -> ValueId {
    let mut t = v;
    for _ in shape {
        t = b.expand_dims(t, 0);
    }
    b.broadcast(t, shape.to_vec())
}

/// `v [n]` as a column repeated over `m` columns: `[n, m]`.
fn col(b: &mut KernelBuilder, v: ValueId, n: u32, m: u32) -> ValueId {
    let t = b.expand_dims(v, 1);
    b.broadcast(t, vec![n, m])
}

/// `v [m]` as a row repeated over `n` rows: `[n, m]`.
fn row(b: &mut KernelBuilder, v: ValueId, n: u32, m: u32) -> ValueId {
    let t = b.expand_dims(v, 0);
    b.broadcast(t, vec![n, m])
}

fn i32_const(b: &mut KernelBuilder, v: i32, shape: &[u32]) -> ValueId {
    b.constant(Scalar::from_i64(DType::I32, i64::from(v)), shape.to_vec())
}

/// Pointers `p + 0 .. p + n`.
fn ptrs_1d(b: &mut KernelBuilder, p: ValueId, n: u32) -> ValueId {
    let offs = b.arange(n);
    let base = splat(b, p, &[n]);
    b.add_ptr(base, offs)
}

/// Pointers `p + r * cols + c` for a `[rows, cols]` tile.
fn ptrs_2d(b: &mut KernelBuilder, p: ValueId, rows: u32, cols: u32) -> ValueId {
    let r = b.arange(rows);
    let c = b.arange(cols);
    let r2 = col(b, r, rows, cols);
    let c2 = row(b, c, rows, cols);
    let stride = i32_const(b, cols as i32, &[rows, cols]);
    let rs = b.binary(BinaryOp::Mul, r2, stride);
    let offs = b.binary(BinaryOp::Add, rs, c2);
    let base = splat(b, p, &[rows, cols]);
    b.add_ptr(base, offs)
}

fn host<T: Element>(v: Vec<T>) -> HostData {
    T::into_host(v)
}

fn slice<T: Element>(d: &HostData) -> &[T] {
    T::host_slice(d).expect("buffer type")
}

/// Equality of bit patterns, with every NaN equal to every other NaN of the type.
fn same<T: Native>(a: T, b: T) -> bool {
    a.to_bits64() == b.to_bits64() || (a.is_nan() && b.is_nan())
}

// ---------------------------------------------------------------------------------------------
// Native reference semantics

/// Reference arithmetic on the native Rust types.
trait Native: Element + PartialOrd {
    /// Bits, zero-extended.
    fn to_bits64(self) -> u64;
    /// From bits.
    fn from_bits64(b: u64) -> Self;
    /// NaN test (false for non-floats).
    fn is_nan(self) -> bool {
        false
    }
    /// `Some(Some(v))`: result; `Some(None)`: division by zero; `None`: op not defined.
    fn bin(op: BinaryOp, a: Self, b: Self) -> Option<Option<Self>>;
    /// `None`: op not defined.
    fn un(op: UnaryOp, a: Self) -> Option<Self>;
}

macro_rules! native_int {
    ($t:ty, $u:ty, $abs:expr) => {
        impl Native for $t {
            fn to_bits64(self) -> u64 {
                self as $u as u64
            }
            fn from_bits64(b: u64) -> Self {
                b as $u as $t
            }
            fn bin(op: BinaryOp, a: Self, b: Self) -> Option<Option<Self>> {
                let bits = <$t>::BITS;
                Some(Some(match op {
                    BinaryOp::Add => a.wrapping_add(b),
                    BinaryOp::Sub => a.wrapping_sub(b),
                    BinaryOp::Mul => a.wrapping_mul(b),
                    BinaryOp::Div => return Some(a.checked_div(b).or((b != 0).then(|| a))),
                    BinaryOp::Rem => return Some(a.checked_rem(b).or((b != 0).then(|| 0))),
                    BinaryOp::And => a & b,
                    BinaryOp::Or => a | b,
                    BinaryOp::Xor => a ^ b,
                    BinaryOp::Shl => a << ((b as u32) % bits),
                    BinaryOp::Shr => a >> ((b as u32) % bits),
                    BinaryOp::Min => a.min(b),
                    BinaryOp::Max => a.max(b),
                }))
            }
            fn un(op: UnaryOp, a: Self) -> Option<Self> {
                match op {
                    UnaryOp::Neg => Some((0 as $t).wrapping_sub(a)),
                    UnaryOp::Not => Some(!a),
                    #[allow(clippy::redundant_closure_call)]
                    UnaryOp::Abs => Some(($abs)(a)),
                    _ => None,
                }
            }
        }
    };
}

// `checked_div` is `None` for `MIN / -1` (which wraps to `MIN`, i.e. `a`) and for `/ 0`.
native_int!(i8, u8, |a: i8| if a == i8::MIN { a } else { a.abs() });
native_int!(u8, u8, |a: u8| a);
native_int!(i16, u16, |a: i16| if a == i16::MIN { a } else { a.abs() });
native_int!(u16, u16, |a: u16| a);
native_int!(i32, u32, |a: i32| if a == i32::MIN { a } else { a.abs() });
native_int!(u32, u32, |a: u32| a);
native_int!(i64, u64, |a: i64| if a == i64::MIN { a } else { a.abs() });
native_int!(u64, u64, |a: u64| a);

impl Native for bool {
    fn to_bits64(self) -> u64 {
        u64::from(self)
    }
    fn from_bits64(b: u64) -> Self {
        b & 1 != 0
    }
    fn bin(op: BinaryOp, a: Self, b: Self) -> Option<Option<Self>> {
        Some(Some(match op {
            BinaryOp::And => a && b,
            BinaryOp::Or => a || b,
            BinaryOp::Xor => a != b,
            BinaryOp::Min => a.min(b),
            BinaryOp::Max => a.max(b),
            _ => return None,
        }))
    }
    fn un(op: UnaryOp, a: Self) -> Option<Self> {
        (op == UnaryOp::Not).then_some(!a)
    }
}

fn f32_bin(op: BinaryOp, a: f32, b: f32) -> Option<f32> {
    Some(match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Rem => a % b,
        BinaryOp::Min => a.min(b),
        BinaryOp::Max => a.max(b),
        _ => return None,
    })
}

fn f32_un(op: UnaryOp, a: f32) -> Option<f32> {
    Some(match op {
        UnaryOp::Neg => -a,
        UnaryOp::Abs => a.abs(),
        UnaryOp::Exp => a.exp(),
        UnaryOp::Log => a.ln(),
        UnaryOp::Sqrt => a.sqrt(),
        UnaryOp::Rsqrt => 1.0 / a.sqrt(),
        UnaryOp::Round => a.round_ties_even(),
        UnaryOp::Floor => a.floor(),
        UnaryOp::Ceil => a.ceil(),
        // `not` is not defined on floats; the other transcendental ops are checked against
        // f64 within their ulp bounds (the conformance suite's `math::*_accuracy`), not here.
        _ => return None,
    })
}

impl Native for f32 {
    fn to_bits64(self) -> u64 {
        u64::from(self.to_bits())
    }
    fn from_bits64(b: u64) -> Self {
        f32::from_bits(b as u32)
    }
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
    fn bin(op: BinaryOp, a: Self, b: Self) -> Option<Option<Self>> {
        f32_bin(op, a, b).map(Some)
    }
    fn un(op: UnaryOp, a: Self) -> Option<Self> {
        f32_un(op, a)
    }
}

macro_rules! native_half {
    ($t:ty) => {
        impl Native for $t {
            fn to_bits64(self) -> u64 {
                u64::from(self.to_bits())
            }
            fn from_bits64(b: u64) -> Self {
                <$t>::from_bits(b as u16)
            }
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            fn bin(op: BinaryOp, a: Self, b: Self) -> Option<Option<Self>> {
                // `half`'s own operators compute in f32 and round.
                Some(Some(match op {
                    BinaryOp::Add => a + b,
                    BinaryOp::Sub => a - b,
                    BinaryOp::Mul => a * b,
                    BinaryOp::Div => a / b,
                    BinaryOp::Rem => a % b,
                    _ => {
                        return f32_bin(op, a.to_f32(), b.to_f32()).map(|v| Some(<$t>::from_f32(v)))
                    }
                }))
            }
            fn un(op: UnaryOp, a: Self) -> Option<Self> {
                f32_un(op, a.to_f32()).map(<$t>::from_f32)
            }
        }
    };
}
native_half!(f16);
native_half!(bf16);

const BINARY_OPS: [BinaryOp; 12] = [
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

const UNARY_OPS: [UnaryOp; 10] = [
    UnaryOp::Neg,
    UnaryOp::Not,
    UnaryOp::Abs,
    UnaryOp::Exp,
    UnaryOp::Log,
    UnaryOp::Sqrt,
    UnaryOp::Rsqrt,
    UnaryOp::Round,
    UnaryOp::Floor,
    UnaryOp::Ceil,
];

const PREDS: [CmpPred; 6] = [
    CmpPred::Eq,
    CmpPred::Ne,
    CmpPred::Lt,
    CmpPred::Le,
    CmpPred::Gt,
    CmpPred::Ge,
];

fn cmp_ref<T: PartialOrd>(p: CmpPred, a: T, b: T) -> bool {
    match p {
        CmpPred::Eq => a == b,
        CmpPred::Ne => a != b,
        CmpPred::Lt => a < b,
        CmpPred::Le => a <= b,
        CmpPred::Gt => a > b,
        CmpPred::Ge => a >= b,
    }
}

// ---------------------------------------------------------------------------------------------
// Elementwise kernels

const N: u32 = 16;

/// `out[i] = f(x[i], y[i])` over 16 elements; `f` adds the op and returns its result.
fn elementwise_kernel(
    dt: DType,
    out_dt: DType,
    f: impl FnOnce(&mut KernelBuilder, ValueId, ValueId) -> ValueId,
) -> Kernel {
    let mut b = KernelBuilder::new("elementwise");
    let x = b.param("x", ParamKind::Ptr(dt));
    let y = b.param("y", ParamKind::Ptr(dt));
    let out = b.param("out", ParamKind::Ptr(out_dt));
    let px = ptrs_1d(&mut b, x, N);
    let py = ptrs_1d(&mut b, y, N);
    let po = ptrs_1d(&mut b, out, N);
    let vx = b.load(px, None, None);
    let vy = b.load(py, None, None);
    let r = f(&mut b, vx, vy);
    b.store(po, r, None);
    b.finish().unwrap()
}

fn run_elementwise<T: Element, U: Element>(
    kernel: &Kernel,
    x: &[T],
    y: &[T],
) -> Result<Vec<U>, InterpError> {
    let mut bufs = vec![
        host(x.to_vec()),
        host(y.to_vec()),
        HostData::zeros(U::DTYPE, N as usize),
    ];
    launch(kernel, [1, 1, 1], &[buf(0), buf(1), buf(2)], &mut bufs)?;
    Ok(slice::<U>(&bufs[2]).to_vec())
}

fn check_binary<T: Native>(x: &[T], y: &[T]) {
    for op in BINARY_OPS {
        let kernel = elementwise_kernel(T::DTYPE, T::DTYPE, |b, vx, vy| b.binary(op, vx, vy));
        let expected: Vec<Option<Option<T>>> =
            x.iter().zip(y).map(|(&a, &b)| T::bin(op, a, b)).collect();
        let got = run_elementwise::<T, T>(&kernel, x, y);
        if expected[0].is_none() {
            let err = got.expect_err("undefined op must fail");
            assert!(
                matches!(err.kind, InterpErrorKind::Malformed(_)),
                "{op:?} {}",
                T::DTYPE
            );
            continue;
        }
        match expected.iter().position(|e| *e == Some(None)) {
            Some(lane) => {
                let err = got.expect_err("division by zero");
                assert_eq!(
                    err.kind,
                    InterpErrorKind::DivisionByZero {
                        lane: vec![lane as u32]
                    },
                    "{op:?} {}",
                    T::DTYPE
                );
            }
            None => {
                let got = got.unwrap();
                for i in 0..x.len() {
                    let e = expected[i].unwrap().unwrap();
                    assert!(
                        same(got[i], e),
                        "{op:?} {}: {:?} {:?} -> {:?}, expected {:?}",
                        T::DTYPE,
                        x[i],
                        y[i],
                        got[i],
                        e
                    );
                }
            }
        }
    }
}

fn check_unary<T: Native>(x: &[T]) {
    for op in UNARY_OPS {
        let kernel = elementwise_kernel(T::DTYPE, T::DTYPE, |b, vx, _| b.unary(op, vx));
        let got = run_elementwise::<T, T>(&kernel, x, x);
        if T::un(op, x[0]).is_none() {
            assert!(matches!(
                got.unwrap_err().kind,
                InterpErrorKind::Malformed(_)
            ));
            continue;
        }
        let got = got.unwrap();
        for (i, &a) in x.iter().enumerate() {
            let e = T::un(op, a).unwrap();
            assert!(
                same(got[i], e),
                "{op:?} {}: {a:?} -> {:?}, expected {e:?}",
                T::DTYPE,
                got[i]
            );
        }
    }
}

fn check_cmp<T: Native>(x: &[T], y: &[T]) {
    for pred in PREDS {
        let kernel = elementwise_kernel(T::DTYPE, DType::Bool, |b, vx, vy| b.cmp(pred, vx, vy));
        let got = run_elementwise::<T, bool>(&kernel, x, y).unwrap();
        for i in 0..x.len() {
            assert_eq!(
                got[i],
                cmp_ref(pred, x[i], y[i]),
                "{pred:?} {:?} {:?}",
                x[i],
                y[i]
            );
        }
    }
}

fn check_all<T: Native>(x: &[T], y: &[T]) {
    check_binary(x, y);
    check_unary(x);
    check_cmp(x, y);
    // Comparisons of a value with itself (NaN included).
    check_cmp(x, x);
}

fn from_bits_vec<T: Native>(bits: &[u64]) -> Vec<T> {
    bits.iter().map(|&b| T::from_bits64(b)).collect()
}

/// Random bit patterns, often small or special so that interesting cases come up.
fn bits_strategy() -> impl Strategy<Value = Vec<u64>> {
    prop::collection::vec(
        prop_oneof![
            any::<u64>(),
            (0u64..8),
            Just(u64::MAX),
            Just(0x7fc0_0000), // f32 NaN
            Just(0x3f80_0000), // f32 1.0
            Just(0x3c00),      // f16 1.0
            Just(0x7c00),      // f16 inf
            (0u64..0x10000),   // any 16-bit pattern
        ],
        N as usize,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn elementwise_ops_match_rust(x in bits_strategy(), y in bits_strategy()) {
        check_all::<bool>(&from_bits_vec(&x), &from_bits_vec(&y));
        check_all::<i8>(&from_bits_vec(&x), &from_bits_vec(&y));
        check_all::<u8>(&from_bits_vec(&x), &from_bits_vec(&y));
        check_all::<i16>(&from_bits_vec(&x), &from_bits_vec(&y));
        check_all::<u16>(&from_bits_vec(&x), &from_bits_vec(&y));
        check_all::<i32>(&from_bits_vec(&x), &from_bits_vec(&y));
        check_all::<u32>(&from_bits_vec(&x), &from_bits_vec(&y));
        check_all::<i64>(&from_bits_vec(&x), &from_bits_vec(&y));
        check_all::<u64>(&from_bits_vec(&x), &from_bits_vec(&y));
        check_all::<f16>(&from_bits_vec(&x), &from_bits_vec(&y));
        check_all::<bf16>(&from_bits_vec(&x), &from_bits_vec(&y));
        check_all::<f32>(&from_bits_vec(&x), &from_bits_vec(&y));
    }

    #[test]
    fn casts_match_rust_as(x in bits_strategy()) {
        check_casts_from::<bool>(&from_bits_vec(&x));
        check_casts_from::<i8>(&from_bits_vec(&x));
        check_casts_from::<u8>(&from_bits_vec(&x));
        check_casts_from::<i16>(&from_bits_vec(&x));
        check_casts_from::<u16>(&from_bits_vec(&x));
        check_casts_from::<i32>(&from_bits_vec(&x));
        check_casts_from::<u32>(&from_bits_vec(&x));
        check_casts_from::<i64>(&from_bits_vec(&x));
        check_casts_from::<u64>(&from_bits_vec(&x));
        check_casts_from::<f16>(&from_bits_vec(&x));
        check_casts_from::<bf16>(&from_bits_vec(&x));
        check_casts_from::<f32>(&from_bits_vec(&x));
    }
}

#[test]
fn division_by_zero_names_the_lane() {
    let kernel = elementwise_kernel(DType::I32, DType::I32, |b, vx, vy| {
        b.binary(BinaryOp::Div, vx, vy)
    });
    let x: Vec<i32> = (0..16).collect();
    let mut y = vec![1i32; 16];
    y[5] = 0;
    let err = run_elementwise::<i32, i32>(&kernel, &x, &y).unwrap_err();
    assert_eq!(err.kind, InterpErrorKind::DivisionByZero { lane: vec![5] });
    assert!(err.op.ends_with("= div"), "{}", err.op);
    assert!(
        err.to_string().contains("division by zero (lane [5])"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Casts and bitcasts

/// Reference for `x as U`, where `x` is a value of `T`: Rust `as` for native types; `half`
/// conversions for f16/bf16 from floats, and the exactly nearest value from integers.
trait CastRef: Native {
    fn as_f64_ref(self) -> Option<f64>;
    fn as_i128_ref(self) -> Option<i128>;
}

macro_rules! cast_ref_int {
    ($($t:ty),*) => {$(
        impl CastRef for $t {
            fn as_f64_ref(self) -> Option<f64> { None }
            fn as_i128_ref(self) -> Option<i128> { Some(self as i128) }
        }
    )*};
}
cast_ref_int!(i8, u8, i16, u16, i32, u32, i64, u64);
impl CastRef for bool {
    fn as_f64_ref(self) -> Option<f64> {
        None
    }
    fn as_i128_ref(self) -> Option<i128> {
        Some(i128::from(self))
    }
}
impl CastRef for f32 {
    fn as_f64_ref(self) -> Option<f64> {
        Some(f64::from(self))
    }
    fn as_i128_ref(self) -> Option<i128> {
        None
    }
}
impl CastRef for f16 {
    fn as_f64_ref(self) -> Option<f64> {
        Some(self.to_f64())
    }
    fn as_i128_ref(self) -> Option<i128> {
        None
    }
}
impl CastRef for bf16 {
    fn as_f64_ref(self) -> Option<f64> {
        Some(self.to_f64())
    }
    fn as_i128_ref(self) -> Option<i128> {
        None
    }
}

/// `x as $to` by Rust's own rules; floats are exactly represented in f64, so `f as T` through
/// f64 equals the direct conversion for integer and f32 targets.
fn cast_expected<T: CastRef>(x: T, to: DType) -> u64 {
    macro_rules! conv {
        ($t:ty, $u:ty) => {
            match (x.as_i128_ref(), x.as_f64_ref()) {
                (Some(i), _) => (i as $t) as $u as u64,
                (_, Some(f)) => (f as $t) as $u as u64,
                _ => unreachable!(),
            }
        };
    }
    match to {
        DType::Bool => match (x.as_i128_ref(), x.as_f64_ref()) {
            (Some(i), _) => u64::from(i != 0),
            (_, Some(f)) => u64::from(f != 0.0),
            _ => unreachable!(),
        },
        DType::I8 => conv!(i8, u8),
        DType::U8 => conv!(u8, u8),
        DType::I16 => conv!(i16, u16),
        DType::U16 => conv!(u16, u16),
        DType::I32 => conv!(i32, u32),
        DType::U32 => conv!(u32, u32),
        DType::I64 => conv!(i64, u64),
        DType::U64 => conv!(u64, u64),
        DType::F32 => match (x.as_i128_ref(), x.as_f64_ref()) {
            (Some(i), _) if T::DTYPE == DType::U64 => u64::from((i as u64 as f32).to_bits()),
            (Some(i), _) => u64::from((i as i64 as f32).to_bits()),
            (_, Some(f)) => u64::from((f as f32).to_bits()),
            _ => unreachable!(),
        },
        DType::F16 => {
            let f = x
                .as_f64_ref()
                .unwrap_or_else(|| x.as_i128_ref().unwrap() as f64);
            u64::from(f16::from_f64(f).to_bits())
        }
        DType::BF16 => match (x.as_i128_ref(), x.as_f64_ref()) {
            (Some(i), _) => u64::from(nearest_bf16(i).to_bits()),
            (_, Some(f)) => u64::from(bf16::from_f64(f).to_bits()),
            _ => unreachable!(),
        },
        // The float8 crate's conversions round to nearest even and saturate, as the IR does;
        // an integer is exact in f64 below 2^53, and saturates from far lower anyway.
        DType::F8E4M3 | DType::F8E5M2 => {
            let f = x
                .as_f64_ref()
                .unwrap_or_else(|| x.as_i128_ref().unwrap() as f64);
            u64::from(if to == DType::F8E4M3 {
                float8::F8E4M3::from_f64(f).to_bits()
            } else {
                float8::F8E5M2::from_f64(f).to_bits()
            })
        }
    }
}

/// The bf16 nearest to the integer `i` (ties to even), found by comparing the exact distances
/// of the neighbouring candidates, independently of any float conversion's rounding.
fn nearest_bf16(i: i128) -> bf16 {
    let guess = bf16::from_f64(i as f64);
    let candidates = [
        bf16::from_bits(guess.to_bits().wrapping_sub(1)),
        guess,
        bf16::from_bits(guess.to_bits().wrapping_add(1)),
    ];
    let dist = |c: bf16| {
        let v = c.to_f64();
        // Every finite bf16 of magnitude >= 256 is an integer; smaller integers convert exactly.
        if v.is_finite() && v.fract() == 0.0 {
            Some((v as i128 - i).unsigned_abs())
        } else {
            None
        }
    };
    let mut best = guess;
    let mut best_dist = dist(guess);
    for c in candidates {
        let d = dist(c);
        let better = match (d, best_dist) {
            (Some(d), Some(b)) => d < b || (d == b && c.to_bits() % 2 == 0),
            (Some(_), None) => true,
            _ => false,
        };
        if better {
            best = c;
            best_dist = d;
        }
    }
    best
}

fn check_casts_from<T: CastRef>(x: &[T]) {
    for to in DType::ALL {
        let kernel = elementwise_kernel(T::DTYPE, to, |b, vx, _| b.cast(vx, to));
        let mut bufs = vec![
            host(x.to_vec()),
            host(x.to_vec()),
            HostData::zeros(to, N as usize),
        ];
        launch(&kernel, [1, 1, 1], &[buf(0), buf(1), buf(2)], &mut bufs).unwrap();
        for (i, &v) in x.iter().enumerate() {
            let got = bufs[2].get(i).unwrap();
            let expected = Scalar::from_bits(to, cast_expected(v, to));
            let both_nan =
                got.dtype().is_float() && got.as_f64().is_nan() && expected.as_f64().is_nan();
            assert!(
                got == expected || both_nan,
                "{v:?} as {to}: got {got:?}, expected {expected:?}"
            );
        }
    }
}

fn check_bitcast<T: Native, U: Native>(x: &[T]) {
    let kernel = elementwise_kernel(T::DTYPE, U::DTYPE, |b, vx, _| b.bitcast(vx, U::DTYPE));
    let got = run_elementwise::<T, U>(&kernel, x, x).unwrap();
    for (i, &v) in x.iter().enumerate() {
        // Bit-exact, NaN payloads included.
        assert_eq!(
            got[i].to_bits64(),
            U::from_bits64(v.to_bits64()).to_bits64()
        );
        assert_eq!(got[i].to_bits64(), v.to_bits64());
    }
}

#[test]
fn bitcasts_reinterpret_bits() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let bits: Vec<u64> = (0..N).map(|_| rng.gen()).collect();
    check_bitcast::<i8, u8>(&from_bits_vec(&bits));
    check_bitcast::<u8, i8>(&from_bits_vec(&bits));
    check_bitcast::<i16, f16>(&from_bits_vec(&bits));
    check_bitcast::<u16, bf16>(&from_bits_vec(&bits));
    check_bitcast::<f16, bf16>(&from_bits_vec(&bits));
    check_bitcast::<bf16, i16>(&from_bits_vec(&bits));
    check_bitcast::<u32, f32>(&from_bits_vec(&bits));
    check_bitcast::<f32, i32>(&from_bits_vec(&bits));
    check_bitcast::<i64, u64>(&from_bits_vec(&bits));
    // Signalling NaN patterns survive a round trip.
    let snan = vec![0x7d01u16; N as usize];
    check_bitcast::<u16, f16>(&snan);
    let kernel = elementwise_kernel(DType::I32, DType::I64, |b, vx, _| b.bitcast(vx, DType::I64));
    let x = vec![0i32; 16];
    assert!(matches!(
        run_elementwise::<i32, i64>(&kernel, &x, &x)
            .unwrap_err()
            .kind,
        InterpErrorKind::Malformed(_)
    ));
}

// ---------------------------------------------------------------------------------------------
// Reductions and dot

const R: u32 = 4;
const C: u32 = 8;

fn reduce_kernel(dt: DType, op: ReduceOp, axis: u32) -> Kernel {
    let mut b = KernelBuilder::new("reduce");
    let x = b.param("x", ParamKind::Ptr(dt));
    let out = b.param("out", ParamKind::Ptr(dt));
    let px = ptrs_2d(&mut b, x, R, C);
    let v = b.load(px, None, None);
    let r = b.reduce(op, v, axis);
    let n = if axis == 0 { C } else { R };
    let po = ptrs_1d(&mut b, out, n);
    b.store(po, r, None);
    b.finish().unwrap()
}

/// Reduces `x` (`[R, C]` row-major) along `axis` with `f` in index order from the first element.
fn reduce_ref<T: Copy>(x: &[T], axis: u32, f: impl Fn(T, T) -> T) -> Vec<T> {
    let (r, c) = (R as usize, C as usize);
    if axis == 0 {
        (0..c)
            .map(|j| (1..r).fold(x[j], |s, i| f(s, x[i * c + j])))
            .collect()
    } else {
        (0..r)
            .map(|i| (1..c).fold(x[i * c], |s, j| f(s, x[i * c + j])))
            .collect()
    }
}

fn check_reduce<T: Native>(x: &[T], op: ReduceOp, axis: u32, expected: &[T]) {
    let kernel = reduce_kernel(T::DTYPE, op, axis);
    let n = expected.len();
    let mut bufs = vec![host(x.to_vec()), HostData::zeros(T::DTYPE, n)];
    launch(&kernel, [1, 1, 1], &[buf(0), buf(1)], &mut bufs).unwrap();
    let got = slice::<T>(&bufs[1]);
    for i in 0..n {
        assert!(
            same(got[i], expected[i]),
            "{op:?} axis {axis} {}: {:?} vs {:?}",
            T::DTYPE,
            got,
            expected
        );
    }
}

fn check_float_reductions<T: Native>(x: &[T], to: fn(T) -> f32, from: fn(f32) -> T) {
    let wide: Vec<f32> = x.iter().map(|&v| to(v)).collect();
    for axis in 0..2 {
        let round = |v: Vec<f32>| v.into_iter().map(from).collect::<Vec<T>>();
        check_reduce(
            x,
            ReduceOp::Sum,
            axis,
            &round(reduce_ref(&wide, axis, |a, b| a + b)),
        );
        check_reduce(
            x,
            ReduceOp::Max,
            axis,
            &round(reduce_ref(&wide, axis, f32::max)),
        );
        check_reduce(
            x,
            ReduceOp::Min,
            axis,
            &round(reduce_ref(&wide, axis, f32::min)),
        );
    }
}

#[test]
fn reductions_match_naive_loops() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let n = (R * C) as usize;
    let xi: Vec<i32> = (0..n).map(|_| rng.gen()).collect();
    let xu: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
    let xb: Vec<bool> = (0..n).map(|_| rng.gen_bool(0.3)).collect();
    for axis in 0..2 {
        check_reduce(
            &xi,
            ReduceOp::Sum,
            axis,
            &reduce_ref(&xi, axis, i32::wrapping_add),
        );
        check_reduce(&xi, ReduceOp::Max, axis, &reduce_ref(&xi, axis, i32::max));
        check_reduce(&xi, ReduceOp::Min, axis, &reduce_ref(&xi, axis, i32::min));
        check_reduce(
            &xu,
            ReduceOp::Sum,
            axis,
            &reduce_ref(&xu, axis, u8::wrapping_add),
        );
        check_reduce(&xu, ReduceOp::Max, axis, &reduce_ref(&xu, axis, u8::max));
        check_reduce(
            &xb,
            ReduceOp::Max,
            axis,
            &reduce_ref(&xb, axis, |a, b| a || b),
        );
        check_reduce(
            &xb,
            ReduceOp::Min,
            axis,
            &reduce_ref(&xb, axis, |a, b| a && b),
        );
    }
    let xf: Vec<f32> = (0..n).map(|_| rng.gen_range(-10.0f32..10.0)).collect();
    check_float_reductions(&xf, |v| v, |v| v);
    let xh: Vec<f16> = xf.iter().map(|&v| f16::from_f32(v)).collect();
    check_float_reductions(&xh, f16::to_f32, f16::from_f32);
    let xbf: Vec<bf16> = xf.iter().map(|&v| bf16::from_f32(v)).collect();
    check_float_reductions(&xbf, bf16::to_f32, bf16::from_f32);
}

const DM: u32 = 8;
const DK: u32 = 16;
const DN: u32 = 4;

fn dot_kernel(ab: DType, acc: DType) -> Kernel {
    let mut b = KernelBuilder::new("dot");
    let pa = b.param("a", ParamKind::Ptr(ab));
    let pb = b.param("b", ParamKind::Ptr(ab));
    let pc = b.param("c", ParamKind::Ptr(acc));
    let ta = ptrs_2d(&mut b, pa, DM, DK);
    let tb = ptrs_2d(&mut b, pb, DK, DN);
    let tc = ptrs_2d(&mut b, pc, DM, DN);
    let va = b.load(ta, None, None);
    let vb = b.load(tb, None, None);
    let vc = b.load(tc, None, None);
    let d = b.dot(va, vb, vc);
    b.store(tc, d, None);
    b.finish().unwrap()
}

fn check_dot_float<T: Element>(gen: impl Fn(f32) -> T, to: impl Fn(T) -> f32) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let (m, k, n) = (DM as usize, DK as usize, DN as usize);
    let a: Vec<T> = (0..m * k).map(|_| gen(rng.gen_range(-4.0..4.0))).collect();
    let b: Vec<T> = (0..k * n).map(|_| gen(rng.gen_range(-4.0..4.0))).collect();
    let c: Vec<f32> = (0..m * n).map(|_| rng.gen_range(-4.0..4.0)).collect();
    let mut expected = c.clone();
    for i in 0..m {
        for j in 0..n {
            let mut s = c[i * n + j];
            for kk in 0..k {
                s += to(a[i * k + kk]) * to(b[kk * n + j]);
            }
            expected[i * n + j] = s;
        }
    }
    let kernel = dot_kernel(T::DTYPE, DType::F32);
    let mut bufs = vec![host(a), host(b), host(c)];
    launch(&kernel, [1, 1, 1], &[buf(0), buf(1), buf(2)], &mut bufs).unwrap();
    let got = slice::<f32>(&bufs[2]);
    for i in 0..m * n {
        assert_eq!(got[i].to_bits(), expected[i].to_bits(), "{}", T::DTYPE);
    }
}

#[test]
fn dot_matches_naive_loops() {
    check_dot_float(|v| v, |v: f32| v);
    check_dot_float(f16::from_f32, f16::to_f32);
    check_dot_float(bf16::from_f32, bf16::to_f32);

    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    let (m, k, n) = (DM as usize, DK as usize, DN as usize);
    let a: Vec<i8> = (0..m * k).map(|_| rng.gen()).collect();
    let b: Vec<i8> = (0..k * n).map(|_| rng.gen()).collect();
    // Accumulators near the extremes so that the sum wraps.
    let c: Vec<i32> = (0..m * n)
        .map(|i| if i % 2 == 0 { i32::MAX - 5 } else { rng.gen() })
        .collect();
    let mut expected = c.clone();
    for i in 0..m {
        for j in 0..n {
            for kk in 0..k {
                let p = i32::from(a[i * k + kk]) * i32::from(b[kk * n + j]);
                expected[i * n + j] = expected[i * n + j].wrapping_add(p);
            }
        }
    }
    let kernel = dot_kernel(DType::I8, DType::I32);
    let mut bufs = vec![host(a), host(b), host(c)];
    launch(&kernel, [1, 1, 1], &[buf(0), buf(1), buf(2)], &mut bufs).unwrap();
    assert_eq!(slice::<i32>(&bufs[2]), &expected[..]);

    // An unsupported combination is an error, not a panic.
    let kernel = dot_kernel(DType::I8, DType::F32);
    let mut bufs = vec![
        HostData::zeros(DType::I8, m * k),
        HostData::zeros(DType::I8, k * n),
        HostData::zeros(DType::F32, m * n),
    ];
    let err = launch(&kernel, [1, 1, 1], &[buf(0), buf(1), buf(2)], &mut bufs).unwrap_err();
    assert!(matches!(err.kind, InterpErrorKind::Malformed(_)));
}

// ---------------------------------------------------------------------------------------------
// Tiled matmul

/// `c[M, N] = a[M, K] x b[K, N]` with `bm x bn` output tiles, a loop over `bk`-wide slices of
/// K carrying the accumulator, and masks for ragged edges. The result is cast to `out`.
fn matmul_kernel(ab: DType, acc: DType, out: DType, bm: u32, bn: u32, bk: u32) -> Kernel {
    let mut b = KernelBuilder::new("matmul");
    let pa = b.param("a", ParamKind::Ptr(ab));
    let pb = b.param("b", ParamKind::Ptr(ab));
    let pc = b.param("c", ParamKind::Ptr(out));
    let m = b.param("M", ParamKind::Scalar(DType::I32));
    let n = b.param("N", ParamKind::Scalar(DType::I32));
    let k = b.param("K", ParamKind::Scalar(DType::I32));
    let pid_m = b.program_id(0);
    let pid_n = b.program_id(1);
    let bm_c = i32_const(&mut b, bm as i32, &[]);
    let bn_c = i32_const(&mut b, bn as i32, &[]);
    let m0 = b.binary(BinaryOp::Mul, pid_m, bm_c);
    let n0 = b.binary(BinaryOp::Mul, pid_n, bn_c);
    let am = b.arange(bm);
    let an = b.arange(bn);
    let m0s = splat(&mut b, m0, &[bm]);
    let n0s = splat(&mut b, n0, &[bn]);
    let rm = b.binary(BinaryOp::Add, m0s, am);
    let rn = b.binary(BinaryOp::Add, n0s, an);
    let zero = b.constant(Scalar::zero(acc), vec![bm, bn]);
    let lower = i32_const(&mut b, 0, &[]);
    let step = i32_const(&mut b, bk as i32, &[]);
    let (k0, carried) = b.begin_for(lower, k, step, vec![zero]);
    {
        let ark = b.arange(bk);
        let k0s = splat(&mut b, k0, &[bk]);
        let rk = b.binary(BinaryOp::Add, k0s, ark);
        // a tile [bm, bk]
        let rm_c = col(&mut b, rm, bm, bk);
        let rk_r = row(&mut b, rk, bm, bk);
        let ks = splat(&mut b, k, &[bm, bk]);
        let a_off = b.binary(BinaryOp::Mul, rm_c, ks);
        let a_off = b.binary(BinaryOp::Add, a_off, rk_r);
        let ms = splat(&mut b, m, &[bm, bk]);
        let in_m = b.cmp(CmpPred::Lt, rm_c, ms);
        let in_k = b.cmp(CmpPred::Lt, rk_r, ks);
        let a_mask = b.binary(BinaryOp::And, in_m, in_k);
        let a_base = splat(&mut b, pa, &[bm, bk]);
        let a_ptr = b.add_ptr(a_base, a_off);
        let a_t = b.load(a_ptr, Some(a_mask), None);
        // b tile [bk, bn]
        let rk_c = col(&mut b, rk, bk, bn);
        let rn_r = row(&mut b, rn, bk, bn);
        let ns = splat(&mut b, n, &[bk, bn]);
        let b_off = b.binary(BinaryOp::Mul, rk_c, ns);
        let b_off = b.binary(BinaryOp::Add, b_off, rn_r);
        let ks2 = splat(&mut b, k, &[bk, bn]);
        let in_k2 = b.cmp(CmpPred::Lt, rk_c, ks2);
        let in_n = b.cmp(CmpPred::Lt, rn_r, ns);
        let b_mask = b.binary(BinaryOp::And, in_k2, in_n);
        let b_base = splat(&mut b, pb, &[bk, bn]);
        let b_ptr = b.add_ptr(b_base, b_off);
        let b_t = b.load(b_ptr, Some(b_mask), None);
        let next = b.dot(a_t, b_t, carried[0]);
        let res = b.end_for(vec![next]).unwrap();
        let acc_final = res[0];
        // store
        let rm_c = col(&mut b, rm, bm, bn);
        let rn_r = row(&mut b, rn, bm, bn);
        let ns = splat(&mut b, n, &[bm, bn]);
        let ms = splat(&mut b, m, &[bm, bn]);
        let c_off = b.binary(BinaryOp::Mul, rm_c, ns);
        let c_off = b.binary(BinaryOp::Add, c_off, rn_r);
        let in_m = b.cmp(CmpPred::Lt, rm_c, ms);
        let in_n = b.cmp(CmpPred::Lt, rn_r, ns);
        let c_mask = b.binary(BinaryOp::And, in_m, in_n);
        let c_base = splat(&mut b, pc, &[bm, bn]);
        let c_ptr = b.add_ptr(c_base, c_off);
        let v = if out == acc {
            acc_final
        } else {
            b.cast(acc_final, out)
        };
        b.store(c_ptr, v, Some(c_mask));
    }
    b.finish().unwrap()
}

fn run_matmul(
    kernel: &Kernel,
    dims: (usize, usize, usize),
    blocks: (u32, u32),
    bufs: &mut [HostData],
) {
    let (m, n, k) = dims;
    let grid = [
        (m as u32).div_ceil(blocks.0),
        (n as u32).div_ceil(blocks.1),
        1,
    ];
    let args = [
        buf(0),
        buf(1),
        buf(2),
        i32_arg(m as i32),
        i32_arg(n as i32),
        i32_arg(k as i32),
    ];
    launch(kernel, grid, &args, bufs).unwrap();
}

#[test]
fn tiled_matmul_f16_ragged_matches_naive() {
    let (m, n, k) = (37, 21, 29);
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let a: Vec<f16> = (0..m * k)
        .map(|_| f16::from_f32(rng.gen_range(-2.0..2.0)))
        .collect();
    let b: Vec<f16> = (0..k * n)
        .map(|_| f16::from_f32(rng.gen_range(-2.0..2.0)))
        .collect();
    let mut expected = vec![0.0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f32;
            for kk in 0..k {
                s += a[i * k + kk].to_f32() * b[kk * n + j].to_f32();
            }
            expected[i * n + j] = s;
        }
    }
    // A sentinel after the end checks that masked lanes are not written.
    let kernel = matmul_kernel(DType::F16, DType::F32, DType::F32, 16, 8, 8);
    let mut bufs = vec![
        host(a.clone()),
        host(b.clone()),
        host(vec![-7.0f32; m * n + 3]),
    ];
    run_matmul(&kernel, (m, n, k), (16, 8), &mut bufs);
    let got = slice::<f32>(&bufs[2]);
    assert_eq!(&got[..m * n], &expected[..]);
    assert_eq!(&got[m * n..], &[-7.0; 3]);

    // Cast to f16 at the end.
    let kernel = matmul_kernel(DType::F16, DType::F32, DType::F16, 8, 16, 16);
    let mut bufs = vec![host(a), host(b), HostData::zeros(DType::F16, m * n)];
    run_matmul(&kernel, (m, n, k), (8, 16), &mut bufs);
    let want: Vec<f16> = expected.iter().map(|&v| f16::from_f32(v)).collect();
    assert_eq!(slice::<f16>(&bufs[2]), &want[..]);
}

#[test]
fn tiled_matmul_i8_ragged_matches_naive() {
    let (m, n, k) = (19, 45, 70);
    let mut rng = rand::rngs::StdRng::seed_from_u64(6);
    let a: Vec<i8> = (0..m * k).map(|_| rng.gen()).collect();
    let b: Vec<i8> = (0..k * n).map(|_| rng.gen()).collect();
    let mut expected = vec![0i32; m * n];
    for i in 0..m {
        for j in 0..n {
            expected[i * n + j] = (0..k)
                .map(|kk| i32::from(a[i * k + kk]) * i32::from(b[kk * n + j]))
                .sum();
        }
    }
    let kernel = matmul_kernel(DType::I8, DType::I32, DType::I32, 8, 16, 32);
    let mut bufs = vec![host(a), host(b), HostData::zeros(DType::I32, m * n)];
    run_matmul(&kernel, (m, n, k), (8, 16), &mut bufs);
    assert_eq!(slice::<i32>(&bufs[2]), &expected[..]);
}

/// 256^3 f32 matmul with 64x64x64 tiles: checks the result and reports the time (the
/// interpreter must be fast enough to be the oracle of real-sized tests).
#[test]
fn tiled_matmul_f32_256() {
    let s = 256usize;
    let mut rng = rand::rngs::StdRng::seed_from_u64(8);
    let a: Vec<f32> = (0..s * s).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let b: Vec<f32> = (0..s * s).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let kernel = matmul_kernel(DType::F32, DType::F32, DType::F32, 64, 64, 64);
    let mut bufs = vec![
        host(a.clone()),
        host(b.clone()),
        HostData::zeros(DType::F32, s * s),
    ];
    let start = std::time::Instant::now();
    run_matmul(&kernel, (s, s, s), (64, 64), &mut bufs);
    eprintln!("256^3 f32 matmul, 64^3 tiles: {:?}", start.elapsed());
    let got = slice::<f32>(&bufs[2]);
    for &(i, j) in &[(0, 0), (17, 200), (255, 255), (128, 3)] {
        let mut e = 0.0f32;
        for kk in 0..s {
            e += a[i * s + kk] * b[kk * s + j];
        }
        assert_eq!(got[i * s + j], e);
    }
}

// ---------------------------------------------------------------------------------------------
// Control flow

/// `out[0..16] = flag > 0 ? x * 2 : x + 100`, through an `if` with a result.
#[test]
fn if_with_results_takes_the_right_branch() {
    let mut b = KernelBuilder::new("branch");
    let x = b.param("x", ParamKind::Ptr(DType::I32));
    let out = b.param("out", ParamKind::Ptr(DType::I32));
    let flag = b.param("flag", ParamKind::Scalar(DType::I32));
    let px = ptrs_1d(&mut b, x, N);
    let v = b.load(px, None, None);
    let zero = i32_const(&mut b, 0, &[]);
    let cond = b.cmp(CmpPred::Gt, flag, zero);
    b.begin_if(cond);
    let two = i32_const(&mut b, 2, &[N]);
    let t = b.binary(BinaryOp::Mul, v, two);
    b.begin_else(vec![t]).unwrap();
    let hundred = i32_const(&mut b, 100, &[N]);
    let e = b.binary(BinaryOp::Add, v, hundred);
    let r = b.end_if(vec![e]).unwrap();
    let po = ptrs_1d(&mut b, out, N);
    b.store(po, r[0], None);
    let kernel = b.finish().unwrap();
    let x: Vec<i32> = (0..16).map(|i| i * 3 - 7).collect();
    for flag in [1, 0, -5] {
        let mut bufs = vec![host(x.clone()), HostData::zeros(DType::I32, 16)];
        launch(
            &kernel,
            [1, 1, 1],
            &[buf(0), buf(1), i32_arg(flag)],
            &mut bufs,
        )
        .unwrap();
        let want: Vec<i32> = x
            .iter()
            .map(|&v| if flag > 0 { v * 2 } else { v + 100 })
            .collect();
        assert_eq!(slice::<i32>(&bufs[1]), &want[..]);
    }
}

/// `out[0] = sum of iv over lower..upper by step` (and a carried count), for an `i64` loop.
fn loop_kernel(dt: DType) -> Kernel {
    let mut b = KernelBuilder::new("loop");
    let out = b.param("out", ParamKind::Ptr(dt));
    let lo = b.param("lo", ParamKind::Scalar(dt));
    let hi = b.param("hi", ParamKind::Scalar(dt));
    let step = b.param("step", ParamKind::Scalar(dt));
    let zero = b.constant(Scalar::zero(dt), vec![]);
    let one = b.constant(Scalar::from_i64(dt, 1), vec![]);
    let (iv, c) = b.begin_for(lo, hi, step, vec![zero, zero]);
    let s = b.binary(BinaryOp::Add, c[0], iv);
    let n = b.binary(BinaryOp::Add, c[1], one);
    let r = b.end_for(vec![s, n]).unwrap();
    let p1 = b.add_ptr(out, one);
    b.store(out, r[0], None);
    b.store(p1, r[1], None);
    b.finish().unwrap()
}

fn run_loop(dt: DType, lo: i64, hi: i64, step: i64) -> Result<(i64, i64), InterpError> {
    let kernel = loop_kernel(dt);
    let mut bufs = vec![HostData::zeros(dt, 2)];
    let s = |v| ArgValue::Scalar(Scalar::from_i64(dt, v));
    launch(
        &kernel,
        [1, 1, 1],
        &[buf(0), s(lo), s(hi), s(step)],
        &mut bufs,
    )?;
    Ok((
        bufs[0].get(0).unwrap().as_i64(),
        bufs[0].get(1).unwrap().as_i64(),
    ))
}

#[test]
fn for_loops_follow_the_bounds() {
    for (lo, hi, step) in [
        (-3i64, 5i64, 2i64),
        (0, 10, 3),
        (4, 4, 1),
        (9, 2, 1),
        (-10, -1, 4),
    ] {
        let want: (i64, i64) = {
            let ivs: Vec<i64> = (lo..hi).step_by(step as usize).collect();
            (ivs.iter().sum(), ivs.len() as i64)
        };
        assert_eq!(
            run_loop(DType::I32, lo, hi, step).unwrap(),
            want,
            "{lo}..{hi} by {step}"
        );
        assert_eq!(run_loop(DType::I64, lo, hi, step).unwrap(), want);
    }
    // Unsigned bounds compare unsigned; a loop up to the maximum terminates.
    assert_eq!(
        run_loop(DType::U8, 250, 255, 2).unwrap(),
        ((250 + 252 + 254) % 256, 3)
    ); // the u8 sum wraps
    assert_eq!(run_loop(DType::I8, 120, 127, 100).unwrap(), (120, 1));
    // Zero iterations: the results are the initial values.
    assert_eq!(run_loop(DType::U32, 7, 3, 1).unwrap(), (0, 0));
    for step in [0, -2] {
        let err = run_loop(DType::I32, 0, 10, step).unwrap_err();
        assert_eq!(err.kind, InterpErrorKind::NonPositiveStep { step });
        assert!(err.op.ends_with("= for"), "{}", err.op);
    }
}

// ---------------------------------------------------------------------------------------------
// Programs, memory and atomics

/// Every program takes a ticket from `counter` with an atomic add and writes it at its
/// linear index; tickets reveal the order: x fastest, then y, then z.
#[test]
fn programs_run_x_fastest_and_see_their_ids() {
    let mut b = KernelBuilder::new("order");
    let counter = b.param("counter", ParamKind::Ptr(DType::I32));
    let out = b.param("out", ParamKind::Ptr(DType::I32));
    let ids: Vec<ValueId> = (0..3).map(|a| b.program_id(a)).collect();
    let dims: Vec<ValueId> = (0..3).map(|a| b.num_programs(a)).collect();
    let one = i32_const(&mut b, 1, &[]);
    let ticket = b.atomic_add(counter, one, None);
    // linear = x + gx * (y + gy * z)
    let t = b.binary(BinaryOp::Mul, dims[1], ids[2]);
    let t = b.binary(BinaryOp::Add, ids[1], t);
    let t = b.binary(BinaryOp::Mul, dims[0], t);
    let linear = b.binary(BinaryOp::Add, ids[0], t);
    let p = b.add_ptr(out, linear);
    b.store(p, ticket, None);
    let kernel = b.finish().unwrap();
    let mut bufs = vec![
        HostData::zeros(DType::I32, 1),
        HostData::zeros(DType::I32, 24),
    ];
    launch(&kernel, [2, 3, 4], &[buf(0), buf(1)], &mut bufs).unwrap();
    assert_eq!(slice::<i32>(&bufs[0]), &[24]);
    let want: Vec<i32> = (0..24).collect();
    assert_eq!(slice::<i32>(&bufs[1]), &want[..]);

    // A grid with a zero extent runs nothing.
    let mut bufs = vec![
        HostData::zeros(DType::I32, 1),
        HostData::zeros(DType::I32, 24),
    ];
    launch(&kernel, [2, 0, 4], &[buf(0), buf(1)], &mut bufs).unwrap();
    assert_eq!(slice::<i32>(&bufs[0]), &[0]);
}

/// Two pointer parameters aliasing one buffer; repeated addresses inside a tile; a mask.
#[test]
fn atomic_add_with_aliasing_returns_old_values() {
    let mut b = KernelBuilder::new("atomics");
    let p = b.param("p", ParamKind::Ptr(DType::I32));
    let q = b.param("q", ParamKind::Ptr(DType::I32));
    let vals = b.param("vals", ParamKind::Ptr(DType::I32));
    let old = b.param("old", ParamKind::Ptr(DType::I32));
    let offs = b.arange(8);
    let four = i32_const(&mut b, 4, &[8]);
    let slot = b.binary(BinaryOp::Rem, offs, four); // 0 1 2 3 0 1 2 3
    let pv = ptrs_1d(&mut b, vals, 8);
    let v = b.load(pv, None, None);
    let pp = splat(&mut b, p, &[8]);
    let pp = b.add_ptr(pp, slot);
    let qq = splat(&mut b, q, &[8]);
    let qq = b.add_ptr(qq, slot);
    let six = i32_const(&mut b, 6, &[8]);
    let mask = b.cmp(CmpPred::Lt, offs, six);
    let old_p = b.atomic_add(pp, v, None);
    let old_q = b.atomic_add(qq, v, Some(mask));
    let po = ptrs_1d(&mut b, old, 8);
    b.store(po, old_p, None);
    let eight = i32_const(&mut b, 8, &[8]);
    let po2 = b.add_ptr(po, eight);
    b.store(po2, old_q, None);
    let kernel = b.finish().unwrap();

    let init = vec![10, 20, 30, i32::MAX];
    let v: Vec<i32> = vec![1, 2, 3, 4, 5, 6, 7, 8];
    let mut bufs = vec![
        host(init.clone()),
        host(v.clone()),
        HostData::zeros(DType::I32, 16),
    ];
    launch(
        &kernel,
        [1, 1, 1],
        &[buf(0), buf(0), buf(1), buf(2)],
        &mut bufs,
    )
    .unwrap();
    // Sequential simulation.
    let mut mem = init;
    let mut want_old = [0i32; 16];
    for pass in 0..2 {
        for (i, &x) in v.iter().enumerate() {
            if pass == 1 && i >= 6 {
                continue;
            }
            want_old[pass * 8 + i] = mem[i % 4];
            mem[i % 4] = mem[i % 4].wrapping_add(x);
        }
    }
    assert_eq!(slice::<i32>(&bufs[0]), &mem[..]);
    assert_eq!(slice::<i32>(&bufs[2]), &want_old[..]);
}

#[test]
fn float_atomic_add_rounds_to_the_type() {
    let mut b = KernelBuilder::new("fatomic");
    let p = b.param("p", ParamKind::Ptr(DType::F16));
    let one = b.constant(Scalar::from_f64(DType::F16, 0.1), vec![]);
    let (_, _) = (b.atomic_add(p, one, None), b.atomic_add(p, one, None));
    let kernel = b.finish().unwrap();
    let mut bufs = vec![host(vec![f16::from_f32(1.0)])];
    launch(&kernel, [1, 1, 1], &[buf(0)], &mut bufs).unwrap();
    let step = f16::from_f64(0.1);
    let want = f16::from_f32(f16::from_f32(1.0f32 + step.to_f32()).to_f32() + step.to_f32());
    assert_eq!(slice::<f16>(&bufs[0]), &[want]);
}

/// `out[pid * 16 + (r, c)] = x[pid * 16 + (r, c)] + 1` on a `[4, 4]` tile.
fn copy_kernel(mask_len: bool) -> Kernel {
    let mut b = KernelBuilder::new("copy");
    let x = b.param("x", ParamKind::Ptr(DType::I32));
    let out = b.param("out", ParamKind::Ptr(DType::I32));
    let len = b.param("len", ParamKind::Scalar(DType::I32));
    let pid = b.program_id(0);
    let sixteen = i32_const(&mut b, 16, &[]);
    let base = b.binary(BinaryOp::Mul, pid, sixteen);
    let base = splat(&mut b, base, &[4, 4]);
    let px = ptrs_2d(&mut b, x, 4, 4);
    let px = b.add_ptr(px, base);
    let po = ptrs_2d(&mut b, out, 4, 4);
    let po = b.add_ptr(po, base);
    let mask = if mask_len {
        let r = b.arange(4);
        let r = col(&mut b, r, 4, 4);
        let c = b.arange(4);
        let c = row(&mut b, c, 4, 4);
        let four = i32_const(&mut b, 4, &[4, 4]);
        let idx = b.binary(BinaryOp::Mul, r, four);
        let idx = b.binary(BinaryOp::Add, idx, c);
        let idx = b.binary(BinaryOp::Add, idx, base);
        let lens = splat(&mut b, len, &[4, 4]);
        Some(b.cmp(CmpPred::Lt, idx, lens))
    } else {
        None
    };
    let fill = i32_const(&mut b, -1, &[4, 4]);
    let v = b.load(px, mask, mask.map(|_| fill));
    let one = i32_const(&mut b, 1, &[4, 4]);
    let v = b.binary(BinaryOp::Add, v, one);
    b.store(po, v, mask);
    b.finish().unwrap()
}

#[test]
fn unmasked_out_of_bounds_load_is_reported() {
    let kernel = copy_kernel(false);
    let mut bufs = vec![
        HostData::zeros(DType::I32, 21),
        HostData::zeros(DType::I32, 32),
    ];
    let err = launch(&kernel, [2, 1, 1], &[buf(0), buf(1), i32_arg(0)], &mut bufs).unwrap_err();
    assert_eq!(err.program, [1, 0, 0]);
    assert!(err.op.ends_with("= load"), "{}", err.op);
    assert_eq!(
        err.kind,
        InterpErrorKind::OutOfBounds {
            param: "x".into(),
            index: 21,
            len: 21,
            lane: vec![1, 1]
        }
    );
    let text = err.to_string();
    assert!(
        text.starts_with("kernel `copy`, program (1, 0, 0), op `%"),
        "{text}"
    );
    assert!(
        text.ends_with("load`: out-of-bounds access to `x`: index 21 outside 0..21 (lane [1, 1])"),
        "{text}"
    );
    // Program 0 ran completely before the error.
    assert_eq!(slice::<i32>(&bufs[1])[..16], [1; 16]);
}

#[test]
fn unmasked_out_of_bounds_store_is_reported() {
    let kernel = copy_kernel(false);
    let mut bufs = vec![
        HostData::zeros(DType::I32, 32),
        HostData::zeros(DType::I32, 30),
    ];
    let err = launch(&kernel, [2, 1, 1], &[buf(0), buf(1), i32_arg(0)], &mut bufs).unwrap_err();
    assert_eq!(err.program, [1, 0, 0]);
    assert_eq!(err.op, "store");
    assert_eq!(
        err.kind,
        InterpErrorKind::OutOfBounds {
            param: "out".into(),
            index: 30,
            len: 30,
            lane: vec![3, 2]
        }
    );
    // Lanes before the faulting one were written, in row-major order.
    assert_eq!(slice::<i32>(&bufs[1])[16..30], [1; 14]);
}

#[test]
fn masked_off_lanes_are_not_accessed() {
    let kernel = copy_kernel(true);
    let x: Vec<i32> = (0..21).map(|i| i * 5).collect();
    let mut bufs = vec![host(x.clone()), host(vec![7i32; 21])];
    launch(
        &kernel,
        [2, 1, 1],
        &[buf(0), buf(1), i32_arg(21)],
        &mut bufs,
    )
    .unwrap();
    let want: Vec<i32> = x.iter().map(|v| v + 1).collect();
    assert_eq!(slice::<i32>(&bufs[1]), &want[..]);
    // With a shorter logical length, masked lanes keep their old contents.
    let mut bufs = vec![host(x.clone()), host(vec![7i32; 21])];
    launch(
        &kernel,
        [2, 1, 1],
        &[buf(0), buf(1), i32_arg(18)],
        &mut bufs,
    )
    .unwrap();
    let want: Vec<i32> = (0..21).map(|i| if i < 18 { x[i] + 1 } else { 7 }).collect();
    assert_eq!(slice::<i32>(&bufs[1]), &want[..]);
}

#[test]
fn masked_load_fills_other_or_zero() {
    let mut b = KernelBuilder::new("fill");
    let x = b.param("x", ParamKind::Ptr(DType::F32));
    let out = b.param("out", ParamKind::Ptr(DType::F32));
    let px = ptrs_1d(&mut b, x, 8);
    let offs = b.arange(8);
    let three = i32_const(&mut b, 3, &[8]);
    let mask = b.cmp(CmpPred::Lt, offs, three);
    let other = b.constant(Scalar::from_f64(DType::F32, 2.5), vec![8]);
    let with_other = b.load(px, Some(mask), Some(other));
    let with_zero = b.load(px, Some(mask), None);
    let po = ptrs_1d(&mut b, out, 8);
    b.store(po, with_other, None);
    let eight = i32_const(&mut b, 8, &[8]);
    let po2 = b.add_ptr(po, eight);
    b.store(po2, with_zero, None);
    let kernel = b.finish().unwrap();
    // x has only 3 elements: the other lanes would be out of bounds.
    let mut bufs = vec![
        host(vec![1.0f32, 2.0, 3.0]),
        HostData::zeros(DType::F32, 16),
    ];
    launch(&kernel, [1, 1, 1], &[buf(0), buf(1)], &mut bufs).unwrap();
    let got = slice::<f32>(&bufs[1]);
    assert_eq!(&got[..8], &[1.0, 2.0, 3.0, 2.5, 2.5, 2.5, 2.5, 2.5]);
    assert_eq!(&got[8..], &[1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
}

// ---------------------------------------------------------------------------------------------
// Argument and kernel errors

#[test]
fn argument_mismatches_are_reported() {
    let kernel = copy_kernel(false);
    let mismatch = |args: &[ArgValue], bufs: &mut [HostData]| {
        let err = launch(&kernel, [1, 1, 1], args, bufs).unwrap_err();
        assert_eq!(err.op, "launch");
        match err.kind {
            InterpErrorKind::ArgumentMismatch(msg) => msg,
            k => panic!("expected an argument mismatch, got {k:?}"),
        }
    };
    let good = || {
        vec![
            HostData::zeros(DType::I32, 16),
            HostData::zeros(DType::I32, 16),
        ]
    };
    // Wrong count.
    mismatch(&[buf(0), buf(1)], &mut good());
    // Buffer of the wrong element type.
    let mut bufs = vec![
        HostData::zeros(DType::I32, 16),
        HostData::zeros(DType::F32, 16),
    ];
    let msg = mismatch(&[buf(0), buf(1), i32_arg(0)], &mut bufs);
    assert!(msg.contains("`out`"), "{msg}");
    // Scalar of the wrong type.
    let wrong = ArgValue::Scalar(Scalar::from_i64(DType::I64, 3));
    let msg = mismatch(&[buf(0), buf(1), wrong], &mut good());
    assert!(msg.contains("`len`"), "{msg}");
    // Buffer index out of range.
    mismatch(&[buf(0), buf(2), i32_arg(0)], &mut good());
    // Scalar for a pointer, buffer for a scalar.
    mismatch(&[i32_arg(0), buf(1), i32_arg(0)], &mut good());
    mismatch(&[buf(0), buf(1), buf(0)], &mut good());
    // Aliasing is fine.
    launch(
        &kernel,
        [1, 1, 1],
        &[buf(0), buf(0), i32_arg(0)],
        &mut good(),
    )
    .unwrap();
}

#[test]
fn malformed_kernels_are_errors_not_panics() {
    let expect_malformed = |kernel: &Kernel, bufs: &mut [HostData], args: &[ArgValue]| {
        let err = launch(kernel, [1, 1, 1], args, bufs).unwrap_err();
        assert!(matches!(err.kind, InterpErrorKind::Malformed(_)), "{err}");
    };
    // A value used before it is defined.
    let mut b = KernelBuilder::new("undef");
    let x = b.param("x", ParamKind::Ptr(DType::I32));
    let mut kernel = {
        let v = b.load(x, None, None);
        b.store(x, v, None);
        b.finish().unwrap()
    };
    kernel.body.ops.swap(0, 1);
    expect_malformed(&kernel, &mut [HostData::zeros(DType::I32, 1)], &[buf(0)]);
    // Shapes that do not agree.
    let mut b = KernelBuilder::new("shapes");
    let x = b.param("x", ParamKind::Ptr(DType::I32));
    let p4 = ptrs_1d(&mut b, x, 4);
    let p8 = ptrs_1d(&mut b, x, 8);
    let v4 = b.load(p4, None, None);
    let v8 = b.load(p8, None, None);
    let s = b.binary(BinaryOp::Add, v4, v8);
    b.store(p4, s, None);
    let kernel = b.finish().unwrap();
    expect_malformed(&kernel, &mut [HostData::zeros(DType::I32, 8)], &[buf(0)]);
    // Arithmetic on pointers, a non-bool `if` condition, a bad axis.
    let mut b = KernelBuilder::new("misc");
    let x = b.param("x", ParamKind::Ptr(DType::I32));
    let _ = b.binary(BinaryOp::Add, x, x);
    let kernel = b.finish().unwrap();
    expect_malformed(&kernel, &mut [HostData::zeros(DType::I32, 1)], &[buf(0)]);
    let mut b = KernelBuilder::new("cond");
    let c = i32_const(&mut b, 1, &[]);
    b.begin_if(c);
    b.begin_else(vec![]).unwrap();
    b.end_if(vec![]).unwrap();
    expect_malformed(&b.finish().unwrap(), &mut [], &[]);
    let mut b = KernelBuilder::new("axis");
    let _ = b.program_id(3);
    expect_malformed(&b.finish().unwrap(), &mut [], &[]);
    let mut b = KernelBuilder::new("reduce_axis");
    let a = b.arange(4);
    let _ = b.reduce(ReduceOp::Sum, a, 1);
    expect_malformed(&b.finish().unwrap(), &mut [], &[]);
}
