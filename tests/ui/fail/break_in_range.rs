use bitmat::prelude::*;

#[bitkernel]
fn first_negative(x: Ptr<f32>, out: Ptr<i32>, n: i32) {
    let mut found = zeros::<i32>([]);
    for i in range(n) {
        if load(x + i) < 0.0 {
            found = i;
            break;
        }
    }
    store(out, found);
}

fn main() {}
