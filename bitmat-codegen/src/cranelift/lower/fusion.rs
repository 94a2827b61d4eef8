//! Elementwise fusion: one chunk loop for a run of elementwise ops.
//!
//! # Grouping rule
//!
//! A *run* is a maximal sequence of ops of one block holding at least two [`fusible`] ops,
//! where the other ops are [`hoistable`] (no nested blocks, no operand computed by the run's
//! fusible ops; they are lowered first, in order, so independent loads and pointer arithmetic
//! do not split a run). Fusible ops are `unary`, `binary`, `cmp`, `select`, `constant`,
//! `cast` between vectorizable types, `reshape` / `expand_dims` / same-width `bitcast`
//! (identities on the elements), and `broadcast` of a scalar, of a row
//! (`[1, .., 1, N] -> [.., N]`) or of a column (`[.., 1] -> [.., N]`), with `N` a multiple of
//! 16, on values of `bool`, 8/16/32-bit integers and `f32`; on 64-bit integers and pointers
//! only `addptr`, `add`, `sub`, bitwise ops, constants, broadcasts and reshapes. A run is
//! split into *partitions* by the element count of the results; partitions are emitted in
//! ascending element count, which is a valid order because the only fusible op that changes
//! the element count is `broadcast`, which increases it.
//!
//! Each partition of two or more ops on at least 16 elements is one loop over chunks of 16
//! elements (smaller partitions, e.g. scalar arithmetic, keep the per-op lowering, which
//! computes fewer lanes). A value lives in registers as 16 elements: one `I8X16` for `bool`
//! (bytes 0/1) and 8-bit integers, two `I16X8`, four `I32X4` or `F32X4`, or eight `I64X2`.
//! Operands from outside the partition are read from their slots (scalar broadcasts are
//! loaded and splatted once, before the loop); results are written to their slots only when
//! something outside the partition uses them. Each op computes exactly what its per-op
//! lowering computes, so results are bit-identical.
//!
//! The scratch planner ([`crate::cranelift::arena_slots`]) sees a run as one op: every result is
//! defined at the run's first op and every operand is used at its last, so no result shares a
//! slot with anything the run reads, whatever order its partitions and chunks run in.

use super::{class, lanes, scratch_flags, vec_ty, Class, Lowerer};
use crate::cranelift::CodegenError;
use bitmat_ir::{BinaryOp, Block, CmpPred, DType, ElemType, Kernel, Op, OpKind, UnaryOp, ValueId};
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{types, InstBuilder, MemFlags, Type, Value};
use std::collections::{HashMap, HashSet};
use std::ops::Range;

/// Elements per iteration of a fused loop.
const CHUNK: usize = 16;

/// The element types fused code keeps in registers (pointers as `u64`).
fn reg_dtype(e: ElemType) -> Option<DType> {
    match e {
        ElemType::Ptr(_) => Some(DType::U64),
        ElemType::Val(
            d @ (DType::Bool
            | DType::I8
            | DType::U8
            | DType::I16
            | DType::U16
            | DType::I32
            | DType::U32
            | DType::I64
            | DType::U64
            | DType::F32),
        ) => Some(d),
        _ => None,
    }
}

/// 64-bit lanes: only moved, added and combined bitwise in fused code (no casts,
/// comparisons, selects or other arithmetic, which x86 lacks vector forms of).
fn wide(d: DType) -> bool {
    d.size_bytes() == 8
}

/// How a fusible `broadcast` reads its operand.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Bcast {
    /// Same element count: the elements unchanged.
    Same,
    /// One element, splatted.
    Scalar,
    /// A row of `n` elements repeated: chunk `i` reads chunk `i % (n / 16)`.
    Row(usize),
    /// One element per row of `n`: chunk `i` splats element `i / (n / 16)`.
    Column(usize),
}

/// The fused form of `broadcast(x) -> r`, if it has one.
fn bcast_kind(kernel: &Kernel, x: ValueId, r: ValueId) -> Option<Bcast> {
    let (src, dst) = (&kernel.ty(x).shape, &kernel.ty(r).shape);
    let (sn, dn) = (kernel.ty(x).numel(), kernel.ty(r).numel());
    if sn == dn {
        return Some(Bcast::Same);
    }
    if sn == 1 {
        return Some(Bcast::Scalar);
    }
    if src.len() != dst.len() || src.is_empty() {
        return None;
    }
    let last = dst.len() - 1;
    let n = dst[last] as usize;
    if n % CHUNK != 0 {
        return None;
    }
    if src[last] as usize == n && src[..last].iter().all(|&e| e == 1) {
        return Some(Bcast::Row(n));
    }
    if src[last] == 1 && src[..last] == dst[..last] {
        return Some(Bcast::Column(n));
    }
    None
}

/// Whether `op` can join a fused run (see the module docs).
pub(crate) fn fusible(kernel: &Kernel, op: &Op) -> bool {
    let [r] = op.results[..] else { return false };
    let Some(rd) = reg_dtype(kernel.ty(r).elem) else {
        return false;
    };
    let reg = |v: ValueId| reg_dtype(kernel.ty(v).elem);
    let rc = class(ElemType::Val(rd));
    match &op.kind {
        OpKind::Constant(_) => true,
        OpKind::AddPtr { ptr, offset } => {
            reg(*ptr) == Some(DType::U64) && reg(*offset).is_some_and(|d| d.is_int())
        }
        OpKind::Unary(u, x) => {
            !wide(rd)
                && reg(*x) == Some(rd)
                && matches!(
                    (rc, u),
                    (Class::Bool, UnaryOp::Not)
                        | (
                            Class::Int { .. },
                            UnaryOp::Neg | UnaryOp::Not | UnaryOp::Abs
                        )
                        | (
                            Class::Float(_),
                            UnaryOp::Neg
                                | UnaryOp::Abs
                                | UnaryOp::Sqrt
                                | UnaryOp::Rsqrt
                                | UnaryOp::Round
                                | UnaryOp::Exp
                                | UnaryOp::Log
                                | UnaryOp::Exp2
                                | UnaryOp::Log2
                                | UnaryOp::Sin
                                | UnaryOp::Cos
                                | UnaryOp::Tanh
                                | UnaryOp::Erf
                                | UnaryOp::Sigmoid
                                | UnaryOp::Floor
                                | UnaryOp::Ceil
                        )
                )
        }
        OpKind::Binary(b, x, y) => {
            use BinaryOp as B;
            reg(*x) == Some(rd)
                && reg(*y) == Some(rd)
                && match rc {
                    Class::Bool => matches!(b, B::And | B::Or | B::Xor | B::Min | B::Max),
                    Class::Int { bits: 64, .. } => {
                        matches!(b, B::Add | B::Sub | B::And | B::Or | B::Xor)
                    }
                    Class::Int { .. } => true,
                    Class::Float(_) => !matches!(b, B::And | B::Or | B::Xor | B::Shl | B::Shr),
                }
        }
        OpKind::Cmp(_, x, y) => {
            rd == DType::Bool && reg(*x).is_some_and(|d| !wide(d)) && reg(*x) == reg(*y)
        }
        OpKind::Select {
            cond,
            on_true,
            on_false,
        } => {
            !wide(rd)
                && reg(*cond) == Some(DType::Bool)
                && reg(*on_true) == Some(rd)
                && reg(*on_false) == Some(rd)
        }
        OpKind::Cast(x) => !wide(rd) && reg(*x).is_some_and(|d| !wide(d)),
        OpKind::Reshape(x)
        | OpKind::Hint { value: x, .. }
        | OpKind::ExpandDims { value: x, .. } => reg(*x) == Some(rd),
        OpKind::Bitcast(x) => reg(*x).is_some_and(|d| d.size_bytes() == rd.size_bytes()),
        OpKind::Broadcast(x) => reg(*x) == Some(rd) && bcast_kind(kernel, *x, r).is_some(),
        _ => false,
    }
}

/// A run of fusible ops in a block (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Run {
    /// The op indices the run spans, from its first fusible op to its last.
    pub span: Range<usize>,
    /// The non-fusible ops inside `span`, lowered before the run's fusible ops.
    pub hoisted: Vec<usize>,
}

/// Whether `op` may be lowered ahead of the fusible ops before it in a run: an op without
/// nested blocks that reads nothing the run computes (fusible ops touch only scratch, so
/// moving loads, stores and pointer arithmetic above them changes nothing).
fn hoistable(op: &Op, run_values: &HashSet<ValueId>) -> bool {
    op.kind.blocks().is_empty()
        && !matches!(op.kind, OpKind::Yield(_))
        && op.kind.operands().iter().all(|v| !run_values.contains(v))
}

/// The runs of `block`: at least two fusible ops each; the ops between them that are
/// [`hoistable`] are lowered first, the others end the run.
pub(crate) fn runs(kernel: &Kernel, block: &Block) -> Vec<Run> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < block.ops.len() {
        if !fusible(kernel, &block.ops[i]) {
            i += 1;
            continue;
        }
        let start = i;
        let (mut end, mut fused) = (i + 1, 1);
        let mut values: HashSet<ValueId> = block.ops[i].results.iter().copied().collect();
        let mut j = i + 1;
        while let Some(op) = block.ops.get(j) {
            if fusible(kernel, op) {
                values.extend(op.results.iter().copied());
                fused += 1;
                end = j + 1;
            } else if !hoistable(op, &values) {
                break;
            }
            j += 1;
        }
        if fused >= 2 {
            let hoisted = (start..end)
                .filter(|&k| !fusible(kernel, &block.ops[k]))
                .collect();
            out.push(Run {
                span: start..end,
                hoisted,
            });
        }
        i = end;
    }
    out
}

/// Counts the uses of every value of `block` (and nested blocks) as an operand.
pub(crate) fn count_uses(block: &Block, out: &mut HashMap<ValueId, usize>) {
    for op in &block.ops {
        for v in op.kind.operands() {
            *out.entry(v).or_default() += 1;
        }
        for b in op.kind.blocks() {
            count_uses(b, out);
        }
    }
}

/// The register type of one part of a value of `d` (16 elements in `parts(d)` vectors).
fn part_ty(d: DType) -> Type {
    match d {
        DType::F32 => types::F32X4,
        _ => vec_ty(d.size_bytes()),
    }
}

/// Vectors per 16 elements of `d`.
fn parts(d: DType) -> usize {
    CHUNK / lanes(ElemType::Val(d))
}

impl Lowerer<'_, '_> {
    /// Lowers the ops of `run`, a run of `ops` (see [`runs`]).
    pub(crate) fn lower_run(&mut self, ops: &[Op], run: &Run) -> Result<(), CodegenError> {
        for &k in &run.hoisted {
            self.op = bitmat_ir::print::op_to_string(self.kernel, &ops[k]);
            self.lower_op(&ops[k])?;
        }
        let mut groups: Vec<(usize, Vec<&Op>)> = Vec::new();
        for op in run
            .span
            .clone()
            .filter(|k| !run.hoisted.contains(k))
            .map(|k| &ops[k])
        {
            let n = self.numel(op.results[0]);
            match groups.iter_mut().find(|(m, _)| *m == n) {
                Some((_, g)) => g.push(op),
                None => groups.push((n, vec![op])),
            }
        }
        groups.sort_by_key(|(n, _)| *n);
        for (n, g) in groups {
            if g.len() == 1 || n < CHUNK {
                // One op, or values smaller than a fused chunk (scalars): per-op lowering
                // computes fewer lanes.
                for op in g {
                    self.op = bitmat_ir::print::op_to_string(self.kernel, op);
                    self.lower_op(op)?;
                }
            } else {
                self.op = format!(
                    "fused run of {} ops from `{}`",
                    g.len(),
                    bitmat_ir::print::op_to_string(self.kernel, g[0])
                );
                self.fuse(n, &g)?;
            }
        }
        Ok(())
    }

    /// The register dtype of `v` (fusible values only).
    fn rdt(&self, v: ValueId) -> Result<DType, CodegenError> {
        reg_dtype(self.elem(v)).ok_or_else(|| self.unsupported("fused value type"))
    }

    /// One loop over the chunks of `numel` elements computing `ops`.
    fn fuse(&mut self, numel: usize, ops: &[&Op]) -> Result<(), CodegenError> {
        let defined: HashMap<ValueId, usize> = ops
            .iter()
            .enumerate()
            .map(|(i, op)| (op.results[0], i))
            .collect();
        let mut inner: HashMap<ValueId, usize> = HashMap::new();
        for op in ops {
            for v in op.kind.operands() {
                *inner.entry(v).or_default() += 1;
            }
        }
        let stored: Vec<ValueId> = ops
            .iter()
            .map(|op| op.results[0])
            .filter(|r| self.uses.get(r).copied().unwrap_or(0) > inner.get(r).copied().unwrap_or(0))
            .collect();
        // Loop invariants: constants and scalar broadcasts of outside values.
        let mut pre: HashMap<ValueId, Vec<Value>> = HashMap::new();
        for op in ops {
            let r = op.results[0];
            let d = self.rdt(r)?;
            let splat = match &op.kind {
                OpKind::Constant(s) => {
                    let bits = if d == DType::Bool {
                        (s.bits() & 1) as i64
                    } else {
                        s.bits() as i64
                    };
                    Some(self.splat_const(part_ty(d), bits))
                }
                OpKind::Broadcast(x)
                    if !defined.contains_key(x)
                        && bcast_kind(self.kernel, *x, r) == Some(Bcast::Scalar) =>
                {
                    let a = self.slot_addr(*x)?;
                    Some(self.load_splat_part(d, a))
                }
                _ => None,
            };
            if let Some(v) = splat {
                pre.insert(r, vec![v; parts(d)]);
            }
        }
        let mut addrs: HashMap<ValueId, Value> = HashMap::new();
        for op in ops {
            for v in op
                .kind
                .operands()
                .into_iter()
                .chain(op.results.iter().copied())
            {
                if !addrs.contains_key(&v) && (!defined.contains_key(&v) || stored.contains(&v)) {
                    let a = self.slot_addr(v)?;
                    addrs.insert(v, a);
                }
            }
        }
        self.counted_loop(numel.div_ceil(CHUNK), |l, i| {
            let mut regs: HashMap<ValueId, Vec<Value>> = pre.clone();
            for op in ops {
                let r = op.results[0];
                if regs.contains_key(&r) {
                    continue;
                }
                let v = l.fused_op(op, i, &addrs, &mut regs)?;
                regs.insert(r, v);
            }
            for &r in &stored {
                let d = l.rdt(r)?;
                let base = l.offset_addr(addrs[&r], i, CHUNK * d.size_bytes());
                let step = (lanes(ElemType::Val(d)) * d.size_bytes()) as i32;
                for (k, &p) in regs[&r].iter().enumerate() {
                    l.b.ins().store(scratch_flags(), p, base, k as i32 * step);
                }
            }
            Ok(())
        })
    }

    /// Loads one element of `d` at `a` and splats it to a part.
    fn load_splat_part(&mut self, d: DType, a: Value) -> Value {
        let f = scratch_flags();
        let s = match d {
            DType::F32 => self.b.ins().load(types::F32, f, a, 0),
            _ => self.b.ins().load(super::int_ty(d.size_bytes()), f, a, 0),
        };
        self.b.ins().splat(part_ty(d), s)
    }

    /// The parts of chunk `chunk` of the value at `base` (16 elements of `d`).
    fn load_parts(&mut self, d: DType, base: Value, chunk: Value) -> Vec<Value> {
        let a = self.offset_addr(base, chunk, CHUNK * d.size_bytes());
        let step = (lanes(ElemType::Val(d)) * d.size_bytes()) as i32;
        (0..parts(d))
            .map(|k| {
                self.b
                    .ins()
                    .load(part_ty(d), scratch_flags(), a, k as i32 * step)
            })
            .collect()
    }

    /// The parts of operand `v` at chunk `i`.
    fn operand(
        &mut self,
        v: ValueId,
        i: Value,
        addrs: &HashMap<ValueId, Value>,
        regs: &mut HashMap<ValueId, Vec<Value>>,
    ) -> Result<Vec<Value>, CodegenError> {
        if let Some(p) = regs.get(&v) {
            return Ok(p.clone());
        }
        let d = self.rdt(v)?;
        let p = self.load_parts(d, addrs[&v], i);
        regs.insert(v, p.clone());
        Ok(p)
    }

    /// Computes chunk `i` of `op`'s result.
    fn fused_op(
        &mut self,
        op: &Op,
        i: Value,
        addrs: &HashMap<ValueId, Value>,
        regs: &mut HashMap<ValueId, Vec<Value>>,
    ) -> Result<Vec<Value>, CodegenError> {
        let r = op.results[0];
        let d = self.rdt(r)?;
        Ok(match &op.kind {
            OpKind::Unary(u, x) => {
                let c = class(self.elem(*x));
                let xs = self.operand(*x, i, addrs, regs)?;
                xs.into_iter()
                    .map(|p| self.vec_unary(c, *u, p))
                    .collect::<Result<Vec<_>, CodegenError>>()?
            }
            OpKind::Binary(b, x, y) => {
                let c = class(self.elem(*x));
                let xs = self.operand(*x, i, addrs, regs)?;
                if let (Class::Int { bits, signed }, BinaryOp::Shl | BinaryOp::Shr, Some(s)) =
                    (c, b, self.consts.get(y).copied())
                {
                    let amount = (s.bits() % u64::from(bits)) as i64;
                    return Ok(xs
                        .into_iter()
                        .map(|p| match (b, signed) {
                            (BinaryOp::Shl, _) => self.b.ins().ishl_imm(p, amount),
                            (_, true) => self.b.ins().sshr_imm(p, amount),
                            (_, false) => self.b.ins().ushr_imm(p, amount),
                        })
                        .collect());
                }
                let ys = self.operand(*y, i, addrs, regs)?;
                xs.into_iter()
                    .zip(ys)
                    .map(|(p, q)| self.vec_binary(c, *b, p, q))
                    .collect::<Result<Vec<_>, CodegenError>>()?
            }
            OpKind::Cmp(pred, x, y) => {
                let c = class(self.elem(*x));
                let xs = self.operand(*x, i, addrs, regs)?;
                let ys = self.operand(*y, i, addrs, regs)?;
                let masks: Vec<Value> = xs
                    .into_iter()
                    .zip(ys)
                    .map(|(p, q)| self.vec_cmp(c, *pred, p, q))
                    .collect();
                vec![self.masks_to_bool(masks)]
            }
            OpKind::Select {
                cond,
                on_true,
                on_false,
            } => {
                let cs = self.operand(*cond, i, addrs, regs)?;
                let ts = self.operand(*on_true, i, addrs, regs)?;
                let fs = self.operand(*on_false, i, addrs, regs)?;
                let masks = self.bool_to_masks(cs[0], d.size_bytes());
                masks
                    .into_iter()
                    .zip(ts.into_iter().zip(fs))
                    .map(|(m, (t, f))| self.mask_select(m, t, f))
                    .collect()
            }
            OpKind::Cast(x) => {
                let from = self.rdt(*x)?;
                let xs = self.operand(*x, i, addrs, regs)?;
                self.cast_parts(from, d, xs)
            }
            OpKind::AddPtr { ptr, offset } => {
                let size = match self.elem(r) {
                    ElemType::Ptr(p) => p.size_bytes(),
                    ElemType::Val(_) => return Err(self.unsupported("addptr on a value tile")),
                };
                let od = self.rdt(*offset)?;
                let ps = self.operand(*ptr, i, addrs, regs)?;
                let mut os = self.operand(*offset, i, addrs, regs)?;
                // Extend the offsets to `I64X2`, as `add_ptr` does.
                while os.len() < ps.len() {
                    os = os
                        .into_iter()
                        .flat_map(|v| {
                            if od.is_signed_int() {
                                [self.b.ins().swiden_low(v), self.b.ins().swiden_high(v)]
                            } else {
                                [self.b.ins().uwiden_low(v), self.b.ins().uwiden_high(v)]
                            }
                        })
                        .collect();
                }
                ps.into_iter()
                    .zip(os)
                    .map(|(p, o)| {
                        let o = if size > 1 {
                            self.b.ins().ishl_imm(o, size.trailing_zeros() as i64)
                        } else {
                            o
                        };
                        self.b.ins().iadd(p, o)
                    })
                    .collect()
            }
            OpKind::Reshape(x)
            | OpKind::Hint { value: x, .. }
            | OpKind::ExpandDims { value: x, .. } => self.operand(*x, i, addrs, regs)?,
            OpKind::Bitcast(x) => {
                let xs = self.operand(*x, i, addrs, regs)?;
                let ty = part_ty(d);
                xs.into_iter()
                    .map(|p| {
                        if self.b.func.dfg.value_type(p) == ty {
                            p
                        } else {
                            self.b.ins().bitcast(ty, MemFlags::new(), p)
                        }
                    })
                    .collect()
            }
            OpKind::Broadcast(x) => {
                let kind = bcast_kind(self.kernel, *x, r)
                    .ok_or_else(|| self.unsupported("broadcast in a fused run"))?;
                match kind {
                    Bcast::Same => self.operand(*x, i, addrs, regs)?,
                    Bcast::Scalar => {
                        let a = addrs[x];
                        vec![self.load_splat_part(d, a); parts(d)]
                    }
                    Bcast::Row(n) => {
                        let c = self.b.ins().urem_imm(i, (n / CHUNK) as i64);
                        self.load_parts(d, addrs[x], c)
                    }
                    Bcast::Column(n) => {
                        let e = self.b.ins().udiv_imm(i, (n / CHUNK) as i64);
                        let a = self.offset_addr(addrs[x], e, d.size_bytes());
                        vec![self.load_splat_part(d, a); parts(d)]
                    }
                }
            }
            _ => return Err(self.unsupported("op in a fused run")),
        })
    }

    /// `x pred y` on one part of class `c`: an all-ones/all-zeros integer vector.
    pub(crate) fn vec_cmp(&mut self, c: Class, pred: CmpPred, x: Value, y: Value) -> Value {
        match c {
            Class::Float(_) => {
                let cc = match pred {
                    CmpPred::Eq => FloatCC::Equal,
                    CmpPred::Ne => FloatCC::NotEqual,
                    CmpPred::Lt => FloatCC::LessThan,
                    CmpPred::Le => FloatCC::LessThanOrEqual,
                    CmpPred::Gt => FloatCC::GreaterThan,
                    CmpPred::Ge => FloatCC::GreaterThanOrEqual,
                };
                self.b.ins().fcmp(cc, x, y)
            }
            Class::Int { .. } | Class::Bool => {
                let signed = matches!(c, Class::Int { signed: true, .. });
                let cc = match (pred, signed) {
                    (CmpPred::Eq, _) => IntCC::Equal,
                    (CmpPred::Ne, _) => IntCC::NotEqual,
                    (CmpPred::Lt, true) => IntCC::SignedLessThan,
                    (CmpPred::Le, true) => IntCC::SignedLessThanOrEqual,
                    (CmpPred::Gt, true) => IntCC::SignedGreaterThan,
                    (CmpPred::Ge, true) => IntCC::SignedGreaterThanOrEqual,
                    (CmpPred::Lt, false) => IntCC::UnsignedLessThan,
                    (CmpPred::Le, false) => IntCC::UnsignedLessThanOrEqual,
                    (CmpPred::Gt, false) => IntCC::UnsignedGreaterThan,
                    (CmpPred::Ge, false) => IntCC::UnsignedGreaterThanOrEqual,
                };
                self.b.ins().icmp(cc, x, y)
            }
        }
    }

    /// Narrows the masks of 16 elements (one, two or four vectors) to `bool` bytes 0/1.
    fn masks_to_bool(&mut self, masks: Vec<Value>) -> Value {
        let mut m = masks;
        while m.len() > 1 {
            m = m
                .chunks(2)
                .map(|p| self.b.ins().snarrow(p[0], p[1]))
                .collect();
        }
        let one = self.splat_const(types::I8X16, 1);
        self.b.ins().band(m[0], one)
    }

    /// Widens `bool` bytes 0/1 to masks with lanes of `bytes` bytes (16 elements).
    fn bool_to_masks(&mut self, b: Value, bytes: usize) -> Vec<Value> {
        let zero = self.splat_const(types::I8X16, 0);
        let mut m = vec![self.b.ins().icmp(IntCC::NotEqual, b, zero)];
        let mut width = 1;
        while width < bytes {
            m = m
                .into_iter()
                .flat_map(|v| [self.b.ins().swiden_low(v), self.b.ins().swiden_high(v)])
                .collect();
            width *= 2;
        }
        m
    }

    /// `x as to` on the parts of 16 elements of `from`, as [`Self::cast`] computes it.
    fn cast_parts(&mut self, from: DType, to: DType, xs: Vec<Value>) -> Vec<Value> {
        if from == to {
            return xs;
        }
        // Four I32X4 (extended) or F32X4.
        let signed = from.is_signed_int();
        let mut w = xs;
        while from != DType::F32 && w.len() < 4 {
            w = w
                .into_iter()
                .flat_map(|v| {
                    if signed {
                        [self.b.ins().swiden_low(v), self.b.ins().swiden_high(v)]
                    } else {
                        [self.b.ins().uwiden_low(v), self.b.ins().uwiden_high(v)]
                    }
                })
                .collect();
        }
        if to == DType::Bool {
            let masks = w
                .into_iter()
                .map(|v| {
                    if from == DType::F32 {
                        let z = self.splat_const(types::F32X4, 0);
                        self.b.ins().fcmp(FloatCC::NotEqual, v, z)
                    } else {
                        let z = self.splat_const(types::I32X4, 0);
                        self.b.ins().icmp(IntCC::NotEqual, v, z)
                    }
                })
                .collect();
            return vec![self.masks_to_bool(masks)];
        }
        if to == DType::F32 {
            return w
                .into_iter()
                .map(|v| {
                    if from == DType::U32 {
                        self.b.ins().fcvt_from_uint(types::F32X4, v)
                    } else {
                        self.b.ins().fcvt_from_sint(types::F32X4, v)
                    }
                })
                .collect();
        }
        let tb = to.size_bytes();
        let w: Vec<Value> = if from == DType::F32 {
            w.into_iter()
                .map(|v| {
                    if to.is_signed_int() {
                        let w = self.b.ins().fcvt_to_sint_sat(types::I32X4, v);
                        if tb < 4 {
                            let (lo, hi) = if tb == 1 {
                                (i64::from(i8::MIN), i64::from(i8::MAX))
                            } else {
                                (i64::from(i16::MIN), i64::from(i16::MAX))
                            };
                            let lo = self.splat_const(types::I32X4, lo);
                            let hi = self.splat_const(types::I32X4, hi);
                            let w = self.b.ins().smax(w, lo);
                            self.b.ins().smin(w, hi)
                        } else {
                            w
                        }
                    } else {
                        let w = self.b.ins().fcvt_to_uint_sat(types::I32X4, v);
                        if tb < 4 {
                            let hi =
                                self.splat_const(types::I32X4, if tb == 1 { 0xff } else { 0xffff });
                            self.b.ins().umin(w, hi)
                        } else {
                            w
                        }
                    }
                })
                .collect()
        } else {
            w
        };
        if tb == 4 {
            return w;
        }
        // Truncate: keep the low bits, then pack pairs (unsigned saturation keeps them).
        let keep = self.splat_const(types::I32X4, if tb == 2 { 0xffff } else { 0xff });
        let w: Vec<Value> = w.into_iter().map(|v| self.b.ins().band(v, keep)).collect();
        let mut n: Vec<Value> = w
            .chunks(2)
            .map(|p| self.b.ins().unarrow(p[0], p[1]))
            .collect();
        if tb == 1 {
            n = vec![self.b.ins().unarrow(n[0], n[1])];
        }
        n
    }
}
