//! The reference interpreter: runs a [`Kernel`] on host buffers, program after program, with
//! the exact semantics every backend is tested against.
//!
//! Programs run sequentially, `x` fastest, then `y`, then `z`. Tiles are stored as typed
//! vectors; every op dispatches on the element type once and then loops over the elements.
//! Integer arithmetic wraps, floats are computed in `f32` and rounded to their type, casts follow
//! [`Scalar::cast`], and memory accesses are bounds-checked lane by lane (masked-off lanes are
//! never accessed). Errors name the kernel, the program and the op; the interpreter never
//! panics on a malformed kernel.

mod eval;
mod exec;
mod layout;
mod linalg;
mod memory;
mod num;
mod value;

use crate::element::HostData;
use crate::kernel::{Kernel, ParamKind, ValueId};
use crate::scalar::Scalar;
pub(crate) use exec::describe;
use exec::Executor;
use memory::Memory;
use value::{PtrElem, TileData, TileValue};

/// A launch argument, one per kernel parameter.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum ArgValue {
    /// For a pointer parameter: an index into the `buffers` passed to [`run`]. Several
    /// arguments may name the same buffer.
    Buffer(usize),
    /// For a scalar parameter: its value, of exactly the parameter's type.
    Scalar(Scalar),
}

/// What went wrong in a launch.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InterpErrorKind {
    /// A load, store or atomic touched an element outside its buffer.
    #[error("out-of-bounds access to `{param}`: index {index} outside 0..{len} (lane {lane:?})")]
    OutOfBounds {
        /// The pointer parameter the address derives from.
        param: String,
        /// The element offset accessed.
        index: i64,
        /// The buffer's length in elements.
        len: usize,
        /// The multi-index of the offending element in the tile.
        lane: Vec<u32>,
    },
    /// A `device_assert` whose condition is false in some lane (debug launches only).
    #[error("assertion failed: {message} (lane {lane:?})")]
    AssertionFailed {
        /// The assertion's message.
        message: String,
        /// The multi-index of the first false element (row-major) in the condition.
        lane: Vec<u32>,
    },
    /// Integer division or remainder by zero.
    #[error("integer division by zero (lane {lane:?})")]
    DivisionByZero {
        /// The multi-index of the offending element in the tile.
        lane: Vec<u32>,
    },
    /// A `for` loop with a step that is zero or negative.
    #[error("loop step {step} is not positive")]
    NonPositiveStep {
        /// The step.
        step: i64,
    },
    /// The arguments do not fit the kernel's parameters: wrong count, a buffer whose element
    /// type is not the pointee type, a scalar of the wrong type, a buffer index out of range.
    #[error("argument mismatch: {0}")]
    ArgumentMismatch(String),
    /// The kernel is not well-formed (what the verifier rejects).
    #[error("malformed kernel: {0}")]
    Malformed(String),
}

/// An interpreter error, located by kernel, program and op.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "kernel `{kernel}`, program ({}, {}, {}), op `{op}`: {kind}",
    program[0],
    program[1],
    program[2]
)]
pub struct InterpError {
    /// The kernel's name.
    pub kernel: String,
    /// The program (`program_id` along x, y, z) that failed; `(0, 0, 0)` for argument errors.
    pub program: [u32; 3],
    /// Short description of the failing op, such as `%8 = load` (`launch` for argument errors).
    pub op: String,
    /// What went wrong.
    pub kind: InterpErrorKind,
}

/// Binds the arguments: returns, per parameter, the buffer it refers to (`None` for scalars)
/// and the parameter values to bind in every program.
#[allow(clippy::type_complexity)]
fn bind_args(
    kernel: &Kernel,
    args: &[ArgValue],
    buffers: &[&mut HostData],
) -> Result<(Vec<Option<usize>>, Vec<(ValueId, TileValue)>), InterpErrorKind> {
    use InterpErrorKind::ArgumentMismatch as Mismatch;
    if args.len() != kernel.params.len() {
        return Err(Mismatch(format!(
            "{} arguments for {} parameters",
            args.len(),
            kernel.params.len()
        )));
    }
    let mut param_buffer = Vec::with_capacity(args.len());
    let mut values = Vec::with_capacity(args.len());
    for (i, (param, arg)) in kernel.params.iter().zip(args).enumerate() {
        let name = &param.name;
        let value = match (param.kind, *arg) {
            (ParamKind::Ptr(dtype), ArgValue::Buffer(b)) => {
                let buf = buffers.get(b).ok_or_else(|| {
                    Mismatch(format!(
                        "`{name}` refers to buffer {b}, but there are {} buffers",
                        buffers.len()
                    ))
                })?;
                if buf.dtype() != dtype {
                    return Err(Mismatch(format!(
                        "`{name}` points to {dtype}, but buffer {b} holds {}",
                        buf.dtype()
                    )));
                }
                param_buffer.push(Some(b));
                TileValue {
                    shape: Vec::new(),
                    data: TileData::Ptr(vec![PtrElem {
                        param: i as u32,
                        offset: 0,
                    }]),
                }
            }
            (ParamKind::Scalar(dtype), ArgValue::Scalar(s)) => {
                if s.dtype() != dtype {
                    return Err(Mismatch(format!(
                        "`{name}` is {dtype}, but the argument is {}",
                        s.dtype()
                    )));
                }
                param_buffer.push(None);
                TileValue::scalar(s)
            }
            (ParamKind::Ptr(_), ArgValue::Scalar(_)) => {
                return Err(Mismatch(format!("`{name}` is a pointer, but got a scalar")))
            }
            (ParamKind::Scalar(_), ArgValue::Buffer(_)) => {
                return Err(Mismatch(format!("`{name}` is a scalar, but got a buffer")))
            }
        };
        values.push((param.value, value));
    }
    Ok((param_buffer, values))
}

/// Runs `kernel` over `grid` (programs in sequence, x fastest, then y, then z; a zero extent
/// runs nothing) with `args` bound to its parameters; pointer arguments index `buffers`,
/// which the kernel reads and writes in place.
// The error type is part of the agreed API; errors are rare and off the hot path.
#[allow(clippy::result_large_err)]
pub fn run(
    kernel: &Kernel,
    grid: [u32; 3],
    args: &[ArgValue],
    buffers: &mut [&mut HostData],
) -> Result<(), InterpError> {
    let error = |program: [u32; 3], op: String, kind: InterpErrorKind| InterpError {
        kernel: kernel.name.clone(),
        program,
        op,
        kind,
    };
    let (param_buffer, params) =
        bind_args(kernel, args, buffers).map_err(|k| error([0; 3], "launch".into(), k))?;
    let mut exec = Executor::new(kernel, grid, Memory::new(kernel, param_buffer, buffers));
    for z in 0..grid[2] {
        for y in 0..grid[1] {
            for x in 0..grid[0] {
                exec.run_program([x, y, z], &params)
                    .map_err(|f| error([x, y, z], f.op, f.kind))?;
            }
        }
    }
    Ok(())
}
