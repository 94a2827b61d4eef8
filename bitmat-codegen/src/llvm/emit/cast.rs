//! `cast` (Rust `as` semantics), `bitcast`, and the f16/bf16 conversions every float op uses.
//!
//! f16 <-> f32 are LLVM's `fpext`/`fptrunc` on `half` (`vcvtph2ps`/`vcvtps2ph` with F16C),
//! bf16 <-> f32 integer sequences bit-exact with the `half` crate. Float to integer casts
//! saturate and map NaN to 0 (`llvm.fpto[su]i.sat`). Integer to f16/bf16 casts round once,
//! through [`bitmat_ir::Scalar::cast`] (a helper call per lane), and so does every cast from or
//! to an fp8 type (held as its `i8` bits), which is then bit-exact with the interpreter.

use super::elementwise::suffix;
use super::{reg_elem, vec, vec_lanes, Emitter, Operand};
use crate::cpu::helpers::{dtype_index, HelperId};
use crate::CodegenError;
use bitmat_ir::{DType, ElemType, ValueId};

impl Emitter<'_> {
    /// `o` (dtype `d`, a float type, as held in registers) as `<n x float>`.
    pub(crate) fn widen(&mut self, o: &Operand, d: DType) -> Operand {
        let n = vec_lanes(&o.ty);
        let f = vec(n, "float");
        match d {
            DType::F16 => {
                let h = self.ins(
                    vec(n, "half"),
                    format!("bitcast {} {} to {}", o.ty, o.text, vec(n, "half")),
                );
                self.ins(f.clone(), format!("fpext {} {} to {f}", h.ty, h.text))
            }
            DType::BF16 => {
                let w = self.ins(
                    vec(n, "i32"),
                    format!("zext {} {} to {}", o.ty, o.text, vec(n, "i32")),
                );
                let s = self.int_splat(&w, 16);
                let sh = self.ins(w.ty.clone(), format!("shl {} {}, {}", w.ty, w.text, s.text));
                self.ins(f.clone(), format!("bitcast {} {} to {f}", sh.ty, sh.text))
            }
            _ => o.clone(),
        }
    }

    /// `<n x float>` rounded to nearest even as dtype `d` (f16/bf16 bits as `i16`).
    pub(crate) fn narrow(&mut self, o: &Operand, d: DType) -> Operand {
        let n = vec_lanes(&o.ty);
        let i16t = vec(n, "i16");
        match d {
            DType::F16 => {
                let h = self.ins(
                    vec(n, "half"),
                    format!("fptrunc {} {} to {}", o.ty, o.text, vec(n, "half")),
                );
                self.ins(
                    i16t.clone(),
                    format!("bitcast {} {} to {i16t}", h.ty, h.text),
                )
            }
            DType::BF16 => {
                // `half::bf16::from_f32`: NaN keeps its top bits, made quiet; otherwise round
                // the low 16 bits to nearest, ties to even.
                let it = vec(n, "i32");
                let bty = vec(n, "i1");
                let x = self.ins(it.clone(), format!("bitcast {} {} to {it}", o.ty, o.text));
                let c = |e: &mut Self, v: i64| e.int_splat(&x, v);
                let (abs_m, inf, sixteen, quiet, half_bit, sticky) = (
                    c(self, 0x7fff_ffff),
                    c(self, 0x7f80_0000),
                    c(self, 16),
                    c(self, 0x40),
                    c(self, 0x8000),
                    c(self, 0x17fff),
                );
                let abs = self.ins(it.clone(), format!("and {it} {}, {}", x.text, abs_m.text));
                let nan = self.ins(
                    bty.clone(),
                    format!("icmp ugt {it} {}, {}", abs.text, inf.text),
                );
                let hi = self.ins(
                    it.clone(),
                    format!("lshr {it} {}, {}", x.text, sixteen.text),
                );
                let qnan = self.ins(it.clone(), format!("or {it} {}, {}", hi.text, quiet.text));
                // Round up when the half bit is set and the bits below it or the kept lowest
                // bit are (not a tie to an even value).
                let hb = self.ins(
                    it.clone(),
                    format!("and {it} {}, {}", x.text, half_bit.text),
                );
                let hb_set = self.ins(
                    bty.clone(),
                    format!("icmp ne {it} {}, zeroinitializer", hb.text),
                );
                let st = self.ins(it.clone(), format!("and {it} {}, {}", x.text, sticky.text));
                let st_nz = self.ins(
                    bty.clone(),
                    format!("icmp ne {it} {}, zeroinitializer", st.text),
                );
                let up = self.ins(
                    bty.clone(),
                    format!("and {bty} {}, {}", hb_set.text, st_nz.text),
                );
                let upw = self.ins(it.clone(), format!("zext {bty} {} to {it}", up.text));
                let rounded = self.ins(it.clone(), format!("add {it} {}, {}", hi.text, upw.text));
                let r = self.ins(
                    it.clone(),
                    format!(
                        "select {bty} {}, {it} {}, {it} {}",
                        nan.text, qnan.text, rounded.text
                    ),
                );
                self.ins(i16t.clone(), format!("trunc {it} {} to {i16t}", r.text))
            }
            _ => o.clone(),
        }
    }

    /// `x as T` for every element, `T` the element type of `r`.
    pub(crate) fn cast(&mut self, x: ValueId, r: ValueId) -> Result<(), CodegenError> {
        let (from, to) = (self.dtype(x)?, self.dtype(r)?);
        self.map_chunks([x], r, |e, [v]| Ok(e.cast_chunk(v.clone(), from, to)))
    }

    /// One chunk `v` of dtype `from` cast to `to`.
    fn cast_chunk(&mut self, v: Operand, from: DType, to: DType) -> Operand {
        let n = vec_lanes(&v.ty);
        let rty = vec(n, reg_elem(ElemType::Val(to)));
        if from == to {
            v
        } else if from.is_fp8() || to.is_fp8() {
            self.cast_by_helper(v, from, to)
        } else if to == DType::Bool {
            let bty = vec(n, "i1");
            if from.is_float() {
                let w = self.widen(&v, from);
                self.ins(
                    bty,
                    format!("fcmp une {} {}, zeroinitializer", w.ty, w.text),
                )
            } else {
                self.ins(bty, format!("icmp ne {} {}, zeroinitializer", v.ty, v.text))
            }
        } else if from.is_float() && to.is_float() {
            let w = self.widen(&v, from);
            self.narrow(&w, to)
        } else if from.is_float() {
            let w = self.widen(&v, from);
            let name = if to.is_signed_int() {
                "fptosi"
            } else {
                "fptoui"
            };
            let name = format!("llvm.{name}.sat.{}.{}", suffix(&rty), suffix(&w.ty));
            self.intrinsic(&rty, &name, &[&w])
        } else if to == DType::F32 {
            let inst = if from.is_signed_int() {
                "sitofp"
            } else {
                "uitofp"
            };
            self.ins(rty.clone(), format!("{inst} {} {} to {rty}", v.ty, v.text))
        } else if to.is_float() && from == DType::Bool {
            let f = self.ins(
                vec(n, "float"),
                format!("uitofp {} {} to {}", v.ty, v.text, vec(n, "float")),
            );
            self.narrow(&f, to)
        } else if to.is_float() {
            let (fi, ti) = (dtype_index(from), dtype_index(to));
            let elem = reg_elem(ElemType::Val(from));
            self.lanewise(&[(v, elem)], n, "i16", |e, l| {
                let bits = if elem == "i64" {
                    l[0].clone()
                } else {
                    e.ins("i64", format!("zext {elem} {} to i64", l[0].text))
                };
                let args = [
                    bits,
                    Operand {
                        text: fi.to_string(),
                        ty: "i32".into(),
                    },
                    Operand {
                        text: ti.to_string(),
                        ty: "i32".into(),
                    },
                ];
                let out = e.call_helper(HelperId::Cast, &args);
                e.ins("i16", format!("trunc i64 {} to i16", out.text))
            })
        } else {
            let (fb, tb) = (from.bits(), to.bits());
            let fb = if from == DType::Bool { 1 } else { fb };
            if fb == tb {
                v
            } else if fb > tb {
                self.ins(rty.clone(), format!("trunc {} {} to {rty}", v.ty, v.text))
            } else if from.is_signed_int() {
                self.ins(rty.clone(), format!("sext {} {} to {rty}", v.ty, v.text))
            } else {
                self.ins(rty.clone(), format!("zext {} {} to {rty}", v.ty, v.text))
            }
        }
    }

    /// Chunk `v` of `from` cast to `to` lane by lane through [`bitmat_ir::Scalar::cast`].
    fn cast_by_helper(&mut self, v: Operand, from: DType, to: DType) -> Operand {
        let n = vec_lanes(&v.ty);
        let (fi, ti) = (dtype_index(from), dtype_index(to));
        let (elem, out) = (reg_elem(ElemType::Val(from)), reg_elem(ElemType::Val(to)));
        self.lanewise(&[(v, elem)], n, out, |e, l| {
            let bits = match elem {
                "i64" => l[0].clone(),
                "float" => {
                    let i = e.ins("i32", format!("bitcast float {} to i32", l[0].text));
                    e.ins("i64", format!("zext i32 {} to i64", i.text))
                }
                _ => e.ins("i64", format!("zext {elem} {} to i64", l[0].text)),
            };
            let int = |text: String| Operand {
                text,
                ty: "i32".into(),
            };
            let args = [bits, int(fi.to_string()), int(ti.to_string())];
            let r = e.call_helper(HelperId::Cast, &args);
            match out {
                "i64" => r,
                "float" => {
                    let i = e.ins("i32", format!("trunc i64 {} to i32", r.text));
                    e.ins("float", format!("bitcast i32 {} to float", i.text))
                }
                t => e.ins(t, format!("trunc i64 {} to {t}", r.text)),
            }
        })
    }

    /// `x.bitcast::<T>()`: the same bits (f16/bf16 are already `i16` bits).
    pub(crate) fn bitcast(&mut self, x: ValueId, r: ValueId) -> Result<(), CodegenError> {
        let rty = self.vty(r);
        let from_bool = self.ty(x).dtype() == Some(DType::Bool);
        let to_bool = self.ty(r).dtype() == Some(DType::Bool);
        self.map_chunks([x], r, |e, [v]| {
            Ok(if v.ty == rty {
                v.clone()
            } else {
                let inst = match (from_bool, to_bool) {
                    (true, _) => "zext",
                    (_, true) => "trunc",
                    _ => "bitcast",
                };
                e.ins(rty.clone(), format!("{inst} {} {} to {rty}", v.ty, v.text))
            })
        })
    }
}
