//! The emitter: walks the kernel's blocks, keeps the registers of every SSA value (in the
//! layout the assignment pass gave it, [`super::assign`]), and hands each op to its lowering
//! (`lower/*`). Shared helpers (indices, rounding, shared memory) live here too.

use super::assign;
use super::layout::Layout;
use super::lower::{Prefetch, Ring, SmemOperand};
use super::narrow;
use super::regs::{class_of, Class, Regs};
use super::target::PtxTarget;
use crate::CodegenError;
use bitmat_ir::passes::contiguity::{self, AxisInfo};
use bitmat_ir::passes::intervals::{self, Interval};
use bitmat_ir::{Block, DType, Kernel, Op, OpKind, Scalar, ValueId};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

/// The state of one kernel's lowering.
pub(crate) struct Emitter<'k> {
    /// The kernel lowered.
    pub k: &'k Kernel,
    /// Threads per program.
    pub threads: u32,
    /// The GPU target.
    #[allow(dead_code)]
    pub target: PtxTarget,
    /// Register allocator.
    pub regs: Regs,
    /// The instructions emitted so far.
    pub body: String,
    /// The registers of each value, one per slot of its layout.
    vals: HashMap<ValueId, Vec<String>>,
    /// The layout of every value, indexed by [`ValueId::index`].
    layouts: Vec<Layout>,
    /// The op defining each value (block arguments and parameters have none).
    defs: HashMap<ValueId, &'k Op>,
    /// The values that are constants ([`bitmat_ir::passes::constants`]).
    constants: HashMap<ValueId, Scalar>,
    /// Values whose conversions must not be reused ([`Self::bypass_cache`]).
    bypass: HashSet<ValueId>,
    /// `num_stages`: ring stages of pipelined loops (1 pipelines nothing).
    pub num_stages: u32,
    /// The pipelined loads of the loops being lowered: the load's result, its ring, and the
    /// register with the stage its loop's iteration reads.
    pub rings: HashMap<ValueId, (Ring, String)>,
    /// The dots (by result) whose loop loads their first k-step's fragments one iteration
    /// ahead.
    pub prefetch: HashMap<ValueId, Prefetch>,
    /// Loads of the loops being lowered that were issued one iteration ahead: the load's
    /// result and the registers holding this iteration's tile ([`Self::issue_held`]).
    pub held: HashMap<ValueId, Vec<String>>,
    /// Dot operands that their loop already wrote to its double-buffered staging area
    /// ([`Self::stage_planned`]): the operand and where it is.
    pub staged: HashMap<ValueId, SmemOperand>,
    /// Scalars of loop bodies computed before their loop ([`Self::hoist_invariants`]).
    pub hoisted: HashSet<ValueId>,
    /// Values converted to another layout, per open block (innermost last): a conversion
    /// is reused wherever the block that made it is in scope.
    converted: Vec<HashMap<(ValueId, Layout), Vec<String>>>,
    /// Instructions run once at entry (the thread part of element indices, offsets into
    /// shared tiles).
    pub prologue: String,
    /// Registers computed in the prologue, by what they hold ([`Self::once_at_entry`]).
    entry_values: HashMap<String, String>,
    /// The register holding each layout's thread part of the flat index, keyed by its lane
    /// and warp bases.
    thread_bases: HashMap<(Vec<u32>, Vec<u32>), String>,
    labels: u32,
    /// Module-level declarations the body needs (`device_print`'s format strings).
    pub globals: String,
    /// The `device_print`s lowered so far (they name their format strings).
    pub prints: u32,
    /// Bytes of the local buffer of `vprintf`'s arguments (0: the kernel prints nothing).
    pub print_args: u32,
    /// Bytes of shared memory the kernel needs (the peak of the allocator).
    pub shared_bytes: u32,
    /// Bytes of shared memory held by buffers that outlive one op; scratch areas start
    /// above.
    pub shared_top: u32,
    /// The alignment that the shared memory's base needs (the largest of its buffers').
    pub shared_align: u32,
    /// `%tid.x`, as a `.b32` register.
    pub tid: String,
    /// The base address of the dynamic shared memory, as a `.b32` register.
    pub smem: String,
    /// Contiguity facts per value (indexed by [`ValueId::index`]), for vector accesses.
    pub info: Vec<AxisInfo>,
    /// Values whose registers may hold their op's unnormalized result
    /// ([`narrow::lazy_values`]), indexed by [`ValueId::index`].
    lazy: Vec<bool>,
    /// The range of every integer value ([`intervals::analyze`]), indexed by
    /// [`ValueId::index`].
    intervals: Vec<Option<Interval>>,
}

/// The most ops recomputed to rematerialize one value in another layout.
const REMAT_OPS: u32 = 24;

/// Bytes a value of class `c` takes in shared memory when staged as a word.
pub(crate) fn word_bytes(c: Class) -> u32 {
    match c {
        Class::B16 => 2,
        Class::B64 => 8,
        Class::Pred | Class::B32 | Class::F32 => 4,
    }
}

impl<'k> Emitter<'k> {
    /// A fresh emitter for `k`.
    pub fn new(k: &'k Kernel, target: PtxTarget, threads: u32, num_stages: u32) -> Self {
        let mut regs = Regs::default();
        let tid = regs.new_reg(Class::B32);
        let smem = regs.new_reg(Class::B32);
        let info = contiguity::analyze(k);
        let layouts = assign::assign(k, &info, threads);
        let mut defs = HashMap::new();
        assign::walk(&k.body, &mut |op| {
            for &r in &op.results {
                defs.insert(r, op);
            }
        });
        let prologue = format!("    mov.u32 {tid}, %tid.x;\n    mov.u32 {smem}, bm_smem;\n");
        Emitter {
            k,
            threads,
            target,
            regs,
            body: String::new(),
            vals: HashMap::new(),
            layouts,
            defs,
            constants: bitmat_ir::passes::constants(&k.body),
            bypass: HashSet::new(),
            num_stages,
            rings: HashMap::new(),
            prefetch: HashMap::new(),
            held: HashMap::new(),
            staged: HashMap::new(),
            hoisted: HashSet::new(),
            converted: vec![HashMap::new()],
            prologue,
            entry_values: HashMap::new(),
            thread_bases: HashMap::new(),
            labels: 0,
            globals: String::new(),
            prints: 0,
            print_args: 0,
            shared_bytes: 0,
            shared_top: 0,
            shared_align: 16,
            tid,
            smem,
            info,
            lazy: narrow::lazy_values(k),
            intervals: intervals::analyze(k),
        }
    }

    /// The range every lane of integer value `v` stays in (`None` for other values).
    pub fn interval(&self, v: ValueId) -> Option<Interval> {
        self.intervals.get(v.index()).copied().flatten()
    }

    /// The op that defines `v` (`None` for parameters and block arguments).
    pub fn def(&self, v: ValueId) -> Option<&'k Op> {
        self.defs.get(&v).copied()
    }

    /// Whether `v`'s registers may hold its op's unnormalized result ([`narrow`]).
    pub fn lazy(&self, v: ValueId) -> bool {
        self.lazy[v.index()]
    }

    /// Appends one instruction.
    pub fn line(&mut self, s: impl AsRef<str>) {
        let _ = writeln!(self.body, "    {}", s.as_ref());
    }

    /// Places label `l` here.
    pub fn place_label(&mut self, l: &str) {
        let _ = writeln!(self.body, "{l}:");
    }

    /// A fresh label name.
    pub fn new_label(&mut self, hint: &str) -> String {
        self.labels += 1;
        format!("$L_{hint}_{}", self.labels)
    }

    /// A fresh register of class `c`.
    pub fn reg(&mut self, c: Class) -> String {
        self.regs.new_reg(c)
    }

    /// An error naming the kernel.
    pub fn unsupported(&self, message: impl Into<String>) -> CodegenError {
        CodegenError::Unsupported {
            kernel: self.k.name.clone(),
            message: message.into(),
        }
    }

    /// The layout of value `v`.
    pub fn layout(&self, v: ValueId) -> Layout {
        self.layouts[v.index()].clone()
    }

    /// The registers of `v` in layout `to`, converted ([`Self::convert`]) when `v` has
    /// another; a conversion is made once per block scope.
    pub fn get_as(&mut self, v: ValueId, to: &Layout) -> Result<Vec<String>, CodegenError> {
        let from = self.layout(v);
        if from == *to || self.k.ty(v).numel() <= 1 {
            let regs = self.get(v)?;
            return Ok(if regs.len() == to.slots() as usize {
                regs
            } else {
                vec![regs[0].clone(); to.slots() as usize]
            });
        }
        let key = (v, to.clone());
        let cached = if self.bypass.contains(&v) {
            None
        } else {
            self.converted.iter().rev().find_map(|m| m.get(&key))
        };
        if let Some(r) = cached {
            return Ok(r.clone());
        }
        let out = if self.rematerializable(v, REMAT_OPS).is_some() {
            self.rematerialize(v, to)?
        } else {
            let regs = self.get(v)?;
            let c = class_of(self.k.ty(v).elem);
            self.convert(c, &regs, &from, to)
        };
        self.converted
            .last_mut()
            .expect("the kernel scope is open")
            .insert(key, out.clone());
        Ok(out)
    }

    /// How many ops recomputing `v` takes (at most `budget`), when its value depends only on
    /// scalars, constants and `arange` through cheap ops (elementwise, shape changes,
    /// broadcasts): such a value is recomputed in the layout a use wants, which is cheaper than
    /// moving it through shared memory (Triton's rematerialization).
    fn rematerializable(&self, v: ValueId, budget: u32) -> Option<u32> {
        if self.k.ty(v).numel() <= 1 {
            return Some(0);
        }
        let op = self.defs.get(&v)?;
        let cheap = assign::recomputable(&op.kind);
        if !cheap || budget == 0 {
            return None;
        }
        let mut used = 1;
        for o in op.kind.operands() {
            used += self.rematerializable(o, budget - used.min(budget))?;
            if used > budget {
                return None;
            }
        }
        Some(used)
    }

    /// Recomputes `v` in layout `to` by lowering its defining op again with `v` given that
    /// layout (its operands follow through [`Self::get_as`]).
    fn rematerialize(&mut self, v: ValueId, to: &Layout) -> Result<Vec<String>, CodegenError> {
        let op = self.defs[&v];
        let saved_layout = std::mem::replace(&mut self.layouts[v.index()], to.clone());
        let saved_regs = self.vals.remove(&v);
        let done = self.lower_op(op);
        let regs = self.vals.remove(&v);
        self.layouts[v.index()] = saved_layout;
        if let Some(r) = saved_regs {
            self.vals.insert(v, r);
        }
        done?;
        regs.ok_or_else(|| self.unsupported(format!("rematerializing {v} defined nothing")))
    }

    /// A comment block with the layout the assignment pass gave each tile value (values of
    /// more than one element), for readers of the PTX.
    pub fn layout_comments(&self) -> String {
        let mut out =
            String::from("    // layouts (register/lane/warp bits -> flat index bits):\n");
        for (i, l) in self.layouts.iter().enumerate() {
            let ty = &self.k.values[i];
            if ty.numel() > 1 {
                let _ = writeln!(out, "    //   %{i} {ty}: {l}");
            }
        }
        out
    }

    /// Runs `f` with its instructions going to the prologue (run once at entry, before any
    /// block): for values that depend only on `%tid.x` and constants, such as a thread's
    /// offsets into shared-memory tiles, so that loops do not recompute them. `key` names the
    /// value: a second call with the same key returns the first's result.
    pub fn once_at_entry(&mut self, key: String, f: impl FnOnce(&mut Self) -> String) -> String {
        if let Some(r) = self.entry_values.get(&key) {
            return r.clone();
        }
        let body = std::mem::take(&mut self.body);
        let r = f(self);
        let code = std::mem::replace(&mut self.body, body);
        self.prologue.push_str(&code);
        self.entry_values.insert(key, r.clone());
        r
    }

    /// Runs `f` in a new conversion scope (a nested block).
    pub fn scoped<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        self.converted.push(HashMap::new());
        let out = f(self);
        self.converted.pop();
        out
    }

    /// The element type of value `v`, which must not be a pointer.
    pub fn dtype(&self, v: ValueId) -> Result<DType, CodegenError> {
        self.k
            .ty(v)
            .dtype()
            .ok_or_else(|| self.unsupported(format!("{v} is a pointer where a value is needed")))
    }

    /// The registers of `v`.
    pub fn get(&self, v: ValueId) -> Result<Vec<String>, CodegenError> {
        self.vals
            .get(&v)
            .cloned()
            .ok_or_else(|| self.unsupported(format!("{v} is used before it is lowered")))
    }

    /// Binds `v` to `regs`.
    pub fn define(&mut self, v: ValueId, regs: Vec<String>) {
        self.vals.insert(v, regs);
    }

    /// Unbinds `v`, returning its registers.
    pub fn take(&mut self, v: ValueId) -> Option<Vec<String>> {
        self.vals.remove(&v)
    }

    /// Rebinds `v` to what [`Self::take`] returned.
    pub fn restore(&mut self, v: ValueId, regs: Option<Vec<String>>) {
        match regs {
            Some(r) => self.define(v, r),
            None => {
                self.vals.remove(&v);
            }
        }
    }

    /// While on, conversions of `vs` are neither reused nor kept beyond the current scope
    /// (their registers are being rebound for another iteration).
    pub fn bypass_cache(&mut self, vs: &[ValueId], on: bool) {
        for &v in vs {
            if on {
                self.bypass.insert(v);
            } else {
                self.bypass.remove(&v);
            }
        }
    }

    /// The constant every element of `v` holds, when `v` is a constant or a shape change or
    /// broadcast of one.
    pub fn constant_value(&self, v: ValueId) -> Option<Scalar> {
        self.constants.get(&v).copied()
    }

    /// Binds `v` to `regs`, which hold it in layout `l`: converted when `v`'s own layout is
    /// another.
    pub fn define_in(&mut self, v: ValueId, regs: Vec<String>, l: &Layout) {
        let own = self.layout(v);
        let regs = if own == *l {
            regs
        } else {
            let c = class_of(self.k.ty(v).elem);
            self.convert(c, &regs, l, &own)
        };
        self.define(v, regs);
    }

    /// Fresh registers (one per slot) for a value of `v`'s type, bound to `v`.
    pub fn fresh(&mut self, v: ValueId) -> Vec<String> {
        let regs = self.fresh_like(v);
        self.define(v, regs.clone());
        regs
    }

    /// Fresh registers (one per slot) for a value of `v`'s type, not bound.
    pub fn fresh_like(&mut self, v: ValueId) -> Vec<String> {
        let c = class_of(self.k.ty(v).elem);
        (0..self.layout(v).slots()).map(|_| self.reg(c)).collect()
    }

    /// The thread part of the flat indices of layout `l` (the OR of the bases of the set lane
    /// and warp bits of `%tid.x`), computed once in the prologue.
    fn thread_base(&mut self, l: &Layout) -> String {
        let key = (l.lane.clone(), l.warp.clone());
        if let Some(r) = self.thread_bases.get(&key) {
            return r.clone();
        }
        let r = self.reg(Class::B32);
        let tid = self.tid.clone();
        let mut code = format!("    mov.u32 {r}, 0;\n");
        // Runs of thread bits that map to consecutive index bits move as one field.
        let bases: Vec<u32> = l.lane.iter().chain(&l.warp).copied().collect();
        let mut i = 0;
        while i < bases.len() {
            if bases[i] == 0 {
                i += 1;
                continue;
            }
            let mut n = 1;
            while i + n < bases.len() && bases[i + n] == bases[i] << n {
                n += 1;
            }
            let t = self.reg(Class::B32);
            let to = bases[i].trailing_zeros();
            code.push_str(&format!("    bfe.u32 {t}, {tid}, {i}, {n};\n"));
            code.push_str(&format!("    shl.b32 {t}, {t}, {to};\n"));
            code.push_str(&format!("    or.b32 {r}, {r}, {t};\n"));
            i += n;
        }
        self.prologue.push_str(&code);
        self.thread_bases.insert(key, r.clone());
        r
    }

    /// The row-major index of the element in slot `j` of a tile of layout `l`, as a fresh
    /// `.b32` register.
    pub fn elem_index(&mut self, l: &Layout, j: u32) -> String {
        let base = self.thread_base(l);
        let r = self.reg(Class::B32);
        self.line(format!("or.b32 {r}, {base}, {};", l.reg_offset(j)));
        r
    }

    /// A predicate: true in the one thread of each group of copies of a replicated layout `l`
    /// (the thread whose copy bits are clear), for side effects that must happen once per
    /// element; `None` when `l` has no copies.
    pub fn owner_pred(&mut self, l: &Layout) -> Option<String> {
        let mask = l.copy_mask();
        if mask == 0 {
            return None;
        }
        let (t, p) = (self.reg(Class::B32), self.reg(Class::Pred));
        let tid = self.tid.clone();
        self.line(format!("and.b32 {t}, {tid}, {mask};"));
        self.line(format!("setp.eq.u32 {p}, {t}, 0;"));
        Some(p)
    }

    /// `bar.sync 0` (once, where the code before already ends with one).
    pub fn barrier(&mut self) {
        // Back to back, a second barrier would order nothing more.
        if !self.body.ends_with("bar.sync 0;\n") {
            self.line("bar.sync 0;");
        }
    }

    /// A scratch area of `bytes` bytes of shared memory above the live buffers, for one op's
    /// exchange (the op brackets its use with barriers); returns its byte offset.
    pub fn scratch(&mut self, bytes: u32) -> u32 {
        self.scratch_aligned(bytes, 16)
    }

    /// [`Self::scratch`] at an offset aligned to `align` (a power of two).
    pub fn scratch_aligned(&mut self, bytes: u32, align: u32) -> u32 {
        self.shared_align = self.shared_align.max(align);
        let base = self.shared_top.next_multiple_of(align);
        self.shared_bytes = self.shared_bytes.max(base + bytes);
        base
    }

    /// Allocates `bytes` of shared memory that stay live until [`Self::release_shared`] is
    /// given the returned mark (`align`-byte aligned, a power of two); returns `(offset,
    /// mark)`.
    pub fn alloc_shared(&mut self, bytes: u32, align: u32) -> (u32, u32) {
        self.shared_align = self.shared_align.max(align);
        let mark = self.shared_top;
        let base = mark.next_multiple_of(align);
        self.shared_top = base + bytes;
        self.shared_bytes = self.shared_bytes.max(self.shared_top);
        (base, mark)
    }

    /// Frees the buffers allocated since `mark`.
    pub fn release_shared(&mut self, mark: u32) {
        self.shared_top = mark;
    }

    /// The shared address `smem + base + index * size`, as a fresh `.b32` register.
    pub fn shared_addr(&mut self, index: &str, size: u32, base: u32) -> String {
        let a = self.reg(Class::B32);
        let smem = self.smem.clone();
        self.line(format!("mad.lo.u32 {a}, {index}, {size}, {smem};"));
        if base != 0 {
            self.line(format!("add.u32 {a}, {a}, {base};"));
        }
        a
    }

    /// Loads a word of class `c` from shared address `addr` into `dst`.
    pub fn ld_word(&mut self, addr: &str, c: Class, dst: &str) {
        match c {
            Class::Pred => {
                let t = self.reg(Class::B32);
                self.line(format!("ld.shared.b32 {t}, [{addr}];"));
                self.line(format!("setp.ne.u32 {dst}, {t}, 0;"));
            }
            Class::B16 => self.line(format!("ld.shared.b16 {dst}, [{addr}];")),
            Class::B32 => self.line(format!("ld.shared.b32 {dst}, [{addr}];")),
            Class::F32 => self.line(format!("ld.shared.f32 {dst}, [{addr}];")),
            Class::B64 => self.line(format!("ld.shared.b64 {dst}, [{addr}];")),
        }
    }

    /// Re-establishes the register invariant of `d` in `r` after a 32-bit (or f32)
    /// computation: sign- or zero-extension of narrow integers, rounding of f16/bf16.
    pub fn normalize(&mut self, d: DType, r: &str) {
        match d {
            DType::I8 => self.line(format!("bfe.s32 {r}, {r}, 0, 8;")),
            DType::I16 => self.line(format!("bfe.s32 {r}, {r}, 0, 16;")),
            DType::U8 | DType::F8E4M3 | DType::F8E5M2 => {
                self.line(format!("and.b32 {r}, {r}, 255;"))
            }
            DType::U16 => self.line(format!("and.b32 {r}, {r}, 65535;")),
            DType::F16 | DType::BF16 => {
                let h = self.round_to_half_bits(d, r);
                self.half_bits_to_f32(d, &h, r);
            }
            _ => {}
        }
    }

    /// The f16/bf16 bits (`.b16`) of f32 register `f`, rounded to nearest even.
    pub fn round_to_half_bits(&mut self, d: DType, f: &str) -> String {
        let h = self.reg(Class::B16);
        let ty = if d == DType::BF16 { "bf16" } else { "f16" };
        self.line(format!("cvt.rn.{ty}.f32 {h}, {f};"));
        h
    }

    /// Widens the f16/bf16 bits in `.b16` register `h` to the f32 register `dst` (exact).
    pub fn half_bits_to_f32(&mut self, d: DType, h: &str, dst: &str) {
        if d == DType::BF16 {
            let t = self.reg(Class::B32);
            self.line(format!("cvt.u32.u16 {t}, {h};"));
            self.line(format!("shl.b32 {t}, {t}, 16;"));
            self.line(format!("mov.b32 {dst}, {t};"));
        } else {
            self.line(format!("cvt.f32.f16 {dst}, {h};"));
        }
    }

    /// Copies register `src` of class `c` to `dst`.
    pub fn mov(&mut self, c: Class, dst: &str, src: &str) {
        let ty = match c {
            Class::Pred => "pred",
            Class::B16 => "b16",
            Class::B32 => "b32",
            Class::B64 => "b64",
            Class::F32 => "f32",
        };
        self.line(format!("mov.{ty} {dst}, {src};"));
    }

    /// Lowers the ops of `block`; returns the values of its final `yield`, if any.
    pub fn emit_block(&mut self, block: &Block) -> Result<Option<Vec<ValueId>>, CodegenError> {
        self.emit_ops(&block.ops)
    }

    /// The values that `body` defines (its arguments and the results of its ops, nested ones
    /// included), less those computed before the loop ([`Self::hoist_invariants`]).
    pub fn body_values(&self, body: &Block) -> HashSet<ValueId> {
        let mut inside = HashSet::new();
        inside.extend(body.args.iter().copied());
        assign::walk(body, &mut |op| inside.extend(op.results.iter().copied()));
        inside.retain(|v| !self.hoisted.contains(v));
        inside
    }

    /// Lowers `ops` (part of a block, in order); returns the values of a `yield` among them.
    pub fn emit_ops(&mut self, ops: &[Op]) -> Result<Option<Vec<ValueId>>, CodegenError> {
        for op in ops {
            if let OpKind::Yield(vals) = &op.kind {
                return Ok(Some(vals.clone()));
            }
            self.emit_op(op)?;
        }
        Ok(None)
    }

    /// Lowers one op (not `yield`).
    pub fn emit_one(&mut self, op: &Op) -> Result<(), CodegenError> {
        self.emit_op(op)
    }

    /// Lowers `op` (of one result) if its result holds at most `budget` registers that its
    /// operands do not (a 64-bit register counts twice); returns how many it holds, or `None`
    /// when they are more, leaving the code and the values as they were.
    pub fn emit_within(&mut self, op: &Op, budget: u32) -> Result<Option<u32>, CodegenError> {
        let (mark, converted) = (self.body.len(), self.converted.clone());
        self.emit_op(op)?;
        let r = op.results[0];
        let operands: HashSet<&String> = op
            .kind
            .operands()
            .iter()
            .filter_map(|v| self.vals.get(v))
            .flatten()
            .collect();
        let fresh: HashSet<&String> = self.vals[&r]
            .iter()
            .filter(|x| !operands.contains(x))
            .collect();
        let wide = class_of(self.k.ty(r).elem) == Class::B64;
        let held = fresh.len() as u32 * (1 + u32::from(wide));
        if held > budget {
            self.body.truncate(mark);
            self.converted = converted;
            self.vals.remove(&r);
            return Ok(None);
        }
        Ok(Some(held))
    }

    fn emit_op(&mut self, op: &Op) -> Result<(), CodegenError> {
        if op.results.first().is_some_and(|r| self.hoisted.contains(r)) {
            // Computed before its loop.
            return Ok(());
        }
        self.lower_op(op)
    }

    /// Lowers `op`, even when it was computed before its loop (to rematerialize it).
    fn lower_op(&mut self, op: &Op) -> Result<(), CodegenError> {
        let res = op.results.first().copied();
        let one = || {
            res.ok_or_else(|| self.unsupported(format!("`{}` without a result", op.kind.name())))
        };
        match &op.kind {
            OpKind::Constant(s) => self.lower_constant(one()?, *s),
            OpKind::ProgramId(axis) => self.lower_special(one()?, "ctaid", *axis),
            OpKind::NumPrograms(axis) => self.lower_special(one()?, "nctaid", *axis),
            OpKind::Arange(_) => self.lower_arange(one()?),
            OpKind::Unary(u, x) => self.lower_unary(one()?, *u, *x),
            OpKind::Binary(b, x, y) => self.lower_binary(one()?, *b, *x, *y),
            OpKind::Cmp(p, x, y) => self.lower_cmp(one()?, *p, *x, *y),
            OpKind::Select {
                cond,
                on_true,
                on_false,
            } => self.lower_select(one()?, *cond, *on_true, *on_false),
            OpKind::Fma(a, b, c) => self.lower_fma(one()?, *a, *b, *c),
            OpKind::Cast(x) => self.lower_cast(one()?, *x),
            OpKind::Bitcast(x) => self.lower_bitcast(one()?, *x),
            OpKind::Reshape(x)
            | OpKind::Hint { value: x, .. }
            | OpKind::ExpandDims { value: x, .. } => {
                let res = one()?;
                let regs = self.get_as(*x, &self.layout(res))?;
                self.define(res, regs);
                Ok(())
            }
            OpKind::Broadcast(x) => self.lower_broadcast(one()?, *x),
            OpKind::Permute { value, perm } => self.lower_permute(one()?, *value, perm),
            OpKind::Concat { a, b, axis } => self.lower_concat(one()?, *a, *b, *axis),
            OpKind::Slice { value, axis, start } => self.lower_slice(one()?, *value, *axis, *start),
            OpKind::Reduce { op: r, value, axis } => self.lower_reduce(one()?, *r, *value, *axis),
            OpKind::Dot { a, b, acc } => self.lower_dot(one()?, *a, *b, *acc),
            OpKind::AddPtr { ptr, offset } => self.lower_addptr(one()?, *ptr, *offset),
            OpKind::Load { ptr, mask, other } => self.lower_load(one()?, *ptr, *mask, *other),
            OpKind::Store { ptr, value, mask } => self.lower_store(*ptr, *value, *mask),
            OpKind::Atomic {
                op: aop,
                ptr,
                value,
                mask,
            } => self.lower_atomic(one()?, Some(*aop), *ptr, None, *value, *mask),
            OpKind::AtomicCas {
                ptr,
                cmp,
                value,
                mask,
            } => self.lower_atomic(one()?, None, *ptr, Some(*cmp), *value, *mask),
            OpKind::For {
                lower,
                upper,
                step,
                init,
                body,
            } => self.lower_for(&op.results, *lower, *upper, *step, init, body),
            OpKind::While { init, body } => self.lower_while(&op.results, init, body),
            OpKind::If {
                cond,
                then_block,
                else_block,
            } => self.lower_if(&op.results, *cond, then_block, else_block),
            OpKind::Print { label, value } => self.lower_print(label, *value),
            OpKind::Assert { .. } => Err(self.unsupported(
                "`device_assert` outside a debug launch (which checks it through passes::bounds)",
            )),
            OpKind::Yield(_) => Err(self.unsupported("`yield` outside the end of a block")),
        }
    }
}
