//! The interval analysis is sound: on random chains of integer ops over random inputs (and
//! `arange`), every lane the interpreter computes lies in the interval of its value; and it is
//! tight where backends rely on it (decoded nibbles, sign extensions, shifted words).

use bitmat_ir::interp::{run, ArgValue};
use bitmat_ir::passes::intervals::{analyze, Interval};
use bitmat_ir::{
    BinaryOp, CmpPred, DType, HostData, Kernel, KernelBuilder, ParamKind, Scalar, UnaryOp, ValueId,
};
use proptest::prelude::*;

mod common;
use common::splat;

const N: u32 = 64;

/// One step of a chain: an op applied to the value so far.
#[derive(Clone, Debug)]
enum Step {
    /// `v op c` with a constant `c` (taken modulo the type).
    Binary(BinaryOp, i64),
    /// `c op v`.
    BinaryLeft(BinaryOp, i64),
    Unary(UnaryOp),
    /// `v as d`.
    Cast(DType),
    /// `min(v, w)`, `max(v, w)`, `v + w` or a `select` with `w`, the value two steps back.
    WithEarlier(BinaryOp),
    Select,
}

/// The integer types.
fn int_type() -> impl Strategy<Value = DType> {
    prop::sample::select(
        DType::ALL
            .into_iter()
            .filter(|d| d.is_int())
            .collect::<Vec<_>>(),
    )
}

fn step() -> impl Strategy<Value = Step> {
    let binary = prop_oneof![
        Just(BinaryOp::Add),
        Just(BinaryOp::Sub),
        Just(BinaryOp::Mul),
        Just(BinaryOp::Div),
        Just(BinaryOp::Rem),
        Just(BinaryOp::And),
        Just(BinaryOp::Or),
        Just(BinaryOp::Xor),
        Just(BinaryOp::Shl),
        Just(BinaryOp::Shr),
        Just(BinaryOp::Min),
        Just(BinaryOp::Max),
    ];
    let constant = prop_oneof![
        -20i64..20,
        any::<i64>(),
        (0u32..63).prop_map(|b| (1i64 << b) - 1)
    ];
    prop_oneof![
        4 => (binary.clone(), constant.clone()).prop_map(|(b, c)| Step::Binary(b, c)),
        1 => (binary, constant).prop_map(|(b, c)| Step::BinaryLeft(b, c)),
        1 => prop_oneof![Just(UnaryOp::Neg), Just(UnaryOp::Abs), Just(UnaryOp::Not)]
            .prop_map(Step::Unary),
        2 => int_type().prop_map(Step::Cast),
        1 => prop_oneof![Just(BinaryOp::Min), Just(BinaryOp::Max), Just(BinaryOp::Add)]
            .prop_map(Step::WithEarlier),
        1 => Just(Step::Select),
    ]
}

/// A kernel that applies `steps` to `x` (loaded as `d`, or `arange` when `from_arange`) and
/// stores every intermediate value, as `i64`/`u64` bits, to `out` (`N` lanes each); the
/// intermediate values in order.
fn chain(d: DType, from_arange: bool, steps: &[Step]) -> Option<(Kernel, Vec<ValueId>)> {
    let mut b = KernelBuilder::new("chain");
    let x = b.param("x", ParamKind::Ptr(d));
    let out = b.param("out", ParamKind::Ptr(DType::I64));
    let offs = b.arange(N);
    let mut v = if from_arange {
        let a = b.arange(N);
        b.cast(a, d)
    } else {
        let p = splat(&mut b, x, &[N]);
        let p = b.add_ptr(p, offs);
        b.load(p, None, None)
    };
    let mut values = vec![v];
    for s in steps {
        let t = b.ty(v).dtype()?;
        let konst = |b: &mut KernelBuilder, c: i64| b.constant(Scalar::from_i64(t, c), vec![N]);
        v = match s {
            Step::Binary(op, c) => {
                let c = konst(&mut b, *c);
                b.binary(*op, v, c)
            }
            Step::BinaryLeft(op, c) => {
                if matches!(op, BinaryOp::Div | BinaryOp::Rem) {
                    continue;
                }
                let c = konst(&mut b, *c);
                b.binary(*op, c, v)
            }
            Step::Unary(u) => b.unary(*u, v),
            Step::Cast(to) => b.cast(v, *to),
            Step::WithEarlier(op) => {
                let w = values[values.len().saturating_sub(2)];
                let w = if b.ty(w).dtype() == Some(t) {
                    w
                } else {
                    b.cast(w, t)
                };
                b.binary(*op, v, w)
            }
            Step::Select => {
                let w = values[values.len().saturating_sub(2)];
                let w = if b.ty(w).dtype() == Some(t) {
                    w
                } else {
                    b.cast(w, t)
                };
                let c = b.cmp(CmpPred::Lt, v, w);
                b.select(c, w, v)
            }
        };
        values.push(v);
    }
    for (i, &v) in values.iter().enumerate() {
        let wide = if b.ty(v).dtype()?.is_signed_int() {
            DType::I64
        } else {
            DType::U64
        };
        let w = b.cast(v, wide);
        let w = b.bitcast(w, DType::I64);
        let base = b.constant(Scalar::from_i64(DType::I32, i as i64 * N as i64), vec![N]);
        let o = b.binary(BinaryOp::Add, offs, base);
        let p = splat(&mut b, out, &[N]);
        let p = b.add_ptr(p, o);
        b.store(p, w, None);
    }
    Some((b.finish().ok()?, values))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_lane_lies_in_its_interval(
        d in int_type(),
        from_arange in any::<bool>(),
        steps in prop::collection::vec(step(), 1..7),
        seed in any::<u64>(),
    ) {
        let Some((kernel, values)) = chain(d, from_arange, &steps) else {
            return Ok(());
        };
        let intervals = analyze(&kernel);
        let mut rng_state = seed | 1;
        let mut x = HostData::zeros(d, N as usize);
        for i in 0..N as usize {
            // xorshift: random bits, some small values.
            rng_state ^= rng_state << 13;
            rng_state ^= rng_state >> 7;
            rng_state ^= rng_state << 17;
            let bits = if i % 4 == 0 { rng_state % 32 } else { rng_state };
            x.set(i, Scalar::from_bits(d, bits));
        }
        let mut out = HostData::zeros(DType::I64, values.len() * N as usize);
        let mut bufs = [x, out.clone()];
        let mut refs: Vec<&mut HostData> = bufs.iter_mut().collect();
        if run(&kernel, [1, 1, 1], &[ArgValue::Buffer(0), ArgValue::Buffer(1)], &mut refs).is_err() {
            // Division overflow and the like: errors, not values.
            return Ok(());
        }
        out = bufs[1].clone();
        for (i, &v) in values.iter().enumerate() {
            let dt = kernel.ty(v).dtype().expect("an integer");
            let range = intervals[v.index()].expect("integers have intervals");
            prop_assert!(range.within(Interval::of_type(dt)));
            for lane in 0..N as usize {
                let bits = out.get(i * N as usize + lane).expect("in range").as_i64();
                let value = if dt.is_signed_int() { i128::from(bits) } else { i128::from(bits as u64) };
                prop_assert!(
                    range.lo <= value && value <= range.hi,
                    "value {i} ({dt}) lane {lane} is {value}, outside {range:?}\n{kernel}"
                );
            }
        }
    }
}

/// The interval of the value `build` makes from a tile loaded as `d`.
fn interval_of(d: DType, build: impl FnOnce(&mut KernelBuilder, ValueId) -> ValueId) -> Interval {
    let mut b = KernelBuilder::new("one");
    let x = b.param("x", ParamKind::Ptr(d));
    let offs = b.arange(N);
    let p = splat(&mut b, x, &[N]);
    let p = b.add_ptr(p, offs);
    let v = b.load(p, None, None);
    let r = build(&mut b, v);
    let dt = b.ty(r).dtype().expect("a value");
    let out = b.param("out", ParamKind::Ptr(dt));
    let q = splat(&mut b, out, &[N]);
    let q = b.add_ptr(q, offs);
    b.store(q, r, None);
    let k = b.finish().expect("valid");
    analyze(&k)[r.index()].expect("an integer")
}

fn c(b: &mut KernelBuilder, d: DType, v: i64) -> ValueId {
    b.constant(Scalar::from_i64(d, v), vec![N])
}

#[test]
fn decoded_nibbles_and_words_have_tight_intervals() {
    // An unsigned nibble of a word, cast to i32.
    let nibble = interval_of(DType::U64, |b, w| {
        let s = c(b, DType::U64, 20);
        let w = b.binary(BinaryOp::Shr, w, s);
        let m = c(b, DType::U64, 15);
        let n = b.binary(BinaryOp::And, w, m);
        b.cast(n, DType::I32)
    });
    assert_eq!(nibble, Interval::new(0, 15));
    // Sign-extended: (n ^ 8) - 8.
    let signed = interval_of(DType::I32, |b, w| {
        let m = c(b, DType::I32, 15);
        let n = b.binary(BinaryOp::And, w, m);
        let h = c(b, DType::I32, 8);
        let f = b.binary(BinaryOp::Xor, n, h);
        b.binary(BinaryOp::Sub, f, h)
    });
    assert_eq!(signed, Interval::new(-8, 7));
    // Arithmetic shifts bound whatever they shift; loads have their type's range.
    let shifted = interval_of(DType::I64, |b, w| {
        let s = c(b, DType::I64, 60);
        b.binary(BinaryOp::Shr, w, s)
    });
    assert_eq!(shifted, Interval::new(-8, 7));
    let byte = interval_of(DType::I8, |b, w| b.cast(w, DType::I32));
    assert_eq!(byte, Interval::new(-128, 127));
    // A product that may wrap keeps only its type's range.
    let wraps = interval_of(DType::I32, |b, w| {
        let k = c(b, DType::I32, 3);
        b.binary(BinaryOp::Mul, w, k)
    });
    assert_eq!(wraps, Interval::of_type(DType::I32));
}
