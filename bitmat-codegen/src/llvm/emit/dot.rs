//! `dot(a [M, K], b [K, N], acc [M, N])`: row `m` of the result is
//! `acc[m] + sum_k a[m, k] * b[k]`, `k` ascending, with `b[k]` a vector of `N` lanes: i8
//! operands widened to i32 (wrapping sums), f16/bf16 converted to `float` (exact), float sums
//! sequential without contraction to FMA, so results match the interpreter bit for bit.
//!
//! Small products (`M * K` at most [`UNROLLED`]) are unrolled on registers; larger ones run as
//! loops over `m` and `k` on the operands stored once to the stack, the row of the
//! accumulator in registers (a straight-line product of thousands of wide vector ops takes
//! LLVM's code generator minutes).

use super::{vec, Emitter, Operand};

/// The largest `M * K` whose product is unrolled.
const UNROLLED: usize = 64;
use crate::CodegenError;
use bitmat_ir::{DType, ValueId};

impl Emitter<'_> {
    /// `dot(a, b, acc)`.
    pub(crate) fn dot(
        &mut self,
        a: ValueId,
        b: ValueId,
        acc: ValueId,
        r: ValueId,
    ) -> Result<(), CodegenError> {
        let (m, k, n) = match (self.ty(a).shape.as_slice(), self.ty(b).shape.as_slice()) {
            ([m, k], [_, n]) => (*m as usize, *k as usize, *n as usize),
            _ => return Err(self.unsupported("operands are not matrices")),
        };
        let d = self.dtype(a)?;
        let (av, bv, cv) = (self.get(a)?, self.get(b)?, self.get(acc)?);
        let (av, bv, elem, add, mul) = match d {
            DType::I8 => {
                let widen = |e: &mut Self, o: &Operand| {
                    let t = vec(super::vec_lanes(&o.ty), "i32");
                    e.ins(t.clone(), format!("sext {} {} to {t}", o.ty, o.text))
                };
                (widen(self, &av), widen(self, &bv), "i32", "add", "mul")
            }
            d if d.is_float() => (
                self.widen(&av, d),
                self.widen(&bv, d),
                "float",
                "fadd",
                "fmul",
            ),
            d => return Err(self.unsupported(format!("operands of {d}"))),
        };
        let o = if m * k <= UNROLLED {
            self.dot_unrolled(&av, &bv, &cv, (m, k, n), elem, add, mul)
        } else {
            self.dot_loops(&av, &bv, &cv, (m, k, n), elem, add, mul)
        };
        self.set(r, o);
        Ok(())
    }

    /// The product unrolled: `M * K` multiply-adds of `N`-lane rows.
    #[allow(clippy::too_many_arguments)]
    fn dot_unrolled(
        &mut self,
        av: &Operand,
        bv: &Operand,
        cv: &Operand,
        (m, k, n): (usize, usize, usize),
        elem: &str,
        add: &str,
        mul: &str,
    ) -> Operand {
        let rt = vec(n, elem);
        let b_rows: Vec<Operand> = (0..k)
            .map(|kk| self.shuffle(bv, elem, &(kk * n..(kk + 1) * n).collect::<Vec<_>>()))
            .collect();
        let mut rows = Vec::with_capacity(m);
        for mm in 0..m {
            let mut row = self.shuffle(cv, elem, &(mm * n..(mm + 1) * n).collect::<Vec<_>>());
            for (kk, b_row) in b_rows.iter().enumerate() {
                let a_splat = self.shuffle(av, elem, &vec![mm * k + kk; n]);
                let p = self.ins(
                    rt.clone(),
                    format!("{mul} {rt} {}, {}", a_splat.text, b_row.text),
                );
                row = self.ins(rt.clone(), format!("{add} {rt} {}, {}", row.text, p.text));
            }
            rows.push(row);
        }
        self.concat(rows, elem)
    }

    /// The product as loops over `m` and `k` on operands stored to the stack.
    #[allow(clippy::too_many_arguments)]
    fn dot_loops(
        &mut self,
        av: &Operand,
        bv: &Operand,
        cv: &Operand,
        (m, k, n): (usize, usize, usize),
        elem: &str,
        add: &str,
        mul: &str,
    ) -> Operand {
        let rt = vec(n, elem);
        let (abuf, bbuf, cbuf) = (
            self.stack_buffer(4 * m * k),
            self.stack_buffer(4 * k * n),
            self.stack_buffer(4 * m * n),
        );
        for (o, buf) in [(av, &abuf), (bv, &bbuf), (cv, &cbuf)] {
            self.line(format!("store {} {}, ptr {buf}, align 64", o.ty, o.text));
        }
        let pre = self.block.clone();
        let (row_head, k_head, k_exit, row_exit) = (
            self.label("dot_row"),
            self.label("dot_k"),
            self.label("dot_k_done"),
            self.label("dot_done"),
        );
        let (mi, mi_next, ki, ki_next, acc, acc_next) = (
            self.fresh(),
            self.fresh(),
            self.fresh(),
            self.fresh(),
            self.fresh(),
            self.fresh(),
        );
        self.line(format!("br label %{row_head}"));
        self.start_block(&row_head);
        self.line(format!(
            "{mi} = phi i64 [ 0, %{pre} ], [ {mi_next}, %{k_exit} ]"
        ));
        let row_off = self.ins("i64", format!("mul i64 {mi}, {n}"));
        let row_ptr = self.ins(
            "ptr",
            format!("getelementptr {elem}, ptr {cbuf}, i64 {}", row_off.text),
        );
        let row0 = self.ins(
            rt.clone(),
            format!("load {rt}, ptr {}, align 4", row_ptr.text),
        );
        let a_off = self.ins("i64", format!("mul i64 {mi}, {k}"));
        self.line(format!("br label %{k_head}"));
        self.start_block(&k_head);
        self.line(format!(
            "{ki} = phi i64 [ 0, %{row_head} ], [ {ki_next}, %{k_head} ]"
        ));
        self.line(format!(
            "{acc} = phi {rt} [ {}, %{row_head} ], [ {acc_next}, %{k_head} ]",
            row0.text
        ));
        let ai = self.ins("i64", format!("add i64 {}, {ki}", a_off.text));
        let ap = self.ins(
            "ptr",
            format!("getelementptr {elem}, ptr {abuf}, i64 {}", ai.text),
        );
        let a = self.ins(elem, format!("load {elem}, ptr {}, align 4", ap.text));
        let a_splat = self.splat(&a.text, elem, n);
        let bi = self.ins("i64", format!("mul i64 {ki}, {n}"));
        let bp = self.ins(
            "ptr",
            format!("getelementptr {elem}, ptr {bbuf}, i64 {}", bi.text),
        );
        let b = self.ins(rt.clone(), format!("load {rt}, ptr {}, align 4", bp.text));
        let p = self.ins(
            rt.clone(),
            format!("{mul} {rt} {}, {}", a_splat.text, b.text),
        );
        self.line(format!("{acc_next} = {add} {rt} {acc}, {}", p.text));
        self.line(format!("{ki_next} = add i64 {ki}, 1"));
        let k_more = self.ins("i1", format!("icmp ult i64 {ki_next}, {k}"));
        self.line(format!(
            "br i1 {}, label %{k_head}, label %{k_exit}",
            k_more.text
        ));
        self.start_block(&k_exit);
        self.line(format!(
            "store {rt} {acc_next}, ptr {}, align 4",
            row_ptr.text
        ));
        self.line(format!("{mi_next} = add i64 {mi}, 1"));
        let m_more = self.ins("i1", format!("icmp ult i64 {mi_next}, {m}"));
        self.line(format!(
            "br i1 {}, label %{row_head}, label %{row_exit}",
            m_more.text
        ));
        self.start_block(&row_exit);
        let ty = vec(m * n, elem);
        self.ins(ty.clone(), format!("load {ty}, ptr {cbuf}, align 64"))
    }
}
