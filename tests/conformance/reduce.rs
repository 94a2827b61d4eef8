//! Reductions (`sum`, `max`, `min`, and `xor` on integers) of every dtype along every axis of 1-D and 2-D tiles:
//! within a thread, across lanes, across warps, smaller than a warp, in programs of 1, 4 and
//! 8 warps on a GPU; masked loads into the reduced tile; NaNs (which max/min skip); integer
//! sums and the DSL's `xor_sum` against plain Rust.
//!
//! Exact everywhere except float sums on CUDA: the GPU adds in a tree where the interpreter
//! adds in index order, so they agree within [`sum_bound`].

use crate::data::{self, rng};
use crate::harness::{compare, i32_arg, is_cuda, run, test, Arg, Outcome, Test, Tol};
use crate::ir_kernels::{self, reduce_ops, REDUCE_SHAPES};
use crate::kernels::{load_2d, store_1d};
use bitmat::ir::{DType, HostData, Kernel, KernelBuilder, ParamKind, ReduceOp, Scalar};
use bitmat::Device;
use rand::Rng;

/// The tests of this module.
pub fn tests() -> Vec<Test> {
    let mut t = Vec::new();
    for d in DType::ALL {
        if reduce_ops(d).is_empty() {
            continue;
        }
        t.push(test(format!("reduce::both_axes_{d}"), move |dev| {
            both_axes(dev, d)
        }));
        t.push(test(
            format!("reduce::tile_shapes_and_warps_{d}"),
            move |dev| tile_shapes(dev, d),
        ));
        t.push(test(format!("reduce::masked_16x32_{d}"), move |dev| {
            masked(dev, d)
        }));
    }
    t.push(test("reduce::i32_sums_match_rust", i32_sums));
    t.push(test("reduce::xor_sum_matches_rust", xor_sums));
    t
}

mod xor {
    use bitmat::prelude::*;

    /// `xor_sum` of each row of an `[m, n]` u32 matrix (masked-off elements load 0, xor's
    /// identity), and of each column of the i8 cast of each program's `[bm, bn]` block.
    #[bitkernel]
    pub fn xor_sums(
        x: Ptr<u32>,
        rows: Ptr<u32>,
        cols: Ptr<i8>,
        m: i32,
        n: i32,
        #[constexpr] bm: i32,
        #[constexpr] bn: i32,
    ) {
        let rm = program_id(0) * bm + arange(bm);
        let rn = arange(bn);
        let mask = (rm.unsqueeze(1) < m) & (rn.unsqueeze(0) < n);
        let v = load(x + rm.unsqueeze(1) * n + rn.unsqueeze(0), mask, 0);
        store(rows + rm, v.xor_sum(1), rm < m);
        let c = (v as i8).xor_sum(0);
        store(cols + program_id(0) * bn + rn, c, rn < n);
    }
}

/// `xor_sum` in the DSL against Rust's `^` folds, on ragged shapes, one row block of which is
/// wholly masked off (an empty mask xors to 0).
fn xor_sums(dev: &Device) -> Result<(), String> {
    for (m, n, bm, bn) in [
        (37, 21, 16, 32),
        (16, 64, 16, 64),
        (3, 1, 4, 2),
        (0, 5, 8, 8),
    ] {
        let k = xor::xor_sums::ir(bm, bn).map_err(|e| e.to_string())?;
        let (mu, nu) = (m as usize, n as usize);
        let programs = (m.max(1) as u32).div_ceil(bm as u32) as usize;
        let mut r = rng(77);
        let x: Vec<u32> = (0..mu * nu).map(|_| r.gen()).collect();
        let args = [
            Arg::Buf(HostData::U32(x.clone())),
            Arg::Buf(HostData::U32(vec![0; mu.max(1)])),
            Arg::Buf(HostData::I8(vec![0; programs * bn as usize])),
            i32_arg(m),
            i32_arg(n),
        ];
        let what = format!("xor_sum of u32[{m}, {n}] in blocks [{bm}, {bn}]");
        let o = run(dev, &what, &k, [programs as u32, 1, 1], 4, &args)?;
        o.check_all(&Tol::Bits)?;
        let mut rows: Vec<u32> = (0..mu)
            .map(|i| x[i * nu..(i + 1) * nu].iter().fold(0, |a, &b| a ^ b))
            .collect();
        if rows.is_empty() {
            rows.push(0);
        }
        let cols: Vec<i8> = (0..programs * bn as usize)
            .map(|j| {
                let (p, c) = (j / bn as usize, j % bn as usize);
                let hi = ((p + 1) * bm as usize).min(mu);
                if c >= nu {
                    return 0;
                }
                (p * bm as usize..hi).fold(0i8, |a, i| a ^ x[i * nu + c] as i8)
            })
            .collect();
        compare(&what, &o.got[1], &HostData::U32(rows), &Tol::Bits)?;
        compare(&what, &o.got[2], &HostData::I8(cols), &Tol::Bits)?;
    }
    Ok(())
}

/// A bound on the difference between two f32 sums of the same `n` terms whose magnitudes sum
/// to `mag`, added in different orders and then rounded to `d`: each order's sum is within
/// `(n - 1) 2^-24 mag` of the exact one, and rounding to f16/bf16 adds at most one of their
/// ulps (`2^-10` / `2^-7` relative); the bound is twice that. Non-finite magnitudes (an
/// infinity among the terms) leave the element unchecked: the order decides overflow.
pub fn sum_bound(d: DType, n: usize, mag: f64) -> f64 {
    let round = match d {
        DType::F16 => 2f64.powi(-10),
        DType::BF16 => 2f64.powi(-7),
        _ => 0.0,
    };
    let b = 2.0 * (2.0 * (n.max(1) as f64 - 1.0) * 2f64.powi(-24) + round) * mag;
    if b.is_finite() {
        b
    } else {
        f64::INFINITY
    }
}

/// The tolerance of the results of `op` along `axis` of a row-major tile of `shape` whose
/// elements have the magnitudes `mag`: [`sum_bound`] for float sums on CUDA, else exact.
fn reduce_tol(
    dev: &Device,
    op: ReduceOp,
    d: DType,
    mag: &[f64],
    shape: &[u32],
    axis: usize,
) -> Tol {
    if !(is_cuda(dev) && op == ReduceOp::Sum && d.is_float()) {
        return Tol::exact(dev);
    }
    let n = shape[axis] as usize;
    let inner: usize = shape[axis + 1..].iter().map(|&e| e as usize).product();
    let outer: usize = shape[..axis].iter().map(|&e| e as usize).product();
    Tol::Bound(
        (0..outer * inner)
            .map(|r| {
                let (o, i) = (r / inner, r % inner);
                sum_bound(d, n, (0..n).map(|k| mag[(o * n + k) * inner + i]).sum())
            })
            .collect(),
    )
}

/// Compares results that lie one after another in `out` (the reductions along each axis of
/// `shape`, from axis 0) under [`reduce_tol`].
fn check_axes(
    dev: &Device,
    what: &str,
    op: ReduceOp,
    got: &HostData,
    want: &HostData,
    mag: &[f64],
    shape: &[u32],
) -> Result<(), String> {
    let numel: usize = shape.iter().map(|&e| e as usize).product();
    let mut start = 0;
    for (axis, &n) in shape.iter().enumerate() {
        let len = numel / n as usize;
        let part = |h: &HostData| {
            let mut p = HostData::zeros(h.dtype(), len);
            for i in 0..len {
                p.set(i, h.get(start + i).unwrap());
            }
            p
        };
        let tol = reduce_tol(dev, op, got.dtype(), mag, shape, axis);
        compare(
            &format!("{what} along axis {axis}"),
            &part(got),
            &part(want),
            &tol,
        )?;
        start += len;
    }
    Ok(())
}

/// Runs the reduction kernel `k` on `[x, out]` as one program of `num_warps` warps and checks
/// the reductions of `x` (of `shape`) that it leaves in `out` with [`check_axes`].
fn run_reduce(
    dev: &Device,
    what: &str,
    op: ReduceOp,
    k: &Kernel,
    [x, out]: [HostData; 2],
    num_warps: u32,
    shape: &[u32],
) -> Result<Outcome, String> {
    let mag = data::magnitudes(&x);
    let outcome = run(
        dev,
        what,
        k,
        [1, 1, 1],
        num_warps,
        &[Arg::Buf(x), Arg::Buf(out)],
    )?;
    check_axes(
        dev,
        what,
        op,
        &outcome.got[1],
        &outcome.want[1],
        &mag,
        shape,
    )?;
    Ok(outcome)
}

/// `[rows, cols]` tiles reduced along both axes by every op: small values, then (floats)
/// random bit patterns with NaNs and infinities.
fn both_axes(dev: &Device, d: DType) -> Result<(), String> {
    for op in reduce_ops(d) {
        for (rows, cols) in [(8u32, 32u32), (4, 2), (16, 16), (1, 64)] {
            let mut b = KernelBuilder::new("reduce");
            let x = b.param("x", ParamKind::Ptr(d));
            let o = b.param("o", ParamKind::Ptr(d));
            let t = load_2d(&mut b, x, rows, cols);
            let r0 = b.reduce(op, t, 0);
            let r1 = b.reduce(op, t, 1);
            store_1d(&mut b, o, r0, cols);
            let off = b.constant(Scalar::from_i64(DType::I32, i64::from(cols)), vec![]);
            let o1 = b.add_ptr(o, off);
            store_1d(&mut b, o1, r1, rows);
            let k = b.finish().map_err(|e| e.to_string())?;
            let n = (rows * cols) as usize;
            let mut r = rng(21);
            let inputs = if d.is_float() {
                vec![data::small(d, n, &mut r), data::bits(d, n, &mut r)]
            } else {
                vec![data::bits(d, n, &mut r)]
            };
            for x in inputs {
                let what = format!("{op:?} of {d}[{rows}, {cols}]");
                let out = HostData::zeros(d, (rows + cols) as usize);
                run_reduce(dev, &what, op, &k, [x, out], 4, &[rows, cols])?;
            }
        }
    }
    Ok(())
}

/// `ir_kernels::reduce_tile` over every shape of `REDUCE_SHAPES`, in programs of every size
/// of `reduce_warps`; float max/min inputs hold a NaN every seventh element (from the first:
/// a 1-element tile reduces to NaN).
fn tile_shapes(dev: &Device, d: DType) -> Result<(), String> {
    for op in reduce_ops(d) {
        for shape in REDUCE_SHAPES {
            let k = ir_kernels::reduce_tile(d, op, shape);
            let numel: usize = shape.iter().map(|&e| e as usize).product();
            let mut r = rng(1);
            let mut x = data::small(d, numel, &mut r);
            if op != ReduceOp::Sum && d.is_float() {
                for i in (0..numel).step_by(7) {
                    x.set(i, Scalar::from_f64(d, f64::NAN));
                }
            }
            let results = ir_kernels::reduce_tile_results(shape) as usize;
            let warps: &[u32] = if is_cuda(dev) {
                ir_kernels::reduce_warps(shape)
            } else {
                &[4]
            };
            for &num_warps in warps {
                let what = format!("{op:?} of {d}{shape:?} in programs of {num_warps} warps");
                let out = data::small(d, results, &mut r);
                run_reduce(dev, &what, op, &k, [x.clone(), out], num_warps, shape)?
                    .check(0, &Tol::Bits)?;
            }
        }
    }
    Ok(())
}

/// `ir_kernels::reduce`: a `[16, 32]` tile of which 500 elements are loaded (the rest 0),
/// reduced along both axes, and `x - max along axis 1` stored back masked.
fn masked(dev: &Device, d: DType) -> Result<(), String> {
    for op in reduce_ops(d) {
        let k = ir_kernels::reduce(d, op);
        let (rows, cols) = ir_kernels::RED;
        let (n, len) = (500usize, 512usize);
        let mut r = rng(2);
        let x = data::small(d, len, &mut r);
        let args = [
            Arg::Buf(x.clone()),
            Arg::Buf(data::small(d, len, &mut r)),
            Arg::Buf(data::small(d, len, &mut r)),
            i32_arg(n as i32),
        ];
        let what = format!("{op:?} of {d}[{rows}, {cols}] with {n} elements loaded");
        let out = run(dev, &what, &k, [1, 1, 1], 4, &args)?;
        out.check(0, &Tol::Bits)?;
        out.check(2, &Tol::exact(dev))?;
        let mut mag = data::magnitudes(&x);
        mag[n..].iter_mut().for_each(|m| *m = 0.0);
        let results = (rows + cols) as usize;
        let head = |h: &HostData| {
            let mut p = HostData::zeros(d, results);
            for i in 0..results {
                p.set(i, h.get(i).unwrap());
            }
            p
        };
        check_axes(
            dev,
            &what,
            op,
            &head(&out.got[1]),
            &head(&out.want[1]),
            &mag,
            &[rows, cols],
        )?;
        let tail = |h: &HostData| {
            let mut p = HostData::zeros(d, len - results);
            for i in results..len {
                p.set(i - results, h.get(i).unwrap());
            }
            p
        };
        compare(
            &format!("{what}, untouched tail"),
            &tail(&out.got[1]),
            &tail(&out.want[1]),
            &Tol::Bits,
        )?;
    }
    Ok(())
}

/// Wrapping i32 sums of random bits along both axes of `[8, 64]`, against plain Rust.
fn i32_sums(dev: &Device) -> Result<(), String> {
    let (rows, cols) = (8usize, 64usize);
    let mut b = KernelBuilder::new("sums");
    let x = b.param("x", ParamKind::Ptr(DType::I32));
    let o0 = b.param("o0", ParamKind::Ptr(DType::I32));
    let o1 = b.param("o1", ParamKind::Ptr(DType::I32));
    let t = load_2d(&mut b, x, rows as u32, cols as u32);
    let r0 = b.reduce(ReduceOp::Sum, t, 0);
    let r1 = b.reduce(ReduceOp::Sum, t, 1);
    store_1d(&mut b, o0, r0, cols as u32);
    store_1d(&mut b, o1, r1, rows as u32);
    let k = b.finish().map_err(|e| e.to_string())?;
    let mut r = rng(5);
    let v: Vec<i32> = (0..rows * cols).map(|_| rand::Rng::gen(&mut r)).collect();
    let args = [
        Arg::Buf(HostData::I32(v.clone())),
        Arg::Buf(HostData::zeros(DType::I32, cols)),
        Arg::Buf(HostData::zeros(DType::I32, rows)),
    ];
    let out = run(dev, "sum of i32[8, 64]", &k, [1, 1, 1], 4, &args)?;
    let cols_sum = (0..cols)
        .map(|c| (0..rows).fold(0i32, |s, r| s.wrapping_add(v[r * cols + c])))
        .collect();
    let rows_sum = (0..rows)
        .map(|r| (0..cols).fold(0i32, |s, c| s.wrapping_add(v[r * cols + c])))
        .collect();
    compare(
        "sum of i32[8, 64] along axis 0 against Rust",
        &out.got[1],
        &HostData::I32(cols_sum),
        &Tol::Bits,
    )?;
    compare(
        "sum of i32[8, 64] along axis 1 against Rust",
        &out.got[2],
        &HostData::I32(rows_sum),
        &Tol::Bits,
    )
}
