//! Kernels of the suite that `ir_kernels` (shared with the PTX tests) does not have: one-op
//! elementwise kernels, 2-D tile loads and stores, masked windows, tiled matmuls.

// `super::` and `bitmat_ir` rather than `crate::` and `bitmat::ir`: bitmat-codegen's tests
// include this file (next to `ir_kernels`) too.
use super::ir_kernels::{ptrs, splat};
use bitmat_ir::{BinaryOp, CmpPred, DType, Kernel, KernelBuilder, ParamKind, Scalar, ValueId};

/// A 1-D elementwise kernel over `n` lanes, masked by `lane < len`: `out[i] = f(x[i], y[i])`,
/// `x`, `y` of `dtype`, `out` of `out_dtype` (parameters `x, y, out, len`).
pub fn ew(
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
    let px = ptrs(&mut b, x, offs);
    let py = ptrs(&mut b, y, offs);
    let xv = b.load(px, Some(mask), None);
    let yv = b.load(py, Some(mask), None);
    let r = f(&mut b, xv, yv);
    let po = ptrs(&mut b, out, offs);
    b.store(po, r, Some(mask));
    b.finish().expect("valid kernel")
}

/// An `i32` constant tile.
pub fn i32_const(b: &mut KernelBuilder, v: i32, shape: &[u32]) -> ValueId {
    b.constant(Scalar::from_i64(DType::I32, i64::from(v)), shape.to_vec())
}

/// Offsets `r * stride + c` of a `[rows, cols]` tile, as `i32` (`stride` a scalar).
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

/// Pointers to a dense row-major `[rows, cols]` tile at `p`.
fn ptrs_2d(b: &mut KernelBuilder, p: ValueId, rows: u32, cols: u32) -> ValueId {
    let stride = b.constant(Scalar::from_i64(DType::I32, i64::from(cols)), vec![]);
    let offs = offsets_2d(b, rows, cols, stride);
    ptrs(b, p, offs)
}

/// Loads a dense row-major `[rows, cols]` tile from `p` (unmasked).
pub fn load_2d(b: &mut KernelBuilder, p: ValueId, rows: u32, cols: u32) -> ValueId {
    let ptrs = ptrs_2d(b, p, rows, cols);
    b.load(ptrs, None, None)
}

/// Stores a dense row-major `[rows, cols]` tile to `p` (unmasked).
pub fn store_2d(b: &mut KernelBuilder, p: ValueId, v: ValueId, rows: u32, cols: u32) {
    let ptrs = ptrs_2d(b, p, rows, cols);
    b.store(ptrs, v, None);
}

/// Stores an `[n]` tile to `p[0..n]` (unmasked).
pub fn store_1d(b: &mut KernelBuilder, p: ValueId, v: ValueId, n: u32) {
    let offs = b.arange(n);
    let ptrs = ptrs(b, p, offs);
    b.store(ptrs, v, None);
}

/// `[rows, cols]` index tiles `r` and `c` (each broadcast to the full shape).
fn index_2d(b: &mut KernelBuilder, rows: u32, cols: u32) -> (ValueId, ValueId) {
    let shape = vec![rows, cols];
    let r = b.arange(rows);
    let c = b.arange(cols);
    let r2 = b.expand_dims(r, 1);
    let r2 = b.broadcast(r2, shape.clone());
    let c2 = b.expand_dims(c, 0);
    let c2 = b.broadcast(c2, shape);
    (r2, c2)
}

/// Copies a ragged `[rows, cols]` window (`r < m`, `c < n`) of a matrix with row stride
/// `ld`, contiguous or `transposed` (gathered): loads with `other` = -7 for masked lanes,
/// stores the whole tile densely to `o`, and stores the window plus 1 back in place (masked).
pub fn masked_copy(d: DType, rows: u32, cols: u32, transposed: bool) -> Kernel {
    let mut b = KernelBuilder::new("masked_copy");
    let x = b.param("x", ParamKind::Ptr(d));
    let o = b.param("o", ParamKind::Ptr(d));
    let m = b.param("m", ParamKind::Scalar(DType::I32));
    let n = b.param("n", ParamKind::Scalar(DType::I32));
    let ld = b.param("ld", ParamKind::Scalar(DType::I32));
    let shape = [rows, cols];
    let (r2, c2) = index_2d(&mut b, rows, cols);
    let lds = splat(&mut b, ld, &shape);
    let offs = if transposed {
        let cs = b.binary(BinaryOp::Mul, c2, lds);
        b.binary(BinaryOp::Add, cs, r2)
    } else {
        let rs = b.binary(BinaryOp::Mul, r2, lds);
        b.binary(BinaryOp::Add, rs, c2)
    };
    let ms = splat(&mut b, m, &shape);
    let ns = splat(&mut b, n, &shape);
    let mr = b.cmp(CmpPred::Lt, r2, ms);
    let mc = b.cmp(CmpPred::Lt, c2, ns);
    let mask = b.binary(BinaryOp::And, mr, mc);
    let px = ptrs(&mut b, x, offs);
    let other = b.constant(Scalar::from_i64(d, -7), shape.to_vec());
    let v = b.load(px, Some(mask), Some(other));
    let one = b.constant(Scalar::from_i64(d, 1), shape.to_vec());
    let v1 = b.binary(BinaryOp::Add, v, one);
    store_2d(&mut b, o, v, rows, cols);
    b.store(px, v1, Some(mask));
    b.finish().expect("valid kernel")
}

/// A tiled matmul `c[M, N] = a[M, K] x b[K, N]` (row-major, `m, n, k` runtime, ragged) with
/// `bm x bn` output tiles per program and `bk` steps of a runtime K loop; `acc` accumulates.
pub fn matmul(d: DType, acc: DType, bm: u32, bn: u32, bk: u32) -> Kernel {
    let mut b = KernelBuilder::new(format!("matmul_{d}_{bm}x{bn}x{bk}"));
    let pa = b.param("a", ParamKind::Ptr(d));
    let pb = b.param("b", ParamKind::Ptr(d));
    let pc = b.param("c", ParamKind::Ptr(acc));
    let m = b.param("m", ParamKind::Scalar(DType::I32));
    let n = b.param("n", ParamKind::Scalar(DType::I32));
    let kk = b.param("k", ParamKind::Scalar(DType::I32));
    // rows = pid_m * bm + arange(bm); cols = pid_n * bn + arange(bn).
    let block_range = |b: &mut KernelBuilder, axis: u8, size: u32| {
        let pid = b.program_id(axis);
        let s = b.constant(Scalar::from_i64(DType::I32, i64::from(size)), vec![]);
        let start = b.binary(BinaryOp::Mul, pid, s);
        let start = splat(b, start, &[size]);
        let ar = b.arange(size);
        b.binary(BinaryOp::Add, ar, start)
    };
    let rows = block_range(&mut b, 0, bm);
    let cols = block_range(&mut b, 1, bn);
    // Pointers and mask of `p[r * ld + c]` for `r < r_end`, `c < c_end`.
    let tile = |b: &mut KernelBuilder, p, r, c, shape: [u32; 2], ld, r_end, c_end| {
        let r2 = b.expand_dims(r, 1);
        let r2 = b.broadcast(r2, shape.to_vec());
        let c2 = b.expand_dims(c, 0);
        let c2 = b.broadcast(c2, shape.to_vec());
        let lds = splat(b, ld, &shape);
        let o = b.binary(BinaryOp::Mul, r2, lds);
        let o = b.binary(BinaryOp::Add, o, c2);
        let re = splat(b, r_end, &shape);
        let ce = splat(b, c_end, &shape);
        let mr = b.cmp(CmpPred::Lt, r2, re);
        let mc = b.cmp(CmpPred::Lt, c2, ce);
        let mask = b.binary(BinaryOp::And, mr, mc);
        (ptrs(b, p, o), mask)
    };
    let zero = b.constant(Scalar::zero(acc), vec![bm, bn]);
    let lo = b.constant(Scalar::from_i64(DType::I32, 0), vec![]);
    let step = b.constant(Scalar::from_i64(DType::I32, i64::from(bk)), vec![]);
    let (k0, carried) = b.begin_for(lo, kk, step, vec![zero]);
    let k0s = splat(&mut b, k0, &[bk]);
    let rk = b.arange(bk);
    let ks = b.binary(BinaryOp::Add, rk, k0s);
    let (pta, ma) = tile(&mut b, pa, rows, ks, [bm, bk], kk, m, kk);
    let at = b.load(pta, Some(ma), None);
    let (ptb, mb) = tile(&mut b, pb, ks, cols, [bk, bn], n, kk, n);
    let bt = b.load(ptb, Some(mb), None);
    let accv = b.dot(at, bt, carried[0]);
    let res = b.end_for(vec![accv]).expect("loop");
    let (ptc, mc) = tile(&mut b, pc, rows, cols, [bm, bn], n, m, n);
    b.store(ptc, res[0], Some(mc));
    b.finish().expect("valid kernel")
}
