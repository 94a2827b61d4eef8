//! Reductions along one axis, viewing the tile as `[outer, n, inner]`.
//!
//! When `inner` holds whole chunks (a reduction along a non-last axis), whole chunks are
//! combined across `k` (vectorized, in `k` order). Integer reductions along the last axis
//! combine the chunks of a row, then their lanes. Otherwise (floats along the last axis, or a
//! narrow inner extent) each output element is folded sequentially from `k = 0`, one element
//! at a time, so float sums round exactly as the interpreter's (f16/bf16 tiles are first
//! widened to an `f32` temporary with vector conversions).

use super::{class, lanes, scratch_flags, Class, Lowerer};
use crate::cranelift::arena_slots::elem_bytes;
use crate::cranelift::CodegenError;
use bitmat_ir::{BinaryOp, DType, ElemType, ReduceOp, ValueId};
use cranelift_codegen::ir::{types, InstBuilder, Value};

impl Lowerer<'_, '_> {
    /// Loads one element at `addr` splatted to its compute vector type.
    fn load_splat(&mut self, elem: ElemType, addr: Value) -> Value {
        match class(elem) {
            Class::Float(d) => {
                let x = self.load_f32(d, addr, 0);
                self.b.ins().splat(types::F32X4, x)
            }
            _ => {
                let bytes = elem_bytes(elem);
                let x = self
                    .b
                    .ins()
                    .load(super::int_ty(bytes), scratch_flags(), addr, 0);
                self.b.ins().splat(super::vec_ty(bytes), x)
            }
        }
    }

    /// Stores lane 0 of the compute vector `v` as one element at `addr`.
    fn store_lane0(&mut self, elem: ElemType, addr: Value, v: Value) {
        let x = self.b.ins().extractlane(v, 0);
        match class(elem) {
            Class::Float(d) => self.store_f32(d, x, addr, 0),
            _ => {
                self.b.ins().store(scratch_flags(), x, addr, 0);
            }
        }
    }

    /// `reduce(op, x, axis)`.
    pub(crate) fn reduce(
        &mut self,
        op: ReduceOp,
        x: ValueId,
        axis: u32,
        r: ValueId,
    ) -> Result<(), CodegenError> {
        let shape = self.shape(x);
        let axis = axis as usize;
        if axis >= shape.len() {
            return Err(self.unsupported("reduction axis out of range"));
        }
        let outer: usize = shape[..axis].iter().map(|&d| d as usize).product();
        let n = shape[axis] as usize;
        let inner: usize = shape[axis + 1..].iter().map(|&d| d as usize).product();
        let elem = self.elem(x);
        let c = class(elem);
        let bop = match op {
            ReduceOp::Sum if c == Class::Bool => return Err(self.unsupported("reduce_sum on bool")),
            ReduceOp::Sum => BinaryOp::Add,
            ReduceOp::Max => BinaryOp::Max,
            ReduceOp::Min => BinaryOp::Min,
            ReduceOp::Xor if !matches!(c, Class::Int { .. }) => {
                return Err(self.unsupported("reduce_xor on a non-integer tile"))
            }
            ReduceOp::Xor => BinaryOp::Xor,
        };
        let bytes = elem_bytes(elem);
        let (ps, pd) = (self.slot_addr(x)?, self.slot_addr(r)?);
        let l_ = lanes(elem);
        if inner % l_ == 0 {
            let chunks = inner / l_;
            return self.counted_loop(outer * chunks, |l, oc| {
                let o = l.b.ins().udiv_imm(oc, chunks as i64);
                let ch = l.b.ins().urem_imm(oc, chunks as i64);
                // Element index of (o, 0, ch * lanes).
                let base = l.b.ins().imul_imm(o, (n * inner) as i64);
                let col = l.b.ins().imul_imm(ch, l_ as i64);
                let first = l.b.ins().iadd(base, col);
                let a0 = l.offset_addr(ps, first, bytes);
                let acc = l.load_chunk(elem, a0);
                let out = l.counted_loop_carry(n - 1, vec![acc], |l, k, s| {
                    let k1 = l.b.ins().iadd_imm(k, 1);
                    let row = l.b.ins().imul_imm(k1, inner as i64);
                    let idx = l.b.ins().iadd(first, row);
                    let a = l.offset_addr(ps, idx, bytes);
                    let v = l.load_chunk(elem, a);
                    Ok(vec![l.vec_binary(c, bop, s[0], v)?])
                })?;
                let oi = l.b.ins().imul_imm(o, inner as i64);
                let oidx = l.b.ins().iadd(oi, col);
                let ad = l.offset_addr(pd, oidx, bytes);
                l.store_chunk(elem, ad, out[0]);
                Ok(())
            });
        }
        if inner == 1 && n % l_ == 0 && !matches!(c, Class::Float(_)) {
            // Integers along the last axis: combine whole chunks of the row, then the lanes
            // (integer sums, min and max do not depend on the order).
            let chunks = n / l_;
            return self.counted_loop(outer, |l, o| {
                let first = l.b.ins().imul_imm(o, n as i64);
                let a0 = l.offset_addr(ps, first, bytes);
                let acc = l.load_chunk(elem, a0);
                let out = l.counted_loop_carry(chunks - 1, vec![acc], |l, ch, s| {
                    let ch1 = l.b.ins().iadd_imm(ch, 1);
                    let a = l.offset_addr(a0, ch1, 16);
                    let v = l.load_chunk(elem, a);
                    Ok(vec![l.vec_binary(c, bop, s[0], v)?])
                })?;
                let ty = l.b.func.dfg.value_type(out[0]);
                let mut acc = out[0];
                for lane in 1..ty.lane_count() as u8 {
                    let x = l.b.ins().extractlane(out[0], lane);
                    let x = l.b.ins().splat(ty, x);
                    acc = l.vec_binary(c, bop, acc, x)?;
                }
                let ad = l.offset_addr(pd, o, bytes);
                l.store_lane0(elem, ad, acc);
                Ok(())
            });
        }
        // f16/bf16 sources are widened to an f32 temporary first (vectorized).
        let (ps, src_elem, src_bytes) = match c {
            Class::Float(DType::F16 | DType::BF16) => {
                (self.widened_f32(x)?, ElemType::Val(DType::F32), 4)
            }
            _ => (ps, elem, bytes),
        };
        self.counted_loop(outer * inner, |l, oi| {
            let o = l.b.ins().udiv_imm(oi, inner as i64);
            let i = l.b.ins().urem_imm(oi, inner as i64);
            let base = l.b.ins().imul_imm(o, (n * inner) as i64);
            let first = l.b.ins().iadd(base, i);
            let a0 = l.offset_addr(ps, first, src_bytes);
            let acc = l.load_splat(src_elem, a0);
            let out = l.counted_loop_carry(n - 1, vec![acc], |l, k, s| {
                let k1 = l.b.ins().iadd_imm(k, 1);
                let row = l.b.ins().imul_imm(k1, inner as i64);
                let idx = l.b.ins().iadd(first, row);
                let a = l.offset_addr(ps, idx, src_bytes);
                let v = l.load_splat(src_elem, a);
                Ok(vec![l.vec_binary(c, bop, s[0], v)?])
            })?;
            let ad = l.offset_addr(pd, oi, bytes);
            l.store_lane0(elem, ad, out[0]);
            Ok(())
        })
    }
}
