use bitmat::prelude::*;

#[bitkernel]
fn copy(x: Ptr<f32>, y: Ptr<f32>, n: i32, #[constexpr] block: i32) {
    let offs = arange(block);
    let mask = offs < n;
    store(y + offs, load(x + offs, mask), mask);
}

fn main() {}
