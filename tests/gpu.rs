//! GPU tests: when `Device::cuda(0)` opens, every prebuilt op (through `selftest`) and the
//! IR test kernels run on the GPU and are compared with the reference interpreter on ragged
//! shapes. Without a GPU they print why and pass.
//!
//! Results must match bit for bit, except where the GPU computes in another order or with
//! hardware approximations: `exp`/`log`, f16/bf16 `dot` (see `dot_close`) and float sums of
//! `reduce` (see `reduce_close`).

mod ir_kernels;

use bitmat::ir::{DType, Kernel, ReduceOp, Scalar};
use bitmat::{bf16, f16, Buffer, Device, Element, Error, KernelArg, KernelId, LaunchOptions};

fn gpu() -> Option<Device> {
    match Device::cuda(0) {
        Ok(d) => Some(d),
        Err(e) => {
            println!("skipping GPU tests: {e}");
            None
        }
    }
}

/// Launches a hand-built kernel on `dev`, in programs of `num_warps` warps on a GPU.
fn launch(
    dev: &Device,
    k: &Kernel,
    grid: u32,
    num_warps: u32,
    args: &[KernelArg<'_>],
) -> Result<(), Error> {
    let id = KernelId {
        name: Box::leak(k.name.clone().into_boxed_str()),
        source_hash: 0,
        constexprs: vec![],
    };
    bitmat::launch_kernel(
        dev,
        &id,
        || Ok::<_, Error>(k.clone()),
        grid.into(),
        &LaunchOptions {
            num_warps,
            ..LaunchOptions::default()
        },
        args,
    )
}

/// Deterministic test data of type `T`: small non-zero values (no division by zero).
fn data<T: Element>(len: usize, seed: u64) -> Vec<T> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|i| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let r = (s >> 33) as i64 % 13 - 6;
            let v = if r == 0 { 3 } else { r };
            // Unsigned types take the magnitude (a negative value would saturate to 0).
            let v = if T::DTYPE.is_int() && !T::DTYPE.is_signed_int() {
                v.abs()
            } else {
                v
            };
            let x = if T::DTYPE.is_float() {
                v as f64 * 0.37 + (i % 5) as f64 * 0.01
            } else {
                v as f64
            };
            T::from_scalar(bitmat::ir::Scalar::from_f64(T::DTYPE, x))
        })
        .collect()
}

/// Bitwise equality, or within `tol` (relative) for floats; NaN equals NaN.
fn same<T: Element>(a: &[T], b: &[T], tol: f64) -> Result<(), String> {
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let (sx, sy) = (x.to_scalar(), y.to_scalar());
        if sx == sy {
            continue;
        }
        let (fx, fy) = (sx.as_f64(), sy.as_f64());
        if T::DTYPE.is_float()
            && ((fx.is_nan() && fy.is_nan()) || (fx - fy).abs() <= tol * fy.abs().max(1e-30))
        {
            continue;
        }
        return Err(format!("element {i}: gpu {sx:?} vs interpreter {sy:?}"));
    }
    Ok(())
}

/// Compares a GPU f16/bf16 dot (`gpu`, `[m, n]`) with the interpreter's (`cpu`). The GPU
/// sums on tensor cores, in another order than the interpreter's sequential f32 loop. Every
/// product of two f16/bf16 values is exact in f32, so both results are f32 sums of the same
/// `k + 1` terms (`acc` and the products); each order's rounding error is at most
/// `k * 2^-24 * sum |terms|`, so the two differ by at most `k * 2^-23 * sum |terms|`. The
/// bound used is twice that, as tensor cores need not round each addition to nearest even.
fn dot_close<T: Element>(
    gpu: &[f32],
    cpu: &[f32],
    a: &[T],
    b: &[T],
    acc: &[f32],
    [m, n, k]: [u32; 3],
) -> Result<(), String> {
    let f = |x: &T| x.to_scalar().as_f64();
    let (m, n, k) = (m as usize, n as usize, k as usize);
    for i in 0..m {
        for j in 0..n {
            let e = i * n + j;
            let mag: f64 = acc[e].abs() as f64
                + (0..k)
                    .map(|l| (f(&a[i * k + l]) * f(&b[l * n + j])).abs())
                    .sum::<f64>();
            let bound = k as f64 * 2f64.powi(-22) * mag;
            if (gpu[e] as f64 - cpu[e] as f64).abs() > bound {
                return Err(format!(
                    "element ({i}, {j}): gpu {} vs interpreter {} (bound {bound:e})",
                    gpu[e], cpu[e]
                ));
            }
        }
    }
    Ok(())
}

/// A bound on the difference between two f32 sums of the same `n` terms, whose magnitudes
/// sum to `mag`, added in different orders and then rounded to `d`. Each order's sum is within
/// `(n - 1) 2^-24 mag` of the exact one, and rounding to f16/bf16 adds at most one of their
/// ulps (`2^-10` / `2^-7` relative); the bound is twice that.
fn sum_bound(d: DType, n: usize, mag: f64) -> f64 {
    let round = match d {
        DType::F16 => 2f64.powi(-10),
        DType::BF16 => 2f64.powi(-7),
        _ => 0.0,
    };
    2.0 * (2.0 * (n as f64 - 1.0) * 2f64.powi(-24) + round) * mag
}

/// Compares the results of a reduction along `axis` of a row-major tile of `shape` whose
/// elements have the magnitudes `mag` (`gpu`, `cpu`: the results, row-major). Exact, except
/// float sums: the GPU adds in a tree where the interpreter adds in index order, so those
/// only have to agree within [`sum_bound`].
fn reduce_close<T: Element>(
    op: ReduceOp,
    gpu: &[T],
    cpu: &[T],
    mag: &[f64],
    shape: &[u32],
    axis: usize,
) -> Result<(), String> {
    if gpu.len() != cpu.len() {
        return Err(format!("{} results vs {}", gpu.len(), cpu.len()));
    }
    if op != ReduceOp::Sum || !T::DTYPE.is_float() {
        return same(gpu, cpu, 0.0);
    }
    let n = shape[axis] as usize;
    let inner: usize = shape[axis + 1..].iter().map(|&e| e as usize).product();
    for (r, (g, c)) in gpu.iter().zip(cpu).enumerate() {
        let (o, i) = (r / inner, r % inner);
        let m: f64 = (0..n).map(|k| mag[(o * n + k) * inner + i]).sum();
        let bound = sum_bound(T::DTYPE, n, m);
        let (g, c) = (g.to_scalar().as_f64(), c.to_scalar().as_f64());
        if !((g.is_nan() && c.is_nan()) || (g - c).abs() <= bound) {
            return Err(format!(
                "element {r}: gpu {g} vs interpreter {c} (bound {bound:e})"
            ));
        }
    }
    Ok(())
}

/// Runs `k` on the GPU (in programs of `num_warps` warps) and on the interpreter, its
/// parameters buffers holding `inputs` then the scalars `scalars`, and returns every buffer's
/// contents afterwards: the GPU's, then the interpreter's.
fn run_both<T: Element>(
    gpu: &Device,
    k: &Kernel,
    grid: u32,
    num_warps: u32,
    inputs: &[Vec<T>],
    scalars: &[i32],
) -> Result<[Vec<Vec<T>>; 2], String> {
    let cpu = Device::interpreter();
    let run = |dev: &Device| {
        let bufs: Vec<Buffer<T>> = inputs.iter().map(|v| dev.upload(v).unwrap()).collect();
        let mut args: Vec<KernelArg<'_>> = bufs.iter().map(KernelArg::buffer).collect();
        args.extend(scalars.iter().map(|&s| KernelArg::scalar(s)));
        launch(dev, k, grid, num_warps, &args).map_err(|e| format!("{}: {e}", k.name))?;
        Ok::<_, String>(bufs.iter().map(|b| b.to_vec().unwrap()).collect::<Vec<_>>())
    };
    Ok([run(gpu)?, run(&cpu)?])
}

/// Runs a kernel whose parameters are `nbuf` buffers of `T` then scalars `scalars` on both
/// devices and compares every buffer.
fn compare<T: Element>(
    gpu: &Device,
    k: &Kernel,
    grid: u32,
    nbuf: usize,
    scalars: &[i32],
    len: usize,
    tol: f64,
) -> Result<(), String> {
    let inputs: Vec<Vec<T>> = (0..nbuf).map(|i| data::<T>(len, i as u64)).collect();
    let [gpu_out, cpu_out] = run_both(gpu, k, grid, 4, &inputs, scalars)?;
    for (g, c) in gpu_out.iter().zip(&cpu_out) {
        same(g, c, tol).map_err(|e| format!("{}: {e}", k.name))?;
    }
    Ok(())
}

/// Runs `ir_kernels::reduce` (a `[16, 32]` tile, 500 of its elements loaded, the rest 0) and
/// compares: the reductions along both axes with [`reduce_close`], everything else exactly.
fn compare_reduce<T: Element>(gpu: &Device, k: &Kernel, op: ReduceOp) -> Result<(), String> {
    let (rows, cols) = ir_kernels::RED;
    let (n, len) = (500, 512);
    let inputs: Vec<Vec<T>> = (0..3).map(|i| data::<T>(len, i)).collect();
    let [g, c] = run_both(gpu, k, 1, 4, &inputs, &[n as i32])?;
    let mag: Vec<f64> = (0..len)
        .map(|i| {
            if i < n {
                inputs[0][i].to_scalar().as_f64().abs()
            } else {
                0.0
            }
        })
        .collect();
    let (c0, c1) = (cols as usize, (cols + rows) as usize);
    let shape = [rows, cols];
    reduce_close(op, &g[1][..c0], &c[1][..c0], &mag, &shape, 0)
        .and_then(|_| reduce_close(op, &g[1][c0..c1], &c[1][c0..c1], &mag, &shape, 1))
        .and_then(|_| same(&g[1][c1..], &c[1][c1..], 0.0))
        .and_then(|_| same(&g[0], &c[0], 0.0))
        .and_then(|_| same(&g[2], &c[2], 0.0))
        .map_err(|e| format!("{}: {e}", k.name))
}

/// Runs `ir_kernels::reduce_tile` for `shape` in programs of `num_warps` warps and compares
/// the results along each axis with [`reduce_close`]. Float max/min inputs hold NaNs (every
/// seventh element, from the first: a 1-element tile reduces to NaN), which both skip.
fn compare_reduce_tile<T: Element>(
    gpu: &Device,
    k: &Kernel,
    op: ReduceOp,
    shape: &[u32],
    num_warps: u32,
) -> Result<(), String> {
    let numel: usize = shape.iter().map(|&e| e as usize).product();
    let mut x = data::<T>(numel, 1);
    if op != ReduceOp::Sum && T::DTYPE.is_float() {
        for v in x.iter_mut().step_by(7) {
            *v = T::from_scalar(Scalar::from_f64(T::DTYPE, f64::NAN));
        }
    }
    let out = data::<T>(ir_kernels::reduce_tile_results(shape) as usize, 2);
    let [g, c] = run_both(gpu, k, 1, num_warps, &[x.clone(), out], &[])?;
    same(&g[0], &c[0], 0.0).map_err(|e| format!("input: {e}"))?;
    let mag: Vec<f64> = x.iter().map(|v| v.to_scalar().as_f64().abs()).collect();
    let mut start = 0;
    for (axis, &n) in shape.iter().enumerate() {
        let end = start + numel / n as usize;
        reduce_close(op, &g[1][start..end], &c[1][start..end], &mag, shape, axis)
            .map_err(|e| format!("axis {axis}: {e}"))?;
        start = end;
    }
    Ok(())
}

macro_rules! by_dtype {
    ($d:expr, $t:ident => $body:expr) => {
        match $d {
            DType::Bool => {
                type $t = bool;
                $body
            }
            DType::I8 => {
                type $t = i8;
                $body
            }
            DType::U8 => {
                type $t = u8;
                $body
            }
            DType::I16 => {
                type $t = i16;
                $body
            }
            DType::U16 => {
                type $t = u16;
                $body
            }
            DType::I32 => {
                type $t = i32;
                $body
            }
            DType::U32 => {
                type $t = u32;
                $body
            }
            DType::I64 => {
                type $t = i64;
                $body
            }
            DType::U64 => {
                type $t = u64;
                $body
            }
            DType::F16 => {
                type $t = f16;
                $body
            }
            DType::BF16 => {
                type $t = bf16;
                $body
            }
            DType::F32 => {
                type $t = f32;
                $body
            }
        }
    };
}

#[test]
fn prebuilt_ops_match_references_on_gpu() {
    let Some(dev) = gpu() else { return };
    let results = bitmat::selftest::run(&dev, 7).expect("selftest runs");
    let failed: Vec<_> = results.iter().filter(|r| !r.passed()).collect();
    assert!(failed.is_empty(), "failed: {failed:?}");
}

#[test]
fn ir_kernels_match_interpreter_on_gpu() {
    let Some(dev) = gpu() else { return };
    let mut failures = Vec::new();
    let n = 1000; // ragged: 4 programs of 256
    for d in DType::ALL {
        let k = ir_kernels::elementwise(d);
        let len = ir_kernels::elementwise_results(d) * n as usize + 1024;
        // exp/log use hardware approximations.
        let tol = if d.is_float() { 1e-5 } else { 0.0 };
        let r = by_dtype!(d, T => compare::<T>(&dev, &k, 4, 3, &[n], len, tol));
        failures.extend(r.err());
        for op in ir_kernels::reduce_ops(d) {
            let k = ir_kernels::reduce(d, op);
            let r = by_dtype!(d, T => compare_reduce::<T>(&dev, &k, op));
            failures.extend(r.err());
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Every reduction on every dtype over the tiles of `ir_kernels::REDUCE_SHAPES` (within a
/// thread, across lanes, across warps, smaller than a warp), in programs of 1, 4 and 8 warps
/// (`ir_kernels::reduce_warps`).
#[test]
fn reductions_match_interpreter_on_gpu() {
    let Some(dev) = gpu() else { return };
    let mut failures = Vec::new();
    for d in DType::ALL {
        for op in ir_kernels::reduce_ops(d) {
            for shape in ir_kernels::REDUCE_SHAPES {
                let k = ir_kernels::reduce_tile(d, op, shape);
                for &num_warps in ir_kernels::reduce_warps(shape) {
                    let r =
                        by_dtype!(d, T => compare_reduce_tile::<T>(&dev, &k, op, shape, num_warps));
                    failures.extend(
                        r.err()
                            .map(|e| format!("{} ({num_warps} warps): {e}", k.name)),
                    );
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn casts_dots_and_control_match_interpreter_on_gpu() {
    let Some(dev) = gpu() else { return };
    let cpu = Device::interpreter();
    let mut failures = Vec::new();
    for from in DType::ALL {
        for to in DType::ALL {
            if from == to {
                continue;
            }
            let k = ir_kernels::cast(from, to);
            let r = by_dtype!(from, S => by_dtype!(to, D => {
                let mut outs = Vec::new();
                for dev in [&dev, &cpu] {
                    let x = dev.upload(&data::<S>(1024, 1)).unwrap();
                    let o = dev.zeros::<D>(1024).unwrap();
                    let o2 = dev.zeros::<D>(1024).unwrap();
                    let args = [KernelArg::buffer(&x), KernelArg::buffer(&o), KernelArg::buffer(&o2), KernelArg::scalar(1000i32)];
                    launch(dev, &k, 4, 4, &args).map_err(|e| e.to_string()).unwrap();
                    outs.push((o.to_vec().unwrap(), o2.to_vec().unwrap()));
                }
                same(&outs[0].0, &outs[1].0, 0.0).and_then(|_| same(&outs[0].1, &outs[1].1, 0.0))
            }));
            failures.extend(r.err().map(|e| format!("{}: {e}", k.name)));
        }
    }
    // Dot shapes: exact tensor-core shapes, and ones padded to the instruction shape in M
    // (GEMV, M = 1), N (< 8) and K (< 16 / 32); more output tiles than warps; long K loops.
    for (m, n, kk) in [
        (16, 16, 32),
        (1, 32, 64),
        (64, 64, 32),
        (2, 8, 4),
        (1, 1, 16),
        (4, 2, 8),
        (32, 4, 1),
        (8, 16, 128),
        (16, 8, 512),
        (1, 64, 256),
    ] {
        for d in [DType::I8, DType::F16, DType::BF16, DType::F32] {
            let k = ir_kernels::dot(d, m, n, kk);
            let r = by_dtype!(d, T => {
                let ha = data::<T>((m * kk) as usize, 1);
                let hb = data::<T>((kk * n) as usize, 2);
                let hc = data::<f32>((m * n) as usize, 3);
                let mut outs = Vec::new();
                for dev in [&dev, &cpu] {
                    let a = dev.upload(&ha).unwrap();
                    let b = dev.upload(&hb).unwrap();
                    if d == DType::I8 {
                        let c = dev.upload(&data::<i32>((m * n) as usize, 3)).unwrap();
                        launch(dev, &k, 1, 4, &[KernelArg::buffer(&a), KernelArg::buffer(&b), KernelArg::buffer(&c)]).unwrap();
                        outs.push(c.to_vec().unwrap().iter().map(|&x| x as f32).collect::<Vec<f32>>());
                    } else {
                        let c = dev.upload(&data::<f32>((m * n) as usize, 3)).unwrap();
                        launch(dev, &k, 1, 4, &[KernelArg::buffer(&a), KernelArg::buffer(&b), KernelArg::buffer(&c)]).unwrap();
                        outs.push(c.to_vec().unwrap());
                    }
                }
                if d == DType::F16 || d == DType::BF16 {
                    dot_close(&outs[0], &outs[1], &ha, &hb, &hc, [m, n, kk])
                } else {
                    same(&outs[0], &outs[1], 1e-5)
                }
            });
            failures.extend(r.err().map(|e| format!("{}: {e}", k.name)));
        }
    }
    let k = ir_kernels::control();
    let mut outs = Vec::new();
    for dev in [&dev, &cpu] {
        let x = dev.upload(&data::<f32>(1024, 1)).unwrap();
        let out = dev.zeros::<f32>(1024).unwrap();
        let total = dev.zeros::<f32>(1).unwrap();
        let count = dev.zeros::<i32>(1).unwrap();
        let old = dev.zeros::<i32>(4).unwrap();
        let np = dev.zeros::<i32>(1).unwrap();
        let args = [
            KernelArg::buffer(&x),
            KernelArg::buffer(&out),
            KernelArg::buffer(&total),
            KernelArg::buffer(&count),
            KernelArg::buffer(&old),
            KernelArg::buffer(&np),
            KernelArg::scalar(1000i32),
            KernelArg::scalar(5i32),
        ];
        launch(dev, &k, 4, 4, &args).unwrap();
        let mut o = old.to_vec().unwrap();
        o.sort_unstable();
        outs.push((
            out.to_vec().unwrap(),
            total.to_vec().unwrap()[0],
            count.to_vec().unwrap(),
            o,
            np.to_vec().unwrap(),
        ));
    }
    let (g, c) = (&outs[0], &outs[1]);
    if let Err(e) = same(&g.0, &c.0, 0.0) {
        failures.push(format!("control out: {e}"));
    }
    if (g.1 - c.1).abs() > 1e-3 * c.1.abs().max(1.0) || g.2 != c.2 || g.3 != c.3 || g.4 != c.4 {
        failures.push(format!(
            "control atomics: gpu {:?} vs interpreter {:?}",
            (g.1, &g.2, &g.3, &g.4),
            (c.1, &c.2, &c.3, &c.4)
        ));
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
