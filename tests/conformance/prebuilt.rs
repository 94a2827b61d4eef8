//! Every prebuilt kernel through the ops that launch it (`bitmat::ops`, and the kernels
//! themselves where no op exposes a mode), against the plain-Rust references of
//! `bitmat::reference` on ragged shapes, extreme values and seeded random shapes.
//!
//! Integer outputs must be exact. `f32` outputs: within `max(max|ref|, 1) * 1e-5` absolute
//! (a NaN anywhere fails), which covers the few roundings of the scales; on CUDA the W4A16
//! dot sums f16 products on tensor cores in its own order, so it adds `dot::dot_bound` of
//! each output's terms. Quantized activations within 1, scales within 1e-5 relative.

use crate::data::rng;
use crate::dot::dot_bound;
use crate::harness::{is_cuda, test, Test};
use bitmat::formats::{
    pack_ternary, pack_uint4, quantize_activations, quantize_int4, Int4Group, Int4Weights,
    QuantizedActivations, ScaleGranularity,
};
use bitmat::{f16, ops, reference, Device};
use rand::rngs::StdRng;
use rand::Rng;

/// The tests of this module.
pub fn tests() -> Vec<Test> {
    vec![
        test("prebuilt::ternary_matmul", ternary_matmul),
        test("prebuilt::ternary_matmul_extremes", ternary_matmul_extremes),
        test("prebuilt::ternary_linear", ternary_linear),
        test("prebuilt::w2a8_gemv", w2a8_gemv),
        test("prebuilt::int4_groups_of_16", |dev| {
            int4_shapes(dev, 4, &INT4_K, &[Int4Group::Size(16)])
        }),
        test("prebuilt::int4_per_row", |dev| {
            int4_shapes(dev, 5, &INT4_K, &[Int4Group::PerRow])
        }),
        test("prebuilt::int4_groups_of_32_and_64", |dev| {
            int4_shapes(
                dev,
                6,
                &[64, 128],
                &[Int4Group::Size(32), Int4Group::Size(64)],
            )
        }),
        test("prebuilt::int4_random_shapes_and_groups", int4_random),
        test("prebuilt::int4_extremes", int4_extremes),
        test("prebuilt::w4a4_exact_and_saturating_packed", w4a4),
        test("prebuilt::rmsnorm_quantize", rmsnorm_quantize),
        test("prebuilt::rmsnorm_quantize_zero_row", rmsnorm_zero_row),
        test("prebuilt::quantize_int8", quantize_int8),
    ]
}

/// Gaussian-ish values (sum of four uniforms, unit variance).
pub fn gaussian(rng: &mut StdRng, len: usize) -> Vec<f32> {
    (0..len)
        .map(|_| (0..4).map(|_| rng.gen_range(-1.0f32..1.0)).sum::<f32>() * 0.866)
        .collect()
}

fn random_ternary(rng: &mut StdRng, n: usize, k: usize) -> Vec<u8> {
    let wq: Vec<i8> = (0..n * k).map(|_| rng.gen_range(-1..=1)).collect();
    pack_ternary(&wq, n, k).expect("valid ternary values")
}

/// `got == want` element by element.
fn exact<T: PartialEq + std::fmt::Debug>(what: &str, got: &[T], want: &[T]) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!(
            "{what}: {} outputs, the reference has {}",
            got.len(),
            want.len()
        ));
    }
    match (0..got.len()).find(|&i| got[i] != want[i]) {
        Some(i) => Err(format!(
            "{what}: first mismatch at element {i}: {:?}, reference {:?}",
            got[i], want[i]
        )),
        None => Ok(()),
    }
}

/// Every `|got - want| <= max(max|want|, 1) * 1e-5 + extra[i]`; NaN or infinity fails.
fn close(what: &str, got: &[f32], want: &[f32], extra: Option<&[f64]>) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!(
            "{what}: {} outputs, the reference has {}",
            got.len(),
            want.len()
        ));
    }
    if !want.iter().all(|v| v.is_finite()) {
        return Err(format!("{what}: the reference is not finite"));
    }
    let tol = want.iter().map(|v| f64::from(v.abs())).fold(1.0, f64::max) * 1e-5;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let bound = tol + extra.map_or(0.0, |e| e[i]);
        let diff = (f64::from(g) - f64::from(w)).abs();
        if diff.is_nan() || diff > bound {
            return Err(format!("{what}: first mismatch at element {i}: {g}, reference {w} (|diff| {diff:e} > {bound:e})"));
        }
    }
    Ok(())
}

/// Quantized values within 1 of the reference, scales within 1e-5 relative.
fn quantized_close(
    what: &str,
    got: &QuantizedActivations,
    want: &QuantizedActivations,
) -> Result<(), String> {
    if (got.rows, got.cols, got.values.len(), got.scales.len())
        != (want.rows, want.cols, want.values.len(), want.scales.len())
    {
        return Err(format!(
            "{what}: shape {}x{} differs from the reference's {}x{}",
            got.rows, got.cols, want.rows, want.cols
        ));
    }
    if let Some(i) = (0..got.values.len())
        .find(|&i| (i32::from(got.values[i]) - i32::from(want.values[i])).abs() > 1)
    {
        return Err(format!(
            "{what}: value {i} is {}, reference {}",
            got.values[i], want.values[i]
        ));
    }
    for (r, (&g, &w)) in got.scales.iter().zip(&want.scales).enumerate() {
        let rel = f64::from((g - w).abs()) / f64::from(w.abs());
        if rel.is_nan() || rel > 1e-5 {
            return Err(format!(
                "{what}: scale of row {r} is {g}, reference {w} (relative {rel:e})"
            ));
        }
    }
    Ok(())
}

const TERNARY_M: [usize; 3] = [1, 3, 17];
const TERNARY_N: [usize; 3] = [5, 64, 100];
const TERNARY_K: [usize; 3] = [4, 36, 260];
const INT4_K: [usize; 3] = [16, 48, 272];

/// Every `(m, n, k)` of the ragged shape lists with K from `ks`.
fn shapes(ks: &[usize]) -> Vec<(usize, usize, usize)> {
    let mut v = Vec::new();
    for m in TERNARY_M {
        for n in TERNARY_N {
            for &k in ks {
                v.push((m, n, k));
            }
        }
    }
    v
}

fn check_ternary_matmul(
    dev: &Device,
    rng: &mut StdRng,
    m: usize,
    n: usize,
    k: usize,
) -> Result<(), String> {
    let x: Vec<i8> = (0..m * k).map(|_| rng.gen()).collect();
    let packed = random_ternary(rng, n, k);
    let what = format!("ternary_matmul m={m} n={n} k={k}");
    let got = ops::ternary_matmul(dev, &x, m, k, &packed, n).map_err(|e| format!("{what}: {e}"))?;
    exact(
        &what,
        &got,
        &reference::matmul_i8_ternary(&x, m, k, &packed, n).map_err(|e| e.to_string())?,
    )
}

/// The ragged shapes, then 8 seeded random ones (M < 20, N < 80, K = 4..300).
fn ternary_matmul(dev: &Device) -> Result<(), String> {
    let mut r = rng(1);
    for (m, n, k) in shapes(&TERNARY_K) {
        check_ternary_matmul(dev, &mut r, m, n, k)?;
    }
    for _ in 0..8 {
        let (m, n, k) = (
            r.gen_range(1..20),
            r.gen_range(1..80),
            4 * r.gen_range(1..=75),
        );
        check_ternary_matmul(dev, &mut r, m, n, k)?;
    }
    Ok(())
}

/// The extremes of i8 against all-(+1) and all-(-1) weights: sums up to 260 * 128.
fn ternary_matmul_extremes(dev: &Device) -> Result<(), String> {
    let (m, n, k) = (3, 5, 260);
    let mut x = vec![i8::MIN; k];
    x.extend(vec![i8::MAX; k]);
    x.extend((0..k).map(|i| if i % 2 == 0 { i8::MIN } else { i8::MAX }));
    let wq: Vec<i8> = (0..n * k).map(|i| [1, -1, 1, 0, -1][i / k]).collect();
    let packed = pack_ternary(&wq, n, k).map_err(|e| e.to_string())?;
    let got = ops::ternary_matmul(dev, &x, m, k, &packed, n).map_err(|e| e.to_string())?;
    exact(
        "ternary_matmul extremes",
        &got,
        &reference::matmul_i8_ternary(&x, m, k, &packed, n).map_err(|e| e.to_string())?,
    )
}

fn ternary_linear(dev: &Device) -> Result<(), String> {
    let mut r = rng(3);
    for (m, n, k) in shapes(&TERNARY_K) {
        let x = quantize_activations(&gaussian(&mut r, m * k), m, k).map_err(|e| e.to_string())?;
        let wf = gaussian(&mut r, n * k);
        let bias = gaussian(&mut r, n);
        for granularity in [ScaleGranularity::PerTensor, ScaleGranularity::PerRow] {
            let w = bitmat::formats::quantize_ternary(&wf, n, k, granularity)
                .map_err(|e| e.to_string())?;
            for b in [None, Some(bias.as_slice())] {
                let what = format!(
                    "ternary_linear m={m} n={n} k={k} {granularity:?} bias={}",
                    b.is_some()
                );
                let got =
                    ops::ternary_linear(dev, &x, &w, b).map_err(|e| format!("{what}: {e}"))?;
                close(
                    &what,
                    &got,
                    &reference::ternary_linear(&x, &w, b).map_err(|e| e.to_string())?,
                    None,
                )?;
            }
        }
    }
    Ok(())
}

/// The GEMV kernel launched directly (ops picks it only for some shapes).
fn w2a8_gemv(dev: &Device) -> Result<(), String> {
    use bitmat::kernels::ternary::w2a8_gemv;
    let mut r = rng(11);
    for (m, n, k) in [
        (1usize, 5usize, 4usize),
        (1, 100, 260),
        (3, 64, 36),
        (2, 33, 1000),
    ] {
        let x: Vec<i8> = (0..m * k).map(|_| r.gen_range(-127..=127)).collect();
        let packed = random_ternary(&mut r, n, k);
        let what = format!("w2a8_gemv m={m} n={n} k={k}");
        let run = || -> Result<Vec<i32>, bitmat::Error> {
            let c = dev.zeros::<i32>(m * n)?;
            let grid = (n.div_ceil(16) as u32, m as u32);
            let (xb, wb) = (dev.upload(&x)?, dev.upload(&packed)?);
            w2a8_gemv::launch(
                dev, grid, &xb, &wb, &c, m as i32, n as i32, k as i32, 16, 64,
            )?;
            Ok(c.to_vec()?)
        };
        let got = run().map_err(|e| format!("{what}: {e}"))?;
        exact(
            &what,
            &got,
            &reference::matmul_i8_ternary(&x, m, k, &packed, n).map_err(|e| e.to_string())?,
        )?;
    }
    Ok(())
}

/// The extra bound of a W4A16 output ([`dot_bound`] of `sum_k |x| |w|`) where its sum may run in
/// another order than the reference's (on CUDA, and in the matrix-vector kernel), else none.
fn w4a16_extra(dev: &Device, xh: &[f16], m: usize, w: &Int4Weights) -> Option<Vec<f64>> {
    // The matrix-vector kernel sums in its own order on every device.
    let gemv = m <= bitmat::tuned::GEMV_MAX_ROWS as usize;
    if !is_cuda(dev) && !gemv {
        return None;
    }
    let (n, k) = (w.out_features, w.in_features);
    let wd = w.dequantize();
    Some(
        (0..m * n)
            .map(|e| {
                let (i, j) = (e / n, e % n);
                let mag: f64 = (0..k)
                    .map(|l| f64::from(xh[i * k + l].to_f32().abs() * wd[j * k + l].abs()))
                    .sum();
                dot_bound(k, mag)
            })
            .collect(),
    )
}

fn check_int4(
    dev: &Device,
    r: &mut StdRng,
    m: usize,
    n: usize,
    k: usize,
    group: Int4Group,
) -> Result<(), String> {
    let w = quantize_int4(&gaussian(r, n * k), n, k, group).map_err(|e| e.to_string())?;
    let x = quantize_activations(&gaussian(r, m * k), m, k).map_err(|e| e.to_string())?;
    let what = format!("int4_w4a8 m={m} n={n} k={k} {group:?}");
    let got = ops::int4_w4a8(dev, &x, &w).map_err(|e| format!("{what}: {e}"))?;
    close(
        &what,
        &got,
        &reference::int4_w4a8(&x, &w).map_err(|e| e.to_string())?,
        None,
    )?;
    let xh: Vec<f16> = gaussian(r, m * k).into_iter().map(f16::from_f32).collect();
    let what = format!("int4_w4a16 m={m} n={n} k={k} {group:?}");
    let got = ops::int4_w4a16(dev, &xh, m, &w).map_err(|e| format!("{what}: {e}"))?;
    let extra = w4a16_extra(dev, &xh, m, &w);
    close(
        &what,
        &got,
        &reference::int4_w4a16(&xh, m, &w).map_err(|e| e.to_string())?,
        extra.as_deref(),
    )
}

fn int4_shapes(dev: &Device, seed: u64, ks: &[usize], groups: &[Int4Group]) -> Result<(), String> {
    let mut r = rng(seed);
    for (m, n, k) in shapes(ks) {
        for &group in groups {
            check_int4(dev, &mut r, m, n, k, group)?;
        }
    }
    Ok(())
}

/// 8 seeded random shapes: `k = 16 * words`, a group `PerRow` or `16 * d` for a divisor `d`
/// of `words`.
fn int4_random(dev: &Device) -> Result<(), String> {
    let mut r = rng(12);
    for _ in 0..8 {
        let words = r.gen_range(1usize..=18);
        let divisors: Vec<usize> = (1..=words).filter(|d| words % d == 0).collect();
        let group = if r.gen_bool(0.2) {
            Int4Group::PerRow
        } else {
            Int4Group::Size(16 * divisors[r.gen_range(0..divisors.len())])
        };
        let (m, n) = (r.gen_range(1..20), r.gen_range(1..80));
        check_int4(dev, &mut r, m, n, 16 * words, group)?;
    }
    Ok(())
}

/// Weights at the ends of the int4 range (-8 and 7) and activations at +-127.
fn int4_extremes(dev: &Device) -> Result<(), String> {
    let (m, n, k) = (2, 3, 64);
    let q: Vec<i8> = (0..n * k).map(|i| [-8, 7, -8][i / k]).collect();
    let w = Int4Weights {
        out_features: n,
        in_features: k,
        group: Int4Group::Size(32),
        packed: bitmat::formats::pack_int4(&q, n, k).map_err(|e| e.to_string())?,
        scales: vec![0.5, 0.25, 1.0, 2.0, 0.125, 4.0],
    };
    let mut values = vec![127i8; k];
    values.extend(vec![-127i8; k]);
    let x = QuantizedActivations {
        rows: m,
        cols: k,
        values,
        scales: vec![0.5, 0.25],
    };
    let got = ops::int4_w4a8(dev, &x, &w).map_err(|e| e.to_string())?;
    close(
        "int4_w4a8 extremes",
        &got,
        &reference::int4_w4a8(&x, &w).map_err(|e| e.to_string())?,
        None,
    )
}

/// BitTensor's W4A4 (`w4a4_matmul`, exact, with and without bias) and its saturated packed
/// output (`pack_uint4_saturating`), against plain Rust, ragged M and N.
fn w4a4(dev: &Device) -> Result<(), String> {
    let mut r = rng(13);
    for (m, n, k) in [(1usize, 5usize, 16usize), (3, 37, 96), (17, 64, 160)] {
        let xu: Vec<u8> = (0..m * k).map(|_| r.gen_range(0..16)).collect();
        let wu: Vec<u8> = (0..n * k).map(|_| r.gen_range(0..16)).collect();
        let (xp, wp) = (
            pack_uint4(&xu, m, k).map_err(|e| e.to_string())?,
            pack_uint4(&wu, n, k).map_err(|e| e.to_string())?,
        );
        let bias: Vec<i32> = (0..n as i32).map(|i| i - 20).collect();
        for b in [None, Some(bias.as_slice())] {
            let want: Vec<i32> = (0..m * n)
                .map(|e| {
                    let (i, j) = (e / n, e % n);
                    (0..k)
                        .map(|l| i32::from(xu[i * k + l]) * i32::from(wu[j * k + l]))
                        .sum::<i32>()
                        + b.map_or(0, |b| b[j])
                })
                .collect();
            let what = format!("packed_matmul_w4a4 m={m} n={n} k={k} bias={}", b.is_some());
            let got = ops::packed_matmul_w4a4(dev, &xp, m, &wp, n, k, b)
                .map_err(|e| format!("{what}: {e}"))?;
            exact(&what, &got, &want)?;
            let packed = ops::packed_matmul_w4a4_packed(dev, &xp, m, &wp, n, k, b)
                .map_err(|e| format!("{what}: {e}"))?;
            let got = ops::unpack_uint4_flat(&packed, m, n).map_err(|e| e.to_string())?;
            let saturated: Vec<u8> = want.iter().map(|&v| v.clamp(0, 15) as u8).collect();
            exact(&format!("{what}, saturated and packed"), &got, &saturated)?;
        }
    }
    Ok(())
}

fn rmsnorm_quantize(dev: &Device) -> Result<(), String> {
    let mut r = rng(8);
    for rows in [1, 3] {
        for cols in [1, 7, 64, 300, 5000] {
            let x = gaussian(&mut r, rows * cols);
            let weight: Vec<f32> = (0..cols).map(|_| r.gen_range(0.5..1.5)).collect();
            for wt in [None, Some(weight.as_slice())] {
                let what = format!(
                    "rmsnorm_quantize rows={rows} cols={cols} weight={}",
                    wt.is_some()
                );
                let got = ops::rmsnorm_quantize(dev, &x, rows, cols, wt, 1e-5)
                    .map_err(|e| format!("{what}: {e}"))?;
                let want = reference::rmsnorm_quantize(&x, rows, cols, wt, 1e-5)
                    .map_err(|e| e.to_string())?;
                quantized_close(&what, &got, &want)?;
            }
        }
    }
    Ok(())
}

/// An all-zero row: the norm is 0, the scale is the floor `1e-5 / 127`, every value 0.
fn rmsnorm_zero_row(dev: &Device) -> Result<(), String> {
    let cols = 7;
    let mut x = vec![0.0f32; cols];
    x.extend(gaussian(&mut rng(9), cols));
    let got = ops::rmsnorm_quantize(dev, &x, 2, cols, None, 1e-5).map_err(|e| e.to_string())?;
    let want = reference::rmsnorm_quantize(&x, 2, cols, None, 1e-5).map_err(|e| e.to_string())?;
    quantized_close("rmsnorm_quantize with a zero row", &got, &want)?;
    exact(
        "rmsnorm_quantize zero row values",
        &got.values[..cols],
        &[0; 7],
    )
}

/// `quantize_int8` (BitLinear's activation quantization without a norm) against
/// `formats::quantize_activations`, rows of ragged lengths, blocks smaller than a row.
fn quantize_int8(dev: &Device) -> Result<(), String> {
    use bitmat::kernels::norm::quantize_int8;
    let mut r = rng(10);
    for (rows, cols, block) in [
        (1usize, 1usize, 16),
        (3, 37, 16),
        (2, 300, 256),
        (4, 1000, 256),
    ] {
        let x = gaussian(&mut r, rows * cols);
        let what = format!("quantize_int8 rows={rows} cols={cols} block={block}");
        let run = || -> Result<QuantizedActivations, bitmat::Error> {
            let (xb, q, s) = (
                dev.upload(&x)?,
                dev.zeros::<i8>(rows * cols)?,
                dev.zeros::<f32>(rows)?,
            );
            quantize_int8::launch(dev, rows as u32, &xb, &q, &s, cols as i32, block)?;
            Ok(QuantizedActivations {
                rows,
                cols,
                values: q.to_vec()?,
                scales: s.to_vec()?,
            })
        };
        let got = run().map_err(|e| format!("{what}: {e}"))?;
        quantized_close(
            &what,
            &got,
            &quantize_activations(&x, rows, cols).map_err(|e| e.to_string())?,
        )?;
    }
    Ok(())
}
