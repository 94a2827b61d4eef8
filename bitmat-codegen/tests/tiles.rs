//! Tile-level ops: reductions, dot, broadcast/expand_dims/reshape, masked loads and stores
//! (contiguous and gathered), atomics, control flow. JIT against the interpreter and plain
//! Rust.

mod common;

use bitmat_ir::{
    BinaryOp, CmpPred, DType, HostData, Kernel, KernelBuilder, ParamKind, ReduceOp, Scalar, ValueId,
};
use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Loads a `[rows, cols]` row-major tile from `p` (unmasked).
fn load_2d(b: &mut KernelBuilder, p: ValueId, rows: u32, cols: u32) -> ValueId {
    let stride = b.constant(Scalar::from_i64(DType::I32, i64::from(cols)), vec![]);
    let offs = offsets_2d(b, rows, cols, stride);
    let ps = splat(b, p, &[rows, cols]);
    let ptrs = b.add_ptr(ps, offs);
    b.load(ptrs, None, None)
}

/// Stores a `[rows, cols]` row-major tile to `p` (unmasked).
fn store_2d(b: &mut KernelBuilder, p: ValueId, v: ValueId, rows: u32, cols: u32) {
    let stride = b.constant(Scalar::from_i64(DType::I32, i64::from(cols)), vec![]);
    let offs = offsets_2d(b, rows, cols, stride);
    let ps = splat(b, p, &[rows, cols]);
    let ptrs = b.add_ptr(ps, offs);
    b.store(ptrs, v, None);
}

fn store_1d(b: &mut KernelBuilder, p: ValueId, v: ValueId, n: u32) {
    let offs = b.arange(n);
    let ps = splat(b, p, &[n]);
    let ptrs = b.add_ptr(ps, offs);
    b.store(ptrs, v, None);
}

#[test]
fn reductions_along_both_axes_on_every_dtype() {
    for d in DType::ALL {
        for op in [ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min] {
            if d == DType::Bool {
                continue;
            }
            for (rows, cols) in [(8u32, 32u32), (4, 2), (16, 16)] {
                let mut b = KernelBuilder::new("reduce");
                let x = b.param("x", ParamKind::Ptr(d));
                let o0 = b.param("o0", ParamKind::Ptr(d));
                let o1 = b.param("o1", ParamKind::Ptr(d));
                let t = load_2d(&mut b, x, rows, cols);
                let r0 = b.reduce(op, t, 0);
                let r1 = b.reduce(op, t, 1);
                store_1d(&mut b, o0, r0, cols);
                store_1d(&mut b, o1, r1, rows);
                let k = b.finish().unwrap();
                let mut rng = StdRng::seed_from_u64(21);
                let input = if d.is_float() {
                    random_small(d, (rows * cols) as usize, &mut rng)
                } else {
                    random_data(d, (rows * cols) as usize, &mut rng)
                };
                let args = [
                    Arg::Buf(input),
                    Arg::Buf(HostData::zeros(d, cols as usize)),
                    Arg::Buf(HostData::zeros(d, rows as usize)),
                ];
                check(
                    &format!("{op:?} on {d} [{rows}, {cols}]"),
                    &k,
                    [1, 1, 1],
                    &args,
                );
            }
        }
    }
}

#[test]
fn float_reductions_with_nans() {
    for d in [DType::F32, DType::F16, DType::BF16] {
        for op in [ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min] {
            let mut b = KernelBuilder::new("reduce_nan");
            let x = b.param("x", ParamKind::Ptr(d));
            let o0 = b.param("o0", ParamKind::Ptr(d));
            let o1 = b.param("o1", ParamKind::Ptr(d));
            let t = load_2d(&mut b, x, 8, 8);
            let r0 = b.reduce(op, t, 0);
            let r1 = b.reduce(op, t, 1);
            store_1d(&mut b, o0, r0, 8);
            store_1d(&mut b, o1, r1, 8);
            let k = b.finish().unwrap();
            let mut rng = StdRng::seed_from_u64(22);
            let args = [
                Arg::Buf(random_data(d, 64, &mut rng)),
                Arg::Buf(HostData::zeros(d, 8)),
                Arg::Buf(HostData::zeros(d, 8)),
            ];
            check(&format!("{op:?} on {d} with NaNs"), &k, [1, 1, 1], &args);
        }
    }
}

fn dot_kernel(da: DType, dc: DType, m: u32, k: u32, n: u32) -> Kernel {
    let mut b = KernelBuilder::new("dot");
    let pa = b.param("a", ParamKind::Ptr(da));
    let pb = b.param("b", ParamKind::Ptr(da));
    let pc = b.param("c", ParamKind::Ptr(dc));
    let a = load_2d(&mut b, pa, m, k);
    let bt = load_2d(&mut b, pb, k, n);
    let acc = load_2d(&mut b, pc, m, n);
    let r = b.dot(a, bt, acc);
    store_2d(&mut b, pc, r, m, n);
    b.finish().unwrap()
}

#[test]
fn dot_on_every_type_combination() {
    let combos = [
        (DType::I8, DType::I32),
        (DType::F16, DType::F32),
        (DType::BF16, DType::F32),
        (DType::F32, DType::F32),
    ];
    for (da, dc) in combos {
        for (m, k, n) in [
            (16u32, 32u32, 16u32),
            (1, 64, 32),
            (4, 8, 2),
            (2, 4, 1),
            (4, 1, 8),
            (8, 2, 64),
        ] {
            let kern = dot_kernel(da, dc, m, k, n);
            let mut rng = StdRng::seed_from_u64(31);
            let a = random_data(da, (m * k) as usize, &mut rng);
            let bm = random_data(da, (k * n) as usize, &mut rng);
            let c = random_small(dc, (m * n) as usize, &mut rng);
            let args = [
                Arg::Buf(a.clone()),
                Arg::Buf(bm.clone()),
                Arg::Buf(c.clone()),
            ];
            let out = check_with(
                &format!("dot {da} [{m},{k}]x[{k},{n}]"),
                &kern,
                [1, 1, 1],
                &args,
                true,
            );
            if da == DType::I8 {
                // Plain Rust.
                let (a, bm, c) = (as_vec::<i8>(&a), as_vec::<i8>(&bm), as_vec::<i32>(&c));
                let got = as_vec::<i32>(&out[2]);
                for i in 0..m as usize {
                    for j in 0..n as usize {
                        let mut s = c[i * n as usize + j];
                        for kk in 0..k as usize {
                            s = s.wrapping_add(
                                i32::from(a[i * k as usize + kk])
                                    * i32::from(bm[kk * n as usize + j]),
                            );
                        }
                        assert_eq!(got[i * n as usize + j], s);
                    }
                }
            }
        }
    }
}

#[test]
fn broadcast_expand_dims_reshape() {
    for d in [DType::I8, DType::I16, DType::F32, DType::I64, DType::F16] {
        let mut b = KernelBuilder::new("shapes");
        let x = b.param("x", ParamKind::Ptr(d));
        let o = b.param("o", ParamKind::Ptr(d));
        let o2 = b.param("o2", ParamKind::Ptr(d));
        let row = {
            let offs = b.arange(8);
            let ps = splat(&mut b, x, &[8]);
            let p = b.add_ptr(ps, offs);
            b.load(p, None, None)
        };
        // [8] -> [1, 8] -> [4, 8]; [8] -> [8, 1] -> [8, 4] -> reshape [4, 8]; sum them.
        let r = b.expand_dims(row, 0);
        let r = b.broadcast(r, vec![4, 8]);
        let c = b.expand_dims(row, 1);
        let c = b.broadcast(c, vec![8, 4]);
        let c = b.reshape(c, vec![4, 8]);
        let s = b.binary(BinaryOp::Add, r, c);
        store_2d(&mut b, o, s, 4, 8);
        // 3-D broadcast of a [2, 1, 4] to [2, 3.. no: 2, 4, 4].
        let t = b.reshape(row, vec![2, 1, 4]);
        let t = b.broadcast(t, vec![2, 4, 4]);
        let t = b.reshape(t, vec![4, 8]);
        store_2d(&mut b, o2, t, 4, 8);
        let k = b.finish().unwrap();
        let mut rng = StdRng::seed_from_u64(41);
        let args = [
            Arg::Buf(random_small(d, 8, &mut rng)),
            Arg::Buf(HostData::zeros(d, 32)),
            Arg::Buf(HostData::zeros(d, 32)),
        ];
        check(&format!("shapes on {d}"), &k, [1, 1, 1], &args);
    }
}

/// Copies a ragged `[rows, cols]` window (`r < m`, `c < n`) of a matrix with row stride
/// `ld`, contiguous or transposed (gathered), adding 1, with `other` = -7 for masked lanes
/// written to a dense output.
fn masked_copy_kernel(d: DType, rows: u32, cols: u32, transposed: bool) -> Kernel {
    let mut b = KernelBuilder::new("masked_copy");
    let x = b.param("x", ParamKind::Ptr(d));
    let o = b.param("o", ParamKind::Ptr(d));
    let m = b.param("m", ParamKind::Scalar(DType::I32));
    let n = b.param("n", ParamKind::Scalar(DType::I32));
    let ld = b.param("ld", ParamKind::Scalar(DType::I32));
    let shape = [rows, cols];
    let r = b.arange(rows);
    let c = b.arange(cols);
    let r2 = b.expand_dims(r, 1);
    let r2 = b.broadcast(r2, shape.to_vec());
    let c2 = b.expand_dims(c, 0);
    let c2 = b.broadcast(c2, shape.to_vec());
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
    let xs = splat(&mut b, x, &shape);
    let px = b.add_ptr(xs, offs);
    let other = b.constant(Scalar::from_i64(d, -7), shape.to_vec());
    let v = b.load(px, Some(mask), Some(other));
    let one = b.constant(Scalar::from_i64(d, 1), shape.to_vec());
    let v1 = b.binary(BinaryOp::Add, v, one);
    // Dense output of the whole tile (unmasked), and a masked in-place store.
    store_2d(&mut b, o, v, rows, cols);
    b.store(px, v1, Some(mask));
    b.finish().unwrap()
}

#[test]
fn masked_loads_and_stores_contiguous_and_gathered() {
    for d in [
        DType::I8,
        DType::I16,
        DType::I32,
        DType::F32,
        DType::I64,
        DType::F16,
    ] {
        for transposed in [false, true] {
            for (m, n) in [(16, 64), (5, 37), (0, 0), (16, 17), (3, 64)] {
                let (rows, cols) = (16u32, 64u32);
                let k = masked_copy_kernel(d, rows, cols, transposed);
                let ld = 70i32;
                let mut rng = StdRng::seed_from_u64(51);
                let len = (ld * 64 + 64) as usize;
                let args = [
                    Arg::Buf(random_small(d, len, &mut rng)),
                    Arg::Buf(HostData::zeros(d, (rows * cols) as usize)),
                    i32_arg(m),
                    i32_arg(n),
                    i32_arg(ld),
                ];
                check(
                    &format!("masked copy {d} transposed={transposed} {m}x{n}"),
                    &k,
                    [1, 1, 1],
                    &args,
                );
            }
        }
    }
}

#[test]
fn atomic_add_from_many_programs() {
    for d in [DType::I32, DType::U32, DType::I64, DType::U64, DType::F32] {
        // Every program adds 1 (or 0.5) to the same 16 slots and its lane index to a
        // histogram slot chosen by `lane % 4`; masked lanes add nothing.
        let mut b = KernelBuilder::new("atomics");
        let p = b.param("p", ParamKind::Ptr(d));
        let old = b.param("old", ParamKind::Ptr(d));
        let offs = b.arange(16);
        let ps = splat(&mut b, p, &[16]);
        let four = i32_const(&mut b, 4, &[16]);
        let slot = b.binary(BinaryOp::Rem, offs, four);
        let ptrs = b.add_ptr(ps, slot);
        let twelve = i32_const(&mut b, 12, &[16]);
        let mask = b.cmp(CmpPred::Lt, offs, twelve);
        let v = b.constant(Scalar::from_f64(d, 1.0), vec![16]);
        let o = b.atomic_add(ptrs, v, Some(mask));
        // Store the old values of program 0 only.
        let pid = b.program_id(0);
        let zero = b.constant(Scalar::from_i64(DType::I32, 0), vec![]);
        let is0 = b.cmp(CmpPred::Eq, pid, zero);
        let is0 = splat(&mut b, is0, &[16]);
        let os = splat(&mut b, old, &[16]);
        let po = b.add_ptr(os, offs);
        b.store(po, o, Some(is0));
        let k = b.finish().unwrap();
        let programs = 200u32;
        let args = [
            Arg::Buf(HostData::zeros(d, 4)),
            Arg::Buf(HostData::zeros(d, 16)),
        ];
        let jit = run_jit(&k, [programs / 4, 2, 2], &args);
        let interp = run_interp(&k, [programs / 4, 2, 2], &args);
        // Totals are order independent: 3 active lanes per slot per program.
        assert_same(&format!("atomic totals {d}"), &interp[0], &jit[0]);
        let total = jit[0].get(0).unwrap();
        let want = Scalar::from_f64(d, f64::from(3 * programs)).bits();
        assert_eq!(total.bits(), want, "{d}");
    }
}

#[test]
fn for_loop_with_several_carried_values_and_if_with_results() {
    // acc_i: i32[8] += iv; acc_f: f32[8] *= 1.5 ; count: scalar i32 += 1; swapped pair.
    let mut b = KernelBuilder::new("loops");
    let o = b.param("o", ParamKind::Ptr(DType::I32));
    let of = b.param("of", ParamKind::Ptr(DType::F32));
    let os = b.param("os", ParamKind::Ptr(DType::I32));
    let lo = b.param("lo", ParamKind::Scalar(DType::I32));
    let hi = b.param("hi", ParamKind::Scalar(DType::I32));
    let step = b.constant(Scalar::from_i64(DType::I32, 3), vec![]);
    let acc0 = b.arange(8);
    let f0 = b.constant(Scalar::from_f64(DType::F32, 1.0), vec![8]);
    let c0 = b.constant(Scalar::from_i64(DType::I32, 0), vec![]);
    let s0 = b.constant(Scalar::from_i64(DType::I32, 100), vec![]);
    let t0 = b.constant(Scalar::from_i64(DType::I32, 200), vec![]);
    let (iv, carried) = b.begin_for(lo, hi, step, vec![acc0, f0, c0, s0, t0]);
    let ivs = splat(&mut b, iv, &[8]);
    let acc = b.binary(BinaryOp::Add, carried[0], ivs);
    let k15 = b.constant(Scalar::from_f64(DType::F32, 1.5), vec![8]);
    let f = b.binary(BinaryOp::Mul, carried[1], k15);
    let one = b.constant(Scalar::from_i64(DType::I32, 1), vec![]);
    let cnt = b.binary(BinaryOp::Add, carried[2], one);
    // if iv is even: yield (acc * 2) else yield acc
    let two = b.constant(Scalar::from_i64(DType::I32, 2), vec![]);
    let r = b.binary(BinaryOp::Rem, iv, two);
    let zero = b.constant(Scalar::from_i64(DType::I32, 0), vec![]);
    let even = b.cmp(CmpPred::Eq, r, zero);
    b.begin_if(even);
    let twos = i32_const(&mut b, 2, &[8]);
    let dbl = b.binary(BinaryOp::Mul, acc, twos);
    b.begin_else(vec![dbl]).unwrap();
    let res = b.end_if(vec![acc]).unwrap();
    let res = b
        .end_for(vec![res[0], f, cnt, carried[4], carried[3]])
        .unwrap();
    store_1d(&mut b, o, res[0], 8);
    store_1d(&mut b, of, res[1], 8);
    let s = b.expand_dims(res[2], 0);
    let s2 = b.expand_dims(res[3], 0);
    let s3 = b.expand_dims(res[4], 0);
    for (i, v) in [s, s2, s3].into_iter().enumerate() {
        let off = b.constant(Scalar::from_i64(DType::I32, i as i64), vec![1]);
        let ps = b.expand_dims(os, 0);
        let p = b.add_ptr(ps, off);
        b.store(p, v, None);
    }
    let k = b.finish().unwrap();
    for (lo, hi) in [(0, 10), (-5, 17), (3, 3), (10, 0), (1, 2)] {
        let args = [
            Arg::Buf(HostData::zeros(DType::I32, 8)),
            Arg::Buf(HostData::zeros(DType::F32, 8)),
            Arg::Buf(HostData::zeros(DType::I32, 3)),
            i32_arg(lo),
            i32_arg(hi),
        ];
        let out = check(&format!("loops {lo}..{hi}"), &k, [1, 1, 1], &args);
        let n = if hi > lo { (hi - lo + 2) / 3 } else { 0 };
        assert_eq!(as_vec::<i32>(&out[2])[0], n);
        let swapped = if n % 2 == 1 { [200, 100] } else { [100, 200] };
        assert_eq!(&as_vec::<i32>(&out[2])[1..], &swapped);
    }
}

#[test]
fn loop_bounds_near_the_type_limits_terminate() {
    let mut b = KernelBuilder::new("limits");
    let o = b.param("o", ParamKind::Ptr(DType::I32));
    let lo = b.param("lo", ParamKind::Scalar(DType::I8));
    let hi = b.param("hi", ParamKind::Scalar(DType::I8));
    let step = b.constant(Scalar::from_i64(DType::I8, 10), vec![]);
    let c0 = b.constant(Scalar::from_i64(DType::I32, 0), vec![]);
    let (_iv, carried) = b.begin_for(lo, hi, step, vec![c0]);
    let one = b.constant(Scalar::from_i64(DType::I32, 1), vec![]);
    let c = b.binary(BinaryOp::Add, carried[0], one);
    let res = b.end_for(vec![c]).unwrap();
    let r = b.expand_dims(res[0], 0);
    let po = b.expand_dims(o, 0);
    b.store(po, r, None);
    let k = b.finish().unwrap();
    let args = [
        Arg::Buf(HostData::zeros(DType::I32, 1)),
        Arg::Scalar(Scalar::from_i64(DType::I8, 100)),
        Arg::Scalar(Scalar::from_i64(DType::I8, 127)),
    ];
    let out = check("limits", &k, [1, 1, 1], &args);
    assert_eq!(as_vec::<i32>(&out[0]), vec![3]);
}

#[test]
fn program_ids_and_grid() {
    let mut b = KernelBuilder::new("grid");
    let o = b.param("o", ParamKind::Ptr(DType::I32));
    let ids: Vec<ValueId> = (0..3).map(|a| b.program_id(a)).collect();
    let ns: Vec<ValueId> = (0..3).map(|a| b.num_programs(a)).collect();
    // linear = x + nx * (y + ny * z)
    let yz = b.binary(BinaryOp::Mul, ns[1], ids[2]);
    let yz = b.binary(BinaryOp::Add, ids[1], yz);
    let l = b.binary(BinaryOp::Mul, ns[0], yz);
    let l = b.binary(BinaryOp::Add, ids[0], l);
    let v = b.binary(BinaryOp::Mul, l, l);
    let v = b.expand_dims(v, 0);
    let lp = b.expand_dims(l, 0);
    let po = b.expand_dims(o, 0);
    let p = b.add_ptr(po, lp);
    b.store(p, v, None);
    let k = b.finish().unwrap();
    let args = [Arg::Buf(HostData::zeros(DType::I32, 3 * 4 * 5))];
    let out = check("grid", &k, [3, 4, 5], &args);
    let want: Vec<i32> = (0..60).map(|i| i * i).collect();
    assert_eq!(as_vec::<i32>(&out[0]), want);
}

/// A tiled matmul `c[M, N] = a[M, K] x b[K, N]` with `BM x BN` output tiles, `BK` steps.
fn matmul_kernel(d: DType, acc: DType, bm: u32, bn: u32, bk: u32) -> Kernel {
    let mut b = KernelBuilder::new("matmul");
    let pa = b.param("a", ParamKind::Ptr(d));
    let pb = b.param("b", ParamKind::Ptr(d));
    let pc = b.param("c", ParamKind::Ptr(acc));
    let m = b.param("m", ParamKind::Scalar(DType::I32));
    let n = b.param("n", ParamKind::Scalar(DType::I32));
    let kk = b.param("k", ParamKind::Scalar(DType::I32));
    let pid_m = b.program_id(0);
    let pid_n = b.program_id(1);
    let bm_c = b.constant(Scalar::from_i64(DType::I32, i64::from(bm)), vec![]);
    let bn_c = b.constant(Scalar::from_i64(DType::I32, i64::from(bn)), vec![]);
    let row0 = b.binary(BinaryOp::Mul, pid_m, bm_c);
    let col0 = b.binary(BinaryOp::Add, pid_n, pid_n);
    let _ = col0;
    let col0 = b.binary(BinaryOp::Mul, pid_n, bn_c);
    let rm = b.arange(bm);
    let r0s = splat(&mut b, row0, &[bm]);
    let rows = b.binary(BinaryOp::Add, rm, r0s); // [bm]
    let rn = b.arange(bn);
    let c0s = splat(&mut b, col0, &[bn]);
    let cols = b.binary(BinaryOp::Add, rn, c0s); // [bn]
    let rk = b.arange(bk);
    let zero = b.constant(Scalar::zero(acc), vec![bm, bn]);
    let lo = b.constant(Scalar::from_i64(DType::I32, 0), vec![]);
    let step = b.constant(Scalar::from_i64(DType::I32, i64::from(bk)), vec![]);
    let (k0, carried) = b.begin_for(lo, kk, step, vec![zero]);
    // a tile [bm, bk]: a[rows, k0 + rk], mask rows < m && k < K.
    let k0s = splat(&mut b, k0, &[bk]);
    let ks = b.binary(BinaryOp::Add, rk, k0s);
    let r2 = b.expand_dims(rows, 1);
    let r2 = b.broadcast(r2, vec![bm, bk]);
    let k2 = b.expand_dims(ks, 0);
    let k2 = b.broadcast(k2, vec![bm, bk]);
    let ks_ = splat(&mut b, kk, &[bm, bk]);
    let ra = b.binary(BinaryOp::Mul, r2, ks_);
    let oa = b.binary(BinaryOp::Add, ra, k2);
    let ms = splat(&mut b, m, &[bm, bk]);
    let mr = b.cmp(CmpPred::Lt, r2, ms);
    let mk = b.cmp(CmpPred::Lt, k2, ks_);
    let ma = b.binary(BinaryOp::And, mr, mk);
    let pas = splat(&mut b, pa, &[bm, bk]);
    let pta = b.add_ptr(pas, oa);
    let at = b.load(pta, Some(ma), None);
    // b tile [bk, bn]: b[k0 + rk, cols].
    let k3 = b.expand_dims(ks, 1);
    let k3 = b.broadcast(k3, vec![bk, bn]);
    let c3 = b.expand_dims(cols, 0);
    let c3 = b.broadcast(c3, vec![bk, bn]);
    let ns = splat(&mut b, n, &[bk, bn]);
    let kb = b.binary(BinaryOp::Mul, k3, ns);
    let ob = b.binary(BinaryOp::Add, kb, c3);
    let ks3 = splat(&mut b, kk, &[bk, bn]);
    let mk3 = b.cmp(CmpPred::Lt, k3, ks3);
    let mc3 = b.cmp(CmpPred::Lt, c3, ns);
    let mb = b.binary(BinaryOp::And, mk3, mc3);
    let pbs = splat(&mut b, pb, &[bk, bn]);
    let ptb = b.add_ptr(pbs, ob);
    let bt = b.load(ptb, Some(mb), None);
    let accv = b.dot(at, bt, carried[0]);
    let res = b.end_for(vec![accv]).unwrap();
    // c[rows, cols]
    let r4 = b.expand_dims(rows, 1);
    let r4 = b.broadcast(r4, vec![bm, bn]);
    let c4 = b.expand_dims(cols, 0);
    let c4 = b.broadcast(c4, vec![bm, bn]);
    let ns4 = splat(&mut b, n, &[bm, bn]);
    let rc = b.binary(BinaryOp::Mul, r4, ns4);
    let oc = b.binary(BinaryOp::Add, rc, c4);
    let ms4 = splat(&mut b, m, &[bm, bn]);
    let m1 = b.cmp(CmpPred::Lt, r4, ms4);
    let m2 = b.cmp(CmpPred::Lt, c4, ns4);
    let mc = b.binary(BinaryOp::And, m1, m2);
    let pcs = splat(&mut b, pc, &[bm, bn]);
    let ptc = b.add_ptr(pcs, oc);
    b.store(ptc, res[0], Some(mc));
    b.finish().unwrap()
}

#[test]
fn tiled_matmul_ragged_i8_and_f16() {
    let (m, n, k) = (17usize, 100usize, 260usize);
    let (bm, bn, bk) = (16u32, 32u32, 32u32);
    let grid = [(m as u32).div_ceil(bm), (n as u32).div_ceil(bn), 1];
    let mut rng = StdRng::seed_from_u64(61);
    // i8
    let a: Vec<i8> = (0..m * k).map(|_| rng.gen()).collect();
    let bmat: Vec<i8> = (0..k * n).map(|_| rng.gen()).collect();
    let kern = matmul_kernel(DType::I8, DType::I32, bm, bn, bk);
    let args = [
        Arg::Buf(HostData::I8(a.clone())),
        Arg::Buf(HostData::I8(bmat.clone())),
        Arg::Buf(HostData::I32(vec![0; m * n])),
        i32_arg(m as i32),
        i32_arg(n as i32),
        i32_arg(k as i32),
    ];
    let out = check("matmul i8", &kern, grid, &args);
    let got = as_vec::<i32>(&out[2]);
    for i in 0..m {
        for j in 0..n {
            let s: i32 = (0..k)
                .map(|kk| i32::from(a[i * k + kk]) * i32::from(bmat[kk * n + j]))
                .sum();
            assert_eq!(got[i * n + j], s, "({i}, {j})");
        }
    }
    // f16
    let a: Vec<half::f16> = (0..m * k).map(|_| h(rng.gen_range(-2.0..2.0))).collect();
    let bmat: Vec<half::f16> = (0..k * n).map(|_| h(rng.gen_range(-2.0..2.0))).collect();
    let kern = matmul_kernel(DType::F16, DType::F32, bm, bn, bk);
    let args = [
        Arg::Buf(HostData::F16(a.clone())),
        Arg::Buf(HostData::F16(bmat.clone())),
        Arg::Buf(HostData::F32(vec![0.0; m * n])),
        i32_arg(m as i32),
        i32_arg(n as i32),
        i32_arg(k as i32),
    ];
    let out = check("matmul f16", &kern, grid, &args);
    let got = as_vec::<f32>(&out[2]);
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f32;
            for kk in 0..k {
                s += a[i * k + kk].to_f32() * bmat[kk * n + j].to_f32();
            }
            assert_eq!(got[i * n + j].to_bits(), s.to_bits(), "({i}, {j})");
        }
    }
}

#[test]
fn clif_is_available_and_errors_name_the_kernel() {
    let k = dot_kernel(DType::F32, DType::F32, 4, 4, 4);
    let ck = bitmat_codegen::CpuKernel::compile(&k).unwrap();
    assert!(ck.clif().contains("f32x4"));
    let mut bad = k.clone();
    bad.values.clear();
    let e = bitmat_codegen::CpuKernel::compile(&bad).unwrap_err();
    assert!(e.to_string().contains("`dot`"), "{e}");
}

#[test]
fn contiguous_accesses_are_vector_loads_and_gathers_are_not() {
    let count = |k: &Kernel| {
        let ck = bitmat_codegen::CpuKernel::compile(k).unwrap();
        // Global vector loads carry no `notrap` flag; scratch accesses do.
        ck.clif()
            .lines()
            .filter(|l| l.contains("= load.i32x4 v"))
            .count()
    };
    let contiguous = count(&masked_copy_kernel(DType::F32, 16, 64, false));
    let gathered = count(&masked_copy_kernel(DType::F32, 16, 64, true));
    assert!(contiguous > gathered, "{contiguous} vs {gathered}");
    if std::env::var("BITMAT_DUMP").as_deref() == Ok("clif") {
        let ck = bitmat_codegen::CpuKernel::compile(&masked_copy_kernel(DType::F32, 16, 64, false))
            .unwrap();
        println!("{}", ck.clif());
    }
}

/// Single-thread throughput of the tiled matmul (run with `--ignored --nocapture`).
#[test]
#[ignore]
fn bench_tiled_matmul() {
    let (m, n, k) = (256usize, 256usize, 256usize);
    for (d, acc) in [
        (DType::I8, DType::I32),
        (DType::F32, DType::F32),
        (DType::F16, DType::F32),
    ] {
        let (bm, bn, bk) = (64u32, 64u32, 32u32);
        let kern = matmul_kernel(d, acc, bm, bn, bk);
        let t = std::time::Instant::now();
        let ck = bitmat_codegen::CpuKernel::compile(&kern).unwrap();
        let compile_ms = t.elapsed().as_secs_f64() * 1e3;
        let mut rng = StdRng::seed_from_u64(1);
        let args = [
            Arg::Buf(random_small(d, m * k, &mut rng)),
            Arg::Buf(random_small(d, k * n, &mut rng)),
            Arg::Buf(HostData::zeros(acc, m * n)),
            i32_arg(m as i32),
            i32_arg(n as i32),
            i32_arg(k as i32),
        ];
        let grid = [m as u32 / bm, n as u32 / bn, 1];
        // The best of several runs on one thread: robust to other load on the machine.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let s = pool.install(|| {
            (0..8)
                .map(|_| {
                    let t = std::time::Instant::now();
                    run_compiled(&ck, grid, &args);
                    t.elapsed().as_secs_f64()
                })
                .fold(f64::INFINITY, f64::min)
        });
        println!(
            "matmul {d} {m}x{n}x{k}: {:.2} ms, {:.2} GOP/s, scratch {} KiB, compile {compile_ms:.1} ms",
            s * 1e3,
            2.0 * (m * n * k) as f64 / s / 1e9,
            ck.scratch_bytes() / 1024
        );
    }
}

#[test]
fn one_kernel_runs_concurrently_from_several_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<bitmat_codegen::CpuKernel>();
    let kern = matmul_kernel(DType::F32, DType::F32, 16, 16, 16);
    let ck = bitmat_codegen::CpuKernel::compile(&kern).unwrap();
    let (m, n, k) = (33usize, 40usize, 20usize);
    std::thread::scope(|s| {
        for seed in 0..3u64 {
            let ck = &ck;
            let kern = &kern;
            s.spawn(move || {
                let mut rng = StdRng::seed_from_u64(seed);
                let args = [
                    Arg::Buf(random_small(DType::F32, m * k, &mut rng)),
                    Arg::Buf(random_small(DType::F32, k * n, &mut rng)),
                    Arg::Buf(HostData::zeros(DType::F32, m * n)),
                    i32_arg(m as i32),
                    i32_arg(n as i32),
                    i32_arg(k as i32),
                ];
                let grid = [3, 3, 1];
                for _ in 0..3 {
                    let jit = run_compiled(ck, grid, &args);
                    let interp = run_interp(kern, grid, &args);
                    assert_same("concurrent matmul", &interp[2], &jit[2]);
                }
            });
        }
    });
}

#[test]
fn integer_sums_match_plain_rust() {
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
    let k = b.finish().unwrap();
    let mut rng = StdRng::seed_from_u64(5);
    let v: Vec<i32> = (0..rows * cols).map(|_| rng.gen()).collect();
    let out = run_jit(
        &k,
        [1, 1, 1],
        &[
            Arg::Buf(HostData::I32(v.clone())),
            Arg::Buf(HostData::zeros(DType::I32, cols)),
            Arg::Buf(HostData::zeros(DType::I32, rows)),
        ],
    );
    let cols_sum: Vec<i32> = (0..cols)
        .map(|c| (0..rows).fold(0i32, |s, r| s.wrapping_add(v[r * cols + c])))
        .collect();
    let rows_sum: Vec<i32> = (0..rows)
        .map(|r| (0..cols).fold(0i32, |s, c| s.wrapping_add(v[r * cols + c])))
        .collect();
    assert_eq!(as_vec::<i32>(&out[1]), cols_sum);
    assert_eq!(as_vec::<i32>(&out[2]), rows_sum);
}
