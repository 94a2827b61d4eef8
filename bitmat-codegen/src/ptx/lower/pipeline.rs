//! Software pipelining of the loads that feed `dot` in a `range` loop (Triton's pipeliner):
//! with `num_stages = S >= 2`, such a load becomes an `S`-stage ring of `cp.async` copies
//! from global to shared memory, issued `S - 1` iterations ahead of the `dot` that reads the
//! tile straight from the ring with `ldmatrix`. The data never passes through registers, and
//! the copies of later iterations are in flight while the tensor cores work on this one.
//!
//! A load is pipelined when it sits in the loop body itself (not under an `if`), every use
//! of its result is a tensor-core `dot` in that body (as `a` or `b`), it has no fallback
//! value other than zero, its pointer layout gives each thread whole 4-, 8- or 16-byte
//! chunks along the direction the ring stores ([`SmemTile`]), and its pointers and mask
//! depend only on values defined before the loop, on the induction variable, and on
//! *affine* carried values (a value the body yields as itself plus a loop-invariant step,
//! like Triton's `a_ptrs += BLOCK_K * stride_ak`).
//!
//! The lowering:
//! - **prologue**, before the loop: the loads of the first `S - 1` iterations are issued into
//!   stages `0..S-1` (each predicated on its iteration running), one commit group each;
//! - **each iteration**: `cp.async.wait_group S-2` (the group of this iteration has landed)
//!   and `bar.sync` (every thread's copies are visible, and every thread is done with the
//!   stage the next copy overwrites); then the loads of iteration `i + S - 1` into the stage
//!   read `S - 1` iterations ago, committed as one group (empty past the end, to keep the
//!   count); then the body, whose `dot` reads this iteration's stage;
//! - **epilogue**: `cp.async.wait_group 0` and `bar.sync` before the ring is released.
//!
//! When one `dot` reads every ring, its first k-step's fragments are prefetched
//! ([`Prefetch`]): the wait and the barrier move from the top of the iteration to the end of
//! the dot's second-to-last k-step, whose last k-step then loads the next stage's first
//! fragments into registers carried around the loop.
//!
//! The loop's other loads and a `dot` operand that the body computes join the pipeline too:
//! see [`held`](super::held) and [`staged`](super::staged). With either, the body's ops before
//! its first tensor-core `dot` run before the iteration's wait and barrier.
//!
//! The address computation of a future iteration is the body's own ops, lowered again with
//! the induction variable and the affine carried values advanced ([`Emitter::emit_slice`]).
//! Each chunk is one `cp.async` when its address is aligned and its lanes all unmasked, one
//! `cp.async` whose source size is its size or 0 (zero-filling) when its lanes share one
//! mask bit, and otherwise
//! (ragged edges, unaligned views) element loads stored to the ring synchronously, which
//! the next `bar.sync` makes visible as well.

use super::mma_frag::{
    contiguous_dim, instruction, k_step, FragGeometry, Fragments, Role, SmemOperand, SmemTile,
};
use super::mma_shape;
use super::staged::StagedDot;
use crate::ptx::emit::Emitter;
use crate::ptx::regs::Class;
use crate::CodegenError;
use bitmat_ir::{BinaryOp, Block, DType, Op, OpKind, ValueId};
use std::collections::{HashMap, HashSet};

/// A load that the pipeliner turned into a ring of shared-memory tiles.
#[derive(Clone, Debug)]
pub(crate) struct Ring {
    /// Byte offset of stage 0 in shared memory.
    pub offset: u32,
    /// Bytes per stage (one tile).
    pub stage_bytes: u32,
    /// How a tile is arranged.
    pub tile: SmemTile,
}

/// The pipelining plan of one loop.
pub(crate) struct LoopPipeline {
    /// Stages.
    pub stages: u32,
    /// The pipelined loads (their ops) and their rings, in body order.
    pub loads: Vec<(usize, Ring)>,
    /// Carried values (block arguments) that advance by a loop-invariant step: the argument
    /// and the step.
    pub affine: Vec<(ValueId, ValueId)>,
    /// Register with the index of the stage this iteration reads.
    pub stage: String,
    /// The body's op (index) that the loop prefetches fragments for: the `dot` that reads
    /// every ring, as both its operands.
    pub prefetch: Option<usize>,
    /// The loads (ops) issued one iteration ahead into registers ([`Emitter::issue_held`]).
    pub held: Vec<usize>,
    /// The first tensor-core `dot` of the body, when it stages an operand: its operands go
    /// to a double-buffered area before the iteration's barrier ([`Emitter::stage_planned`]).
    pub staged: Option<StagedDot>,
    /// The first op of the body that reads shared memory the loop writes (the first
    /// tensor-core `dot`): the ops before it run ahead of the iteration's wait and barrier.
    pub first_reader: Option<usize>,
}

/// Where a later iteration is: the registers standing for the body's induction variable and
/// affine carried values there, and a predicate that holds when that iteration runs.
pub(crate) struct Future {
    /// The values to bind and their registers.
    pub subst: Vec<(ValueId, Vec<String>)>,
    /// Whether the iteration runs.
    pub run: String,
}

/// A pipelined loop's `dot` whose first k-step fragments are loaded one iteration ahead, as
/// Triton's prefetch pass and CUTLASS's multistage main loop do: the wait for the next
/// stage and the barrier move from the top of the iteration to the end of its second-to-last
/// k-step, and the last k-step loads the next stage's first fragments before its mmas. The
/// tensor cores then never wait on a barrier followed by `ldmatrix` latency, which matters
/// when one CTA fills the SM.
#[derive(Clone)]
pub(crate) struct Prefetch {
    /// The rings of its operands, A and B.
    pub rings: [Ring; 2],
    /// The register with the stage this iteration reads.
    pub stage: String,
    /// Stages of the rings.
    pub stages: u32,
    /// Registers carried around the loop with the fragments of k-step 0 of the stage this
    /// iteration reads.
    pub frags: Fragments,
}

/// The step of a carried value that the body yields as `arg + step` or `addptr(arg, step)`
/// with `step` defined before the loop.
fn affine_step(
    body: &Block,
    arg: ValueId,
    yielded: ValueId,
    inside: &HashSet<ValueId>,
) -> Option<ValueId> {
    let op = body
        .ops
        .iter()
        .find(|o| o.results.first() == Some(&yielded))?;
    let step = match op.kind {
        OpKind::AddPtr { ptr, offset } if ptr == arg => offset,
        OpKind::Binary(BinaryOp::Add, x, y) if x == arg => y,
        OpKind::Binary(BinaryOp::Add, x, y) if y == arg => x,
        _ => return None,
    };
    (!inside.contains(&step)).then_some(step)
}

impl Emitter<'_> {
    /// The plan for pipelining loop `body` (`None` when `num_stages < 2` or nothing qualifies).
    /// Allocates the rings.
    pub(crate) fn plan_pipeline(&mut self, body: &Block) -> Option<LoopPipeline> {
        let stages = self.num_stages;
        if stages < 2 {
            return None;
        }
        let inside = self.body_values(body);
        let ys = match body.ops.last().map(|o| &o.kind) {
            Some(OpKind::Yield(v)) => v.clone(),
            _ => return None,
        };
        let affine: Vec<(ValueId, ValueId)> = body.args[1..]
            .iter()
            .zip(&ys)
            .filter_map(|(&a, &y)| affine_step(body, a, y, &inside).map(|s| (a, s)))
            .collect();
        let mut free: HashSet<ValueId> = affine.iter().map(|&(a, _)| a).collect();
        free.insert(body.args[0]);
        let mut loads = Vec::new();
        for (i, op) in body.ops.iter().enumerate() {
            if let Some(tile) = self.pipelinable(body, op, &inside, &free) {
                let shape = self.k.ty(op.results[0]).shape.clone();
                loads.push((i, tile, shape));
            }
        }
        let ring_ops: Vec<usize> = loads.iter().map(|(i, ..)| *i).collect();
        let ring_values: Vec<ValueId> = ring_ops.iter().map(|&i| body.ops[i].results[0]).collect();
        let first_reader = body.ops.iter().position(|op| match op.kind {
            OpKind::Dot { a, b, acc } => mma_shape(self.k, a, b, acc).is_some(),
            _ => false,
        });
        // Loads are held ahead only in loops around tensor-core dots, whose latency they
        // would otherwise stall; elementwise loops keep them in place (the ternary GEMV, whose
        // loop is loads and multiply-adds, measured 1.25x slower with them held).
        let held = match first_reader {
            Some(_) => self.plan_held(body, &ring_ops, &inside, &free),
            None => Vec::new(),
        };
        let stages_operand = first_reader.is_some_and(|j| {
            body.ops[j]
                .kind
                .operands()
                .iter()
                .take(2)
                .any(|v| !ring_values.contains(v))
        });
        if loads.is_empty() && held.is_empty() && !stages_operand {
            return None;
        }
        let mut rings = Vec::new();
        for (i, tile, shape) in loads {
            let stage_bytes = tile.bytes(&shape).next_multiple_of(tile.alignment());
            let (offset, _) = self.alloc_shared(stage_bytes * stages, tile.alignment());
            rings.push((
                i,
                Ring {
                    offset,
                    stage_bytes,
                    tile,
                },
            ));
        }
        let mut staged = match first_reader {
            Some(j) if stages_operand => self.plan_staged(&body.ops[j], &ring_values),
            _ => None,
        };
        if let (Some(st), true) = (&mut staged, stages >= 3) {
            // With three stages or more, the staged operands are a stage of the pipeline too:
            // made a step ahead, when nothing but held loads and what the body can lower
            // again goes into them. (That costs registers while the `dot` runs: two stages
            // keep them in the iteration, for the tuner to choose.)
            let mut from_held = free.clone();
            let mut same_layout = true;
            for &i in &held {
                let op = &body.ops[i];
                from_held.insert(op.results[0]);
                if let OpKind::Load { ptr, .. } = op.kind {
                    same_layout &= self.layout(ptr) == self.layout(op.results[0]);
                }
            }
            st.ahead = same_layout
                && st.operands.iter().all(|o| {
                    self.slice_ops(body, &[o.value], &inside, &from_held)
                        .is_some()
                });
        }
        let prefetch = body.ops.iter().position(|op| match op.kind {
            OpKind::Dot { a, b, .. } => {
                a != b && ring_values.iter().all(|&v| v == a || v == b) && ring_values.len() == 2
            }
            _ => false,
        });
        let stage = self.reg(Class::B32);
        Some(LoopPipeline {
            stages,
            loads: rings,
            affine,
            stage,
            prefetch,
            held,
            staged,
            first_reader: first_reader.filter(|_| !ring_values.is_empty() || stages_operand),
        })
    }

    /// The start of an iteration's shared-memory work, after the ops that run ahead of it:
    /// the wait for this iteration's ring stage and the barrier (which the prefetching `dot`
    /// makes itself, at the end of the iteration before), then the copies for `S - 1`
    /// iterations ahead into the stage that the iteration before read. A loop without rings
    /// only synchronizes, for its staged operands.
    pub(crate) fn begin_iteration(
        &mut self,
        body: &Block,
        plan: &LoopPipeline,
        bounds: [&str; 3],
        iv_dtype: DType,
        carried: &[Vec<String>],
    ) -> Result<(), CodegenError> {
        if plan.loads.is_empty() {
            if plan.staged.is_some() {
                self.barrier();
            }
            return Ok(());
        }
        let n = plan.stages;
        if plan.prefetch.is_none() {
            self.line(format!("cp.async.wait_group {};", n - 2));
            self.barrier();
        }
        let (w, q) = (self.reg(Class::B32), self.reg(Class::Pred));
        let stage = plan.stage.clone();
        self.line(format!("add.u32 {w}, {stage}, {};", n - 1));
        self.line(format!("setp.ge.u32 {q}, {w}, {n};"));
        self.line(format!("@{q} sub.u32 {w}, {w}, {n};"));
        let at = self.future_iteration(body, plan, bounds, iv_dtype, n - 1, carried)?;
        self.issue_stage(body, plan, &at, &w)
    }

    /// Before the loop (after the prologue): waits for stage 0 and loads the first fragments
    /// of the plan's prefetched `dot`, which its lowering then takes ([`Prefetch`]).
    pub(crate) fn start_prefetch(
        &mut self,
        body: &Block,
        plan: &LoopPipeline,
    ) -> Result<(), CodegenError> {
        let Some(j) = plan.prefetch else {
            return Ok(());
        };
        let op = &body.ops[j];
        let OpKind::Dot { a, b, acc } = op.kind else {
            return Err(self.unsupported("prefetched op is not a dot"));
        };
        let [m, k, n] = mma_shape(self.k, a, b, acc)
            .ok_or_else(|| self.unsupported("prefetched dot without tensor cores"))?;
        let (da, db) = (self.dtype(a)?, self.dtype(b)?);
        let (_, ki, _) = instruction(da, db)
            .ok_or_else(|| self.unsupported(format!("mma dot of {da} x {db}")))?;
        let ring_of = |v: ValueId| {
            plan.loads
                .iter()
                .find(|(i, _)| body.ops[*i].results[0] == v)
                .map(|(_, r)| r.clone())
        };
        let (Some(ra), Some(rb)) = (ring_of(a), ring_of(b)) else {
            return Err(self.unsupported("prefetched dot operand without a ring"));
        };
        let mut p = Prefetch {
            rings: [ra, rb],
            stage: plan.stage.clone(),
            stages: plan.stages,
            frags: (Vec::new(), Vec::new()),
        };
        self.await_next_stage(&p);
        let size = self.dtype(a)?.size_bytes() as u32;
        let tiles = [&p.rings[0].tile, &p.rings[1].tile];
        let geo = self.frag_geometry([m, n], k / ki, size, tiles);
        let stage = p.stage.clone();
        p.frags = self.ring_fragments(&p.rings, &stage, &geo);
        self.prefetch.insert(op.results[0], p);
        Ok(())
    }

    /// Waits until the copies of the stage after this iteration's have landed and every
    /// thread's are visible (and every thread is done with the stages before).
    pub(crate) fn await_next_stage(&mut self, p: &Prefetch) {
        self.line(format!("cp.async.wait_group {};", p.stages - 2));
        self.barrier();
    }

    /// The fragments of k-step 0 of the stage after this iteration's.
    pub(crate) fn next_stage_fragments(&mut self, p: &Prefetch, geo: &FragGeometry) -> Fragments {
        let (next, q) = (self.reg(Class::B32), self.reg(Class::Pred));
        self.line(format!("add.u32 {next}, {}, 1;", p.stage));
        self.line(format!("setp.ge.u32 {q}, {next}, {};", p.stages));
        self.line(format!("@{q} mov.u32 {next}, 0;"));
        self.ring_fragments(&p.rings, &next, geo)
    }

    /// The fragments of k-step 0 in ring stage `stage` (a register) of `rings` (A, B).
    fn ring_fragments(&mut self, rings: &[Ring; 2], stage: &str, geo: &FragGeometry) -> Fragments {
        let tiles = rings.each_ref().map(|r| self.ring_stage_address(r, stage));
        let lanes = self.fragment_addresses([&tiles[0], &tiles[1]], geo);
        self.load_fragments(0, &lanes, geo)
    }

    /// The ring arrangement for `op` if it is a load the pipeliner takes (see the module docs).
    fn pipelinable(
        &self,
        body: &Block,
        op: &Op,
        inside: &HashSet<ValueId>,
        free: &HashSet<ValueId>,
    ) -> Option<SmemTile> {
        let OpKind::Load { ptr, mask, other } = op.kind else {
            return None;
        };
        if let Some(o) = other {
            if !self.is_zero_constant(o) {
                return None;
            }
        }
        let res = op.results[0];
        let d = self.k.ty(res).dtype()?;
        let mut role = None;
        let mut uses = 0;
        for user in &body.ops {
            let operands = user.kind.operands();
            if !operands.contains(&res) {
                continue;
            }
            let OpKind::Dot { a, b, acc } = user.kind else {
                return None;
            };
            mma_shape(self.k, a, b, acc)?;
            if acc == res || (a == res && b == res) {
                return None;
            }
            let r = if a == res { Role::A } else { Role::B };
            if role.replace(r).is_some_and(|old| old != r) {
                return None;
            }
            uses += 1;
        }
        // Uses nested deeper than the body's own ops are not dots of this body.
        let nested = body.ops.iter().any(|user| {
            user.kind
                .blocks()
                .into_iter()
                .any(|b| crate::ptx::assign::reads(b, res))
        });
        if uses == 0 || nested {
            return None;
        }
        k_step(d)?;
        let shape = self.k.ty(res).shape.clone();
        let lp = self.layout(ptr);
        let contiguous = contiguous_dim(&lp, &shape)?;
        let size = d.size_bytes() as u32;
        let tile = SmemTile::for_operand(role?, &shape, contiguous, size);
        // The ring's rows must run along the pointers' contiguous dimension, in whole chunks.
        let along = usize::from(!tile.transposed);
        if along != contiguous || self.chunk_elems(ptr, size) == 0 {
            return None;
        }
        let mut roots = vec![ptr];
        roots.extend(mask);
        self.slice_ops(body, &roots, inside, free)?;
        Some(tile)
    }

    /// Whether `v` is a constant zero.
    fn is_zero_constant(&self, v: ValueId) -> bool {
        self.constant_value(v).is_some_and(|s| s.bits() == 0)
    }

    /// Elements per `cp.async` chunk of a load through `ptr` (`size`-byte elements): the
    /// vector width of the access when it is 4, 8 or 16 bytes; 0 if none.
    fn chunk_elems(&self, ptr: ValueId, size: u32) -> u32 {
        match self.vector_lanes(ptr, size) {
            Some(n) if matches!(n * size, 4 | 8 | 16) => n,
            _ => 0,
        }
    }

    /// The ops of `body` (indices, in order) that compute `roots`, if they depend only on
    /// values defined before the loop and on `free` values, through ops that can be lowered
    /// again (no loads, reductions, dots or nested blocks).
    pub(crate) fn slice_ops(
        &self,
        body: &Block,
        roots: &[ValueId],
        inside: &HashSet<ValueId>,
        free: &HashSet<ValueId>,
    ) -> Option<Vec<usize>> {
        let index: HashMap<ValueId, usize> = body
            .ops
            .iter()
            .enumerate()
            .flat_map(|(i, o)| o.results.iter().map(move |&r| (r, i)))
            .collect();
        let mut need = HashSet::new();
        let mut stack = roots.to_vec();
        while let Some(v) = stack.pop() {
            if !inside.contains(&v) || free.contains(&v) {
                continue;
            }
            let &i = index.get(&v)?;
            if !need.insert(i) {
                continue;
            }
            let op = &body.ops[i];
            let cheap = crate::ptx::assign::recomputable(&op.kind);
            if !cheap {
                return None;
            }
            stack.extend(op.kind.operands());
        }
        let mut v: Vec<usize> = need.into_iter().collect();
        v.sort_unstable();
        Some(v)
    }

    /// Lowers the ops of `body` that compute `roots` once more, with the values of `subst`
    /// bound to other registers (a later iteration's induction variable and carried values);
    /// returns the registers of `roots`, in the layout of the first. Everything else is left
    /// as it was.
    pub(crate) fn emit_slice(
        &mut self,
        body: &Block,
        roots: &[ValueId],
        subst: &[(ValueId, Vec<String>)],
    ) -> Result<Vec<Vec<String>>, CodegenError> {
        let inside = self.body_values(body);
        let free: HashSet<ValueId> = subst.iter().map(|(v, _)| *v).collect();
        let ops = self
            .slice_ops(body, roots, &inside, &free)
            .ok_or_else(|| self.unsupported("pipelined load whose address cannot be recomputed"))?;
        let mut touched: Vec<ValueId> = free.iter().copied().collect();
        for &i in &ops {
            touched.extend(body.ops[i].results.iter().copied());
        }
        let saved: Vec<(ValueId, Option<Vec<String>>)> =
            touched.iter().map(|&v| (v, self.take(v))).collect();
        for (v, regs) in subst {
            self.define(*v, regs.clone());
        }
        let out = self.scoped(|e| -> Result<Vec<Vec<String>>, CodegenError> {
            e.bypass_cache(&touched, true);
            for &i in &ops {
                e.emit_one(&body.ops[i])?;
            }
            // In the first root's layout (a load's pointers), where its mask is read.
            let l = e.layout(roots[0]);
            let out = roots.iter().map(|&r| e.get_as(r, &l)).collect();
            e.bypass_cache(&touched, false);
            out
        });
        for (v, regs) in saved {
            self.restore(v, regs);
        }
        out
    }

    /// The iteration `ahead` iterations after the one whose induction variable is `iv` (of
    /// type `iv_dtype`, stepping by `step` up to `upper`) and whose affine carried values are
    /// in `carried`.
    pub(crate) fn future_iteration(
        &mut self,
        body: &Block,
        plan: &LoopPipeline,
        [iv, step, upper]: [&str; 3],
        iv_dtype: DType,
        ahead: u32,
        carried: &[Vec<String>],
    ) -> Result<Future, CodegenError> {
        let mut subst = Vec::new();
        let ivc = if iv_dtype.bits() == 64 {
            Class::B64
        } else {
            Class::B32
        };
        let ty = super::int_ty(iv_dtype);
        let mty = if ivc == Class::B64 { "s64" } else { "s32" };
        let next_iv = self.reg(ivc);
        self.line(format!("mad.lo.{mty} {next_iv}, {step}, {ahead}, {iv};"));
        // Every access of that iteration is predicated on it running, so that the accesses
        // are one basic block with the code around them, which `ptxas` interleaves.
        let run = self.reg(Class::Pred);
        self.line(format!("setp.lt.{ty} {run}, {next_iv}, {upper};"));
        subst.push((body.args[0], vec![next_iv]));
        for ((arg, inc), regs) in plan.affine.iter().zip(carried) {
            let advanced = self.advance(*arg, *inc, regs, ahead)?;
            subst.push((*arg, advanced));
        }
        Ok(Future { subst, run })
    }

    /// Lowers the loop's pipelined loads for iteration `at` into ring stage `stage` (a
    /// register with the stage's index), if that iteration runs; then commits the group.
    pub(crate) fn issue_stage(
        &mut self,
        body: &Block,
        plan: &LoopPipeline,
        at: &Future,
        stage: &str,
    ) -> Result<(), CodegenError> {
        for (i, ring) in &plan.loads {
            let OpKind::Load { ptr, mask, .. } = body.ops[*i].kind else {
                continue;
            };
            let mut roots = vec![ptr];
            roots.extend(mask);
            let regs = self.emit_slice(body, &roots, &at.subst)?;
            let shape = self.k.ty(body.ops[*i].results[0]).shape.clone();
            self.copy_tile(
                ptr,
                mask,
                &shape,
                (&regs[0], regs.get(1)),
                ring,
                [stage, &at.run],
            )?;
        }
        self.line("cp.async.commit_group;");
        Ok(())
    }

    /// `arg + ahead * inc` in `arg`'s layout (pointer or integer carried value).
    fn advance(
        &mut self,
        arg: ValueId,
        inc: ValueId,
        regs: &[String],
        ahead: u32,
    ) -> Result<Vec<String>, CodegenError> {
        let la = self.layout(arg);
        let incs = self.get_as(inc, &la)?;
        let ia = self.k.ty(inc).dtype();
        let mut out = Vec::new();
        for (r, i) in regs.iter().zip(&incs) {
            let id = ia.ok_or_else(|| self.unsupported("pointer step of a carried value"))?;
            match self.k.ty(arg).elem.pointee() {
                Some(p) => {
                    let dst = self.reg(Class::B64);
                    let scale = p.size_bytes() as u32 * ahead;
                    if id.bits() == 64 {
                        self.line(format!("mad.lo.s64 {dst}, {i}, {scale}, {r};"));
                    } else {
                        let t = if id.is_signed_int() { "s32" } else { "u32" };
                        self.line(format!("mad.wide.{t} {dst}, {i}, {scale}, {r};"));
                    }
                    out.push(dst);
                }
                None => {
                    let c = if id.bits() == 64 {
                        Class::B64
                    } else {
                        Class::B32
                    };
                    let dst = self.reg(c);
                    let t = if id.bits() == 64 { "s64" } else { "s32" };
                    self.line(format!("mad.lo.{t} {dst}, {i}, {ahead}, {r};"));
                    self.normalize(id, &dst);
                    out.push(dst);
                }
            }
        }
        Ok(out)
    }

    /// Copies one tile (pointers `ptrs` in `ptr`'s layout, optional `mask`) into ring stage
    /// `stage` (a register) of `ring`, chunk by chunk (see the module docs), if predicate
    /// `run` holds.
    fn copy_tile(
        &mut self,
        ptr: ValueId,
        mask_value: Option<ValueId>,
        shape: &[u32],
        (ptrs, mask): (&[String], Option<&Vec<String>>),
        ring: &Ring,
        [stage, run]: [&str; 2],
    ) -> Result<(), CodegenError> {
        let d = self.k.ty(ptr).elem.pointee().unwrap_or(DType::U8);
        let size = d.size_bytes() as u32;
        let n = self.chunk_elems(ptr, size);
        let bytes = n * size;
        let lp = self.layout(ptr);
        let smem = self.smem.clone();
        let base = self.reg(Class::B32);
        let sb = ring.stage_bytes;
        self.line(format!("mad.lo.u32 {base}, {stage}, {sb}, {smem};"));
        let cache = if bytes == 16 { "cg" } else { "ca" };
        let aligned = self.vector_aligned(ptr, n);
        let uniform = mask_value.is_some_and(|m| self.uniform_mask(m, ptr, n));
        for j in (0..lp.slots()).step_by(n as usize) {
            // The chunk's offset in a stage depends only on `%tid.x`: computed at entry.
            let key = format!("ring chunk {ptr} {j} {:?} {}", ring.tile, ring.offset);
            let (tile, ring_offset, lpc) = (ring.tile.clone(), ring.offset, lp.clone());
            let off = self.once_at_entry(key, |e| {
                let o = e.slot_offset(&lpc, j, shape, size, &tile);
                e.line(format!("add.u32 {o}, {o}, {ring_offset};"));
                o
            });
            let a = self.reg(Class::B32);
            self.line(format!("add.u32 {a}, {base}, {off};"));
            let g = &ptrs[j as usize];
            let lanes: Vec<String> = match mask {
                Some(m) => m[j as usize..(j + n) as usize].to_vec(),
                None => Vec::new(),
            };
            if aligned && lanes.is_empty() {
                // Proven aligned and unmasked: the copy alone.
                self.line(format!(
                    "@{run} cp.async.{cache}.shared.global [{a}], [{g}], {bytes};"
                ));
                continue;
            }
            if aligned && uniform {
                // One predicate for the chunk: one copy that reads `bytes` bytes or none
                // (its source size), zero-filling the rest.
                let read = self.reg(Class::B32);
                self.line(format!("selp.u32 {read}, {bytes}, 0, {};", lanes[0]));
                self.line(format!(
                    "@{run} cp.async.{cache}.shared.global [{a}], [{g}], {bytes}, {read};"
                ));
                continue;
            }
            // fast: aligned and every lane on; none: every lane off.
            let t = self.reg(Class::B64);
            let (fast, none) = (self.reg(Class::Pred), self.reg(Class::Pred));
            if aligned {
                let tid = self.tid.clone();
                self.line(format!("setp.eq.u32 {fast}, {tid}, {tid};"));
            } else {
                self.line(format!("and.b64 {t}, {g}, {};", bytes - 1));
                self.line(format!("setp.eq.u64 {fast}, {t}, 0;"));
            }
            if lanes.is_empty() {
                let tid = self.tid.clone();
                self.line(format!("setp.ne.u32 {none}, {tid}, {tid};"));
            } else {
                let any = self.reg(Class::Pred);
                self.line(format!("mov.pred {any}, {};", lanes[0]));
                for m in &lanes {
                    self.line(format!("and.pred {fast}, {fast}, {m};"));
                    self.line(format!("or.pred {any}, {any}, {m};"));
                }
                self.line(format!("not.pred {none}, {any};"));
            }
            self.line(format!("and.pred {fast}, {fast}, {run};"));
            self.line(format!("and.pred {none}, {none}, {run};"));
            self.line(format!(
                "@{fast} cp.async.{cache}.shared.global [{a}], [{g}], {bytes};"
            ));
            self.line(format!(
                "@{none} cp.async.{cache}.shared.global [{a}], [{g}], {bytes}, 0;"
            ));
            let done = self.new_label("pipe_chunk");
            let either = self.reg(Class::Pred);
            self.line(format!("or.pred {either}, {fast}, {none};"));
            let idle = self.reg(Class::Pred);
            self.line(format!("not.pred {idle}, {run};"));
            self.line(format!("or.pred {either}, {either}, {idle};"));
            self.line(format!("@{either} bra {done};"));
            // Mixed or unaligned: element by element, synchronously.
            for e in 0..n {
                let p = &ptrs[(j + e) as usize];
                let h = self.reg(if size == 1 { Class::B32 } else { Class::B16 });
                let (ld, st, zero) = if size == 1 {
                    ("u8", "u8", "mov.u32")
                } else {
                    ("b16", "b16", "mov.b16")
                };
                self.line(format!("{zero} {h}, 0;"));
                let pre = lanes
                    .get(e as usize)
                    .map(|m| format!("@{m} "))
                    .unwrap_or_default();
                self.line(format!("{pre}ld.global.{ld} {h}, [{p}];"));
                self.line(format!("st.shared.{st} [{a}+{}], {h};", e * size));
            }
            self.place_label(&done);
        }
        Ok(())
    }

    /// The shared-memory operand of `dot` operand `v` if its loop left it in shared memory:
    /// this iteration's ring stage of a pipelined load, or its staged area.
    pub(crate) fn dot_operand_in_shared(&mut self, v: ValueId) -> Option<SmemOperand> {
        if let Some(staged) = self.staged.remove(&v) {
            return Some(staged);
        }
        let (ring, stage) = self.rings.get(&v).cloned()?;
        let addr = self.ring_stage_address(&ring, &stage);
        Some(SmemOperand {
            addr,
            tile: ring.tile,
        })
    }

    /// The shared address of stage `stage` (a register) of `ring`, in a fresh register.
    fn ring_stage_address(&mut self, ring: &Ring, stage: &str) -> String {
        let addr = self.reg(Class::B32);
        let smem = self.smem.clone();
        let sb = ring.stage_bytes;
        self.line(format!("mad.lo.u32 {addr}, {stage}, {sb}, {smem};"));
        self.line(format!("add.u32 {addr}, {addr}, {};", ring.offset));
        addr
    }
}
