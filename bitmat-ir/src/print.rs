//! The text printer of the IR.
//!
//! The format is stable and deterministic (snapshot tests depend on it): one op per line,
//! two spaces of indentation per nesting level, result types after ` : `.
//!
//! ```text
//! kernel @name(%0: ptr<i8> a, %1: i32 m) {
//!   %2 = program_id 0 : i32
//!   %3 = arange 16 : i32[16]
//!   %4, %5 = for %6 = %lo to %hi step %st iter_args(%7 = %i0, %8 = %i1) {
//!     yield %7, %8
//!   } : i32[16], f32
//! }
//! ```
//!
//! The printer never panics, even on malformed kernels (values without a type print as `?`),
//! so that the verifier can quote the ops it rejects. [`crate::parse`] reads the text back
//! (its module doc has the grammar); `tests/ir_text.rs` and `bitmat-ir/tests/parse.rs` check
//! that every kernel round-trips.

use crate::kernel::{Block, Hint, Kernel, Op, OpKind, ParamKind, ValueId};
use std::fmt::{self, Write as _};

/// The type of `v` as text, or `?` when `v` has no recorded type.
fn type_str(kernel: &Kernel, v: ValueId) -> String {
    match kernel.values.get(v.index()) {
        Some(t) => t.to_string(),
        None => "?".to_string(),
    }
}

/// `%a, %b, ...`
fn list(vals: &[ValueId]) -> String {
    let items: Vec<String> = vals.iter().map(|v| v.to_string()).collect();
    items.join(", ")
}

/// `%a` or `?` for a missing value.
fn opt_val(v: Option<&ValueId>) -> String {
    match v {
        Some(v) => v.to_string(),
        None => "?".to_string(),
    }
}

/// ` : T1, T2` for the op's results, or nothing when it has none.
fn result_types(kernel: &Kernel, op: &Op) -> String {
    if op.results.is_empty() {
        return String::new();
    }
    let types: Vec<String> = op.results.iter().map(|&v| type_str(kernel, v)).collect();
    format!(" : {}", types.join(", "))
}

/// The op without results and types: `mul %2, %3`, or the header of a `for`/`if`.
fn op_body(op: &Op) -> String {
    let name = op.kind.name();
    match &op.kind {
        OpKind::Constant(s) => format!("{name} {s}"),
        OpKind::ProgramId(axis) | OpKind::NumPrograms(axis) => format!("{name} {axis}"),
        OpKind::Arange(n) => format!("{name} {n}"),
        OpKind::Unary(_, v)
        | OpKind::Cast(v)
        | OpKind::Bitcast(v)
        | OpKind::Broadcast(v)
        | OpKind::Reshape(v) => format!("{name} {v}"),
        OpKind::Hint { value, hint } => match hint {
            Hint::MultipleOf(n) | Hint::MaxContiguous(n) => format!("{name} {value}, {n}"),
        },
        OpKind::Binary(_, a, b) | OpKind::Cmp(_, a, b) => format!("{name} {a}, {b}"),
        OpKind::Print { label, value } => format!("{name} {label:?}, {value}"),
        OpKind::Assert { cond, message } => format!("{name} {cond}, {message:?}"),
        OpKind::Select {
            cond,
            on_true,
            on_false,
        } => format!("{name} {cond}, {on_true}, {on_false}"),
        OpKind::Fma(a, b, c) => format!("{name} {a}, {b}, {c}"),
        OpKind::ExpandDims { value, axis } | OpKind::Reduce { value, axis, .. } => {
            format!("{name} {value}, axis {axis}")
        }
        OpKind::Permute { value, perm } => {
            let p: Vec<String> = perm.iter().map(u32::to_string).collect();
            format!("{name} {value}, perm [{}]", p.join(", "))
        }
        OpKind::Concat { a, b, axis } => format!("{name} {a}, {b}, axis {axis}"),
        OpKind::Slice { value, axis, start } => {
            format!("{name} {value}, axis {axis}, start {start}")
        }
        OpKind::Dot { a, b, acc } => format!("{name} {a}, {b}, {acc}"),
        OpKind::AddPtr { ptr, offset } => format!("{name} {ptr}, {offset}"),
        OpKind::Load { ptr, mask, other } => {
            let mut s = format!("{name} {ptr}");
            if let Some(m) = mask {
                let _ = write!(s, ", mask {m}");
            }
            if let Some(o) = other {
                let _ = write!(s, ", other {o}");
            }
            s
        }
        OpKind::Store { ptr, value, mask }
        | OpKind::Atomic {
            ptr, value, mask, ..
        } => {
            let mut s = format!("{name} {ptr}, {value}");
            if let Some(m) = mask {
                let _ = write!(s, ", mask {m}");
            }
            s
        }
        OpKind::AtomicCas {
            ptr,
            cmp,
            value,
            mask,
        } => {
            let mut s = format!("{name} {ptr}, {cmp}, {value}");
            if let Some(m) = mask {
                let _ = write!(s, ", mask {m}");
            }
            s
        }
        OpKind::For {
            lower,
            upper,
            step,
            init,
            body,
        } => {
            let iv = opt_val(body.args.first());
            let mut s = format!("{name} {iv} = {lower} to {upper} step {step}");
            let carried = body.args.get(1..).unwrap_or(&[]);
            let n = init.len().max(carried.len());
            if n > 0 {
                let pairs: Vec<String> = (0..n)
                    .map(|i| format!("{} = {}", opt_val(carried.get(i)), opt_val(init.get(i))))
                    .collect();
                let _ = write!(s, " iter_args({})", pairs.join(", "));
            }
            s
        }
        OpKind::While { init, body } => {
            let n = init.len().max(body.args.len());
            if n == 0 {
                return name.to_string();
            }
            let pairs: Vec<String> = (0..n)
                .map(|i| format!("{} = {}", opt_val(body.args.get(i)), opt_val(init.get(i))))
                .collect();
            format!("{name} iter_args({})", pairs.join(", "))
        }
        OpKind::If { cond, .. } => format!("{name} {cond}"),
        OpKind::Yield(vals) => {
            if vals.is_empty() {
                name.to_string()
            } else {
                format!("{name} {}", list(vals))
            }
        }
    }
}

/// `%a, %b = ` for the op's results, or nothing when it has none.
fn results_prefix(op: &Op) -> String {
    if op.results.is_empty() {
        String::new()
    } else {
        format!("{} = ", list(&op.results))
    }
}

/// A one-line form of `op`, as used in error messages: `%4 = mul %2, %3 : i32`. For `for` and
/// `if`, only the header is given (`%9 = for %11 = %5 to %6 step %7 iter_args(%12 = %3)`,
/// `%14 = if %c`), without the nested blocks or result types.
pub fn op_to_string(kernel: &Kernel, op: &Op) -> String {
    let head = format!("{}{}", results_prefix(op), op_body(op));
    match op.kind {
        OpKind::For { .. } | OpKind::While { .. } | OpKind::If { .. } => head,
        _ => format!("{head}{}", result_types(kernel, op)),
    }
}

fn indent(f: &mut fmt::Formatter<'_>, depth: usize) -> fmt::Result {
    for _ in 0..depth {
        f.write_str("  ")?;
    }
    Ok(())
}

fn write_block(
    f: &mut fmt::Formatter<'_>,
    kernel: &Kernel,
    block: &Block,
    depth: usize,
) -> fmt::Result {
    for op in &block.ops {
        write_op(f, kernel, op, depth)?;
    }
    Ok(())
}

fn write_op(f: &mut fmt::Formatter<'_>, kernel: &Kernel, op: &Op, depth: usize) -> fmt::Result {
    indent(f, depth)?;
    match &op.kind {
        OpKind::For { body, .. } | OpKind::While { body, .. } => {
            writeln!(f, "{}{} {{", results_prefix(op), op_body(op))?;
            write_block(f, kernel, body, depth + 1)?;
            indent(f, depth)?;
            writeln!(f, "}}{}", result_types(kernel, op))
        }
        OpKind::If {
            then_block,
            else_block,
            ..
        } => {
            writeln!(f, "{}{} {{", results_prefix(op), op_body(op))?;
            write_block(f, kernel, then_block, depth + 1)?;
            indent(f, depth)?;
            writeln!(f, "}} else {{")?;
            write_block(f, kernel, else_block, depth + 1)?;
            indent(f, depth)?;
            writeln!(f, "}}{}", result_types(kernel, op))
        }
        _ => writeln!(f, "{}", op_to_string(kernel, op)),
    }
}

/// The text of a parameter's kind: `ptr<i8>` or `i32`.
fn param_kind_str(kind: ParamKind) -> String {
    match kind {
        ParamKind::Ptr(d) => format!("ptr<{d}>"),
        ParamKind::Scalar(d) => d.to_string(),
    }
}

impl fmt::Display for Kernel {
    /// Prints the whole kernel in the stable text format described in [`crate::print`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let params: Vec<String> = self
            .params
            .iter()
            .map(|p| {
                let div = if p.divisibility > 1 {
                    format!(" divisible {}", p.divisibility)
                } else {
                    String::new()
                };
                format!("{}: {} {}{div}", p.value, param_kind_str(p.kind), p.name)
            })
            .collect();
        writeln!(f, "kernel @{}({}) {{", self.name, params.join(", "))?;
        write_block(f, self, &self.body, 1)?;
        f.write_str("}")
    }
}
