//! `broadcast`, which moves data between threads through shared memory: the source is staged
//! row-major (one word per element, between two `bar.sync`s), then every thread reads what
//! its result slots need. (`reduce` has its own module, [`reduce`](super::reduce).)

use crate::ptx::emit::{word_bytes, Emitter};
use crate::ptx::layout::log2;
use crate::ptx::regs::{class_of, Class};
use crate::CodegenError;
use bitmat_ir::ValueId;

impl Emitter<'_> {
    /// Stages `v` in shared memory at offset 0 (barriers on both sides).
    fn stage(&mut self, v: ValueId) -> Result<(), CodegenError> {
        self.barrier();
        let bytes = self.tile_to_shared(v, 0)?;
        self.need_shared(bytes);
        self.barrier();
        Ok(())
    }

    pub(crate) fn lower_broadcast(&mut self, res: ValueId, x: ValueId) -> Result<(), CodegenError> {
        let src = self.k.ty(x).shape.clone();
        let dst = self.k.ty(res).shape.clone();
        let xs = self.get(x)?;
        let lr = self.layout(res);
        if src.iter().product::<u32>() == 1 {
            // Every thread holds the single element.
            self.define(res, vec![xs[0].clone(); lr.slots() as usize]);
            return Ok(());
        }
        if src.len() != dst.len() {
            return Err(self.unsupported("broadcast between different ranks"));
        }
        let c = class_of(self.k.ty(x).elem);
        let size = word_bytes(c);
        self.stage(x)?;
        let out = self.fresh(res);
        for (j, r) in out.iter().enumerate() {
            let i = self.elem_index(lr, j as u32);
            let s = self.reg(Class::B32);
            self.line(format!("mov.u32 {s}, 0;"));
            for d in 0..dst.len() {
                if src[d] == 1 {
                    continue;
                }
                let shift = log2(dst[d + 1..].iter().product());
                let stride: u32 = src[d + 1..].iter().product();
                let t = self.reg(Class::B32);
                self.line(format!("shr.u32 {t}, {i}, {shift};"));
                self.line(format!("and.b32 {t}, {t}, {};", dst[d] - 1));
                self.line(format!("mad.lo.u32 {s}, {t}, {stride}, {s};"));
            }
            let a = self.shared_addr(&s, size, 0);
            self.ld_word(&a, c, r);
        }
        Ok(())
    }
}
