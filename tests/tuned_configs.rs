//! Nothing the autotuner can pick changes a result: every configuration of every prebuilt
//! tuner (the CPU's and the GPU's lists) runs on the CPU, on a CUDA GPU when one is usable,
//! and on the interpreter, on a ragged shape (M, N, K not multiples of the blocks). The CPU
//! agrees with the interpreter bit for bit, a GPU exactly on integers and within rounding on
//! floats, and the result equals the plain-Rust reference.

use bitmat::formats::{pack_ternary, pack_uint4, quantize_activations, quantize_int4, Int4Group};
use bitmat::kernels::{int4, ternary};
use bitmat::{reference, tuned, Backend, Buffer, Device, Element};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const M: usize = 19;
const N: usize = 37;
const K: usize = 160;

fn grid(bm: i32, bn: i32) -> (u32, u32) {
    (
        (M as u32).div_ceil(bm as u32),
        (N as u32).div_ceil(bn as u32),
    )
}

/// The devices every configuration runs on: the CPU, a CUDA GPU when one is usable, and the
/// interpreter (last: the oracle).
fn devices() -> &'static [Device] {
    static DEVICES: std::sync::OnceLock<Vec<Device>> = std::sync::OnceLock::new();
    DEVICES.get_or_init(|| {
        let mut devices = vec![Device::cpu()];
        match Device::cuda(0) {
            Ok(gpu) => devices.push(gpu),
            Err(e) => eprintln!("tuned_configs: no GPU run ({e})"),
        }
        devices.push(Device::interpreter());
        devices
    })
}

/// Runs `launch` on every device of [`devices`] with fresh zeroed outputs of `len`; returns
/// the CPU's result after checking that the CPU agrees with the interpreter bit for bit and a
/// GPU as [`Agrees`] says.
fn on_every_device<T: Element + PartialEq + std::fmt::Debug + Agrees>(
    what: &str,
    len: usize,
    mut launch: impl FnMut(&Device, &Buffer<T>),
) -> Vec<T> {
    let mut results = Vec::new();
    for device in devices() {
        let out = device.zeros::<T>(len).unwrap();
        launch(device, &out);
        results.push(out.to_vec().unwrap());
    }
    let oracle = results.last().unwrap();
    for (device, result) in devices().iter().zip(&results) {
        if device.backend() == Backend::CUDA {
            // Tensor cores sum f16 products in their own order.
            for (i, (g, r)) in result.iter().zip(oracle).enumerate() {
                assert!(
                    g.agrees(r),
                    "{what}: {device} [{i}] = {g:?}, interpreter {r:?}"
                );
            }
        } else {
            assert_eq!(
                result, oracle,
                "{what}: {device} and the interpreter differ"
            );
        }
    }
    results.swap_remove(0)
}

/// Agreement of a GPU result with the interpreter's: exact for integers, within a relative
/// 1e-5 for floats.
trait Agrees {
    fn agrees(&self, reference: &Self) -> bool;
}

impl Agrees for i32 {
    fn agrees(&self, reference: &i32) -> bool {
        self == reference
    }
}

impl Agrees for f32 {
    fn agrees(&self, reference: &f32) -> bool {
        (self - reference).abs() <= 1e-5 * reference.abs().max(1.0)
    }
}

fn upload<T: Element>(device: &Device, data: &[T]) -> Buffer<T> {
    device.upload(data).unwrap()
}

#[test]
fn every_ternary_configuration_matches_the_interpreter() {
    let mut rng = StdRng::seed_from_u64(7);
    let x: Vec<i8> = (0..M * K).map(|_| rng.gen_range(-127..=127)).collect();
    let wq: Vec<i8> = (0..N * K).map(|_| rng.gen_range(-1..=1)).collect();
    let w = pack_ternary(&wq, N, K).unwrap();
    let want = reference::matmul_i8_ternary(&x, M, K, &w, N).unwrap();
    let (m, n, k) = (M as i32, N as i32, K as i32);
    for backend in [Backend::CRANELIFT, Backend::CUDA] {
        for c in tuned::ternary_tuner(backend).tuner().configs() {
            let cx = &c.constexprs;
            let got = on_every_device(&format!("w2a8_matmul {c}"), M * N, |d, out| {
                ternary::w2a8_matmul::with(c.options)
                    .launch(
                        d,
                        grid(cx.block_m, cx.block_n),
                        &upload(d, &x),
                        &upload(d, &w),
                        out,
                        m,
                        n,
                        k,
                        cx.block_m,
                        cx.block_n,
                        cx.block_k,
                    )
                    .unwrap()
            });
            assert_eq!(got, want, "w2a8_matmul {c}");
        }
        for c in tuned::gemv_tuner(backend).tuner().configs() {
            let cx = &c.constexprs;
            let got = on_every_device(&format!("w2a8_gemv {c}"), M * N, |d, out| {
                let grid = ((N as u32).div_ceil(cx.block_n as u32), M as u32);
                ternary::w2a8_gemv::with(c.options)
                    .launch(
                        d,
                        grid,
                        &upload(d, &x),
                        &upload(d, &w),
                        out,
                        m,
                        n,
                        k,
                        cx.block_n,
                        cx.block_k,
                    )
                    .unwrap()
            });
            assert_eq!(got, want, "w2a8_gemv {c}");
        }
        for has_bias in [false, true] {
            let sx = vec![0.5f32; M];
            let sw: Vec<f32> = (0..N).map(|i| 0.25 + i as f32 / 64.0).collect();
            let bias: Vec<f32> = (0..N).map(|i| i as f32 - 3.0).collect();
            let mut first: Option<Vec<f32>> = None;
            for c in tuned::linear_tuner(backend, has_bias).tuner().configs() {
                let cx = &c.constexprs;
                let got = on_every_device(&format!("w2a8_linear {c}"), M * N, |d, out| {
                    ternary::w2a8_linear::with(c.options)
                        .launch(
                            d,
                            grid(cx.block_m, cx.block_n),
                            &upload(d, &x),
                            &upload(d, &sx),
                            &upload(d, &w),
                            &upload(d, &sw),
                            &upload(d, &bias),
                            out,
                            m,
                            n,
                            k,
                            1,
                            cx.has_bias,
                            cx.block_m,
                            cx.block_n,
                            cx.block_k,
                        )
                        .unwrap()
                });
                // Each output is one exact i32 sum times scales (plus bias): every
                // configuration gives the same bits.
                match &first {
                    None => first = Some(got),
                    Some(f) => assert_eq!(&got, f, "w2a8_linear {c}"),
                }
            }
            let got = first.unwrap();
            for (i, (&g, &acc)) in got.iter().zip(&want).enumerate() {
                let (row, col) = (i / N, i % N);
                let b = if has_bias { bias[col] } else { 0.0 };
                let expected = acc as f32 * sx[row] * sw[col] + b;
                assert!(
                    (g - expected).abs() <= 1e-4 * expected.abs().max(1.0),
                    "linear {i}: {g} vs {expected}"
                );
            }
        }
    }
}

#[test]
fn every_int4_configuration_matches_the_interpreter() {
    let mut rng = StdRng::seed_from_u64(8);
    let wf: Vec<f32> = (0..N * K).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let xf: Vec<f32> = (0..M * K).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let (m, n, k) = (M as i32, N as i32, K as i32);
    for backend in [Backend::CRANELIFT, Backend::CUDA] {
        // W4A16 with groups of 32.
        let w = quantize_int4(&wf, N, K, Int4Group::Size(32)).unwrap();
        let xh: Vec<bitmat::f16> = xf.iter().map(|&v| bitmat::f16::from_f32(v)).collect();
        let want = reference::int4_w4a16(&xh, M, &w).unwrap();
        for c in tuned::w4a16_tuner(backend).tuner().configs() {
            let cx = &c.constexprs;
            let got = on_every_device(&format!("w4a16 {c}"), M * N, |d, out| {
                int4::w4a16_matmul::with(c.options)
                    .launch(
                        d,
                        grid(cx.block_m, cx.block_n),
                        &upload(d, &xh),
                        &upload(d, &w.packed),
                        &upload(d, &w.scales),
                        out,
                        m,
                        n,
                        k,
                        32,
                        cx.signed,
                        cx.block_m,
                        cx.block_n,
                        cx.block_k,
                    )
                    .unwrap()
            });
            for (i, (g, r)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - r).abs() <= 1e-3 * r.abs().max(1.0),
                    "w4a16 {c} [{i}]: {g} vs {r}"
                );
            }
        }
        // W4A8 with one group per row: every block_k is valid.
        let w = quantize_int4(&wf, N, K, Int4Group::PerRow).unwrap();
        let x = quantize_activations(&xf, M, K).unwrap();
        let want = reference::int4_w4a8(&x, &w).unwrap();
        for c in tuned::w4a8_tuner(backend).tuner().configs() {
            let cx = &c.constexprs;
            let got = on_every_device(&format!("w4a8 {c}"), M * N, |d, out| {
                int4::w4a8_matmul::with(c.options)
                    .launch(
                        d,
                        grid(cx.block_m, cx.block_n),
                        &upload(d, &x.values),
                        &upload(d, &x.scales),
                        &upload(d, &w.packed),
                        &upload(d, &w.scales),
                        out,
                        m,
                        n,
                        k,
                        k,
                        cx.signed,
                        cx.block_m,
                        cx.block_n,
                        cx.block_k,
                    )
                    .unwrap()
            });
            for (i, (g, r)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - r).abs() <= 1e-4 * r.abs().max(1.0),
                    "w4a8 {c} [{i}]: {g} vs {r}"
                );
            }
        }
        // W4A4 (BitTensor), exact.
        let xu: Vec<u8> = (0..M * K).map(|_| rng.gen_range(0..16)).collect();
        let wu: Vec<u8> = (0..N * K).map(|_| rng.gen_range(0..16)).collect();
        let (xp, wp) = (
            pack_uint4(&xu, M, K).unwrap(),
            pack_uint4(&wu, N, K).unwrap(),
        );
        let bias: Vec<i32> = (0..N as i32).collect();
        for has_bias in [false, true] {
            let want: Vec<i32> = (0..M * N)
                .map(|i| {
                    let (r, col) = (i / N, i % N);
                    let dot: i32 = (0..K)
                        .map(|j| i32::from(xu[r * K + j]) * i32::from(wu[col * K + j]))
                        .sum();
                    dot + if has_bias { bias[col] } else { 0 }
                })
                .collect();
            for c in tuned::w4a4_tuner(backend, has_bias).tuner().configs() {
                let cx = &c.constexprs;
                let got = on_every_device(&format!("w4a4 {c}"), M * N, |d, out| {
                    int4::w4a4_matmul::with(c.options)
                        .launch(
                            d,
                            grid(cx.block_m, cx.block_n),
                            &upload(d, &xp),
                            &upload(d, &wp),
                            &upload(d, &bias),
                            out,
                            m,
                            n,
                            k,
                            k / 16,
                            cx.has_bias,
                            cx.block_m,
                            cx.block_n,
                            cx.block_k,
                        )
                        .unwrap()
                });
                assert_eq!(got, want, "w4a4 {c}");
            }
        }
    }
}
