//! Reductions along one axis, in the interpreter's order.
//!
//! A tile is viewed as `[outer, n, inner]` around the reduced axis. Integer and `bool`
//! reductions along the last axis are one `llvm.vector.reduce.*` per row (their order does not
//! matter); float sums along it are ordered `llvm.vector.reduce.fadd` (sequential, bit-exact).
//! Everything else folds the `n` slices `[outer, inner]` in index order with vector ops, so
//! float results match the interpreter's sequential `f32` sums bit for bit.

use super::elementwise::suffix;
use super::{reg_elem, vec, Emitter, Operand};
use crate::CodegenError;
use bitmat_ir::{BinaryOp, DType, ElemType, ReduceOp, ValueId};

impl Emitter<'_> {
    /// `x.reduce(op, axis)`.
    pub(crate) fn reduce(
        &mut self,
        op: ReduceOp,
        x: ValueId,
        axis: u32,
        r: ValueId,
    ) -> Result<(), CodegenError> {
        let d = self.dtype(x)?;
        let shape = &self.ty(x).shape;
        let axis = axis as usize;
        if axis >= shape.len() {
            return Err(self.unsupported(format!("axis {axis} of a rank-{} tile", shape.len())));
        }
        let outer: usize = shape[..axis].iter().map(|&e| e as usize).product();
        let n = shape[axis] as usize;
        let inner: usize = shape[axis + 1..].iter().map(|&e| e as usize).product();
        let v = self.get(x)?;
        let (v, elem) = if d.is_float() {
            (self.to_f32(&v, d), "float")
        } else {
            (v, reg_elem(ElemType::Val(d)))
        };
        let row = |o: usize| -> Vec<usize> { (o * n..(o + 1) * n).collect() };
        let out = if inner == 1 && (!d.is_float() || op == ReduceOp::Sum) {
            let name = match (op, d) {
                (ReduceOp::Sum, d) if d.is_float() => "fadd",
                (ReduceOp::Sum, DType::Bool) => return Err(self.unsupported("`sum` of bool")),
                (ReduceOp::Sum, _) => "add",
                (ReduceOp::Max, DType::Bool) => "or",
                (ReduceOp::Min, DType::Bool) => "and",
                (ReduceOp::Max, d) if d.is_signed_int() => "smax",
                (ReduceOp::Min, d) if d.is_signed_int() => "smin",
                (ReduceOp::Max, _) => "umax",
                (ReduceOp::Min, _) => "umin",
            };
            let mut lanes = Vec::with_capacity(outer);
            for o in 0..outer {
                let rv = self.shuffle(&v, elem, &row(o));
                let intrinsic = format!("llvm.vector.reduce.{name}.{}", suffix(&rv.ty));
                lanes.push(if name == "fadd" {
                    // -0.0 + x == x for every x: the sum starts from the first element.
                    let start = Operand {
                        text: "-0.0".into(),
                        ty: "float".into(),
                    };
                    self.intrinsic("float", &intrinsic, &[&start, &rv])
                } else {
                    self.intrinsic(elem, &intrinsic, &[&rv])
                });
            }
            self.from_lanes(&lanes, elem)
        } else {
            let slice = |k: usize| -> Vec<usize> {
                (0..outer)
                    .flat_map(|o| (0..inner).map(move |i| o * n * inner + k * inner + i))
                    .collect()
            };
            let mut acc = self.shuffle(&v, elem, &slice(0));
            for k in 1..n {
                let s = self.shuffle(&v, elem, &slice(k));
                acc = match (op, d.is_float()) {
                    (ReduceOp::Sum, true) => {
                        let t = acc.ty.clone();
                        self.ins(t.clone(), format!("fadd {t} {}, {}", acc.text, s.text))
                    }
                    (ReduceOp::Max | ReduceOp::Min, true) => {
                        self.float_min_max(op == ReduceOp::Min, &acc, &s)
                    }
                    (op, false) => {
                        let b = match op {
                            ReduceOp::Sum => BinaryOp::Add,
                            ReduceOp::Max => BinaryOp::Max,
                            ReduceOp::Min => BinaryOp::Min,
                        };
                        self.binary_values(b, d, &acc, &s)?
                    }
                };
            }
            acc
        };
        let out = if d.is_float() {
            self.from_f32(&out, d)
        } else {
            out
        };
        debug_assert_eq!(out.ty, vec(self.numel(r), reg_elem(ElemType::Val(d))));
        self.set(r, out);
        Ok(())
    }
}
