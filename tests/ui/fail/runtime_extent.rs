use bitmat::prelude::*;

#[bitkernel]
fn copy(x: Ptr<f32>, y: Ptr<f32>, n: i32) {
    let offs = arange(n);
    store(y + offs, load(x + offs));
}

fn main() {}
