//! Running the one-op elementwise kernels of [`crate::kernels::ew`] (parameters `x, y, out,
//! len`) as one program, against the reference interpreter or against plain Rust.

use crate::data;
use crate::harness::{compare, i32_arg, run, Arg, Outcome, Tol};
use bitmat::ir::{DType, HostData, Kernel};
use bitmat::Device;
use rand::rngs::StdRng;

/// The arguments of an `ew` kernel: its three buffers and the valid length.
pub fn ew_args(x: HostData, y: HostData, out: HostData, len: i32) -> [Arg; 4] {
    [Arg::Buf(x), Arg::Buf(y), Arg::Buf(out), i32_arg(len)]
}

/// [`ew_args`] of three buffers of `n` random bits of `d`, drawn from `r` in that order.
pub fn random_ew_args(d: DType, n: usize, len: i32, r: &mut StdRng) -> [Arg; 4] {
    ew_args(
        data::bits(d, n, r),
        data::bits(d, n, r),
        data::bits(d, n, r),
        len,
    )
}

/// Runs an `ew` kernel as one program (of 4 warps on a GPU) against the reference.
pub fn run_ew(dev: &Device, what: &str, k: &Kernel, args: &[Arg]) -> Result<Outcome, String> {
    run(dev, what, k, [1, 1, 1], 4, args)
}

/// Runs the `ew` kernel `k` on every lane of `x` and `y` and compares its output with
/// plain Rust's `want` under `tol`.
pub fn against_rust(
    dev: &Device,
    what: &str,
    k: &Kernel,
    [x, y]: [HostData; 2],
    want: HostData,
    tol: &Tol,
) -> Result<(), String> {
    let n = x.len();
    let args = ew_args(x, y, HostData::zeros(want.dtype(), n), n as i32);
    let got = run_ew(dev, what, k, &args)?.got.remove(2);
    compare(&format!("{what} against Rust"), &got, &want, tol)
}
