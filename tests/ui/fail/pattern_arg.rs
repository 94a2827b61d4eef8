use bitmat::prelude::*;

#[bitkernel]
fn copy(x: Ptr<f32>, y: Ptr<f32>, (m, n): (i32, i32)) {
    store(y, load(x));
}

fn main() {}
