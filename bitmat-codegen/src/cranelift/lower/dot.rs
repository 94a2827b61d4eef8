//! `dot`: `a [M, K] x b [K, N] + acc [M, N]`.
//!
//! Floats (f16/bf16 operands are first widened to `f32` temporaries): for each row `i` and
//! each group of up to four 4-column chunks, `s = acc[i, j..]` then, `k` ascending,
//! `s = s + splat(a[i, k]) * b[k, j..]` with separate `fmul` and `fadd` (no FMA), which is
//! exactly the interpreter's sequential `f32` sum per output element.
//!
//! `i8 x i8 -> i32`: `b` is first sign-extended to an `i16` temporary; each step multiplies
//! `splat(a[i, k])` by eight `i16` columns (`imul` on `I16X8`: an i8 product always fits in
//! i16), widens the products with `swiden_low/high` and adds them to two `I32X4`
//! accumulators (wrapping, as the interpreter).

use super::{scratch_flags, Lowerer};
use crate::cranelift::CodegenError;
use bitmat_ir::{DType, ValueId};
use cranelift_codegen::ir::{types, InstBuilder, Value};

impl Lowerer<'_, '_> {
    /// `dot(a, b, acc)`.
    pub(crate) fn dot(
        &mut self,
        a: ValueId,
        b: ValueId,
        acc: ValueId,
        r: ValueId,
    ) -> Result<(), CodegenError> {
        let (sa, sb) = (self.shape(a), self.shape(b));
        let (m, k, n) = match (sa.as_slice(), sb.as_slice()) {
            ([m, k], [_, n]) => (*m as usize, *k as usize, *n as usize),
            _ => return Err(self.unsupported("dot operands must be matrices")),
        };
        let (da, db, dc) = (self.dtype(a)?, self.dtype(b)?, self.dtype(acc)?);
        match (da, db, dc) {
            (DType::I8, DType::I8, DType::I32) => self.dot_i8(a, b, acc, r, [m, k, n]),
            (DType::F16 | DType::BF16 | DType::F32, _, DType::F32) if da == db => {
                self.dot_float(a, b, acc, r, [m, k, n])
            }
            _ => Err(self.unsupported(format!("dot on {da} x {db} + {dc}"))),
        }
    }

    /// The `f32` copy of the float tile `v` (its own slot when it is already `f32`).
    fn widened_f32(&mut self, v: ValueId) -> Result<Value, CodegenError> {
        let d = self.dtype(v)?;
        let src = self.slot_addr(v)?;
        if d == DType::F32 {
            return Ok(src);
        }
        let numel = self.numel(v);
        let dst = self.temp_addr(numel * 4);
        let elem = self.elem(v);
        self.counted_loop(numel.div_ceil(4), |l, i| {
            let s = l.offset_addr(src, i, 8);
            let x = l.load_chunk(elem, s);
            let d = l.offset_addr(dst, i, 16);
            l.b.ins().store(scratch_flags(), x, d, 0);
            Ok(())
        })?;
        Ok(dst)
    }

    fn dot_float(
        &mut self,
        a: ValueId,
        b: ValueId,
        acc: ValueId,
        r: ValueId,
        [m, k, n]: [usize; 3],
    ) -> Result<(), CodegenError> {
        let pa = self.widened_f32(a)?;
        let pb = self.widened_f32(b)?;
        let (pc, pd) = (self.slot_addr(acc)?, self.slot_addr(r)?);
        let chunks = n.div_ceil(4);
        let group = chunks.min(4);
        let groups = chunks / group;
        let f = scratch_flags();
        self.counted_loop(m * groups, |l, ig| {
            let i = l.b.ins().udiv_imm(ig, groups as i64);
            let g = l.b.ins().urem_imm(ig, groups as i64);
            let row = l.b.ins().imul_imm(i, n as i64);
            let col = l.b.ins().imul_imm(g, (group * 4) as i64);
            let out0 = l.b.ins().iadd(row, col);
            let ac = l.offset_addr(pc, out0, 4);
            let init: Vec<Value> = (0..group)
                .map(|q| l.b.ins().load(types::F32X4, f, ac, (q * 16) as i32))
                .collect();
            let arow = l.b.ins().imul_imm(i, k as i64);
            let aaddr = l.offset_addr(pa, arow, 4);
            let baddr = l.offset_addr(pb, col, 4);
            let s = l.counted_loop_carry(k, init, |l, kk, s| {
                let ak = l.offset_addr(aaddr, kk, 4);
                let x = l.b.ins().load(types::F32, f, ak, 0);
                let x = l.b.ins().splat(types::F32X4, x);
                let bk = l.offset_addr(baddr, kk, 4 * n);
                Ok(s.iter()
                    .enumerate()
                    .map(|(q, &s)| {
                        let y = l.b.ins().load(types::F32X4, f, bk, (q * 16) as i32);
                        let p = l.b.ins().fmul(x, y);
                        l.b.ins().fadd(s, p)
                    })
                    .collect())
            })?;
            let ad = l.offset_addr(pd, out0, 4);
            for (q, &v) in s.iter().enumerate() {
                l.b.ins().store(f, v, ad, (q * 16) as i32);
            }
            Ok(())
        })
    }

    fn dot_i8(
        &mut self,
        a: ValueId,
        b: ValueId,
        acc: ValueId,
        r: ValueId,
        [m, k, n]: [usize; 3],
    ) -> Result<(), CodegenError> {
        let f = scratch_flags();
        let pa = self.slot_addr(a)?;
        let src_b = self.slot_addr(b)?;
        // b widened to i16.
        let pb = self.temp_addr(k * n * 2);
        self.counted_loop((k * n).div_ceil(16), |l, i| {
            let s = l.offset_addr(src_b, i, 16);
            let v = l.b.ins().load(types::I8X16, f, s, 0);
            let lo = l.b.ins().swiden_low(v);
            let hi = l.b.ins().swiden_high(v);
            let d = l.offset_addr(pb, i, 32);
            l.b.ins().store(f, lo, d, 0);
            l.b.ins().store(f, hi, d, 16);
            Ok(())
        })?;
        let (pc, pd) = (self.slot_addr(acc)?, self.slot_addr(r)?);
        let chunks = n.div_ceil(8);
        let group = chunks.min(2);
        let groups = chunks / group;
        self.counted_loop(m * groups, |l, ig| {
            let i = l.b.ins().udiv_imm(ig, groups as i64);
            let g = l.b.ins().urem_imm(ig, groups as i64);
            let row = l.b.ins().imul_imm(i, n as i64);
            let col = l.b.ins().imul_imm(g, (group * 8) as i64);
            let out0 = l.b.ins().iadd(row, col);
            let ac = l.offset_addr(pc, out0, 4);
            let init: Vec<Value> = (0..2 * group)
                .map(|q| l.b.ins().load(types::I32X4, f, ac, (q * 16) as i32))
                .collect();
            let arow = l.b.ins().imul_imm(i, k as i64);
            let aaddr = l.offset_addr(pa, arow, 1);
            let baddr = l.offset_addr(pb, col, 2);
            let s = l.counted_loop_carry(k, init, |l, kk, s| {
                let ak = l.offset_addr(aaddr, kk, 1);
                let x = l.b.ins().sload8(types::I32, f, ak, 0);
                let x = l.b.ins().ireduce(types::I16, x);
                let x = l.b.ins().splat(types::I16X8, x);
                let bk = l.offset_addr(baddr, kk, 2 * n);
                let mut out = Vec::with_capacity(s.len());
                for q in 0..group {
                    let y = l.b.ins().load(types::I16X8, f, bk, (q * 16) as i32);
                    let p = l.b.ins().imul(x, y);
                    let lo = l.b.ins().swiden_low(p);
                    let hi = l.b.ins().swiden_high(p);
                    out.push(l.b.ins().iadd(s[2 * q], lo));
                    out.push(l.b.ins().iadd(s[2 * q + 1], hi));
                }
                Ok(out)
            })?;
            let ad = l.offset_addr(pd, out0, 4);
            for (q, &v) in s.iter().enumerate() {
                l.b.ins().store(f, v, ad, (q * 16) as i32);
            }
            Ok(())
        })
    }
}
