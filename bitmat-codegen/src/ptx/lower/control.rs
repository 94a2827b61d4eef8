//! Structured control flow: `for` and `while` loops with carried values and two-way `if`. Loop bounds and
//! branch conditions are scalars, held alike by every thread, so branches are uniform
//! (`bra.uni`) and barriers inside them are safe.
//!
//! A carried value keeps one layout (the assignment pass ties the initial value, the block
//! argument, the yielded value and the result); values that arrive in another layout are
//! converted at the boundary. Conversions of values defined before a loop that its body
//! needs are made once, before the loop (hoisted), rather than on every iteration.

use super::int_ty;
use super::pipeline::LoopPipeline;
use crate::ptx::assign::{broadcast_bits, recomputable, same_layout_operands, walk};
use crate::ptx::emit::Emitter;
use crate::ptx::layout::Layout;
use crate::ptx::regs::{class_of, dclass, Class};
use crate::CodegenError;
use bitmat_ir::{Block, Op, OpKind, ValueId};

/// Registers per thread that the loop-invariant tiles computed before a loop may hold in all
/// ([`Emitter::hoist_invariants`]).
const HOISTED_TILE_REGISTERS: u32 = 16;

impl Emitter<'_> {
    /// Copies the registers of `vals`, each in the layout of the matching value of `targets`,
    /// into `dsts` as a parallel copy (through temporaries, so a source may also be a
    /// destination).
    fn parallel_copy(
        &mut self,
        vals: &[ValueId],
        targets: &[ValueId],
        dsts: &[Vec<String>],
    ) -> Result<(), CodegenError> {
        if vals.len() != dsts.len() || vals.len() != targets.len() {
            return Err(self.unsupported("`yield` arity does not match its op"));
        }
        let mut temps = Vec::new();
        for (&v, &t) in vals.iter().zip(targets) {
            let c = class_of(self.k.ty(v).elem);
            let lt = self.layout(t);
            let regs = self.get_as(v, &lt)?;
            let ts: Vec<String> = regs
                .iter()
                .map(|r| {
                    let t = self.reg(c);
                    self.mov(c, &t, r);
                    t
                })
                .collect();
            temps.push((c, ts));
        }
        for ((c, ts), ds) in temps.iter().zip(dsts) {
            if ts.len() != ds.len() {
                return Err(self.unsupported("`yield` value of a different layout"));
            }
            for (t, d) in ts.iter().zip(ds) {
                self.mov(*c, d, t);
            }
        }
        Ok(())
    }

    /// The registers that carry a loop's values around it, one set per block argument of
    /// `args`, in its layout, initialized with the values of `init`; binds each argument to
    /// its set.
    fn carried_registers(
        &mut self,
        init: &[ValueId],
        args: &[ValueId],
    ) -> Result<Vec<Vec<String>>, CodegenError> {
        let mut phis = Vec::new();
        for (&v, &arg) in init.iter().zip(args) {
            let regs = self.fresh_like(arg);
            let vc = class_of(self.k.ty(v).elem);
            let la = self.layout(arg);
            for (p, r) in regs.iter().zip(self.get_as(v, &la)?) {
                self.mov(vc, p, &r);
            }
            self.define(arg, regs.clone());
            phis.push(regs);
        }
        Ok(phis)
    }

    pub(crate) fn lower_for(
        &mut self,
        results: &[ValueId],
        lower: ValueId,
        upper: ValueId,
        step: ValueId,
        init: &[ValueId],
        body: &Block,
    ) -> Result<(), CodegenError> {
        let d = self.dtype(lower)?;
        let (lo, up, st) = (
            self.get(lower)?[0].clone(),
            self.get(upper)?[0].clone(),
            self.get(step)?[0].clone(),
        );
        if body.args.len() != init.len() + 1 || results.len() != init.len() {
            return Err(self.unsupported("`for` arity mismatch"));
        }
        let c = dclass(d);
        let iv = self.reg(c);
        self.mov(c, &iv, &lo);
        self.define(body.args[0], vec![iv.clone()]);
        let phis = self.carried_registers(init, &body.args[1..])?;
        self.hoist_invariants(body)?;
        self.hoist_conversions(body)?;
        let mark = self.shared_top;
        let pipe = self.plan_pipeline(body);
        // The affine carried values' registers, in the plan's order.
        let carried = |e: &Self, plan: &LoopPipeline| -> Vec<Vec<String>> {
            plan.affine
                .iter()
                .map(|(a, _)| e.get(*a).unwrap_or_default())
                .collect()
        };
        let bounds = [iv.as_str(), st.as_str(), up.as_str()];
        // The registers of the held loads for the iteration about to run.
        let mut held = Vec::new();
        if let Some(plan) = &pipe {
            self.line(format!(
                "// pipelined: {} load(s) in {} stages, {} held in registers, {} staged operand(s){}",
                plan.loads.len(),
                plan.stages,
                plan.held.len(),
                plan.staged.as_ref().map_or(0, |s| s.operands.len()),
                if plan.staged.as_ref().is_some_and(|s| s.ahead) {
                    " made a step ahead"
                } else {
                    ""
                }
            ));
            if !plan.loads.is_empty() {
                let stage = plan.stage.clone();
                for s in 0..plan.stages - 1 {
                    self.line(format!("mov.u32 {stage}, {s};"));
                    let regs = carried(self, plan);
                    let at = self.future_iteration(body, plan, bounds, d, s, &regs)?;
                    self.issue_stage(body, plan, &at, &stage)?;
                }
                self.line(format!("mov.u32 {stage}, 0;"));
            }
            // Staged operands made a step ahead need the held loads of the next iteration too.
            let ahead = plan.staged.as_ref().is_some_and(|s| s.ahead);
            for i in 0..1 + u32::from(ahead && !plan.held.is_empty()) {
                if plan.held.is_empty() {
                    break;
                }
                let regs = carried(self, plan);
                let at = self.future_iteration(body, plan, bounds, d, i, &regs)?;
                held.push(self.issue_held(body, plan, &at)?);
            }
            if let Some(staged) = &plan.staged {
                self.line(format!("mov.u32 {}, 0;", staged.slot));
                if staged.ahead {
                    let regs = carried(self, plan);
                    let at = self.held_iteration(body, plan, bounds, d, 0, &regs, held.first())?;
                    self.stage_ahead(body, plan, &at, &staged.slot)?;
                }
            }
            self.start_prefetch(body, plan)?;
        }
        let (head, end) = (self.new_label("for"), self.new_label("for_end"));
        let p = self.reg(crate::ptx::regs::Class::Pred);
        let t = int_ty(d);
        self.place_label(&head);
        self.line(format!("setp.ge.{t} {p}, {iv}, {up};"));
        self.line(format!("@{p} bra.uni {end};"));
        self.scoped(|e| -> Result<(), CodegenError> {
            let Some(plan) = &pipe else {
                let ys = e
                    .emit_block(body)?
                    .ok_or_else(|| e.unsupported("loop body without `yield`"))?;
                return e.parallel_copy(&ys, &body.args[1..], &phis);
            };
            let ahead = plan.staged.as_ref().is_some_and(|s| s.ahead);
            // The held loads `held.len()` iterations on go first, to be in flight the longest.
            let next = if plan.held.is_empty() {
                Vec::new()
            } else {
                let regs = carried(e, plan);
                let dist = held.len() as u32;
                let at = e.future_iteration(body, plan, bounds, d, dist, &regs)?;
                e.issue_held(body, plan, &at)?
            };
            if let Some(now) = held.first() {
                for (&i, (_, regs)) in plan.held.iter().zip(now) {
                    e.held.insert(body.ops[i].results[0], regs.clone());
                }
            }
            for (i, ring) in &plan.loads {
                let r = body.ops[*i].results[0];
                e.rings.insert(r, (ring.clone(), plan.stage.clone()));
            }
            // The ops before the first reader of the loop's shared memory run ahead of the
            // wait and the barrier; then the staged operands are written (unless the
            // iteration before made them), and one barrier serves them and the rings.
            let split = plan.first_reader.unwrap_or(0);
            let mut ys = e.emit_ops(&body.ops[..split])?;
            // Where the code of the ops from the first reader on starts.
            let mut readers = None;
            if ys.is_none() {
                if ahead {
                    e.use_staged(plan);
                } else {
                    e.stage_planned(plan)?;
                }
                e.begin_iteration(body, plan, bounds, d, &carried(e, plan))?;
                readers = Some(e.body.len());
                ys = e.emit_ops(&body.ops[split..])?;
            }
            let ys = ys.ok_or_else(|| e.unsupported("loop body without `yield`"))?;
            if let (true, Some(staged)) = (ahead, &plan.staged) {
                // The next iteration's operands, into the other area, while the tensor cores
                // work on this one's: their code goes among the `dot`'s.
                let ahead_start = e.body.len();
                let regs = carried(e, plan);
                let at = e.held_iteration(body, plan, bounds, d, 1, &regs, held.get(1))?;
                let other = e.reg(Class::B32);
                e.line(format!("xor.b32 {other}, {}, 1;", staged.slot));
                e.stage_ahead(body, plan, &at, &other)?;
                if let Some(readers) = readers {
                    e.interleave_since(readers, ahead_start);
                }
            }
            e.parallel_copy(&ys, &body.args[1..], &phis)?;
            // The held registers move down one iteration.
            let mut sets: Vec<&Vec<(Class, Vec<String>)>> = held.iter().skip(1).collect();
            sets.push(&next);
            for (dst, src) in held.iter().zip(sets) {
                for ((c, regs), (_, loaded)) in dst.iter().zip(src) {
                    for (h, n) in regs.iter().zip(loaded) {
                        e.mov(*c, h, n);
                    }
                }
            }
            Ok(())
        })?;
        if let Some(plan) = &pipe {
            if !plan.loads.is_empty() {
                let (stage, q) = (plan.stage.clone(), self.reg(Class::Pred));
                self.line(format!("add.u32 {stage}, {stage}, 1;"));
                self.line(format!("setp.ge.u32 {q}, {stage}, {};", plan.stages));
                self.line(format!("@{q} mov.u32 {stage}, 0;"));
            }
            self.next_staging_slot(plan);
        }
        self.line(format!("add.{t} {iv}, {iv}, {st};"));
        self.line(format!("bra.uni {head};"));
        self.place_label(&end);
        if let Some(plan) = &pipe {
            if !plan.loads.is_empty() {
                self.line("cp.async.wait_group 0;");
            }
            if !plan.loads.is_empty() || plan.staged.is_some() {
                self.barrier();
            }
            for (i, _) in &plan.loads {
                self.rings.remove(&body.ops[*i].results[0]);
            }
            for &i in &plan.held {
                self.held.remove(&body.ops[i].results[0]);
            }
            self.release_shared(mark);
        }
        for (&r, regs) in results.iter().zip(phis) {
            self.define(r, regs);
        }
        Ok(())
    }

    /// A `while`: the body, then a branch back while the condition it yields holds (copied
    /// out before the carried values, which it may be one of).
    pub(crate) fn lower_while(
        &mut self,
        results: &[ValueId],
        init: &[ValueId],
        body: &Block,
    ) -> Result<(), CodegenError> {
        if body.args.len() != init.len() || results.len() != init.len() {
            return Err(self.unsupported("`while` arity mismatch"));
        }
        let phis = self.carried_registers(init, &body.args)?;
        self.hoist_conversions(body)?;
        let head = self.new_label("while");
        let go = self.reg(Class::Pred);
        self.place_label(&head);
        self.scoped(|e| -> Result<(), CodegenError> {
            let ys = e
                .emit_block(body)?
                .ok_or_else(|| e.unsupported("`while` body without `yield`"))?;
            let (cond, next) = ys
                .split_first()
                .ok_or_else(|| e.unsupported("`while` body yields no condition"))?;
            let c = e.get(*cond)?[0].clone();
            e.mov(Class::Pred, &go, &c);
            e.parallel_copy(next, &body.args, &phis)
        })?;
        self.line(format!("@{go} bra.uni {head};"));
        for (&r, regs) in results.iter().zip(phis) {
            self.define(r, regs);
        }
        Ok(())
    }

    pub(crate) fn lower_if(
        &mut self,
        results: &[ValueId],
        cond: ValueId,
        then_block: &Block,
        else_block: &Block,
    ) -> Result<(), CodegenError> {
        let c = self.get(cond)?[0].clone();
        let outs: Vec<Vec<String>> = results.iter().map(|&r| self.fresh(r)).collect();
        let (els, end) = (self.new_label("else"), self.new_label("endif"));
        self.line(format!("@!{c} bra.uni {els};"));
        for (block, last) in [(then_block, false), (else_block, true)] {
            self.scoped(|e| -> Result<(), CodegenError> {
                let ys = e.emit_block(block)?.unwrap_or_default();
                e.parallel_copy(&ys, results, &outs)
            })?;
            if last {
                self.place_label(&end);
            } else {
                self.line(format!("bra.uni {end};"));
                self.place_label(&els);
            }
        }
        Ok(())
    }

    /// Computes before the loop the values of `body` (its own ops, in order) that depend only
    /// on values from before it (loop-invariant code motion): a division of the loop bounds
    /// or a stride then runs once instead of every iteration, also in the address code that
    /// the pipeliner lowers again for later iterations, and so do the row parts of a tile's
    /// addresses and masks (`rm * k`, `rm < m`). Scalars always move; tiles move while they
    /// hold at most [`HOISTED_TILE_REGISTERS`] registers per thread in all, since they stay
    /// live through the loop. Only pure ops move, and none traps on a GPU, so running them
    /// when the loop does not run is harmless.
    fn hoist_invariants(&mut self, body: &Block) -> Result<(), CodegenError> {
        let mut inside = self.body_values(body);
        let mut budget = HOISTED_TILE_REGISTERS;
        for op in &body.ops {
            let invariant = recomputable(&op.kind)
                && op.results.len() == 1
                && op.kind.operands().iter().all(|v| !inside.contains(v));
            if !invariant {
                continue;
            }
            let r = op.results[0];
            if self.k.ty(r).numel() == 1 {
                self.emit_one(op)?;
            } else {
                match self.emit_within(op, budget)? {
                    Some(held) => budget -= held,
                    None => continue,
                }
            }
            self.hoisted.insert(r);
            inside.remove(&r);
        }
        Ok(())
    }

    /// Converts, before a loop, the values defined outside `body` that its ops use in another
    /// layout ([`Self::wanted_layouts`]).
    fn hoist_conversions(&mut self, body: &Block) -> Result<(), CodegenError> {
        let inside = self.body_values(body);
        let mut wanted = Vec::new();
        walk(body, &mut |op| wanted.extend(self.wanted_layouts(op)));
        for (v, l) in wanted {
            if !inside.contains(&v) && self.layout(v) != l && self.k.ty(v).numel() > 1 {
                self.get_as(v, &l)?;
            }
        }
        Ok(())
    }

    /// The layouts in which `op`'s lowering reads its operands, where it converts them.
    fn wanted_layouts(&self, op: &Op) -> Vec<(ValueId, Layout)> {
        let k = &op.kind;
        match k {
            OpKind::Load { ptr, .. }
            | OpKind::Store { ptr, .. }
            | OpKind::Atomic { ptr, .. }
            | OpKind::AtomicCas { ptr, .. } => {
                let l = self.layout(*ptr);
                k.operands()
                    .into_iter()
                    .filter(|v| v != ptr)
                    .map(|v| (v, l.clone()))
                    .collect()
            }
            OpKind::Broadcast(x) => match broadcast_bits(self.k, *x, op.results[0]) {
                Some(mask) => vec![(*x, self.layout(op.results[0]).remove_bits(mask).0)],
                None => Vec::new(),
            },
            _ if same_layout_operands(k) => {
                let l = self.layout(op.results[0]);
                k.operands().into_iter().map(|v| (v, l.clone())).collect()
            }
            _ => Vec::new(),
        }
    }
}
