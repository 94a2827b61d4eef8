use bitmat::prelude::*;

#[bitkernel]
fn sum(x: Ptr<f32>, out: Ptr<f32>, n: i32) {
    let mut acc = zeros::<f32>([]);
    for (i, j) in range(0, n, 2) {
        acc = acc + load(x + i) + load(x + j);
    }
    store(out, acc);
}

fn main() {}
