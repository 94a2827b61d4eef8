use bitmat::prelude::*;

#[bitkernel]
fn count_up(x: Ptr<i32>, n: i32) {
    let mut i = program_id(0);
    while i < n {
        store(x + i, i);
        i = i + 1;
    }
}

fn main() {}
