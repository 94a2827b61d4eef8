//! Tile helpers shared by the prebuilt matmuls: loading and storing blocks of row-major
//! matrices with their ragged edges masked.

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
