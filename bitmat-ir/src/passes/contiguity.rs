//! Contiguity analysis (Triton's `AxisInfo`): for every integer or pointer value (and the
//! constancy of comparisons and their `&`/`|`, for masks), per axis,
//! how many consecutive elements form runs `v, v+1, v+2, ..`, how many are equal, and what
//! power of two divides the first element of each run.
//!
//! The facts are conservative: `1` everywhere is always correct. Backends use
//! [`AxisInfo::last_contiguity`] to turn the lanes of a pointer tile into vector accesses.
//!
//! Rules (per axis `d`, with `c` contiguity, `k` constancy, `div` divisibility):
//! - `arange(n)`: `c = n`, `div = MAX`, `k = 1`;
//! - integer constants: `c = 1`, `k = extent`, `div` = the largest power of two dividing them;
//! - `a + b`, `addptr(a, b)`: `c = max(gcd(c_a, k_b), gcd(k_a, c_b))`, `div = gcd`, `k = gcd`;
//! - `a - b`: `c = gcd(c_a, k_b)`; `a * b`: `c = 1`, `div = div_a * div_b`;
//! - `x < c` (`x >= c`, and mirrored) with `x` contiguous and `c` constant along an axis:
//!   `k = gcd(c_x, div_x, div_c)` (or the operands' common constancy if larger); other
//!   comparisons and `&`, `|` of masks: `k = gcd(k_a, k_b)`;
//! - `x % c` with `c` constant along an axis: `c = gcd(c_x, div_c)`; `x / c`:
//!   `k = gcd(c_x, div_x, div_c)` (aligned chunks of a run divide alike);
//! - `broadcast` along an axis of extent 1: `c = 1`, `k = extent`; other axes keep their facts;
//! - `expand_dims` inserts an axis of extent 1; `reshape` keeps the last axis when its extent
//!   is unchanged, and a one-element value keeps its divisibility on every axis; widening
//!   integer casts keep everything;
//! - the induction variable of a loop is divisible by `gcd(div(lower), div(step))`;
//! - a carried value of a loop, and the result of a loop or branch, joins (`gcd`) the facts
//!   of the values it may be: the initial value and what the body yields;
//! - a parameter is divisible by its [`Param::divisibility`](crate::Param::divisibility) (in
//!   elements for pointers), what a launch specialized it on;
//! - everything else (loads, ...) is unknown.

use crate::kernel::{BinaryOp, Block, CmpPred, Hint, Kernel, Op, OpKind, ParamKind, ValueId};
use crate::types::ElemType;
use std::collections::HashMap;

/// The largest divisibility tracked (values known to be 0 get it).
pub const MAX_DIVISIBILITY: u64 = 1 << 31;

/// What is known about one value, per axis. Scalars (rank 0) have one pseudo-axis of extent 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AxisInfo {
    /// Length of the aligned runs of consecutive values (`v, v+1, ..`) along each axis.
    pub contiguity: Vec<u64>,
    /// A power of two dividing the first element of every run along each axis.
    pub divisibility: Vec<u64>,
    /// Length of the aligned runs of equal values along each axis.
    pub constancy: Vec<u64>,
}

impl AxisInfo {
    /// Nothing known, for a value of rank `rank`.
    pub fn unknown(rank: usize) -> Self {
        let n = rank.max(1);
        AxisInfo {
            contiguity: vec![1; n],
            divisibility: vec![1; n],
            constancy: vec![1; n],
        }
    }

    /// Contiguity along the last axis.
    pub fn last_contiguity(&self) -> u64 {
        self.contiguity.last().copied().unwrap_or(1)
    }

    /// Divisibility along the last axis.
    pub fn last_divisibility(&self) -> u64 {
        self.divisibility.last().copied().unwrap_or(1)
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn pow2_div(c: i64) -> u64 {
    if c == 0 {
        MAX_DIVISIBILITY
    } else {
        (1u64 << c.trailing_zeros()).min(MAX_DIVISIBILITY)
    }
}

/// Runs the analysis; the result is indexed by [`ValueId::index`].
pub fn analyze(kernel: &Kernel) -> Vec<AxisInfo> {
    let mut info: Vec<AxisInfo> = kernel
        .values
        .iter()
        .map(|t| AxisInfo::unknown(t.rank()))
        .collect();
    for p in &kernel.params {
        // Pointer divisibility counts elements; the parameter's counts bytes.
        let div = match p.kind {
            ParamKind::Ptr(d) => (p.divisibility / d.size_bytes() as u32).max(1),
            ParamKind::Scalar(_) => p.divisibility,
        };
        if let Some(slot) = info.get_mut(p.value.index()) {
            slot.divisibility[0] = u64::from(div.max(1));
        }
    }
    // Integer constants (the shift amounts the `>>` rule reads).
    let constants: HashMap<ValueId, i64> = super::constants(&kernel.body)
        .into_iter()
        .filter(|(_, s)| s.dtype().is_int())
        .map(|(v, s)| (v, s.as_i64()))
        .collect();
    block(kernel, &constants, &kernel.body, &mut info);
    info
}

fn get(info: &[AxisInfo], v: ValueId) -> AxisInfo {
    info.get(v.index())
        .cloned()
        .unwrap_or_else(|| AxisInfo::unknown(0))
}

fn is_bool(kernel: &Kernel, v: ValueId) -> bool {
    kernel
        .values
        .get(v.index())
        .is_some_and(|t| t.elem == ElemType::Val(crate::types::DType::Bool))
}

fn is_int_like(kernel: &Kernel, v: ValueId) -> bool {
    kernel.values.get(v.index()).is_some_and(|t| match t.elem {
        ElemType::Val(d) => d.is_int(),
        ElemType::Ptr(_) => true,
    })
}

fn combine(
    a: &AxisInfo,
    b: &AxisInfo,
    f: impl Fn(usize, &AxisInfo, &AxisInfo) -> (u64, u64, u64),
) -> AxisInfo {
    let n = a.contiguity.len().min(b.contiguity.len());
    let mut out = AxisInfo::unknown(n);
    for d in 0..n {
        let (c, div, k) = f(d, a, b);
        out.contiguity[d] = c;
        out.divisibility[d] = div;
        out.constancy[d] = k;
    }
    out
}

/// What is known of both `a` and `b` (a value that is one or the other).
fn join(a: &AxisInfo, b: &AxisInfo) -> AxisInfo {
    combine(a, b, |d, a, b| {
        (
            gcd(a.contiguity[d], b.contiguity[d]),
            gcd(a.divisibility[d], b.divisibility[d]),
            gcd(a.constancy[d], b.constancy[d]),
        )
    })
}

/// The facts of the `i`-th value that `block_` yields (nothing known without a `yield`).
fn yielded(block_: &Block, i: usize, info: &[AxisInfo]) -> AxisInfo {
    match block_.ops.last().map(|o| &o.kind) {
        Some(OpKind::Yield(vs)) if i < vs.len() => get(info, vs[i]),
        _ => AxisInfo::unknown(0),
    }
}

/// The facts of a loop's carried values (`carried`, the body's arguments after any induction
/// variable; the body yields them from position `lead`) and of its results. A carried value
/// holds its initial value, then what the body yields: the facts of both. Joining only
/// weakens facts, so this settles in a few rounds.
#[allow(clippy::too_many_arguments)]
fn carried_facts(
    kernel: &Kernel,
    constants: &HashMap<ValueId, i64>,
    op: &Op,
    init: &[ValueId],
    body: &Block,
    carried: &[ValueId],
    lead: usize,
    info: &mut Vec<AxisInfo>,
) {
    for (&arg, &v) in carried.iter().zip(init) {
        info[arg.index()] = get(info, v);
    }
    for _ in 0..8 {
        block(kernel, constants, body, info);
        let mut changed = false;
        for (i, &arg) in carried.iter().enumerate() {
            let joined = join(&get(info, init[i]), &yielded(body, i + lead, info));
            if joined != info[arg.index()] {
                info[arg.index()] = joined;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    for (i, &r) in op.results.iter().enumerate() {
        if let Some(&arg) = carried.get(i) {
            info[r.index()] = get(info, arg);
        }
    }
}

fn block(
    kernel: &Kernel,
    constants: &HashMap<ValueId, i64>,
    block_: &Block,
    info: &mut Vec<AxisInfo>,
) {
    for op in &block_.ops {
        let result = op.results.first().copied();
        let rank = |v: ValueId| kernel.values.get(v.index()).map_or(0, |t| t.rank());
        let shape = |v: ValueId| {
            kernel
                .values
                .get(v.index())
                .map_or_else(Vec::new, |t| t.shape.clone())
        };
        let computed: Option<AxisInfo> = match &op.kind {
            OpKind::Constant(s) => result.map(|r| {
                let sh = shape(r);
                let mut i = AxisInfo::unknown(sh.len());
                if s.dtype().is_int() {
                    let div = pow2_div(s.as_i64());
                    i.divisibility.iter_mut().for_each(|d| *d = div);
                }
                for (k, &e) in i.constancy.iter_mut().zip(&sh) {
                    *k = u64::from(e);
                }
                i
            }),
            OpKind::Arange(n) => Some(AxisInfo {
                contiguity: vec![u64::from(*n)],
                divisibility: vec![MAX_DIVISIBILITY],
                constancy: vec![1],
            }),
            OpKind::Cmp(pred, a, b) if is_int_like(kernel, *a) => {
                let (ia, ib) = (get(info, *a), get(info, *b));
                // `x < c` (and `x >= c`, `c > x`, `c <= x`) over an aligned contiguous run of
                // `x` and a `c` constant along it is constant over the run's chunks of
                // `g = gcd(run, div x, div c)`: `c` is a multiple of `g`, so the boundary falls
                // between chunks.
                let contiguous_side = match pred {
                    CmpPred::Lt | CmpPred::Ge => Some((&ia, &ib)),
                    CmpPred::Gt | CmpPred::Le => Some((&ib, &ia)),
                    _ => None,
                };
                Some(combine(&ia, &ib, |d, a, b| {
                    let mut k = gcd(a.constancy[d], b.constancy[d]);
                    if let Some((x, c)) = contiguous_side {
                        let run = gcd(x.contiguity[d], c.constancy[d]);
                        let g = gcd(gcd(run, x.divisibility[d]), c.divisibility[d]);
                        k = k.max(g);
                    }
                    (1, 1, k)
                }))
            }
            OpKind::Binary(_, a, b) if is_bool(kernel, *a) => {
                let (ia, ib) = (get(info, *a), get(info, *b));
                Some(combine(&ia, &ib, |d, a, b| {
                    (1, 1, gcd(a.constancy[d], b.constancy[d]))
                }))
            }
            OpKind::Binary(op2, a, b) if is_int_like(kernel, *a) => {
                let (ia, ib) = (get(info, *a), get(info, *b));
                Some(match op2 {
                    BinaryOp::Add => combine(&ia, &ib, |d, a, b| {
                        (
                            gcd(a.contiguity[d], b.constancy[d])
                                .max(gcd(a.constancy[d], b.contiguity[d])),
                            gcd(a.divisibility[d], b.divisibility[d]),
                            gcd(a.constancy[d], b.constancy[d]),
                        )
                    }),
                    BinaryOp::Sub => combine(&ia, &ib, |d, a, b| {
                        (
                            gcd(a.contiguity[d], b.constancy[d]),
                            gcd(a.divisibility[d], b.divisibility[d]),
                            gcd(a.constancy[d], b.constancy[d]),
                        )
                    }),
                    BinaryOp::Mul => combine(&ia, &ib, |d, a, b| {
                        (
                            1,
                            a.divisibility[d]
                                .saturating_mul(b.divisibility[d])
                                .min(MAX_DIVISIBILITY),
                            gcd(a.constancy[d], b.constancy[d]),
                        )
                    }),
                    // `x % c`, `c` constant along the axis: runs of `x` restart at
                    // multiples of `c`.
                    BinaryOp::Rem => combine(&ia, &ib, |d, a, b| {
                        let c = if b.constancy[d] >= a.contiguity[d] {
                            gcd(a.contiguity[d], b.divisibility[d])
                        } else {
                            1
                        };
                        (
                            c,
                            gcd(a.divisibility[d], b.divisibility[d]),
                            gcd(a.constancy[d], b.constancy[d]),
                        )
                    }),
                    // `x / c`: equal over the aligned chunks of a run of `x` that `c`'s
                    // divisibility divides.
                    BinaryOp::Div => combine(&ia, &ib, |d, a, b| {
                        let run = gcd(a.contiguity[d], b.constancy[d]);
                        let chunk = gcd(gcd(run, a.divisibility[d]), b.divisibility[d]);
                        (1, 1, gcd(a.constancy[d], b.constancy[d]).max(chunk))
                    }),
                    // `x >> c` for a constant `c`: `x / 2^c` rounded down, so a multiple of
                    // `2^(d + c)` gives a multiple of `2^d`, and values are equal over the
                    // aligned chunks of `2^c` of a run of `x` (as for `/`).
                    BinaryOp::Shr => match constants.get(b) {
                        Some(&c) if (0..63).contains(&c) => combine(&ia, &ib, |d, a, b| {
                            let step = 1u64 << c;
                            let run = gcd(a.contiguity[d], b.constancy[d]);
                            let chunk = gcd(gcd(run, a.divisibility[d]), step);
                            (
                                1,
                                (a.divisibility[d] / step).max(1),
                                gcd(a.constancy[d], b.constancy[d]).max(chunk),
                            )
                        }),
                        _ => combine(&ia, &ib, |d, a, b| {
                            (1, 1, gcd(a.constancy[d], b.constancy[d]))
                        }),
                    },
                    _ => combine(&ia, &ib, |d, a, b| {
                        (1, 1, gcd(a.constancy[d], b.constancy[d]))
                    }),
                })
            }
            OpKind::AddPtr { ptr, offset } => {
                let (ia, ib) = (get(info, *ptr), get(info, *offset));
                Some(combine(&ia, &ib, |d, a, b| {
                    (
                        gcd(a.contiguity[d], b.constancy[d])
                            .max(gcd(a.constancy[d], b.contiguity[d])),
                        gcd(a.divisibility[d], b.divisibility[d]),
                        gcd(a.constancy[d], b.constancy[d]),
                    )
                }))
            }
            OpKind::Cast(v) => {
                let from = kernel.values.get(v.index()).and_then(|t| t.dtype());
                let to = result
                    .and_then(|r| kernel.values.get(r.index()))
                    .and_then(|t| t.dtype());
                match (from, to) {
                    // Value-preserving casts keep every fact: same signedness and at least as
                    // wide, or unsigned to a strictly wider signed type. (Signed to unsigned
                    // would break runs that cross zero.)
                    (Some(f), Some(t))
                        if f.is_int()
                            && t.is_int()
                            && ((f.is_signed_int() == t.is_signed_int()
                                && t.bits() >= f.bits())
                                || (!f.is_signed_int() && t.bits() > f.bits())) =>
                    {
                        Some(get(info, *v))
                    }
                    _ => None,
                }
            }
            OpKind::Broadcast(v) => result.map(|r| {
                let (src, dst) = (shape(*v), shape(r));
                let mut i = get(info, *v);
                if src.len() == dst.len() && i.contiguity.len() == dst.len() {
                    for d in 0..dst.len() {
                        if src[d] == 1 && dst[d] != 1 {
                            i.contiguity[d] = 1;
                            i.constancy[d] = u64::from(dst[d]);
                        }
                    }
                    i
                } else {
                    AxisInfo::unknown(dst.len())
                }
            }),
            OpKind::ExpandDims { value, axis } => {
                let src = get(info, *value);
                if rank(*value) == 0 {
                    Some(AxisInfo {
                        contiguity: vec![1],
                        divisibility: vec![src.divisibility[0]],
                        constancy: vec![1],
                    })
                } else {
                    // Along an axis without runs (contiguity 1) every element starts a run,
                    // so its divisibility holds for every element, and for the new axis.
                    let every_element = (0..src.contiguity.len())
                        .filter(|&d| src.contiguity[d] == 1)
                        .map(|d| src.divisibility[d])
                        .max()
                        .unwrap_or(1);
                    let mut i = src;
                    let a = (*axis as usize).min(i.contiguity.len());
                    i.contiguity.insert(a, 1);
                    i.divisibility.insert(a, every_element);
                    i.constancy.insert(a, 1);
                    Some(i)
                }
            }
            // The author's fact, on top of what is known already.
            OpKind::Hint { value, hint } => {
                let mut i = get(info, *value);
                match *hint {
                    Hint::MultipleOf(n) => {
                        i.divisibility
                            .iter_mut()
                            .for_each(|d| *d = (*d).max(u64::from(n)));
                    }
                    Hint::MaxContiguous(n) => {
                        if let Some(c) = i.contiguity.last_mut() {
                            *c = (*c).max(u64::from(n));
                        }
                    }
                }
                Some(i)
            }
            OpKind::Reshape(v) => result.map(|r| {
                let (src, dst) = (shape(*v), shape(r));
                let mut i = AxisInfo::unknown(dst.len());
                if src.iter().product::<u32>() == 1 {
                    // One element (a scalar made a tile): its divisibility on every axis.
                    let div = get(info, *v).divisibility[0];
                    i.divisibility.iter_mut().for_each(|d| *d = div);
                } else if !src.is_empty() && !dst.is_empty() && src.last() == dst.last() {
                    let s = get(info, *v);
                    let last = dst.len() - 1;
                    i.contiguity[last] = s.last_contiguity();
                    i.divisibility[last] = s.last_divisibility();
                    i.constancy[last] = s.constancy.last().copied().unwrap_or(1);
                }
                i
            }),
            OpKind::Select {
                cond,
                on_true,
                on_false,
            } => result.map(|r| {
                let mut i = AxisInfo::unknown(rank(r));
                let (c, t, f) = (get(info, *cond), get(info, *on_true), get(info, *on_false));
                for d in 0..i
                    .constancy
                    .len()
                    .min(c.constancy.len())
                    .min(t.constancy.len())
                    .min(f.constancy.len())
                {
                    i.constancy[d] = gcd(gcd(c.constancy[d], t.constancy[d]), f.constancy[d]);
                }
                i
            }),
            OpKind::For {
                lower,
                step,
                init,
                body,
                ..
            } => {
                if let Some(&iv) = body.args.first() {
                    let div = gcd(
                        get(info, *lower).divisibility[0],
                        get(info, *step).divisibility[0],
                    );
                    if let Some(slot) = info.get_mut(iv.index()) {
                        slot.divisibility[0] = div;
                    }
                }
                let carried = &body.args[1.min(body.args.len())..];
                carried_facts(kernel, constants, op, init, body, carried, 0, info);
                None
            }
            // The body yields the condition, then the carried values.
            OpKind::While { init, body } => {
                carried_facts(kernel, constants, op, init, body, &body.args, 1, info);
                None
            }
            OpKind::If {
                then_block,
                else_block,
                ..
            } => {
                block(kernel, constants, then_block, info);
                block(kernel, constants, else_block, info);
                for (i, &r) in op.results.iter().enumerate() {
                    let joined = join(&yielded(then_block, i, info), &yielded(else_block, i, info));
                    info[r.index()] = joined;
                }
                None
            }
            _ => None,
        };
        if let (Some(r), Some(i)) = (result, computed) {
            if let Some(slot) = info.get_mut(r.index()) {
                if slot.contiguity.len() == i.contiguity.len() {
                    *slot = i;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DType, KernelBuilder, ParamKind, Scalar};

    #[test]
    fn row_major_pointer_tile_is_contiguous_along_rows() {
        let mut b = KernelBuilder::new("k");
        let p = b.param("p", ParamKind::Ptr(DType::F32));
        let r = b.arange(8);
        let c = b.arange(16);
        let r2 = b.expand_dims(r, 1);
        let r2 = b.broadcast(r2, vec![8, 16]);
        let c2 = b.expand_dims(c, 0);
        let c2 = b.broadcast(c2, vec![8, 16]);
        let stride = b.constant(Scalar::from_i64(DType::I32, 64), vec![8, 16]);
        let rs = b.binary(BinaryOp::Mul, r2, stride);
        let offs = b.binary(BinaryOp::Add, rs, c2);
        let pe = b.expand_dims(p, 0);
        let pe = b.expand_dims(pe, 0);
        let pb = b.broadcast(pe, vec![8, 16]);
        let ptrs = b.add_ptr(pb, offs);
        let k = b.finish().unwrap();
        let info = analyze(&k);
        assert_eq!(info[ptrs.index()].last_contiguity(), 16);
        assert_eq!(info[offs.index()].divisibility[1], 64);
        assert_eq!(info[rs.index()].contiguity, vec![1, 1]);
        let gathered = info[r2.index()].last_contiguity();
        assert_eq!(gathered, 1);
    }

    #[test]
    fn only_value_preserving_casts_keep_contiguity() {
        let mut b = KernelBuilder::new("k");
        let a = b.arange(16);
        let wide = b.cast(a, DType::I64);
        let unsigned = b.cast(a, DType::U32);
        let narrow = b.cast(a, DType::I8);
        let k = b.finish().unwrap();
        let info = analyze(&k);
        assert_eq!(info[wide.index()].last_contiguity(), 16);
        assert_eq!(info[unsigned.index()].last_contiguity(), 1);
        assert_eq!(info[narrow.index()].last_contiguity(), 1);
    }
}
