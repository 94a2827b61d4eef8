//! `broadcast`, `permute`, `concat` and `slice`: each result chunk one `shufflevector` whose
//! mask maps its lanes to their source lanes (from [`bitmat_ir::lanes`] for the last three;
//! `reshape`, `expand_dims` and same-width `bitcast` change no lane and cost nothing).

use super::{reg_elem, Emitter};
use crate::CodegenError;
use bitmat_ir::{lanes, ValueId};

/// For each lane of a tile of shape `to` (row-major), the lane of a tile of shape `from` (same
/// rank, extents 1 or equal to `to`'s) that broadcasts to it.
pub(crate) fn broadcast_lanes(from: &[u32], to: &[u32]) -> Vec<usize> {
    let n: usize = to.iter().map(|&d| d as usize).product();
    (0..n)
        .map(|flat| {
            let (mut rest, mut src, mut stride) = (flat, 0, 1);
            for d in (0..to.len()).rev() {
                let (ext, i) = (to[d] as usize, rest % to[d] as usize);
                rest /= ext;
                let f = from.get(d).copied().unwrap_or(1) as usize;
                if f != 1 {
                    src += i * stride;
                }
                stride *= f;
            }
            src
        })
        .collect()
}

impl Emitter<'_> {
    /// `broadcast(x)` to `r`'s shape.
    pub(crate) fn broadcast(&mut self, x: ValueId, r: ValueId) -> Result<(), CodegenError> {
        let v = self.chunks(x)?;
        let lanes = broadcast_lanes(&self.ty(x).shape, &self.ty(r).shape);
        let elem = reg_elem(self.ty(x).elem);
        let out = lanes
            .chunks(self.lanes(r))
            .map(|idx| self.pick(&v, elem, idx))
            .collect();
        self.set_chunks(r, out);
        Ok(())
    }

    /// The result `r` whose lane `i` is lane `idx[i]` of `chunks` (of `r`'s element type).
    fn gather_into(&mut self, chunks: &[super::Operand], idx: &[usize], r: ValueId) {
        let elem = reg_elem(self.ty(r).elem);
        let out = idx
            .chunks(self.lanes(r))
            .map(|part| self.pick(chunks, elem, part))
            .collect();
        self.set_chunks(r, out);
    }

    /// `permute(x, perm)`.
    pub(crate) fn permute(
        &mut self,
        x: ValueId,
        perm: &[u32],
        r: ValueId,
    ) -> Result<(), CodegenError> {
        let v = self.chunks(x)?;
        let idx = lanes::permute_sources(&self.ty(x).shape, perm);
        self.gather_into(&v, &idx, r);
        Ok(())
    }

    /// `concat(a, b, axis)`: lanes of `a`'s chunks, then of `b`'s (the same widths).
    pub(crate) fn concat_tiles(
        &mut self,
        a: ValueId,
        b: ValueId,
        axis: u32,
        r: ValueId,
    ) -> Result<(), CodegenError> {
        let mut v = self.chunks(a)?;
        v.extend(self.chunks(b)?);
        let idx = lanes::concat_sources(&self.ty(a).shape, axis as usize);
        self.gather_into(&v, &idx, r);
        Ok(())
    }

    /// `slice(x, axis, start)`.
    pub(crate) fn slice(
        &mut self,
        x: ValueId,
        axis: u32,
        start: u32,
        r: ValueId,
    ) -> Result<(), CodegenError> {
        let v = self.chunks(x)?;
        let extent = self.ty(r).shape[axis as usize];
        let idx = lanes::slice_sources(&self.ty(x).shape, axis as usize, start, extent);
        self.gather_into(&v, &idx, r);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::broadcast_lanes;

    #[test]
    fn broadcast_lanes_repeat_rows_and_columns() {
        assert_eq!(broadcast_lanes(&[1, 3], &[2, 3]), vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(broadcast_lanes(&[2, 1], &[2, 3]), vec![0, 0, 0, 1, 1, 1]);
        assert_eq!(broadcast_lanes(&[1, 1], &[2, 2]), vec![0; 4]);
        assert_eq!(broadcast_lanes(&[2, 2], &[2, 2]), vec![0, 1, 2, 3]);
    }
}
