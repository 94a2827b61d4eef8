use bitmat::prelude::*;

#[bitkernel]
fn copy(x: Ptr<f32>, y: Ptr<f32>) {
    let v = load(x);
    store(y + v);
}

fn main() {}
