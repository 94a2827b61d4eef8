//! The CUDA backend: kernels compiled to PTX by `bitmat-codegen` (the disk cache stores the
//! [`PtxModule`], text included), loaded by the driver into the device's context
//! ([`crate::cuda`]), and launched on the device's stream.

use super::{mismatch, BackendImpl, Code};
use crate::buffer::Storage;
use crate::cache::CodeOptions;
use crate::cuda::{CudaArg, CudaDev, CudaKernel};
use crate::device::Backend;
use crate::error::Error;
use crate::launch::{Grid, KernelArg, LaunchOptions};
use bitmat_codegen::ptx::{compile_ptx, PtxModule, PtxOptions};
use bitmat_ir::Kernel;
use std::sync::Arc;

/// The CUDA backend of one opened device.
struct Cuda {
    dev: Arc<CudaDev>,
}

/// The CUDA backend of `dev`.
pub(crate) fn open(dev: Arc<CudaDev>) -> Arc<dyn BackendImpl> {
    Arc::new(Cuda { dev })
}

impl BackendImpl for Cuda {
    fn id(&self) -> Backend {
        Backend::CUDA
    }

    fn fingerprint(&self) -> &str {
        &self.dev.fingerprint
    }

    fn target(&self) -> Result<Option<&str>, Error> {
        Ok(Some(self.dev.target.arch()))
    }

    fn code_options(&self, options: &LaunchOptions) -> CodeOptions {
        CodeOptions::warps_and_stages(options)
    }

    fn check_options(&self, options: &LaunchOptions) -> Result<(), String> {
        check_num_warps(options.num_warps)?;
        if !(1..=8).contains(&options.num_stages) {
            return Err(format!(
                "num_stages={} is out of range; 1 to 8 are accepted (1 pipelines nothing)",
                options.num_stages
            ));
        }
        Ok(())
    }

    fn specializes_on_args(&self) -> bool {
        true
    }

    fn compile(&self, ir: &Kernel, options: &LaunchOptions) -> Result<Vec<u8>, Error> {
        let ptx = PtxOptions {
            num_warps: options.num_warps,
            num_stages: options.num_stages,
        };
        Ok(compile_ptx(ir, self.dev.target, ptx)?.to_bytes())
    }

    fn load(
        &self,
        ir: &Kernel,
        options: &LaunchOptions,
        bytes: &[u8],
    ) -> Result<Box<dyn Code>, Error> {
        let module = PtxModule::from_bytes(bytes)?;
        if module.threads != options.num_warps.saturating_mul(32) {
            return Err(mismatch(ir, "another CTA size"));
        }
        crate::dump::dump("ptx", &ir.name, || module.text.clone());
        Ok(Box::new(Loaded {
            dev: Arc::clone(&self.dev),
            kernel: self.dev.load(&ir.name, &module)?,
        }))
    }
}

/// Why a program of `num_warps` warps cannot be a CTA (32 to 1024 threads).
fn check_num_warps(num_warps: u32) -> Result<(), String> {
    if (1..=32).contains(&num_warps) {
        return Ok(());
    }
    Err(format!(
        "num_warps={num_warps} makes {} threads per program; a CTA has 32 to 1024",
        num_warps.saturating_mul(32)
    ))
}

/// A kernel loaded into a device's context.
struct Loaded {
    dev: Arc<CudaDev>,
    kernel: CudaKernel,
}

impl Code for Loaded {
    fn launch(
        &self,
        ir: &Kernel,
        grid: Grid,
        _options: &LaunchOptions,
        args: &[KernelArg<'_>],
    ) -> Result<(), Error> {
        let mut cargs = Vec::with_capacity(args.len());
        for a in args {
            cargs.push(match a {
                KernelArg::Buffer {
                    storage: Storage::Cuda(d),
                    ..
                } => CudaArg::Buffer(d),
                KernelArg::Buffer { .. } => {
                    return Err(Error::NoCudaDriver {
                        reason: "a host buffer passed to a CUDA kernel".into(),
                    })
                }
                KernelArg::Scalar(s) => CudaArg::Scalar(*s),
            });
        }
        if grid.0.contains(&0) {
            return Ok(());
        }
        self.dev.launch(&ir.name, &self.kernel, grid.0, &cargs)
    }

    fn check_limits(&self, ir: &Kernel) -> Result<(), String> {
        let r = self
            .dev
            .resources(&ir.name, &self.kernel)
            .map_err(|e| e.to_string())?;
        let threads = i64::from(r.threads);
        if i64::from(r.max_threads) < threads {
            return Err(format!(
                "{threads} threads per CTA, but with {} registers per thread the kernel \
                 launches at most {}",
                r.registers, r.max_threads
            ));
        }
        if i64::from(r.registers) * threads > i64::from(r.max_registers) {
            return Err(format!(
                "{} registers x {threads} threads exceed the {} registers of a CTA",
                r.registers, r.max_registers
            ));
        }
        if r.shared_bytes > r.max_shared_bytes {
            return Err(format!(
                "{} bytes of shared memory exceed the device's {} per CTA",
                r.shared_bytes, r.max_shared_bytes
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctas_have_1_to_32_warps() {
        for ok in [1, 4, 32] {
            assert_eq!(check_num_warps(ok), Ok(()));
        }
        for bad in [0, 33, u32::MAX] {
            let reason = check_num_warps(bad).unwrap_err();
            assert!(reason.contains(&format!("num_warps={bad}")), "{reason}");
        }
    }
}
