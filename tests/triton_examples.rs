//! Triton's tutorials ported to the DSL (`examples/triton/`), each run by its own checks
//! against plain Rust: on the interpreter, on every CPU backend of the build (Cranelift; LLVM
//! with the `llvm` feature) against the interpreter's results too, and on `Device::cuda(0)`
//! when a CUDA driver and device are present (otherwise the test prints why it skipped CUDA).

use bitmat::{Backend, Device};

/// Tutorial 05 (`examples/triton/layer_norm.rs`): forward, `dX`, and `dW`/`dB` through the
/// locked partial sums.
#[path = "../examples/triton/layer_norm.rs"]
mod layer_norm;

#[test]
fn triton_layer_norm_example() {
    let reference = layer_norm::check(&Device::interpreter(), None).unwrap();
    for backend in Backend::cpu_backends() {
        let cpu = Device::cpu_with(backend).unwrap();
        layer_norm::check(&cpu, Some(&reference)).unwrap();
    }
    match Device::cuda(0) {
        Ok(gpu) => {
            layer_norm::check(&gpu, Some(&reference)).unwrap();
        }
        Err(e) => println!("layer norm on CUDA skipped: {e}"),
    }
}

/// Tutorial 06 (`examples/triton/fused_attention.rs`): the flash-attention forward pass,
/// causal (two stages) and not.
#[path = "../examples/triton/fused_attention.rs"]
mod fused_attention;

#[test]
fn triton_fused_attention_example() {
    let reference = fused_attention::check(&Device::interpreter(), None).unwrap();
    for backend in Backend::cpu_backends() {
        let cpu = Device::cpu_with(backend).unwrap();
        fused_attention::check(&cpu, Some(&reference)).unwrap();
    }
    match Device::cuda(0) {
        Ok(gpu) => {
            fused_attention::check(&gpu, Some(&reference)).unwrap();
        }
        Err(e) => println!("fused attention on CUDA skipped: {e}"),
    }
}

/// Tutorial 08 (`examples/triton/grouped_gemm.rs`): one persistent launch over ragged
/// problems in packed buffers.
#[path = "../examples/triton/grouped_gemm.rs"]
mod grouped_gemm;

#[test]
fn triton_grouped_gemm_example() {
    let reference = grouped_gemm::check(&Device::interpreter(), None).unwrap();
    for backend in Backend::cpu_backends() {
        let cpu = Device::cpu_with(backend).unwrap();
        grouped_gemm::check(&cpu, Some(&reference)).unwrap();
    }
    match Device::cuda(0) {
        Ok(gpu) => {
            grouped_gemm::check(&gpu, Some(&reference)).unwrap();
        }
        Err(e) => println!("grouped GEMM on CUDA skipped: {e}"),
    }
}
