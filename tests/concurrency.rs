//! Concurrency and load: threads times launches on one device, mixing prebuilt ops of several
//! shapes (each through its autotuner), a user kernel through its own autotuner and safe
//! launches that go out of bounds, every result checked; and several processes tuning and
//! compiling into one disk cache at once. Instances: `cpu` and `cuda` (reported ignored, with
//! the reason, without a CUDA driver; failing when `BITMAT_REQUIRE` names `cuda`).

#[path = "support/requirement.rs"]
mod requirement;

use bitmat::formats::{pack_ternary, quantize_activations, quantize_int4, Int4Group};
use bitmat::prelude::*;
use bitmat::{ops, reference, RuntimeError};
use libtest_mimic::{Failed, Trial};
use std::sync::LazyLock;

/// Threads launching at once, and launches per thread.
const THREADS: usize = 6;
const LAUNCHES: usize = 8;

#[bitkernel]
fn scale(x: Ptr<f32>, y: Ptr<f32>, n: i32, s: f32, #[constexpr] block: i32) {
    let offs = program_id(0) * block + arange(block);
    let mask = offs < n;
    store(y + offs, load(x + offs, mask, 0.0) * s, mask);
}

/// Forgets the mask: the last block reads and writes past `n`.
#[bitkernel]
fn scale_unmasked(x: Ptr<f32>, y: Ptr<f32>, s: f32, #[constexpr] block: i32) {
    let offs = program_id(0) * block + arange(block);
    store(y + offs, load(x + offs) * s);
}

static SCALE: LazyLock<scale::Autotuned> = LazyLock::new(|| {
    scale::autotune([scale::config(64), scale::config(256), scale::config(32)]).key(&["n"])
});

/// Deterministic small values for launch `seed`.
fn values(seed: usize, len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| (((i * 7919 + seed * 104_729) % 211) as f32 - 105.0) / 64.0)
        .collect()
}

/// One launch of thread `t`, number `i`: which op and shape follow from both.
fn one(dev: &Device, t: usize, i: usize) -> Result<(), String> {
    let seed = t * LAUNCHES + i;
    let m = [1, 3, 17][seed % 3];
    let (n, k) = [(16, 64), (40, 128), (24, 64)][(seed / 3) % 3];
    let what = format!("thread {t} launch {i} (m {m}, n {n}, k {k})");
    let e = |e: &dyn std::fmt::Display| format!("{what}: {e}");
    match (t + i) % 4 {
        0 => {
            let x: Vec<i8> = values(seed, m * k)
                .iter()
                .map(|v| (v * 60.0) as i8)
                .collect();
            let wq: Vec<i8> = (0..n * k).map(|j| ((j + seed) % 3) as i8 - 1).collect();
            let w = pack_ternary(&wq, n, k).map_err(|x| e(&x))?;
            let got = ops::ternary_matmul(dev, &x, m, k, &w, n).map_err(|x| e(&x))?;
            let want = reference::matmul_i8_ternary(&x, m, k, &w, n).map_err(|x| e(&x))?;
            (got == want)
                .then_some(())
                .ok_or_else(|| e(&"ternary result differs"))
        }
        1 => {
            let x = quantize_activations(&values(seed, m * k), m, k).map_err(|x| e(&x))?;
            let w = quantize_int4(&values(seed + 1, n * k), n, k, Int4Group::Size(32))
                .map_err(|x| e(&x))?;
            let got = ops::int4_w4a8(dev, &x, &w).map_err(|x| e(&x))?;
            let want = reference::int4_w4a8(&x, &w).map_err(|x| e(&x))?;
            let close = got
                .iter()
                .zip(&want)
                .all(|(g, w)| (g - w).abs() <= 1e-4 * w.abs().max(1.0));
            close
                .then_some(())
                .ok_or_else(|| e(&"int4 W4A8 result differs"))
        }
        2 => {
            let len = 100 + 37 * seed;
            let x = values(seed, len);
            let (xb, yb) = (
                dev.upload(&x).map_err(|x| e(&x))?,
                dev.zeros::<f32>(len).map_err(|x| e(&x))?,
            );
            let grid = |c: &scale::Constexprs| len.div_ceil(c.block as usize) as u32;
            SCALE
                .launch(dev, grid, &xb, &yb, len as i32, 1.5)
                .map_err(|x| e(&x))?;
            let want: Vec<f32> = x.iter().map(|v| v * 1.5).collect();
            (yb.to_vec().map_err(|x| e(&x))? == want)
                .then_some(())
                .ok_or_else(|| e(&"scale result differs"))
        }
        _ => {
            // Never a multiple of the block: the last program runs past the end.
            let len = 64 * (1 + seed % 3) + 1 + seed % 63;
            let (xb, yb) = (
                dev.upload(&values(seed, len)).map_err(|x| e(&x))?,
                dev.zeros::<f32>(len).map_err(|x| e(&x))?,
            );
            let grid = len.div_ceil(64) as u32;
            match scale_unmasked::launch(dev, grid, &xb, &yb, 2.0, 64) {
                Err(bitmat::Error::Runtime(RuntimeError::OutOfBounds(err))) => {
                    let text = err.to_string();
                    let ok = text.contains("scale_unmasked")
                        && text.contains(&format!("index {len} outside 0..{len}"));
                    ok.then_some(())
                        .ok_or_else(|| e(&format!("unexpected report: {text}")))
                }
                other => Err(e(&format!(
                    "expected an out-of-bounds error, got {other:?}"
                ))),
            }
        }
    }
}

/// Every thread's launches on `dev`; the failures, all of them.
fn load(dev: &Device) -> Result<(), Failed> {
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                s.spawn(move || {
                    (0..LAUNCHES)
                        .filter_map(|i| one(dev, t, i).err())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|_| vec!["a thread panicked".into()])
            })
            .collect()
    });
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n").into())
    }
}

/// The environment variable that makes the binary a child of `processes_share_one_cache`.
const CHILD: &str = "BITMAT_CONCURRENCY_CHILD";

/// Several processes, each running [`load`] with one fresh cache directory for all of them:
/// every process succeeds, and the directory holds only whole, valid entries afterwards.
fn processes_share_one_cache() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let exe = std::env::current_exe()?;
    let children: Vec<_> = (0..3)
        .map(|_| {
            std::process::Command::new(&exe)
                .args(["--exact", "cpu::child_load"])
                .env(CHILD, "1")
                .env("BITMAT_CACHE_DIR", dir.path())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    for child in children {
        let out = child.wait_with_output()?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() || !stdout.contains("1 passed") {
            return Err(format!(
                "a child failed or did not run:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
    }
    let cache = bitmat::DiskCache::at(dir.path());
    for kind in [
        bitmat::disk::EntryKind::Kernel,
        bitmat::disk::EntryKind::Tuning,
    ] {
        let files = std::fs::read_dir(dir.path().join(kind.dir()))?.count();
        let valid = cache.count(kind).files;
        if files == 0 || valid != files {
            return Err(format!("{}: {valid} valid of {files} files", kind.dir()).into());
        }
    }
    Ok(())
}

fn main() {
    if std::env::var_os(CHILD).is_some() {
        // A child of `processes_share_one_cache`: the load alone.
        let trials = vec![Trial::test("cpu::child_load", || load(&Device::cpu()))];
        requirement::run(trials).exit();
    }
    let trials = vec![
        Trial::test("cpu::threads_times_launches", || load(&Device::cpu())),
        Trial::test("cpu::processes_share_one_cache", processes_share_one_cache),
        requirement::trial(
            "cuda::threads_times_launches",
            "cuda",
            Device::cuda(0).map_err(|e| e.to_string()),
            |dev| load(&dev),
        ),
    ];
    requirement::run(trials).exit();
}
