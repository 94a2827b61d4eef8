use bitmat::prelude::*;

#[bitkernel]
fn halve(x: Ptr<i32>, #[constexpr] block: i32) {
    let mut width = block;
    // A number is not a condition: compare it (`while width > 1`).
    while width {
        width = width / 2;
    }
    store(x, full([], width));
}

fn main() {}
