//! Global memory: pointer arithmetic, loads, stores and atomics. Each thread accesses the
//! elements it holds; lanes whose mask is false issue no access (predicated instructions).
//! Copies of a replicated tile all load (the same addresses), but only the first copy stores
//! or adds, so each element is written once.

use super::int_ty;
use crate::ptx::emit::Emitter;
use crate::ptx::regs::{class_of, dclass, Class};
use crate::CodegenError;
use bitmat_ir::{DType, ValueId};

/// The `ld`/`st` type of a value of `d` in a `.b32`/`.b64`/`.f32` register.
fn mem_ty(d: DType) -> &'static str {
    match d {
        DType::Bool | DType::U8 => "u8",
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
    fn pointee(&self, p: ValueId) -> Result<DType, CodegenError> {
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
        let (ps, os) = (self.get(ptr)?, self.get(offset)?);
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

    pub(crate) fn lower_load(
        &mut self,
        res: ValueId,
        ptr: ValueId,
        mask: Option<ValueId>,
        other: Option<ValueId>,
    ) -> Result<(), CodegenError> {
        let d = self.pointee(ptr)?;
        let ps = self.get(ptr)?;
        let ms = mask.map(|m| self.get(m)).transpose()?;
        let os = other.map(|o| self.get(o)).transpose()?;
        let out = self.fresh(res);
        for (j, (dst, addr)) in out.iter().zip(&ps).enumerate() {
            let m = ms.as_ref().map(|v| v[j].as_str());
            let pre = m.map(|m| format!("@{m} ")).unwrap_or_default();
            let other = os.as_ref().map(|v| v[j].clone());
            match d {
                DType::Bool => {
                    let t = self.reg(Class::B32);
                    self.line(format!("mov.u32 {t}, 0;"));
                    self.line(format!("{pre}ld.global.u8 {t}, [{addr}];"));
                    self.line(format!("setp.ne.u32 {dst}, {t}, 0;"));
                    if let (Some(m), Some(o)) = (m, &other) {
                        self.line(format!("@!{m} mov.pred {dst}, {o};"));
                    }
                }
                DType::F16 | DType::BF16 => {
                    let (h, t) = (self.reg(Class::B16), self.reg(Class::F32));
                    self.line(format!("mov.b16 {h}, 0;"));
                    self.line(format!("{pre}ld.global.b16 {h}, [{addr}];"));
                    self.half_bits_to_f32(d, &h, &t);
                    match (m, &other) {
                        (Some(m), Some(o)) => self.line(format!("selp.f32 {dst}, {t}, {o}, {m};")),
                        _ => self.line(format!("mov.f32 {dst}, {t};")),
                    }
                }
                _ => {
                    let c = dclass(d);
                    match &other {
                        Some(o) if m.is_some() => self.mov(c, dst, o),
                        _ if m.is_some() => match c {
                            Class::F32 => self.line(format!("mov.f32 {dst}, 0f00000000;")),
                            Class::B64 => self.line(format!("mov.b64 {dst}, 0;")),
                            _ => self.line(format!("mov.b32 {dst}, 0;")),
                        },
                        _ => {}
                    }
                    self.line(format!("{pre}ld.global.{} {dst}, [{addr}];", mem_ty(d)));
                }
            }
        }
        Ok(())
    }

    pub(crate) fn lower_store(
        &mut self,
        ptr: ValueId,
        value: ValueId,
        mask: Option<ValueId>,
    ) -> Result<(), CodegenError> {
        let d = self.pointee(ptr)?;
        let l = self.layout(ptr);
        let owner = self.owner_pred(l);
        let (ps, vs) = (self.get(ptr)?, self.get(value)?);
        let ms = mask.map(|m| self.get(m)).transpose()?;
        for (j, (addr, v)) in ps.iter().zip(&vs).enumerate() {
            let m = ms.as_ref().map(|v| v[j].clone());
            let p = self.and_preds(m.as_deref(), owner.as_deref());
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
        Ok(())
    }

    pub(crate) fn lower_atomic_add(
        &mut self,
        res: ValueId,
        ptr: ValueId,
        value: ValueId,
        mask: Option<ValueId>,
    ) -> Result<(), CodegenError> {
        let d = self.pointee(ptr)?;
        let ty = match d {
            DType::I32 | DType::U32 => "u32",
            DType::I64 | DType::U64 => "u64",
            DType::F32 => "f32",
            _ => return Err(self.unsupported(format!("atomic_add on {d}"))),
        };
        let c = dclass(d);
        let l = self.layout(ptr);
        let owner = self.owner_pred(l);
        let (ps, vs) = (self.get(ptr)?, self.get(value)?);
        let ms = mask.map(|m| self.get(m)).transpose()?;
        let out = self.fresh(res);
        for (j, ((dst, addr), v)) in out.iter().zip(&ps).zip(&vs).enumerate() {
            let m = ms.as_ref().map(|v| v[j].clone());
            let p = self.and_preds(m.as_deref(), owner.as_deref());
            match c {
                Class::F32 => self.line(format!("mov.f32 {dst}, 0f00000000;")),
                Class::B64 => self.line(format!("mov.b64 {dst}, 0;")),
                _ => self.line(format!("mov.b32 {dst}, 0;")),
            }
            let pre = p.map(|p| format!("@{p} ")).unwrap_or_default();
            self.line(format!("{pre}atom.global.add.{ty} {dst}, [{addr}], {v};"));
        }
        if l.replicated() {
            // Only the first copy added: hand its old values to the other copies.
            let size = crate::ptx::emit::word_bytes(class_of(self.k.ty(res).elem));
            self.barrier();
            let owner = owner.unwrap_or_default();
            for (j, r) in out.iter().enumerate() {
                let idx = self.elem_index(l, j as u32);
                let a = self.shared_addr(&idx, size, 0);
                let pre = format!("@{owner} ");
                match c {
                    Class::F32 => self.line(format!("{pre}st.shared.f32 [{a}], {r};")),
                    Class::B64 => self.line(format!("{pre}st.shared.b64 [{a}], {r};")),
                    _ => self.line(format!("{pre}st.shared.b32 [{a}], {r};")),
                }
            }
            self.barrier();
            for (j, r) in out.iter().enumerate() {
                let idx = self.elem_index(l, j as u32);
                let a = self.shared_addr(&idx, size, 0);
                self.ld_word(&a, c, r);
            }
            self.need_shared(l.numel * size);
        }
        Ok(())
    }
}
