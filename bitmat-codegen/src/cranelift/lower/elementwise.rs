//! Elementwise ops: unary, binary, comparisons, select. Each loops over 128-bit chunks of
//! its result; the per-chunk computation is a vector instruction where Cranelift has one and
//! a lane-by-lane sequence otherwise (see the module docs of [`super`]).

use super::{class, int_ty, lanes, scratch_flags, vec_ty, Class, Lowerer};
use crate::cpu::helpers::HelperId;
use crate::cranelift::arena_slots::elem_bytes;
use crate::cranelift::CodegenError;
use bitmat_ir::{BinaryOp, CmpPred, ElemType, UnaryOp, ValueId};
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{types, InstBuilder, MemFlags, Type, Value};

impl Lowerer<'_, '_> {
    /// Splat of the scalar constant `bits` to the vector type `ty`.
    pub(crate) fn splat_const(&mut self, ty: Type, bits: i64) -> Value {
        let lane = ty.lane_type();
        let s = if lane == types::F32 {
            self.b.ins().f32const(f32::from_bits(bits as u32))
        } else {
            self.b.ins().iconst(lane, bits)
        };
        self.b.ins().splat(ty, s)
    }

    /// `mask ? x : y` lane by lane, where `mask` is an integer vector of `x`'s lane layout.
    pub(crate) fn mask_select(&mut self, mask: Value, x: Value, y: Value) -> Value {
        let ty = self.b.func.dfg.value_type(x);
        let m = if self.b.func.dfg.value_type(mask) == ty {
            mask
        } else {
            self.b.ins().bitcast(ty, MemFlags::new(), mask)
        };
        self.b.ins().bitselect(m, x, y)
    }

    /// Applies `f` to each lane of `inputs` (vectors of one lane layout) and reassembles the
    /// lanes into a vector of the first input's type.
    pub(crate) fn lanewise(
        &mut self,
        inputs: &[Value],
        mut f: impl FnMut(&mut Self, &[Value]) -> Value,
    ) -> Value {
        let ty = self.b.func.dfg.value_type(inputs[0]);
        let mut out = inputs[0];
        for lane in 0..ty.lane_count() as u8 {
            let xs: Vec<Value> = inputs
                .iter()
                .map(|&v| self.b.ins().extractlane(v, lane))
                .collect();
            let r = f(self, &xs);
            out = self.b.ins().insertlane(out, r, lane);
        }
        out
    }

    /// Runs `f` on each chunk of `inputs` (all of `r`'s element type) and stores its result
    /// into `r`'s slot.
    fn map_chunks(
        &mut self,
        r: ValueId,
        inputs: &[ValueId],
        mut f: impl FnMut(&mut Self, &[Value]) -> Result<Value, CodegenError>,
    ) -> Result<(), CodegenError> {
        let elem = self.elem(r);
        let n = lanes(elem);
        let stride = n * elem_bytes(elem);
        let chunks = self.numel(r).div_ceil(n);
        let dst = self.slot_addr(r)?;
        let srcs = inputs
            .iter()
            .map(|&v| self.slot_addr(v))
            .collect::<Result<Vec<_>, _>>()?;
        self.counted_loop(chunks, |l, i| {
            let xs: Vec<Value> = srcs
                .iter()
                .map(|&s| {
                    let a = l.offset_addr(s, i, stride);
                    l.load_chunk(elem, a)
                })
                .collect();
            let v = f(l, &xs)?;
            let a = l.offset_addr(dst, i, stride);
            l.store_chunk(elem, a, v);
            Ok(())
        })
    }

    /// `op x`, elementwise.
    pub(crate) fn unary(
        &mut self,
        op: UnaryOp,
        x: ValueId,
        r: ValueId,
    ) -> Result<(), CodegenError> {
        let c = class(self.elem(x));
        self.map_chunks(r, &[x], |l, v| l.vec_unary(c, op, v[0]))
    }

    /// `op v` on one chunk of class `c`.
    pub(crate) fn vec_unary(
        &mut self,
        c: Class,
        op: UnaryOp,
        v: Value,
    ) -> Result<Value, CodegenError> {
        let ty = self.b.func.dfg.value_type(v);
        Ok(match (c, op) {
            (Class::Bool, UnaryOp::Not) => {
                let one = self.splat_const(ty, 1);
                self.b.ins().bxor(v, one)
            }
            (Class::Int { .. }, UnaryOp::Neg) => self.b.ins().ineg(v),
            (Class::Int { .. }, UnaryOp::Not) => self.b.ins().bnot(v),
            (Class::Int { signed: false, .. }, UnaryOp::Abs) => v,
            (Class::Int { signed: true, .. }, UnaryOp::Abs) => {
                let zero = self.splat_const(ty, 0);
                let neg = self.b.ins().icmp(IntCC::SignedLessThan, v, zero);
                let n = self.b.ins().ineg(v);
                self.mask_select(neg, n, v)
            }
            (Class::Float(_), UnaryOp::Neg) => self.b.ins().fneg(v),
            (Class::Float(_), UnaryOp::Abs) => self.b.ins().fabs(v),
            (Class::Float(_), UnaryOp::Sqrt) => self.b.ins().sqrt(v),
            (Class::Float(_), UnaryOp::Rsqrt) => {
                let s = self.b.ins().sqrt(v);
                let one = self.splat_const(ty, i64::from(1.0f32.to_bits()));
                self.b.ins().fdiv(one, s)
            }
            (Class::Float(_), UnaryOp::Round) => self.b.ins().nearest(v),
            (Class::Float(_), UnaryOp::Floor) => self.b.ins().floor(v),
            (Class::Float(_), UnaryOp::Ceil) => self.b.ins().ceil(v),
            (Class::Float(_), op) => {
                let Some(h) = HelperId::for_unary(op) else {
                    return Err(self.unsupported(format!("`{op:?}` on floats")));
                };
                self.lanewise(&[v], |l, x| l.call(h, &[x[0]])[0])
            }
            _ => return Err(self.unsupported(format!("`{op:?}` on this element type"))),
        })
    }

    /// `fma(a, b, c)` on floats: the helper per lane (one rounding, as the interpreter's).
    pub(crate) fn fma(
        &mut self,
        a: ValueId,
        b: ValueId,
        c: ValueId,
        r: ValueId,
    ) -> Result<(), CodegenError> {
        if !matches!(class(self.elem(r)), Class::Float(_)) {
            return Err(self.unsupported("`fma` on a non-float element type"));
        }
        self.map_chunks(r, &[a, b, c], |l, v| {
            Ok(l.lanewise(v, |l, x| l.call(HelperId::Fma, x)[0]))
        })
    }

    /// `a op b`, elementwise.
    pub(crate) fn binary(
        &mut self,
        op: BinaryOp,
        a: ValueId,
        b: ValueId,
        r: ValueId,
    ) -> Result<(), CodegenError> {
        let c = class(self.elem(a));
        if let (Class::Int { bits, signed }, BinaryOp::Shl | BinaryOp::Shr, Some(s)) =
            (c, op, self.consts.get(&b).copied())
        {
            // Shift by a constant: one vector shift per chunk (amount modulo the width).
            let amount = (s.bits() % u64::from(bits)) as i64;
            return self.map_chunks(r, &[a], |l, v| {
                Ok(match (op, signed) {
                    (BinaryOp::Shl, _) => l.b.ins().ishl_imm(v[0], amount),
                    (_, true) => l.b.ins().sshr_imm(v[0], amount),
                    (_, false) => l.b.ins().ushr_imm(v[0], amount),
                })
            });
        }
        self.map_chunks(r, &[a, b], |l, v| l.vec_binary(c, op, v[0], v[1]))
    }

    /// `x op y` on one chunk of class `c`.
    pub(crate) fn vec_binary(
        &mut self,
        c: Class,
        op: BinaryOp,
        x: Value,
        y: Value,
    ) -> Result<Value, CodegenError> {
        use BinaryOp as B;
        Ok(match c {
            Class::Bool => match op {
                B::And | B::Min => self.b.ins().band(x, y),
                B::Or | B::Max => self.b.ins().bor(x, y),
                B::Xor => self.b.ins().bxor(x, y),
                _ => return Err(self.unsupported(format!("`{op:?}` on bool"))),
            },
            Class::Int { bits, signed } => match op {
                B::Add => self.b.ins().iadd(x, y),
                B::Sub => self.b.ins().isub(x, y),
                B::Mul if bits == 16 || bits == 32 => self.b.ins().imul(x, y),
                B::Mul => self.lanewise(&[x, y], |l, v| l.b.ins().imul(v[0], v[1])),
                B::Div | B::Rem => self.lanewise(&[x, y], |l, v| {
                    l.safe_div(v[0], v[1], bits, signed, op == B::Rem)
                }),
                B::And => self.b.ins().band(x, y),
                B::Or => self.b.ins().bor(x, y),
                B::Xor => self.b.ins().bxor(x, y),
                B::Shl => self.lanewise(&[x, y], |l, v| l.b.ins().ishl(v[0], v[1])),
                B::Shr if signed => self.lanewise(&[x, y], |l, v| l.b.ins().sshr(v[0], v[1])),
                B::Shr => self.lanewise(&[x, y], |l, v| l.b.ins().ushr(v[0], v[1])),
                B::Min | B::Max => {
                    let cc = match (op == B::Min, signed) {
                        (true, true) => IntCC::SignedLessThan,
                        (true, false) => IntCC::UnsignedLessThan,
                        (false, true) => IntCC::SignedGreaterThan,
                        (false, false) => IntCC::UnsignedGreaterThan,
                    };
                    let m = self.b.ins().icmp(cc, x, y);
                    self.mask_select(m, x, y)
                }
            },
            Class::Float(_) => match op {
                B::Add => self.b.ins().fadd(x, y),
                B::Sub => self.b.ins().fsub(x, y),
                B::Mul => self.b.ins().fmul(x, y),
                B::Div => self.b.ins().fdiv(x, y),
                B::Rem => self.lanewise(&[x, y], |l, v| l.call(HelperId::Fmod, v)[0]),
                B::Min | B::Max => {
                    // Rust's f32::min/max: a NaN operand yields the other; otherwise
                    // `y < x ? y : x` (min), `y > x ? y : x` (max).
                    let cc = if op == B::Min {
                        FloatCC::LessThan
                    } else {
                        FloatCC::GreaterThan
                    };
                    let pick_y = self.b.ins().fcmp(cc, y, x);
                    let r = self.mask_select(pick_y, y, x);
                    let x_nan = self.b.ins().fcmp(FloatCC::Unordered, x, x);
                    self.mask_select(x_nan, y, r)
                }
                _ => return Err(self.unsupported(format!("`{op:?}` on floats"))),
            },
        })
    }

    /// Scalar `a / b` (or `a % b`) with the IR's wrapping semantics; never traps: division
    /// by zero yields 0 (the interpreter reports an error there).
    fn safe_div(&mut self, a: Value, b: Value, bits: u32, signed: bool, rem: bool) -> Value {
        let ty = self.b.func.dfg.value_type(a);
        let (a, b) = if bits < 32 {
            if signed {
                (
                    self.b.ins().sextend(types::I32, a),
                    self.b.ins().sextend(types::I32, b),
                )
            } else {
                (
                    self.b.ins().uextend(types::I32, a),
                    self.b.ins().uextend(types::I32, b),
                )
            }
        } else {
            (a, b)
        };
        let wty = self.b.func.dfg.value_type(a);
        let one = self.b.ins().iconst(wty, 1);
        let zero = self.b.ins().iconst(wty, 0);
        let is_zero = self.b.ins().icmp_imm(IntCC::Equal, b, 0);
        let b1 = self.b.ins().select(is_zero, one, b);
        let r = if signed {
            let is_m1 = self.b.ins().icmp_imm(IntCC::Equal, b1, -1);
            let b2 = self.b.ins().select(is_m1, one, b1);
            if rem {
                let r = self.b.ins().srem(a, b2);
                self.b.ins().select(is_m1, zero, r)
            } else {
                let q = self.b.ins().sdiv(a, b2);
                let n = self.b.ins().ineg(a);
                self.b.ins().select(is_m1, n, q)
            }
        } else if rem {
            self.b.ins().urem(a, b1)
        } else {
            self.b.ins().udiv(a, b1)
        };
        let r = self.b.ins().select(is_zero, zero, r);
        if bits < 32 {
            self.b.ins().ireduce(ty, r)
        } else {
            r
        }
    }

    /// `a pred b`, elementwise, into a `bool` tile.
    pub(crate) fn cmp(
        &mut self,
        pred: CmpPred,
        a: ValueId,
        b: ValueId,
        r: ValueId,
    ) -> Result<(), CodegenError> {
        let elem = self.elem(a);
        let c = class(elem);
        let n = lanes(elem);
        let stride = n * elem_bytes(elem);
        let chunks = self.numel(r).div_ceil(n);
        let (pa, pb, dst) = (self.slot_addr(a)?, self.slot_addr(b)?, self.slot_addr(r)?);
        self.counted_loop(chunks, |l, i| {
            let xa = l.offset_addr(pa, i, stride);
            let xb = l.offset_addr(pb, i, stride);
            let x = l.load_chunk(elem, xa);
            let y = l.load_chunk(elem, xb);
            let mask = l.vec_cmp(c, pred, x, y);
            let out = l.offset_addr(dst, i, n);
            l.store_mask(mask, out);
            Ok(())
        })
    }

    /// Stores the lanes of an all-ones/all-zeros integer vector `mask` as `bool` bytes.
    pub(crate) fn store_mask(&mut self, mask: Value, addr: Value) {
        let ty = self.b.func.dfg.value_type(mask);
        let f = scratch_flags();
        match ty.lane_bits() {
            8 => {
                let one = self.splat_const(types::I8X16, 1);
                let v = self.b.ins().band(mask, one);
                self.b.ins().store(f, v, addr, 0);
            }
            16 | 32 => {
                let mut m = mask;
                while self.b.func.dfg.value_type(m).lane_bits() > 8 {
                    m = self.b.ins().snarrow(m, m);
                }
                let one = self.splat_const(types::I8X16, 1);
                let v = self.b.ins().band(m, one);
                let (wide, lanes) = if ty.lane_bits() == 16 {
                    (types::I64X2, types::I64)
                } else {
                    (types::I32X4, types::I32)
                };
                let w = self.b.ins().bitcast(wide, little(), v);
                let x = self.b.ins().extractlane(w, 0);
                debug_assert_eq!(self.b.func.dfg.value_type(x), lanes);
                self.b.ins().store(f, x, addr, 0);
            }
            _ => {
                for lane in 0..ty.lane_count() as u8 {
                    let x = self.b.ins().extractlane(mask, lane);
                    let x = self.b.ins().ireduce(types::I8, x);
                    let x = self.b.ins().band_imm(x, 1);
                    self.b.ins().store(f, x, addr, i32::from(lane));
                }
            }
        }
    }

    /// Loads the `bool` bytes at `addr` as a mask vector with lanes of `bytes` bytes.
    pub(crate) fn load_mask(&mut self, addr: Value, bytes: usize) -> Value {
        let f = scratch_flags();
        let v = match bytes {
            1 => self.b.ins().load(types::I8X16, f, addr, 0),
            2 => self.b.ins().uload8x8(f, addr, 0),
            4 => {
                let h = self.b.ins().uload8x8(f, addr, 0);
                self.b.ins().uwiden_low(h)
            }
            _ => {
                let h = self.b.ins().uload8x8(f, addr, 0);
                let w = self.b.ins().uwiden_low(h);
                self.b.ins().uwiden_low(w)
            }
        };
        let zero = self.splat_const(vec_ty(bytes), 0);
        self.b.ins().icmp(IntCC::NotEqual, v, zero)
    }

    /// `cond ? on_true : on_false`, elementwise, on the raw bits of the values.
    pub(crate) fn select(
        &mut self,
        cond: ValueId,
        on_true: ValueId,
        on_false: ValueId,
        r: ValueId,
    ) -> Result<(), CodegenError> {
        let bytes = elem_bytes(self.elem(r));
        let n = 16 / bytes;
        let chunks = self.numel(r).div_ceil(n);
        let (pc, pt, pf, dst) = (
            self.slot_addr(cond)?,
            self.slot_addr(on_true)?,
            self.slot_addr(on_false)?,
            self.slot_addr(r)?,
        );
        let ty = vec_ty(bytes);
        self.counted_loop(chunks, |l, i| {
            let c = l.offset_addr(pc, i, n);
            let m = l.load_mask(c, bytes);
            let at = l.offset_addr(pt, i, 16);
            let af = l.offset_addr(pf, i, 16);
            let t = l.b.ins().load(ty, scratch_flags(), at, 0);
            let f = l.b.ins().load(ty, scratch_flags(), af, 0);
            let v = l.b.ins().bitselect(m, t, f);
            let ad = l.offset_addr(dst, i, 16);
            l.b.ins().store(scratch_flags(), v, ad, 0);
            Ok(())
        })
    }
}

/// Little-endian lane order for bitcasts between vector types of different lane counts.
pub(crate) fn little() -> MemFlags {
    MemFlags::new().with_endianness(cranelift_codegen::ir::Endianness::Little)
}

/// The scalar integer type for an element type's storage.
pub(crate) fn storage_ty(elem: ElemType) -> Type {
    int_ty(elem_bytes(elem))
}
