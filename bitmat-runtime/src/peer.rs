//! Vendor baselines for benchmarks on CUDA devices: a cuBLAS fp16 GEMM and a device-to-device
//! copy, queued on the device's stream so that [`Device::time_ms`] times them like kernels.
//!
//! cuBLAS is loaded at run time like the driver. When `libcublas` is not on the loader's path,
//! it is looked for in `$CUDA_HOME/lib64`, `$CUDA_PATH/lib64` and `/usr/local/cuda/lib64`.

use crate::cuda::{driver, CudaDev};
use crate::device::Device;
use crate::error::Error;
use cudarc::cublas::sys::{cublasComputeType_t, cublasGemmAlgo_t, cublasOperation_t, cudaDataType};
use cudarc::cublas::CudaBlas;
use cudarc::driver::{CudaSlice, CudaStream, DevicePtr, DevicePtrMut};
use std::ffi::c_void;
use std::sync::Arc;

fn cuda_of(device: &Device) -> Result<&CudaDev, Error> {
    device
        .inner
        .cuda
        .as_ref()
        .ok_or_else(|| Error::NoCudaDriver {
            reason: format!("{device} is not a CUDA device"),
        })
}

/// Directories where cuBLAS is looked for when it is not on the loader's path:
/// `$CUDA_HOME/lib64`, `$CUDA_PATH/lib64`, `/usr/local/cuda/lib64`.
fn cuda_lib_dirs() -> Vec<String> {
    let mut dirs: Vec<String> = ["CUDA_HOME", "CUDA_PATH"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .map(|d| format!("{d}/lib64"))
        .collect();
    dirs.push("/usr/local/cuda/lib64".into());
    dirs
}

/// When cuBLAS cannot be loaded by name (cudarc looks for `libcublas.so` and the CUDA 12
/// sonames on the loader's path) but a CUDA install directory holds `libcublas.so`, that
/// directory: a process started with it on `LD_LIBRARY_PATH` can load cuBLAS. `None` when
/// cuBLAS loads as is, or no such directory exists.
pub fn cublas_dir_off_the_loader_path() -> Option<String> {
    // SAFETY: only tries to load the library.
    if unsafe { cudarc::cublas::sys::is_culib_present() } {
        return None;
    }
    cuda_lib_dirs()
        .into_iter()
        .find(|d| std::path::Path::new(&format!("{d}/libcublas.so")).exists())
}

/// Makes `libcublas` loadable: as is, or from the usual CUDA install directories.
fn load_cublas() -> Result<(), Error> {
    // SAFETY: only tries to load the library.
    if unsafe { cudarc::cublas::sys::is_culib_present() } {
        return Ok(());
    }
    let dirs = cuda_lib_dirs();
    for dir in &dirs {
        for version in ["12", "13"] {
            let lt = format!("{dir}/libcublasLt.so.{version}");
            let blas = format!("{dir}/libcublas.so.{version}");
            if !std::path::Path::new(&blas).exists() {
                continue;
            }
            // SAFETY: loading cuBLAS runs its initializers, which have no preconditions. The
            // libraries stay loaded for the life of the process (cudarc looks them up by
            // soname), so they are leaked on purpose.
            unsafe {
                if let Ok(l) = libloading::Library::new(&lt) {
                    std::mem::forget(l);
                }
                if let Ok(l) = libloading::Library::new(&blas) {
                    std::mem::forget(l);
                }
                if cudarc::cublas::sys::is_culib_present() {
                    return Ok(());
                }
            }
        }
    }
    Err(Error::NoCudaDriver {
        reason: format!(
            "cuBLAS (libcublas) could not be loaded from the library path nor from {}; \
             add the directory holding libcublas.so to LD_LIBRARY_PATH",
            dirs.join(", ")
        ),
    })
}

/// Pseudo-random `f16` bit patterns with magnitudes in `[0.5, 1)` and random signs.
fn random_f16_bits(len: usize, seed: u64) -> Vec<u16> {
    let mut s = seed | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 16) as u16 & 0x83ff) | 0x3800
        })
        .collect()
}

/// cuBLAS's fp16 GEMM `y[m, n] = x[m, k] x w[n, k]^T` (`cublasGemmEx`, fp16 inputs and output,
/// fp32 accumulation, default algorithm: tensor cores), on random operands in device memory.
/// The weights are `[n, k]` row-major like a linear layer's, so this is the `[m, k] x [k, n]`
/// product a W4A16 or W2A8 kernel computes.
pub struct CublasGemmF16 {
    blas: CudaBlas,
    stream: Arc<CudaStream>,
    x: CudaSlice<u16>,
    w: CudaSlice<u16>,
    y: CudaSlice<u16>,
    m: i32,
    n: i32,
    k: i32,
}

impl CublasGemmF16 {
    /// Allocates and fills the operands on `device` and creates a cuBLAS handle on its stream.
    ///
    /// Errors: [`Error::NoCudaDriver`] when `device` is not a CUDA device or cuBLAS cannot be
    /// loaded; [`Error::Cuda`] when an allocation or copy fails or an extent exceeds `i32`.
    pub fn new(device: &Device, m: usize, n: usize, k: usize) -> Result<Self, Error> {
        let cuda = cuda_of(device)?;
        load_cublas()?;
        let extent = |v: usize| {
            i32::try_from(v).map_err(|_| Error::Cuda {
                kernel: "cublas gemm".into(),
                message: format!("extent {v} exceeds i32::MAX"),
            })
        };
        let (mi, ni, ki) = (extent(m)?, extent(n)?, extent(k)?);
        let stream = cuda.stream.clone();
        let upload = |len: usize, seed: u64| {
            stream
                .clone_htod(&random_f16_bits(len, seed))
                .map_err(|e| driver("cublas gemm", "uploading an operand", e))
        };
        let x = upload(m * k, 1)?;
        let w = upload(n * k, 2)?;
        let y = stream
            .alloc_zeros::<u16>(m * n)
            .map_err(|e| driver("cublas gemm", "allocating the output", e))?;
        let blas = CudaBlas::new(stream.clone()).map_err(|e| Error::Cuda {
            kernel: "cublas gemm".into(),
            message: format!("creating a cuBLAS handle: {e:?}"),
        })?;
        Ok(CublasGemmF16 {
            blas,
            stream,
            x,
            w,
            y,
            m: mi,
            n: ni,
            k: ki,
        })
    }

    /// Queues one GEMM on the device's stream (does not wait for it).
    pub fn run(&mut self) -> Result<(), Error> {
        let (alpha, beta) = (1.0f32, 0.0f32);
        // Row-major y[m, n] is column-major y^T[n, m] = w[n, k] x^T[k, m]: with column-major
        // storage, w is [k, n] (transposed by cuBLAS) and x is [k, m].
        let (w, _gw) = self.w.device_ptr(&self.stream);
        let (x, _gx) = self.x.device_ptr(&self.stream);
        let (y, _gy) = self.y.device_ptr_mut(&self.stream);
        // SAFETY: the operands hold n*k, m*k and m*n fp16 values on the handle's stream, as the
        // leading dimensions (k, k, n) and extents say; alpha and beta are f32 as the compute
        // type CUBLAS_COMPUTE_32F requires.
        unsafe {
            cudarc::cublas::result::gemm_ex(
                *self.blas.handle(),
                cublasOperation_t::CUBLAS_OP_T,
                cublasOperation_t::CUBLAS_OP_N,
                self.n,
                self.m,
                self.k,
                (&alpha) as *const f32 as *const c_void,
                w as *const c_void,
                cudaDataType::CUDA_R_16F,
                self.k,
                x as *const c_void,
                cudaDataType::CUDA_R_16F,
                self.k,
                (&beta) as *const f32 as *const c_void,
                y as *mut c_void,
                cudaDataType::CUDA_R_16F,
                self.n,
                cublasComputeType_t::CUBLAS_COMPUTE_32F,
                cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
            )
        }
        .map_err(|e| Error::Cuda {
            kernel: "cublas gemm".into(),
            message: format!("cublasGemmEx: {e:?}"),
        })
    }
}

/// A device-to-device copy between two device buffers of the same size (`cuMemcpyDtoDAsync`):
/// the memory-bandwidth floor of a benchmark.
pub struct DeviceCopy {
    stream: Arc<CudaStream>,
    src: CudaSlice<u8>,
    dst: CudaSlice<u8>,
}

impl DeviceCopy {
    /// Allocates two buffers of `bytes` bytes on `device`.
    ///
    /// Errors: [`Error::NoCudaDriver`] when `device` is not a CUDA device; [`Error::Cuda`] when
    /// an allocation fails.
    pub fn new(device: &Device, bytes: usize) -> Result<Self, Error> {
        let stream = cuda_of(device)?.stream.clone();
        let alloc = || {
            stream
                .alloc_zeros::<u8>(bytes.max(1))
                .map_err(|e| driver("device copy", "allocating", e))
        };
        Ok(DeviceCopy {
            src: alloc()?,
            dst: alloc()?,
            stream,
        })
    }

    /// Bytes copied by one [`DeviceCopy::run`] (each is read once and written once).
    pub fn bytes(&self) -> usize {
        self.src.len()
    }

    /// Queues one copy on the device's stream (does not wait for it).
    pub fn run(&mut self) -> Result<(), Error> {
        self.stream
            .memcpy_dtod(&self.src, &mut self.dst)
            .map_err(|e| driver("device copy", "copying", e))
    }
}
