//! Common-subexpression elimination: a pure op identical to one earlier in the same block or
//! an enclosing one (same kind, operands and result types) is removed and its results
//! replaced by the earlier op's.

use super::substitute;
use crate::kernel::{Block, Kernel, OpKind, ValueId};
use crate::types::TileType;
use std::collections::HashMap;

type Key = (OpKind, Vec<TileType>);

/// Eliminates common subexpressions in the whole kernel.
pub fn run(kernel: &mut Kernel) {
    let mut map = HashMap::new();
    let mut scopes: Vec<HashMap<Key, Vec<ValueId>>> = Vec::new();
    let mut body = std::mem::take(&mut kernel.body);
    cse_block(&mut body, &kernel.values, &mut scopes, &mut map);
    substitute(&mut body, &map);
    kernel.body = body;
}

fn cse_block(
    block: &mut Block,
    types: &[TileType],
    scopes: &mut Vec<HashMap<Key, Vec<ValueId>>>,
    map: &mut HashMap<ValueId, ValueId>,
) {
    scopes.push(HashMap::new());
    let ops = std::mem::take(&mut block.ops);
    for mut op in ops {
        for v in op.kind.operands_mut() {
            if let Some(&to) = map.get(v) {
                *v = to;
            }
        }
        for b in op.kind.blocks_mut() {
            cse_block(b, types, scopes, map);
        }
        if op.kind.is_pure() {
            let result_types: Vec<TileType> = op
                .results
                .iter()
                .filter_map(|r| types.get(r.index()).cloned())
                .collect();
            let key = (op.kind.clone(), result_types);
            if let Some(existing) = scopes.iter().rev().find_map(|s| s.get(&key)) {
                for (r, e) in op.results.iter().zip(existing) {
                    map.insert(*r, *e);
                }
                continue;
            }
            scopes
                .last_mut()
                .expect("pushed above")
                .insert(key, op.results.clone());
        }
        block.ops.push(op);
    }
    scopes.pop();
}
