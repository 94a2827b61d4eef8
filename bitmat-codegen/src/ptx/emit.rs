//! The emitter: walks the kernel's blocks, keeps the registers of every SSA value, and hands
//! each op to its lowering (`lower/*`). Shared helpers (indices, rounding, shared memory) live
//! here too.

use super::layout::{log2, Layout};
use super::regs::{class_of, Class, Regs};
use super::target::PtxTarget;
use crate::CodegenError;
use bitmat_ir::passes::contiguity::{self, AxisInfo};
use bitmat_ir::{Block, DType, Kernel, Op, OpKind, ValueId};
use std::collections::HashMap;
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
    /// The registers of each value, one per slot.
    vals: HashMap<ValueId, Vec<String>>,
    labels: u32,
    /// Bytes of shared memory the kernel needs (the largest staging area).
    pub shared_bytes: u32,
    /// `%tid.x`, as a `.b32` register.
    pub tid: String,
    /// The base address of the dynamic shared memory, as a `.b32` register.
    pub smem: String,
    /// Contiguity facts per value (indexed by [`ValueId::index`]), for vector accesses.
    pub info: Vec<AxisInfo>,
}

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
    pub fn new(k: &'k Kernel, target: PtxTarget, threads: u32) -> Self {
        let mut regs = Regs::default();
        let tid = regs.new_reg(Class::B32);
        let smem = regs.new_reg(Class::B32);
        let mut e = Emitter {
            k,
            threads,
            target,
            regs,
            body: String::new(),
            vals: HashMap::new(),
            labels: 0,
            shared_bytes: 0,
            tid,
            smem,
            info: contiguity::analyze(k),
        };
        let (t, s) = (e.tid.clone(), e.smem.clone());
        e.line(format!("mov.u32 {t}, %tid.x;"));
        e.line(format!("mov.u32 {s}, bm_smem;"));
        e
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
        Layout::new(self.k.ty(v).numel() as u32, self.threads)
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

    /// The row-major index of the element in slot `j` of a tile of layout `l`, as a fresh
    /// `.b32` register.
    pub fn elem_index(&mut self, l: Layout, j: u32) -> String {
        let r = self.reg(Class::B32);
        let tid = self.tid.clone();
        if l.replicated() {
            self.line(format!("and.b32 {r}, {tid}, {};", l.numel - 1));
        } else if l.slots() == 1 {
            self.line(format!("mov.u32 {r}, {tid};"));
        } else {
            self.line(format!("shl.b32 {r}, {tid}, {};", log2(l.slots())));
            if j != 0 {
                self.line(format!("add.u32 {r}, {r}, {j};"));
            }
        }
        r
    }

    /// A predicate: true in the one thread that owns slot `j` of layout `l` (the first copy
    /// of a replicated tile), for side effects that must happen once per element.
    pub fn owner_pred(&mut self, l: Layout) -> Option<String> {
        if !l.replicated() {
            return None;
        }
        let p = self.reg(Class::Pred);
        let tid = self.tid.clone();
        self.line(format!("setp.lt.u32 {p}, {tid}, {};", l.numel));
        Some(p)
    }

    /// `bar.sync 0`.
    pub fn barrier(&mut self) {
        self.line("bar.sync 0;");
    }

    /// Records that `bytes` of shared memory are needed.
    pub fn need_shared(&mut self, bytes: u32) {
        self.shared_bytes = self.shared_bytes.max(bytes);
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

    /// Stores register `r` of class `c` as a word at shared address `addr`.
    pub fn st_word(&mut self, addr: &str, c: Class, r: &str) {
        match c {
            Class::Pred => {
                let t = self.reg(Class::B32);
                self.line(format!("selp.u32 {t}, 1, 0, {r};"));
                self.line(format!("st.shared.b32 [{addr}], {t};"));
            }
            Class::B16 => self.line(format!("st.shared.b16 [{addr}], {r};")),
            Class::B32 => self.line(format!("st.shared.b32 [{addr}], {r};")),
            Class::F32 => self.line(format!("st.shared.f32 [{addr}], {r};")),
            Class::B64 => self.line(format!("st.shared.b64 [{addr}], {r};")),
        }
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

    /// Writes every element of `v` to shared memory as words at byte offset `base`, row-major
    /// (copies of a replicated tile write the same value). Returns the bytes used.
    pub fn tile_to_shared(&mut self, v: ValueId, base: u32) -> Result<u32, CodegenError> {
        let l = self.layout(v);
        let c = class_of(self.k.ty(v).elem);
        let size = word_bytes(c);
        let regs = self.get(v)?;
        for (j, r) in regs.iter().enumerate() {
            let idx = self.elem_index(l, j as u32);
            let a = self.shared_addr(&idx, size, base);
            self.st_word(&a, c, r);
        }
        Ok(l.numel * size)
    }

    /// Re-establishes the register invariant of `d` in `r` after a 32-bit (or f32)
    /// computation: sign- or zero-extension of narrow integers, rounding of f16/bf16.
    pub fn normalize(&mut self, d: DType, r: &str) {
        match d {
            DType::I8 => self.line(format!("bfe.s32 {r}, {r}, 0, 8;")),
            DType::I16 => self.line(format!("bfe.s32 {r}, {r}, 0, 16;")),
            DType::U8 => self.line(format!("and.b32 {r}, {r}, 255;")),
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
        for op in &block.ops {
            if let OpKind::Yield(vals) = &op.kind {
                return Ok(Some(vals.clone()));
            }
            self.emit_op(op)?;
        }
        Ok(None)
    }

    fn emit_op(&mut self, op: &Op) -> Result<(), CodegenError> {
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
            OpKind::Cast(x) => self.lower_cast(one()?, *x),
            OpKind::Bitcast(x) => self.lower_bitcast(one()?, *x),
            OpKind::Reshape(x) | OpKind::ExpandDims { value: x, .. } => {
                let regs = self.get(*x)?;
                self.define(one()?, regs);
                Ok(())
            }
            OpKind::Broadcast(x) => self.lower_broadcast(one()?, *x),
            OpKind::Reduce { op: r, value, axis } => self.lower_reduce(one()?, *r, *value, *axis),
            OpKind::Dot { a, b, acc } => self.lower_dot(one()?, *a, *b, *acc),
            OpKind::AddPtr { ptr, offset } => self.lower_addptr(one()?, *ptr, *offset),
            OpKind::Load { ptr, mask, other } => self.lower_load(one()?, *ptr, *mask, *other),
            OpKind::Store { ptr, value, mask } => self.lower_store(*ptr, *value, *mask),
            OpKind::AtomicAdd { ptr, value, mask } => {
                self.lower_atomic_add(one()?, *ptr, *value, *mask)
            }
            OpKind::For {
                lower,
                upper,
                step,
                init,
                body,
            } => self.lower_for(&op.results, *lower, *upper, *step, init, body),
            OpKind::If {
                cond,
                then_block,
                else_block,
            } => self.lower_if(&op.results, *cond, then_block, else_block),
            OpKind::Yield(_) => Err(self.unsupported("`yield` outside the end of a block")),
        }
    }
}
