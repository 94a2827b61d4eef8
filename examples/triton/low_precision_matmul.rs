//! A low-precision matmul in the spirit of Triton's tutorials 10 (block-scaled matmul) and
//! the fp8 matmul of tutorial 03: `c = (a_q x b_q) * scale_a[row] * scale_b[col]`, with `a`
//! quantized to `f8e4m3` per row and `b` to `f8e5m2` per column, both multiplied by `dot`
//! into an f32 accumulator over a runtime K loop, masked on ragged M, N and K. On GPUs of
//! sm_89 and later the `dot` runs on the fp8 tensor cores (`mma.sync` with e4m3 x e5m2
//! operands); on the CPU and older GPUs as an exact f16 `dot`.
//!
//! `cargo run --example low_precision_matmul` runs it on the interpreter, the CPU (and CUDA
//! when a driver is present), checks every element against plain Rust (the same fp8 values
//! decoded by the `float8` crate, products summed in f64), that the CPU agrees with the
//! interpreter bit for bit, and prints the error of the fp8 product against the f32 one.

use bitmat::prelude::*;

/// `c[m, n] = (a[m, k] x b[k, n]) * a_scale[m] * b_scale[n]`, fp8 operands, f32 out.
#[bitkernel]
pub fn fp8_matmul(
    a: Ptr<f8e4m3>,
    b: Ptr<f8e5m2>,
    a_scale: Ptr<f32>,
    b_scale: Ptr<f32>,
    c: Ptr<f32>,
    m: i32,
    n: i32,
    k: i32,
    #[constexpr] block_m: i32,
    #[constexpr] block_n: i32,
    #[constexpr] block_k: i32,
) {
    let rm = program_id(0) * block_m + arange(block_m);
    let rn = program_id(1) * block_n + arange(block_n);
    let rk = arange(block_k);
    let mut acc = zeros::<f32>([block_m, block_n]);
    for k0 in range(0, k, block_k) {
        let kk = k0 + rk;
        let x = load(
            a + rm.unsqueeze(1) * k + kk.unsqueeze(0),
            (rm.unsqueeze(1) < m) & (kk.unsqueeze(0) < k),
            0.0,
        );
        let w = load(
            b + kk.unsqueeze(1) * n + rn.unsqueeze(0),
            (kk.unsqueeze(1) < k) & (rn.unsqueeze(0) < n),
            0.0,
        );
        acc = dot(x, w, acc);
    }
    let sa = load(a_scale + rm, rm < m, 0.0);
    let sb = load(b_scale + rn, rn < n, 0.0);
    let out = acc * sa.unsqueeze(1) * sb.unsqueeze(0);
    store(
        c + rm.unsqueeze(1) * n + rn.unsqueeze(0),
        out,
        (rm.unsqueeze(1) < m) & (rn.unsqueeze(0) < n),
    );
}

/// The largest finite `f8e4m3` (the `float8` crate's `MAX` constant is one step lower).
const E4M3_MAX: f32 = 448.0;
/// The largest finite `f8e5m2`.
const E5M2_MAX: f32 = 57344.0;

/// Quantized operands: `a` ([m, k], per-row scales) and `b` ([k, n], per-column scales).
pub struct Quantized {
    /// `a / a_scale[row]`, in fp8.
    pub a: Vec<f8e4m3>,
    /// `b / b_scale[col]`, in fp8.
    pub b: Vec<f8e5m2>,
    /// One scale per row of `a`.
    pub a_scale: Vec<f32>,
    /// One scale per column of `b`.
    pub b_scale: Vec<f32>,
}

/// Quantizes `a` per row and `b` per column so that each row's (column's) largest magnitude
/// maps to the fp8 type's largest finite value.
pub fn quantize(a: &[f32], b: &[f32], m: usize, n: usize, k: usize) -> Quantized {
    let scale = |max: f32, top: f32| if max > 0.0 { max / top } else { 1.0 };
    let a_scale: Vec<f32> = (0..m)
        .map(|i| {
            scale(
                a[i * k..(i + 1) * k]
                    .iter()
                    .fold(0f32, |s, x| s.max(x.abs())),
                E4M3_MAX,
            )
        })
        .collect();
    let b_scale: Vec<f32> = (0..n)
        .map(|j| {
            scale(
                (0..k).fold(0f32, |s, l| s.max(b[l * n + j].abs())),
                E5M2_MAX,
            )
        })
        .collect();
    Quantized {
        a: (0..m * k)
            .map(|e| f8e4m3::from_f32(a[e] / a_scale[e / k]))
            .collect(),
        b: (0..k * n)
            .map(|e| f8e5m2::from_f32(b[e] / b_scale[e % n]))
            .collect(),
        a_scale,
        b_scale,
    }
}

/// Runs [`fp8_matmul`] on `device`.
pub fn matmul(
    device: &Device,
    q: &Quantized,
    m: usize,
    n: usize,
    k: usize,
) -> Result<Vec<f32>, Error> {
    let (a, b) = (device.upload(&q.a)?, device.upload(&q.b)?);
    let (sa, sb) = (device.upload(&q.a_scale)?, device.upload(&q.b_scale)?);
    let c = device.zeros::<f32>(m * n)?;
    let (block_m, block_n, block_k) = (16, 16, 32);
    let grid = (m.div_ceil(16) as u32, n.div_ceil(16) as u32);
    let dim = |x: usize| i32::try_from(x).expect("fits i32");
    fp8_matmul::launch(
        device,
        grid,
        &a,
        &b,
        &sa,
        &sb,
        &c,
        dim(m),
        dim(n),
        dim(k),
        block_m,
        block_n,
        block_k,
    )?;
    Ok(c.to_vec()?)
}

/// Checks the matmul on `device` against plain Rust and, when given, bit for bit against
/// `reference` (another device's output) on the CPU devices: a GPU's tensor cores add the
/// products in their own order, so its output is held to the plain-Rust bound alone. Returns
/// the output.
pub fn check(device: &Device, reference: Option<&[f32]>) -> Result<Vec<f32>, String> {
    let (m, n, k) = (37, 45, 70);
    let a: Vec<f32> = (0..m * k)
        .map(|i| ((i * 7919) % 997) as f32 / 97.0 - 5.0)
        .collect();
    let b: Vec<f32> = (0..k * n)
        .map(|i| ((i * 104_729) % 991) as f32 / 331.0 - 1.5)
        .collect();
    let q = quantize(&a, &b, m, n, k);
    let out = matmul(device, &q, m, n, k).map_err(|e| e.to_string())?;
    let (mut worst, mut scale) = (0f64, 0f64);
    for i in 0..m {
        for j in 0..n {
            let terms = (0..k)
                .map(|l| f64::from(q.a[i * k + l].to_f32()) * f64::from(q.b[l * n + j].to_f32()));
            let (sum, mag) = terms.fold((0.0, 0.0), |(s, g), t| (s + t, g + t.abs()));
            let s = f64::from(q.a_scale[i]) * f64::from(q.b_scale[j]);
            let want = sum * s;
            let got = f64::from(out[i * n + j]);
            // The f32 sum of k products, then two f32 multiplications.
            let tol = (mag * s) * (k as f64 + 3.0) * f64::from(f32::EPSILON);
            if (got - want).abs() > tol {
                return Err(format!(
                    "{device}: c[{i}, {j}] is {got}, plain Rust gives {want} (tolerance {tol})"
                ));
            }
            let exact: f64 = (0..k)
                .map(|l| f64::from(a[i * k + l]) * f64::from(b[l * n + j]))
                .sum();
            worst = worst.max((got - exact).abs());
            scale = scale.max(exact.abs());
        }
    }
    if let Some(r) = reference.filter(|_| !device.backend().is_gpu()) {
        if let Some(e) = r
            .iter()
            .zip(&out)
            .position(|(x, y)| x.to_bits() != y.to_bits())
        {
            return Err(format!(
                "{device}: element {e} is {}, the reference device gives {}",
                out[e], r[e]
            ));
        }
    }
    println!("{device}: fp8 matmul {m}x{n}x{k}: largest error against f32 {worst:.4} (largest |c| {scale:.1})");
    Ok(out)
}

// Each test binary that includes several examples loads this module once per example.
#[allow(clippy::duplicate_mod)]
#[path = "../common/devices.rs"]
mod devices;

#[allow(dead_code)] // `tests/triton_examples.rs` includes this file for `check`.
fn main() -> Result<(), String> {
    devices::check_on_every_device(check)
}
