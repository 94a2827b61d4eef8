//! The error type shared by the backends.

/// Why a backend could not lower a kernel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodegenError {
    /// The kernel failed IR verification.
    #[error("kernel `{kernel}` is invalid: {message}")]
    Invalid {
        /// The kernel's name.
        kernel: String,
        /// The verifier's message.
        message: String,
    },
    /// The kernel uses something this backend does not lower (yet).
    #[error("kernel `{kernel}`: {message}")]
    Unsupported {
        /// The kernel's name.
        kernel: String,
        /// What is not supported, and why.
        message: String,
    },
    /// A launch option is out of range.
    #[error("invalid option: {0}")]
    Option(String),
}
