//! A CUDA device through the driver: its context and stream, buffers as device allocations,
//! PTX modules loaded and launched (what the CUDA backend, [`crate::backend::cuda`], and the
//! device's buffers, timing and peers use).
//!
//! The driver library is loaded at run time (cudarc's `dynamic-loading`), so bitmat builds
//! and runs without CUDA; [`open`] reports a missing driver as [`Error::NoCudaDriver`].

use crate::error::Error;
use bitmat_codegen::ptx::{param_is_64bit, PtxModule, PtxTarget};
use bitmat_ir::{DType, Element, ParamKind, Scalar};
use cudarc::driver::sys::CUfunction_attribute_enum;
use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, LaunchConfig, PushKernelArg,
};
use std::sync::{Arc, Mutex};

/// An opened CUDA device. Kernels arrive as a [`PtxModule`] (PTX text, entry, shared memory,
/// threads), just generated or read from the disk cache, and are loaded ([`CudaDev::load`]).
/// Clones share the context and stream.
#[derive(Clone)]
pub(crate) struct CudaDev {
    /// The stream every launch and copy of the device goes to.
    pub(crate) stream: Arc<CudaStream>,
    /// The PTX target for the device's compute capability.
    pub(crate) target: PtxTarget,
    /// `cuda:N (name)`.
    pub(crate) label: String,
    /// What identifies the GPU for autotuning results: name, compute capability, driver.
    pub(crate) fingerprint: String,
}

/// Device memory of a buffer, as bytes.
pub(crate) type DeviceBytes = Arc<Mutex<CudaSlice<u8>>>;

/// A kernel loaded on a device: its function and what a launch needs (the PTX text is not
/// kept).
pub(crate) struct CudaKernel {
    func: CudaFunction,
    /// Threads per CTA.
    threads: u32,
    /// Bytes of dynamic shared memory per CTA.
    shared_bytes: u32,
}

pub(crate) fn driver(kernel: &str, what: &str, e: impl std::fmt::Debug) -> Error {
    Error::Cuda {
        kernel: kernel.to_string(),
        message: format!("{what}: {e:?}"),
    }
}

/// Opens device `ordinal`, or says why it cannot.
pub(crate) fn open(ordinal: usize) -> Result<CudaDev, Error> {
    let no = |reason: String| Error::NoCudaDriver { reason };
    // SAFETY: only tries to load the driver library.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        return Err(no(
            "the CUDA driver library (libcuda) could not be loaded".into()
        ));
    }
    let ctx = CudaContext::new(ordinal).map_err(|e| no(format!("device {ordinal}: {e:?}")))?;
    let (major, minor) = ctx
        .compute_capability()
        .map_err(|e| no(format!("device {ordinal}: {e:?}")))?;
    let target =
        PtxTarget::from_compute_capability(major as u32, minor as u32).ok_or_else(|| {
            no(format!(
            "device {ordinal} has compute capability {major}.{minor}; bitmat needs 8.0 or newer"
        ))
        })?;
    let name = ctx.name().unwrap_or_else(|_| "unknown GPU".into());
    let mut driver_version = 0;
    // SAFETY: the driver is loaded (checked above); the call writes one int.
    let _ = unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut driver_version) };
    Ok(CudaDev {
        stream: ctx.default_stream(),
        target,
        label: format!("cuda:{ordinal} ({name})"),
        fingerprint: format!(
            "cuda: {name}; sm_{major}{minor}; driver {}.{}",
            driver_version / 1000,
            (driver_version % 1000) / 10
        ),
    })
}

fn to_bytes<T: Element>(data: &[T]) -> Vec<u8> {
    let size = T::DTYPE.size_bytes();
    let mut out = Vec::with_capacity(data.len() * size);
    for &x in data {
        out.extend_from_slice(&x.to_scalar().bits().to_le_bytes()[..size]);
    }
    out
}

fn from_bytes<T: Element>(bytes: &[u8]) -> Vec<T> {
    let size = T::DTYPE.size_bytes();
    bytes
        .chunks_exact(size)
        .map(|c| {
            let mut b = [0u8; 8];
            b[..size].copy_from_slice(c);
            T::from_scalar(Scalar::from_bits(T::DTYPE, u64::from_le_bytes(b)))
        })
        .collect()
}

impl CudaDev {
    /// A device allocation holding `data`.
    pub(crate) fn upload<T: Element>(&self, data: &[T]) -> Result<DeviceBytes, Error> {
        // Never allocate zero bytes: keep one so every buffer has an address.
        let mut bytes = to_bytes(data);
        if bytes.is_empty() {
            bytes.push(0);
        }
        let s = self
            .stream
            .clone_htod(&bytes)
            .map_err(|e| driver("upload", "copy to device", e))?;
        Ok(Arc::new(Mutex::new(s)))
    }

    /// Replaces the contents of `dst` with `data` (same length).
    pub(crate) fn copy_from<T: Element>(&self, dst: &DeviceBytes, data: &[T]) -> Result<(), Error> {
        let bytes = to_bytes(data);
        if bytes.is_empty() {
            return Ok(());
        }
        let mut g = lock(dst);
        let mut view = g.slice_mut(0..bytes.len());
        self.stream
            .memcpy_htod(&bytes, &mut view)
            .map_err(|e| driver("copy_from", "copy to device", e))
    }

    /// The first `len` elements of `src` (synchronizes with the device).
    pub(crate) fn download<T: Element>(
        &self,
        src: &DeviceBytes,
        len: usize,
    ) -> Result<Vec<T>, Error> {
        let g = lock(src);
        let bytes = self
            .stream
            .clone_dtoh(&*g)
            .map_err(|e| driver("to_vec", "copy to host", e))?;
        let n = len * T::DTYPE.size_bytes();
        Ok(from_bytes(&bytes[..n.min(bytes.len())]))
    }

    /// Loads `module` (just generated, or read from the disk cache) through the driver.
    pub(crate) fn load(&self, kernel: &str, module: &PtxModule) -> Result<CudaKernel, Error> {
        let ctx = self.stream.context();
        let m = ctx
            .load_module(cudarc::nvrtc::Ptx::from_src(module.text.clone()))
            .map_err(|e| driver(kernel, "loading the PTX module", e))?;
        let func = m
            .load_function(&module.entry)
            .map_err(|e| driver(kernel, "finding the entry point", e))?;
        if module.shared_bytes > 48 * 1024 {
            func.set_attribute(
                CUfunction_attribute_enum::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                module.shared_bytes as i32,
            )
            .map_err(|e| driver(kernel, "requesting dynamic shared memory", e))?;
        }
        Ok(CudaKernel {
            func,
            threads: module.threads,
            shared_bytes: module.shared_bytes,
        })
    }

    /// Launches `k` over `grid` with `args` (buffers and scalars in parameter order).
    pub(crate) fn launch(
        &self,
        name: &str,
        k: &CudaKernel,
        grid: [u32; 3],
        args: &[CudaArg<'_>],
    ) -> Result<(), Error> {
        // Distinct buffers are locked once each for the whole launch.
        let mut uniq: Vec<&DeviceBytes> = Vec::new();
        for a in args {
            if let CudaArg::Buffer(b) = a {
                if !uniq.iter().any(|u| Arc::ptr_eq(u, b)) {
                    uniq.push(b);
                }
            }
        }
        let guards: Vec<_> = uniq.iter().map(|b| lock(b)).collect();
        let mut words32 = Vec::new();
        let mut words64 = Vec::new();
        for a in args {
            if let CudaArg::Scalar(s) = a {
                if is_64bit(*s) {
                    words64.push(s.bits());
                } else {
                    words32.push(scalar_word(*s));
                }
            }
        }
        let mut b = self.stream.launch_builder(&k.func);
        let (mut i32s, mut i64s) = (words32.iter(), words64.iter());
        for a in args {
            match a {
                CudaArg::Buffer(buf) => {
                    let i = uniq.iter().position(|u| Arc::ptr_eq(u, buf)).unwrap_or(0);
                    b.arg(&*guards[i]);
                }
                CudaArg::Scalar(s) if is_64bit(*s) => {
                    if let Some(w) = i64s.next() {
                        b.arg(w);
                    }
                }
                CudaArg::Scalar(_) => {
                    if let Some(w) = i32s.next() {
                        b.arg(w);
                    }
                }
            }
        }
        let cfg = LaunchConfig {
            grid_dim: (grid[0], grid[1], grid[2]),
            block_dim: (k.threads, 1, 1),
            shared_mem_bytes: k.shared_bytes,
        };
        // SAFETY: the arguments match the entry's parameters: the runtime checked them
        // against the kernel's IR, and `compile_ptx` declares a `.u64` per buffer and per
        // scalar `param_is_64bit` names and a `.u32` per other scalar, in order.
        unsafe { b.launch(cfg) }.map_err(|e| driver(name, "launch", e))?;
        Ok(())
    }
}

/// What a loaded kernel needs of a CTA, and what the device allows: for autotuning to prune
/// configurations that cannot launch.
pub(crate) struct CudaResources {
    /// Threads per CTA (`num_warps * 32`).
    pub(crate) threads: u32,
    /// Registers per thread.
    pub(crate) registers: i32,
    /// The device's registers per CTA.
    pub(crate) max_registers: i32,
    /// Static plus dynamic shared memory per CTA, in bytes.
    pub(crate) shared_bytes: i64,
    /// The device's shared memory per CTA (opt-in maximum), in bytes.
    pub(crate) max_shared_bytes: i64,
    /// The most threads per CTA this function can launch with.
    pub(crate) max_threads: i32,
}

impl CudaDev {
    /// The resources `k` needs and the device's limits.
    pub(crate) fn resources(&self, name: &str, k: &CudaKernel) -> Result<CudaResources, Error> {
        use cudarc::driver::sys::CUdevice_attribute as A;
        let ctx = self.stream.context();
        let device = |a| {
            ctx.attribute(a)
                .map_err(|e| driver(name, "reading a device limit", e))
        };
        let func = |r: Result<i32, _>| r.map_err(|e| driver(name, "reading a kernel attribute", e));
        Ok(CudaResources {
            threads: k.threads,
            registers: func(k.func.num_regs())?,
            max_registers: device(A::CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK)?,
            shared_bytes: i64::from(func(k.func.shared_size_bytes())?) + i64::from(k.shared_bytes),
            max_shared_bytes: i64::from(device(
                A::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
            )?),
            max_threads: func(k.func.max_threads_per_block())?,
        })
    }

    /// A new device allocation holding a copy of `src` (queued on the device's stream).
    pub(crate) fn duplicate(&self, src: &DeviceBytes) -> Result<DeviceBytes, Error> {
        let g = lock(src);
        let copy = self
            .stream
            .clone_dtod(&*g)
            .map_err(|e| driver("snapshot", "copying on the device", e))?;
        Ok(Arc::new(Mutex::new(copy)))
    }

    /// Zeroes `buffer` (queued on the device's stream).
    pub(crate) fn zero(&self, buffer: &DeviceBytes) -> Result<(), Error> {
        let mut b = lock(buffer);
        self.stream
            .memset_zeros(&mut *b)
            .map_err(|e| driver("reset to zero", "clearing a buffer", e))
    }

    /// Copies `src` over `dst` (same size; queued on the device's stream).
    pub(crate) fn copy_device(&self, src: &DeviceBytes, dst: &DeviceBytes) -> Result<(), Error> {
        let s = lock(src);
        let mut d = lock(dst);
        self.stream
            .memcpy_dtod(&*s, &mut *d)
            .map_err(|e| driver("restore", "copying on the device", e))
    }
}

/// A launch argument on a CUDA device.
pub(crate) enum CudaArg<'a> {
    /// A buffer.
    Buffer(&'a DeviceBytes),
    /// A scalar.
    Scalar(Scalar),
}

/// Whether scalar `s` is passed as a `.u64` parameter (as `compile_ptx` declares it).
fn is_64bit(s: Scalar) -> bool {
    param_is_64bit(ParamKind::Scalar(s.dtype()))
}

/// The `.u32` parameter word of a scalar of at most 32 bits: sign-extended for signed
/// integers, raw bits otherwise.
fn scalar_word(s: Scalar) -> u32 {
    match s.dtype() {
        DType::I8 | DType::I16 | DType::I32 => s.as_i64() as u32,
        _ => s.bits() as u32,
    }
}

fn lock(m: &Mutex<CudaSlice<u8>>) -> std::sync::MutexGuard<'_, CudaSlice<u8>> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
