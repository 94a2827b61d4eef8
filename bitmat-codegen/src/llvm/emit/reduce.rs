//! Reductions along one axis, in the interpreter's order.
//!
//! A tile is viewed as `[outer, n, inner]` around the reduced axis (`bool` as bytes 0/1, its
//! `max`/`min` those of the bytes). Integer reductions along the last axis are one
//! `llvm.vector.reduce.*` per row (their order does not matter); float sums along it are
//! ordered `llvm.vector.reduce.fadd` (sequential, bit-exact). Everything else folds the `n`
//! slices `[outer, inner]` in index order with vector ops, so float results match the
//! interpreter's sequential `f32` sums bit for bit. That is unrolled for tiles of at most
//! [`UNROLLED`] elements; larger tiles are stored to the stack and reduced by loops over rows
//! (integer rows along the last axis one vector reduction each), which keeps the code's size
//! independent of the tile's.

use super::elementwise::suffix;
use super::{reg_elem, vec, vec_lanes, Emitter, Operand};
use crate::CodegenError;
use bitmat_ir::{BinaryOp, DType, ElemType, ReduceOp, ValueId};

/// The largest tile whose reduction is unrolled.
const UNROLLED: usize = 64;

impl Emitter<'_> {
    /// `x.reduce(op, axis)`.
    pub(crate) fn reduce(
        &mut self,
        op: ReduceOp,
        x: ValueId,
        axis: u32,
        r: ValueId,
    ) -> Result<(), CodegenError> {
        let d = self.dtype(x)?;
        if d == DType::Bool && op == ReduceOp::Sum {
            return Err(self.unsupported("`sum` of bool"));
        }
        let shape = &self.ty(x).shape;
        let axis = axis as usize;
        if axis >= shape.len() {
            return Err(self.unsupported(format!("axis {axis} of a rank-{} tile", shape.len())));
        }
        let outer: usize = shape[..axis].iter().map(|&e| e as usize).product();
        let n = shape[axis] as usize;
        let inner: usize = shape[axis + 1..].iter().map(|&e| e as usize).product();
        let d_in = d;
        let d = if d == DType::Bool { DType::U8 } else { d };
        let elem = if d.is_float() {
            "float"
        } else {
            reg_elem(ElemType::Val(d))
        };
        let chunks: Vec<Operand> = self
            .chunks(x)?
            .iter()
            .map(|c| match d_in {
                DType::Bool => {
                    let t = vec(vec_lanes(&c.ty), "i8");
                    self.ins(t.clone(), format!("zext {} {} to {t}", c.ty, c.text))
                }
                d if d.is_float() => self.widen(c, d),
                _ => c.clone(),
            })
            .collect();
        let out_chunks = if outer * n * inner > UNROLLED {
            self.reduce_loops(op, d, &chunks, (outer, n, inner), self.lanes(r))?
        } else {
            let v = self.concat(chunks, elem);
            let out = self.reduce_unrolled(op, d, &v, (outer, n, inner))?;
            self.split(&out, elem, self.lanes(r))
        };
        let out_chunks = out_chunks
            .iter()
            .map(|c| match d_in {
                DType::Bool => self.ins(
                    vec(vec_lanes(&c.ty), "i1"),
                    format!("icmp ne {} {}, zeroinitializer", c.ty, c.text),
                ),
                d if d.is_float() => self.narrow(c, d),
                _ => c.clone(),
            })
            .collect();
        self.set_chunks(r, out_chunks);
        Ok(())
    }

    /// A reduction of the small tile `v` (viewed as `[outer, n, inner]`), unrolled.
    fn reduce_unrolled(
        &mut self,
        op: ReduceOp,
        d: DType,
        v: &Operand,
        (outer, n, inner): (usize, usize, usize),
    ) -> Result<Operand, CodegenError> {
        let elem = if d.is_float() {
            "float"
        } else {
            reg_elem(ElemType::Val(d))
        };
        let row = |o: usize| -> Vec<usize> { (o * n..(o + 1) * n).collect() };
        Ok(if inner == 1 && (!d.is_float() || op == ReduceOp::Sum) {
            let name = match (op, d) {
                (ReduceOp::Sum, d) if d.is_float() => "fadd",
                (ReduceOp::Sum, _) => "add",
                (ReduceOp::Max, d) if d.is_signed_int() => "smax",
                (ReduceOp::Min, d) if d.is_signed_int() => "smin",
                (ReduceOp::Max, _) => "umax",
                (ReduceOp::Min, _) => "umin",
                (ReduceOp::Xor, _) => "xor",
            };
            let mut lanes = Vec::with_capacity(outer);
            for o in 0..outer {
                let rv = self.shuffle(v, elem, &row(o));
                let intrinsic = format!("llvm.vector.reduce.{name}.{}", suffix(&rv.ty));
                lanes.push(if name == "fadd" {
                    // -0.0 + x == x for every x: the sum starts from the first element.
                    let start = Operand {
                        text: "-0.0".into(),
                        ty: "float".into(),
                    };
                    self.intrinsic("float", &intrinsic, &[&start, &rv])
                } else {
                    self.intrinsic(elem, &intrinsic, &[&rv])
                });
            }
            self.gather_lanes(&lanes, elem)
        } else {
            let slice = |k: usize| -> Vec<usize> {
                (0..outer)
                    .flat_map(|o| (0..inner).map(move |i| o * n * inner + k * inner + i))
                    .collect()
            };
            let mut acc = self.shuffle(v, elem, &slice(0));
            for k in 1..n {
                let s = self.shuffle(v, elem, &slice(k));
                acc = match (op, d.is_float()) {
                    (ReduceOp::Sum, true) => {
                        let t = acc.ty.clone();
                        self.ins(t.clone(), format!("fadd {t} {}, {}", acc.text, s.text))
                    }
                    (ReduceOp::Max | ReduceOp::Min, true) => {
                        self.float_min_max(op == ReduceOp::Min, &acc, &s)
                    }
                    (ReduceOp::Xor, true) => {
                        return Err(self.unsupported("reduce_xor on a float tile"))
                    }
                    (op, false) => self.binary_values(int_op(op), d, &acc, &s)?,
                };
            }
            acc
        })
    }

    /// A reduction as loops: for each of the `outer` rows, the `inner` lanes of slice 0
    /// loaded, then slices `1..n` folded in order, all from the tile (its `chunks`) stored to
    /// the stack (floats as `float`); integer rows of the last axis are one vector reduction
    /// each. Returns the result in chunks of `out_chunk` lanes.
    fn reduce_loops(
        &mut self,
        op: ReduceOp,
        d: DType,
        chunks: &[Operand],
        (outer, n, inner): (usize, usize, usize),
        out_chunk: usize,
    ) -> Result<Vec<Operand>, CodegenError> {
        let elem = if d.is_float() {
            "float"
        } else {
            reg_elem(ElemType::Val(d))
        };
        let bytes = if d.is_float() { 4 } else { d.size_bytes() };
        let (n, inner, vector_rows) = if !d.is_float() && inner == 1 {
            (1, n, true)
        } else {
            (n, inner, false)
        };
        let rt = vec(inner, elem);
        let out_lanes = if vector_rows { 1 } else { inner };
        let ot = vec(out_lanes, elem);
        let (src, dst) = (
            self.stack_buffer(bytes * outer * n * inner),
            self.stack_buffer(bytes * outer * out_lanes),
        );
        self.store_chunks(chunks, elem, &src);
        let pre = self.block.clone();
        let (row_head, k_head, row_end, done) = (
            self.label("red_row"),
            self.label("red_k"),
            self.label("red_row_end"),
            self.label("red_done"),
        );
        let (o, o_next, k, k_next, acc) = (
            self.fresh(),
            self.fresh(),
            self.fresh(),
            self.fresh(),
            self.fresh(),
        );
        self.line(format!("br label %{row_head}"));
        self.start_block(&row_head);
        self.line(format!(
            "{o} = phi i64 [ 0, %{pre} ], [ {o_next}, %{row_end} ]"
        ));
        let base = self.ins("i64", format!("mul i64 {o}, {}", n * inner));
        let p0 = self.ins(
            "ptr",
            format!("getelementptr {elem}, ptr {src}, i64 {}", base.text),
        );
        let first = self.ins(rt.clone(), format!("load {rt}, ptr {}, align 1", p0.text));
        let result = if n == 1 {
            self.line(format!("br label %{row_end}"));
            first
        } else {
            self.line(format!("br label %{k_head}"));
            self.start_block(&k_head);
            // The back edge's value is known after the fold: a token replaced afterwards.
            let token = format!("@@{acc}@@");
            self.line(format!(
                "{k} = phi i64 [ 1, %{row_head} ], [ {k_next}, %{k_head} ]"
            ));
            self.line(format!(
                "{acc} = phi {rt} [ {}, %{row_head} ], [ {token}, %{k_head} ]",
                first.text
            ));
            let kin = self.ins("i64", format!("mul i64 {k}, {inner}"));
            let at = self.ins("i64", format!("add i64 {}, {}", base.text, kin.text));
            let pk = self.ins(
                "ptr",
                format!("getelementptr {elem}, ptr {src}, i64 {}", at.text),
            );
            let x = self.ins(rt.clone(), format!("load {rt}, ptr {}, align 1", pk.text));
            let acc_op = Operand {
                text: acc.clone(),
                ty: rt.clone(),
            };
            let folded = match (op, d.is_float()) {
                (ReduceOp::Sum, true) => {
                    self.ins(rt.clone(), format!("fadd {rt} {acc}, {}", x.text))
                }
                (_, true) => self.float_min_max(op == ReduceOp::Min, &acc_op, &x),
                (op, false) => self.binary_values(int_op(op), d, &acc_op, &x)?,
            };
            self.body = self.body.replacen(&token, &folded.text, 1);
            self.line(format!("{k_next} = add i64 {k}, 1"));
            let more = self.ins("i1", format!("icmp ult i64 {k_next}, {n}"));
            self.line(format!(
                "br i1 {}, label %{k_head}, label %{row_end}",
                more.text
            ));
            folded
        };
        self.start_block(&row_end);
        let result = if vector_rows {
            let name = format!(
                "llvm.vector.reduce.{}.{}",
                int_reduction(op, d),
                suffix(&rt)
            );
            let r = self.intrinsic(elem, &name, &[&result]);
            self.ins(
                ot.clone(),
                format!("insertelement {ot} poison, {elem} {}, i32 0", r.text),
            )
        } else {
            result
        };
        let od = self.ins("i64", format!("mul i64 {o}, {out_lanes}"));
        let pd = self.ins(
            "ptr",
            format!("getelementptr {elem}, ptr {dst}, i64 {}", od.text),
        );
        self.line(format!(
            "store {ot} {}, ptr {}, align 1",
            result.text, pd.text
        ));
        self.line(format!("{o_next} = add i64 {o}, 1"));
        let more = self.ins("i1", format!("icmp ult i64 {o_next}, {outer}"));
        self.line(format!(
            "br i1 {}, label %{row_head}, label %{done}",
            more.text
        ));
        self.start_block(&done);
        Ok(self.load_chunks(&dst, elem, outer * out_lanes, out_chunk))
    }
}

/// The binary op that folds `op` on integers.
fn int_op(op: ReduceOp) -> BinaryOp {
    match op {
        ReduceOp::Sum => BinaryOp::Add,
        ReduceOp::Max => BinaryOp::Max,
        ReduceOp::Min => BinaryOp::Min,
        ReduceOp::Xor => BinaryOp::Xor,
    }
}

/// The `llvm.vector.reduce.*` name of `op` on integers of `d`.
fn int_reduction(op: ReduceOp, d: DType) -> &'static str {
    match (op, d.is_signed_int()) {
        (ReduceOp::Sum, _) => "add",
        (ReduceOp::Max, true) => "smax",
        (ReduceOp::Min, true) => "smin",
        (ReduceOp::Max, false) => "umax",
        (ReduceOp::Min, false) => "umin",
        (ReduceOp::Xor, _) => "xor",
    }
}
