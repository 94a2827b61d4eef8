//! `bitmat info`: what this machine offers, detected at run time.

use crate::Device;
use std::fmt::Write;

/// A CPU feature and whether this CPU has it.
#[derive(Clone, Debug)]
pub struct CpuFeature {
    /// The feature's name (`avx2`, `avx512vnni`, ...).
    pub name: &'static str,
    /// Whether it was detected.
    pub present: bool,
}

/// The CPU's model name (from `/proc/cpuinfo` on Linux), or `unknown`.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The `flags` line of `/proc/cpuinfo` (empty elsewhere).
#[cfg(target_arch = "x86_64")]
fn cpu_flags() -> Vec<String> {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("flags"))
                .and_then(|l| l.split(':').nth(1))
                .map(|f| f.split_whitespace().map(str::to_string).collect())
        })
        .unwrap_or_default()
}

/// SIMD features that matter for the CPU kernels, detected at run time.
pub fn cpu_features() -> Vec<CpuFeature> {
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! detect {
            ($($name:tt),*) => {
                vec![$(CpuFeature { name: $name, present: std::arch::is_x86_feature_detected!($name) }),*]
            };
        }
        {
            let mut features = detect!(
                "sse4.1",
                "avx",
                "avx2",
                "fma",
                "f16c",
                "avx512f",
                "avx512bw",
                "avx512vnni",
                "avxvnni"
            );
            // AMX detection is not stable in `std`; the kernel lists it (only when the OS
            // enabled the tile state) among the CPU flags.
            let flags = cpu_flags();
            for (name, flag) in [("amx-int8", "amx_int8"), ("amx-bf16", "amx_bf16")] {
                features.push(CpuFeature {
                    name,
                    present: flags.iter().any(|f| f == flag),
                });
            }
            features
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        vec![
            CpuFeature {
                name: "neon",
                present: std::arch::is_aarch64_feature_detected!("neon"),
            },
            CpuFeature {
                name: "dotprod",
                present: std::arch::is_aarch64_feature_detected!("dotprod"),
            },
        ]
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        Vec::new()
    }
}

/// The report `bitmat info` prints.
pub fn report() -> String {
    let mut out = String::new();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let _ = writeln!(out, "bitmat {}", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(out, "cpu: {} ({threads} threads)", cpu_model());
    let features: Vec<String> = cpu_features()
        .iter()
        .map(|f| format!("{}{}", if f.present { "+" } else { "-" }, f.name))
        .collect();
    let _ = writeln!(out, "cpu features: {}", features.join(" "));
    let cpu = Device::cpu();
    let _ = writeln!(out, "devices:");
    let _ = writeln!(out, "  interpreter (reference)");
    let _ = writeln!(out, "  cpu: backend {}", cpu.backend().name());
    match Device::cuda(0) {
        Ok(d) => {
            let _ = writeln!(out, "  cuda:0: {d}");
        }
        Err(e) => {
            let _ = writeln!(out, "  cuda: unavailable ({e})");
        }
    }
    out.push_str(&cache_report());
    out
}

/// The disk cache's directory and entries, as `bitmat info` prints them.
fn cache_report() -> String {
    use bitmat_runtime::disk::{DiskCache, EntryKind};
    let Some(cache) = DiskCache::global() else {
        return "cache: off (BITMAT_DISK_CACHE=0, or no cache directory is known)\n".into();
    };
    let mut out = format!("cache: {}\n", cache.root().display());
    for kind in EntryKind::ALL {
        let count = cache.count(kind);
        let what = match kind {
            EntryKind::Kernel => "compiled kernels",
            EntryKind::Tuning => "tuning results",
        };
        let _ = writeln!(
            out,
            "  {what}: {} ({:.1} KiB)",
            count.files,
            count.bytes as f64 / 1024.0
        );
    }
    out
}
