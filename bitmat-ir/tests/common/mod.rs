//! Kernels shared by the printer and verifier tests. All of them are valid.

#![allow(dead_code)]

use bitmat_ir::{
    BinaryOp, CmpPred, DType, Kernel, KernelBuilder, ParamKind, ReduceOp, Scalar, UnaryOp, ValueId,
};

/// `c` (scalar) broadcast to `shape` through a reshape to all-ones extents.
pub fn splat(b: &mut KernelBuilder, v: ValueId, shape: &[u32]) -> ValueId {
    let ones = vec![1; shape.len()];
    let r = b.reshape(v, ones);
    b.broadcast(r, shape.to_vec())
}

/// An i32 constant scalar.
pub fn ci32(b: &mut KernelBuilder, v: i64) -> ValueId {
    b.constant(Scalar::from_i64(DType::I32, v), vec![])
}

/// A 16x16 tile of an i8 x i8 -> i32 matmul: `c[16 pid.., :16] = a[rows, :k] x b[:k, :16]`,
/// with the K loop carrying the accumulator, masked loads (rows < m) and a masked store.
pub fn matmul_kernel() -> Kernel {
    let mut b = KernelBuilder::new("matmul_i8");
    let a = b.param("a", ParamKind::Ptr(DType::I8));
    let bp = b.param("b", ParamKind::Ptr(DType::I8));
    let c = b.param("c", ParamKind::Ptr(DType::I32));
    let m = b.param("m", ParamKind::Scalar(DType::I32));
    let k = b.param("k", ParamKind::Scalar(DType::I32));
    const T: u32 = 16;
    let sq = [T, T];

    let pid = b.program_id(0);
    let c16 = ci32(&mut b, 16);
    let row0 = b.binary(BinaryOp::Mul, pid, c16);
    let row0_v = splat(&mut b, row0, &[T]);
    let ar = b.arange(T);
    let rows = b.binary(BinaryOp::Add, ar, row0_v);
    let m_v = splat(&mut b, m, &[T]);
    let row_ok = b.cmp(CmpPred::Lt, rows, m_v);
    let row_ok2 = b.expand_dims(row_ok, 1);
    let mask = b.broadcast(row_ok2, sq.to_vec());
    let rows2 = b.expand_dims(rows, 1);
    let rows_b = b.broadcast(rows2, sq.to_vec());
    let cols1 = b.expand_dims(ar, 0);
    let cols = b.broadcast(cols1, sq.to_vec());
    let ar_col = b.expand_dims(ar, 1);
    let krows = b.broadcast(ar_col, sq.to_vec());

    let zero = ci32(&mut b, 0);
    let acc0 = b.constant(Scalar::from_i64(DType::I32, 0), sq.to_vec());
    let (kk, carried) = b.begin_for(zero, k, c16, vec![acc0]);
    let acc = carried[0];
    // a[rows, kk + cols]
    let k_b = splat(&mut b, k, &sq);
    let kk_b = splat(&mut b, kk, &sq);
    let a_row = b.binary(BinaryOp::Mul, rows_b, k_b);
    let a_col = b.binary(BinaryOp::Add, cols, kk_b);
    let a_off = b.binary(BinaryOp::Add, a_row, a_col);
    let a_base = splat(&mut b, a, &sq);
    let a_ptrs = b.add_ptr(a_base, a_off);
    let zero8 = b.constant(Scalar::from_i64(DType::I8, 0), sq.to_vec());
    let at = b.load(a_ptrs, Some(mask), Some(zero8));
    // b[kk + krows, cols]
    let c16_b = splat(&mut b, c16, &sq);
    let b_row = b.binary(BinaryOp::Add, krows, kk_b);
    let b_row_off = b.binary(BinaryOp::Mul, b_row, c16_b);
    let b_off = b.binary(BinaryOp::Add, b_row_off, cols);
    let b_base = splat(&mut b, bp, &sq);
    let b_ptrs = b.add_ptr(b_base, b_off);
    let bt = b.load(b_ptrs, None, None);
    let next = b.dot(at, bt, acc);
    let out = b.end_for(vec![next]).expect("open loop")[0];

    // c[rows, cols] = out where rows < m
    let c16_b = splat(&mut b, c16, &sq);
    let c_row = b.binary(BinaryOp::Mul, rows_b, c16_b);
    let c_off = b.binary(BinaryOp::Add, c_row, cols);
    let c_base = splat(&mut b, c, &sq);
    let c_ptrs = b.add_ptr(c_base, c_off);
    b.store(c_ptrs, out, Some(mask));
    b.finish().expect("closed blocks")
}

/// An `if` with results: `x = pid == 0 ? 1.0 : -1.0`, then a loop without carried values
/// containing an `if` without results.
pub fn if_kernel() -> Kernel {
    let mut b = KernelBuilder::new("branchy");
    let out = b.param("out", ParamKind::Ptr(DType::F32));
    let pid = b.program_id(0);
    let zero = ci32(&mut b, 0);
    let is_first = b.cmp(CmpPred::Eq, pid, zero);
    b.begin_if(is_first);
    let one = b.constant(Scalar::from_f64(DType::F32, 1.0), vec![]);
    b.begin_else(vec![one]).expect("open then");
    let m_one = b.constant(Scalar::from_f64(DType::F32, -1.0), vec![]);
    let x = b.end_if(vec![m_one]).expect("open else")[0];
    let four = ci32(&mut b, 4);
    let step = ci32(&mut b, 1);
    let (i, _) = b.begin_for(zero, four, step, vec![]);
    let odd = b.binary(BinaryOp::And, i, step);
    let is_odd = b.cmp(CmpPred::Ne, odd, zero);
    b.begin_if(is_odd);
    let p = b.add_ptr(out, i);
    b.store(p, x, None);
    b.begin_else(vec![]).expect("open then");
    b.end_if(vec![]).expect("open else");
    b.end_for(vec![]).expect("open loop");
    b.finish().expect("closed blocks")
}

/// A kernel using every op kind (and every unary, binary, comparison and reduction) at least
/// once, with valid types.
pub fn all_ops_kernel() -> Kernel {
    let mut b = KernelBuilder::new("all_ops");
    let x = b.param("x", ParamKind::Ptr(DType::F32));
    let y = b.param("y", ParamKind::Ptr(DType::I32));
    let n = b.param("n", ParamKind::Scalar(DType::I32));
    let f = b.param("f", ParamKind::Scalar(DType::F16));

    let _pid1 = b.program_id(1);
    let _np = b.num_programs(2);
    let idx = b.arange(8);
    let n_v = splat(&mut b, n, &[8]);
    let mask = b.cmp(CmpPred::Lt, idx, n_v);
    let x_v = splat(&mut b, x, &[8]);
    let xp = b.add_ptr(x_v, idx);
    let fill = b.constant(Scalar::from_f64(DType::F32, 0.5), vec![8]);
    let xs = b.load(xp, Some(mask), Some(fill));

    // Float unary ops, then `fma`.
    let mut v = xs;
    for op in UnaryOp::ALL.into_iter().filter(|&u| u != UnaryOp::Not) {
        v = b.unary(op, v);
    }
    v = b.fma(v, xs, v);
    // Integer unary ops.
    let nt = b.unary(UnaryOp::Not, idx);
    let bnot = b.unary(UnaryOp::Not, mask);
    // Float binary ops.
    for op in [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Rem,
        BinaryOp::Min,
        BinaryOp::Max,
    ] {
        v = b.binary(op, v, xs);
    }
    // Integer binary ops.
    let mut iv = nt;
    for op in [
        BinaryOp::And,
        BinaryOp::Or,
        BinaryOp::Xor,
        BinaryOp::Shl,
        BinaryOp::Shr,
    ] {
        iv = b.binary(op, iv, idx);
    }
    let bm = b.binary(BinaryOp::And, mask, bnot);
    // Comparisons.
    for pred in [
        CmpPred::Eq,
        CmpPred::Ne,
        CmpPred::Lt,
        CmpPred::Le,
        CmpPred::Gt,
        CmpPred::Ge,
    ] {
        b.cmp(pred, v, xs);
    }
    let beq = b.cmp(CmpPred::Eq, bm, mask);
    let sel = b.select(beq, v, xs);
    let _psel = b.select(mask, xp, xp);
    let ci = b.cast(sel, DType::I32);
    let bits = b.bitcast(sel, DType::U32);
    let _f16 = b.cast(f, DType::F32);
    let row = b.expand_dims(ci, 0);
    let tile = b.broadcast(row, vec![4, 8]);
    let flat = b.reshape(tile, vec![32]);
    let _s = b.reduce(ReduceOp::Sum, tile, 1);
    let _mx = b.reduce(ReduceOp::Max, flat, 0);
    let _mn = b.reduce(ReduceOp::Min, tile, 0);
    let ft = b.cast(tile, DType::F16);
    let ftt = b.reshape(ft, vec![8, 4]);
    let acc = b.constant(Scalar::zero(DType::F32), vec![4, 4]);
    let d = b.dot(ft, ftt, acc);
    let _ = b.reduce(ReduceOp::Sum, d, 0);
    let y_v = splat(&mut b, y, &[8]);
    let yp = b.add_ptr(y_v, iv);
    let bits_i = b.bitcast(bits, DType::I32);
    let _old = b.atomic_add(yp, bits_i, Some(mask));
    let _old2 = b.atomic_add(yp, bits_i, None);
    let lo = ci32(&mut b, 0);
    let (i, c) = b.begin_for(lo, n, n, vec![bits_i, _pid1]);
    let next = b.binary(BinaryOp::Add, c[0], c[0]);
    let (_i2, _) = b.begin_for(lo, i, n, vec![]);
    b.end_for(vec![]).expect("open loop");
    let r = b.end_for(vec![next, c[1]]).expect("open loop");
    let cond = b.cmp(CmpPred::Gt, n, lo);
    b.begin_if(cond);
    b.begin_else(vec![r[0], r[1]]).expect("open then");
    let res = b.end_if(vec![bits_i, lo]).expect("open else");
    b.store(yp, res[0], Some(mask));
    b.store(xp, xs, None);
    b.finish().expect("closed blocks")
}
