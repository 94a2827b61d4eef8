//! Kernel cache keys, and the in-memory cache of compiled kernels of one device.
//!
//! Two levels, looked up in order by [`crate::launch_kernel`]:
//! 1. in memory, per device: [`CacheKey`] (kernel name, source hash, constexprs, and the
//!    launch options that change the code on the device's backend). A hit costs a hash
//!    lookup; the kernel is not even specialized.
//! 2. on disk ([`crate::disk`], `EntryKind::Kernel`), shared by processes: [`disk_key`], which
//!    also covers the compiler version, the backend and target, and a hash of the specialized
//!    IR (so a change to an inlined helper, which the source hash does not see, is a miss). A
//!    disk lookup therefore specializes the kernel (cheap) but does not compile it.

use crate::backend::Compiled;
use crate::constexpr::ConstexprValue;
use crate::device::Backend;
use crate::launch::{KernelId, LaunchOptions};
use bitmat_ir::passes::specialize::ArgFact;
use bitmat_ir::Kernel;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

/// The launch options that change the code a backend generates (each backend says which:
/// `num_warps` and `num_stages` on CUDA, none on the CPU and the interpreter). `cpu_threads`
/// only changes how programs are scheduled, never the code.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct CodeOptions {
    /// Warps per program (CUDA).
    num_warps: Option<u32>,
    /// Software-pipelining depth (CUDA).
    num_stages: Option<u32>,
    /// Bounds checks compiled in ([`LaunchOptions::checked`], on backends that compile them).
    checked: bool,
    /// `device_assert`s kept ([`LaunchOptions::debug`], on every backend).
    debug: bool,
}

impl CodeOptions {
    /// No option changes the code.
    pub(crate) const NONE: CodeOptions = CodeOptions {
        num_warps: None,
        num_stages: None,
        checked: false,
        debug: false,
    };

    /// `num_warps` and `num_stages` of `options` change the code (GPUs).
    pub(crate) fn warps_and_stages(options: &LaunchOptions) -> CodeOptions {
        CodeOptions {
            num_warps: Some(options.num_warps),
            num_stages: Some(options.num_stages),
            checked: false,
            debug: false,
        }
    }

    /// These options, with bounds checks compiled in when `checked`.
    pub(crate) fn checked(self, checked: bool) -> CodeOptions {
        CodeOptions { checked, ..self }
    }

    /// These options, with `device_assert`s kept when `debug`.
    pub(crate) fn debug(self, debug: bool) -> CodeOptions {
        CodeOptions { debug, ..self }
    }
}

impl fmt::Display for CodeOptions {
    /// `num_warps=4 num_stages=2` (and `checked`), or `-` when no option matters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut any = false;
        for (name, v) in [
            ("num_warps", self.num_warps),
            ("num_stages", self.num_stages),
        ] {
            if let Some(v) = v {
                write!(f, "{}{name}={v}", if any { " " } else { "" })?;
                any = true;
            }
        }
        for (name, on) in [("checked", self.checked), ("debug", self.debug)] {
            if on {
                write!(f, "{}{name}", if any { " " } else { "" })?;
                any = true;
            }
        }
        if !any {
            f.write_str("-")?;
        }
        Ok(())
    }
}

/// What identifies a compiled kernel in a device's memory.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    pub(crate) name: String,
    pub(crate) source_hash: u64,
    pub(crate) constexprs: Vec<ConstexprValue>,
    /// The launch options that change the code on the device's backend.
    pub(crate) options: CodeOptions,
    /// The argument facts the code is specialized on (empty where the backend does not).
    pub(crate) facts: Vec<ArgFact>,
}

impl CacheKey {
    /// The key of kernel `id` launched with the options `options` that change its code.
    pub(crate) fn new(id: &KernelId, options: CodeOptions) -> CacheKey {
        CacheKey {
            name: id.name.to_string(),
            source_hash: id.source_hash,
            constexprs: id.constexprs.clone(),
            options,
            facts: Vec::new(),
        }
    }

    /// The key specialized on `facts` as well.
    pub(crate) fn with_facts(mut self, facts: &[ArgFact]) -> CacheKey {
        self.facts = facts.to_vec();
        self
    }
}

/// The key of a compiled kernel in the disk cache: one line per component, so that an entry
/// (which records its key) says what it holds.
///
/// ```text
/// bitmat kernel
/// version 0.1.0+1a2b3c4d5e6f.0a1b2c3d4e5f.a0b1c2d3e4f5
/// backend cranelift
/// target x86_64-unknown-linux-gnu x64 [has_sse3=1,...] [opt_level=speed,...]
/// options -
/// kernel w2a8_matmul
/// source 0123456789abcdef
/// constexprs [Int(64), Int(32), Bool(true)]
/// ir <blake3 of the specialized IR's text>
/// ```
pub(crate) fn disk_key(
    backend: Backend,
    target: &str,
    options: CodeOptions,
    id: &KernelId,
    ir: &Kernel,
) -> String {
    let ir_hash = blake3::hash(ir.to_string().as_bytes());
    format!(
        "bitmat kernel\nversion {}\nbackend {}\ntarget {}\noptions {}\nkernel {}\nsource {:016x}\nconstexprs {:?}\nir {}",
        crate::version::compiler_version(),
        backend.name(),
        target,
        options,
        id.name,
        id.source_hash,
        id.constexprs,
        ir_hash.to_hex(),
    )
}

/// Compiled kernels by key.
#[derive(Default)]
pub(crate) struct KernelCache {
    entries: Mutex<HashMap<CacheKey, Arc<Compiled>>>,
}

impl KernelCache {
    /// The cached kernel for `key`, or the result of `build` (cached when it succeeds).
    pub(crate) fn get_or_build<E>(
        &self,
        key: CacheKey,
        build: impl FnOnce() -> Result<Compiled, E>,
    ) -> Result<Arc<Compiled>, E> {
        if let Some(k) = self.lock().get(&key) {
            tracing::trace!(kernel = %key.name, "memory cache hit");
            return Ok(Arc::clone(k));
        }
        // Build outside the lock: specialization runs user code, which may launch kernels.
        let compiled = Arc::new(build()?);
        Ok(Arc::clone(self.lock().entry(key).or_insert(compiled)))
    }

    /// Number of cached kernels.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CacheKey, Arc<Compiled>>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitmat_ir::{DType, KernelBuilder, ParamKind};

    fn id(constexpr: i128) -> KernelId {
        KernelId {
            name: "k",
            source_hash: 1,
            constexprs: vec![ConstexprValue::Int(constexpr)],
        }
    }

    fn ir() -> Kernel {
        let mut b = KernelBuilder::new("k");
        b.param("x", ParamKind::Ptr(DType::F32));
        b.finish().unwrap()
    }

    fn opts(num_warps: u32, num_stages: u32, cpu_threads: Option<usize>) -> LaunchOptions {
        LaunchOptions {
            num_warps,
            num_stages,
            cpu_threads,
            checked: false,
            debug: false,
        }
    }

    #[test]
    fn keys_depend_on_warps_and_stages_only_where_they_change_the_code() {
        let base = opts(4, 2, None);
        type Of = fn(&LaunchOptions) -> CodeOptions;
        let code_options: [(Of, bool); 2] = [
            (CodeOptions::warps_and_stages, true),
            (|_| CodeOptions::NONE, false),
        ];
        for (of, matters) in code_options {
            for other in [opts(8, 2, None), opts(4, 3, None)] {
                let (a, b) = (
                    CacheKey::new(&id(1), of(&base)),
                    CacheKey::new(&id(1), of(&other)),
                );
                assert_eq!(a != b, matters, "{other:?}");
                let disk = |o: &LaunchOptions| disk_key(Backend::CUDA, "t", of(o), &id(1), &ir());
                assert_eq!(disk(&base) != disk(&other), matters, "{other:?}");
            }
            // CPU threads never change code.
            assert_eq!(
                CacheKey::new(&id(1), of(&base)),
                CacheKey::new(&id(1), of(&opts(4, 2, Some(3))))
            );
            assert_ne!(
                CacheKey::new(&id(1), of(&base)),
                CacheKey::new(&id(2), of(&base))
            );
        }
        let gpu = CodeOptions::warps_and_stages(&base);
        let cuda = disk_key(Backend::CUDA, "sm_90", gpu, &id(1), &ir());
        assert!(
            cuda.contains("backend cuda\ntarget sm_90\noptions num_warps=4 num_stages=2\n"),
            "{cuda}"
        );
        assert_ne!(cuda, disk_key(Backend::CUDA, "sm_80", gpu, &id(1), &ir()));
        assert_ne!(
            cuda,
            disk_key(Backend::CRANELIFT, "sm_90", gpu, &id(1), &ir())
        );
        let cpu = disk_key(Backend::CRANELIFT, "x", CodeOptions::NONE, &id(1), &ir());
        assert!(
            cpu.contains("backend cranelift\ntarget x\noptions -\n"),
            "{cpu}"
        );
    }
}
