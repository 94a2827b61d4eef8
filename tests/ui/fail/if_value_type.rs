use bitmat::prelude::*;

#[bitkernel]
fn order(x: Ptr<f32>, y: Ptr<f32>, flag: i32) {
    let (a, b) = (load(x), load(x + 1));
    let (lo, hi) = if flag > 0 { (a, b) } else { (b, a) };
    store(y, lo);
    store(y + 1, hi);
}

fn main() {}
