use bitmat::prelude::*;

const MESSAGE: &str = "x must be positive";

#[bitkernel]
fn positive(x: Ptr<f32>) {
    device_assert(load(x) > 0.0, MESSAGE);
}

fn main() {}
