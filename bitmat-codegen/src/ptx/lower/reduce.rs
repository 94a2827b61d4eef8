//! `reduce`: combining the elements of a tile along one axis, in the layout the tile has.
//!
//! The reduced axis is a set of index bits `A`. In the source's [`Layout`], each of them is
//! the basis of one register, lane or warp bit, so a reduction takes (some of) three steps:
//!
//! 1. **Registers.** Each thread folds the slots that differ only in register bits whose
//!    basis is in `A` into one *partial* per slot of the result, in index order (a reduction
//!    that stays inside one thread sums in the interpreter's order).
//! 2. **Lanes**, one `shfl.sync.bfly.b32` step per lane bit whose basis is in `A` (64-bit
//!    values as two 32-bit halves), highest first. While a thread holds several partials, a
//!    step halves them (a reduce-scatter): the lane whose bit is clear keeps the lower half of
//!    its partials and sends the upper half to its partner, which keeps the upper half, and
//!    each combines what it kept with what it received; the lane bit now picks which half a
//!    thread holds (in layout terms, the highest register basis moves to that lane). Once a
//!    thread holds one partial, a step is a butterfly all-reduce: both lanes combine the two
//!    partials, and since each combine is commutative, all lanes of a butterfly group then
//!    hold the same bits.
//! 3. **Warps**, through shared memory, when warp bits have bases in `A`: after a `bar.sync`,
//!    one thread per partial (lane and warp axis bits clear, first copy) writes it to word
//!    `[warp part][result index]`; after a second `bar.sync` every thread combines, for each
//!    of its result slots, the words of all warp parts, in order.
//!
//! The result is then in the *slice* of the source layout ([`Layout::remove_bits`]), with
//! the register bases that halvings moved to lanes ([`result_layout`]): the threads that
//! differ only in butterfly or warp axis bits hold the same result elements. The assignment
//! pass gives the result that layout, so that a broadcast back to the source's shape
//! (softmax, layer norm) moves no data.
//!
//! Accumulators: integers of up to 32 bits, f16/bf16 and f32 combine in their 32-bit registers
//! (narrow integer sums wrap when normalized at the end, f16/bf16 sums are rounded once at the
//! end, as the interpreter does), 64-bit integers in 64-bit registers, bool as 0/1 words
//! (`max.u32` is "any", `min.u32` "all", as in the interpreter; the verifier accepts no bool
//! reductions today). Float `max`/`min` are PTX's, which like the interpreter's
//! `f32::max`/`f32::min` return the other operand when one is NaN. Float sums are ordered as a
//! tree across lanes and warps: see the [module docs](crate::ptx).

use super::int_ty;
use crate::ptx::emit::{word_bytes, Emitter};
use crate::ptx::layout::{bit_range, dim_bits, Layout};
use crate::ptx::regs::{dclass, Class};
use crate::CodegenError;
use bitmat_ir::{DType, ReduceOp, ValueId};

/// How one reduction splits over registers, lanes and warps (see the module docs). Pure index
/// arithmetic: the emitter follows it, and the host-side tests replay it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Plan {
    /// The layout of the result (the slice of the source's).
    dst: Layout,
    /// For each result slot, the source slots folded into it, in index order.
    groups: Vec<Vec<u32>>,
    /// The lane masks of the halving steps, highest first (each halves the partials on their
    /// highest index bit).
    halvings: Vec<u32>,
    /// The lane masks of the butterfly steps, highest first.
    butterflies: Vec<u32>,
    /// The thread-id bits of warps whose basis is an axis bit.
    warp_axis: u32,
    /// The butterfly lane bits (zero in the writers).
    lane_axis: u32,
}

/// The layout in which `reduce` leaves the reduction of a tile of layout `src` over the
/// index bits `axis_mask`.
pub(crate) fn result_layout(src: &Layout, axis_mask: u32) -> Layout {
    Plan::new(src, axis_mask).dst
}

impl Plan {
    fn new(src: &Layout, axis_mask: u32) -> Plan {
        let (mut dst, pos) = src.remove_bits(axis_mask);
        let mut groups = vec![Vec::new(); dst.slots() as usize];
        let mut slots: Vec<u32> = (0..src.slots()).collect();
        slots.sort_by_key(|&r| src.reg_offset(r));
        for r in slots {
            let q: u32 = pos
                .iter()
                .enumerate()
                .filter_map(|(i, p)| p.map(|p| (r >> i & 1) << p))
                .sum();
            groups[q as usize].push(r);
        }
        let bit = |bases: &[u32], shift: u32| -> u32 {
            bases
                .iter()
                .enumerate()
                .filter(|(_, &b)| b & axis_mask != 0)
                .fold(0, |m, (i, _)| m | 1 << (i as u32 + shift))
        };
        let lane_axis = bit(&src.lane, 0);
        let warp_axis = bit(&src.warp, 5);
        let lanes: Vec<u32> = (0..5)
            .rev()
            .map(|b| 1 << b)
            .filter(|m| lane_axis & m != 0)
            .collect();
        let h = lanes.len().min(dst.reg.len());
        for &m in &lanes[..h] {
            let top = dst.reg.pop().expect("a partial bit per halving");
            dst.lane[m.trailing_zeros() as usize] = top;
        }
        Plan {
            dst,
            groups,
            halvings: lanes[..h].to_vec(),
            butterflies: lanes[h..].to_vec(),
            warp_axis,
            lane_axis: lanes[h..].iter().fold(0, |a, m| a | m),
        }
    }

    /// Warp parts: the values of the warp axis bits.
    fn warp_parts(&self) -> u32 {
        1 << self.warp_axis.count_ones()
    }

    /// The warp part of thread `tid`.
    #[cfg(test)]
    fn warp_part(&self, tid: u32) -> u32 {
        let mut part = 0;
        let mut k = 0;
        for b in 0..32 {
            if self.warp_axis >> b & 1 != 0 {
                part |= (tid >> b & 1) << k;
                k += 1;
            }
        }
        part
    }
}

/// The class an accumulator of `d` lives in: 0/1 words for `bool`, the value's own otherwise.
fn acc_class(d: DType) -> Class {
    match dclass(d) {
        Class::Pred => Class::B32,
        c => c,
    }
}

/// The `selp`/`st`/`ld` type of accumulator class `c`.
fn word_ty(c: Class) -> &'static str {
    match c {
        Class::B64 => "b64",
        Class::F32 => "f32",
        _ => "b32",
    }
}

impl Emitter<'_> {
    pub(crate) fn lower_reduce(
        &mut self,
        res: ValueId,
        op: ReduceOp,
        x: ValueId,
        axis: u32,
    ) -> Result<(), CodegenError> {
        let d = self.dtype(x)?;
        let shape = self.k.ty(x).shape.clone();
        let axis = axis as usize;
        if axis >= shape.len() {
            return Err(self.unsupported(format!("reduction axis {axis} out of range")));
        }
        if (d == DType::Bool && op == ReduceOp::Sum) || (op == ReduceOp::Xor && !d.is_int()) {
            return Err(self.unsupported(format!("`reduce_xor`/`reduce_sum` on {d}")));
        }
        let (lo, n) = dim_bits(&shape)[axis];
        let axis_mask = bit_range(lo, n);
        let src = self.layout(x);
        let plan = Plan::new(&src, axis_mask);
        let xs = self.get(x)?;
        let c = acc_class(d);
        // 1. Registers.
        let mut partials = Vec::new();
        for group in &plan.groups {
            let acc = self.start_acc(d, &xs[group[0] as usize]);
            for &s in &group[1..] {
                let v = self.acc_operand(d, &xs[s as usize]);
                self.combine(op, d, &acc, &v);
            }
            partials.push(acc);
        }
        // 2. Lanes: halvings, then butterflies.
        for &m in &plan.halvings {
            partials = self.halve(op, d, &partials, m);
        }
        for &m in &plan.butterflies {
            for acc in &partials {
                let v = self.reg(c);
                self.shfl_sync("bfly", c, &v, acc, &m.to_string());
                self.combine(op, d, acc, &v);
            }
        }
        // 3. Warps, through shared memory.
        if plan.warp_axis != 0 {
            partials = self.combine_warps(&plan, op, d, &partials);
        }
        let out = partials.iter().map(|a| self.finish_acc(op, d, a)).collect();
        let dst = plan.dst.clone();
        self.define_in(res, out, &dst);
        Ok(())
    }

    /// Step 3: every partial to shared memory, one row of the result's size per warp part;
    /// then each thread combines, for each of its result slots, the rows' words of that
    /// element. Returns the accumulators of the result slots.
    fn combine_warps(
        &mut self,
        plan: &Plan,
        op: ReduceOp,
        d: DType,
        partials: &[String],
    ) -> Vec<String> {
        let c = acc_class(d);
        let size = word_bytes(c);
        let row = plan.dst.numel() * size;
        let base = self.scratch(plan.warp_parts() * row);
        self.barrier();
        let tid = self.tid.clone();
        // The writers: axis lane bits clear, and the first copy of the result.
        let writers = plan.lane_axis | (plan.dst.copy_mask() & !plan.warp_axis);
        let (t, p) = (self.reg(Class::B32), self.reg(Class::Pred));
        self.line(format!("and.b32 {t}, {tid}, {writers};"));
        self.line(format!("setp.eq.u32 {p}, {t}, 0;"));
        // This thread's warp part, as a byte offset.
        let part = self.reg(Class::B32);
        self.line(format!("mov.u32 {part}, 0;"));
        let mut k = 0;
        for b in 0..32 {
            if plan.warp_axis >> b & 1 != 0 {
                let w = self.reg(Class::B32);
                self.line(format!("bfe.u32 {w}, {tid}, {b}, 1;"));
                self.line(format!("mad.lo.u32 {part}, {w}, {}, {part};", row << k));
                k += 1;
            }
        }
        let ty = word_ty(c);
        let dst = plan.dst.clone();
        for (q, acc) in (0..).zip(partials) {
            let i = self.elem_index(&dst, q);
            let a = self.shared_addr(&i, size, base);
            self.line(format!("add.u32 {a}, {a}, {part};"));
            self.line(format!("@{p} st.shared.{ty} [{a}], {acc};"));
        }
        self.barrier();
        let mut accs = Vec::new();
        for q in 0..dst.slots() {
            let i = self.elem_index(&dst, q);
            let a = self.shared_addr(&i, size, base);
            let acc = self.reg(c);
            self.ld_word(&a, c, &acc);
            for w in 1..plan.warp_parts() {
                let v = self.reg(c);
                self.ld_word(&format!("{a}+{}", w * row), c, &v);
                self.combine(op, d, &acc, &v);
            }
            accs.push(acc);
        }
        accs
    }

    /// A fresh accumulator holding the value in register `r` (of type `d`).
    fn start_acc(&mut self, d: DType, r: &str) -> String {
        let c = acc_class(d);
        let acc = self.reg(c);
        if dclass(d) == Class::Pred {
            self.line(format!("selp.u32 {acc}, 1, 0, {r};"));
        } else {
            self.mov(c, &acc, r);
        }
        acc
    }

    /// Register `r` (of type `d`) as an operand in the accumulator's class.
    fn acc_operand(&mut self, d: DType, r: &str) -> String {
        if dclass(d) == Class::Pred {
            self.start_acc(d, r)
        } else {
            r.to_string()
        }
    }

    /// `acc = acc op v` (floats in f32, integers in their register width, bool as 0/1 words).
    fn combine(&mut self, op: ReduceOp, d: DType, acc: &str, v: &str) {
        let t = match dclass(d) {
            Class::F32 | Class::B16 => "f32",
            Class::Pred => "u32",
            _ => int_ty(d),
        };
        let (i, t) = match (op, t) {
            (ReduceOp::Sum, "f32") => ("add.rn", t),
            (ReduceOp::Sum, _) => ("add", t),
            (ReduceOp::Max, _) => ("max", t),
            (ReduceOp::Min, _) => ("min", t),
            (ReduceOp::Xor, "s64" | "u64") => ("xor", "b64"),
            (ReduceOp::Xor, _) => ("xor", "b32"),
        };
        self.line(format!("{i}.{t} {acc}, {acc}, {v};"));
    }

    /// One halving step over lane mask `m`: the lane whose `m` bit is clear keeps the lower
    /// half of `accs` and sends the upper half, its partner keeps the upper half and sends the
    /// lower; each combines the kept half with the received one. Returns the kept half.
    fn halve(&mut self, op: ReduceOp, d: DType, accs: &[String], m: u32) -> Vec<String> {
        let c = acc_class(d);
        let (t, upper) = (self.reg(Class::B32), self.reg(Class::Pred));
        let tid = self.tid.clone();
        self.line(format!("and.b32 {t}, {tid}, {m};"));
        self.line(format!("setp.ne.u32 {upper}, {t}, 0;"));
        let ty = word_ty(c);
        let (lower, higher) = accs.split_at(accs.len() / 2);
        let mut kept = Vec::new();
        for (lo, hi) in lower.iter().zip(higher) {
            let (keep, send, recv) = (self.reg(c), self.reg(c), self.reg(c));
            self.line(format!("selp.{ty} {keep}, {hi}, {lo}, {upper};"));
            self.line(format!("selp.{ty} {send}, {lo}, {hi}, {upper};"));
            self.shfl_sync("bfly", c, &recv, &send, &m.to_string());
            self.combine(op, d, &keep, &recv);
            kept.push(keep);
        }
        kept
    }

    /// `dst` = register `src` (class `c`) of another lane of the warp, by
    /// `shfl.sync.{mode}.b32` with lane operand `b` (`bfly`: the lane whose id differs from
    /// this one's in the bits of mask `b`; `idx`: lane `b`); 64-bit values take two
    /// shuffles. Every lane of the warp must execute it.
    pub(crate) fn shfl_sync(&mut self, mode: &str, c: Class, dst: &str, src: &str, b: &str) {
        let shfl =
            |d: &str, s: &str| format!("shfl.sync.{mode}.b32 {d}, {s}, {b}, 0x1f, 0xffffffff;");
        if c == Class::B64 {
            let [lo, hi, lo2, hi2] = [(); 4].map(|_| self.reg(Class::B32));
            self.line(format!("mov.b64 {{{lo}, {hi}}}, {src};"));
            self.line(shfl(&lo2, &lo));
            self.line(shfl(&hi2, &hi));
            self.line(format!("mov.b64 {dst}, {{{lo2}, {hi2}}};"));
        } else {
            self.line(shfl(dst, src));
        }
    }

    /// The result register for accumulator `acc`: a predicate for bool; otherwise `acc`
    /// itself, normalized after a sum (narrow integers wrap, f16/bf16 round).
    fn finish_acc(&mut self, op: ReduceOp, d: DType, acc: &str) -> String {
        if dclass(d) == Class::Pred {
            let p = self.reg(Class::Pred);
            self.line(format!("setp.ne.u32 {p}, {acc}, 0;"));
            return p;
        }
        if op == ReduceOp::Sum {
            self.normalize(d, acc);
        }
        acc.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Replays a plan on the host: sums of flat indices stand for the combined values, so
    /// each result element must end as the sum of exactly the source indices it reduces.
    fn replay(src: &Layout, shape: &[u32], axis: usize, threads: u32) {
        let (lo, n) = dim_bits(shape)[axis];
        let mask = bit_range(lo, n);
        let plan = Plan::new(src, mask);
        // 1. Registers.
        let mut part: Vec<Vec<u64>> = (0..threads)
            .map(|t| {
                plan.groups
                    .iter()
                    .map(|g| g.iter().map(|&r| u64::from(src.index(t, r))).sum())
                    .collect()
            })
            .collect();
        // 2. Lanes: halvings, then butterflies.
        for &m in &plan.halvings {
            let prev = part.clone();
            for t in 0..threads {
                let half = prev[t as usize].len() / 2;
                let upper = t & m != 0;
                part[t as usize] = (0..half)
                    .map(|q| {
                        let (lo, hi) = (prev[t as usize][q], prev[t as usize][q + half]);
                        let p = &prev[(t ^ m) as usize];
                        let recv = if upper { p[q + half] } else { p[q] };
                        (if upper { hi } else { lo }) + recv
                    })
                    .collect();
            }
        }
        for &m in &plan.butterflies {
            let prev = part.clone();
            for t in 0..threads {
                for (q, v) in part[t as usize].iter_mut().enumerate() {
                    *v += prev[(t ^ m) as usize][q];
                }
            }
        }
        // 3. Warps.
        if plan.warp_axis != 0 {
            let writers = plan.lane_axis | (plan.dst.copy_mask() & !plan.warp_axis);
            let mut words: HashMap<(u32, u32), u64> = HashMap::new();
            for t in (0..threads).filter(|t| t & writers == 0) {
                for q in 0..plan.dst.slots() {
                    let key = (plan.warp_part(t), plan.dst.index(t, q));
                    assert!(words.insert(key, part[t as usize][q as usize]).is_none());
                }
            }
            for t in 0..threads {
                for q in 0..plan.dst.slots() {
                    let i = plan.dst.index(t, q);
                    part[t as usize][q as usize] =
                        (0..plan.warp_parts()).map(|w| words[&(w, i)]).sum();
                }
            }
        }
        // Expected: the sum of the source indices that squeeze to each result index.
        let mut want: HashMap<u32, u64> = HashMap::new();
        for i in 0..src.numel() {
            let below = i & ((1 << lo) - 1);
            let above = (i >> (lo + n)) << lo;
            *want.entry(below | above).or_default() += u64::from(i);
        }
        for t in 0..threads {
            for q in 0..plan.dst.slots() {
                let i = plan.dst.index(t, q);
                assert_eq!(part[t as usize][q as usize], want[&i], "{src} axis {axis}");
            }
        }
    }

    #[test]
    fn reductions_of_every_layout_kind() {
        for threads in [32, 64, 128, 256] {
            for shape in [
                vec![1024u32],
                vec![4],
                vec![8, 64],
                vec![64, 8],
                vec![2, 4, 32],
                vec![128, 128],
                vec![16, 1024],
            ] {
                let numel: u32 = shape.iter().product();
                let rank = shape.len();
                let mut layouts = vec![Layout::default_for(numel, threads)];
                if rank >= 2 {
                    let order: Vec<usize> = (0..rank).rev().collect();
                    let col: Vec<usize> = (0..rank).collect();
                    for v in 0..3 {
                        layouts.push(Layout::blocked(&shape, &order, v, threads));
                        layouts.push(Layout::blocked(&shape, &col, v, threads));
                    }
                    if rank == 2 && shape[0] >= 16 && shape[1] >= 8 {
                        layouts.push(Layout::mma_acc(shape[0], shape[1], threads / 32));
                    }
                }
                for l in &layouts {
                    for axis in 0..rank {
                        replay(l, &shape, axis, threads);
                    }
                }
            }
        }
    }
}
