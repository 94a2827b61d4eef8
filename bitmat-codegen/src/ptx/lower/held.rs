//! Loads of a pipelined loop around a tensor-core `dot` held in registers one iteration
//! ahead (the register half of Triton's pipeliner): a load of the body whose result does not
//! go to a `cp.async` ring (packed weights that the body decodes, scales, a vector that it
//! scales by) is issued for iteration `i + 1` at the top of iteration `i`, into registers that
//! the next iteration reads. Its latency then overlaps the rest of the iteration instead of
//! stalling the code that uses it.
//!
//! A load qualifies under the ring's conditions on its address (its pointers and mask depend
//! only on values defined before the loop, the induction variable and affine carried
//! values), when its fallback value is a constant or defined before the loop, and when its
//! registers are few ([`HELD_BYTES`]). The loads of a later iteration are predicated on that
//! iteration running, so that the code stays one basic block and nothing past the loop is
//! read.

use super::pipeline::{Future, LoopPipeline};
use crate::ptx::emit::{word_bytes, Emitter};
use crate::ptx::regs::{dclass, Class};
use crate::CodegenError;
use bitmat_ir::{Block, DType, OpKind, ValueId};
use std::collections::HashSet;

/// The most bytes per thread one held load may take in registers.
const HELD_BYTES: u32 = 64;

/// The most bytes per thread all the held loads of a loop may take.
const HELD_TOTAL_BYTES: u32 = 128;

impl Emitter<'_> {
    /// The loads of `body` (op indices) to hold one iteration ahead: those that qualify (see
    /// the module docs) and are not the ring loads `rings`, in body order, within the
    /// register budget.
    pub(crate) fn plan_held(
        &self,
        body: &Block,
        rings: &[usize],
        inside: &HashSet<ValueId>,
        free: &HashSet<ValueId>,
    ) -> Vec<usize> {
        let mut held = Vec::new();
        let mut total = 0;
        for (i, op) in body.ops.iter().enumerate() {
            let OpKind::Load { ptr, mask, other } = op.kind else {
                continue;
            };
            // A fallback value must be there when a later iteration's load is issued: a
            // constant, or a value from before the loop.
            let early = |o: ValueId| self.constant_value(o).is_some() || !inside.contains(&o);
            if rings.contains(&i) || other.is_some_and(|o| !early(o)) {
                continue;
            }
            let Some(d) = self.k.ty(ptr).elem.pointee() else {
                continue;
            };
            let bytes = self.layout(ptr).slots() * word_bytes(dclass(d));
            if bytes > HELD_BYTES || total + bytes > HELD_TOTAL_BYTES {
                continue;
            }
            let mut roots = vec![ptr];
            roots.extend(mask);
            if self.slice_ops(body, &roots, inside, free).is_some() {
                total += bytes;
                held.push(i);
            }
        }
        held
    }

    /// Issues the plan's held loads for iteration `at` (masked off where it does not run);
    /// returns their register class and registers, in the plan's order.
    pub(crate) fn issue_held(
        &mut self,
        body: &Block,
        plan: &LoopPipeline,
        at: &Future,
    ) -> Result<Vec<(Class, Vec<String>)>, CodegenError> {
        let mut out = Vec::new();
        for &i in &plan.held {
            let OpKind::Load { ptr, mask, other } = body.ops[i].kind else {
                return Err(self.unsupported("held op is not a load"));
            };
            let mut roots = vec![ptr];
            roots.extend(mask);
            let regs = self.emit_slice(body, &roots, &at.subst)?;
            let ms = regs.get(1).map(Vec::as_slice);
            let d = self.pointee(ptr)?;
            let loaded = self.load_tile(ptr, mask, other, &regs[0], ms, Some(&at.run))?;
            out.push((dclass(d), loaded));
        }
        Ok(out)
    }

    /// [`Self::future_iteration`] `ahead` iterations on, with the plan's held loads bound to
    /// `held`, their registers for that iteration.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn held_iteration(
        &mut self,
        body: &Block,
        plan: &LoopPipeline,
        bounds: [&str; 3],
        iv_dtype: DType,
        ahead: u32,
        carried: &[Vec<String>],
        held: Option<&Vec<(Class, Vec<String>)>>,
    ) -> Result<Future, CodegenError> {
        let mut at = self.future_iteration(body, plan, bounds, iv_dtype, ahead, carried)?;
        for (&i, (_, regs)) in plan.held.iter().zip(held.into_iter().flatten()) {
            at.subst.push((body.ops[i].results[0], regs.clone()));
        }
        Ok(at)
    }
}
