//! `dot`: `a [M, K] x b [K, N] + acc [M, N]`.
//!
//! Floats (f16/bf16 operands are first widened to `f32` temporaries): for each row `i` and
//! each group of up to four 4-column chunks, `s = acc[i, j..]` then, `k` ascending,
//! `s = s + splat(a[i, k]) * b[k, j..]` with separate `fmul` and `fadd` (no FMA), which is
//! exactly the interpreter's sequential `f32` sum per output element.
//!
//! `i8 x i8 -> i32`: `b` is first packed into an `i16` temporary `[K/2][N][2]` (rows `2p`
//! and `2p+1` interleaved with a byte `shuffle`, then `swiden_low/high`); each step takes two
//! `k` at once: the pair `(a[i, 2p], a[i, 2p+1])` splatted as `i16` pairs, multiplied
//! pairwise with the packed columns and summed per pair (`imul` of the widened halves and
//! `iadd_pairwise`, which x86 lowers to one `pmaddwd`; exact, since an i8 product fits in
//! i16), then added to `I32X4` accumulators of four columns each (wrapping, as the
//! interpreter; integer sums do not depend on order).

use super::elementwise::little;
use super::{scratch_flags, Lowerer};
use crate::cranelift::CodegenError;
use bitmat_ir::{DType, ValueId};
use cranelift_codegen::ir::{types, ConstantData, InstBuilder, Type, Value};

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
    pub(crate) fn widened_f32(&mut self, v: ValueId) -> Result<Value, CodegenError> {
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
        let f = scratch_flags();
        self.for_each_output_group(acc, r, [m, n], types::F32X4, |l, i, col, init| {
            let arow = l.b.ins().imul_imm(i, k as i64);
            let aaddr = l.offset_addr(pa, arow, 4);
            let baddr = l.offset_addr(pb, col, 4);
            l.counted_loop_carry(k, init, |l, kk, s| {
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
            })
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
        let k2 = k.div_ceil(2);
        // b packed as [k/2][n][2] i16: rows 2p and 2p+1 interleaved, sign-extended.
        let pb = self.temp_addr(k2 * n * 4);
        let zip: Vec<u8> = (0..8u8).flat_map(|i| [i, 16 + i]).collect();
        let zip = self
            .b
            .func
            .dfg
            .immediates
            .push(ConstantData::from(zip.as_slice()));
        let chunks8 = n.div_ceil(8);
        self.counted_loop(k2 * chunks8, |l, pc| {
            let p = l.b.ins().udiv_imm(pc, chunks8 as i64);
            let c = l.b.ins().urem_imm(pc, chunks8 as i64);
            let col = l.b.ins().imul_imm(c, 8);
            let row0 = l.b.ins().imul_imm(p, (2 * n) as i64);
            let e0 = l.b.ins().iadd(row0, col);
            let s0 = l.offset_addr(src_b, e0, 1);
            let r0 = l.b.ins().load(types::I8X16, f, s0, 0);
            let r1 = if k > 1 {
                l.b.ins().load(types::I8X16, f, s0, n as i32)
            } else {
                l.splat_const(types::I8X16, 0)
            };
            let z = l.b.ins().shuffle(r0, r1, zip);
            let lo = l.b.ins().swiden_low(z);
            let hi = l.b.ins().swiden_high(z);
            let prow = l.b.ins().imul_imm(p, n as i64);
            let e = l.b.ins().iadd(prow, col);
            let d = l.offset_addr(pb, e, 4);
            l.b.ins().store(f, lo, d, 0);
            l.b.ins().store(f, hi, d, 16);
            Ok(())
        })?;
        self.for_each_output_group(acc, r, [m, n], types::I32X4, |l, i, col, init| {
            let arow = l.b.ins().imul_imm(i, k as i64);
            let aaddr = l.offset_addr(pa, arow, 1);
            let baddr = l.offset_addr(pb, col, 4);
            l.counted_loop_carry(k2, init, |l, p, s| {
                // (a[i, 2p], a[i, 2p+1]) as two i16 in each i32 lane.
                let ak = l.offset_addr(aaddr, p, 2);
                let x0 = l.b.ins().sload8(types::I32, f, ak, 0);
                let x0 = l.b.ins().band_imm(x0, 0xffff);
                let pair = if k > 1 {
                    let x1 = l.b.ins().sload8(types::I32, f, ak, 1);
                    let x1 = l.b.ins().ishl_imm(x1, 16);
                    l.b.ins().bor(x0, x1)
                } else {
                    x0
                };
                let pair = l.b.ins().splat(types::I32X4, pair);
                let x = l.b.ins().bitcast(types::I16X8, little(), pair);
                let bk = l.offset_addr(baddr, p, 4 * n);
                let (xl, xh) = (l.b.ins().swiden_low(x), l.b.ins().swiden_high(x));
                Ok(s.iter()
                    .enumerate()
                    .map(|(q, &s)| {
                        let y = l.b.ins().load(types::I16X8, f, bk, (q * 16) as i32);
                        // Lowers to `pmaddwd`: a0*b0 + a1*b1 per i32 lane, exact.
                        let yl = l.b.ins().swiden_low(y);
                        let yh = l.b.ins().swiden_high(y);
                        let pl = l.b.ins().imul(xl, yl);
                        let ph = l.b.ins().imul(xh, yh);
                        let d = l.b.ins().iadd_pairwise(pl, ph);
                        l.b.ins().iadd(s, d)
                    })
                    .collect())
            })
        })
    }

    /// The output tiling shared by the `dot` lowerings: for each row `i` of the `[m, n]`
    /// result and each group of up to four 4-lane chunks starting at column `col`, loads those
    /// chunks of `acc` as `ty` vectors, hands them to `accumulate` and stores the chunks it
    /// returns to the same place in `r`.
    fn for_each_output_group(
        &mut self,
        acc: ValueId,
        r: ValueId,
        [m, n]: [usize; 2],
        ty: Type,
        mut accumulate: impl FnMut(
            &mut Self,
            Value,
            Value,
            Vec<Value>,
        ) -> Result<Vec<Value>, CodegenError>,
    ) -> Result<(), CodegenError> {
        let f = scratch_flags();
        let (pc, pd) = (self.slot_addr(acc)?, self.slot_addr(r)?);
        let chunks = n.div_ceil(4);
        let group = chunks.min(4);
        let groups = chunks / group;
        self.counted_loop(m * groups, |l, ig| {
            let i = l.b.ins().udiv_imm(ig, groups as i64);
            let g = l.b.ins().urem_imm(ig, groups as i64);
            let row = l.b.ins().imul_imm(i, n as i64);
            let col = l.b.ins().imul_imm(g, (group * 4) as i64);
            let out0 = l.b.ins().iadd(row, col);
            let ac = l.offset_addr(pc, out0, 4);
            let init: Vec<Value> = (0..group)
                .map(|q| l.b.ins().load(ty, f, ac, (q * 16) as i32))
                .collect();
            let s = accumulate(l, i, col, init)?;
            let ad = l.offset_addr(pd, out0, 4);
            for (q, &v) in s.iter().enumerate() {
                l.b.ins().store(f, v, ad, (q * 16) as i32);
            }
            Ok(())
        })
    }
}
