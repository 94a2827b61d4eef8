//! `reduce`: combining the elements of a tile along one axis, with the work split the way the
//! blocked layout ([`Layout`]) splits the tile over registers, lanes and warps.
//!
//! Every extent is a power of two, so the row-major flat index of an element is a bit string
//! that the layout cuts into fields: the low `log2(slots)` bits pick a register slot of the
//! thread, the bits above them are the thread id, whose low five bits are the lane and the
//! rest the warp. (A replicated tile has one slot: its index is the low `log2(numel)` bits of
//! the thread id, and the thread id's higher bits only pick a copy.) The reduced axis, of
//! extent `n` with `inner` elements after it, is the bit range
//! `[log2(inner), log2(inner * n))` of the index, which may overlap any of the fields. Every
//! reduction, whatever the shape, axis and program size, takes (some of) three steps:
//!
//! 1. **Slots.** Each thread folds the slots that differ only in axis bits into one
//!    *partial* per remaining slot, in registers, in index order. (A reduction that stays
//!    inside one thread, such as the rows of a 2-D tile that gives each thread whole rows,
//!    therefore sums in the interpreter's order.)
//! 2. **Lanes**, one `shfl.sync.bfly.b32` step per axis bit of the lane field (64-bit values
//!    as two 32-bit halves), highest bit first. While a thread holds several partials, a step
//!    halves them (a reduce-scatter): the lane whose bit is clear keeps the lower half of its
//!    partials and sends the upper half to its partner, which keeps the upper half, and each
//!    combines what it kept with what it received; the lane bit now picks which half a thread
//!    holds. Once a thread holds one partial, a step is a butterfly all-reduce: both lanes
//!    combine the two partials, and since each combine is commutative, all lanes of a
//!    butterfly group then hold the same bits.
//! 3. **Warps**, through shared memory, when axis bits lie in the warp field or when the
//!    partials are not where the result's layout wants its elements. After a `bar.sync` (so
//!    the writes cannot overtake readers of an earlier use of shared memory), one thread per
//!    partial (the lane whose butterfly bits are zero, in the first copy of a replicated tile)
//!    writes it to word `[warp part][result index]`, where the warp part is the value of the
//!    axis bits in the warp field; after a second `bar.sync` every thread combines, for each
//!    of its result slots, the partials of all warp parts, in order.
//!
//! Step 3 is left out, and the reduction uses no shared memory and no barrier, when the axis
//! lies in the slots and lanes of a warp and every thread already holds the elements of its
//! result slots: e.g. rows held whole by a thread, a tile of up to one warp reduced to a
//! scalar, the columns of a `[64, 32]` tile in one warp (the halvings leave each lane its own
//! column), or the leading axis of a replicated tile.
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
use crate::ptx::layout::{log2, Layout};
use crate::ptx::regs::{dclass, Class};
use crate::CodegenError;
use bitmat_ir::{DType, ReduceOp, ValueId};

/// Lanes per warp.
const WARP: u32 = 32;

/// How one reduction splits over slots, lanes and warps (see the module docs). Pure index
/// arithmetic: the emitter follows it, and the host-side tests replay it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Plan {
    /// The layout of the source tile.
    src: Layout,
    /// The layout of the result.
    dst: Layout,
    /// The first bit of the axis in the source's flat index (`log2(inner)`).
    axis_lo: u32,
    /// One past the axis' last bit (`log2(inner * n)`).
    axis_hi: u32,
}

/// Scatters the low bits of `x` into the set bits of `mask`, lowest first.
fn deposit(mut x: u32, mask: u32) -> u32 {
    let mut out = 0;
    for b in 0..32 {
        if mask & (1 << b) != 0 {
            out |= (x & 1) << b;
            x >>= 1;
        }
    }
    out
}

impl Plan {
    /// The plan for reducing a tile of `shape` along `axis` in a program of `threads`.
    fn new(shape: &[u32], axis: usize, threads: u32) -> Plan {
        let numel: u32 = shape.iter().product();
        let inner: u32 = shape[axis + 1..].iter().product();
        Plan {
            src: Layout::new(numel, threads),
            dst: Layout::new(numel / shape[axis], threads),
            axis_lo: log2(inner),
            axis_hi: log2(inner * shape[axis]),
        }
    }

    /// The axis bits of the source's flat index.
    fn axis_mask(self) -> u32 {
        ((1u64 << self.axis_hi) - (1u64 << self.axis_lo)) as u32
    }

    /// The axis bits of the slot field: the slots folded into one partial differ in these.
    fn slot_axis(self) -> u32 {
        self.axis_mask() & (self.src.slots() - 1)
    }

    /// Partials per thread after the slot step.
    fn partials(self) -> u32 {
        self.src.slots() >> self.slot_axis().count_ones()
    }

    /// The first slot folded into partial `q`: `q` spread over the slot bits outside the axis.
    fn first_slot(self, q: u32) -> u32 {
        deposit(q, (self.src.slots() - 1) & !self.slot_axis())
    }

    /// The slots folded into partial `q`, in index order.
    fn partial_slots(self, q: u32) -> impl Iterator<Item = u32> {
        let (axis, first) = (self.slot_axis(), self.first_slot(q));
        (0..1 << axis.count_ones()).map(move |k| first | deposit(k, axis))
    }

    /// The thread-id bits that are axis bits (thread-id bit `b` is index bit
    /// `log2(slots) + b`).
    fn tid_axis(self) -> u32 {
        self.axis_mask() >> log2(self.src.slots())
    }

    /// The axis bits of the lane field, one shuffle step each, highest first.
    fn lane_masks(self) -> impl Iterator<Item = u32> {
        let lanes = self.tid_axis() & (WARP - 1);
        (0..log2(WARP))
            .rev()
            .map(|b| 1 << b)
            .filter(move |m| lanes & m != 0)
    }

    /// The halving steps: each lane mask, highest first, with the bit of the partial index
    /// it splits on (the highest left), while a thread holds more than one partial.
    fn halvings(self) -> impl Iterator<Item = (u32, u32)> {
        self.lane_masks().zip((0..log2(self.partials())).rev())
    }

    /// The lane masks left for butterflies once a thread holds one partial.
    fn butterflies(self) -> impl Iterator<Item = u32> {
        self.lane_masks().skip(log2(self.partials()) as usize)
    }

    /// Partials per thread after the lane step.
    fn held(self) -> u32 {
        self.partials() >> self.halvings().count()
    }

    /// The partial (numbered as after the slot step) that thread `tid` holds as its `j`-th
    /// after the lane step: the halvings put the thread's lane bits in the high bits.
    fn held_partial(self, tid: u32, j: u32) -> u32 {
        self.halvings()
            .filter(|&(m, _)| tid & m != 0)
            .fold(j, |q, (_, bit)| q | 1 << bit)
    }

    /// The axis bits of the warp field.
    fn warp_axis(self) -> u32 {
        self.tid_axis() & !(WARP - 1)
    }

    /// Partials per result element after the lane step: one per value of the warp-axis bits.
    fn warp_parts(self) -> u32 {
        1 << self.warp_axis().count_ones()
    }

    /// The result's flat index for source index `i`: `i` without its axis bits.
    fn result_index(self, i: u32) -> u32 {
        (i & ((1 << self.axis_lo) - 1)) | ((i >> self.axis_hi) << self.axis_lo)
    }

    /// How many words after its partial 0 a thread writes partial `q`: the result index of
    /// `q`'s first slot. (The result index of a flat index is the bitwise OR of its parts', so
    /// a partial's word is the thread's slot-0 word plus this.)
    fn partial_offset(self, q: u32) -> u32 {
        self.result_index(self.first_slot(q))
    }

    /// Thread-id bits that must be zero in the thread that writes a partial to shared memory:
    /// the butterfly bits (every lane of a butterfly group holds the same partials) and the
    /// bits that only pick a copy of a replicated tile.
    fn writer_mask(self) -> u32 {
        let copies = (self.src.threads - 1) & !((self.src.numel - 1) >> log2(self.src.slots()));
        self.butterflies().fold(copies, |m, b| m | b)
    }

    /// True when step 3 is not needed: the axis has no warp bits and the `j`-th partial every
    /// thread holds is the element that slot `j` of the result's layout holds.
    fn in_place(self) -> bool {
        self.warp_parts() == 1
            && self.held() == self.dst.slots()
            && (0..self.src.threads).all(|t| {
                (0..self.held()).all(|j| {
                    let first = self.first_slot(self.held_partial(t, j));
                    self.result_index(self.src.index(t, first)) == self.dst.index(t, j)
                })
            })
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
        if d == DType::Bool && op == ReduceOp::Sum {
            return Err(self.unsupported("`reduce_sum` is not defined on bool"));
        }
        let plan = Plan::new(&shape, axis, self.threads);
        let xs = self.get(x)?;
        let c = acc_class(d);
        // 1. Slots, in registers.
        let mut partials = Vec::new();
        for q in 0..plan.partials() {
            let acc = self.start_acc(d, &xs[plan.first_slot(q) as usize]);
            for s in plan.partial_slots(q).skip(1) {
                let v = self.acc_operand(d, &xs[s as usize]);
                self.combine(op, d, &acc, &v);
            }
            partials.push(acc);
        }
        // 2. Lanes, by shuffles: halvings, then butterflies.
        for (m, _) in plan.halvings() {
            partials = self.halve(op, d, &partials, m);
        }
        for m in plan.butterflies() {
            for acc in &partials {
                let v = self.reg(c);
                self.shfl_bfly(c, &v, acc, m);
                self.combine(op, d, acc, &v);
            }
        }
        // 3. Warps, through shared memory (also moves the partials into the result's layout).
        let accs = if plan.in_place() {
            partials
        } else {
            self.combine_in_shared(plan, op, d, &partials)
        };
        let out = accs.iter().map(|a| self.finish_acc(op, d, a)).collect();
        self.define(res, out);
        Ok(())
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
        let i = match (op, t) {
            (ReduceOp::Sum, "f32") => "add.rn",
            (ReduceOp::Sum, _) => "add",
            (ReduceOp::Max, _) => "max",
            (ReduceOp::Min, _) => "min",
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
            self.shfl_bfly(c, &recv, &send, m);
            self.combine(op, d, &keep, &recv);
            kept.push(keep);
        }
        kept
    }

    /// `dst` = register `src` (class `c`) of the lane whose id differs from this one's in the
    /// bits of `mask`. Every lane of the warp must execute it.
    fn shfl_bfly(&mut self, c: Class, dst: &str, src: &str, mask: u32) {
        let shfl =
            |d: &str, s: &str| format!("shfl.sync.bfly.b32 {d}, {s}, {mask}, 0x1f, 0xffffffff;");
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

    /// Step 3: the partials go to shared memory, one row of the result's size per warp part;
    /// each thread then combines, for each slot of the result's layout, the rows' words of
    /// that element. Returns the accumulators of the result slots.
    fn combine_in_shared(
        &mut self,
        plan: Plan,
        op: ReduceOp,
        d: DType,
        partials: &[String],
    ) -> Vec<String> {
        let c = acc_class(d);
        let size = word_bytes(c);
        let row = plan.dst.numel * size;
        self.need_shared(plan.warp_parts() * row);
        self.barrier();
        let home = self.partial_home(plan);
        let addr = self.shared_addr(&home, size, 0);
        let guard = match plan.writer_mask() {
            0 => String::new(),
            mask => {
                let (t, p) = (self.reg(Class::B32), self.reg(Class::Pred));
                let tid = self.tid.clone();
                self.line(format!("and.b32 {t}, {tid}, {mask};"));
                self.line(format!("setp.eq.u32 {p}, {t}, 0;"));
                format!("@{p} ")
            }
        };
        let ty = word_ty(c);
        for (j, acc) in (0..).zip(partials) {
            let off = plan.partial_offset(j) * size;
            self.line(format!("{guard}st.shared.{ty} [{addr}+{off}], {acc};"));
        }
        self.barrier();
        let mut accs = Vec::new();
        for j in 0..plan.dst.slots() {
            let ri = self.elem_index(plan.dst, j);
            let a = self.shared_addr(&ri, size, 0);
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

    /// The word of shared memory where this thread writes its partial 0, as a fresh `.b32`
    /// register: the warp part (the value of the warp-axis bits of `%tid.x`) times the
    /// result's size, plus the result index of the thread's slot 0 and of the partial that
    /// the halvings gave the thread in place of partial 0 ([`Plan::held_partial`]). Its
    /// `j`-th partial goes [`Plan::partial_offset`]`(j)` words further.
    fn partial_home(&mut self, plan: Plan) -> String {
        let tid = self.tid.clone();
        let (i, lo, hi) = (
            self.reg(Class::B32),
            self.reg(Class::B32),
            self.reg(Class::B32),
        );
        // i = the flat index of slot 0: (tid << log2(slots)) & (numel - 1)
        self.line(format!("shl.b32 {i}, {tid}, {};", log2(plan.src.slots())));
        self.line(format!("and.b32 {i}, {i}, {};", plan.src.numel - 1));
        // its result index: (i & (2^axis_lo - 1)) | (i >> axis_hi) << axis_lo
        self.line(format!(
            "and.b32 {lo}, {i}, {};",
            (1u32 << plan.axis_lo) - 1
        ));
        self.line(format!("shr.u32 {hi}, {i}, {};", plan.axis_hi));
        self.line(format!("shl.b32 {hi}, {hi}, {};", plan.axis_lo));
        self.line(format!("or.b32 {i}, {lo}, {hi};"));
        let warps = plan.warp_axis();
        if warps != 0 {
            // + the warp part (the warp-axis bits of tid) times the result's size
            let w = self.reg(Class::B32);
            self.line(format!("and.b32 {w}, {tid}, {warps};"));
            self.line(format!("shr.u32 {w}, {w}, {};", warps.trailing_zeros()));
            self.line(format!("mad.lo.u32 {i}, {w}, {}, {i};", plan.dst.numel));
        }
        for (m, bit) in plan.halvings() {
            // + the partial that this lane's `m` bit selects
            let b = self.reg(Class::B32);
            self.line(format!("shr.u32 {b}, {tid}, {};", log2(m)));
            self.line(format!("and.b32 {b}, {b}, 1;"));
            let off = plan.partial_offset(1 << bit);
            self.line(format!("mad.lo.u32 {i}, {b}, {off}, {i};"));
        }
        i
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

    /// What [`Emitter::partial_home`] computes for thread `tid`.
    fn partial_home(plan: Plan, tid: u32) -> u32 {
        let warps = plan.warp_axis();
        let w = if warps == 0 {
            0
        } else {
            (tid & warps) >> warps.trailing_zeros()
        };
        let own = plan.held_partial(tid, 0);
        w * plan.dst.numel + plan.result_index(plan.src.index(tid, 0)) + plan.partial_offset(own)
    }

    /// Replays `plan` on the host the way the emitted code runs it, each value a list of the
    /// source indices combined into it, and checks that every slot of every thread ends with
    /// exactly the elements of its result index along the axis.
    fn replay(shape: &[u32], axis: usize, threads: u32) -> Plan {
        let plan = Plan::new(shape, axis, threads);
        let (src, dst) = (plan.src, plan.dst);
        let what = format!("{shape:?} axis {axis}, {threads} threads: {plan:?}");
        // 1. Slots.
        let mut parts: Vec<Vec<Vec<u32>>> = (0..threads)
            .map(|t| {
                (0..plan.partials())
                    .map(|q| plan.partial_slots(q).map(|s| src.index(t, s)).collect())
                    .collect()
            })
            .collect();
        // 2. Lanes: halvings, then butterflies.
        for (m, _) in plan.halvings() {
            let before = parts.clone();
            for (t, p) in (0..).zip(&mut parts) {
                let half = p.len() / 2;
                let (mine, theirs) = (&before[t as usize], &before[(t ^ m) as usize]);
                let upper = t & m != 0;
                *p = (0..half)
                    .map(|j| {
                        let (keep, recv) = if upper {
                            (&mine[j + half], &theirs[j + half])
                        } else {
                            (&mine[j], &theirs[j])
                        };
                        keep.iter().chain(recv).copied().collect()
                    })
                    .collect();
            }
        }
        for m in plan.butterflies() {
            let before = parts.clone();
            for (t, p) in (0..).zip(&mut parts) {
                for (acc, v) in p.iter_mut().zip(&before[(t ^ m) as usize]) {
                    acc.extend(v);
                }
            }
        }
        for m in plan.lane_masks() {
            assert!(m < WARP, "{what}");
        }
        assert!(
            parts.iter().all(|p| p.len() as u32 == plan.held()),
            "{what}"
        );
        // 3. Warps.
        let results = if plan.in_place() {
            parts
        } else {
            let mut smem: Vec<Option<Vec<u32>>> =
                vec![None; (plan.warp_parts() * dst.numel) as usize];
            for (t, p) in (0..).zip(&parts) {
                if t & plan.writer_mask() != 0 {
                    continue;
                }
                for (j, acc) in (0..).zip(p) {
                    let word = partial_home(plan, t) + plan.partial_offset(j);
                    let slot = &mut smem[word as usize];
                    assert!(slot.is_none(), "{what}: word {word} written twice");
                    *slot = Some(acc.clone());
                }
            }
            (0..threads)
                .map(|t| {
                    (0..dst.slots())
                        .map(|j| {
                            (0..plan.warp_parts())
                                .flat_map(|w| {
                                    let word = w * dst.numel + dst.index(t, j);
                                    smem[word as usize].clone().expect("word never written")
                                })
                                .collect()
                        })
                        .collect()
                })
                .collect()
        };
        // Every result slot holds its elements, each once.
        let n = shape[axis];
        let inner: u32 = shape[axis + 1..].iter().product();
        for (t, r) in (0..).zip(&results) {
            assert_eq!(r.len() as u32, dst.slots(), "{what}");
            for (j, got) in (0..).zip(r) {
                let ri = dst.index(t, j);
                let (o, i) = (ri / inner, ri % inner);
                let want: Vec<u32> = (0..n).map(|k| (o * n + k) * inner + i).collect();
                let mut got = got.clone();
                got.sort_unstable();
                assert_eq!(got, want, "{what}: thread {t} slot {j}");
            }
        }
        plan
    }

    const THREADS: [u32; 4] = [32, 128, 256, 1024];

    #[test]
    fn one_dimensional_reductions() {
        for threads in THREADS {
            for n in (0..=13).map(|b| 1 << b) {
                replay(&[n], 0, threads);
            }
        }
    }

    #[test]
    fn two_and_three_dimensional_reductions() {
        let pow2 = |max: u32| (0..=log2(max)).map(|b| 1u32 << b);
        for threads in THREADS {
            for r in pow2(256) {
                for c in pow2(256) {
                    if r * c <= 1 << 14 {
                        replay(&[r, c], 0, threads);
                        replay(&[r, c], 1, threads);
                    }
                }
            }
            for shape in [[2, 64, 4], [8, 4, 16], [4, 1, 32], [32, 32, 2]] {
                for axis in 0..3 {
                    replay(&shape, axis, threads);
                }
            }
        }
    }

    /// Which step each common case takes.
    #[test]
    fn steps_of_common_cases() {
        let steps = |shape: &[u32], axis, threads| {
            let p = replay(shape, axis, threads);
            let (h, b) = (p.halvings().count(), p.butterflies().count());
            (h, b, p.warp_parts(), p.in_place())
        };
        // A 1-D tile in one warp: registers and five butterflies, nothing shared.
        assert_eq!(steps(&[1024], 0, 32), (0, 5, 1, true));
        // Tiles smaller than a warp (replicated): butterflies over their own bits.
        assert_eq!(steps(&[8], 0, 128), (0, 3, 1, true));
        assert_eq!(steps(&[1], 0, 128), (0, 0, 1, true));
        // Across warps: one partial per warp in shared memory.
        assert_eq!(steps(&[256], 0, 128), (0, 5, 4, false));
        assert_eq!(steps(&[1024], 0, 256), (0, 5, 8, false));
        // Rows held whole by a thread: registers only.
        assert_eq!(steps(&[128, 128], 1, 128), (0, 0, 1, true));
        // Columns, 128 per thread: five halvings leave four per lane, then the warps.
        assert_eq!(steps(&[128, 128], 0, 128), (5, 0, 4, false));
        // ... and in one warp, one column per lane, where the result wants it.
        assert_eq!(steps(&[64, 32], 0, 32), (5, 0, 1, true));
        // Rows spread over lanes: shuffles, then shared memory for the result's layout.
        assert_eq!(steps(&[4, 64], 1, 128), (0, 5, 1, false));
        assert_eq!(steps(&[64, 4], 1, 128), (0, 1, 1, false));
        assert_eq!(steps(&[4, 64], 0, 128), (0, 0, 4, false));
        assert_eq!(steps(&[64, 4], 0, 128), (1, 3, 4, false));
        // The leading axis of a replicated tile stays in place.
        assert_eq!(steps(&[2, 8], 0, 128), (0, 1, 1, true));
    }

    #[test]
    fn deposit_scatters_bits() {
        assert_eq!(deposit(0b101, 0b1110_0000), 0b1010_0000);
        assert_eq!(deposit(0b11, 0b1001), 0b1001);
        assert_eq!(deposit(7, 0), 0);
    }
}
