//! `permute`, `concat` and `slice` as layout changes.
//!
//! With power-of-two extents and a row-major flat index, each of them moves index bits:
//! - `permute` renames them ([`permute_bits`]): the result is the operand's registers under
//!   the layout whose bases are renamed the same way ([`crate::ptx::layout::Layout::map_bits`]), no instruction;
//! - `concat` adds one index bit ([`concat_bit`]) that says which operand an element comes
//!   from: where the result's layout holds that bit in a register, the operands' registers
//!   interleave (no instruction); where a lane or warp holds it, each thread picks its operand
//!   by that bit of `%tid.x` (one `selp` per register);
//! - `slice` drops index bits fixed to the block's position ([`slice_bits`]): the operand in
//!   the result's layout with those bits added as registers ([`crate::ptx::layout::Layout::insert_register_bits`])
//!   holds the result in the slots of the block.
//!
//! The assignment pass gives operands and results layouts related this way
//! ([`crate::ptx::assign`]), so these ops usually cost nothing; an operand in another layout
//! is converted first ([`Emitter::get_as`]).

use crate::ptx::emit::Emitter;
use crate::ptx::layout::{dim_bits, log2};
use crate::ptx::regs::{class_of, Class};
use crate::CodegenError;
use bitmat_ir::ValueId;

/// For `permute(x, perm)` of an operand of shape `shape`: the result index bit of each operand
/// index bit.
pub(crate) fn permute_bits(shape: &[u32], perm: &[u32]) -> Vec<u32> {
    let out: Vec<u32> = perm.iter().map(|&p| shape[p as usize]).collect();
    let (src, dst) = (dim_bits(shape), dim_bits(&out));
    let mut to = vec![0; log2(shape.iter().product()) as usize];
    for (i, &p) in perm.iter().enumerate() {
        let ((s, n), (d, _)) = (src[p as usize], dst[i]);
        for k in 0..n {
            to[(s + k) as usize] = d + k;
        }
    }
    to
}

/// The inverse of the bit map [`permute_bits`] gives.
pub(crate) fn inverse(to: &[u32]) -> Vec<u32> {
    let mut from = vec![0; to.len()];
    for (i, &t) in to.iter().enumerate() {
        from[t as usize] = i as u32;
    }
    from
}

/// For `concat(a, b, axis)` of operands of shape `shape`: the result index bit that is set
/// for the elements of `b`.
pub(crate) fn concat_bit(shape: &[u32], axis: usize) -> u32 {
    let mut out = shape.to_vec();
    out[axis] *= 2;
    let (lo, n) = dim_bits(&out)[axis];
    lo + n - 1
}

/// For `slice(x, axis, start)` of extent `extent` from an operand of shape `shape`: the
/// operand index bits the slice fixes (a mask of consecutive bits) and their value there,
/// shifted down to bit 0.
pub(crate) fn slice_bits(shape: &[u32], axis: usize, start: u32, extent: u32) -> (u32, u32) {
    let (lo, n) = dim_bits(shape)[axis];
    let keep = log2(extent);
    let mask = ((1u64 << (lo + n)) - (1u64 << (lo + keep))) as u32;
    (mask, start >> keep)
}

impl Emitter<'_> {
    pub(crate) fn lower_permute(
        &mut self,
        res: ValueId,
        x: ValueId,
        perm: &[u32],
    ) -> Result<(), CodegenError> {
        let to = permute_bits(&self.k.ty(x).shape, perm);
        let src = self.layout(res).map_bits(&inverse(&to));
        let regs = self.get_as(x, &src)?;
        self.define(res, regs);
        Ok(())
    }

    pub(crate) fn lower_concat(
        &mut self,
        res: ValueId,
        a: ValueId,
        b: ValueId,
        axis: u32,
    ) -> Result<(), CodegenError> {
        let lr = self.layout(res);
        let bit = 1 << concat_bit(&self.k.ty(a).shape, axis as usize);
        let (half, pos) = lr.remove_bits(bit);
        let (ra, rb) = (self.get_as(a, &half)?, self.get_as(b, &half)?);
        if let Some(k) = lr.reg.iter().position(|&r| r == bit) {
            let regs = (0..lr.slots() as usize)
                .map(|j| {
                    let slot: usize = pos
                        .iter()
                        .enumerate()
                        .filter_map(|(i, p)| p.map(|p| (j >> i & 1) << p))
                        .sum();
                    if j >> k & 1 == 1 {
                        rb[slot].clone()
                    } else {
                        ra[slot].clone()
                    }
                })
                .collect();
            self.define(res, regs);
            return Ok(());
        }
        let thread_bit = lr
            .lane
            .iter()
            .chain(&lr.warp)
            .position(|&r| r == bit)
            .ok_or_else(|| self.unsupported(format!("concat: no location holds bit {bit:#x}")))?;
        let (t, p) = (self.reg(Class::B32), self.reg(Class::Pred));
        let tid = self.tid.clone();
        self.line(format!("and.b32 {t}, {tid}, {};", 1u32 << thread_bit));
        self.line(format!("setp.ne.u32 {p}, {t}, 0;"));
        let c = class_of(self.k.ty(res).elem);
        let out = self.fresh(res);
        for ((dst, x), y) in out.iter().zip(&ra).zip(&rb) {
            self.select_one(c, dst, &p, y, x);
        }
        Ok(())
    }

    pub(crate) fn lower_slice(
        &mut self,
        res: ValueId,
        x: ValueId,
        axis: u32,
        start: u32,
    ) -> Result<(), CodegenError> {
        let extent = self.k.ty(res).shape[axis as usize];
        let (mask, code) = slice_bits(&self.k.ty(x).shape, axis as usize, start, extent);
        let lr = self.layout(res);
        let src = lr.insert_register_bits(mask);
        let regs = self.get_as(x, &src)?;
        let n = mask.count_ones();
        let out = (0..lr.slots() as usize)
            .map(|j| regs[(j << n) | code as usize].clone())
            .collect();
        self.define(res, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ptx::layout::Layout;
    use bitmat_ir::lanes;

    /// The layouts the lowerings use hold, in each slot of each thread, the source element
    /// that [`bitmat_ir::lanes`] (the interpreter's maps) says the result element there comes
    /// from.
    #[test]
    fn bit_maps_agree_with_the_interpreter() {
        let threads = 128;
        for (shape, perm) in [
            (vec![16u32, 64], vec![1u32, 0]),
            (vec![4, 8, 32], vec![2, 0, 1]),
            (vec![2, 1, 64], vec![1, 2, 0]),
            (vec![32, 2], vec![1, 0]),
        ] {
            let src_map = lanes::permute_sources(&shape, &perm);
            let out: Vec<u32> = perm.iter().map(|&p| shape[p as usize]).collect();
            for order in [vec![out.len() - 1], vec![0]] {
                let mut o = order.clone();
                o.extend((0..out.len()).filter(|d| !order.contains(d)));
                let lr = Layout::blocked(&out, &o, 2, threads);
                let src = lr.map_bits(&inverse(&permute_bits(&shape, &perm)));
                for t in 0..threads {
                    for j in 0..lr.slots() {
                        let i = lr.index(t, j) as usize;
                        assert_eq!(src.index(t, j) as usize, src_map[i], "{shape:?} {perm:?}");
                    }
                }
            }
        }
        for (shape, axis) in [(vec![8u32, 1], 1usize), (vec![4, 16], 0), (vec![2, 64], 1)] {
            let map = lanes::concat_sources(&shape, axis);
            let numel: u32 = shape.iter().product();
            let mut out = shape.clone();
            out[axis] *= 2;
            let bit = 1 << concat_bit(&shape, axis);
            for vec_bits in [0, 1, 3] {
                let lr = Layout::blocked(&out, &[out.len() - 1, 0], vec_bits, threads);
                let (half, pos) = lr.remove_bits(bit);
                for t in 0..threads {
                    for j in 0..lr.slots() {
                        let i = lr.index(t, j) as usize;
                        let slot: u32 = pos
                            .iter()
                            .enumerate()
                            .filter_map(|(k, p)| p.map(|p| (j >> k & 1) << p))
                            .sum();
                        let from_b = lr.index(t, j) & bit != 0;
                        let got = half.index(t, slot) + if from_b { numel } else { 0 };
                        assert_eq!(got as usize, map[i], "{shape:?} {axis}");
                    }
                }
            }
        }
        for (shape, axis, start, extent) in [
            (vec![8u32, 2], 1usize, 1u32, 1u32),
            (vec![16, 4], 0, 8, 4),
            (vec![4, 64], 1, 32, 16),
        ] {
            let map = lanes::slice_sources(&shape, axis, start, extent);
            let mut out = shape.clone();
            out[axis] = extent;
            let (mask, code) = slice_bits(&shape, axis, start, extent);
            let lr = Layout::blocked(&out, &[out.len() - 1, 0], 1, threads);
            let src = lr.insert_register_bits(mask);
            let n = mask.count_ones();
            for t in 0..threads {
                for j in 0..lr.slots() {
                    let i = lr.index(t, j) as usize;
                    assert_eq!(src.index(t, (j << n) | code) as usize, map[i]);
                }
            }
        }
    }
}
