//! Vendor baselines for benchmarks on CUDA devices: a cuBLAS fp16 GEMM and a device-to-device
//! copy, queued on the device's stream so that [`Device::time_ms`] times them like kernels.
//!
//! cuBLAS is loaded at run time like the driver, from a CUDA 12 or 13 install (see the
//! `cublas` module: by soname, else from `$CUDA_HOME/lib64`, `$CUDA_PATH/lib64` or
//! `/usr/local/cuda/lib64`), without restarting the process.

use crate::cublas::{self, CublasHandle};
use crate::cuda::{driver, CudaDev};
use crate::device::Device;
use crate::error::Error;
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

/// Where cuBLAS was loaded from (a soname or a path), loading it if need be.
///
/// Errors: [`Error::NoCudaDriver`] naming every place looked at, when none holds it.
pub fn cublas_source() -> Result<&'static str, Error> {
    Ok(&cublas::cublas()?.source)
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
    blas: CublasHandle,
    stream: Arc<CudaStream>,
    x: CudaSlice<u16>,
    w: CudaSlice<u16>,
    y: CudaSlice<u16>,
    m: i32,
    n: i32,
    k: i32,
}

impl CublasGemmF16 {
    /// Allocates random operands on `device` and creates a cuBLAS handle on its stream.
    ///
    /// Errors: [`Error::NoCudaDriver`] when `device` is not a CUDA device or cuBLAS cannot be
    /// loaded; [`Error::Cuda`] when an allocation or copy fails or an extent exceeds `i32`.
    pub fn new(device: &Device, m: usize, n: usize, k: usize) -> Result<Self, Error> {
        let x = random_f16_bits(m * k, 1);
        let w = random_f16_bits(n * k, 2);
        Self::with_operands(device, &x, &w, m, n, k)
    }

    /// Uploads the operands `x[m, k]` and `w[n, k]` (row-major fp16 bit patterns) to `device`
    /// and creates a cuBLAS handle on its stream, so that the GEMM's output can be compared
    /// with another kernel's on the same inputs ([`CublasGemmF16::output`]).
    ///
    /// Errors: those of [`CublasGemmF16::new`], and [`Error::Cuda`] when `x` or `w` does not
    /// hold `m * k` or `n * k` values.
    pub fn with_operands(
        device: &Device,
        x: &[u16],
        w: &[u16],
        m: usize,
        n: usize,
        k: usize,
    ) -> Result<Self, Error> {
        let cuda = cuda_of(device)?;
        cublas::cublas()?;
        let bad = |message: String| Error::Cuda {
            kernel: "cublas gemm".into(),
            message,
        };
        let extent =
            |v: usize| i32::try_from(v).map_err(|_| bad(format!("extent {v} exceeds i32::MAX")));
        let (mi, ni, ki) = (extent(m)?, extent(n)?, extent(k)?);
        if x.len() != m * k || w.len() != n * k {
            return Err(bad(format!(
                "operands of {} and {} values for m={m} n={n} k={k}",
                x.len(),
                w.len()
            )));
        }
        let stream = cuda.stream.clone();
        let upload = |data: &[u16]| {
            stream
                .clone_htod(data)
                .map_err(|e| driver("cublas gemm", "uploading an operand", e))
        };
        let (x, w) = (upload(x)?, upload(w)?);
        let y = stream
            .alloc_zeros::<u16>(m * n)
            .map_err(|e| driver("cublas gemm", "allocating the output", e))?;
        let blas = CublasHandle::new(stream.cu_stream())?;
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

    /// The output `y[m, n]` of the last GEMM, as fp16 bit patterns (waits for it).
    ///
    /// Errors: [`Error::Cuda`] when the copy fails.
    pub fn output(&self) -> Result<Vec<u16>, Error> {
        self.stream
            .clone_dtoh(&self.y)
            .map_err(|e| driver("cublas gemm", "reading the output", e))
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
        let code = unsafe {
            (self.blas.api().gemm_ex)(
                self.blas.raw(),
                cublas::OP_T,
                cublas::OP_N,
                self.n,
                self.m,
                self.k,
                (&alpha) as *const f32 as *const c_void,
                w as *const c_void,
                cublas::R_16F,
                self.k,
                x as *const c_void,
                cublas::R_16F,
                self.k,
                (&beta) as *const f32 as *const c_void,
                y as *mut c_void,
                cublas::R_16F,
                self.n,
                cublas::COMPUTE_32F,
                cublas::GEMM_DEFAULT,
            )
        };
        cublas::status("cublasGemmEx", code)
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
