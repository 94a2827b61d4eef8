//! Triton's tutorial 05, layer normalization, ported to the DSL: the fused forward kernel
//! (one program per row; the row's mean and `rstd = 1 / sqrt(var + eps)` stored for the
//! backward pass), the backward kernel that computes `dX` and accumulates partial `dW`/`dB`
//! sums into `GROUP_SIZE_M` buffers, each guarded by a spin lock (`atomic_cas` in a runtime
//! `while`, released with `atomic_xchg`, a count telling the first writer not to accumulate),
//! and the kernel that reduces those buffers to the final `dW` and `dB`.
//!
//! What differs from the tutorial: everything is `f32` (the tutorial runs `f16` and keeps the
//! partial sums in `f16`, hence its one-decimal tolerance on `dW`/`dB`), so the checks are
//! tight; loads and stores are written as pointer arithmetic with masks, as in Triton; and the
//! `tl.debug_barrier()` the tutorial puts before the releasing `atomic_xchg` is not needed:
//! the GPU backend puts a barrier before every `atomic_cas`/`atomic_xchg` itself.
//!
//! `cargo run --example layer_norm` runs it on the interpreter, the CPU (and CUDA when a driver
//! is present) and checks `y`, the stored mean and `rstd`, `dX`, `dW` and `dB` against plain
//! Rust in `f64`, and each device against the interpreter's results.

use bitmat::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// `y = (x - mean) * rstd * w + b` for row `program_id(0)` of `x` (`n` columns, rows `stride`
/// apart), in blocks of `block_size` columns; stores the row's mean and `rstd`.
#[bitkernel]
#[allow(clippy::too_many_arguments)]
pub fn layer_norm_fwd_fused(
    x_ptr: Ptr<f32>,
    y_ptr: Ptr<f32>,
    w_ptr: Ptr<f32>,
    b_ptr: Ptr<f32>,
    mean_ptr: Ptr<f32>,
    rstd_ptr: Ptr<f32>,
    stride: i32,
    n: i32,
    eps: f32,
    #[constexpr] block_size: i32,
) {
    let row = program_id(0);
    let x_row = x_ptr + row * stride;
    let y_row = y_ptr + row * stride;
    // The mean.
    let mut sum = zeros::<f32>([block_size]);
    for off in range(0, n, block_size) {
        let cols = off + arange(block_size);
        sum = sum + load(x_row + cols, cols < n, 0.0);
    }
    let mean = sum.sum(0) / (n as f32);
    // The variance.
    let mut sum_sq = zeros::<f32>([block_size]);
    for off in range(0, n, block_size) {
        let cols = off + arange(block_size);
        let x = load(x_row + cols, cols < n, 0.0);
        let x = select(cols < n, x - mean, 0.0);
        sum_sq = sum_sq + x * x;
    }
    let var = sum_sq.sum(0) / (n as f32);
    let rstd = 1.0 / (var + eps).sqrt();
    store(mean_ptr + row, mean);
    store(rstd_ptr + row, rstd);
    // Normalize and apply the linear transformation.
    for off in range(0, n, block_size) {
        let cols = off + arange(block_size);
        let mask = cols < n;
        let w = load(w_ptr + cols, mask, 0.0);
        let b = load(b_ptr + cols, mask, 0.0);
        let x = load(x_row + cols, mask, 0.0);
        let x_hat = (x - mean) * rstd;
        store(y_row + cols, x_hat * w + b, mask);
    }
}

/// `dX` of row `program_id(0)` (the whole row in one block of `block_size_n >= n` columns),
/// and the row's `dy * x_hat` and `dy` added into partial-sum buffer `row % group_size_m` of
/// `dw_ptr`/`db_ptr` (`group_size_m` rows of `n`) under that buffer's lock: `lock_ptr` holds
/// `group_size_m` locks, then `group_size_m` counts, all zero before the launch.
#[bitkernel]
#[allow(clippy::too_many_arguments)]
pub fn layer_norm_bwd_dx_fused(
    dx_ptr: Ptr<f32>,
    dy_ptr: Ptr<f32>,
    dw_ptr: Ptr<f32>,
    db_ptr: Ptr<f32>,
    x_ptr: Ptr<f32>,
    w_ptr: Ptr<f32>,
    mean_ptr: Ptr<f32>,
    rstd_ptr: Ptr<f32>,
    lock_ptr: Ptr<i32>,
    stride: i32,
    n: i32,
    #[constexpr] group_size_m: i32,
    #[constexpr] block_size_n: i32,
) {
    let row = program_id(0);
    let cols = arange(block_size_n);
    let mask = cols < n;
    let x_row = x_ptr + row * stride;
    let dy_row = dy_ptr + row * stride;
    let dx_row = dx_ptr + row * stride;
    // This row's partial-sum buffer, its lock and its count.
    let lock_id = row % group_size_m;
    let lock = lock_ptr + lock_id;
    let count = lock + group_size_m;
    let dw = dw_ptr + lock_id * n + cols;
    let db = db_ptr + lock_id * n + cols;
    let x = load(x_row + cols, mask, 0.0);
    let dy = load(dy_row + cols, mask, 0.0);
    let w = load(w_ptr + cols, mask, 0.0);
    let mean = load(mean_ptr + row);
    let rstd = load(rstd_ptr + row);
    // dx.
    let x_hat = select(mask, (x - mean) * rstd, 0.0);
    let wdy = select(mask, w * dy, 0.0);
    let c1 = (x_hat * wdy).sum(0) / (n as f32);
    let c2 = wdy.sum(0) / (n as f32);
    let dx = (wdy - (x_hat * c1 + c2)) * rstd;
    store(dx_row + cols, dx, mask);
    // Accumulate the partial sums under the lock.
    let mut partial_dw = dy * x_hat;
    let mut partial_db = dy;
    while atomic_cas(lock, 0, 1) == 1 {}
    if load(count) == 0 {
        // The first store does not accumulate.
        atomic_xchg(count, 1);
    } else {
        partial_dw = partial_dw + load(dw, mask, 0.0);
        partial_db = partial_db + load(db, mask, 0.0);
    }
    store(dw, partial_dw, mask);
    store(db, partial_db, mask);
    atomic_xchg(lock, 0);
}

/// Column block `program_id(0)` of the sums over the `m` rows of the partial-sum buffers
/// `dw_ptr`/`db_ptr` (`n` columns), into `final_dw`/`final_db`.
#[bitkernel]
#[allow(clippy::too_many_arguments)]
pub fn layer_norm_bwd_dwdb(
    dw_ptr: Ptr<f32>,
    db_ptr: Ptr<f32>,
    final_dw: Ptr<f32>,
    final_db: Ptr<f32>,
    m: i32,
    n: i32,
    #[constexpr] block_size_m: i32,
    #[constexpr] block_size_n: i32,
) {
    let cols = program_id(0) * block_size_n + arange(block_size_n);
    let mut dw = zeros::<f32>([block_size_m, block_size_n]);
    let mut db = zeros::<f32>([block_size_m, block_size_n]);
    for i in range(0, m, block_size_m) {
        let rows = i + arange(block_size_m);
        let mask = (rows.unsqueeze(1) < m) & (cols.unsqueeze(0) < n);
        let offs = rows.unsqueeze(1) * n + cols.unsqueeze(0);
        dw = dw + load(dw_ptr + offs, mask, 0.0);
        db = db + load(db_ptr + offs, mask, 0.0);
    }
    store(final_dw + cols, dw.sum(0), cols < n);
    store(final_db + cols, db.sum(0), cols < n);
}

/// The forward pass's results: `y` (`[m, n]`), and per row the mean and `rstd`.
#[derive(Clone, Debug)]
pub struct Forward {
    /// The normalized, scaled and shifted rows.
    pub y: Vec<f32>,
    /// Each row's mean.
    pub mean: Vec<f32>,
    /// Each row's `1 / sqrt(var + eps)`.
    pub rstd: Vec<f32>,
}

/// The backward pass's results.
#[derive(Clone, Debug)]
pub struct Backward {
    /// The gradient of the input (`[m, n]`).
    pub dx: Vec<f32>,
    /// The gradient of the weight (`[n]`).
    pub dw: Vec<f32>,
    /// The gradient of the bias (`[n]`).
    pub db: Vec<f32>,
}

/// The smallest power of two `>= n` (at least 1), as the block a row fits in.
fn block_for(n: usize) -> i32 {
    i32::try_from(n.next_power_of_two()).expect("a block of at most 2^30 columns")
}

/// Layer norm of the `m` rows of `x` (`n` columns) with weight `w` and bias `b` on `device`.
pub fn layer_norm(
    device: &Device,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    m: usize,
    eps: f32,
) -> Result<Forward, Error> {
    let n = w.len();
    let (xb, wb, bb) = (device.upload(x)?, device.upload(w)?, device.upload(b)?);
    let y = device.zeros::<f32>(m * n)?;
    let (mean, rstd) = (device.zeros::<f32>(m)?, device.zeros::<f32>(m)?);
    // The tutorial's block: the row's power of two, at most 64 KiB of elements.
    let block = block_for(n).min(65536 / 4);
    let n = n as i32;
    layer_norm_fwd_fused::launch(
        device, m as u32, &xb, &y, &wb, &bb, &mean, &rstd, n, n, eps, block,
    )?;
    Ok(Forward {
        y: y.to_vec()?,
        mean: mean.to_vec()?,
        rstd: rstd.to_vec()?,
    })
}

/// The gradients of [`layer_norm`] for the output gradient `dy`, from its saved `mean` and
/// `rstd`; `dW`/`dB` are reduced through `group_size_m` locked partial-sum buffers.
pub fn layer_norm_backward(
    device: &Device,
    dy: &[f32],
    x: &[f32],
    w: &[f32],
    forward: &Forward,
    group_size_m: i32,
) -> Result<Backward, Error> {
    let (m, n) = (forward.mean.len(), w.len());
    let groups = group_size_m as usize;
    let (dyb, xb, wb) = (device.upload(dy)?, device.upload(x)?, device.upload(w)?);
    let (mean, rstd) = (device.upload(&forward.mean)?, device.upload(&forward.rstd)?);
    let locks = device.zeros::<i32>(2 * groups)?;
    let (partial_dw, partial_db) = (
        device.zeros::<f32>(groups * n)?,
        device.zeros::<f32>(groups * n)?,
    );
    let dx = device.zeros::<f32>(m * n)?;
    let (dw, db) = (device.zeros::<f32>(n)?, device.zeros::<f32>(n)?);
    let ni = n as i32;
    layer_norm_bwd_dx_fused::launch(
        device,
        m as u32,
        &dx,
        &dyb,
        &partial_dw,
        &partial_db,
        &xb,
        &wb,
        &mean,
        &rstd,
        &locks,
        ni,
        ni,
        group_size_m,
        block_for(n),
    )?;
    // The tutorial's blocks: 32 rows of 128 columns.
    let (block_m, block_n) = (32, 128);
    layer_norm_bwd_dwdb::launch(
        device,
        n.div_ceil(block_n as usize) as u32,
        &partial_dw,
        &partial_db,
        &dw,
        &db,
        group_size_m.min(m as i32),
        ni,
        block_m,
        block_n,
    )?;
    Ok(Backward {
        dx: dx.to_vec()?,
        dw: dw.to_vec()?,
        db: db.to_vec()?,
    })
}

/// Plain-Rust layer norm and its gradients in `f64`: `(y, mean, rstd, dx, dw, db)`.
#[allow(clippy::type_complexity)]
fn plain_rust(
    x: &[f32],
    w: &[f32],
    b: &[f32],
    dy: &[f32],
    eps: f32,
) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let n = w.len();
    let m = x.len() / n;
    let (mut y, mut mean, mut rstd, mut dx) = (vec![0.0; m * n], vec![], vec![], vec![0.0; m * n]);
    let (mut dw, mut db) = (vec![0.0; n], vec![0.0; n]);
    for r in 0..m {
        let row: Vec<f64> = x[r * n..(r + 1) * n].iter().map(|&v| v.into()).collect();
        let mu = row.iter().sum::<f64>() / n as f64;
        let var = row.iter().map(|v| (v - mu) * (v - mu)).sum::<f64>() / n as f64;
        let rs = 1.0 / (var + f64::from(eps)).sqrt();
        let x_hat: Vec<f64> = row.iter().map(|v| (v - mu) * rs).collect();
        let dyr: Vec<f64> = dy[r * n..(r + 1) * n].iter().map(|&v| v.into()).collect();
        let wdy: Vec<f64> = (0..n).map(|c| f64::from(w[c]) * dyr[c]).collect();
        let c1 = (0..n).map(|c| x_hat[c] * wdy[c]).sum::<f64>() / n as f64;
        let c2 = wdy.iter().sum::<f64>() / n as f64;
        for c in 0..n {
            y[r * n + c] = x_hat[c] * f64::from(w[c]) + f64::from(b[c]);
            dx[r * n + c] = (wdy[c] - (x_hat[c] * c1 + c2)) * rs;
            dw[c] += dyr[c] * x_hat[c];
            db[c] += dyr[c];
        }
        mean.push(mu);
        rstd.push(rs);
    }
    (y, mean, rstd, dx, dw, db)
}

/// Every element of `got` within `tol * (1 + |want|)` of `want`.
fn close<T: Copy + Into<f64>>(
    device: &Device,
    what: &str,
    got: &[f32],
    want: &[T],
    tol: f64,
) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!(
            "{device}: {what} has {} elements, not {}",
            got.len(),
            want.len()
        ));
    }
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let w: f64 = w.into();
        if (f64::from(g) - w).abs() > tol * (1.0 + w.abs()) || g.is_nan() {
            return Err(format!(
                "{device}: {what}[{i}] is {g}, not {w} (within {tol})"
            ));
        }
    }
    Ok(())
}

/// Checks the forward and backward passes on `device` against plain Rust in `f64` and, when
/// given, against `reference` (another device's results for the same inputs); returns them.
///
/// Tolerances, relative to `1 + |expected|`: `1e-5` for the mean, `1e-4` for `rstd`, `y`, `dX`
/// (single rows of 300 in `f32`) and `dW`/`dB` (sums over 77 rows, added in an order that the
/// lock leaves to the scheduler); `1e-5` between two devices' `y` and `dX`, `1e-4` for `dW`/`dB`.
pub fn check(
    device: &Device,
    reference: Option<&(Forward, Backward)>,
) -> Result<(Forward, Backward), String> {
    // Ragged: rows of 300 columns in blocks of 512, and 77 rows over 8 partial-sum buffers
    // (9 or 10 programs meet at each lock); `dW`/`dB` reduced in blocks of 128 columns.
    let (m, n, eps, groups) = (77, 300, 1e-5f32, 8);
    let mut r = StdRng::seed_from_u64(5);
    let w: Vec<f32> = (0..n).map(|_| r.gen_range(0.0..1.0)).collect();
    let b: Vec<f32> = (0..n).map(|_| r.gen_range(0.0..1.0)).collect();
    let x: Vec<f32> = (0..m * n).map(|_| -2.3 + r.gen_range(-1.0..1.0)).collect();
    let dy: Vec<f32> = (0..m * n)
        .map(|_| 0.1 * r.gen_range(-1.0f32..1.0))
        .collect();
    let err = |e: Error| format!("{device}: {e}");
    let fwd = layer_norm(device, &x, &w, &b, m, eps).map_err(err)?;
    let bwd = layer_norm_backward(device, &dy, &x, &w, &fwd, groups).map_err(err)?;
    let (y, mean, rstd, dx, dw, db) = plain_rust(&x, &w, &b, &dy, eps);
    close(device, "mean", &fwd.mean, &mean, 1e-5)?;
    close(device, "rstd", &fwd.rstd, &rstd, 1e-4)?;
    close(device, "y", &fwd.y, &y, 1e-4)?;
    close(device, "dx", &bwd.dx, &dx, 1e-4)?;
    close(device, "dw", &bwd.dw, &dw, 1e-4)?;
    close(device, "db", &bwd.db, &db, 1e-4)?;
    if let Some((rf, rb)) = reference {
        let against = |what: &str, got: &[f32], want: &[f32], tol| {
            close(
                device,
                &format!("{what} (against the reference device)"),
                got,
                want,
                tol,
            )
        };
        against("y", &fwd.y, &rf.y, 1e-5)?;
        against("dx", &bwd.dx, &rb.dx, 1e-5)?;
        against("dw", &bwd.dw, &rb.dw, 1e-4)?;
        against("db", &bwd.db, &rb.db, 1e-4)?;
    }
    println!("{device}: layer norm of {m}x{n}, forward and backward (dX, dW, dB) match");
    Ok((fwd, bwd))
}

// Each test binary that includes several examples loads this module once per example.
#[allow(clippy::duplicate_mod)]
#[path = "../common/devices.rs"]
mod devices;

#[allow(dead_code)] // `tests/triton_examples.rs` and `tests/ptx.rs` include this file.
fn main() -> Result<(), String> {
    devices::check_on_every_device(check)
}
