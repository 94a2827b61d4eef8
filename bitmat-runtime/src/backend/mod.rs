//! Backends behind a device: one trait, [`BackendImpl`], that the runtime's launch, kernel
//! caches and autotuner are written against, and one implementation per backend
//! ([`interpreter`], [`cpu`] for Cranelift and LLVM, [`cuda`]).
//!
//! A backend turns a specialized kernel into *code* in two steps: [`BackendImpl::compile`]
//! produces the serialized form (what the disk cache stores), [`BackendImpl::load`] makes it
//! runnable ([`Code`]). Every kernel takes the same path, whether its serialized form was just
//! compiled or read from the disk cache, so a kernel from the cache behaves exactly like a
//! fresh one (`BITMAT_DUMP=clif,ptx` included: the text travels in the serialized form).
//!
//! Adding a backend is one implementation file here plus its registration: a CPU backend is
//! one line in [`CPU_BACKENDS`]; a GPU backend also brings its device memory (see
//! [`crate::cuda`]) and its own `Device` constructor.

mod cpu;
pub(crate) mod cuda;
mod interpreter;

use crate::buffer::Storage;
use crate::cache::CodeOptions;
use crate::device::{Backend, Device};
use crate::disk::EntryKind;
use crate::error::Error;
use crate::launch::{Grid, KernelArg, KernelId, LaunchOptions};
use bitmat_ir::interp::ArgValue;
use bitmat_ir::passes::bounds::{self, Checked, RECORD_WORDS};
use bitmat_ir::{DType, HostData, Kernel};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

/// One backend of a device: how its kernels are compiled, serialized, loaded and timed.
pub(crate) trait BackendImpl: Send + Sync {
    /// The backend's identifier.
    fn id(&self) -> Backend;

    /// What identifies the device for autotuning results ([`Device::fingerprint`]).
    fn fingerprint(&self) -> &str;

    /// What the code depends on besides the IR and the options (the CPU's ISA and features,
    /// the GPU's architecture), for disk cache keys; `None` for a backend that compiles
    /// nothing (the interpreter), whose kernels are never counted as compilations nor cached
    /// on disk.
    fn target(&self) -> Result<Option<&str>, Error>;

    /// The launch options that change the code this backend generates (part of both cache
    /// keys).
    fn code_options(&self, options: &LaunchOptions) -> CodeOptions;

    /// Whether launches with options `a` and `b` run the same program, so that the autotuner
    /// times only one of them.
    fn same_program(&self, a: &LaunchOptions, b: &LaunchOptions) -> bool {
        self.code_options(a) == self.code_options(b)
    }

    /// Why `options` cannot run on this backend, for the autotuner's pruning (before anything
    /// is compiled).
    fn check_options(&self, options: &LaunchOptions) -> Result<(), String>;

    /// Whether checked launches run instrumented code ([`bitmat_ir::passes::bounds`]); the
    /// interpreter checks every access itself.
    fn checks_in_code(&self) -> bool {
        true
    }

    /// Whether the autotuner times configurations here (the interpreter's timings say nothing
    /// about any device, so it uses the first runnable configuration).
    fn times_configs(&self) -> bool {
        true
    }

    /// Compiles the verified, specialized `ir` to the backend's serialized code, as the disk
    /// cache stores it (empty for the interpreter).
    fn compile(&self, ir: &Kernel, options: &LaunchOptions) -> Result<Vec<u8>, Error>;

    /// Whether launches specialize the code on their arguments' facts (alignment, multiples
    /// of 16, unit values: [`bitmat_ir::passes::specialize`]).
    fn specializes_on_args(&self) -> bool {
        false
    }

    /// Makes serialized code (just compiled, or read from the disk cache) runnable, printing
    /// its text for `BITMAT_DUMP`. Bytes that do not decode, or describe another kernel than
    /// `ir` or other options, are an error (a disk cache entry is then rebuilt).
    fn load(
        &self,
        ir: &Kernel,
        options: &LaunchOptions,
        bytes: &[u8],
    ) -> Result<Box<dyn Code>, Error>;
}

/// A kernel's code, loaded and ready to run on its backend.
pub(crate) trait Code: Send + Sync {
    /// Runs the code over `grid`; `args` were checked against `ir`'s parameters and belong to
    /// the device.
    fn launch(
        &self,
        ir: &Kernel,
        grid: Grid,
        options: &LaunchOptions,
        args: &[KernelArg<'_>],
    ) -> Result<(), Error>;

    /// Why the code cannot launch on its device (too many registers, threads or bytes of
    /// shared memory per program), for the autotuner's pruning.
    fn check_limits(&self, _ir: &Kernel) -> Result<(), String> {
        Ok(())
    }
}

/// Opens a backend on the host.
pub(crate) type OpenFn = fn() -> Arc<dyn BackendImpl>;

/// The CPU backends, fastest first: [`Device::cpu`] uses the first, [`Device::cpu_with`] any.
/// Registering a CPU backend is one line here.
#[cfg(not(feature = "llvm"))]
pub(crate) const CPU_BACKENDS: &[(Backend, OpenFn)] = &[(Backend::CRANELIFT, cpu::open_cranelift)];

/// The CPU backends, fastest first: [`Device::cpu`] uses the first, [`Device::cpu_with`] any.
/// Registering a CPU backend is one line here.
#[cfg(feature = "llvm")]
pub(crate) const CPU_BACKENDS: &[(Backend, OpenFn)] = &[
    (Backend::LLVM, cpu::open_llvm),
    (Backend::CRANELIFT, cpu::open_cranelift),
];

/// The CPU backend of this build named `name`, or [`Error::UnknownBackend`] listing those
/// there are.
pub(crate) fn cpu_backend(name: &str) -> Result<(Backend, OpenFn), Error> {
    CPU_BACKENDS
        .iter()
        .find(|(b, _)| b.name() == name)
        .copied()
        .ok_or_else(|| Error::UnknownBackend {
            backend: name.to_string(),
            available: CPU_BACKENDS
                .iter()
                .map(|(b, _)| b.name())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// The interpreter backend.
pub(crate) fn interpreter() -> Arc<dyn BackendImpl> {
    interpreter::open()
}

/// A kernel ready to run on one backend: its verified IR (for argument checks and the
/// autotuner) and the backend's code.
pub(crate) struct Compiled {
    /// The specialized, verified IR.
    pub(crate) ir: Kernel,
    /// The backend's code (of the instrumented kernel when `checks` is set).
    pub(crate) code: Box<dyn Code>,
    /// The bounds checks compiled into `code`, for a checked launch.
    pub(crate) checks: Option<Checked>,
    /// For a checked launch whose preconditions ([`Checked::preconditions`]) do not hold: the
    /// kernel with every access checked, compiled on first need.
    pub(crate) all_checked: OnceLock<(Checked, Box<dyn Code>)>,
    /// The kernel's identity, to compile `all_checked`.
    pub(crate) id: KernelId,
    /// For checked launches of an instrumented kernel without checked sites: a record it
    /// never writes, shared by all of them (allocated on first need).
    pub(crate) unused_record: OnceLock<Storage>,
}

impl Compiled {
    /// The record argument of a checked launch whose kernel has no checked site
    /// ([`Self::unused_record`]).
    pub(crate) fn unused_record<'a>(&'a self, device: &'a Device) -> Result<KernelArg<'a>, Error> {
        let storage = match self.unused_record.get() {
            Some(s) => s,
            None => {
                let fresh = device.zeros::<u64>(RECORD_WORDS)?.storage.clone();
                self.unused_record.get_or_init(|| fresh)
            }
        };
        Ok(KernelArg::Buffer {
            dtype: DType::U64,
            device,
            storage,
            len: RECORD_WORDS,
        })
    }

    /// The kernel with every access checked and its code (compiled on the first call).
    pub(crate) fn all_checked(
        &self,
        device: &Device,
        options: &LaunchOptions,
    ) -> Result<&(Checked, Box<dyn Code>), Error> {
        if let Some(c) = self.all_checked.get() {
            return Ok(c);
        }
        let checks = bounds::instrument_all(&self.ir)?;
        let code = compile_code(device, &self.id, &checks.kernel, options)?;
        Ok(self.all_checked.get_or_init(|| (checks, code)))
    }
}

/// The code for `ir` on `device` (whose memory cache missed), with bounds checks when
/// `options.checked` asks for them and the backend compiles them.
pub(crate) fn compile(
    device: &Device,
    id: &KernelId,
    ir: Kernel,
    options: &LaunchOptions,
) -> Result<Compiled, Error> {
    if !(options.checked && device.backend_impl().checks_in_code()) {
        let code = compile_code(device, id, &ir, options)?;
        return Ok(Compiled {
            ir,
            code,
            checks: None,
            all_checked: OnceLock::new(),
            id: id.clone(),
            unused_record: OnceLock::new(),
        });
    }
    let checks = bounds::instrument(&ir)?;
    let code = compile_code(device, id, &checks.kernel, options)?;
    Ok(Compiled {
        ir,
        code,
        checks: Some(checks),
        all_checked: OnceLock::new(),
        id: id.clone(),
        unused_record: OnceLock::new(),
    })
}

/// The code for `ir` on `device`: read from the device's disk cache when an entry for the
/// kernel's disk key is there and loads, else compiled (and written to the disk cache).
fn compile_code(
    device: &Device,
    id: &KernelId,
    ir: &Kernel,
    options: &LaunchOptions,
) -> Result<Box<dyn Code>, Error> {
    let backend = device.backend_impl();
    let Some(key) = device.kernel_disk_key(id, ir, options)? else {
        // A backend without a target compiles nothing.
        return backend.load(ir, options, &backend.compile(ir, options)?);
    };
    let disk = device.disk_cache().map(|cache| (key, cache));
    if let Some((key, cache)) = &disk {
        let started = Instant::now();
        if let Some(bytes) = cache.read(EntryKind::Kernel, key) {
            match backend.load(ir, options, &bytes) {
                Ok(code) => {
                    crate::stats::bump(&crate::stats::COUNTERS.disk_loads);
                    tracing::debug!(
                        kernel = %ir.name,
                        device = %device,
                        ms = started.elapsed().as_secs_f64() * 1e3,
                        "loaded from disk cache"
                    );
                    return Ok(code);
                }
                Err(e) => tracing::warn!(
                    kernel = %ir.name,
                    dir = %cache.root().display(),
                    error = %e,
                    "cache entry ignored; it will be rebuilt"
                ),
            }
        }
    }
    let started = Instant::now();
    let payload = backend.compile(ir, options)?;
    crate::stats::bump(&crate::stats::COUNTERS.compilations);
    tracing::debug!(
        kernel = %ir.name,
        device = %device,
        ms = started.elapsed().as_secs_f64() * 1e3,
        "compiled"
    );
    if let Some((key, cache)) = &disk {
        if cache.write(EntryKind::Kernel, key, &payload) {
            tracing::debug!(
                kernel = %ir.name,
                dir = %cache.root().display(),
                bytes = payload.len(),
                "wrote disk cache entry"
            );
        }
    }
    backend.load(ir, options, &payload)
}

/// The error for serialized code that describes another kernel than `ir` needs (`what`: "another
/// kernel", "another CTA size").
pub(crate) fn mismatch(ir: &Kernel, what: &str) -> Error {
    Error::Codegen(bitmat_codegen::CodegenError::Object(format!(
        "entry holds {what} than kernel `{}` needs",
        ir.name
    )))
}

/// Distinct host buffers, and each argument as the interpreter sees it.
pub(crate) type HostArgs<'a> = (Vec<&'a Arc<Mutex<HostData>>>, Vec<ArgValue>);

/// The distinct host buffers of `args` (aliased arguments share one), and each argument as
/// the interpreter sees it (a buffer by its index among them): how host backends receive
/// their arguments.
pub(crate) fn host_arguments<'a>(args: &[KernelArg<'a>]) -> Result<HostArgs<'a>, Error> {
    let mut storages: Vec<&Arc<Mutex<HostData>>> = Vec::new();
    let mut values = Vec::with_capacity(args.len());
    for arg in args {
        match arg {
            KernelArg::Buffer { storage, .. } => {
                let Storage::Host(storage) = storage else {
                    return Err(Error::NoCudaDriver {
                        reason: "a device buffer passed to a host backend".into(),
                    });
                };
                let index = match storages.iter().position(|s| Arc::ptr_eq(s, storage)) {
                    Some(i) => i,
                    None => {
                        storages.push(storage);
                        storages.len() - 1
                    }
                };
                values.push(ArgValue::Buffer(index));
            }
            KernelArg::Scalar(s) => values.push(ArgValue::Scalar(*s)),
        }
    }
    Ok((storages, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(num_warps: u32, cpu_threads: Option<usize>) -> LaunchOptions {
        LaunchOptions {
            num_warps,
            cpu_threads,
            ..LaunchOptions::default()
        }
    }

    #[test]
    fn cpu_backends_key_no_option_and_time_each_thread_count() {
        for (id, open) in CPU_BACKENDS {
            let b = open();
            assert_eq!(b.id(), *id);
            assert!(b.times_configs());
            assert!(b.target().unwrap().is_some(), "{id} caches on disk");
            assert_eq!(b.code_options(&opts(8, Some(2))), CodeOptions::NONE);
            assert!(b.same_program(&opts(4, Some(2)), &opts(8, Some(2))));
            assert!(!b.same_program(&opts(4, Some(2)), &opts(4, None)));
            assert!(b.check_options(&opts(4, Some(1))).is_ok());
            assert!(b.check_options(&opts(4, Some(0))).is_err());
        }
    }

    #[test]
    fn the_interpreter_compiles_caches_and_times_nothing() {
        let b = interpreter();
        assert_eq!(b.id(), Backend::INTERPRETER);
        assert!(!b.times_configs());
        assert_eq!(b.target().unwrap(), None);
        assert_eq!(b.code_options(&opts(8, None)), CodeOptions::NONE);
    }
}
