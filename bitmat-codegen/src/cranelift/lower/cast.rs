//! `cast`: Rust `as` semantics.
//!
//! Casts among `bool`, 8/16/32-bit integers and `f32` are vectorized four lanes at a time:
//! the source is sign- or zero-extended to `I32X4` (or loaded as `F32X4`), converted with
//! `fcvt_from_*` / `fcvt_to_*_sat` (which saturate and map NaN to 0, as Rust), and truncated
//! to narrower integers by masking and `unarrow`. Casts from or to 64-bit integers and
//! f16/bf16/fp8 are a scalar element loop (f16/bf16/fp8 call [`bitmat_ir::Scalar::cast`]).

use super::elementwise::{little, storage_ty};
use super::{scratch_flags, Lowerer};
use crate::cpu::helpers::{dtype_index, HelperId};
use crate::cranelift::arena_slots::elem_bytes;
use crate::cranelift::CodegenError;
use bitmat_ir::{DType, ValueId};
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{types, InstBuilder, MemFlags, Value};

impl Lowerer<'_, '_> {
    /// `x as T` for every element, `T` the element type of `r`.
    pub(crate) fn cast(&mut self, x: ValueId, r: ValueId) -> Result<(), CodegenError> {
        let (from, to) = (self.dtype(x)?, self.dtype(r)?);
        if from == to {
            return self.copy_value(r, x);
        }
        if vectorizable(from) && vectorizable(to) {
            return self.cast_vector(x, r, from, to);
        }
        let (fb, tb) = (elem_bytes(self.elem(x)), elem_bytes(self.elem(r)));
        let (fty, _) = (storage_ty(self.elem(x)), storage_ty(self.elem(r)));
        let (ps, pd) = (self.slot_addr(x)?, self.slot_addr(r)?);
        self.counted_loop(self.numel(r), |l, i| {
            let s = l.offset_addr(ps, i, fb);
            let v = l.b.ins().load(fty, scratch_flags(), s, 0);
            let c = l.cast_scalar(from, to, v);
            let d = l.offset_addr(pd, i, tb);
            l.b.ins().store(scratch_flags(), c, d, 0);
            Ok(())
        })
    }

    /// The vector path of [`Self::cast`]: four lanes per chunk.
    fn cast_vector(
        &mut self,
        x: ValueId,
        r: ValueId,
        from: DType,
        to: DType,
    ) -> Result<(), CodegenError> {
        let (fb, tb) = (from.size_bytes(), to.size_bytes());
        let (ps, pd) = (self.slot_addr(x)?, self.slot_addr(r)?);
        let f = scratch_flags();
        let signed = from.is_signed_int();
        self.counted_loop(self.numel(r).div_ceil(4), |l, i| {
            let s = l.offset_addr(ps, i, 4 * fb);
            let d = l.offset_addr(pd, i, 4 * tb);
            // The source as I32X4 (extended) or F32X4.
            let v = match (from, fb) {
                (DType::F32, _) => l.b.ins().load(types::F32X4, f, s, 0),
                (_, 1) => {
                    let h = if signed {
                        l.b.ins().sload8x8(f, s, 0)
                    } else {
                        l.b.ins().uload8x8(f, s, 0)
                    };
                    if signed {
                        l.b.ins().swiden_low(h)
                    } else {
                        l.b.ins().uwiden_low(h)
                    }
                }
                (_, 2) => {
                    if signed {
                        l.b.ins().sload16x4(f, s, 0)
                    } else {
                        l.b.ins().uload16x4(f, s, 0)
                    }
                }
                _ => l.b.ins().load(types::I32X4, f, s, 0),
            };
            if to == DType::Bool {
                let m = if from == DType::F32 {
                    let z = l.splat_const(types::F32X4, 0);
                    l.b.ins().fcmp(FloatCC::NotEqual, v, z)
                } else {
                    let z = l.splat_const(types::I32X4, 0);
                    l.b.ins().icmp(IntCC::NotEqual, v, z)
                };
                l.store_mask(m, d);
                return Ok(());
            }
            if to == DType::F32 {
                let c = if from == DType::U32 {
                    l.b.ins().fcvt_from_uint(types::F32X4, v)
                } else {
                    l.b.ins().fcvt_from_sint(types::F32X4, v)
                };
                l.b.ins().store(f, c, d, 0);
                return Ok(());
            }
            // Integer target: the value as I32X4 (saturated and clamped from floats).
            let w = if from == DType::F32 {
                if to.is_signed_int() {
                    let w = l.b.ins().fcvt_to_sint_sat(types::I32X4, v);
                    if tb < 4 {
                        let (lo, hi) = if tb == 1 {
                            (i64::from(i8::MIN), i64::from(i8::MAX))
                        } else {
                            (i64::from(i16::MIN), i64::from(i16::MAX))
                        };
                        let lo = l.splat_const(types::I32X4, lo);
                        let hi = l.splat_const(types::I32X4, hi);
                        let w = l.b.ins().smax(w, lo);
                        l.b.ins().smin(w, hi)
                    } else {
                        w
                    }
                } else {
                    let w = l.b.ins().fcvt_to_uint_sat(types::I32X4, v);
                    if tb < 4 {
                        let hi = l.splat_const(types::I32X4, if tb == 1 { 0xff } else { 0xffff });
                        l.b.ins().umin(w, hi)
                    } else {
                        w
                    }
                }
            } else {
                v
            };
            match tb {
                4 => {
                    l.b.ins().store(f, w, d, 0);
                }
                2 => {
                    let m = l.splat_const(types::I32X4, 0xffff);
                    let t = l.b.ins().band(w, m);
                    let n = l.b.ins().unarrow(t, t);
                    let n = l.b.ins().bitcast(types::I64X2, little(), n);
                    let lo = l.b.ins().extractlane(n, 0);
                    l.b.ins().store(f, lo, d, 0);
                }
                _ => {
                    let m = l.splat_const(types::I32X4, 0xff);
                    let t = l.b.ins().band(w, m);
                    let n = l.b.ins().unarrow(t, t);
                    let n = l.b.ins().unarrow(n, n);
                    let n = l.b.ins().bitcast(types::I32X4, little(), n);
                    let lo = l.b.ins().extractlane(n, 0);
                    l.b.ins().store(f, lo, d, 0);
                }
            }
            Ok(())
        })
    }

    /// Converts `v` (the storage bits of a `from`) to the storage bits of a `to`.
    pub(crate) fn cast_scalar(&mut self, from: DType, to: DType, v: Value) -> Value {
        let to_ty = storage_ty(bitmat_ir::ElemType::Val(to));
        let half = |d: DType| matches!(d, DType::F16 | DType::BF16) || d.is_fp8();
        if from == to {
            return v;
        }
        if half(from) || half(to) {
            let bits = if from.bits() == 64 {
                v
            } else {
                self.b.ins().uextend(types::I64, v)
            };
            let f = self
                .b
                .ins()
                .iconst(types::I32, i64::from(dtype_index(from)));
            let t = self.b.ins().iconst(types::I32, i64::from(dtype_index(to)));
            let r = self.call(HelperId::Cast, &[bits, f, t])[0];
            return self.narrow(r, to.size_bytes());
        }
        if to == DType::Bool {
            let b = if from == DType::F32 {
                let f = self.b.ins().bitcast(types::F32, MemFlags::new(), v);
                let z = self.b.ins().f32const(0.0);
                self.b.ins().fcmp(FloatCC::NotEqual, f, z)
            } else {
                self.b.ins().icmp_imm(IntCC::NotEqual, v, 0)
            };
            return b;
        }
        if from == DType::F32 {
            let f = self.b.ins().bitcast(types::F32, MemFlags::new(), v);
            return match to {
                DType::I64 => self.b.ins().fcvt_to_sint_sat(types::I64, f),
                DType::U64 => self.b.ins().fcvt_to_uint_sat(types::I64, f),
                DType::I32 => self.b.ins().fcvt_to_sint_sat(types::I32, f),
                DType::U32 => self.b.ins().fcvt_to_uint_sat(types::I32, f),
                DType::I8 | DType::I16 => {
                    let s = self.b.ins().fcvt_to_sint_sat(types::I32, f);
                    let (lo, hi) = if to == DType::I8 {
                        (i64::from(i8::MIN), i64::from(i8::MAX))
                    } else {
                        (i64::from(i16::MIN), i64::from(i16::MAX))
                    };
                    let lo = self.b.ins().iconst(types::I32, lo);
                    let hi = self.b.ins().iconst(types::I32, hi);
                    let s = self.b.ins().smax(s, lo);
                    let s = self.b.ins().smin(s, hi);
                    self.b.ins().ireduce(to_ty, s)
                }
                _ => {
                    // u8, u16
                    let s = self.b.ins().fcvt_to_uint_sat(types::I32, f);
                    let hi = if to == DType::U8 { 0xff } else { 0xffff };
                    let hi = self.b.ins().iconst(types::I32, hi);
                    let s = self.b.ins().umin(s, hi);
                    self.b.ins().ireduce(to_ty, s)
                }
            };
        }
        // Integer or bool source.
        let signed = from.is_signed_int();
        if to == DType::F32 {
            let f = if from == DType::U64 {
                self.b.ins().fcvt_from_uint(types::F32, v)
            } else {
                let w = self.extend(v, from, types::I64, signed);
                self.b.ins().fcvt_from_sint(types::F32, w)
            };
            return self.b.ins().bitcast(types::I32, MemFlags::new(), f);
        }
        let (fb, tb) = (from.size_bytes(), to.size_bytes());
        if tb > fb {
            self.extend(v, from, to_ty, signed)
        } else if tb < fb {
            self.b.ins().ireduce(to_ty, v)
        } else {
            v
        }
    }

    fn extend(
        &mut self,
        v: Value,
        from: DType,
        ty: cranelift_codegen::ir::Type,
        signed: bool,
    ) -> Value {
        if from.size_bytes() * 8 >= ty.bits() as usize {
            v
        } else if signed {
            self.b.ins().sextend(ty, v)
        } else {
            self.b.ins().uextend(ty, v)
        }
    }
}

/// True for the types the vector cast path handles: `bool`, 8/16/32-bit integers, `f32`.
fn vectorizable(d: DType) -> bool {
    !matches!(d, DType::I64 | DType::U64 | DType::F16 | DType::BF16) && !d.is_fp8()
}
