//! Dead-code elimination: pure ops whose results are never used are removed, repeatedly, so
//! chains of dead ops disappear.

use crate::kernel::{Block, Kernel, ValueId};
use std::collections::HashSet;

/// Removes dead pure ops from the whole kernel.
pub fn run(kernel: &mut Kernel) {
    loop {
        let mut used = HashSet::new();
        collect_uses(&kernel.body, &mut used);
        if !remove_dead(&mut kernel.body, &used) {
            break;
        }
    }
}

fn collect_uses(block: &Block, used: &mut HashSet<ValueId>) {
    for op in &block.ops {
        used.extend(op.kind.operands());
        for b in op.kind.blocks() {
            collect_uses(b, used);
        }
    }
}

/// Removes dead ops; true if any was removed.
fn remove_dead(block: &mut Block, used: &HashSet<ValueId>) -> bool {
    let before = block.ops.len();
    block
        .ops
        .retain(|op| !op.kind.is_pure() || op.results.iter().any(|r| used.contains(r)));
    let mut changed = block.ops.len() != before;
    for op in &mut block.ops {
        for b in op.kind.blocks_mut() {
            changed |= remove_dead(b, used);
        }
    }
    changed
}
