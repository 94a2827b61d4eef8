//! `bitmat info`: what this machine offers, detected at run time.

use bitmat::Device;
use std::fmt::Write;

pub use bitmat_runtime::host::{cpu_features, cpu_model, CpuFeature};

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
    let others: Vec<&str> = bitmat::Backend::cpu_backends()
        .into_iter()
        .filter(|b| *b != cpu.backend())
        .map(|b| b.name())
        .collect();
    let _ = writeln!(
        out,
        "  cpu: backend {} (in use; also built: {}; pick with --backend or {})",
        cpu.backend().name(),
        if others.is_empty() {
            "none".to_string()
        } else {
            others.join(", ")
        },
        bitmat::CPU_BACKEND_VAR
    );
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
        let what = kind.description();
        let _ = writeln!(
            out,
            "  {what}: {} ({:.1} KiB)",
            count.files,
            count.bytes as f64 / 1024.0
        );
    }
    out
}
