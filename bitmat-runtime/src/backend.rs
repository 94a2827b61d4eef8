//! Backends behind a device: compiling a specialized kernel, and running it over a grid.

use crate::buffer::{lock, Storage};
use crate::cuda::{CudaArg, CudaKernel};
use crate::device::{Backend, Device};
use crate::disk::EntryKind;
use crate::error::Error;
use crate::launch::{Grid, KernelArg, KernelId, LaunchOptions};
use bitmat_codegen::ptx::PtxModule;
use bitmat_codegen::{CodegenError, CpuKernel, CpuObject};
use bitmat_ir::interp::{self, ArgValue};
use bitmat_ir::{with_host_data, HostData, Kernel};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A kernel ready to run on one backend: its verified IR (for argument checks, and what the
/// interpreter runs) and the backend's code, nothing else.
pub(crate) struct Compiled {
    /// The specialized, verified IR.
    pub(crate) ir: Kernel,
    code: Code,
}

/// The backend's form of a kernel.
enum Code {
    /// The interpreter runs the IR itself.
    Interpreter,
    /// Machine code for this CPU.
    Cpu(Box<CpuKernel>),
    /// PTX loaded into the device's CUDA context.
    Cuda(CudaKernel),
}

fn no_context() -> Error {
    Error::NoCudaDriver {
        reason: "CUDA device without a context".into(),
    }
}

/// The backend code for `ir` on `device` (whose memory cache missed): read from the device's
/// disk cache when an entry for the kernel's disk key is there and loads, else compiled and
/// written to the disk cache. The interpreter compiles nothing and never touches the disk.
pub(crate) fn compile(
    device: &Device,
    id: &KernelId,
    ir: Kernel,
    options: &LaunchOptions,
) -> Result<Compiled, Error> {
    let backend = device.backend();
    if backend == Backend::INTERPRETER {
        return Ok(Compiled {
            ir,
            code: Code::Interpreter,
        });
    }
    let disk = match device.disk_cache() {
        Some(cache) => Some((device.disk_key(id, &ir, options)?, cache)),
        None => None,
    };
    if let Some((key, cache)) = &disk {
        let started = Instant::now();
        if let Some(bytes) = cache.read(EntryKind::Kernel, key) {
            match load(device, &ir, options, &bytes) {
                Ok(code) => {
                    crate::stats::bump(&crate::stats::COUNTERS.disk_loads);
                    tracing::debug!(
                        kernel = %ir.name,
                        device = %device,
                        ms = started.elapsed().as_secs_f64() * 1e3,
                        "loaded from disk cache"
                    );
                    return Ok(Compiled { ir, code });
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
    let (code, payload) = match backend {
        Backend::CRANELIFT => {
            let obj = CpuObject::compile(&ir)?;
            crate::dump::dump("clif", &ir.name, || obj.clif().to_string());
            let kernel = CpuKernel::load(&obj)?;
            (Code::Cpu(Box::new(kernel)), obj.to_bytes())
        }
        Backend::CUDA => {
            let cuda = device.inner.cuda.as_ref().ok_or_else(no_context)?;
            let module = cuda.generate(&ir, options.num_warps)?;
            let kernel = cuda.load(&ir.name, &module)?;
            (Code::Cuda(kernel), module.to_bytes())
        }
        _ => unreachable!("the interpreter is handled above"),
    };
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
    Ok(Compiled { ir, code })
}

/// Loads the payload of a disk cache entry for `ir`: a CPU object mapped into executable
/// memory, or PTX loaded by the driver. A payload that does not decode, or describes another
/// kernel, is an error (the caller then rebuilds it).
fn load(
    device: &Device,
    ir: &Kernel,
    options: &LaunchOptions,
    bytes: &[u8],
) -> Result<Code, Error> {
    let mismatch = |what: &str| {
        Error::Codegen(CodegenError::Object(format!(
            "entry holds {what} than kernel `{}` needs",
            ir.name
        )))
    };
    match device.backend() {
        Backend::CRANELIFT => {
            let obj = CpuObject::from_bytes(bytes)?;
            if obj.name() != ir.name || obj.params() != ir.params.len() {
                return Err(mismatch("another kernel"));
            }
            Ok(Code::Cpu(Box::new(CpuKernel::load(&obj)?)))
        }
        Backend::CUDA => {
            let cuda = device.inner.cuda.as_ref().ok_or_else(no_context)?;
            let module = PtxModule::from_bytes(bytes)?;
            if module.threads != options.num_warps.saturating_mul(32) {
                return Err(mismatch("another CTA size"));
            }
            Ok(Code::Cuda(cuda.load(&ir.name, &module)?))
        }
        _ => Ok(Code::Interpreter),
    }
}

/// Distinct host buffers, and each argument as the interpreter sees it.
type HostArgs<'a> = (Vec<&'a Arc<Mutex<HostData>>>, Vec<ArgValue>);

/// The distinct host buffers of `args` (aliased arguments share one), and each argument as
/// the interpreter sees it.
fn host_arguments<'a>(args: &[KernelArg<'a>]) -> Result<HostArgs<'a>, Error> {
    let mut storages: Vec<&Arc<Mutex<HostData>>> = Vec::new();
    let mut values = Vec::with_capacity(args.len());
    for arg in args {
        match arg {
            KernelArg::Buffer { storage, .. } => {
                let Storage::Host(storage) = storage else {
                    return Err(no_context());
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

/// Runs `compiled` over `grid` (arguments already checked against its parameters).
pub(crate) fn run(
    device: &Device,
    compiled: &Compiled,
    grid: Grid,
    args: &[KernelArg<'_>],
) -> Result<(), Error> {
    match &compiled.code {
        Code::Interpreter => {
            let (storages, values) = host_arguments(args)?;
            // One lock per distinct buffer, held for the whole launch.
            let mut guards: Vec<_> = storages.iter().map(|s| lock(s)).collect();
            let mut buffers: Vec<&mut HostData> = guards.iter_mut().map(|g| &mut **g).collect();
            interp::run(&compiled.ir, grid.0, &values, &mut buffers)?;
        }
        Code::Cpu(code) => {
            let (storages, values) = host_arguments(args)?;
            let mut guards: Vec<_> = storages.iter().map(|s| lock(s)).collect();
            let addresses: Vec<u64> = guards
                .iter_mut()
                .map(|g| with_host_data!(&mut **g, v => v.as_mut_ptr() as u64))
                .collect();
            let words: Vec<u64> = values
                .iter()
                .map(|v| match v {
                    ArgValue::Buffer(i) => addresses[*i],
                    ArgValue::Scalar(s) => s.bits(),
                })
                .collect();
            // SAFETY: the arguments were checked against the kernel's parameters (count, kinds,
            // element types), every buffer is locked for the whole launch, and the addresses
            // point at their element 0. Accesses a kernel makes outside its buffers are the
            // kernel author's contract, as documented on `Device::cpu`.
            unsafe { code.run(&words, grid.0) };
        }
        Code::Cuda(k) => {
            let cuda = device.inner.cuda.as_ref().ok_or_else(no_context)?;
            let mut cargs = Vec::with_capacity(args.len());
            for a in args {
                cargs.push(match a {
                    KernelArg::Buffer {
                        storage: Storage::Cuda(d),
                        ..
                    } => CudaArg::Buffer(d),
                    KernelArg::Buffer { .. } => return Err(no_context()),
                    KernelArg::Scalar(s) => CudaArg::Scalar(*s),
                });
            }
            if grid.0.contains(&0) {
                return Ok(());
            }
            cuda.launch(&compiled.ir.name, k, grid.0, &cargs)?;
        }
    }
    Ok(())
}

/// What a CUDA kernel needs of a CTA and the device's limits; `None` on other backends.
pub(crate) fn cuda_resources(
    device: &Device,
    compiled: &Compiled,
) -> Result<Option<crate::cuda::CudaResources>, Error> {
    match &compiled.code {
        Code::Cuda(k) => {
            let cuda = device.inner.cuda.as_ref().ok_or_else(no_context)?;
            Ok(Some(cuda.resources(&compiled.ir.name, k)?))
        }
        _ => Ok(None),
    }
}
