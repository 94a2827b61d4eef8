//! Global memory: `addptr`, `load`, `store`, the atomics, chunk by chunk.
//!
//! The lanes of a pointer tile whose contiguity analysis proves aligned runs of consecutive
//! addresses along the last axis ([`bitmat_ir::passes::contiguity`]) are accessed as whole
//! vectors per run (`load`/`store`, or `llvm.masked.load`/`store` under a mask, which touch no
//! masked-off lane; a load's run spanning several chunks is one vector of up to 64 bytes, split
//! into chunks after); other tiles are gathered and scattered lane by lane in order
//! (`llvm.masked.gather`/`scatter` with every lane on), masked-off lanes pointed at a stack
//! slot of the program's own, which needs no branch per lane. An atomic is one per
//! lane, skipped where the mask is false.

use super::elementwise::suffix;
use super::{mem_elem, reg_elem, vec, Emitter, Operand};
use crate::cpu::helpers::{dtype_index, HelperId};
use crate::CodegenError;
use bitmat_ir::{AtomicOp, DType, ElemType, ValueId};

/// Lanes per contiguous run of an access (1: gather/scatter).
struct Access {
    /// The pointee type.
    dtype: DType,
    /// Lanes per contiguous run.
    run: usize,
}

/// The widest access in bytes that [`Emitter::load`] issues as one vector (a zmm register).
const WIDE_BYTES: usize = 64;

/// Chunks of `l` lanes (of `chunks` in all) that one vector load covers: the chunks of a
/// contiguous run up to [`WIDE_BYTES`], or 1 where runs do not span chunks.
fn wide_group(a: &Access, l: usize, chunks: usize) -> usize {
    if l < 2 || a.run <= l || a.run % l != 0 {
        return 1;
    }
    let most = (WIDE_BYTES / (l * a.dtype.size_bytes())).max(1);
    let group = (a.run / l).min(most);
    if group.is_power_of_two() && chunks % group == 0 {
        group
    } else {
        1
    }
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
        let ext = match self.ty(off).dtype() {
            Some(DType::I64 | DType::U64) => None,
            Some(od) if od.is_signed_int() => Some("sext"),
            _ => Some("zext"),
        };
        self.map_chunks([p, off], r, |e, [pv, ov]| {
            let wide = vec(super::vec_lanes(&ov.ty), "i64");
            let ov = match ext {
                None => ov.clone(),
                Some(inst) => e.ins(
                    wide.clone(),
                    format!("{inst} {} {} to {wide}", ov.ty, ov.text),
                ),
            };
            Ok(e.ins(
                pv.ty.clone(),
                format!(
                    "getelementptr {}, {} {}, {wide} {}",
                    mem_elem(d),
                    pv.ty,
                    pv.text,
                    ov.text
                ),
            ))
        })
    }

    /// The grouping of an access through pointer tile `p`.
    fn access(&self, p: ValueId) -> Result<Access, CodegenError> {
        let t = self.ty(p);
        let dtype = t
            .elem
            .pointee()
            .ok_or_else(|| self.unsupported("the address is not a pointer"))?;
        let last = t.shape.last().copied().unwrap_or(1) as usize;
        let c = self.info[p.index()].last_contiguity() as usize;
        let run = c.min(last).max(1);
        // Runs are aligned powers of two dividing the last extent.
        let run = if last % run == 0 { run } else { 1 };
        Ok(Access { dtype, run })
    }

    /// The stack slot that masked-off lanes of gathers and scatters point at.
    fn spare_slot(&mut self) -> String {
        if self.spare.is_none() {
            self.spare = Some(self.stack_buffer(8));
        }
        self.spare.clone().unwrap_or_default()
    }

    /// The pointers `pv` with the lanes where `m` is false pointed at the spare slot.
    fn masked_pointers(&mut self, pv: &Operand, m: &Operand) -> Operand {
        let n = super::vec_lanes(&pv.ty);
        let slot = self.spare_slot();
        let spare = self.splat(&slot, "ptr", n);
        self.ins(
            pv.ty.clone(),
            format!(
                "select {} {}, {} {}, {} {}",
                m.ty, m.text, pv.ty, pv.text, spare.ty, spare.text
            ),
        )
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
        let pvs = self.chunks(p)?;
        let ms = mask.map(|m| self.chunks(m)).transpose()?;
        let others = other.map(|o| self.chunks(o)).transpose()?;
        let l = self.lanes(r);
        let vt = vec(l, me);
        let group = wide_group(&a, l, pvs.len());
        if group > 1 {
            let out = self.load_wide(&a, &pvs, ms.as_deref(), others.as_deref(), l, group);
            self.set_chunks(r, out);
            return Ok(());
        }
        let mut out = Vec::with_capacity(pvs.len());
        for (c, pv) in pvs.iter().enumerate() {
            let m = ms.as_ref().map(|ms| ms[c].clone());
            let pass = match &others {
                Some(o) => self.stored_form(&o[c], a.dtype),
                None => Operand {
                    text: "zeroinitializer".into(),
                    ty: vt.clone(),
                },
            };
            let loaded = if a.run > 1 || l == 1 {
                let run = a.run.min(l);
                let mut parts = Vec::with_capacity(l / run);
                for g in 0..l / run {
                    let lanes: Vec<usize> = (g * run..(g + 1) * run).collect();
                    let base = self.extract(pv, "ptr", g * run);
                    let rt = vec(run, me);
                    parts.push(match &m {
                        None => self.ins(
                            rt.clone(),
                            format!("load {rt}, ptr {}, align {align}", base.text),
                        ),
                        Some(m) => {
                            let mg = self.shuffle(m, "i1", &lanes);
                            let og = self.shuffle(&pass, me, &lanes);
                            let al = Operand {
                                text: align.to_string(),
                                ty: "i32".into(),
                            };
                            let name = format!("llvm.masked.load.{}.p0", suffix(&rt));
                            self.intrinsic(&rt, &name, &[&base, &al, &mg, &og])
                        }
                    });
                }
                self.concat(parts, me)
            } else {
                let ptrs = match &m {
                    Some(m) => self.masked_pointers(pv, m),
                    None => pv.clone(),
                };
                let on = self.all_true(l);
                let al = Operand {
                    text: align.to_string(),
                    ty: "i32".into(),
                };
                let poison = Operand {
                    text: "poison".into(),
                    ty: vt.clone(),
                };
                let name = format!("llvm.masked.gather.{}.{}", suffix(&vt), suffix(&pv.ty));
                let g = self.intrinsic(&vt, &name, &[&ptrs, &al, &on, &poison]);
                match &m {
                    Some(m) => self.ins(
                        vt.clone(),
                        format!(
                            "select {} {}, {vt} {}, {vt} {}",
                            m.ty, m.text, g.text, pass.text
                        ),
                    ),
                    None => g,
                }
            };
            out.push(self.register_form(&loaded, a.dtype));
        }
        self.set_chunks(r, out);
        Ok(())
    }

    /// A load whose contiguous runs span `group` chunks of `l` lanes: one vector load (masked
    /// under a mask) of `group * l` lanes per `group` chunks, split back into chunks, so that a
    /// run of 64 bytes is one 512-bit load instead of four 128-bit ones and their reassembly.
    fn load_wide(
        &mut self,
        a: &Access,
        pvs: &[Operand],
        ms: Option<&[Operand]>,
        others: Option<&[Operand]>,
        l: usize,
        group: usize,
    ) -> Vec<Operand> {
        let me = mem_elem(a.dtype);
        let align = a.dtype.size_bytes();
        let wt = vec(l * group, me);
        let mut out = Vec::with_capacity(pvs.len());
        for g in (0..pvs.len()).step_by(group) {
            let base = self.extract(&pvs[g], "ptr", 0);
            let loaded = match ms {
                None => self.ins(
                    wt.clone(),
                    format!("load {wt}, ptr {}, align {align}", base.text),
                ),
                Some(ms) => {
                    let mask = self.concat(ms[g..g + group].to_vec(), "i1");
                    let pass: Vec<Operand> = match others {
                        Some(o) => o[g..g + group]
                            .iter()
                            .map(|o| self.stored_form(o, a.dtype))
                            .collect(),
                        None => vec![
                            Operand {
                                text: "zeroinitializer".into(),
                                ty: vec(l, me),
                            };
                            group
                        ],
                    };
                    let pass = self.concat(pass, me);
                    let al = Operand {
                        text: align.to_string(),
                        ty: "i32".into(),
                    };
                    let name = format!("llvm.masked.load.{}.p0", suffix(&wt));
                    self.intrinsic(&wt, &name, &[&base, &al, &mask, &pass])
                }
            };
            for j in 0..group {
                let part = self.shuffle(&loaded, me, &(j * l..(j + 1) * l).collect::<Vec<_>>());
                out.push(self.register_form(&part, a.dtype));
            }
        }
        out
    }

    /// A `bool` vector of `n` lanes, all true.
    fn all_true(&mut self, n: usize) -> Operand {
        self.splat("true", "i1", n)
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
        let pvs = self.chunks(p)?;
        let vs = self.chunks(value)?;
        let ms = mask.map(|m| self.chunks(m)).transpose()?;
        let l = self.lanes(value);
        let al = Operand {
            text: align.to_string(),
            ty: "i32".into(),
        };
        for (c, pv) in pvs.iter().enumerate() {
            let v = self.stored_form(&vs[c], a.dtype);
            let m = ms.as_ref().map(|ms| ms[c].clone());
            if a.run > 1 || l == 1 {
                let run = a.run.min(l);
                for g in 0..l / run {
                    let lanes: Vec<usize> = (g * run..(g + 1) * run).collect();
                    let base = self.extract(pv, "ptr", g * run);
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
                let ptrs = match &m {
                    Some(m) => self.masked_pointers(pv, m),
                    None => pv.clone(),
                };
                let on = self.all_true(l);
                let name = format!("llvm.masked.scatter.{}.{}", suffix(&v.ty), suffix(&pv.ty));
                self.call_void(&name, &[&v, &ptrs, &al, &on]);
            }
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

    /// `atomic_<op>(ptr, value, mask)` (`op` given) or `atomic_cas(ptr, cmp, value)` (`cmp`
    /// given): lane by lane in order, old values (0 where masked off). `atomicrmw` (`fmax`/
    /// `fmin` for floats: `maxnum`/`minnum`, a NaN yielding the other) and `cmpxchg` (floats
    /// by their bits); float adds through the helper the Cranelift backend shares.
    pub(crate) fn atomic(
        &mut self,
        op: Option<AtomicOp>,
        p: ValueId,
        cmp: Option<ValueId>,
        value: ValueId,
        mask: Option<ValueId>,
        r: ValueId,
    ) -> Result<(), CodegenError> {
        let d = self.dtype(value)?;
        if d == DType::Bool {
            return Err(self.unsupported("on bool"));
        }
        let elem = reg_elem(ElemType::Val(d));
        let (pv, v) = (self.chunks(p)?, self.chunks(value)?);
        let cv = cmp.map(|c| self.chunks(c)).transpose()?;
        let m = mask.map(|m| self.chunks(m)).transpose()?;
        let signed = d.is_signed_int();
        let n = self.numel(r);
        let mut olds = Vec::with_capacity(n);
        for i in 0..n {
            let pi = self.lane(&pv, "ptr", i);
            let vi = self.lane(&v, elem, i);
            let (go, join) = (self.label("atomic"), self.label("joined"));
            let before = match &m {
                Some(m) => {
                    let mi = self.lane(m, "i1", i);
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
            let rmw = match op {
                Some(AtomicOp::Add) if d.is_float() => None,
                Some(AtomicOp::Add) => Some("add"),
                Some(AtomicOp::Max) if d.is_float() => Some("fmax"),
                Some(AtomicOp::Min) if d.is_float() => Some("fmin"),
                Some(AtomicOp::Max) if signed => Some("max"),
                Some(AtomicOp::Max) => Some("umax"),
                Some(AtomicOp::Min) if signed => Some("min"),
                Some(AtomicOp::Min) => Some("umin"),
                Some(AtomicOp::And) => Some("and"),
                Some(AtomicOp::Or) => Some("or"),
                Some(AtomicOp::Xor) => Some("xor"),
                Some(AtomicOp::Xchg) => Some("xchg"),
                None => None,
            };
            let old = if let Some(cv) = &cv {
                let ci = self.lane(cv, elem, i);
                let int = format!("i{}", d.size_bytes() * 8);
                let (c, n) = if d.is_float() {
                    (
                        self.ins(&int, format!("bitcast {elem} {} to {int}", ci.text)),
                        self.ins(&int, format!("bitcast {elem} {} to {int}", vi.text)),
                    )
                } else {
                    (ci, vi)
                };
                let pair = self.ins(
                    format!("{{ {int}, i1 }}"),
                    format!(
                        "cmpxchg ptr {}, {int} {}, {int} {} seq_cst seq_cst",
                        pi.text, c.text, n.text
                    ),
                );
                let o = self.ins(
                    &int,
                    format!("extractvalue {{ {int}, i1 }} {}, 0", pair.text),
                );
                if d.is_float() {
                    self.ins(elem, format!("bitcast {int} {} to {elem}", o.text))
                } else {
                    o
                }
            } else if let Some(rmw) = rmw {
                self.ins(
                    elem,
                    format!(
                        "atomicrmw {rmw} ptr {}, {elem} {} seq_cst",
                        pi.text, vi.text
                    ),
                )
            } else if d.is_float() {
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
                return Err(self.unsupported("an atomic without an op"));
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
        let l = self.lanes(r);
        let out = olds.chunks(l).map(|c| self.gather_lanes(c, elem)).collect();
        self.set_chunks(r, out);
        Ok(())
    }
}
