//! Ops that produce or move elements without arithmetic: `constant`, `arange`, `broadcast`
//! (`reshape`, `expand_dims` and `bitcast` share their operand's slot and emit nothing).

use super::{scratch_flags, vec_ty, Lowerer};
use crate::cranelift::arena_slots::elem_bytes;
use crate::cranelift::CodegenError;
use bitmat_ir::{Scalar, ValueId};
use cranelift_codegen::ir::{types, ConstantData, InstBuilder};

impl Lowerer<'_, '_> {
    /// Fills `r` with `s`, a splat vector per 16-byte chunk.
    pub(crate) fn constant(&mut self, s: Scalar, r: ValueId) -> Result<(), CodegenError> {
        let bytes = elem_bytes(self.elem(r));
        let total = self.numel(r) * bytes;
        let dst = self.slot_addr(r)?;
        let v = self.splat_const(vec_ty(bytes), s.bits() as i64);
        self.counted_loop(total.div_ceil(16), |l, i| {
            let a = l.offset_addr(dst, i, 16);
            l.b.ins().store(scratch_flags(), v, a, 0);
            Ok(())
        })
    }

    /// `[0, 1, .., n-1]` as `i32`, four lanes per chunk.
    pub(crate) fn arange(&mut self, n: u32, r: ValueId) -> Result<(), CodegenError> {
        let dst = self.slot_addr(r)?;
        let mut bytes = Vec::with_capacity(16);
        for i in 0..4u32 {
            bytes.extend_from_slice(&i.to_le_bytes());
        }
        let c = self.b.func.dfg.constants.insert(ConstantData::from(bytes));
        let base = self.b.ins().vconst(types::I32X4, c);
        self.counted_loop((n as usize).div_ceil(4), |l, i| {
            let i32_ = l.b.ins().ireduce(types::I32, i);
            let start = l.b.ins().imul_imm(i32_, 4);
            let s = l.b.ins().splat(types::I32X4, start);
            let v = l.b.ins().iadd(base, s);
            let a = l.offset_addr(dst, i, 16);
            l.b.ins().store(scratch_flags(), v, a, 0);
            Ok(())
        })
    }

    /// Repeats the extents of 1 of `x` to `r`'s shape: one row (last axis) at a time, copied
    /// in chunks, or splatted when the last axis is the broadcast one.
    pub(crate) fn broadcast(&mut self, x: ValueId, r: ValueId) -> Result<(), CodegenError> {
        let (src, dst) = (self.shape(x), self.shape(r));
        if src.len() != dst.len() || src.is_empty() {
            return Err(self.unsupported("broadcast between ranks"));
        }
        if self.slots.offset(x) == self.slots.offset(r) {
            return Ok(());
        }
        let bytes = elem_bytes(self.elem(r));
        let last = dst.len() - 1;
        let n = dst[last] as usize;
        let rows = self.numel(r) / n.max(1);
        // Source strides in elements, 0 along broadcast axes.
        let mut strides = vec![0usize; src.len()];
        let mut acc = 1usize;
        for d in (0..src.len()).rev() {
            strides[d] = if src[d] == 1 { 0 } else { acc };
            acc *= src[d] as usize;
        }
        let (ps, pd) = (self.slot_addr(x)?, self.slot_addr(r)?);
        let row_bytes = n * bytes;
        let splat_last = src[last] == 1 && n > 1;
        self.counted_loop(rows, |l, row| {
            // Source element offset of this row: sum over the outer axes of index * stride.
            let mut off = l.b.ins().iconst(types::I64, 0);
            let mut inner = 1usize;
            for d in (0..last).rev() {
                let ext = dst[d] as usize;
                if strides[d] != 0 {
                    let sh = l.b.ins().ushr_imm(row, inner.trailing_zeros() as i64);
                    let idx = l.b.ins().band_imm(sh, (ext - 1) as i64);
                    let t = l.b.ins().imul_imm(idx, strides[d] as i64);
                    off = l.b.ins().iadd(off, t);
                }
                inner *= ext;
            }
            let s = l.offset_addr(ps, off, bytes);
            let d = l.offset_addr(pd, row, row_bytes);
            if splat_last {
                let e = l.b.ins().load(super::int_ty(bytes), scratch_flags(), s, 0);
                let v = l.b.ins().splat(vec_ty(bytes), e);
                l.counted_loop(row_bytes.div_ceil(16), |l, c| {
                    let a = l.offset_addr(d, c, 16);
                    l.b.ins().store(scratch_flags(), v, a, 0);
                    Ok(())
                })
            } else {
                l.copy_bytes(d, s, row_bytes)
            }
        })
    }
}
