//! The host as an LLVM target: the triple, the CPU name and features LLVM detects (e.g.
//! `znver4` with `+avx512vnni`), and a target machine for them at `-O3`, static relocation
//! and the large code model, so that every address in the emitted object is an absolute
//! 64-bit one (the `link` module).

use inkwell::targets::{
    CodeModel, InitializationConfig, RelocMode, Target, TargetMachine, TargetTriple,
};
use inkwell::OptimizationLevel;
use std::sync::OnceLock;

/// The host's triple, CPU and features as LLVM names them.
struct Host {
    triple: String,
    cpu: String,
    features: String,
}

/// The host, detected once per process (LLVM's native target initialized on the way).
fn host() -> Result<&'static Host, String> {
    static HOST: OnceLock<Result<Host, String>> = OnceLock::new();
    HOST.get_or_init(|| {
        Target::initialize_native(&InitializationConfig::default())?;
        Ok(Host {
            triple: TargetMachine::get_default_triple()
                .as_str()
                .to_string_lossy()
                .into_owned(),
            cpu: TargetMachine::get_host_cpu_name().to_string(),
            features: TargetMachine::get_host_cpu_features().to_string(),
        })
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// What code compiled for this CPU depends on, for cache keys: LLVM's version, the triple,
/// the CPU name and every feature, and the target machine options (O3, static, large code model).
pub fn host_target() -> Result<&'static str, String> {
    static TARGET: OnceLock<Result<String, String>> = OnceLock::new();
    TARGET
        .get_or_init(|| {
            let h = host()?;
            let (major, minor, patch) = inkwell::support::get_llvm_version();
            Ok(format!(
                "llvm {major}.{minor}.{patch} {} {} [{}] O3 static large",
                h.triple, h.cpu, h.features
            ))
        })
        .as_deref()
        .map_err(Clone::clone)
}

/// The CPU name LLVM detects (`znver4`, `sapphirerapids`, ...).
pub fn host_cpu() -> Result<&'static str, String> {
    Ok(&host()?.cpu)
}

/// Whether LLVM detects the CPU feature `name` (`avx512vnni`, `avxvnni`, `avx2`, `f16c`).
pub fn has_feature(name: &str) -> bool {
    host().is_ok_and(|h| {
        h.features
            .split(',')
            .any(|f| f.strip_prefix('+') == Some(name))
    })
}

/// A target machine for the host (one per compilation: LLVM's machines are not shared
/// across threads).
pub(crate) fn machine() -> Result<TargetMachine, String> {
    let h = host()?;
    let triple = TargetTriple::create(&h.triple);
    let target = Target::from_triple(&triple).map_err(|e| e.to_string())?;
    target
        .create_target_machine(
            &triple,
            &h.cpu,
            &h.features,
            OptimizationLevel::Aggressive,
            RelocMode::Static,
            CodeModel::Large,
        )
        .ok_or_else(|| format!("LLVM has no target machine for {} {}", h.triple, h.cpu))
}
