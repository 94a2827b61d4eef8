//! Passes and analyses every backend shares. [`contiguity`] tells which pointer tiles are
//! contiguous (for vector loads) and [`intervals`] what range each integer value stays in (for
//! cheaper instructions on small values); [`optimize`] runs the canonicalization pipeline that
//! specialization applies to each kernel: [`simplify`] (constant reshaping and algebraic
//! identities), [`divide`] (division and remainder by powers of two as shifts and masks),
//! [`cse`] (common subexpressions) and [`dce`] (dead code). [`written_params`] tells which
//! buffers a kernel writes; [`specialize`] applies a launch's argument facts; [`bounds`]
//! instruments a kernel with bounds checks for checked launches; [`fp8_dot`] turns an fp8
//! `dot` into an f16 one for the backends without fp8 matrix instructions; [`debug`] removes
//! the assertions of launches that are not debug launches.

pub mod bounds;
pub mod contiguity;
pub mod cse;
pub mod dce;
pub mod debug;
pub mod divide;
pub mod fp8_dot;
pub mod intervals;
pub mod ranges;
pub mod simplify;
pub mod specialize;
pub mod written;

pub use written::written_params;

use crate::kernel::{Block, Kernel, OpKind, ValueId};
use crate::scalar::Scalar;
use std::collections::HashMap;

/// Simplifies, deduplicates and prunes `kernel` in place. The result computes the same
/// values and has the same side effects.
pub fn optimize(kernel: &mut Kernel) {
    simplify::run(kernel);
    divide::run(kernel);
    cse::run(kernel);
    dce::run(kernel);
}

/// The values of `block` (and nested blocks) that are constants: constant ops, and their
/// splats and shape changes (`broadcast`, `reshape`, `expand_dims`), with the constant.
pub fn constants(block: &Block) -> HashMap<ValueId, Scalar> {
    fn collect(block: &Block, out: &mut HashMap<ValueId, Scalar>) {
        for op in &block.ops {
            match (&op.kind, op.results.first()) {
                (OpKind::Constant(s), Some(&r)) => {
                    out.insert(r, *s);
                }
                (
                    OpKind::Broadcast(x) | OpKind::Reshape(x) | OpKind::ExpandDims { value: x, .. },
                    Some(&r),
                ) => {
                    if let Some(&s) = out.get(x) {
                        out.insert(r, s);
                    }
                }
                _ => {}
            }
            for b in op.kind.blocks() {
                collect(b, out);
            }
        }
    }
    let mut out = HashMap::new();
    collect(block, &mut out);
    out
}

/// Rewrites every operand of `block` (nested blocks included) through `map`.
pub(crate) fn substitute(block: &mut Block, map: &HashMap<ValueId, ValueId>) {
    if map.is_empty() {
        return;
    }
    for op in &mut block.ops {
        for v in op.kind.operands_mut() {
            if let Some(&to) = map.get(v) {
                *v = to;
            }
        }
        for b in op.kind.blocks_mut() {
            substitute(b, map);
        }
    }
}
