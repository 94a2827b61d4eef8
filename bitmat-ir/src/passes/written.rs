//! Which buffers a kernel writes: the pointer parameters from which the pointer operand of a
//! `store` or `atomic_add` may be derived.
//!
//! Pointers flow through `addptr` (from its pointer operand), shape ops (`broadcast`,
//! `expand_dims`, `reshape`), `select`, and the carried values and results of `for` and `if`.
//! The analysis follows every such edge, so the answer is conservative: a parameter that is
//! not listed is never written, whatever the runtime values. Autotuning uses it to save and
//! restore exactly the buffers that timing runs overwrite.

use crate::kernel::{Block, Kernel, OpKind, ParamKind, ValueId};
use std::collections::HashMap;

/// The indices (into [`Kernel::params`]) of the pointer parameters the kernel may write
/// through, ascending.
pub fn written_params(kernel: &Kernel) -> Vec<usize> {
    let mut flow = Flow {
        kernel,
        sources: HashMap::new(),
        written: Vec::new(),
    };
    flow.block(&kernel.body);
    // Walk back from every written pointer to the values it derives from.
    let mut seen = vec![false; kernel.values.len()];
    let mut stack = flow.written;
    while let Some(v) = stack.pop() {
        if std::mem::replace(&mut seen[v.index()], true) {
            continue;
        }
        if let Some(from) = flow.sources.get(&v) {
            stack.extend(from.iter().copied());
        }
    }
    kernel
        .params
        .iter()
        .enumerate()
        .filter(|(_, p)| matches!(p.kind, ParamKind::Ptr(_)) && seen[p.value.index()])
        .map(|(i, _)| i)
        .collect()
}

/// Pointer-valued data flow: for each pointer value, the pointer values it may derive from.
struct Flow<'k> {
    kernel: &'k Kernel,
    sources: HashMap<ValueId, Vec<ValueId>>,
    /// Pointer operands of `store` and the atomics.
    written: Vec<ValueId>,
}

impl Flow<'_> {
    fn is_ptr(&self, v: ValueId) -> bool {
        self.kernel.ty(v).elem.pointee().is_some()
    }

    fn edge(&mut self, to: ValueId, from: ValueId) {
        if self.is_ptr(to) && self.is_ptr(from) {
            self.sources.entry(to).or_default().push(from);
        }
    }

    fn block(&mut self, block: &Block) {
        for op in &block.ops {
            match &op.kind {
                OpKind::Store { ptr, .. }
                | OpKind::Atomic { ptr, .. }
                | OpKind::AtomicCas { ptr, .. } => self.written.push(*ptr),
                OpKind::For { init, body, .. } | OpKind::While { init, body } => {
                    let yields = yields(body);
                    // Body arguments: the induction variable of a `for`, then one per carried
                    // value; a `while` body yields its condition before them.
                    let (arg_lead, yield_lead) = match op.kind {
                        OpKind::For { .. } => (1, 0),
                        _ => (0, 1),
                    };
                    for (i, &carried) in init.iter().enumerate() {
                        let arg = body.args.get(i + arg_lead).copied();
                        let next = yields.get(i + yield_lead).copied();
                        for to in arg.into_iter().chain(op.results.get(i).copied()) {
                            self.edge(to, carried);
                            if let Some(y) = next {
                                self.edge(to, y);
                            }
                        }
                    }
                    self.block(body);
                    continue;
                }
                OpKind::If {
                    then_block,
                    else_block,
                    ..
                } => {
                    for b in [then_block, else_block] {
                        for (&to, &from) in op.results.iter().zip(&yields(b)) {
                            self.edge(to, from);
                        }
                        self.block(b);
                    }
                    continue;
                }
                _ => {}
            }
            // Every other op: a pointer result may derive from any pointer operand.
            let operands = op.kind.operands();
            for &to in &op.results {
                for &from in &operands {
                    self.edge(to, from);
                }
            }
        }
    }
}

/// The values yielded at the end of `block` (empty when it does not end with a `yield`).
fn yields(block: &Block) -> Vec<ValueId> {
    match block.ops.last().map(|op| &op.kind) {
        Some(OpKind::Yield(v)) => v.clone(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsl::{self, ForLoop, Tile};
    use crate::DType;

    #[test]
    fn stores_and_atomics_through_offsets_shapes_and_loops() {
        let kernel = dsl::trace("k", || {
            let x = dsl::param("x", ParamKind::Ptr(DType::F32));
            let out = dsl::param("out", ParamKind::Ptr(DType::F32));
            let idx = dsl::param("idx", ParamKind::Ptr(DType::I32));
            let hist = dsl::param("hist", ParamKind::Ptr(DType::I32));
            let n = dsl::param("n", ParamKind::Scalar(DType::I32));
            let offs: Tile = dsl::arange(16);
            let v = dsl::load(x + offs);
            // `out` is written through a pointer offset by a value loaded from `idx`: `idx` is
            // read, not written.
            let target = dsl::load(idx + offs);
            let mut acc = dsl::zeros::<f32>([16]);
            let lp = ForLoop::begin(0, n, 1, &["acc"], &mut [&mut acc]);
            acc += v;
            lp.end(&mut [&mut acc]);
            dsl::store((out + target).unsqueeze(0), acc.unsqueeze(0));
            dsl::atomic_add_unmasked(hist + offs, dsl::full([16], 1i32));
        })
        .expect("traces");
        // x, out, idx, hist, n: `out` and `hist` are written.
        assert_eq!(written_params(&kernel), vec![1, 3]);
    }

    #[test]
    fn pointers_carried_through_loops() {
        let kernel = dsl::trace("k", || {
            let x = dsl::param("x", ParamKind::Ptr(DType::I32));
            let out = dsl::param("out", ParamKind::Ptr(DType::I32));
            let n = dsl::param("n", ParamKind::Scalar(DType::I32));
            let mut p: Tile = out + dsl::arange(8);
            let lp = ForLoop::begin(0, n, 1, &["p"], &mut [&mut p]);
            p += 8;
            lp.end(&mut [&mut p]);
            dsl::store(p, dsl::load(x + dsl::arange(8)));
        })
        .expect("traces");
        assert_eq!(written_params(&kernel), vec![1]);
    }

    #[test]
    fn read_only_kernel_writes_nothing() {
        let kernel = dsl::trace("k", || {
            let x = dsl::param("x", ParamKind::Ptr(DType::F32));
            let _ = dsl::load(x + dsl::arange(4));
        })
        .expect("traces");
        assert!(written_params(&kernel).is_empty());
    }
}
