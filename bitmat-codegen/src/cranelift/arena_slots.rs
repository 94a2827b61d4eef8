//! The slots of the scratch arena ([`crate::cpu::arena`]): where every value of a program
//! lives in the code Cranelift generates.
//!
//! Each value gets a slot, 64-byte aligned, of its size rounded up to 64 bytes plus 64 bytes
//! of slack, so that vector code may read and write whole 16-byte chunks (and a row's chunk
//! may spill into the next row, which is written afterwards) without bounds checks. Values
//! that are the same bytes as another share its slot: `reshape`, `expand_dims`, `bitcast`, a
//! `broadcast` that changes nothing, and the carried arguments of a loop body, which share the
//! slots of the loop's results.
//!
//! Slots are reused by liveness (linear scan over the ops in program order): a slot is live
//! from the op that defines its value to its last use, extended to the end of the outermost
//! loop that uses it without defining it; an op's result never shares a slot with a value
//! still live at that op (its operands included). A run of fused elementwise ops counts as one
//! op (see `lower::fusion`): its results are defined at its first op and its operands used at
//! its last. Temporaries that the lowering asks for
//! (the widened operands of `dot`, swap buffers of `yield`) are appended after the planned
//! slots.

use crate::cpu::arena::ALIGN;
use bitmat_ir::{Block, ElemType, Kernel, Op, OpKind, TileType, ValueId};
use std::collections::HashMap;

/// Offsets of the values of one kernel in the arena.
#[derive(Clone, Debug)]
pub struct ArenaSlots {
    slots: Vec<Option<u32>>,
    size: usize,
}

/// Bytes of one element of `elem` in scratch (pointers are 8 bytes, `bool` is one).
pub fn elem_bytes(elem: ElemType) -> usize {
    match elem {
        ElemType::Val(d) => d.size_bytes(),
        ElemType::Ptr(_) => 8,
    }
}

/// Bytes of a value of type `ty`.
pub fn value_bytes(ty: &TileType) -> usize {
    ty.numel() * elem_bytes(ty.elem)
}

impl ArenaSlots {
    /// Plans the slots of every value of `kernel`.
    pub fn plan(kernel: &Kernel) -> ArenaSlots {
        let mut p = Planner {
            kernel,
            root: (0..kernel.values.len() as u32).map(ValueId).collect(),
            def: vec![usize::MAX; kernel.values.len()],
            end: vec![0; kernel.values.len()],
            spans: HashMap::new(),
            loops: Vec::new(),
            pos: 0,
        };
        let mut pos = 0;
        spans(&kernel.body, &mut pos, &mut p.spans);
        for param in &kernel.params {
            p.define(param.value, 0);
        }
        p.block(&kernel.body);
        p.assign()
    }

    /// The arena's size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The offset of `v`'s slot, if it has one.
    pub fn offset(&self, v: ValueId) -> Option<u32> {
        self.slots.get(v.index()).copied().flatten()
    }

    /// Reserves `bytes` (plus slack) and returns their offset.
    pub fn alloc(&mut self, bytes: usize) -> u32 {
        let off = self.size;
        self.size += bytes.div_ceil(ALIGN) * ALIGN + ALIGN;
        off as u32
    }
}

/// Assigns `[start, end]` positions to every op with nested blocks (keyed by address).
fn spans(block: &Block, pos: &mut usize, out: &mut HashMap<usize, (usize, usize)>) {
    for op in &block.ops {
        *pos += 1;
        let start = *pos;
        for b in op.kind.blocks() {
            spans(b, pos, out);
        }
        *pos += 1;
        out.insert(op as *const Op as usize, (start, *pos));
    }
}

/// Live intervals of the values of a kernel.
struct Planner<'k> {
    kernel: &'k Kernel,
    /// The value whose slot each value uses.
    root: Vec<ValueId>,
    /// Position of each root's definition (`usize::MAX`: not defined).
    def: Vec<usize>,
    /// Position of each root's last use.
    end: Vec<usize>,
    spans: HashMap<usize, (usize, usize)>,
    /// Enclosing loops, outermost first: `(start, end)`.
    loops: Vec<(usize, usize)>,
    pos: usize,
}

impl Planner<'_> {
    fn root_of(&self, v: ValueId) -> ValueId {
        self.root.get(v.index()).copied().unwrap_or(v)
    }

    fn define(&mut self, v: ValueId, at: usize) {
        if let Some(d) = self.def.get_mut(v.index()) {
            *d = at;
            self.end[v.index()] = at;
        }
    }

    fn alias(&mut self, v: ValueId, of: ValueId) {
        let r = self.root_of(of);
        if let Some(slot) = self.root.get_mut(v.index()) {
            *slot = r;
        }
    }

    fn use_(&mut self, v: ValueId, at: usize) {
        let r = self.root_of(v).index();
        let Some(&d) = self.def.get(r) else { return };
        let mut at = at;
        if let Some(&(_, e)) = self.loops.iter().find(|&&(s, _)| d <= s) {
            at = at.max(e);
        }
        self.end[r] = self.end[r].max(at);
    }

    fn block(&mut self, block: &Block) {
        // A fused run (hoisted ops included) acts as one op: results defined at its first op,
        // operands used at its last.
        let runs = crate::cranelift::lower::fusion::runs(self.kernel, block);
        for (i, op) in block.ops.iter().enumerate() {
            self.pos += 1;
            let start = self.pos;
            let (def_at, use_at) = match runs.iter().find(|r| r.span.contains(&i)) {
                Some(r) => (
                    start - 2 * (i - r.span.start),
                    start + 2 * (r.span.end - 1 - i),
                ),
                None => (start, start),
            };
            for v in op.kind.operands() {
                self.use_(v, use_at);
            }
            match &op.kind {
                OpKind::Reshape(src)
                | OpKind::Hint { value: src, .. }
                | OpKind::ExpandDims { value: src, .. }
                | OpKind::Bitcast(src) => {
                    for &r in &op.results {
                        self.alias(r, *src);
                    }
                }
                OpKind::Broadcast(src)
                    if op.results.len() == 1
                        && self.kernel.values.get(src.index()).map(TileType::numel)
                            == self
                                .kernel
                                .values
                                .get(op.results[0].index())
                                .map(TileType::numel) =>
                {
                    self.alias(op.results[0], *src);
                }
                OpKind::For { body, .. } | OpKind::While { body, .. } => {
                    for &r in &op.results {
                        self.define(r, start);
                    }
                    // A `for` body's arguments: the induction variable, then the carried
                    // values (a `while` body's: the carried values).
                    let carried = match (&op.kind, body.args.split_first()) {
                        (OpKind::For { .. }, Some((&iv, carried))) => {
                            self.define(iv, start);
                            carried
                        }
                        _ => &body.args[..],
                    };
                    for (&a, &r) in carried.iter().zip(&op.results) {
                        self.alias(a, r);
                    }
                    let span = self
                        .spans
                        .get(&(op as *const Op as usize))
                        .copied()
                        .unwrap_or((start, start));
                    self.loops.push(span);
                    self.block(body);
                    self.loops.pop();
                    // The carried slots are written by every `yield`, read on entry.
                    for &r in &op.results {
                        self.use_(r, span.1);
                    }
                }
                OpKind::If {
                    then_block,
                    else_block,
                    ..
                } => {
                    for &r in &op.results {
                        self.define(r, start);
                    }
                    self.block(then_block);
                    self.block(else_block);
                }
                _ => {
                    for &r in &op.results {
                        self.define(r, def_at);
                    }
                }
            }
            self.pos += 1;
        }
    }

    /// Linear scan: slots in order of definition, reusing the best-fitting free slot whose
    /// value died strictly before.
    fn assign(self) -> ArenaSlots {
        let n = self.kernel.values.len();
        let mut roots: Vec<usize> = (0..n)
            .filter(|&i| self.root[i].index() == i && self.def[i] != usize::MAX)
            .collect();
        roots.sort_by_key(|&i| (self.def[i], i));
        let mut layout = ArenaSlots {
            slots: vec![None; n],
            size: 0,
        };
        // (end, offset, capacity) of live slots, and (offset, capacity) of free ones.
        let mut active: Vec<(usize, u32, usize)> = Vec::new();
        let mut free: Vec<(u32, usize)> = Vec::new();
        let mut root_off = vec![None; n];
        for i in roots {
            let d = self.def[i];
            active.retain(|&(e, off, cap)| {
                if e < d {
                    free.push((off, cap));
                    false
                } else {
                    true
                }
            });
            let need = self.kernel.values.get(i).map_or(0, value_bytes);
            let cap = need.div_ceil(ALIGN) * ALIGN + ALIGN;
            let best = free
                .iter()
                .enumerate()
                .filter(|(_, &(_, c))| c >= cap)
                .min_by_key(|(_, &(_, c))| c)
                .map(|(k, _)| k);
            let (off, cap) = match best {
                Some(k) => free.swap_remove(k),
                None => (layout.alloc(need), cap),
            };
            root_off[i] = Some(off);
            active.push((self.end[i], off, cap));
        }
        for v in 0..n {
            layout.slots[v] = root_off[self.root[v].index()];
        }
        layout
    }
}
