//! Global memory: pointer arithmetic, loads, stores and atomics. Each thread accesses the
//! elements it holds; lanes whose mask is false issue no access (predicated instructions).
//! Copies of a replicated tile all load (the same addresses), but only the first copy stores
//! or adds, so each element is written once.
//!
//! Vector accesses: when the contiguity analysis ([`bitmat_ir::passes::contiguity`]) proves a
//! thread's consecutive slots contiguous in memory, each chunk of up to 16 bytes is one
//! `ld`/`st.global.v2`/`.v4` (sub-word elements packed in 32-bit words, unpacked with `bfe`,
//! packed with `bfi`). The access is taken only when its address is aligned to the chunk
//! size and every lane of the chunk is unmasked; otherwise the chunk branches to the
//! per-element predicated accesses, so masks, ragged edges and unaligned views keep their
//! meaning. Alignment is tested at run time unless the launch's facts prove it (CUDA launches
//! specialize on 16-byte-aligned pointers and multiples of 16, as Triton does); an unmasked
//! access proven aligned is the vector instruction alone.

use super::int_ty;
use super::mma_frag::contiguous_dim;
use crate::ptx::emit::Emitter;
use crate::ptx::regs::{dclass, Class};
use crate::CodegenError;
use bitmat_ir::{AtomicOp, DType, ValueId};

/// The `ld`/`st` type of a value of `d` in a `.b32`/`.b64`/`.f32` register.
fn mem_ty(d: DType) -> &'static str {
    match d {
        DType::Bool | DType::U8 | DType::F8E4M3 | DType::F8E5M2 => "u8",
        DType::I8 => "s8",
        DType::I16 => "s16",
        DType::U16 => "u16",
        DType::I32 | DType::U32 => "b32",
        DType::I64 | DType::U64 => "b64",
        DType::F32 => "f32",
        DType::F16 | DType::BF16 => "b16",
    }
}

impl Emitter<'_> {
    /// The pointee type of pointer value `p`.
    pub(crate) fn pointee(&self, p: ValueId) -> Result<DType, CodegenError> {
        self.k
            .ty(p)
            .elem
            .pointee()
            .ok_or_else(|| self.unsupported(format!("{p} is not a pointer")))
    }

    pub(crate) fn lower_addptr(
        &mut self,
        res: ValueId,
        ptr: ValueId,
        offset: ValueId,
    ) -> Result<(), CodegenError> {
        let size = self.pointee(ptr)?.size_bytes();
        let od = self.dtype(offset)?;
        let (ps, os) = (self.operand(res, ptr)?, self.operand(res, offset)?);
        let out = self.fresh(res);
        for ((dst, p), o) in out.iter().zip(&ps).zip(&os) {
            match dclass(od) {
                Class::B64 => self.line(format!("mad.lo.s64 {dst}, {o}, {size}, {p};")),
                _ => self.line(format!("mad.wide.{} {dst}, {o}, {size}, {p};", int_ty(od))),
            }
        }
        Ok(())
    }

    /// A predicate combining an optional mask register and an optional owner predicate.
    fn and_preds(&mut self, a: Option<&str>, b: Option<&str>) -> Option<String> {
        match (a, b) {
            (None, None) => None,
            (Some(x), None) | (None, Some(x)) => Some(x.to_string()),
            (Some(x), Some(y)) => {
                let p = self.reg(Class::Pred);
                self.line(format!("and.pred {p}, {x}, {y};"));
                Some(p)
            }
        }
    }

    /// Elements per vector access of pointer tile `ptr` (pointee of `size` bytes), if its
    /// accesses can be vectorized: every chunk of that many consecutive slots of a thread
    /// must be contiguous in memory. In `ptr`'s layout, the low register bits map to the
    /// low index bits of one dimension `d` (for `2^j` slots); a chunk of `n <= 2^j` slots
    /// starting at a multiple of `n` then holds `n` consecutive elements along `d`, inside
    /// one aligned contiguous run when `n` divides the contiguity along `d`. Chunks are at
    /// most 16 bytes and at least 4 (one 32-bit word).
    pub(crate) fn vector_lanes(&self, ptr: ValueId, size: u32) -> Option<u32> {
        let ty = self.k.ty(ptr);
        let l = self.layout(ptr);
        if ty.rank() == 0 || size == 0 || size > 8 || l.reg.is_empty() {
            return None;
        }
        let d = self.vector_dim(ptr)?;
        let (lo, n_bits) = crate::ptx::layout::dim_bits(&ty.shape)[d];
        let run = l.leading_run(lo, n_bits);
        let contig = *self.info.get(ptr.index())?.contiguity.get(d)?;
        let cap = u64::from(16 / size).min(1 << run).min(contig);
        if cap < 2 {
            return None;
        }
        let n = 1u64 << (63 - cap.leading_zeros());
        let ok = n * u64::from(size) >= 4 && contig % n == 0;
        ok.then_some(n as u32)
    }

    /// Emits the test of a vector access at `addr` of `bytes` bytes: a predicate that is true
    /// when `addr` is `bytes`-aligned (unless `aligned` says the launch's facts prove it) and
    /// every lane's predicate in `preds` is true, and a branch to a fresh label (returned)
    /// when it is false. `None` when there is nothing to test: the access is always taken.
    ///
    /// Without a proof (a pointer of unknown alignment, or on a backend that does not
    /// specialize on it), alignment is checked at run time: two instructions per vector.
    fn vector_guard(
        &mut self,
        addr: &str,
        bytes: u32,
        preds: &[Option<String>],
        aligned: bool,
    ) -> Option<String> {
        let lanes: Vec<&String> = preds.iter().flatten().collect();
        if aligned && lanes.is_empty() {
            return None;
        }
        let p = self.reg(Class::Pred);
        if aligned {
            self.line(format!("mov.pred {p}, {};", lanes[0]));
        } else {
            let t = self.reg(Class::B64);
            self.line(format!("and.b64 {t}, {addr}, {};", bytes - 1));
            self.line(format!("setp.eq.u64 {p}, {t}, 0;"));
        }
        for q in lanes {
            self.line(format!("and.pred {p}, {p}, {q};"));
        }
        let slow = self.new_label("vslow");
        self.line(format!("@!{p} bra {slow};"));
        Some(slow)
    }

    /// Whether mask `mask` (in `ptr`'s layout) is proven the same over each chunk of `n`
    /// elements of `ptr`'s vector accesses (its constancy along the vector's dimension).
    pub(crate) fn uniform_mask(&self, mask: ValueId, ptr: ValueId, n: u32) -> bool {
        self.vector_dim(ptr).is_some_and(|d| {
            self.info
                .get(mask.index())
                .and_then(|i| i.constancy.get(d))
                .is_some_and(|&k| k % u64::from(n) == 0)
        })
    }

    /// The dimension of pointer tile `ptr` whose elements a thread's first slots hold.
    fn vector_dim(&self, ptr: ValueId) -> Option<usize> {
        contiguous_dim(&self.layout(ptr), &self.k.ty(ptr).shape)
    }

    /// Zeroes register `r` of class `c`.
    fn zero(&mut self, c: Class, r: &str) {
        match c {
            Class::F32 => self.line(format!("mov.f32 {r}, 0f00000000;")),
            Class::B64 => self.line(format!("mov.b64 {r}, 0;")),
            _ => self.line(format!("mov.b32 {r}, 0;")),
        }
    }

    /// Whether the chunks of `n` elements of pointer tile `ptr` are proven aligned to their
    /// size: the first element of every contiguous run along the vector's dimension is
    /// divisible by `n` elements (a launch fact, [`bitmat_ir::passes::specialize`]).
    pub(crate) fn vector_aligned(&self, ptr: ValueId, n: u32) -> bool {
        let Some(d) = self.vector_dim(ptr) else {
            return false;
        };
        self.info
            .get(ptr.index())
            .and_then(|i| i.divisibility.get(d))
            .is_some_and(|&div| div % u64::from(n) == 0)
    }

    /// The vector suffix (`""`, `".v2"`, `".v4"`) of an access of `words` words.
    fn vec_suffix(words: u32) -> String {
        if words == 1 {
            String::new()
        } else {
            format!(".v{words}")
        }
    }

    /// Register list operand of a vector access: `r` or `{a, b, ..}`.
    fn reg_list(regs: &[String]) -> String {
        if regs.len() == 1 {
            regs[0].clone()
        } else {
            format!("{{{}}}", regs.join(", "))
        }
    }

    /// Loads one element of type `d` at `addr` into `dst`, under mask register `m` (masked
    /// lanes take `other`, or zero).
    fn load_elem(&mut self, d: DType, dst: &str, addr: &str, m: Option<&str>, other: Option<&str>) {
        let pre = m.map(|m| format!("@{m} ")).unwrap_or_default();
        match d {
            DType::Bool => {
                let t = self.reg(Class::B32);
                self.line(format!("mov.u32 {t}, 0;"));
                self.line(format!("{pre}ld.global.u8 {t}, [{addr}];"));
                self.line(format!("setp.ne.u32 {dst}, {t}, 0;"));
                if let (Some(m), Some(o)) = (m, other) {
                    self.line(format!("@!{m} mov.pred {dst}, {o};"));
                }
            }
            DType::F16 | DType::BF16 => {
                let (h, t) = (self.reg(Class::B16), self.reg(Class::F32));
                self.line(format!("mov.b16 {h}, 0;"));
                self.line(format!("{pre}ld.global.b16 {h}, [{addr}];"));
                self.half_bits_to_f32(d, &h, &t);
                match (m, other) {
                    (Some(m), Some(o)) => self.line(format!("selp.f32 {dst}, {t}, {o}, {m};")),
                    _ => self.line(format!("mov.f32 {dst}, {t};")),
                }
            }
            _ => {
                let c = dclass(d);
                match other {
                    Some(o) if m.is_some() => self.mov(c, dst, o),
                    _ if m.is_some() => self.zero(c, dst),
                    _ => {}
                }
                self.line(format!("{pre}ld.global.{} {dst}, [{addr}];", mem_ty(d)));
            }
        }
    }

    /// Loads `dsts.len()` contiguous elements of type `d` starting at `addr` (aligned to
    /// their total size, at most 16 bytes) with one vector access, unpacking sub-word
    /// elements into their registers (sign- or zero-extended; f16/bf16 widened to f32).
    /// Under predicate `pred`, a lane that does not load holds the element whose bits are
    /// `fill` (its type's width; 0 for zeros).
    fn load_vector(
        &mut self,
        d: DType,
        dsts: &[String],
        addr: &str,
        pred: Option<&str>,
        fill: u64,
    ) {
        let size = d.size_bytes() as u32;
        let n = dsts.len() as u32;
        let pre = pred.map(|p| format!("@{p} ")).unwrap_or_default();
        if size >= 4 {
            let ty = match d {
                DType::F32 => "f32",
                _ if size == 8 => "b64",
                _ => "b32",
            };
            if pred.is_some() {
                for r in dsts {
                    match (size, fill) {
                        (_, 0) => self.zero(dclass(d), r),
                        (8, f) => self.line(format!("mov.b64 {r}, {f:#x};")),
                        (_, f) => self.line(format!("mov.b32 {r}, {f:#x};")),
                    }
                }
            }
            let sfx = Self::vec_suffix(n);
            let list = Self::reg_list(dsts);
            self.line(format!("{pre}ld.global{sfx}.{ty} {list}, [{addr}];"));
            return;
        }
        let words: Vec<String> = (0..n * size / 4).map(|_| self.reg(Class::B32)).collect();
        if pred.is_some() {
            // The fill's bits in every sub-word of a 32-bit word.
            let word = (0..4 / size).fold(0u64, |w, i| w | fill << (i * size * 8));
            for w in &words {
                self.line(format!("mov.b32 {w}, {word:#x};"));
            }
        }
        let sfx = Self::vec_suffix(words.len() as u32);
        let list = Self::reg_list(&words);
        self.line(format!("{pre}ld.global{sfx}.b32 {list}, [{addr}];"));
        let per_word = 4 / size;
        let bits = size * 8;
        for (i, dst) in dsts.iter().enumerate() {
            let i = i as u32;
            let w = &words[(i / per_word) as usize];
            let pos = (i % per_word) * bits;
            match d {
                DType::Bool => {
                    let t = self.reg(Class::B32);
                    self.line(format!("bfe.u32 {t}, {w}, {pos}, {bits};"));
                    self.line(format!("setp.ne.u32 {dst}, {t}, 0;"));
                }
                DType::I8 | DType::I16 => {
                    self.line(format!("bfe.s32 {dst}, {w}, {pos}, {bits};"));
                }
                DType::F16 | DType::BF16 => {
                    let t = self.reg(Class::B32);
                    let h = self.reg(Class::B16);
                    self.line(format!("bfe.u32 {t}, {w}, {pos}, {bits};"));
                    self.line(format!("cvt.u16.u32 {h}, {t};"));
                    self.half_bits_to_f32(d, &h, dst);
                }
                _ => {
                    self.line(format!("bfe.u32 {dst}, {w}, {pos}, {bits};"));
                }
            }
        }
    }

    /// Lowers `load`. When the contiguity analysis proves each thread's chunks of
    /// consecutive slots contiguous in memory ([`Self::vector_lanes`]), each chunk is one
    /// vector access (up to 16 bytes), taken when its address is aligned and its lanes are
    /// all unmasked; otherwise that chunk branches to the per-element predicated loads.
    pub(crate) fn lower_load(
        &mut self,
        res: ValueId,
        ptr: ValueId,
        mask: Option<ValueId>,
        other: Option<ValueId>,
    ) -> Result<(), CodegenError> {
        if self.rings.contains_key(&res) {
            // A pipelined load: its tile is in the ring, where the `dot` reads it.
            return Ok(());
        }
        let lp = self.layout(ptr);
        if let Some(regs) = self.held.get(&res).cloned() {
            // Loaded one iteration ahead, by the loop (`lower/held.rs`).
            self.define_in(res, regs, &lp);
            return Ok(());
        }
        let ps = self.get(ptr)?;
        let ms = mask.map(|m| self.get_as(m, &lp)).transpose()?;
        let out = self.load_tile(ptr, mask, other, &ps, ms.as_deref(), None)?;
        self.define_in(res, out, &lp);
        Ok(())
    }

    /// Loads the tile of `load(ptr, mask, other)` through the pointer registers `ps` (in
    /// `ptr`'s layout) under the mask registers `ms` of `mask`, and only where predicate
    /// `run` holds when there is one (`other`, or zeros without it, elsewhere); returns the
    /// registers, in `ptr`'s layout.
    pub(crate) fn load_tile(
        &mut self,
        ptr: ValueId,
        mask: Option<ValueId>,
        other: Option<ValueId>,
        ps: &[String],
        ms: Option<&[String]>,
        run: Option<&str>,
    ) -> Result<Vec<String>, CodegenError> {
        let d = self.pointee(ptr)?;
        let lp = self.layout(ptr);
        // The bits of a constant `other` (none: no fill, zeros).
        let fill = match other {
            Some(o) => self.constant_value(o).map(|s| s.bits()),
            None => Some(0),
        };
        // A constant `other` is made here: a later iteration's load may come before the
        // constant's own op.
        let os = match other {
            Some(o) => match self.constant_value(o) {
                Some(s) => Some(vec![self.constant_register(d, s); lp.slots() as usize]),
                None => Some(self.get_as(o, &lp)?),
            },
            None => None,
        };
        let rc = dclass(d);
        let out: Vec<String> = (0..lp.slots()).map(|_| self.reg(rc)).collect();
        let n = self.vector_lanes(ptr, d.size_bytes() as u32).unwrap_or(1) as usize;
        let aligned = self.vector_aligned(ptr, n as u32);
        // `run` is the same for every lane: it keeps a uniform mask uniform.
        let uniform = match mask {
            Some(m) => self.uniform_mask(m, ptr, n as u32),
            None => run.is_some(),
        };
        let ms: Option<Vec<String>> = match (ms, run) {
            (Some(ms), Some(r)) => Some(
                ms.iter()
                    .map(|m| {
                        let p = self.reg(Class::Pred);
                        self.line(format!("and.pred {p}, {m}, {r};"));
                        p
                    })
                    .collect(),
            ),
            (None, Some(r)) => Some(vec![r.to_string(); out.len()]),
            (ms, None) => ms.map(<[String]>::to_vec),
        };
        for c in (0..out.len()).step_by(n) {
            let lanes = c..(c + n).min(out.len());
            let vector = lanes.len() == n && n > 1;
            let mut done = None;
            if let (true, true, Some(ms)) = (vector && aligned, uniform, &ms) {
                // One predicate for the chunk: a predicated vector load, `other` elsewhere
                // (preloaded when it is a constant, else selected after the load).
                let p = ms[c].clone();
                self.load_vector(d, &out[lanes.clone()], &ps[c], Some(&p), fill.unwrap_or(0));
                if let (Some(os), None) = (&os, fill) {
                    for j in lanes {
                        let v = out[j].clone();
                        self.select_one(rc, &out[j], &p, &v, &os[j]);
                    }
                }
                continue;
            }
            if vector {
                let preds: Vec<Option<String>> = lanes
                    .clone()
                    .map(|j| ms.as_ref().map(|v| v[j].clone()))
                    .collect();
                let bytes = n as u32 * d.size_bytes() as u32;
                let guard = self.vector_guard(&ps[c], bytes, &preds, aligned);
                self.load_vector(d, &out[lanes.clone()], &ps[c], None, 0);
                let Some(slow) = guard else {
                    continue;
                };
                let label = self.new_label("vdone");
                self.line(format!("bra {label};"));
                self.place_label(&slow);
                done = Some(label);
            }
            for j in lanes {
                let m = ms.as_ref().map(|v| v[j].clone());
                let o = os.as_ref().map(|v| v[j].clone());
                self.load_elem(d, &out[j], &ps[j], m.as_deref(), o.as_deref());
            }
            if let Some(done) = done {
                self.place_label(&done);
            }
        }
        Ok(out)
    }

    /// Stores `v` (type `d`) to `addr` under predicate `p`.
    fn store_elem(&mut self, d: DType, addr: &str, v: &str, p: Option<&str>) {
        let pre = p.map(|p| format!("@{p} ")).unwrap_or_default();
        match d {
            DType::Bool => {
                let t = self.reg(Class::B32);
                self.line(format!("selp.u32 {t}, 1, 0, {v};"));
                self.line(format!("{pre}st.global.u8 [{addr}], {t};"));
            }
            DType::F16 | DType::BF16 => {
                let h = self.round_to_half_bits(d, v);
                self.line(format!("{pre}st.global.b16 [{addr}], {h};"));
            }
            _ => {
                let t = match mem_ty(d) {
                    "s8" => "u8",
                    "s16" => "u16",
                    t => t,
                };
                self.line(format!("{pre}st.global.{t} [{addr}], {v};"));
            }
        }
    }

    /// Stores the contiguous elements `vs` of type `d` at `addr` (aligned to their total
    /// size, at most 16 bytes) with one vector access, packing sub-word elements into
    /// 32-bit words.
    fn store_vector(&mut self, d: DType, addr: &str, vs: &[String], pred: Option<&str>) {
        let size = d.size_bytes() as u32;
        let n = vs.len() as u32;
        let pre = pred.map(|p| format!("@{p} ")).unwrap_or_default();
        if size >= 4 {
            let ty = match d {
                DType::F32 => "f32",
                _ if size == 8 => "b64",
                _ => "b32",
            };
            let sfx = Self::vec_suffix(n);
            let list = Self::reg_list(vs);
            self.line(format!("{pre}st.global{sfx}.{ty} [{addr}], {list};"));
            return;
        }
        let per_word = 4 / size;
        let bits = size * 8;
        let mut words = Vec::new();
        for chunk in vs.chunks(per_word as usize) {
            let w = self.reg(Class::B32);
            for (i, v) in chunk.iter().enumerate() {
                let src = match d {
                    DType::Bool => {
                        let t = self.reg(Class::B32);
                        self.line(format!("selp.u32 {t}, 1, 0, {v};"));
                        t
                    }
                    DType::F16 | DType::BF16 => {
                        let h = self.round_to_half_bits(d, v);
                        let t = self.reg(Class::B32);
                        self.line(format!("cvt.u32.u16 {t}, {h};"));
                        t
                    }
                    _ => v.clone(),
                };
                if i == 0 {
                    self.line(format!("mov.b32 {w}, {src};"));
                } else {
                    let pos = i as u32 * bits;
                    self.line(format!("bfi.b32 {w}, {src}, {w}, {pos}, {bits};"));
                }
            }
            words.push(w);
        }
        let sfx = Self::vec_suffix(words.len() as u32);
        let list = Self::reg_list(&words);
        self.line(format!("{pre}st.global{sfx}.b32 [{addr}], {list};"));
    }

    /// Lowers `store`, with vector accesses for contiguous chunks as [`Self::lower_load`].
    pub(crate) fn lower_store(
        &mut self,
        ptr: ValueId,
        value: ValueId,
        mask: Option<ValueId>,
    ) -> Result<(), CodegenError> {
        let d = self.pointee(ptr)?;
        let l = self.layout(ptr);
        let owner = self.owner_pred(&l);
        let (ps, vs) = (self.get(ptr)?, self.get_as(value, &l)?);
        let ms = mask.map(|m| self.get_as(m, &l)).transpose()?;
        let preds: Vec<Option<String>> = (0..ps.len().min(vs.len()))
            .map(|j| {
                let m = ms.as_ref().map(|v| v[j].clone());
                self.and_preds(m.as_deref(), owner.as_deref())
            })
            .collect();
        let n = self.vector_lanes(ptr, d.size_bytes() as u32).unwrap_or(1) as usize;
        let aligned = self.vector_aligned(ptr, n as u32);
        let uniform = mask.is_none_or(|m| self.uniform_mask(m, ptr, n as u32));
        for c in (0..preds.len()).step_by(n) {
            let lanes = c..(c + n).min(preds.len());
            let vector = lanes.len() == n && n > 1;
            let mut done = None;
            if vector && aligned && uniform {
                // One predicate (mask and owner) for the chunk: a predicated vector store.
                let p = preds[c].clone();
                self.store_vector(d, &ps[c], &vs[lanes], p.as_deref());
                continue;
            }
            if vector {
                let bytes = n as u32 * d.size_bytes() as u32;
                let guard = self.vector_guard(&ps[c], bytes, &preds[lanes.clone()], aligned);
                self.store_vector(d, &ps[c], &vs[lanes.clone()], None);
                let Some(slow) = guard else {
                    continue;
                };
                let label = self.new_label("vdone");
                self.line(format!("bra {label};"));
                self.place_label(&slow);
                done = Some(label);
            }
            for j in lanes {
                self.store_elem(d, &ps[j], &vs[j], preds[j].as_deref());
            }
            if let Some(done) = done {
                self.place_label(&done);
            }
        }
        Ok(())
    }

    /// An `f32` `atomic_add` whose old values nobody reads, as vector reductions
    /// (`red.global.add.v4.f32`, sm_90 and later): one per run of 2 or 4 contiguous lanes that
    /// share their mask, as [`Self::lower_store`] groups a store, instead of one `atom` per
    /// lane (a split-K matmul's epilogue adds its whole tile this way). Returns `false`, having
    /// emitted nothing, where the target lacks them or the pointers or mask do not allow them.
    fn lower_vector_red(
        &mut self,
        res: ValueId,
        ptr: ValueId,
        value: ValueId,
        mask: Option<ValueId>,
    ) -> Result<bool, CodegenError> {
        let read = crate::ptx::assign::reads(&self.k.body, res);
        let n = match self.vector_lanes(ptr, 4) {
            Some(n) if self.target.has_vector_red() && !read => n,
            _ => return Ok(false),
        };
        if !self.vector_aligned(ptr, n) || !mask.is_none_or(|m| self.uniform_mask(m, ptr, n)) {
            return Ok(false);
        }
        let l = self.layout(ptr);
        let owner = self.owner_pred(&l);
        let (ps, vs) = (self.get(ptr)?, self.get_as(value, &l)?);
        let ms = mask.map(|m| self.get_as(m, &l)).transpose()?;
        let n = n as usize;
        for c in (0..ps.len()).step_by(n) {
            let lanes = c..(c + n).min(ps.len());
            let m = ms.as_ref().map(|v| v[c].clone());
            let p = self.and_preds(m.as_deref(), owner.as_deref());
            let pre = p.map(|p| format!("@{p} ")).unwrap_or_default();
            if lanes.len() == n {
                let list = Self::reg_list(&vs[lanes]);
                let addr = &ps[c];
                self.line(format!("{pre}red.global.add.v{n}.f32 [{addr}], {list};"));
            } else {
                for j in lanes {
                    let (addr, v) = (&ps[j], &vs[j]);
                    self.line(format!("{pre}red.global.add.f32 [{addr}], {v};"));
                }
            }
        }
        // Nothing reads the old values: zeros stand for them.
        let out: Vec<String> = (0..l.slots())
            .map(|_| {
                let r = self.reg(Class::F32);
                self.zero(Class::F32, &r);
                r
            })
            .collect();
        self.define_in(res, out, &l);
        Ok(true)
    }

    /// `atomic_<op>` (`op` given) or `atomic_cas` (`cmp` given): one `atom.global` per lane
    /// that its owning thread holds; f32 maxima and minima (which `atom` lacks) are
    /// compare-and-swap loops on the bits. `atomic_cas` and `atomic_xchg`, what locks are made
    /// of, are acquire-release at GPU scope (Triton's default), so that the plain loads and
    /// stores a lock guards see each other across programs; the arithmetic ones are relaxed.
    /// A `bar.sync` comes before them: a lock is released by the one thread that holds the
    /// scalar, and its release orders only that thread's accesses, so the barrier puts every
    /// thread's earlier stores (a tile written under the lock) before it (Triton's users write
    /// `tl.debug_barrier()` there). Atomics sit in uniform control flow (a runtime `if` or
    /// `while` branches on a scalar), so every thread reaches the barrier.
    pub(crate) fn lower_atomic(
        &mut self,
        res: ValueId,
        op: Option<AtomicOp>,
        ptr: ValueId,
        cmp: Option<ValueId>,
        value: ValueId,
        mask: Option<ValueId>,
    ) -> Result<(), CodegenError> {
        let d = self.pointee(ptr)?;
        let name = op.map_or("atomic_cas", AtomicOp::name);
        let bits = match d {
            DType::I32 | DType::U32 | DType::F32 => 32,
            DType::I64 | DType::U64 => 64,
            _ => return Err(self.unsupported(format!("{name} on {d}"))),
        };
        let int = if d.is_signed_int() { "s" } else { "u" };
        // The instruction, or `None` for a compare-and-swap loop.
        let inst = match op {
            None => Some(format!("cas.b{bits}")),
            Some(AtomicOp::Add) if d == DType::F32 => Some("add.f32".to_string()),
            Some(AtomicOp::Add) => Some(format!("add.u{bits}")),
            Some(AtomicOp::Max | AtomicOp::Min) if d == DType::F32 => None,
            Some(AtomicOp::Max) => Some(format!("max.{int}{bits}")),
            Some(AtomicOp::Min) => Some(format!("min.{int}{bits}")),
            Some(AtomicOp::And) => Some(format!("and.b{bits}")),
            Some(AtomicOp::Or) => Some(format!("or.b{bits}")),
            Some(AtomicOp::Xor) => Some(format!("xor.b{bits}")),
            Some(AtomicOp::Xchg) => Some(format!("exch.b{bits}")),
        };
        // The ordering qualifiers, which come before the state space.
        let sem = match op {
            None | Some(AtomicOp::Xchg) => ".acq_rel.gpu",
            _ => "",
        };
        if !sem.is_empty() {
            self.barrier();
        }
        let c = dclass(d);
        let l = self.layout(ptr);
        if op == Some(AtomicOp::Add)
            && d == DType::F32
            && self.lower_vector_red(res, ptr, value, mask)?
        {
            return Ok(());
        }
        let owner = self.owner_pred(&l);
        let (ps, vs) = (self.get(ptr)?, self.get_as(value, &l)?);
        let cs = cmp.map(|x| self.get_as(x, &l)).transpose()?;
        let ms = mask.map(|m| self.get_as(m, &l)).transpose()?;
        let mut out: Vec<String> = (0..l.slots()).map(|_| self.reg(c)).collect();
        for (j, ((dst, addr), v)) in out.iter().zip(&ps).zip(&vs).enumerate() {
            let m = ms.as_ref().map(|v| v[j].clone());
            let p = self.and_preds(m.as_deref(), owner.as_deref());
            self.zero(c, dst);
            match (&inst, &cs) {
                (Some(inst), Some(cs)) => {
                    let pre = p.map(|p| format!("@{p} ")).unwrap_or_default();
                    let cmp = &cs[j];
                    self.line(format!(
                        "{pre}atom{sem}.global.{inst} {dst}, [{addr}], {cmp}, {v};"
                    ));
                }
                (Some(inst), None) => {
                    let pre = p.map(|p| format!("@{p} ")).unwrap_or_default();
                    self.line(format!(
                        "{pre}atom{sem}.global.{inst} {dst}, [{addr}], {v};"
                    ));
                }
                (None, _) => {
                    let f = if op == Some(AtomicOp::Max) {
                        "max"
                    } else {
                        "min"
                    };
                    let (again, skip) =
                        (self.new_label("atomic_cas"), self.new_label("atomic_done"));
                    if let Some(p) = &p {
                        self.line(format!("@!{p} bra {skip};"));
                    }
                    let (new, got) = (self.reg(c), self.reg(c));
                    let q = self.reg(Class::Pred);
                    self.line(format!("ld.global.f32 {dst}, [{addr}];"));
                    self.place_label(&again);
                    self.line(format!("{f}.f32 {new}, {dst}, {v};"));
                    self.line(format!(
                        "atom.global.cas.b32 {got}, [{addr}], {dst}, {new};"
                    ));
                    self.line(format!("setp.ne.b32 {q}, {got}, {dst};"));
                    self.line(format!("mov.f32 {dst}, {got};"));
                    self.line(format!("@{q} bra {again};"));
                    self.place_label(&skip);
                }
            }
        }
        if owner.is_some() {
            // Only the first copy accessed memory: hand its old values to the other copies.
            out = self.through_shared(c, &out, &l, &l);
        }
        self.define_in(res, out, &l);
        Ok(())
    }
}
