//! Global memory: `addptr`, `load`, `store`, the atomics.
//!
//! When the contiguity analysis proves a pointer tile contiguous along its last axis in runs
//! of at least one 16-byte chunk, loads and stores move whole chunks: a chunk whose mask is
//! all true is one vector access, one whose mask is all false reads `other` (or nothing for a
//! store), and a mixed chunk falls back to its lanes. Other pointer tiles are gathered and
//! scattered lane by lane. Masked-off lanes never touch memory. The atomics are per lane:
//! Cranelift's atomic RMW and CAS for integers (and float bits), a compare-and-swap loop in a
//! helper for float add, max and min.

use super::elementwise::storage_ty;
use super::{global_flags, scratch_flags, vec_ty, Lowerer};
use crate::cpu::helpers::{dtype_index, HelperId};
use crate::cranelift::arena_slots::elem_bytes;
use crate::cranelift::CodegenError;
use bitmat_ir::{AtomicOp, DType, ElemType, ValueId};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, AtomicRmwOp, InstBuilder, Value};

/// `0x0101..01` over `n` bytes.
fn ones(n: usize) -> i64 {
    let mut v = 0u64;
    for _ in 0..n {
        v = (v << 8) | 1;
    }
    v as i64
}

impl Lowerer<'_, '_> {
    /// `ptr + offset * sizeof(pointee)`, two lanes per chunk.
    pub(crate) fn add_ptr(
        &mut self,
        ptr: ValueId,
        offset: ValueId,
        r: ValueId,
    ) -> Result<(), CodegenError> {
        let size = match self.elem(ptr) {
            ElemType::Ptr(d) => d.size_bytes(),
            ElemType::Val(_) => return Err(self.unsupported("addptr on a value tile")),
        };
        let od = self.dtype(offset)?;
        if !od.is_int() {
            return Err(self.unsupported("pointer offsets must be integers"));
        }
        let ob = od.size_bytes();
        let (pp, po, pd) = (
            self.slot_addr(ptr)?,
            self.slot_addr(offset)?,
            self.slot_addr(r)?,
        );
        let f = scratch_flags();
        self.counted_loop(self.numel(r).div_ceil(2), |l, i| {
            let ap = l.offset_addr(pp, i, 16);
            let p = l.b.ins().load(types::I64X2, f, ap, 0);
            let ao = l.offset_addr(po, i, 2 * ob);
            let o = match od {
                DType::I32 => l.b.ins().sload32x2(f, ao, 0),
                DType::U32 => l.b.ins().uload32x2(f, ao, 0),
                DType::I64 | DType::U64 => l.b.ins().load(types::I64X2, f, ao, 0),
                _ => {
                    let mut v = p;
                    for lane in 0..2u8 {
                        let off = i32::from(lane) * ob as i32;
                        let x = match (ob, od.is_signed_int()) {
                            (1, true) => l.b.ins().sload8(types::I64, f, ao, off),
                            (1, false) => l.b.ins().uload8(types::I64, f, ao, off),
                            (_, true) => l.b.ins().sload16(types::I64, f, ao, off),
                            (_, false) => l.b.ins().uload16(types::I64, f, ao, off),
                        };
                        v = l.b.ins().insertlane(v, x, lane);
                    }
                    v
                }
            };
            let o = if size > 1 {
                l.b.ins().ishl_imm(o, size.trailing_zeros() as i64)
            } else {
                o
            };
            let v = l.b.ins().iadd(p, o);
            let ad = l.offset_addr(pd, i, 16);
            l.b.ins().store(f, v, ad, 0);
            Ok(())
        })
    }

    /// Lanes per vector chunk for a contiguous access of `ptr`, if it is one.
    fn vector_lanes(&self, ptr: ValueId, bytes: usize) -> Option<usize> {
        let ty = self.kernel.ty(ptr);
        let n = 16 / bytes;
        let contig = self.info.get(ptr.index())?.last_contiguity() as usize;
        (ty.rank() >= 1 && contig >= n && ty.numel() % n == 0).then_some(n)
    }

    /// Branches three ways on the `n` mask bytes at `m`: all true, all false, mixed.
    /// Returns the three blocks and the join block; the current block is terminated.
    fn mask_switch(&mut self, m: Value, n: usize) -> [cranelift_codegen::ir::Block; 4] {
        let f = scratch_flags();
        let (all, none) = if n == 16 {
            let lo = self.b.ins().load(types::I64, f, m, 0);
            let hi = self.b.ins().load(types::I64, f, m, 8);
            let and = self.b.ins().band(lo, hi);
            let or = self.b.ins().bor(lo, hi);
            (
                self.b.ins().icmp_imm(IntCC::Equal, and, ones(8)),
                self.b.ins().icmp_imm(IntCC::Equal, or, 0),
            )
        } else {
            let x = self.b.ins().load(super::int_ty(n), f, m, 0);
            (
                self.b.ins().icmp_imm(IntCC::Equal, x, ones(n)),
                self.b.ins().icmp_imm(IntCC::Equal, x, 0),
            )
        };
        let blocks = [
            self.b.create_block(),
            self.b.create_block(),
            self.b.create_block(),
            self.b.create_block(),
        ];
        let not_all = self.b.create_block();
        self.b.ins().brif(all, blocks[0], &[], not_all, &[]);
        self.b.switch_to_block(not_all);
        self.b.ins().brif(none, blocks[1], &[], blocks[2], &[]);
        blocks
    }

    /// Loads lane `lane` (an `i64` index) of a gather, honouring the mask.
    #[allow(clippy::too_many_arguments)]
    fn load_lane(
        &mut self,
        lane: Value,
        pp: Value,
        pm: Option<Value>,
        po: Option<Value>,
        pd: Value,
        bytes: usize,
    ) {
        let ty = super::int_ty(bytes);
        let f = scratch_flags();
        let ap = self.offset_addr(pp, lane, 8);
        let ad = self.offset_addr(pd, lane, bytes);
        match pm {
            None => {
                let p = self.b.ins().load(types::I64, f, ap, 0);
                let v = self.b.ins().load(ty, global_flags(), p, 0);
                self.b.ins().store(f, v, ad, 0);
            }
            Some(pm) => {
                let am = self.offset_addr(pm, lane, 1);
                let m = self.b.ins().uload8(types::I32, f, am, 0);
                let (on, off, join) = (
                    self.b.create_block(),
                    self.b.create_block(),
                    self.b.create_block(),
                );
                self.b.append_block_param(join, ty);
                self.b.ins().brif(m, on, &[], off, &[]);
                self.b.switch_to_block(on);
                let p = self.b.ins().load(types::I64, f, ap, 0);
                let v = self.b.ins().load(ty, global_flags(), p, 0);
                self.b.ins().jump(join, &[v]);
                self.b.switch_to_block(off);
                let v = match po {
                    Some(po) => {
                        let ao = self.offset_addr(po, lane, bytes);
                        self.b.ins().load(ty, f, ao, 0)
                    }
                    None => self.b.ins().iconst(ty, 0),
                };
                self.b.ins().jump(join, &[v]);
                self.b.switch_to_block(join);
                let v = self.b.block_params(join)[0];
                self.b.ins().store(f, v, ad, 0);
            }
        }
    }

    /// `load(ptr, mask, other)`.
    pub(crate) fn load(
        &mut self,
        ptr: ValueId,
        mask: Option<ValueId>,
        other: Option<ValueId>,
        r: ValueId,
    ) -> Result<(), CodegenError> {
        let bytes = elem_bytes(self.elem(r));
        let pp = self.slot_addr(ptr)?;
        let pm = mask.map(|m| self.slot_addr(m)).transpose()?;
        let po = other.map(|o| self.slot_addr(o)).transpose()?;
        let pd = self.slot_addr(r)?;
        let numel = self.numel(r);
        let Some(n) = self.vector_lanes(ptr, bytes) else {
            return self.counted_loop(numel, |l, lane| {
                l.load_lane(lane, pp, pm, po, pd, bytes);
                Ok(())
            });
        };
        let vty = vec_ty(bytes);
        let f = scratch_flags();
        self.counted_loop(numel / n, |l, c| {
            let ap = l.offset_addr(pp, c, 8 * n);
            let ad = l.offset_addr(pd, c, 16);
            let Some(pm) = pm else {
                let p = l.b.ins().load(types::I64, f, ap, 0);
                let v = l.b.ins().load(vty, global_flags(), p, 0);
                l.b.ins().store(f, v, ad, 0);
                return Ok(());
            };
            let am = l.offset_addr(pm, c, n);
            let [all, none, mixed, join] = l.mask_switch(am, n);
            l.b.switch_to_block(all);
            let p = l.b.ins().load(types::I64, f, ap, 0);
            let v = l.b.ins().load(vty, global_flags(), p, 0);
            l.b.ins().store(f, v, ad, 0);
            l.b.ins().jump(join, &[]);
            l.b.switch_to_block(none);
            let v = match po {
                Some(po) => {
                    let ao = l.offset_addr(po, c, 16);
                    l.b.ins().load(vty, f, ao, 0)
                }
                None => l.splat_const(vty, 0),
            };
            l.b.ins().store(f, v, ad, 0);
            l.b.ins().jump(join, &[]);
            l.b.switch_to_block(mixed);
            let first = l.b.ins().imul_imm(c, n as i64);
            l.counted_loop(n, |l, k| {
                let lane = l.b.ins().iadd(first, k);
                l.load_lane(lane, pp, Some(pm), po, pd, bytes);
                Ok(())
            })?;
            l.b.ins().jump(join, &[]);
            l.b.switch_to_block(join);
            Ok(())
        })
    }

    /// Stores lane `lane` of a scatter, honouring the mask.
    fn store_lane(&mut self, lane: Value, pp: Value, pm: Option<Value>, pv: Value, bytes: usize) {
        let ty = super::int_ty(bytes);
        let f = scratch_flags();
        let ap = self.offset_addr(pp, lane, 8);
        let av = self.offset_addr(pv, lane, bytes);
        let join = pm.map(|pm| {
            let am = self.offset_addr(pm, lane, 1);
            let m = self.b.ins().uload8(types::I32, f, am, 0);
            let (on, join) = (self.b.create_block(), self.b.create_block());
            self.b.ins().brif(m, on, &[], join, &[]);
            self.b.switch_to_block(on);
            join
        });
        let p = self.b.ins().load(types::I64, f, ap, 0);
        let v = self.b.ins().load(ty, f, av, 0);
        self.b.ins().store(global_flags(), v, p, 0);
        if let Some(join) = join {
            self.b.ins().jump(join, &[]);
            self.b.switch_to_block(join);
        }
    }

    /// `store(ptr, value, mask)`.
    pub(crate) fn store(
        &mut self,
        ptr: ValueId,
        value: ValueId,
        mask: Option<ValueId>,
    ) -> Result<(), CodegenError> {
        let bytes = elem_bytes(self.elem(value));
        let pp = self.slot_addr(ptr)?;
        let pm = mask.map(|m| self.slot_addr(m)).transpose()?;
        let pv = self.slot_addr(value)?;
        let numel = self.numel(value);
        let Some(n) = self.vector_lanes(ptr, bytes) else {
            return self.counted_loop(numel, |l, lane| {
                l.store_lane(lane, pp, pm, pv, bytes);
                Ok(())
            });
        };
        let vty = vec_ty(bytes);
        let f = scratch_flags();
        self.counted_loop(numel / n, |l, c| {
            let ap = l.offset_addr(pp, c, 8 * n);
            let av = l.offset_addr(pv, c, 16);
            let Some(pm) = pm else {
                let p = l.b.ins().load(types::I64, f, ap, 0);
                let v = l.b.ins().load(vty, f, av, 0);
                l.b.ins().store(global_flags(), v, p, 0);
                return Ok(());
            };
            let am = l.offset_addr(pm, c, n);
            let [all, none, mixed, join] = l.mask_switch(am, n);
            l.b.switch_to_block(all);
            let p = l.b.ins().load(types::I64, f, ap, 0);
            let v = l.b.ins().load(vty, f, av, 0);
            l.b.ins().store(global_flags(), v, p, 0);
            l.b.ins().jump(join, &[]);
            l.b.switch_to_block(none);
            l.b.ins().jump(join, &[]);
            l.b.switch_to_block(mixed);
            let first = l.b.ins().imul_imm(c, n as i64);
            l.counted_loop(n, |l, k| {
                let lane = l.b.ins().iadd(first, k);
                l.store_lane(lane, pp, Some(pm), pv, bytes);
                Ok(())
            })?;
            l.b.ins().jump(join, &[]);
            l.b.switch_to_block(join);
            Ok(())
        })
    }

    /// `atomic_<op>(ptr, value, mask)` and `atomic_cas(ptr, cmp, value)` (`cmp` given): per
    /// lane in order, returning the old values (0 where masked). Integers use Cranelift's
    /// atomic RMW and CAS; floats are handled as their bits for the exchange and the CAS, and
    /// by compare-and-swap loops in helpers for add, max and min.
    pub(crate) fn atomic(
        &mut self,
        op: Option<AtomicOp>,
        ptr: ValueId,
        cmp: Option<ValueId>,
        value: ValueId,
        mask: Option<ValueId>,
        r: ValueId,
    ) -> Result<(), CodegenError> {
        let d = self.dtype(value)?;
        if d == DType::Bool {
            return Err(self.unsupported("atomics on bool"));
        }
        let bytes = d.size_bytes();
        let ty = storage_ty(self.elem(value));
        let pp = self.slot_addr(ptr)?;
        let pm = mask.map(|m| self.slot_addr(m)).transpose()?;
        let pv = self.slot_addr(value)?;
        let pc = cmp.map(|c| self.slot_addr(c)).transpose()?;
        let pd = self.slot_addr(r)?;
        let f = scratch_flags();
        let signed = d.is_signed_int();
        self.counted_loop(self.numel(r), |l, lane| {
            let ad = l.offset_addr(pd, lane, bytes);
            let (on, join) = (l.b.create_block(), l.b.create_block());
            if let Some(pm) = pm {
                let am = l.offset_addr(pm, lane, 1);
                let m = l.b.ins().uload8(types::I32, f, am, 0);
                let zero = l.b.ins().iconst(ty, 0);
                l.b.ins().store(f, zero, ad, 0);
                l.b.ins().brif(m, on, &[], join, &[]);
            } else {
                l.b.ins().jump(on, &[]);
            }
            l.b.switch_to_block(on);
            let ap = l.offset_addr(pp, lane, 8);
            let p = l.b.ins().load(types::I64, f, ap, 0);
            let av = l.offset_addr(pv, lane, bytes);
            let v = l.b.ins().load(ty, f, av, 0);
            let rmw =
                |op: AtomicRmwOp, l: &mut Self| l.b.ins().atomic_rmw(ty, global_flags(), op, p, v);
            let old = match (op, pc) {
                (_, Some(pc)) => {
                    let ac = l.offset_addr(pc, lane, bytes);
                    let c = l.b.ins().load(ty, f, ac, 0);
                    l.b.ins().atomic_cas(global_flags(), p, c, v)
                }
                (Some(AtomicOp::Add), None) if d.is_float() => {
                    let bits = l.b.ins().uextend(types::I64, v);
                    let di = l.b.ins().iconst(types::I32, i64::from(dtype_index(d)));
                    let o = l.call(HelperId::AtomicAddFloat, &[p, bits, di])[0];
                    l.narrow(o, bytes)
                }
                (Some(op @ (AtomicOp::Max | AtomicOp::Min)), None) if d.is_float() => {
                    let max = l.b.ins().iconst(types::I32, i64::from(op == AtomicOp::Max));
                    l.call(HelperId::AtomicMinMaxF32, &[p, v, max])[0]
                }
                (Some(op), None) => {
                    let op = match op {
                        AtomicOp::Add => AtomicRmwOp::Add,
                        AtomicOp::Max if signed => AtomicRmwOp::Smax,
                        AtomicOp::Max => AtomicRmwOp::Umax,
                        AtomicOp::Min if signed => AtomicRmwOp::Smin,
                        AtomicOp::Min => AtomicRmwOp::Umin,
                        AtomicOp::And => AtomicRmwOp::And,
                        AtomicOp::Or => AtomicRmwOp::Or,
                        AtomicOp::Xor => AtomicRmwOp::Xor,
                        AtomicOp::Xchg => AtomicRmwOp::Xchg,
                    };
                    rmw(op, l)
                }
                (None, None) => unreachable!("an atomic has an op or a compared value"),
            };
            l.b.ins().store(f, old, ad, 0);
            l.b.ins().jump(join, &[]);
            l.b.switch_to_block(join);
            Ok(())
        })
    }
}
