//! Triton's tutorial 02 kernel, fused softmax: one pass over each row (read once, max, exp,
//! sum, normalize, written once) by persistent programs that loop over the rows
//! `program_id(0), program_id(0) + num_programs(0), ..`. The one copy of it:
//! `examples/triton/fused_softmax.rs` and the parity bench (`bitmat-cli`'s
//! `bench::parity::kernels`) include this file.

use bitmat::prelude::*;

/// The softmax of each row of `n_cols` (at most `block_size`) values.
#[bitkernel]
pub fn softmax_kernel(
    output_ptr: Ptr<f32>,
    input_ptr: Ptr<f32>,
    input_row_stride: i32,
    output_row_stride: i32,
    n_rows: i32,
    n_cols: i32,
    #[constexpr] block_size: i32,
) {
    // Starting row of the program.
    let row_start = program_id(0);
    let row_step = num_programs(0);
    // Triton: `tl.range(row_start, n_rows, row_step, num_stages=num_stages)`; here
    // `num_stages` is a launch option.
    for row_idx in range(row_start, n_rows, row_step) {
        // The stride represents how much we need to increase the pointer to advance 1 row.
        let row_start_ptr = input_ptr + row_idx * input_row_stride;
        // The block size is the next power of two greater than n_cols, so we can fit each
        // row in a single block.
        let col_offsets = arange(block_size);
        let input_ptrs = row_start_ptr + col_offsets;
        // Load the row into SRAM, using a mask since block_size may be > n_cols.
        let mask = col_offsets < n_cols;
        let row = load(input_ptrs, mask, f32::NEG_INFINITY);
        // Subtract maximum for numerical stability.
        let row_minus_max = row - row.max(0);
        // Note that exponentiation in Triton is fast but approximate (i.e., think __expf
        // in CUDA).
        let numerator = row_minus_max.exp();
        let denominator = numerator.sum(0);
        let softmax_output = numerator / denominator;
        // Write back output to DRAM.
        let output_row_start_ptr = output_ptr + row_idx * output_row_stride;
        let output_ptrs = output_row_start_ptr + col_offsets;
        store(output_ptrs, softmax_output, mask);
    }
}
