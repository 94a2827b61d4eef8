use bitmat::prelude::*;

#[bitkernel(inline)]
async fn twice(x: Tile) -> Tile {
    x * 2
}

fn main() {}
