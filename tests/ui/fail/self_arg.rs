use bitmat::prelude::*;

#[bitkernel]
fn copy(self, x: Ptr<f32>, y: Ptr<f32>) {
    store(y, load(x));
}

fn main() {}
