//! Cranelift's relocations as the CPU object's ([`crate::cpu::object`]).
//!
//! The ISA is set up with `is_pic = false` and the helpers are declared not colocated, so
//! compiled code reaches helpers and float libcalls through absolute 64-bit addresses
//! (Cranelift's `Abs8`, on x86_64 as on aarch64): the only kind the CPU loader resolves.

use crate::cpu::helpers;
use crate::cpu::object::{CpuReloc, FloatLibCall, RelocKind, RelocTarget};
use crate::CodegenError;
use cranelift_codegen::binemit::Reloc;
use cranelift_codegen::ir::function::FunctionParameters;
use cranelift_codegen::ir::{ExternalName, LibCall};
use cranelift_codegen::{FinalizedMachReloc, FinalizedRelocTarget};

/// The user-external-name namespace of the helpers; the index is the [`helpers::HelperId`].
pub(crate) const HELPER_NAMESPACE: u32 = 0;

/// The object's name for a Cranelift libcall, when the loader implements it.
fn float_libcall(lc: LibCall) -> Option<FloatLibCall> {
    use FloatLibCall as F;
    Some(match lc {
        LibCall::CeilF32 => F::CeilF32,
        LibCall::CeilF64 => F::CeilF64,
        LibCall::FloorF32 => F::FloorF32,
        LibCall::FloorF64 => F::FloorF64,
        LibCall::TruncF32 => F::TruncF32,
        LibCall::TruncF64 => F::TruncF64,
        LibCall::NearestF32 => F::NearestF32,
        LibCall::NearestF64 => F::NearestF64,
        LibCall::FmaF32 => F::FmaF32,
        LibCall::FmaF64 => F::FmaF64,
        _ => return None,
    })
}

/// Converts one of Cranelift's relocations, or says why it is not supported.
pub(crate) fn convert_reloc(
    kernel: &str,
    r: &FinalizedMachReloc,
    params: &FunctionParameters,
) -> Result<CpuReloc, CodegenError> {
    let unsupported = |message: String| CodegenError::Relocation {
        kernel: kernel.to_string(),
        message,
    };
    let kind = match r.kind {
        Reloc::Abs8 => RelocKind::Abs8,
        other => {
            return Err(unsupported(format!(
                "kind {other:?} at offset {} (only Abs8 is resolved)",
                r.offset
            )))
        }
    };
    let target = match &r.target {
        FinalizedRelocTarget::ExternalName(ExternalName::User(name)) => {
            let name = &params.user_named_funcs()[*name];
            if name.namespace != HELPER_NAMESPACE || name.index as usize >= helpers::COUNT {
                return Err(unsupported(format!("unknown external function {name}")));
            }
            RelocTarget::Helper(name.index)
        }
        FinalizedRelocTarget::ExternalName(ExternalName::LibCall(lc)) => match float_libcall(*lc) {
            Some(f) => RelocTarget::LibCall(f),
            None => return Err(unsupported(format!("libcall {lc} has no implementation"))),
        },
        other => {
            return Err(unsupported(format!(
                "target {} at offset {}",
                other.display(Some(params)),
                r.offset
            )))
        }
    };
    Ok(CpuReloc {
        offset: r.offset,
        kind,
        target,
        addend: r.addend,
    })
}
