//! The `main` of the Triton examples (`examples/triton/`), shared through `#[path]`: each
//! example's `check` runs on the interpreter, then on the CPU and on CUDA (when a driver is
//! present) against the interpreter's output.

use bitmat::Device;
use std::borrow::Borrow;

/// Runs `check` on the interpreter, then on `Device::cpu()` and `Device::cuda(0)` with the
/// interpreter's output as their reference; without a CUDA device, says so and skips it.
pub fn check_on_every_device<Out: Borrow<Ref>, Ref: ?Sized>(
    check: impl Fn(&Device, Option<&Ref>) -> Result<Out, String>,
) -> Result<(), String> {
    let reference = check(&Device::interpreter(), None)?;
    check(&Device::cpu(), Some(reference.borrow()))?;
    match Device::cuda(0) {
        Ok(gpu) => {
            check(&gpu, Some(reference.borrow()))?;
        }
        Err(e) => println!("no CUDA device ({e}): skipped"),
    }
    Ok(())
}
