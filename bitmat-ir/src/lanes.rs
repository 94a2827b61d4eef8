//! Where each element of a shape op's result comes from: for `permute`, `concat` and `slice`,
//! the row-major index in the operand (for `concat`, in `a` followed by `b`) of every
//! row-major result element. The interpreter gathers by these maps, the LLVM backend turns them
//! into shuffles, and tests replay them.

/// Row-major strides of `shape`, in elements.
fn strides(shape: &[u32]) -> Vec<usize> {
    let mut out = vec![1usize; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        out[d] = out[d + 1] * shape[d + 1] as usize;
    }
    out
}

/// For each element of a result of shape `out`, the sum over its axes of the index along the
/// axis times `stride[axis]`, plus `base`.
fn walk(out: &[u32], stride: &[usize], base: impl Fn(&[usize]) -> usize) -> Vec<usize> {
    let n: usize = out.iter().map(|&d| d as usize).product();
    let mut idx = vec![0usize; out.len()];
    let mut res = Vec::with_capacity(n);
    for _ in 0..n {
        res.push(idx.iter().zip(stride).map(|(&i, &s)| i * s).sum::<usize>() + base(&idx));
        for d in (0..out.len()).rev() {
            idx[d] += 1;
            if idx[d] < out[d] as usize {
                break;
            }
            idx[d] = 0;
        }
    }
    res
}

/// `permute(x, perm)` of an operand of shape `shape`: result axis `i` is axis `perm[i]`.
pub fn permute_sources(shape: &[u32], perm: &[u32]) -> Vec<usize> {
    let s = strides(shape);
    let out: Vec<u32> = perm.iter().map(|&p| shape[p as usize]).collect();
    let stride: Vec<usize> = perm.iter().map(|&p| s[p as usize]).collect();
    walk(&out, &stride, |_| 0)
}

/// `concat(a, b, axis)` of operands of shape `shape`: indices below `numel(shape)` are
/// elements of `a`, the others elements of `b` (offset by `numel(shape)`).
pub fn concat_sources(shape: &[u32], axis: usize) -> Vec<usize> {
    let s = strides(shape);
    let numel: usize = shape.iter().map(|&d| d as usize).product();
    let mut out = shape.to_vec();
    out[axis] *= 2;
    let half = shape[axis] as usize;
    // Along `axis`, index `i >= half` is element `i - half` of `b`.
    let mut stride = s.clone();
    stride[axis] = 0;
    walk(&out, &stride, |idx| {
        let i = idx[axis];
        if i < half {
            i * s[axis]
        } else {
            numel + (i - half) * s[axis]
        }
    })
}

/// `slice(x, axis, start)` with extent `extent` along `axis`, of an operand of shape `shape`.
pub fn slice_sources(shape: &[u32], axis: usize, start: u32, extent: u32) -> Vec<usize> {
    let s = strides(shape);
    let mut out = shape.to_vec();
    out[axis] = extent;
    walk(&out, &s, |_| start as usize * s[axis])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transposes_concatenates_and_slices() {
        // [[0, 1, 2, 3], [4, 5, 6, 7]] transposed.
        assert_eq!(permute_sources(&[2, 4], &[1, 0]), [0, 4, 1, 5, 2, 6, 3, 7]);
        assert_eq!(
            permute_sources(&[2, 4], &[0, 1]),
            (0..8).collect::<Vec<_>>()
        );
        // Joined along a trailing axis of 1: the elements of a and b interleave.
        assert_eq!(concat_sources(&[3, 1], 1), [0, 3, 1, 4, 2, 5]);
        assert_eq!(concat_sources(&[2, 2], 0), (0..8).collect::<Vec<_>>());
        assert_eq!(concat_sources(&[2, 2], 1), [0, 1, 4, 5, 2, 3, 6, 7]);
        assert_eq!(slice_sources(&[2, 4], 1, 2, 2), [2, 3, 6, 7]);
        assert_eq!(slice_sources(&[4, 2], 0, 2, 1), [4, 5]);
    }
}
