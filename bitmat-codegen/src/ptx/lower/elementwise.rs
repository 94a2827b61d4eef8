//! Elementwise ops: constants, grid queries, `arange`, unary and binary arithmetic,
//! comparisons, `select`, casts and bitcasts. Each slot of the result is computed from the
//! same slot of the operands, converted to the result's layout where theirs differs.
//!
//! `exp`, `exp2`, `log` and `log2` use the hardware approximations `ex2.approx`/`lg2.approx`
//! (`exp2` within 2 ulp, `log2` within `2^-22` absolute, `log` about 2 ulp of f32 relative
//! error, and `exp` an error growing with `|x|` from rounding `x * log2(e)`: about
//! `|x| * 2^-24` relative); `sin`, `cos`, `tanh`, `erf` and `sigmoid` are sequences of f32
//! arithmetic with the bounds that `math.rs` states; every other float op (`floor` and `ceil`
//! included) is correctly rounded like the interpreter's. Float `rem` is `a - trunc(a / b) * b` with one rounding, exact
//! while `|a / b| < 2^24`.

use super::{int_ty, math};
use crate::ptx::emit::Emitter;
use crate::ptx::layout::Layout;
use crate::ptx::regs::{class_of, dclass, Class};
use crate::CodegenError;
use bitmat_ir::passes::intervals::Interval;
use bitmat_ir::{BinaryOp, CmpPred, DType, Op, OpKind, Scalar, UnaryOp, ValueId};

/// f32 immediate of `x`.
fn fimm(x: f32) -> String {
    format!("0f{:08X}", x.to_bits())
}

impl Emitter<'_> {
    /// The registers of operand `x` of the op defining `res`, in `res`'s layout.
    pub(crate) fn operand(
        &mut self,
        res: ValueId,
        x: ValueId,
    ) -> Result<Vec<String>, CodegenError> {
        let l = self.layout(res);
        self.get_as(x, &l)
    }

    /// `constant`: one register, shared by every slot.
    pub(crate) fn lower_constant(&mut self, res: ValueId, s: Scalar) -> Result<(), CodegenError> {
        let d = self.dtype(res)?;
        let r = self.constant_register(d, s);
        let n = self.layout(res).slots() as usize;
        self.define(res, vec![r; n]);
        Ok(())
    }

    /// A fresh register holding `s` as a value of type `d` is held.
    pub(crate) fn constant_register(&mut self, d: DType, s: Scalar) -> String {
        let r = self.reg(dclass(d));
        match dclass(d) {
            Class::Pred => {
                let t = self.reg(Class::B32);
                self.line(format!("mov.u32 {t}, {};", u32::from(s.as_bool())));
                self.line(format!("setp.ne.u32 {r}, {t}, 0;"));
            }
            Class::B32 => self.line(format!("mov.b32 {r}, 0x{:08X};", s.as_i64() as u32)),
            Class::B64 => self.line(format!("mov.b64 {r}, 0x{:016X};", s.bits())),
            Class::F32 | Class::B16 => self.line(format!("mov.f32 {r}, {};", fimm(s.as_f32()))),
        }
        r
    }

    /// `program_id` / `num_programs`: `%ctaid` / `%nctaid`.
    pub(crate) fn lower_special(
        &mut self,
        res: ValueId,
        sreg: &str,
        axis: u8,
    ) -> Result<(), CodegenError> {
        let dim = ["x", "y", "z"]
            .get(usize::from(axis))
            .ok_or_else(|| self.unsupported(format!("grid axis {axis} out of range")))?;
        let r = self.reg(Class::B32);
        self.line(format!("mov.u32 {r}, %{sreg}.{dim};"));
        self.define(res, vec![r]);
        Ok(())
    }

    /// `arange(n)`: each slot holds its element index.
    pub(crate) fn lower_arange(&mut self, res: ValueId) -> Result<(), CodegenError> {
        let l = self.layout(res);
        let regs = (0..l.slots()).map(|j| self.elem_index(&l, j)).collect();
        self.define(res, regs);
        Ok(())
    }

    pub(crate) fn lower_unary(
        &mut self,
        res: ValueId,
        op: UnaryOp,
        x: ValueId,
    ) -> Result<(), CodegenError> {
        let d = self.dtype(x)?;
        let xs = self.operand(res, x)?;
        let out = self.fresh(res);
        for (dst, a) in out.iter().zip(&xs) {
            self.unary_one(op, d, dst, a)?;
        }
        Ok(())
    }

    fn unary_one(&mut self, op: UnaryOp, d: DType, dst: &str, a: &str) -> Result<(), CodegenError> {
        let bad = || format!("`{op:?}` is not defined on {d}");
        match dclass(d) {
            Class::Pred => match op {
                UnaryOp::Not => self.line(format!("not.pred {dst}, {a};")),
                _ => return Err(self.unsupported(bad())),
            },
            Class::B32 | Class::B64 => {
                let w = if dclass(d) == Class::B64 { "64" } else { "32" };
                match op {
                    UnaryOp::Neg => self.line(format!("neg.s{w} {dst}, {a};")),
                    UnaryOp::Not => self.line(format!("not.b{w} {dst}, {a};")),
                    UnaryOp::Abs if d.is_signed_int() => self.line(format!("abs.s{w} {dst}, {a};")),
                    UnaryOp::Abs => self.line(format!("mov.b{w} {dst}, {a};")),
                    _ => return Err(self.unsupported(bad())),
                }
                self.normalize(d, dst);
            }
            Class::F32 | Class::B16 => {
                match op {
                    UnaryOp::Neg => self.line(format!("neg.f32 {dst}, {a};")),
                    UnaryOp::Abs => self.line(format!("abs.f32 {dst}, {a};")),
                    UnaryOp::Round => self.line(format!("cvt.rni.f32.f32 {dst}, {a};")),
                    UnaryOp::Sqrt => self.line(format!("sqrt.rn.f32 {dst}, {a};")),
                    UnaryOp::Rsqrt => {
                        let t = self.reg(Class::F32);
                        self.line(format!("sqrt.rn.f32 {t}, {a};"));
                        self.line(format!("rcp.rn.f32 {dst}, {t};"));
                    }
                    UnaryOp::Exp => {
                        let t = self.reg(Class::F32);
                        let log2e = fimm(std::f32::consts::LOG2_E);
                        self.line(format!("mul.rn.f32 {t}, {a}, {log2e};"));
                        self.line(format!("ex2.approx.f32 {dst}, {t};"));
                    }
                    UnaryOp::Log => {
                        let t = self.reg(Class::F32);
                        self.line(format!("lg2.approx.f32 {t}, {a};"));
                        let ln2 = fimm(std::f32::consts::LN_2);
                        self.line(format!("mul.rn.f32 {dst}, {t}, {ln2};"));
                    }
                    UnaryOp::Floor => self.line(format!("cvt.rmi.f32.f32 {dst}, {a};")),
                    UnaryOp::Ceil => self.line(format!("cvt.rpi.f32.f32 {dst}, {a};")),
                    UnaryOp::Exp2 => self.line(format!("ex2.approx.f32 {dst}, {a};")),
                    UnaryOp::Log2 => self.line(format!("lg2.approx.f32 {dst}, {a};")),
                    UnaryOp::Sin
                    | UnaryOp::Cos
                    | UnaryOp::Tanh
                    | UnaryOp::Erf
                    | UnaryOp::Sigmoid => {
                        let x = a.to_string();
                        let mut o = math::PtxOps(self);
                        let r = match op {
                            UnaryOp::Sin => math::sin_cos(&mut o, &x, 0),
                            UnaryOp::Cos => math::sin_cos(&mut o, &x, 1),
                            UnaryOp::Tanh => math::tanh(&mut o, &x),
                            UnaryOp::Erf => math::erf(&mut o, &x),
                            _ => math::sigmoid(&mut o, &x),
                        };
                        self.line(format!("mov.f32 {dst}, {r};"));
                    }
                    UnaryOp::Not => return Err(self.unsupported(bad())),
                }
                if !matches!(
                    op,
                    UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Round | UnaryOp::Floor | UnaryOp::Ceil
                ) {
                    self.normalize(d, dst);
                }
            }
        }
        Ok(())
    }

    pub(crate) fn lower_binary(
        &mut self,
        res: ValueId,
        op: BinaryOp,
        x: ValueId,
        y: ValueId,
    ) -> Result<(), CodegenError> {
        let d = self.dtype(x)?;
        let (xs, ys) = (self.operand(res, x)?, self.operand(res, y)?);
        let out = self.fresh(res);
        let normalize = !self.lazy(res);
        for ((dst, a), b) in out.iter().zip(&xs).zip(&ys) {
            self.binary_one(op, d, dst, a, b, normalize)?;
        }
        Ok(())
    }

    /// `dst = a op b` on values of type `d`, the result normalized to `d` when `normalize`
    /// (else see [`crate::ptx::narrow`]).
    pub(crate) fn binary_one(
        &mut self,
        op: BinaryOp,
        d: DType,
        dst: &str,
        a: &str,
        b: &str,
        normalize: bool,
    ) -> Result<(), CodegenError> {
        let bad = || format!("`{op:?}` is not defined on {d}");
        match dclass(d) {
            Class::Pred => {
                let i = match op {
                    BinaryOp::And | BinaryOp::Min => "and",
                    BinaryOp::Or | BinaryOp::Max => "or",
                    BinaryOp::Xor => "xor",
                    _ => return Err(self.unsupported(bad())),
                };
                self.line(format!("{i}.pred {dst}, {a}, {b};"));
            }
            Class::B32 | Class::B64 => {
                let t = int_ty(d);
                let w = if dclass(d) == Class::B64 { 64 } else { 32 };
                match op {
                    BinaryOp::Add => self.line(format!("add.{t} {dst}, {a}, {b};")),
                    BinaryOp::Sub => self.line(format!("sub.{t} {dst}, {a}, {b};")),
                    BinaryOp::Mul => self.line(format!("mul.lo.{t} {dst}, {a}, {b};")),
                    BinaryOp::Div => self.line(format!("div.{t} {dst}, {a}, {b};")),
                    BinaryOp::Rem => self.line(format!("rem.{t} {dst}, {a}, {b};")),
                    BinaryOp::And => self.line(format!("and.b{w} {dst}, {a}, {b};")),
                    BinaryOp::Or => self.line(format!("or.b{w} {dst}, {a}, {b};")),
                    BinaryOp::Xor => self.line(format!("xor.b{w} {dst}, {a}, {b};")),
                    BinaryOp::Min => self.line(format!("min.{t} {dst}, {a}, {b};")),
                    BinaryOp::Max => self.line(format!("max.{t} {dst}, {a}, {b};")),
                    BinaryOp::Shl | BinaryOp::Shr => {
                        let amount = self.shift_amount(d, b);
                        if op == BinaryOp::Shl {
                            self.line(format!("shl.b{w} {dst}, {a}, {amount};"));
                        } else {
                            self.line(format!("shr.{t} {dst}, {a}, {amount};"));
                        }
                    }
                }
                if normalize {
                    self.normalize(d, dst);
                }
            }
            Class::F32 | Class::B16 => {
                match op {
                    BinaryOp::Add => self.line(format!("add.rn.f32 {dst}, {a}, {b};")),
                    BinaryOp::Sub => self.line(format!("sub.rn.f32 {dst}, {a}, {b};")),
                    BinaryOp::Mul => self.line(format!("mul.rn.f32 {dst}, {a}, {b};")),
                    BinaryOp::Div => self.line(format!("div.rn.f32 {dst}, {a}, {b};")),
                    BinaryOp::Min => self.line(format!("min.f32 {dst}, {a}, {b};")),
                    BinaryOp::Max => self.line(format!("max.f32 {dst}, {a}, {b};")),
                    BinaryOp::Rem => self.float_rem(dst, a, b),
                    _ => return Err(self.unsupported(bad())),
                }
                if normalize && !matches!(op, BinaryOp::Min | BinaryOp::Max) {
                    self.normalize(d, dst);
                }
            }
        }
        Ok(())
    }

    /// The shift amount `b` modulo the bit width of `d`, as a `.b32` register.
    fn shift_amount(&mut self, d: DType, b: &str) -> String {
        let r = self.reg(Class::B32);
        if dclass(d) == Class::B64 {
            let t = self.reg(Class::B64);
            self.line(format!("and.b64 {t}, {b}, 63;"));
            self.line(format!("cvt.u32.u64 {r}, {t};"));
        } else {
            self.line(format!("and.b32 {r}, {b}, {};", d.bits() - 1));
        }
        r
    }

    /// `fmod(a, b)`: `a - trunc(a / b) * b` in one rounding, the quotient corrected by one
    /// when `a / b` rounded up to an integer, the sign of zero taken from `a`.
    fn float_rem(&mut self, dst: &str, a: &str, b: &str) {
        let (q, ab) = (self.reg(Class::F32), self.reg(Class::F32));
        let (p, p2) = (self.reg(Class::Pred), self.reg(Class::Pred));
        self.line(format!("div.rn.f32 {q}, {a}, {b};"));
        self.line(format!("cvt.rzi.f32.f32 {q}, {q};"));
        self.line(format!("neg.f32 {q}, {q};"));
        self.line(format!("fma.rn.f32 {dst}, {q}, {b}, {a};"));
        self.line(format!("abs.f32 {ab}, {b};"));
        let zero = fimm(0.0);
        self.line(format!("setp.lt.f32 {p}, {dst}, {zero};"));
        self.line(format!("setp.gt.f32 {p2}, {a}, {zero};"));
        self.line(format!("and.pred {p}, {p}, {p2};"));
        self.line(format!("@{p} add.rn.f32 {dst}, {dst}, {ab};"));
        self.line(format!("setp.gt.f32 {p}, {dst}, {zero};"));
        self.line(format!("setp.lt.f32 {p2}, {a}, {zero};"));
        self.line(format!("and.pred {p}, {p}, {p2};"));
        self.line(format!("@{p} sub.rn.f32 {dst}, {dst}, {ab};"));
        // fmod(finite, ±inf) = a.
        self.line(format!("setp.eq.f32 {p}, {ab}, {};", fimm(f32::INFINITY)));
        self.line(format!("testp.finite.f32 {p2}, {a};"));
        self.line(format!("and.pred {p}, {p}, {p2};"));
        self.line(format!("@{p} mov.f32 {dst}, {a};"));
        self.line(format!("copysign.f32 {dst}, {a}, {dst};"));
    }

    pub(crate) fn lower_cmp(
        &mut self,
        res: ValueId,
        pred: CmpPred,
        x: ValueId,
        y: ValueId,
    ) -> Result<(), CodegenError> {
        let d = self.dtype(x)?;
        let (xs, ys) = (self.operand(res, x)?, self.operand(res, y)?);
        let out = self.fresh(res);
        let p = match pred {
            CmpPred::Eq => "eq",
            CmpPred::Ne if d.is_float() => "neu",
            CmpPred::Ne => "ne",
            CmpPred::Lt => "lt",
            CmpPred::Le => "le",
            CmpPred::Gt => "gt",
            CmpPred::Ge => "ge",
        };
        for ((dst, a), b) in out.iter().zip(&xs).zip(&ys) {
            match dclass(d) {
                Class::Pred => {
                    let (ta, tb) = (self.reg(Class::B32), self.reg(Class::B32));
                    self.line(format!("selp.u32 {ta}, 1, 0, {a};"));
                    self.line(format!("selp.u32 {tb}, 1, 0, {b};"));
                    self.line(format!("setp.{p}.u32 {dst}, {ta}, {tb};"));
                }
                Class::F32 | Class::B16 => self.line(format!("setp.{p}.f32 {dst}, {a}, {b};")),
                _ => self.line(format!("setp.{p}.{} {dst}, {a}, {b};", int_ty(d))),
            }
        }
        Ok(())
    }

    pub(crate) fn lower_select(
        &mut self,
        res: ValueId,
        cond: ValueId,
        t: ValueId,
        f: ValueId,
    ) -> Result<(), CodegenError> {
        let c = class_of(self.k.ty(res).elem);
        let (cs, ts, fs) = (
            self.operand(res, cond)?,
            self.operand(res, t)?,
            self.operand(res, f)?,
        );
        let out = self.fresh(res);
        for (((dst, p), a), b) in out.iter().zip(&cs).zip(&ts).zip(&fs) {
            self.select_one(c, dst, p, a, b);
        }
        Ok(())
    }

    /// `fma(a, b, c)`: `fma.rn.f32` (f16/bf16 rounded after, as the interpreter does).
    pub(crate) fn lower_fma(
        &mut self,
        res: ValueId,
        a: ValueId,
        b: ValueId,
        c: ValueId,
    ) -> Result<(), CodegenError> {
        let d = self.dtype(res)?;
        if !d.is_float() {
            return Err(self.unsupported(format!("`fma` is not defined on {d}")));
        }
        let (xs, ys, zs) = (
            self.operand(res, a)?,
            self.operand(res, b)?,
            self.operand(res, c)?,
        );
        let out = self.fresh(res);
        for (((dst, x), y), z) in out.iter().zip(&xs).zip(&ys).zip(&zs) {
            self.line(format!("fma.rn.f32 {dst}, {x}, {y}, {z};"));
            self.normalize(d, dst);
        }
        Ok(())
    }

    /// `dst = p ? a : b` for registers of class `c`.
    pub(crate) fn select_one(&mut self, c: Class, dst: &str, p: &str, a: &str, b: &str) {
        match c {
            Class::Pred => {
                self.line(format!("@{p} mov.pred {dst}, {a};"));
                self.line(format!("@!{p} mov.pred {dst}, {b};"));
            }
            Class::F32 => self.line(format!("selp.f32 {dst}, {a}, {b}, {p};")),
            Class::B16 => self.line(format!("selp.b16 {dst}, {a}, {b}, {p};")),
            Class::B32 => self.line(format!("selp.b32 {dst}, {a}, {b}, {p};")),
            Class::B64 => self.line(format!("selp.b64 {dst}, {a}, {b}, {p};")),
        }
    }

    pub(crate) fn lower_cast(&mut self, res: ValueId, x: ValueId) -> Result<(), CodegenError> {
        let (from, to) = (self.dtype(x)?, self.dtype(res)?);
        if let Some(plan) = self.small_int_to_float(x, from, to) {
            let base = self.operand(res, plan.base)?;
            let out = self.fresh(res);
            let normalize = !self.lazy(res) && !plan.exact_in(to);
            let wide = dclass(self.dtype(plan.base)?) == Class::B64;
            for (dst, a) in out.iter().zip(&base) {
                let low = if wide {
                    let low = self.reg(Class::B32);
                    self.line(format!("cvt.u32.u64 {low}, {a};"));
                    low
                } else {
                    a.clone()
                };
                // (a & and) ^ (xor ^ 2^23): `lop3` with table 0x6A = (a & b) ^ c.
                let bits = self.reg(Class::B32);
                self.line(format!(
                    "lop3.b32 {bits}, {low}, 0x{:08X}, 0x{:08X}, 0x6A;",
                    plan.and,
                    plan.xor ^ MAGIC.to_bits()
                ));
                self.line(format!(
                    "sub.f32 {dst}, {bits}, {};",
                    fimm(plan.subtrahend())
                ));
                if normalize {
                    self.normalize(to, dst);
                }
            }
            return Ok(());
        }
        let xs = self.operand(res, x)?;
        if from == to {
            self.define(res, xs);
            return Ok(());
        }
        let out = self.fresh(res);
        let normalize = !self.lazy(res);
        for (dst, a) in out.iter().zip(&xs) {
            self.cast_one(from, to, dst, a, normalize);
        }
        Ok(())
    }

    /// The op that defines `v`, looking through reshapes (`reshape`, `expand_dims`, `hint`:
    /// they share their operand's registers).
    fn through_reshapes(&self, mut v: ValueId) -> Option<&Op> {
        loop {
            let op = self.def(v)?;
            match op.kind {
                OpKind::Reshape(x)
                | OpKind::ExpandDims { value: x, .. }
                | OpKind::Hint { value: x, .. } => v = x,
                _ => return Some(op),
            }
        }
    }

    /// How to convert integer `x` (of type `from`) to float type `to` without `cvt` (a
    /// conversion, at a quarter of the rate of an `xor` and an eighth of a `sub.f32` on sm_80
    /// and later), where its range ([`Self::interval`]) allows: `None` where it does not.
    ///
    /// A value `y` in `[0, 2^23)` put into the mantissa of `2^23` is the float `2^23 + y`
    /// (one `xor`), and `2^23 + y - (2^23 - c)` is `y + c` rounded once (one `sub.f32`): `x =
    /// y + c` (or `y - c`) with a constant `c` is converted from `y`, so that the `xor` can
    /// join the `and`/`xor` that made `y` (ptxas merges them into one `lop3`), as a decoded int4
    /// weight's `((w >> s) & 15 ^ 8) - 8`. Taken only where it replaces such an op: a bare
    /// value is converted by `cvt`.
    fn small_int_to_float(&self, x: ValueId, from: DType, to: DType) -> Option<SmallIntToFloat> {
        if !(from.is_int()
            && from.bits() <= 32
            && matches!(to, DType::F32 | DType::F16 | DType::BF16))
        {
            return None;
        }
        let value = self.interval(x)?;
        // `x = y + c` (up to reshapes, which share registers) with `y` in the unsigned magic's
        // range: converted from `y`. Only 32-bit `y`: narrower ones may be held unnormalized
        // ([`crate::ptx::narrow`]).
        let peeled = self.through_reshapes(x).and_then(|op| {
            let (y, c) = match op.kind {
                OpKind::Binary(BinaryOp::Add, a, b) => {
                    match (self.constant_value(a), self.constant_value(b)) {
                        (_, Some(c)) => (a, c.as_i64()),
                        (Some(c), _) => (b, c.as_i64()),
                        _ => return None,
                    }
                }
                OpKind::Binary(BinaryOp::Sub, a, b) => (a, -self.constant_value(b)?.as_i64()),
                _ => return None,
            };
            let small = Interval::new(0, (1 << 23) - 1);
            let fits = self.interval(y)?.within(small) && c.unsigned_abs() < 1 << 22;
            (fits && from.bits() == 32 && self.layout(y) == self.layout(x)).then_some((y, c))
        });
        let (y, offset) = match peeled {
            Some((y, c)) => (y, c),
            None if value.within(Interval::new(0, (1 << 23) - 1)) => (x, 0),
            None => return None,
        };
        let (base, and, xor) = self.bitwise_source(y, &self.layout(x));
        // Only where the magic takes the place of an op (the constant's addition or a bitwise
        // op): otherwise it is one instruction more than `cvt`, a loss wherever the
        // conversion pipe is not what limits the kernel.
        if offset == 0 && base == y {
            return None;
        }
        Some(SmallIntToFloat {
            base,
            and,
            xor,
            offset,
            value,
        })
    }

    /// The low 32 bits of `v` as `(z & and) ^ xor`, for the chain of `&`, `|` and `^` by
    /// constants and integer casts (which keep the low bits) over integers of at least 32
    /// bits that made `v` from `z` (a chain of bitwise ops by constants is, bit by bit, `0`, `1`, `z`
    /// or `!z`), walked while the values have layout `l` (their registers correspond): the
    /// whole chain and the magic number's `xor` are then one `lop3`, as ptxas, which takes
    /// one immediate per `lop3`, does not merge `(w & 15) ^ c` itself.
    fn bitwise_source(&self, v: ValueId, l: &Layout) -> (ValueId, u32, u32) {
        let (mut z, mut and, mut xor) = (v, u32::MAX, 0u32);
        // Integers of at least 32 bits: their registers hold all the low 32 bits.
        let wide = |v: ValueId| self.dtype(v).is_ok_and(|d| d.is_int() && d.bits() >= 32);
        let constant = |v: ValueId| self.constant_value(v).map(|c| c.as_i64() as u32);
        while let Some(op) = self.through_reshapes(z).filter(|_| wide(z)) {
            let (next, step_and, step_xor) = match op.kind {
                OpKind::Cast(w) => (w, and, xor),
                OpKind::Binary(b @ (BinaryOp::And | BinaryOp::Or | BinaryOp::Xor), p, q) => {
                    let (w, c) = match (constant(p), constant(q)) {
                        (_, Some(c)) => (p, c),
                        (Some(c), _) => (q, c),
                        _ => break,
                    };
                    match b {
                        BinaryOp::And => (w, and & c, xor),
                        BinaryOp::Or => (w, and & !c, xor ^ (c & and)),
                        _ => (w, and, xor ^ (c & and)),
                    }
                }
                _ => break,
            };
            if !wide(next) || self.layout(next) != *l {
                break;
            }
            (z, and, xor) = (next, step_and, step_xor);
        }
        (z, and, xor)
    }

    /// `dst = a as to` (Rust `as` semantics, `bool` as 0/1 and "non-zero"), the result
    /// normalized to `to` when `normalize` (else see [`crate::ptx::narrow`]).
    fn cast_one(&mut self, from: DType, to: DType, dst: &str, a: &str, normalize: bool) {
        let (fc, tc) = (dclass(from), dclass(to));
        if from.is_fp8() {
            // Exactly to f32 first, then on as an f32 (every fp8 value is one).
            let f = if to == DType::F32 {
                dst.to_string()
            } else {
                self.reg(Class::F32)
            };
            self.fp8_to_f32(from, a, &f);
            if to != DType::F32 {
                self.cast_one(DType::F32, to, dst, &f, normalize);
            }
            return;
        }
        if to.is_fp8() {
            // To f32 first (exact for floats; integers of 2^24 and more saturate either way,
            // so rounding them twice changes nothing), then rounded once to the fp8 type.
            let f = if from == DType::F32 {
                a.to_string()
            } else {
                let f = self.reg(Class::F32);
                self.cast_one(from, DType::F32, &f, a, true);
                f
            };
            self.f32_to_fp8(to, &f, dst);
            return;
        }
        if to == DType::Bool {
            match fc {
                Class::F32 => self.line(format!("setp.neu.f32 {dst}, {a}, {};", fimm(0.0))),
                _ => self.line(format!("setp.ne.{} {dst}, {a}, 0;", int_ty(from))),
            }
            return;
        }
        if from == DType::Bool {
            match tc {
                Class::F32 => self.line(format!(
                    "selp.f32 {dst}, {}, {}, {a};",
                    fimm(1.0),
                    fimm(0.0)
                )),
                Class::B64 => self.line(format!("selp.u64 {dst}, 1, 0, {a};")),
                _ => self.line(format!("selp.u32 {dst}, 1, 0, {a};")),
            }
            return;
        }
        match (from.is_float(), to.is_float()) {
            (true, true) => {
                self.line(format!("mov.f32 {dst}, {a};"));
                if normalize {
                    self.normalize(to, dst);
                }
            }
            (true, false) => {
                // cvt saturates; NaN gives 0 except for 64-bit results, fixed below.
                let t = int_ty(to);
                self.line(format!("cvt.rzi.{t}.f32 {dst}, {a};"));
                if tc == Class::B64 {
                    let p = self.reg(Class::Pred);
                    self.line(format!("setp.nan.f32 {p}, {a}, {a};"));
                    self.line(format!("@{p} mov.b64 {dst}, 0;"));
                }
                match to {
                    DType::I8 => self.clamp(dst, -128, 127),
                    DType::I16 => self.clamp(dst, -32768, 32767),
                    DType::U8 => self.line(format!("min.u32 {dst}, {dst}, 255;")),
                    DType::U16 => self.line(format!("min.u32 {dst}, {dst}, 65535;")),
                    _ => {}
                }
            }
            (false, true) => {
                let s = int_ty(from);
                if to == DType::F32 || from.bits() <= 16 {
                    self.line(format!("cvt.rn.f32.{s} {dst}, {a};"));
                } else {
                    // Round to odd in f32, then once to the 16-bit type: no double rounding.
                    let w = if fc == Class::B64 {
                        Class::B64
                    } else {
                        Class::B32
                    };
                    let back = self.reg(w);
                    let (p, bits) = (self.reg(Class::Pred), self.reg(Class::B32));
                    self.line(format!("cvt.rz.f32.{s} {dst}, {a};"));
                    self.line(format!("cvt.rzi.{s}.f32 {back}, {dst};"));
                    self.line(format!("setp.ne.{s} {p}, {back}, {a};"));
                    self.line(format!("mov.b32 {bits}, {dst};"));
                    self.line(format!("@{p} or.b32 {bits}, {bits}, 1;"));
                    self.line(format!("mov.b32 {dst}, {bits};"));
                }
                if normalize {
                    self.normalize(to, dst);
                }
            }
            (false, false) => match (fc, tc) {
                (Class::B64, Class::B64) => self.line(format!("mov.b64 {dst}, {a};")),
                (Class::B64, _) => {
                    self.line(format!("cvt.u32.u64 {dst}, {a};"));
                    if normalize {
                        self.normalize(to, dst);
                    }
                }
                (_, Class::B64) => {
                    let s = if from.is_signed_int() { "s" } else { "u" };
                    self.line(format!("cvt.{s}64.{s}32 {dst}, {a};"));
                }
                _ => {
                    self.line(format!("mov.b32 {dst}, {a};"));
                    if normalize {
                        self.normalize(to, dst);
                    }
                }
            },
        }
    }

    /// `dst` (f32) = the fp8 value of type `d` whose bits are in the low byte of `a` (exact).
    /// sm_89 and later: `cvt.rn.f16x2.{e4m3,e5m2}x2` and `cvt.f32.f16`. Below: e5m2 is the
    /// top byte of an f16; e4m3 placed in an f32's exponent and mantissa fields and scaled by
    /// 2^120 (exact, subnormals included), with its NaN pattern selected apart.
    pub(crate) fn fp8_to_f32(&mut self, d: DType, a: &str, dst: &str) {
        let (h, t) = (self.reg(Class::B16), self.reg(Class::B32));
        if self.target.has_fp8() {
            let ty = if d == DType::F8E4M3 {
                "e4m3x2"
            } else {
                "e5m2x2"
            };
            let (lo, hi) = (self.reg(Class::B16), self.reg(Class::B16));
            self.line(format!("cvt.u16.u32 {h}, {a};"));
            self.line(format!("cvt.rn.f16x2.{ty} {t}, {h};"));
            self.line(format!("mov.b32 {{{lo}, {hi}}}, {t};"));
            self.line(format!("cvt.f32.f16 {dst}, {lo};"));
        } else if d == DType::F8E5M2 {
            self.line(format!("shl.b32 {t}, {a}, 8;"));
            self.line(format!("cvt.u16.u32 {h}, {t};"));
            self.line(format!("cvt.f32.f16 {dst}, {h};"));
        } else {
            let (m, sign, p) = (
                self.reg(Class::B32),
                self.reg(Class::B32),
                self.reg(Class::Pred),
            );
            self.line(format!("and.b32 {m}, {a}, 127;"));
            self.line(format!("setp.eq.u32 {p}, {m}, 127;"));
            self.line(format!("shl.b32 {m}, {m}, 20;"));
            self.line(format!("mov.b32 {dst}, {m};"));
            self.line(format!(
                "mul.rn.f32 {dst}, {dst}, {};",
                fimm(2f32.powi(120))
            ));
            self.line(format!("mov.b32 {t}, {dst};"));
            self.line(format!("and.b32 {sign}, {a}, 128;"));
            self.line(format!("shl.b32 {sign}, {sign}, 24;"));
            self.line(format!("or.b32 {t}, {t}, {sign};"));
            self.line(format!("@{p} mov.b32 {t}, {};", f32::NAN.to_bits()));
            self.line(format!("mov.b32 {dst}, {t};"));
        }
    }

    /// `dst` = f32 register `f` rounded to nearest even as fp8 type `d`, saturating to the
    /// largest finite value (infinities too), NaN to a NaN: as [`bitmat_ir::Scalar::cast`].
    /// sm_89 and later: `cvt.rn.satfinite.{e4m3,e5m2}x2.f32`. Below, integer ops: normal
    /// results round the f32 bits to the fp8 mantissa (add half an ulp minus one plus the
    /// kept lowest bit, shift) and rebias the exponent; subnormal ones add a magic constant
    /// whose ulp is the fp8 subnormal step (`add.rn` rounds to even), as F. Giesen's f16
    /// conversion does; the result is clamped to the largest finite pattern.
    fn f32_to_fp8(&mut self, d: DType, f: &str, dst: &str) {
        if self.target.has_fp8() {
            let ty = if d == DType::F8E4M3 {
                "e4m3x2"
            } else {
                "e5m2x2"
            };
            let (h, z) = (self.reg(Class::B16), self.reg(Class::F32));
            self.line(format!("mov.f32 {z}, {};", fimm(0.0)));
            self.line(format!("cvt.rn.satfinite.{ty}.f32 {h}, {z}, {f};"));
            self.line(format!("cvt.u32.u16 {dst}, {h};"));
            self.line(format!("and.b32 {dst}, {dst}, 255;"));
            return;
        }
        let (mbits, bias, max) = if d == DType::F8E4M3 {
            (3u32, 7u32, 0x7eu32)
        } else {
            (2, 15, 0x7b)
        };
        let shift = 23 - mbits;
        let magic = ((127 - bias) + shift + 1) << 23;
        let min_normal = (127 - bias + 1) << 23;
        let (x, ax, sign, r, t) = (
            self.reg(Class::B32),
            self.reg(Class::B32),
            self.reg(Class::B32),
            self.reg(Class::B32),
            self.reg(Class::B32),
        );
        let (sub, nan, g) = (
            self.reg(Class::Pred),
            self.reg(Class::Pred),
            self.reg(Class::F32),
        );
        self.line(format!("mov.b32 {x}, {f};"));
        self.line(format!("and.b32 {ax}, {x}, 2147483647;"));
        self.line(format!("shr.u32 {sign}, {x}, 24;"));
        self.line(format!("and.b32 {sign}, {sign}, 128;"));
        // Normal: round the f32 bits to `mbits` mantissa bits, rebias.
        self.line(format!("shr.u32 {t}, {ax}, {shift};"));
        self.line(format!("and.b32 {t}, {t}, 1;"));
        self.line(format!("add.u32 {r}, {ax}, {};", (1u32 << (shift - 1)) - 1));
        self.line(format!("add.u32 {r}, {r}, {t};"));
        self.line(format!("shr.u32 {r}, {r}, {shift};"));
        self.line(format!("sub.u32 {r}, {r}, {};", (127 - bias) << mbits));
        // Subnormal: |f| + magic, rounded by the addition.
        self.line(format!("setp.lt.u32 {sub}, {ax}, {min_normal};"));
        self.line(format!("mov.b32 {g}, {ax};"));
        self.line(format!("add.rn.f32 {g}, {g}, 0f{magic:08X};"));
        self.line(format!("mov.b32 {t}, {g};"));
        self.line(format!("sub.u32 {t}, {t}, {magic};"));
        self.line(format!("@{sub} mov.b32 {r}, {t};"));
        self.line(format!("min.u32 {r}, {r}, {max};"));
        self.line(format!("setp.gt.u32 {nan}, {ax}, 2139095040;"));
        self.line(format!("@{nan} mov.b32 {r}, 127;"));
        self.line(format!("or.b32 {dst}, {r}, {sign};"));
    }

    fn clamp(&mut self, r: &str, lo: i32, hi: i32) {
        self.line(format!("max.s32 {r}, {r}, {lo};"));
        self.line(format!("min.s32 {r}, {r}, {hi};"));
    }

    pub(crate) fn lower_bitcast(&mut self, res: ValueId, x: ValueId) -> Result<(), CodegenError> {
        let (from, to) = (self.dtype(x)?, self.dtype(res)?);
        let xs = self.operand(res, x)?;
        if from == to {
            self.define(res, xs);
            return Ok(());
        }
        if from.bits() != to.bits() || from == DType::Bool || to == DType::Bool {
            return Err(self.unsupported(format!("cannot bitcast {from} to {to}")));
        }
        let out = self.fresh(res);
        for (dst, a) in out.iter().zip(&xs) {
            let half = |d: DType| matches!(d, DType::F16 | DType::BF16);
            if half(from) || half(to) {
                // Through the 16 raw bits.
                let h = if half(from) {
                    self.round_to_half_bits(from, a)
                } else {
                    let h = self.reg(Class::B16);
                    self.line(format!("cvt.u16.u32 {h}, {a};"));
                    h
                };
                if half(to) {
                    self.half_bits_to_f32(to, &h, dst);
                } else {
                    self.line(format!("cvt.u32.u16 {dst}, {h};"));
                    self.normalize(to, dst);
                }
            } else {
                let w = from.bits().max(32);
                self.line(format!("mov.b{w} {dst}, {a};"));
                self.normalize(to, dst);
            }
        }
        Ok(())
    }
}

/// `2^23`: the float whose mantissa holds an integer in `[0, 2^23)` as is (put there by
/// `xor`, which is `or` on these disjoint bits and joins the bitwise ops that made the
/// integer in one `lop3`).
const MAGIC: f32 = 8_388_608.0;

/// An integer-to-float conversion by a magic number ([`Emitter::small_int_to_float`]): the
/// result is `float(bits(2^23) ^ ((base & and) ^ xor)) - (2^23 - offset)`.
struct SmallIntToFloat {
    /// The integer whose low 32 bits, as `(base & and) ^ xor`, go into the magic number's
    /// mantissa.
    base: ValueId,
    /// See [`Self::base`].
    and: u32,
    /// See [`Self::base`].
    xor: u32,
    /// The constant the converted value adds to `base`.
    offset: i64,
    /// The converted value's range.
    value: Interval,
}

impl SmallIntToFloat {
    /// The constant subtracted from the magic float: exact, as `|offset| < 2^22`.
    fn subtrahend(&self) -> f32 {
        MAGIC - self.offset as f32
    }

    /// Whether every converted value is a number of float type `to` (no rounding needed).
    fn exact_in(&self, to: DType) -> bool {
        let limit = match to {
            DType::F16 => 1 << 11,
            DType::BF16 => 1 << 8,
            _ => 1 << 24,
        };
        self.value.within(Interval::new(-limit, limit))
    }
}
