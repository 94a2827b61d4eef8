//! `dot` on fp8 operands as a `dot` on f16 operands, for the backends (and targets) without
//! fp8 matrix instructions: every f8e4m3 and f8e5m2 value is exactly an f16 value, and the
//! products of f16 (and so of fp8) values are exact in the f32 accumulator, so the rewrite
//! computes what the interpreter's fp8 `dot` does, up to the order of the f32 additions that
//! every backend's `dot` already takes its own.

use crate::kernel::{Block, Kernel, Op, OpKind, ValueId};
use crate::types::{DType, TileType};

/// Rewrites every `dot` with fp8 operands in `kernel` into casts of the operands to f16 and a
/// `dot` on those.
pub fn run(kernel: &mut Kernel) {
    let mut body = std::mem::take(&mut kernel.body);
    rewrite_block(&mut body, &mut kernel.values);
    kernel.body = body;
}

/// True when `kernel` has a `dot` with fp8 operands (at any depth).
pub fn has_fp8_dot(kernel: &Kernel) -> bool {
    fn walk(block: &Block, values: &[TileType]) -> bool {
        block.ops.iter().any(|op| {
            let here = matches!(op.kind, OpKind::Dot { a, .. }
                if values[a.index()].dtype().is_some_and(DType::is_fp8));
            here || op.kind.blocks().into_iter().any(|b| walk(b, values))
        })
    }
    walk(&kernel.body, &kernel.values)
}

/// `v` cast to f16 into a new value, when it is an fp8 tile; `v` itself otherwise.
fn widened(v: ValueId, ops: &mut Vec<Op>, values: &mut Vec<TileType>) -> ValueId {
    let ty = values[v.index()].clone();
    if !ty.dtype().is_some_and(DType::is_fp8) {
        return v;
    }
    values.push(TileType::val(DType::F16, ty.shape));
    let r = ValueId(values.len() as u32 - 1);
    ops.push(Op {
        kind: OpKind::Cast(v),
        results: vec![r],
    });
    r
}

fn rewrite_block(block: &mut Block, values: &mut Vec<TileType>) {
    let mut ops = Vec::with_capacity(block.ops.len());
    for mut op in std::mem::take(&mut block.ops) {
        for b in op.kind.blocks_mut() {
            rewrite_block(b, values);
        }
        if let OpKind::Dot { a, b, .. } = &mut op.kind {
            *a = widened(*a, &mut ops, values);
            *b = widened(*b, &mut ops, values);
        }
        ops.push(op);
    }
    block.ops = ops;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::KernelBuilder;
    use crate::interp::{run as interpret, ArgValue};
    use crate::kernel::ParamKind;
    use crate::{HostData, Scalar};

    /// A `[rows, cols]` tile of pointers to consecutive elements of `p`, row-major.
    fn ptrs(b: &mut KernelBuilder, p: ValueId, rows: u32, cols: u32) -> ValueId {
        let offs = b.arange(rows * cols);
        let offs = b.reshape(offs, vec![rows, cols]);
        let p = b.expand_dims(p, 0);
        let p = b.expand_dims(p, 0);
        let p = b.broadcast(p, vec![rows, cols]);
        b.add_ptr(p, offs)
    }

    /// `c = a [4, 8] x b [8, 4]` with `a` of `da` and `b` of `db`.
    fn kernel(da: DType, db: DType) -> Kernel {
        let mut b = KernelBuilder::new("fp8_dot");
        let pa = b.param("a", ParamKind::Ptr(da));
        let pb = b.param("b", ParamKind::Ptr(db));
        let pc = b.param("c", ParamKind::Ptr(DType::F32));
        let (a_ptr, b_ptr, c_ptr) = (
            ptrs(&mut b, pa, 4, 8),
            ptrs(&mut b, pb, 8, 4),
            ptrs(&mut b, pc, 4, 4),
        );
        let x = b.load(a_ptr, None, None);
        let y = b.load(b_ptr, None, None);
        let acc = b.constant(Scalar::zero(DType::F32), vec![4, 4]);
        let d = b.dot(x, y, acc);
        b.store(c_ptr, d, None);
        b.finish().unwrap()
    }

    /// 32 values of `d`: every sign, exponent and mantissa bit pattern but NaN, by `seed`.
    fn values(d: DType, seed: u8) -> HostData {
        let mut v = HostData::zeros(d, 32);
        for i in 0..32u8 {
            let bits = i.wrapping_mul(37).wrapping_add(seed) & 0xfe;
            v.set(i as usize, Scalar::from_bits(d, u64::from(bits)));
        }
        v
    }

    fn product(k: &Kernel, da: DType, db: DType) -> HostData {
        let (mut a, mut b, mut c) = (
            values(da, 3),
            values(db, 11),
            HostData::zeros(DType::F32, 16),
        );
        let args: Vec<ArgValue> = (0..3).map(ArgValue::Buffer).collect();
        interpret(k, [1, 1, 1], &args, &mut [&mut a, &mut b, &mut c]).unwrap();
        c
    }

    #[test]
    fn widening_to_f16_keeps_every_result_bit() {
        for (da, db) in [
            (DType::F8E4M3, DType::F8E4M3),
            (DType::F8E4M3, DType::F8E5M2),
            (DType::F8E5M2, DType::F8E4M3),
            (DType::F8E5M2, DType::F8E5M2),
        ] {
            let k = kernel(da, db);
            let mut w = k.clone();
            run(&mut w);
            crate::verify::verify(&w).unwrap();
            assert!(has_fp8_dot(&k) && !has_fp8_dot(&w));
            let (want, got) = (product(&k, da, db), product(&w, da, db));
            let bits = |h: &HostData| {
                (0..16)
                    .map(|i| h.get(i).unwrap().bits())
                    .collect::<Vec<_>>()
            };
            assert_eq!(bits(&got), bits(&want), "{da} x {db}");
        }
    }
}
