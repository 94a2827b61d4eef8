//! Which narrow values may skip their normalization.
//!
//! The PTX lowering holds `i8`/`u8`/`i16`/`u16` values in 32-bit registers, sign- or
//! zero-extended, and `f16`/`bf16` values in `f32` registers, rounded to their type: each op
//! on them normalizes its result (one `bfe`/`and`, or two `cvt`s). Many consumers read only
//! what normalization keeps: integer `+ - * & | ^ <<` and narrowing casts depend on the low
//! bits alone, a store or a `dot` operand inserts the low bits (`bfi`) or rounds the float
//! itself. A value whose every use is such a consumer may be left as the unnormalized result
//! of its op (as LLVM's demanded-bits analysis does): a decoded ternary or int4 weight,
//! shifted, masked, cast and subtracted on its way to a `dot`, then costs no normalization at
//! all. Shape changes (`permute`, `concat`, `slice` included) and broadcasts share their operand's registers, so their result must be
//! such a value too.

use super::lower::mma_shape;
use bitmat_ir::{BinaryOp, DType, Kernel, Op, OpKind, ValueId};

/// For every value (indexed by [`ValueId::index`]): whether its registers may hold the
/// unnormalized result of its op.
pub(crate) fn lazy_values(k: &Kernel) -> Vec<bool> {
    let mut uses: Vec<Vec<&Op>> = vec![Vec::new(); k.values.len()];
    super::assign::walk(&k.body, &mut |op| {
        for v in op.kind.operands() {
            uses[v.index()].push(op);
        }
    });
    let mut memo: Vec<Option<bool>> = vec![None; k.values.len()];
    (0..k.values.len())
        .map(|i| tolerant(k, &uses, &mut memo, ValueId(i as u32)))
        .collect()
}

/// Whether every use of `v` reads only what normalization keeps.
fn tolerant(k: &Kernel, uses: &[Vec<&Op>], memo: &mut [Option<bool>], v: ValueId) -> bool {
    if let Some(t) = memo[v.index()] {
        return t;
    }
    let d = match k.ty(v).elem.as_val() {
        Some(d) if is_narrow(d) => d,
        _ => {
            memo[v.index()] = Some(false);
            return false;
        }
    };
    let ok = !uses[v.index()].is_empty()
        && uses[v.index()].iter().all(|op| match &op.kind {
            OpKind::Binary(b, ..) => d.is_int() && low_bits_only(*b),
            OpKind::Cast(_) => match k.ty(op.results[0]).elem.as_val() {
                Some(to) => d.is_int() && to.is_int() && to != DType::Bool && to.bits() <= d.bits(),
                None => false,
            },
            OpKind::Store { value, ptr, .. } => *value == v && *ptr != v,
            OpKind::Dot { a, b, acc } => *acc != v && mma_shape(k, *a, *b, *acc).is_some(),
            OpKind::Reshape(_)
            | OpKind::Hint { .. }
            | OpKind::ExpandDims { .. }
            | OpKind::Broadcast(_)
            | OpKind::Permute { .. }
            | OpKind::Concat { .. }
            | OpKind::Slice { .. } => tolerant(k, uses, memo, op.results[0]),
            _ => false,
        });
    memo[v.index()] = Some(ok);
    ok
}

/// The types held wider than they are: 8- and 16-bit integers and 16-bit floats.
fn is_narrow(d: DType) -> bool {
    matches!(
        d,
        DType::I8 | DType::U8 | DType::I16 | DType::U16 | DType::F16 | DType::BF16
    )
}

/// Whether the low bits of `op`'s integer result depend only on the low bits of its operands.
fn low_bits_only(op: BinaryOp) -> bool {
    matches!(
        op,
        BinaryOp::Add
            | BinaryOp::Sub
            | BinaryOp::Mul
            | BinaryOp::And
            | BinaryOp::Or
            | BinaryOp::Xor
            | BinaryOp::Shl
    )
}
