//! Specialization: running a kernel body under a trace, then verifying the IR.

use crate::error::Error;
use bitmat_ir::Kernel;

/// Traces `body` as kernel `name` and verifies the result.
pub fn specialize(name: &str, body: impl FnOnce()) -> Result<Kernel, Error> {
    let kernel = bitmat_ir::dsl::trace(name, body)?;
    bitmat_ir::verify::verify(&kernel)?;
    crate::dump::dump("ir", name, || kernel.to_string());
    Ok(kernel)
}
