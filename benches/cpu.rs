//! CPU benchmarks of the prebuilt kernels on `Device::cpu()`, each beside a plain-Rust naive
//! baseline and the machine's memory read bandwidth measured in the same run.
//!
//! `cargo bench --bench cpu`. Throughput is reported in bytes of weights and activations read
//! per call, so a GEMV's GB/s compares directly with the `bandwidth/stream_read` figure.

use bitmat::formats::{pack_ternary, quantize_activations, quantize_int4, Int4Group};
use bitmat::kernels::{int4, ternary};
use bitmat::ops::{MatmulBlocks, GEMV_BLOCK_K, GEMV_BLOCK_N, GEMV_MAX_ROWS};
use bitmat::{reference, Device};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use std::hint::black_box;
use std::time::Duration;

/// Shapes (N, K) of the ternary and int4 benches.
const SHAPES: [(usize, usize); 2] = [(4096, 4096), (11008, 4096)];

/// A streaming read of `data` by every core: the physical floor for a memory-bound GEMV.
fn stream_read(data: &[u64]) -> u64 {
    data.par_chunks(1 << 16)
        .map(|c| c.iter().fold(0u64, |a, &x| a.wrapping_add(x)))
        .reduce(|| 0, u64::wrapping_add)
}

fn bandwidth(c: &mut Criterion) {
    // 1 GiB: larger than any last-level cache.
    let data: Vec<u64> = (0..(1u64 << 27)).collect();
    let mut g = c.benchmark_group("bandwidth");
    g.throughput(Throughput::Bytes((data.len() * 8) as u64));
    g.sample_size(10);
    g.bench_function("stream_read", |b| {
        b.iter(|| black_box(stream_read(black_box(&data))))
    });
    g.finish();
}

fn ternary_bench(c: &mut Criterion, m: usize, group_name: &str) {
    let device = Device::cpu();
    let mut rng = StdRng::seed_from_u64(1);
    let mut g = c.benchmark_group(group_name);
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    for (n, k) in SHAPES {
        let x: Vec<i8> = (0..m * k).map(|_| rng.gen_range(-127..=127)).collect();
        let wq: Vec<i8> = (0..n * k).map(|_| rng.gen_range(-1..=1)).collect();
        let packed = pack_ternary(&wq, n, k).expect("k is a multiple of 4");
        g.throughput(Throughput::Bytes((packed.len() + x.len()) as u64));
        let (xb, wb) = (device.upload(&x).unwrap(), device.upload(&packed).unwrap());
        let cb = device.zeros::<i32>(m * n).unwrap();
        let blocks = MatmulBlocks::for_rows(m);
        let grid = (
            m.div_ceil(blocks.block_m as usize) as u32,
            n.div_ceil(blocks.block_n as usize) as u32,
        );
        let shape = format!("{n}x{k}");
        g.bench_with_input(BenchmarkId::new("bitmat", &shape), &(), |b, ()| {
            b.iter(|| {
                ternary::w2a8_matmul::launch(
                    &device,
                    grid,
                    &xb,
                    &wb,
                    &cb,
                    m as i32,
                    n as i32,
                    k as i32,
                    blocks.block_m,
                    blocks.block_n,
                    blocks.block_k,
                )
                .unwrap()
            })
        });
        if m <= GEMV_MAX_ROWS {
            let grid = (n.div_ceil(GEMV_BLOCK_N as usize) as u32, m as u32);
            g.bench_with_input(BenchmarkId::new("bitmat_gemv", &shape), &(), |b, ()| {
                b.iter(|| {
                    ternary::w2a8_gemv::launch(
                        &device,
                        grid,
                        &xb,
                        &wb,
                        &cb,
                        m as i32,
                        n as i32,
                        k as i32,
                        GEMV_BLOCK_N,
                        GEMV_BLOCK_K,
                    )
                    .unwrap()
                })
            });
        }
        g.bench_with_input(BenchmarkId::new("naive_rust", &shape), &(), |b, ()| {
            b.iter(|| black_box(reference::matmul_i8_ternary(&x, m, k, &packed, n).unwrap()))
        });
    }
    g.finish();
}

fn ternary_gemv(c: &mut Criterion) {
    ternary_bench(c, 1, "ternary_w2a8_gemv_m1");
}

fn ternary_gemm(c: &mut Criterion) {
    ternary_bench(c, 64, "ternary_w2a8_gemm_m64");
}

fn int4_gemv(c: &mut Criterion) {
    let device = Device::cpu();
    let mut rng = StdRng::seed_from_u64(2);
    let mut g = c.benchmark_group("int4_w4a8_gemv_m1");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    for (n, k) in SHAPES {
        let xf: Vec<f32> = (0..k).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let x = quantize_activations(&xf, 1, k).unwrap();
        let wf: Vec<f32> = (0..n * k).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let w = quantize_int4(&wf, n, k, Int4Group::Size(128)).unwrap();
        g.throughput(Throughput::Bytes(
            (w.packed.len() * 8 + w.scales.len() * 4 + k) as u64,
        ));
        let bufs = (
            device.upload(&x.values).unwrap(),
            device.upload(&x.scales).unwrap(),
            device.upload(&w.packed).unwrap(),
            device.upload(&w.scales).unwrap(),
            device.zeros::<f32>(n).unwrap(),
        );
        let blocks = MatmulBlocks::for_rows(1);
        let grid = (1, n.div_ceil(blocks.block_n as usize) as u32);
        let shape = format!("{n}x{k}");
        g.bench_with_input(BenchmarkId::new("bitmat", &shape), &(), |b, ()| {
            b.iter(|| {
                int4::w4a8_matmul::launch(
                    &device,
                    grid,
                    &bufs.0,
                    &bufs.1,
                    &bufs.2,
                    &bufs.3,
                    &bufs.4,
                    1,
                    n as i32,
                    k as i32,
                    128,
                    true,
                    blocks.block_m,
                    blocks.block_n,
                    blocks.block_k,
                )
                .unwrap()
            })
        });
        g.bench_with_input(BenchmarkId::new("naive_rust", &shape), &(), |b, ()| {
            b.iter(|| black_box(reference::int4_w4a8(&x, &w).unwrap()))
        });
    }
    g.finish();
}

/// Specialization plus compilation of the ternary linear kernel, with no cache.
fn cold_compile(c: &mut Criterion) {
    let mut g = c.benchmark_group("cold_compile");
    g.sample_size(20);
    g.bench_function("w2a8_linear_ir_and_cranelift", |b| {
        b.iter(|| {
            let ir = ternary::w2a8_linear::ir(true, 16, 32, 32).unwrap();
            black_box(bitmat::codegen::CpuKernel::compile(&ir).unwrap())
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    bandwidth,
    ternary_gemv,
    ternary_gemm,
    int4_gemv,
    cold_compile
);
criterion_main!(benches);
