//! Control flow: runtime `for` loops carrying several values (tiles and scalars, swapped
//! pairs), `if`s yielding results, nested; loop bounds near the limits of their type; kernels
//! traced by the DSL front-end (softmax, chunked sums in a runtime loop); loops, `if` and
//! atomics together on a grid; one kernel launched from several threads at once.

use crate::data::{self, rng};
use crate::harness::{compare, i32_arg, is_cuda, run, run_exact, test, Arg, Outcome, Test, Tol};
use crate::ir_kernels::{self, splat};
use crate::kernels::{i32_const, store_1d};
use bitmat::ir::dsl::{
    arange, compare as dsl_compare, load_masked, param, program_id, store_masked, trace, zeros,
    ForLoop,
};
use bitmat::ir::{BinaryOp, CmpPred, DType, HostData, Kernel, KernelBuilder, ParamKind, Scalar};
use bitmat::Device;

/// The tests of this module.
pub fn tests() -> Vec<Test> {
    vec![
        test(
            "control::for_with_carried_values_and_if_with_results",
            loops,
        ),
        test("control::loop_bounds_near_the_type_limits", loop_limits),
        test("control::dsl_softmax_ragged_rows", softmax),
        test("control::dsl_chunked_row_sums_i32", |dev| {
            row_sums(dev, DType::I32)
        }),
        test("control::dsl_chunked_row_sums_f16", |dev| {
            row_sums(dev, DType::F16)
        }),
        test("control::loop_if_and_atomics_on_a_grid", loop_if_atomics),
        test("control::one_kernel_from_several_threads", several_threads),
    ]
}

/// `for iv in (lo..hi).step_by(3)` carrying an i32 tile (`+= iv`, doubled by an `if` when `iv`
/// is even), an f32 tile (`*= 1.5`), a scalar count and a pair of scalars swapped every
/// iteration; against plain Rust for the count and the pair.
fn loops(dev: &Device) -> Result<(), String> {
    let mut b = KernelBuilder::new("loops");
    let o = b.param("o", ParamKind::Ptr(DType::I32));
    let of = b.param("of", ParamKind::Ptr(DType::F32));
    let os = b.param("os", ParamKind::Ptr(DType::I32));
    let lo = b.param("lo", ParamKind::Scalar(DType::I32));
    let hi = b.param("hi", ParamKind::Scalar(DType::I32));
    let scalar =
        |b: &mut KernelBuilder, v: i64| b.constant(Scalar::from_i64(DType::I32, v), vec![]);
    let step = scalar(&mut b, 3);
    let acc0 = b.arange(8);
    let f0 = b.constant(Scalar::from_f64(DType::F32, 1.0), vec![8]);
    let (c0, s0, t0) = (scalar(&mut b, 0), scalar(&mut b, 100), scalar(&mut b, 200));
    let (iv, carried) = b.begin_for(lo, hi, step, vec![acc0, f0, c0, s0, t0]);
    let ivs = splat(&mut b, iv, &[8]);
    let acc = b.binary(BinaryOp::Add, carried[0], ivs);
    let k15 = b.constant(Scalar::from_f64(DType::F32, 1.5), vec![8]);
    let f = b.binary(BinaryOp::Mul, carried[1], k15);
    let one = scalar(&mut b, 1);
    let cnt = b.binary(BinaryOp::Add, carried[2], one);
    let two = scalar(&mut b, 2);
    let r = b.binary(BinaryOp::Rem, iv, two);
    let zero = scalar(&mut b, 0);
    let even = b.cmp(CmpPred::Eq, r, zero);
    b.begin_if(even);
    let twos = i32_const(&mut b, 2, &[8]);
    let dbl = b.binary(BinaryOp::Mul, acc, twos);
    b.begin_else(vec![dbl]).map_err(|e| e.to_string())?;
    let res = b.end_if(vec![acc]).map_err(|e| e.to_string())?;
    let res = b
        .end_for(vec![res[0], f, cnt, carried[4], carried[3]])
        .map_err(|e| e.to_string())?;
    store_1d(&mut b, o, res[0], 8);
    store_1d(&mut b, of, res[1], 8);
    for (i, v) in res[2..].iter().enumerate() {
        let off = b.constant(Scalar::from_i64(DType::I32, i as i64), vec![1]);
        let ps = splat(&mut b, os, &[1]);
        let p = b.add_ptr(ps, off);
        let v = splat(&mut b, *v, &[1]);
        b.store(p, v, None);
    }
    let k = b.finish().map_err(|e| e.to_string())?;
    for (lo, hi) in [(0, 10), (-5, 17), (3, 3), (10, 0), (1, 2)] {
        let args = [
            Arg::Buf(HostData::zeros(DType::I32, 8)),
            Arg::Buf(HostData::zeros(DType::F32, 8)),
            Arg::Buf(HostData::zeros(DType::I32, 3)),
            i32_arg(lo),
            i32_arg(hi),
        ];
        let what = format!("loops {lo}..{hi} step 3");
        let out = run_exact(dev, &what, &k, [1, 1, 1], &args)?;
        let n = if hi > lo { (hi - lo + 2) / 3 } else { 0 };
        let swapped = if n % 2 == 1 { [200, 100] } else { [100, 200] };
        compare(
            &format!("{what} against Rust"),
            &out[2],
            &HostData::I32(vec![n, swapped[0], swapped[1]]),
            &Tol::Bits,
        )?;
    }
    Ok(())
}

/// `for _ in (100i8..127).step_by(10)` counts 3 iterations: the induction variable's
/// increment past 127 must not wrap into an endless loop.
fn loop_limits(dev: &Device) -> Result<(), String> {
    let mut b = KernelBuilder::new("limits");
    let o = b.param("o", ParamKind::Ptr(DType::I32));
    let lo = b.param("lo", ParamKind::Scalar(DType::I8));
    let hi = b.param("hi", ParamKind::Scalar(DType::I8));
    let step = b.constant(Scalar::from_i64(DType::I8, 10), vec![]);
    let c0 = b.constant(Scalar::from_i64(DType::I32, 0), vec![]);
    let (_iv, carried) = b.begin_for(lo, hi, step, vec![c0]);
    let one = b.constant(Scalar::from_i64(DType::I32, 1), vec![]);
    let c = b.binary(BinaryOp::Add, carried[0], one);
    let res = b.end_for(vec![c]).map_err(|e| e.to_string())?;
    let r = splat(&mut b, res[0], &[1]);
    let po = splat(&mut b, o, &[1]);
    b.store(po, r, None);
    let k = b.finish().map_err(|e| e.to_string())?;
    let args = [
        Arg::Buf(HostData::zeros(DType::I32, 1)),
        Arg::Scalar(Scalar::from_i64(DType::I8, 100)),
        Arg::Scalar(Scalar::from_i64(DType::I8, 127)),
    ];
    let out = run_exact(dev, "i8 loop 100..127 step 10", &k, [1, 1, 1], &args)?;
    compare(
        "i8 loop 100..127 step 10 against Rust",
        &out[0],
        &HostData::I32(vec![3]),
        &Tol::Bits,
    )
}

/// A bound on the difference of two f32 sums of `n` terms whose magnitudes sum to `mag`,
/// added in different orders: each is within `(n - 1) 2^-24 mag` of the exact sum; twice that.
pub fn sum_order_bound(n: usize, mag: f64) -> f64 {
    2.0 * 2.0 * (n.max(1) as f64 - 1.0) * 2f64.powi(-24) * mag
}

/// Softmax of rows of 64, 37 and 1 valid columns (masked lanes read -inf).
///
/// On CUDA, `exp(v - max)` of `v - max` in `[-8, 0]` is within `8 * 2^-23 + 3 * 2^-22`
/// relative (see `ops::unary_tol`), the row sum (a tree, of positive terms) adds
/// `2 (n - 1) 2^-24`, the division one rounding: the bound is the sum of these, doubled.
fn softmax(dev: &Device) -> Result<(), String> {
    let k = trace("softmax", || {
        let x = param("x", ParamKind::Ptr(DType::F32));
        let y = param("y", ParamKind::Ptr(DType::F32));
        let n = param("n", ParamKind::Scalar(DType::I32));
        let row = program_id(0);
        let cols = arange(64);
        let mask = dsl_compare(CmpPred::Lt, cols, n);
        let v = load_masked(x + row * n + cols, mask, f32::NEG_INFINITY);
        let m = v.max(0);
        let e = (v - m).exp();
        let s = e.sum(0);
        store_masked(y + row * n + cols, e / s, mask);
    })
    .map_err(|e| e.to_string())?;
    for n in [64usize, 37, 1] {
        let rows = 5usize;
        let mut r = rng(n as u64);
        let out = run_rows(
            dev,
            &format!("softmax f32[{rows}, {n}]"),
            &k,
            data::small(DType::F32, rows * n, &mut r),
            rows * n,
            [rows, n],
        )?;
        let tol = if is_cuda(dev) {
            let exp = 8.0 * 2f64.powi(-23) + 3.0 * 2f64.powi(-22);
            let rel = 2.0 * (2.0 * exp + 2.0 * n as f64 * 2f64.powi(-24) + 2f64.powi(-24));
            Tol::Bound(
                data::magnitudes(&out.want[1])
                    .iter()
                    .map(|w| rel * w)
                    .collect(),
            )
        } else {
            Tol::Bits
        };
        out.check(0, &Tol::Bits)?;
        out.check(1, &tol)?;
    }
    Ok(())
}

/// Runs a traced row kernel (parameters `x, y, n`) on `x` of `[rows, n]` elements and a zeroed
/// f32 `y` of `y_len`, one program (of 4 warps on a GPU) per row.
fn run_rows(
    dev: &Device,
    what: &str,
    k: &Kernel,
    x: HostData,
    y_len: usize,
    [rows, n]: [usize; 2],
) -> Result<Outcome, String> {
    let args = [
        Arg::Buf(x),
        Arg::Buf(HostData::zeros(DType::F32, y_len)),
        i32_arg(n as i32),
    ];
    run(dev, what, k, [rows as u32, 1, 1], 4, &args)
}

/// `y[row] = sum over chunks of 16 columns of x[row, c] * 2` in a runtime loop (45 columns:
/// the last chunk ragged), then a sum over the 16 lanes: exact for i32 inputs (small
/// integers), and on CUDA within [`sum_order_bound`] of the 16 lane sums for f16 inputs.
fn row_sums(dev: &Device, d: DType) -> Result<(), String> {
    let k = trace("row_sums", || {
        let x = param("x", ParamKind::Ptr(d));
        let y = param("y", ParamKind::Ptr(DType::F32));
        let n = param("n", ParamKind::Scalar(DType::I32));
        let row = program_id(0);
        let mut acc = zeros::<f32>([16]);
        let lp = ForLoop::begin(0, n, 16, &["acc"], &mut [&mut acc]);
        let c0 = lp.induction_var();
        let cols = c0 + arange(16);
        let mask = dsl_compare(CmpPred::Lt, cols, n);
        let v = load_masked(x + row * n + cols, mask, 0);
        acc += v.cast::<f32>() * 2.0f32;
        lp.end(&mut [&mut acc]);
        let total = acc.sum(0);
        store_masked(y + row, total, true);
    })
    .map_err(|e| e.to_string())?;
    let (rows, n) = (3usize, 45usize);
    let mut r = rng(3);
    let x = data::small(d, rows * n, &mut r);
    let out = run_rows(
        dev,
        &format!("row sums of {d}[{rows}, {n}]"),
        &k,
        x.clone(),
        rows,
        [rows, n],
    )?;
    let tol = if is_cuda(dev) && d.is_float() {
        let mag = data::magnitudes(&x);
        Tol::Bound(
            (0..rows)
                .map(|row| {
                    sum_order_bound(n, 2.0 * mag[row * n..(row + 1) * n].iter().sum::<f64>())
                })
                .collect(),
        )
    } else {
        Tol::Bits
    };
    out.check(1, &tol)
}

/// `ir_kernels::control` on 4 programs of 256 lanes, 1000 valid: a loop, an `if`, float
/// `atomic_add`s of every element onto one total and an integer `atomic_add` per program.
/// The total's order is the scheduler's on every backend but the interpreter: within
/// [`sum_order_bound`]; the old values each program saw, sorted, are `0..4`.
fn loop_if_atomics(dev: &Device) -> Result<(), String> {
    let k = ir_kernels::control();
    let mut r = rng(1);
    let x = data::small(DType::F32, 1024, &mut r);
    let args = [
        Arg::Buf(x),
        Arg::Buf(HostData::zeros(DType::F32, 1024)),
        Arg::Buf(HostData::zeros(DType::F32, 1)),
        Arg::Buf(HostData::zeros(DType::I32, 1)),
        Arg::Buf(HostData::zeros(DType::I32, 4)),
        Arg::Buf(HostData::zeros(DType::I32, 1)),
        i32_arg(1000),
        i32_arg(5),
    ];
    let out: Outcome = run(
        dev,
        "control over 1000 elements, 5 iterations",
        &k,
        [4, 1, 1],
        4,
        &args,
    )?;
    out.check(0, &Tol::Bits)?;
    out.check(1, &Tol::exact(dev))?;
    let mag: f64 = data::magnitudes(&out.want[1]).iter().sum();
    out.check(2, &Tol::Bound(vec![sum_order_bound(1000, mag)]))?;
    out.check(3, &Tol::Bits)?;
    out.check(5, &Tol::Bits)?;
    let mut old: Vec<i64> = (0..4)
        .map(|i| out.got[4].get(i).unwrap().as_i64())
        .collect();
    old.sort_unstable();
    if old != [0, 1, 2, 3] {
        return Err(format!(
            "control: the programs saw the old counts {old:?}, not 0..4 in some order"
        ));
    }
    Ok(())
}

/// Three threads launch one kernel (a ragged tiled f32 matmul) three times each, at once.
fn several_threads(dev: &Device) -> Result<(), String> {
    let k = crate::kernels::matmul(DType::F32, DType::F32, 16, 16, 16);
    let (m, n, kk) = (33usize, 40usize, 20usize);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..3u64)
            .map(|seed| {
                let k = &k;
                s.spawn(move || {
                    let mut r = rng(seed);
                    let args = [
                        Arg::Buf(data::small(DType::F32, m * kk, &mut r)),
                        Arg::Buf(data::small(DType::F32, kk * n, &mut r)),
                        Arg::Buf(HostData::zeros(DType::F32, m * n)),
                        i32_arg(m as i32),
                        i32_arg(n as i32),
                        i32_arg(kk as i32),
                    ];
                    for _ in 0..3 {
                        let out = run(
                            dev,
                            &format!("matmul f32 {m}x{n}x{kk} on thread {seed}"),
                            k,
                            [3, 3, 1],
                            4,
                            &args,
                        )?;
                        let tol = crate::dot::matmul_tol(dev, &args, m, n, kk);
                        out.check(2, &tol)?;
                    }
                    Ok::<(), String>(())
                })
            })
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join()
                .map_err(|_| "a launching thread panicked".to_string())?
        })
    })
}
