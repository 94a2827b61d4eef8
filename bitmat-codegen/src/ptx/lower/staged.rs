//! Double-buffered staging of the operands of a pipelined loop's first tensor-core `dot`
//! that no ring holds (a tile the body computes, such as decoded packed weights).
//!
//! Staged the plain way, such an operand costs two barriers per iteration: one before the
//! threads overwrite the area that the previous iteration's `dot` read, one after, before
//! `ldmatrix` reads it. With two areas used alternately, the first is unnecessary: the area
//! an iteration writes was last read two iterations before, and every thread has passed the
//! previous iteration's barrier since. The second is the loop's own barrier: the body's
//! ops up to the `dot` run first, then the operands are written to this iteration's area,
//! then the iteration waits for its ring stage and synchronizes once, for the rings and the
//! staged operands together ([`Emitter::lower_for`](super::control)).
//!
//! With `num_stages >= 3` the staged operands are a pipeline stage of their own, when they
//! derive only from held loads ([`held`](super::held)) and values the body can compute again:
//! the operands of iteration `i + 1` are computed and written after iteration `i`'s `dot` (the
//! area they go to was last read two iterations before), so that their decode overlaps the
//! tensor cores' work instead of preceding it, and the held loads run two iterations ahead.

use super::interleave::interleave;
use super::mma_frag::{contiguous_dim, k_step, Role, SmemOperand, SmemTile};
use super::pipeline::{Future, LoopPipeline};
use crate::ptx::emit::Emitter;
use crate::ptx::regs::Class;
use crate::CodegenError;
use bitmat_ir::{Block, Op, OpKind, ValueId};

/// The staged operands of a pipelined loop's first tensor-core `dot`.
pub(crate) struct StagedDot {
    /// Its operands that no ring holds.
    pub operands: Vec<StagedOperand>,
    /// Register with the area (0 or 1) this iteration's `dot` reads.
    pub slot: String,
    /// Whether the operands are computed one iteration ahead, after the `dot` that reads the
    /// previous ones ([`Emitter::stage_ahead`]): they derive from held loads and values that
    /// the body can compute again for a later iteration.
    pub ahead: bool,
}

/// One staged operand: its value and arrangement, and the two areas.
pub(crate) struct StagedOperand {
    /// The operand.
    pub value: ValueId,
    /// How it sits in shared memory.
    pub tile: SmemTile,
    /// Byte offset of area 0 in shared memory; area 1 follows `area_bytes` later.
    pub offset: u32,
    /// Bytes per area.
    pub area_bytes: u32,
}

impl Emitter<'_> {
    /// The staging plan of `dot` for its operands other than the ring loads `rings`;
    /// allocates the areas. `None` for a `dot` that reads one value as both operands.
    pub(crate) fn plan_staged(&mut self, dot: &Op, rings: &[ValueId]) -> Option<StagedDot> {
        let OpKind::Dot { a, b, .. } = dot.kind else {
            return None;
        };
        if a == b {
            return None;
        }
        let d = self.k.ty(a).dtype()?;
        k_step(d)?;
        let size = d.size_bytes() as u32;
        let mut operands = Vec::new();
        for (v, role) in [(a, Role::A), (b, Role::B)] {
            if rings.contains(&v) {
                continue;
            }
            let shape = self.k.ty(v).shape.clone();
            let contiguous = contiguous_dim(&self.layout(v), &shape).unwrap_or(1);
            let tile = SmemTile::for_operand(role, &shape, contiguous, size);
            let area_bytes = tile.bytes(&shape).next_multiple_of(tile.alignment());
            let (offset, _) = self.alloc_shared(2 * area_bytes, tile.alignment());
            operands.push(StagedOperand {
                value: v,
                tile,
                offset,
                area_bytes,
            });
        }
        let slot = self.reg(Class::B32);
        Some(StagedDot {
            operands,
            slot,
            ahead: false,
        })
    }

    /// Writes the plan's staged operands to this iteration's areas (no barrier: the loop's
    /// follows), where the `dot`'s lowering takes them from ([`Emitter::staged`]).
    pub(crate) fn stage_planned(&mut self, plan: &LoopPipeline) -> Result<(), CodegenError> {
        let Some(staged) = &plan.staged else {
            return Ok(());
        };
        for o in &staged.operands {
            let regs = self.get(o.value)?;
            let area = self.write_staged(o, &staged.slot, &regs)?;
            self.record_staged(o, &area);
        }
        Ok(())
    }

    /// Points the `dot`'s lowering at this iteration's areas, which the iteration before
    /// wrote ([`Self::stage_ahead`]).
    pub(crate) fn use_staged(&mut self, plan: &LoopPipeline) {
        let Some(staged) = &plan.staged else {
            return;
        };
        for o in &staged.operands {
            let area = self.staged_area(o, &staged.slot);
            self.record_staged(o, &area);
        }
    }

    /// Computes the staged operands of iteration `at` (the body's ops that make them, lowered
    /// again for that iteration, with its held loads bound in `at`) and writes them to the
    /// area `slot` (a register).
    pub(crate) fn stage_ahead(
        &mut self,
        body: &Block,
        plan: &LoopPipeline,
        at: &Future,
        slot: &str,
    ) -> Result<(), CodegenError> {
        let Some(staged) = &plan.staged else {
            return Ok(());
        };
        for o in &staged.operands {
            let regs = self.emit_slice(body, &[o.value], &at.subst)?.remove(0);
            self.write_staged(o, slot, &regs)?;
        }
        Ok(())
    }

    /// Spreads the lines emitted since `second` among those emitted from `first` to
    /// `second`, where [`interleave`] finds it safe: the next iteration's operands, made a
    /// step ahead, among this iteration's `mma`s, so that `ptxas` overlaps the two.
    pub(crate) fn interleave_since(&mut self, first: usize, second: usize) {
        if let Some(woven) = interleave(&self.body[first..second], &self.body[second..]) {
            self.body.truncate(first);
            self.body.push_str(&woven);
        }
    }

    /// The base of area `slot` (a register) of `o`, in a fresh register.
    fn staged_area(&mut self, o: &StagedOperand, slot: &str) -> String {
        let area = self.reg(Class::B32);
        let smem = self.smem.clone();
        self.line(format!(
            "mad.lo.u32 {area}, {slot}, {}, {smem};",
            o.area_bytes
        ));
        area
    }

    /// Writes `regs` (operand `o` in its layout) to its area `slot`; returns the area's base.
    fn write_staged(
        &mut self,
        o: &StagedOperand,
        slot: &str,
        regs: &[String],
    ) -> Result<String, CodegenError> {
        let d = self.dtype(o.value)?;
        let area = self.staged_area(o, slot);
        let smem = std::mem::replace(&mut self.smem, area.clone());
        // The staging code addresses the tile from `smem`.
        let written = self.stage_operand_rows(o.value, regs, d, &o.tile, o.offset);
        self.smem = smem;
        written.map(|()| area)
    }

    /// Records that `dot` reads `o` from the area at `area`.
    fn record_staged(&mut self, o: &StagedOperand, area: &str) {
        let addr = self.reg(Class::B32);
        self.line(format!("add.u32 {addr}, {area}, {};", o.offset));
        self.staged.insert(
            o.value,
            SmemOperand {
                addr,
                tile: o.tile.clone(),
            },
        );
    }

    /// Moves to the other area for the next iteration.
    pub(crate) fn next_staging_slot(&mut self, plan: &LoopPipeline) {
        if let Some(staged) = &plan.staged {
            self.line(format!("xor.b32 {0}, {0}, 1;", staged.slot));
        }
    }
}
