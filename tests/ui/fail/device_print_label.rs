use bitmat::prelude::*;

#[bitkernel]
fn show(x: Ptr<f32>) {
    let label = "x";
    device_print(label, load(x));
}

fn main() {}
