use bitmat::prelude::*;

#[bitkernel]
fn copy(x: Ptr<f32>, y: Ptr<f32>, #[constexpr] shape: Vec<i32>) {
    let offs = arange(shape[0]);
    store(y + offs, load(x + offs));
}

fn main() {}
