//! Structured control flow: `for` loops with carried values and two-way `if`. Loop bounds and
//! branch conditions are scalars, held alike by every thread, so branches are uniform
//! (`bra.uni`) and barriers inside them are safe.

use super::int_ty;
use crate::ptx::emit::Emitter;
use crate::ptx::regs::{class_of, dclass};
use crate::CodegenError;
use bitmat_ir::{Block, ValueId};

impl Emitter<'_> {
    /// Copies the registers of `srcs` into `dsts` as a parallel copy (through temporaries, so
    /// a source may also be a destination).
    fn parallel_copy(
        &mut self,
        vals: &[ValueId],
        dsts: &[Vec<String>],
    ) -> Result<(), CodegenError> {
        if vals.len() != dsts.len() {
            return Err(self.unsupported("`yield` arity does not match its op"));
        }
        let mut temps = Vec::new();
        for &v in vals {
            let c = class_of(self.k.ty(v).elem);
            let regs = self.get(v)?;
            let ts: Vec<String> = regs
                .iter()
                .map(|r| {
                    let t = self.reg(c);
                    self.mov(c, &t, r);
                    t
                })
                .collect();
            temps.push((c, ts));
        }
        for ((c, ts), ds) in temps.iter().zip(dsts) {
            if ts.len() != ds.len() {
                return Err(self.unsupported("`yield` value of a different layout"));
            }
            for (t, d) in ts.iter().zip(ds) {
                self.mov(*c, d, t);
            }
        }
        Ok(())
    }

    pub(crate) fn lower_for(
        &mut self,
        results: &[ValueId],
        lower: ValueId,
        upper: ValueId,
        step: ValueId,
        init: &[ValueId],
        body: &Block,
    ) -> Result<(), CodegenError> {
        let d = self.dtype(lower)?;
        let (lo, up, st) = (
            self.get(lower)?[0].clone(),
            self.get(upper)?[0].clone(),
            self.get(step)?[0].clone(),
        );
        if body.args.len() != init.len() + 1 || results.len() != init.len() {
            return Err(self.unsupported("`for` arity mismatch"));
        }
        let c = dclass(d);
        let iv = self.reg(c);
        self.mov(c, &iv, &lo);
        self.define(body.args[0], vec![iv.clone()]);
        let mut phis = Vec::new();
        for (&v, &arg) in init.iter().zip(&body.args[1..]) {
            let regs = self.fresh_like(v);
            let vc = class_of(self.k.ty(v).elem);
            for (p, r) in regs.iter().zip(self.get(v)?) {
                self.mov(vc, p, &r);
            }
            self.define(arg, regs.clone());
            phis.push(regs);
        }
        let (head, end) = (self.new_label("for"), self.new_label("for_end"));
        let p = self.reg(crate::ptx::regs::Class::Pred);
        let t = int_ty(d);
        self.place_label(&head);
        self.line(format!("setp.ge.{t} {p}, {iv}, {up};"));
        self.line(format!("@{p} bra.uni {end};"));
        let ys = self
            .emit_block(body)?
            .ok_or_else(|| self.unsupported("loop body without `yield`"))?;
        self.parallel_copy(&ys, &phis)?;
        self.line(format!("add.{t} {iv}, {iv}, {st};"));
        self.line(format!("bra.uni {head};"));
        self.place_label(&end);
        for (&r, regs) in results.iter().zip(phis) {
            self.define(r, regs);
        }
        Ok(())
    }

    pub(crate) fn lower_if(
        &mut self,
        results: &[ValueId],
        cond: ValueId,
        then_block: &Block,
        else_block: &Block,
    ) -> Result<(), CodegenError> {
        let c = self.get(cond)?[0].clone();
        let outs: Vec<Vec<String>> = results.iter().map(|&r| self.fresh(r)).collect();
        let (els, end) = (self.new_label("else"), self.new_label("endif"));
        self.line(format!("@!{c} bra.uni {els};"));
        for (block, last) in [(then_block, false), (else_block, true)] {
            let ys = self.emit_block(block)?.unwrap_or_default();
            self.parallel_copy(&ys, &outs)?;
            if last {
                self.place_label(&end);
            } else {
                self.line(format!("bra.uni {end};"));
                self.place_label(&els);
            }
        }
        Ok(())
    }
}
