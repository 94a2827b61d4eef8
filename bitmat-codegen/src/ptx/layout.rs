//! Where the elements of a tile live: linear layouts (Triton's `LinearLayout`, restricted to
//! the distributed layouts a CTA's registers hold).
//!
//! Every extent is a power of two, so a tile's row-major flat index is a string of
//! `log2(numel)` bits. A layout maps the bits of a thread's *location* (its register slot,
//! its lane, its warp) to index bits: each location bit has a *basis*, either one index bit
//! or nothing (0), and the element at a location is the OR of the bases of its set bits.
//! Every index bit is the basis of exactly one location bit, so each element lives in some
//! register; a lane or warp bit whose basis is 0 makes threads that differ in it hold the
//! same elements (the tile is replicated over them). Register bases are never 0: a thread
//! holds each of its elements once.
//!
//! Because the index is row-major and flat, `reshape` and `expand_dims` never move data,
//! and the layouts of the ops are simple to state:
//! - [`Layout::blocked`]: runs of `vec` consecutive elements of the fastest dimension in a
//!   thread's registers, then lanes, then warps along the dimensions in `order` (what loads
//!   and stores use, with `vec` chosen for 16-byte accesses);
//! - [`Layout::remove_bits`]: the *slice* that a reduction leaves, or that a broadcast source
//!   needs for the broadcast to move no data; [`Layout::insert_register_bits`] the other
//!   way, a broadcast whose copies stay in the registers of the thread holding the source;
//! - [`Layout::mma_acc`]: the accumulator fragments of `mma.sync` m16n8, the CTA's warps
//!   tiling the output.

use std::fmt;

/// Lanes per warp.
pub(crate) const WARP: u32 = 32;

/// The layout of one tile over the threads of a CTA.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Layout {
    /// `log2(numel)`: the bits of the flat index.
    pub bits: u32,
    /// The index bit (as a mask) of each register-slot bit; never 0.
    pub reg: Vec<u32>,
    /// The index bit of each of the 5 lane bits, or 0.
    pub lane: Vec<u32>,
    /// The index bit of each warp bit (`log2(warps)` of them), or 0.
    pub warp: Vec<u32>,
}

/// The row-major bit ranges of the dimensions of `shape`: dimension `d` holds index bits
/// `[lo, lo + log2(shape[d]))`.
pub(crate) fn dim_bits(shape: &[u32]) -> Vec<(u32, u32)> {
    let mut out = vec![(0, 0); shape.len()];
    let mut lo = 0;
    for d in (0..shape.len()).rev() {
        out[d] = (lo, log2(shape[d]));
        lo += log2(shape[d]);
    }
    out
}

/// The mask of index bits `[lo, lo + n)`.
pub(crate) fn bit_range(lo: u32, n: u32) -> u32 {
    ((1u64 << (lo + n)) - (1u64 << lo)) as u32
}

impl Layout {
    /// Register slots per thread.
    pub fn slots(&self) -> u32 {
        1 << self.reg.len()
    }

    /// Elements of the tile.
    pub fn numel(&self) -> u32 {
        1 << self.bits
    }

    /// The layout that fills registers, lanes and warps, in that order, with the index bits of
    /// `seq` (lowest first); lanes and warps left over hold copies, and index bits left over go
    /// to further registers.
    fn fill(bits: u32, seq: &[u32], vec_bits: u32, threads: u32) -> Layout {
        let warps_bits = log2(threads / WARP);
        let mut it = seq.iter().map(|&b| 1u32 << b);
        let mut reg: Vec<u32> = it.by_ref().take(vec_bits as usize).collect();
        let lane: Vec<u32> = (0..5).map(|_| it.next().unwrap_or(0)).collect();
        let warp: Vec<u32> = (0..warps_bits).map(|_| it.next().unwrap_or(0)).collect();
        reg.extend(it);
        Layout {
            bits,
            reg,
            lane,
            warp,
        }
    }

    /// Triton's blocked layout for a tile of `shape` over `threads` threads: `2^vec_bits`
    /// consecutive elements of dimension `order[0]` per thread, then the lanes and warps
    /// along `order[0]`, `order[1]`, ...; further elements repeat the pattern in more
    /// registers.
    pub fn blocked(shape: &[u32], order: &[usize], vec_bits: u32, threads: u32) -> Layout {
        let ranges = dim_bits(shape);
        let seq: Vec<u32> = order
            .iter()
            .flat_map(|&d| ranges[d].0..ranges[d].0 + ranges[d].1)
            .collect();
        let bits = seq.len() as u32;
        Layout::fill(bits, &seq, vec_bits.min(bits), threads)
    }

    /// The default layout of a tile of `numel` elements: `numel / threads` consecutive
    /// elements per thread (one copy per thread of small tiles and scalars).
    pub fn default_for(numel: u32, threads: u32) -> Layout {
        let bits = log2(numel);
        let seq: Vec<u32> = (0..bits).collect();
        Layout::fill(bits, &seq, bits.saturating_sub(log2(threads)), threads)
    }

    /// The layout of the tile that results from deleting the index bits of `mask` (a reduced
    /// axis, or the axes a broadcast expands): bases into `mask` become 0 (lanes, warps) or
    /// disappear (registers), the other bits move down. Also returns, for each register bit
    /// of `self`, its position among the result's register bits (`None` if deleted).
    pub fn remove_bits(&self, mask: u32) -> (Layout, Vec<Option<usize>>) {
        let squeeze = |b: u32| -> u32 {
            if b & mask != 0 || b == 0 {
                return 0;
            }
            let below = (b - 1) & !mask;
            1 << below.count_ones()
        };
        let mut reg = Vec::new();
        let mut pos = Vec::new();
        for &b in &self.reg {
            let s = squeeze(b);
            if s == 0 {
                pos.push(None);
            } else {
                pos.push(Some(reg.len()));
                reg.push(s);
            }
        }
        let l = Layout {
            bits: self.bits - mask.count_ones(),
            reg,
            lane: self.lane.iter().map(|&b| squeeze(b)).collect(),
            warp: self.warp.iter().map(|&b| squeeze(b)).collect(),
        };
        (l, pos)
    }

    /// The inverse of [`Layout::remove_bits`] for a broadcast: the layout of the tile whose
    /// index has the new bits `mask` inserted (the axes a broadcast expands), each thread
    /// holding every copy in registers. The new register bits come first, so that
    /// `remove_bits(mask)` of the result is `self` again, register order included.
    pub fn insert_register_bits(&self, mask: u32) -> Layout {
        let bits = self.bits + mask.count_ones();
        // Old index bit `i` moves to the `i`-th position of the result that `mask` leaves.
        let free: Vec<u32> = (0..bits).filter(|&b| mask & (1 << b) == 0).collect();
        let expand = |b: u32| {
            if b == 0 {
                0
            } else {
                1 << free[b.trailing_zeros() as usize]
            }
        };
        let mut reg: Vec<u32> = (0..bits)
            .filter(|&b| mask & (1 << b) != 0)
            .map(|b| 1 << b)
            .collect();
        reg.extend(self.reg.iter().map(|&b| expand(b)));
        Layout {
            bits,
            reg,
            lane: self.lane.iter().map(|&b| expand(b)).collect(),
            warp: self.warp.iter().map(|&b| expand(b)).collect(),
        }
    }

    /// The layout holding, in each thread's slots, the elements whose indices are those of
    /// `self` with index bit `i` moved to bit `to[i]` (`to` a permutation of `0..bits`): what a
    /// permutation of a tile's axes does to its index bits.
    pub fn map_bits(&self, to: &[u32]) -> Layout {
        let map = |b: u32| {
            if b == 0 {
                0
            } else {
                1 << to[b.trailing_zeros() as usize]
            }
        };
        Layout {
            bits: self.bits,
            reg: self.reg.iter().map(|&b| map(b)).collect(),
            lane: self.lane.iter().map(|&b| map(b)).collect(),
            warp: self.warp.iter().map(|&b| map(b)).collect(),
        }
    }

    /// The accumulator layout of `mma.sync` m16n8 (`k` any) for an `[m, n]` tile (`m >= 16`,
    /// `n >= 8`) over `warps` warps: inside a 16x8 tile, register bit 0 is column bit 0, lane
    /// bits 0-1 column bits 1-2, lane bits 2-4 row bits 0-2 and register bit 1 row bit 3
    /// (`c0..c3` of the PTX fragment); the warps split the rows, then the columns
    /// ([`warp_grid`]), and each warp repeats the 16x8 tile over its part, columns first.
    pub fn mma_acc(m: u32, n: u32, warps: u32) -> Layout {
        let (wm, wn) = warp_grid(m, n, warps);
        let nb = log2(n);
        let col = |b: u32| 1u32 << b;
        let row = |b: u32| 1u32 << (nb + b);
        let lane = vec![col(1), col(2), row(0), row(1), row(2)];
        let mut reg = vec![col(0), row(3)];
        // Warps: rows first (above the warp's own rows), then columns.
        let (mb, nbits) = (log2(m), nb);
        let (wmb, wnb) = (log2(wm), log2(wn));
        let mut warp = Vec::new();
        for i in 0..wmb {
            warp.push(row(mb - wmb + i));
        }
        for i in 0..wnb {
            warp.push(col(nbits - wnb + i));
        }
        // The warp's repeats: its columns beyond the first 8, then its rows beyond 16.
        for b in 3..nbits - wnb {
            reg.push(col(b));
        }
        for b in 4..mb - wmb {
            reg.push(row(b));
        }
        let mut warp_all = warp;
        warp_all.resize(log2(warps) as usize, 0);
        Layout {
            bits: mb + nb,
            reg,
            lane,
            warp: warp_all,
        }
    }

    /// The flat index held in register `r` by thread `tid`.
    #[cfg(test)]
    pub fn index(&self, tid: u32, r: u32) -> u32 {
        self.thread_base(tid) | self.reg_offset(r)
    }

    /// The index bits contributed by the thread id `tid` (lane and warp bits).
    #[cfg(test)]
    pub fn thread_base(&self, tid: u32) -> u32 {
        let mut x = 0;
        for (i, &b) in self.lane.iter().chain(&self.warp).enumerate() {
            if tid >> i & 1 != 0 {
                x |= b;
            }
        }
        x
    }

    /// The index bits contributed by register slot `r`.
    pub fn reg_offset(&self, r: u32) -> u32 {
        self.reg
            .iter()
            .enumerate()
            .filter(|(i, _)| r >> i & 1 != 0)
            .fold(0, |x, (_, &b)| x | b)
    }

    /// The thread-id bits whose basis is 0: threads that differ only in them hold the same
    /// elements. The thread with these bits clear owns the elements (writes them once).
    pub fn copy_mask(&self) -> u32 {
        self.lane
            .iter()
            .chain(&self.warp)
            .enumerate()
            .filter(|(_, &b)| b == 0)
            .fold(0, |m, (i, _)| m | 1 << i)
    }

    /// When `self` and `to` place every element in the same thread, the register of `self`
    /// holding each register of `to` (a conversion that renames registers).
    pub fn rename_to(&self, to: &Layout) -> Option<Vec<u32>> {
        if self.bits != to.bits || self.lane != to.lane || self.warp != to.warp {
            return None;
        }
        (0..to.slots())
            .map(|r| {
                let want = to.reg_offset(r);
                self.slot_of(want)
            })
            .collect()
    }

    /// When every element a thread of `to` needs is held by a thread of the same warp in
    /// `self`, always in the same register slot for a given slot of `to` (a conversion that
    /// warp shuffles carry): the plan of those shuffles. It exists when the two layouts
    /// split the tile over the warps alike and every register bit of `self` is also one of
    /// `to`'s.
    pub fn shuffle_to(&self, to: &Layout) -> Option<ShufflePlan> {
        if self.bits != to.bits || self.warp != to.warp {
            return None;
        }
        // The source lane bit holding each index bit.
        let source_bit = |b: u32| self.lane.iter().position(|&l| l == b);
        let lane_bits = to
            .lane
            .iter()
            .enumerate()
            .filter(|(_, &b)| b != 0)
            .map(|(k, &b)| source_bit(b).map(|j| (k as u32, j as u32)))
            .collect::<Option<Vec<_>>>()?;
        let slots = (0..to.slots())
            .map(|r| {
                let want = to.reg_offset(r);
                let mut lanes = 0;
                for b in (0..self.bits).map(|i| 1 << i).filter(|b| want & b != 0) {
                    if let Some(j) = source_bit(b) {
                        lanes |= 1 << j;
                    }
                }
                let in_regs = self.reg.iter().fold(0, |m, &b| m | (want & b));
                let slot = self.slot_of(in_regs)?;
                (want == in_regs | self.lane_part(lanes)).then_some((slot, lanes))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(ShufflePlan { slots, lane_bits })
    }

    /// The index bits contributed by the lane bits `lanes`.
    fn lane_part(&self, lanes: u32) -> u32 {
        self.lane
            .iter()
            .enumerate()
            .filter(|(i, _)| lanes >> i & 1 != 0)
            .fold(0, |x, (_, &b)| x | b)
    }

    /// The register slot holding the register-part `bits` of an index, if registers cover
    /// exactly those bits.
    fn slot_of(&self, bits: u32) -> Option<u32> {
        let mut r = 0;
        let mut left = bits;
        for (i, &b) in self.reg.iter().enumerate() {
            if left & b != 0 {
                r |= 1 << i;
                left &= !b;
            }
        }
        (left == 0).then_some(r)
    }

    /// How many leading register bits are the index bits `lo, lo + 1, ..` in order (at most
    /// `n` of them): a thread's first `2^result` slots hold consecutive elements of the
    /// dimension whose bits start at `lo`.
    pub fn leading_run(&self, lo: u32, n: u32) -> u32 {
        self.reg
            .iter()
            .enumerate()
            .take_while(|(i, &b)| (*i as u32) < n && b == 1 << (lo + *i as u32))
            .count() as u32
    }

    /// How many consecutive register slots, starting at every multiple of the result, hold
    /// consecutive flat indices: `2^j` where register bits `0..j` are index bits `0..j`.
    pub fn contiguous_slots(&self) -> u32 {
        let j = self
            .reg
            .iter()
            .enumerate()
            .take_while(|(i, &b)| b == 1 << i)
            .count();
        1 << j
    }
}

/// How warp shuffles convert a tile between two layouts ([`Layout::shuffle_to`]): reader
/// lane `L`'s slot `r` is slot `slots[r].0` of the lane whose id is `slots[r].1` with, for
/// each `(k, j)` of `lane_bits`, bit `j` set to bit `k` of `L`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ShufflePlan {
    /// For each register slot of the result: the source slot and the source lane bits that
    /// do not depend on the reader.
    pub slots: Vec<(u32, u32)>,
    /// `(reader lane bit, source lane bit)` pairs: the source lane bits copied from the
    /// reader's lane id.
    pub lane_bits: Vec<(u32, u32)>,
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[u32]| {
            v.iter()
                .map(|&b| {
                    if b == 0 {
                        "-".to_string()
                    } else {
                        b.trailing_zeros().to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        write!(
            f,
            "reg[{}] lane[{}] warp[{}]",
            list(&self.reg),
            list(&self.lane),
            list(&self.warp)
        )
    }
}

/// How `warps` warps tile an `[m, n]` output of m16n8 tiles: `(wm, wn)` with `wm * wn` =
/// `warps` where the tile allows (rows split first, while each warp keeps at least as many
/// 16-row tiles as 8-column ones); warps that do not fit hold copies.
pub(crate) fn warp_grid(m: u32, n: u32, warps: u32) -> (u32, u32) {
    let (mut wm, mut wn) = (1, 1);
    while wm * wn < warps {
        let (tm, tn) = (m / 16 / wm, n / 8 / wn);
        if tm >= 2 && (tm >= tn || tn < 2) {
            wm *= 2;
        } else if tn >= 2 {
            wn *= 2;
        } else {
            break;
        }
    }
    (wm, wn)
}

/// `log2(x)` for a power of two.
pub(crate) fn log2(x: u32) -> u32 {
    x.trailing_zeros()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Every element is held, by the expected number of copies, and each thread holds an
    /// element at most once.
    fn check_covers(l: &Layout, threads: u32) {
        let mut seen: HashMap<u32, u32> = HashMap::new();
        for t in 0..threads {
            let mut mine = std::collections::HashSet::new();
            for r in 0..l.slots() {
                let i = l.index(t, r);
                assert!(i < l.numel(), "{l}: index {i} out of range");
                assert!(mine.insert(i), "{l}: thread {t} holds {i} twice");
                *seen.entry(i).or_default() += 1;
            }
        }
        let copies = 1 << l.copy_mask().count_ones();
        assert_eq!(seen.len() as u32, l.numel(), "{l}");
        assert!(seen.values().all(|&c| c == copies), "{l}");
    }

    #[test]
    fn default_layout_is_the_old_blocked_formula() {
        for threads in [32, 64, 128, 256] {
            for bits in 0..12 {
                let numel = 1 << bits;
                let l = Layout::default_for(numel, threads);
                check_covers(&l, threads);
                let slots = (numel / threads).max(1);
                for t in 0..threads {
                    for j in 0..slots {
                        assert_eq!(l.index(t, j), ((t * slots) | j) & (numel - 1));
                    }
                }
            }
        }
    }

    #[test]
    fn blocked_layouts_cover_their_tile() {
        for threads in [32, 128, 256] {
            for shape in [
                [16u32, 64],
                [64, 16],
                [1, 128],
                [128, 1],
                [4, 4],
                [128, 128],
            ] {
                for order in [[1usize, 0], [0, 1]] {
                    for vec in 0..4 {
                        check_covers(&Layout::blocked(&shape, &order, vec, threads), threads);
                    }
                }
            }
        }
        // Along the columns: 8 per thread, then lanes across the row.
        let l = Layout::blocked(&[64, 64], &[1, 0], 3, 128);
        assert_eq!(l.index(0, 7), 7);
        assert_eq!(l.index(1, 0), 8);
        assert_eq!(l.index(8, 0), 64);
        // Along the rows (column-major): thread 1 starts one column... 8 rows down.
        let l = Layout::blocked(&[64, 64], &[0, 1], 3, 128);
        assert_eq!(l.index(0, 1), 64);
        assert_eq!(l.index(1, 0), 8 * 64);
    }

    #[test]
    fn mma_accumulator_matches_the_ptx_fragment() {
        for (m, n, warps) in [
            (16, 8, 1),
            (64, 64, 4),
            (128, 128, 8),
            (16, 256, 4),
            (32, 8, 4),
        ] {
            let l = Layout::mma_acc(m, n, warps);
            check_covers(&l, warps * 32);
            let (wm, wn) = warp_grid(m, n, warps);
            for lane in 0..32 {
                for r in 0..4 {
                    let i = l.index(lane, r);
                    let (row, col) = (i / n, i % n);
                    assert_eq!(row, lane / 4 + 8 * (r / 2), "{l}");
                    assert_eq!(col, 2 * (lane % 4) + r % 2, "{l}");
                }
            }
            // A warp's elements lie in its own (m / wm) x (n / wn) block.
            for w in 0..warps {
                let blocks: std::collections::HashSet<(u32, u32)> = (0..l.slots())
                    .flat_map(|r| (0..32).map(move |lane| (r, lane)))
                    .map(|(r, lane)| {
                        let i = l.index(w * 32 + lane, r);
                        (i / n / (m / wm), i % n / (n / wn))
                    })
                    .collect();
                assert_eq!(blocks.len(), 1, "{l}");
            }
        }
    }

    #[test]
    fn removing_bits_slices_and_renames() {
        // A [8, 64] tile, rows reduced: the columns remain where they were.
        let l = Layout::blocked(&[8, 64], &[1, 0], 2, 64);
        let (s, pos) = l.remove_bits(0b111 << 6);
        check_covers(&s, 64);
        for t in 0..64 {
            for r in 0..l.slots() {
                let col = l.index(t, r) & 63;
                let rs = pos
                    .iter()
                    .enumerate()
                    .filter_map(|(i, p)| p.map(|p| (r >> i & 1) << p))
                    .sum::<u32>();
                assert_eq!(s.index(t, rs), col);
            }
        }
        assert_eq!(l.rename_to(&l), Some((0..l.slots()).collect()));
        assert_eq!(l.rename_to(&Layout::default_for(512, 64)), None);
    }

    #[test]
    fn inserting_bits_keeps_copies_in_registers() {
        // A [16, 1, 32] tile broadcast to [16, 4, 32]: each thread holds the 4 copies of its
        // elements, and removing the bits again gives the source layout back.
        let src = Layout::blocked(&[16, 32], &[0, 1], 2, 128);
        let mask = 0b11 << 5;
        let l = src.insert_register_bits(mask);
        check_covers(&l, 128);
        assert_eq!(l.remove_bits(mask).0, src);
        for t in 0..128 {
            for r in 0..l.slots() {
                let i = l.index(t, r);
                // Dropping the inserted index bits gives the source element of the thread.
                let below = i & 0b1_1111;
                let above = (i >> 7) << 5;
                assert_eq!(src.index(t, r >> 2), below | above, "{l}");
            }
        }
    }

    /// A layout of `bits` index bits over `warps` warps, drawn from `seed`: the index bits
    /// shuffled, then dealt to the warp, lane and register bits, some thread bits left 0.
    fn random_layout(seed: &mut u64, bits: u32, warps_bits: u32) -> Layout {
        let mut next = |n: u32| {
            *seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((*seed >> 33) % u64::from(n)) as u32
        };
        let mut order: Vec<u32> = (0..bits).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, next(i as u32 + 1) as usize);
        }
        let mut it = order.into_iter().map(|b| 1u32 << b);
        let mut thread_bit = |it: &mut dyn Iterator<Item = u32>| {
            if next(4) == 0 {
                0
            } else {
                it.next().unwrap_or(0)
            }
        };
        let lane: Vec<u32> = (0..5).map(|_| thread_bit(&mut it)).collect();
        let warp: Vec<u32> = (0..warps_bits).map(|_| thread_bit(&mut it)).collect();
        Layout {
            bits,
            reg: it.collect(),
            lane,
            warp,
        }
    }

    #[test]
    fn shuffle_plans_deliver_every_element() {
        let mut seed = 7;
        let mut planned = 0;
        for _ in 0..4000 {
            let bits = 3 + seed as u32 % 8;
            let warps_bits = (seed >> 8) as u32 % 3;
            let from = random_layout(&mut seed, bits, warps_bits);
            // Half the targets share the source's warp bases, as conversions inside a warp do.
            let mut to = random_layout(&mut seed, bits, warps_bits);
            if seed >> 40 & 1 == 0 {
                to = from.clone();
                let r = to.reg.len();
                if r >= 1 {
                    let l = (seed >> 20) as usize % 5;
                    let i = (seed >> 24) as usize % r;
                    std::mem::swap(&mut to.lane[l], &mut to.reg[i]);
                    if to.reg[i] == 0 {
                        to.reg.remove(i);
                    }
                }
            }
            let Some(plan) = from.shuffle_to(&to) else {
                continue;
            };
            planned += 1;
            for t in 0..32 << warps_bits {
                let lane = t % 32;
                for r in 0..to.slots() {
                    let (slot, mut src) = plan.slots[r as usize];
                    for &(k, j) in &plan.lane_bits {
                        src |= (lane >> k & 1) << j;
                    }
                    let source = from.index(t - lane + src, slot);
                    assert_eq!(source, to.index(t, r), "{from} -> {to}");
                }
            }
        }
        assert!(planned > 500, "only {planned} conversions had a plan");
    }
}
