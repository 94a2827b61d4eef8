//! Reductions and the matrix product.

use super::num::{by_family, FloatElem, IntElem};
use super::value::{host_vec, malformed, TileValue};
use super::InterpErrorKind;
use crate::element::HostData;
use crate::kernel::ReduceOp;
use half::{bf16, f16};

/// Reduces `x` along `axis` (removed from the shape). Sums wrap for integers; float sums
/// accumulate in `f32` in index order (starting from the first element) and are rounded to the
/// type at the end; float min/max use `f32::min`/`f32::max`.
pub(crate) fn reduce(op: ReduceOp, x: &TileValue, axis: u32) -> Result<TileValue, InterpErrorKind> {
    let axis = axis as usize;
    let shape = &x.shape;
    if axis >= shape.len() {
        return Err(malformed(format!(
            "reduction axis {axis} outside a tile of rank {}",
            shape.len()
        )));
    }
    let outer: usize = shape[..axis].iter().map(|&d| d as usize).product();
    let n = shape[axis] as usize;
    let inner: usize = shape[axis + 1..].iter().map(|&d| d as usize).product();
    if n == 0 {
        return Err(malformed("reduction over an empty axis"));
    }
    let dims = Dims { outer, n, inner };
    let data = x.values()?;
    if outer.saturating_mul(n).saturating_mul(inner) != data.len() {
        return Err(malformed("tile shape does not match its element count"));
    }
    let out = by_family!(data, v,
        int => host_vec(match op {
            ReduceOp::Sum => fold_axis(&v[..], dims, IntElem::add),
            ReduceOp::Max => fold_axis(&v[..], dims, Ord::max),
            ReduceOp::Min => fold_axis(&v[..], dims, Ord::min),
            ReduceOp::Xor => fold_axis(&v[..], dims, |a, b| a ^ b),
        }),
        float => host_vec(float_reduce(op, &v[..], dims)?),
        bool => match op {
            ReduceOp::Max => HostData::Bool(fold_axis(&v[..], dims, |a, b| a | b)),
            ReduceOp::Min => HostData::Bool(fold_axis(&v[..], dims, |a, b| a & b)),
            ReduceOp::Sum | ReduceOp::Xor => {
                return Err(malformed(format!("`{}` is not defined on bool", op_name(op))))
            }
        },
    );
    let mut out_shape = shape.clone();
    out_shape.remove(axis);
    Ok(TileValue::val(out_shape, out))
}

/// A tile viewed as `[outer, n, inner]` around the reduced axis.
#[derive(Copy, Clone)]
struct Dims {
    outer: usize,
    n: usize,
    inner: usize,
}

fn fold_axis<T: Copy>(v: &[T], d: Dims, f: impl Fn(T, T) -> T) -> Vec<T> {
    let mut out = Vec::with_capacity(d.outer * d.inner);
    for o in 0..d.outer {
        let base = o * d.n * d.inner;
        for i in 0..d.inner {
            let mut acc = v[base + i];
            for k in 1..d.n {
                acc = f(acc, v[base + k * d.inner + i]);
            }
            out.push(acc);
        }
    }
    out
}

/// The printed name of reduction `op`.
fn op_name(op: ReduceOp) -> &'static str {
    crate::OpKind::Reduce {
        op,
        value: crate::ValueId(0),
        axis: 0,
    }
    .name()
}

fn float_reduce<T: FloatElem>(op: ReduceOp, v: &[T], d: Dims) -> Result<Vec<T>, InterpErrorKind> {
    let wide: Vec<f32> = v.iter().map(|&a| a.to_f32()).collect();
    let f: fn(f32, f32) -> f32 = match op {
        ReduceOp::Sum => |a, b| a + b,
        ReduceOp::Max => f32::max,
        ReduceOp::Min => f32::min,
        ReduceOp::Xor => {
            return Err(malformed(format!(
                "`{}` is not defined on floats",
                op_name(op)
            )))
        }
    };
    Ok(fold_axis(&wide, d, f)
        .into_iter()
        .map(T::from_f32)
        .collect())
}

/// `a [M, K] x b [K, N] + acc [M, N]` for i8 x i8 + i32 (exact products, wrapping sum) and
/// f16/bf16/f32 operands and fp8 operands (either format on each side) with an f32 accumulator
/// (`s += a * b` in `f32`, `k` ascending; fp8 and f16 products are exact in `f32`).
pub(crate) fn dot(
    a: &TileValue,
    b: &TileValue,
    acc: &TileValue,
) -> Result<TileValue, InterpErrorKind> {
    let (m, k, n) = match (a.shape.as_slice(), b.shape.as_slice(), acc.shape.as_slice()) {
        ([m, k], [k2, n], [m2, n2]) if k == k2 && m == m2 && n == n2 => {
            (*m as usize, *k as usize, *n as usize)
        }
        _ => {
            return Err(malformed(format!(
                "dot shapes {:?} x {:?} + {:?} do not match",
                a.shape, b.shape, acc.shape
            )))
        }
    };
    let (av, bv, cv) = (a.values()?, b.values()?, acc.values()?);
    if av.len() != m * k || bv.len() != k * n || cv.len() != m * n {
        return Err(malformed("dot operand sizes do not match their shapes"));
    }
    let dims = DotDims { m, k, n };
    let out = match (av, bv, cv) {
        (HostData::I8(x), HostData::I8(y), HostData::I32(c)) => {
            HostData::I32(dot_int(x, y, c, dims))
        }
        (HostData::F16(x), HostData::F16(y), HostData::F32(c)) => {
            HostData::F32(dot_float::<f16, f16>(x, y, c, dims))
        }
        (HostData::BF16(x), HostData::BF16(y), HostData::F32(c)) => {
            HostData::F32(dot_float::<bf16, bf16>(x, y, c, dims))
        }
        (HostData::F32(x), HostData::F32(y), HostData::F32(c)) => {
            HostData::F32(dot_float::<f32, f32>(x, y, c, dims))
        }
        (HostData::F8E4M3(x), HostData::F8E4M3(y), HostData::F32(c)) => {
            HostData::F32(dot_float(x, y, c, dims))
        }
        (HostData::F8E4M3(x), HostData::F8E5M2(y), HostData::F32(c)) => {
            HostData::F32(dot_float(x, y, c, dims))
        }
        (HostData::F8E5M2(x), HostData::F8E4M3(y), HostData::F32(c)) => {
            HostData::F32(dot_float(x, y, c, dims))
        }
        (HostData::F8E5M2(x), HostData::F8E5M2(y), HostData::F32(c)) => {
            HostData::F32(dot_float(x, y, c, dims))
        }
        _ => {
            return Err(malformed(format!(
                "dot is not defined on {} x {} + {}",
                av.dtype(),
                bv.dtype(),
                cv.dtype()
            )))
        }
    };
    Ok(TileValue::val(acc.shape.clone(), out))
}

/// Extents of a matrix product.
#[derive(Copy, Clone)]
struct DotDims {
    m: usize,
    k: usize,
    n: usize,
}

/// `b` transposed to `[N, K]`, so that each output element reads two contiguous rows.
fn transpose<T: Copy, U>(b: &[T], d: DotDims, f: impl Fn(T) -> U) -> Vec<U> {
    let mut out = Vec::with_capacity(d.k * d.n);
    for j in 0..d.n {
        for kk in 0..d.k {
            out.push(f(b[kk * d.n + j]));
        }
    }
    out
}

fn dot_int(a: &[i8], b: &[i8], acc: &[i32], d: DotDims) -> Vec<i32> {
    let bt = transpose(b, d, i32::from);
    let mut out = Vec::with_capacity(d.m * d.n);
    for i in 0..d.m {
        let row = &a[i * d.k..(i + 1) * d.k];
        for j in 0..d.n {
            let col = &bt[j * d.k..(j + 1) * d.k];
            let s = row.iter().zip(col).fold(acc[i * d.n + j], |s, (&x, &y)| {
                s.wrapping_add(i32::from(x) * y)
            });
            out.push(s);
        }
    }
    out
}

fn dot_float<A: FloatElem, B: FloatElem>(a: &[A], b: &[B], acc: &[f32], d: DotDims) -> Vec<f32> {
    let at: Vec<f32> = a.iter().map(|&x| x.to_f32()).collect();
    let bt = transpose(b, d, B::to_f32);
    let mut out = Vec::with_capacity(d.m * d.n);
    for i in 0..d.m {
        let row = &at[i * d.k..(i + 1) * d.k];
        for j in 0..d.n {
            let col = &bt[j * d.k..(j + 1) * d.k];
            let mut s = acc[i * d.n + j];
            for (&x, &y) in row.iter().zip(col) {
                s += x * y;
            }
            out.push(s);
        }
    }
    out
}
