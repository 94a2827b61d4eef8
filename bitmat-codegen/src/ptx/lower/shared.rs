//! Ops that move data between threads, through shared memory: `broadcast` and `reduce`.
//! Each stages its source row-major in shared memory (one word per element, between two
//! `bar.sync`s), then every thread reads what its result slots need.

use super::int_ty;
use crate::ptx::emit::{word_bytes, Emitter};
use crate::ptx::layout::log2;
use crate::ptx::regs::{class_of, dclass, Class};
use crate::CodegenError;
use bitmat_ir::{DType, ReduceOp, ValueId};

/// Reductions over at most this many elements are unrolled; longer ones loop.
const UNROLL: u32 = 8;

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

    pub(crate) fn lower_reduce(
        &mut self,
        res: ValueId,
        op: ReduceOp,
        x: ValueId,
        axis: u32,
    ) -> Result<(), CodegenError> {
        let d = self.dtype(x)?;
        let shape = self.k.ty(x).shape.clone();
        let axis = axis as usize;
        if axis >= shape.len() {
            return Err(self.unsupported(format!("reduction axis {axis} out of range")));
        }
        if d == DType::Bool && op == ReduceOp::Sum {
            return Err(self.unsupported("`reduce_sum` is not defined on bool"));
        }
        let n = shape[axis];
        let inner: u32 = shape[axis + 1..].iter().product();
        let c = dclass(d);
        let size = word_bytes(c);
        // Booleans accumulate as 0/1 words.
        let acc_class = if c == Class::Pred { Class::B32 } else { c };
        self.stage(x)?;
        let lr = self.layout(res);
        let out = self.fresh(res);
        for (j, r) in out.iter().enumerate() {
            let ri = self.elem_index(lr, j as u32);
            let base = self.reg(Class::B32);
            let t = self.reg(Class::B32);
            // base = (ri / inner) * n * inner + ri % inner
            self.line(format!("shr.u32 {t}, {ri}, {};", log2(inner)));
            self.line(format!("and.b32 {base}, {ri}, {};", inner - 1));
            self.line(format!("mad.lo.u32 {base}, {t}, {}, {base};", n * inner));
            let addr = self.shared_addr(&base, size, 0);
            let acc = self.reg(acc_class);
            let v = self.reg(acc_class);
            self.ld_acc(&addr, acc_class, &acc);
            let step = inner * size;
            if n <= UNROLL {
                for _ in 1..n {
                    self.line(format!("add.u32 {addr}, {addr}, {step};"));
                    self.ld_acc(&addr, acc_class, &v);
                    self.combine(op, d, &acc, &v);
                }
            } else {
                let k = self.reg(Class::B32);
                let p = self.reg(Class::Pred);
                let (head, end) = (self.new_label("red"), self.new_label("red_end"));
                self.line(format!("mov.u32 {k}, 1;"));
                self.place_label(&head);
                self.line(format!("setp.ge.u32 {p}, {k}, {n};"));
                self.line(format!("@{p} bra.uni {end};"));
                self.line(format!("add.u32 {addr}, {addr}, {step};"));
                self.ld_acc(&addr, acc_class, &v);
                self.combine(op, d, &acc, &v);
                self.line(format!("add.u32 {k}, {k}, 1;"));
                self.line(format!("bra.uni {head};"));
                self.place_label(&end);
            }
            match c {
                Class::Pred => self.line(format!("setp.ne.u32 {r}, {acc}, 0;")),
                _ => {
                    self.mov(c, r, &acc);
                    if op == ReduceOp::Sum {
                        self.normalize(d, r);
                    }
                }
            }
        }
        Ok(())
    }

    fn ld_acc(&mut self, addr: &str, c: Class, dst: &str) {
        self.ld_word(addr, c, dst);
    }

    /// `acc = acc op v` (floats in f32, integers in their register width).
    fn combine(&mut self, op: ReduceOp, d: DType, acc: &str, v: &str) {
        let t = match dclass(d) {
            Class::F32 | Class::B16 => "f32",
            Class::Pred => "u32",
            _ => int_ty(d),
        };
        let i = match (op, t) {
            (ReduceOp::Sum, "f32") => "add.rn",
            (ReduceOp::Sum, _) => "add",
            (ReduceOp::Max, _) => "max",
            (ReduceOp::Min, _) => "min",
        };
        self.line(format!("{i}.{t} {acc}, {acc}, {v};"));
    }
}
