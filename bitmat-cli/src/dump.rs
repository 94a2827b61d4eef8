//! `bitmat dump`: a prebuilt kernel at one stage of the pipeline (tile IR, Cranelift IR, CPU
//! machine code, PTX),
//! without running it.

use bitmat::codegen::ptx::{compile_ptx, PtxOptions, PtxTarget};
use bitmat::codegen::{CodegenError, CpuKernel, CpuObject};
use bitmat::kernels::registry;
use bitmat::Error;

/// A stage of the compiler.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The specialized, optimized tile IR.
    Ir,
    /// The Cranelift IR of the CPU backend.
    Clif,
    /// The PTX of the GPU backend.
    Ptx,
    /// The CPU backend's machine code, as hex.
    Code,
}

/// What to dump.
#[derive(Clone, Debug)]
pub struct DumpOptions {
    /// The stage.
    pub stage: Stage,
    /// Constexprs to override, as `(name, value)` text.
    pub constexprs: Vec<(String, String)>,
    /// The PTX target (for [`Stage::Ptx`]).
    pub target: PtxTarget,
    /// Warps per program (for [`Stage::Ptx`]).
    pub num_warps: u32,
    /// Pipeline stages, for PTX.
    pub num_stages: u32,
}

/// The text of prebuilt kernel `kernel` at `options.stage`.
pub fn dump(kernel: &str, options: &DumpOptions) -> Result<String, Error> {
    let ir = registry::find(kernel)?.ir(&options.constexprs)?;
    let codegen = |e| Error::from(bitmat::RuntimeError::Codegen(e));
    Ok(match options.stage {
        Stage::Ir => ir.to_string(),
        Stage::Clif => CpuKernel::compile(&ir).map_err(codegen)?.clif().to_string(),
        Stage::Code => cpu_object(&ir)
            .map_err(codegen)?
            .code()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        Stage::Ptx => {
            let ptx = PtxOptions {
                num_warps: options.num_warps,
                num_stages: options.num_stages,
            };
            compile_ptx(&ir, options.target, ptx).map_err(codegen)?.text
        }
    })
}

/// The CPU object of `ir` from the default CPU backend of this build (LLVM when built with
/// the `llvm` feature, else Cranelift).
fn cpu_object(ir: &bitmat::ir::Kernel) -> Result<CpuObject, CodegenError> {
    #[cfg(feature = "llvm")]
    return bitmat::codegen::llvm::compile(ir);
    #[cfg(not(feature = "llvm"))]
    return CpuObject::compile(ir);
}

/// Reads `name=value`, as `--constexpr` takes it.
pub fn parse_constexpr(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_string(), value.trim().to_string()))
        }
        _ => Err(format!("`{text}` is not name=value (e.g. block_m=64)")),
    }
}

/// Reads a PTX target name (`sm_80`, `sm_86`, `sm_89`, `sm_90`, `sm_90a`).
pub fn parse_target(text: &str) -> Result<PtxTarget, String> {
    PtxTarget::from_arch(text).ok_or_else(|| {
        let names: Vec<_> = PtxTarget::ALL.iter().map(|t| t.arch()).collect();
        format!(
            "unknown target `{text}`; expected one of {}",
            names.join(", ")
        )
    })
}
