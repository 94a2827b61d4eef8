//! `dot`: `a [M, K] x b [K, N] + acc [M, N]`.
//!
//! i8 x i8 (s32 accumulator), f16 x f16, bf16 x bf16 and fp8 x fp8 (f32 accumulator; fp8
//! only on targets with fp8 `mma`, elsewhere the dot was widened to f16) run on tensor cores
//! with `mma.sync`; see [`mma`](super::mma).
//!
//! f32 x f32 stages A and B row-major in shared memory; each thread then computes the output
//! elements it holds with a multiply-add loop over `k` in ascending order: separately
//! rounded `mul.rn.f32` + `add.rn.f32` (no FMA contraction), which reproduces the
//! interpreter's results bit for bit.

use crate::ptx::emit::Emitter;
use crate::ptx::layout::{log2, Layout};
use crate::ptx::regs::Class;
use crate::CodegenError;
use bitmat_ir::{DType, ValueId};

/// Dots with `K` up to this are unrolled.
const UNROLL: u32 = 4;

impl Emitter<'_> {
    /// Writes `v` (an operand of element type `d`) to shared memory at byte offset `base`.
    fn stage_operand(&mut self, v: ValueId, d: DType, base: u32) -> Result<(), CodegenError> {
        let l = self.layout(v);
        let size = d.size_bytes() as u32;
        for (j, r) in self.get(v)?.iter().enumerate() {
            let idx = self.elem_index(&l, j as u32);
            let a = self.shared_addr(&idx, size, base);
            match d {
                DType::I8 => self.line(format!("st.shared.u8 [{a}], {r};")),
                DType::F32 => self.line(format!("st.shared.f32 [{a}], {r};")),
                _ => {
                    let h = self.round_to_half_bits(d, r);
                    self.line(format!("st.shared.b16 [{a}], {h};"));
                }
            }
        }
        Ok(())
    }

    /// Loads one operand element of type `d` from shared address `addr` into `dst`
    /// (`.b32` for i8, `.f32` otherwise).
    fn ld_operand(&mut self, d: DType, addr: &str, dst: &str) {
        match d {
            DType::I8 => self.line(format!("ld.shared.s8 {dst}, [{addr}];")),
            DType::F32 => self.line(format!("ld.shared.f32 {dst}, [{addr}];")),
            _ => {
                let h = self.reg(Class::B16);
                self.line(format!("ld.shared.b16 {h}, [{addr}];"));
                self.half_bits_to_f32(d, &h, dst);
            }
        }
    }

    pub(crate) fn lower_dot(
        &mut self,
        res: ValueId,
        a: ValueId,
        b: ValueId,
        acc: ValueId,
    ) -> Result<(), CodegenError> {
        let (at, bt) = (self.k.ty(a).shape.clone(), self.k.ty(b).shape.clone());
        let (m, k, n) = match (at.as_slice(), bt.as_slice()) {
            ([m, k], [k2, n]) if k == k2 => (*m, *k, *n),
            _ => return Err(self.unsupported("dot operands must be [M, K] x [K, N]")),
        };
        let d = self.dtype(a)?;
        let int = match (d, self.dtype(acc)?) {
            (DType::I8, DType::I32) => true,
            (DType::F16 | DType::BF16 | DType::F32, DType::F32) => false,
            (x, DType::F32) if x.is_fp8() => false,
            (x, y) => return Err(self.unsupported(format!("dot of {x} with a {y} accumulator"))),
        };
        if let Some(shape) = super::mma_shape(self.k, a, b, acc) {
            return self.lower_dot_frag(res, [a, b, acc], shape, d);
        }
        // The staging paths below address their scratch area from its base.
        let saved = self.smem.clone();
        let base = self.scratch(0);
        if base != 0 {
            let s = self.reg(Class::B32);
            self.line(format!("add.u32 {s}, {saved}, {base};"));
            self.smem = s;
        }
        let out = if d != DType::F32 {
            self.lower_dot_mma(a, b, acc, [m, k, n], d)
        } else {
            self.lower_dot_serial(a, b, acc, [m, k, n], int)
        };
        self.smem = saved;
        let regs = out?;
        let staged = Layout::default_for(m * n, self.threads);
        self.define_in(res, regs, &staged);
        Ok(())
    }

    /// The f32 dot: operands staged row-major, a multiply-add loop per output element.
    /// Returns the result's registers in the default layout.
    fn lower_dot_serial(
        &mut self,
        a: ValueId,
        b: ValueId,
        acc: ValueId,
        [m, k, n]: [u32; 3],
        int: bool,
    ) -> Result<Vec<String>, CodegenError> {
        let d = self.dtype(a)?;
        let size = d.size_bytes() as u32;
        let b_base = (m * k * size).next_multiple_of(16);
        // Converting the accumulator may use the scratch area: before the operands land.
        let lc = Layout::default_for(m * n, self.threads);
        let acc_regs = self.get_as(acc, &lc)?;
        self.scratch(b_base + k * n * size);
        self.barrier();
        self.stage_operand(a, d, 0)?;
        self.stage_operand(b, d, b_base)?;
        self.barrier();

        let c = if int { Class::B32 } else { Class::F32 };
        let out: Vec<String> = (0..lc.slots()).map(|_| self.reg(c)).collect();
        let vc = if int { Class::B32 } else { Class::F32 };
        for (j, r) in out.iter().enumerate() {
            let i = self.elem_index(&lc, j as u32);
            let (row, col) = (self.reg(Class::B32), self.reg(Class::B32));
            self.line(format!("shr.u32 {row}, {i}, {};", log2(n)));
            self.line(format!("and.b32 {col}, {i}, {};", n - 1));
            let (pa, pb) = (self.reg(Class::B32), self.reg(Class::B32));
            let rk = self.reg(Class::B32);
            self.line(format!("mul.lo.u32 {rk}, {row}, {k};"));
            let a_addr = self.shared_addr(&rk, size, 0);
            let b_addr = self.shared_addr(&col, size, b_base);
            self.mov(Class::B32, &pa, &a_addr);
            self.mov(Class::B32, &pb, &b_addr);
            self.mov(vc, r, &acc_regs[j]);
            let (x, y, t) = (self.reg(vc), self.reg(vc), self.reg(vc));
            let step = |e: &mut Self| {
                e.ld_operand(d, &pa, &x);
                e.ld_operand(d, &pb, &y);
                if int {
                    e.line(format!("mad.lo.s32 {r}, {x}, {y}, {r};"));
                } else {
                    e.line(format!("mul.rn.f32 {t}, {x}, {y};"));
                    e.line(format!("add.rn.f32 {r}, {r}, {t};"));
                }
                e.line(format!("add.u32 {pa}, {pa}, {size};"));
                e.line(format!("add.u32 {pb}, {pb}, {};", n * size));
            };
            if k <= UNROLL {
                for _ in 0..k {
                    step(self);
                }
            } else {
                let kk = self.reg(Class::B32);
                let p = self.reg(Class::Pred);
                let (head, end) = (self.new_label("dot"), self.new_label("dot_end"));
                self.line(format!("mov.u32 {kk}, 0;"));
                self.place_label(&head);
                self.line(format!("setp.ge.u32 {p}, {kk}, {k};"));
                self.line(format!("@{p} bra.uni {end};"));
                step(self);
                self.line(format!("add.u32 {kk}, {kk}, 1;"));
                self.line(format!("bra.uni {head};"));
                self.place_label(&end);
            }
        }
        Ok(out)
    }
}
