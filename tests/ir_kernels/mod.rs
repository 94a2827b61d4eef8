//! IR test kernels covering every op and element type, shared by the PTX (ptxas) tests and
//! the conformance suite. Each is built with the `KernelBuilder`, so every dtype combination
//! is reachable.

#![allow(dead_code)]

// `bitmat_ir` rather than the facade's `bitmat::ir` (the same crate): bitmat-codegen's tests
// include this file too.
use bitmat_ir::{
    BinaryOp, CmpPred, DType, Kernel, KernelBuilder, ParamKind, ReduceOp, Scalar, UnaryOp, ValueId,
};

/// Elements per program of the 1-D kernels.
pub const N: u32 = 256;

/// Broadcasts the scalar `v` to `shape`.
pub fn splat(b: &mut KernelBuilder, v: ValueId, shape: &[u32]) -> ValueId {
    let r = b.reshape(v, vec![1; shape.len()]);
    b.broadcast(r, shape.to_vec())
}

/// `offs = pid * N + arange(N)`, `mask = offs < n`.
fn offsets(b: &mut KernelBuilder, n: ValueId) -> (ValueId, ValueId) {
    let pid = b.program_id(0);
    let cn = b.constant(Scalar::from_i64(DType::I32, i64::from(N)), vec![]);
    let base = b.binary(BinaryOp::Mul, pid, cn);
    let base = splat(b, base, &[N]);
    let ar = b.arange(N);
    let offs = b.binary(BinaryOp::Add, base, ar);
    let nv = splat(b, n, &[N]);
    let mask = b.cmp(CmpPred::Lt, offs, nv);
    (offs, mask)
}

/// `p + offs`, `p` broadcast to the shape of `offs`.
pub fn ptrs(b: &mut KernelBuilder, p: ValueId, offs: ValueId) -> ValueId {
    let shape = b.ty(offs).shape.clone();
    let pv = splat(b, p, &shape);
    b.add_ptr(pv, offs)
}

/// The unary ops defined on `d`.
pub fn unary_ops(d: DType) -> Vec<UnaryOp> {
    use UnaryOp::*;
    match d {
        DType::Bool => vec![Not],
        d if d.is_fp8() => vec![],
        d if d.is_float() => vec![
            Neg, Abs, Exp, Log, Sqrt, Rsqrt, Round, Exp2, Log2, Sin, Cos, Tanh, Erf, Sigmoid,
            Floor, Ceil,
        ],
        _ => vec![Neg, Not, Abs],
    }
}

/// The binary ops defined on `d`.
pub fn binary_ops(d: DType) -> Vec<BinaryOp> {
    use BinaryOp::*;
    match d {
        DType::Bool => vec![And, Or, Xor],
        d if d.is_fp8() => vec![],
        d if d.is_float() => vec![Add, Sub, Mul, Div, Rem, Min, Max],
        _ => vec![Add, Sub, Mul, Div, Rem, And, Or, Xor, Shl, Shr, Min, Max],
    }
}

/// Number of results [`elementwise`] stores for `d` (each `N` elements per program, in
/// `out[k * n ..]`).
pub fn elementwise_results(d: DType) -> usize {
    unary_ops(d).len() + binary_ops(d).len() + cmp_preds(d).len()
}

/// The comparisons defined on `d`.
pub fn cmp_preds(d: DType) -> Vec<CmpPred> {
    use CmpPred::*;
    match d {
        DType::Bool => vec![Eq, Ne],
        d if d.is_fp8() => vec![],
        _ => vec![Eq, Ne, Lt, Le, Gt, Ge],
    }
}

/// `out[k * n + i] = op_k(x[i], y[i])` for every unary, binary and comparison op on `d`
/// (comparisons as `select(x op y, x, y)`), masked to `i < n`, masked-off lanes of the loads
/// reading 1.
pub fn elementwise(d: DType) -> Kernel {
    let mut b = KernelBuilder::new(format!("elementwise_{d}"));
    let x = b.param("x", ParamKind::Ptr(d));
    let y = b.param("y", ParamKind::Ptr(d));
    let out = b.param("out", ParamKind::Ptr(d));
    let n = b.param("n", ParamKind::Scalar(DType::I32));
    let (offs, mask) = offsets(&mut b, n);
    let px = ptrs(&mut b, x, offs);
    let py = ptrs(&mut b, y, offs);
    let one = b.constant(Scalar::from_i64(d, 1), vec![N]);
    let xv = b.load(px, Some(mask), Some(one));
    // Masked-off lanes read 1 in both operands: no division by zero there either.
    let yv = b.load(py, Some(mask), Some(one));
    let mut results = Vec::new();
    for op in unary_ops(d) {
        results.push(b.unary(op, xv));
    }
    for op in binary_ops(d) {
        results.push(b.binary(op, xv, yv));
    }
    for pred in cmp_preds(d) {
        let c = b.cmp(pred, xv, yv);
        results.push(b.select(c, xv, yv));
    }
    let nv = splat(&mut b, n, &[N]);
    let mut o = offs;
    for r in results {
        let po = ptrs(&mut b, out, o);
        b.store(po, r, Some(mask));
        o = b.binary(BinaryOp::Add, o, nv);
    }
    b.finish().expect("valid kernel")
}

/// `out[i] = fma(x[i], y[i], z[i])` on the float type `d`, masked to `i < n`.
pub fn fma(d: DType) -> Kernel {
    let mut b = KernelBuilder::new(format!("fma_{d}"));
    let x = b.param("x", ParamKind::Ptr(d));
    let y = b.param("y", ParamKind::Ptr(d));
    let z = b.param("z", ParamKind::Ptr(d));
    let out = b.param("out", ParamKind::Ptr(d));
    let n = b.param("n", ParamKind::Scalar(DType::I32));
    let (offs, mask) = offsets(&mut b, n);
    let [xv, yv, zv] = [x, y, z].map(|p| {
        let ps = ptrs(&mut b, p, offs);
        b.load(ps, Some(mask), None)
    });
    let r = b.fma(xv, yv, zv);
    let po = ptrs(&mut b, out, offs);
    b.store(po, r, Some(mask));
    b.finish().expect("valid kernel")
}

/// `out = x as to` (and, for same-width non-bool types, `out2 = bitcast(x)`), masked.
pub fn cast(from: DType, to: DType) -> Kernel {
    let mut b = KernelBuilder::new(format!("cast_{from}_{to}"));
    let x = b.param("x", ParamKind::Ptr(from));
    let out = b.param("out", ParamKind::Ptr(to));
    let out2 = b.param("out2", ParamKind::Ptr(to));
    let n = b.param("n", ParamKind::Scalar(DType::I32));
    let (offs, mask) = offsets(&mut b, n);
    let px = ptrs(&mut b, x, offs);
    let xv = b.load(px, Some(mask), None);
    let c = b.cast(xv, to);
    let po = ptrs(&mut b, out, offs);
    b.store(po, c, Some(mask));
    if from.bits() == to.bits() && from != DType::Bool && to != DType::Bool {
        let bc = b.bitcast(xv, to);
        let po2 = ptrs(&mut b, out2, offs);
        b.store(po2, bc, Some(mask));
    }
    b.finish().expect("valid kernel")
}

/// Rows and columns of [`reduce`]'s tile.
pub const RED: (u32, u32) = (16, 32);

/// One program reduces a `[16, 32]` tile of `x` (row-major, `n` valid elements) along
/// both axes with `op`: `out[0..32]` = along axis 0, `out[32..48]` = along axis 1, then
/// `out2 = x - broadcast(max along axis 1)` (for non-bool types).
pub fn reduce(d: DType, op: ReduceOp) -> Kernel {
    let (r, c) = RED;
    let mut b = KernelBuilder::new(format!("reduce_{d}_{op:?}").to_lowercase());
    let x = b.param("x", ParamKind::Ptr(d));
    let out = b.param("out", ParamKind::Ptr(d));
    let out2 = b.param("out2", ParamKind::Ptr(d));
    let n = b.param("n", ParamKind::Scalar(DType::I32));
    let ar = b.arange(r * c);
    let offs = b.reshape(ar, vec![r, c]);
    let nv = splat(&mut b, n, &[r, c]);
    let mask = b.cmp(CmpPred::Lt, offs, nv);
    let px = ptrs(&mut b, x, offs);
    let xv = b.load(px, Some(mask), None);
    let s0 = b.reduce(op, xv, 0);
    let s1 = b.reduce(op, xv, 1);
    let a0 = b.arange(c);
    let p0 = ptrs(&mut b, out, a0);
    b.store(p0, s0, None);
    let a1 = b.arange(r);
    let c32 = b.constant(Scalar::from_i64(DType::I32, i64::from(c)), vec![r]);
    let a1 = b.binary(BinaryOp::Add, a1, c32);
    let p1 = ptrs(&mut b, out, a1);
    b.store(p1, s1, None);
    if d != DType::Bool {
        let m = b.reduce(ReduceOp::Max, xv, 1);
        let m = b.expand_dims(m, 1);
        let m = b.broadcast(m, vec![r, c]);
        let diff = b.binary(BinaryOp::Sub, xv, m);
        let p2 = ptrs(&mut b, out2, offs);
        b.store(p2, diff, Some(mask));
    }
    b.finish().expect("valid kernel")
}

/// The reductions defined on `d`: none on bool (the verifier rejects them), sum, max and min
/// on every other type, and xor on integers.
pub fn reduce_ops(d: DType) -> Vec<ReduceOp> {
    match d {
        d if d == DType::Bool || d.is_fp8() => vec![],
        d if d.is_int() => vec![ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min, ReduceOp::Xor],
        _ => vec![ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min],
    }
}

/// The tile shapes of [`reduce_tile`]: 1-D tiles smaller than, as large as and larger than a
/// warp or a program, and 2-D tiles whose rows lie within a thread, across lanes or across
/// warps.
pub const REDUCE_SHAPES: [&[u32]; 10] = [
    &[1],
    &[2],
    &[8],
    &[32],
    &[64],
    &[256],
    &[1024],
    &[4, 64],
    &[64, 4],
    &[128, 128],
];

/// The program sizes (`num_warps`) the reductions of `shape` are tested with: 1, 4 and 8
/// warps, but only 4 and 8 for tiles of more than 4096 elements (in one warp, each thread
/// would hold more than 128 of them).
pub fn reduce_warps(shape: &[u32]) -> &'static [u32] {
    if shape.iter().product::<u32>() > 4096 {
        &[4, 8]
    } else {
        &[1, 4, 8]
    }
}

/// The name of [`reduce_tile`]'s kernel, e.g. `reduce_f32_sum_4x64`.
fn reduce_tile_name(d: DType, op: ReduceOp, shape: &[u32]) -> String {
    let dims: Vec<String> = shape.iter().map(u32::to_string).collect();
    format!("reduce_{d}_{op:?}_{}", dims.join("x")).to_lowercase()
}

/// Elements [`reduce_tile`] writes for `shape`: the results along each axis, one after another.
pub fn reduce_tile_results(shape: &[u32]) -> u32 {
    let numel: u32 = shape.iter().product();
    shape.iter().map(|&n| numel / n).sum()
}

/// One program loads the dense row-major `shape` tile `x` and reduces it with `op` along each
/// axis in turn, writing the results to `out` one after another (axis 0's first; a 1-D tile's
/// scalar to `out[0]`).
pub fn reduce_tile(d: DType, op: ReduceOp, shape: &[u32]) -> Kernel {
    let numel: u32 = shape.iter().product();
    let mut b = KernelBuilder::new(reduce_tile_name(d, op, shape));
    let x = b.param("x", ParamKind::Ptr(d));
    let out = b.param("out", ParamKind::Ptr(d));
    let ar = b.arange(numel);
    let offs = b.reshape(ar, shape.to_vec());
    let px = ptrs(&mut b, x, offs);
    let xv = b.load(px, None, None);
    let mut base = 0;
    for axis in 0..shape.len() {
        let r = b.reduce(op, xv, axis as u32);
        let rshape = b.ty(r).shape.clone();
        let len: u32 = rshape.iter().product();
        let start = b.constant(
            Scalar::from_i64(DType::I32, i64::from(base)),
            rshape.clone(),
        );
        let po = if rshape.is_empty() {
            b.add_ptr(out, start)
        } else {
            let ar = b.arange(len);
            let o = b.reshape(ar, rshape);
            let o = b.binary(BinaryOp::Add, o, start);
            ptrs(&mut b, out, o)
        };
        b.store(po, r, None);
        base += len;
    }
    b.finish().expect("valid kernel")
}

/// The `(m, n, k)` shapes of [`dot`] the suite runs and `ptxas` assembles: exact tensor-core
/// shapes, ones padded to the instruction shape in M (GEMV, M = 1), N (< 8) and K (< 16 /
/// 32), more output tiles than warps, long K loops.
pub const DOT_SHAPES: [(u32, u32, u32); 10] = [
    (16, 16, 32),
    (1, 32, 64),
    (64, 64, 32),
    (2, 8, 4),
    (1, 1, 16),
    (4, 2, 8),
    (32, 4, 1),
    (8, 16, 128),
    (16, 8, 512),
    (1, 64, 256),
];

/// `c[M, N] = a[M, K] x b[K, N] + c0` on one program, operands row-major and dense.
pub fn dot(ab: DType, m: u32, n: u32, k: u32) -> Kernel {
    dot_of([ab, ab], m, n, k)
}

/// [`dot`] with `a` of type `da` and `b` of type `db` (fp8 operands may differ).
pub fn dot_of([da, db]: [DType; 2], m: u32, n: u32, k: u32) -> Kernel {
    let acc = if da == DType::I8 {
        DType::I32
    } else {
        DType::F32
    };
    let types = if da == db {
        format!("{da}")
    } else {
        format!("{da}_{db}")
    };
    let mut b = KernelBuilder::new(format!("dot_{types}_{m}x{n}x{k}"));
    let a = b.param("a", ParamKind::Ptr(da));
    let bp = b.param("b", ParamKind::Ptr(db));
    let c = b.param("c", ParamKind::Ptr(acc));
    let grid = |b: &mut KernelBuilder, rows: u32, cols: u32| {
        let ar = b.arange(rows * cols);
        b.reshape(ar, vec![rows, cols])
    };
    let oa = grid(&mut b, m, k);
    let ob = grid(&mut b, k, n);
    let oc = grid(&mut b, m, n);
    let pa = ptrs(&mut b, a, oa);
    let pb = ptrs(&mut b, bp, ob);
    let pc = ptrs(&mut b, c, oc);
    let av = b.load(pa, None, None);
    let bv = b.load(pb, None, None);
    let cv = b.load(pc, None, None);
    let r = b.dot(av, bv, cv);
    b.store(pc, r, None);
    b.finish().expect("valid kernel")
}

/// Control flow and atomics: `acc = sum over i in (0..iters) of x[offs] * i` in a loop,
/// then `if n > 100 { acc + 1 } else { acc - 1 }`, stored to `out`; `atomic_add(total,
/// acc)` per element and `atomic_add(count, 1)` once per program (scalar) with the old value
/// written to `old[pid]`; `nprog[0] = num_programs(0)`.
pub fn control() -> Kernel {
    let mut b = KernelBuilder::new("control");
    let x = b.param("x", ParamKind::Ptr(DType::F32));
    let out = b.param("out", ParamKind::Ptr(DType::F32));
    let total = b.param("total", ParamKind::Ptr(DType::F32));
    let count = b.param("count", ParamKind::Ptr(DType::I32));
    let old = b.param("old", ParamKind::Ptr(DType::I32));
    let nprog = b.param("nprog", ParamKind::Ptr(DType::I32));
    let n = b.param("n", ParamKind::Scalar(DType::I32));
    let iters = b.param("iters", ParamKind::Scalar(DType::I32));
    let (offs, mask) = offsets(&mut b, n);
    let px = ptrs(&mut b, x, offs);
    let xv = b.load(px, Some(mask), None);
    let zero = b.constant(Scalar::from_i64(DType::I32, 0), vec![]);
    let one = b.constant(Scalar::from_i64(DType::I32, 1), vec![]);
    let acc0 = b.constant(Scalar::from_f64(DType::F32, 0.0), vec![N]);
    let (iv, carried) = b.begin_for(zero, iters, one, vec![acc0]);
    let ivf = b.cast(iv, DType::F32);
    let ivf = splat(&mut b, ivf, &[N]);
    let t = b.binary(BinaryOp::Mul, xv, ivf);
    let next = b.binary(BinaryOp::Add, carried[0], t);
    let acc = b.end_for(vec![next]).expect("loop")[0];
    let hundred = b.constant(Scalar::from_i64(DType::I32, 100), vec![]);
    let cond = b.cmp(CmpPred::Gt, n, hundred);
    let onef = b.constant(Scalar::from_f64(DType::F32, 1.0), vec![N]);
    b.begin_if(cond);
    let a1 = b.binary(BinaryOp::Add, acc, onef);
    b.begin_else(vec![a1]).expect("if");
    let a2 = b.binary(BinaryOp::Sub, acc, onef);
    let res = b.end_if(vec![a2]).expect("if")[0];
    let po = ptrs(&mut b, out, offs);
    b.store(po, res, Some(mask));
    let zoff = b.constant(Scalar::from_i64(DType::I32, 0), vec![N]);
    let pt = ptrs(&mut b, total, zoff);
    b.atomic_add(pt, res, Some(mask));
    let pc = b.add_ptr(count, zero);
    let o = b.atomic_add(pc, one, None);
    let pid = b.program_id(0);
    let pold = b.add_ptr(old, pid);
    b.store(pold, o, None);
    let np = b.num_programs(0);
    let pn = b.add_ptr(nprog, zero);
    b.store(pn, np, None);
    b.finish().expect("valid kernel")
}

/// Every test kernel, with a short label.
pub fn all() -> Vec<Kernel> {
    let mut ks = Vec::new();
    for d in DType::ALL {
        if !d.is_fp8() {
            ks.push(elementwise(d));
        }
        if d.is_arith_float() {
            ks.push(fma(d));
        }
        for to in DType::ALL {
            if d != to {
                ks.push(cast(d, to));
            }
        }
        for op in reduce_ops(d) {
            ks.push(reduce(d, op));
        }
    }
    for (m, n, k) in DOT_SHAPES {
        for d in [
            DType::I8,
            DType::F16,
            DType::BF16,
            DType::F32,
            DType::F8E4M3,
            DType::F8E5M2,
        ] {
            ks.push(dot(d, m, n, k));
        }
        ks.push(dot_of([DType::F8E4M3, DType::F8E5M2], m, n, k));
    }
    ks.push(control());
    ks
}
