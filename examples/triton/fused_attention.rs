//! Triton's tutorial 06, fused attention (Flash Attention v2), forward pass, ported to the DSL:
//! one program per block of `block_m` query rows of one (batch, head), walking the keys and
//! values in blocks of `block_n` with the online softmax in base 2 (`exp2` of scores scaled
//! by `sm_scale * log2(e)`, a running row maximum `m_i` and row sum `l_i` that rescale the
//! `f32` accumulator), `f16` inputs and `f16` probabilities into the `P·V` `dot`; it stores the
//! output in `f16` and each row's `m_i + log2(l_i)` (the log-sum-exp in base 2, what the
//! tutorial's backward pass reads). Causal attention runs the tutorial's two stages: the blocks
//! left of the diagonal without a mask, then the diagonal block with `rows >= columns`.
//!
//! What differs from the tutorial: pointers are offsets with masks instead of block pointers
//! (`tl.make_block_ptr`/`tl.advance`), so the sequence length need not be a multiple of the
//! blocks: rows past it load zeros and are not stored, and in non-causal attention columns
//! past it get the same `-1.0e6` the causal mask adds (the tutorial requires whole blocks);
//! the stage is a constexpr (`3` causal, `1` not) as in the tutorial's TMA variant; no
//! autotuning, no fp8 `V`, no TMA descriptors.
//!
//! `cargo run --example fused_attention` runs it on the interpreter, the CPU (and CUDA when a
//! driver is present), causal and not, and checks the output against plain Rust
//! `softmax(Q Kᵀ * sm_scale) V` in `f64` and the stored log-sum-exp, and each device against
//! the interpreter.

use bitmat::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The inner loop over key/value blocks `[lo, hi)` for one stage (`1`: left of the diagonal,
/// unmasked; `2`: the diagonal block, causally masked; `3`: every block, masked to `n_ctx`
/// columns); returns the updated `(acc, l_i, m_i)`.
#[bitkernel(inline)]
#[allow(clippy::too_many_arguments)]
fn attn_fwd_inner(
    mut acc: Tile,
    mut l_i: Tile,
    mut m_i: Tile,
    q: Tile,
    k_ptrs: Tile,
    v_ptrs: Tile,
    stride_kn: Tile,
    stride_vk: Tile,
    start_m: Tile,
    qk_scale: Tile,
    offs_m: Tile,
    offs_n: Tile,
    n_ctx: Tile,
    block_m: i32,
    stage: i32,
    block_n: i32,
) -> (Tile, Tile, Tile) {
    let (lo, hi) = match stage {
        1 => (full([], 0i32), start_m * block_m),
        2 => (start_m * block_m, (start_m + 1) * block_m),
        _ => (full([], 0i32), n_ctx),
    };
    for start_n in range(lo, hi, block_n) {
        let cols = start_n + offs_n;
        let in_ctx = cols < n_ctx;
        // -- qk --
        let k = load(k_ptrs + start_n * stride_kn, in_ctx.unsqueeze(0), 0.0);
        let qk = dot(q, k);
        // (A `match`, not an `if`: an `if` in a kernel yields at most one tile.)
        let (qk, m_ij) = match stage {
            1 => {
                let m_ij = maximum(m_i, qk.max(1) * qk_scale);
                (qk * qk_scale - m_ij.unsqueeze(1), m_ij)
            }
            _ => {
                let keep = match stage {
                    2 => offs_m.unsqueeze(1) >= cols.unsqueeze(0),
                    _ => in_ctx.unsqueeze(0),
                };
                let qk = qk * qk_scale + select(keep, 0.0, -1.0e6);
                let m_ij = maximum(m_i, qk.max(1));
                (qk - m_ij.unsqueeze(1), m_ij)
            }
        };
        let p = qk.exp2();
        let l_ij = p.sum(1);
        // -- update m_i, l_i and the accumulator --
        let alpha = (m_i - m_ij).exp2();
        l_i = l_i * alpha + l_ij;
        acc *= alpha.unsqueeze(1);
        let v = load(v_ptrs + start_n * stride_vk, in_ctx.unsqueeze(1), 0.0);
        acc = dot(p as f16, v, acc);
        m_i = m_ij;
    }
    (acc, l_i, m_i)
}

/// Attention of query block `program_id(0)` of (batch, head) `program_id(1)` (`z * h` of
/// them): `out = softmax(q kᵀ * sm_scale) v` over `n_ctx` positions of `head_dim`, and each
/// row's log-sum-exp in base 2 into `m_ptr` (`[z * h, n_ctx]`); `stage` 3 is causal, 1 not.
#[bitkernel]
#[allow(clippy::too_many_arguments)]
pub fn attn_fwd(
    q_ptr: Ptr<f16>,
    k_ptr: Ptr<f16>,
    v_ptr: Ptr<f16>,
    sm_scale: f32,
    m_ptr: Ptr<f32>,
    out_ptr: Ptr<f16>,
    stride_qz: i32,
    stride_qh: i32,
    stride_qm: i32,
    stride_qk: i32,
    stride_kz: i32,
    stride_kh: i32,
    stride_kn: i32,
    stride_kk: i32,
    stride_vz: i32,
    stride_vh: i32,
    stride_vk: i32,
    stride_vn: i32,
    stride_oz: i32,
    stride_oh: i32,
    stride_om: i32,
    stride_on: i32,
    h: i32,
    n_ctx: i32,
    #[constexpr] head_dim: i32,
    #[constexpr] block_m: i32,
    #[constexpr] block_n: i32,
    #[constexpr] stage: i32,
) {
    static_assert(block_n <= head_dim, "block_n must not exceed head_dim");
    static_assert(
        stage == 1 || stage == 3,
        "stage is 3 (causal) or 1 (not causal)",
    );
    let start_m = program_id(0);
    let off_hz = program_id(1);
    let off_z = off_hz / h;
    let off_h = off_hz % h;
    let offs_m = start_m * block_m + arange(block_m);
    let offs_n = arange(block_n);
    let offs_d = arange(head_dim);
    let rows = (offs_m.unsqueeze(1) < n_ctx) & (offs_d.unsqueeze(0) < head_dim);
    let q_ptrs = q_ptr
        + off_z * stride_qz
        + off_h * stride_qh
        + offs_m.unsqueeze(1) * stride_qm
        + offs_d.unsqueeze(0) * stride_qk;
    // K as `[head_dim, block_n]` (the tutorial's block pointer of order (0, 1)), V as
    // `[block_n, head_dim]`, at key block 0.
    let k_ptrs = k_ptr
        + off_z * stride_kz
        + off_h * stride_kh
        + offs_d.unsqueeze(1) * stride_kk
        + offs_n.unsqueeze(0) * stride_kn;
    let v_ptrs = v_ptr
        + off_z * stride_vz
        + off_h * stride_vh
        + offs_n.unsqueeze(1) * stride_vk
        + offs_d.unsqueeze(0) * stride_vn;
    let mut m_i = full([block_m], f32::NEG_INFINITY);
    let mut l_i = full([block_m], 1.0f32);
    let mut acc = zeros::<f32>([block_m, head_dim]);
    let qk_scale = sm_scale * 1.44269504; // 1 / ln(2)
                                          // q stays in registers throughout.
    let q = load(q_ptrs, rows, 0.0);
    // Causal: off-band blocks, then the diagonal block; otherwise every block.
    let stages: &[i32] = match stage {
        3 => &[1, 2],
        _ => &[3],
    };
    for &s in stages {
        let (a, l, m) = attn_fwd_inner(
            acc, l_i, m_i, q, k_ptrs, v_ptrs, stride_kn, stride_vk, start_m, qk_scale, offs_m,
            offs_n, n_ctx, block_m, s, block_n,
        );
        acc = a;
        l_i = l;
        m_i = m;
    }
    // Epilogue.
    m_i = m_i + l_i.log2();
    acc = acc / l_i.unsqueeze(1);
    store(m_ptr + off_hz * n_ctx + offs_m, m_i, offs_m < n_ctx);
    let o_ptrs = out_ptr
        + off_z * stride_oz
        + off_h * stride_oh
        + offs_m.unsqueeze(1) * stride_om
        + offs_d.unsqueeze(0) * stride_on;
    store(o_ptrs, acc as f16, rows);
}

/// The shape of one attention problem: `z` batches of `h` heads, `n_ctx` positions of
/// `head_dim`; Q, K, V and the output are contiguous `[z, h, n_ctx, head_dim]`.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Batches.
    pub z: usize,
    /// Heads.
    pub h: usize,
    /// Sequence length.
    pub n_ctx: usize,
    /// Head dimension (a power of two).
    pub head_dim: usize,
}

/// What the forward pass returns.
#[derive(Clone, Debug)]
pub struct Attention {
    /// The output, `[z, h, n_ctx, head_dim]`.
    pub out: Vec<f16>,
    /// Each row's log-sum-exp of the scaled scores in base 2, `[z, h, n_ctx]`.
    pub lse2: Vec<f32>,
}

/// The forward pass of attention on `device`, in blocks of 16 queries and 16 keys.
pub fn attention(
    device: &Device,
    q: &[f16],
    k: &[f16],
    v: &[f16],
    s: Shape,
    causal: bool,
    sm_scale: f32,
) -> Result<Attention, Error> {
    let (qb, kb, vb) = (device.upload(q)?, device.upload(k)?, device.upload(v)?);
    let out = device.zeros::<f16>(q.len())?;
    let lse2 = device.zeros::<f32>(s.z * s.h * s.n_ctx)?;
    let (block_m, block_n) = (16, 16);
    let (d, n) = (s.head_dim as i32, s.n_ctx as i32);
    // Contiguous strides, the same for all four tensors.
    let (sz, sh, sm, sk) = ((s.h as i32) * n * d, n * d, d, 1);
    let grid = (
        s.n_ctx.div_ceil(block_m as usize) as u32,
        (s.z * s.h) as u32,
    );
    let stage = if causal { 3 } else { 1 };
    attn_fwd::launch(
        device, grid, &qb, &kb, &vb, sm_scale, &lse2, &out, sz, sh, sm, sk, sz, sh, sm, sk, sz, sh,
        sm, sk, sz, sh, sm, sk, s.h as i32, n, d, block_m, block_n, stage,
    )?;
    Ok(Attention {
        out: out.to_vec()?,
        lse2: lse2.to_vec()?,
    })
}

/// Plain-Rust attention in `f64`: the output and each row's log-sum-exp in base 2.
fn plain_rust(
    q: &[f16],
    k: &[f16],
    v: &[f16],
    s: Shape,
    causal: bool,
    sm_scale: f32,
) -> (Vec<f64>, Vec<f64>) {
    let (n, d) = (s.n_ctx, s.head_dim);
    let f = |x: &[f16], i: usize| f64::from(x[i].to_f32());
    let (mut out, mut lse2) = (vec![0.0; q.len()], vec![0.0; s.z * s.h * n]);
    for zh in 0..s.z * s.h {
        let base = zh * n * d;
        for i in 0..n {
            let keys = if causal { i + 1 } else { n };
            let scores: Vec<f64> = (0..keys)
                .map(|j| {
                    let dot: f64 = (0..d)
                        .map(|c| f(q, base + i * d + c) * f(k, base + j * d + c))
                        .sum();
                    dot * f64::from(sm_scale)
                })
                .collect();
            let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let weights: Vec<f64> = scores.iter().map(|x| (x - max).exp()).collect();
            let total: f64 = weights.iter().sum();
            for c in 0..d {
                out[base + i * d + c] = (0..keys)
                    .map(|j| weights[j] * f(v, base + j * d + c))
                    .sum::<f64>()
                    / total;
            }
            lse2[zh * n + i] = (max + total.ln()) / std::f64::consts::LN_2;
        }
    }
    (out, lse2)
}

/// Every element of `got` within `tol * (1 + |want|)` of `want`.
fn close(device: &Device, what: &str, got: &[f64], want: &[f64], tol: f64) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!(
            "{device}: {what} has {} elements, not {}",
            got.len(),
            want.len()
        ));
    }
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        if (g - w).abs() > tol * (1.0 + w.abs()) || g.is_nan() {
            return Err(format!(
                "{device}: {what}[{i}] is {g}, not {w} (within {tol})"
            ));
        }
    }
    Ok(())
}

/// Checks the forward pass on `device`, not causal and causal, against plain Rust in `f64`
/// and, when given, against `reference` (another device's results for the same inputs);
/// returns the two results.
///
/// Tolerances, relative to `1 + |expected|`: `2e-3` for the output (the probabilities are
/// rounded to `f16` for the `P·V` dot, as in the tutorial, and the output to `f16`: each
/// `2^-11` relative, on outputs below 1), also between two devices; `1e-4` for the
/// log-sum-exp (all `f32`; `exp2`/`log2` are approximate on the GPU).
pub fn check(
    device: &Device,
    reference: Option<&[Attention; 2]>,
) -> Result<[Attention; 2], String> {
    // Ragged: 45 positions in blocks of 16 (the last query and key blocks partly outside).
    let s = Shape {
        z: 2,
        h: 3,
        n_ctx: 45,
        head_dim: 32,
    };
    let sm_scale = 0.5f32;
    let len = s.z * s.h * s.n_ctx * s.head_dim;
    let mut r = StdRng::seed_from_u64(6);
    let mut random = || -> Vec<f16> {
        (0..len)
            .map(|_| f16::from_f32(r.gen_range(-1.0..1.0)))
            .collect()
    };
    let (q, k, v) = (random(), random(), random());
    let to_f64 = |x: &[f16]| -> Vec<f64> { x.iter().map(|v| f64::from(v.to_f32())).collect() };
    let mut results = Vec::new();
    for (i, causal) in [false, true].into_iter().enumerate() {
        let what = if causal { "causal" } else { "not causal" };
        let got = attention(device, &q, &k, &v, s, causal, sm_scale)
            .map_err(|e| format!("{device}: {what}: {e}"))?;
        let (out, lse2) = plain_rust(&q, &k, &v, s, causal, sm_scale);
        let got_lse2: Vec<f64> = got.lse2.iter().map(|&x| x.into()).collect();
        close(
            device,
            &format!("{what} output"),
            &to_f64(&got.out),
            &out,
            2e-3,
        )?;
        close(
            device,
            &format!("{what} log-sum-exp"),
            &got_lse2,
            &lse2,
            1e-4,
        )?;
        if let Some(r) = reference {
            close(
                device,
                &format!("{what} output (against the reference device)"),
                &to_f64(&got.out),
                &to_f64(&r[i].out),
                2e-3,
            )?;
        }
        results.push(got);
    }
    println!(
        "{device}: attention of {}x{} heads, {} positions of {}, causal and not, matches",
        s.z, s.h, s.n_ctx, s.head_dim
    );
    Ok(results.try_into().expect("two results"))
}

// Each test binary that includes several examples loads this module once per example.
#[allow(clippy::duplicate_mod)]
#[path = "../common/devices.rs"]
mod devices;

#[allow(dead_code)] // `tests/triton_examples.rs` and `tests/ptx.rs` include this file.
fn main() -> Result<(), String> {
    devices::check_on_every_device(check)
}
