//! Backends behind a device: compiling a specialized kernel, and running it over a grid.

use crate::buffer::{lock, Storage};
use crate::cuda::{CudaArg, CudaKernel};
use crate::device::{Backend, Device};
use crate::error::Error;
use crate::launch::{Grid, KernelArg, LaunchOptions};
use bitmat_codegen::CpuKernel;
use bitmat_ir::interp::{self, ArgValue};
use bitmat_ir::{with_host_data, HostData, Kernel};
use std::sync::{Arc, Mutex};

/// A kernel ready to run on one backend: its verified IR (for argument checks) and the
/// backend's code.
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

/// Compiles `ir` for `device`'s backend.
pub(crate) fn compile(
    device: &Device,
    ir: Kernel,
    options: &LaunchOptions,
) -> Result<Compiled, Error> {
    let started = std::time::Instant::now();
    let code = match device.backend() {
        Backend::Interpreter => {
            return Ok(Compiled {
                ir,
                code: Code::Interpreter,
            })
        }
        Backend::Cranelift => {
            let code = CpuKernel::compile(&ir).map_err(Error::Codegen)?;
            crate::dump::dump("clif", &ir.name, || code.clif().to_string());
            Code::Cpu(Box::new(code))
        }
        Backend::Cuda => {
            let cuda = device.inner.cuda.as_ref().ok_or_else(no_context)?;
            Code::Cuda(cuda.compile(&ir, options.num_warps)?)
        }
    };
    crate::stats::bump(&crate::stats::COUNTERS.compilations);
    tracing::debug!(
        kernel = %ir.name,
        device = %device,
        ms = started.elapsed().as_secs_f64() * 1e3,
        "compiled"
    );
    Ok(Compiled { ir, code })
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
