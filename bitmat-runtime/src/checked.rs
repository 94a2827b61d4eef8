//! Checked launches: a kernel instrumented by [`bitmat_ir::passes::bounds`] runs with its
//! hidden arguments (each pointer argument's length, and a record of [`RECORD_WORDS`] zeros
//! on the device), and the record is read back after the launch: an access it reports is
//! [`Error::OutOfBounds`], worded as the interpreter words it; a failed `device_assert` of a
//! debug launch is reported through the same record, as [`Error::AssertionFailed`].

use crate::backend::{Code, Compiled};
use crate::device::Device;
use crate::error::Error;
use crate::launch::{Grid, KernelArg, LaunchOptions};
use bitmat_ir::passes::bounds::{Checked, RECORD_WORDS};
use bitmat_ir::passes::ranges::Launch;

/// Whether `BITMAT_CHECKED` asks for checks on unchecked launches too (`1`, `true`, `yes`).
pub(crate) fn forced() -> bool {
    std::env::var("BITMAT_CHECKED")
        .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
}

/// Whether `BITMAT_DEBUG` asks for debug launches (`device_assert` kept; `1`, `true`, `yes`).
pub(crate) fn debug_forced() -> bool {
    std::env::var("BITMAT_DEBUG")
        .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
}

/// Runs the instrumented kernel of `compiled` with `args` (checked against the original
/// kernel) and the hidden arguments, or, when the launch does not meet the preconditions of
/// the accesses it leaves unchecked, the kernel with every access checked; reports the
/// out-of-bounds access recorded.
pub(crate) fn launch(
    device: &Device,
    compiled: &Compiled,
    grid: Grid,
    options: &LaunchOptions,
    args: &[KernelArg<'_>],
) -> Result<(), Error> {
    let Some(checks) = &compiled.checks else {
        return compiled.code.launch(&compiled.ir, grid, options, args);
    };
    let at = Launch {
        scalars: args
            .iter()
            .map(|a| match a {
                KernelArg::Scalar(s) if s.dtype().is_int() => Some(s.as_i64()),
                _ => None,
            })
            .collect(),
        lens: args
            .iter()
            .map(|a| match a {
                KernelArg::Buffer { len, .. } => Some(*len as u64),
                KernelArg::Scalar(_) => None,
            })
            .collect(),
        grid: grid.0,
    };
    if !checks.proven(&at) {
        tracing::debug!(
            kernel = %checks.kernel.name,
            "launch preconditions of the unchecked accesses do not hold; running the kernel \
             with every access checked: {}",
            checks.preconditions.failing(&at).collect::<Vec<_>>().join("; ")
        );
        let (checks, code) = compiled.all_checked(device, options)?;
        return run(device, &**code, checks, grid, options, args);
    }
    if checks.sites.is_empty() {
        // Every access is proven in bounds: the kernel never writes its record, so there is
        // nothing to read back, and it may share one record with every such launch.
        let mut all = args.to_vec();
        all.extend(
            Checked::lengths(&buffer_lens(args))
                .into_iter()
                .map(KernelArg::Scalar),
        );
        all.push(compiled.unused_record(device)?);
        return compiled.code.launch(&checks.kernel, grid, options, &all);
    }
    run(device, &*compiled.code, checks, grid, options, args)
}

/// The buffer lengths of the pointer arguments among `args`, in order.
fn buffer_lens(args: &[KernelArg<'_>]) -> Vec<usize> {
    args.iter()
        .filter_map(|a| match a {
            KernelArg::Buffer { len, .. } => Some(*len),
            KernelArg::Scalar(_) => None,
        })
        .collect()
}

/// Runs `code`, the instrumented kernel of `checks`, with `args` and the hidden arguments.
fn run(
    device: &Device,
    code: &dyn Code,
    checks: &Checked,
    grid: Grid,
    options: &LaunchOptions,
    args: &[KernelArg<'_>],
) -> Result<(), Error> {
    let lens = buffer_lens(args);
    let record = device.zeros::<u64>(RECORD_WORDS)?;
    let mut all = args.to_vec();
    all.extend(Checked::lengths(&lens).into_iter().map(KernelArg::Scalar));
    all.push(KernelArg::buffer(&record));
    code.launch(&checks.kernel, grid, options, &all)?;
    match checks.fault(&record.to_vec()?, &lens) {
        Some(fault) => Err(fault.into()),
        None => Ok(()),
    }
}
