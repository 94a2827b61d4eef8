//! Lowering of the IR ops, one module per op family. Each adds `lower_*` methods to the
//! [`Emitter`](super::emit::Emitter).

mod control;
mod dot;
mod elementwise;
mod memory;
mod mma;
mod reduce;
mod shared;

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
