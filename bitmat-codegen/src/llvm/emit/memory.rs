//! Global memory: `addptr`, `load`, `store`, `atomic_add`.
//!
//! The lanes of a pointer tile whose contiguity analysis proves aligned runs of consecutive
//! addresses along the last axis ([`bitmat_ir::passes::contiguity`]) are accessed as whole
//! vectors per run (`load`/`store`, or `llvm.masked.load`/`store` under a mask, which touch no
//! masked-off lane); other tiles are gathered and scattered (`llvm.masked.gather`/`scatter`,
//! lanes in order). `atomic_add` is one atomic per lane, skipped where the mask is false.

use super::elementwise::suffix;
use super::{mem_elem, reg_elem, vec, Emitter, Operand};
use crate::cpu::helpers::{dtype_index, HelperId};
use crate::CodegenError;
use bitmat_ir::{DType, ElemType, ValueId};

/// How the lanes of one access are grouped.
struct Access {
    /// The pointee type.
    dtype: DType,
    /// Lanes.
    n: usize,
    /// Lanes per contiguous run (1: gather/scatter).
    run: usize,
}

impl Emitter<'_> {
    /// `addptr(ptr, offset)`: element offsets, sign- or zero-extended to 64 bits.
    pub(crate) fn add_ptr(
        &mut self,
        p: ValueId,
        off: ValueId,
        r: ValueId,
    ) -> Result<(), CodegenError> {
        let d = self
            .ty(p)
            .elem
            .pointee()
            .ok_or_else(|| self.unsupported("the first operand is not a pointer"))?;
        let (pv, ov) = (self.get(p)?, self.get(off)?);
        let n = self.numel(r);
        let wide = vec(n, "i64");
        let ov = match self.ty(off).dtype() {
            Some(DType::I64 | DType::U64) => ov,
            Some(od) if od.is_signed_int() => self.ins(
                wide.clone(),
                format!("sext {} {} to {wide}", ov.ty, ov.text),
            ),
            _ => self.ins(
                wide.clone(),
                format!("zext {} {} to {wide}", ov.ty, ov.text),
            ),
        };
        let o = self.ins(
            pv.ty.clone(),
            format!(
                "getelementptr {}, {} {}, {wide} {}",
                mem_elem(d),
                pv.ty,
                pv.text,
                ov.text
            ),
        );
        self.set(r, o);
        Ok(())
    }

    /// The grouping of an access through pointer tile `p`.
    fn access(&self, p: ValueId) -> Result<Access, CodegenError> {
        let t = self.ty(p);
        let dtype = t
            .elem
            .pointee()
            .ok_or_else(|| self.unsupported("the address is not a pointer"))?;
        let n = t.numel();
        let last = t.shape.last().copied().unwrap_or(1) as usize;
        let c = self.info[p.index()].last_contiguity() as usize;
        let run = c.min(last).max(1);
        // Runs are aligned powers of two dividing the last extent.
        let run = if last % run == 0 { run } else { 1 };
        Ok(Access { dtype, n, run })
    }

    /// A `bool` vector of `n` lanes, all true.
    fn all_true(&mut self, n: usize) -> Operand {
        self.splat("true", "i1", n)
    }

    /// `load(ptr, mask, other)`.
    pub(crate) fn load(
        &mut self,
        p: ValueId,
        mask: Option<ValueId>,
        other: Option<ValueId>,
        r: ValueId,
    ) -> Result<(), CodegenError> {
        let a = self.access(p)?;
        let me = mem_elem(a.dtype);
        let align = a.dtype.size_bytes();
        let pv = self.get(p)?;
        let m = mask.map(|m| self.get(m)).transpose()?;
        let pass = match other {
            Some(o) => {
                let o = self.get(o)?;
                self.stored_form(&o, a.dtype)
            }
            None => Operand {
                text: "zeroinitializer".into(),
                ty: vec(a.n, me),
            },
        };
        let loaded = if a.run > 1 || a.n == 1 {
            let mut parts = Vec::with_capacity(a.n / a.run);
            for g in 0..a.n / a.run {
                let lanes: Vec<usize> = (g * a.run..(g + 1) * a.run).collect();
                let base = self.extract(&pv, "ptr", g * a.run);
                let vt = vec(a.run, me);
                parts.push(match &m {
                    None => self.ins(
                        vt.clone(),
                        format!("load {vt}, ptr {}, align {align}", base.text),
                    ),
                    Some(m) => {
                        let mg = self.shuffle(m, "i1", &lanes);
                        let og = self.shuffle(&pass, me, &lanes);
                        let al = Operand {
                            text: align.to_string(),
                            ty: "i32".into(),
                        };
                        let name = format!("llvm.masked.load.{}.p0", suffix(&vt));
                        self.intrinsic(&vt, &name, &[&base, &al, &mg, &og])
                    }
                });
            }
            self.concat(parts, me)
        } else {
            let vt = vec(a.n, me);
            let m = match m {
                Some(m) => m,
                None => self.all_true(a.n),
            };
            let al = Operand {
                text: align.to_string(),
                ty: "i32".into(),
            };
            let name = format!("llvm.masked.gather.{}.{}", suffix(&vt), suffix(&pv.ty));
            self.intrinsic(&vt, &name, &[&pv, &al, &m, &pass])
        };
        let o = self.register_form(&loaded, a.dtype);
        self.set(r, o);
        Ok(())
    }

    /// `store(ptr, value, mask)`.
    pub(crate) fn store(
        &mut self,
        p: ValueId,
        value: ValueId,
        mask: Option<ValueId>,
    ) -> Result<(), CodegenError> {
        let a = self.access(p)?;
        let me = mem_elem(a.dtype);
        let align = a.dtype.size_bytes();
        let pv = self.get(p)?;
        let v = self.get(value)?;
        let v = self.stored_form(&v, a.dtype);
        let m = mask.map(|m| self.get(m)).transpose()?;
        let al = Operand {
            text: align.to_string(),
            ty: "i32".into(),
        };
        if a.run > 1 || a.n == 1 {
            for g in 0..a.n / a.run {
                let lanes: Vec<usize> = (g * a.run..(g + 1) * a.run).collect();
                let base = self.extract(&pv, "ptr", g * a.run);
                let vg = self.shuffle(&v, me, &lanes);
                match &m {
                    None => self.line(format!(
                        "store {} {}, ptr {}, align {align}",
                        vg.ty, vg.text, base.text
                    )),
                    Some(m) => {
                        let mg = self.shuffle(m, "i1", &lanes);
                        let name = format!("llvm.masked.store.{}.p0", suffix(&vg.ty));
                        self.call_void(&name, &[&vg, &base, &al, &mg]);
                    }
                }
            }
        } else {
            let m = match m {
                Some(m) => m,
                None => self.all_true(a.n),
            };
            let name = format!("llvm.masked.scatter.{}.{}", suffix(&v.ty), suffix(&pv.ty));
            self.call_void(&name, &[&v, &pv, &al, &m]);
        }
        Ok(())
    }

    /// Calls the `void` intrinsic `name`.
    fn call_void(&mut self, name: &str, args: &[&Operand]) {
        let params: Vec<&str> = args.iter().map(|a| a.ty.as_str()).collect();
        self.declare(format!("declare void @{name}({})", params.join(", ")));
        let list: Vec<String> = args
            .iter()
            .map(|a| format!("{} {}", a.ty, a.text))
            .collect();
        self.line(format!("call void @{name}({})", list.join(", ")));
    }

    /// A register value of dtype `d` as stored in memory (`bool` as a byte).
    fn stored_form(&mut self, o: &Operand, d: DType) -> Operand {
        if d != DType::Bool {
            return o.clone();
        }
        let t = vec(super::vec_lanes(&o.ty), "i8");
        self.ins(t.clone(), format!("zext {} {} to {t}", o.ty, o.text))
    }

    /// A value of dtype `d` loaded from memory as held in registers.
    fn register_form(&mut self, o: &Operand, d: DType) -> Operand {
        if d != DType::Bool {
            return o.clone();
        }
        let t = vec(super::vec_lanes(&o.ty), "i1");
        self.ins(t, format!("icmp ne {} {}, zeroinitializer", o.ty, o.text))
    }

    /// `atomic_add(ptr, value, mask)`: lane by lane in order, old values (0 where masked off).
    pub(crate) fn atomic_add(
        &mut self,
        p: ValueId,
        value: ValueId,
        mask: Option<ValueId>,
        r: ValueId,
    ) -> Result<(), CodegenError> {
        let d = self.dtype(value)?;
        if d == DType::Bool {
            return Err(self.unsupported("on bool"));
        }
        let elem = reg_elem(ElemType::Val(d));
        let (pv, v) = (self.get(p)?, self.get(value)?);
        let m = mask.map(|m| self.get(m)).transpose()?;
        let n = self.numel(r);
        let mut olds = Vec::with_capacity(n);
        for i in 0..n {
            let pi = self.extract(&pv, "ptr", i);
            let vi = self.extract(&v, elem, i);
            let (go, join) = (self.label("atomic"), self.label("joined"));
            let before = match &m {
                Some(m) => {
                    let mi = self.extract(m, "i1", i);
                    let from = self.block.clone();
                    self.line(format!("br i1 {}, label %{go}, label %{join}", mi.text));
                    Some(from)
                }
                None => {
                    self.line(format!("br label %{go}"));
                    None
                }
            };
            self.start_block(&go);
            let old = if d.is_float() {
                let addr = self.ins("i64", format!("ptrtoint ptr {} to i64", pi.text));
                let bits = if d == DType::F32 {
                    let b = self.ins("i32", format!("bitcast float {} to i32", vi.text));
                    self.ins("i64", format!("zext i32 {} to i64", b.text))
                } else {
                    self.ins("i64", format!("zext {elem} {} to i64", vi.text))
                };
                let dt = Operand {
                    text: dtype_index(d).to_string(),
                    ty: "i32".into(),
                };
                let out = self.call_helper(HelperId::AtomicAddFloat, &[addr, bits, dt]);
                if d == DType::F32 {
                    let w = self.ins("i32", format!("trunc i64 {} to i32", out.text));
                    self.ins("float", format!("bitcast i32 {} to float", w.text))
                } else {
                    self.ins(elem, format!("trunc i64 {} to {elem}", out.text))
                }
            } else {
                self.ins(
                    elem,
                    format!("atomicrmw add ptr {}, {elem} {} seq_cst", pi.text, vi.text),
                )
            };
            let done = self.block.clone();
            self.line(format!("br label %{join}"));
            self.start_block(&join);
            let zero = if d == DType::F32 { "0.0" } else { "0" };
            olds.push(match before {
                Some(from) => self.ins(
                    elem,
                    format!("phi {elem} [ {}, %{done} ], [ {zero}, %{from} ]", old.text),
                ),
                None => old,
            });
        }
        let o = self.gather_lanes(&olds, elem);
        self.set(r, o);
        Ok(())
    }
}
