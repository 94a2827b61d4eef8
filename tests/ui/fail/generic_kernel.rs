use bitmat::prelude::*;

#[bitkernel]
fn scale<T>(x: Ptr<f32>, n: i32) {
    store(x + arange(4), load(x + arange(4), arange(4) < n, 0.0) * 2.0, arange(4) < n);
}

fn main() {}
