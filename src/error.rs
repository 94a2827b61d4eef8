//! The error type of the `bitmat` crate.

use crate::checkpoint::CheckpointError;
use crate::formats::FormatError;

/// Any error of bitmat: specializing or launching a kernel, formats, shapes of prebuilt ops.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// From the runtime: specialization, verification, launch, interpreter, devices.
    #[error(transparent)]
    Runtime(#[from] bitmat_runtime::Error),
    /// From packing, unpacking or quantizing.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// From reading, writing, importing or converting a checkpoint (files included).
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A prebuilt op was given inconsistent shapes or options.
    #[error("{op}: {message}")]
    Shape {
        /// The op called.
        op: &'static str,
        /// What was wrong, and what is accepted.
        message: String,
    },
}

impl From<bitmat_ir::dsl::TraceError> for Error {
    fn from(e: bitmat_ir::dsl::TraceError) -> Self {
        Error::Runtime(e.into())
    }
}
