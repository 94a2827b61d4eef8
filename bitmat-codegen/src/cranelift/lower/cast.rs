//! `cast`: Rust `as` semantics, one element at a time (scalar fallback). Integer and `f32`
//! conversions use Cranelift's instructions (`fcvt_to_*_sat` saturates and maps NaN to 0, as
//! Rust); conversions from or to f16/bf16 call [`bitmat_ir::Scalar::cast`].

use super::elementwise::storage_ty;
use super::{scratch_flags, Lowerer};
use crate::cranelift::helpers::{dtype_index, HelperId};
use crate::cranelift::scratch::elem_bytes;
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

    /// Converts `v` (the storage bits of a `from`) to the storage bits of a `to`.
    pub(crate) fn cast_scalar(&mut self, from: DType, to: DType, v: Value) -> Value {
        let to_ty = storage_ty(bitmat_ir::ElemType::Val(to));
        let half = |d: DType| matches!(d, DType::F16 | DType::BF16);
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
