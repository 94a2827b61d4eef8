//! Specialization: running a kernel body under a trace, then verifying the IR.

use crate::error::Error;
use bitmat_ir::Kernel;

/// Traces `body` as kernel `name`, verifies it and runs the shared passes.
pub fn specialize(name: &str, body: impl FnOnce()) -> Result<Kernel, Error> {
    crate::stats::bump(&crate::stats::COUNTERS.specializations);
    let mut kernel = bitmat_ir::dsl::trace(name, body)?;
    bitmat_ir::verify::verify(&kernel)?;
    bitmat_ir::passes::optimize(&mut kernel);
    // The passes keep the IR valid; checking again turns a pass bug into an error, not a crash.
    bitmat_ir::verify::verify(&kernel)?;
    crate::dump::dump("ir", name, || kernel.to_string());
    Ok(kernel)
}
