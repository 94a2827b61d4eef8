use bitmat::prelude::*;

#[bitkernel]
fn count(counter: Ptr<i32>) {
    atomic_add(counter);
}

fn main() {}
