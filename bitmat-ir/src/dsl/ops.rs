//! The DSL operations: free functions named as in Triton, methods on [`Tile`], and Rust
//! operators on tiles. Each checks its operands and records one or a few IR ops.

use super::tile::{check_shape, Dim, IntoOperand, IntoShape, Operand, Tile};
use super::trace::{fail, with_trace, Trace};
use crate::element::Element;
use crate::kernel::{AtomicOp, BinaryOp, CmpPred, Hint, ReduceOp, UnaryOp};
use crate::types::{shape_str, DType, ElemType};

fn binary_on(t: &mut Trace, name: &str, op: BinaryOp, a: Operand, b: Operand) -> Tile {
    if op == BinaryOp::Add || op == BinaryOp::Sub {
        if let Some(p) = pointer_arith(t, name, op, a, b) {
            return p;
        }
    }
    // Shift amounts take the type of the shifted value, as in Rust (`u8 >> i32`).
    let b = match (op, a, b) {
        (BinaryOp::Shl | BinaryOp::Shr, Operand::Tile(x), Operand::Tile(y))
            if !x.is_poison() && !y.is_poison() =>
        {
            match (t.ty(x).dtype(), t.ty(y).dtype()) {
                (Some(dx), Some(dy)) if dx != dy && dx.is_int() && dy.is_int() => {
                    Operand::Tile(Tile::from_id(t.builder.cast(y.id(), dx)))
                }
                _ => b,
            }
        }
        _ => b,
    };
    let Some((x, y)) = t.unify(name, a, b) else {
        return Tile::POISON;
    };
    let (tx, ty) = (t.ty(x), t.ty(y));
    let (Some(dx), Some(dy)) = (tx.dtype(), ty.dtype()) else {
        return t.fail(name, format!("`{name}` is not defined on pointer tiles ({tx} and {ty}); pointers only support `+ offset`"));
    };
    if dx != dy {
        return t.fail(
            name,
            format!("operands have different element types: {tx} and {ty}; convert one with `as`"),
        );
    }
    let ok = match op {
        BinaryOp::And | BinaryOp::Or | BinaryOp::Xor => dx.is_int() || dx == DType::Bool,
        BinaryOp::Shl | BinaryOp::Shr => dx.is_int(),
        _ => dx != DType::Bool,
    };
    if !ok {
        return t.fail(
            name,
            format!("`{name}` is not defined on {dx} (operands {tx} and {ty})"),
        );
    }
    Tile::from_id(t.builder.binary(op, x.id(), y.id()))
}

/// `ptr + offset`, `offset + ptr`, `ptr - offset`; `None` when neither operand is a pointer.
fn pointer_arith(t: &mut Trace, name: &str, op: BinaryOp, a: Operand, b: Operand) -> Option<Tile> {
    let is_ptr = |t: &Trace, o: Operand| match o {
        Operand::Tile(x) if !x.is_poison() => matches!(t.ty(x).elem, ElemType::Ptr(_)),
        _ => false,
    };
    let (ptr, off) =
        match (is_ptr(t, a), is_ptr(t, b)) {
            (true, false) => (a, b),
            (false, true) if op == BinaryOp::Add => (b, a),
            (false, false) => return None,
            _ => return Some(t.fail(
                name,
                "pointer arithmetic takes one pointer tile and one integer tile (`ptr + offsets`)",
            )),
        };
    let Operand::Tile(ptr) = ptr else {
        unreachable!("checked to be a pointer tile")
    };
    let off = match off {
        Operand::Tile(o) if o.is_poison() => return Some(Tile::POISON),
        Operand::Tile(o) => o,
        Operand::Weak(w) => t.constant(name, w, DType::I32, vec![]),
    };
    if off.is_poison() {
        return Some(Tile::POISON);
    }
    let oty = t.ty(off);
    if !oty.dtype().is_some_and(DType::is_int) {
        return Some(t.fail(name, format!("pointer offsets must be integers, got {oty}")));
    }
    let off = if op == BinaryOp::Sub {
        Tile::from_id(t.builder.unary(UnaryOp::Neg, off.id()))
    } else {
        off
    };
    let (p, o) = t.unify(name, Operand::Tile(ptr), Operand::Tile(off))?;
    Some(Tile::from_id(t.builder.add_ptr(p.id(), o.id())))
}

/// Records a binary op (`add`, `shl`, ...) with broadcasting and weak constants.
pub fn binary(name: &str, op: BinaryOp, a: impl IntoOperand, b: impl IntoOperand) -> Tile {
    with_trace(|t| binary_on(t, name, op, a.into_operand(), b.into_operand()))
}

/// Records an elementwise comparison; the result is a `bool` tile.
pub fn compare(pred: CmpPred, a: impl IntoOperand, b: impl IntoOperand) -> Tile {
    let name = match pred {
        CmpPred::Eq => "==",
        CmpPred::Ne => "!=",
        CmpPred::Lt => "<",
        CmpPred::Le => "<=",
        CmpPred::Gt => ">",
        CmpPred::Ge => ">=",
    };
    with_trace(|t| {
        let Some((x, y)) = t.unify(name, a.into_operand(), b.into_operand()) else {
            return Tile::POISON;
        };
        let (tx, ty) = (t.ty(x), t.ty(y));
        match (tx.dtype(), ty.dtype()) {
            (Some(dx), Some(dy)) if dx == dy => {
                if dx == DType::Bool && !matches!(pred, CmpPred::Eq | CmpPred::Ne) {
                    return t.fail(name, format!("ordering comparisons are not defined on bool ({tx})"));
                }
                Tile::from_id(t.builder.cmp(pred, x.id(), y.id()))
            }
            _ => t.fail(
                name,
                format!("cannot compare {tx} with {ty}: element types must be the same values; convert one with `as`"),
            ),
        }
    })
}

fn unary(name: &str, op: UnaryOp, v: Tile) -> Tile {
    with_trace(|t| {
        if v.is_poison() {
            return Tile::POISON;
        }
        let Some(d) = t.value_dtype(name, v) else {
            return Tile::POISON;
        };
        let ok = match op {
            UnaryOp::Neg | UnaryOp::Abs => d != DType::Bool,
            UnaryOp::Not => d.is_int() || d == DType::Bool,
            _ => d.is_float(),
        };
        if !ok {
            let hint = if d.is_float() || op == UnaryOp::Not || d == DType::Bool {
                ""
            } else {
                "; cast to f32 first"
            };
            return t.fail(
                name,
                format!("`{name}` is not defined on {}{hint}", t.ty(v)),
            );
        }
        Tile::from_id(t.builder.unary(op, v.id()))
    })
}

macro_rules! binary_operator {
    ($trait:ident, $method:ident, $assign_trait:ident, $assign_method:ident, $op:expr, $name:literal) => {
        impl<R: IntoOperand> std::ops::$trait<R> for Tile {
            type Output = Tile;
            fn $method(self, rhs: R) -> Tile {
                binary($name, $op, self, rhs)
            }
        }
        impl<R: IntoOperand> std::ops::$assign_trait<R> for Tile {
            fn $assign_method(&mut self, rhs: R) {
                *self = binary($name, $op, *self, rhs);
            }
        }
        binary_operator!(@prim $trait, $method, $op, $name, i8, u8, i16, u16, i32, u32, i64, u64, isize, usize, f32, f64, bool);
    };
    (@prim $trait:ident, $method:ident, $op:expr, $name:literal, $($t:ty),*) => {$(
        impl std::ops::$trait<Tile> for $t {
            type Output = Tile;
            fn $method(self, rhs: Tile) -> Tile {
                binary($name, $op, self, rhs)
            }
        }
    )*};
}

binary_operator!(Add, add, AddAssign, add_assign, BinaryOp::Add, "add");
binary_operator!(Sub, sub, SubAssign, sub_assign, BinaryOp::Sub, "sub");
binary_operator!(Mul, mul, MulAssign, mul_assign, BinaryOp::Mul, "mul");
binary_operator!(Div, div, DivAssign, div_assign, BinaryOp::Div, "div");
binary_operator!(Rem, rem, RemAssign, rem_assign, BinaryOp::Rem, "rem");
binary_operator!(
    BitAnd,
    bitand,
    BitAndAssign,
    bitand_assign,
    BinaryOp::And,
    "and"
);
binary_operator!(BitOr, bitor, BitOrAssign, bitor_assign, BinaryOp::Or, "or");
binary_operator!(
    BitXor,
    bitxor,
    BitXorAssign,
    bitxor_assign,
    BinaryOp::Xor,
    "xor"
);
binary_operator!(Shl, shl, ShlAssign, shl_assign, BinaryOp::Shl, "shl");
binary_operator!(Shr, shr, ShrAssign, shr_assign, BinaryOp::Shr, "shr");

impl std::ops::Neg for Tile {
    type Output = Tile;
    fn neg(self) -> Tile {
        unary("neg", UnaryOp::Neg, self)
    }
}

impl std::ops::Not for Tile {
    type Output = Tile;
    fn not(self) -> Tile {
        unary("not", UnaryOp::Not, self)
    }
}

/// Resolves a possibly negative axis against `rank` (`-1` is the last axis).
pub(crate) fn resolve_axis(
    name: &str,
    axis: i32,
    rank: usize,
    inclusive: bool,
) -> Result<u32, String> {
    let limit = rank as i32 + i32::from(inclusive);
    let a = if axis < 0 { axis + limit } else { axis };
    if a < 0 || a >= limit {
        let valid = if inclusive {
            rank
        } else {
            rank.saturating_sub(1)
        };
        return Err(format!(
            "axis {axis} is out of range for `{name}` on a tile of rank {rank} (valid: 0..={valid}, or negative from the end)"
        ));
    }
    Ok(a as u32)
}

fn reduce(name: &str, op: ReduceOp, v: Tile, axis: i32) -> Tile {
    with_trace(|t| {
        if v.is_poison() {
            return Tile::POISON;
        }
        let ty = t.ty(v);
        let Some(d) = t.value_dtype(name, v) else {
            return Tile::POISON;
        };
        if d == DType::Bool {
            return t.fail(
                name,
                format!("`{name}` is not defined on {ty}; cast to an integer type first"),
            );
        }
        if op == ReduceOp::Xor && !d.is_int() {
            return t.fail(
                name,
                format!("`{name}` is defined on integer tiles, not {ty}; `.bitcast::<u32>()` a float tile to xor its bits"),
            );
        }
        match resolve_axis(name, axis, ty.rank(), false) {
            Ok(a) => Tile::from_id(t.builder.reduce(op, v.id(), a)),
            Err(m) => t.fail(name, m),
        }
    })
}

impl Tile {
    /// Inserts an axis of extent 1 at `axis` (Triton's `expand_dims`; `-1` appends).
    pub fn unsqueeze(self, axis: i32) -> Tile {
        with_trace(|t| {
            if self.is_poison() {
                return Tile::POISON;
            }
            match resolve_axis("unsqueeze", axis, t.ty(self).rank(), true) {
                Ok(a) => Tile::from_id(t.builder.expand_dims(self.id(), a)),
                Err(m) => t.fail("unsqueeze", m),
            }
        })
    }

    /// Broadcasts to `shape` with numpy rules.
    pub fn broadcast_to(self, shape: impl IntoShape) -> Tile {
        with_trace(|t| {
            if self.is_poison() {
                return Tile::POISON;
            }
            match shape.into_shape().and_then(|s| check_shape(&s).map(|()| s)) {
                Ok(s) => t.broadcast_to("broadcast_to", self, &s),
                Err(m) => t.fail("broadcast_to", m),
            }
        })
    }

    /// The same elements (row-major order) in another shape of the same size.
    pub fn reshape(self, shape: impl IntoShape) -> Tile {
        with_trace(|t| {
            if self.is_poison() {
                return Tile::POISON;
            }
            let ty = t.ty(self);
            let s = match shape.into_shape().and_then(|s| check_shape(&s).map(|()| s)) {
                Ok(s) => s,
                Err(m) => return t.fail("reshape", m),
            };
            let numel: usize = s.iter().map(|&d| d as usize).product();
            if numel != ty.numel() {
                return t.fail(
                    "reshape",
                    format!(
                        "cannot reshape {ty} ({} elements) to {} ({numel} elements)",
                        ty.numel(),
                        shape_str(&s)
                    ),
                );
            }
            Tile::from_id(t.builder.reshape(self.id(), s))
        })
    }

    /// Sum along `axis`, which is removed (integers wrap).
    pub fn sum(self, axis: i32) -> Tile {
        reduce("sum", ReduceOp::Sum, self, axis)
    }

    /// Maximum along `axis`, which is removed.
    pub fn max(self, axis: i32) -> Tile {
        reduce("max", ReduceOp::Max, self, axis)
    }

    /// Minimum along `axis`, which is removed.
    pub fn min(self, axis: i32) -> Tile {
        reduce("min", ReduceOp::Min, self, axis)
    }

    /// Bitwise xor of the elements along `axis`, which is removed (integers; Triton's
    /// `xor_sum`).
    pub fn xor_sum(self, axis: i32) -> Tile {
        reduce("xor_sum", ReduceOp::Xor, self, axis)
    }

    /// Absolute value.
    pub fn abs(self) -> Tile {
        unary("abs", UnaryOp::Abs, self)
    }

    /// `e^x` (floats).
    pub fn exp(self) -> Tile {
        unary("exp", UnaryOp::Exp, self)
    }

    /// Natural logarithm (floats).
    pub fn log(self) -> Tile {
        unary("log", UnaryOp::Log, self)
    }

    /// Square root (floats).
    pub fn sqrt(self) -> Tile {
        unary("sqrt", UnaryOp::Sqrt, self)
    }

    /// `1 / sqrt(x)` (floats).
    pub fn rsqrt(self) -> Tile {
        unary("rsqrt", UnaryOp::Rsqrt, self)
    }

    /// Round to nearest, ties to even (floats), as `torch.round` and PTX `cvt.rni`.
    pub fn round(self) -> Tile {
        unary("round", UnaryOp::Round, self)
    }

    /// `2^x` (floats).
    pub fn exp2(self) -> Tile {
        unary("exp2", UnaryOp::Exp2, self)
    }

    /// Base-2 logarithm (floats).
    pub fn log2(self) -> Tile {
        unary("log2", UnaryOp::Log2, self)
    }

    /// Sine, `x` in radians (floats).
    pub fn sin(self) -> Tile {
        unary("sin", UnaryOp::Sin, self)
    }

    /// Cosine, `x` in radians (floats).
    pub fn cos(self) -> Tile {
        unary("cos", UnaryOp::Cos, self)
    }

    /// Hyperbolic tangent (floats).
    pub fn tanh(self) -> Tile {
        unary("tanh", UnaryOp::Tanh, self)
    }

    /// The error function (floats), as `tl.math.erf`.
    pub fn erf(self) -> Tile {
        unary("erf", UnaryOp::Erf, self)
    }

    /// The logistic function `1 / (1 + e^-x)` (floats), as `tl.sigmoid`.
    pub fn sigmoid(self) -> Tile {
        unary("sigmoid", UnaryOp::Sigmoid, self)
    }

    /// Rounds towards negative infinity (floats).
    pub fn floor(self) -> Tile {
        unary("floor", UnaryOp::Floor, self)
    }

    /// Rounds towards positive infinity (floats).
    pub fn ceil(self) -> Tile {
        unary("ceil", UnaryOp::Ceil, self)
    }

    /// Reinterprets the bits as `T` (same width).
    pub fn bitcast<T: Element>(self) -> Tile {
        with_trace(|t| {
            if self.is_poison() {
                return Tile::POISON;
            }
            let ty = t.ty(self);
            match ty.dtype() {
                Some(d)
                    if d.bits() == T::DTYPE.bits()
                        && d != DType::Bool
                        && T::DTYPE != DType::Bool =>
                {
                    Tile::from_id(t.builder.bitcast(self.id(), T::DTYPE))
                }
                _ => t.fail(
                    "bitcast",
                    format!(
                        "cannot bitcast {ty} to {}: bit widths must match and bool is not allowed",
                        T::DTYPE
                    ),
                ),
            }
        })
    }

    /// Converts the elements to `T` with Rust `as` semantics (what `x as T` becomes).
    pub fn cast<T: Element>(self) -> Tile {
        cast_to(self, T::DTYPE)
    }
}

/// `x as T` on a tile.
pub(crate) fn cast_to(v: Tile, to: DType) -> Tile {
    with_trace(|t| {
        if v.is_poison() {
            return Tile::POISON;
        }
        let Some(d) = t.value_dtype("as", v) else {
            return Tile::POISON;
        };
        if d == to {
            return v;
        }
        Tile::from_id(t.builder.cast(v.id(), to))
    })
}

/// The index of this program along `axis` (0, 1 or 2) of the launch grid.
pub fn program_id(axis: u32) -> Tile {
    with_trace(|t| match u8::try_from(axis) {
        Ok(a) if a < 3 => Tile::from_id(t.builder.program_id(a)),
        _ => t.fail(
            "program_id",
            format!("axis {axis} is out of range: the grid has axes 0, 1 and 2"),
        ),
    })
}

/// The number of programs along `axis` (0, 1 or 2) of the launch grid.
pub fn num_programs(axis: u32) -> Tile {
    with_trace(|t| match u8::try_from(axis) {
        Ok(a) if a < 3 => Tile::from_id(t.builder.num_programs(a)),
        _ => t.fail(
            "num_programs",
            format!("axis {axis} is out of range: the grid has axes 0, 1 and 2"),
        ),
    })
}

/// `[0, 1, .., n-1]` as an `i32` tile; `n` must be a power of two.
pub fn arange(n: impl Dim) -> Tile {
    with_trace(
        |t| match n.to_dim().and_then(|d| check_shape(&[d]).map(|()| d)) {
            Ok(d) => Tile::from_id(t.builder.arange(d)),
            Err(m) => t.fail("arange", m),
        },
    )
}

/// A tile of `shape` filled with zeros of type `T`.
pub fn zeros<T: Element>(shape: impl IntoShape) -> Tile {
    with_trace(
        |t| match shape.into_shape().and_then(|s| check_shape(&s).map(|()| s)) {
            Ok(s) => Tile::from_id(t.builder.constant(crate::Scalar::zero(T::DTYPE), s)),
            Err(m) => t.fail("zeros", m),
        },
    )
}

/// A tile of `shape` filled with `value` (a constant, typed as Rust types it: integers
/// `i32`, floats `f32`; or a scalar tile, broadcast).
pub fn full(shape: impl IntoShape, value: impl IntoOperand) -> Tile {
    with_trace(|t| {
        let s = match shape.into_shape().and_then(|s| check_shape(&s).map(|()| s)) {
            Ok(s) => s,
            Err(m) => return t.fail("full", m),
        };
        match value.into_operand() {
            Operand::Weak(w) => t.constant("full", w, w.default_dtype(), s),
            Operand::Tile(v) if v.is_poison() => Tile::POISON,
            Operand::Tile(v) => t.broadcast_to("full", v, &s),
        }
    })
}

/// Broadcasts `ptr`, `mask` and `other` together and checks them for a load or a store.
fn memory_operands(
    t: &mut Trace,
    name: &str,
    ptr: Tile,
    mask: Option<Operand>,
    value: Option<Operand>,
) -> Option<(Tile, Option<Tile>, Option<Tile>)> {
    if ptr.is_poison() {
        return None;
    }
    let pty = t.ty(ptr);
    let ElemType::Ptr(pointee) = pty.elem else {
        t.fail(
            name,
            format!("expected a pointer tile (a `Ptr<T>` argument plus offsets), got {pty}"),
        );
        return None;
    };
    let mask = match mask {
        None => None,
        Some(m) => Some(t.operand_tile(name, m, Some(DType::Bool))?),
    };
    if let Some(m) = mask {
        let mty = t.ty(m);
        if mty.dtype() != Some(DType::Bool) {
            t.fail(name, format!("the mask must be a bool tile, got {mty}; build it with comparisons such as `offs < n`"));
            return None;
        }
    }
    let value = match value {
        None => None,
        Some(v) => Some(t.operand_tile(name, v, Some(pointee))?),
    };
    if let Some(v) = value {
        let vty = t.ty(v);
        if vty.elem != ElemType::Val(pointee) {
            t.fail(name, format!("the value {vty} does not match the pointer {pty}; convert it with `as {pointee}`"));
            return None;
        }
    }
    let mut shape = pty.shape.clone();
    for x in mask.iter().chain(value.iter()) {
        let xty = t.ty(*x);
        match super::tile::broadcast_shapes(&shape, &xty.shape) {
            Some(s) => shape = s,
            None => {
                t.fail(
                    name,
                    format!("shapes do not broadcast: pointer {pty} and {xty}"),
                );
                return None;
            }
        }
    }
    let ptr = t.broadcast_to(name, ptr, &shape);
    let mask = mask.map(|m| t.broadcast_to(name, m, &shape));
    let value = value.map(|v| t.broadcast_to(name, v, &shape));
    Some((ptr, mask, value))
}

/// Loads the elements `ptr` points to (every lane must be in bounds).
pub fn load(ptr: Tile) -> Tile {
    with_trace(|t| match memory_operands(t, "load", ptr, None, None) {
        Some((p, _, _)) => Tile::from_id(t.builder.load(p.id(), None, None)),
        None => Tile::POISON,
    })
}

/// Loads where `mask` is true; other lanes read `other` and touch no memory.
/// (`load(ptr, mask, other)` in kernels.)
pub fn load_masked(ptr: Tile, mask: impl IntoOperand, other: impl IntoOperand) -> Tile {
    with_trace(|t| {
        match memory_operands(
            t,
            "load",
            ptr,
            Some(mask.into_operand()),
            Some(other.into_operand()),
        ) {
            Some((p, m, o)) => {
                Tile::from_id(t.builder.load(p.id(), m.map(Tile::id), o.map(Tile::id)))
            }
            None => Tile::POISON,
        }
    })
}

/// Stores `value` (broadcast to the pointer's shape) where `ptr` points.
pub fn store(ptr: Tile, value: impl IntoOperand) {
    with_trace(|t| {
        if let Some((p, _, Some(v))) =
            memory_operands(t, "store", ptr, None, Some(value.into_operand()))
        {
            t.builder.store(p.id(), v.id(), None);
        }
    })
}

/// Stores where `mask` is true. (`store(ptr, value, mask)` in kernels.)
pub fn store_masked(ptr: Tile, value: impl IntoOperand, mask: impl IntoOperand) {
    with_trace(|t| {
        if let Some((p, m, Some(v))) = memory_operands(
            t,
            "store",
            ptr,
            Some(mask.into_operand()),
            Some(value.into_operand()),
        ) {
            t.builder.store(p.id(), v.id(), m.map(Tile::id));
        }
    })
}

macro_rules! atomic_fns {
    ($($op:ident, $masked:ident, $unmasked:ident, $what:literal;)*) => {$(
        #[doc = concat!("Atomically ", $what, " where `mask` is true; returns the previous values (zero where masked off).")]
        pub fn $masked(ptr: Tile, value: impl IntoOperand, mask: impl IntoOperand) -> Tile {
            atomic_impl(AtomicOp::$op, ptr, value.into_operand(), Some(mask.into_operand()))
        }

        #[doc = concat!("Atomically ", $what, " everywhere `ptr` points; returns the previous values. (`", stringify!($masked), "(ptr, value)` in kernels.)")]
        pub fn $unmasked(ptr: Tile, value: impl IntoOperand) -> Tile {
            atomic_impl(AtomicOp::$op, ptr, value.into_operand(), None)
        }
    )*};
}

atomic_fns! {
    Add, atomic_add, atomic_add_unmasked, "adds `value`";
    Max, atomic_max, atomic_max_unmasked, "keeps the larger of memory and `value` (for floats, a NaN yields the other)";
    Min, atomic_min, atomic_min_unmasked, "keeps the smaller of memory and `value` (for floats, a NaN yields the other)";
    And, atomic_and, atomic_and_unmasked, "ands `value` into memory (integers)";
    Or, atomic_or, atomic_or_unmasked, "ors `value` into memory (integers)";
    Xor, atomic_xor, atomic_xor_unmasked, "xors `value` into memory (integers)";
    Xchg, atomic_xchg, atomic_xchg_unmasked, "stores `value`";
}

/// The element type check of the atomics: `op` on the pointee type of `ptr`.
fn atomic_supported(t: &mut Trace, name: &str, op: AtomicOp, v: Tile) -> bool {
    let vty = t.ty(v);
    if vty.dtype().is_some_and(|d| op.supports(d)) {
        return true;
    }
    let on = if matches!(op, AtomicOp::And | AtomicOp::Or | AtomicOp::Xor) {
        "i32, u32, i64 and u64"
    } else {
        "i32, u32, i64, u64 and f32"
    };
    t.fail(name, format!("{name} supports {on}, not {vty}"));
    false
}

fn atomic_impl(op: AtomicOp, ptr: Tile, value: Operand, mask: Option<Operand>) -> Tile {
    let name = op.name();
    with_trace(|t| match memory_operands(t, name, ptr, mask, Some(value)) {
        Some((p, m, Some(v))) if atomic_supported(t, name, op, v) => {
            Tile::from_id(t.builder.atomic(op, p.id(), v.id(), m.map(Tile::id)))
        }
        _ => Tile::POISON,
    })
}

/// Atomic compare-and-swap: where memory at `ptr` equals `cmp` (bit for bit), stores `value`;
/// returns the previous values (Triton's `atomic_cas`: i32, u32, i64, u64 and f32).
pub fn atomic_cas(ptr: Tile, cmp: impl IntoOperand, value: impl IntoOperand) -> Tile {
    let name = "atomic_cas";
    let (cmp, value) = (cmp.into_operand(), value.into_operand());
    with_trace(|t| {
        let Some((p, _, Some(c))) = memory_operands(t, name, ptr, None, Some(cmp)) else {
            return Tile::POISON;
        };
        let Some((p, _, Some(v))) = memory_operands(t, name, p, None, Some(value)) else {
            return Tile::POISON;
        };
        let Some((p, _, Some(c))) = memory_operands(t, name, p, None, Some(Operand::Tile(c)))
        else {
            return Tile::POISON;
        };
        if !atomic_supported(t, name, AtomicOp::Xchg, v) {
            return Tile::POISON;
        }
        Tile::from_id(t.builder.atomic_cas(p.id(), c.id(), v.id(), None))
    })
}

/// The accumulator type of `dot` for operand type `d`.
fn dot_acc_dtype(d: DType) -> Option<DType> {
    match d {
        DType::I8 => Some(DType::I32),
        DType::F16 | DType::BF16 | DType::F32 | DType::F8E4M3 | DType::F8E5M2 => Some(DType::F32),
        _ => None,
    }
}

/// Matrix product `a [M, K] x b [K, N]`, accumulated in `i32` (for `i8`) or `f32` (floats,
/// fp8 included).
/// (`dot(a, b)` in kernels.)
pub fn dot(a: Tile, b: Tile) -> Tile {
    with_trace(|t| {
        if a.is_poison() || b.is_poison() {
            return Tile::POISON;
        }
        let (ta, tb) = (t.ty(a), t.ty(b));
        let (Some(da), 2, 2) = (ta.dtype(), ta.rank(), tb.rank()) else {
            return t.fail(
                "dot",
                format!("dot takes two rank-2 value tiles, got {ta} and {tb}"),
            );
        };
        let Some(acc_d) = dot_acc_dtype(da) else {
            return t.fail(
                "dot",
                format!("dot supports i8, f16, bf16, f32, f8e4m3 and f8e5m2 operands, not {ta}"),
            );
        };
        let acc = Tile::from_id(
            t.builder
                .constant(crate::Scalar::zero(acc_d), vec![ta.shape[0], tb.shape[1]]),
        );
        dot_on(t, a, b, acc)
    })
}

/// `a x b + acc`. (`dot(a, b, acc)` in kernels.) An f16 `acc` with f16 operands accumulates in
/// f32 and rounds the result to f16 (once per call: across a K loop, at every step).
pub fn dot_acc(a: Tile, b: Tile, acc: Tile) -> Tile {
    with_trace(|t| dot_on(t, a, b, acc))
}

fn dot_on(t: &mut Trace, a: Tile, b: Tile, acc: Tile) -> Tile {
    if a.is_poison() || b.is_poison() || acc.is_poison() {
        return Tile::POISON;
    }
    let (ta, tb, tc) = (t.ty(a), t.ty(b), t.ty(acc));
    if ta.rank() != 2 || tb.rank() != 2 || tc.rank() != 2 {
        return t.fail(
            "dot",
            format!("dot takes rank-2 tiles, got a: {ta}, b: {tb}, acc: {tc}"),
        );
    }
    if ta.shape[1] != tb.shape[0] {
        return t.fail(
            "dot",
            format!(
                "inner dimensions differ: a is {ta}, b is {tb} (a's columns must equal b's rows)"
            ),
        );
    }
    if tc.shape != [ta.shape[0], tb.shape[1]] {
        return t.fail(
            "dot",
            format!(
                "the accumulator {tc} does not have the result shape [{}, {}] of a: {ta} x b: {tb}",
                ta.shape[0], tb.shape[1]
            ),
        );
    }
    let types = (ta.dtype(), tb.dtype(), tc.dtype());
    if types == (Some(DType::F16), Some(DType::F16), Some(DType::F16)) {
        // An f16 accumulator (Triton's `out_dtype=float16`): the products and the sum in f32,
        // the result rounded to f16 once per `dot`.
        let wide = t.builder.cast(acc.id(), DType::F32);
        let r = t.builder.dot(a.id(), b.id(), wide);
        return Tile::from_id(t.builder.cast(r, DType::F16));
    }
    let valid = matches!(
        types,
        (Some(DType::I8), Some(DType::I8), Some(DType::I32))
            | (Some(DType::F16), Some(DType::F16), Some(DType::F32))
            | (Some(DType::BF16), Some(DType::BF16), Some(DType::F32))
            | (Some(DType::F32), Some(DType::F32), Some(DType::F32))
    ) || matches!(
        types,
        (Some(x), Some(y), Some(DType::F32)) if x.is_fp8() && y.is_fp8()
    );
    if !valid {
        return t.fail(
            "dot",
            format!("unsupported operand types a: {ta}, b: {tb}, acc: {tc}; dot takes i8 x i8 + i32, f16 x f16 + f32 or f16, bf16 x bf16 + f32, f32 x f32 + f32 or fp8 (f8e4m3, f8e5m2, mixed too) x fp8 + f32"),
        );
    }
    Tile::from_id(t.builder.dot(a.id(), b.id(), acc.id()))
}

/// Elementwise `cond ? a : b` (Triton's `where`), with broadcasting.
pub fn select(cond: impl IntoOperand, a: impl IntoOperand, b: impl IntoOperand) -> Tile {
    with_trace(|t| {
        let Some(c) = t.operand_tile("select", cond.into_operand(), Some(DType::Bool)) else {
            return Tile::POISON;
        };
        let cty = t.ty(c);
        if cty.dtype() != Some(DType::Bool) {
            return t.fail(
                "select",
                format!("the condition must be a bool tile, got {cty}"),
            );
        }
        let Some((x, y)) = t.unify("select", a.into_operand(), b.into_operand()) else {
            return Tile::POISON;
        };
        let (tx, ty) = (t.ty(x), t.ty(y));
        if tx.elem != ty.elem {
            return t.fail(
                "select",
                format!("both branches must have the same element type, got {tx} and {ty}"),
            );
        }
        let Some(shape) = super::tile::broadcast_shapes(&cty.shape, &tx.shape) else {
            return t.fail(
                "select",
                format!("shapes do not broadcast: condition {cty} and values {tx}"),
            );
        };
        let c = t.broadcast_to("select", c, &shape);
        let x = t.broadcast_to("select", x, &shape);
        let y = t.broadcast_to("select", y, &shape);
        Tile::from_id(t.builder.select(c.id(), x.id(), y.id()))
    })
}

/// `a * b + c` with one rounding (floats), as Triton's `fma`, with broadcasting.
pub fn fma(a: impl IntoOperand, b: impl IntoOperand, c: impl IntoOperand) -> Tile {
    with_trace(|t| {
        let Some((x, y)) = t.unify("fma", a.into_operand(), b.into_operand()) else {
            return Tile::POISON;
        };
        let Some((x, z)) = t.unify("fma", Operand::Tile(x), c.into_operand()) else {
            return Tile::POISON;
        };
        let shape = t.ty(x).shape.clone();
        let y = t.broadcast_to("fma", y, &shape);
        let (tx, ty, tz) = (t.ty(x), t.ty(y), t.ty(z));
        if tx.elem != ty.elem || tx.elem != tz.elem {
            return t.fail(
                "fma",
                format!("operands have different element types: {tx}, {ty} and {tz}; convert them with `as`"),
            );
        }
        if !tx.dtype().is_some_and(|d| d.is_float()) {
            return t.fail(
                "fma",
                format!("`fma` is defined on floats, not on {tx}; for integers write `a * b + c`"),
            );
        }
        Tile::from_id(t.builder.fma(x.id(), y.id(), z.id()))
    })
}

/// Elementwise maximum (for floats, a NaN operand yields the other one).
pub fn maximum(a: impl IntoOperand, b: impl IntoOperand) -> Tile {
    binary("maximum", BinaryOp::Max, a, b)
}

/// Elementwise minimum (for floats, a NaN operand yields the other one).
pub fn minimum(a: impl IntoOperand, b: impl IntoOperand) -> Tile {
    binary("minimum", BinaryOp::Min, a, b)
}

/// `x` clamped to `[lo, hi]` elementwise, as Triton's `clamp`: `minimum(maximum(x, lo), hi)`
/// (so a NaN in `x` gives `lo`, Triton's default `propagate_nan=NONE`; the result is
/// unspecified where `lo > hi`). Integers and floats, with broadcasting.
pub fn clamp(x: impl IntoOperand, lo: impl IntoOperand, hi: impl IntoOperand) -> Tile {
    let low = binary("clamp", BinaryOp::Max, x, lo);
    binary("clamp", BinaryOp::Min, low, hi)
}

/// `a / b` rounded up for positive integers, as Triton's `cdiv`: `(a + b - 1) / b` with
/// wrapping sums and truncating division (for floats, write `(a / b).ceil()`).
pub fn cdiv(a: impl IntoOperand, b: impl IntoOperand) -> Tile {
    let (a, b) = (a.into_operand(), b.into_operand());
    let sum = binary("cdiv", BinaryOp::Add, a, b);
    if sum.is_poison() {
        return sum;
    }
    let not_int = with_trace(|t| match t.ty(sum).dtype() {
        Some(d) if !d.is_int() => Some(t.ty(sum)),
        _ => None,
    });
    if let Some(ty) = not_int {
        return with_trace(|t| {
            t.fail(
                "cdiv",
                format!(
                    "`cdiv` is defined on integers, not on {ty}; for floats write `(a / b).ceil()`"
                ),
            )
        });
    }
    binary(
        "cdiv",
        BinaryOp::Div,
        binary("cdiv", BinaryOp::Sub, sum, 1),
        b,
    )
}

/// `x` (an integer tile or scalar), every element of which the author vouches is a multiple
/// of `n` (a power of two): Triton's `multiple_of`, a fact for the contiguity analysis and
/// the vectorizer (an aligned start lets `load(p + x)` be vector accesses).
pub fn multiple_of(x: Tile, n: u32) -> Tile {
    hint(x, "multiple_of", Hint::MultipleOf(n), n)
}

/// `x` (an integer tile), which the author vouches holds runs of `n` (a power of two)
/// consecutive integers along its last axis: Triton's `max_contiguous`, a fact for the
/// contiguity analysis and the vectorizer.
pub fn max_contiguous(x: Tile, n: u32) -> Tile {
    hint(x, "max_contiguous", Hint::MaxContiguous(n), n)
}

fn hint(x: Tile, name: &str, h: Hint, n: u32) -> Tile {
    with_trace(|t| {
        if x.is_poison() {
            return Tile::POISON;
        }
        let ty = t.ty(x);
        if !ty.dtype().is_some_and(|d| d.is_int() && d != DType::Bool) {
            t.fail(name, format!("{name} describes integer tiles, not {ty}"));
            return Tile::POISON;
        }
        if !n.is_power_of_two() {
            t.fail(name, format!("{name} needs a power of two, not {n}"));
            return Tile::POISON;
        }
        Tile::from_id(t.builder.hint(x.id(), h))
    })
}

/// Fails specialization with `message` unless `condition` holds (Triton's `static_assert`):
/// for constexpr combinations a kernel does not support.
pub fn static_assert(condition: bool, message: &str) {
    if !condition {
        fail("static_assert", message);
    }
}

/// Prints `label` and each element of `x` with its program and index (Triton's
/// `device_print`): one line per element, `pid (x, y, z) idx (i, j) label: v`, written by the
/// interpreter and the CPU to standard output (or the buffer of
/// [`crate::device_print::capture`]), by CUDA through the driver's `printf`.
/// (`device_print("label", x)` in kernels: the label is a string literal.)
pub fn device_print(label: &str, x: impl IntoOperand) {
    with_trace(|t| {
        let Some(x) = t.operand_tile("device_print", x.into_operand(), None) else {
            return;
        };
        if t.value_dtype("device_print", x).is_some() {
            t.builder.print(label, x.id());
        }
    })
}

/// Fails the launch with `message` where some element of the `bool` tile `cond` is false
/// (Triton's `device_assert`), naming the first failing program in grid order and its first
/// false lane. Kept only in debug launches (`LaunchOptions::debug`, `BITMAT_DEBUG=1`); other
/// launches compile it out. (`device_assert(cond, "message")` in kernels: the message is a
/// string literal.)
pub fn device_assert(cond: impl IntoOperand, message: &str) {
    with_trace(|t| {
        let Some(c) = t.operand_tile("device_assert", cond.into_operand(), Some(DType::Bool))
        else {
            return;
        };
        let ty = t.ty(c);
        if ty.elem != ElemType::Val(DType::Bool) {
            t.fail(
                "device_assert",
                format!("the condition must be a bool tile, not {ty}; compare it, e.g. `device_assert(x >= 0, \"..\")`"),
            );
            return;
        }
        t.builder.assert(c.id(), message);
    })
}
