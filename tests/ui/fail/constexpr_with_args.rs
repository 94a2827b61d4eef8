use bitmat::prelude::*;

#[bitkernel]
fn copy(x: Ptr<f32>, y: Ptr<f32>, #[constexpr(16)] block: i32) {
    let offs = arange(block);
    store(y + offs, load(x + offs));
}

fn main() {}
