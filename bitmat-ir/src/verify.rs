//! The verifier: checks the invariants of [`crate::Kernel`] documented in [`crate::kernel`].
//!
//! [`verify`] never panics, whatever the kernel holds (out-of-range value ids included): every
//! problem is returned as a [`VerifyError`] naming the kernel, the offending op (printed with
//! [`crate::print::op_to_string`]) and the types or shapes involved. [`verify_all`] reports
//! every problem, in program order: after an op fails, its results count as defined (with
//! their recorded types), so that one mistake is reported once, not again at every use.

use crate::kernel::{
    AtomicOp, BinaryOp, Block, CmpPred, Hint, Kernel, Op, OpKind, ParamKind, ReduceOp, UnaryOp,
    ValueId,
};
use crate::print::op_to_string;
use crate::types::{DType, ElemType, TileType};

/// A violated invariant of a kernel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("kernel `{kernel}`: in `{op}`: {message}")]
pub struct VerifyError {
    /// The kernel's name.
    pub kernel: String,
    /// The offending op as a one-liner ([`op_to_string`]), or a description such as
    /// `parameter a`.
    pub op: String,
    /// What is wrong, naming the types and shapes involved.
    pub message: String,
}

/// Checks every invariant of `kernel`: definitions before uses and scoping, single
/// definitions, types recorded for every value, power-of-two extents, and the typing rules of
/// every op (see [`OpKind`]).
/// Returns the first problem that [`verify_all`] finds.
pub fn verify(kernel: &Kernel) -> Result<(), VerifyError> {
    match verify_all(kernel).into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Checks what [`verify`] checks and returns every problem found, in program order (empty
/// when the kernel is valid).
pub fn verify_all(kernel: &Kernel) -> Vec<VerifyError> {
    let mut v = Verifier {
        kernel,
        visible: vec![false; kernel.values.len()],
        defined: vec![false; kernel.values.len()],
        errors: Vec::new(),
    };
    v.verify_params();
    let mut scope = Vec::new();
    v.verify_block(&kernel.body, BlockKind::Body, &mut scope);
    v.errors
}

/// Where a block sits: the kernel body, or a block of a `for`/`if` (which ends with `yield`).
#[derive(Copy, Clone, PartialEq, Eq)]
enum BlockKind {
    Body,
    Nested,
}

type Check = Result<(), String>;

struct Verifier<'k> {
    kernel: &'k Kernel,
    /// Values in scope at the current point.
    visible: Vec<bool>,
    /// Values defined anywhere so far.
    defined: Vec<bool>,
    /// Problems found so far, in program order.
    errors: Vec<VerifyError>,
}

/// True when `n` is a power of two (1 included; 0 is not).
fn is_pow2(n: u32) -> bool {
    n.is_power_of_two()
}

/// `axis` of `t` as an index of its shape, or the error that `t` has no such axis.
fn axis_of(t: &TileType, axis: u32) -> Result<usize, String> {
    match usize::try_from(axis) {
        Ok(a) if a < t.rank() => Ok(a),
        _ => Err(format!(
            "axis {axis} out of range for {t} (rank {})",
            t.rank()
        )),
    }
}

/// `t` with extent `extent` along `axis` (`axis < t.rank()`).
fn with_extent(t: &TileType, axis: usize, extent: u32) -> TileType {
    let mut shape = t.shape.clone();
    shape[axis] = extent;
    TileType::new(t.elem, shape)
}

/// `shape` with an extent of 1 inserted at `axis` (`axis <= shape.len()`).
fn insert_axis(shape: &[u32], axis: usize) -> Vec<u32> {
    let mut s = shape.to_vec();
    s.insert(axis, 1);
    s
}

/// Number of elements of `shape`, or `None` when it does not fit in 64 bits.
fn numel(shape: &[u32]) -> Option<u64> {
    shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(u64::from(d)))
}

fn same_type(what_a: &str, a: &TileType, what_b: &str, b: &TileType) -> Check {
    if a.shape != b.shape {
        Err(format!(
            "{what_a} and {what_b} have different shapes {a} and {b}"
        ))
    } else if a.elem != b.elem {
        Err(format!(
            "{what_a} and {what_b} have different element types {a} and {b}"
        ))
    } else {
        Ok(())
    }
}

/// Requires the two operands of an elementwise op to have identical types.
fn same_operands(a: &TileType, b: &TileType) -> Check {
    if a.shape != b.shape {
        Err(format!("operands have different shapes {a} and {b}"))
    } else if a.elem != b.elem {
        Err(format!("operands have different element types {a} and {b}"))
    } else {
        Ok(())
    }
}

fn same_shape(what_a: &str, a: &TileType, what_b: &str, b: &TileType) -> Check {
    if a.shape != b.shape {
        Err(format!(
            "{what_a} and {what_b} have different shapes {a} and {b}"
        ))
    } else {
        Ok(())
    }
}

/// The value dtype of `t`, or an error naming `what` when it is a pointer tile.
fn val_dtype(what: &str, t: &TileType) -> Result<DType, String> {
    match t.elem {
        ElemType::Val(d) => Ok(d),
        ElemType::Ptr(_) => Err(format!("{what} must be a value, not a pointer: {t}")),
    }
}

/// What an error about arithmetic on an fp8 tile tells the author to write instead.
const FP8_HINT: &str = "fp8 values are loaded, stored, converted and multiplied by `dot`; cast them (`x as f32`) to compute on them";

/// Requires `t` to be a tile of ints or floats.
fn int_or_float(what: &str, t: &TileType) -> Check {
    let d = val_dtype(what, t)?;
    if d.is_int() || d.is_arith_float() {
        Ok(())
    } else if d.is_fp8() {
        Err(format!(
            "{what} must be integer or float, got {t}: {}",
            FP8_HINT
        ))
    } else {
        Err(format!("{what} must be integer or float, got {t}"))
    }
}

/// True for a `dot` of two fp8 operands (either format each) into an f32 accumulator.
fn fp8_dot(a: ElemType, b: ElemType, acc: ElemType) -> bool {
    let fp8 = |e: ElemType| e.as_val().is_some_and(DType::is_fp8);
    fp8(a) && fp8(b) && acc == ElemType::Val(DType::F32)
}

/// `msg`, with [`FP8_HINT`] appended when `d` is an fp8 type.
fn fp8_hinted(msg: String, d: DType) -> String {
    if d.is_fp8() {
        format!("{msg}: {FP8_HINT}")
    } else {
        msg
    }
}

/// Requires `t` to be a `bool` tile.
fn bool_tile(what: &str, t: &TileType) -> Check {
    if t.elem == ElemType::Val(DType::Bool) {
        Ok(())
    } else {
        Err(format!("{what} must be bool, got {t}"))
    }
}

fn result_is(t: &TileType, expected: &TileType) -> Check {
    if t == expected {
        Ok(())
    } else {
        Err(format!("result type is {t}, expected {expected}"))
    }
}

fn type_list(types: &[&TileType]) -> String {
    let s: Vec<String> = types.iter().map(|t| t.to_string()).collect();
    format!("({})", s.join(", "))
}

impl<'k> Verifier<'k> {
    fn err(&self, op: String, message: String) -> VerifyError {
        VerifyError {
            kernel: self.kernel.name.clone(),
            op,
            message,
        }
    }

    fn op_err(&self, op: &Op, message: String) -> VerifyError {
        self.err(op_to_string(self.kernel, op), message)
    }

    /// The type of `v`, or an error when it has none.
    fn ty(&self, v: ValueId) -> Result<&'k TileType, String> {
        self.kernel.values.get(v.index()).ok_or_else(|| {
            format!(
                "value {v} has no type (the kernel has {} values)",
                self.kernel.values.len()
            )
        })
    }

    /// Defines `v` in the current scope: it must have a type with power-of-two extents and
    /// not be defined already.
    fn define(&mut self, v: ValueId, scope: &mut Vec<ValueId>) -> Check {
        let t = self.ty(v)?;
        if let Some(&d) = t.shape.iter().find(|&&d| !is_pow2(d)) {
            return Err(format!(
                "value {v} has type {t}, whose extent {d} is not a power of two"
            ));
        }
        if self.defined[v.index()] {
            return Err(format!("value {v} is defined more than once"));
        }
        self.defined[v.index()] = true;
        self.visible[v.index()] = true;
        scope.push(v);
        Ok(())
    }

    /// Requires `v` to be defined and in scope.
    fn use_value(&self, v: ValueId) -> Check {
        self.ty(v)?;
        if self.visible[v.index()] {
            Ok(())
        } else if self.defined[v.index()] {
            Err(format!(
                "value {v} is used outside the block that defines it"
            ))
        } else {
            Err(format!("value {v} is used before it is defined"))
        }
    }

    /// Records the problem of `result`, if any.
    fn record(&mut self, result: Result<(), VerifyError>) {
        if let Err(e) = result {
            self.errors.push(e);
        }
    }

    /// Records the problem of `check` as an error of `op`; true when there was none.
    fn record_message(&mut self, op: &Op, check: Check) -> bool {
        match check {
            Ok(()) => true,
            Err(m) => {
                let e = self.op_err(op, m);
                self.errors.push(e);
                false
            }
        }
    }

    fn verify_params(&mut self) {
        let mut scope = Vec::new();
        for p in &self.kernel.params {
            let check = (|| -> Check {
                self.define(p.value, &mut scope)?;
                let t = self.ty(p.value)?;
                let expected = match p.kind {
                    ParamKind::Ptr(d) => TileType::new(ElemType::Ptr(d), vec![]),
                    ParamKind::Scalar(d) => TileType::scalar(d),
                };
                if *t != expected {
                    return Err(format!(
                        "parameter value {} has type {t}, expected {expected}",
                        p.value
                    ));
                }
                Ok(())
            })();
            let check = check.map_err(|m| self.err(format!("parameter {}", p.name), m));
            self.record(check);
        }
    }

    /// Verifies the ops of `block` (whose arguments are already defined), checking where
    /// `yield` may appear; the values the ops define are recorded in `scope`. Every problem is
    /// recorded; the results of a failed op are defined all the same.
    fn verify_block(&mut self, block: &'k Block, kind: BlockKind, scope: &mut Vec<ValueId>) {
        let n = block.ops.len();
        for (i, op) in block.ops.iter().enumerate() {
            if let OpKind::Yield(_) = op.kind {
                if kind == BlockKind::Body {
                    let e = self.op_err(
                        op,
                        "yield is only allowed at the end of a for/if block, not in the kernel body"
                            .into(),
                    );
                    self.errors.push(e);
                } else if i + 1 != n {
                    let e = self.op_err(
                        op,
                        format!(
                            "yield must be the last op of its block, but {} op(s) follow it",
                            n - i - 1
                        ),
                    );
                    self.errors.push(e);
                }
            }
            let checked = self.verify_op(op, scope);
            if checked.is_err() {
                self.record(checked);
                for &r in &op.results {
                    // Problems with the definition itself were reported by verify_op if it got
                    // that far; otherwise they are reported at the next mistake, not here.
                    let _ = self.define(r, scope);
                }
            }
        }
    }

    /// Verifies a nested block with arguments `block.args`, then hides what it defined.
    /// Returns the types of its final `yield`.
    fn verify_nested(
        &mut self,
        owner: &Op,
        block: &'k Block,
        what: &str,
    ) -> Result<Vec<&'k TileType>, VerifyError> {
        let mut scope = Vec::new();
        let result = (|| {
            for &a in &block.args {
                self.define(a, &mut scope)
                    .map_err(|m| self.op_err(owner, format!("{what} argument: {m}")))?;
            }
            self.verify_block(block, BlockKind::Nested, &mut scope);
            let Some(Op {
                kind: OpKind::Yield(vals),
                ..
            }) = block.ops.last()
            else {
                return Err(self.op_err(owner, format!("{what} does not end with yield")));
            };
            // Operands of the yield were checked by verify_op.
            vals.iter()
                .map(|&v| self.ty(v).map_err(|m| self.op_err(owner, m)))
                .collect::<Result<Vec<_>, _>>()
        })();
        for v in scope {
            self.visible[v.index()] = false;
        }
        result
    }

    fn verify_op(&mut self, op: &'k Op, scope: &mut Vec<ValueId>) -> Result<(), VerifyError> {
        // Operands in scope: every bad operand is reported, the last one as this op's error.
        let mut bad: Vec<VerifyError> = op
            .kind
            .operands()
            .into_iter()
            .filter_map(|v| self.use_value(v).err())
            .map(|m| self.op_err(op, m))
            .collect();
        if let Some(last) = bad.pop() {
            self.errors.extend(bad);
            return Err(last);
        }
        // Result count.
        let expected_results = match &op.kind {
            OpKind::Store { .. }
            | OpKind::Print { .. }
            | OpKind::Assert { .. }
            | OpKind::Yield(_) => Some(0),
            OpKind::For { init, .. } | OpKind::While { init, .. } => Some(init.len()),
            OpKind::If { .. } => None,
            _ => Some(1),
        };
        if let Some(n) = expected_results {
            if op.results.len() != n {
                return Err(self.op_err(
                    op,
                    format!(
                        "{} defines {} result(s), expected {n}",
                        op.kind.name(),
                        op.results.len()
                    ),
                ));
            }
        }
        for &r in &op.results {
            self.ty(r).map_err(|m| self.op_err(op, m))?;
        }
        // Typing rules (nested blocks are verified here too).
        match &op.kind {
            OpKind::For {
                lower,
                upper,
                step,
                init,
                body,
            } => self.verify_for(op, *lower, *upper, *step, init, body)?,
            OpKind::While { init, body } => self.verify_while(op, init, body)?,
            OpKind::If {
                cond,
                then_block,
                else_block,
            } => self.verify_if(op, *cond, then_block, else_block)?,
            kind => self
                .check_simple(kind, op)
                .map_err(|m| self.op_err(op, m))?,
        }
        // Results become visible after the op.
        for &r in &op.results {
            self.define(r, scope).map_err(|m| self.op_err(op, m))?;
        }
        Ok(())
    }

    fn verify_for(
        &mut self,
        op: &'k Op,
        lower: ValueId,
        upper: ValueId,
        step: ValueId,
        init: &[ValueId],
        body: &'k Block,
    ) -> Result<(), VerifyError> {
        let header = (|| -> Check {
            let lt = self.ty(lower)?;
            let ut = self.ty(upper)?;
            let st = self.ty(step)?;
            if !lt.is_scalar() || !lt.dtype().is_some_and(DType::is_int) {
                return Err(format!("lower bound must be a scalar integer, got {lt}"));
            }
            same_type("lower bound", lt, "upper bound", ut)?;
            same_type("lower bound", lt, "step", st)?;
            if body.args.len() != init.len() + 1 {
                return Err(format!(
                    "body has {} argument(s), expected {} (the induction variable and {} carried value(s))",
                    body.args.len(),
                    init.len() + 1,
                    init.len()
                ));
            }
            let iv = self.ty(body.args[0])?;
            if iv != lt {
                return Err(format!(
                    "induction variable {} has type {iv}, expected {lt}",
                    body.args[0]
                ));
            }
            self.check_carried(op, &body.args[1..], init)
        })();
        // The header's problem, then the body's (verified whatever the header holds).
        let header_ok = self.record_message(op, header);
        let yielded = self.verify_nested(op, body, "loop body");
        if !header_ok {
            self.record(yielded.map(|_| ()));
            return Ok(());
        }
        let yielded = yielded?;
        let init_types: Vec<&TileType> = init.iter().filter_map(|&v| self.ty(v).ok()).collect();
        if yielded != init_types {
            return Err(self.op_err(
                op,
                format!(
                    "loop body yields {}, but the carried values have types {}",
                    type_list(&yielded),
                    type_list(&init_types)
                ),
            ));
        }
        Ok(())
    }

    /// Checks that a loop's body arguments `args` for its carried values and its results have
    /// the types of the carried values' initial values `init`.
    fn check_carried(&self, op: &Op, args: &[ValueId], init: &[ValueId]) -> Check {
        for (i, (&a, &v)) in args.iter().zip(init).enumerate() {
            let at = self.ty(a)?;
            let vt = self.ty(v)?;
            if at != vt {
                return Err(format!(
                    "carried value #{i}: body argument {a} has type {at}, but its initial value {v} has type {vt}"
                ));
            }
        }
        for (i, (&r, &v)) in op.results.iter().zip(init).enumerate() {
            let rt = self.ty(r)?;
            let vt = self.ty(v)?;
            if rt != vt {
                return Err(format!(
                    "result #{i} {r} has type {rt}, but its initial value {v} has type {vt}"
                ));
            }
        }
        Ok(())
    }

    fn verify_while(
        &mut self,
        op: &'k Op,
        init: &[ValueId],
        body: &'k Block,
    ) -> Result<(), VerifyError> {
        let header = (|| -> Check {
            if body.args.len() != init.len() {
                return Err(format!(
                    "body has {} argument(s), expected one per carried value ({})",
                    body.args.len(),
                    init.len()
                ));
            }
            self.check_carried(op, &body.args, init)
        })();
        let header_ok = self.record_message(op, header);
        let yielded = self.verify_nested(op, body, "while body");
        if !header_ok {
            self.record(yielded.map(|_| ()));
            return Ok(());
        }
        let yielded = yielded?;
        let bool_scalar = TileType::scalar(DType::Bool);
        let mut expected: Vec<&TileType> = vec![&bool_scalar];
        expected.extend(init.iter().filter_map(|&v| self.ty(v).ok()));
        if yielded != expected {
            return Err(self.op_err(
                op,
                format!(
                    "while body yields {}, but must yield a scalar bool then the carried values' types {}",
                    type_list(&yielded),
                    type_list(&expected[1..])
                ),
            ));
        }
        Ok(())
    }

    fn verify_if(
        &mut self,
        op: &'k Op,
        cond: ValueId,
        then_block: &'k Block,
        else_block: &'k Block,
    ) -> Result<(), VerifyError> {
        let header = (|| -> Check {
            let ct = self.ty(cond)?;
            if *ct != TileType::scalar(DType::Bool) {
                return Err(format!("condition must be a scalar bool, got {ct}"));
            }
            if !then_block.args.is_empty() || !else_block.args.is_empty() {
                return Err("the blocks of an if take no arguments".into());
            }
            Ok(())
        })();
        // The header's problem, then each block's, in program order (the blocks are verified
        // whatever the header holds).
        let header_ok = self.record_message(op, header);
        let mut yields = Vec::new();
        for (block, what) in [(then_block, "then block"), (else_block, "else block")] {
            match self.verify_nested(op, block, what) {
                Ok(types) => yields.push(types),
                Err(e) => self.errors.push(e),
            }
        }
        let [then_types, else_types]: [Vec<&TileType>; 2] = match yields.try_into() {
            Ok(both) if header_ok => both,
            // Something failed (recorded above): the yields cannot be compared.
            _ => return Ok(()),
        };
        if then_types != else_types {
            return Err(self.op_err(
                op,
                format!(
                    "then block yields {}, but else block yields {}",
                    type_list(&then_types),
                    type_list(&else_types)
                ),
            ));
        }
        let result_types: Vec<&TileType> =
            op.results.iter().filter_map(|&v| self.ty(v).ok()).collect();
        if result_types != then_types {
            return Err(self.op_err(
                op,
                format!(
                    "results have types {}, but the blocks yield {}",
                    type_list(&result_types),
                    type_list(&then_types)
                ),
            ));
        }
        Ok(())
    }

    /// Typing rules of the ops without nested blocks (result count already checked).
    fn check_simple(&self, kind: &OpKind, op: &Op) -> Check {
        let res = || -> Result<&TileType, String> {
            match op.results.first() {
                Some(&r) => self.ty(r),
                None => Err("missing result".into()),
            }
        };
        match kind {
            OpKind::Constant(s) => {
                let r = res()?;
                if r.elem != ElemType::Val(s.dtype()) {
                    return Err(format!(
                        "constant of type {} but result type is {r}",
                        s.dtype()
                    ));
                }
                Ok(())
            }
            OpKind::ProgramId(axis) | OpKind::NumPrograms(axis) => {
                if *axis >= 3 {
                    return Err(format!("axis {axis} out of range (grid axes are 0, 1, 2)"));
                }
                result_is(res()?, &TileType::scalar(DType::I32))
            }
            OpKind::Arange(n) => {
                if !is_pow2(*n) {
                    return Err(format!("arange extent {n} is not a power of two"));
                }
                result_is(res()?, &TileType::val(DType::I32, vec![*n]))
            }
            OpKind::Unary(u, v) => {
                let t = self.ty(*v)?;
                let d = val_dtype("operand", t)?;
                let ok = match u {
                    UnaryOp::Neg | UnaryOp::Abs => d.is_int() || d.is_arith_float(),
                    UnaryOp::Not => d.is_int() || d == DType::Bool,
                    _ => d.is_arith_float(),
                };
                if !ok {
                    let allowed = match u {
                        UnaryOp::Neg | UnaryOp::Abs => "integers and floats",
                        UnaryOp::Not => "integers and bool",
                        _ => "floats",
                    };
                    return Err(fp8_hinted(
                        format!("{} is defined on {allowed}, not on {t}", kind.name()),
                        d,
                    ));
                }
                result_is(res()?, t)
            }
            OpKind::Binary(b, x, y) => {
                let xt = self.ty(*x)?;
                let yt = self.ty(*y)?;
                same_operands(xt, yt)?;
                let d = val_dtype("operand", xt)?;
                let (ok, allowed) = match b {
                    BinaryOp::Add
                    | BinaryOp::Sub
                    | BinaryOp::Mul
                    | BinaryOp::Div
                    | BinaryOp::Rem
                    | BinaryOp::Min
                    | BinaryOp::Max => (d.is_int() || d.is_arith_float(), "integers and floats"),
                    BinaryOp::And | BinaryOp::Or | BinaryOp::Xor => {
                        (d.is_int() || d == DType::Bool, "integers and bool")
                    }
                    BinaryOp::Shl | BinaryOp::Shr => (d.is_int(), "integers"),
                };
                if !ok {
                    return Err(fp8_hinted(
                        format!("{} is defined on {allowed}, not on {xt}", kind.name()),
                        d,
                    ));
                }
                result_is(res()?, xt)
            }
            OpKind::Cmp(p, x, y) => {
                let xt = self.ty(*x)?;
                let yt = self.ty(*y)?;
                same_operands(xt, yt)?;
                let d = val_dtype("operand", xt)?;
                let ok = match p {
                    CmpPred::Eq | CmpPred::Ne => !d.is_fp8(),
                    _ => d.is_int() || d.is_arith_float(),
                };
                if !ok {
                    return Err(fp8_hinted(
                        format!(
                            "{} is defined on integers and floats, not on {xt}",
                            kind.name()
                        ),
                        d,
                    ));
                }
                result_is(res()?, &xt.with_elem(ElemType::Val(DType::Bool)))
            }
            OpKind::Select {
                cond,
                on_true,
                on_false,
            } => {
                let ct = self.ty(*cond)?;
                let tt = self.ty(*on_true)?;
                let ft = self.ty(*on_false)?;
                bool_tile("condition", ct)?;
                same_shape("condition", ct, "values", tt)?;
                same_type("true value", tt, "false value", ft)?;
                result_is(res()?, tt)
            }
            OpKind::Fma(a, b, c) => {
                let (at, bt, ct) = (self.ty(*a)?, self.ty(*b)?, self.ty(*c)?);
                same_type("first operand", at, "second operand", bt)?;
                same_type("first operand", at, "addend", ct)?;
                if !val_dtype("operand", at)?.is_arith_float() {
                    return Err(format!("fma is defined on floats, not on {at}"));
                }
                result_is(res()?, at)
            }
            OpKind::Cast(v) => {
                let t = self.ty(*v)?;
                let r = res()?;
                val_dtype("operand", t)?;
                val_dtype("result", r)?;
                same_shape("operand", t, "result", r)
            }
            OpKind::Bitcast(v) => {
                let t = self.ty(*v)?;
                let r = res()?;
                let d = val_dtype("operand", t)?;
                let rd = val_dtype("result", r)?;
                if d == DType::Bool || rd == DType::Bool {
                    return Err(format!("bitcast is not defined on bool ({t} to {r})"));
                }
                if d.bits() != rd.bits() {
                    return Err(format!(
                        "bitcast between types of different widths: {t} ({} bits) to {r} ({} bits)",
                        d.bits(),
                        rd.bits()
                    ));
                }
                same_shape("operand", t, "result", r)
            }
            OpKind::Broadcast(v) => {
                let t = self.ty(*v)?;
                let r = res()?;
                if t.elem != r.elem {
                    return Err(format!(
                        "broadcast changes the element type from {t} to {r}"
                    ));
                }
                if t.rank() != r.rank() {
                    return Err(format!(
                        "broadcast needs equal ranks, got {t} (rank {}) and {r} (rank {})",
                        t.rank(),
                        r.rank()
                    ));
                }
                for (axis, (&s, &d)) in t.shape.iter().zip(&r.shape).enumerate() {
                    if s != 1 && s != d {
                        return Err(format!(
                            "cannot broadcast {t} to {r}: extent {s} of axis {axis} is neither 1 nor {d}"
                        ));
                    }
                }
                Ok(())
            }
            OpKind::ExpandDims { value, axis } => {
                let t = self.ty(*value)?;
                let r = res()?;
                let axis = *axis as usize;
                if axis > t.rank() {
                    return Err(format!(
                        "axis {axis} out of range for {t} (rank {}; valid axes 0..={})",
                        t.rank(),
                        t.rank()
                    ));
                }
                let expected = TileType::new(t.elem, insert_axis(&t.shape, axis));
                result_is(r, &expected)
            }
            OpKind::Hint { value, hint } => {
                let t = self.ty(*value)?;
                if !t.dtype().is_some_and(|d| d.is_int() && d != DType::Bool) {
                    return Err(format!("{} describes integer tiles, not {t}", kind.name()));
                }
                let (Hint::MultipleOf(n) | Hint::MaxContiguous(n)) = *hint;
                if !n.is_power_of_two() {
                    return Err(format!("{} needs a power of two, not {n}", kind.name()));
                }
                result_is(res()?, t)
            }
            OpKind::Reshape(v) => {
                let t = self.ty(*v)?;
                let r = res()?;
                if t.elem != r.elem {
                    return Err(format!("reshape changes the element type from {t} to {r}"));
                }
                let (a, b) = (numel(&t.shape), numel(&r.shape));
                if a.is_none() || a != b {
                    return Err(format!(
                        "reshape from {t} to {r} changes the number of elements"
                    ));
                }
                Ok(())
            }
            OpKind::Permute { value, perm } => {
                let t = self.ty(*value)?;
                let r = res()?;
                let mut seen = vec![false; t.rank()];
                for &p in perm {
                    match seen.get_mut(p as usize) {
                        Some(s) if !*s => *s = true,
                        _ => {
                            return Err(format!(
                            "permutation {perm:?} of the axes of {t} is not a permutation of 0..{}",
                            t.rank()
                        ))
                        }
                    }
                }
                if perm.len() != t.rank() {
                    return Err(format!(
                        "permutation {perm:?} of the axes of {t} has {} entries, not {}",
                        perm.len(),
                        t.rank()
                    ));
                }
                let shape: Vec<u32> = perm.iter().map(|&p| t.shape[p as usize]).collect();
                result_is(r, &TileType::new(t.elem, shape))
            }
            OpKind::Concat { a, b, axis } => {
                let (ta, tb) = (self.ty(*a)?, self.ty(*b)?);
                let r = res()?;
                if ta != tb {
                    return Err(format!("concat of different types {ta} and {tb}"));
                }
                let axis = axis_of(ta, *axis)?;
                result_is(r, &with_extent(ta, axis, ta.shape[axis] * 2))
            }
            OpKind::Slice { value, axis, start } => {
                let t = self.ty(*value)?;
                let r = res()?;
                let axis = axis_of(t, *axis)?;
                if r.rank() != t.rank() {
                    return Err(format!("slice of {t} to {r} changes the rank"));
                }
                let e = r.shape[axis];
                if e == 0 || start % e != 0 || start + e > t.shape[axis] {
                    return Err(format!(
                        "slice of {t} from {start} to {r} along axis {axis}: the start must be a multiple of the result's extent {e} and the block inside the operand"
                    ));
                }
                result_is(r, &with_extent(t, axis, e))
            }
            OpKind::Reduce { op, value, axis } => {
                let t = self.ty(*value)?;
                let r = res()?;
                let axis = axis_of(t, *axis)?;
                int_or_float("operand", t)?;
                if *op == ReduceOp::Xor && !t.dtype().is_some_and(DType::is_int) {
                    return Err(format!("reduce_xor is defined on integers, not {t}"));
                }
                let mut shape = t.shape.clone();
                shape.remove(axis);
                result_is(r, &TileType::new(t.elem, shape))
            }
            OpKind::Dot { a, b, acc } => {
                let at = self.ty(*a)?;
                let bt = self.ty(*b)?;
                let ct = self.ty(*acc)?;
                if at.rank() != 2 || bt.rank() != 2 || ct.rank() != 2 {
                    return Err(format!(
                        "dot operands must have rank 2, got a {at}, b {bt}, acc {ct}"
                    ));
                }
                let (m, k) = (at.shape[0], at.shape[1]);
                let (k2, n) = (bt.shape[0], bt.shape[1]);
                if k != k2 || ct.shape[0] != m || ct.shape[1] != n {
                    return Err(format!(
                        "dot shapes do not match a [M, K] x b [K, N] + acc [M, N]: a {at}, b {bt}, acc {ct}"
                    ));
                }
                let combo = (at.elem, bt.elem, ct.elem);
                let v = ElemType::Val;
                let ok = [
                    (v(DType::I8), v(DType::I8), v(DType::I32)),
                    (v(DType::F16), v(DType::F16), v(DType::F32)),
                    (v(DType::BF16), v(DType::BF16), v(DType::F32)),
                    (v(DType::F32), v(DType::F32), v(DType::F32)),
                ]
                .contains(&combo)
                    || fp8_dot(at.elem, bt.elem, ct.elem);
                if !ok {
                    return Err(format!(
                        "unsupported dot types a {at}, b {bt}, acc {ct} (supported: i8 x i8 + i32, f16 x f16 + f32, bf16 x bf16 + f32, f32 x f32 + f32, and f8e4m3 or f8e5m2 x f8e4m3 or f8e5m2 + f32)"
                    ));
                }
                result_is(res()?, ct)
            }
            OpKind::AddPtr { ptr, offset } => {
                let pt = self.ty(*ptr)?;
                let ot = self.ty(*offset)?;
                if pt.elem.pointee().is_none() {
                    return Err(format!("addptr needs a pointer tile, got {pt}"));
                }
                if !ot.dtype().is_some_and(DType::is_int) {
                    return Err(format!("offset must be integer, got {ot}"));
                }
                same_shape("pointer", pt, "offset", ot)?;
                result_is(res()?, pt)
            }
            OpKind::Load { ptr, mask, other } => {
                let pt = self.ty(*ptr)?;
                let d = pt
                    .elem
                    .pointee()
                    .ok_or_else(|| format!("load needs a pointer tile, got {pt}"))?;
                let vt = pt.with_elem(ElemType::Val(d));
                self.check_mask(*mask, pt)?;
                if let Some(o) = other {
                    let ot = self.ty(*o)?;
                    if *ot != vt {
                        return Err(format!(
                            "other has type {ot}, expected {vt} (the pointee type of {pt})"
                        ));
                    }
                }
                result_is(res()?, &vt)
            }
            OpKind::AtomicCas {
                ptr,
                cmp,
                value,
                mask,
            } => {
                let pt = self.ty(*ptr)?;
                let d = pt
                    .elem
                    .pointee()
                    .ok_or_else(|| format!("atomic_cas needs a pointer tile, got {pt}"))?;
                let expected = pt.with_elem(ElemType::Val(d));
                for (what, v) in [("compared value", cmp), ("value", value)] {
                    let vt = self.ty(*v)?;
                    if *vt != expected {
                        return Err(format!(
                            "{what} has type {vt}, expected {expected} (the pointee type of {pt})"
                        ));
                    }
                }
                self.check_mask(*mask, pt)?;
                if !AtomicOp::Xchg.supports(d) {
                    return Err(format!(
                        "atomic_cas is defined on i32, u32, i64, u64 and f32, not on {expected}"
                    ));
                }
                result_is(res()?, &expected)
            }
            OpKind::Store { ptr, value, mask }
            | OpKind::Atomic {
                ptr, value, mask, ..
            } => {
                let pt = self.ty(*ptr)?;
                let d = pt
                    .elem
                    .pointee()
                    .ok_or_else(|| format!("{} needs a pointer tile, got {pt}", kind.name()))?;
                let vt = self.ty(*value)?;
                let expected = pt.with_elem(ElemType::Val(d));
                if *vt != expected {
                    return Err(format!(
                        "value has type {vt}, expected {expected} (the pointee type of {pt})"
                    ));
                }
                self.check_mask(*mask, pt)?;
                if let OpKind::Atomic { op, .. } = kind {
                    if !op.supports(d) {
                        let on = if matches!(op, AtomicOp::And | AtomicOp::Or | AtomicOp::Xor) {
                            "i32, u32, i64 and u64"
                        } else {
                            "i32, u32, i64, u64 and f32"
                        };
                        return Err(format!("{} is defined on {on}, not on {vt}", op.name()));
                    }
                    result_is(res()?, vt)?;
                }
                Ok(())
            }
            OpKind::Print { value, .. } => {
                let t = self.ty(*value)?;
                if t.dtype().is_none() {
                    return Err(format!(
                        "device_print prints values, not the pointers of {t}"
                    ));
                }
                Ok(())
            }
            OpKind::Assert { cond, .. } => bool_tile("condition", self.ty(*cond)?),
            // Placement is checked by verify_block, operands by verify_op, types by the owner.
            OpKind::Yield(_) => Ok(()),
            OpKind::For { .. } | OpKind::While { .. } | OpKind::If { .. } => Ok(()),
        }
    }

    fn check_mask(&self, mask: Option<ValueId>, pt: &TileType) -> Check {
        if let Some(m) = mask {
            let mt = self.ty(m)?;
            bool_tile("mask", mt)?;
            same_shape("mask", mt, "pointer", pt)?;
        }
        Ok(())
    }
}
