//! Triton's tutorial 01 kernel, vector addition: each program adds one block of
//! `block_size` elements, the last one masked to `n_elements`. The one copy of it:
//! `examples/triton/vector_add.rs` and the parity bench (`bitmat-cli`'s
//! `bench::parity::kernels`) include this file.

use bitmat::prelude::*;

/// `output = x + y` over `n_elements`, one block of `block_size` per program.
#[bitkernel]
pub fn add_kernel(
    x_ptr: Ptr<f32>,
    y_ptr: Ptr<f32>,
    output_ptr: Ptr<f32>,
    n_elements: i32,
    #[constexpr] block_size: i32,
) {
    // There are multiple 'programs' processing different data. We identify which program
    // we are here.
    let pid = program_id(0);
    // This program will process inputs that are offset from the initial data. For
    // instance, if you had a vector of length 256 and block_size of 64, the programs would
    // each access the elements [0:64, 64:128, 128:192, 192:256].
    let block_start = pid * block_size;
    let offsets = block_start + arange(block_size);
    // Create a mask to guard memory operations against out-of-bounds accesses.
    let mask = offsets < n_elements;
    // Load x and y from memory, masking out any extra elements in case the input is not a
    // multiple of the block size (the DSL names the value of masked-off lanes).
    let x = load(x_ptr + offsets, mask, 0.0);
    let y = load(y_ptr + offsets, mask, 0.0);
    let output = x + y;
    // Write x + y back to memory.
    store(output_ptr + offsets, output, mask);
}
