//! The prebuilt kernels by name, with their default constexprs: what `bitmat dump` and
//! `bitmat tune` accept.

use super::{int4, norm};
use crate::{tuned, Autotuner, Backend, ConstexprValue, Error, Specialization};
use bitmat_ir::Kernel;

/// Constexpr overrides, `(name, value)` as text.
pub type Overrides = [(String, String)];

/// A prebuilt kernel, reachable by name.
pub struct PrebuiltKernel {
    /// The kernel's name (`w2a8_matmul`, ...).
    pub name: &'static str,
    /// What it computes, in one line.
    pub summary: &'static str,
    defaults: fn() -> Vec<(&'static str, ConstexprValue)>,
    specialize: fn(&Overrides) -> Result<Kernel, Error>,
}

impl PrebuiltKernel {
    /// The default constexprs, by name: for the autotuned matmuls the first configuration of
    /// their CPU tuner (what runs when nothing is tuned, for large shapes), else what the host
    /// ops pass.
    pub fn defaults(&self) -> Vec<(&'static str, ConstexprValue)> {
        (self.defaults)()
    }

    /// The kernel's IR for its default constexprs with `overrides` (`name`, `value` as text)
    /// applied; an unknown name or a value that does not parse is an error that lists the
    /// accepted names.
    pub fn ir(&self, overrides: &Overrides) -> Result<Kernel, Error> {
        (self.specialize)(overrides)
    }
}

/// The default configuration's constexprs of `tuner`.
fn default_of<C: Specialization>(tuner: &Autotuner<C>) -> C {
    tuner.configs()[0].constexprs.clone()
}

/// Specializes `constexprs` after applying `overrides`.
fn specialize_with<C: Specialization>(
    mut constexprs: C,
    overrides: &Overrides,
) -> Result<Kernel, Error> {
    for (name, value) in overrides {
        constexprs.set(name, value)?;
    }
    Ok(constexprs.ir()?)
}

macro_rules! prebuilt {
    ($($module:ident :: $kernel:ident, $summary:literal, $defaults:expr;)*) => {
        /// Every prebuilt kernel.
        pub const PREBUILT: &[PrebuiltKernel] = &[$(
            PrebuiltKernel {
                name: stringify!($kernel),
                summary: $summary,
                defaults: || $defaults.values(),
                specialize: |overrides| specialize_with($defaults, overrides),
            },
        )*];
    };
}

prebuilt! {
    ternary::w2a8_matmul, "ternary W2A8 matmul, exact i32",
        default_of(tuned::ternary_tuner(Backend::CRANELIFT).tuner());
    ternary::w2a8_matmul_split_k, "ternary W2A8 matmul split along K (atomic adds; few rows), exact i32",
        default_of(tuned::ternary_split_k_tuner(Backend::CRANELIFT).tuner());
    ternary::w2a8_gemv, "ternary W2A8 matrix-vector product (a few rows), exact i32",
        default_of(tuned::gemv_tuner(Backend::CRANELIFT).tuner());
    ternary::w2a8_gemv_rows, "ternary W2A8 row-times-vector product for CPUs (a few rows), exact i32",
        default_of(tuned::gemv_rows_tuner().tuner());
    ternary::w2a8_gemv_planes, "ternary W2A8 matrix-vector product on the CPU planes layout, exact i32",
        default_of(tuned::gemv_planes_tuner().tuner());
    ternary::w2a8_linear, "ternary linear layer: W2A8 with activation and weight scales, bias",
        default_of(tuned::linear_tuner(Backend::CRANELIFT, false).tuner());
    ternary::w2a8_linear_planes, "ternary linear layer on the CPU planes layout (a GEMV per row)",
        default_of(tuned::linear_planes_tuner(false).tuner());
    int4::w4a8_matmul, "int4 W4A8 matmul with per-group scales, f32 out",
        default_of(tuned::w4a8_tuner(Backend::CRANELIFT).tuner());
    int4::w4a16_matmul, "int4 W4A16 matmul (f16 activations), f32 out",
        default_of(tuned::w4a16_tuner(Backend::CRANELIFT).tuner());
    int4::w4a16_matmul_split_k, "int4 W4A16 matmul split along K (atomic adds; few rows), f32 out",
        default_of(tuned::w4a16_split_k_tuner(Backend::CRANELIFT).tuner());
    int4::w4a16_gemv, "int4 W4A16 matrix-vector product (a few rows), f32 out",
        default_of(tuned::w4a16_gemv_tuner(Backend::CRANELIFT).tuner());
    int4::w4a8_gemv_planes, "int4 W4A8 matrix-vector product on the CPU planes layout, f32 out",
        default_of(tuned::w4a8_planes_tuner(32).tuner());
    int4::w4a16_gemv_planes, "int4 W4A16 matrix-vector product on the CPU planes layout, f32 out",
        default_of(tuned::w4a16_planes_tuner(32).tuner());
    int4::w4a4_matmul, "BitTensor's unsigned W4A4 matmul, exact i32",
        default_of(tuned::w4a4_tuner(Backend::CRANELIFT, false).tuner());
    int4::pack_uint4_saturating, "clamps i32 to 0..=15 and packs 16 per u64",
        int4::pack_uint4_saturating::Constexprs { block: 16 };
    norm::rmsnorm_quantize, "fused RMSNorm + per-row int8 quantization",
        norm::rmsnorm_quantize::Constexprs { has_weight: true, block: 256 };
    norm::quantize_int8, "per-row absmax int8 quantization",
        norm::quantize_int8::Constexprs { block: 256 };
}

/// The prebuilt kernel called `name`, or an error listing them all.
pub fn find(name: &str) -> Result<&'static PrebuiltKernel, Error> {
    PREBUILT.iter().find(|k| k.name == name).ok_or_else(|| {
        let names: Vec<_> = PREBUILT.iter().map(|k| k.name).collect();
        Error::Shape {
            op: "dump",
            message: format!(
                "no prebuilt kernel `{name}`; the prebuilt kernels are {}",
                names.join(", ")
            ),
        }
    })
}
