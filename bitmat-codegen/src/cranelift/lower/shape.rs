//! `permute`, `concat` and `slice`: copies between scratch slots in runs of consecutive
//! elements (16-byte vectors where a run is that long, one scalar per run otherwise).
//!
//! Extents are powers of two, so every run has a power-of-two size in bytes and the source
//! offset of each run is a sum of shifted bit fields of the run's number.
//! - `concat` along `axis`: for each index of the axes before it, the block of `a` then the
//!   block of `b` (a run each);
//! - `slice` along `axis`: for each index of the axes before it, one run of the block;
//! - `permute`: the trailing axes that stay in place form the run (one element when the last
//!   axis moves), the others are read through their strides in the operand.

use super::{int_ty, scratch_flags, Lowerer};
use crate::cranelift::arena_slots::elem_bytes;
use crate::cranelift::CodegenError;
use bitmat_ir::ValueId;
use cranelift_codegen::ir::{types, InstBuilder, Value};

/// Row-major strides of `shape`, in elements.
fn strides(shape: &[u32]) -> Vec<usize> {
    let mut out = vec![1usize; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        out[d] = out[d + 1] * shape[d + 1] as usize;
    }
    out
}

impl Lowerer<'_, '_> {
    /// Copies `bytes` bytes (a power of two) from `src` to `dst`.
    fn copy_run(&mut self, dst: Value, src: Value, bytes: usize) -> Result<(), CodegenError> {
        if bytes >= 16 {
            return self.copy_bytes(dst, src, bytes);
        }
        let ty = int_ty(bytes);
        let v = self.b.ins().load(ty, scratch_flags(), src, 0);
        self.b.ins().store(scratch_flags(), v, dst, 0);
        Ok(())
    }

    /// `count` runs of `run` bytes: run `i` goes to `dst + i * run` from `src + offset(i)`
    /// (`offset` in bytes, from the run number as an `i64`).
    fn copy_runs(
        &mut self,
        dst: Value,
        src: Value,
        count: usize,
        run: usize,
        mut offset: impl FnMut(&mut Self, Value) -> Value,
    ) -> Result<(), CodegenError> {
        self.counted_loop(count, |l, i| {
            let off = offset(l, i);
            let s = l.b.ins().iadd(src, off);
            let d = l.offset_addr(dst, i, run);
            l.copy_run(d, s, run)
        })
    }

    pub(crate) fn permute(
        &mut self,
        x: ValueId,
        perm: &[u32],
        r: ValueId,
    ) -> Result<(), CodegenError> {
        let shape = self.shape(x);
        let bytes = elem_bytes(self.elem(x));
        let out: Vec<u32> = perm.iter().map(|&p| shape[p as usize]).collect();
        // The trailing axes that stay in place are copied whole.
        let fixed = (0..perm.len())
            .rev()
            .take_while(|&d| perm[d] as usize == d)
            .count();
        let moved = perm.len() - fixed;
        let run: usize = out[moved..].iter().map(|&d| d as usize).product();
        let count = self.numel(r) / run;
        let src_strides = strides(&shape);
        // Bit fields of the run number: result axis `d` (of the moved ones) at `lo`.
        let mut fields = Vec::new();
        let mut lo = 0u32;
        for d in (0..moved).rev() {
            let n = out[d].trailing_zeros();
            let stride = src_strides[perm[d] as usize] * bytes;
            fields.push((lo, n, stride.trailing_zeros()));
            lo += n;
        }
        let (ps, pd) = (self.slot_addr(x)?, self.slot_addr(r)?);
        self.copy_runs(pd, ps, count, run * bytes, |l, i| {
            let mut off = l.b.ins().iconst(types::I64, 0);
            for &(lo, n, sh) in &fields {
                if n == 0 {
                    continue;
                }
                let f = l.b.ins().ushr_imm(i, i64::from(lo));
                let f = l.b.ins().band_imm(f, (1i64 << n) - 1);
                let f = l.b.ins().ishl_imm(f, i64::from(sh));
                off = l.b.ins().iadd(off, f);
            }
            off
        })
    }

    pub(crate) fn concat(
        &mut self,
        a: ValueId,
        b: ValueId,
        axis: u32,
        r: ValueId,
    ) -> Result<(), CodegenError> {
        let shape = self.shape(a);
        let bytes = elem_bytes(self.elem(a));
        let block: usize = shape[axis as usize..]
            .iter()
            .map(|&d| d as usize)
            .product::<usize>()
            * bytes;
        let count = self.numel(a) * bytes / block;
        let pd = self.slot_addr(r)?;
        for (k, v) in [a, b].into_iter().enumerate() {
            let ps = self.slot_addr(v)?;
            let dst = self.b.ins().iadd_imm(pd, (k * block) as i64);
            // Block `i` of the operand goes to result block `2 i + k`.
            self.counted_loop(count, |l, i| {
                let s = l.offset_addr(ps, i, block);
                let d = l.offset_addr(dst, i, 2 * block);
                l.copy_run(d, s, block)
            })?;
        }
        Ok(())
    }

    pub(crate) fn slice(
        &mut self,
        x: ValueId,
        axis: u32,
        start: u32,
        r: ValueId,
    ) -> Result<(), CodegenError> {
        let shape = self.shape(x);
        let bytes = elem_bytes(self.elem(x));
        let inner: usize = shape[axis as usize + 1..]
            .iter()
            .map(|&d| d as usize)
            .product::<usize>()
            * bytes;
        let extent = self.shape(r)[axis as usize] as usize;
        let (run, block) = (extent * inner, shape[axis as usize] as usize * inner);
        let count = self.numel(r) * bytes / run;
        let (ps, pd) = (self.slot_addr(x)?, self.slot_addr(r)?);
        let first = start as usize * inner;
        self.copy_runs(pd, ps, count, run, |l, i| {
            let o = l.b.ins().imul_imm(i, block as i64);
            l.b.ins().iadd_imm(o, first as i64)
        })
    }
}
