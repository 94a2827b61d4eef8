//! The LLVM CPU backend (cargo feature `llvm`): the tile IR lowered to LLVM IR, optimized at
//! `-O3` by LLVM's new pass manager and compiled for the host CPU with its full vector width
//! (AVX2, AVX-512), to a [`CpuObject`] of the shared CPU ABI ([`crate::cpu`]) that the same
//! loader and disk cache as Cranelift's take.
//!
//! [`compile`] writes the kernel as LLVM IR text (`emit`: every tile as chunks of 16 lanes,
//! LLVM vectors in SSA registers), parses and verifies it, optimizes it, emits an ELF object for the host target
//! machine ([`target`]), and links that object into a `CpuObject` (`link`). The IR text
//! after optimization travels in the object (`BITMAT_DUMP=clif` prints it).
//!
//! Results are bit-identical to the reference interpreter's (float sums keep its sequential
//! order, no contraction to FMA, f16/bf16 rounding as `half`), with the same deviations as
//! Cranelift's ([`crate::cranelift`]): no bounds checks in the code itself (safe launches run
//! the kernel instrumented with them), integer division by zero yields 0, a loop with a
//! non-positive step runs no iteration, NaN payloads may differ (LLVM commutes the operands
//! of commutative float ops, so which of two NaNs survives is its choice).

mod emit;
mod link;
pub mod target;

use crate::cpu::{CpuKernel, CpuObject};
use crate::CodegenError;
use bitmat_ir::Kernel;
use inkwell::context::Context;
use inkwell::memory_buffer::MemoryBuffer;
use inkwell::passes::PassBuilderOptions;
use inkwell::targets::FileType;

pub use target::host_target;

/// Compiles a kernel (verified first) for the host CPU with LLVM, to an object not yet
/// loaded.
pub fn compile(kernel: &Kernel) -> Result<CpuObject, CodegenError> {
    bitmat_ir::verify::verify(kernel).map_err(|e| CodegenError::Invalid {
        kernel: kernel.name.clone(),
        message: e.to_string(),
    })?;
    let widened = crate::widen_fp8_dots(kernel);
    let kernel = widened.as_ref();
    let err = |message: String| CodegenError::Llvm {
        kernel: kernel.name.clone(),
        message,
    };
    let text = emit::emit_module(kernel)?;
    let machine = target::machine().map_err(err)?;
    let context = Context::create();
    let buffer = MemoryBuffer::create_from_memory_range_copy(text.as_bytes(), &kernel.name);
    let module = context
        .create_module_from_ir(buffer)
        .map_err(|e| err(format!("parsing the generated IR: {e}")))?;
    module.set_triple(&machine.get_triple());
    module.set_data_layout(&machine.get_target_data().get_data_layout());
    module
        .verify()
        .map_err(|e| err(format!("the generated IR is invalid: {e}")))?;
    module
        .run_passes("default<O3>", &machine, PassBuilderOptions::create())
        .map_err(|e| err(format!("optimizing: {e}")))?;
    let optimized = module.print_to_string().to_string();
    let elf = machine
        .write_to_memory_buffer(&module, FileType::Object)
        .map_err(|e| err(format!("emitting code: {e}")))?;
    link::link(kernel, elf.as_slice(), optimized)
}

/// Compiles a kernel with LLVM and loads it: [`compile`] then [`CpuKernel::load`].
pub fn compile_kernel(kernel: &Kernel) -> Result<CpuKernel, CodegenError> {
    CpuKernel::load(&compile(kernel)?)
}
