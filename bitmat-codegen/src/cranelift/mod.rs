//! The CPU backend: a vectorized Cranelift JIT; the programs of a grid run in parallel on
//! rayon's pool.
//!
//! [`CpuKernel::compile`] lowers a verified kernel to one function per program instance (see
//! [`abi`]). Every value lives in a scratch arena ([`scratch`]); elementwise ops run over
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
pub mod scratch;

use crate::CodegenError;
use abi::ProgramFn;
use bitmat_ir::Kernel;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{Linkage, Module};
use rayon::prelude::*;

/// The JIT module, kept alive (and freed) with the kernel.
struct Module_(Option<JITModule>);

impl Drop for Module_ {
    fn drop(&mut self) {
        if let Some(m) = self.0.take() {
            // SAFETY: the only pointer into the module's code is `CpuKernel::func`, which is
            // dropped with it; `run` borrows the kernel, so no call is in flight.
            unsafe { m.free_memory() };
        }
    }
}

/// A kernel compiled for the host CPU.
pub struct CpuKernel {
    name: String,
    params: usize,
    func: ProgramFn,
    scratch_bytes: usize,
    clif: String,
    _module: Module_,
}

// SAFETY: after `finalize_definitions` the module's code and data are immutable; the function
// is reentrant (all its state is in the scratch arena it is handed), so it may be called from
// any thread, concurrently.
unsafe impl Send for CpuKernel {}
// SAFETY: see `Send`; `&CpuKernel` only reads immutable data and calls reentrant code.
unsafe impl Sync for CpuKernel {}

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

impl CpuKernel {
    /// Compiles a kernel (verified first) for the host CPU.
    pub fn compile(kernel: &Kernel) -> Result<CpuKernel, CodegenError> {
        bitmat_ir::verify::verify(kernel).map_err(|e| CodegenError::Invalid {
            kernel: kernel.name.clone(),
            message: e.to_string(),
        })?;
        let cl_err = |message: String| CodegenError::Cranelift {
            kernel: kernel.name.clone(),
            message,
        };
        let mut flags = settings::builder();
        for (k, v) in [
            ("opt_level", "speed"),
            ("is_pic", "false"),
            ("use_colocated_libcalls", "false"),
        ] {
            flags.set(k, v).map_err(|e| cl_err(e.to_string()))?;
        }
        let isa_builder = cranelift_native::builder().map_err(|e| cl_err(e.to_string()))?;
        let isa = isa_builder
            .finish(settings::Flags::new(flags))
            .map_err(|e| cl_err(e.to_string()))?;
        let call_conv = isa.default_call_conv();
        let mut jb = JITBuilder::with_isa(isa, cranelift_module::default_libcall_names());
        let helpers = helpers::helpers();
        for h in &helpers {
            jb.symbol(h.name, h.addr);
        }
        let mut module = JITModule::new(jb);
        let mut helper_ids = Vec::with_capacity(helpers.len());
        for h in &helpers {
            let sig = helpers::signature(h, call_conv);
            let id = module
                .declare_function(h.name, Linkage::Import, &sig)
                .map_err(|e| cl_err(e.to_string()))?;
            helper_ids.push(id);
        }
        let sig = abi::program_signature(call_conv);
        let fid = module
            .declare_function("bitmat_program", Linkage::Local, &sig)
            .map_err(|e| cl_err(e.to_string()))?;
        let mut ctx = module.make_context();
        ctx.func.signature = sig;
        let helper_refs: Vec<_> = helper_ids
            .iter()
            .map(|&id| module.declare_func_in_func(id, &mut ctx.func))
            .collect();
        let scratch_bytes = lower::lower_kernel(kernel, &mut ctx.func, &helper_refs)?;
        let clif = ctx.func.display().to_string();
        module
            .define_function(fid, &mut ctx)
            .map_err(|e| cl_err(format!("{e:?}")))?;
        module.clear_context(&mut ctx);
        module
            .finalize_definitions()
            .map_err(|e| cl_err(e.to_string()))?;
        let code = module.get_finalized_function(fid);
        // SAFETY: `code` is the finalized function with the signature of `ProgramFn`.
        let func: ProgramFn = unsafe { std::mem::transmute::<*const u8, ProgramFn>(code) };
        Ok(CpuKernel {
            name: kernel.name.clone(),
            params: kernel.params.len(),
            func,
            scratch_bytes,
            clif,
            _module: Module_(Some(module)),
        })
    }

    /// The textual Cranelift IR of the compiled program function.
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
