//! `bitmat dump`: a prebuilt kernel at one stage of the pipeline (tile IR, Cranelift IR, CPU
//! machine code, PTX),
//! without running it.

use bitmat::codegen::ptx::{compile_ptx, PtxOptions, PtxTarget};
use bitmat::codegen::{CodegenError, CpuKernel, CpuObject};
use bitmat::ir::passes::specialize::{self, ArgFact};
use bitmat::ir::{Kernel, ParamKind, Scalar};
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
    /// Launch arguments to specialize on, as `(name, value)` text: an integer's value, or
    /// `aligned` for a pointer whose address is a multiple of 16 (what a launch finds out
    /// from its arguments). Parameters not named here are specialized on nothing.
    pub launch_args: Vec<(String, String)>,
}

/// A `--arg` of `bitmat dump` that names no parameter or whose value does not fit it.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    /// The kernel has no runtime parameter of this name.
    #[error("kernel `{kernel}` has no runtime parameter `{name}`; its parameters: {accepted}")]
    UnknownParam {
        /// The kernel.
        kernel: String,
        /// The name given.
        name: String,
        /// The kernel's runtime parameters.
        accepted: String,
    },
    /// The value does not parse for the parameter's kind.
    #[error("kernel `{kernel}`: `--arg {name}={value}`: {accepted}")]
    BadValue {
        /// The kernel.
        kernel: String,
        /// The parameter.
        name: String,
        /// The value given.
        value: String,
        /// What the parameter accepts.
        accepted: &'static str,
    },
    /// The kernel did not build or compile.
    #[error(transparent)]
    Kernel(#[from] Error),
}

/// The text of prebuilt kernel `kernel` at `options.stage`.
pub fn dump(kernel: &str, options: &DumpOptions) -> Result<String, DumpError> {
    let mut ir = registry::find(kernel)?.ir(&options.constexprs)?;
    if !options.launch_args.is_empty() {
        let facts = launch_facts(&ir, &options.launch_args)?;
        specialize::apply(&mut ir, &facts);
    }
    let codegen = |e| DumpError::from(Error::from(bitmat::RuntimeError::Codegen(e)));
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

/// The fact of each parameter of `ir` that `args` gives, as a launch with those arguments
/// would find it ([`ArgFact::None`] for the others).
fn launch_facts(ir: &Kernel, args: &[(String, String)]) -> Result<Vec<ArgFact>, DumpError> {
    let mut facts = vec![ArgFact::None; ir.params.len()];
    for (name, value) in args {
        let Some(index) = ir.params.iter().position(|p| &p.name == name) else {
            let names: Vec<_> = ir.params.iter().map(|p| p.name.as_str()).collect();
            return Err(DumpError::UnknownParam {
                kernel: ir.name.clone(),
                name: name.clone(),
                accepted: names.join(", "),
            });
        };
        let bad = |accepted| DumpError::BadValue {
            kernel: ir.name.clone(),
            name: name.clone(),
            value: value.clone(),
            accepted,
        };
        facts[index] = match ir.params[index].kind {
            ParamKind::Ptr(_) => match value.as_str() {
                "aligned" => ArgFact::Multiple16,
                "unaligned" => ArgFact::None,
                _ => return Err(bad("a pointer takes `aligned` or `unaligned`")),
            },
            ParamKind::Scalar(dtype) if dtype.is_int() => {
                let v: i64 = value
                    .parse()
                    .map_err(|_| bad("an integer takes its value"))?;
                ArgFact::of_scalar(Scalar::from_i64(dtype, v))
            }
            ParamKind::Scalar(_) => ArgFact::None,
        };
    }
    Ok(facts)
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
        _ => Err(format!(
            "`{text}` is not name=value (e.g. block_m=64, or k=4096 for --arg)"
        )),
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
