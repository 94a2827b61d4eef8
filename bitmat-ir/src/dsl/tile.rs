//! [`Tile`], the handle DSL code manipulates, and the conversions of Rust values into operands.
//!
//! Rust scalars (`2`, `0.5`, a constexpr `block_k`) are compile-time values. Combined with a
//! tile they are *weakly typed*, as in Triton: they take the tile's element type (an integer
//! constant may meet a float tile; a float constant may not meet an integer tile).

use super::trace::{with_trace, Trace};
use crate::kernel::ValueId;
use crate::scalar::Scalar;
use crate::types::{shape_str, DType, ElemType, TileType};
use half::{bf16, f16};

/// A value of the kernel being specialized: a tile (or a scalar, rank 0) of known shape and
/// element type. It is a handle (`Copy`); operations on it record IR. (It deliberately has no
/// `PartialEq`: `a == b` on tiles is an elementwise comparison that produces a tile.)
#[derive(Copy, Clone, Debug)]
pub struct Tile {
    id: ValueId,
}

impl Tile {
    /// The tile returned by an operation that failed; operations on it are skipped.
    pub(crate) const POISON: Tile = Tile {
        id: ValueId(u32::MAX),
    };

    pub(crate) fn from_id(id: ValueId) -> Tile {
        Tile { id }
    }

    pub(crate) fn id(self) -> ValueId {
        self.id
    }

    pub(crate) fn is_poison(self) -> bool {
        self.id == Tile::POISON.id
    }

    /// The type of this tile (element type and shape), read at specialization time.
    pub fn tile_type(self) -> Option<TileType> {
        if self.is_poison() {
            return None;
        }
        Some(with_trace(|t| t.builder.ty(self.id).clone()))
    }

    /// The tile's extents (empty for a scalar); a compile-time value.
    pub fn shape(self) -> Vec<u32> {
        self.tile_type().map(|t| t.shape).unwrap_or_default()
    }

    /// The element type, or `None` for pointer tiles; a compile-time value.
    pub fn dtype(self) -> Option<DType> {
        self.tile_type().and_then(|t| t.dtype())
    }
}

/// A compile-time Rust value used as an operand, before it meets a tile.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Weak {
    /// An integer (any Rust integer type).
    Int(i128),
    /// A float (`f32`, `f64`, `f16`, `bf16`).
    Float(f64),
    /// A boolean.
    Bool(bool),
}

impl Weak {
    /// The type a weak value takes when there is no tile to adopt: `i32` for integers that
    /// fit (`i64` otherwise), `f32` for floats, `bool`.
    pub fn default_dtype(self) -> DType {
        match self {
            Weak::Int(v) if i32::try_from(v).is_ok() => DType::I32,
            Weak::Int(_) => DType::I64,
            Weak::Float(_) => DType::F32,
            Weak::Bool(_) => DType::Bool,
        }
    }

    /// Converts to a scalar of `dtype`, or says why it does not fit.
    pub fn to_scalar(self, dtype: DType) -> Result<Scalar, String> {
        match (self, dtype) {
            (Weak::Bool(b), DType::Bool) => Ok(Scalar::from_bool(b)),
            (Weak::Bool(b), _) => Err(format!(
                "the constant `{b}` is a bool and cannot be used as {dtype}"
            )),
            (Weak::Int(v), DType::Bool) => Err(format!(
                "the integer constant `{v}` cannot be used as bool; write `true` or `false`"
            )),
            (Weak::Int(v), d) if d.is_float() => Ok(Scalar::from_f64(d, v as f64)),
            (Weak::Int(v), d) => {
                let (lo, hi) = int_range(d);
                if v < lo || v > hi {
                    return Err(format!("the constant `{v}` does not fit in {d} ({lo}..={hi})"));
                }
                Ok(Scalar::from_i64(d, v as i64))
            }
            (Weak::Float(v), d) if d.is_float() => Ok(Scalar::from_f64(d, v)),
            (Weak::Float(v), d) => Err(format!(
                "the float constant `{v}` cannot be used as {d}; cast the tile with `as f32` or use an integer constant"
            )),
        }
    }
}

fn int_range(d: DType) -> (i128, i128) {
    match d {
        DType::I8 => (i8::MIN.into(), i8::MAX.into()),
        DType::U8 => (0, u8::MAX.into()),
        DType::I16 => (i16::MIN.into(), i16::MAX.into()),
        DType::U16 => (0, u16::MAX.into()),
        DType::I32 => (i32::MIN.into(), i32::MAX.into()),
        DType::U32 => (0, u32::MAX.into()),
        DType::I64 => (i64::MIN.into(), i64::MAX.into()),
        _ => (0, u64::MAX.into()),
    }
}

/// An operand of a DSL operation: a tile, or a compile-time value.
#[derive(Copy, Clone, Debug)]
pub enum Operand {
    /// A tile of the kernel.
    Tile(Tile),
    /// A compile-time Rust value.
    Weak(Weak),
}

/// Anything that can be an operand: [`Tile`] and the Rust scalar types.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an operand of a kernel operation",
    label = "expected a `Tile` or a Rust number or `bool`",
    note = "operands are tiles or Rust scalars (integers, floats, `f16`, `bf16`, `bool`), e.g. `load(ptr, mask, 0.0)`, `x * 2`, `select(mask, x, 0)`"
)]
pub trait IntoOperand: Copy {
    /// The operand.
    fn into_operand(self) -> Operand;
}

impl IntoOperand for Tile {
    fn into_operand(self) -> Operand {
        Operand::Tile(self)
    }
}

impl IntoOperand for Operand {
    fn into_operand(self) -> Operand {
        self
    }
}

macro_rules! int_operand {
    ($($t:ty),*) => {$(
        impl IntoOperand for $t {
            fn into_operand(self) -> Operand {
                Operand::Weak(Weak::Int(self as i128))
            }
        }
    )*};
}
int_operand!(i8, u8, i16, u16, i32, u32, i64, u64, isize, usize);

macro_rules! float_operand {
    ($($t:ty),*) => {$(
        impl IntoOperand for $t {
            fn into_operand(self) -> Operand {
                Operand::Weak(Weak::Float(f64::from(self)))
            }
        }
    )*};
}
float_operand!(f32, f64, f16, bf16);

impl IntoOperand for bool {
    fn into_operand(self) -> Operand {
        Operand::Weak(Weak::Bool(self))
    }
}

/// A shape written by the user: `[block_m, block_n]`, `[]`, a `Vec`, ...
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a tile shape",
    label = "expected an array of extents",
    note = "write a shape as an array of compile-time integers: `[block]`, `[block_m, block_n]`, or `[]` for a scalar"
)]
pub trait IntoShape {
    /// The extents, or a message saying which one is invalid.
    fn into_shape(self) -> Result<Vec<u32>, String>;
}

/// One extent: any Rust integer.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a tile extent: tile shapes are fixed when the kernel is specialized",
    label = "expected a Rust integer",
    note = "an extent is a compile-time integer, such as a `#[constexpr] block: i32` argument; for a runtime bound `n`, take a constexpr block and mask: `let offs = arange(block); let mask = offs < n;`"
)]
pub trait Dim: Copy {
    /// The extent as a `u32`, or a message.
    fn to_dim(self) -> Result<u32, String>;
}

macro_rules! dim_impl {
    ($($t:ty),*) => {$(
        impl Dim for $t {
            fn to_dim(self) -> Result<u32, String> {
                u32::try_from(self).map_err(|_| format!("extent {self} is not a valid tile extent"))
            }
        }
    )*};
}
dim_impl!(i8, u8, i16, u16, i32, u32, i64, u64, isize, usize);

/// Arrays of `i32` (the type of constexpr block sizes and of integer literals); `[]` is the
/// shape of a scalar.
impl<const N: usize> IntoShape for [i32; N] {
    fn into_shape(self) -> Result<Vec<u32>, String> {
        self.iter().map(|d| d.to_dim()).collect()
    }
}

impl<D: Dim> IntoShape for Vec<D> {
    fn into_shape(self) -> Result<Vec<u32>, String> {
        self.iter().map(|d| d.to_dim()).collect()
    }
}

impl<D: Dim> IntoShape for &[D] {
    fn into_shape(self) -> Result<Vec<u32>, String> {
        self.iter().map(|d| d.to_dim()).collect()
    }
}

/// Checks that every extent is a power of two.
pub(crate) fn check_shape(shape: &[u32]) -> Result<(), String> {
    match shape.iter().find(|d| !d.is_power_of_two()) {
        Some(d) => Err(format!(
            "tile extent {d} in shape {} is not a power of two; round the block size up (e.g. {}) and mask the extra lanes",
            shape_str(shape),
            d.max(&1).next_power_of_two()
        )),
        None => Ok(()),
    }
}

/// The numpy broadcast of two shapes, or `None` when they are incompatible.
pub(crate) fn broadcast_shapes(a: &[u32], b: &[u32]) -> Option<Vec<u32>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let da = if i < rank - a.len() {
            1
        } else {
            a[i - (rank - a.len())]
        };
        let db = if i < rank - b.len() {
            1
        } else {
            b[i - (rank - b.len())]
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

impl Trace {
    /// The type of a (non-poisoned) tile.
    pub(crate) fn ty(&self, t: Tile) -> TileType {
        self.builder.ty(t.id()).clone()
    }

    /// Materializes a weak value as a tile of `dtype` and `shape`.
    pub(crate) fn constant(&mut self, op: &str, w: Weak, dtype: DType, shape: Vec<u32>) -> Tile {
        match w.to_scalar(dtype) {
            Ok(s) => Tile::from_id(self.builder.constant(s, shape)),
            Err(m) => self.fail(op, m),
        }
    }

    /// Broadcasts `t` to `shape` (numpy rules: leading axes added, extents 1 stretched).
    pub(crate) fn broadcast_to(&mut self, op: &str, t: Tile, shape: &[u32]) -> Tile {
        let ty = self.ty(t);
        if ty.shape == shape {
            return t;
        }
        if broadcast_shapes(&ty.shape, shape).as_deref() != Some(shape) {
            return self.fail(
                op,
                format!("cannot broadcast {ty} to shape {}", shape_str(shape)),
            );
        }
        let mut id = t.id();
        for _ in ty.shape.len()..shape.len() {
            id = self.builder.expand_dims(id, 0);
        }
        if self.builder.ty(id).shape != shape {
            id = self.builder.broadcast(id, shape.to_vec());
        }
        Tile::from_id(id)
    }

    /// Turns two operands into tiles of one shape (broadcast) and, unless `same_dtype` is
    /// false, of one element type (a weak operand adopts the other's type). Returns `None`
    /// after recording an error, or when an operand is poisoned.
    pub(crate) fn unify(&mut self, op: &str, a: Operand, b: Operand) -> Option<(Tile, Tile)> {
        let (ta, tb) = match (a, b) {
            (Operand::Tile(x), _) | (_, Operand::Tile(x)) if x.is_poison() => return None,
            (Operand::Tile(x), Operand::Tile(y)) => (x, y),
            (Operand::Tile(x), Operand::Weak(w)) => {
                let ty = self.ty(x);
                let Some(d) = ty.dtype() else {
                    self.fail(op, format!("a constant cannot be combined with the pointer tile {ty} here; pointer offsets go on the right of `+`"));
                    return None;
                };
                let c = self.constant(op, w, d, vec![]);
                (x, c)
            }
            (Operand::Weak(w), Operand::Tile(y)) => {
                let ty = self.ty(y);
                let Some(d) = ty.dtype() else {
                    self.fail(
                        op,
                        format!("a constant cannot be combined with the pointer tile {ty}"),
                    );
                    return None;
                };
                let c = self.constant(op, w, d, vec![]);
                (c, y)
            }
            (Operand::Weak(x), Operand::Weak(y)) => {
                // As Triton promotes: an integer beside a float becomes a float.
                let d = match (x, y) {
                    (Weak::Int(_), Weak::Float(_)) => y.default_dtype(),
                    _ => x.default_dtype(),
                };
                let cx = self.constant(op, x, d, vec![]);
                let cy = self.constant(op, y, d, vec![]);
                (cx, cy)
            }
        };
        if ta.is_poison() || tb.is_poison() {
            return None;
        }
        let (sa, sb) = (self.ty(ta), self.ty(tb));
        let Some(shape) = broadcast_shapes(&sa.shape, &sb.shape) else {
            self.fail(
                op,
                format!("operand shapes do not broadcast: {sa} and {sb}"),
            );
            return None;
        };
        let ta = self.broadcast_to(op, ta, &shape);
        let tb = self.broadcast_to(op, tb, &shape);
        Some((ta, tb))
    }

    /// Converts one operand to a tile; a weak value becomes a scalar of `dtype` (or of its
    /// default type when `dtype` is `None`).
    pub(crate) fn operand_tile(
        &mut self,
        op: &str,
        v: Operand,
        dtype: Option<DType>,
    ) -> Option<Tile> {
        match v {
            Operand::Tile(t) if t.is_poison() => None,
            Operand::Tile(t) => Some(t),
            Operand::Weak(w) => {
                let d = dtype.unwrap_or(w.default_dtype());
                let t = self.constant(op, w, d, vec![]);
                (!t.is_poison()).then_some(t)
            }
        }
    }

    /// The value type of `t`, or records that a pointer was given where a value is needed.
    pub(crate) fn value_dtype(&mut self, op: &str, t: Tile) -> Option<DType> {
        let ty = self.ty(t);
        match ty.elem {
            ElemType::Val(d) => Some(d),
            ElemType::Ptr(_) => {
                self.fail(op, format!("expected a value tile, got the pointer tile {ty}; load from it with `load`"));
                None
            }
        }
    }
}
