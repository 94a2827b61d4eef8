//! CPU benchmarks of the prebuilt kernels on `Device::cpu()`, each beside a plain-Rust naive
//! baseline and the machine's memory read bandwidth measured in the same run.
//!
//! `cargo bench --bench cpu`. Throughput is reported in bytes of weights and activations read
//! per call, so a GEMV's GB/s compares directly with the `bandwidth/stream_read` figure.

use bitmat::formats::{pack_ternary, quantize_activations, quantize_int4, Int4Group};
use bitmat::kernels::ternary;
use bitmat::tuned::{Int4Activations, Int4Matmul, TernaryMatmul};
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
        let shape = format!("{n}x{k}");
        // The tuned prebuilt path (the matrix-vector kernel up to GEMV_MAX_ROWS rows); tuning
        // happens in the first call, before criterion's warm-up ends.
        let op = TernaryMatmul {
            x: &xb,
            w: &wb,
            c: &cb,
            m: m as i32,
            n: n as i32,
            k: k as i32,
        };
        g.bench_with_input(BenchmarkId::new("bitmat", &shape), &(), |b, ()| {
            b.iter(|| op.launch(&device).unwrap())
        });
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
        let shape = format!("{n}x{k}");
        let op = Int4Matmul {
            x: Int4Activations::I8 {
                values: &bufs.0,
                scales: &bufs.1,
            },
            w: &bufs.2,
            scales: &bufs.3,
            y: &bufs.4,
            m: 1,
            n: n as i32,
            k: k as i32,
            group: 128,
        };
        g.bench_with_input(BenchmarkId::new("bitmat", &shape), &(), |b, ()| {
            b.iter(|| op.launch(&device).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("naive_rust", &shape), &(), |b, ()| {
            b.iter(|| black_box(reference::int4_w4a8(&x, &w).unwrap()))
        });
    }
    g.finish();
}

/// Specialization plus compilation of the ternary linear kernel, with no cache; and the
/// compilation of every prebuilt kernel's default configuration by each CPU backend (the
/// targets: under 50 ms with Cranelift, under 300 ms with LLVM).
fn cold_compile(c: &mut Criterion) {
    let mut g = c.benchmark_group("cold_compile");
    g.sample_size(10);
    g.bench_function("w2a8_linear_ir_and_cranelift", |b| {
        b.iter(|| {
            let ir = ternary::w2a8_linear::ir(true, 16, 32, 32).unwrap();
            black_box(bitmat::codegen::CpuKernel::compile(&ir).unwrap())
        })
    });
    for k in bitmat::kernels::registry::PREBUILT {
        let ir = k.ir(&[]).unwrap();
        g.bench_with_input(BenchmarkId::new("cranelift", k.name), &ir, |b, ir| {
            b.iter(|| black_box(bitmat::codegen::CpuKernel::compile(ir).unwrap()))
        });
        #[cfg(feature = "llvm")]
        g.bench_with_input(BenchmarkId::new("llvm", k.name), &ir, |b, ir| {
            b.iter(|| black_box(bitmat::codegen::llvm::compile(ir).unwrap()))
        });
    }
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
