//! Triton's tutorial 08, grouped GEMM, ported to the DSL: one persistent kernel of `num_sm`
//! programs computes a list of `f16` matrix products `C_g = A_g B_g` of different sizes
//! (`f32` accumulation, `f16` output). The tiles of all the problems form one sequence; program
//! `p` takes tiles `p`, `p + num_sm`, ...: a runtime `for` over the problems, and inside it a
//! runtime `while` that carries the tile index from problem to problem, as in the tutorial.
//!
//! What differs from the tutorial: it passes device arrays of pointers (`group_a_ptrs`, ...,
//! each element cast with `.to(tl.pointer_type(tl.float16))`). The DSL has no pointers stored
//! in memory and no integer-to-pointer cast: a `Ptr<T>` is a kernel argument bound to one
//! buffer, which is also what lets a safe launch check every access against that buffer's
//! length. So, as Triton users do where they cannot pass pointer arrays (MoE kernels with
//! per-expert offsets, for one), all the `A` matrices sit in one packed buffer, all the `B` in
//! another and all the `C` in a third, and a table gives each problem's element offsets into
//! them beside the tutorial's sizes and leading dimensions. Loads and stores are masked, so
//! sizes need not be multiples of the blocks (the tutorial assumes whole tiles).
//!
//! `cargo run --example grouped_gemm` runs it on the interpreter, the CPU (and CUDA when a
//! driver is present) and checks every problem's `C` against plain Rust in `f64`, and each
//! device against the interpreter.

use bitmat::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// `C_g = A_g B_g` for the `group_size` problems: row `g` of `group_offsets` (`[group_size,
/// 3]`) holds the element offsets of `A_g`, `B_g` and `C_g` in `a_ptr`, `b_ptr` and `c_ptr`,
/// row `g` of `group_gemm_sizes` its `M, N, K`, row `g` of `g_lds` the leading dimensions
/// `lda, ldb, ldc` (row-major matrices). Launched on `num_sm` programs.
#[bitkernel]
#[allow(clippy::too_many_arguments)]
pub fn grouped_matmul_kernel(
    a_ptr: Ptr<f16>,
    b_ptr: Ptr<f16>,
    c_ptr: Ptr<f16>,
    group_offsets: Ptr<i32>,
    group_gemm_sizes: Ptr<i32>,
    g_lds: Ptr<i32>,
    group_size: i32,
    #[constexpr] num_sm: i32,
    #[constexpr] block_size_m: i32,
    #[constexpr] block_size_n: i32,
    #[constexpr] block_size_k: i32,
) {
    let mut tile_idx = program_id(0);
    let mut last_problem_end = full([], 0i32);
    for g in range(0, group_size, 1) {
        // The size of problem `g`.
        let gm = load(group_gemm_sizes + g * 3);
        let gn = load(group_gemm_sizes + g * 3 + 1);
        let gk = load(group_gemm_sizes + g * 3 + 2);
        let num_m_tiles = cdiv(gm, block_size_m);
        let num_n_tiles = cdiv(gn, block_size_n);
        let num_tiles = num_m_tiles * num_n_tiles;
        // This program's tiles of problem `g`.
        while (tile_idx >= last_problem_end) & (tile_idx < last_problem_end + num_tiles) {
            let lda = load(g_lds + g * 3);
            let ldb = load(g_lds + g * 3 + 1);
            let ldc = load(g_lds + g * 3 + 2);
            let a = a_ptr + load(group_offsets + g * 3);
            let b = b_ptr + load(group_offsets + g * 3 + 1);
            let c = c_ptr + load(group_offsets + g * 3 + 2);
            // The tile's coordinates.
            let tile_idx_in_gemm = tile_idx - last_problem_end;
            let tile_m_idx = tile_idx_in_gemm / num_n_tiles;
            let tile_n_idx = tile_idx_in_gemm % num_n_tiles;
            // A regular matmul of the tile.
            let offs_am = tile_m_idx * block_size_m + arange(block_size_m);
            let offs_bn = tile_n_idx * block_size_n + arange(block_size_n);
            let offs_k = arange(block_size_k);
            let mut accumulator = zeros::<f32>([block_size_m, block_size_n]);
            for k0 in range(0, gk, block_size_k) {
                let kk = k0 + offs_k;
                let a_mask = (offs_am.unsqueeze(1) < gm) & (kk.unsqueeze(0) < gk);
                let b_mask = (kk.unsqueeze(1) < gk) & (offs_bn.unsqueeze(0) < gn);
                let av = load(
                    a + offs_am.unsqueeze(1) * lda + kk.unsqueeze(0),
                    a_mask,
                    0.0,
                );
                let bv = load(
                    b + kk.unsqueeze(1) * ldb + offs_bn.unsqueeze(0),
                    b_mask,
                    0.0,
                );
                accumulator = dot(av, bv, accumulator);
            }
            let c_mask = (offs_am.unsqueeze(1) < gm) & (offs_bn.unsqueeze(0) < gn);
            store(
                c + offs_am.unsqueeze(1) * ldc + offs_bn.unsqueeze(0),
                accumulator as f16,
                c_mask,
            );
            // The next tile, `num_sm` further on.
            tile_idx = tile_idx + num_sm;
        }
        last_problem_end = last_problem_end + num_tiles;
    }
}

/// One problem: `a` is `[m, k]`, `b` is `[k, n]`, both row-major.
#[derive(Clone, Debug)]
pub struct Gemm {
    /// Rows of `A` and `C`.
    pub m: usize,
    /// Columns of `B` and `C`.
    pub n: usize,
    /// Columns of `A`, rows of `B`.
    pub k: usize,
    /// `A`, `[m, k]`.
    pub a: Vec<f16>,
    /// `B`, `[k, n]`.
    pub b: Vec<f16>,
}

/// Every problem's `C = A B` (`[m, n]`, row-major) on `device`, in one launch of `num_sm`
/// programs with tiles of 32x32 and steps of 16 along K.
pub fn grouped_gemm(
    device: &Device,
    problems: &[Gemm],
    num_sm: i32,
) -> Result<Vec<Vec<f16>>, Error> {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let (mut offsets, mut sizes, mut lds) = (Vec::new(), Vec::new(), Vec::new());
    let mut c_len = 0;
    for p in problems {
        let i = |x: usize| i32::try_from(x).expect("offsets fit i32");
        offsets.extend([i(a.len()), i(b.len()), i(c_len)]);
        sizes.extend([i(p.m), i(p.n), i(p.k)]);
        lds.extend([i(p.k), i(p.n), i(p.n)]);
        a.extend_from_slice(&p.a);
        b.extend_from_slice(&p.b);
        c_len += p.m * p.n;
    }
    let (ab, bb) = (device.upload(&a)?, device.upload(&b)?);
    let c = device.zeros::<f16>(c_len)?;
    let (ob, sb, lb) = (
        device.upload(&offsets)?,
        device.upload(&sizes)?,
        device.upload(&lds)?,
    );
    grouped_matmul_kernel::launch(
        device,
        num_sm as u32,
        &ab,
        &bb,
        &c,
        &ob,
        &sb,
        &lb,
        problems.len() as i32,
        num_sm,
        32,
        32,
        16,
    )?;
    let c = c.to_vec()?;
    let mut at = 0;
    Ok(problems
        .iter()
        .map(|p| {
            at += p.m * p.n;
            c[at - p.m * p.n..at].to_vec()
        })
        .collect())
}

/// Plain-Rust `A B` in `f64`.
fn plain_rust(p: &Gemm) -> Vec<f64> {
    let f = |x: f16| f64::from(x.to_f32());
    let mut c = vec![0.0; p.m * p.n];
    for i in 0..p.m {
        for j in 0..p.n {
            c[i * p.n + j] = (0..p.k)
                .map(|l| f(p.a[i * p.k + l]) * f(p.b[l * p.n + j]))
                .sum();
        }
    }
    c
}

/// Checks a grouped GEMM of four ragged problems on `device` (four programs, so each takes
/// tiles of several problems) against plain Rust in `f64` and, when given, against
/// `reference` (another device's results for the same inputs); returns every problem's `C`.
///
/// Tolerance: within `1e-3 * (1 + |expected|)`, the rounding of the `f32` sum to `f16`
/// (`2^-11` relative); the same between two devices.
pub fn check(device: &Device, reference: Option<&[Vec<f16>]>) -> Result<Vec<Vec<f16>>, String> {
    let mut r = StdRng::seed_from_u64(8);
    // Tiles of 32x32: 2x2, 1x1, 3x1 and 1x3 of them; K ragged against its step of 16.
    let problems: Vec<Gemm> = [(37, 50, 45), (16, 16, 16), (70, 20, 33), (5, 90, 64)]
        .into_iter()
        .map(|(m, n, k)| {
            let mut random = |len| -> Vec<f16> {
                (0..len)
                    .map(|_| f16::from_f32(r.gen_range(0.0..1.0)))
                    .collect()
            };
            let (a, b) = (random(m * k), random(k * n));
            Gemm { m, n, k, a, b }
        })
        .collect();
    let got = grouped_gemm(device, &problems, 4).map_err(|e| format!("{device}: {e}"))?;
    for (g, (p, c)) in problems.iter().zip(&got).enumerate() {
        let want = plain_rust(p);
        let other = reference.and_then(|r| r.get(g));
        if other.is_some_and(|o| o.len() != c.len()) {
            return Err(format!(
                "{device}: problem {g}: the reference has another size"
            ));
        }
        for (i, &x) in c.iter().enumerate() {
            let x = f64::from(x.to_f32());
            let tol = 1e-3 * (1.0 + want[i].abs());
            if (x - want[i]).abs() > tol || x.is_nan() {
                return Err(format!(
                    "{device}: problem {g} ({}x{}x{}): C[{i}] is {x}, not {}",
                    p.m, p.n, p.k, want[i]
                ));
            }
            if let Some(o) = other.map(|o| f64::from(o[i].to_f32())) {
                if (x - o).abs() > tol {
                    return Err(format!(
                        "{device}: problem {g}: C[{i}] is {x}, the reference device's {o}"
                    ));
                }
            }
        }
    }
    println!(
        "{device}: grouped GEMM of {} problems on 4 programs matches",
        problems.len()
    );
    Ok(got)
}

// Each test binary that includes several examples loads this module once per example.
#[allow(clippy::duplicate_mod)]
#[path = "../common/devices.rs"]
mod devices;

#[allow(dead_code)] // `tests/triton_examples.rs` and `tests/ptx.rs` include this file.
fn main() -> Result<(), String> {
    devices::check_on_every_device(check)
}
