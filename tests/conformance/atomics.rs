//! Atomics: `atomic_add` from many programs of a 3-D grid onto a few shared slots, masked,
//! with the old values it returns; `atomic_max/min/and/or/xor` of every type they take from
//! many programs onto shared slots, with edge values (extremes, NaN, infinities), ragged and
//! empty masks: final values against the interpreter and plain Rust, old values checked for
//! what any order allows; `atomic_xchg` (old values and the final one are a permutation of
//! what was stored) and `atomic_cas` as a spin lock that serializes a plain read-modify-write,
//! of a scalar and of a tile that every thread of a GPU program holds part of.

use crate::data::{self, rng};
use crate::harness::{compare, i32_arg, run, test, Arg, Test, Tol};
use crate::ir_kernels::{ptrs, splat};
use crate::kernels::i32_const;
use bitmat::ir::{AtomicOp, BinaryOp, CmpPred, DType, HostData, KernelBuilder, ParamKind, Scalar};
use bitmat::prelude::*;
use bitmat::Device;
use rand::Rng;

const TYPES: [DType; 5] = [DType::I32, DType::U32, DType::I64, DType::U64, DType::F32];

/// The tests of this module.
pub fn tests() -> Vec<Test> {
    let mut t: Vec<Test> = TYPES
        .into_iter()
        .map(|d| {
            test(format!("atomics::add_from_many_programs_{d}"), move |dev| {
                add_from_many_programs(dev, d)
            })
        })
        .collect();
    for d in TYPES {
        for op in [
            AtomicOp::Max,
            AtomicOp::Min,
            AtomicOp::And,
            AtomicOp::Or,
            AtomicOp::Xor,
        ] {
            if op.supports(d) {
                t.push(test(
                    format!("atomics::{}_from_many_programs_{d}", op.name()),
                    move |dev| commutative(dev, op, d),
                ));
            }
        }
        t.push(test(
            format!("atomics::xchg_keeps_every_value_{d}"),
            move |dev| xchg(dev, d),
        ));
    }
    for n in [1000, 1024] {
        t.push(test(
            format!("atomics::add_tile_old_values_unread_n{n}"),
            move |dev| add_tile_unread(dev, n),
        ));
    }
    t.push(test("atomics::cas_spin_lock", spin_lock));
    t.push(test("atomics::cas_spin_lock_guards_a_tile", spin_lock_tile));
    t
}

/// Programs of [`add_tile_unread`] that add onto the same elements.
const REPEATS: u32 = 8;

/// A split-K epilogue's shape: program `(i, j)` adds the tile `x[i * 256 ..][..256]` onto
/// `y` at the same offsets, masked by `offs < n`, and reads no old value (on sm_90, vector
/// reductions when `n` is a multiple of 16 and the 4-lane chunks share their mask). Every
/// element ends at `REPEATS * x` whatever the order: exactly, as the values are small
/// integers.
fn add_tile_unread(dev: &Device, n: i32) -> Result<(), String> {
    const TILE: u32 = 256;
    let mut b = KernelBuilder::new("add_tile");
    let y = b.param("y", ParamKind::Ptr(DType::F32));
    let x = b.param("x", ParamKind::Ptr(DType::F32));
    let n_param = b.param("n", ParamKind::Scalar(DType::I32));
    let pid = b.program_id(0);
    let tile = b.constant(Scalar::from_i64(DType::I32, i64::from(TILE)), vec![]);
    let base = b.binary(BinaryOp::Mul, pid, tile);
    let base = splat(&mut b, base, &[TILE]);
    let lanes = b.arange(TILE);
    let offs = b.binary(BinaryOp::Add, base, lanes);
    let bound = splat(&mut b, n_param, &[TILE]);
    let mask = b.cmp(CmpPred::Lt, offs, bound);
    let px = ptrs(&mut b, x, offs);
    let v = b.load(px, Some(mask), None);
    let py = ptrs(&mut b, y, offs);
    b.atomic_add(py, v, Some(mask));
    let k = b.finish().expect("valid kernel");
    let len = n as usize;
    let mut values = HostData::zeros(DType::F32, len);
    let mut r = rng(u64::from(n.unsigned_abs()));
    for i in 0..len {
        values.set(
            i,
            Scalar::from_f64(DType::F32, f64::from(r.gen_range(-50i32..50))),
        );
    }
    let want: Vec<f64> = data::values(&values)
        .iter()
        .map(|v| v * f64::from(REPEATS))
        .collect();
    let args = [
        Arg::Buf(HostData::zeros(DType::F32, len)),
        Arg::Buf(values),
        i32_arg(n),
    ];
    let programs = (n as u32).div_ceil(TILE);
    let out = run(
        dev,
        &format!("atomic_add of f32 tiles, n = {n}"),
        &k,
        [programs, REPEATS, 1],
        2,
        &args,
    )?;
    out.check(0, &Tol::Bits)?;
    let mut expected = HostData::zeros(DType::F32, len);
    for (i, w) in want.iter().enumerate() {
        expected.set(i, Scalar::from_f64(DType::F32, *w));
    }
    compare(
        "atomic_add of f32 tiles against Rust",
        &out.got[0],
        &expected,
        &Tol::Bits,
    )
}

/// Slots the programs of [`commutative`] share.
const SLOTS: usize = 4;

/// `atomic_<op>(slots + offs % 4, x[offs], offs < n)` from every program of a 1-D grid of
/// 16-lane programs; stores the old values to `olds[offs]`.
fn rmw_kernel(op: AtomicOp, d: DType) -> bitmat::ir::Kernel {
    let mut b = KernelBuilder::new(format!("{}_{d}", op.name()));
    let slots = b.param("slots", ParamKind::Ptr(d));
    let x = b.param("x", ParamKind::Ptr(d));
    let olds = b.param("olds", ParamKind::Ptr(d));
    let n = b.param("n", ParamKind::Scalar(DType::I32));
    let pid = b.program_id(0);
    let sixteen = b.constant(Scalar::from_i64(DType::I32, 16), vec![]);
    let base = b.binary(BinaryOp::Mul, pid, sixteen);
    let base = splat(&mut b, base, &[16]);
    let ar = b.arange(16);
    let offs = b.binary(BinaryOp::Add, base, ar);
    let nn = splat(&mut b, n, &[16]);
    let mask = b.cmp(CmpPred::Lt, offs, nn);
    let px = ptrs(&mut b, x, offs);
    let v = b.load(px, Some(mask), None);
    let four = i32_const(&mut b, SLOTS as i32, &[16]);
    let slot = b.binary(BinaryOp::Rem, offs, four);
    let ps = ptrs(&mut b, slots, slot);
    let old = b.atomic(op, ps, v, Some(mask));
    let po = ptrs(&mut b, olds, offs);
    b.store(po, old, None);
    b.finish().expect("valid kernel")
}

/// Inputs of type `d` with its edge values among random ones.
fn inputs(d: DType, n: usize, seed: u64) -> Vec<Scalar> {
    let mut r = rng(seed);
    let edges: Vec<f64> = match d {
        DType::F32 => vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1e30, 1e30, 0.5],
        DType::I32 | DType::I64 => vec![-1.0, 0.0, 1.0],
        _ => vec![0.0, 1.0],
    };
    let random = (0..n).map(|i| match (i % 7 == 3).then(|| edges[i % edges.len()]) {
        Some(e) => Scalar::from_f64(d, e),
        None if d == DType::F32 => Scalar::from_f64(d, r.gen_range(-1000.0..1000.0)),
        None => Scalar::from_bits(d, r.gen::<u64>()),
    });
    (n > 40)
        .then(|| extremes(d))
        .into_iter()
        .flatten()
        .chain(random)
        .take(n)
        .collect()
}

/// The type's least and greatest values, which the integer ops must order correctly.
fn extremes(d: DType) -> Vec<Scalar> {
    match d {
        DType::I32 => vec![
            Scalar::from_i64(d, i32::MIN.into()),
            Scalar::from_i64(d, i32::MAX.into()),
        ],
        DType::I64 => vec![Scalar::from_i64(d, i64::MIN), Scalar::from_i64(d, i64::MAX)],
        DType::U32 | DType::U64 => vec![Scalar::from_bits(d, 0), Scalar::from_bits(d, u64::MAX)],
        _ => vec![],
    }
}

/// `len` elements of type `d`: `vals`, then zeros.
fn host(d: DType, len: usize, vals: &[Scalar]) -> HostData {
    let mut h = HostData::zeros(d, len);
    for (i, &v) in vals.iter().enumerate() {
        h.set(i, v);
    }
    h
}

/// `op` on two values, as plain Rust (floats: NaN yields the other, as `f32::max`).
fn combine(op: AtomicOp, d: DType, a: Scalar, b: Scalar) -> Scalar {
    if d == DType::F32 {
        let (x, y) = (a.as_f64() as f32, b.as_f64() as f32);
        let r = match op {
            AtomicOp::Max => x.max(y),
            AtomicOp::Min => x.min(y),
            _ => unreachable!("only max and min of floats are tested here"),
        };
        return Scalar::from_f64(d, f64::from(r));
    }
    let signed = d.is_signed_int();
    let (x, y) = (a.bits(), b.bits());
    let bits = match op {
        AtomicOp::And => x & y,
        AtomicOp::Or => x | y,
        AtomicOp::Xor => x ^ y,
        AtomicOp::Max | AtomicOp::Min => {
            let less = if signed {
                a.as_i64() < b.as_i64()
            } else {
                x < y
            };
            let a_wins = (op == AtomicOp::Max) != less;
            if a_wins {
                x
            } else {
                y
            }
        }
        _ => unreachable!("not a commutative bitwise or ordering op"),
    };
    Scalar::from_bits(d, bits)
}

/// Many programs combine ragged inputs into shared slots (initially `init`); the slots must
/// end as plain Rust folds them, whatever the order; every old value must be one some order
/// gives (for max and min, the initial value or an input of the slot; zero where masked off).
fn commutative(dev: &Device, op: AtomicOp, d: DType) -> Result<(), String> {
    let k = rmw_kernel(op, d);
    let init = match (op, d) {
        (AtomicOp::And, _) => Scalar::from_bits(d, u64::MAX),
        (AtomicOp::Max, DType::F32) => Scalar::from_f64(d, f64::NEG_INFINITY),
        (AtomicOp::Min, DType::F32) => Scalar::from_f64(d, f64::INFINITY),
        (AtomicOp::Max | AtomicOp::Min, _) => extremes(d)[usize::from(op == AtomicOp::Min)],
        _ => Scalar::from_bits(d, 0),
    };
    for (n, programs) in [(1000usize, 64u32), (37, 3), (0, 2)] {
        let len = programs as usize * 16;
        let x = inputs(d, n, n as u64 + 5);
        let mut want = vec![init; SLOTS];
        for (i, &v) in x.iter().enumerate() {
            want[i % SLOTS] = combine(op, d, want[i % SLOTS], v);
        }
        let xs = host(d, len, &x);
        let args = [
            Arg::Buf(data::filled(init, SLOTS)),
            Arg::Buf(xs),
            Arg::Buf(HostData::zeros(d, len)),
            i32_arg(n as i32),
        ];
        let what = format!("{} of {d}, {n} lanes from {programs} programs", op.name());
        let o = run(dev, &what, &k, [programs, 1, 1], 4, &args)?;
        o.check(0, &Tol::Bits)?;
        compare(&what, &o.got[0], &host(d, SLOTS, &want), &Tol::Bits)?;
        for i in 0..len {
            let old = o.got[2].get(i).ok_or("short olds")?;
            let ok = if i >= n {
                old.bits() == 0
            } else if matches!(op, AtomicOp::Max | AtomicOp::Min) {
                let same = |s: &Scalar| s.bits() == old.bits();
                same(&init) || x.iter().skip(i % SLOTS).step_by(SLOTS).any(same)
            } else {
                true
            };
            if !ok {
                return Err(format!(
                    "{what}: lane {i} returned the old value {old:?}, which no order gives"
                ));
            }
        }
    }
    Ok(())
}

/// Every program exchanges its own values into shared slots: the old values returned and the
/// slots' final values together are exactly the initial values and everything stored.
fn xchg(dev: &Device, d: DType) -> Result<(), String> {
    let k = rmw_kernel(AtomicOp::Xchg, d);
    for (n, programs) in [(333usize, 21u32), (0, 1)] {
        let len = programs as usize * 16;
        // Distinct values, exact in f32.
        let code = |i: usize| Scalar::from_f64(d, (i + 1) as f64);
        let xs = host(d, len, &(0..n).map(code).collect::<Vec<_>>());
        let init = Scalar::from_f64(d, 0.0);
        let args = [
            Arg::Buf(data::filled(init, SLOTS)),
            Arg::Buf(xs),
            Arg::Buf(HostData::zeros(d, len)),
            i32_arg(n as i32),
        ];
        let what = format!("atomic_xchg of {d}, {n} lanes from {programs} programs");
        let o = run(dev, &what, &k, [programs, 1, 1], 4, &args)?;
        for s in 0..SLOTS {
            let mut seen: Vec<u64> = (s..n.max(s))
                .step_by(SLOTS)
                .map(|i| o.got[2].get(i).unwrap().bits())
                .collect();
            seen.push(o.got[0].get(s).unwrap().bits());
            seen.sort_unstable();
            let mut stored: Vec<u64> = (s..n.max(s))
                .step_by(SLOTS)
                .map(|i| code(i).bits())
                .collect();
            stored.push(init.bits());
            stored.sort_unstable();
            if seen != stored {
                return Err(format!("{what}: slot {s} and the old values are {seen:?}, not a permutation of {stored:?}"));
            }
        }
        if (n..len).any(|i| o.got[2].get(i).unwrap().bits() != 0) {
            return Err(format!(
                "{what}: a masked-off lane returned a nonzero old value"
            ));
        }
    }
    Ok(())
}

/// Each program takes a lock with `atomic_cas` in a runtime `while`, reads and writes a
/// counter with plain loads and stores, and releases the lock with `atomic_xchg`.
#[bitkernel]
fn locked_count(lock: Ptr<i32>, counter: Ptr<i32>, tickets: Ptr<i32>) {
    let pid = program_id(0) + program_id(1) * num_programs(0);
    while atomic_cas(lock, 0, 1) != 0 {}
    let c = load(counter);
    store(tickets + pid, c);
    store(counter, c + 1);
    atomic_xchg(lock, 0);
}

/// Under the lock no increment is lost: the counter ends at the number of programs, and the
/// tickets the programs read are a permutation of `0..programs`.
fn spin_lock(dev: &Device) -> Result<(), String> {
    let k = locked_count::ir().map_err(|e| e.to_string())?;
    let (gx, gy) = (50u32, 4u32);
    let p = (gx * gy) as usize;
    let args = [
        Arg::Buf(HostData::I32(vec![0])),
        Arg::Buf(HostData::I32(vec![0])),
        Arg::Buf(HostData::zeros(DType::I32, p)),
    ];
    let o = run(dev, "spin lock", &k, [gx, gy, 1], 4, &args)?;
    compare("lock", &o.got[0], &HostData::I32(vec![0]), &Tol::Bits)?;
    compare(
        "counter",
        &o.got[1],
        &HostData::I32(vec![p as i32]),
        &Tol::Bits,
    )?;
    let HostData::I32(mut t) = o.got[2].clone() else {
        return Err("tickets are not i32".into());
    };
    t.sort_unstable();
    if t != (0..p as i32).collect::<Vec<_>>() {
        return Err(format!(
            "the tickets are not a permutation of 0..{p}: {t:?}"
        ));
    }
    Ok(())
}

/// Each program adds its index plus one to a tile of `block` counters under the lock, with
/// plain loads and stores (on a GPU every thread stores its part, and one releases the lock).
#[bitkernel]
fn locked_tile(lock: Ptr<i32>, counters: Ptr<i32>, #[constexpr] block: i32) {
    let pid = program_id(0);
    let offs = arange(block);
    while atomic_cas(lock, 0, 1) != 0 {}
    store(counters + offs, load(counters + offs) + (pid + 1));
    atomic_xchg(lock, 0);
}

/// Under the lock no tile update is lost: every counter ends at `1 + 2 + .. + programs`.
fn spin_lock_tile(dev: &Device) -> Result<(), String> {
    let block = 512;
    let k = locked_tile::ir(block).map_err(|e| e.to_string())?;
    let programs = 120u32;
    let args = [
        Arg::Buf(HostData::I32(vec![0])),
        Arg::Buf(HostData::zeros(DType::I32, block as usize)),
    ];
    let o = run(dev, "spin lock over a tile", &k, [programs, 1, 1], 4, &args)?;
    o.check(1, &Tol::Bits)?;
    compare("lock", &o.got[0], &HostData::I32(vec![0]), &Tol::Bits)?;
    let total = (programs * (programs + 1) / 2) as i32;
    compare(
        "counters against Rust",
        &o.got[1],
        &HostData::I32(vec![total; block as usize]),
        &Tol::Bits,
    )
}

/// 200 programs each add 1 to slot `lane % 4` for lanes 0..12 (lanes 12..16 masked off):
/// every slot ends at `3 * 200`, whatever the order (exactly, also in f32: every partial sum
/// is a small integer). Program 0 stores the old values it saw: they depend on the order, so
/// they are only checked to be whole numbers in `[0, total)`.
fn add_from_many_programs(dev: &Device, d: DType) -> Result<(), String> {
    let mut b = KernelBuilder::new("atomics");
    let p = b.param("p", ParamKind::Ptr(d));
    let old = b.param("old", ParamKind::Ptr(d));
    let offs = b.arange(16);
    let four = i32_const(&mut b, 4, &[16]);
    let slot = b.binary(BinaryOp::Rem, offs, four);
    let pp = ptrs(&mut b, p, slot);
    let twelve = i32_const(&mut b, 12, &[16]);
    let mask = b.cmp(CmpPred::Lt, offs, twelve);
    let v = b.constant(Scalar::from_f64(d, 1.0), vec![16]);
    let o = b.atomic_add(pp, v, Some(mask));
    let pid = b.program_id(0);
    let zero = b.constant(Scalar::from_i64(DType::I32, 0), vec![]);
    let is0 = b.cmp(CmpPred::Eq, pid, zero);
    let is0 = splat(&mut b, is0, &[16]);
    let po = ptrs(&mut b, old, offs);
    b.store(po, o, Some(is0));
    let k = b.finish().expect("valid kernel");
    let programs = 200u32;
    let args = [
        Arg::Buf(HostData::zeros(d, 4)),
        Arg::Buf(HostData::zeros(d, 16)),
    ];
    let out = run(
        dev,
        &format!("atomic_add of {d} from {programs} programs"),
        &k,
        [programs / 4, 2, 2],
        4,
        &args,
    )?;
    out.check(0, &Tol::Bits)?;
    let total = Scalar::from_f64(d, f64::from(3 * programs));
    compare(
        &format!("atomic totals of {d} against Rust"),
        &out.got[0],
        &data::filled(total, 4),
        &Tol::Bits,
    )?;
    for i in 0..16 {
        let seen = out.got[1].get(i).unwrap().as_f64();
        if !(0.0..f64::from(3 * programs)).contains(&seen) || seen.fract() != 0.0 {
            return Err(format!(
                "atomic_add of {d}: program 0 lane {i} saw the old value {seen}"
            ));
        }
    }
    Ok(())
}
