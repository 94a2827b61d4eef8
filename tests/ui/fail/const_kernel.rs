use bitmat::prelude::*;

#[bitkernel]
const fn copy(x: Ptr<f32>, y: Ptr<f32>) {
    store(y, load(x));
}

fn main() {}
