//! The IR data structures: a kernel is a list of parameters and a body block of operations in
//! SSA form, with structured control flow (`for` and `while` loops with loop-carried values, `if`).
//!
//! Invariants (checked by [`crate::verify`]):
//! - every value is defined exactly once, by a parameter, a block argument or an op result,
//!   before its uses, in the same block or an enclosing one;
//! - elementwise ops take operands of identical shapes (the DSL front-end inserts explicit
//!   `broadcast`/`expand_dims`), and identical element types unless the op says otherwise;
//! - every tile extent is a power of two.
//!
//! Float results follow IEEE 754 (f16/bf16 computed in f32 and rounded to nearest even), but
//! the payload and sign of a NaN result are unspecified: backends may return any NaN.

use crate::scalar::Scalar;
use crate::types::{DType, TileType};
use std::fmt;

/// An SSA value: an index into [`Kernel::values`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId(pub u32);

impl ValueId {
    /// The index into [`Kernel::values`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for ValueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%{}", self.0)
    }
}

/// What a kernel parameter is at launch time.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ParamKind {
    /// A device buffer of the given element type; the parameter's value is a scalar pointer.
    Ptr(DType),
    /// A runtime scalar of the given type.
    Scalar(DType),
}

/// A runtime parameter of a kernel.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// The name the kernel author gave it.
    pub name: String,
    /// Pointer or scalar, and its element type.
    pub kind: ParamKind,
    /// The SSA value that stands for it in the body.
    pub value: ValueId,
    /// A power of two known to divide it (1: nothing known): for a pointer, its address in
    /// bytes; for an integer, its value. Launches specialize on it, as Triton does on
    /// 16-byte alignment and multiples of 16 ([`crate::passes::specialize`]).
    pub divisibility: u32,
}

/// Elementwise operations of one operand.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// Arithmetic negation (wrapping for integers).
    Neg,
    /// Bitwise not (logical not for `bool`).
    Not,
    /// Absolute value (wrapping for `MIN` of signed integers).
    Abs,
    /// `e^x` (floats).
    Exp,
    /// Natural logarithm (floats).
    Log,
    /// Square root (floats).
    Sqrt,
    /// `1 / sqrt(x)` (floats).
    Rsqrt,
    /// Round to nearest, ties to even (floats).
    Round,
    /// `2^x` (floats).
    Exp2,
    /// Base-2 logarithm (floats).
    Log2,
    /// Sine of `x` radians (floats).
    Sin,
    /// Cosine of `x` radians (floats).
    Cos,
    /// Hyperbolic tangent (floats).
    Tanh,
    /// The error function `2/sqrt(pi) * integral of e^(-t^2) from 0 to x` (floats).
    Erf,
    /// The logistic function `1 / (1 + e^-x)` (floats).
    Sigmoid,
    /// Round towards negative infinity (floats).
    Floor,
    /// Round towards positive infinity (floats).
    Ceil,
}

impl UnaryOp {
    /// Every unary op, in declaration order.
    pub const ALL: [UnaryOp; 17] = [
        UnaryOp::Neg,
        UnaryOp::Not,
        UnaryOp::Abs,
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Sqrt,
        UnaryOp::Rsqrt,
        UnaryOp::Round,
        UnaryOp::Exp2,
        UnaryOp::Log2,
        UnaryOp::Sin,
        UnaryOp::Cos,
        UnaryOp::Tanh,
        UnaryOp::Erf,
        UnaryOp::Sigmoid,
        UnaryOp::Floor,
        UnaryOp::Ceil,
    ];

    /// Whether the op is defined on floats only (every op but `neg`, `not` and `abs`).
    pub fn is_float_only(self) -> bool {
        !matches!(self, UnaryOp::Neg | UnaryOp::Not | UnaryOp::Abs)
    }

    /// Whether the op is transcendental: computed through [`crate::math::f32_fn`] by the
    /// interpreter and the CPU backends, and approximated on the GPU.
    pub fn is_transcendental(self) -> bool {
        matches!(
            self,
            UnaryOp::Exp
                | UnaryOp::Log
                | UnaryOp::Exp2
                | UnaryOp::Log2
                | UnaryOp::Sin
                | UnaryOp::Cos
                | UnaryOp::Tanh
                | UnaryOp::Erf
                | UnaryOp::Sigmoid
        )
    }
}

/// Elementwise operations of two operands of the same type.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `a + b` (wrapping for integers).
    Add,
    /// `a - b` (wrapping for integers).
    Sub,
    /// `a * b` (wrapping for integers).
    Mul,
    /// `a / b`, truncating for integers (`MIN / -1` wraps; division by zero is an error).
    Div,
    /// `a % b`, the sign of `a` for integers (as Rust), `fmod` for floats.
    Rem,
    /// Bitwise and (logical for `bool`).
    And,
    /// Bitwise or (logical for `bool`).
    Or,
    /// Bitwise xor.
    Xor,
    /// Shift left by `b` modulo the bit width (Rust's `wrapping_shl`).
    Shl,
    /// Shift right (arithmetic for signed types) by `b` modulo the bit width.
    Shr,
    /// Minimum (for floats, a NaN operand yields the other one).
    Min,
    /// Maximum (for floats, a NaN operand yields the other one).
    Max,
}

/// Comparison predicates; the result is a `bool` tile.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum CmpPred {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// A fact about an integer tile ([`OpKind::Hint`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Hint {
    /// Every element is a multiple of this power of two.
    MultipleOf(u32),
    /// Along the last axis, runs of this many (a power of two) consecutive integers
    /// (`x, x + 1, ..`), starting at every multiple of it.
    MaxContiguous(u32),
}

/// How an [`OpKind::Atomic`] combines memory's old value with its operand.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum AtomicOp {
    /// `old + v` (wrapping for integers; floats rounded to the type).
    Add,
    /// The larger (for floats, a NaN operand yields the other one, as [`BinaryOp::Max`]).
    Max,
    /// The smaller (for floats as [`BinaryOp::Min`]).
    Min,
    /// Bitwise and (integers).
    And,
    /// Bitwise or (integers).
    Or,
    /// Bitwise xor (integers).
    Xor,
    /// `v` (exchange).
    Xchg,
}

impl AtomicOp {
    /// Every atomic op, in declaration order.
    pub const ALL: [AtomicOp; 7] = [
        AtomicOp::Add,
        AtomicOp::Max,
        AtomicOp::Min,
        AtomicOp::And,
        AtomicOp::Or,
        AtomicOp::Xor,
        AtomicOp::Xchg,
    ];

    /// The op's name in printed IR and the DSL (`atomic_add`, ..).
    pub fn name(self) -> &'static str {
        match self {
            AtomicOp::Add => "atomic_add",
            AtomicOp::Max => "atomic_max",
            AtomicOp::Min => "atomic_min",
            AtomicOp::And => "atomic_and",
            AtomicOp::Or => "atomic_or",
            AtomicOp::Xor => "atomic_xor",
            AtomicOp::Xchg => "atomic_xchg",
        }
    }

    /// Whether the op is defined on elements of `d`: `i32`, `u32`, `i64`, `u64`, and `f32`
    /// for every op but the bitwise ones (Triton's set).
    pub fn supports(self, d: DType) -> bool {
        match d {
            DType::I32 | DType::U32 | DType::I64 | DType::U64 => true,
            DType::F32 => !matches!(self, AtomicOp::And | AtomicOp::Or | AtomicOp::Xor),
            _ => false,
        }
    }
}

/// Reductions along one axis.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    /// Sum (wrapping for integers).
    Sum,
    /// Maximum.
    Max,
    /// Minimum.
    Min,
    /// Bitwise xor (integers; Triton's `xor_sum`).
    Xor,
}

/// A block: arguments (for loop bodies: the induction variable, then the carried values) and
/// a list of operations. The blocks of `for` and `if` end with a [`OpKind::Yield`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Block {
    /// Values bound on entry.
    pub args: Vec<ValueId>,
    /// Operations in program order.
    pub ops: Vec<Op>,
}

/// One operation and the values it defines.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Op {
    /// What it does.
    pub kind: OpKind,
    /// Values it defines, in order (empty for `store`, `yield`).
    pub results: Vec<ValueId>,
}

/// The operations of the tile IR. The type of each result is recorded in [`Kernel::values`];
/// ops whose result type is not implied by their operands (`constant`, `cast`, `broadcast`, ...)
/// take it from there.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// A constant; the result may be a tile, every element equal to `value`.
    Constant(Scalar),
    /// The index of this program along `axis` (0..3) of the grid: scalar `i32`.
    ProgramId(u8),
    /// The grid's extent along `axis`: scalar `i32`.
    NumPrograms(u8),
    /// `[0, 1, .., n-1]` as an `i32` tile of shape `[n]`.
    Arange(u32),
    /// Elementwise op of one operand.
    Unary(UnaryOp, ValueId),
    /// Elementwise op of two operands of identical type.
    Binary(BinaryOp, ValueId, ValueId),
    /// Elementwise comparison of two operands of identical type.
    Cmp(CmpPred, ValueId, ValueId),
    /// `cond ? a : b` elementwise; `cond` is `bool` of the same shape.
    Select {
        /// Condition.
        cond: ValueId,
        /// Value where true.
        on_true: ValueId,
        /// Value where false.
        on_false: ValueId,
    },
    /// `a * b + c` with one rounding (floats of one type and shape; f16/bf16 computed in f32,
    /// then rounded), as C's `fma`.
    Fma(ValueId, ValueId, ValueId),
    /// Value conversion with Rust `as` semantics to the result's element type.
    Cast(ValueId),
    /// Reinterpretation of the bits as the result's element type (same width).
    Bitcast(ValueId),
    /// Broadcast of extents equal to 1 to the result's shape (same rank).
    Broadcast(ValueId),
    /// Inserts an axis of extent 1 at `axis`.
    ExpandDims {
        /// Source.
        value: ValueId,
        /// Position of the new axis, `0..=rank`.
        axis: u32,
    },
    /// Same elements (row-major order) in the result's shape.
    Reshape(ValueId),
    /// The same integer tile, with a fact the kernel author vouches for, which the contiguity
    /// analysis takes as known (Triton's `multiple_of`, `max_contiguous`); backends pass the
    /// value through. A false fact may make accesses wrongly vectorized or aligned.
    Hint {
        /// The value described.
        value: ValueId,
        /// What is known of it.
        hint: Hint,
    },
    /// The axes of `value` reordered: result axis `i` is operand axis `perm[i]` (Triton's
    /// `permute`; `trans` of a matrix is `perm = [1, 0]`).
    Permute {
        /// Source.
        value: ValueId,
        /// A permutation of `0..rank`.
        perm: Vec<u32>,
    },
    /// `a` followed by `b` (one type) along `axis`, whose extent doubles.
    Concat {
        /// First half.
        a: ValueId,
        /// Second half.
        b: ValueId,
        /// The axis joined along.
        axis: u32,
    },
    /// The block of `value` along `axis` that starts at index `start` and has the result's
    /// extent there (which divides `start`); the other axes are kept whole.
    Slice {
        /// Source.
        value: ValueId,
        /// The axis cut.
        axis: u32,
        /// First index kept along `axis`.
        start: u32,
    },
    /// Reduction along `axis`, which is removed from the shape.
    Reduce {
        /// Which reduction.
        op: ReduceOp,
        /// Source.
        value: ValueId,
        /// Axis to reduce.
        axis: u32,
    },
    /// Matrix product `a [M, K] x b [K, N] + acc [M, N]`: i8 x i8 + i32, f16 x f16 + f32,
    /// bf16 x bf16 + f32 or f32 x f32 + f32.
    Dot {
        /// Left operand.
        a: ValueId,
        /// Right operand.
        b: ValueId,
        /// Accumulator.
        acc: ValueId,
    },
    /// Pointer plus an integer offset (in elements), elementwise.
    AddPtr {
        /// Pointer tile.
        ptr: ValueId,
        /// Integer tile of the same shape.
        offset: ValueId,
    },
    /// Gathers elements from global memory. Lanes where `mask` is false are not accessed and
    /// read `other` (zero when absent).
    Load {
        /// Pointer tile.
        ptr: ValueId,
        /// Optional `bool` mask of the same shape.
        mask: Option<ValueId>,
        /// Optional fill value of the same shape and pointee type.
        other: Option<ValueId>,
    },
    /// Scatters `value` to global memory where `mask` is true (everywhere when absent).
    Store {
        /// Pointer tile.
        ptr: ValueId,
        /// Values of the pointee type and the same shape.
        value: ValueId,
        /// Optional `bool` mask.
        mask: Option<ValueId>,
    },
    /// Atomically combines `value` with memory where `mask` is true (`*p = op(*p, value)`),
    /// lane after lane in row-major order within a program; the result is the old values
    /// (zero in masked-off lanes).
    Atomic {
        /// How the old and the new value combine.
        op: AtomicOp,
        /// Pointer tile.
        ptr: ValueId,
        /// Operand values.
        value: ValueId,
        /// Optional `bool` mask.
        mask: Option<ValueId>,
    },
    /// Atomic compare-and-swap where `mask` is true (everywhere when absent): `*p` becomes
    /// `value` where it equals `cmp` (bit for bit, floats too); the result is the old values
    /// (zero in masked-off lanes).
    AtomicCas {
        /// Pointer tile.
        ptr: ValueId,
        /// Values compared with memory.
        cmp: ValueId,
        /// Values stored where memory equals `cmp`.
        value: ValueId,
        /// Optional `bool` mask (added by checked launches; the DSL's `atomic_cas` has none).
        mask: Option<ValueId>,
    },
    /// `for iv in (lower..upper).step_by(step)` with loop-carried values. The body's arguments
    /// are the induction variable then one per carried value; it ends with a `yield` of the next
    /// carried values. The op's results are the carried values after the last iteration.
    /// `lower`, `upper`, `step` are integer scalars of one type; `step` must be positive.
    For {
        /// First value of the induction variable.
        lower: ValueId,
        /// Exclusive bound.
        upper: ValueId,
        /// Increment (positive).
        step: ValueId,
        /// Initial carried values.
        init: Vec<ValueId>,
        /// The loop body.
        body: Block,
    },
    /// `while` with loop-carried values, run as a do-while: the body's arguments are the
    /// carried values; it ends with a `yield` of a scalar `bool` then the next carried values.
    /// The body runs again, on the values it yielded, while the `bool` is true; the op's
    /// results are the values yielded with `false`. (The DSL's `while cond { .. }` is a body
    /// that computes `cond` and runs the user's body in an `if` on it.)
    While {
        /// Initial carried values.
        init: Vec<ValueId>,
        /// The loop body.
        body: Block,
    },
    /// Two-way branch on a scalar `bool`; both blocks end with a `yield` of the results.
    If {
        /// Scalar condition.
        cond: ValueId,
        /// Block run when `cond` is true.
        then_block: Block,
        /// Block run when `cond` is false.
        else_block: Block,
    },
    /// Prints `label` and every element of `value` with its program and index to the
    /// launch's print sink (Triton's `device_print`): one line per element, in row-major
    /// order, `pid (x, y, z) idx (i, j) label: v` (`idx ()` for a scalar). Lines of different
    /// programs may interleave on compiled backends.
    Print {
        /// The text printed before each value (the DSL's string literal).
        label: String,
        /// The tile or scalar printed.
        value: ValueId,
    },
    /// Fails the launch with `message` where some element of the `bool` tile `cond` is false
    /// (Triton's `device_assert`): the first program in grid order (x fastest) and its first
    /// false lane in row-major order are reported. Kept only in debug launches
    /// (`LaunchOptions::debug`, `BITMAT_DEBUG=1`); other launches remove it before compiling
    /// ([`crate::passes::debug::strip_asserts`]).
    Assert {
        /// What must hold, lane by lane.
        cond: ValueId,
        /// The message of the error (the DSL's string literal).
        message: String,
    },
    /// Terminates a `for`/`if` block with the values it produces.
    Yield(Vec<ValueId>),
}

impl OpKind {
    /// The op's name in printed IR and error messages.
    pub fn name(&self) -> &'static str {
        match self {
            OpKind::Constant(_) => "constant",
            OpKind::ProgramId(_) => "program_id",
            OpKind::NumPrograms(_) => "num_programs",
            OpKind::Arange(_) => "arange",
            OpKind::Unary(op, _) => match op {
                UnaryOp::Neg => "neg",
                UnaryOp::Not => "not",
                UnaryOp::Abs => "abs",
                UnaryOp::Exp => "exp",
                UnaryOp::Log => "log",
                UnaryOp::Sqrt => "sqrt",
                UnaryOp::Rsqrt => "rsqrt",
                UnaryOp::Round => "round",
                UnaryOp::Exp2 => "exp2",
                UnaryOp::Log2 => "log2",
                UnaryOp::Sin => "sin",
                UnaryOp::Cos => "cos",
                UnaryOp::Tanh => "tanh",
                UnaryOp::Erf => "erf",
                UnaryOp::Sigmoid => "sigmoid",
                UnaryOp::Floor => "floor",
                UnaryOp::Ceil => "ceil",
            },
            OpKind::Binary(op, _, _) => match op {
                BinaryOp::Add => "add",
                BinaryOp::Sub => "sub",
                BinaryOp::Mul => "mul",
                BinaryOp::Div => "div",
                BinaryOp::Rem => "rem",
                BinaryOp::And => "and",
                BinaryOp::Or => "or",
                BinaryOp::Xor => "xor",
                BinaryOp::Shl => "shl",
                BinaryOp::Shr => "shr",
                BinaryOp::Min => "min",
                BinaryOp::Max => "max",
            },
            OpKind::Cmp(pred, _, _) => match pred {
                CmpPred::Eq => "cmp_eq",
                CmpPred::Ne => "cmp_ne",
                CmpPred::Lt => "cmp_lt",
                CmpPred::Le => "cmp_le",
                CmpPred::Gt => "cmp_gt",
                CmpPred::Ge => "cmp_ge",
            },
            OpKind::Select { .. } => "select",
            OpKind::Fma(..) => "fma",
            OpKind::Cast(_) => "cast",
            OpKind::Bitcast(_) => "bitcast",
            OpKind::Broadcast(_) => "broadcast",
            OpKind::ExpandDims { .. } => "expand_dims",
            OpKind::Reshape(_) => "reshape",
            OpKind::Hint { hint, .. } => match hint {
                Hint::MultipleOf(_) => "multiple_of",
                Hint::MaxContiguous(_) => "max_contiguous",
            },
            OpKind::Permute { .. } => "permute",
            OpKind::Concat { .. } => "concat",
            OpKind::Slice { .. } => "slice",
            OpKind::Reduce { op, .. } => match op {
                ReduceOp::Sum => "reduce_sum",
                ReduceOp::Max => "reduce_max",
                ReduceOp::Min => "reduce_min",
                ReduceOp::Xor => "reduce_xor",
            },
            OpKind::Dot { .. } => "dot",
            OpKind::AddPtr { .. } => "addptr",
            OpKind::Load { .. } => "load",
            OpKind::Store { .. } => "store",
            OpKind::Atomic { op, .. } => op.name(),
            OpKind::AtomicCas { .. } => "atomic_cas",
            OpKind::For { .. } => "for",
            OpKind::While { .. } => "while",
            OpKind::If { .. } => "if",
            OpKind::Print { .. } => "device_print",
            OpKind::Assert { .. } => "device_assert",
            OpKind::Yield(_) => "yield",
        }
    }

    /// The values this op reads directly (not those used inside its nested blocks).
    pub fn operands(&self) -> Vec<ValueId> {
        let mut out = Vec::new();
        // Same traversal as `operands_mut`, on a shallow copy of the operand slots.
        self.visit_operands(&mut |v| out.push(v));
        out
    }

    fn visit_operands(&self, f: &mut impl FnMut(ValueId)) {
        match self {
            OpKind::Constant(_)
            | OpKind::ProgramId(_)
            | OpKind::NumPrograms(_)
            | OpKind::Arange(_) => {}
            OpKind::Unary(_, v)
            | OpKind::Cast(v)
            | OpKind::Bitcast(v)
            | OpKind::Broadcast(v)
            | OpKind::Reshape(v)
            | OpKind::Hint { value: v, .. }
            | OpKind::ExpandDims { value: v, .. }
            | OpKind::Permute { value: v, .. }
            | OpKind::Slice { value: v, .. }
            | OpKind::Print { value: v, .. }
            | OpKind::Assert { cond: v, .. }
            | OpKind::Reduce { value: v, .. } => f(*v),
            OpKind::Binary(_, a, b) | OpKind::Cmp(_, a, b) | OpKind::Concat { a, b, .. } => {
                [*a, *b].into_iter().for_each(f)
            }
            OpKind::Select {
                cond,
                on_true,
                on_false,
            } => [*cond, *on_true, *on_false].into_iter().for_each(f),
            OpKind::Fma(a, b, c) => [*a, *b, *c].into_iter().for_each(f),
            OpKind::Dot { a, b, acc } => [*a, *b, *acc].into_iter().for_each(f),
            OpKind::AddPtr { ptr, offset } => [*ptr, *offset].into_iter().for_each(f),
            OpKind::Load { ptr, mask, other } => [Some(*ptr), *mask, *other]
                .into_iter()
                .flatten()
                .for_each(f),
            OpKind::Store { ptr, value, mask }
            | OpKind::Atomic {
                ptr, value, mask, ..
            } => [Some(*ptr), Some(*value), *mask]
                .into_iter()
                .flatten()
                .for_each(f),
            OpKind::AtomicCas {
                ptr,
                cmp,
                value,
                mask,
            } => [Some(*ptr), Some(*cmp), Some(*value), *mask]
                .into_iter()
                .flatten()
                .for_each(f),
            OpKind::For {
                lower,
                upper,
                step,
                init,
                ..
            } => [*lower, *upper, *step]
                .iter()
                .chain(init)
                .copied()
                .for_each(f),
            OpKind::While { init, .. } => init.iter().copied().for_each(f),
            OpKind::If { cond, .. } => f(*cond),
            OpKind::Yield(vals) => vals.iter().copied().for_each(f),
        }
    }

    /// Mutable access to the values this op reads directly, in the order of [`OpKind::operands`].
    pub fn operands_mut(&mut self) -> Vec<&mut ValueId> {
        match self {
            OpKind::Constant(_)
            | OpKind::ProgramId(_)
            | OpKind::NumPrograms(_)
            | OpKind::Arange(_) => vec![],
            OpKind::Unary(_, v)
            | OpKind::Cast(v)
            | OpKind::Bitcast(v)
            | OpKind::Broadcast(v)
            | OpKind::Reshape(v)
            | OpKind::Hint { value: v, .. }
            | OpKind::ExpandDims { value: v, .. }
            | OpKind::Permute { value: v, .. }
            | OpKind::Slice { value: v, .. }
            | OpKind::Print { value: v, .. }
            | OpKind::Assert { cond: v, .. }
            | OpKind::Reduce { value: v, .. } => vec![v],
            OpKind::Binary(_, a, b) | OpKind::Cmp(_, a, b) | OpKind::Concat { a, b, .. } => {
                vec![a, b]
            }
            OpKind::Select {
                cond,
                on_true,
                on_false,
            } => vec![cond, on_true, on_false],
            OpKind::Fma(a, b, c) => vec![a, b, c],
            OpKind::Dot { a, b, acc } => vec![a, b, acc],
            OpKind::AddPtr { ptr, offset } => vec![ptr, offset],
            OpKind::Load { ptr, mask, other } => {
                let mut v = vec![ptr];
                v.extend(mask.as_mut());
                v.extend(other.as_mut());
                v
            }
            OpKind::Store { ptr, value, mask }
            | OpKind::Atomic {
                ptr, value, mask, ..
            } => {
                let mut v = vec![ptr, value];
                v.extend(mask.as_mut());
                v
            }
            OpKind::AtomicCas {
                ptr,
                cmp,
                value,
                mask,
            } => {
                let mut v = vec![ptr, cmp, value];
                v.extend(mask.as_mut());
                v
            }
            OpKind::For {
                lower,
                upper,
                step,
                init,
                ..
            } => {
                let mut v = vec![lower, upper, step];
                v.extend(init.iter_mut());
                v
            }
            OpKind::While { init, .. } => init.iter_mut().collect(),
            OpKind::If { cond, .. } => vec![cond],
            OpKind::Yield(vals) => vals.iter_mut().collect(),
        }
    }

    /// True for ops without side effects whose results depend only on their operands (and the
    /// program's position): candidates for common-subexpression and dead-code elimination.
    pub fn is_pure(&self) -> bool {
        !matches!(
            self,
            OpKind::Load { .. }
                | OpKind::Store { .. }
                | OpKind::Atomic { .. }
                | OpKind::AtomicCas { .. }
                | OpKind::For { .. }
                | OpKind::While { .. }
                | OpKind::If { .. }
                | OpKind::Print { .. }
                | OpKind::Assert { .. }
                | OpKind::Yield(_)
        )
    }

    /// Mutable access to the blocks nested in this op.
    pub fn blocks_mut(&mut self) -> Vec<&mut Block> {
        match self {
            OpKind::For { body, .. } | OpKind::While { body, .. } => vec![body],
            OpKind::If {
                then_block,
                else_block,
                ..
            } => vec![then_block, else_block],
            _ => vec![],
        }
    }

    /// The blocks nested in this op (loop body, branches).
    pub fn blocks(&self) -> Vec<&Block> {
        match self {
            OpKind::For { body, .. } | OpKind::While { body, .. } => vec![body],
            OpKind::If {
                then_block,
                else_block,
                ..
            } => vec![then_block, else_block],
            _ => vec![],
        }
    }
}

/// A specialized kernel: constexprs have been substituted, every shape is known.
#[derive(Clone, Debug, PartialEq)]
pub struct Kernel {
    /// The kernel's name (the Rust function's name).
    pub name: String,
    /// Runtime parameters in declaration order.
    pub params: Vec<Param>,
    /// The body.
    pub body: Block,
    /// The type of every value, indexed by [`ValueId`].
    pub values: Vec<TileType>,
}

impl Kernel {
    /// The type of `v`.
    pub fn ty(&self, v: ValueId) -> &TileType {
        &self.values[v.index()]
    }
}
