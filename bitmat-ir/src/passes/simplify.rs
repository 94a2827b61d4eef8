//! Local simplifications that need no evaluation of arithmetic:
//! - `broadcast`, `expand_dims`, `reshape`, `cast` and `bitcast` of a constant become a constant;
//! - integer `x + 0`, `x - 0`, `x * 1`, `x / 1`, `x | 0`, `x ^ 0`, `x << 0`, `x >> 0` and
//!   float `x * 1`, `x / 1` become `x` (float `x + 0` does not: `-0.0 + 0.0` is `+0.0`).

use super::substitute;
use crate::kernel::{BinaryOp, Block, Kernel, OpKind, ValueId};
use crate::scalar::Scalar;
use crate::types::TileType;
use std::collections::HashMap;

/// Applies the simplifications to the whole kernel.
pub fn run(kernel: &mut Kernel) {
    let mut constants = HashMap::new();
    let mut forward = HashMap::new();
    let mut body = std::mem::take(&mut kernel.body);
    simplify_block(&mut body, &kernel.values, &mut constants, &mut forward);
    substitute(&mut body, &forward);
    kernel.body = body;
}

fn is_constant_with(
    constants: &HashMap<ValueId, Scalar>,
    v: ValueId,
    f: impl Fn(Scalar) -> bool,
) -> bool {
    constants.get(&v).is_some_and(|&s| f(s))
}

fn simplify_block(
    block: &mut Block,
    types: &[TileType],
    constants: &mut HashMap<ValueId, Scalar>,
    forward: &mut HashMap<ValueId, ValueId>,
) {
    for op in &mut block.ops {
        for v in op.kind.operands_mut() {
            if let Some(&to) = forward.get(v) {
                *v = to;
            }
        }
        for b in op.kind.blocks_mut() {
            simplify_block(b, types, constants, forward);
        }
        let Some(&result) = op.results.first() else {
            continue;
        };
        let Some(result_type) = types.get(result.index()) else {
            continue;
        };
        let folded = match &op.kind {
            OpKind::Constant(s) => Some(*s),
            OpKind::Broadcast(v) | OpKind::Reshape(v) | OpKind::ExpandDims { value: v, .. } => {
                constants.get(v).copied()
            }
            OpKind::Cast(v) => match (constants.get(v), result_type.dtype()) {
                (Some(s), Some(to)) => Some(s.cast(to)),
                _ => None,
            },
            OpKind::Bitcast(v) => match (constants.get(v), result_type.dtype()) {
                (Some(s), Some(to)) if s.dtype().bits() == to.bits() => {
                    Some(Scalar::from_bits(to, s.bits()))
                }
                _ => None,
            },
            _ => None,
        };
        if let Some(s) = folded {
            op.kind = OpKind::Constant(s);
            constants.insert(result, s);
            continue;
        }
        if let OpKind::Binary(bop, a, b) = op.kind {
            let is_int = result_type.dtype().is_some_and(|d| d.is_int());
            let zero = |s: Scalar| s.bits() == 0;
            let one = |s: Scalar| {
                if s.dtype().is_float() {
                    s.as_f64() == 1.0
                } else {
                    s.bits() == 1
                }
            };
            let identity = match bop {
                BinaryOp::Add if is_int && is_constant_with(constants, a, zero) => Some(b),
                BinaryOp::Add
                | BinaryOp::Sub
                | BinaryOp::Or
                | BinaryOp::Xor
                | BinaryOp::Shl
                | BinaryOp::Shr
                    if is_int && is_constant_with(constants, b, zero) =>
                {
                    Some(a)
                }
                BinaryOp::Or | BinaryOp::Xor if is_int && is_constant_with(constants, a, zero) => {
                    Some(b)
                }
                BinaryOp::Mul if is_constant_with(constants, b, one) => Some(a),
                BinaryOp::Mul if is_constant_with(constants, a, one) => Some(b),
                BinaryOp::Div if is_constant_with(constants, b, one) => Some(a),
                _ => None,
            };
            // The identity operand has the result's shape only if no broadcast was implied.
            if let Some(x) = identity.filter(|x| types.get(x.index()) == Some(result_type)) {
                forward.insert(result, x);
            }
        }
    }
}
