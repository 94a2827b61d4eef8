//! The error type shared by the backends.

/// Why a backend could not lower a kernel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodegenError {
    /// The kernel failed IR verification.
    #[error("kernel `{kernel}` is not valid IR: {message}")]
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
        /// What is not supported (naming the op where known), and why.
        message: String,
    },
    /// Cranelift rejected the generated code or could not set up the host target.
    #[error("kernel `{kernel}`: Cranelift error: {message}")]
    Cranelift {
        /// The kernel's name.
        kernel: String,
        /// Cranelift's message.
        message: String,
    },
    /// A launch option is out of range.
    #[error("invalid option: {0}")]
    Option(String),
}
