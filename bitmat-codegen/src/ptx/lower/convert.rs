//! Layout conversions and `broadcast`.
//!
//! A conversion moves a tile from one layout to another, in the cheapest way the two allow:
//! - **renaming registers** when every element stays in the same thread (same lane and warp
//!   bases, [`Layout::rename_to`]): no instruction at all;
//! - **through warp shuffles** when every element a thread needs is held by a thread of
//!   its warp, in a register slot that depends only on the needed slot
//!   ([`Layout::shuffle_to`]): one `shfl.sync.idx` per result slot (two for 64-bit values),
//!   no barrier, no shared memory;
//! - otherwise **through shared memory**: after a `bar.sync`, the owners (one copy of a
//!   replicated tile) write their elements at their flat index, as vectors of up to 16 bytes
//!   where a thread's consecutive slots hold consecutive indices; after a second `bar.sync`
//!   every thread reads the elements of the new layout the same way. Words are 4 bytes (8
//!   for 64-bit values); each row of 32 words is followed by one word of padding so that a
//!   warp's strided accesses spread over the banks.
//!
//! `broadcast` needs no data movement when its operand is the slice of the result's layout
//! ([`Layout::remove_bits`]); the assignment pass arranges that wherever it can, and any
//! other operand is first converted to that slice.

use crate::ptx::assign::broadcast_bits;
use crate::ptx::emit::{word_bytes, Emitter};
use crate::ptx::layout::{Layout, ShufflePlan};
use crate::ptx::regs::Class;
use crate::CodegenError;
use bitmat_ir::ValueId;

/// Byte offset in the exchange area of flat index `i`: words of `size` bytes, 16 bytes of
/// padding after every 32 words (keeping 16-byte vectors aligned).
fn padded(i: u32, size: u32) -> u32 {
    i * size + (i >> 5) * 16
}

impl Emitter<'_> {
    /// The registers `regs` (class `c`) of a tile in layout `from`, moved to layout `to`.
    pub(crate) fn convert(
        &mut self,
        c: Class,
        regs: &[String],
        from: &Layout,
        to: &Layout,
    ) -> Vec<String> {
        if let Some(map) = from.rename_to(to) {
            return map.iter().map(|&r| regs[r as usize].clone()).collect();
        }
        if let Some(plan) = from.shuffle_to(to) {
            self.line(format!("// convert {from} -> {to} (shuffles)"));
            return self.through_shuffles(c, regs, &plan);
        }
        self.through_shared(c, regs, from, to)
    }

    /// [`Self::convert`] by the warp shuffles of `plan`.
    fn through_shuffles(&mut self, c: Class, regs: &[String], plan: &ShufflePlan) -> Vec<String> {
        let base = self.copied_lane_bits(&plan.lane_bits);
        plan.slots
            .iter()
            .map(|&(slot, lanes)| {
                let lane = if lanes == 0 {
                    base.clone()
                } else {
                    let l = self.reg(Class::B32);
                    self.line(format!("or.b32 {l}, {base}, {lanes};"));
                    l
                };
                let word = self.class_to_word(c, &regs[slot as usize]);
                let wc = word_class(word_bytes(c).max(4));
                let got = self.reg(wc);
                self.shfl_sync("idx", wc, &got, &word, &lane);
                self.word_to_class(c, &got)
            })
            .collect()
    }

    /// The source lane bits that a shuffle copies from this lane's id: bit `k` of the id to
    /// bit `j` for each `(k, j)` of `pairs`, the other bits 0.
    fn copied_lane_bits(&mut self, pairs: &[(u32, u32)]) -> String {
        let tid = self.tid.clone();
        let base = self.reg(Class::B32);
        if pairs.iter().all(|(k, j)| k == j) {
            let mask: u32 = pairs.iter().map(|(k, _)| 1 << k).sum();
            self.line(format!("and.b32 {base}, {tid}, {mask};"));
            return base;
        }
        self.line(format!("mov.u32 {base}, 0;"));
        // Runs of consecutive bits that move together are one field.
        let mut i = 0;
        while i < pairs.len() {
            let (k, j) = pairs[i];
            let mut n = 1;
            while pairs.get(i + n as usize) == Some(&(k + n, j + n)) {
                n += 1;
            }
            let t = self.reg(Class::B32);
            self.line(format!("bfe.u32 {t}, {tid}, {k}, {n};"));
            self.line(format!("bfi.b32 {base}, {t}, {base}, {j}, {n};"));
            i += n as usize;
        }
        base
    }

    /// [`Self::convert`] through shared memory, also when `from` and `to` are one layout
    /// (which hands the owners' values to the other copies of a replicated tile).
    pub(crate) fn through_shared(
        &mut self,
        c: Class,
        regs: &[String],
        from: &Layout,
        to: &Layout,
    ) -> Vec<String> {
        let size = word_bytes(c).max(4);
        let base = self.scratch(padded(from.numel(), size) + 16);
        self.line(format!("// convert {from} -> {to}"));
        self.barrier();
        let owner = self.owner_pred(from);
        let guard = owner.map(|p| format!("@{p} ")).unwrap_or_default();
        let wv = vector_words(from, size);
        for j in (0..from.slots()).step_by(wv as usize) {
            let a = self.exchange_addr(from, j, size, base);
            let words: Vec<String> = (j..j + wv)
                .map(|s| self.class_to_word(c, &regs[s as usize]))
                .collect();
            self.line(format!(
                "{guard}st.shared{} [{a}], {};",
                vec_ty(wv, size),
                list(&words)
            ));
        }
        self.barrier();
        let rv = vector_words(to, size);
        let mut out = Vec::new();
        for j in (0..to.slots()).step_by(rv as usize) {
            let a = self.exchange_addr(to, j, size, base);
            let words: Vec<String> = (0..rv).map(|_| self.reg(word_class(size))).collect();
            self.line(format!(
                "ld.shared{} {}, [{a}];",
                vec_ty(rv, size),
                list(&words)
            ));
            for w in words {
                out.push(self.word_to_class(c, &w));
            }
        }
        out
    }

    /// The shared address of slot `j` of layout `l` in the exchange area at `base`.
    fn exchange_addr(&mut self, l: &Layout, j: u32, size: u32, base: u32) -> String {
        let i = self.elem_index(l, j);
        let (t, a) = (self.reg(Class::B32), self.reg(Class::B32));
        let smem = self.smem.clone();
        self.line(format!("shr.u32 {t}, {i}, 5;"));
        self.line(format!("mad.lo.u32 {a}, {i}, {size}, {smem};"));
        self.line(format!("mad.lo.u32 {a}, {t}, 16, {a};"));
        if base != 0 {
            self.line(format!("add.u32 {a}, {a}, {base};"));
        }
        a
    }

    /// Register `r` of class `c` as a 32- or 64-bit word.
    fn class_to_word(&mut self, c: Class, r: &str) -> String {
        match c {
            Class::Pred => {
                let t = self.reg(Class::B32);
                self.line(format!("selp.u32 {t}, 1, 0, {r};"));
                t
            }
            Class::B16 => {
                let t = self.reg(Class::B32);
                self.line(format!("cvt.u32.u16 {t}, {r};"));
                t
            }
            Class::F32 => {
                let t = self.reg(Class::B32);
                self.line(format!("mov.b32 {t}, {r};"));
                t
            }
            Class::B32 | Class::B64 => r.to_string(),
        }
    }

    /// The value of class `c` in word `w` (the inverse of [`Self::class_to_word`]).
    fn word_to_class(&mut self, c: Class, w: &str) -> String {
        match c {
            Class::Pred => {
                let p = self.reg(Class::Pred);
                self.line(format!("setp.ne.u32 {p}, {w}, 0;"));
                p
            }
            Class::B16 => {
                let h = self.reg(Class::B16);
                self.line(format!("cvt.u16.u32 {h}, {w};"));
                h
            }
            Class::F32 => {
                let f = self.reg(Class::F32);
                self.line(format!("mov.b32 {f}, {w};"));
                f
            }
            Class::B32 | Class::B64 => w.to_string(),
        }
    }

    pub(crate) fn lower_broadcast(&mut self, res: ValueId, x: ValueId) -> Result<(), CodegenError> {
        let lr = self.layout(res);
        if self.k.ty(x).numel() == 1 {
            // Every thread holds the single element.
            let xs = self.get(x)?;
            self.define(res, vec![xs[0].clone(); lr.slots() as usize]);
            return Ok(());
        }
        let mask = broadcast_bits(self.k, x, res)
            .ok_or_else(|| self.unsupported("broadcast between different ranks"))?;
        let (slice, pos) = lr.remove_bits(mask);
        let xs = self.get_as(x, &slice)?;
        let out = (0..lr.slots())
            .map(|r| {
                let s: u32 = pos
                    .iter()
                    .enumerate()
                    .filter_map(|(i, p)| p.map(|p| (r >> i & 1) << p))
                    .sum();
                xs[s as usize].clone()
            })
            .collect();
        self.define(res, out);
        Ok(())
    }
}

/// Words per vector access of a tile in layout `l` (words of `size` bytes): up to 16 bytes of
/// consecutive slots holding consecutive indices, within one padded row of 32 words.
fn vector_words(l: &Layout, size: u32) -> u32 {
    l.contiguous_slots().min(16 / size).min(32)
}

/// The register class of a word of `size` bytes.
fn word_class(size: u32) -> Class {
    if size == 8 {
        Class::B64
    } else {
        Class::B32
    }
}

/// The `.vN.bW` suffix of an access of `n` words of `size` bytes.
fn vec_ty(n: u32, size: u32) -> String {
    let v = if n == 1 {
        String::new()
    } else {
        format!(".v{n}")
    };
    format!("{v}.b{}", size * 8)
}

/// A PTX register list: `r` or `{a, b, ..}`.
fn list(regs: &[String]) -> String {
    if regs.len() == 1 {
        regs[0].clone()
    } else {
        format!("{{{}}}", regs.join(", "))
    }
}
