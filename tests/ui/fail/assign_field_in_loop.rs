use bitmat::prelude::*;

struct Acc {
    sum: Tile,
}

#[bitkernel]
fn sum(x: Ptr<f32>, out: Ptr<f32>, n: i32) {
    let mut acc = Acc { sum: zeros::<f32>([]) };
    for i in range(n) {
        acc.sum = acc.sum + load(x + i);
    }
    store(out, acc.sum);
}

fn main() {}
