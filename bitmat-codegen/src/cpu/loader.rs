//! Loading a [`CpuObject`] into executable memory as a [`CpuKernel`], and running the programs
//! of a grid in parallel on rayon's pool, each with its thread's scratch arena
//! ([`super::arena`]). Every CPU backend's objects load and run here.

use super::abi::ProgramFn;
use super::arena;
use super::object::{CpuObject, RelocKind};
use crate::CodegenError;
use rayon::prelude::*;

/// A kernel loaded into executable memory for the host CPU.
pub struct CpuKernel {
    name: String,
    params: usize,
    func: ProgramFn,
    scratch_bytes: usize,
    clif: String,
    /// The executable mapping `func` points into; unmapped when the kernel is dropped.
    _code: memmap2::Mmap,
}

impl std::fmt::Debug for CpuKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpuKernel")
            .field("name", &self.name)
            .field("scratch_bytes", &self.scratch_bytes)
            .finish_non_exhaustive()
    }
}

impl CpuKernel {
    /// Loads an object into executable memory: copies its code into a fresh anonymous
    /// mapping, writes the relocated addresses, and makes the mapping executable (read-only).
    /// The object is validated first; a malformed one is an error, never executed.
    pub fn load(obj: &CpuObject) -> Result<CpuKernel, CodegenError> {
        obj.validate()?;
        let load_err = |message: String| CodegenError::Load {
            kernel: obj.name.clone(),
            message,
        };
        let mut map =
            memmap2::MmapMut::map_anon(obj.code.len()).map_err(|e| load_err(e.to_string()))?;
        map.copy_from_slice(&obj.code);
        let base = map.as_ptr() as usize;
        if base % obj.alignment as usize != 0 {
            return Err(load_err(format!(
                "mapping not aligned to {}",
                obj.alignment
            )));
        }
        for r in &obj.relocs {
            let at = r.offset as usize;
            match r.kind {
                // `validate` checked that the 8 bytes lie inside the code.
                RelocKind::Abs8 => {
                    let addr = r
                        .target
                        .address(base)?
                        .wrapping_add_signed(r.addend as isize);
                    map[at..at + 8].copy_from_slice(&(addr as u64).to_ne_bytes());
                }
            }
        }
        let code = map.make_exec().map_err(|e| load_err(e.to_string()))?;
        // Instruction caches are not coherent with data writes on every ISA (aarch64); flush
        // before the first call. Both are no-ops where not needed (x86_64).
        // SAFETY: the range is exactly the mapping, which is live.
        unsafe { wasmtime_jit_icache_coherence::clear_cache(code.as_ptr().cast(), code.len()) }
            .and_then(|()| wasmtime_jit_icache_coherence::pipeline_flush_mt())
            .map_err(|e| load_err(format!("flushing the instruction cache: {e}")))?;
        // SAFETY: the mapping holds the relocated program function at offset 0, compiled by a
        // CPU backend with the signature of `ProgramFn` (`super::abi`); it lives as long as the
        // kernel (`_code`), and `func` is only called through `&self`.
        let func: ProgramFn = unsafe { std::mem::transmute::<*const u8, ProgramFn>(code.as_ptr()) };
        Ok(CpuKernel {
            name: obj.name.clone(),
            params: obj.params as usize,
            func,
            scratch_bytes: obj.scratch_bytes as usize,
            clif: obj.clif.clone(),
            _code: code,
        })
    }

    /// The textual IR of the program function (CLIF or LLVM IR), from its [`CpuObject`] (also
    /// when that object was read from the disk cache).
    pub fn clif(&self) -> &str {
        &self.clif
    }

    /// Bytes of scratch one program uses.
    pub fn scratch_bytes(&self) -> usize {
        self.scratch_bytes
    }

    /// Runs every program of `grid` (x fastest), in parallel over rayon's pool.
    /// `args[i]` is, for `ParamKind::Ptr`, the address of element 0 of the buffer; for
    /// `ParamKind::Scalar`, the value's bits zero-extended (`Scalar::bits()`).
    ///
    /// Each worker thread keeps one aligned scratch arena ([`super::arena`],
    /// [`CpuKernel::scratch_bytes`]) and reuses it for every program it runs; a grid of one
    /// program runs on the calling thread.
    ///
    /// # Safety
    /// Pointers must be valid for every access the kernel makes.
    ///
    /// # Panics
    /// If `args` does not hold one entry per kernel parameter.
    pub unsafe fn run(&self, args: &[u64], grid: [u32; 3]) {
        assert_eq!(
            args.len(),
            self.params,
            "kernel `{}` takes {} arguments",
            self.name,
            self.params
        );
        let total = u64::from(grid[0]) * u64::from(grid[1]) * u64::from(grid[2]);
        let scratch_bytes = self.scratch_bytes;
        let func = self.func;
        let args_addr = args.as_ptr() as usize;
        let (gx, gy) = (u64::from(grid[0]), u64::from(grid[1]));
        let program = move |p: u64| {
            let pid = [
                (p % gx) as u32,
                ((p / gx) % gy) as u32,
                (p / (gx * gy)) as u32,
            ];
            arena::with_arena(scratch_bytes, |scratch| {
                // SAFETY: the caller guarantees the arguments; the scratch arena is private to
                // this call (borrowed from this thread) and as large as the layout requires.
                unsafe {
                    func(
                        args_addr as *const u64,
                        pid.as_ptr(),
                        grid.as_ptr(),
                        scratch,
                    )
                };
            });
        };
        if total == 1 {
            program(0);
        } else {
            (0..total).into_par_iter().for_each(program);
        }
    }
}
