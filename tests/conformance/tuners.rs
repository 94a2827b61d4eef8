//! Nothing an autotuner can pick changes a result: every configuration of every prebuilt
//! tuner (the CPU's and the GPU's lists, `bitmat::tuned`) runs on a ragged shape (M, N, K not
//! multiples of the blocks). Integer results equal the plain-Rust reference exactly; float
//! results are within the bound given at each op of it, and on the CPU backends also equal
//! the interpreter's bit for bit. Every W2A8 linear configuration gives the same bits (one
//! exact i32 sum times the scales).

use crate::data::rng;
use crate::dot::dot_bound;
use crate::harness::{is_cuda, test, Test};
use bitmat::formats::{
    pack_int4_planes, pack_ternary, pack_ternary_planes, pack_uint4, quantize_activations,
    quantize_int4, Int4Group,
};
use bitmat::kernels::{int4, ternary};
use bitmat::{reference, tuned, Backend, Buffer, Config, Device, Element, Specialization};
use rand::Rng;

const M: usize = 19;
const N: usize = 37;
const K: usize = 160;

/// The tests of this module: each op's configurations of each backend's tuner list.
pub fn tests() -> Vec<Test> {
    let mut t = vec![
        test("tuners::w2a8_gemv_rows_llvm_configs", w2a8_gemv_rows),
        test("tuners::w2a8_gemv_planes_cpu_configs", w2a8_gemv_planes),
        test("tuners::w2a8_linear_planes_cpu_configs", w2a8_linear_planes),
        test("tuners::int4_gemv_planes_cpu_configs", int4_gemv_planes),
    ];
    for (list, backend) in [("cpu", Backend::CRANELIFT), ("gpu", Backend::CUDA)] {
        t.push(test(
            format!("tuners::w2a8_matmul_{list}_configs"),
            move |dev| w2a8_matmul(dev, backend),
        ));
        t.push(test(
            format!("tuners::w2a8_matmul_split_k_{list}_configs"),
            move |dev| w2a8_matmul_split_k(dev, backend),
        ));
        t.push(test(
            format!("tuners::w2a8_gemv_{list}_configs"),
            move |dev| w2a8_gemv(dev, backend),
        ));
        t.push(test(
            format!("tuners::w2a8_linear_{list}_configs"),
            move |dev| w2a8_linear(dev, backend),
        ));
        t.push(test(format!("tuners::w4a16_{list}_configs"), move |dev| {
            w4a16(dev, backend)
        }));
        t.push(test(
            format!("tuners::w4a16_split_k_{list}_configs"),
            move |dev| w4a16_split_k(dev, backend),
        ));
        t.push(test(
            format!("tuners::w4a16_gemv_{list}_configs"),
            move |dev| w4a16_gemv(dev, backend),
        ));
        t.push(test(format!("tuners::w4a8_{list}_configs"), move |dev| {
            w4a8(dev, backend)
        }));
        t.push(test(format!("tuners::w4a4_{list}_configs"), move |dev| {
            w4a4(dev, backend)
        }));
    }
    t
}

fn grid(bm: i32, bn: i32) -> (u32, u32) {
    (
        (M as u32).div_ceil(bm as u32),
        (N as u32).div_ceil(bn as u32),
    )
}

/// Whether a configuration's result must equal the interpreter's bit for bit: kernels whose
/// parts add their sums with atomics (split-K) add them in any order, so only their bounds
/// hold.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Order {
    /// The interpreter's bits.
    Same,
    /// Any order of the atomic adds.
    Any,
}

/// Runs `launch` on `dev` with a zeroed output of `M * N`; on a CPU backend, with
/// [`Order::Same`], also on the interpreter, which must give the same bits. Returns `dev`'s
/// result.
fn on<T: Element>(
    dev: &Device,
    what: &str,
    order: Order,
    launch: impl Fn(&Device, &Buffer<T>) -> Result<(), bitmat::Error>,
) -> Result<Vec<T>, String> {
    let run = |d: &Device| -> Result<Vec<T>, String> {
        let out = d.zeros::<T>(M * N).map_err(|e| e.to_string())?;
        launch(d, &out).map_err(|e| format!("{what} on {d}: {e}"))?;
        out.to_vec().map_err(|e| e.to_string())
    };
    let got = run(dev)?;
    if order == Order::Same && !is_cuda(dev) && dev.backend() != Backend::INTERPRETER {
        let want = run(&Device::interpreter())?;
        if let Some(i) =
            (0..got.len()).find(|&i| got[i].to_scalar().bits() != want[i].to_scalar().bits())
        {
            return Err(format!(
                "{what}: element {i} is {:?}, the interpreter's {:?}",
                got[i], want[i]
            ));
        }
    }
    Ok(got)
}

/// Runs every configuration of `configs` through [`on`] and hands each result, with the
/// configuration named after `op`, to `check`.
fn each_config<C: Specialization, T: Element>(
    dev: &Device,
    op: &str,
    configs: &[Config<C>],
    launch: impl Fn(&Config<C>, &Device, &Buffer<T>) -> Result<(), bitmat::Error>,
    check: impl FnMut(&str, Vec<T>) -> Result<(), String>,
) -> Result<(), String> {
    each_config_in(dev, op, configs, Order::Same, launch, check)
}

/// [`each_config`] with the interpreter comparison of `order`.
fn each_config_in<C: Specialization, T: Element>(
    dev: &Device,
    op: &str,
    configs: &[Config<C>],
    order: Order,
    launch: impl Fn(&Config<C>, &Device, &Buffer<T>) -> Result<(), bitmat::Error>,
    mut check: impl FnMut(&str, Vec<T>) -> Result<(), String>,
) -> Result<(), String> {
    for c in configs {
        let what = format!("{op} {c}");
        let got = on(dev, &what, order, |d, out| launch(c, d, out))?;
        check(&what, got)?;
    }
    Ok(())
}

/// Within 1e-4 relative of `want` (at least 1e-4 absolute).
fn within_1e4(what: &str, got: &[f32], want: &[f32]) -> Result<(), String> {
    within(what, got, want, |i| {
        1e-4 * f64::from(want[i].abs().max(1.0))
    })
}

fn up<T: Element>(d: &Device, v: &[T]) -> Result<Buffer<T>, bitmat::Error> {
    Ok(d.upload(v)?)
}

/// `got[i]` within `bound(i)` of `want[i]` for every `i`.
fn within(
    what: &str,
    got: &[f32],
    want: &[f32],
    bound: impl Fn(usize) -> f64,
) -> Result<(), String> {
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let diff = f64::from((g - w).abs());
        if diff.is_nan() || diff > bound(i) {
            return Err(format!(
                "{what}: element {i} is {g}, reference {w} (bound {:e})",
                bound(i)
            ));
        }
    }
    Ok(())
}

fn exact<T: PartialEq + std::fmt::Debug>(what: &str, got: &[T], want: &[T]) -> Result<(), String> {
    match (0..want.len()).find(|&i| got[i] != want[i]) {
        Some(i) => Err(format!(
            "{what}: element {i} is {:?}, reference {:?}",
            got[i], want[i]
        )),
        None => Ok(()),
    }
}

/// Ternary operands: i8 activations in `[-127, 127]`, packed ternary weights, the exact sums.
fn ternary_operands() -> (Vec<i8>, Vec<u8>, Vec<i32>) {
    let mut r = rng(7);
    let x: Vec<i8> = (0..M * K).map(|_| r.gen_range(-127..=127)).collect();
    let wq: Vec<i8> = (0..N * K).map(|_| r.gen_range(-1..=1)).collect();
    let w = pack_ternary(&wq, N, K).expect("ternary values");
    let want = reference::matmul_i8_ternary(&x, M, K, &w, N).expect("valid shapes");
    (x, w, want)
}

/// Float operands in `[-1, 1)` for the int4 ops: `N * K` weights, `M * K` activations.
fn float_operands() -> (Vec<f32>, Vec<f32>) {
    let mut r = rng(8);
    let wf: Vec<f32> = (0..N * K).map(|_| r.gen_range(-1.0..1.0)).collect();
    let xf: Vec<f32> = (0..M * K).map(|_| r.gen_range(-1.0..1.0)).collect();
    (wf, xf)
}

fn w2a8_matmul(dev: &Device, backend: Backend) -> Result<(), String> {
    let (x, w, want) = ternary_operands();
    let (m, n, k) = (M as i32, N as i32, K as i32);
    each_config(
        dev,
        "w2a8_matmul",
        tuned::ternary_tuner(backend).tuner().configs(),
        |c, d, out| {
            let cx = &c.constexprs;
            ternary::w2a8_matmul::with(c.options).launch(
                d,
                grid(cx.block_m, cx.block_n),
                &up(d, &x)?,
                &up(d, &w)?,
                out,
                m,
                n,
                k,
                cx.block_m,
                cx.block_n,
                cx.block_k,
            )
        },
        |what, got| exact(what, &got, &want),
    )
}

/// Split-K: the parts' atomic `i32` sums give the reference's bits (the output starts at zero,
/// as `reset_to_zero` leaves it for the ops).
fn w2a8_matmul_split_k(dev: &Device, backend: Backend) -> Result<(), String> {
    let (x, w, want) = ternary_operands();
    let (m, n, k) = (M as i32, N as i32, K as i32);
    each_config(
        dev,
        "w2a8_matmul_split_k",
        tuned::ternary_split_k_tuner(backend).tuner().configs(),
        |c, d, out| {
            let cx = &c.constexprs;
            ternary::w2a8_matmul_split_k::with(c.options).launch(
                d,
                tuned::split_k_grid(m, n, cx.block_m, cx.block_n, cx.split_k),
                &up(d, &x)?,
                &up(d, &w)?,
                out,
                m,
                n,
                k,
                cx.block_m,
                cx.block_n,
                cx.block_k,
                cx.split_k,
            )
        },
        |what, got| exact(what, &got, &want),
    )
}

fn w2a8_gemv(dev: &Device, backend: Backend) -> Result<(), String> {
    let (x, w, want) = ternary_operands();
    let (m, n, k) = (M as i32, N as i32, K as i32);
    each_config(
        dev,
        "w2a8_gemv",
        tuned::gemv_tuner(backend).tuner().configs(),
        |c, d, out| {
            let cx = &c.constexprs;
            let grid = ((N as u32).div_ceil(cx.block_n as u32), M as u32);
            ternary::w2a8_gemv::with(c.options).launch(
                d,
                grid,
                &up(d, &x)?,
                &up(d, &w)?,
                out,
                m,
                n,
                k,
                cx.block_n,
                cx.block_k,
            )
        },
        |what, got| exact(what, &got, &want),
    )
}

/// Every configuration of the LLVM backend's row-times-vector kernel, on every backend.
fn w2a8_gemv_rows(dev: &Device) -> Result<(), String> {
    let (x, w, want) = ternary_operands();
    let (m, n, k) = (M as i32, N as i32, K as i32);
    each_config(
        dev,
        "w2a8_gemv_rows",
        tuned::gemv_rows_tuner().tuner().configs(),
        |c, d, out| {
            let cx = &c.constexprs;
            let grid = ((N as u32).div_ceil(cx.block_n as u32), M as u32);
            ternary::w2a8_gemv_rows::with(c.options).launch(
                d,
                grid,
                &up(d, &x)?,
                &up(d, &w)?,
                out,
                m,
                n,
                k,
                cx.block_n,
                cx.block_k,
            )
        },
        |what, got| exact(what, &got, &want),
    )
}

/// Every configuration of the planes-layout matrix-vector kernel, on every backend, on
/// `min(M, 4)` rows of the ragged operands (K = 160 pads to one block of 256) and on a K of
/// several blocks with a ragged last one.
fn w2a8_gemv_planes(dev: &Device) -> Result<(), String> {
    let mut r = rng(9);
    for (m, k) in [(M.min(4), K), (3, 1060)] {
        let x: Vec<i8> = (0..m * k).map(|_| r.gen_range(-127..=127)).collect();
        let wq: Vec<i8> = (0..N * k).map(|_| r.gen_range(-1..=1)).collect();
        let w = pack_ternary(&wq, N, k).expect("ternary values");
        let want = reference::matmul_i8_ternary(&x, m, k, &w, N).expect("valid shapes");
        let planes = pack_ternary_planes(&w, N, k).expect("canonical codes");
        each_config(
            dev,
            "w2a8_gemv_planes",
            tuned::gemv_planes_tuner().tuner().configs(),
            |c, d, out| {
                let cx = &c.constexprs;
                let grid = ((N as u32).div_ceil(cx.block_n as u32), m as u32);
                ternary::w2a8_gemv_planes::with(c.options).launch(
                    d,
                    grid,
                    &up(d, &x)?,
                    &up(d, &planes)?,
                    out,
                    m as i32,
                    N as i32,
                    k as i32,
                    cx.block_n,
                    cx.block_k,
                )
            },
            |what, got| exact(what, &got[..m * N], &want),
        )?;
    }
    Ok(())
}

/// `acc * sx[row] * sw[col] + bias[col]`: the same bits from every configuration, within
/// 1e-4 relative of the f32 formula (two roundings of the scales, one of the bias).
fn w2a8_linear(dev: &Device, backend: Backend) -> Result<(), String> {
    let (x, w, acc) = ternary_operands();
    let (m, n, k) = (M as i32, N as i32, K as i32);
    let sx = vec![0.5f32; M];
    let sw: Vec<f32> = (0..N).map(|i| 0.25 + i as f32 / 64.0).collect();
    let bias: Vec<f32> = (0..N).map(|i| i as f32 - 3.0).collect();
    for has_bias in [false, true] {
        let mut first: Option<Vec<f32>> = None;
        each_config(
            dev,
            "w2a8_linear",
            tuned::linear_tuner(backend, has_bias).tuner().configs(),
            |c, d, out| {
                let cx = &c.constexprs;
                ternary::w2a8_linear::with(c.options).launch(
                    d,
                    grid(cx.block_m, cx.block_n),
                    &up(d, &x)?,
                    &up(d, &sx)?,
                    &up(d, &w)?,
                    &up(d, &sw)?,
                    &up(d, &bias)?,
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
            },
            |what, got| {
                match &first {
                    None => {
                        let want: Vec<f32> = (0..M * N)
                            .map(|i| {
                                acc[i] as f32 * sx[i / N] * sw[i % N]
                                    + if has_bias { bias[i % N] } else { 0.0 }
                            })
                            .collect();
                        within_1e4(what, &got, &want)?;
                        first = Some(got);
                    }
                    Some(f) => exact(&format!("{what} against the first configuration"), &got, f)?,
                }
                Ok(())
            },
        )?;
    }
    Ok(())
}

/// W4A16 operands with groups of 32: `(f16 x, weights, the reference)` and each output's
/// bound: 1e-5 relative (scales and the f32 sum of exact f16 x int4 products), plus
/// `dot::dot_bound` of its terms where the sum runs in another order than the reference's
/// (on CUDA, and in the matrix-vector kernel, `reordered`).
fn w4a16_case(dev: &Device, reordered: bool) -> Result<W4a16Case, String> {
    let (wf, xf) = float_operands();
    let w = quantize_int4(&wf, N, K, Int4Group::Size(32)).map_err(|e| e.to_string())?;
    let xh: Vec<bitmat::f16> = xf.iter().map(|&v| bitmat::f16::from_f32(v)).collect();
    let want = reference::int4_w4a16(&xh, M, &w).map_err(|e| e.to_string())?;
    let wd = w.dequantize();
    let reordered = reordered || is_cuda(dev);
    let bound = (0..M * N)
        .map(|i| {
            let (row, col) = (i / N, i % N);
            let mag: f64 = (0..K)
                .map(|l| f64::from((xh[row * K + l].to_f32() * wd[col * K + l]).abs()))
                .sum();
            1e-5 * f64::from(want[i].abs().max(1.0))
                + if reordered { dot_bound(K, mag) } else { 0.0 }
        })
        .collect();
    Ok(W4a16Case { xh, w, want, bound })
}

/// What [`w4a16_case`] returns.
struct W4a16Case {
    xh: Vec<bitmat::f16>,
    w: bitmat::formats::Int4Weights,
    want: Vec<f32>,
    bound: Vec<f64>,
}

/// The tiled W4A16 kernel at every configuration, within [`w4a16_case`]'s bounds.
fn w4a16(dev: &Device, backend: Backend) -> Result<(), String> {
    let W4a16Case { xh, w, want, bound } = w4a16_case(dev, false)?;
    let (m, n, k) = (M as i32, N as i32, K as i32);
    each_config(
        dev,
        "w4a16",
        tuned::w4a16_tuner(backend).tuner().configs(),
        |c, d, out| {
            let cx = &c.constexprs;
            int4::w4a16_matmul::with(c.options).launch(
                d,
                grid(cx.block_m, cx.block_n),
                &up(d, &xh)?,
                &up(d, &w.packed)?,
                &up(d, &w.scales)?,
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
        },
        |what, got| within(what, &got, &want, |i| bound[i]),
    )
}

/// The split-K W4A16 kernel at every configuration, within [`w4a16_case`]'s bounds for sums in
/// another order (the parts' atomic adds land in any order, so results are not compared bit
/// for bit with the interpreter's).
fn w4a16_split_k(dev: &Device, backend: Backend) -> Result<(), String> {
    let W4a16Case { xh, w, want, bound } = w4a16_case(dev, true)?;
    let (m, n, k) = (M as i32, N as i32, K as i32);
    each_config_in(
        dev,
        "w4a16_split_k",
        tuned::w4a16_split_k_tuner(backend).tuner().configs(),
        Order::Any,
        |c, d, out| {
            let cx = &c.constexprs;
            int4::w4a16_matmul_split_k::with(c.options).launch(
                d,
                tuned::split_k_grid(m, n, cx.block_m, cx.block_n, cx.split_k),
                &up(d, &xh)?,
                &up(d, &w.packed)?,
                &up(d, &w.scales)?,
                out,
                m,
                n,
                k,
                32,
                cx.signed,
                cx.block_m,
                cx.block_n,
                cx.block_k,
                cx.split_k,
            )
        },
        |what, got| within(what, &got, &want, |i| bound[i]),
    )
}

/// The W4A16 matrix-vector kernel at every configuration (on all `M` rows), within
/// [`w4a16_case`]'s bounds.
fn w4a16_gemv(dev: &Device, backend: Backend) -> Result<(), String> {
    let W4a16Case { xh, w, want, bound } = w4a16_case(dev, true)?;
    let (m, n, k) = (M as i32, N as i32, K as i32);
    each_config(
        dev,
        "w4a16_gemv",
        tuned::w4a16_gemv_tuner(backend).tuner().configs(),
        |c, d, out| {
            let cx = &c.constexprs;
            let grid = ((N as u32).div_ceil(cx.block_n as u32), M as u32);
            int4::w4a16_gemv::with(c.options).launch(
                d,
                grid,
                &up(d, &xh)?,
                &up(d, &w.packed)?,
                &up(d, &w.scales)?,
                out,
                m,
                n,
                k,
                32,
                cx.signed,
                cx.block_n,
                cx.block_k,
            )
        },
        |what, got| within(what, &got, &want, |i| bound[i]),
    )
}

/// W4A8 with one group per row (every block_k valid): an exact i32 sum times two scales,
/// within 1e-4 relative of the reference.
fn w4a8(dev: &Device, backend: Backend) -> Result<(), String> {
    let (wf, xf) = float_operands();
    let (m, n, k) = (M as i32, N as i32, K as i32);
    let w = quantize_int4(&wf, N, K, Int4Group::PerRow).map_err(|e| e.to_string())?;
    let x = quantize_activations(&xf, M, K).map_err(|e| e.to_string())?;
    let want = reference::int4_w4a8(&x, &w).map_err(|e| e.to_string())?;
    each_config(
        dev,
        "w4a8",
        tuned::w4a8_tuner(backend).tuner().configs(),
        |c, d, out| {
            let cx = &c.constexprs;
            int4::w4a8_matmul::with(c.options).launch(
                d,
                grid(cx.block_m, cx.block_n),
                &up(d, &x.values)?,
                &up(d, &x.scales)?,
                &up(d, &w.packed)?,
                &up(d, &w.scales)?,
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
        },
        |what, got| within_1e4(what, &got, &want),
    )
}

/// W4A4 (BitTensor): exact, with and without bias.
fn w4a4(dev: &Device, backend: Backend) -> Result<(), String> {
    let mut r = rng(9);
    let (m, n, k) = (M as i32, N as i32, K as i32);
    let xu: Vec<u8> = (0..M * K).map(|_| r.gen_range(0..16)).collect();
    let wu: Vec<u8> = (0..N * K).map(|_| r.gen_range(0..16)).collect();
    let xp = pack_uint4(&xu, M, K).map_err(|e| e.to_string())?;
    let wp = pack_uint4(&wu, N, K).map_err(|e| e.to_string())?;
    let bias: Vec<i32> = (0..N as i32).collect();
    for has_bias in [false, true] {
        let want: Vec<i32> = (0..M * N)
            .map(|i| {
                let (row, col) = (i / N, i % N);
                let dot: i32 = (0..K)
                    .map(|j| i32::from(xu[row * K + j]) * i32::from(wu[col * K + j]))
                    .sum();
                dot + if has_bias { bias[col] } else { 0 }
            })
            .collect();
        each_config(
            dev,
            "w4a4",
            tuned::w4a4_tuner(backend, has_bias).tuner().configs(),
            |c, d, out| {
                let cx = &c.constexprs;
                int4::w4a4_matmul::with(c.options).launch(
                    d,
                    grid(cx.block_m, cx.block_n),
                    &up(d, &xp)?,
                    &up(d, &wp)?,
                    &up(d, &bias)?,
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
            },
            |what, got| exact(what, &got, &want),
        )?;
    }
    Ok(())
}

/// Every configuration of the int4 planes-layout matrix-vector kernels (W4A8 and W4A16), on
/// every backend, for each of the layout's scale spacings (32, 64, 128 columns, from groups of
/// 32, 64, 128, 96, 256 and one per row) on ragged K (one block partly used, several blocks
/// with a ragged last one): W4A8 within 1e-4 relative of the reference (the exact sums of a
/// group are added in sub-blocks), W4A16 within the reordered-sum bound of [`w4a16_case`].
fn int4_gemv_planes(dev: &Device) -> Result<(), String> {
    let mut r = rng(14);
    let cases = [
        (3, 160, Int4Group::Size(32)),
        (2, 704, Int4Group::Size(64)),
        (1, 640, Int4Group::Size(128)),
        (2, 288, Int4Group::Size(96)),
        (1, 768, Int4Group::Size(256)),
        (4, 1152, Int4Group::PerRow),
    ];
    for (m, k, group) in cases {
        let wf: Vec<f32> = (0..N * k).map(|_| r.gen_range(-1.0..1.0)).collect();
        let xf: Vec<f32> = (0..m * k).map(|_| r.gen_range(-1.0..1.0)).collect();
        let w = quantize_int4(&wf, N, k, group).map_err(|e| e.to_string())?;
        let planes = pack_int4_planes(&w).map_err(|e| e.to_string())?;
        let x = quantize_activations(&xf, m, k).map_err(|e| e.to_string())?;
        let want = reference::int4_w4a8(&x, &w).map_err(|e| e.to_string())?;
        let (mi, n, ki) = (m as i32, N as i32, k as i32);
        let sc = planes.scale_cols as i32;
        let grid = |bn: i32| ((N as u32).div_ceil(bn as u32), m as u32);
        each_config(
            dev,
            &format!("w4a8_gemv_planes k={k} {group:?}"),
            tuned::w4a8_planes_tuner(sc).tuner().configs(),
            |c, d, out| {
                let cx = &c.constexprs;
                int4::w4a8_gemv_planes::with(c.options).launch(
                    d,
                    grid(cx.block_n),
                    &up(d, &x.values)?,
                    &up(d, &x.scales)?,
                    &up(d, &planes.codes)?,
                    &up(d, &planes.scales)?,
                    out,
                    mi,
                    n,
                    ki,
                    cx.scale_cols,
                    cx.block_n,
                    cx.block_k,
                )
            },
            |what, got| within_1e4(what, &got[..m * N], &want),
        )?;
        let xh: Vec<bitmat::f16> = xf.iter().map(|&v| bitmat::f16::from_f32(v)).collect();
        let want = reference::int4_w4a16(&xh, m, &w).map_err(|e| e.to_string())?;
        let wd = w.dequantize();
        let bound: Vec<f64> = (0..m * N)
            .map(|i| {
                let (row, col) = (i / N, i % N);
                let mag: f64 = (0..k)
                    .map(|l| f64::from((xh[row * k + l].to_f32() * wd[col * k + l]).abs()))
                    .sum();
                1e-5 * f64::from(want[i].abs().max(1.0)) + dot_bound(k, mag)
            })
            .collect();
        each_config(
            dev,
            &format!("w4a16_gemv_planes k={k} {group:?}"),
            tuned::w4a16_planes_tuner(sc).tuner().configs(),
            |c, d, out| {
                let cx = &c.constexprs;
                int4::w4a16_gemv_planes::with(c.options).launch(
                    d,
                    grid(cx.block_n),
                    &up(d, &xh)?,
                    &up(d, &planes.codes)?,
                    &up(d, &planes.scales)?,
                    out,
                    mi,
                    n,
                    ki,
                    cx.scale_cols,
                    cx.block_n,
                    cx.block_k,
                )
            },
            |what, got| within(what, &got[..m * N], &want, |i| bound[i]),
        )?;
    }
    Ok(())
}

/// Every configuration of the planes-layout ternary linear kernel (with and without bias,
/// per-row and per-tensor weight scales) on the ragged operands, all `M` rows: the same bits
/// as `acc * sx[row] * sw[col] (+ bias[col])` of the exact product (the f32 formula in the
/// kernel's order).
fn w2a8_linear_planes(dev: &Device) -> Result<(), String> {
    let (x, w, acc) = ternary_operands();
    let planes = pack_ternary_planes(&w, N, K).expect("canonical codes");
    let (m, n, k) = (M as i32, N as i32, K as i32);
    let sx: Vec<f32> = (0..M).map(|i| 0.5 + i as f32 / 32.0).collect();
    let sw: Vec<f32> = (0..N).map(|i| 0.25 + i as f32 / 64.0).collect();
    let bias: Vec<f32> = (0..N).map(|i| i as f32 - 3.0).collect();
    for (has_bias, stride) in [(false, 1), (true, 1), (true, 0)] {
        let want: Vec<f32> = (0..M * N)
            .map(|i| {
                let s = acc[i] as f32 * sx[i / N] * sw[(i % N) * stride as usize];
                s + if has_bias { bias[i % N] } else { 0.0 }
            })
            .collect();
        each_config(
            dev,
            &format!("w2a8_linear_planes stride={stride}"),
            tuned::linear_planes_tuner(has_bias).tuner().configs(),
            |c, d, out| {
                let cx = &c.constexprs;
                ternary::w2a8_linear_planes::with(c.options).launch(
                    d,
                    ((N as u32).div_ceil(cx.block_n as u32), M as u32),
                    &up(d, &x)?,
                    &up(d, &sx)?,
                    &up(d, &planes)?,
                    &up(d, &sw)?,
                    &up(d, &bias)?,
                    out,
                    m,
                    n,
                    k,
                    stride,
                    cx.has_bias,
                    cx.block_n,
                    cx.block_k,
                )
            },
            |what, got| exact(what, &got, &want),
        )?;
    }
    Ok(())
}
