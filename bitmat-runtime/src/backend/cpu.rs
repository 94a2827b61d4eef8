//! The CPU backends, Cranelift and (with the `llvm` feature) LLVM: kernels compiled to a
//! [`CpuObject`] (the disk cache stores its bytes, IR text included), loaded into executable
//! memory by the shared loader, and run over the grid in parallel on rayon's pool (or a pool
//! of [`LaunchOptions::cpu_threads`] threads). The two differ only in their compiler and
//! target; everything else here is one implementation.

use super::{host_arguments, mismatch, BackendImpl, Code};
use crate::buffer::lock;
use crate::cache::CodeOptions;
use crate::device::Backend;
use crate::error::Error;
use crate::launch::{Grid, KernelArg, LaunchOptions};
use bitmat_codegen::{CodegenError, CpuKernel, CpuObject};
use bitmat_ir::interp::ArgValue;
use bitmat_ir::{with_host_data, Kernel};
use std::sync::Arc;

/// A CPU backend: its identifier, tuning fingerprint, compiler and target.
struct CpuBackend {
    id: Backend,
    fingerprint: String,
    compile: fn(&Kernel) -> Result<CpuObject, CodegenError>,
    target: fn() -> Result<&'static str, CodegenError>,
}

/// Opens the Cranelift backend.
pub(super) fn open_cranelift() -> Arc<dyn BackendImpl> {
    Arc::new(CpuBackend {
        id: Backend::CRANELIFT,
        fingerprint: crate::host::cpu_fingerprint().to_string(),
        compile: CpuObject::compile,
        target: bitmat_codegen::cranelift::host_target,
    })
}

/// Opens the LLVM backend. Its tuning results are its own: the fingerprint names it.
#[cfg(feature = "llvm")]
pub(super) fn open_llvm() -> Arc<dyn BackendImpl> {
    Arc::new(CpuBackend {
        id: Backend::LLVM,
        fingerprint: format!("llvm; {}", crate::host::cpu_fingerprint()),
        compile: bitmat_codegen::llvm::compile,
        target: || {
            bitmat_codegen::llvm::host_target().map_err(|message| CodegenError::Llvm {
                kernel: String::new(),
                message,
            })
        },
    })
}

impl BackendImpl for CpuBackend {
    fn id(&self) -> Backend {
        self.id
    }

    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn target(&self) -> Result<Option<&str>, Error> {
        Ok(Some((self.target)()?))
    }

    fn code_options(&self, _options: &LaunchOptions) -> CodeOptions {
        CodeOptions::NONE
    }

    /// The code is the same for every option; only the threads that run it differ.
    fn same_program(&self, a: &LaunchOptions, b: &LaunchOptions) -> bool {
        a.cpu_threads == b.cpu_threads
    }

    fn check_options(&self, options: &LaunchOptions) -> Result<(), String> {
        match options.cpu_threads {
            Some(0) => Err("cpu_threads=0; a pool needs at least 1 thread".into()),
            _ => Ok(()),
        }
    }

    fn compile(&self, ir: &Kernel, _options: &LaunchOptions) -> Result<Vec<u8>, Error> {
        Ok((self.compile)(ir)?.to_bytes())
    }

    fn load(
        &self,
        ir: &Kernel,
        _options: &LaunchOptions,
        bytes: &[u8],
    ) -> Result<Box<dyn Code>, Error> {
        let obj = CpuObject::from_bytes(bytes)?;
        if obj.name() != ir.name || obj.params() != ir.params.len() {
            return Err(mismatch(ir, "another kernel"));
        }
        crate::dump::dump("clif", &ir.name, || obj.clif().to_string());
        Ok(Box::new(CpuKernel::load(&obj)?))
    }
}

impl Code for CpuKernel {
    fn launch(
        &self,
        ir: &Kernel,
        grid: Grid,
        options: &LaunchOptions,
        args: &[KernelArg<'_>],
    ) -> Result<(), Error> {
        let run = || {
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
            // SAFETY: the arguments were checked against the kernel's parameters (count,
            // kinds, element types), every buffer is locked for the whole launch, and the
            // addresses point at their element 0. Accesses a kernel makes outside its buffers
            // are the kernel author's contract, as documented on `Device::cpu`.
            unsafe { self.run(&words, grid.0) };
            Ok(())
        };
        match options.cpu_threads {
            Some(threads) => crate::threads::pool(&ir.name, threads)?.install(run),
            None => run(),
        }
    }
}
