//! Structured control flow: `for` and `while` loops with loop-carried values (`phi`s in the
//! loop header) and `if` (a diamond with `phi`s at the join).
//!
//! A loop runs while `iv < upper`; it runs no iteration when `step` is not positive, and it
//! stops when `iv + step` would pass `upper`, also where that sum overflows (the test is
//! `upper - iv > step`, unsigned, which never wraps while `iv < upper`).

use super::{vec, Emitter, Operand};
use crate::CodegenError;
use bitmat_ir::{Block, ValueId};

/// The loop header's `phi`s of the `carried` registers: `inits` on entry from block `pre`,
/// `yielded` from the loop's last block `last`.
fn carried_phis(
    carried: &[Vec<Operand>],
    inits: &[Vec<Operand>],
    yielded: &[Vec<Operand>],
    pre: &str,
    last: &str,
) -> String {
    let mut phis = String::new();
    for ((c, i), y) in carried
        .iter()
        .flatten()
        .zip(inits.iter().flatten())
        .zip(yielded.iter().flatten())
    {
        phis.push_str(&format!(
            "  {} = phi {} [ {}, %{pre} ], [ {}, %{last} ]\n",
            c.text, c.ty, i.text, y.text
        ));
    }
    phis
}

impl Emitter<'_> {
    /// Fresh registers for a loop's carried values, one per chunk of each initial value in
    /// `inits` and of its type, bound to the body's arguments `args` (their `phi`s are
    /// [`carried_phis`]).
    fn carried_registers(&mut self, inits: &[Vec<Operand>], args: &[ValueId]) -> Vec<Vec<Operand>> {
        let carried: Vec<Vec<Operand>> = inits
            .iter()
            .map(|i| {
                i.iter()
                    .map(|c| Operand {
                        text: self.fresh(),
                        ty: c.ty.clone(),
                    })
                    .collect()
            })
            .collect();
        for (&a, c) in args.iter().zip(&carried) {
            self.set_chunks(a, c.clone());
        }
        carried
    }

    /// Emits `block` and checks that it yields `count` values.
    fn emit_yielding(
        &mut self,
        block: &Block,
        count: usize,
    ) -> Result<Vec<Vec<Operand>>, CodegenError> {
        let y = self.emit_block(block)?.unwrap_or_default();
        if y.len() != count {
            return Err(self.unsupported(format!(
                "a block yields {} values where {count} are expected",
                y.len()
            )));
        }
        Ok(y)
    }

    /// `for iv in (lower..upper).step_by(step)` carrying `init`; binds `results`.
    pub(crate) fn for_loop(
        &mut self,
        lower: ValueId,
        upper: ValueId,
        step: ValueId,
        init: &[ValueId],
        body: &Block,
        results: &[ValueId],
    ) -> Result<(), CodegenError> {
        let d = self.dtype(lower)?;
        let signed = d.is_signed_int();
        let it = super::reg_elem(bitmat_ir::ElemType::Val(d));
        let (lo, up, st) = (self.get(lower)?, self.get(upper)?, self.get(step)?);
        let (lo, up, st) = (
            self.extract(&lo, it, 0),
            self.extract(&up, it, 0),
            self.extract(&st, it, 0),
        );
        let inits: Vec<Vec<Operand>> = init
            .iter()
            .map(|&v| self.chunks(v))
            .collect::<Result<_, _>>()?;
        let (lt, pos) = if signed {
            ("slt", "sgt")
        } else {
            ("ult", "ugt")
        };
        let enter = self.ins("i1", format!("icmp {lt} {it} {}, {}", lo.text, up.text));
        let positive = self.ins("i1", format!("icmp {pos} {it} {}, 0", st.text));
        let go = self.ins("i1", format!("and i1 {}, {}", enter.text, positive.text));
        let (head, exit) = (self.label("loop"), self.label("loop_exit"));
        let pre = self.block.clone();
        self.line(format!("br i1 {}, label %{head}, label %{exit}", go.text));
        self.start_block(&head);
        // The header's phis name values of the loop's last block, known after the body.
        let marker = format!("  ;; phis of {head}\n");
        self.body.push_str(&marker);
        let iv_name = self.fresh();
        let iv = self.ins(
            vec(1, it),
            format!("insertelement <1 x {it}> poison, {it} {iv_name}, i32 0"),
        );
        let args = &body.args;
        if args.len() != 1 + init.len() {
            return Err(self.unsupported("loop body arguments do not match the carried values"));
        }
        self.set_chunks(args[0], vec![iv]);
        let carried = self.carried_registers(&inits, &args[1..]);
        let yielded = self.emit_yielding(body, init.len())?;
        let rest = self.ins(it, format!("sub {it} {}, {iv_name}", up.text));
        let more = self.ins("i1", format!("icmp ugt {it} {}, {}", rest.text, st.text));
        let next = self.ins(it, format!("add {it} {iv_name}, {}", st.text));
        let last = self.block.clone();
        self.line(format!("br i1 {}, label %{head}, label %{exit}", more.text));
        let phis = format!(
            "  {iv_name} = phi {it} [ {}, %{pre} ], [ {}, %{last} ]\n{}",
            lo.text,
            next.text,
            carried_phis(&carried, &inits, &yielded, &pre, &last)
        );
        self.body = self.body.replacen(&marker, &phis, 1);
        self.start_block(&exit);
        for ((&r, i), y) in results.iter().zip(&inits).zip(&yielded) {
            let o = i
                .iter()
                .zip(y)
                .map(|(i, y)| {
                    self.ins(
                        i.ty.clone(),
                        format!(
                            "phi {} [ {}, %{pre} ], [ {}, %{last} ]",
                            i.ty, i.text, y.text
                        ),
                    )
                })
                .collect();
            self.set_chunks(r, o);
        }
        Ok(())
    }

    /// `while` carrying `init`: the body (its header holds the carried `phi`s), then a branch
    /// back while the condition it yields holds; binds `results` to the last yielded values
    /// (the exit's only predecessor is the body's end, which they dominate).
    pub(crate) fn while_loop(
        &mut self,
        init: &[ValueId],
        body: &Block,
        results: &[ValueId],
    ) -> Result<(), CodegenError> {
        let inits: Vec<Vec<Operand>> = init
            .iter()
            .map(|&v| self.chunks(v))
            .collect::<Result<_, _>>()?;
        if body.args.len() != init.len() {
            return Err(self.unsupported("while body arguments do not match the carried values"));
        }
        let (head, exit) = (self.label("while"), self.label("while_exit"));
        let pre = self.block.clone();
        self.line(format!("br label %{head}"));
        self.start_block(&head);
        let marker = format!("  ;; phis of {head}\n");
        self.body.push_str(&marker);
        let carried = self.carried_registers(&inits, &body.args);
        let mut yielded = self.emit_yielding(body, init.len() + 1)?;
        let go = yielded
            .remove(0)
            .into_iter()
            .next()
            .ok_or_else(|| self.unsupported("a `while` condition without a value"))?;
        let go = self.extract(&go, "i1", 0);
        let last = self.block.clone();
        self.line(format!("br i1 {}, label %{head}, label %{exit}", go.text));
        let phis = carried_phis(&carried, &inits, &yielded, &pre, &last);
        self.body = self.body.replacen(&marker, &phis, 1);
        self.start_block(&exit);
        for (&r, y) in results.iter().zip(yielded) {
            self.set_chunks(r, y);
        }
        Ok(())
    }

    /// `if cond { then } else { else }`; binds `results` to the yielded values.
    pub(crate) fn if_else(
        &mut self,
        cond: ValueId,
        then_block: &Block,
        else_block: &Block,
        results: &[ValueId],
    ) -> Result<(), CodegenError> {
        let c = self.get(cond)?;
        let c = self.extract(&c, "i1", 0);
        let (t, e, join) = (self.label("then"), self.label("else"), self.label("endif"));
        self.line(format!("br i1 {}, label %{t}, label %{e}", c.text));
        self.start_block(&t);
        let ty = self.emit_yielding(then_block, results.len())?;
        let t_end = self.block.clone();
        self.line(format!("br label %{join}"));
        self.start_block(&e);
        let ey = self.emit_yielding(else_block, results.len())?;
        let e_end = self.block.clone();
        self.line(format!("br label %{join}"));
        self.start_block(&join);
        for ((&r, a), b) in results.iter().zip(&ty).zip(&ey) {
            let o = a
                .iter()
                .zip(b)
                .map(|(a, b)| {
                    self.ins(
                        a.ty.clone(),
                        format!(
                            "phi {} [ {}, %{t_end} ], [ {}, %{e_end} ]",
                            a.ty, a.text, b.text
                        ),
                    )
                })
                .collect();
            self.set_chunks(r, o);
        }
        Ok(())
    }
}
