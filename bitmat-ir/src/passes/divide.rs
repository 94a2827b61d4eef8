//! Integer division and remainder by a constant power of two `2^k` (`k >= 1`) become shifts
//! and masks, for every backend (none has a vector integer division):
//! - unsigned: `x / 2^k` is `x >> k`, `x % 2^k` is `x & (2^k - 1)`;
//! - signed (truncating, as Rust): `q = (x + ((x >> (w - 1)) & (2^k - 1))) >> k` (arithmetic
//!   shifts: the bias `2^k - 1` is added to negative `x` only), and `x % 2^k` is
//!   `x - (q << k)`. Both wrap exactly as the division does, `MIN` included.
//!
//! The divisor must be a constant (splatted to the operands' shape); other divisions are left
//! alone.

use crate::kernel::{BinaryOp, Block, Kernel, Op, OpKind, ValueId};
use crate::scalar::Scalar;
use crate::types::{DType, TileType};
use std::collections::HashMap;

/// Rewrites every integer division and remainder by a power of two in `kernel`.
pub fn run(kernel: &mut Kernel) {
    let constants = super::constants(&kernel.body);
    let mut body = std::mem::take(&mut kernel.body);
    rewrite_block(&mut body, &mut kernel.values, &constants);
    kernel.body = body;
}

/// `k` when `s` is `2^k` with `k >= 1`, read as a positive value of its type.
fn log2_of(s: Scalar) -> Option<u32> {
    let d = s.dtype();
    if !d.is_int() {
        return None;
    }
    let v = if d.is_signed_int() {
        u64::try_from(s.as_i64()).ok()?
    } else {
        s.bits()
    };
    (v > 1 && v.is_power_of_two()).then(|| v.trailing_zeros())
}

/// Emits ops into a block under construction, defining new values of one type.
struct Emit<'a> {
    ops: &'a mut Vec<Op>,
    values: &'a mut Vec<TileType>,
    ty: TileType,
    dtype: DType,
}

impl Emit<'_> {
    fn value(&mut self) -> ValueId {
        self.values.push(self.ty.clone());
        ValueId(self.values.len() as u32 - 1)
    }

    fn constant(&mut self, v: i64) -> ValueId {
        let r = self.value();
        self.ops.push(Op {
            kind: OpKind::Constant(Scalar::from_i64(self.dtype, v)),
            results: vec![r],
        });
        r
    }

    /// `a op b` into `into` (a new value when `None`).
    fn binary(&mut self, op: BinaryOp, a: ValueId, b: ValueId, into: Option<ValueId>) -> ValueId {
        let r = into.unwrap_or_else(|| self.value());
        self.ops.push(Op {
            kind: OpKind::Binary(op, a, b),
            results: vec![r],
        });
        r
    }
}

fn rewrite_block(
    block: &mut Block,
    values: &mut Vec<TileType>,
    constants: &HashMap<ValueId, Scalar>,
) {
    let mut ops = Vec::with_capacity(block.ops.len());
    for mut op in std::mem::take(&mut block.ops) {
        for b in op.kind.blocks_mut() {
            rewrite_block(b, values, constants);
        }
        let (OpKind::Binary(bop @ (BinaryOp::Div | BinaryOp::Rem), x, d), [r]) =
            (&op.kind, op.results.as_slice())
        else {
            ops.push(op);
            continue;
        };
        let (bop, x, r) = (*bop, *x, *r);
        let ty = values[r.index()].clone();
        let (Some(dtype), Some(k)) = (ty.dtype(), constants.get(d).copied().and_then(log2_of))
        else {
            ops.push(op);
            continue;
        };
        let mut e = Emit {
            ops: &mut ops,
            values,
            ty,
            dtype,
        };
        let mask = (1i64 << k) - 1;
        match (bop, dtype.is_signed_int()) {
            (BinaryOp::Div, false) => {
                let c = e.constant(i64::from(k));
                e.binary(BinaryOp::Shr, x, c, Some(r));
            }
            (_, false) => {
                let c = e.constant(mask);
                e.binary(BinaryOp::And, x, c, Some(r));
            }
            (bop, true) => {
                let (w1, m, kc) = (
                    e.constant(i64::from(dtype.bits() - 1)),
                    e.constant(mask),
                    e.constant(i64::from(k)),
                );
                let sign = e.binary(BinaryOp::Shr, x, w1, None);
                let bias = e.binary(BinaryOp::And, sign, m, None);
                let t = e.binary(BinaryOp::Add, x, bias, None);
                if bop == BinaryOp::Div {
                    e.binary(BinaryOp::Shr, t, kc, Some(r));
                } else {
                    let q = e.binary(BinaryOp::Shr, t, kc, None);
                    let qk = e.binary(BinaryOp::Shl, q, kc, None);
                    e.binary(BinaryOp::Sub, x, qk, Some(r));
                }
            }
        }
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
    use proptest::prelude::*;

    /// `out[i] = x[i] / 2^k` and `out2[i] = x[i] % 2^k` over 16 lanes of `d`.
    fn kernel(d: DType, k: u32) -> Kernel {
        let mut b = KernelBuilder::new("pow2");
        let x = b.param("x", ParamKind::Ptr(d));
        let q = b.param("q", ParamKind::Ptr(d));
        let r = b.param("r", ParamKind::Ptr(d));
        let offs = b.arange(16);
        let ptr = |b: &mut KernelBuilder, p| {
            let p = b.expand_dims(p, 0);
            let p = b.broadcast(p, vec![16]);
            b.add_ptr(p, offs)
        };
        let (px, pq, pr) = (ptr(&mut b, x), ptr(&mut b, q), ptr(&mut b, r));
        let v = b.load(px, None, None);
        let c = b.constant(Scalar::from_i64(d, 1 << k), vec![16]);
        let quo = b.binary(BinaryOp::Div, v, c);
        let rem = b.binary(BinaryOp::Rem, v, c);
        b.store(pq, quo, None);
        b.store(pr, rem, None);
        b.finish().unwrap()
    }

    fn outputs(k: &Kernel, x: &HostData, d: DType) -> Vec<HostData> {
        let (mut x, mut q, mut r) = (x.clone(), HostData::zeros(d, 16), HostData::zeros(d, 16));
        let args: Vec<ArgValue> = (0..3).map(ArgValue::Buffer).collect();
        interpret(k, [1, 1, 1], &args, &mut [&mut x, &mut q, &mut r]).unwrap();
        vec![x, q, r]
    }

    proptest! {
        /// On random values of every integer type (the extremes included), the rewritten
        /// kernel computes what plain Rust division and remainder do (the interpreter runs
        /// both kernels; the original's `div`/`rem` are Rust's wrapping ones).
        #[test]
        fn shifts_and_masks_match_division(
            d in prop::sample::select(vec![DType::I8, DType::U8, DType::I16, DType::U16, DType::I32, DType::U32, DType::I64, DType::U64]),
            k in 1u32..7,
            raw in prop::collection::vec(any::<u64>(), 16),
            extremes in any::<bool>(),
        ) {
            let original = kernel(d, k);
            let mut rewritten = original.clone();
            run(&mut rewritten);
            crate::verify::verify(&rewritten).unwrap();
            let text = rewritten.to_string();
            prop_assert!(!text.contains("= div ") && !text.contains("= rem "), "division left in:\n{}", text);
            let lanes: Vec<Scalar> = raw.iter().enumerate().map(|(i, &b)| {
                let min = Scalar::from_bits(d, if d.is_signed_int() { 1u64 << (d.bits() - 1) } else { 0 });
                if extremes && i % 4 == 0 { min } else { Scalar::from_bits(d, b) }
            }).collect();
            let mut x = HostData::zeros(d, 16);
            for (i, &s) in lanes.iter().enumerate() {
                x.set(i, s);
            }
            let want = outputs(&original, &x, d);
            let got = outputs(&rewritten, &x, d);
            prop_assert_eq!(&got, &want);
            // And against Rust directly.
            for (i, s) in lanes.iter().enumerate() {
                let (q, r) = if d.is_signed_int() {
                    let v = s.as_i64();
                    (v / (1 << k), v % (1 << k))
                } else {
                    let v = s.bits();
                    ((v >> k) as i64, (v & ((1 << k) - 1)) as i64)
                };
                prop_assert_eq!(got[1].get(i).unwrap().as_i64(), q);
                prop_assert_eq!(got[2].get(i).unwrap().as_i64(), r);
            }
        }
    }

    #[test]
    fn non_powers_of_two_and_floats_stay() {
        for (d, c) in [(DType::I32, 3), (DType::I32, -4), (DType::U32, 1)] {
            let mut k = kernel(d, 1);
            // Replace the divisor constant.
            for op in &mut k.body.ops {
                if let OpKind::Constant(s) = &mut op.kind {
                    if s.as_i64() == 2 {
                        *s = Scalar::from_i64(d, c);
                    }
                }
            }
            let before = k.clone();
            run(&mut k);
            assert_eq!(k, before, "divisor {c} of {d}");
        }
    }
}
