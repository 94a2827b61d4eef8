//! Layout assignment: the pass that gives every tile value of a kernel its [`Layout`]
//! (Triton's Coalesce + AccelerateMatmul + RemoveLayoutConversions, in one propagation).
//!
//! *Anchors* fix layouts where the hardware wants them, most important first:
//! 1. `dot` on tensor cores: its accumulator and result in the `mma.sync` accumulator layout
//!    ([`Layout::mma_acc`]), so that a loop carries the accumulator in registers;
//! 2. loads, stores and atomics, in program order: a blocked layout whose threads hold up to
//!    16 bytes that the contiguity analysis proves consecutive in memory, lanes following
//!    each other along the most contiguous dimension (coalesced accesses);
//! 3. accesses without consecutive addresses (gathers, a vector broadcast along an axis),
//!    last: coalescing does not depend on their layout, so they keep any layout that the
//!    anchors above gave their neighbours (a broadcast operand in the slice of its use, a
//!    scale tile in the layout of the tile it scales) instead of costing a conversion.
//!
//! Before the third kind, and again after it, a broadcast that no anchor reached keeps the
//! copies of its operand in the registers of the threads holding it
//! ([`Layout::insert_register_bits`]): packed weights loaded once per byte or word and
//! broadcast over the codes they hold are decoded where they were loaded.
//!
//! Each anchor's layout then spreads to every value it can reach without moving data:
//! through elementwise ops (operands and results share a layout), `reshape` and
//! `expand_dims` (the flat index does not change), `permute`, `concat` and `slice` (the
//! layouts that make them move no data, [`super::lower::shape`]), from a reduction's operand to its result
//! (the slice, [`result_layout`]), from a broadcast's result to its operand (the slice that makes the broadcast
//! a register copy), and around loops and branches (a carried value, its initial value, what
//! the body yields and the loop's result). A value keeps the first layout that reaches it;
//! where two meet, the lowering converts at the use. A memory access only spreads the layout
//! of its pointer tile: a stored value that arrives in another layout (an accumulator) is
//! converted, rather than imposing its layout on the pointers. Values that no
//! anchor reaches get [`Layout::default_for`] their size.

use super::layout::{bit_range, dim_bits, log2, Layout};
use super::lower::shape::{concat_bit, inverse, permute_bits, slice_bits};
use super::lower::{mma_shape, result_layout};
use bitmat_ir::passes::contiguity::AxisInfo;
use bitmat_ir::{Block, Kernel, Op, OpKind, ValueId};

/// The most register slots per thread that a broadcast kept in registers may take
/// ([`Assigner::broadcast_in_registers`]).
const MAX_BROADCAST_SLOTS: u32 = 64;

/// Every value's layout, indexed by [`ValueId::index`].
pub(crate) fn assign(k: &Kernel, info: &[AxisInfo], threads: u32) -> Vec<Layout> {
    let mut a = Assigner {
        k,
        layouts: vec![None; k.values.len()],
        defs: vec![None; k.values.len()],
        uses: vec![Vec::new(); k.values.len()],
        ties: vec![Vec::new(); k.values.len()],
        work: Vec::new(),
    };
    a.index(&k.body);
    let (anchors, gathers) = collect_anchors(k, &k.body, info, threads);
    for (v, l) in anchors {
        a.set(v, l);
        a.drain();
    }
    a.broadcast_in_registers(&k.body, threads);
    for (v, l) in gathers {
        a.set(v, l);
        a.drain();
    }
    a.broadcast_in_registers(&k.body, threads);
    a.layouts
        .into_iter()
        .enumerate()
        .map(|(i, l)| l.unwrap_or_else(|| Layout::default_for(k.values[i].numel() as u32, threads)))
        .collect()
}

/// The coalesced blocked layout for accesses through pointer tile `p` (pointee of `size`
/// bytes): the most contiguous dimension first (the last on ties), up to 16 bytes per thread.
pub(crate) fn access_layout(
    k: &Kernel,
    p: ValueId,
    info: &AxisInfo,
    size: u32,
    threads: u32,
) -> Layout {
    let shape = &k.ty(p).shape;
    if shape.is_empty() {
        return Layout::default_for(1, threads);
    }
    let rank = shape.len();
    let fastest = (0..rank)
        .rev()
        .max_by_key(|&d| (info.contiguity.get(d).copied().unwrap_or(1), d == rank - 1))
        .unwrap_or(rank - 1);
    let contig = info.contiguity.get(fastest).copied().unwrap_or(1) as u32;
    let numel: u32 = shape.iter().product();
    let per_thread = (numel / threads).max(1);
    let vec = prev_pow2(contig.min(16 / size.max(1)).min(per_thread).max(1));
    let mut order = vec![fastest];
    order.extend((0..rank).rev().filter(|&d| d != fastest));
    Layout::blocked(shape, &order, log2(vec), threads)
}

fn prev_pow2(x: u32) -> u32 {
    1 << (31 - x.max(1).leading_zeros())
}

/// The anchors of `k`: the dots' and the coalesced memory accesses' layouts, most important
/// first, and apart the accesses without consecutive addresses (gathers, broadcasts of one
/// address), which keep the layout of their neighbours when one has reached them.
type Anchors = Vec<(ValueId, Layout)>;

fn collect_anchors(
    k: &Kernel,
    block: &Block,
    info: &[AxisInfo],
    threads: u32,
) -> (Anchors, Anchors) {
    // Dots first (whole kernel), then memory accesses in program order.
    let mut out = Vec::new();
    let mut memory = Vec::new();
    let mut gathers = Vec::new();
    walk(block, &mut |op| match &op.kind {
        OpKind::Dot { a, b, acc } => {
            if let Some([m, _, n]) = mma_shape(k, *a, *b, *acc) {
                let l = Layout::mma_acc(m, n, threads / 32);
                out.push((*acc, l.clone()));
                out.push((op.results[0], l));
            }
        }
        OpKind::Load { ptr, .. }
        | OpKind::Store { ptr, .. }
        | OpKind::Atomic { ptr, .. }
        | OpKind::AtomicCas { ptr, .. } => {
            let size = k
                .ty(*ptr)
                .elem
                .pointee()
                .map_or(1, |d| d.size_bytes() as u32);
            let anchor = (
                *ptr,
                access_layout(k, *ptr, &info[ptr.index()], size, threads),
            );
            if has_consecutive_addresses(&info[ptr.index()]) {
                memory.push(anchor);
            } else {
                gathers.push(anchor);
            }
        }
        _ => {}
    });
    out.extend(memory);
    (out, gathers)
}

/// Whether a pointer tile with axis facts `info` has an axis along which neighbouring lanes
/// address consecutive elements: the only accesses whose layout coalescing depends on.
fn has_consecutive_addresses(info: &AxisInfo) -> bool {
    info.contiguity.iter().any(|&c| c > 1)
}

/// Calls `f` on every op of `block` and its nested blocks, in program order.
pub(crate) fn walk<'a>(block: &'a Block, f: &mut impl FnMut(&'a Op)) {
    for op in &block.ops {
        f(op);
        for b in op.kind.blocks() {
            walk(b, f);
        }
    }
}

/// Whether an op of `block` or of its nested blocks reads `v`.
pub(crate) fn reads(block: &Block, v: ValueId) -> bool {
    let mut read = false;
    walk(block, &mut |op| read |= op.kind.operands().contains(&v));
    read
}

struct Assigner<'k> {
    k: &'k Kernel,
    layouts: Vec<Option<Layout>>,
    defs: Vec<Option<&'k Op>>,
    uses: Vec<Vec<&'k Op>>,
    /// Values that must share a layout to cross a loop or branch boundary without a copy.
    ties: Vec<Vec<ValueId>>,
    work: Vec<ValueId>,
}

impl<'k> Assigner<'k> {
    fn index(&mut self, block: &'k Block) {
        for op in &block.ops {
            for &r in &op.results {
                self.defs[r.index()] = Some(op);
            }
            for v in op.kind.operands() {
                self.uses[v.index()].push(op);
            }
            match &op.kind {
                OpKind::For { init, body, .. } => {
                    let ys = yields(body);
                    for (i, &r) in op.results.iter().enumerate() {
                        let mut group = vec![r, body.args[i + 1], init[i]];
                        group.extend(ys.get(i).copied());
                        self.tie(&group);
                    }
                }
                // A `while` body yields its condition, then the carried values.
                OpKind::While { init, body } => {
                    let ys = yields(body);
                    for (i, &r) in op.results.iter().enumerate() {
                        let mut group = vec![r, body.args[i], init[i]];
                        group.extend(ys.get(i + 1).copied());
                        self.tie(&group);
                    }
                }
                OpKind::If {
                    then_block,
                    else_block,
                    ..
                } => {
                    let (t, e) = (yields(then_block), yields(else_block));
                    for (i, &r) in op.results.iter().enumerate() {
                        let mut group = vec![r];
                        group.extend(t.get(i).copied());
                        group.extend(e.get(i).copied());
                        self.tie(&group);
                    }
                }
                _ => {}
            }
            for b in op.kind.blocks() {
                self.index(b);
            }
        }
    }

    fn tie(&mut self, group: &[ValueId]) {
        for &v in group {
            self.ties[v.index()].extend(group.iter().filter(|&&w| w != v));
        }
    }

    fn numel(&self, v: ValueId) -> u32 {
        self.k.ty(v).numel() as u32
    }

    /// Gives `v` layout `l` unless it has one (or is a scalar, or `l` is for another size).
    fn set(&mut self, v: ValueId, l: Layout) {
        let n = self.numel(v);
        if n <= 1 || n != l.numel() || self.layouts[v.index()].is_some() {
            return;
        }
        self.layouts[v.index()] = Some(l);
        self.work.push(v);
    }

    fn drain(&mut self) {
        while let Some(v) = self.work.pop() {
            let l = self.layouts[v.index()].clone().expect("set before queued");
            if let Some(op) = self.defs[v.index()] {
                self.backward(op, &l);
            }
            for op in self.uses[v.index()].clone() {
                self.forward(op, v, &l);
            }
            for w in self.ties[v.index()].clone() {
                self.set(w, l.clone());
            }
        }
    }

    /// The propagation after the anchors have spread: a broadcast whose result no anchor
    /// reached, of an operand that has a layout, keeps its copies in the registers of the
    /// threads that hold the operand ([`Layout::insert_register_bits`]) when that takes at
    /// most [`MAX_BROADCAST_SLOTS`] registers per thread (or no more than the result needs
    /// without copies); its layout then spreads as an anchor's would (e.g. bytes loaded once,
    /// broadcast over their codes and decoded in registers).
    fn broadcast_in_registers(&mut self, block: &'k Block, threads: u32) {
        walk(block, &mut |op| {
            let OpKind::Broadcast(x) = op.kind else {
                return;
            };
            let r = op.results[0];
            let (Some(lx), None) = (&self.layouts[x.index()], &self.layouts[r.index()]) else {
                return;
            };
            if let Some(mask) = broadcast_bits(self.k, x, r) {
                let l = lx.insert_register_bits(mask);
                if l.slots() <= MAX_BROADCAST_SLOTS.max(self.numel(r) / threads) {
                    self.set(r, l);
                    self.drain();
                }
            }
        });
    }

    /// `op` defines a value of layout `l`: the operands that can share it.
    fn backward(&mut self, op: &Op, l: &Layout) {
        match &op.kind {
            OpKind::Broadcast(x) => {
                if let Some(mask) = broadcast_bits(self.k, *x, op.results[0]) {
                    self.set(*x, l.remove_bits(mask).0);
                }
            }
            OpKind::Permute { value, perm } => {
                let to = permute_bits(&self.k.ty(*value).shape, perm);
                self.set(*value, l.map_bits(&inverse(&to)));
            }
            OpKind::Concat { a, b, axis } => {
                let bit = concat_bit(&self.k.ty(*a).shape, *axis as usize);
                let half = l.remove_bits(1 << bit).0;
                self.set(*a, half.clone());
                self.set(*b, half);
            }
            OpKind::Slice { value, axis, start } => {
                let extent = self.k.ty(op.results[0]).shape[*axis as usize];
                let shape = &self.k.ty(*value).shape;
                let (mask, _) = slice_bits(shape, *axis as usize, *start, extent);
                self.set(*value, l.insert_register_bits(mask));
            }
            k if same_layout_operands(k) => {
                for v in k.operands() {
                    self.set(v, l.clone());
                }
            }
            _ => {}
        }
    }

    /// `op` uses `v`, of layout `l`: its results and operands that can share it.
    fn forward(&mut self, op: &Op, v: ValueId, l: &Layout) {
        match &op.kind {
            OpKind::Reduce { value, axis, .. } if *value == v => {
                let (lo, n) = dim_bits(&self.k.ty(v).shape)[*axis as usize];
                let mask = bit_range(lo, n);
                self.set(op.results[0], result_layout(l, mask));
            }
            OpKind::Permute { perm, .. } => {
                let to = permute_bits(&self.k.ty(v).shape, perm);
                self.set(op.results[0], l.map_bits(&to));
            }
            OpKind::Concat { axis, .. } => {
                let bit = concat_bit(&self.k.ty(v).shape, *axis as usize);
                self.set(op.results[0], l.insert_register_bits(1 << bit));
            }
            // A slice keeps the operand's registers when the bits it drops are registers.
            OpKind::Slice { axis, start, .. } => {
                let r = op.results[0];
                let extent = self.k.ty(r).shape[*axis as usize];
                let (mask, _) = slice_bits(&self.k.ty(v).shape, *axis as usize, *start, extent);
                let held: u32 = l.reg.iter().fold(0, |m, &b| m | b);
                if held & mask == mask {
                    self.set(r, l.remove_bits(mask).0);
                }
            }
            // A memory access takes its layout from its pointer tile (its anchor): a value,
            // mask or fallback in another layout is converted, not imposed on the pointers.
            OpKind::Load { ptr, .. }
            | OpKind::Store { ptr, .. }
            | OpKind::Atomic { ptr, .. }
            | OpKind::AtomicCas { ptr, .. }
                if *ptr != v => {}
            k if same_layout_operands(k) => {
                for w in k.operands() {
                    self.set(w, l.clone());
                }
                for &r in &op.results {
                    self.set(r, l.clone());
                }
            }
            _ => {}
        }
    }
}

/// Whether an op of kind `k` is cheap and pure enough to lower again for another layout or
/// another iteration (rematerialization, the pipeliner's address computations): constants,
/// `arange`, grid queries, elementwise arithmetic, shape changes and broadcasts.
pub(crate) fn recomputable(k: &OpKind) -> bool {
    matches!(
        k,
        OpKind::Arange(_)
            | OpKind::Constant(_)
            | OpKind::ProgramId(_)
            | OpKind::NumPrograms(_)
            | OpKind::Unary(..)
            | OpKind::Binary(..)
            | OpKind::Cmp(..)
            | OpKind::Select { .. }
            | OpKind::Fma(..)
            | OpKind::Cast(_)
            | OpKind::Bitcast(_)
            | OpKind::AddPtr { .. }
            | OpKind::Reshape(_)
            | OpKind::Hint { .. }
            | OpKind::ExpandDims { .. }
            | OpKind::Broadcast(_)
            | OpKind::Permute { .. }
            | OpKind::Concat { .. }
            | OpKind::Slice { .. }
    )
}

/// Whether the operands (of the result's size) and results of an op of kind `k` share one
/// layout: elementwise ops, shape changes that keep the flat index, memory accesses.
pub(crate) fn same_layout_operands(k: &OpKind) -> bool {
    matches!(
        k,
        OpKind::Unary(..)
            | OpKind::Binary(..)
            | OpKind::Cmp(..)
            | OpKind::Select { .. }
            | OpKind::Fma(..)
            | OpKind::Cast(_)
            | OpKind::Bitcast(_)
            | OpKind::AddPtr { .. }
            | OpKind::Reshape(_)
            | OpKind::Hint { .. }
            | OpKind::ExpandDims { .. }
            | OpKind::Load { .. }
            | OpKind::Store { .. }
            | OpKind::Atomic { .. }
            | OpKind::AtomicCas { .. }
    )
}

/// The index bits of `res` that a broadcast from `x` adds (the axes where `x` has extent 1
/// and `res` more), when both have the same rank.
pub(crate) fn broadcast_bits(k: &Kernel, x: ValueId, res: ValueId) -> Option<u32> {
    let (s, d) = (&k.ty(x).shape, &k.ty(res).shape);
    if s.len() != d.len() {
        return None;
    }
    let ranges = dim_bits(d);
    let mut mask = 0u32;
    for (i, (&a, &b)) in s.iter().zip(d).enumerate() {
        if a == 1 && b > 1 {
            let (lo, n) = ranges[i];
            mask |= bit_range(lo, n);
        } else if a != b {
            return None;
        }
    }
    Some(mask)
}

/// The values a block's final `yield` returns.
fn yields(block: &Block) -> Vec<ValueId> {
    match block.ops.last().map(|o| &o.kind) {
        Some(OpKind::Yield(vs)) => vs.clone(),
        _ => Vec::new(),
    }
}
