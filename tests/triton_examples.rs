//! Triton's tutorials ported to the DSL (`examples/triton/`), each run by its own checks
//! against plain Rust: on the interpreter, on every CPU backend of the build (Cranelift; LLVM
//! with the `llvm` feature) against the interpreter's results too, and on `Device::cuda(0)`
//! when a CUDA driver and device are present (otherwise the test prints why it skipped CUDA).

use bitmat::{Backend, Device};

/// A test running example `$module`'s `check` on the interpreter, then on each CPU backend
/// and CUDA against the interpreter's results (the check decides how exactly a device must
/// match them).
macro_rules! example_test {
    ($test:ident, $module:ident, $what:literal) => {
        #[test]
        fn $test() {
            let reference = $module::check(&Device::interpreter(), None).unwrap();
            for backend in Backend::cpu_backends() {
                let cpu = Device::cpu_with(backend).unwrap();
                $module::check(&cpu, Some(&reference)).unwrap();
            }
            match Device::cuda(0) {
                Ok(gpu) => {
                    $module::check(&gpu, Some(&reference)).unwrap();
                }
                Err(e) => println!("{} on CUDA skipped: {e}", $what),
            }
        }
    };
}

/// Tutorial 01 (`examples/triton/vector_add.rs`).
#[path = "../examples/triton/vector_add.rs"]
mod vector_add;
example_test!(triton_vector_add, vector_add, "vector add");

/// Tutorial 02 (`examples/triton/fused_softmax.rs`).
#[path = "../examples/triton/fused_softmax.rs"]
mod fused_softmax;
example_test!(triton_fused_softmax, fused_softmax, "fused softmax");

/// Tutorial 03 (`examples/triton/matmul.rs`): grouped ordering, autotuned.
#[path = "../examples/triton/matmul.rs"]
mod matmul;
example_test!(triton_matmul, matmul, "matmul");

/// Tutorial 05 (`examples/triton/layer_norm.rs`): forward, `dX`, and `dW`/`dB` through the
/// locked partial sums.
#[path = "../examples/triton/layer_norm.rs"]
mod layer_norm;
example_test!(triton_layer_norm_example, layer_norm, "layer norm");

/// Tutorial 06 (`examples/triton/fused_attention.rs`): the flash-attention forward pass,
/// causal (two stages) and not.
#[path = "../examples/triton/fused_attention.rs"]
mod fused_attention;
example_test!(
    triton_fused_attention_example,
    fused_attention,
    "fused attention"
);

/// Tutorial 07 (`examples/triton/libdevice_math.rs`): the DSL's float methods.
#[path = "../examples/triton/libdevice_math.rs"]
mod libdevice_math;
example_test!(triton_libdevice_math, libdevice_math, "libdevice math");

/// Tutorial 08 (`examples/triton/grouped_gemm.rs`): one persistent launch over ragged
/// problems in packed buffers.
#[path = "../examples/triton/grouped_gemm.rs"]
mod grouped_gemm;
example_test!(triton_grouped_gemm_example, grouped_gemm, "grouped GEMM");

/// Tutorial 04 (`examples/triton/dropout.rs`): Philox masks, the same on every device.
#[path = "../examples/triton/dropout.rs"]
mod dropout;
example_test!(triton_dropout_example, dropout, "dropout");

/// The low-precision matmul (`examples/triton/low_precision_matmul.rs`): fp8 operands, on
/// the fp8 tensor cores on sm_89 and later (not bit for bit with the interpreter there: the
/// tensor cores add the products in their own order).
#[path = "../examples/triton/low_precision_matmul.rs"]
mod low_precision_matmul;
example_test!(
    triton_low_precision_matmul_example,
    low_precision_matmul,
    "low-precision matmul"
);
