//! The host CPU as detected at run time: its model name and the SIMD features that matter for
//! the CPU kernels (`bitmat info` prints them; autotuning results are stored per CPU).

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

/// What identifies this CPU for autotuning results: model, the features present, and the
/// threads of rayon's global pool (`cpu: AMD EPYC 7B13; avx avx2 fma; 2 threads`). Read once.
pub(crate) fn cpu_fingerprint() -> &'static str {
    static FINGERPRINT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    FINGERPRINT.get_or_init(|| {
        let features: Vec<&str> = cpu_features()
            .iter()
            .filter(|f| f.present)
            .map(|f| f.name)
            .collect();
        format!(
            "cpu: {}; {}; {} threads",
            cpu_model(),
            features.join(" "),
            rayon::current_num_threads()
        )
    })
}
