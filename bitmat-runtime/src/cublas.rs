//! cuBLAS, loaded at run time from a CUDA 12 or CUDA 13 install, for the benchmark peer.
//!
//! cudarc's own loader (built for one CUDA version, 12.8 here) asks the dynamic loader for
//! `libcublas.so` and the CUDA 12 and older sonames only, and the loader reads
//! `LD_LIBRARY_PATH` once, at process start: CUDA 13's `libcublas.so.13` in
//! `/usr/local/cuda/lib64` could only be reached by starting the process again. So bitmat loads
//! cuBLAS itself with `libloading`: by soname first (`libcublas.so.13`, then `.so.12`, then
//! `libcublas.so`, wherever the loader looks), then by absolute path from `$CUDA_HOME/lib64`,
//! `$CUDA_PATH/lib64` and `/usr/local/cuda/lib64` (with the `libcublasLt` of the same directory
//! loaded first, so that cuBLAS's dependency on it is met by soname).
//!
//! Only four functions are used: `cublasCreate_v2`, `cublasSetStream_v2`, `cublasGemmEx` and
//! `cublasDestroy_v2`. Their signatures and the enum values passed (`CUBLAS_OP_N/T`,
//! `CUDA_R_16F`, `CUBLAS_COMPUTE_32F`, `CUBLAS_GEMM_DEFAULT`) are the same in CUDA 12 and 13
//! (`cublas_api.h`, `library_types.h`), so one binding serves both.

use crate::error::Error;
use cudarc::driver::sys::CUstream;
use std::ffi::{c_int, c_void};
use std::path::Path;
use std::sync::OnceLock;

/// `cublasHandle_t`.
pub(crate) type Handle = *mut c_void;

/// `cublasOperation_t::CUBLAS_OP_N`.
pub(crate) const OP_N: c_int = 0;
/// `cublasOperation_t::CUBLAS_OP_T`.
pub(crate) const OP_T: c_int = 1;
/// `cudaDataType::CUDA_R_16F`.
pub(crate) const R_16F: c_int = 2;
/// `cublasComputeType_t::CUBLAS_COMPUTE_32F`.
pub(crate) const COMPUTE_32F: c_int = 68;
/// `cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT`.
pub(crate) const GEMM_DEFAULT: c_int = -1;

type CreateFn = unsafe extern "C" fn(*mut Handle) -> c_int;
type DestroyFn = unsafe extern "C" fn(Handle) -> c_int;
type SetStreamFn = unsafe extern "C" fn(Handle, CUstream) -> c_int;
/// `cublasGemmEx(handle, transa, transb, m, n, k, alpha, A, Atype, lda, B, Btype, ldb, beta,
/// C, Ctype, ldc, computeType, algo)`.
pub(crate) type GemmExFn = unsafe extern "C" fn(
    Handle,
    c_int,
    c_int,
    c_int,
    c_int,
    c_int,
    *const c_void,
    *const c_void,
    c_int,
    c_int,
    *const c_void,
    c_int,
    c_int,
    *const c_void,
    *mut c_void,
    c_int,
    c_int,
    c_int,
    c_int,
) -> c_int;

/// The loaded library and its functions.
pub(crate) struct Cublas {
    /// Where it was loaded from (a soname or a path).
    pub(crate) source: String,
    create: CreateFn,
    destroy: DestroyFn,
    set_stream: SetStreamFn,
    /// `cublasGemmEx`.
    pub(crate) gemm_ex: GemmExFn,
    /// Keeps the functions valid: the library is never unloaded.
    _lib: libloading::Library,
}

/// The sonames tried, newest first.
const SONAMES: [&str; 3] = ["libcublas.so.13", "libcublas.so.12", "libcublas.so"];

/// Directories of CUDA installs tried after the loader's own search:
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

/// Every place cuBLAS is looked for, in order: sonames, then each soname in each directory.
fn candidates() -> Vec<String> {
    let mut all: Vec<String> = SONAMES.iter().map(|s| s.to_string()).collect();
    for dir in cuda_lib_dirs() {
        all.extend(SONAMES.iter().map(|s| format!("{dir}/{s}")));
    }
    all
}

/// Loads the library at `name` (a soname or a path) and looks its functions up.
fn open(name: &str) -> Result<Cublas, String> {
    let path = Path::new(name);
    if path.is_absolute() {
        if !path.exists() {
            return Err(format!("{name}: no such file"));
        }
        // cuBLAS needs libcublasLt of the same version; loaded first by path, the loader then
        // finds it by soname. A failure shows up when cuBLAS itself is loaded.
        let lt = name.replacen("libcublas.so", "libcublasLt.so", 1);
        // SAFETY: loading a CUDA library runs its initializers, which have no preconditions.
        if let Ok(lib) = unsafe { libloading::Library::new(&lt) } {
            // Kept for the life of the process, as cuBLAS is.
            std::mem::forget(lib);
        }
    }
    // SAFETY: as above.
    let lib = unsafe { libloading::Library::new(name) }.map_err(|e| format!("{name}: {e}"))?;
    // SAFETY: the symbols are looked up with the signatures of `cublas_api.h` (CUDA 12 and
    // 13 alike, see the module docs).
    unsafe {
        let sym = |s: &str| format!("{name}: no symbol {s}");
        let create = *lib
            .get::<CreateFn>(b"cublasCreate_v2\0")
            .map_err(|_| sym("cublasCreate_v2"))?;
        let destroy = *lib
            .get::<DestroyFn>(b"cublasDestroy_v2\0")
            .map_err(|_| sym("cublasDestroy_v2"))?;
        let set_stream = *lib
            .get::<SetStreamFn>(b"cublasSetStream_v2\0")
            .map_err(|_| sym("cublasSetStream_v2"))?;
        let gemm_ex = *lib
            .get::<GemmExFn>(b"cublasGemmEx\0")
            .map_err(|_| sym("cublasGemmEx"))?;
        Ok(Cublas {
            source: name.to_string(),
            create,
            destroy,
            set_stream,
            gemm_ex,
            _lib: lib,
        })
    }
}

/// cuBLAS, loaded on first use (see the module docs); a typed error listing every place
/// looked at when none holds it.
pub(crate) fn cublas() -> Result<&'static Cublas, Error> {
    static CUBLAS: OnceLock<Result<Cublas, String>> = OnceLock::new();
    let loaded = CUBLAS.get_or_init(|| {
        let mut tried = Vec::new();
        for name in candidates() {
            match open(&name) {
                Ok(c) => {
                    tracing::debug!(source = %c.source, "cuBLAS loaded");
                    return Ok(c);
                }
                Err(e) => tried.push(e),
            }
        }
        Err(tried.join("; "))
    });
    loaded.as_ref().map_err(|tried| Error::NoCudaDriver {
        reason: format!(
            "cuBLAS (libcublas, CUDA 12 or 13) could not be loaded: {tried}; set CUDA_HOME \
             to the CUDA install holding lib64/libcublas.so.*"
        ),
    })
}

/// A cuBLAS handle bound to a stream; destroyed on drop.
pub(crate) struct CublasHandle {
    api: &'static Cublas,
    handle: Handle,
}

impl CublasHandle {
    /// Creates a handle whose work goes to `stream`.
    pub(crate) fn new(stream: CUstream) -> Result<CublasHandle, Error> {
        let api = cublas()?;
        let mut handle: Handle = std::ptr::null_mut();
        // SAFETY: `handle` is a valid place for the new handle.
        status("cublasCreate", unsafe { (api.create)(&mut handle) })?;
        let h = CublasHandle { api, handle };
        // SAFETY: a live handle and a stream of the current context.
        status("cublasSetStream", unsafe {
            (api.set_stream)(h.handle, stream)
        })?;
        Ok(h)
    }

    /// The raw handle, for calls through [`CublasHandle::api`].
    pub(crate) fn raw(&self) -> Handle {
        self.handle
    }

    /// The library's functions.
    pub(crate) fn api(&self) -> &'static Cublas {
        self.api
    }
}

impl Drop for CublasHandle {
    fn drop(&mut self) {
        // SAFETY: the handle is live and dropped once.
        unsafe { (self.api.destroy)(self.handle) };
    }
}

/// `Ok` for `CUBLAS_STATUS_SUCCESS` (0), else a typed error naming the call and the status.
pub(crate) fn status(call: &str, code: c_int) -> Result<(), Error> {
    if code == 0 {
        Ok(())
    } else {
        Err(Error::Cuda {
            kernel: "cublas gemm".into(),
            message: format!("{call} returned cuBLAS status {code}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sonames_come_before_install_directories_newest_first() {
        let c = candidates();
        assert_eq!(&c[..3], &SONAMES);
        assert!(c.contains(&"/usr/local/cuda/lib64/libcublas.so.13".to_string()));
        let v13 = c
            .iter()
            .position(|s| s == "/usr/local/cuda/lib64/libcublas.so.13");
        let v12 = c
            .iter()
            .position(|s| s == "/usr/local/cuda/lib64/libcublas.so.12");
        assert!(v13 < v12);
    }

    #[test]
    fn a_missing_library_is_a_typed_error_or_a_working_one() {
        match cublas() {
            Ok(c) => assert!(c.source.contains("libcublas.so")),
            Err(e) => {
                assert!(matches!(e, Error::NoCudaDriver { .. }));
                assert!(
                    e.to_string()
                        .contains("/usr/local/cuda/lib64/libcublas.so.13"),
                    "{e}"
                );
            }
        }
    }

    #[test]
    fn status_codes_are_typed() {
        assert!(status("x", 0).is_ok());
        let e = status("cublasGemmEx", 13).unwrap_err();
        assert!(
            e.to_string()
                .contains("cublasGemmEx returned cuBLAS status 13"),
            "{e}"
        );
    }
}
