//! The default CPU backend: the tile IR lowered to vectorized Cranelift IR and compiled to a
//! [`CpuObject`] of the shared CPU ABI ([`crate::cpu`]), which the CPU loader maps into
//! executable memory and runs in parallel.
//!
//! [`CpuObject::compile`] lowers a verified kernel to one function per program instance (the
//! signature of [`crate::cpu::abi`], see [`signature`]) and compiles it with Cranelift to
//! machine code plus relocations (`reloc`) and its CLIF text; [`CpuKernel::load`] copies that
//! code into executable memory. The runtime's disk cache stores objects and loads them the same
//! way in a later process. [`CpuKernel::compile`] does both steps.
//!
//! Lowering: every value lives in a slot of the scratch arena ([`arena_slots`]); elementwise ops run over
//! 128-bit chunks with Cranelift SIMD types (`I8X16`, `I16X8`, `I32X4`, `I64X2`, `F32X4`),
//! loads and stores whose pointers the contiguity analysis
//! ([`bitmat_ir::passes::contiguity`]) proves contiguous move whole chunks, and `dot` uses
//! vector multiply-adds. What stays scalar is listed in [`lower`].
//!
//! Results are bit-identical to the reference interpreter's (float sums keep its sequential
//! order, no FMA, f16/bf16 rounding as `half`), except where the interpreter reports an error,
//! which compiled code cannot:
//! - memory accesses are not bounds-checked by the code itself (an out-of-bounds access is
//!   undefined behaviour): a safe launch runs the kernel instrumented with checks
//!   ([`bitmat_ir::passes::bounds`]), an unsafe unchecked one relies on its caller;
//! - integer division or remainder by zero yields 0;
//! - a loop with a non-positive step runs no iteration;
//! - where two NaNs meet in one float operation, which payload survives may differ.

pub mod arena_slots;
pub mod lower;
mod reloc;
pub mod signature;

use crate::cpu::{helpers, CpuKernel, CpuObject};
use crate::CodegenError;
use bitmat_ir::Kernel;
use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::ir::{ExtFuncData, ExternalName, Function, UserExternalName, UserFuncName};
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::Context;
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

impl CpuObject {
    /// Compiles a kernel (verified first) for the host CPU with Cranelift, to an object not
    /// yet loaded.
    pub fn compile(kernel: &Kernel) -> Result<CpuObject, CodegenError> {
        bitmat_ir::verify::verify(kernel).map_err(|e| CodegenError::Invalid {
            kernel: kernel.name.clone(),
            message: e.to_string(),
        })?;
        let widened = crate::widen_fp8_dots(kernel);
        let kernel = widened.as_ref();
        let cl_err = |message: String| CodegenError::Cranelift {
            kernel: kernel.name.clone(),
            message,
        };
        let isa = host_isa().map_err(cl_err)?;
        let call_conv = isa.default_call_conv();
        let mut func = Function::with_name_signature(
            UserFuncName::user(0, 0),
            signature::program_signature(call_conv),
        );
        // Helpers are external functions named (HELPER_NAMESPACE, helper id); not colocated,
        // so calls load their absolute address (an Abs8 relocation) and work from any mapping.
        let helper_refs: Vec<_> = helpers::helpers()
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let name = func.declare_imported_user_function(UserExternalName::new(
                    reloc::HELPER_NAMESPACE,
                    i as u32,
                ));
                let signature = func.import_signature(signature::helper_signature(h, call_conv));
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
            .map(|r| reloc::convert_reloc(&kernel.name, r, &ctx.func.params))
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
    /// Compiles a kernel (verified first) for the host CPU with Cranelift and loads it:
    /// [`CpuObject::compile`] then [`CpuKernel::load`].
    pub fn compile(kernel: &Kernel) -> Result<CpuKernel, CodegenError> {
        CpuKernel::load(&CpuObject::compile(kernel)?)
    }
}
