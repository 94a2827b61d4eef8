//! The ports of Triton's tutorials in `examples/triton/`, each run by its own `check` on the
//! interpreter and the CPU against plain Rust (and the interpreter's output), and on
//! `Device::cuda(0)` when a CUDA driver is present (else the test says why it skipped it).

use bitmat::Device;

/// The CUDA device, or why there is none (printed: the GPU part of a test is skipped).
fn cuda() -> Option<Device> {
    match Device::cuda(0) {
        Ok(d) => Some(d),
        Err(e) => {
            eprintln!("no CUDA device ({e}): the CUDA part is skipped");
            None
        }
    }
}

/// Tutorial 01 (`examples/triton/vector_add.rs`).
#[path = "../examples/triton/vector_add.rs"]
mod vector_add;

#[test]
fn triton_vector_add() {
    let reference = vector_add::check(&Device::interpreter(), None).unwrap();
    vector_add::check(&Device::cpu(), Some(&reference)).unwrap();
    if let Some(gpu) = cuda() {
        vector_add::check(&gpu, Some(&reference)).unwrap();
    }
}

/// Tutorial 02 (`examples/triton/fused_softmax.rs`).
#[path = "../examples/triton/fused_softmax.rs"]
mod fused_softmax;

#[test]
fn triton_fused_softmax() {
    let reference = fused_softmax::check(&Device::interpreter(), None).unwrap();
    fused_softmax::check(&Device::cpu(), Some(&reference)).unwrap();
    if let Some(gpu) = cuda() {
        fused_softmax::check(&gpu, Some(&reference)).unwrap();
    }
}

/// Tutorial 03 (`examples/triton/matmul.rs`).
#[path = "../examples/triton/matmul.rs"]
mod matmul;

#[test]
fn triton_matmul() {
    let reference = matmul::check(&Device::interpreter(), None).unwrap();
    matmul::check(&Device::cpu(), Some(&reference)).unwrap();
    if let Some(gpu) = cuda() {
        matmul::check(&gpu, Some(&reference)).unwrap();
    }
}

/// Tutorial 07 (`examples/triton/libdevice_math.rs`).
#[path = "../examples/triton/libdevice_math.rs"]
mod libdevice_math;

#[test]
fn triton_libdevice_math() {
    let reference = libdevice_math::check(&Device::interpreter(), None).unwrap();
    libdevice_math::check(&Device::cpu(), Some(&reference)).unwrap();
    if let Some(gpu) = cuda() {
        libdevice_math::check(&gpu, Some(&reference)).unwrap();
    }
}
