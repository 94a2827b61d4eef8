//! The CPU backend: vectorized code compiled by Cranelift; the programs of a grid run in
//! parallel on rayon's pool.
//!
//! One path from IR to running code: [`CpuObject::compile`] lowers a verified kernel to one
//! function per program instance (see [`abi`]) and compiles it with Cranelift to machine code
//! plus relocations, a plain serializable value ([`object`]); [`CpuKernel::load`] copies that
//! code into executable memory, resolving the relocations (bitmat's helpers, a few float
//! libcalls). The runtime's disk cache stores objects and loads them the same way in a later
//! process. [`CpuKernel::compile`] does both steps.
//!
//! Lowering: every value lives in a scratch arena ([`scratch`]); elementwise ops run over
//! 128-bit chunks with Cranelift SIMD types (`I8X16`, `I16X8`, `I32X4`, `I64X2`, `F32X4`),
//! loads and stores whose pointers the contiguity analysis
//! ([`bitmat_ir::passes::contiguity`]) proves contiguous move whole chunks, and `dot` uses
//! vector multiply-adds. What stays scalar is listed in [`lower`].
//!
//! Results are bit-identical to the reference interpreter's (float sums keep its sequential
//! order, no FMA, f16/bf16 rounding as `half`), except where the interpreter reports an error,
//! which compiled code cannot:
//! - memory accesses are not bounds-checked (an out-of-bounds access is undefined behaviour;
//!   the caller checks arguments, see [`CpuKernel::run`]);
//! - integer division or remainder by zero yields 0;
//! - a loop with a non-positive step runs no iteration;
//! - where two NaNs meet in one float operation, which payload survives may differ.

pub mod abi;
pub mod helpers;
pub mod lower;
pub mod object;
pub mod scratch;

pub use object::{CpuObject, CpuReloc, FloatLibCall, RelocKind, RelocTarget};

use crate::CodegenError;
use abi::ProgramFn;
use bitmat_ir::Kernel;
use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::ir::{ExtFuncData, ExternalName, Function, UserExternalName, UserFuncName};
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::Context;
use rayon::prelude::*;
use std::sync::OnceLock;

/// The host ISA as configured for bitmat (built once per process), or why it cannot be.
fn host_isa() -> Result<&'static OwnedTargetIsa, String> {
    static ISA: OnceLock<Result<OwnedTargetIsa, String>> = OnceLock::new();
    ISA.get_or_init(|| {
        let mut flags = settings::builder();
        for (k, v) in [
            ("opt_level", "speed"),
            ("is_pic", "false"),
            ("use_colocated_libcalls", "false"),
        ] {
            flags.set(k, v).map_err(|e| e.to_string())?;
        }
        let isa_builder = cranelift_native::builder().map_err(|e| e.to_string())?;
        isa_builder
            .finish(settings::Flags::new(flags))
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// What code compiled for this CPU depends on, for cache keys: the target triple, the
/// Cranelift ISA, and every ISA-specific and shared setting (`has_avx2=1`, `opt_level=speed`,
/// ...). Code is only reused where this text is identical, so it never runs on a CPU that
/// lacks a feature it was compiled for.
pub fn host_target() -> Result<&'static str, CodegenError> {
    static TARGET: OnceLock<Result<String, String>> = OnceLock::new();
    TARGET
        .get_or_init(|| {
            let isa = host_isa()?;
            let isa_flags: Vec<String> = isa.isa_flags().iter().map(|v| v.to_string()).collect();
            let shared: Vec<String> = isa.flags().iter().map(|v| v.to_string()).collect();
            Ok(format!(
                "{} {} [{}] [{}]",
                isa.triple(),
                isa.name(),
                isa_flags.join(","),
                shared.join(",")
            ))
        })
        .as_deref()
        .map_err(|message| CodegenError::Cranelift {
            kernel: String::new(),
            message: message.clone(),
        })
}

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

/// One 64-byte aligned line of scratch.
#[derive(Copy, Clone)]
#[repr(C, align(64))]
struct Line([u8; 64]);

thread_local! {
    /// Each thread's scratch arena, grown on demand and reused across programs and launches.
    static SCRATCH: std::cell::RefCell<Vec<Line>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with a scratch arena of at least `lines` lines: the calling thread's own, or a
/// fresh one if that is in use.
fn with_scratch(lines: usize, f: impl FnOnce(*mut u8)) {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut s) => {
            if s.len() < lines {
                s.resize(lines, Line([0; 64]));
            }
            f(s.as_mut_ptr().cast());
        }
        Err(_) => {
            let mut s = vec![Line([0; 64]); lines];
            f(s.as_mut_ptr().cast());
        }
    });
}

impl CpuObject {
    /// Compiles a kernel (verified first) for the host CPU, to an object not yet loaded.
    pub fn compile(kernel: &Kernel) -> Result<CpuObject, CodegenError> {
        bitmat_ir::verify::verify(kernel).map_err(|e| CodegenError::Invalid {
            kernel: kernel.name.clone(),
            message: e.to_string(),
        })?;
        let cl_err = |message: String| CodegenError::Cranelift {
            kernel: kernel.name.clone(),
            message,
        };
        let isa = host_isa().map_err(cl_err)?;
        let call_conv = isa.default_call_conv();
        let mut func = Function::with_name_signature(
            UserFuncName::user(0, 0),
            abi::program_signature(call_conv),
        );
        // Helpers are external functions named (HELPER_NAMESPACE, helper id); not colocated,
        // so calls load their absolute address (an Abs8 relocation) and work from any mapping.
        let helper_refs: Vec<_> = helpers::helpers()
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let name = func.declare_imported_user_function(UserExternalName::new(
                    object::HELPER_NAMESPACE,
                    i as u32,
                ));
                let signature = func.import_signature(helpers::signature(h, call_conv));
                func.import_function(ExtFuncData {
                    name: ExternalName::user(name),
                    signature,
                    colocated: false,
                })
            })
            .collect();
        let scratch_bytes = lower::lower_kernel(kernel, &mut func, &helper_refs)?;
        let clif = func.display().to_string();
        let mut ctx = Context::for_function(func);
        ctx.compile(&**isa, &mut ControlPlane::default())
            .map_err(|e| cl_err(format!("{:?}", e.inner)))?;
        let compiled = ctx
            .compiled_code()
            .ok_or_else(|| cl_err("no compiled code".into()))?;
        let relocs = compiled
            .buffer
            .relocs()
            .iter()
            .map(|r| object::convert_reloc(&kernel.name, r, &ctx.func.params))
            .collect::<Result<Vec<_>, _>>()?;
        let obj = CpuObject {
            name: kernel.name.clone(),
            params: u32::try_from(kernel.params.len())
                .map_err(|_| cl_err("too many parameters".into()))?,
            scratch_bytes: scratch_bytes as u64,
            alignment: compiled.buffer.alignment.max(1),
            code: compiled.buffer.data().to_vec(),
            relocs,
            clif,
        };
        obj.validate()?;
        Ok(obj)
    }
}

impl CpuKernel {
    /// Compiles a kernel (verified first) for the host CPU and loads it: [`CpuObject::compile`]
    /// then [`CpuKernel::load`], keeping the CLIF text.
    pub fn compile(kernel: &Kernel) -> Result<CpuKernel, CodegenError> {
        let obj = CpuObject::compile(kernel)?;
        let mut k = CpuKernel::load(&obj)?;
        k.clif = obj.clif;
        Ok(k)
    }

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
                object::RelocKind::Abs8 => {
                    let addr = r.target.address()?.wrapping_add_signed(r.addend as isize);
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
        // SAFETY: the mapping holds the relocated program function at offset 0, compiled by
        // `CpuObject::compile` with the signature of `ProgramFn`; it lives as long as the
        // kernel (`_code`), and `func` is only called through `&self`.
        let func: ProgramFn = unsafe { std::mem::transmute::<*const u8, ProgramFn>(code.as_ptr()) };
        Ok(CpuKernel {
            name: obj.name.clone(),
            params: obj.params as usize,
            func,
            scratch_bytes: obj.scratch_bytes as usize,
            clif: String::new(),
            _code: code,
        })
    }

    /// The textual Cranelift IR of the compiled program function when compiled with
    /// [`CpuKernel::compile`]; empty for a kernel loaded from a [`CpuObject`].
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
    /// Each worker thread keeps one 64-byte aligned scratch arena
    /// ([`CpuKernel::scratch_bytes`]) and reuses it for every program it runs; a grid of one
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
        let lines = self.scratch_bytes.div_ceil(64).max(1);
        let func = self.func;
        let args_addr = args.as_ptr() as usize;
        let (gx, gy) = (u64::from(grid[0]), u64::from(grid[1]));
        let program = move |p: u64| {
            let pid = [
                (p % gx) as u32,
                ((p / gx) % gy) as u32,
                (p / (gx * gy)) as u32,
            ];
            with_scratch(lines, |scratch| {
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
