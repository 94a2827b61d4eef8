//! Constant integer intervals: for each integer value, bounds that hold on every lane of every
//! launch, whatever the arguments and the memory hold.
//!
//! Backends read them to pick cheaper instructions where a value is known small, e.g. the
//! PTX backend converts a masked integer below 2^23 to `f32` with one `lop3` and a
//! subtraction (full-rate instructions) instead of `cvt` (a quarter-rate conversion on NVIDIA
//! GPUs): a decoded int4 weight, `(words >> s) & 15`, is in `[0, 15]`.
//!
//! Every integer value is at least bounded by its type. Tighter bounds come from constants,
//! `arange`, a `for` loop's induction variable, and the ops whose result range follows from
//! their operands': `+ - *` (when no lane can wrap), `&` with a non-negative side, `|` and `^`
//! of non-negative values, `>>` and `<<` (by an amount below the bit width), `/` and `%`,
//! `min`, `max`, `neg`, `abs`, integer casts, `select`, reductions by `max`/`min`, and shape
//! changes (which move values without changing them). `if` results join both branches'.
//! Loads, loop-carried values and everything else have their type's range.

use crate::kernel::{BinaryOp, Block, Kernel, OpKind, ReduceOp, UnaryOp, ValueId};
use crate::types::DType;

/// The closed range `lo..=hi` of an integer value's lanes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interval {
    /// The least value any lane may hold.
    pub lo: i128,
    /// The greatest value any lane may hold.
    pub hi: i128,
}

impl Interval {
    /// `lo..=hi`.
    pub fn new(lo: i128, hi: i128) -> Self {
        Interval { lo, hi }
    }

    /// Every value of integer type `d` (`bool` is `0..=1`).
    pub fn of_type(d: DType) -> Self {
        if d == DType::Bool {
            return Interval::new(0, 1);
        }
        let bits = d.bits();
        if d.is_signed_int() {
            Interval::new(-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
        } else {
            Interval::new(0, (1i128 << bits) - 1)
        }
    }

    /// Whether every value of `self` lies in `other`.
    pub fn within(self, other: Interval) -> bool {
        other.lo <= self.lo && self.hi <= other.hi
    }

    /// The smallest interval holding both.
    fn join(self, other: Interval) -> Self {
        Interval::new(self.lo.min(other.lo), self.hi.max(other.hi))
    }

    /// The interval spanning `values`.
    fn spanning(values: impl IntoIterator<Item = i128>) -> Self {
        let mut it = values.into_iter();
        let first = it.next().unwrap_or(0);
        it.fold(Interval::new(first, first), |i, v| {
            Interval::new(i.lo.min(v), i.hi.max(v))
        })
    }

    fn is_non_negative(self) -> bool {
        self.lo >= 0
    }
}

/// The smallest `2^b - 1` at least `x` (for `x >= 0`): a bound on `|` and `^` of values up to
/// `x`.
fn all_ones_above(x: i128) -> i128 {
    ((x as u128 + 1).next_power_of_two() - 1) as i128
}

/// Runs the analysis; the result is indexed by [`ValueId::index`], `None` for values that are
/// not integers (floats, pointers).
pub fn analyze(kernel: &Kernel) -> Vec<Option<Interval>> {
    let mut out: Vec<Option<Interval>> = kernel
        .values
        .iter()
        .map(|t| {
            t.elem
                .as_val()
                .filter(|d| d.is_int())
                .map(Interval::of_type)
        })
        .collect();
    block(kernel, &kernel.body, &mut out);
    out
}

fn block(kernel: &Kernel, block_: &Block, out: &mut Vec<Option<Interval>>) {
    for op in &block_.ops {
        if let OpKind::For {
            lower, upper, body, ..
        } = &op.kind
        {
            // The induction variable runs from `lower` to below `upper`.
            if let (Some(&iv), Some(l), Some(u)) =
                (body.args.first(), get(out, *lower), get(out, *upper))
            {
                narrow(kernel, out, iv, Interval::new(l.lo, (u.hi - 1).max(l.lo)));
            }
        }
        for b in op.kind.blocks() {
            block(kernel, b, out);
        }
        let Some(&r) = op.results.first() else {
            continue;
        };
        let Some(d) = kernel.ty(r).dtype().filter(|d| d.is_int()) else {
            continue;
        };
        if let Some(i) = result(kernel, op, d, out) {
            narrow(kernel, out, r, i);
        }
        if let OpKind::If {
            then_block,
            else_block,
            ..
        } = &op.kind
        {
            for (k, &r) in op.results.iter().enumerate() {
                if let (Some(a), Some(b)) =
                    (yielded(then_block, k, out), yielded(else_block, k, out))
                {
                    narrow(kernel, out, r, a.join(b));
                }
            }
        }
    }
}

fn get(out: &[Option<Interval>], v: ValueId) -> Option<Interval> {
    out.get(v.index()).copied().flatten()
}

/// Records that `v` lies in `i` too (within its type's range).
fn narrow(kernel: &Kernel, out: &mut [Option<Interval>], v: ValueId, i: Interval) {
    let Some(d) = kernel.ty(v).dtype().filter(|d| d.is_int()) else {
        return;
    };
    let t = Interval::of_type(d);
    let known = get(out, v).unwrap_or(t);
    let lo = i.lo.max(known.lo);
    let hi = i.hi.min(known.hi);
    if lo <= hi {
        out[v.index()] = Some(Interval::new(lo, hi));
    }
}

/// The interval of the `k`-th value `block_` yields.
fn yielded(block_: &Block, k: usize, out: &[Option<Interval>]) -> Option<Interval> {
    match block_.ops.last().map(|o| &o.kind) {
        Some(OpKind::Yield(vs)) => vs.get(k).and_then(|&v| get(out, v)),
        _ => None,
    }
}

/// The interval of `op`'s (first) result, of integer type `d`, from its operands' (`None`:
/// only the type's range is known).
fn result(
    kernel: &Kernel,
    op: &crate::kernel::Op,
    d: DType,
    out: &[Option<Interval>],
) -> Option<Interval> {
    let of = |v: &ValueId| get(out, *v);
    // A result that no lane can have wrapped to: else the type's range.
    let exact = |i: Interval| Some(i).filter(|i| i.within(Interval::of_type(d)));
    match &op.kind {
        OpKind::Constant(s) if s.dtype().is_int() => {
            let v = if s.dtype().is_signed_int() {
                i128::from(s.as_i64())
            } else {
                i128::from(s.as_u64())
            };
            Some(Interval::new(v, v))
        }
        OpKind::Arange(n) => Some(Interval::new(0, i128::from(*n).max(1) - 1)),
        OpKind::ProgramId(_) => Some(Interval::new(0, i128::from(i32::MAX) - 1)),
        OpKind::NumPrograms(_) => Some(Interval::new(1, i128::from(i32::MAX))),
        OpKind::Broadcast(v)
        | OpKind::Reshape(v)
        | OpKind::ExpandDims { value: v, .. }
        | OpKind::Permute { value: v, .. }
        | OpKind::Slice { value: v, .. }
        | OpKind::Hint { value: v, .. } => of(v),
        OpKind::Concat { a, b, .. } => Some(of(a)?.join(of(b)?)),
        OpKind::Select {
            on_true, on_false, ..
        } => Some(of(on_true)?.join(of(on_false)?)),
        OpKind::Reduce {
            op: ReduceOp::Max | ReduceOp::Min,
            value,
            ..
        } => of(value),
        OpKind::Cast(x) => {
            let from = kernel.ty(*x).dtype()?;
            if from.is_int() {
                // An integer cast keeps the value where it fits the new type.
                exact(of(x)?)
            } else {
                None
            }
        }
        OpKind::Unary(u, x) => {
            let a = of(x)?;
            match u {
                UnaryOp::Neg => exact(Interval::new(-a.hi, -a.lo)),
                UnaryOp::Abs => {
                    let m = a.lo.abs().max(a.hi.abs());
                    let lo = if a.lo <= 0 && 0 <= a.hi {
                        0
                    } else {
                        a.lo.abs().min(a.hi.abs())
                    };
                    exact(Interval::new(lo, m))
                }
                _ => None,
            }
        }
        OpKind::Binary(b, x, y) => binary(*b, of(x)?, of(y)?, d).and_then(exact),
        _ => None,
    }
}

/// The interval of `a op b` over mathematical integers (the caller checks that it fits `d`).
fn binary(op: BinaryOp, a: Interval, b: Interval, d: DType) -> Option<Interval> {
    let corners = |f: fn(i128, i128) -> Option<i128>| -> Option<Interval> {
        let vs = [(a.lo, b.lo), (a.lo, b.hi), (a.hi, b.lo), (a.hi, b.hi)]
            .into_iter()
            .map(|(x, y)| f(x, y))
            .collect::<Option<Vec<_>>>()?;
        Some(Interval::spanning(vs))
    };
    let bits = i128::from(d.bits());
    match op {
        BinaryOp::Add => corners(|x, y| x.checked_add(y)),
        BinaryOp::Sub => Some(Interval::new(
            a.lo.checked_sub(b.hi)?,
            a.hi.checked_sub(b.lo)?,
        )),
        BinaryOp::Mul => corners(|x, y| x.checked_mul(y)),
        BinaryOp::Min => Some(Interval::new(a.lo.min(b.lo), a.hi.min(b.hi))),
        BinaryOp::Max => Some(Interval::new(a.lo.max(b.lo), a.hi.max(b.hi))),
        BinaryOp::And => match (a.is_non_negative(), b.is_non_negative()) {
            (true, true) => Some(Interval::new(0, a.hi.min(b.hi))),
            (true, false) => Some(Interval::new(0, a.hi)),
            (false, true) => Some(Interval::new(0, b.hi)),
            (false, false) => None,
        },
        BinaryOp::Or | BinaryOp::Xor if a.is_non_negative() && b.is_non_negative() => {
            Some(Interval::new(0, all_ones_above(a.hi.max(b.hi))))
        }
        // Shifts by an amount below the bit width (larger amounts wrap around it).
        BinaryOp::Shr if b.lo >= 0 && b.hi < bits => {
            // `>>` is monotonic in the shifted value and, for a fixed sign, in the amount.
            corners(|x, s| Some(x >> s))
        }
        BinaryOp::Shl if b.lo >= 0 && b.hi < bits && a.is_non_negative() => {
            corners(|x, s| x.checked_mul(1i128 << s))
        }
        // Truncating division by a divisor of one sign that excludes 0.
        BinaryOp::Div if b.lo > 0 || b.hi < 0 => corners(|x, y| Some(x / y)),
        BinaryOp::Rem if b.lo > 0 || b.hi < 0 => {
            let m = b.lo.abs().max(b.hi.abs()) - 1;
            let lo = if a.lo < 0 { -m.min(-a.lo) } else { 0 };
            let hi = if a.hi > 0 { m.min(a.hi) } else { 0 };
            Some(Interval::new(lo, hi))
        }
        _ => None,
    }
}
