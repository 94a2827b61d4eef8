//! Devices: where buffers live and kernels run.

use crate::backend::{self, BackendImpl};
use crate::buffer::Buffer;
use crate::cache::{disk_key, KernelCache};
use crate::cuda::CudaDev;
use crate::disk::DiskCache;
use crate::error::Error;
use crate::launch::{KernelId, LaunchOptions};
use bitmat_ir::{Element, Kernel};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// Which backend runs a device's kernels: a plain identifier, compared and printed, never
/// matched on to dispatch work (the runtime dispatches through the backend's implementation).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Backend {
    name: &'static str,
    gpu: bool,
}

impl Backend {
    /// The reference interpreter: every op on the host, out-of-bounds accesses reported.
    pub const INTERPRETER: Backend = Backend::host("interpreter");
    /// The CPU: kernels compiled by Cranelift to vectorized code, programs in parallel.
    pub const CRANELIFT: Backend = Backend::host("cranelift");
    /// The CPU: kernels compiled by LLVM for the host CPU's full vector width (a build with
    /// the `llvm` feature; [`Backend::cpu_backends`] says whether this one has it).
    pub const LLVM: Backend = Backend::host("llvm");
    /// A CUDA GPU: kernels compiled to PTX, buffers in device memory.
    pub const CUDA: Backend = Backend {
        name: "cuda",
        gpu: true,
    };

    /// A backend that runs kernels on the host, over host memory (a new CPU backend declares
    /// its constant with it, in its own file).
    pub(crate) const fn host(name: &'static str) -> Backend {
        Backend { name, gpu: false }
    }

    /// The backend's name in cache keys and messages.
    pub fn name(self) -> &'static str {
        self.name
    }

    /// Whether the backend runs kernels on a GPU (programs are CTAs of `num_warps` warps, so
    /// tuned configurations differ from the host's).
    pub fn is_gpu(self) -> bool {
        self.gpu
    }

    /// The CPU backends this build has, fastest first ([`Device::cpu`] uses the first).
    pub fn cpu_backends() -> Vec<Backend> {
        backend::CPU_BACKENDS.iter().map(|(b, _)| *b).collect()
    }

    /// The CPU backend of this build named `name` (`cranelift`, `llvm`), or
    /// [`Error::UnknownBackend`] listing those there are.
    pub fn cpu_from_name(name: &str) -> Result<Backend, Error> {
        backend::cpu_backend(name).map(|(b, _)| b)
    }

    /// The CPU backend `BITMAT_CPU_BACKEND` names, if it is set ([`Backend::cpu_from_name`]).
    pub fn cpu_from_env() -> Result<Option<Backend>, Error> {
        match std::env::var(CPU_BACKEND_VAR) {
            Ok(name) if !name.is_empty() => Backend::cpu_from_name(&name).map(Some),
            _ => Ok(None),
        }
    }
}

/// The environment variable that picks the CPU backend of [`Device::cpu`].
pub const CPU_BACKEND_VAR: &str = "BITMAT_CPU_BACKEND";

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

pub(crate) struct DeviceInner {
    pub(crate) id: u64,
    /// The backend that compiles and runs the device's kernels.
    pub(crate) backend: Arc<dyn BackendImpl>,
    pub(crate) label: String,
    pub(crate) cache: KernelCache,
    /// The on-disk kernel cache compiled kernels are read from and written to.
    pub(crate) disk: RwLock<Option<DiskCache>>,
    /// The CUDA context of a GPU device, which its buffers, timing and peers use.
    pub(crate) cuda: Option<CudaDev>,
}

impl DeviceInner {
    fn new(backend: Arc<dyn BackendImpl>, label: String, cuda: Option<CudaDev>) -> DeviceInner {
        DeviceInner {
            id: NEXT_DEVICE_ID.fetch_add(1, Ordering::Relaxed),
            backend,
            label,
            cache: KernelCache::default(),
            disk: RwLock::new(DiskCache::global().cloned()),
            cuda,
        }
    }
}

/// A device: the reference interpreter, the CPU or a CUDA GPU. Cheap to clone (clones share
/// the device, its kernel caches included).
///
/// Kernels are cached at two levels: in memory per device, and on disk
/// ([`Device::disk_cache`], by default [`DiskCache::global`]) across processes, so that a
/// second process start loads compiled kernels instead of compiling them again.
#[derive(Clone)]
pub struct Device {
    pub(crate) inner: Arc<DeviceInner>,
}

static NEXT_DEVICE_ID: AtomicU64 = AtomicU64::new(0);

impl Device {
    fn host(backend: Arc<dyn BackendImpl>, label: impl Into<String>) -> Device {
        Device {
            inner: Arc::new(DeviceInner::new(backend, label.into(), None)),
        }
    }

    /// The reference interpreter: the oracle every backend is tested against. Slow; reports
    /// out-of-bounds accesses as errors.
    pub fn interpreter() -> Device {
        Device::host(backend::interpreter(), "interpreter")
    }

    /// The CPU: kernels are compiled to SIMD code (or loaded from the disk cache) by the
    /// fastest CPU backend of this build (LLVM with the `llvm` feature, else Cranelift), or by
    /// the one `BITMAT_CPU_BACKEND` names (`cranelift`, `llvm`; an unknown name is logged as a
    /// warning and ignored: [`Backend::cpu_from_env`] reports it as an error). The programs of
    /// a grid run in parallel on rayon's thread pool (`RAYON_NUM_THREADS` sets its size).
    ///
    /// Compiled code does not check bounds: a kernel that reads outside its buffers is
    /// undefined behaviour here, as on a GPU. [`Device::interpreter`] reports such accesses.
    pub fn cpu() -> Device {
        let chosen = Backend::cpu_from_env().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "{CPU_BACKEND_VAR} ignored");
            None
        });
        let (backend, open) = chosen
            .and_then(|b| backend::cpu_backend(b.name()).ok())
            .unwrap_or(backend::CPU_BACKENDS[0]);
        Device::cpu_of(backend, open())
    }

    /// The CPU with kernels compiled by `backend`, one of [`Backend::cpu_backends`];
    /// otherwise [`Error::UnknownBackend`]. [`Device::cpu`] is the fastest of them.
    pub fn cpu_with(backend: Backend) -> Result<Device, Error> {
        let (b, open) = backend::cpu_backend(backend.name())?;
        Ok(Device::cpu_of(b, open()))
    }

    fn cpu_of(backend: Backend, implementation: Arc<dyn BackendImpl>) -> Device {
        let threads = rayon::current_num_threads();
        Device::host(
            implementation,
            format!("cpu ({backend}, {threads} threads)"),
        )
    }

    /// CUDA device `ordinal`.
    ///
    /// Fails with [`Error::NoCudaDriver`] when the driver library cannot be loaded, there is no
    /// such device, or it is older than compute capability 8.0.
    pub fn cuda(ordinal: usize) -> Result<Device, Error> {
        let dev = crate::cuda::open(ordinal)?;
        Ok(Device {
            inner: Arc::new(DeviceInner::new(
                backend::cuda::open(Arc::new(dev.clone())),
                dev.label.clone(),
                Some(dev),
            )),
        })
    }

    /// The backend that runs kernels on this device.
    pub fn backend(&self) -> Backend {
        self.inner.backend.id()
    }

    /// The implementation of the device's backend.
    pub(crate) fn backend_impl(&self) -> &dyn BackendImpl {
        &*self.inner.backend
    }

    /// A human-readable name (`interpreter`, `cpu`, `cuda:0 (NVIDIA H100)`).
    pub fn name(&self) -> &str {
        &self.inner.label
    }

    /// What identifies this device for autotuning results, which are stored per fingerprint:
    /// for a GPU its name, compute capability and driver version
    /// (`cuda: NVIDIA H100 80GB HBM3; sm_90; driver 12.8`); for the CPU its model, the SIMD
    /// features detected at run time and the threads of rayon's global pool
    /// (`cpu: AMD EPYC 7B13; sse4.1 avx avx2 fma f16c; 2 threads`); `interpreter` for the
    /// interpreter.
    pub fn fingerprint(&self) -> &str {
        self.inner.backend.fingerprint()
    }

    /// Number of kernels in this device's memory cache (compiled or loaded from disk).
    pub fn cached_kernels(&self) -> usize {
        self.inner.cache.len()
    }

    /// The on-disk cache this device loads compiled kernels from and stores them in: at
    /// creation [`DiskCache::global`] (`BITMAT_CACHE_DIR`, else the user's cache directory;
    /// none with `BITMAT_DISK_CACHE=0`), unless replaced with [`Device::set_disk_cache`].
    /// The interpreter never uses it.
    pub fn disk_cache(&self) -> Option<DiskCache> {
        self.inner
            .disk
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Makes this device (and its clones) use `cache` for compiled kernels from now on, or no
    /// disk cache with `None`. Kernels already compiled stay in the device's memory cache.
    /// Tests use it to point a device at a temporary directory without environment variables.
    pub fn set_disk_cache(&self, cache: Option<DiskCache>) {
        *self.inner.disk.write().unwrap_or_else(|e| e.into_inner()) = cache;
    }

    /// This device using `cache` for compiled kernels ([`Device::set_disk_cache`]), e.g.
    /// `Device::cpu().with_disk_cache(Some(DiskCache::at(dir)))`.
    pub fn with_disk_cache(self, cache: Option<DiskCache>) -> Device {
        self.set_disk_cache(cache);
        self
    }

    /// The key under which kernel `id`, specialized to `ir` and launched with `options`, is
    /// stored in the disk cache on this device: the compiler version, backend, target (the
    /// PTX target, or the CPU's ISA and enabled features), the options that change the code,
    /// the kernel's name, source hash and constexprs, and a hash of `ir`'s text. `None` on
    /// the interpreter, which caches nothing on disk.
    pub fn kernel_disk_key(
        &self,
        id: &KernelId,
        ir: &Kernel,
        options: &LaunchOptions,
    ) -> Result<Option<String>, Error> {
        let backend = self.backend_impl();
        Ok(backend
            .target()?
            .map(|target| disk_key(backend.id(), target, backend.code_options(options), id, ir)))
    }

    /// Copies `data` to a new buffer on this device.
    pub fn upload<T: Element>(&self, data: &[T]) -> Result<Buffer<T>, Error> {
        match &self.inner.cuda {
            Some(c) => Ok(Buffer::on_device(self.clone(), c.upload(data)?, data.len())),
            None => Ok(Buffer::from_vec(self.clone(), data.to_vec())),
        }
    }

    /// A new buffer of `len` zeros.
    pub fn zeros<T: Element>(&self, len: usize) -> Result<Buffer<T>, Error> {
        self.upload(&vec![T::default(); len])
    }

    pub(crate) fn same(&self, other: &Device) -> bool {
        self.inner.id == other.inner.id
    }
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Device({})", self.inner.label)
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.label)
    }
}
