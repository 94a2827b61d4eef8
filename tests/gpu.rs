//! GPU tests: when `Device::cuda(0)` opens, every prebuilt op (through `selftest`) and the
//! IR test kernels run on the GPU and are compared with the reference interpreter on ragged
//! shapes. Without a GPU they print why and pass.

mod ir_kernels;

use bitmat::ir::{DType, Kernel, ReduceOp};
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

/// Launches a hand-built kernel on `dev`.
fn launch(dev: &Device, k: &Kernel, grid: u32, args: &[KernelArg<'_>]) -> Result<(), Error> {
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
        &LaunchOptions::default(),
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
    let cpu = Device::interpreter();
    let mut outs = Vec::new();
    for dev in [gpu, &cpu] {
        let bufs: Vec<Buffer<T>> = (0..nbuf)
            .map(|i| dev.upload(&data::<T>(len, i as u64)).unwrap())
            .collect();
        let mut args: Vec<KernelArg<'_>> = bufs.iter().map(KernelArg::buffer).collect();
        args.extend(scalars.iter().map(|&s| KernelArg::scalar(s)));
        launch(dev, k, grid, &args).map_err(|e| format!("{}: {e}", k.name))?;
        outs.push(bufs.iter().map(|b| b.to_vec().unwrap()).collect::<Vec<_>>());
    }
    for (g, c) in outs[0].iter().zip(&outs[1]) {
        same(g, c, tol).map_err(|e| format!("{}: {e}", k.name))?;
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
        if d != DType::Bool {
            for op in [ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min] {
                let k = ir_kernels::reduce(d, op);
                let tol = if d.is_float() { 1e-6 } else { 0.0 };
                let r = by_dtype!(d, T => compare::<T>(&dev, &k, 1, 3, &[500], 512, tol));
                failures.extend(r.err());
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
                    launch(dev, &k, 4, &args).map_err(|e| e.to_string()).unwrap();
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
                        launch(dev, &k, 1, &[KernelArg::buffer(&a), KernelArg::buffer(&b), KernelArg::buffer(&c)]).unwrap();
                        outs.push(c.to_vec().unwrap().iter().map(|&x| x as f32).collect::<Vec<f32>>());
                    } else {
                        let c = dev.upload(&data::<f32>((m * n) as usize, 3)).unwrap();
                        launch(dev, &k, 1, &[KernelArg::buffer(&a), KernelArg::buffer(&b), KernelArg::buffer(&c)]).unwrap();
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
        launch(dev, &k, 4, &args).unwrap();
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
