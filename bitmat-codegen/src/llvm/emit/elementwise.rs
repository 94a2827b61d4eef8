//! Constants and elementwise ops: `constant`, unary, binary, comparisons, `select`.
//!
//! Integer ops wrap; shift amounts are taken modulo the width; division and remainder never
//! trap (division by zero yields 0, `MIN / -1` wraps). Float ops on f16/bf16 compute in
//! `float` and round back. Float `min`/`max` are Rust's (a NaN operand yields the other).

use super::{vec, Emitter, Operand};
use crate::cpu::helpers::HelperId;
use crate::CodegenError;
use bitmat_ir::{BinaryOp, CmpPred, DType, Scalar, UnaryOp, ValueId};

/// The type suffix of an overloaded intrinsic for the vector type `<n x t>`: `v16i32`,
/// `v8f32`.
pub(crate) fn suffix(ty: &str) -> String {
    let inner = ty.trim_start_matches('<').trim_end_matches('>');
    let (n, t) = inner.split_once(" x ").unwrap_or(("1", inner));
    let t = match t {
        "float" => "f32",
        "double" => "f64",
        "half" => "f16",
        "ptr" => "p0",
        t => t,
    };
    format!("v{n}{t}")
}

/// A scalar constant's bits as an LLVM integer literal of its width (signed reading).
pub(crate) fn int_literal(s: Scalar) -> String {
    let bits = s.bits();
    match s.dtype().bits() {
        8 => (bits as u8 as i8).to_string(),
        16 => (bits as u16 as i16).to_string(),
        32 => (bits as u32 as i32).to_string(),
        _ => (bits as i64).to_string(),
    }
}

impl Emitter<'_> {
    /// `constant`: a splat of `s` over `r`'s shape (one splat shared by every chunk).
    pub(crate) fn constant(&mut self, s: Scalar, r: ValueId) -> Result<(), CodegenError> {
        let n = self.lanes(r);
        let o = match s.dtype() {
            DType::Bool => self.splat(if s.as_bool() { "true" } else { "false" }, "i1", n),
            DType::F32 => {
                let bits = self.splat(&int_literal(s), "i32", n);
                self.ins(
                    vec(n, "float"),
                    format!("bitcast {} {} to {}", bits.ty, bits.text, vec(n, "float")),
                )
            }
            d => {
                let elem = super::reg_elem(bitmat_ir::ElemType::Val(d));
                self.splat(&int_literal(s), elem, n)
            }
        };
        let count = self.numel(r).div_ceil(n);
        self.set_chunks(r, vec![o; count]);
        Ok(())
    }

    /// A splat of the integer `value` with the type of `like`.
    pub(crate) fn int_splat(&mut self, like: &Operand, value: i64) -> Operand {
        let n = super::vec_lanes(&like.ty);
        let elem = like
            .ty
            .rsplit(" x ")
            .next()
            .unwrap_or("i32")
            .trim_end_matches('>')
            .to_string();
        self.splat(&value.to_string(), &elem, n)
    }

    /// Elementwise op of one operand.
    pub(crate) fn unary(
        &mut self,
        op: UnaryOp,
        x: ValueId,
        r: ValueId,
    ) -> Result<(), CodegenError> {
        let d = self.dtype(x)?;
        self.map_chunks([x], r, |e, [v]| e.unary_chunk(op, d, v))
    }

    /// `op` on one chunk `v` of dtype `d`.
    fn unary_chunk(&mut self, op: UnaryOp, d: DType, v: &Operand) -> Result<Operand, CodegenError> {
        let ty = v.ty.clone();
        let n = super::vec_lanes(&ty);
        Ok(match (d, op) {
            (DType::Bool, UnaryOp::Not) => {
                let t = self.splat("true", "i1", n);
                self.ins(ty.clone(), format!("xor {ty} {}, {}", v.text, t.text))
            }
            (DType::Bool, _) => return Err(self.unsupported("on bool (only `not` is)")),
            (d, op) if d.is_int() => match op {
                UnaryOp::Neg => {
                    self.ins(ty.clone(), format!("sub {ty} zeroinitializer, {}", v.text))
                }
                UnaryOp::Not => {
                    let m = self.int_splat(v, -1);
                    self.ins(ty.clone(), format!("xor {ty} {}, {}", v.text, m.text))
                }
                UnaryOp::Abs if !d.is_signed_int() => v.clone(),
                UnaryOp::Abs => {
                    let f = Operand {
                        text: "false".into(),
                        ty: "i1".into(),
                    };
                    let name = format!("llvm.abs.{}", suffix(&ty));
                    self.intrinsic(&ty, &name, &[v, &f])
                }
                _ => return Err(self.unsupported(format!("`{op:?}` on integers"))),
            },
            (d, op) => {
                let w = self.widen(v, d);
                let wt = w.ty.clone();
                let res = match op {
                    UnaryOp::Neg => self.ins(wt.clone(), format!("fneg {wt} {}", w.text)),
                    UnaryOp::Abs => {
                        self.intrinsic(&wt, &format!("llvm.fabs.{}", suffix(&wt)), &[&w])
                    }
                    UnaryOp::Sqrt => {
                        self.intrinsic(&wt, &format!("llvm.sqrt.{}", suffix(&wt)), &[&w])
                    }
                    UnaryOp::Round => {
                        self.intrinsic(&wt, &format!("llvm.roundeven.{}", suffix(&wt)), &[&w])
                    }
                    UnaryOp::Rsqrt => {
                        let s = self.intrinsic(&wt, &format!("llvm.sqrt.{}", suffix(&wt)), &[&w]);
                        let one = self.float_splat(1.0, n);
                        self.ins(wt.clone(), format!("fdiv {wt} {}, {}", one.text, s.text))
                    }
                    UnaryOp::Floor => {
                        self.intrinsic(&wt, &format!("llvm.floor.{}", suffix(&wt)), &[&w])
                    }
                    UnaryOp::Ceil => {
                        self.intrinsic(&wt, &format!("llvm.ceil.{}", suffix(&wt)), &[&w])
                    }
                    UnaryOp::Not => return Err(self.unsupported("`not` on floats")),
                    op => {
                        let id = HelperId::for_unary(op)
                            .ok_or_else(|| self.unsupported(format!("`{op:?}` on floats")))?;
                        self.lanewise(&[(w, "float")], n, "float", |e, l| e.call_helper(id, &l))
                    }
                };
                self.narrow(&res, d)
            }
        })
    }

    /// A splat of the f32 `value` over `n` lanes.
    pub(crate) fn float_splat(&mut self, value: f32, n: usize) -> Operand {
        let bits = self.splat(&(value.to_bits() as i32).to_string(), "i32", n);
        self.ins(
            vec(n, "float"),
            format!("bitcast {} {} to {}", bits.ty, bits.text, vec(n, "float")),
        )
    }

    /// Elementwise op of two operands of one type.
    pub(crate) fn binary(
        &mut self,
        op: BinaryOp,
        x: ValueId,
        y: ValueId,
        r: ValueId,
    ) -> Result<(), CodegenError> {
        let d = self.dtype(x)?;
        self.map_chunks([x, y], r, |e, [a, b]| e.binary_values(op, d, a, b))
    }

    /// `fma(a, b, c)` on floats: the helper per lane, widened to f32 and narrowed back (one
    /// rounding in f32, as the interpreter's).
    pub(crate) fn fma(
        &mut self,
        a: ValueId,
        b: ValueId,
        c: ValueId,
        r: ValueId,
    ) -> Result<(), CodegenError> {
        let d = self.dtype(a)?;
        if !d.is_float() {
            return Err(self.unsupported(format!("`fma` on {d}")));
        }
        self.map_chunks([a, b, c], r, |e, [x, y, z]| {
            let n = super::vec_lanes(&x.ty);
            let ins = [x, y, z].map(|o| (e.widen(o, d), "float"));
            let res = e.lanewise(&ins, n, "float", |e, l| e.call_helper(HelperId::Fma, &l));
            Ok(e.narrow(&res, d))
        })
    }

    /// `a op b` on operands of dtype `d` (as held in registers).
    pub(crate) fn binary_values(
        &mut self,
        op: BinaryOp,
        d: DType,
        a: &Operand,
        b: &Operand,
    ) -> Result<Operand, CodegenError> {
        use BinaryOp as B;
        let ty = a.ty.clone();
        let simple = |e: &mut Self, inst: &str| {
            e.ins(ty.clone(), format!("{inst} {ty} {}, {}", a.text, b.text))
        };
        Ok(match d {
            DType::Bool => match op {
                B::And | B::Min => simple(self, "and"),
                B::Or | B::Max => simple(self, "or"),
                B::Xor => simple(self, "xor"),
                _ => return Err(self.unsupported(format!("`{op:?}` on bool"))),
            },
            d if d.is_int() => {
                let signed = d.is_signed_int();
                match op {
                    B::Add => simple(self, "add"),
                    B::Sub => simple(self, "sub"),
                    B::Mul => simple(self, "mul"),
                    B::And => simple(self, "and"),
                    B::Or => simple(self, "or"),
                    B::Xor => simple(self, "xor"),
                    B::Shl | B::Shr => {
                        let m = self.int_splat(b, i64::from(d.bits()) - 1);
                        let amount =
                            self.ins(ty.clone(), format!("and {ty} {}, {}", b.text, m.text));
                        let inst = match (op, signed) {
                            (B::Shl, _) => "shl",
                            (_, true) => "ashr",
                            (_, false) => "lshr",
                        };
                        self.ins(
                            ty.clone(),
                            format!("{inst} {ty} {}, {}", a.text, amount.text),
                        )
                    }
                    B::Min | B::Max => {
                        let name = match (op == B::Min, signed) {
                            (true, true) => "smin",
                            (true, false) => "umin",
                            (false, true) => "smax",
                            (false, false) => "umax",
                        };
                        self.intrinsic(&ty, &format!("llvm.{name}.{}", suffix(&ty)), &[a, b])
                    }
                    B::Div | B::Rem => self.safe_div(a, b, signed, op == B::Rem),
                }
            }
            d => {
                let (wa, wb) = (self.widen(a, d), self.widen(b, d));
                let wt = wa.ty.clone();
                let n = super::vec_lanes(&wt);
                let fl = |e: &mut Self, inst: &str| {
                    e.ins(wt.clone(), format!("{inst} {wt} {}, {}", wa.text, wb.text))
                };
                let res = match op {
                    B::Add => fl(self, "fadd"),
                    B::Sub => fl(self, "fsub"),
                    B::Mul => fl(self, "fmul"),
                    B::Div => fl(self, "fdiv"),
                    B::Rem => self.lanewise(
                        &[(wa.clone(), "float"), (wb.clone(), "float")],
                        n,
                        "float",
                        |e, l| e.call_helper(HelperId::Fmod, &l),
                    ),
                    B::Min | B::Max => self.float_min_max(op == B::Min, &wa, &wb),
                    _ => return Err(self.unsupported(format!("`{op:?}` on floats"))),
                };
                self.narrow(&res, d)
            }
        })
    }

    /// Rust's `f32::min`/`max`: a NaN operand yields the other; otherwise `y < x ? y : x`
    /// (min), `y > x ? y : x` (max).
    pub(crate) fn float_min_max(&mut self, min: bool, x: &Operand, y: &Operand) -> Operand {
        let n = super::vec_lanes(&x.ty);
        let bty = vec(n, "i1");
        let ty = &x.ty;
        let pred = if min { "olt" } else { "ogt" };
        let pick_y = self.ins(
            bty.clone(),
            format!("fcmp {pred} {ty} {}, {}", y.text, x.text),
        );
        let r = self.ins(
            ty.clone(),
            format!(
                "select {bty} {}, {ty} {}, {ty} {}",
                pick_y.text, y.text, x.text
            ),
        );
        let x_nan = self.ins(bty.clone(), format!("fcmp uno {ty} {}, {}", x.text, x.text));
        self.ins(
            ty.clone(),
            format!(
                "select {bty} {}, {ty} {}, {ty} {}",
                x_nan.text, y.text, r.text
            ),
        )
    }

    /// `a / b` or `a % b` with the IR's semantics: by zero yields 0, `MIN / -1` wraps.
    fn safe_div(&mut self, a: &Operand, b: &Operand, signed: bool, rem: bool) -> Operand {
        let ty = a.ty.clone();
        let n = super::vec_lanes(&ty);
        let bty = vec(n, "i1");
        let one = self.int_splat(b, 1);
        let zero = Operand {
            text: "zeroinitializer".into(),
            ty: ty.clone(),
        };
        let is_zero = self.ins(
            bty.clone(),
            format!("icmp eq {ty} {}, zeroinitializer", b.text),
        );
        let b1 = self.ins(
            ty.clone(),
            format!(
                "select {bty} {}, {ty} {}, {ty} {}",
                is_zero.text, one.text, b.text
            ),
        );
        let r = if signed {
            let m1 = self.int_splat(b, -1);
            let is_m1 = self.ins(
                bty.clone(),
                format!("icmp eq {ty} {}, {}", b1.text, m1.text),
            );
            let b2 = self.ins(
                ty.clone(),
                format!(
                    "select {bty} {}, {ty} {}, {ty} {}",
                    is_m1.text, one.text, b1.text
                ),
            );
            if rem {
                self.ins(ty.clone(), format!("srem {ty} {}, {}", a.text, b2.text))
            } else {
                let q = self.ins(ty.clone(), format!("sdiv {ty} {}, {}", a.text, b2.text));
                let neg = self.ins(ty.clone(), format!("sub {ty} zeroinitializer, {}", a.text));
                self.ins(
                    ty.clone(),
                    format!(
                        "select {bty} {}, {ty} {}, {ty} {}",
                        is_m1.text, neg.text, q.text
                    ),
                )
            }
        } else {
            let inst = if rem { "urem" } else { "udiv" };
            self.ins(ty.clone(), format!("{inst} {ty} {}, {}", a.text, b1.text))
        };
        self.ins(
            ty.clone(),
            format!(
                "select {bty} {}, {ty} {}, {ty} {}",
                is_zero.text, zero.text, r.text
            ),
        )
    }

    /// Elementwise comparison.
    pub(crate) fn cmp(
        &mut self,
        pred: CmpPred,
        x: ValueId,
        y: ValueId,
        r: ValueId,
    ) -> Result<(), CodegenError> {
        let d = self.ty(x).dtype();
        self.map_chunks([x, y], r, |e, [a, b]| Ok(e.cmp_chunk(pred, d, a, b)))
    }

    /// The comparison `pred` of chunks `a` and `b` of dtype `d`.
    fn cmp_chunk(&mut self, pred: CmpPred, d: Option<DType>, a: &Operand, b: &Operand) -> Operand {
        let bty = vec(super::vec_lanes(&a.ty), "i1");
        match d {
            Some(d) if d.is_float() => {
                let (wa, wb) = (self.widen(a, d), self.widen(b, d));
                let p = match pred {
                    CmpPred::Eq => "oeq",
                    CmpPred::Ne => "une",
                    CmpPred::Lt => "olt",
                    CmpPred::Le => "ole",
                    CmpPred::Gt => "ogt",
                    CmpPred::Ge => "oge",
                };
                self.ins(bty, format!("fcmp {p} {} {}, {}", wa.ty, wa.text, wb.text))
            }
            d => {
                let signed = d.is_some_and(DType::is_signed_int);
                let p = match (pred, signed) {
                    (CmpPred::Eq, _) => "eq",
                    (CmpPred::Ne, _) => "ne",
                    (CmpPred::Lt, true) => "slt",
                    (CmpPred::Le, true) => "sle",
                    (CmpPred::Gt, true) => "sgt",
                    (CmpPred::Ge, true) => "sge",
                    (CmpPred::Lt, false) => "ult",
                    (CmpPred::Le, false) => "ule",
                    (CmpPred::Gt, false) => "ugt",
                    (CmpPred::Ge, false) => "uge",
                };
                self.ins(bty, format!("icmp {p} {} {}, {}", a.ty, a.text, b.text))
            }
        }
    }

    /// `select(cond, a, b)` elementwise.
    pub(crate) fn select(
        &mut self,
        cond: ValueId,
        t: ValueId,
        f: ValueId,
        r: ValueId,
    ) -> Result<(), CodegenError> {
        self.map_chunks([cond, t, f], r, |e, [c, a, b]| {
            let ty = a.ty.clone();
            Ok(e.ins(
                ty.clone(),
                format!(
                    "select {} {}, {ty} {}, {ty} {}",
                    c.ty, c.text, a.text, b.text
                ),
            ))
        })
    }
}
