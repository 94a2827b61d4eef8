//! Passes and analyses every backend shares. [`contiguity`] tells which pointer tiles are
//! contiguous (for vector loads); [`optimize`] runs the canonicalization pipeline that
//! specialization applies to each kernel: [`simplify`] (constant reshaping and algebraic
//! identities), [`divide`] (division and remainder by powers of two as shifts and masks),
//! [`cse`] (common subexpressions) and [`dce`] (dead code). [`written_params`] tells which
//! buffers a kernel writes; [`specialize`] applies a launch's argument facts; [`bounds`]
//! instruments a kernel with bounds checks for checked launches.

pub mod bounds;
pub mod contiguity;
pub mod cse;
pub mod dce;
pub mod divide;
pub mod simplify;
pub mod specialize;
pub mod written;

pub use written::written_params;

use crate::kernel::{Block, Kernel, ValueId};
use std::collections::HashMap;

/// Simplifies, deduplicates and prunes `kernel` in place. The result computes the same
/// values and has the same side effects.
pub fn optimize(kernel: &mut Kernel) {
    simplify::run(kernel);
    divide::run(kernel);
    cse::run(kernel);
    dce::run(kernel);
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
