//! Structured control flow: `for` and `while` with loop-carried values and `if` with results.
//!
//! The carried arguments of a loop body share the slots of the loop's results: the initial
//! values are copied in before the loop, and `yield` copies the next values in (through
//! temporaries when a yielded value is another carried argument, e.g. a swap). The induction
//! variable is kept as an `i64` (sign- or zero-extended) so that `iv + step` cannot wrap: the
//! loop exits when `iv >= upper` or when the next step would overflow. A non-positive step
//! runs no iteration (the interpreter reports an error).

use super::elementwise::storage_ty;
use super::{scratch_flags, Lowerer};
use crate::cranelift::arena_slots::value_bytes;
use crate::cranelift::CodegenError;
use bitmat_ir::{Block, Op, OpKind, ValueId};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, InstBuilder, Value};

impl Lowerer<'_, '_> {
    /// Loads the integer scalar `v` extended to `i64`.
    fn scalar_i64(&mut self, v: ValueId) -> Result<(Value, bool), CodegenError> {
        let d = self.dtype(v)?;
        if !d.is_int() {
            return Err(self.unsupported("loop bounds must be integers"));
        }
        let a = self.slot_addr(v)?;
        let ty = storage_ty(self.elem(v));
        let x = self.b.ins().load(ty, scratch_flags(), a, 0);
        let signed = d.is_signed_int();
        let x = if d.bits() == 64 {
            x
        } else if signed {
            self.b.ins().sextend(types::I64, x)
        } else {
            self.b.ins().uextend(types::I64, x)
        };
        Ok((x, signed))
    }

    /// Copies the values yielded by `yield_op` into the slots of `results`.
    fn yield_into(
        &mut self,
        yield_op: Option<&Op>,
        results: &[ValueId],
    ) -> Result<(), CodegenError> {
        let vals = match yield_op.map(|o| &o.kind) {
            Some(OpKind::Yield(vals)) if vals.len() == results.len() => vals.clone(),
            _ => return Err(self.unsupported("block does not end with a matching `yield`")),
        };
        self.copy_yielded(&vals, results)
    }

    /// Copies `vals` into the slots of `results`.
    fn copy_yielded(&mut self, vals: &[ValueId], results: &[ValueId]) -> Result<(), CodegenError> {
        let result_slots: Vec<_> = results.iter().map(|&r| self.slots.offset(r)).collect();
        let clash = vals.iter().enumerate().any(|(j, &v)| {
            let s = self.slots.offset(v);
            result_slots
                .iter()
                .enumerate()
                .any(|(k, &rs)| k != j && rs == s)
        });
        if clash {
            let mut temps = Vec::new();
            for &v in vals {
                let bytes = value_bytes(self.kernel.ty(v));
                let t = self.temp_addr(bytes);
                let s = self.slot_addr(v)?;
                self.copy_bytes(t, s, bytes)?;
                temps.push((t, bytes));
            }
            for (&r, (t, bytes)) in results.iter().zip(temps) {
                let d = self.slot_addr(r)?;
                self.copy_bytes(d, t, bytes)?;
            }
        } else {
            for (&r, &v) in results.iter().zip(vals) {
                self.copy_value(r, v)?;
            }
        }
        Ok(())
    }

    /// `for iv in (lower..upper).step_by(step)` with carried values.
    pub(crate) fn for_loop(
        &mut self,
        op: &Op,
        bounds: [ValueId; 3],
        init: &[ValueId],
        body: &Block,
    ) -> Result<(), CodegenError> {
        let here = self.op.clone();
        let (lower, signed) = self.scalar_i64(bounds[0])?;
        let (upper, _) = self.scalar_i64(bounds[1])?;
        let (step, _) = self.scalar_i64(bounds[2])?;
        let iv_id = *body
            .args
            .first()
            .ok_or_else(|| self.unsupported("loop body without an induction variable"))?;
        if body.args.len() != init.len() + 1 || op.results.len() != init.len() {
            return Err(self.unsupported("loop arity mismatch"));
        }
        for (&r, &v) in op.results.iter().zip(init) {
            self.copy_value(r, v)?;
        }
        let (lt, gt) = if signed {
            (IntCC::SignedLessThan, IntCC::SignedGreaterThan)
        } else {
            (IntCC::UnsignedLessThan, IntCC::UnsignedGreaterThan)
        };
        let step_ok = if signed {
            self.b.ins().icmp_imm(IntCC::SignedGreaterThan, step, 0)
        } else {
            self.b.ins().icmp_imm(IntCC::NotEqual, step, 0)
        };
        let max = self
            .b
            .ins()
            .iconst(types::I64, if signed { i64::MAX } else { -1 });
        let last_ok = self.b.ins().isub(max, step);
        let header = self.b.create_block();
        let body_b = self.b.create_block();
        let exit = self.b.create_block();
        self.b.append_block_param(header, types::I64);
        self.b.ins().jump(header, &[lower]);
        self.b.switch_to_block(header);
        let iv = self.b.block_params(header)[0];
        let in_range = self.b.ins().icmp(lt, iv, upper);
        let go = self.b.ins().band(in_range, step_ok);
        self.b.ins().brif(go, body_b, &[], exit, &[]);
        self.b.switch_to_block(body_b);
        let iv_bytes = self.dtype(iv_id)?.size_bytes();
        let iv_val = self.narrow(iv, iv_bytes);
        let a = self.slot_addr(iv_id)?;
        self.b.ins().store(scratch_flags(), iv_val, a, 0);
        let y = self.lower_block(body)?;
        self.op = here;
        self.yield_into(y, &op.results)?;
        let overflow = self.b.ins().icmp(gt, iv, last_ok);
        let next = self.b.ins().iadd(iv, step);
        self.b.ins().brif(overflow, exit, &[], header, &[next]);
        self.b.switch_to_block(exit);
        Ok(())
    }

    /// `while` with carried values: the body runs, then again while the `bool` it yields
    /// first holds (read before the carried values are copied, as it may be one of them).
    pub(crate) fn while_loop(
        &mut self,
        op: &Op,
        init: &[ValueId],
        body: &Block,
    ) -> Result<(), CodegenError> {
        let here = self.op.clone();
        if body.args.len() != init.len() || op.results.len() != init.len() {
            return Err(self.unsupported("while arity mismatch"));
        }
        for (&r, &v) in op.results.iter().zip(init) {
            self.copy_value(r, v)?;
        }
        let body_b = self.b.create_block();
        let exit = self.b.create_block();
        self.b.ins().jump(body_b, &[]);
        self.b.switch_to_block(body_b);
        let y = self.lower_block(body)?;
        self.op = here;
        let vals = match y.map(|o| &o.kind) {
            Some(OpKind::Yield(vals)) if vals.len() == init.len() + 1 => vals.clone(),
            _ => return Err(self.unsupported("while body does not end with a matching `yield`")),
        };
        let a = self.slot_addr(vals[0])?;
        let go = self.b.ins().uload8(types::I32, scratch_flags(), a, 0);
        self.copy_yielded(&vals[1..], &op.results)?;
        self.b.ins().brif(go, body_b, &[], exit, &[]);
        self.b.switch_to_block(exit);
        Ok(())
    }

    /// `if cond { then } else { else }` with results.
    pub(crate) fn if_op(
        &mut self,
        op: &Op,
        cond: ValueId,
        then_block: &Block,
        else_block: &Block,
    ) -> Result<(), CodegenError> {
        let here = self.op.clone();
        let a = self.slot_addr(cond)?;
        let c = self.b.ins().uload8(types::I32, scratch_flags(), a, 0);
        let (tb, eb, merge) = (
            self.b.create_block(),
            self.b.create_block(),
            self.b.create_block(),
        );
        self.b.ins().brif(c, tb, &[], eb, &[]);
        for (blk, block) in [(tb, then_block), (eb, else_block)] {
            self.b.switch_to_block(blk);
            let y = self.lower_block(block)?;
            self.op = here.clone();
            self.yield_into(y, &op.results)?;
            self.b.ins().jump(merge, &[]);
        }
        self.b.switch_to_block(merge);
        Ok(())
    }
}
