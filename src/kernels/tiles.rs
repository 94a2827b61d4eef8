//! Tile helpers shared by the prebuilt matmuls: loading and storing blocks of row-major
//! matrices with their ragged edges masked, and the parts of a split-K matmul.

use crate::prelude::*;

/// Loads the `[rows, cols]` block `a[r, c]` of a row-major matrix with `n_rows` rows of
/// `n_cols` elements, for row indices `r` and column indices `c` (1-D tiles); entries outside
/// the matrix read 0.
#[bitkernel(inline)]
pub fn load_block(a: Tile, r: Tile, c: Tile, n_rows: Tile, n_cols: Tile) -> Tile {
    let mask = (r.unsqueeze(1) < n_rows) & (c.unsqueeze(0) < n_cols);
    load(a + r.unsqueeze(1) * n_cols + c.unsqueeze(0), mask, 0)
}

/// Stores `value` (`[rows, cols]`) to the block `c[r, col]` of a row-major matrix with
/// `n_rows` rows of `n_cols` elements; entries outside the matrix are not written.
#[bitkernel(inline)]
pub fn store_block(c: Tile, r: Tile, col: Tile, n_rows: Tile, n_cols: Tile, value: Tile) {
    let mask = (r.unsqueeze(1) < n_rows) & (col.unsqueeze(0) < n_cols);
    store(c + r.unsqueeze(1) * n_cols + col.unsqueeze(0), value, mask);
}

/// Stores `value` to the block `c[r, col]` as [`store_block`] does or, with `add`, adds it
/// there with `atomic_add` (the parts of a split-K matmul).
#[bitkernel(inline)]
pub fn accumulate_block(
    c: Tile,
    r: Tile,
    col: Tile,
    n_rows: Tile,
    n_cols: Tile,
    value: Tile,
    add: bool,
) {
    if add {
        let mask = (r.unsqueeze(1) < n_rows) & (col.unsqueeze(0) < n_cols);
        atomic_add(c + r.unsqueeze(1) * n_cols + col.unsqueeze(0), value, mask);
    } else {
        store_block(c, r, col, n_rows, n_cols, value);
    }
}

/// The length of each of the `split_k` parts of `len` units that split-K programs cover
/// (program `program_id(2)` covers `[p * part, min((p + 1) * part, len))`): a whole number of
/// `step`s, so that no step crosses into the next part.
#[bitkernel(inline)]
pub fn split_part(len: Tile, step: i32, split_k: i32) -> Tile {
    (len + split_k * step - 1) / (split_k * step) * step
}
