//! [`Error`]: what building a layer can fail with.

/// An error building or loading a layer (running one reports through candle's own error,
/// which wraps these).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// From candle: reading a tensor, a `VarBuilder` without the named weight, a device.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// From bitmat: quantizing, packing, checkpoints, kernels, devices.
    #[error(transparent)]
    Bitmat(#[from] bitmat::Error),
    /// A tensor of the wrong shape, dtype or device for the op.
    #[error("{op}: {message}")]
    Tensor {
        /// The op or constructor called.
        op: &'static str,
        /// What was wrong, and what is accepted.
        message: String,
    },
}

impl From<bitmat::checkpoint::CheckpointError> for Error {
    fn from(e: bitmat::checkpoint::CheckpointError) -> Self {
        Error::Bitmat(e.into())
    }
}

impl From<bitmat::formats::FormatError> for Error {
    fn from(e: bitmat::formats::FormatError) -> Self {
        Error::Bitmat(e.into())
    }
}

impl From<Error> for candle_core::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Candle(e) => e,
            other => candle_core::Error::wrap(other),
        }
    }
}

/// A [`Error::Tensor`] as a candle error (what custom ops return).
pub(crate) fn tensor_error(op: &'static str, message: impl Into<String>) -> candle_core::Error {
    Error::Tensor {
        op,
        message: message.into(),
    }
    .into()
}
