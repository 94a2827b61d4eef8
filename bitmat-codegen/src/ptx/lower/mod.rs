//! Lowering of the IR ops, one module per op family. Each adds `lower_*` methods to the
//! [`Emitter`](super::emit::Emitter).

mod control;
mod convert;
pub(crate) mod debug;
mod dot;
mod elementwise;
mod held;
mod interleave;
mod math;
mod memory;
mod mma;
mod mma_frag;
pub(crate) mod pipeline;
mod reduce;
pub(crate) mod shape;
mod staged;

pub(crate) use mma_frag::SmemOperand;
pub(crate) use pipeline::{Prefetch, Ring};
pub(crate) use reduce::result_layout;

/// The `[M, K, N]` of `dot(a, b, acc)` when it runs with register fragments
/// ([`mma_frag`]): i8 operands with an i32 accumulator, or f16/bf16 or fp8 (on targets with
/// fp8 `mma`, the only ones whose kernels keep fp8 dots) with f32, `M >= 16`, `N >= 8` and
/// `K` at least one k-step.
pub(crate) fn mma_shape(
    k: &bitmat_ir::Kernel,
    a: bitmat_ir::ValueId,
    b: bitmat_ir::ValueId,
    acc: bitmat_ir::ValueId,
) -> Option<[u32; 3]> {
    use bitmat_ir::DType;
    let (at, bt) = (&k.ty(a).shape, &k.ty(b).shape);
    let ([m, kk], [k2, n]) = (at.as_slice(), bt.as_slice()) else {
        return None;
    };
    let (da, db, dacc) = (k.ty(a).dtype()?, k.ty(b).dtype()?, k.ty(acc).dtype()?);
    let (_, step, class) = mma_frag::instruction(da, db)?;
    let int = class == crate::ptx::regs::Class::B32;
    let ok_acc = dacc == if int { DType::I32 } else { DType::F32 };
    (ok_acc && kk == k2 && *m >= 16 && *n >= 8 && *kk >= step).then_some([*m, *kk, *n])
}

/// The PTX type suffix of integer arithmetic on `d` (narrow types compute in 32 bits).
pub(crate) fn int_ty(d: bitmat_ir::DType) -> &'static str {
    use bitmat_ir::DType;
    match d {
        DType::I64 => "s64",
        DType::U64 => "u64",
        d if d.is_signed_int() => "s32",
        _ => "u32",
    }
}
