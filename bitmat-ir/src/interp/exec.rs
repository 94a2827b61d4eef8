//! Execution of one program: the SSA environment, op dispatch and structured control flow.

use super::memory::{add_ptr, Memory};
use super::value::{lane_of, malformed, numel, TileValue};
use super::{eval, layout, linalg, InterpErrorKind};
use crate::device_print;
use crate::kernel::{Block, Kernel, Op, OpKind, ValueId};
use crate::scalar::Scalar;
use crate::types::{DType, ElemType, TileType};

/// An error inside a program, with the description of the op that raised it.
#[derive(Debug)]
pub(crate) struct Fault {
    /// Short description of the failing op (`%8 = load`).
    pub op: String,
    /// What went wrong.
    pub kind: InterpErrorKind,
}

/// `%a, %b = name`, or just `name` for ops without results.
pub(crate) fn describe(op: &Op) -> String {
    if op.results.is_empty() {
        op.kind.name().to_string()
    } else {
        let results: Vec<String> = op.results.iter().map(ToString::to_string).collect();
        format!("{} = {}", results.join(", "), op.kind.name())
    }
}

fn fault(op: &Op, kind: InterpErrorKind) -> Fault {
    Fault {
        op: describe(op),
        kind,
    }
}

/// The value of `id` in `env`.
fn lookup(env: &[Option<TileValue>], id: ValueId) -> Result<&TileValue, InterpErrorKind> {
    env.get(id.index())
        .and_then(Option::as_ref)
        .ok_or_else(|| malformed(format!("{id} is used before it is defined")))
}

/// The interpreter state of one launch: the kernel, memory, and the environment of the
/// program being run (reset between programs).
pub(crate) struct Executor<'k, 'b, 'h> {
    kernel: &'k Kernel,
    grid: [u32; 3],
    pid: [u32; 3],
    env: Vec<Option<TileValue>>,
    mem: Memory<'k, 'b, 'h>,
}

impl<'k, 'b, 'h> Executor<'k, 'b, 'h> {
    /// An executor for a launch of `kernel` over `grid`.
    pub fn new(kernel: &'k Kernel, grid: [u32; 3], mem: Memory<'k, 'b, 'h>) -> Self {
        Executor {
            kernel,
            grid,
            pid: [0; 3],
            env: (0..kernel.values.len()).map(|_| None).collect(),
            mem,
        }
    }

    /// Runs program `pid` with the parameters bound to `params` (value id, value).
    pub fn run_program(
        &mut self,
        pid: [u32; 3],
        params: &[(ValueId, TileValue)],
    ) -> Result<(), Fault> {
        self.pid = pid;
        self.env.iter_mut().for_each(|v| *v = None);
        for (id, v) in params {
            self.set(*id, v.clone()).map_err(|kind| Fault {
                op: "launch".into(),
                kind,
            })?;
        }
        match self.exec_block(&self.kernel.body)? {
            None => Ok(()),
            Some(_) => Err(Fault {
                op: "yield".into(),
                kind: malformed("`yield` in the kernel body"),
            }),
        }
    }

    fn get(&self, id: ValueId) -> Result<&TileValue, InterpErrorKind> {
        lookup(&self.env, id)
    }

    fn declared(&self, id: ValueId) -> Result<&'k TileType, InterpErrorKind> {
        self.kernel
            .values
            .get(id.index())
            .ok_or_else(|| malformed(format!("{id} has no type")))
    }

    /// Binds `id` to `value`, which must have `id`'s declared type.
    fn set(&mut self, id: ValueId, value: TileValue) -> Result<(), InterpErrorKind> {
        let ty = self.declared(id)?;
        if !value.matches(ty) {
            return Err(malformed(format!(
                "{id} is declared {ty} but computed as {}{:?}",
                value.elem_desc(),
                value.shape
            )));
        }
        self.env[id.index()] = Some(value);
        Ok(())
    }

    /// Runs `block`; returns the yielded values when it ends with `yield`.
    fn exec_block(&mut self, block: &Block) -> Result<Option<Vec<TileValue>>, Fault> {
        for (i, op) in block.ops.iter().enumerate() {
            if let OpKind::Yield(vals) = &op.kind {
                if i + 1 != block.ops.len() {
                    return Err(fault(op, malformed("`yield` before the end of its block")));
                }
                let vals = vals
                    .iter()
                    .map(|&v| self.get(v).cloned())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|k| fault(op, k))?;
                return Ok(Some(vals));
            }
            self.exec_op(op)?;
        }
        Ok(None)
    }

    fn exec_op(&mut self, op: &Op) -> Result<(), Fault> {
        match &op.kind {
            OpKind::For {
                lower,
                upper,
                step,
                init,
                body,
            } => self.exec_for(op, [*lower, *upper, *step], init, body),
            OpKind::While { init, body } => self.exec_while(op, init, body),
            OpKind::If {
                cond,
                then_block,
                else_block,
            } => {
                let c = self
                    .get(*cond)
                    .and_then(TileValue::as_scalar)
                    .and_then(|c| match c.dtype() {
                        DType::Bool => Ok(c.as_bool()),
                        d => Err(malformed(format!("`if` condition is {d}, not bool"))),
                    })
                    .map_err(|k| fault(op, k))?;
                let block = if c { then_block } else { else_block };
                let vals = self
                    .exec_block(block)?
                    .ok_or_else(|| fault(op, malformed("`if` block does not end with `yield`")))?;
                self.bind_results(op, vals)
            }
            OpKind::Store { ptr, value, mask } => {
                let env = &self.env;
                let r = (|| {
                    let mask = mask.map(|m| lookup(env, m)).transpose()?;
                    let (ptr, value) = (lookup(env, *ptr)?, lookup(env, *value)?);
                    self.mem.store(ptr, value, mask)
                })();
                r.map_err(|k| fault(op, k))
            }
            OpKind::Print { label, value } => {
                let v = lookup(&self.env, *value).map_err(|k| fault(op, k))?;
                let data = v.values().map_err(|k| fault(op, k))?;
                let text = device_print::lines(label, self.pid, &v.shape, |i| data.get(i));
                device_print::emit(&text);
                Ok(())
            }
            OpKind::Assert { cond, message } => {
                let c = lookup(&self.env, *cond).map_err(|k| fault(op, k))?;
                let data = c.values().map_err(|k| fault(op, k))?;
                match (0..c.len()).find(|&i| data.get(i).is_some_and(|x| !x.as_bool())) {
                    None => Ok(()),
                    Some(i) => Err(fault(
                        op,
                        InterpErrorKind::AssertionFailed {
                            message: message.clone(),
                            lane: lane_of(i, &c.shape),
                        },
                    )),
                }
            }
            OpKind::Yield(_) => Err(fault(op, malformed("`yield` outside a block end"))),
            _ => {
                let result = match op.results.as_slice() {
                    [r] => *r,
                    _ => {
                        return Err(fault(
                            op,
                            malformed(format!("`{}` must have one result", op.kind.name())),
                        ))
                    }
                };
                let value = self.eval(op, result).map_err(|k| fault(op, k))?;
                self.set(result, value).map_err(|k| fault(op, k))
            }
        }
    }

    fn bind_results(&mut self, op: &Op, vals: Vec<TileValue>) -> Result<(), Fault> {
        if vals.len() != op.results.len() {
            return Err(fault(
                op,
                malformed(format!(
                    "{} values yielded for {} results",
                    vals.len(),
                    op.results.len()
                )),
            ));
        }
        for (&r, v) in op.results.iter().zip(vals) {
            self.set(r, v).map_err(|k| fault(op, k))?;
        }
        Ok(())
    }

    /// Reads the bounds of a `for` loop as `i128` (`lower`, `upper`, `step`) and their type.
    fn loop_bounds(&self, ids: [ValueId; 3]) -> Result<(DType, [i128; 3]), InterpErrorKind> {
        let mut out = [0i128; 3];
        let mut dtype = None;
        for (slot, id) in out.iter_mut().zip(ids) {
            let s = self.get(id)?.as_scalar()?;
            let d = s.dtype();
            if !d.is_int() || dtype.is_some_and(|t| t != d) {
                return Err(malformed("loop bounds must be integers of one type"));
            }
            dtype = Some(d);
            *slot = if d.is_signed_int() {
                i128::from(s.as_i64())
            } else {
                i128::from(s.bits())
            };
        }
        let dtype = dtype.ok_or_else(|| malformed("loop without bounds"))?;
        if out[2] <= 0 {
            return Err(InterpErrorKind::NonPositiveStep {
                step: out[2] as i64,
            });
        }
        Ok((dtype, out))
    }

    fn exec_for(
        &mut self,
        op: &Op,
        bounds: [ValueId; 3],
        init: &[ValueId],
        body: &Block,
    ) -> Result<(), Fault> {
        let (dtype, [lower, upper, step]) = self.loop_bounds(bounds).map_err(|k| fault(op, k))?;
        let (iv_id, carried_ids) = match body.args.split_first() {
            Some((iv, rest)) if rest.len() == init.len() => (*iv, rest),
            _ => return Err(fault(
                op,
                malformed(
                    "loop body arguments must be the induction variable and one per carried value",
                ),
            )),
        };
        let mut carried = init
            .iter()
            .map(|&v| self.get(v).cloned())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|k| fault(op, k))?;
        let mut iv = lower;
        while iv < upper {
            let iv_val = TileValue::scalar(Scalar::from_bits(dtype, iv as u64));
            self.set(iv_id, iv_val).map_err(|k| fault(op, k))?;
            for (&id, v) in carried_ids.iter().zip(carried) {
                self.set(id, v).map_err(|k| fault(op, k))?;
            }
            carried = self
                .exec_block(body)?
                .ok_or_else(|| fault(op, malformed("loop body does not end with `yield`")))?;
            if carried.len() != init.len() {
                return Err(fault(
                    op,
                    malformed(format!(
                        "loop body yields {} values for {} carried values",
                        carried.len(),
                        init.len()
                    )),
                ));
            }
            iv += step;
        }
        self.bind_results(op, carried)
    }

    fn exec_while(&mut self, op: &Op, init: &[ValueId], body: &Block) -> Result<(), Fault> {
        if body.args.len() != init.len() {
            return Err(fault(
                op,
                malformed("`while` body arguments must be one per carried value"),
            ));
        }
        let mut carried = init
            .iter()
            .map(|&v| self.get(v).cloned())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|k| fault(op, k))?;
        loop {
            for (&id, v) in body.args.iter().zip(carried) {
                self.set(id, v).map_err(|k| fault(op, k))?;
            }
            let mut yielded = self
                .exec_block(body)?
                .ok_or_else(|| fault(op, malformed("`while` body does not end with `yield`")))?;
            if yielded.len() != init.len() + 1 {
                return Err(fault(
                    op,
                    malformed(format!(
                        "`while` body yields {} values for a condition and {} carried values",
                        yielded.len(),
                        init.len()
                    )),
                ));
            }
            let go = yielded.remove(0);
            let go = go
                .as_scalar()
                .and_then(|c| match c.dtype() {
                    DType::Bool => Ok(c.as_bool()),
                    d => Err(malformed(format!("`while` condition is {d}, not bool"))),
                })
                .map_err(|k| fault(op, k))?;
            carried = yielded;
            if !go {
                return self.bind_results(op, carried);
            }
        }
    }

    /// Evaluates a single-result op that is not control flow or a store.
    fn eval(&mut self, op: &Op, result: ValueId) -> Result<TileValue, InterpErrorKind> {
        let ty = self.declared(result)?;
        let dtype = || {
            ty.dtype()
                .ok_or_else(|| malformed(format!("`{}` cannot produce pointers", op.kind.name())))
        };
        Ok(match &op.kind {
            OpKind::Constant(value) => {
                if ty.elem != ElemType::Val(value.dtype()) {
                    return Err(malformed(format!(
                        "constant of type {} declared {ty}",
                        value.dtype()
                    )));
                }
                TileValue::splat(*value, ty.shape.clone(), numel(&ty.shape)?)
            }
            OpKind::ProgramId(axis) | OpKind::NumPrograms(axis) => {
                let source = if matches!(op.kind, OpKind::ProgramId(_)) {
                    self.pid
                } else {
                    self.grid
                };
                let v = source
                    .get(*axis as usize)
                    .ok_or_else(|| malformed(format!("grid axis {axis} outside 0..3")))?;
                TileValue::scalar(Scalar::from_i64(DType::I32, i64::from(*v)))
            }
            OpKind::Arange(n) => {
                let v: Vec<i32> = (0..*n).map(|i| i as i32).collect();
                TileValue::val(vec![*n], crate::HostData::I32(v))
            }
            OpKind::Unary(u, x) => eval::unary(*u, self.get(*x)?)?,
            OpKind::Binary(b, x, y) => eval::binary(*b, self.get(*x)?, self.get(*y)?)?,
            OpKind::Cmp(p, x, y) => eval::cmp(*p, self.get(*x)?, self.get(*y)?)?,
            OpKind::Select {
                cond,
                on_true,
                on_false,
            } => eval::select(self.get(*cond)?, self.get(*on_true)?, self.get(*on_false)?)?,
            OpKind::Fma(a, b, c) => eval::fma(self.get(*a)?, self.get(*b)?, self.get(*c)?)?,
            OpKind::Cast(x) => eval::cast(self.get(*x)?, dtype()?)?,
            OpKind::Bitcast(x) => eval::bitcast(self.get(*x)?, dtype()?)?,
            OpKind::Broadcast(x) => layout::broadcast(self.get(*x)?, &ty.shape)?,
            OpKind::ExpandDims { value, axis } => layout::expand_dims(self.get(*value)?, *axis)?,
            OpKind::Reshape(x) => layout::reshape(self.get(*x)?, &ty.shape)?,
            OpKind::Hint { value, .. } => self.get(*value)?.clone(),
            OpKind::Permute { value, perm } => layout::permute(self.get(*value)?, perm)?,
            OpKind::Concat { a, b, axis } => layout::concat(self.get(*a)?, self.get(*b)?, *axis)?,
            OpKind::Slice { value, axis, start } => {
                layout::slice(self.get(*value)?, *axis, *start, &ty.shape)?
            }
            OpKind::Reduce { op, value, axis } => linalg::reduce(*op, self.get(*value)?, *axis)?,
            OpKind::Dot { a, b, acc } => {
                linalg::dot(self.get(*a)?, self.get(*b)?, self.get(*acc)?)?
            }
            OpKind::AddPtr { ptr, offset } => add_ptr(self.get(*ptr)?, self.get(*offset)?)?,
            OpKind::Load { ptr, mask, other } => {
                let mask = mask.map(|m| self.get(m)).transpose()?;
                let other = other.map(|o| self.get(o)).transpose()?;
                self.mem.load(self.get(*ptr)?, mask, other, dtype()?)?
            }
            OpKind::Atomic {
                op,
                ptr,
                value,
                mask,
            } => {
                let env = &self.env;
                let mask = mask.map(|m| lookup(env, m)).transpose()?;
                let (ptr, value) = (lookup(env, *ptr)?, lookup(env, *value)?);
                self.mem.atomic(*op, ptr, value, mask)?
            }
            OpKind::AtomicCas {
                ptr,
                cmp,
                value,
                mask,
            } => {
                let env = &self.env;
                let mask = mask.map(|m| lookup(env, m)).transpose()?;
                let (ptr, cmp) = (lookup(env, *ptr)?, lookup(env, *cmp)?);
                self.mem.atomic_cas(ptr, cmp, lookup(env, *value)?, mask)?
            }
            OpKind::For { .. }
            | OpKind::While { .. }
            | OpKind::If { .. }
            | OpKind::Store { .. }
            | OpKind::Print { .. }
            | OpKind::Assert { .. }
            | OpKind::Yield(_) => {
                return Err(malformed(format!("`{}` is not a value op", op.kind.name())))
            }
        })
    }
}
