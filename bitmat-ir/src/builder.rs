//! [`KernelBuilder`]: appends operations to a kernel under construction, computing result
//! types from operand types. It does not judge validity: the DSL front-end reports user errors
//! and [`crate::verify`] checks the finished kernel.

use crate::kernel::{
    AtomicOp, BinaryOp, Block, CmpPred, Hint, Kernel, Op, OpKind, Param, ParamKind, ReduceOp,
    UnaryOp, ValueId,
};
use crate::scalar::Scalar;
use crate::types::{DType, ElemType, TileType};

/// A block being filled, with what its enclosing op needs once it is closed.
#[derive(Debug)]
enum Frame {
    Body,
    For {
        lower: ValueId,
        upper: ValueId,
        step: ValueId,
        init: Vec<ValueId>,
    },
    While {
        init: Vec<ValueId>,
    },
    Then {
        cond: ValueId,
    },
    Else {
        cond: ValueId,
        then_block: Block,
        result_types: Vec<TileType>,
    },
}

/// Control-flow misuse of the builder (closing a block that is not open).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("builder: {0}")]
pub struct BuilderError(pub String);

/// Builds a [`Kernel`] op by op. Blocks of `for`/`if` are opened and closed explicitly.
#[derive(Debug)]
pub struct KernelBuilder {
    name: String,
    params: Vec<Param>,
    values: Vec<TileType>,
    blocks: Vec<(Frame, Block)>,
}

impl KernelBuilder {
    /// An empty kernel called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        KernelBuilder {
            name: name.into(),
            params: Vec::new(),
            values: Vec::new(),
            blocks: vec![(Frame::Body, Block::default())],
        }
    }

    /// The kernel's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The type of a value defined so far.
    pub fn ty(&self, v: ValueId) -> &TileType {
        &self.values[v.index()]
    }

    /// Nesting depth of the block being filled (0 for the kernel body).
    pub fn depth(&self) -> usize {
        self.blocks.len() - 1
    }

    fn new_value(&mut self, ty: TileType) -> ValueId {
        self.values.push(ty);
        ValueId((self.values.len() - 1) as u32)
    }

    fn current(&mut self) -> &mut Block {
        &mut self
            .blocks
            .last_mut()
            .expect("the body block is never popped")
            .1
    }

    /// Declares a runtime parameter; its value is a scalar (a pointer for `ParamKind::Ptr`).
    pub fn param(&mut self, name: impl Into<String>, kind: ParamKind) -> ValueId {
        let elem = match kind {
            ParamKind::Ptr(d) => ElemType::Ptr(d),
            ParamKind::Scalar(d) => ElemType::Val(d),
        };
        let value = self.new_value(TileType::new(elem, vec![]));
        self.params.push(Param {
            name: name.into(),
            kind,
            value,
            divisibility: 1,
        });
        value
    }

    /// Appends an op whose results have the given types; returns the results.
    pub fn push(&mut self, kind: OpKind, result_types: Vec<TileType>) -> Vec<ValueId> {
        let results: Vec<ValueId> = result_types
            .into_iter()
            .map(|t| self.new_value(t))
            .collect();
        self.current().ops.push(Op {
            kind,
            results: results.clone(),
        });
        results
    }

    fn push1(&mut self, kind: OpKind, ty: TileType) -> ValueId {
        self.push(kind, vec![ty])[0]
    }

    /// A tile of `shape` filled with `value`.
    pub fn constant(&mut self, value: Scalar, shape: Vec<u32>) -> ValueId {
        self.push1(OpKind::Constant(value), TileType::val(value.dtype(), shape))
    }

    /// `program_id(axis)`.
    pub fn program_id(&mut self, axis: u8) -> ValueId {
        self.push1(OpKind::ProgramId(axis), TileType::scalar(DType::I32))
    }

    /// `num_programs(axis)`.
    pub fn num_programs(&mut self, axis: u8) -> ValueId {
        self.push1(OpKind::NumPrograms(axis), TileType::scalar(DType::I32))
    }

    /// `arange(n)`: `i32[n]`.
    pub fn arange(&mut self, n: u32) -> ValueId {
        self.push1(OpKind::Arange(n), TileType::val(DType::I32, vec![n]))
    }

    /// Elementwise unary op; same type as `v`.
    pub fn unary(&mut self, op: UnaryOp, v: ValueId) -> ValueId {
        let ty = self.ty(v).clone();
        self.push1(OpKind::Unary(op, v), ty)
    }

    /// Elementwise binary op; same type as `a`.
    pub fn binary(&mut self, op: BinaryOp, a: ValueId, b: ValueId) -> ValueId {
        let ty = self.ty(a).clone();
        self.push1(OpKind::Binary(op, a, b), ty)
    }

    /// Elementwise comparison; `bool` of `a`'s shape.
    pub fn cmp(&mut self, pred: CmpPred, a: ValueId, b: ValueId) -> ValueId {
        let ty = self.ty(a).with_elem(ElemType::Val(DType::Bool));
        self.push1(OpKind::Cmp(pred, a, b), ty)
    }

    /// `select(cond, on_true, on_false)`; type of `on_true`.
    pub fn select(&mut self, cond: ValueId, on_true: ValueId, on_false: ValueId) -> ValueId {
        let ty = self.ty(on_true).clone();
        self.push1(
            OpKind::Select {
                cond,
                on_true,
                on_false,
            },
            ty,
        )
    }

    /// `a * b + c` with one rounding; type of `a`.
    pub fn fma(&mut self, a: ValueId, b: ValueId, c: ValueId) -> ValueId {
        let ty = self.ty(a).clone();
        self.push1(OpKind::Fma(a, b, c), ty)
    }

    /// `v as to`.
    pub fn cast(&mut self, v: ValueId, to: DType) -> ValueId {
        let ty = self.ty(v).with_elem(ElemType::Val(to));
        self.push1(OpKind::Cast(v), ty)
    }

    /// Reinterprets the bits of `v` as `to`.
    pub fn bitcast(&mut self, v: ValueId, to: DType) -> ValueId {
        let ty = self.ty(v).with_elem(ElemType::Val(to));
        self.push1(OpKind::Bitcast(v), ty)
    }

    /// Broadcasts `v` (same rank, extents 1 expand) to `shape`.
    pub fn broadcast(&mut self, v: ValueId, shape: Vec<u32>) -> ValueId {
        let ty = TileType::new(self.ty(v).elem, shape);
        self.push1(OpKind::Broadcast(v), ty)
    }

    /// Inserts an axis of extent 1 at `axis`.
    pub fn expand_dims(&mut self, v: ValueId, axis: u32) -> ValueId {
        let src = self.ty(v).clone();
        let mut shape = src.shape.clone();
        shape.insert((axis as usize).min(shape.len()), 1);
        self.push1(
            OpKind::ExpandDims { value: v, axis },
            TileType::new(src.elem, shape),
        )
    }

    /// The same elements in `shape`.
    pub fn reshape(&mut self, v: ValueId, shape: Vec<u32>) -> ValueId {
        let ty = TileType::new(self.ty(v).elem, shape);
        self.push1(OpKind::Reshape(v), ty)
    }

    /// `v` with the fact `hint` ([`OpKind::Hint`]).
    pub fn hint(&mut self, v: ValueId, hint: Hint) -> ValueId {
        let ty = self.ty(v).clone();
        self.push1(OpKind::Hint { value: v, hint }, ty)
    }

    /// The axes of `v` in the order `perm` (result axis `i` is axis `perm[i]` of `v`).
    pub fn permute(&mut self, v: ValueId, perm: Vec<u32>) -> ValueId {
        let src = self.ty(v).clone();
        let shape: Vec<u32> = perm
            .iter()
            .map(|&p| src.shape.get(p as usize).copied().unwrap_or(1))
            .collect();
        self.push1(
            OpKind::Permute { value: v, perm },
            TileType::new(src.elem, shape),
        )
    }

    /// `a` then `b` along `axis` (whose extent doubles); type of `a` otherwise.
    pub fn concat(&mut self, a: ValueId, b: ValueId, axis: u32) -> ValueId {
        let src = self.ty(a).clone();
        let mut shape = src.shape.clone();
        if let Some(e) = shape.get_mut(axis as usize) {
            *e *= 2;
        }
        self.push1(
            OpKind::Concat { a, b, axis },
            TileType::new(src.elem, shape),
        )
    }

    /// The `extent` elements of `v` from `start` along `axis`.
    pub fn slice(&mut self, v: ValueId, axis: u32, start: u32, extent: u32) -> ValueId {
        let src = self.ty(v).clone();
        let mut shape = src.shape.clone();
        if let Some(e) = shape.get_mut(axis as usize) {
            *e = extent;
        }
        self.push1(
            OpKind::Slice {
                value: v,
                axis,
                start,
            },
            TileType::new(src.elem, shape),
        )
    }

    /// Reduces `v` along `axis`.
    pub fn reduce(&mut self, op: ReduceOp, v: ValueId, axis: u32) -> ValueId {
        let src = self.ty(v).clone();
        let mut shape = src.shape.clone();
        if (axis as usize) < shape.len() {
            shape.remove(axis as usize);
        }
        self.push1(
            OpKind::Reduce { op, value: v, axis },
            TileType::new(src.elem, shape),
        )
    }

    /// `a x b + acc`; type of `acc`.
    pub fn dot(&mut self, a: ValueId, b: ValueId, acc: ValueId) -> ValueId {
        let ty = self.ty(acc).clone();
        self.push1(OpKind::Dot { a, b, acc }, ty)
    }

    /// Pointer arithmetic; type of `ptr`.
    pub fn add_ptr(&mut self, ptr: ValueId, offset: ValueId) -> ValueId {
        let ty = self.ty(ptr).clone();
        self.push1(OpKind::AddPtr { ptr, offset }, ty)
    }

    fn pointee_type(&self, ptr: ValueId) -> TileType {
        let ty = self.ty(ptr);
        let elem = match ty.elem {
            ElemType::Ptr(d) | ElemType::Val(d) => d,
        };
        TileType::val(elem, ty.shape.clone())
    }

    /// Masked gather.
    pub fn load(&mut self, ptr: ValueId, mask: Option<ValueId>, other: Option<ValueId>) -> ValueId {
        let ty = self.pointee_type(ptr);
        self.push1(OpKind::Load { ptr, mask, other }, ty)
    }

    /// Masked scatter.
    pub fn store(&mut self, ptr: ValueId, value: ValueId, mask: Option<ValueId>) {
        self.push(OpKind::Store { ptr, value, mask }, vec![]);
    }

    /// Prints `value` under `label` ([`OpKind::Print`]).
    pub fn print(&mut self, label: &str, value: ValueId) {
        let label = label.to_string();
        self.push(OpKind::Print { label, value }, vec![]);
    }

    /// Fails the launch with `message` where `cond` is false ([`OpKind::Assert`]).
    pub fn assert(&mut self, cond: ValueId, message: &str) {
        let message = message.to_string();
        self.push(OpKind::Assert { cond, message }, vec![]);
    }

    /// Atomic add; returns the old values.
    pub fn atomic_add(&mut self, ptr: ValueId, value: ValueId, mask: Option<ValueId>) -> ValueId {
        self.atomic(AtomicOp::Add, ptr, value, mask)
    }

    /// Atomic read-modify-write `op`; returns the old values.
    pub fn atomic(
        &mut self,
        op: AtomicOp,
        ptr: ValueId,
        value: ValueId,
        mask: Option<ValueId>,
    ) -> ValueId {
        let ty = self.pointee_type(ptr);
        self.push1(
            OpKind::Atomic {
                op,
                ptr,
                value,
                mask,
            },
            ty,
        )
    }

    /// Atomic compare-and-swap; returns the old values.
    pub fn atomic_cas(
        &mut self,
        ptr: ValueId,
        cmp: ValueId,
        value: ValueId,
        mask: Option<ValueId>,
    ) -> ValueId {
        let ty = self.pointee_type(ptr);
        self.push1(
            OpKind::AtomicCas {
                ptr,
                cmp,
                value,
                mask,
            },
            ty,
        )
    }

    /// Opens a loop body. Returns the induction variable (type of `lower`) and one block
    /// argument per initial carried value (same types).
    pub fn begin_for(
        &mut self,
        lower: ValueId,
        upper: ValueId,
        step: ValueId,
        init: Vec<ValueId>,
    ) -> (ValueId, Vec<ValueId>) {
        let iv = self.new_value(self.ty(lower).clone());
        let carried: Vec<ValueId> = init
            .iter()
            .map(|&v| self.new_value(self.ty(v).clone()))
            .collect();
        let mut args = vec![iv];
        args.extend(&carried);
        self.blocks.push((
            Frame::For {
                lower,
                upper,
                step,
                init,
            },
            Block { args, ops: vec![] },
        ));
        (iv, carried)
    }

    /// Closes the innermost loop body with `yields` as the next carried values; returns the
    /// loop's results (typed as the initial values).
    pub fn end_for(&mut self, yields: Vec<ValueId>) -> Result<Vec<ValueId>, BuilderError> {
        match self.blocks.last() {
            Some((Frame::For { .. }, _)) => {}
            _ => return Err(BuilderError("end_for without an open loop".into())),
        }
        let (frame, mut body) = self.blocks.pop().expect("checked above");
        let Frame::For {
            lower,
            upper,
            step,
            init,
        } = frame
        else {
            unreachable!("checked above")
        };
        body.ops.push(Op {
            kind: OpKind::Yield(yields),
            results: vec![],
        });
        let types = init.iter().map(|&v| self.ty(v).clone()).collect();
        Ok(self.push(
            OpKind::For {
                lower,
                upper,
                step,
                init,
                body,
            },
            types,
        ))
    }

    /// Opens a `while` body ([`OpKind::While`]). Returns one block argument per initial
    /// carried value (same types).
    pub fn begin_while(&mut self, init: Vec<ValueId>) -> Vec<ValueId> {
        let args: Vec<ValueId> = init
            .iter()
            .map(|&v| self.new_value(self.ty(v).clone()))
            .collect();
        self.blocks.push((
            Frame::While { init },
            Block {
                args: args.clone(),
                ops: vec![],
            },
        ));
        args
    }

    /// Closes the innermost `while` body with `go` (a scalar `bool`: run again) and the next
    /// carried values; returns the loop's results (typed as the initial values).
    pub fn end_while(
        &mut self,
        go: ValueId,
        yields: Vec<ValueId>,
    ) -> Result<Vec<ValueId>, BuilderError> {
        let (init, mut body) = self.pop_while("end_while")?;
        let mut vals = vec![go];
        vals.extend(yields);
        body.ops.push(Op {
            kind: OpKind::Yield(vals),
            results: vec![],
        });
        let types = init.iter().map(|&v| self.ty(v).clone()).collect();
        Ok(self.push(OpKind::While { init, body }, types))
    }

    /// Closes the innermost `while` body without making a loop: its ops move to the enclosing
    /// block, with the body's arguments replaced by the initial values (for a `while` found to
    /// be decided at specialization once its condition was traced).
    pub fn cancel_while(&mut self) -> Result<(), BuilderError> {
        let (init, body) = self.pop_while("cancel_while")?;
        let outer = &mut self.blocks.last_mut().expect("the kernel body").1;
        for mut op in body.ops {
            replace_uses(&mut op, &body.args, &init);
            outer.ops.push(op);
        }
        Ok(())
    }

    fn pop_while(&mut self, what: &str) -> Result<(Vec<ValueId>, Block), BuilderError> {
        match self.blocks.last() {
            Some((Frame::While { .. }, _)) => {}
            _ => return Err(BuilderError(format!("{what} without an open `while`"))),
        }
        let (frame, body) = self.blocks.pop().expect("checked above");
        let Frame::While { init } = frame else {
            unreachable!("checked above")
        };
        Ok((init, body))
    }

    /// Opens the `then` block of an `if` on the scalar `bool` `cond`.
    pub fn begin_if(&mut self, cond: ValueId) {
        self.blocks.push((Frame::Then { cond }, Block::default()));
    }

    /// Closes the `then` block with `yields` and opens the `else` block.
    pub fn begin_else(&mut self, yields: Vec<ValueId>) -> Result<(), BuilderError> {
        match self.blocks.last() {
            Some((Frame::Then { .. }, _)) => {}
            _ => {
                return Err(BuilderError(
                    "begin_else without an open `then` block".into(),
                ))
            }
        }
        let (frame, mut then_block) = self.blocks.pop().expect("checked above");
        let Frame::Then { cond } = frame else {
            unreachable!("checked above")
        };
        let result_types = yields.iter().map(|&v| self.ty(v).clone()).collect();
        then_block.ops.push(Op {
            kind: OpKind::Yield(yields),
            results: vec![],
        });
        self.blocks.push((
            Frame::Else {
                cond,
                then_block,
                result_types,
            },
            Block::default(),
        ));
        Ok(())
    }

    /// Closes the `else` block with `yields`; returns the `if`'s results (typed as the `then`
    /// block's yields).
    pub fn end_if(&mut self, yields: Vec<ValueId>) -> Result<Vec<ValueId>, BuilderError> {
        match self.blocks.last() {
            Some((Frame::Else { .. }, _)) => {}
            _ => return Err(BuilderError("end_if without an open `else` block".into())),
        }
        let (frame, mut else_block) = self.blocks.pop().expect("checked above");
        let Frame::Else {
            cond,
            then_block,
            result_types,
        } = frame
        else {
            unreachable!("checked above")
        };
        else_block.ops.push(Op {
            kind: OpKind::Yield(yields),
            results: vec![],
        });
        Ok(self.push(
            OpKind::If {
                cond,
                then_block,
                else_block,
            },
            result_types,
        ))
    }

    /// The finished kernel. Fails if a loop or branch is still open.
    pub fn finish(mut self) -> Result<Kernel, BuilderError> {
        if self.blocks.len() != 1 {
            return Err(BuilderError(format!(
                "{} control-flow block(s) still open",
                self.blocks.len() - 1
            )));
        }
        let (_, body) = self.blocks.pop().expect("one block");
        Ok(Kernel {
            name: self.name,
            params: self.params,
            body,
            values: self.values,
        })
    }
}

/// Replaces every use of `from[i]` by `to[i]` in `op` and its nested blocks.
fn replace_uses(op: &mut Op, from: &[ValueId], to: &[ValueId]) {
    for v in op.kind.operands_mut() {
        if let Some(i) = from.iter().position(|f| f == v) {
            *v = to[i];
        }
    }
    for block in op.kind.blocks_mut() {
        for op in &mut block.ops {
            replace_uses(op, from, to);
        }
    }
}
