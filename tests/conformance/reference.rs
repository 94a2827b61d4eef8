//! Launch arguments and the reference interpreter's run of a kernel on them: what every
//! result of the suite is compared with.

// `bitmat_ir` rather than `bitmat::ir` (the same crate): bitmat-codegen's tests include this
// file too.
use bitmat_ir::interp::{self, ArgValue};
use bitmat_ir::{DType, HostData, Kernel, Scalar};

/// A launch argument.
#[derive(Clone, Debug)]
pub enum Arg {
    /// A buffer (pointer parameter), uploaded before the launch.
    Buf(HostData),
    /// A scalar parameter.
    Scalar(Scalar),
}

/// An `i32` scalar argument.
pub fn i32_arg(v: i32) -> Arg {
    Arg::Scalar(Scalar::from_i64(DType::I32, i64::from(v)))
}

/// Runs `kernel` on the reference interpreter; returns the buffers afterwards.
pub fn run_reference(
    kernel: &Kernel,
    grid: [u32; 3],
    args: &[Arg],
) -> Result<Vec<HostData>, String> {
    let mut bufs: Vec<HostData> = Vec::new();
    let mut values = Vec::new();
    for a in args {
        match a {
            Arg::Buf(d) => {
                values.push(ArgValue::Buffer(bufs.len()));
                bufs.push(d.clone());
            }
            Arg::Scalar(s) => values.push(ArgValue::Scalar(*s)),
        }
    }
    let mut refs: Vec<&mut HostData> = bufs.iter_mut().collect();
    interp::run(kernel, grid, &values, &mut refs)
        .map_err(|e| format!("reference interpreter: {e}"))?;
    Ok(bufs)
}
