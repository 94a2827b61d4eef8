//! The scratch arena: where every value of a program lives.
//!
//! Each value gets a slot, 64-byte aligned, of its size rounded up to 64 bytes plus 64 bytes
//! of slack, so that vector code may read and write whole 16-byte chunks (and a row's chunk
//! may spill into the next row, which is written afterwards) without bounds checks. Values
//! that are the same bytes as another share its slot: `reshape`, `expand_dims`, `bitcast`, a
//! `broadcast` that changes nothing, and the carried arguments of a loop body, which share the
//! slots of the loop's results. Slots are not reused by liveness: the arena is the sum of all
//! slots (plus temporaries such as the widened operands of `dot`).

use bitmat_ir::{Block, ElemType, Kernel, OpKind, TileType, ValueId};

/// Alignment of slots and of the arena.
pub const ALIGN: usize = 64;

/// Offsets of the values of one kernel in the arena.
#[derive(Clone, Debug)]
pub struct Layout {
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

impl Layout {
    /// Plans the slots of every value of `kernel`.
    pub fn plan(kernel: &Kernel) -> Layout {
        let mut l = Layout {
            slots: vec![None; kernel.values.len()],
            size: 0,
        };
        for p in &kernel.params {
            l.fresh(kernel, p.value);
        }
        l.block(kernel, &kernel.body);
        l
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

    fn fresh(&mut self, kernel: &Kernel, v: ValueId) {
        if let Some(ty) = kernel.values.get(v.index()) {
            let off = self.alloc(value_bytes(ty));
            self.slots[v.index()] = Some(off);
        }
    }

    fn alias(&mut self, v: ValueId, of: ValueId) {
        let off = self.offset(of);
        if let Some(s) = self.slots.get_mut(v.index()) {
            *s = off;
        }
    }

    fn block(&mut self, kernel: &Kernel, block: &Block) {
        for op in &block.ops {
            match &op.kind {
                OpKind::Reshape(src)
                | OpKind::ExpandDims { value: src, .. }
                | OpKind::Bitcast(src) => {
                    for &r in &op.results {
                        self.alias(r, *src);
                    }
                }
                OpKind::Broadcast(src)
                    if op.results.len() == 1
                        && kernel.values.get(src.index()).map(TileType::numel)
                            == kernel
                                .values
                                .get(op.results[0].index())
                                .map(TileType::numel) =>
                {
                    self.alias(op.results[0], *src);
                }
                OpKind::For { body, .. } => {
                    for &r in &op.results {
                        self.fresh(kernel, r);
                    }
                    if let Some((&iv, carried)) = body.args.split_first() {
                        self.fresh(kernel, iv);
                        for (&a, &r) in carried.iter().zip(&op.results) {
                            self.alias(a, r);
                        }
                    }
                    self.block(kernel, body);
                }
                OpKind::If {
                    then_block,
                    else_block,
                    ..
                } => {
                    self.block(kernel, then_block);
                    self.block(kernel, else_block);
                    for &r in &op.results {
                        self.fresh(kernel, r);
                    }
                }
                _ => {
                    for &r in &op.results {
                        self.fresh(kernel, r);
                    }
                }
            }
        }
    }
}
