//! Elementwise op evaluation: unary, binary, comparisons, select, casts and bitcasts. Each
//! function dispatches on the element type once, then loops over the elements.

use super::num::{by_family, FloatElem, HostElem, IntElem};
use super::value::{host_vec, lane_of, malformed, slice_of, with_dtype, TileData, TileValue};
use super::InterpErrorKind;
use crate::element::HostData;
use crate::kernel::{BinaryOp, CmpPred, UnaryOp};
use crate::types::DType;

fn map<T: Copy, U>(x: &[T], f: impl Fn(T) -> U) -> Vec<U> {
    x.iter().map(|&a| f(a)).collect()
}

fn zip<T: Copy, U>(x: &[T], y: &[T], f: impl Fn(T, T) -> U) -> Vec<U> {
    x.iter().zip(y).map(|(&a, &b)| f(a, b)).collect()
}

fn unsupported(op: impl std::fmt::Debug, dtype: DType) -> InterpErrorKind {
    let op = format!("{op:?}").to_lowercase();
    malformed(format!("`{op}` is not defined on {dtype}"))
}

/// `op x`, elementwise.
pub(crate) fn unary(op: UnaryOp, x: &TileValue) -> Result<TileValue, InterpErrorKind> {
    let data = x.values()?;
    let dtype = data.dtype();
    let out = by_family!(data, v,
        int => host_vec(int_unary(op, &v[..]).ok_or_else(|| unsupported(op, dtype))?),
        float => host_vec(float_unary(op, &v[..]).ok_or_else(|| unsupported(op, dtype))?),
        bool => match op {
            UnaryOp::Not => host_vec(map(v, |a: bool| !a)),
            _ => return Err(unsupported(op, dtype)),
        },
    );
    Ok(TileValue::val(x.shape.clone(), out))
}

fn int_unary<T: IntElem>(op: UnaryOp, v: &[T]) -> Option<Vec<T>> {
    Some(match op {
        UnaryOp::Neg => map(v, T::neg),
        UnaryOp::Not => map(v, T::not),
        UnaryOp::Abs => map(v, T::abs),
        _ => return None,
    })
}

fn float_unary<T: FloatElem>(op: UnaryOp, v: &[T]) -> Option<Vec<T>> {
    let f = crate::math::f32_fn(op)?;
    Some(map(v, |a| T::from_f32(f(a.to_f32()))))
}

/// `a op b`, elementwise, on operands of one type and shape.
pub(crate) fn binary(
    op: BinaryOp,
    a: &TileValue,
    b: &TileValue,
) -> Result<TileValue, InterpErrorKind> {
    a.same_shape(b, "binary operands")?;
    let (x, y) = (a.values()?, b.values()?);
    let dtype = x.dtype();
    let shape = &a.shape;
    let out = by_family!(x, v,
        int => host_vec(int_binary(op, &v[..], slice_of(y)?, shape)?),
        float => host_vec(
            float_binary(op, &v[..], slice_of(y)?).ok_or_else(|| unsupported(op, dtype))?
        ),
        bool => host_vec(
            bool_binary(op, &v[..], slice_of(y)?).ok_or_else(|| unsupported(op, dtype))?
        ),
    );
    Ok(TileValue::val(a.shape.clone(), out))
}

fn checked_zip<T: IntElem>(
    x: &[T],
    y: &[T],
    shape: &[u32],
    f: impl Fn(T, T) -> Option<T>,
) -> Result<Vec<T>, InterpErrorKind> {
    x.iter()
        .zip(y)
        .enumerate()
        .map(|(i, (&a, &b))| {
            f(a, b).ok_or_else(|| InterpErrorKind::DivisionByZero {
                lane: lane_of(i, shape),
            })
        })
        .collect()
}

fn int_binary<T: IntElem>(
    op: BinaryOp,
    x: &[T],
    y: &[T],
    shape: &[u32],
) -> Result<Vec<T>, InterpErrorKind> {
    Ok(match op {
        BinaryOp::Add => zip(x, y, T::add),
        BinaryOp::Sub => zip(x, y, T::sub),
        BinaryOp::Mul => zip(x, y, T::mul),
        BinaryOp::Div => return checked_zip(x, y, shape, T::div),
        BinaryOp::Rem => return checked_zip(x, y, shape, T::rem),
        BinaryOp::And => zip(x, y, T::and),
        BinaryOp::Or => zip(x, y, T::or),
        BinaryOp::Xor => zip(x, y, T::xor),
        BinaryOp::Shl => zip(x, y, T::shl),
        BinaryOp::Shr => zip(x, y, T::shr),
        BinaryOp::Min => zip(x, y, Ord::min),
        BinaryOp::Max => zip(x, y, Ord::max),
    })
}

fn float_binary<T: FloatElem>(op: BinaryOp, x: &[T], y: &[T]) -> Option<Vec<T>> {
    let f: fn(f32, f32) -> f32 = match op {
        BinaryOp::Add => |a, b| a + b,
        BinaryOp::Sub => |a, b| a - b,
        BinaryOp::Mul => |a, b| a * b,
        BinaryOp::Div => |a, b| a / b,
        BinaryOp::Rem => |a, b| a % b,
        BinaryOp::Min => f32::min,
        BinaryOp::Max => f32::max,
        BinaryOp::And | BinaryOp::Or | BinaryOp::Xor | BinaryOp::Shl | BinaryOp::Shr => {
            return None
        }
    };
    Some(zip(x, y, |a, b| T::from_f32(f(a.to_f32(), b.to_f32()))))
}

fn bool_binary(op: BinaryOp, x: &[bool], y: &[bool]) -> Option<Vec<bool>> {
    let f: fn(bool, bool) -> bool = match op {
        BinaryOp::And | BinaryOp::Min => |a, b| a & b,
        BinaryOp::Or | BinaryOp::Max => |a, b| a | b,
        BinaryOp::Xor => |a, b| a ^ b,
        _ => return None,
    };
    Some(zip(x, y, f))
}

/// `a pred b`, elementwise, as a `bool` tile.
pub(crate) fn cmp(
    pred: CmpPred,
    a: &TileValue,
    b: &TileValue,
) -> Result<TileValue, InterpErrorKind> {
    a.same_shape(b, "comparison operands")?;
    let (x, y) = (a.values()?, b.values()?);
    let out = crate::with_host_data!(x, v => cmp_typed(pred, &v[..], slice_of(y)?));
    Ok(TileValue::val(a.shape.clone(), HostData::Bool(out)))
}

fn cmp_typed<T: HostElem>(pred: CmpPred, x: &[T], y: &[T]) -> Vec<bool> {
    match pred {
        CmpPred::Eq => zip(x, y, |a, b| a == b),
        CmpPred::Ne => zip(x, y, |a, b| a != b),
        CmpPred::Lt => zip(x, y, |a, b| a < b),
        CmpPred::Le => zip(x, y, |a, b| a <= b),
        CmpPred::Gt => zip(x, y, |a, b| a > b),
        CmpPred::Ge => zip(x, y, |a, b| a >= b),
    }
}

/// `a * b + c` with one rounding, elementwise, on floats of one type and shape (f16/bf16
/// computed in f32 and rounded, as every float op).
pub(crate) fn fma(
    a: &TileValue,
    b: &TileValue,
    c: &TileValue,
) -> Result<TileValue, InterpErrorKind> {
    a.same_shape(b, "fma operands")?;
    a.same_shape(c, "fma operands")?;
    let (x, y, z) = (a.values()?, b.values()?, c.values()?);
    let dtype = x.dtype();
    let not_float = || malformed(format!("`fma` is not defined on {dtype}"));
    let out = by_family!(x, v,
        int => return Err(not_float()),
        float => host_vec(fma_typed(&v[..], slice_of(y)?, slice_of(z)?)),
        bool => return Err(not_float()),
    );
    Ok(TileValue::val(a.shape.clone(), out))
}

fn fma_typed<T: FloatElem>(x: &[T], y: &[T], z: &[T]) -> Vec<T> {
    x.iter()
        .zip(y)
        .zip(z)
        .map(|((&a, &b), &c)| T::from_f32(a.to_f32().mul_add(b.to_f32(), c.to_f32())))
        .collect()
}

/// `cond ? on_true : on_false`, elementwise (values or pointers).
pub(crate) fn select(
    cond: &TileValue,
    on_true: &TileValue,
    on_false: &TileValue,
) -> Result<TileValue, InterpErrorKind> {
    cond.same_shape(on_true, "select")?;
    cond.same_shape(on_false, "select")?;
    let c: &[bool] = slice_of(cond.values()?)?;
    let pick = |i: usize| c[i];
    let data = match (&on_true.data, &on_false.data) {
        (TileData::Val(t), TileData::Val(f)) => TileData::Val(crate::with_host_data!(t, v => {
            host_vec(select_typed(&v[..], slice_of(f)?, pick))
        })),
        (TileData::Ptr(t), TileData::Ptr(f)) => TileData::Ptr(select_typed(t, f, pick)),
        _ => return Err(malformed("select between a pointer tile and a value tile")),
    };
    Ok(TileValue {
        shape: cond.shape.clone(),
        data,
    })
}

fn select_typed<T: Copy>(t: &[T], f: &[T], pick: impl Fn(usize) -> bool) -> Vec<T> {
    t.iter()
        .zip(f)
        .enumerate()
        .map(|(i, (&a, &b))| if pick(i) { a } else { b })
        .collect()
}

/// `x as to`, elementwise, with [`Scalar::cast`] semantics.
pub(crate) fn cast(x: &TileValue, to: DType) -> Result<TileValue, InterpErrorKind> {
    let data = x.values()?;
    if data.dtype() == to {
        return Ok(x.clone());
    }
    let out = crate::with_host_data!(data, v => with_dtype!(to, U => {
        host_vec(map(&v[..], |e| {
            <U as HostElem>::from_bits64(crate::Element::to_scalar(e).cast(to).bits())
        }))
    }));
    Ok(TileValue::val(x.shape.clone(), out))
}

/// Reinterprets the bits of `x` as `to` (same width; `bool` only to and from itself).
pub(crate) fn bitcast(x: &TileValue, to: DType) -> Result<TileValue, InterpErrorKind> {
    let data = x.values()?;
    let from = data.dtype();
    if from == to {
        return Ok(x.clone());
    }
    if from.bits() != to.bits() || from == DType::Bool || to == DType::Bool {
        return Err(malformed(format!("cannot bitcast {from} to {to}")));
    }
    let out = crate::with_host_data!(data, v => with_dtype!(to, U => {
        host_vec(map(&v[..], |e| <U as HostElem>::from_bits64(e.to_bits64())))
    }));
    Ok(TileValue::val(x.shape.clone(), out))
}
