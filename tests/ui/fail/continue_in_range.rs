use bitmat::prelude::*;

#[bitkernel]
fn positive_sum(x: Ptr<f32>, out: Ptr<f32>, n: i32) {
    let mut acc = zeros::<f32>([]);
    for i in range(n) {
        let v = load(x + i);
        if v < 0.0 {
            continue;
        }
        acc = acc + v;
    }
    store(out, acc);
}

fn main() {}
