//! Kernels written with the tracing DSL front-end, run on the JIT and the interpreter.

mod common;

use bitmat_ir::dsl::{
    arange, compare, load_masked, param, program_id, store_masked, trace, zeros, ForLoop,
};
use bitmat_ir::{CmpPred, DType, HostData, ParamKind};
use common::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

#[test]
fn softmax_rows_with_ragged_columns() {
    let k = trace("softmax", || {
        let x = param("x", ParamKind::Ptr(DType::F32));
        let y = param("y", ParamKind::Ptr(DType::F32));
        let n = param("n", ParamKind::Scalar(DType::I32));
        let row = program_id(0);
        let cols = arange(64);
        let mask = compare(CmpPred::Lt, cols, n);
        let v = load_masked(x + row * n + cols, mask, f32::NEG_INFINITY);
        let m = v.max(0);
        let e = (v - m).exp();
        let s = e.sum(0);
        store_masked(y + row * n + cols, e / s, mask);
    })
    .unwrap();
    for n in [64, 37, 1] {
        let rows = 5usize;
        let mut rng = StdRng::seed_from_u64(n as u64);
        let args = [
            Arg::Buf(random_small(DType::F32, rows * n, &mut rng)),
            Arg::Buf(HostData::zeros(DType::F32, rows * n)),
            i32_arg(n as i32),
        ];
        check(&format!("softmax n={n}"), &k, [rows as u32, 1, 1], &args);
    }
}

#[test]
fn chunked_row_sums_in_a_runtime_loop() {
    // y[row] = sum over chunks of 16 columns of x[row, c] * 2 (i32 and f16 inputs).
    for d in [DType::I32, DType::F16] {
        let k = trace("row_sums", || {
            let x = param("x", ParamKind::Ptr(d));
            let y = param("y", ParamKind::Ptr(DType::F32));
            let n = param("n", ParamKind::Scalar(DType::I32));
            let row = program_id(0);
            let mut acc = zeros::<f32>([16]);
            let lp = ForLoop::begin(0, n, 16, &["acc"], &mut [&mut acc]);
            let c0 = lp.induction_var();
            let cols = c0 + arange(16);
            let mask = compare(CmpPred::Lt, cols, n);
            let v = load_masked(x + row * n + cols, mask, 0);
            acc += v.cast::<f32>() * 2.0f32;
            lp.end(&mut [&mut acc]);
            let total = acc.sum(0);
            store_masked(y + row, total, true);
        })
        .unwrap();
        let (rows, n) = (3usize, 45usize);
        let mut rng = StdRng::seed_from_u64(3);
        let args = [
            Arg::Buf(random_small(d, rows * n, &mut rng)),
            Arg::Buf(HostData::zeros(DType::F32, rows)),
            i32_arg(n as i32),
        ];
        check(&format!("row sums {d}"), &k, [rows as u32, 1, 1], &args);
    }
}
