use bitmat::prelude::*;

#[bitkernel]
fn first_negative(x: Ptr<f32>, out: Ptr<i32>, n: i32) {
    let mut i = full([], 0i32);
    while i < n {
        if load(x + i) < 0.0 {
            break;
        }
        i = i + 1;
    }
    store(out, i);
}

fn main() {}
