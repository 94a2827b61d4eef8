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
    /// LLVM rejected the generated IR, could not set up the host target, or failed to emit
    /// code (the LLVM backend).
    #[error("kernel `{kernel}`: LLVM error: {message}")]
    Llvm {
        /// The kernel's name.
        kernel: String,
        /// LLVM's message.
        message: String,
    },
    /// A backend emitted a relocation the CPU loader does not resolve (a kind other than an
    /// absolute 8-byte address, or a target other than a bitmat helper, a known libcall or
    /// the code itself).
    #[error("kernel `{kernel}`: unsupported relocation: {message}")]
    Relocation {
        /// The kernel's name.
        kernel: String,
        /// The relocation, and why it is not supported.
        message: String,
    },
    /// A serialized CPU object is malformed (truncated, bad lengths or relocation offsets).
    #[error("malformed CPU object: {0}")]
    Object(String),
    /// Compiled code could not be mapped into executable memory.
    #[error("kernel `{kernel}`: cannot load code: {message}")]
    Load {
        /// The kernel's name.
        kernel: String,
        /// The operating system's error.
        message: String,
    },
    /// A launch option is out of range.
    #[error("invalid option: {0}")]
    Option(String),
}
