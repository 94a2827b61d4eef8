//! Reading the macro's input into [`signature::KernelSig`], with errors at the user's spans.

pub mod attr;
pub mod signature;
