use bitmat::prelude::*;

#[bitkernel]
fn sum(x: &[f32], out: Ptr<f32>) {
    store(out, 0.0);
}

fn main() {}
