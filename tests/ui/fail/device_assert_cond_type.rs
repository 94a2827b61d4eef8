use bitmat::prelude::*;

#[bitkernel]
fn positive(x: Ptr<f32>) {
    let _ = load(x);
    device_assert("x > 0", "x must be positive");
}

fn main() {}
