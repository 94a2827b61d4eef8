use bitmat::prelude::*;

#[bitkernel]
fn sum(x: Ptr<f32>, out: Ptr<f32>, n: i32) {
    let steps = range(0, n, 1);
    store(out, 0.0);
}

fn main() {}
