//! The shared passes keep semantics: optimized kernels compute exactly what the originals do
//! (on the interpreter, random inputs), stay valid, and get smaller.

mod common;

use bitmat_ir::dsl::{self, ForLoop, Tile};
use bitmat_ir::interp::{run, ArgValue};
use bitmat_ir::{passes, verify, DType, HostData, Kernel, OpKind, ParamKind, Scalar};
use rand::{Rng, SeedableRng};

fn count_ops(block: &bitmat_ir::Block) -> usize {
    block
        .ops
        .iter()
        .map(|op| 1 + op.kind.blocks().into_iter().map(count_ops).sum::<usize>())
        .sum()
}

fn optimized(kernel: &Kernel) -> Kernel {
    let mut k = kernel.clone();
    passes::optimize(&mut k);
    verify::verify(&k).expect("optimized kernel verifies");
    k
}

/// An i8 matmul written with the DSL front-end (as `#[bitkernel]` would expand it): lots of
/// repeated broadcasts and offsets for the passes to remove.
fn dsl_matmul(bm: i32, bn: i32, bk: i32) -> Kernel {
    dsl::trace("matmul", || {
        let a = dsl::param("a", ParamKind::Ptr(DType::I8));
        let b = dsl::param("b", ParamKind::Ptr(DType::I8));
        let c = dsl::param("c", ParamKind::Ptr(DType::I32));
        let m = dsl::param("m", ParamKind::Scalar(DType::I32));
        let n = dsl::param("n", ParamKind::Scalar(DType::I32));
        let k = dsl::param("k", ParamKind::Scalar(DType::I32));
        let rm: Tile = dsl::program_id(0) * bm + dsl::arange(bm);
        let rn: Tile = dsl::program_id(1) * bn + dsl::arange(bn);
        let mut acc = dsl::zeros::<i32>([bm, bn]);
        let lp = ForLoop::begin(0, k, bk, &["acc"], &mut [&mut acc]);
        let k0 = lp.induction_var();
        let kk = k0 + dsl::arange(bk) * 1 + 0;
        let mask_a = dsl::compare(bitmat_ir::CmpPred::Lt, rm.unsqueeze(1), m)
            & dsl::compare(bitmat_ir::CmpPred::Lt, kk.unsqueeze(0), k);
        let x = dsl::load_masked(a + rm.unsqueeze(1) * k + kk.unsqueeze(0), mask_a, 0);
        let mask_b = dsl::compare(bitmat_ir::CmpPred::Lt, kk.unsqueeze(1), k)
            & dsl::compare(bitmat_ir::CmpPred::Lt, rn.unsqueeze(0), n);
        let y = dsl::load_masked(b + kk.unsqueeze(1) * n + rn.unsqueeze(0), mask_b, 0);
        acc = dsl::dot_acc(x, y, acc);
        lp.end(&mut [&mut acc]);
        let mask_c = dsl::compare(bitmat_ir::CmpPred::Lt, rm.unsqueeze(1), m)
            & dsl::compare(bitmat_ir::CmpPred::Lt, rn.unsqueeze(0), n);
        dsl::store_masked(c + rm.unsqueeze(1) * n + rn.unsqueeze(0), acc, mask_c);
    })
    .expect("traces")
}

#[test]
fn optimized_matmul_computes_the_same_and_is_smaller() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let (m, n, k) = (17usize, 20usize, 36usize);
    let a: Vec<i8> = (0..m * k).map(|_| rng.gen()).collect();
    let b: Vec<i8> = (0..k * n).map(|_| rng.gen()).collect();
    let original = dsl_matmul(16, 8, 16);
    verify::verify(&original).unwrap();
    let opt = optimized(&original);
    assert!(
        count_ops(&opt.body) * 10 < count_ops(&original.body) * 8,
        "expected at least 20% fewer ops: {} -> {}",
        count_ops(&original.body),
        count_ops(&opt.body)
    );
    let mut outputs = Vec::new();
    for kernel in [&original, &opt] {
        let mut bufs = [
            HostData::I8(a.clone()),
            HostData::I8(b.clone()),
            HostData::I32(vec![0; m * n]),
        ];
        let mut refs: Vec<&mut HostData> = bufs.iter_mut().collect();
        let args = [
            ArgValue::Buffer(0),
            ArgValue::Buffer(1),
            ArgValue::Buffer(2),
            ArgValue::Scalar(Scalar::from_i64(DType::I32, m as i64)),
            ArgValue::Scalar(Scalar::from_i64(DType::I32, n as i64)),
            ArgValue::Scalar(Scalar::from_i64(DType::I32, k as i64)),
        ];
        run(kernel, [2, 3, 1], &args, &mut refs).unwrap();
        outputs.push(bufs[2].clone());
    }
    assert_eq!(outputs[0], outputs[1]);
    let HostData::I32(c) = &outputs[1] else {
        unreachable!()
    };
    for i in 0..m {
        for j in 0..n {
            let want: i32 = (0..k)
                .map(|p| i32::from(a[i * k + p]) * i32::from(b[p * n + j]))
                .sum();
            assert_eq!(c[i * n + j], want);
        }
    }
}

#[test]
fn identities_and_duplicates_disappear() {
    let opt = optimized(&dsl_matmul(16, 8, 16));
    let text = opt.to_string();
    // `arange(bk) * 1 + 0` is gone, and `rm.unsqueeze(1)` is computed once.
    let body = &opt.body;
    let muls_by_one = text
        .lines()
        .filter(|l| l.contains("constant 1 : i32"))
        .count();
    assert_eq!(muls_by_one, 0, "{text}");
    let aranges = body
        .ops
        .iter()
        .filter(|op| matches!(op.kind, OpKind::Arange(16)))
        .count();
    assert_eq!(aranges, 1, "{text}");
}

#[test]
fn loads_are_not_merged_across_stores() {
    let kernel = dsl::trace("rw", || {
        let p = dsl::param("p", ParamKind::Ptr(DType::I32));
        let q = dsl::param("q", ParamKind::Ptr(DType::I32));
        let offs = dsl::arange(4);
        let v1 = dsl::load(p + offs);
        dsl::store(p + offs, v1 + 1);
        let v2 = dsl::load(p + offs);
        dsl::store(q + offs, v2);
    })
    .unwrap();
    let opt = optimized(&kernel);
    let mut bufs = [HostData::I32(vec![1, 2, 3, 4]), HostData::I32(vec![0; 4])];
    let mut refs: Vec<&mut HostData> = bufs.iter_mut().collect();
    run(
        &opt,
        [1, 1, 1],
        &[ArgValue::Buffer(0), ArgValue::Buffer(1)],
        &mut refs,
    )
    .unwrap();
    assert_eq!(bufs[1], HostData::I32(vec![2, 3, 4, 5]));
}

#[test]
fn builder_kernels_stay_valid() {
    for k in [
        common::matmul_kernel(),
        common::if_kernel(),
        common::all_ops_kernel(),
    ] {
        let opt = optimized(&k);
        assert!(count_ops(&opt.body) <= count_ops(&k.body));
    }
}
