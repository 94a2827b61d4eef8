//! Shared helpers of the CPU backend's own tests (object loading, CLIF checks): build kernels,
//! run them on the interpreter and on the JIT with the same inputs, compare. Results on every
//! backend are the conformance suite's (`tests/conformance`).

#![allow(dead_code)]

use bitmat_codegen::CpuKernel;
use bitmat_ir::interp::{run, ArgValue};
use bitmat_ir::{
    BinaryOp, CmpPred, DType, HostData, Kernel, KernelBuilder, ParamKind, Scalar, ValueId,
};
use rand::rngs::StdRng;
use rand::Rng;

/// A launch argument.
#[derive(Clone, Debug)]
pub enum Arg {
    /// A buffer (pointer parameter).
    Buf(HostData),
    /// A scalar parameter.
    Scalar(Scalar),
}

/// Runs `k` on the interpreter; returns the buffers afterwards (in argument order).
pub fn run_interp(k: &Kernel, grid: [u32; 3], args: &[Arg]) -> Vec<HostData> {
    let mut bufs: Vec<HostData> = Vec::new();
    let mut avs = Vec::new();
    for a in args {
        match a {
            Arg::Buf(d) => {
                avs.push(ArgValue::Buffer(bufs.len()));
                bufs.push(d.clone());
            }
            Arg::Scalar(s) => avs.push(ArgValue::Scalar(*s)),
        }
    }
    let mut refs: Vec<&mut HostData> = bufs.iter_mut().collect();
    run(k, grid, &avs, &mut refs).unwrap_or_else(|e| panic!("interpreter: {e}"));
    bufs
}

/// Runs an already compiled kernel.
pub fn run_compiled(ck: &CpuKernel, grid: [u32; 3], args: &[Arg]) -> Vec<HostData> {
    let mut bufs: Vec<HostData> = args
        .iter()
        .filter_map(|a| match a {
            Arg::Buf(d) => Some(d.clone()),
            Arg::Scalar(_) => None,
        })
        .collect();
    let mut raw = Vec::new();
    let mut bi = 0;
    for a in args {
        match a {
            Arg::Buf(_) => {
                let p = bitmat_ir::with_host_data!(&mut bufs[bi], v => v.as_mut_ptr() as u64);
                raw.push(p);
                bi += 1;
            }
            Arg::Scalar(s) => raw.push(s.bits()),
        }
    }
    // SAFETY: the tests' kernels only access their buffers within bounds (the interpreter,
    // which checks bounds, runs the same kernels on the same inputs).
    unsafe { ck.run(&raw, grid) };
    bufs
}

/// True when the two elements are equal bit for bit, or (with `any_nan`) both NaN.
pub fn same(a: Scalar, b: Scalar, any_nan: bool) -> bool {
    a.bits() == b.bits()
        || (any_nan && a.dtype().is_float() && a.as_f64().is_nan() && b.as_f64().is_nan())
}

/// Asserts that two buffers hold the same elements, bit for bit.
pub fn assert_same(what: &str, interp: &HostData, jit: &HostData) {
    assert_same_with(what, interp, jit, false);
}

/// Asserts that two buffers hold the same elements, bit for bit, or both NaN with `any_nan`.
pub fn assert_same_with(what: &str, interp: &HostData, jit: &HostData, any_nan: bool) {
    assert_eq!(interp.len(), jit.len(), "{what}: lengths");
    for i in 0..interp.len() {
        let (a, b) = (interp.get(i).unwrap(), jit.get(i).unwrap());
        assert!(
            same(a, b, any_nan),
            "{what}: element {i}: interpreter {a:?}, jit {b:?}"
        );
    }
}

/// Random finite floats in `[-4, 4)` (or small ints) of `dtype`.
pub fn random_small(dtype: DType, n: usize, rng: &mut StdRng) -> HostData {
    let mut d = HostData::zeros(dtype, n);
    for i in 0..n {
        let s = if dtype.is_float() {
            Scalar::from_f64(dtype, rng.gen_range(-4.0..4.0))
        } else if dtype == DType::Bool {
            Scalar::from_bool(rng.gen())
        } else {
            Scalar::from_i64(dtype, rng.gen_range(-100..100))
        };
        d.set(i, s);
    }
    d
}

/// An `i32` scalar argument.
pub fn i32_arg(v: i32) -> Arg {
    Arg::Scalar(Scalar::from_i64(DType::I32, i64::from(v)))
}

/// Broadcasts the scalar `v` to `shape`.
pub fn splat(b: &mut KernelBuilder, v: ValueId, shape: &[u32]) -> ValueId {
    let mut t = v;
    for _ in shape {
        t = b.expand_dims(t, 0);
    }
    b.broadcast(t, shape.to_vec())
}

/// Offsets `r * stride + c` of a `[rows, cols]` tile, as `i32`.
pub fn offsets_2d(b: &mut KernelBuilder, rows: u32, cols: u32, stride: ValueId) -> ValueId {
    let r = b.arange(rows);
    let c = b.arange(cols);
    let r2 = b.expand_dims(r, 1);
    let r2 = b.broadcast(r2, vec![rows, cols]);
    let c2 = b.expand_dims(c, 0);
    let c2 = b.broadcast(c2, vec![rows, cols]);
    let s = splat(b, stride, &[rows, cols]);
    let rs = b.binary(BinaryOp::Mul, r2, s);
    b.binary(BinaryOp::Add, rs, c2)
}

/// A 1-D elementwise kernel over `n` lanes, masked by `lane < len`:
/// `out[i] = f(x[i], y[i])`, `x`, `y` of `dtype`, `out` of `out_dtype`.
pub fn ew_kernel(
    name: &str,
    dtype: DType,
    out_dtype: DType,
    n: u32,
    f: impl FnOnce(&mut KernelBuilder, ValueId, ValueId) -> ValueId,
) -> Kernel {
    let mut b = KernelBuilder::new(name);
    let x = b.param("x", ParamKind::Ptr(dtype));
    let y = b.param("y", ParamKind::Ptr(dtype));
    let out = b.param("out", ParamKind::Ptr(out_dtype));
    let len = b.param("len", ParamKind::Scalar(DType::I32));
    let offs = b.arange(n);
    let lens = splat(&mut b, len, &[n]);
    let mask = b.cmp(CmpPred::Lt, offs, lens);
    let xs = splat(&mut b, x, &[n]);
    let px = b.add_ptr(xs, offs);
    let ys = splat(&mut b, y, &[n]);
    let py = b.add_ptr(ys, offs);
    let xv = b.load(px, Some(mask), None);
    let yv = b.load(py, Some(mask), None);
    let r = f(&mut b, xv, yv);
    let os = splat(&mut b, out, &[n]);
    let po = b.add_ptr(os, offs);
    b.store(po, r, Some(mask));
    b.finish().unwrap()
}
