use bitmat::prelude::*;

#[bitkernel]
fn sum(x: Ptr<f32>, out: Ptr<f32>, n: i32) {
    let mut acc = zeros::<f32>([]);
    for i in range(0, n, 1, 2) {
        acc = acc + load(x + i);
    }
    store(out, acc);
}

fn main() {}
