use bitmat::prelude::*;

#[bitkernel]
fn clamp(x: Ptr<f32>, y: Ptr<f32>, flag: i32) {
    let mut parts = [load(x), load(x + 1)];
    if flag > 0 {
        parts[0] = parts[0] * 2.0;
    }
    store(y, parts[0] + parts[1]);
}

fn main() {}
