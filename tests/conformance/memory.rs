//! Loads, stores and shapes: masked loads (with a fill value) and stores of ragged windows,
//! contiguous and gathered (transposed); broadcast, expand_dims and reshape up to 3-D;
//! program ids and grid sizes on a 3-D grid. Exact on every backend.

use crate::data::{self, rng};
use crate::harness::{compare, i32_arg, run, run_exact, test, Arg, Test, Tol};
use crate::ir_kernels::{ptrs, splat};
use crate::kernels::{masked_copy, store_2d};
use bitmat::ir::{BinaryOp, DType, HostData, KernelBuilder, ParamKind, ValueId};
use bitmat::Device;

/// The tests of this module.
pub fn tests() -> Vec<Test> {
    let mut t = Vec::new();
    for d in [
        DType::I8,
        DType::U8,
        DType::I16,
        DType::I32,
        DType::F32,
        DType::I64,
        DType::F16,
        DType::BF16,
    ] {
        t.push(test(format!("memory::masked_windows_{d}"), move |dev| {
            masked_windows(dev, d)
        }));
    }
    for d in [
        DType::I8,
        DType::I16,
        DType::F32,
        DType::I64,
        DType::F16,
        DType::Bool,
    ] {
        t.push(test(
            format!("memory::broadcast_expand_reshape_{d}"),
            move |dev| shapes(dev, d),
        ));
    }
    t.push(test("memory::program_ids_on_a_3d_grid", program_ids));
    t
}

/// A `[16, 64]` tile over windows `m x n` of a matrix with row stride 70: full, ragged in
/// both axes, empty, one column past a vector width, few rows.
fn masked_windows(dev: &Device, d: DType) -> Result<(), String> {
    for transposed in [false, true] {
        for (m, n) in [(16, 64), (5, 37), (0, 0), (16, 17), (3, 64)] {
            let (rows, cols) = (16u32, 64u32);
            let k = masked_copy(d, rows, cols, transposed);
            let ld = 70i32;
            let mut r = rng(51);
            let len = (ld * 64 + 64) as usize;
            let args = [
                Arg::Buf(data::small(d, len, &mut r)),
                Arg::Buf(HostData::zeros(d, (rows * cols) as usize)),
                i32_arg(m),
                i32_arg(n),
                i32_arg(ld),
            ];
            let what =
                format!("masked copy {d}[{rows}, {cols}] window {m}x{n} transposed={transposed}");
            run_exact(dev, &what, &k, [1, 1, 1], &args)?;
        }
    }
    Ok(())
}

/// `[8] -> [1, 8] -> [4, 8]` plus `[8] -> [8, 1] -> [8, 4] -> [4, 8]`, and `[8] -> [2, 1, 4]
/// -> [2, 4, 4] -> [4, 8]`.
fn shapes(dev: &Device, d: DType) -> Result<(), String> {
    let mut b = KernelBuilder::new("shapes");
    let x = b.param("x", ParamKind::Ptr(d));
    let o = b.param("o", ParamKind::Ptr(d));
    let o2 = b.param("o2", ParamKind::Ptr(d));
    let offs = b.arange(8);
    let p = ptrs(&mut b, x, offs);
    let row = b.load(p, None, None);
    let r = b.expand_dims(row, 0);
    let r = b.broadcast(r, vec![4, 8]);
    let c = b.expand_dims(row, 1);
    let c = b.broadcast(c, vec![8, 4]);
    let c = b.reshape(c, vec![4, 8]);
    let s = if d == DType::Bool {
        b.binary(BinaryOp::Xor, r, c)
    } else {
        b.binary(BinaryOp::Add, r, c)
    };
    store_2d(&mut b, o, s, 4, 8);
    let t = b.reshape(row, vec![2, 1, 4]);
    let t = b.broadcast(t, vec![2, 4, 4]);
    let t = b.reshape(t, vec![4, 8]);
    store_2d(&mut b, o2, t, 4, 8);
    let k = b.finish().expect("valid kernel");
    let mut r = rng(41);
    let args = [
        Arg::Buf(data::small(d, 8, &mut r)),
        Arg::Buf(HostData::zeros(d, 32)),
        Arg::Buf(HostData::zeros(d, 32)),
    ];
    run_exact(dev, &format!("shapes of {d}[8]"), &k, [1, 1, 1], &args).map(drop)
}

/// `o[linear id] = linear id^2` on a 3x4x5 grid, the linear id from `program_id` and
/// `num_programs` of every axis; against plain Rust.
fn program_ids(dev: &Device) -> Result<(), String> {
    let mut b = KernelBuilder::new("grid");
    let o = b.param("o", ParamKind::Ptr(DType::I32));
    let ids: Vec<ValueId> = (0..3).map(|a| b.program_id(a)).collect();
    let ns: Vec<ValueId> = (0..3).map(|a| b.num_programs(a)).collect();
    let yz = b.binary(BinaryOp::Mul, ns[1], ids[2]);
    let yz = b.binary(BinaryOp::Add, ids[1], yz);
    let l = b.binary(BinaryOp::Mul, ns[0], yz);
    let l = b.binary(BinaryOp::Add, ids[0], l);
    let v = b.binary(BinaryOp::Mul, l, l);
    let v = splat(&mut b, v, &[1]);
    let lp = splat(&mut b, l, &[1]);
    let p = ptrs(&mut b, o, lp);
    b.store(p, v, None);
    let k = b.finish().expect("valid kernel");
    let got = run(
        dev,
        "grid [3, 4, 5]",
        &k,
        [3, 4, 5],
        4,
        &[Arg::Buf(HostData::zeros(DType::I32, 60))],
    )?;
    got.check_all(&Tol::Bits)?;
    compare(
        "grid [3, 4, 5] against Rust",
        &got.got[0],
        &HostData::I32((0..60).map(|i| i * i).collect()),
        &Tol::Bits,
    )
}
