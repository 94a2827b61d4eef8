use bitmat::prelude::*;

#[bitkernel(inline)]
fn steps(n: Tile) -> Tile {
    let r = range(n);
    n
}

fn main() {}
