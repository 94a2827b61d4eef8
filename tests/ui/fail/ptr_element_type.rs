use bitmat::prelude::*;

#[bitkernel]
fn copy(x: Ptr<f32>, y: Ptr<String>) {
    store(y, load(x));
}

fn main() {}
