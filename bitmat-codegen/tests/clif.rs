//! What only the Cranelift backend promises, checked on its CLIF text and its types (the
//! results themselves are checked by the conformance suite, `tests/conformance`, on every
//! backend): common casts and contiguous accesses are vectorized, gathers are not, errors
//! name the op, and a compiled kernel can be shared between threads.

mod common;

use bitmat_codegen::CpuKernel;
use bitmat_ir::{BinaryOp, CmpPred, DType, Kernel, KernelBuilder, ParamKind, Scalar};
use common::ir_kernels::splat;
use common::kernels::{ew, offsets_2d};

/// Loads a `[16, 64]` f32 tile of a matrix with row stride `ld` (contiguous rows, or
/// `transposed`: gathered), masked to `r < m`, and stores it densely.
fn copy_kernel(transposed: bool) -> Kernel {
    let (rows, cols) = (16u32, 64u32);
    let mut b = KernelBuilder::new("copy");
    let x = b.param("x", ParamKind::Ptr(DType::F32));
    let o = b.param("o", ParamKind::Ptr(DType::F32));
    let m = b.param("m", ParamKind::Scalar(DType::I32));
    let ld = b.param("ld", ParamKind::Scalar(DType::I32));
    let offs = offsets_2d(&mut b, rows, cols, ld);
    let offs = if transposed {
        let r = b.arange(rows);
        let r = b.expand_dims(r, 1);
        let r = b.broadcast(r, vec![rows, cols]);
        let c = b.arange(cols);
        let c = b.expand_dims(c, 0);
        let c = b.broadcast(c, vec![rows, cols]);
        let lds = splat(&mut b, ld, &[rows, cols]);
        let cs = b.binary(BinaryOp::Mul, c, lds);
        b.binary(BinaryOp::Add, cs, r)
    } else {
        offs
    };
    let r = b.arange(rows);
    let r = b.expand_dims(r, 1);
    let r = b.broadcast(r, vec![rows, cols]);
    let ms = splat(&mut b, m, &[rows, cols]);
    let mask = b.cmp(CmpPred::Lt, r, ms);
    let xs = splat(&mut b, x, &[rows, cols]);
    let px = b.add_ptr(xs, offs);
    let v = b.load(px, Some(mask), None);
    let stride = b.constant(Scalar::from_i64(DType::I32, i64::from(cols)), vec![]);
    let dense = offsets_2d(&mut b, rows, cols, stride);
    let os = splat(&mut b, o, &[rows, cols]);
    let po = b.add_ptr(os, dense);
    b.store(po, v, None);
    b.finish().unwrap()
}

#[test]
fn common_casts_are_vectorized() {
    let k = ew("cast_vec", DType::I32, DType::F32, 64, |b, x, _| {
        b.cast(x, DType::F32)
    });
    let ck = CpuKernel::compile(&k).unwrap();
    assert!(ck.clif().contains("fcvt_from_sint.f32x4"), "{}", ck.clif());
    let k = ew("cast_vec", DType::F32, DType::I8, 64, |b, x, _| {
        b.cast(x, DType::I8)
    });
    let ck = CpuKernel::compile(&k).unwrap();
    assert!(
        ck.clif().contains("fcvt_to_sint_sat.i32x4"),
        "{}",
        ck.clif()
    );
}

#[test]
fn contiguous_accesses_are_vector_loads_and_gathers_are_not() {
    let count = |k: &Kernel| {
        let ck = CpuKernel::compile(k).unwrap();
        // Global vector loads carry no `notrap` flag; scratch accesses do.
        ck.clif()
            .lines()
            .filter(|l| l.contains("= load.i32x4 v"))
            .count()
    };
    let contiguous = count(&copy_kernel(false));
    let gathered = count(&copy_kernel(true));
    assert!(contiguous > gathered, "{contiguous} vs {gathered}");
}

#[test]
fn clif_is_available_and_errors_name_the_kernel() {
    let k = ew("fmul", DType::F32, DType::F32, 16, |b, x, y| {
        b.binary(BinaryOp::Mul, x, y)
    });
    let ck = CpuKernel::compile(&k).unwrap();
    assert!(ck.clif().contains("f32x4"));
    let mut bad = k.clone();
    bad.values.clear();
    let e = CpuKernel::compile(&bad).unwrap_err();
    assert!(e.to_string().contains("`fmul`"), "{e}");
}

#[test]
fn compiled_kernels_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<CpuKernel>();
}
