//! Shared helpers of the CPU backend's own tests (object loading, CLIF checks): build kernels,
//! run them on the interpreter and on the JIT with the same inputs, compare. Results on every
//! backend are the conformance suite's (`tests/conformance`); its kernel builders, inputs and
//! reference run serve here too (the `#[path]` modules below, each test using what it needs).

#![allow(dead_code)]

#[path = "../../../tests/conformance/data.rs"]
pub mod data;
#[path = "../../../tests/ir_kernels/mod.rs"]
pub mod ir_kernels;
#[path = "../../../tests/conformance/kernels.rs"]
pub mod kernels;
#[path = "../../../tests/conformance/reference.rs"]
pub mod reference;

use bitmat_codegen::CpuKernel;
use bitmat_ir::{HostData, Scalar};
use reference::Arg;

/// Runs an already compiled kernel.
pub fn run_compiled(ck: &CpuKernel, grid: [u32; 3], args: &[Arg]) -> Vec<HostData> {
    let mut bufs: Vec<HostData> = args
        .iter()
        .filter_map(|a| match a {
            Arg::Buf(d) => Some(d.clone()),
            Arg::Scalar(_) => None,
        })
        .collect();
    let mut raw = Vec::new();
    let mut bi = 0;
    for a in args {
        match a {
            Arg::Buf(_) => {
                let p = bitmat_ir::with_host_data!(&mut bufs[bi], v => v.as_mut_ptr() as u64);
                raw.push(p);
                bi += 1;
            }
            Arg::Scalar(s) => raw.push(s.bits()),
        }
    }
    // SAFETY: the tests' kernels only access their buffers within bounds (the interpreter,
    // which checks bounds, runs the same kernels on the same inputs).
    unsafe { ck.run(&raw, grid) };
    bufs
}

/// True when the two elements are equal bit for bit, or (with `any_nan`) both NaN.
pub fn same(a: Scalar, b: Scalar, any_nan: bool) -> bool {
    a.bits() == b.bits()
        || (any_nan && a.dtype().is_float() && a.as_f64().is_nan() && b.as_f64().is_nan())
}

/// Asserts that two buffers hold the same elements, bit for bit.
pub fn assert_same(what: &str, interp: &HostData, jit: &HostData) {
    assert_same_with(what, interp, jit, false);
}

/// Asserts that two buffers hold the same elements, bit for bit, or both NaN with `any_nan`.
pub fn assert_same_with(what: &str, interp: &HostData, jit: &HostData, any_nan: bool) {
    assert_eq!(interp.len(), jit.len(), "{what}: lengths");
    for i in 0..interp.len() {
        let (a, b) = (interp.get(i).unwrap(), jit.get(i).unwrap());
        assert!(
            same(a, b, any_nan),
            "{what}: element {i}: interpreter {a:?}, jit {b:?}"
        );
    }
}
