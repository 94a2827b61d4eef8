use bitmat::prelude::*;

#[bitkernel]
fn double(x: Ptr<f32>, #[constexpr] block: i32) -> Tile {
    load(x + arange(block)) * 2.0
}

fn main() {}
