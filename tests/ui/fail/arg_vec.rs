use bitmat::prelude::*;

#[bitkernel]
fn sum(x: Vec<f32>, out: Ptr<f32>) {
    store(out, 0.0);
}

fn main() {}
