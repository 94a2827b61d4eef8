use bitmat::prelude::*;

#[bitkernel]
fn gather(x: Ptr<f32>, y: Ptr<f32>, n: i32) {
    let mut rows = Vec::new();
    for i in range(n) {
        rows = vec![load(x + i)];
    }
    store(y, rows[0]);
}

fn main() {}
