use bitmat::prelude::*;

#[bitkernel]
fn show(x: Ptr<f32>, y: Ptr<f32>) {
    device_print("x and y", load(x), load(y));
}

fn main() {}
