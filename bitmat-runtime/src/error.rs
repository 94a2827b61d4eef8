//! The runtime's error type.

use bitmat_ir::dsl::TraceError;
use bitmat_ir::DType;

/// Everything that can go wrong between specializing a kernel and reading its results.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kernel could not be specialized (a type or shape error in its body).
    #[error("specialization failed: {0}")]
    Specialize(#[from] TraceError),
    /// The specialized IR is malformed (a bug in bitmat or in a hand-built kernel).
    #[error("invalid IR: {0}")]
    Verify(#[from] bitmat_ir::verify::VerifyError),
    /// The interpreter stopped the kernel (division by zero, a malformed kernel, ...).
    #[error("kernel failed: {0}")]
    Interpreter(Box<bitmat_ir::interp::InterpError>),
    /// A load, store or atomic touched an element outside its buffer: the kernel, program,
    /// op, argument, index and lane, worded alike on every backend (the interpreter stops
    /// there; compiled code masks the access off and finishes the launch).
    #[error("kernel failed: {0}")]
    OutOfBounds(Box<bitmat_ir::interp::InterpError>),
    /// A `device_assert` of a debug launch ([`crate::LaunchOptions::debug`],
    /// `BITMAT_DEBUG=1`) failed: the first failing program in grid order (x fastest) and the
    /// first false lane of its condition (row-major), alike on every backend.
    #[error("kernel `{kernel}`: device_assert failed in program ({}, {}, {}), lane {lane:?}: {message}", program[0], program[1], program[2])]
    AssertionFailed {
        /// The kernel launched.
        kernel: String,
        /// The assertion's message.
        message: String,
        /// The first failing program (`program_id` along x, y, z).
        program: [u32; 3],
        /// The multi-index of the first false element of the condition.
        lane: Vec<u32>,
    },
    /// A kernel could not be instrumented for a checked launch.
    #[error("checked launch: {0}")]
    Bounds(#[from] bitmat_ir::passes::bounds::BoundsError),
    /// The launch arguments do not match the kernel's parameters.
    #[error("kernel `{kernel}`: {message}")]
    Arguments {
        /// The kernel launched.
        kernel: String,
        /// What did not match.
        message: String,
    },
    /// A buffer of one device was used on another.
    #[error("kernel `{kernel}`: argument `{param}` lives on {buffer_device}, but the kernel runs on {device}; upload it to {device}")]
    WrongDevice {
        /// The kernel launched.
        kernel: String,
        /// The parameter.
        param: String,
        /// Where the buffer lives.
        buffer_device: String,
        /// Where the kernel runs.
        device: String,
    },
    /// A grid with an axis over the supported range.
    #[error("grid {grid:?} is invalid: {reason}")]
    Grid {
        /// The grid given.
        grid: [u32; 3],
        /// Why it is invalid.
        reason: String,
    },
    /// No CUDA driver could be loaded, or the CUDA backend is unavailable.
    #[error("CUDA is not available: {reason}")]
    NoCudaDriver {
        /// Why.
        reason: String,
    },
    /// A backend could not compile the kernel, or load it from the disk cache.
    #[error("code generation failed: {0}")]
    Codegen(#[from] bitmat_codegen::CodegenError),
    /// A CUDA driver call failed.
    #[error("CUDA error in `{kernel}`: {message}")]
    Cuda {
        /// The kernel (or buffer operation) concerned.
        kernel: String,
        /// The driver's error, and what was being done.
        message: String,
    },
    /// A constexpr set from text is unknown or its value does not parse.
    #[error("kernel `{kernel}`: constexpr `{name}`: {message}")]
    Constexpr {
        /// The kernel.
        kernel: String,
        /// The constexpr's name.
        name: String,
        /// What was wrong, and what is accepted.
        message: String,
    },
    /// An autotuner could not be used as configured (empty config list, a key parameter that
    /// is not an integer scalar).
    #[error("autotuning `{kernel}`: {message}")]
    Autotune {
        /// The kernel.
        kernel: String,
        /// What was wrong, and what is accepted.
        message: String,
    },
    /// Every configuration of an autotuner was pruned for a launch.
    #[error("autotuning `{kernel}` for {key}: no configuration can run:{}", pruned_list(.pruned))]
    AllConfigsPruned {
        /// The kernel.
        kernel: String,
        /// The key of the launch.
        key: String,
        /// Each configuration and why it was pruned.
        pruned: Vec<(String, String)>,
    },
    /// A file of tuning results could not be read or written.
    #[error("tuning file {}: {message}", .path.display())]
    TuningFile {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A backend was asked for that this build does not have.
    #[error("no CPU backend `{backend}` in this build; available: {available}")]
    UnknownBackend {
        /// The backend asked for.
        backend: String,
        /// The backends there are, comma-separated.
        available: String,
    },
    /// A buffer holds a different element type than requested (a bitmat bug if it happens).
    #[error("buffer holds {found}, expected {expected}")]
    BufferType {
        /// The type requested.
        expected: DType,
        /// The type stored.
        found: DType,
    },
}

impl From<bitmat_ir::interp::InterpError> for Error {
    fn from(e: bitmat_ir::interp::InterpError) -> Self {
        match e.kind {
            bitmat_ir::interp::InterpErrorKind::OutOfBounds { .. } => {
                Error::OutOfBounds(Box::new(e))
            }
            bitmat_ir::interp::InterpErrorKind::AssertionFailed { message, lane } => {
                Error::AssertionFailed {
                    kernel: e.kernel,
                    message,
                    program: e.program,
                    lane,
                }
            }
            _ => Error::Interpreter(Box::new(e)),
        }
    }
}

fn pruned_list(pruned: &[(String, String)]) -> String {
    pruned
        .iter()
        .map(|(config, reason)| format!("\n  {config}: {reason}"))
        .collect()
}
